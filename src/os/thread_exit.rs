//! Work done when a thread exits, without the C library's allocator.
//!
//! A Rust `thread_local!` whose type has a destructor registers it at the
//! thread's first use through glibc's `__cxa_thread_atexit_impl`, which
//! calls `calloc`: a signal handler that interrupted its thread inside
//! `malloc` and made the library's first call on that thread there would
//! corrupt the heap (docs/bounded-time.md, "Allocation in a signal
//! handler"). So the library's thread-locals have no destructor (each
//! module asserts it: `needs_drop` is false), and what they hold is let go
//! by one `pthread_key_t`'s destructor instead: the key is made as the
//! library is loaded (`ffi`'s `.init_array` entry; `pthread_key_create`
//! allocates nothing), and a thread's first call that puts something in a
//! thread-local that must be let go ([`arm`]) sets the thread's value of
//! the key, which for one of the first 32 keys
//! (`PTHREAD_KEY_2NDLEVEL_SIZE`) glibc stores in the thread's descriptor
//! without allocating (nptl/pthread_setspecific.c: `specific_1stblock`;
//! a later key's value goes to a block of 32 that glibc `calloc`s at the
//! thread's first value of any key in it — the same one allocation per
//! thread as before; the loading thread is armed at load then).
//!
//! The destructor runs with every signal blocked (a handler cannot meet a
//! cleanup half done), marks the thread done (a later call — from another
//! key's destructor — caches nothing, as after the Rust destructors had
//! run), then runs the hook of each slot the thread armed. glibc runs key
//! destructors after the thread-local (C++/Rust) destructors, and again
//! (up to `PTHREAD_DESTRUCTOR_ITERATIONS` rounds) for a key whose value a
//! destructor set: a first call made from another key's destructor is let
//! go in the next round. The main thread's key destructors do not run at
//! `exit` (only at `pthread_exit`): what the hooks let go is the process's
//! own (mappings, references, a process-local record bit), which the exit
//! ends anyway. A `fork` child's thread has its parent thread's state and
//! value of the key (both copied with its memory): consistent.
//!
//! The library is linked `-z nodelete` (build.rs): a `dlclose` cannot
//! unmap the destructor a thread's value refers to (Rust's registration
//! kept the library loaded while a thread had destructors pending).

use core::cell::Cell;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

/// What a thread arms: the hook that lets go of what the slot's
/// thread-local holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Slot {
    /// the queue this thread cached (`msg`)
    MsgCache = 0,
    /// the set this thread cached (`sem`)
    SemCache = 1,
    /// the journal's wake list's allocation (`sem::journal`)
    SemWakes = 2,
    /// the pending queue's buffers (`sem::pending`)
    SemBufs = 3,
    /// the undo record the thread holds (`sem::fast`)
    SemRec = 4,
    /// the hazard record the thread holds (`ffi::handle`)
    Handle = 5,
    /// unit tests
    #[cfg(test)]
    Test = 6,
}

const SLOTS: usize = 7;

/// The hooks, by slot (0: none yet), each stored by its slot's first arm.
static HOOKS: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];

/// The thread's bits: one per armed slot, and [`DONE`].
const DONE: u32 = 1 << 31;
/// The key's value is set for this thread.
const SET: u32 = 1 << 30;

thread_local! {
    static STATE: Cell<u32> = const { Cell::new(0) };
}
const _: () = assert!(!core::mem::needs_drop::<Cell<u32>>());

/// No key yet.
const NO_KEY: u32 = u32::MAX;
/// No key to be had (`pthread_key_create` failed: every key taken).
const FAILED: u32 = u32::MAX - 1;
static KEY: AtomicU32 = AtomicU32::new(NO_KEY);

/// Keys below this are stored in the thread's descriptor (glibc's
/// `PTHREAD_KEY_2NDLEVEL_SIZE`).
pub(crate) const INLINE_KEYS: u32 = 32;

/// Makes the key (as the library is loaded); with a key glibc would
/// store in a block it allocates, arms the loading thread now, so that a
/// program's main thread allocates nothing at its calls.
pub(crate) fn at_load() {
    if let Some(k) = key() {
        if k >= INLINE_KEYS {
            set_value();
        }
    }
}

/// The key, made at the first need (as the library is loaded, or by the
/// first call of a Rust program).
fn key() -> Option<libc::pthread_key_t> {
    match KEY.load(Ordering::Acquire) {
        NO_KEY => create(),
        FAILED => None,
        k => Some(k as libc::pthread_key_t),
    }
}

#[cold]
#[inline(never)]
fn create() -> Option<libc::pthread_key_t> {
    let mut k: libc::pthread_key_t = 0;
    // SAFETY: a fresh key whose destructor never unwinds (`at_exit`).
    let made = unsafe { libc::pthread_key_create(&mut k, Some(at_exit)) } == 0;
    let new = if made { k as u32 } else { FAILED };
    match KEY.compare_exchange(NO_KEY, new, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => made.then_some(k),
        Err(won) => {
            if made {
                // SAFETY: our own key, no thread's value set yet.
                unsafe { libc::pthread_key_delete(k) };
            }
            (won != FAILED).then_some(won as libc::pthread_key_t)
        }
    }
}

/// Sets the thread's value of the key (once): its destructor runs when
/// the thread exits. False without a key, or when glibc refused.
fn set_value() -> bool {
    let s = STATE.with(Cell::get);
    if s & SET != 0 {
        return true;
    }
    let Some(k) = key() else { return false };
    // SAFETY: a key of ours; any non-null value makes glibc run the
    // destructor, which ignores it.
    if unsafe { libc::pthread_setspecific(k, 1 as *const libc::c_void) } != 0 {
        return false;
    }
    // (A signal handler that armed in between set the same bit.)
    STATE.with(|c| c.set(c.get() | SET));
    true
}

/// Makes `run` run when this thread exits: true, or false when the
/// thread's cleanup already ran (it is exiting; a later call from another
/// key's destructor) or none can be arranged — then the caller keeps
/// nothing that would need it.
#[inline]
pub(crate) fn arm(slot: Slot, run: fn()) -> bool {
    let bit = 1u32 << slot as u32;
    let s = STATE.with(Cell::get);
    if s & (bit | DONE) == bit {
        return true;
    }
    arm_slow(slot, run, s)
}

#[cold]
#[inline(never)]
fn arm_slow(slot: Slot, run: fn(), s: u32) -> bool {
    if s & DONE != 0 {
        return false;
    }
    // Every arm of a slot stores the same function.
    HOOKS[slot as usize].store(run as usize, Ordering::Release);
    if !set_value() {
        return false;
    }
    STATE.with(|c| c.set(c.get() | 1 << slot as u32));
    true
}

/// Whether this thread armed `slot` (and has not exited).
#[inline]
pub(crate) fn armed(slot: Slot) -> bool {
    let bit = 1u32 << slot as u32;
    STATE.with(Cell::get) & (bit | DONE) == bit
}

/// The key's destructor.
extern "C" fn at_exit(_: *mut libc::c_void) {
    crate::os::with_signals_blocked(|| {
        let s = STATE.with(|c| c.replace(DONE));
        for (i, h) in HOOKS.iter().enumerate() {
            if s & (1 << i) == 0 {
                continue;
            }
            let f = h.load(Ordering::Acquire);
            if f != 0 {
                // SAFETY: the slot's hook, stored from a `fn()` by
                // `arm_slow` before this thread's bit was set.
                let f: fn() = unsafe { core::mem::transmute::<usize, fn()>(f) };
                // A hook's panic (a bug) ends here: none may unwind out of
                // a C destructor.
                let _ = std::panic::catch_unwind(f);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    static RAN: AtomicU32 = AtomicU32::new(0);
    fn hook() {
        RAN.fetch_add(1, Ordering::SeqCst);
    }

    /// A thread that armed a slot runs its hook once at exit, and a thread
    /// that did not, never; after its cleanup a thread arms nothing.
    #[test]
    fn hook_runs_once_per_armed_thread() {
        let before = RAN.load(Ordering::SeqCst);
        std::thread::spawn(|| {
            assert!(arm(Slot::Test, hook));
            assert!(arm(Slot::Test, hook));
            assert!(armed(Slot::Test));
        })
        .join()
        .unwrap();
        std::thread::spawn(|| ()).join().unwrap();
        // The destructor runs before the join returns (glibc runs it in
        // the exiting thread, before the thread's exit is reported).
        assert_eq!(RAN.load(Ordering::SeqCst) - before, 1);
        assert!(key().is_some());
    }
}
