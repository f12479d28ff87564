//! The `fork` handling of the per-namespace object caches and liveness marks.

use super::*;

pub(super) use super::cache::Cache;

/// An object cache held across `fork`, with the namespace it belongs to
/// (the guard first: it is dropped before the `Arc` that keeps its mutex
/// alive).
pub(super) type HeldCache = (std::sync::MutexGuard<'static, Cache>, Arc<Ns>);

/// What the forking thread holds across `fork` (see
/// [`cache_fork_prepare`]): [`OPEN`], and every open namespace's object
/// cache.
pub(super) struct ForkHeld {
    open: Option<std::sync::MutexGuard<'static, Vec<std::sync::Weak<Ns>>>>,
    caches: Vec<HeldCache>,
    /// Set by a prepare handler that found the process single-threaded
    /// and took nothing (see [`cache_fork_prepare`]).
    alone: bool,
}

/// The slot of [`ForkHeld`]. A static rather than a thread-local: after
/// `fork` every first write to a private page is a copy-on-write fault,
/// and this way the parent's release writes the page that holds [`OPEN`]
/// and this slot, not a thread-local page besides. The `Vec` keeps its
/// storage from one `fork` to the next, so the release frees nothing (a
/// `free` after the fork would write the allocator's pages too).
pub(super) static FORK_HELD: ForkSlot = ForkSlot(core::cell::UnsafeCell::new(ForkHeld {
    open: None,
    caches: Vec::new(),
    alone: false,
}));

pub(super) struct ForkSlot(core::cell::UnsafeCell<ForkHeld>);

// SAFETY: only the fork handlers touch the slot, and only while holding
// OPEN's mutex (or in a process that has one thread: see `single_threaded`):
// prepare fills it after taking OPEN, parent and child empty it before
// that guard unlocks, and make no reference to it after: one thread at a
// time.
unsafe impl Sync for ForkSlot {}

/// Whether this process has one thread: glibc's `__libc_single_threaded`
/// (2.32 and later; false from the first `pthread_create` on), looked up
/// once; false when there is no such symbol (another C library, an older
/// glibc).
pub(crate) fn single_threaded() -> bool {
    static FLAG: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let p = *FLAG.get_or_init(|| {
        // SAFETY: dlsym of a NUL-terminated name in the global scope.
        unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"__libc_single_threaded".as_ptr()) as usize }
    });
    // SAFETY: when found, the symbol is glibc's `char` flag, which lives
    // as long as the process; read as glibc documents it (a plain load).
    p != 0 && unsafe { core::ptr::read_volatile(p as *const libc::c_char) } != 0
}

/// `fork` in a multithreaded program: another thread may hold an object
/// cache's mutex, and the child, whose one thread is a copy of the forking
/// one, would wait for it for ever. So the forking thread takes every open
/// namespace's cache before the fork (waiting out whoever holds it, for a
/// few instructions), and both parent and child let them go after.
///
/// A process with one thread (glibc says so) takes nothing: no other
/// thread can hold a cache. Then the parent writes no namespace's memory
/// after `fork` (each cache's mutex lies in its namespace's heap block,
/// and after `fork` the parent's first write to a page is a copy-on-write
/// fault: one per `fork` with the default namespace alone), and the child
/// takes OPEN, which nobody holds, to find its namespaces.
pub(super) extern "C" fn cache_fork_prepare() {
    if single_threaded() {
        // SAFETY: one thread, this one (see ForkSlot).
        let held = unsafe { &mut *FORK_HELD.0.get() };
        held.alone = true;
        return;
    }
    let open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: we hold OPEN (see ForkSlot).
    let held = unsafe { &mut *FORK_HELD.0.get() };
    held.alone = false;
    super::cache::ForkDepth::enter();
    for ns in open.iter().filter_map(std::sync::Weak::upgrade) {
        let g = ns.cache.mutex().lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: the guard borrows `ns.cache`; the `Arc` stored beside it
        // keeps that namespace alive until the guard is dropped (first, in
        // `cache_fork_release`), so the 'static lifetime is never outlived.
        let g = unsafe {
            core::mem::transmute::<
                std::sync::MutexGuard<'_, Cache>,
                std::sync::MutexGuard<'static, Cache>,
            >(g)
        };
        held.caches.push((g, ns));
    }
    held.open = Some(open);
}

pub(super) extern "C" fn cache_fork_release() {
    // SAFETY: this thread took OPEN in cache_fork_prepare and holds it
    // until the guard taken out last here drops, or the process has this
    // one thread (see ForkSlot).
    let held = unsafe { &mut *FORK_HELD.0.get() };
    if held.alone {
        return; // nothing taken (left set: the next prepare decides again)
    }
    for (g, ns) in held.caches.drain(..) {
        drop(g);
        drop(ns);
    }
    let open = held.open.take();
    drop(open);
    super::cache::ForkDepth::leave();
}

/// In the child of `fork`: the liveness marks of the namespaces (see
/// [`Ns::hold_alive`]) are the parent's, shared through the inherited
/// descriptors; they go, the child takes its own (a member holds its mark
/// before it can take any lock), then the caches are released as in the
/// parent.
pub(super) extern "C" fn cache_fork_child() {
    // SAFETY: getpid has no preconditions (the pid caches may not be reset
    // yet: handlers run in the order they were registered).
    let me = unsafe { libc::getpid() };
    {
        // SAFETY: the one thread of the child holds OPEN (taken in
        // cache_fork_prepare), or the parent had one thread; the
        // reference ends before the release.
        let held = unsafe { &*FORK_HELD.0.get() };
        let remark = |ns: &Ns| ns.hold_alive_as(me);
        if held.alone {
            // Nobody holds OPEN: the parent's one thread did not.
            let open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
            for ns in open.iter().filter_map(std::sync::Weak::upgrade) {
                remark(&ns);
            }
        } else {
            for (_, ns) in &held.caches {
                remark(ns);
            }
        }
    }
    cache_fork_release();
}

/// Registers the namespace layer's `fork` handlers (once per process).
/// Called when a namespace is first opened, and by engines whose own
/// handlers must be registered after these (see `shm`).
pub fn install_fork_handlers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: registering plain extern "C" fns; no preconditions.
        unsafe {
            libc::pthread_atfork(
                Some(cache_fork_prepare),
                Some(cache_fork_release),
                Some(cache_fork_child),
            );
        }
    });
}
