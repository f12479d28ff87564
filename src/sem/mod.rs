//! System V semaphore sets: the engine (safe Rust over a mapped control area).
//!
//! Layout of a set's control area (after the common object header), all
//! words atomics, every offset derived from the set header and checked
//! against the mapping before use (shared memory is untrusted input):
//! ```text
//! SetHdr                      128 bytes: magic, nsems, max_ops, slot counts,
//!                             waiting count, journal state, otime, ticket
//! Sem[nsems]                  one word each: value, FROZEN bit, last pid
//! WaitSlot[NWAIT]             a sleeping semop: state (its futex word),
//!                             result, pid/start, FIFO ticket, its operations
//! UndoSlot[NUNDO]             SEM_UNDO: pid/start, NREC intent records,
//!                             adj[nsems] (i16)
//! Journal[jcap]               redo log of the transaction in progress
//!                             (max(2*max_ops, nsems)+8 entries: a SETALL fits)
//! ```
//! Everything but one common operation is changed under the object's
//! robust lock. A change touching more than one word is written to the
//! journal first, marked committed, then applied; a process killed mid-way
//! leaves a committed journal that the next lock holder replays (the values
//! are absolute, so replay is idempotent), or an uncommitted one that is
//! ignored. The common operation — one `semop` operation — is one
//! compare-and-swap of the semaphore's word, without the lock (`fast`);
//! with `SEM_UNDO`, a claim of the word, the adjustment, then the word's
//! release. See `docs/sem.md`.
//!
//! # Locking
//! - The set's robust lock (the object header's, `Obj::lock_until`, held
//!   as a `Locked`) guards every word of the control area: values, last
//!   pids, `otime`, the journal, the undo slots, the wait slots' contents
//!   and the `waiting` count. A dead holder's successor runs `repair`
//!   (journal replay, claimed sleepers back to waiting, sweep).
//! - A semaphore's word (value and last pid) is also changed without the
//!   lock, by compare-and-swap (`fast`), unless it is **frozen**: the lock
//!   holder freezes a word (`Sem::freeze`, the `FROZEN` bit) before it
//!   reads it to decide and writes only frozen words; `Locked`'s drop
//!   thaws them before the lock is let go; `repair` freezes every word
//!   before it replays the journal.
//! - A word **claimed** by a lock-free `SEM_UNDO` operation (`CLAIM`,
//!   with `FROZEN`) is its claimant's until its release store, and so is
//!   the claimant's adjustment for that semaphore: a lock holder's freeze
//!   that meets a claim waits for the claimant or finishes a dead one's
//!   operation (`undo::settle`), and thaws never touch a claimed word.
//!   A multi-operation `semop` made while another holds the lock claims
//!   each of its words the same way (`MULTI`, naming a sleeper slot taken
//!   as its record, `W_MULTI`), and commits in that record (`multi`).
//! - Without the lock: a sleeper's own slot `state` (its futex word, with
//!   the `W_SLEEP` bit), which the sleeper watches and, when it gives up
//!   without the lock (`cancel`), moves from `W_WAITING` to `W_CANCELLED`
//!   by compare-and-swap, or, serving itself (`fast::self_serve`), to
//!   `W_SELF` and on; `slot_gen`/`slot_waiters` (waiting for a free
//!   slot); the FIFO `ticket` counter (`fetch_add`); `otime`, written by
//!   the lock-free path too (one word, seconds).
//! - Wakes are deferred until the lock is let go (`WAKES`, flushed by
//!   `Locked`'s drop, as the kernel's `wake_q`), so a woken sleeper does not
//!   run into the lock.
//!
//! # Memory ordering
//! - Journal: `Txn::commit_journaled` writes the entries, then sets
//!   `jstate` to 1 with **release**; `redo` loads it with **acquire**
//!   (the next holder after a crash) and so reads the entries. Clearing it
//!   (**release**) ends the transaction after the values are applied.
//! - Completion: the waker writes the slot's `result`, then `apply`'s
//!   `E_DONE` swaps `state` to `W_DONE` (**acq-rel**); the sleeper loads
//!   `state` with **acquire** (`sleep`, `finish`) before reading `result`.
//! - Claiming: `update_queue` moves a slot from `W_WAITING` to
//!   `W_CLAIMED` (**acq-rel** compare-and-swap) before committing, and
//!   `cancel`'s compare-and-swap to `W_CANCELLED` (**acq-rel**) races it:
//!   exactly one wins. A failed commit puts `W_WAITING` back (**release**).
//! - Enqueue: `enqueue` fills the slot (owner, ticket, operations) and
//!   stores `W_WAITING` with **release**; wakers scanning without having
//!   written it load `state` with **acquire** first.
//! - Slots: `free_wslot` stores `W_FREE` with **release** and bumps
//!   `slot_gen` (**release**); a process waiting for a slot loaded
//!   `slot_gen` with **acquire** and sleeps on it (`crate::sync::event`).
//! - Owners: sleeper and undo slots are `crate::sync::owner` records (pid
//!   stored with **release** after the start time, loaded with
//!   **acquire**).
//! - Freezing: `Sem::freeze` is an **acq-rel** `fetch_or`, the thaw an
//!   **acq-rel** `fetch_and`, the lock-free compare-and-swap **SeqCst**:
//!   a compare-and-swap that reads a thawed word sees everything the
//!   holder wrote before thawing (the `waiting` count of a sleeper that
//!   just enqueued on it).
//! - Self-service: a sleeper's return from `W_SELF` to `W_WAITING` and its
//!   look at the value again, and a granter's compare-and-swap of the
//!   value and its look at the sleepers' states, are all **SeqCst**: one
//!   of the two sees the other (no release is lost to a sleeper that was
//!   serving itself when it came).
//! - Claims: the claim is a **SeqCst** compare-and-swap; the intent
//!   record is stored after it, then the adjustment (**release**), then
//!   the word (**release**); a lock holder's freeze (**acq-rel**) or a
//!   load (**acquire**) that sees the word released sees the adjustment.
//! - The set header's `magic` is stored last at creation (**release**)
//!   and loaded with **acquire** by `View::new`.

use crate::error::{Errno, Result};
use crate::ns::{Access, CreateSpec, Kind, Ns, Obj, Perm, Region, Shared, HEADER_LEN};
use crate::os::probe::Seen;
use crate::os::proc::my_pid;
use crate::sync::event::{self, Event, Slept};
use crate::sync::owner::{self, Check, Owner, OwnerRef};
use crate::sync::spin;
use crate::sync::time::now_secs;
use crate::sync::Deadline;
use core::sync::atomic::{AtomicI16, AtomicI32, AtomicI64, AtomicU32, AtomicU64, Ordering};
use core::time::Duration;
use std::cell::RefCell;
use std::sync::Arc;

mod fast;
mod fence;
mod journal;
mod layout;
mod multi;
mod pending;
mod undo;

use fast::*;
pub use fence::follow;
use fence::J_SEALED;
use journal::*;
use layout::*;
pub use layout::{SemOp, LAYOUT_VERSION};
use pending::*;
use undo::*;

/// Largest semaphore value (`SEMVMX`).
///
/// cbindgen:ignore
pub const SEMVMX: i32 = 32767;
/// Largest undo adjustment magnitude (`SEMAEM`).
///
/// cbindgen:ignore
pub const SEMAEM: i32 = SEMVMX;
/// `IPC_NOWAIT` in `sem_flg`.
///
/// cbindgen:ignore
pub const IPC_NOWAIT: i16 = 0o4000;
pub use crate::ns::consts::SEM_UNDO;

/// Sleeping semop calls one set can hold at once (more wait for a slot).
///
/// cbindgen:ignore
pub const NWAIT: usize = 64;
/// Processes with SEM_UNDO adjustments on one set at once (more: ENOSPC).
///
/// cbindgen:ignore
pub const NUNDO: usize = 64;

// ---------------------------------------------------------------------------
// Public engine API.

/// Builds the control area of a new set with `nsems` semaphores set to
/// `init` (a new set from `semget` starts at 0).
fn create_spec_len(nsems: usize, max_ops: usize) -> usize {
    Shape {
        nsems,
        max_ops,
        nwait: NWAIT,
        nundo: NUNDO,
        jcap: new_jcap(nsems, max_ops),
    }
    .total()
}

fn init_set(o: &Obj, nsems: usize, max_ops: usize, init: &[i32]) -> Result<()> {
    let h: &SetHdr = o.at(0)?;
    h.nsems.store(nsems as u32, Ordering::Relaxed);
    h.max_ops.store(max_ops as u32, Ordering::Relaxed);
    h.nwait.store(NWAIT as u32, Ordering::Relaxed);
    h.nundo.store(NUNDO as u32, Ordering::Relaxed);
    h.jcap
        .store(new_jcap(nsems, max_ops) as u32, Ordering::Relaxed);
    h.magic.store(MAGIC, Ordering::Release);
    let v = View::new(o)?;
    for (i, x) in init.iter().enumerate().take(nsems) {
        // Not yet visible to anyone: plain words, not frozen.
        v.sem(i)?
            .word
            .store(SemWord::new(*x, 0).0, Ordering::Relaxed);
    }
    Ok(())
}

/// `semget(2)`: the set with `key` (or a new one), with the kernel's
/// checks. `init` gives the values of a newly created set (all 0 when
/// empty), which lets a creator publish a set already initialised.
pub fn get(ns: &Ns, key: i32, nsems: i32, flags: i32, init: &[i32]) -> Result<Arc<Obj>> {
    let l = ns.limits();
    if nsems < 0 || nsems as u64 > l.semmsl {
        return Err(Errno::EINVAL);
    }
    let max_ops = l.semopm.clamp(1, 32000) as usize;
    let n = nsems as usize;
    // A new set's file must fit in the file system's free space as a whole
    // (it is sparse, but scans of the sleeper slots, as at IPC_RMID, touch
    // every slot's page), and the parts written at once (header and
    // values) are reserved at creation: a full file system gives ENOMEM
    // here rather than SIGBUS (the namespace writes the new file's header
    // before `init`: checked before it is created, unless the key names an
    // existing set). The tail (undo area and journal) is reserved by the
    // first operation that needs it (`View::reserve_tail`: ENOMEM then);
    // the sleeper slots' pages as sleepers first need them, and the undo
    // slots of a set too large for its tail to hold them stay sparse: a
    // file system that fills up later can still make their first touch a
    // SIGBUS (see docs/sem.md).
    let shape = Shape {
        nsems: n.max(1),
        max_ops,
        nwait: NWAIT,
        nundo: NUNDO,
        jcap: new_jcap(n.max(1), max_ops),
    };
    let resv = Resv::of(&shape);
    let (head, whole) = (resv.head, resv.whole);
    let room = || crate::shm::room_for(ns, whole);
    if n > 0 && (key == crate::ns::IPC_PRIVATE || flags & crate::ns::IPC_CREAT != 0) {
        if let Err(e) = room() {
            if key == crate::ns::IPC_PRIVATE || matches!(ns.by_key(Kind::Sem, key), Ok(None)) {
                return Err(e);
            }
        }
    }
    // The file this call built, if any (a lost race to create the key
    // hands back the winner's set instead).
    let created = core::cell::Cell::new(None);
    let spec = CreateSpec {
        ctl_len: create_spec_len(n.max(1), max_ops),
        data_len: 0,
        data_apart: false,
        init: &|o: &Obj| {
            if n == 0 {
                return Err(Errno::EINVAL);
            }
            // semmns, as the kernel's newary: ENOSPC when the namespace
            // would hold more semaphores. Only counted when the limit can
            // be reached (the default, semmni * semmsl, cannot).
            if l.semmns < l.semmni.saturating_mul(l.semmsl)
                && (usage(ns).1 as u64).saturating_add(n as u64) > l.semmns
            {
                return Err(Errno::ENOSPC);
            }
            // The namespace's create reserved the first CREATE_RESERVE
            // bytes; the rest of the head here (the tail when first needed).
            let first = crate::ns::CREATE_RESERVE;
            if head > first {
                crate::shm::reserve_range(o, first, head - first)?;
            }
            created.set(Some(o.file_id()));
            init_set(o, n, max_ops, init)
        },
        check_existing: &|o: &Obj| {
            let v = View::new(o)?;
            if n > v.s.nsems {
                return Err(Errno::EINVAL);
            }
            Ok(())
        },
        layout: LAYOUT_VERSION,
    };
    let o = ns.get(Kind::Sem, key, flags, &spec)?;
    if created.get() == Some(o.file_id()) {
        // For SEM_INFO and the semmns check (see `usage`).
        ns.note_size(&o, n as u64);
    }
    Ok(o)
}

/// This thread's last set, and a probe cache for the C caller's buffers
/// of the calls that go through [`with_set_after`]: one thread-local, so a
/// `semop` makes one TLS look-up, not two. It has no destructor (the set
/// is held as a raw pointer, let go by [`at_thread_exit`]), so that look-up is
/// the address alone: no check that a destructor was registered.
struct Last {
    /// the set, with the [`Ns::serial`] of the namespace it was found in
    /// and what was learnt about it once ([`Known`])
    set: RefCell<LastSet>,
    probe: Seen,
    /// this thread's intent record for lock-free `SEM_UNDO` operations
    /// (`fast::begin`): 0 none asked for yet, `k + 1` record `k`, with a
    /// busy bit while one is under way
    rec: core::cell::Cell<u32>,
}

/// What a thread learnt once about its cached set, so that a `semop`
/// does not learn it again on every call: the set's shape, checked
/// against this process's mapping of it when the set was looked up (the
/// shape words never change after creation: a set scribbled on later is
/// still told by its `magic`, checked on every call, and the checked
/// shape keeps every access inside the mapping), and the index of this
/// process's undo slot (a hint: used only when the slot's owner is still
/// this process, checked under the lock).
///
/// `Known::default()`: nothing known (every call checks the set from
/// scratch).
#[derive(Debug, Default)]
pub struct Known {
    shape: Option<Shape>,
    undo: core::cell::Cell<Option<usize>>,
    /// this thread's intent record word ([`Last::rec`]) when this is the
    /// thread's cached set (so the lock-free `SEM_UNDO` path reaches it
    /// without a second thread-local look-up); `None`: looked up
    rec: Option<&'static core::cell::Cell<u32>>,
}

/// A set's shape, checked once against this process's mapping of it
/// ([`shape`]), for a handle that keeps the set: [`Known::of`] makes what
/// a call needs from it (the lock-free path wants a known shape).
#[derive(Debug, Clone, Copy)]
pub struct SetShape(Shape);

/// The shape of the set `o` as this process maps it (`None`: not a
/// readable set; every call then checks it from scratch).
pub fn shape(o: &Obj) -> Option<SetShape> {
    View::new(o).ok().map(|v| SetShape(v.s))
}

impl Known {
    /// What a call on a set of shape `s` knows ([`shape`], taken from
    /// the same `Obj`): the shape, and no undo slot yet.
    pub fn of(s: Option<SetShape>) -> Known {
        Known {
            shape: s.map(|s| s.0),
            undo: core::cell::Cell::new(None),
            rec: None,
        }
    }
}

thread_local! {
    static LAST: Last = const {
        Last {
            set: RefCell::new(None),
            probe: Seen::new(),
            rec: core::cell::Cell::new(0),
        }
    };
}
// No destructor (whose registration would allocate: `os::thread_exit`):
// [`at_thread_exit`] lets the set go when the thread exits.
const _: () = assert!(!core::mem::needs_drop::<Last>());

/// This thread's [`LAST`], reached without a closure (so the look-up is
/// inlined where it is used: the address, no call through the key), and
/// on x86-64 Linux without `__tls_get_addr` ([`last_ie`], as the queues'
/// `msg::last`).
#[inline(always)]
fn last() -> &'static Last {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    let p = match last_ie::get() {
        p if !p.is_null() => p,
        _ => last_first(),
    };
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    let p: *const Last = LAST.with(|c| c as *const Last);
    // SAFETY: this thread's `LAST` (found through `LAST` itself, or the
    // address this thread stored in its own `last_ie` word), which has no
    // destructor: it lives as long as the thread, and `Last` is not
    // `Sync`, so the reference cannot leave the thread.
    unsafe { &*p }
}

/// [`last`] on a thread's first call: its `LAST` found through the key,
/// and its address kept in the thread's word (a signal handler that
/// interrupts this stores the same address).
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
#[cold]
#[inline(never)]
fn last_first() -> *const Last {
    let p: *const Last = LAST.with(|c| c as *const Last);
    last_ie::set(p);
    p
}

crate::sync::tls::ie_tls_word!(
    /// The address of the thread's [`LAST`] (see `crate::sync::tls`).
    last_ie,
    "ripc_sem_last",
    Last
);

/// Lets [`LAST`]'s set go as the thread exits (armed when a set is
/// cached: `os::thread_exit`, slot `SemCache`).
fn at_thread_exit() {
    let _ = LAST.try_with(|c| {
        if let Ok(mut b) = c.set.try_borrow_mut() {
            if let Some(e) = b.take() {
                e.release();
            }
        }
    });
}

/// [`Last::set`]'s entry: a set, the [`Ns::serial`] of its namespace, what
/// is known of it. The set is an `Arc<Obj>` made a raw pointer: the entry
/// owns that reference (given back by [`CachedSet::release`], when the
/// entry is replaced or its thread exits), so the `Obj` lives as long as
/// the entry does.
struct CachedSet {
    serial: u64,
    obj: *const Obj,
    known: Known,
}

impl CachedSet {
    fn new(serial: u64, o: &Arc<Obj>, known: Known) -> CachedSet {
        CachedSet {
            serial,
            obj: Arc::into_raw(Arc::clone(o)),
            known,
        }
    }

    #[inline]
    fn obj(&self) -> &Obj {
        // SAFETY: `obj` came from `Arc::into_raw` and the entry still owns
        // that reference (see the type's doc): the `Obj` outlives `self`.
        unsafe { &*self.obj }
    }

    /// Gives the entry's reference back (not a `Drop`: [`LAST`] would then
    /// have a destructor, and every access to it a check of its state).
    fn release(self) {
        // SAFETY: the reference `new` made a raw pointer; `self` is
        // consumed, so this is done once.
        drop(unsafe { Arc::from_raw(self.obj) });
    }
}

/// The live set with id `id` in `ns` (`EINVAL` when none), through this
/// thread's one-entry cache (see [`with_set_after`]).
pub fn by_id(ns: &Ns, id: i32) -> Result<Arc<Obj>> {
    LAST.with(|c| {
        if let Some(b) = cached(c, ns, id) {
            let e = b.as_ref().expect("checked by cached");
            // SAFETY: from `Arc::into_raw`, a reference the entry owns (see
            // `CachedSet`): one more for the caller.
            return Ok(unsafe {
                Arc::increment_strong_count(e.obj);
                Arc::from_raw(e.obj)
            });
        }
        remember(c, ns, id)
    })
}

/// [`Last::set`]: the cached set, if any.
type LastSet = Option<CachedSet>;

/// This thread's cached set when it is the live set `id` of `ns`.
#[inline]
fn cached<'a>(c: &'a Last, ns: &Ns, id: i32) -> Option<core::cell::Ref<'a, LastSet>> {
    c.set.try_borrow().ok().filter(|b| {
        b.as_ref()
            .is_some_and(|e| e.serial == ns.serial() && e.obj().id == id && !e.obj().is_removed())
    })
}

/// [`cached`]'s entry itself (its `Option` looked at once).
#[inline]
fn cached_entry<'a>(c: &'a Last, ns: &Ns, id: i32) -> Option<core::cell::Ref<'a, CachedSet>> {
    core::cell::Ref::filter_map(c.set.try_borrow().ok()?, |b| {
        b.as_ref()
            .filter(|e| e.serial == ns.serial() && e.obj().id == id && !e.obj().is_removed())
    })
    .ok()
}

/// Looks the set `id` up in `ns` and caches it for this thread.
fn remember(c: &Last, ns: &Ns, id: i32) -> Result<Arc<Obj>> {
    // Opens files: no cancellation may act in there (crate::os::cancel).
    let _nc = crate::os::cancel::NoCancel::new();
    let o = ns.by_id(Kind::Sem, id)?;
    // Not cached once this thread's cleanup has run (nothing would let
    // the set go), nor while a caller up the stack (a signal handler's
    // host) borrows the entry.
    if crate::os::thread_exit::arm(crate::os::thread_exit::Slot::SemCache, at_thread_exit) {
        if let Ok(mut b) = c.set.try_borrow_mut() {
            let known = Known {
                // `c` is this thread's `LAST` (from `last()`), and the
                // entry never leaves the thread.
                rec: Some(&last().rec),
                ..Known::of(shape(&o))
            };
            let old = b.replace(CachedSet::new(ns.serial(), &o, known));
            drop(b);
            if let Some(e) = old {
                e.release();
            }
        }
    }
    Ok(o)
}

/// Runs `f` on the live set with id `id` in `ns` (`EINVAL` when none),
/// through a one-entry per-thread cache, so that the common case takes no
/// lock and touches no reference count.
pub fn with_set<T>(ns: &Ns, id: i32, mut f: impl FnMut(&Obj) -> Result<T>) -> Result<T> {
    with_set_after(ns, id, |_| Ok(()), |o, _, ()| f(o))
}

/// [`with_set`], after `pre`, which gets this thread's probe cache for the
/// checks that come before the set is looked up (a bad buffer is `EFAULT`
/// even for a bad id, as in the kernel); `pre`'s error is returned as is.
///
/// `f` is run again, on the set's new file, each time it finds the set
/// moved (`ESTALE`: moved away from a stopped lock holder, `fence.rs`).
#[inline]
pub fn with_set_after<U: Copy, T>(
    ns: &Ns,
    id: i32,
    pre: impl FnOnce(&Seen) -> Result<U>,
    mut f: impl FnMut(&Obj, &Known, U) -> Result<T>,
) -> Result<T> {
    let c = last();
    let u = pre(&c.probe)?;
    if let Some(e) = cached_entry(c, ns, id) {
        let r = f(e.obj(), &e.known, u);
        if !matches!(r, Err(Errno::ESTALE)) {
            return r;
        }
        drop(e);
        return moved_on(c, ns, id, u, f);
    }
    let r = looked_up(c, ns, id, u, &mut f);
    if !matches!(r, Err(Errno::ESTALE)) {
        return r;
    }
    moved_on(c, ns, id, u, f)
}

/// [`with_set_after`]'s call of `f` on the set looked up now.
#[inline]
fn looked_up<U, T>(
    c: &Last,
    ns: &Ns,
    id: i32,
    u: U,
    f: &mut impl FnMut(&Obj, &Known, U) -> Result<T>,
) -> Result<T> {
    let o = remember(c, ns, id)?;
    // What `remember` learnt, when it could cache the set (not while a
    // caller up the stack, a signal handler's host, borrows it).
    match cached(c, ns, id) {
        Some(b) if core::ptr::eq(b.as_ref().expect("checked by cached").obj, &*o) => {
            f(&o, &b.as_ref().expect("checked by cached").known, u)
        }
        _ => f(&o, &Known::default(), u),
    }
}

/// [`with_set_after`] after `f` found the set moved: `f` again on the set
/// as its id finds it now (the copy), each time it moved again.
#[cold]
#[inline(never)]
fn moved_on<U: Copy, T>(
    c: &Last,
    ns: &Ns,
    id: i32,
    u: U,
    mut f: impl FnMut(&Obj, &Known, U) -> Result<T>,
) -> Result<T> {
    for _ in 0..1000 {
        let r = looked_up(c, ns, id, u, &mut f);
        if !matches!(r, Err(Errno::ESTALE)) {
            return r;
        }
        // Not moved yet (a move under way): a moment.
        std::thread::sleep(Duration::from_millis(1));
    }
    Err(Errno::EIDRM)
}

/// Number of semaphores in the set.
pub fn nsems(o: &Obj) -> Result<usize> {
    Ok(View::new(o)?.s.nsems)
}

/// How `semop` waits.
#[derive(Debug, Clone, Copy)]
pub enum Wait {
    /// until done (or a signal, or removal)
    Forever,
    /// until the deadline; then `timeout_errno`
    Until(Deadline),
}

/// `semop(2)`/`semtimedop(2)`: applies all of `ops` atomically or none,
/// sleeping as long as needed (per `wait`). `timeout_errno` is what an
/// expired wait returns (`EAGAIN` for `semtimedop`, `ETIMEDOUT` for the
/// native API). Checks read/alter permission with the caller's credentials.
pub fn semop(o: &Obj, ops: &[SemOp], wait: Wait, timeout_errno: Errno) -> Result<()> {
    semop_known(o, &Known::default(), ops, wait, timeout_errno)
}

/// [`semop`] on a set of which `known` tells what was learnt before
/// (from [`with_set_after`]).
///
/// A set moved away from a stopped lock holder meanwhile (`fence.rs`):
/// the call is made on the copy.
#[inline]
pub fn semop_known(
    o: &Obj,
    known: &Known,
    ops: &[SemOp],
    wait: Wait,
    timeout_errno: Errno,
) -> Result<()> {
    if let [op] = ops {
        // The lock-free path inline, everything else out of line: the
        // common call's frame stays small (each store before the
        // compare-and-swap is one more for it to wait for).
        match fast::semop_fast(o, known, *op) {
            Ok(Fast::Done) => return Ok(()),
            r => return semop_after_fast(o, known, *op, r, wait, timeout_errno),
        }
    }
    semop_moved(o, known, ops, wait, timeout_errno, |o| {
        semop_general(o, known, ops, wait, timeout_errno)
    })
}

/// `f`'s answer on `o`, or, when it found the set moved (`ESTALE`), the
/// whole call made again on the copy ([`follow`]).
#[inline(always)]
fn semop_moved(
    o: &Obj,
    known: &Known,
    ops: &[SemOp],
    wait: Wait,
    timeout_errno: Errno,
    f: impl FnOnce(&Obj) -> Result<()>,
) -> Result<()> {
    match f(o) {
        Err(Errno::ESTALE) => semop_on_copy(o, known, ops, wait, timeout_errno),
        r => r,
    }
}

/// [`semop_known`] made again on the copy of a set that moved.
#[cold]
#[inline(never)]
fn semop_on_copy(
    o: &Obj,
    known: &Known,
    ops: &[SemOp],
    wait: Wait,
    timeout_errno: Errno,
) -> Result<()> {
    // Opens the copy: no cancellation may act in there (crate::os::cancel).
    let _nc = crate::os::cancel::NoCancel::new();
    follow(o, |o| match ops {
        [op] => {
            let r = fast::semop_fast(o, known, *op);
            semop_after_fast_here(o, known, *op, r, wait, timeout_errno)
        }
        _ => semop_general(o, known, ops, wait, timeout_errno),
    })
}

/// [`semop_known`] of one operation that the lock-free path did not do
/// (`r`: what it said).
#[inline(never)]
fn semop_after_fast(
    o: &Obj,
    known: &Known,
    op: SemOp,
    r: Result<Fast>,
    wait: Wait,
    timeout_errno: Errno,
) -> Result<()> {
    // The slow path may read /proc, sweep, open, sleep: no cancellation
    // may act in there (crate::os::cancel; semop is no cancellation point).
    let _nc = crate::os::cancel::NoCancel::new();
    semop_moved(o, known, &[op], wait, timeout_errno, |o| {
        semop_after_fast_here(o, known, op, r, wait, timeout_errno)
    })
}

#[inline(always)]
fn semop_after_fast_here(
    o: &Obj,
    known: &Known,
    op: SemOp,
    r: Result<Fast>,
    wait: Wait,
    timeout_errno: Errno,
) -> Result<()> {
    let r = match r {
        Ok(Fast::Block) if op.flg & IPC_NOWAIT == 0 => fast_after_yield(o, known, op),
        r => r,
    };
    let r = match r {
        Ok(Fast::Slow) if op.op == 0 && op.flg & SEM_UNDO != 0 => {
            fast::semop_fast_any(o, known, op)
        }
        r => r,
    };
    // A word another lock-free call claims for a moment: waited for
    // briefly, not left to the lock (beside a stopped holder, `EAGAIN` or
    // ~10 ms for a call the kernel performs: docs/bounded-time.md "Sets").
    let r = match r {
        Ok(Fast::Slow) => fast::past_claims(o, known, op, deadline_of(wait)),
        r => r,
    };
    match r? {
        Fast::Done => return Ok(()),
        // The general path sweeps, answers IPC_NOWAIT or sleeps.
        Fast::Block => {}
        Fast::Slow => match semop_one(o, known, op, wait, timeout_errno) {
            Ok(true) => return Ok(()),
            // Would block, or its word is claimed by a stopped process:
            // the general path waits.
            Ok(false) | Err(Errno::EBUSY) => {}
            Err(e) => return Err(e),
        },
    }
    semop_general(o, known, &[op], wait, timeout_errno)
}

/// A waiter whose releaser last ran on this CPU, while yields pay (what
/// `pending::sleep` would do after enqueuing: `spin::hand_over`), yields
/// once before it enqueues, then tries the lock-free path again: on one
/// CPU for both the releaser runs in the yield and finds nobody asleep, so
/// neither side takes the lock, enqueues, grants or wakes (the general
/// path's `enqueue`/`update_queue`/`sleep`, ~1700 instructions a side). At
/// most one yield; a releaser that did not come leaves the operation to
/// the general path as before (which yields once more, then sleeps).
/// Timed ([`spin::yielded_since`]): a third task on this CPU that
/// collects the yield stops the yields; counted as a wait only when it
/// ended one (a miss is part of the wait the general path goes on with).
/// `Fast::Block` when no yield.
#[inline(never)]
fn fast_after_yield(o: &Obj, known: &Known, op: SemOp) -> Result<Fast> {
    if o.peer() != spin::Peer::Here || !spin::yields_pay() {
        return Ok(Fast::Block);
    }
    let start = spin::begin();
    spin::yield_cpu();
    let r = fast::semop_fast(o, known, op);
    if matches!(r, Ok(Fast::Done)) {
        spin::waited_since(start, true);
    } else {
        spin::yielded_since(start);
    }
    r
}

/// The set's lock for a `semop`: by the call's deadline, and within
/// NOWAIT_BOUND when it asked not to block: a holder stopped or a
/// scribbled lock word is then EAGAIN (or the timeout's errno), as a call
/// that would block.
///
/// `give_up` is asked every few milliseconds while another holds the lock
/// (see [`lock_or`]).
#[inline(always)]
fn lock_for<'a>(
    o: &'a Obj,
    wait: Wait,
    nowait: bool,
    timeout_errno: Errno,
    give_up: &dyn Fn() -> bool,
) -> Result<Locked<'a>> {
    let deadline = deadline_of(wait);
    let d = deadline.for_lock(nowait);
    // An untimed or timed call moves the set away from a holder that is
    // stopped (docs/bounded-time.md, "Sets": the set fence): `ESTALE`.
    lock_movable(o, &d, give_up, fence::grace(&d)).map_err(|e| match e {
        Errno::ETIMEDOUT if nowait && !deadline.expired() => Errno::EAGAIN,
        Errno::ETIMEDOUT => timeout_errno,
        e => e,
    })
}

/// The call's deadline (`NEVER` when untimed).
#[inline]
fn deadline_of(wait: Wait) -> Deadline {
    match wait {
        Wait::Forever => Deadline::NEVER,
        Wait::Until(d) => d,
    }
}

/// The set's view under its lock: from the shape `known` holds when there
/// is one ([`View::known`]), checked from scratch otherwise.
#[inline]
fn view_known<'a>(o: &'a Obj, known: &Known) -> Result<View<'a>> {
    match known.shape {
        Some(s) => View::known(o, s),
        None => View::new(o),
    }
}

/// The common case, one operation, with the general path's checks in its
/// order: what `try_ops` and a `Txn` would do — without `SEM_UNDO` a
/// single store (no journal); with it the value and this process's
/// adjustment, through the journal (two entries). `Ok(false)` when it
/// would block (nothing done, the lock let go): the general path then
/// sweeps and waits.
#[inline]
fn semop_one(o: &Obj, known: &Known, op: SemOp, wait: Wait, timeout_errno: Errno) -> Result<bool> {
    // While the lock is held by another (perhaps stopped), the lock-free
    // path is tried again now and then (its word may be thawed, or this
    // process's undo slot taken meanwhile), as `semop_general` does.
    let served = core::cell::Cell::new(None);
    let serve = || match fast::semop_fast_any(o, known, op) {
        Ok(Fast::Done) => {
            served.set(Some(Ok(true)));
            true
        }
        Err(e) => {
            served.set(Some(Err(e)));
            true
        }
        Ok(_) => false,
    };
    let nowait = op.flg & IPC_NOWAIT != 0;
    let mut g = match lock_for(o, wait, nowait, timeout_errno, &serve) {
        Ok(g) => g,
        Err(e) => return served.take().unwrap_or(Err(e)),
    };
    let v = view_known(o, known)?;
    if let Some(e) = o.gone() {
        return Err(e);
    }
    let n = op.num as usize;
    if n >= v.s.nsems {
        return Err(Errno::EFBIG);
    }
    let alter = op.op != 0;
    // One clock read for the credentials' cache and `sem_otime`.
    let now = o.check_mine_secs(if alter { 0o2 } else { 0o4 })?;
    // This process's undo slot (taken even for a wait-for-zero, as the
    // general path and the kernel do); when it had to be looked for, the
    // look may have woken sleepers (a sweep): the wake queue stays.
    let undo = if op.flg & SEM_UNDO != 0 {
        let (u, hit) = undo_slot_known(&v, &known.undo)?;
        if hit {
            g.skip_wakes();
            g.skip_thaw();
        }
        Some(u)
    } else {
        g.skip_wakes();
        g.skip_thaw();
        None
    };
    let s = v.sem(n)?;
    let me = my_pid();
    // Frozen for this call only: thawed by the store of its new value
    // below, or (an error before it) by `thaw`'s drop, which comes before
    // the lock's. Not on a set nobody has operated on without the lock
    // (`fast::enter`: one that starts now finds the lock held and waits).
    let w = if v.hdr().lockfree.load(Ordering::SeqCst) != 0 {
        v.freeze_here(s, n)?
    } else {
        s.load()
    };
    if w.parked() {
        prewake(&v);
    }
    let cur = w.val();
    let thaw = Thaw(s, o);
    let r = cur + op.op as i32;
    if !can_go(cur, op.op) {
        return Ok(false);
    }
    if r > SEMVMX {
        return Err(Errno::ERANGE);
    }
    match undo {
        Some(u) if alter => {
            // Not over an adjustment another thread of this process owes.
            wait_owed(&v, u, n)?;
            let adj = v.adj(u, n)?;
            let a = adj.load(Ordering::Relaxed) as i32 - op.op as i32;
            if !(-SEMAEM - 1..=SEMAEM).contains(&a) {
                return Err(Errno::ERANGE);
            }
            // The entries `apply` would apply, stored here directly.
            let e = [ent(E_ADJ, u * v.s.nsems + n, a), ent(E_VAL, n, r)];
            journal_then(&v, &e, || {
                adj.store(a as i16, Ordering::Relaxed);
                s.put(o, r, me)
            })?;
        }
        // The commit: `ESTALE` when the set moved first (not committed).
        _ => s.put(o, r, me)?,
    }
    // Thawed with one plain store (the word is ours while frozen), after
    // the journal is cleared: a replay never overwrites a later lock-free
    // change. Before `update_queue`, which freezes what it needs anew.
    thaw.store(SemWord::new(r, me));
    let h = v.hdr();
    note_otime(h, now);
    if alter && h.waiting.load(Ordering::Relaxed) != 0 {
        g.flush = true;
        g.need_thaw();
        update_queue(&v);
    }
    Ok(true)
}

/// [`semop_known`] in general: any number of operations, `SEM_UNDO`,
/// sweeping dead processes and sleeping when it must.
#[inline(never)]
fn semop_general(
    o: &Obj,
    known: &Known,
    ops: &[SemOp],
    wait: Wait,
    timeout_errno: Errno,
) -> Result<()> {
    // No cancellation may act in here (crate::os::cancel).
    let _nc = crate::os::cancel::NoCancel::new();
    let mut max = 0usize;
    let mut has_undo = false;
    let mut alter = false;
    let mut nowait = false;
    for op in ops {
        max = max.max(op.num as usize);
        has_undo |= op.flg & SEM_UNDO != 0;
        alter |= op.op != 0;
        nowait |= op.flg & IPC_NOWAIT != 0;
    }
    // Retried (a loop, not a recursion: how often is up to the other
    // processes) while every sleeper slot is taken.
    // One operation (with `SEM_UNDO` too): while the lock is held by
    // another (perhaps stopped), the lock-free path is tried again now and
    // then, so the call waits only for its value (see `fast`).
    // Several operations: without the lock when another holds it (perhaps
    // stopped) and their semaphores are not its (`multi`), first and then
    // at each look at the holder.
    let served = core::cell::Cell::new(None);
    let serve = || match match ops {
        [op] => fast::semop_fast_any(o, known, *op),
        _ => multi::semop_multi_fast(o, known, ops, deadline_of(wait)),
    } {
        Ok(Fast::Done) => {
            served.set(Some(Ok(())));
            true
        }
        Err(e) => {
            served.set(Some(Err(e)));
            true
        }
        Ok(_) => false,
    };
    if ops.len() > 1 && o.is_locked() && serve() {
        return served.take().unwrap_or(Ok(()));
    }
    let (slot, ticket) = 'retry: loop {
        let mut g = match lock_for(o, wait, nowait, timeout_errno, &serve) {
            Ok(g) => g,
            Err(e) => return served.take().unwrap_or(Err(e)),
        };
        let v = view_known(o, known)?;
        if let Some(e) = o.gone() {
            return Err(e);
        }
        if max >= v.s.nsems {
            return Err(Errno::EFBIG);
        }
        // Dead multi-operation records filled the sleeper slots (one load
        // otherwise): freed now, so that the lock-free path can take one
        // again when the lock is next held by another.
        let short_swept = multi::sweep_short(&v);
        if short_swept {
            update_queue(&v);
        }
        // The set's journal and sleeper slots are sized for the `semopm`
        // in force when it was created: more (after a raise) is E2BIG.
        if ops.len() > v.s.max_ops {
            return Err(Errno::E2BIG);
        }
        // One clock read for the credentials' cache and `sem_otime`.
        let now = o.check_mine_secs(if alter { 0o2 } else { 0o4 })?;
        let undo = if has_undo {
            Some(undo_slot_known(&v, &known.undo)?.0)
        } else {
            None
        };
        let mut swept = false;
        loop {
            let mut txn = Txn::default();
            let tried = try_ops(&v, ops, undo, &mut txn);
            if let Err(Errno::EBUSY) = tried {
                // A word claimed by a stopped (or long preempted) lock-free
                // `SEM_UNDO` operation: not waited for under the lock. A
                // claim of this very thread (a signal handler's call inside
                // it) is not waited for at all.
                drop(g);
                if undo::met_own_claim() {
                    return Err(own_claim_answer(wait, nowait, timeout_errno));
                }
                claim_pause(wait, nowait, timeout_errno)?;
                continue 'retry;
            }
            match tried? {
                Try::Done => {
                    txn.commit(&v)?;
                    mark_done(&v, ops, my_pid(), now);
                    if alter && v.hdr().waiting.load(Ordering::Relaxed) != 0 {
                        update_queue(&v);
                    } else if !swept && !short_swept {
                        // Nothing woken under this lock: skip the wake queue.
                        g.skip_wakes();
                    }
                    return Ok(());
                }
                Try::Block(b) => {
                    if !swept {
                        // A dead process's undo may be what we wait for;
                        // a call that gives up now also looks for a grant
                        // to a dead sleeper (one that sleeps looks before
                        // its futex wait, `pending::sleep`, by when a live
                        // peer has collected its own).
                        swept = true;
                        let leaving = ops[b].flg & IPC_NOWAIT != 0
                            || matches!(wait, Wait::Until(d) if d.expired());
                        if quick_sweep_with(&v, leaving) {
                            update_queue(&v);
                            continue;
                        }
                    }
                    if ops[b].flg & IPC_NOWAIT != 0 {
                        return Err(Errno::EAGAIN);
                    }
                    if let Wait::Until(d) = wait {
                        if d.expired() {
                            return Err(timeout_errno);
                        }
                    }
                    let mut slot = enqueue(&v, ops, undo, b)?;
                    if slot.is_none() {
                        // Full: dead sleepers may hold slots (update_queue
                        // drops one only when it would be granted, and a
                        // sleeper killed before collecting its grant leaves
                        // a done slot): the full check, on this rare path.
                        if sweep(&v) {
                            update_queue(&v);
                            continue;
                        }
                        slot = enqueue(&v, ops, undo, b)?;
                    }
                    match slot {
                        Some(x) => {
                            // A holder fenced after its enqueue, the set
                            // moved meanwhile: it follows the move to its
                            // slot in the copy (`sleep`), or, the copy made
                            // before its enqueue, makes the call again
                            // there (`ESTALE`).
                            g.release();
                            break 'retry x;
                        }
                        None => {
                            // No free sleeper slot: wait for one, then retry
                            // from the top (the deadline is absolute, so a
                            // timed call still ends by it).
                            let gen = v.hdr().slot_gen.load(Ordering::Acquire);
                            v.hdr().slot_waiters.fetch_add(1, Ordering::Relaxed);
                            drop(g);
                            let d = match wait {
                                Wait::Forever => Deadline::NEVER,
                                Wait::Until(d) => d,
                            };
                            let r = Event::new(&v.hdr().slot_gen, 0).sleep(gen, &d, Some(TICK));
                            v.hdr().slot_waiters.fetch_sub(1, Ordering::Relaxed);
                            if r == Err(Errno::EINTR) {
                                return Err(Errno::EINTR);
                            }
                            continue 'retry;
                        }
                    }
                }
            }
        }
    };
    sleep(o, known, slot, ticket, wait, timeout_errno)
}

/// After a word was found claimed by a process that does not let it go
/// (stopped: `undo::settle`'s `EBUSY`), the lock let go: `IPC_NOWAIT`
/// answers `EAGAIN` (as when the lock cannot be had), a call whose
/// deadline passed its timeout, any other waits a millisecond before it
/// tries again.
#[cold]
fn claim_pause(wait: Wait, nowait: bool, timeout_errno: Errno) -> Result<()> {
    if nowait {
        return Err(Errno::EAGAIN);
    }
    let nap = Duration::from_millis(1);
    match wait {
        Wait::Until(d) if d.expired() => Err(timeout_errno),
        Wait::Until(d) => {
            std::thread::sleep(d.remaining().map_or(nap, |r| r.min(nap)));
            Ok(())
        }
        Wait::Forever => {
            std::thread::sleep(nap);
            Ok(())
        }
    }
}

/// What a `semop` answers when the word it needs is its own thread's
/// claim (a signal handler that interrupted it): as at its timeout, or
/// `EDEADLK` when it has none — as for its own thread's lock
/// (`RobustLock::not_my_threads`).
#[cold]
fn own_claim_answer(wait: Wait, nowait: bool, timeout_errno: Errno) -> Errno {
    match wait {
        _ if nowait => Errno::EAGAIN,
        Wait::Until(_) => timeout_errno,
        Wait::Forever => Errno::EDEADLK,
    }
}

/// A changing `semctl` command met a word claimed by a stopped process:
/// `EAGAIN`, as when the lock cannot be had (docs/bounded-time.md).
fn busy_again(e: Errno) -> Errno {
    if e == Errno::EBUSY {
        Errno::EAGAIN
    } else {
        e
    }
}

/// One semaphore's value (`GETVAL`), after applying dead processes' undo.
pub fn getval(o: &Obj, num: i32) -> Result<i32> {
    follow(o, |o| getval_here(o, num))
}

fn getval_here(o: &Obj, num: i32) -> Result<i32> {
    read(o, num, multi::as_it_stands)
}

/// Last pid that operated on one semaphore (`GETPID`).
pub fn getpid(o: &Obj, num: i32) -> Result<i32> {
    follow(o, |o| getpid_here(o, num))
}

fn getpid_here(o: &Obj, num: i32) -> Result<i32> {
    read(o, num, multi::pid_as_it_stands)
}

/// Sleepers whose blocking operation waits for semaphore `num` to grow
/// (`GETNCNT`, `zero == false`) or to be zero (`GETZCNT`). Dead sleepers
/// are dropped first, so a killed waiter is never counted.
pub fn count_waiters(o: &Obj, num: i32, zero: bool) -> Result<i32> {
    follow(o, |o| count_waiters_here(o, num, zero))
}

fn count_waiters_here(o: &Obj, num: i32, zero: bool) -> Result<i32> {
    read(o, num, |v, n| {
        let mut c = 0;
        for i in wslots_used(v) {
            let w = v.wslot(i)?;
            if w.state.load(Ordering::Acquire) & 0xff != W_WAITING {
                continue;
            }
            let b = w.blocking.load(Ordering::Relaxed) as usize;
            let Ok(op) = v
                .wop(i, b)
                .map(|x| SemOp::unpack(x.load(Ordering::Relaxed)))
            else {
                continue;
            };
            if op.num as usize == n && ((zero && op.op == 0) || (!zero && op.op < 0)) {
                c += 1;
            }
        }
        Ok(c)
    })
}

fn locked_view<'a>(o: &'a Obj) -> Result<View<'a>> {
    let v = View::new(o)?;
    if let Some(e) = o.gone() {
        return Err(e);
    }
    if quick_sweep_with(&v, true) {
        update_queue(&v);
    }
    Ok(v)
}

/// The view a reading command works on: swept under the lock when it
/// could be had in CTL_BOUND (`g`), as it stands otherwise (each value is
/// one word; a stopped holder's half-done change may show).
fn read_view<'a>(o: &'a Obj, g: &Option<Locked<'_>>) -> Result<View<'a>> {
    if g.is_some() {
        return locked_view(o);
    }
    let v = View::new(o)?;
    if let Some(e) = o.gone() {
        return Err(e);
    }
    Ok(v)
}

/// A changing command's lock: `EAGAIN` when it cannot be had in
/// CTL_BOUND (a holder stopped with the set half-changed, or a scribbled
/// lock word: see docs/bounded-time.md).
fn lock_change(o: &Obj) -> Result<Locked<'_>> {
    lock_ctl(o).ok_or(Errno::EAGAIN)
}

fn read<T>(o: &Obj, num: i32, f: impl Fn(&View<'_>, usize) -> Result<T>) -> Result<T> {
    let g = lock_ctl(o);
    let v = read_view(o, &g)?;
    o.perm().check_mine(Access::Read)?;
    if num < 0 || num as usize >= v.s.nsems {
        return Err(Errno::EINVAL);
    }
    let r = f(&v, num as usize)?;
    not_moved(o)?;
    Ok(r)
}

/// `ESTALE` when the set moved (`fence.rs`): a reading made in its old
/// file is made again on the copy.
#[inline]
fn not_moved(o: &Obj) -> Result<()> {
    if o.is_moved() {
        return Err(Errno::ESTALE);
    }
    Ok(())
}

/// All values (`GETALL`).
pub fn getall(o: &Obj) -> Result<Vec<u16>> {
    follow(o, getall_here)
}

fn getall_here(o: &Obj) -> Result<Vec<u16>> {
    let g = lock_ctl(o);
    let v = read_view(o, &g)?;
    o.perm().check_mine(Access::Read)?;
    // Under the lock, every word frozen: one moment's values, as the
    // kernel's (without it, each as it stands).
    if g.is_none() {
        let r = multi::all_as_they_stand(&v)?;
        not_moved(o)?;
        return Ok(r);
    }
    // Words claimed by a process that does not let them go (stopped, or
    // preempted past the claim bound) are read as they stand; a claim of
    // several words may move on between two of them, so they are read
    // again after the others: the same, and the reading is one moment's
    // (every other word is frozen); not, and it is made again.
    let mut vals = vec![0u16; v.s.nsems];
    for _ in 0..8 {
        let mut loose = Vec::new();
        for (i, x) in vals.iter_mut().enumerate() {
            *x = match v.val(i) {
                Err(Errno::EBUSY) => {
                    loose.push(i);
                    multi::as_it_stands(&v, i)?
                }
                r => r?,
            } as u16;
        }
        let mut same = true;
        for &i in &loose {
            same &= multi::as_it_stands(&v, i)? as u16 == vals[i];
        }
        if same {
            break;
        }
    }
    Ok(vals)
}

/// `SETVAL`/`SETALL`: the values, their last pid and every process's
/// adjustment for them, all or nothing under SIGKILL at any instruction:
/// one [`E_SET`] entry per semaphore in the journal, committed, then
/// applied (a holder killed after the commit leaves it to the next lock
/// holder's [`redo`]). Then the sleepers that can now proceed go.
fn set_values(v: &View<'_>, vals: &[(usize, i32)]) -> Result<()> {
    let me = my_pid();
    let mut flag = SET_NO_UNDO;
    for u in v.undo_used() {
        if v.uslot(u)?.pid.load(Ordering::Relaxed) != 0 {
            flag = 0;
            break;
        }
    }
    let mut txn = Txn::default();
    txn.more.reserve(vals.len().saturating_sub(8));
    for &(n, x) in vals {
        // Range-checked before anything is written.
        v.freeze(n)?;
        // An adjustment owed for it is stored first by its claimant, whose
        // late store would land over the clearing (`EBUSY` while its
        // process is stopped: `EAGAIN`); paid when that process is gone.
        if flag == 0 {
            for u in v.undo_used() {
                wait_owed(v, u, n)?;
            }
        }
        txn.push(ent(E_SET, n | flag, x));
    }
    if txn.n == 1 && flag == SET_NO_UNDO {
        // One word to write (`SETVAL` with no undo slot in use): no
        // journal, so that a set whose tail was never reserved takes it
        // on a full file system too.
        v.hdr().jpid.store(me, Ordering::Relaxed);
        txn.commit(v)?;
    } else if txn.n <= v.s.jcap() {
        v.hdr().jpid.store(me, Ordering::Relaxed);
        txn.commit_journaled(v)?;
    } else {
        // A set made by an older version, its journal too small for a
        // SETALL: as before, value by value.
        for &(n, x) in vals {
            for u in v.undo_used() {
                v.adj(u, n)?.store(0, Ordering::Relaxed);
            }
            v.sem(n)?.put(v.o, x, me)?;
        }
    }
    v.o.header()
        .ctime
        .store(crate::sync::time::now_secs(), Ordering::Relaxed);
    update_queue(v);
    Ok(())
}

/// `SETVAL`: sets one value, clears every process's adjustment for it,
/// wakes whoever can now proceed. `ERANGE` outside 0..=SEMVMX.
pub fn setval(o: &Obj, num: i32, val: i32) -> Result<()> {
    follow(o, |o| setval_here(o, num, val))
}

fn setval_here(o: &Obj, num: i32, val: i32) -> Result<()> {
    if !(0..=SEMVMX).contains(&val) {
        return Err(Errno::ERANGE);
    }
    let _g = lock_change(o)?;
    let v = locked_view(o)?;
    if num < 0 || num as usize >= v.s.nsems {
        return Err(Errno::EINVAL);
    }
    o.perm().check_mine(Access::Write)?;
    claim_wait_until(Deadline::ctl(), || set_values(&v, &[(num as usize, val)])).map_err(busy_again)
}

/// `SETALL`: `vals` must hold exactly the set's size (checked by the
/// caller through [`nsems`]); `ERANGE` for a value above SEMVMX.
pub fn setall(o: &Obj, vals: &[u16]) -> Result<()> {
    follow(o, |o| setall_here(o, vals))
}

fn setall_here(o: &Obj, vals: &[u16]) -> Result<()> {
    let _g = lock_change(o)?;
    let v = locked_view(o)?;
    o.perm().check_mine(Access::Write)?;
    if vals.len() < v.s.nsems {
        return Err(Errno::EFAULT);
    }
    if vals.iter().any(|&x| x as i32 > SEMVMX) {
        return Err(Errno::ERANGE);
    }
    let pairs: Vec<(usize, i32)> = (0..v.s.nsems).map(|i| (i, vals[i] as i32)).collect();
    claim_wait_until(Deadline::ctl(), || set_values(&v, &pairs)).map_err(busy_again)
}

/// Releases a mutex made of semaphore 0 (`+1` with `SEM_UNDO`), `EPERM`
/// when it is not held (value not 0), checked under the lock.
pub fn unlock_mutex(o: &Obj) -> Result<()> {
    follow(o, unlock_mutex_here)
}

fn unlock_mutex_here(o: &Obj) -> Result<()> {
    let ops = [SemOp {
        num: 0,
        op: 1,
        flg: SEM_UNDO | IPC_NOWAIT,
    }];
    let _g = lock_by(o, &Deadline::NEVER.for_lock(true)).map_err(|e| {
        if e == Errno::ETIMEDOUT {
            Errno::EAGAIN
        } else {
            e
        }
    })?;
    let v = View::new(o)?;
    if let Some(e) = o.gone() {
        return Err(e);
    }
    o.perm().check_mine(Access::Write)?;
    if v.val(0).map_err(busy_again)? != 0 {
        return Err(Errno::EPERM);
    }
    let u = undo_slot(&v)?;
    let mut txn = Txn::default();
    match try_ops(&v, &ops, Some(u), &mut txn)? {
        Try::Done => {
            txn.commit(&v)?;
            mark_done(&v, &ops, my_pid(), now_secs());
            update_queue(&v);
            Ok(())
        }
        Try::Block(_) => Err(Errno::EAGAIN),
    }
}

/// What `IPC_STAT` reports.
#[derive(Debug, Clone, Copy)]
pub struct Stat {
    /// permissions
    pub perm: Perm,
    /// last semop, seconds (0: never)
    pub otime: i64,
    /// last change, seconds
    pub ctime: i64,
    /// semaphores in the set
    pub nsems: usize,
}

/// `IPC_STAT` (`need_read`: false for `SEM_STAT_ANY`).
pub fn stat(o: &Obj, need_read: bool) -> Result<Stat> {
    follow(o, |o| stat_here(o, need_read))
}

fn stat_here(o: &Obj, need_read: bool) -> Result<Stat> {
    let v = View::new(o)?;
    let p = o.perm();
    if need_read {
        p.check_mine(Access::Read)?;
    }
    let st = Stat {
        perm: p,
        otime: v.hdr().otime.load(Ordering::Relaxed),
        ctime: o.header().ctime.load(Ordering::Relaxed),
        nsems: v.s.nsems,
    };
    not_moved(o)?;
    Ok(st)
}

/// `SEM_STAT` / `SEM_STAT_ANY`: as [`stat`], but a set whose control area
/// was scribbled on (every other call gives `EIO`) is still reported from
/// its object header, with no semaphores — so that listings show it and
/// its owner can remove it (see [`check`]).
pub fn stat_listed(o: &Obj, need_read: bool) -> Result<Stat> {
    match stat(o, need_read) {
        Err(Errno::EIO) => {
            let p = o.perm();
            if need_read {
                p.check_mine(Access::Read)?;
            }
            Ok(Stat {
                perm: p,
                otime: 0,
                ctime: o.header().ctime.load(Ordering::Relaxed),
                nsems: 0,
            })
        }
        r => r,
    }
}

/// Whether a set is intact: `EIO` when its control area was scribbled on
/// (for the tools, which mark such a set).
pub fn check(o: &Obj) -> Result<()> {
    View::new(o).map(|_| ())
}

/// `IPC_SET`: owner, group and mode, by the owner/creator/root.
pub fn set(o: &Obj, uid: u32, gid: u32, mode: u32) -> Result<()> {
    follow(o, |o| set_here(o, uid, gid, mode))
}

fn set_here(o: &Obj, uid: u32, gid: u32, mode: u32) -> Result<()> {
    // Without the lock when it cannot be had in CTL_BOUND: the permission
    // block's words are stored one by one either way.
    let g = lock_ctl(o);
    if let Some(e) = o.gone() {
        return Err(e);
    }
    // A signal handler's call on the set its own thread is moving (not
    // committed): the copy may be made already, and would miss the change.
    if g.is_none() && o.obj_lock().moved_by_my_thread() {
        return Err(Errno::EAGAIN);
    }
    // Obj::set_perm also gives the object file the mode the new IPC mode
    // implies (so that the users it now grants can open the file).
    o.set_perm(&crate::os::creds::creds(), uid, gid, mode)?;
    // Moved meanwhile (this holder stopped and fenced, or the set moved
    // while it wrote without the lock): made again on the copy (the
    // values are absolute).
    if g.is_some_and(|g| !g.release()) || o.is_moved() {
        return Err(Errno::ESTALE);
    }
    Ok(())
}

/// `IPC_RMID`: removes the set; every sleeper returns `EIDRM`.
///
/// When the lock cannot be had in CTL_BOUND (a holder stopped, or a
/// scribbled lock word), the set is removed without it: every sleeper is
/// told `EIDRM` through its own slot word, and a stalled holder that
/// resumes finishes on a removed set.
pub fn remove(ns: &Ns, o: &Obj) -> Result<()> {
    follow(o, |o| remove_here(ns, o))
}

fn remove_here(ns: &Ns, o: &Obj) -> Result<()> {
    let g = lock_ctl(o);
    if let Some(e) = o.gone() {
        return Err(e);
    }
    o.check_owner(&crate::os::creds::creds())?;
    if o.is_moved() {
        return Err(Errno::ESTALE);
    }
    // The slots ever written, found while the file still has its name
    // (once it is marked removed: a later look sees every slot an earlier
    // one would), from the status of its number that the removal takes to
    // check it before its unlink (`Ns::remove_walked`): no `fstatat` of
    // the walk's own (issue 14). A walk that opened the file has the
    // number checked again.
    let view = View::new(o);
    let mut used: Vec<usize> = Vec::new();
    ns.remove_walked(o, false, &mut |st| {
        let Ok(v) = view.as_ref() else {
            return false;
        };
        let (quick, walk) = pending::wslots_used_in(v, st);
        used = walk.collect();
        !quick
    });
    if o.is_moved() {
        // The move won the header (a compare-and-swap from live, as the
        // removal's): removed on the copy.
        return Err(Errno::ESTALE);
    }
    if let Ok(v) = view {
        for i in used {
            let Ok(w) = v.wslot(i) else { continue };
            if g.is_some() {
                if w.state.load(Ordering::Acquire) & 0xff == W_WAITING {
                    let _ = apply(&v, ent(E_DONE, i, Errno::EIDRM as i32));
                }
                continue;
            }
            let s = w.state.load(Ordering::Acquire);
            if s & 0xff == W_WAITING {
                w.result.store(Errno::EIDRM as i32, Ordering::Relaxed);
                let done = (s & !0xff) | W_DONE;
                if w.state
                    .compare_exchange(s, done, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                    && s & W_SLEEP != 0
                {
                    Event::new(&w.state, W_SLEEP).wake(1);
                }
            }
        }
        if g.is_some() {
            // Every sleeper was just told EIDRM: none waits any more (no
            // rescan: the file has lost its name, and reading slots
            // without it costs a mincore each).
            v.hdr().waiting.store(0, Ordering::Relaxed);
        }
    }
    Ok(())
}

/// Sets in the namespace and their semaphores (for `SEM_INFO` and the
/// `semmns` check), and the highest index in use (0 when none): from the
/// index hint's bitmap and recorded sizes, at constant cost (see
/// `ns::index`); by opening every set when the hint is missing or stale.
pub fn usage(ns: &Ns) -> (i32, i64, i32) {
    if let Some((hi, n, sems)) = ns.in_use_size(Kind::Sem) {
        return (n, sems.min(i64::MAX as u64) as i64, hi);
    }
    usage_walk(ns)
}

/// [`usage`] by opening every set.
fn usage_walk(ns: &Ns) -> (i32, i64, i32) {
    let idx = ns.indexes(Kind::Sem);
    let mut sems = 0i64;
    for &i in &idx {
        if let Ok(o) = ns.by_index(Kind::Sem, i) {
            sems += nsems(&o).unwrap_or(0) as i64;
        }
    }
    (idx.len() as i32, sems, idx.last().copied().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) struct TmpNs(pub(super) std::path::PathBuf, pub(super) Ns);
    impl Drop for TmpNs {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    pub(super) fn tmp_ns(tag: &str) -> TmpNs {
        let d = std::path::PathBuf::from(format!(
            "/dev/shm/ripc-semunit-{}-{tag}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        let ns = Ns::open(&d).expect("namespace");
        TmpNs(d, ns)
    }
    fn op(num: u16, op: i16, flg: i16) -> SemOp {
        SemOp { num, op, flg }
    }

    #[test]
    fn a_thread_lets_its_cached_set_go_when_it_exits() {
        let t = tmp_ns("cache");
        let o = get(&t.1, 0, 1, IPC_CREAT_FLAG | 0o600, &[0]).unwrap();
        let before = Arc::strong_count(&o);
        std::thread::scope(|s| {
            s.spawn(|| {
                let x = by_id(&t.1, o.id).unwrap();
                assert!(Arc::ptr_eq(&x, &o), "the namespace's one Obj");
                drop(x);
                assert_eq!(Arc::strong_count(&o), before + 1, "held by the cache");
                // Replaced by another set: the first one let go at once.
                let p = get(&t.1, 0, 1, IPC_CREAT_FLAG | 0o600, &[0]).unwrap();
                by_id(&t.1, p.id).unwrap();
                assert_eq!(Arc::strong_count(&o), before, "replaced");
                by_id(&t.1, o.id).unwrap();
                remove(&t.1, &p).unwrap();
            })
            .join()
            .unwrap();
        });
        assert_eq!(Arc::strong_count(&o), before, "let go at the thread's exit");
        remove(&t.1, &o).unwrap();
    }

    /// Bytes of storage a set's file holds, and the pages its header says
    /// are reserved ([`Resv::pages`] with or without the tail).
    fn held_and_reserved(o: &Obj) -> (u64, u64, u64) {
        let v = View::new(o).unwrap();
        let st = o.stat().unwrap();
        let count = |tail: bool| {
            let (runs, n) = Resv::of(&v.s).pages(tail);
            runs[..n].iter().map(|(a, b)| b - a).sum::<u64>()
        };
        (st.st_blocks as u64 * 512, count(false), count(true))
    }

    #[test]
    fn a_new_set_holds_its_head_only_and_its_tail_once_first_needed() {
        let t = tmp_ns("tail");
        let o = get(&t.1, 0, 1, IPC_CREAT_FLAG | 0o600, &[0]).unwrap();
        let v = View::new(&o).unwrap();
        let st = o.stat().unwrap();
        let whole = ((HEADER_LEN + v.s.total()) as u64).next_multiple_of(4096);
        assert_eq!(st.st_size as u64, whole, "sized to the whole layout");
        assert!(!v.tail_reserved(), "created without its tail");
        let (held, head, with_tail) = held_and_reserved(&o);
        assert_eq!(held, head * 4096, "the first page only");
        assert!(o.only_reserved(head));
        // The tail is the undo area (small here) to the end of the file.
        let tail = whole - ((HEADER_LEN + v.s.off_undo()) as u64 / 4096 * 4096);
        assert_eq!((with_tail - head) * 4096, tail);
        // Reads and operations without SEM_UNDO leave it alone, through
        // the lock-free path and the locked one (a wait-for-zero that
        // fails, a SETVAL: one word, no journal).
        let known = Known::of(shape(&o));
        assert!(matches!(
            fast::semop_fast(&o, &known, op(0, 1, 0)),
            Ok(Fast::Done)
        ));
        semop(&o, &[op(0, -1, 0)], Wait::Forever, Errno::EAGAIN).unwrap();
        setval(&o, 0, 3).unwrap();
        assert_eq!(getval(&o, 0).unwrap(), 3);
        getall(&o).unwrap();
        assert!(!v.tail_reserved());
        assert_eq!(held_and_reserved(&o).0, head * 4096);
        // The first SEM_UNDO operation (lock-free: the undo slot taken
        // without the lock) reserves it, once.
        assert!(matches!(
            fast::semop_fast(&o, &known, op(0, -1, SEM_UNDO)),
            Ok(Fast::Done)
        ));
        assert!(v.tail_reserved());
        assert_eq!(held_and_reserved(&o).0, with_tail * 4096);
        assert!(o.only_reserved(with_tail), "IPC_RMID's quick count");
        semop(&o, &[op(0, 1, SEM_UNDO)], Wait::Forever, Errno::EAGAIN).unwrap();
        assert_eq!(held_and_reserved(&o).0, with_tail * 4096);
        remove(&t.1, &o).unwrap();
    }

    /// `IPC_RMID` of a set nobody slept on past its reserved pages checks
    /// its number once (one `fstatat`: its sleeper walk counts from the
    /// status the removal's check takes, issue 14; a non-root remover's
    /// owner check makes one more), and a set whose sleeper slot was
    /// written past them is still walked slot by slot and its number
    /// checked again after the walk's own calls. Alone in a child: the
    /// count is the process's.
    #[test]
    fn a_removal_checks_the_number_once_for_itself_and_its_sleeper_walk() {
        crate::ns::testing::alone("rmid_stats", || {
            let t = tmp_ns("rmid_stats");
            let stats = || crate::ns::NUMBER_STATS.load(Ordering::Relaxed);
            let owner = u64::from(!crate::os::creds::creds().privileged());
            let o = get(&t.1, 0, 1, IPC_CREAT_FLAG | 0o600, &[0]).unwrap();
            let v = View::new(&o).unwrap();
            let (runs, n) = Resv::of(&v.s).pages(false);
            assert!(o.only_reserved(runs[..n].iter().map(|(a, b)| b - a).sum()));
            let n0 = stats();
            remove(&t.1, &o).unwrap();
            assert_eq!(stats() - n0, 1 + owner, "one fstatat of the number");
            assert!(o.is_removed());
            // A set with a slot written past its reserved pages (a
            // sleeper's, as one that slept there leaves it): the slow walk.
            let o = get(&t.1, 0, 1, IPC_CREAT_FLAG | 0o600, &[0]).unwrap();
            let v = View::new(&o).unwrap();
            let last = v.s.nwait - 1;
            let w = v.wslot(last).unwrap();
            w.state.store(0, Ordering::Relaxed);
            let (runs, n) = Resv::of(&v.s).pages(v.tail_reserved());
            assert!(!o.only_reserved(runs[..n].iter().map(|(a, b)| b - a).sum()));
            let n0 = stats();
            remove(&t.1, &o).unwrap();
            assert_eq!(stats() - n0, 2 + owner, "checked again after the walk");
            assert!(o.is_removed());
            assert!(std::fs::read_dir(&t.0)
                .unwrap()
                .flatten()
                .all(|e| e.file_name().to_string_lossy().starts_with("ripc.")));
        });
    }

    #[test]
    fn the_locked_paths_reserve_the_tail_before_their_first_write_there() {
        let t = tmp_ns("tail_locked");
        type Step = fn(&Obj);
        let steps: [(&str, Step); 5] = [
            ("SEM_UNDO under the lock", |o| {
                semop(o, &[op(0, 1, SEM_UNDO)], Wait::Forever, Errno::EAGAIN).unwrap()
            }),
            ("SETALL", |o| setall(o, &[1, 2]).unwrap()),
            ("a multi-operation semop", |o| {
                semop(o, &[op(0, 1, 0), op(1, 1, 0)], Wait::Forever, Errno::EAGAIN).unwrap()
            }),
            ("a wait-for-zero with SEM_UNDO", |o| {
                semop(o, &[op(0, 0, SEM_UNDO)], Wait::Forever, Errno::EAGAIN).unwrap()
            }),
            ("a sleeper (its grant is journaled)", |o| {
                let now = Wait::Until(Deadline::after(Duration::from_millis(1)));
                assert_eq!(
                    semop(o, &[op(0, -1, 0)], now, Errno::EAGAIN),
                    Err(Errno::EAGAIN)
                );
            }),
        ];
        for (what, step) in steps {
            let o = get(&t.1, 0, 2, IPC_CREAT_FLAG | 0o600, &[0, 0]).unwrap();
            let v = View::new(&o).unwrap();
            let (held, head, with_tail) = held_and_reserved(&o);
            assert_eq!(held, head * 4096, "{what}: the head only before");
            step(&o);
            assert!(v.tail_reserved(), "{what}: reserved");
            assert!(held_and_reserved(&o).0 >= with_tail * 4096, "{what}");
            remove(&t.1, &o).unwrap();
        }
    }

    #[test]
    fn first_users_racing_reserve_the_tail_once_and_a_killed_one_leaves_a_working_set() {
        let t = tmp_ns("tail_race");
        let o = get(&t.1, 0, 4, IPC_CREAT_FLAG | 0o600, &[0; 4]).unwrap();
        let (_, _, with_tail) = held_and_reserved(&o);
        // Threads of one process race to the first reservation (and
        // processes: the child's reservation below).
        std::thread::scope(|s| {
            for k in 0..4u16 {
                let o = &o;
                s.spawn(move || {
                    let known = Known::of(shape(o));
                    for _ in 0..50 {
                        match k {
                            0 => setall(o, &[1, 1, 1, 1]).unwrap(),
                            1 => semop(o, &[op(1, 1, SEM_UNDO)], Wait::Forever, Errno::EAGAIN)
                                .unwrap(),
                            2 => {
                                let r = fast::semop_fast(o, &known, op(2, 1, SEM_UNDO));
                                assert!(r.is_ok());
                            }
                            _ => View::new(o).unwrap().reserve_tail().unwrap(),
                        }
                    }
                });
            }
        });
        let v = View::new(&o).unwrap();
        assert!(v.tail_reserved());
        assert_eq!(held_and_reserved(&o).0, with_tail * 4096, "reserved once");
        remove(&t.1, &o).unwrap();

        // A first user killed after its reservation, before the flag: the
        // pages without the flag. The set works; IPC_RMID's quick count
        // misses (the walk looks with SEEK_DATA); the next first user
        // reserves again (nothing to do) and sets the flag.
        let o = get(&t.1, 0, 4, IPC_CREAT_FLAG | 0o600, &[0; 4]).unwrap();
        let v = View::new(&o).unwrap();
        let (_, head, with_tail) = held_and_reserved(&o);
        // SAFETY: the child only populates the tail and exits.
        let c = unsafe { libc::fork() };
        if c == 0 {
            let start = Resv::of(&v.s).tail_start() as usize - HEADER_LEN;
            let ok = v.r.populate(start, v.s.total() - start).is_ok();
            // SAFETY: as above.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut st = 0;
        // SAFETY: our own child.
        unsafe { libc::waitpid(c, &mut st, 0) };
        assert_eq!(st, 0);
        assert!(!v.tail_reserved());
        assert_eq!(held_and_reserved(&o).0, with_tail * 4096);
        // (The walk counts the head alone, the flag being clear.)
        assert!(!o.only_reserved(head));
        assert_eq!(wslots_used(&v).count(), {
            let hdr = |i: usize| HEADER_LEN + v.s.off_wait() + i * v.s.wsz();
            (0..v.s.nwait)
                .filter(|&i| hdr(i) + size_of::<WaitHdr>() <= 4096)
                .count()
        });
        semop(&o, &[op(3, 1, SEM_UNDO)], Wait::Forever, Errno::EAGAIN).unwrap();
        assert!(v.tail_reserved());
        assert!(o.only_reserved(with_tail));
        remove(&t.1, &o).unwrap();
    }

    #[test]
    fn a_walk_passes_over_unreserved_slots_until_one_is_written() {
        // Small slots (one operation each: some lie in the first page, all
        // in reserved pages), then the default ones (most in holes).
        for semopm in [1, 0] {
            let t = tmp_ns(&format!("resv{semopm}"));
            if semopm > 0 {
                t.1.set_limit("semopm", semopm).unwrap();
            }
            let o = get(&t.1, 0, 1, IPC_CREAT_FLAG | 0o600, &[0]).unwrap();
            let v = View::new(&o).unwrap();
            let (runs, n) = Resv::of(&v.s).pages(false);
            let pages: u64 = runs[..n].iter().map(|(a, b)| b - a).sum();
            assert!(
                o.only_reserved(pages),
                "a new set holds its reserved pages only"
            );
            assert!(!o.only_reserved(pages + 1));
            let hdr = |i: usize| (HEADER_LEN + v.s.off_wait() + i * v.s.wsz()) as u64;
            let reserved = |i: usize| {
                let lo = hdr(i) / 4096;
                let hi = (hdr(i) + size_of::<WaitHdr>() as u64).div_ceil(4096);
                runs[..n].iter().any(|&(a, b)| a <= lo && hi <= b)
            };
            // The quick walk: the slots in reserved pages, no other.
            let quick: Vec<usize> = wslots_used(&v).collect();
            let want: Vec<usize> = (0..v.s.nwait).filter(|&i| reserved(i)).collect();
            assert_eq!(quick, want);
            if semopm > 0 {
                assert!(quick.contains(&0), "slot 0 lies in the first page");
                continue;
            }
            // A sleeper's slot past them, written: the file holds a page
            // more, and the walk (by SEEK_DATA) finds it.
            let far = (0..v.s.nwait)
                .find(|&i| !reserved(i))
                .expect("a slot in a hole");
            v.wslot(far).unwrap().state.store(0, Ordering::Release);
            assert!(!o.only_reserved(pages));
            let walked: Vec<usize> = wslots_used(&v).collect();
            assert!(walked.contains(&far), "{walked:?} lacks slot {far}");
            assert!(!quick.contains(&far));
        }
    }

    #[test]
    fn ops_apply_in_order_all_or_none() {
        let t = tmp_ns("order");
        let o = get(&t.1, 0, 2, IPC_CREAT_FLAG | 0o600, &[1, 0]).unwrap();
        let now = Wait::Until(Deadline::after(Duration::ZERO));
        semop(
            &o,
            &[op(1, 3, 0), op(1, -4, 0), op(0, -1, 0)],
            now,
            Errno::EAGAIN,
        )
        .unwrap_err();
        assert_eq!(
            (getval(&o, 0).unwrap(), getval(&o, 1).unwrap()),
            (1, 0),
            "none applied"
        );
        semop(
            &o,
            &[op(1, 3, 0), op(1, -3, 0), op(0, -1, 0)],
            now,
            Errno::EAGAIN,
        )
        .unwrap();
        assert_eq!((getval(&o, 0).unwrap(), getval(&o, 1).unwrap()), (0, 0));
        assert_eq!(
            semop(&o, &[op(2, 1, 0)], now, Errno::EAGAIN),
            Err(Errno::EFBIG)
        );
        setval(&o, 0, SEMVMX).unwrap();
        assert_eq!(
            semop(&o, &[op(0, 1, 0)], now, Errno::EAGAIN),
            Err(Errno::ERANGE)
        );
        assert_eq!(
            semop(&o, &[op(1, -1, IPC_NOWAIT)], Wait::Forever, Errno::EAGAIN),
            Err(Errno::EAGAIN)
        );
        remove(&t.1, &o).unwrap();
    }

    #[test]
    fn committed_journal_is_replayed_by_the_next_holder() {
        let t = tmp_ns("journal");
        let o = get(&t.1, 0, 3, IPC_CREAT_FLAG | 0o600, &[5, 5, 5]).unwrap();
        let v = View::new(&o).unwrap();
        // A holder that died after committing, before applying.
        let entries = [ent(E_VAL, 0, 1), ent(E_VAL, 2, 9)];
        for (k, e) in entries.iter().enumerate() {
            v.jent(k).unwrap().store(*e, Ordering::Relaxed);
        }
        v.hdr().jcount.store(2, Ordering::Relaxed);
        v.hdr().jstate.store(1, Ordering::Release);
        repair(&o);
        assert_eq!(getall(&o).unwrap(), vec![1, 5, 9], "replayed");
        // One that died before committing: ignored.
        v.jent(0)
            .unwrap()
            .store(ent(E_VAL, 1, 0), Ordering::Relaxed);
        v.hdr().jcount.store(1, Ordering::Relaxed);
        repair(&o);
        assert_eq!(
            getall(&o).unwrap(),
            vec![1, 5, 9],
            "uncommitted journal ignored"
        );
        // A scribbled journal length or entry does no harm.
        v.hdr().jcount.store(u32::MAX, Ordering::Relaxed);
        v.jent(0).unwrap().store(u64::MAX, Ordering::Relaxed);
        v.hdr().jstate.store(1, Ordering::Release);
        repair(&o);
        assert!(getall(&o).is_ok());
        remove(&t.1, &o).unwrap();
    }

    #[test]
    fn a_setall_journal_holds_every_semaphore_and_replays_whole() {
        let t = tmp_ns("setall");
        let n = 600; // more than 2 * semopm + 8 with semopm at 100
        t.1.set_limit("semopm", 100).unwrap();
        let o = get(&t.1, 0, n as i32, IPC_CREAT_FLAG | 0o600, &[]).unwrap();
        let v = View::new(&o).unwrap();
        assert!(v.s.jcap() >= n, "journal sized for a SETALL");
        // An adjustment to clear, in some undo slot (taken as undo_slot
        // takes one: undo_hi raised first).
        v.hdr().undo_hi.store(4, Ordering::Relaxed);
        v.uslot(3).unwrap().pid.store(1, Ordering::Relaxed);
        v.adj(3, 599).unwrap().store(-4, Ordering::Relaxed);
        // A SETALL holder that died after committing, before applying.
        for k in 0..n {
            v.jent(k)
                .unwrap()
                .store(ent(E_SET, k, 7), Ordering::Relaxed);
        }
        v.hdr().jpid.store(4242, Ordering::Relaxed);
        v.hdr().jcount.store(n as u32, Ordering::Relaxed);
        v.hdr().jstate.store(1, Ordering::Release);
        repair(&o);
        v.uslot(3).unwrap().pid.store(0, Ordering::Relaxed);
        assert_eq!(getall(&o).unwrap(), vec![7u16; n], "replayed whole");
        assert_eq!(v.adj(3, 599).unwrap().load(Ordering::Relaxed), 0);
        assert_eq!(getpid(&o, 599).unwrap(), 4242);
        // And a live SETALL of every semaphore commits through it.
        setall(&o, &vec![3u16; n]).unwrap();
        assert_eq!(getall(&o).unwrap(), vec![3u16; n]);
        remove(&t.1, &o).unwrap();
    }

    #[test]
    fn a_lowered_undo_hi_never_hands_out_a_live_process_s_slot() {
        let t = tmp_ns("undo_hi");
        let o = get(&t.1, 0, 1, IPC_CREAT_FLAG | 0o600, &[1]).unwrap();
        let v = View::new(&o).unwrap();
        // Slot 0 belongs to a live process (our parent, with its real
        // start time), and a scribbler lowered undo_hi below it.
        let parent = std::os::unix::process::parent_id() as i32;
        let us = v.uslot(0).unwrap();
        us.start
            .store(crate::os::proc::start_time_of(parent), Ordering::Relaxed);
        us.pid.store(parent, Ordering::Release);
        v.adj(0, 0).unwrap().store(-1, Ordering::Relaxed);
        v.hdr().undo_hi.store(0, Ordering::Relaxed);
        let u = undo_slot(&v).unwrap();
        assert_ne!(u, 0, "the live process's slot was handed out");
        assert_eq!(us.pid.load(Ordering::Relaxed), parent);
        assert_eq!(v.adj(0, 0).unwrap().load(Ordering::Relaxed), -1);
        remove(&t.1, &o).unwrap();
    }

    #[test]
    fn dead_process_undo_is_applied_and_clamped() {
        let t = tmp_ns("undo");
        let o = get(&t.1, 0, 2, IPC_CREAT_FLAG | 0o600, &[3, 1]).unwrap();
        let v = View::new(&o).unwrap();
        // Slot 5 belongs to a process that cannot exist: it took 2 of sem 0
        // (adj +2) and gave 4 to sem 1 (adj -4).
        let us = v.uslot(5).unwrap();
        v.hdr().undo_hi.store(6, Ordering::Relaxed); // as undo_slot does
        us.start.store(1, Ordering::Relaxed);
        v.adj(5, 0).unwrap().store(2, Ordering::Relaxed);
        v.adj(5, 1).unwrap().store(-4, Ordering::Relaxed);
        us.pid.store(0x3fff_fff0, Ordering::Release);
        assert_eq!(getall(&o).unwrap(), vec![5, 0], "3+2, and 1-4 clamped at 0");
        assert_eq!(us.pid.load(Ordering::Relaxed), 0, "slot freed");
        assert_eq!(
            getpid(&o, 0).unwrap(),
            0x3fff_fff0,
            "GETPID names the dead process"
        );
        remove(&t.1, &o).unwrap();
    }

    /// Forges, in the set `v`, process `pid` (start time `start`) in undo
    /// slot `u` with an adjustment of +1 on semaphore 0 (it took one unit
    /// with `SEM_UNDO`), in the middle of a lock-free `SEM_UNDO` V on it
    /// with intent record `k`, whose last operation left a record of
    /// another semaphore: `steps` of the V's four (the claim, the record,
    /// the commit — its release its own, [`UREL`] —, the adjustment)
    /// done, as when it is killed or stopped there.
    fn forge_undo_v(v: &View<'_>, u: usize, k: usize, pid: i32, start: u64, steps: u32) {
        let h = v.hdr();
        h.lockfree.store(2, Ordering::SeqCst);
        if h.undo_hi.load(Ordering::Relaxed) <= u as u32 {
            h.undo_hi.store(u as u32 + 1, Ordering::Relaxed);
        }
        let us = v.uslot(u).unwrap();
        us.start.store(start, Ordering::Relaxed);
        us.pid.store(pid, Ordering::Release);
        let adj = v.adj(u, 0).unwrap();
        adj.store(1, Ordering::Relaxed);
        let rec = v.intent(u, k).unwrap();
        let old = Intent {
            n: 1,
            val: 9,
            adj: -3,
            epoch: 2,
        };
        rec.store(old.pack(), Ordering::Relaxed);
        let e = Intent::next_epoch(rec.load(Ordering::Relaxed));
        let s = v.sem(0).unwrap();
        let cur = s.load().val();
        if steps >= 1 {
            s.word
                .store(SemWord::claim(cur, u, k, e, pid).0, Ordering::SeqCst);
        }
        if steps >= 2 {
            let i = Intent {
                n: 0,
                val: cur + 1,
                adj: 0,
                epoch: e,
            };
            rec.store(i.pack(), Ordering::Relaxed);
        }
        if steps >= 3 {
            s.word.store(
                SemWord::claim(cur, u, k, e, pid).urel_by(pid).0,
                Ordering::SeqCst,
            );
        }
        if steps >= 4 {
            adj.store(0, Ordering::Relaxed);
        }
    }

    #[test]
    fn a_dead_claimant_s_operation_is_finished_once_whatever_step_it_died_at() {
        let t = tmp_ns("claim_dead");
        let dead = 0x3fff_fff0;
        let now = Wait::Until(Deadline::after(Duration::ZERO));
        // Who meets the dead claimant: 0 a read (the sweep of its undo),
        // 1 a locked operation of two semaphores, 2 a single operation
        // (the locked one-operation path), 3 the repair after a dead lock
        // holder. Value 5 before the dead process took one (4, adj +1):
        // whatever step it died at, its V and its undo come out as the
        // kernel's exit_sem would leave them — 5 — less what the live
        // caller took.
        for steps in 0..=4 {
            for via in 0..4 {
                let o = get(&t.1, 0, 2, IPC_CREAT_FLAG | 0o600, &[4, 0]).unwrap();
                let v = View::new(&o).unwrap();
                forge_undo_v(&v, 3, 5, dead, 1, steps);
                let want = match via {
                    0 => {
                        getval(&o, 0).unwrap();
                        5
                    }
                    1 => {
                        semop(&o, &[op(0, -1, 0), op(1, 1, 0)], now, Errno::EAGAIN).unwrap();
                        4
                    }
                    2 => {
                        semop(&o, &[op(0, -1, 0)], now, Errno::EAGAIN).unwrap();
                        4
                    }
                    _ => {
                        repair(&o);
                        5
                    }
                };
                assert_eq!(
                    getval(&o, 0),
                    Ok(want),
                    "died after {steps} steps, met by {via}"
                );
                let w = v.sem(0).unwrap().load();
                assert!(
                    !w.frozen() && !w.claimed(),
                    "{w:x?}, {steps} steps, by {via}"
                );
                assert_eq!(
                    v.uslot(3).unwrap().pid.load(Ordering::Relaxed),
                    0,
                    "slot freed"
                );
                remove(&t.1, &o).unwrap();
            }
        }
    }

    /// A lock-free multi-operation `semop` (`multi`: +1 with `SEM_UNDO`
    /// on semaphore 0, +1 on 1) whose claimant was killed after `steps`
    /// of its steps, met by a locked `semop` of two operations, one of
    /// one, and the repair after a dead lock holder: undone before its
    /// commit (the words as they were), finished after (each word and the
    /// adjustment once), the record freed.
    #[test]
    fn a_dead_multi_claimant_s_call_is_finished_or_undone_once() {
        let t = tmp_ns("multi_dead");
        let dead = Owner {
            pid: 0x3fff_fff0,
            start: 1,
        };
        let now = Wait::Until(Deadline::after(Duration::ZERO));
        for steps in 0..=5 {
            for via in 0..4 {
                let o = get(&t.1, 0, 2, IPC_CREAT_FLAG | 0o600, &[4, 2]).unwrap();
                let v = View::new(&o).unwrap();
                v.hdr().lockfree.store(2, Ordering::SeqCst);
                // The dead claimant's undo slot (finishing writes its
                // adjustment there; a sweep then applies it).
                let u = 3;
                v.hdr().undo_hi.store(4, Ordering::Relaxed);
                v.uslot(u).unwrap().owner().claim(dead);
                let w = v.wslot(0).unwrap();
                w.state.store(multi::taken_by(dead.pid), Ordering::Release);
                let e = 1u32;
                let (s0, s1) = (v.sem(0).unwrap(), v.sem(1).unwrap());
                let (w0, w1) = (s0.load(), s1.load());
                if steps >= 1 {
                    w.ticket.store(4 + e as u64, Ordering::Relaxed);
                    w.undo.store(u as i32, Ordering::Relaxed);
                    w.owner().claim(dead);
                    s0.word.store(w0.claim_multi(0, e).0, Ordering::SeqCst);
                }
                if steps >= 2 {
                    s1.word.store(w1.claim_multi(0, e).0, Ordering::SeqCst);
                }
                if steps >= 3 {
                    let outs = [
                        multi::Outcome {
                            n: 0,
                            val: 5,
                            adj: Some(-1),
                        },
                        multi::Outcome {
                            n: 1,
                            val: 3,
                            adj: None,
                        },
                    ];
                    for (k, x) in outs.iter().enumerate() {
                        v.wop(0, k).unwrap().store(x.pack(), Ordering::Relaxed);
                    }
                    w.nsops.store(2, Ordering::Relaxed);
                }
                if steps >= 4 {
                    w.result.store(MULTI_COMMIT, Ordering::Release);
                }
                if steps >= 5 {
                    v.adj(u, 0).unwrap().store(-1, Ordering::Release);
                    s0.word
                        .store(SemWord::new(5, dead.pid).0, Ordering::Release);
                }
                let (a, b) = if steps >= 4 { (5, 3) } else { (4, 2) };
                let want = match via {
                    0 => {
                        semop(&o, &[op(0, -1, 0), op(1, -1, 0)], now, Errno::EAGAIN).unwrap();
                        (a - 1, b - 1)
                    }
                    1 => {
                        semop(&o, &[op(1, -1, 0)], now, Errno::EAGAIN).unwrap();
                        (a, b - 1)
                    }
                    2 => {
                        // The repair's sweep: the call finished or undone,
                        // then the dead process's undo applied (its -1
                        // on semaphore 0 when committed).
                        repair(&o);
                        (4, b)
                    }
                    _ => {
                        // A sweep of dead undo holders alone: the call
                        // first, whole, then the undo (its adjustments
                        // read after the call wrote them).
                        let _g = lock_by(&o, &Deadline::NEVER).unwrap();
                        sweep_with(&v, false, Check::Full);
                        (4, b)
                    }
                };
                if via == 1 && steps == 1 {
                    // Only semaphore 0 claimed: left to whoever needs it
                    // (a GETALL, under the lock, freezes every word).
                    assert!(s0.load().claimed());
                    assert_eq!(getall(&o), Ok(vec![4, 1]));
                }
                let got = (v.sem(0).unwrap().load(), v.sem(1).unwrap().load());
                assert_eq!(
                    (got.0.val(), got.1.val()),
                    want,
                    "died after {steps} steps, met by {via}"
                );
                assert!(
                    !got.0.claimed() && !got.1.claimed(),
                    "{got:x?}, {steps} steps, by {via}"
                );
                let adj = v.adj(u, 0).unwrap().load(Ordering::Relaxed);
                if via >= 2 {
                    assert_eq!(v.uslot(u).unwrap().pid.load(Ordering::Relaxed), 0);
                } else {
                    assert_eq!(adj, if steps >= 4 { -1 } else { 0 }, "{steps}, by {via}");
                }
                // The record freed by whoever finished it (a claimant
                // killed before claiming anything: by a sweep).
                if steps >= 1 || via == 2 {
                    assert_eq!(
                        w.state.load(Ordering::Acquire) & 0xff,
                        W_FREE,
                        "{steps}, {via}"
                    );
                }
                v.uslot(u).unwrap().owner().clear();
                w.state.store(W_FREE, Ordering::Release);
                remove(&t.1, &o).unwrap();
            }
        }
    }

    /// Records of lock-free multi-operation calls whose claimants died
    /// holding no word (killed between taking the record and their first
    /// claim, or after their last release) do not keep the sleeper slots
    /// for good: once every slot is such a record, the lock-free path
    /// cannot take one (the call goes to the lock), and the next locked
    /// call frees them (no sleeper needed, none queued).
    #[test]
    fn dead_multi_records_holding_no_word_do_not_use_up_the_slots() {
        let t = tmp_ns("multi_leak");
        let o = get(&t.1, 0, 2, IPC_CREAT_FLAG | 0o600, &[5, 5]).unwrap();
        let v = View::new(&o).unwrap();
        let known = Known::of(shape(&o));
        v.hdr().lockfree.store(2, Ordering::SeqCst);
        // A pid that is gone (a child reaped).
        // SAFETY: the child only exits.
        let c = unsafe { libc::fork() };
        if c == 0 {
            // SAFETY: as above.
            unsafe { libc::_exit(0) };
        }
        let mut st = 0;
        // SAFETY: our own child.
        unsafe { libc::waitpid(c, &mut st, 0) };
        let dead = Owner { pid: c, start: 1 };
        for i in 0..v.s.nwait {
            v.r.populate(v.s.off_wait() + i * v.s.wsz(), v.s.wsz())
                .unwrap();
            let w = v.wslot(i).unwrap();
            w.state.store(multi::taken_by(dead.pid), Ordering::Release);
            w.ticket.store(i as u64, Ordering::Relaxed);
            w.undo.store(-1, Ordering::Relaxed);
            if i % 2 == 0 {
                // Half of them recorded their owner before they died.
                w.owner().claim(dead);
            }
        }
        let ops = [op(0, -1, 0), op(1, -1, 0)];
        {
            let _g = lock_by(&o, &Deadline::NEVER).unwrap();
            assert!(matches!(
                multi::semop_multi_fast(&o, &known, &ops, Deadline::NEVER),
                Ok(Fast::Slow)
            ));
        }
        semop_known(&o, &known, &ops, Wait::Forever, Errno::EAGAIN).unwrap();
        {
            let _g = lock_by(&o, &Deadline::NEVER).unwrap();
            assert!(
                matches!(
                    multi::semop_multi_fast(&o, &known, &ops, Deadline::NEVER),
                    Ok(Fast::Done)
                ),
                "a record taken beside the lock holder after a locked call"
            );
        }
        assert_eq!(getall(&o), Ok(vec![3, 3]));
        let taken = (0..v.s.nwait)
            .filter(|&i| v.wslot(i).unwrap().state.load(Ordering::Acquire) & 0xff == W_MULTI)
            .count();
        assert_eq!(taken, 0, "dead records left");
        remove(&t.1, &o).unwrap();
    }

    /// A lock holder that read a word claimed by a multi-operation call,
    /// then looked at the call's record only after the claimant released
    /// its words and freed the record, and another claimant took the same
    /// slot (the same ticket epoch) and has not yet recorded itself: the
    /// holder must not take that live record for a dead claimant's (its
    /// owner's pid still 0) and free it — the new claimant would then
    /// claim words naming a free slot. It finds the word released.
    #[test]
    fn a_record_taken_again_is_not_finished_for_the_claim_it_replaced() {
        let t = tmp_ns("multi_stale");
        let o = get(&t.1, 0, 2, IPC_CREAT_FLAG | 0o600, &[5, 5]).unwrap();
        let v = View::new(&o).unwrap();
        v.hdr().lockfree.store(2, Ordering::SeqCst);
        let i = 7;
        let e = 2u32;
        // The claim as the holder read it (since released: the word is
        // unclaimed now)...
        let stale = v.sem(0).unwrap().load().claim_multi(i, e);
        // ...and the record as a new claimant (this process) left it
        // between its compare-and-swap and its owner record.
        v.r.populate(v.s.off_wait() + i * v.s.wsz(), v.s.wsz())
            .unwrap();
        let w = v.wslot(i).unwrap();
        w.state.store(multi::taken_by(my_pid()), Ordering::Release);
        w.ticket.store(4 + e as u64, Ordering::Relaxed);
        w.result.store(MULTI_COMMIT, Ordering::Relaxed); // the old call's
        w.owner().clear();
        {
            let _g = lock_by(&o, &Deadline::NEVER).unwrap();
            let r = multi::settle_multi(&v, 0, stale);
            assert!(matches!(r, None | Some(Ok(()))), "{r:?}");
            let _ = r;
        }
        assert_eq!(
            w.state.load(Ordering::Acquire),
            multi::taken_by(my_pid()),
            "the live record left alone"
        );
        w.state.store(W_FREE, Ordering::Release);
        remove(&t.1, &o).unwrap();
    }

    #[test]
    fn a_first_sem_undo_operation_takes_its_slot_without_the_lock() {
        let t = tmp_ns("undo_take");
        let o = get(&t.1, 0, 3, IPC_CREAT_FLAG | 0o600, &[0, 0, 0]).unwrap();
        let v = View::new(&o).unwrap();
        let known = Known::of(shape(&o));
        let now = Wait::Until(Deadline::after(Duration::ZERO));
        // In use without the lock (a plain V).
        semop_known(&o, &known, &[op(1, 1, 0)], now, Errno::EAGAIN).unwrap();
        // Slot 0 reserved by a process that cannot exist (killed inside a
        // take): cleared and taken. Slot 1 reserved by a live process
        // (our parent): passed over.
        v.uslot(0)
            .unwrap()
            .taking
            .store(0x3fff_fff0, Ordering::Relaxed);
        let parent = std::os::unix::process::parent_id();
        v.uslot(1).unwrap().taking.store(parent, Ordering::Relaxed);
        v.hdr().undo_hi.store(2, Ordering::Relaxed);
        let _g = lock_by(&o, &Deadline::NEVER).unwrap();
        // A child's first SEM_UNDO operation while this process holds the
        // lock (a live holder: a locked take would wait for it), forked
        // while this thread was taking an undo slot (the child's flag is
        // reset).
        let taking = Taking::try_hold();
        // SAFETY: the child makes one call and leaves with `_exit`.
        let c = unsafe { libc::fork() };
        if c == 0 {
            // Not given back by the child itself.
            core::mem::forget(taking);
            let wait = Wait::Until(Deadline::after(Duration::from_millis(200)));
            let r = semop_known(&o, &known, &[op(0, 1, SEM_UNDO)], wait, Errno::EAGAIN);
            // SAFETY: leaving the child.
            unsafe { libc::_exit(if r.is_ok() { 0 } else { 1 }) };
        }
        drop(taking);
        let mut st = 0;
        // SAFETY: reaping our child.
        unsafe { libc::waitpid(c, &mut st, 0) };
        assert!(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0, "{st:#x}");
        let us = v.uslot(0).unwrap();
        assert_eq!(
            us.pid.load(Ordering::Relaxed),
            c,
            "the dead reserver's slot"
        );
        assert_eq!(us.taking.load(Ordering::Relaxed), 0);
        assert_eq!(v.adj(0, 0).unwrap().load(Ordering::Relaxed), -1);
        assert_eq!(v.uslot(1).unwrap().pid.load(Ordering::Relaxed), 0);
        assert_eq!(v.sem(0).unwrap().load().val(), 1);
        // A wait-for-zero with SEM_UNDO as a process's first: its slot is
        // taken too (no adjustment), without the lock.
        // SAFETY: as above.
        let z = unsafe { libc::fork() };
        if z == 0 {
            let wait = Wait::Until(Deadline::after(Duration::from_millis(200)));
            let r = semop_known(&o, &known, &[op(2, 0, SEM_UNDO)], wait, Errno::EAGAIN);
            let u = v
                .undo_used()
                .find(|&u| v.uslot(u).unwrap().owner().load().is_me());
            // SAFETY: leaving the child.
            unsafe { libc::_exit(if r.is_ok() && u.is_some() { 0 } else { 1 }) };
        }
        // SAFETY: reaping our child.
        unsafe { libc::waitpid(z, &mut st, 0) };
        assert!(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0, "{st:#x}");
        drop(_g);
        // The child is gone: its V undone by the next look.
        assert_eq!(getval(&o, 0), Ok(0));
        v.uslot(1).unwrap().taking.store(0, Ordering::Relaxed);
        remove(&t.1, &o).unwrap();
    }

    #[test]
    fn threads_taking_their_process_s_first_undo_slot_at_once_take_one() {
        let t = tmp_ns("undo_threads");
        let o = get(&t.1, 0, 1, IPC_CREAT_FLAG | 0o600, &[0]).unwrap();
        let v = View::new(&o).unwrap();
        let now = Wait::Until(Deadline::after(Duration::ZERO));
        semop(&o, &[op(0, 1, 0)], now, Errno::EAGAIN).unwrap();
        semop(&o, &[op(0, -1, 0)], now, Errno::EAGAIN).unwrap();
        let go = std::sync::Barrier::new(8);
        std::thread::scope(|sc| {
            for _ in 0..8 {
                sc.spawn(|| {
                    let known = Known::of(shape(&o));
                    go.wait();
                    let w = Wait::Until(Deadline::after(Duration::from_secs(5)));
                    semop_known(&o, &known, &[op(0, 1, SEM_UNDO)], w, Errno::EAGAIN).unwrap();
                });
            }
        });
        let mine: Vec<usize> = v
            .undo_used()
            .filter(|&u| v.uslot(u).unwrap().owner().load().is_me())
            .collect();
        assert_eq!(mine.len(), 1, "slots {mine:?}");
        assert_eq!(v.adj(mine[0], 0).unwrap().load(Ordering::Relaxed), -8);
        assert_eq!(getval(&o, 0), Ok(8));
        v.uslot(mine[0]).unwrap().owner().clear();
        remove(&t.1, &o).unwrap();
    }

    /// A thread of this process paused inside its lock-free take (its
    /// checks made, no slot of ours seen; preempted on a loaded machine)
    /// while another thread's first `SEM_UNDO` operation goes the locked
    /// way: the process ends with one undo slot, as on the kernel (two
    /// split its adjustments, each clamped on its own at exit).
    #[test]
    fn a_locked_take_beside_a_paused_lock_free_take_leaves_one_slot() {
        // Alone: the test holds the process-wide `Taking` flag, which
        // another test's SEM_UNDO call in a thread beside it may hold
        // (`expect("no take under way")` failed once in `make test`).
        crate::ns::testing::alone(
            "a_locked_take_beside_a_paused_lock_free_take_leaves_one_slot",
            locked_take_beside_a_paused_lock_free_take,
        );
    }

    fn locked_take_beside_a_paused_lock_free_take() {
        let t = tmp_ns("undo_paused");
        let o = get(&t.1, 0, 1, IPC_CREAT_FLAG | 0o600, &[0]).unwrap();
        let v = View::new(&o).unwrap();
        let now = Wait::Until(Deadline::after(Duration::ZERO));
        semop(&o, &[op(0, 1, 0)], now, Errno::EAGAIN).unwrap();
        semop(&o, &[op(0, -1, 0)], now, Errno::EAGAIN).unwrap();
        // This thread is inside `take_mine`, past its checks.
        let taking = Taking::try_hold().expect("no take under way");
        std::thread::scope(|sc| {
            let b = sc.spawn(|| {
                let known = Known::of(shape(&o));
                let w = Wait::Until(Deadline::after(Duration::from_secs(5)));
                semop_known(&o, &known, &[op(0, 1, SEM_UNDO)], w, Errno::EAGAIN)
            });
            // Paused longer than a take lasts (a time slice of a loaded
            // machine), then the take goes on.
            std::thread::sleep(Duration::from_millis(100));
            assert!(take_free(&v, Owner::me()).is_some());
            drop(taking);
            b.join().unwrap().unwrap();
        });
        let mine: Vec<usize> = v
            .undo_used()
            .filter(|&u| v.uslot(u).unwrap().owner().load().is_me())
            .collect();
        assert_eq!(mine.len(), 1, "this process's slots {mine:?}");
        assert_eq!(v.adj(mine[0], 0).unwrap().load(Ordering::Relaxed), -1);
        for u in mine {
            v.uslot(u).unwrap().owner().clear();
        }
        remove(&t.1, &o).unwrap();
    }

    /// A child that stopped itself (SIGSTOP), seen stopped: its pid.
    fn stopped_child() -> i32 {
        // SAFETY: the child only stops itself and exits (async-signal-safe
        // calls alone after fork).
        let c = unsafe { libc::fork() };
        if c == 0 {
            // SAFETY: as above.
            unsafe {
                libc::raise(libc::SIGSTOP);
                libc::_exit(0);
            }
        }
        let mut st = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(c, &mut st, libc::WUNTRACED) };
        assert!(libc::WIFSTOPPED(st));
        c
    }

    /// A multi-operation `semop` claiming semaphores 0 and 1 without the
    /// lock, its claimant stopped (after its commit): `GETALL` reads the
    /// committed outcome of both (never one word done and one not), and
    /// the lock holder that meets the claims (that `GETALL`: it freezes
    /// every word) finishes the call in the claimant's place
    /// (`multi::steal`) instead of waiting for it: an `IPC_NOWAIT` P and
    /// a `SETVAL` on its semaphores then go at once; killed, its record
    /// is freed by the next sweep and its call is not made again.
    #[test]
    fn a_stopped_multi_claimant_is_not_waited_for_and_reads_whole() {
        let t = tmp_ns("multi_stopped");
        let o = get(&t.1, 0, 3, IPC_CREAT_FLAG | 0o600, &[4, 1, 2]).unwrap();
        let v = View::new(&o).unwrap();
        v.hdr().lockfree.store(2, Ordering::SeqCst);
        let c = stopped_child();
        let mut st = 0;
        // Its record (slot 5), both words claimed, committed: 0 -1, 1 +1.
        let who = Owner {
            pid: c,
            start: crate::os::proc::start_time_of(c),
        };
        let w = v.wslot(5).unwrap();
        w.state.store(multi::taken_by(c), Ordering::Release);
        w.ticket.store(2, Ordering::Relaxed);
        w.undo.store(-1, Ordering::Relaxed);
        w.owner().claim(who);
        let (s0, s1) = (v.sem(0).unwrap(), v.sem(1).unwrap());
        s0.word
            .store(s0.load().claim_multi(5, 2).0, Ordering::SeqCst);
        s1.word
            .store(s1.load().claim_multi(5, 2).0, Ordering::SeqCst);
        let outs = [
            multi::Outcome {
                n: 0,
                val: 3,
                adj: None,
            },
            multi::Outcome {
                n: 1,
                val: 2,
                adj: None,
            },
        ];
        for (k, x) in outs.iter().enumerate() {
            v.wop(5, k).unwrap().store(x.pack(), Ordering::Relaxed);
        }
        w.nsops.store(2, Ordering::Relaxed);
        w.result.store(MULTI_COMMIT, Ordering::Release);
        let t0 = std::time::Instant::now();
        assert_eq!(getall(&o), Ok(vec![3, 2, 2]), "the committed call, whole");
        assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
        assert!(
            !s0.load().claimed() && !s1.load().claimed(),
            "finished in its place"
        );
        assert_eq!(w.result.load(Ordering::Acquire), MULTI_COMMIT);
        assert_eq!(getval(&o, 1), Ok(2));
        // Its last pid with its value: the committed call's.
        assert_eq!(getpid(&o, 1), Ok(c), "GETPID beside GETVAL");
        semop(&o, &[op(2, -1, 0)], Wait::Forever, Errno::EAGAIN).unwrap();
        semop(&o, &[op(1, -1, IPC_NOWAIT)], Wait::Forever, Errno::EAGAIN).unwrap();
        setval(&o, 1, 2).unwrap();
        // Killed: its call not made again, its record freed by a sweep.
        // SAFETY: our own stopped child.
        unsafe {
            libc::kill(c, libc::SIGKILL);
            libc::waitpid(c, &mut st, 0);
        }
        semop(
            &o,
            &[op(0, -1, 0), op(1, -1, 0)],
            Wait::Forever,
            Errno::EAGAIN,
        )
        .unwrap();
        assert_eq!(getall(&o), Ok(vec![2, 1, 1]));
        {
            let _g = lock_by(&o, &Deadline::NEVER).unwrap();
            undo::sweep(&v);
        }
        assert_eq!(w.state.load(Ordering::Acquire) & 0xff, W_FREE);
        assert!(!v.sem(0).unwrap().load().frozen());
        remove(&t.1, &o).unwrap();
    }

    /// A lock-free `SEM_UNDO` V (4 → 5, its adjustment +1 → 0) whose
    /// claimant is stopped after each of its steps (forged: the claim, the
    /// record, the commit, the adjustment's store), met by an
    /// `IPC_NOWAIT` P under the lock: settled in its place before the
    /// commit (undone without a record, finished with one: the record
    /// marked), completed once the adjustment is stored (only its last
    /// compare-and-swap was left); between the commit and that store (one
    /// store's window, layout 12) released, the adjustment stored and
    /// owed ([`INTENT_OWED`]). Killed then, the V and its undo come out
    /// once: 4 after the P whatever the step.
    #[test]
    fn a_stopped_claimant_is_settled_in_its_place() {
        let t = tmp_ns("claim_stopped");
        for steps in 1..=4u32 {
            let what = format!("stopped after {steps} steps");
            let o = get(&t.1, 0, 2, IPC_CREAT_FLAG | 0o600, &[4, 1]).unwrap();
            let v = View::new(&o).unwrap();
            let c = stopped_child();
            let mut st = 0;
            forge_undo_v(&v, 2, 0, c, crate::os::proc::start_time_of(c), steps);
            let t0 = std::time::Instant::now();
            let nowait = semop(&o, &[op(0, -1, IPC_NOWAIT)], Wait::Forever, Errno::EAGAIN);
            assert!(
                t0.elapsed() < Duration::from_secs(1),
                "{what}: {:?}",
                t0.elapsed()
            );
            let w = v.sem(0).unwrap().load();
            assert_eq!(nowait, Ok(()), "{what}");
            assert!(!w.claimed(), "{what}: {w:x?}");
            let (val, adj) = if steps == 1 { (3, 1) } else { (4, 0) };
            assert_eq!(getval(&o, 0), Ok(val), "{what}");
            assert_eq!(v.adj(2, 0).unwrap().load(Ordering::Relaxed), adj, "{what}");
            let rec = v.intent(2, 0).unwrap().load(Ordering::Relaxed);
            let fin = rec & INTENT_FIN != 0;
            assert_eq!(
                fin,
                steps == 2 || steps == 3,
                "{what}: finished in its place"
            );
            // Stopped after its commit, before its adjustment's store:
            // released with the adjustment owed.
            let owed = rec & INTENT_OWED != 0;
            assert_eq!(owed, steps == 3, "{what}: owed");
            // The other semaphore goes too.
            semop(&o, &[op(1, -1, 0)], Wait::Forever, Errno::EAGAIN).unwrap();
            semop(&o, &[op(1, 1, 0)], Wait::Forever, Errno::EAGAIN).unwrap();
            // SAFETY: our own stopped child.
            unsafe {
                libc::kill(c, libc::SIGKILL);
                libc::waitpid(c, &mut st, 0);
            }
            {
                let _g = lock_by(&o, &Deadline::NEVER).unwrap();
                undo::sweep(&v);
            }
            assert_eq!(getval(&o, 0), Ok(4), "{what}: the V and its undo once");
            let w = v.sem(0).unwrap().load();
            assert!(!w.frozen() && !w.claimed(), "{what}: {w:x?}");
            remove(&t.1, &o).unwrap();
        }
    }

    /// A forged claimant stopped after its commit (`forge_undo_v`, step
    /// 3: semaphore 0's V, 4 → 5, its adjustment 1 → 0 not stored yet) is
    /// released with its adjustment owed; while it is: `SETVAL`/`SETALL`
    /// on that semaphore answer `EAGAIN` (not on the other), a grant to a
    /// sleeping thread of its process is skipped; then, continued (its
    /// store and its clearing made here), the grant goes with the exact
    /// adjustment; killed, its undo (or a `SETVAL`) pays the mark first.
    #[test]
    fn an_owed_adjustment_defers_every_other_writer() {
        let t = tmp_ns("owed_writers");
        for case in ["continued", "killed, then its undo", "killed, then SETVAL"] {
            let o = get(&t.1, 0, 2, IPC_CREAT_FLAG | 0o600, &[4, 1]).unwrap();
            let v = View::new(&o).unwrap();
            let c = stopped_child();
            let start = crate::os::proc::start_time_of(c);
            let mut st = 0;
            forge_undo_v(&v, 2, 0, c, start, 3);
            let r = semop(&o, &[op(0, -1, IPC_NOWAIT)], Wait::Forever, Errno::EAGAIN);
            assert_eq!(r, Ok(()), "{case}: the call through");
            let rec = v.intent(2, 0).unwrap();
            assert!(rec.load(Ordering::Relaxed) & INTENT_OWED != 0, "{case}");
            assert_eq!(v.hdr().owed.load(Ordering::Relaxed), 1, "{case}: counted");
            assert_eq!(getval(&o, 0), Ok(4), "{case}");
            // SETVAL/SETALL on its semaphore: EAGAIN (its late store would
            // land over the clearing); on the other semaphore: done.
            assert_eq!(setval(&o, 0, 7), Err(Errno::EAGAIN), "{case}");
            assert_eq!(setall(&o, &[7, 1]), Err(Errno::EAGAIN), "{case}");
            assert_eq!(setval(&o, 1, 3), Ok(()), "{case}");
            assert_eq!(getval(&o, 0), Ok(4), "{case}");
            assert_eq!(v.adj(2, 0).unwrap().load(Ordering::Relaxed), 0, "{case}");
            // A thread of its process sleeps on a SEM_UNDO P of semaphore
            // 0 (value 4 lets it go): the grant skips it while owed.
            let w = v.wslot(0).unwrap();
            {
                let _g = lock_by(&o, &Deadline::NEVER).unwrap();
                v.wop(0, 0)
                    .unwrap()
                    .store(op(0, -1, SEM_UNDO).pack(), Ordering::Relaxed);
                w.nsops.store(1, Ordering::Relaxed);
                w.undo.store(2, Ordering::Relaxed);
                w.owner().claim(Owner { pid: c, start });
                w.state.store(W_WAITING, Ordering::Release);
                v.hdr().waiting.store(1, Ordering::Relaxed);
                update_queue(&v);
            }
            assert_eq!(w.state.load(Ordering::Acquire) & 0xff, W_WAITING, "{case}");
            assert_eq!(getval(&o, 0), Ok(4), "{case}");
            if case == "continued" {
                // The claimant's store (the same value) and its clearing.
                v.adj(2, 0).unwrap().store(0, Ordering::Release);
                undo::cleared(&v, rec);
                {
                    let _g = lock_by(&o, &Deadline::NEVER).unwrap();
                    update_queue(&v);
                }
                assert_eq!(w.state.load(Ordering::Acquire) & 0xff, W_DONE, "{case}");
                assert_eq!(getval(&o, 0), Ok(3), "{case}: granted");
                assert_eq!(v.adj(2, 0).unwrap().load(Ordering::Relaxed), 1, "{case}");
            }
            // SAFETY: our own stopped child.
            unsafe {
                libc::kill(c, libc::SIGKILL);
                libc::waitpid(c, &mut st, 0);
            }
            if case == "killed, then SETVAL" {
                assert_eq!(setval(&o, 0, 2), Ok(()), "{case}: its process gone");
                assert_eq!(rec.load(Ordering::Relaxed) & INTENT_OWED, 0, "{case}");
                assert_eq!(v.adj(2, 0).unwrap().load(Ordering::Relaxed), 0, "{case}");
            }
            {
                let _g = lock_by(&o, &Deadline::NEVER).unwrap();
                undo::sweep(&v);
            }
            assert_eq!(rec.load(Ordering::Relaxed) & INTENT_OWED, 0, "{case}: paid");
            assert_eq!(v.hdr().owed.load(Ordering::Relaxed), 0, "{case}: counted");
            assert_eq!(v.uslot(2).unwrap().pid.load(Ordering::Relaxed), 0, "{case}");
            // Its V and the undo of it, the P given back: 4 (2 after SETVAL).
            let want = if case == "killed, then SETVAL" { 2 } else { 4 };
            assert_eq!(getval(&o, 0), Ok(want), "{case}");
            assert_eq!(getval(&o, 1), Ok(3), "{case}");
            remove(&t.1, &o).unwrap();
        }
    }

    /// An adjustment owed by another thread of this process (a record
    /// forged in this process's own undo slot: a one-operation claimant's
    /// intent record, or — layout 13 — a multi-operation call's record,
    /// its outcome marked `multi::OUT_OWED`, that thread counted inside
    /// its call): this thread's `SEM_UNDO` calls on that semaphore —
    /// lock-free one-operation, multi-operation, locked — do not read it
    /// before that thread's store and clearing: `IPC_NOWAIT` answers
    /// `EAGAIN` while the mark stays, an untimed call waits for it, and
    /// the adjustments end exact.
    #[test]
    fn an_owed_adjustment_is_waited_for_by_the_process_s_other_threads() {
        for multi_rec in [false, true] {
            owed_by_a_sibling(multi_rec);
        }
    }

    fn owed_by_a_sibling(multi_rec: bool) {
        let t = tmp_ns(if multi_rec {
            "owed_threads_m"
        } else {
            "owed_threads"
        });
        let o = get(&t.1, 0, 2, IPC_CREAT_FLAG | 0o600, &[4, 1]).unwrap();
        let v = View::new(&o).unwrap();
        // This process's slot 2, the record `k` of another thread (held as
        // a live thread holds its own) — or its multi-operation record in
        // sleeper slot 0, that thread inside its call — owing -2 for
        // semaphore 0 (a settler stored it and released the word: 4).
        let held = (!multi_rec).then(fast::hold_rec_for_test);
        let k = held.as_ref().map_or(0, |h| h.0);
        let inside = multi_rec.then(fast::MultiUndo::enter);
        let me = Owner::me();
        v.hdr().lockfree.store(2, Ordering::SeqCst);
        v.hdr().undo_hi.store(3, Ordering::Relaxed);
        v.uslot(2).unwrap().owner().claim(me);
        v.adj(2, 0).unwrap().store(-2, Ordering::Release);
        v.hdr().owed.fetch_add(1, Ordering::SeqCst);
        let mark: &AtomicU64 = if multi_rec {
            let w = v.wslot(0).unwrap();
            w.state.store(multi::taken_by(me.pid), Ordering::Relaxed);
            w.undo.store(2, Ordering::Relaxed);
            w.owner().claim(me);
            let out = multi::Outcome {
                n: 0,
                val: 4,
                adj: Some(-2),
            };
            let x = v.wop(0, 0).unwrap();
            x.store(out.pack() | multi::OUT_OWED, Ordering::Relaxed);
            w.nsops.store(1, Ordering::Relaxed);
            w.result.store(MULTI_COMMIT, Ordering::Release);
            x
        } else {
            let i = Intent {
                n: 0,
                val: 4,
                adj: -2,
                epoch: 1,
            };
            let rec = v.intent(2, k).unwrap();
            rec.store(i.pack() | INTENT_FIN | INTENT_OWED, Ordering::Release);
            rec
        };
        // Known shape: the lock-free paths are tried first.
        let known = Known::of(shape(&o));
        let nowait = [
            vec![op(0, 1, SEM_UNDO | IPC_NOWAIT)],
            vec![op(0, 1, SEM_UNDO | IPC_NOWAIT), op(1, 1, IPC_NOWAIT)],
        ];
        for ops in &nowait {
            let r = semop_known(&o, &known, ops, Wait::Forever, Errno::EAGAIN);
            assert_eq!(r, Err(Errno::EAGAIN), "{ops:?} (multi {multi_rec})");
        }
        // The lock-free multi-operation path (tried beside a lock holder)
        // puts its claims back and leaves the call to the locked path.
        {
            let _g = lock_by(&o, &Deadline::NEVER).unwrap();
            let ops = [op(0, 1, SEM_UNDO), op(1, 1, 0)];
            assert!(matches!(
                multi::semop_multi_fast(&o, &known, &ops, Deadline::NEVER),
                Ok(Fast::Slow)
            ));
        }
        assert_eq!(v.adj(2, 0).unwrap().load(Ordering::Relaxed), -2);
        assert_eq!(getval(&o, 0), Ok(4));
        assert_eq!(getval(&o, 1), Ok(1));
        // The owing thread's store and clearing, 50 ms later.
        let owing = {
            let o = o.clone();
            let at = mark as *const AtomicU64 as usize;
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                let v = View::new(&o).unwrap();
                v.adj(2, 0).unwrap().store(-2, Ordering::Release);
                // SAFETY: the mark's word in the set's mapping, which the
                // test keeps (`o`) until this thread is joined.
                let mark = unsafe { &*(at as *const AtomicU64) };
                if multi_rec {
                    multi::clear_mark(&v, mark);
                    drop(inside);
                } else {
                    undo::cleared(&v, mark);
                }
            })
        };
        let t0 = std::time::Instant::now();
        semop_known(
            &o,
            &known,
            &[op(0, 1, SEM_UNDO)],
            Wait::Forever,
            Errno::EAGAIN,
        )
        .unwrap();
        assert!(
            t0.elapsed() >= Duration::from_millis(40),
            "{:?} (multi {multi_rec})",
            t0.elapsed()
        );
        owing.join().unwrap();
        semop_known(
            &o,
            &known,
            &[op(0, 1, SEM_UNDO), op(1, 1, 0)],
            Wait::Forever,
            Errno::EAGAIN,
        )
        .unwrap();
        assert_eq!(getval(&o, 0), Ok(6));
        assert_eq!(v.adj(2, 0).unwrap().load(Ordering::Relaxed), -4, "exact");
        assert_eq!(v.hdr().owed.load(Ordering::Relaxed), 0, "counted");
        drop(held);
        if multi_rec {
            free_wslot(&v, 0);
        }
        v.uslot(2).unwrap().pid.store(0, Ordering::Release);
        remove(&t.1, &o).unwrap();
    }

    /// A scribbled one-operation claim — naming an undo slot the set does
    /// not have, or its release owned by a process that cannot exist —
    /// is put back by the lock holder that meets it (no record to finish
    /// from), not waited for.
    #[test]
    fn a_scribbled_claim_is_put_back_not_waited_for() {
        let t = tmp_ns("claim_scribbled");
        for urel in [false, true] {
            let o = get(&t.1, 0, 1, IPC_CREAT_FLAG | 0o600, &[3]).unwrap();
            let v = View::new(&o).unwrap();
            v.hdr().lockfree.store(2, Ordering::SeqCst);
            let mut w = SemWord::claim(3, 100, 2, 1, 0x3fff_fff0);
            if urel {
                w = SemWord::claim(3, 1, 2, 1, 0x3fff_fff0).urel_by(0x3fff_fff1);
            }
            v.sem(0).unwrap().word.store(w.0, Ordering::SeqCst);
            let t0 = std::time::Instant::now();
            let r = semop(&o, &[op(0, -1, IPC_NOWAIT)], Wait::Forever, Errno::EAGAIN);
            assert_eq!(r, Ok(()), "urel {urel}");
            assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
            assert_eq!(getval(&o, 0), Ok(2), "urel {urel}");
            remove(&t.1, &o).unwrap();
        }
    }

    #[test]
    fn a_sweep_that_leaves_sleepers_keeps_the_undo_slot_of_a_dead_sleeper() {
        let t = tmp_ns("undo_sleeper");
        let o = get(&t.1, 0, 1, IPC_CREAT_FLAG | 0o600, &[0]).unwrap();
        let v = View::new(&o).unwrap();
        // A process that cannot exist holds undo slot 2 (it gave one unit
        // with SEM_UNDO: adj -1) and sleeps in slot 0 on a P with
        // SEM_UNDO, naming its undo slot.
        let dead = Owner {
            pid: 0x3fff_fff0,
            start: 1,
        };
        v.hdr().undo_hi.store(3, Ordering::Relaxed);
        v.adj(2, 0).unwrap().store(-1, Ordering::Relaxed);
        v.uslot(2).unwrap().owner().claim(dead);
        v.sem(0).unwrap().put(&o, 1, dead.pid).unwrap();
        let _g = lock_by(&o, &Deadline::NEVER).unwrap();
        let w = v.wslot(0).unwrap();
        v.wop(0, 0)
            .unwrap()
            .store(op(0, -2, SEM_UNDO).pack(), Ordering::Relaxed);
        w.nsops.store(1, Ordering::Relaxed);
        w.undo.store(2, Ordering::Relaxed);
        w.owner().claim(dead);
        w.state.store(W_WAITING, Ordering::Release);
        v.hdr().waiting.store(1, Ordering::Relaxed);
        // Without the sleepers (a call that will sleep, not leave): the
        // undo slot stays the dead sleeper's.
        sweep_with(&v, false, Check::Quick);
        assert_eq!(v.uslot(2).unwrap().pid.load(Ordering::Relaxed), dead.pid);
        assert_eq!(v.adj(2, 0).unwrap().load(Ordering::Relaxed), -1);
        // With them: the sleeper dropped, then the undo applied (1 - 1).
        sweep_with(&v, true, Check::Quick);
        assert_eq!(w.state.load(Ordering::Acquire) & 0xff, W_FREE);
        assert_eq!(v.uslot(2).unwrap().pid.load(Ordering::Relaxed), 0);
        assert_eq!(v.sem(0).unwrap().load().val(), 0);
        drop(_g);
        remove(&t.1, &o).unwrap();
    }

    #[test]
    fn scribbled_header_is_eio_not_a_crash() {
        let t = tmp_ns("scribble");
        let o = get(&t.1, 0, 1, IPC_CREAT_FLAG | 0o600, &[]).unwrap();
        let h: &SetHdr = o.at(0).unwrap();
        h.nsems.store(u32::MAX, Ordering::Relaxed);
        assert_eq!(getval(&o, 0), Err(Errno::EIO));
        h.nsems.store(1, Ordering::Relaxed);
        h.max_ops.store(32000, Ordering::Relaxed);
        assert_eq!(
            getval(&o, 0),
            Err(Errno::EIO),
            "shape larger than the mapping"
        );
        h.max_ops.store(500, Ordering::Relaxed);
        assert_eq!(getval(&o, 0), Ok(0));
        remove(&t.1, &o).unwrap();
    }

    #[test]
    fn more_ops_than_the_set_was_made_for_is_e2big() {
        let t = tmp_ns("semopm");
        t.1.set_limit("semopm", 4).unwrap();
        let o = get(&t.1, 0, 1, IPC_CREAT_FLAG | 0o600, &[]).unwrap();
        t.1.set_limit("semopm", 1000).unwrap();
        let now = Wait::Until(Deadline::after(Duration::ZERO));
        let undo = [op(0, 1, SEM_UNDO), op(0, -1, SEM_UNDO)].repeat(3);
        assert_eq!(
            semop(&o, &undo, now, Errno::EAGAIN),
            Err(Errno::E2BIG),
            "6 SEM_UNDO ops on a set made for 4"
        );
        let plain = [op(0, 1, 0), op(0, -1, 0)].repeat(3);
        assert_eq!(semop(&o, &plain, now, Errno::EAGAIN), Err(Errno::E2BIG));
        assert_eq!(getval(&o, 0), Ok(0), "nothing applied");
        assert_eq!(
            semop(&o, &undo[..4], now, Errno::EAGAIN),
            Ok(()),
            "4 ops fit"
        );
        remove(&t.1, &o).unwrap();
    }

    #[test]
    fn no_lock_stays_noted_after_a_call() {
        use crate::sync::held;
        let t = tmp_ns("semheld");
        let o = get(&t.1, 0, 3, IPC_CREAT_FLAG | 0o600, &[]).unwrap();
        held::forget_all();
        let now = Wait::Until(Deadline::after(Duration::ZERO));
        for flg in [0, SEM_UNDO] {
            for ops in [
                vec![op(0, 1, flg)],
                vec![op(0, -1, flg)],
                vec![op(0, 1, flg), op(1, 1, flg)],
                vec![op(0, -1, flg), op(1, -1, flg)],
                vec![op(2, -1, flg)],
                vec![op(2, -1, flg), op(0, 1, flg)],
            ] {
                let r = semop(&o, &ops, now, Errno::EAGAIN);
                assert_eq!(held::count(), 0, "after {ops:?}: {r:?}");
            }
        }
        setval(&o, 2, 1).unwrap();
        getval(&o, 2).unwrap();
        stat(&o, true).unwrap();
        getall(&o).unwrap();
        assert_eq!(held::count(), 0, "after the control calls");
        remove(&t.1, &o).unwrap();
        assert_eq!(held::count(), 0, "after remove");
    }

    const IPC_CREAT_FLAG: i32 = crate::ns::IPC_CREAT;

    fn xorshift(s: &mut u64) -> u64 {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        *s
    }

    /// The values and this process's adjustments of a set (read without
    /// the lock: the caller holds it or nobody does).
    fn state(o: &Obj, known: &Known) -> (Vec<i32>, Vec<i16>) {
        let v = View::new(o).unwrap();
        let vals = (0..v.s.nsems).map(|n| v.peek(n).unwrap().val()).collect();
        let u = known.undo.get().or_else(|| fast::my_slot(&v, known));
        let adjs = (0..v.s.nsems)
            .map(|n| u.map_or(0, |u| v.adj(u, n).unwrap().load(Ordering::Relaxed)))
            .collect();
        (vals, adjs)
    }

    /// The lock-free multi-operation path (its decisions: in order, the
    /// same semaphore twice, wait-for-zero, `ERANGE` of a value and of an
    /// adjustment at both of its ends, `SEM_UNDO` mixed with plain
    /// operations) against the locked path, on two sets in the same
    /// state: the same answer, values and adjustments after each of
    /// thousands of random calls. The lock-free path is called with the
    /// set's lock held by this thread (as when another holds it).
    #[test]
    fn the_lock_free_multi_path_decides_as_the_locked_path() {
        let t = tmp_ns("multi_diff");
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let now = || Wait::Until(Deadline::after(Duration::ZERO));
        let mut slow = 0;
        let mut calls = 0;
        for round in 0..24 {
            let init = [0, 0, 0, 0];
            let a = get(&t.1, 0, 4, IPC_CREAT_FLAG | 0o600, &init).unwrap();
            let b = get(&t.1, 0, 4, IPC_CREAT_FLAG | 0o600, &init).unwrap();
            let (ka, kb) = (Known::of(shape(&a)), Known::of(shape(&b)));
            // Each semaphore set up the same way on both: small value
            // and adjustment, or an adjustment at -SEMAEM, or at
            // +SEMAEM, or a value at SEMVMX.
            for n in 0..4u16 {
                let setup: Vec<SemOp> = match xorshift(&mut rng) % 4 {
                    0 => vec![op(n, 3, SEM_UNDO), op(n, 1, 0)],
                    1 => vec![op(n, 32767, SEM_UNDO), op(n, -32766, 0)],
                    2 => vec![op(n, 32767, 0), op(n, -32767, SEM_UNDO), op(n, 2, 0)],
                    _ => vec![op(n, 32765, 0), op(n, -1, SEM_UNDO)],
                };
                for s in setup {
                    semop_known(&a, &ka, &[s], now(), Errno::EAGAIN).unwrap();
                    semop_known(&b, &kb, &[s], now(), Errno::EAGAIN).unwrap();
                }
            }
            View::new(&b)
                .unwrap()
                .hdr()
                .lockfree
                .store(2, Ordering::SeqCst);
            assert_eq!(state(&a, &ka), state(&b, &kb), "round {round}: set up");
            for call in 0..150 {
                let nops = 2 + (xorshift(&mut rng) % 4) as usize;
                let ops: Vec<SemOp> = (0..nops)
                    .map(|_| {
                        let r = xorshift(&mut rng);
                        let num = (r % 4) as u16;
                        let x = match (r >> 8) % 8 {
                            0 => 0,
                            1 => 2,
                            2 => -2,
                            3 => 3,
                            4 | 5 => 1,
                            _ => -1,
                        };
                        let flg = if (r >> 16) % 2 == 0 { SEM_UNDO } else { 0 };
                        op(num, x, flg)
                    })
                    .collect();
                let want = semop_known(&a, &ka, &ops, now(), Errno::EAGAIN);
                let got = {
                    let _g = lock_by(&b, &Deadline::NEVER).unwrap();
                    assert!(b.is_locked());
                    multi::semop_multi_fast(&b, &kb, &ops, Deadline::NEVER)
                };
                let got = match got {
                    Ok(Fast::Done) => Ok(()),
                    Ok(Fast::Block) => Err(Errno::EAGAIN),
                    Ok(Fast::Slow) => {
                        slow += 1;
                        semop_known(&b, &kb, &ops, now(), Errno::EAGAIN)
                    }
                    Err(e) => Err(e),
                };
                calls += 1;
                let (sa, sb) = (state(&a, &ka), state(&b, &kb));
                assert_eq!(
                    (want, &sa),
                    (got, &sb),
                    "round {round} call {call}: {ops:?}"
                );
                // No word left claimed or frozen, no record left taken.
                let v = View::new(&b).unwrap();
                for n in 0..4 {
                    assert!(!v.peek(n).unwrap().frozen(), "{ops:?}");
                }
                for i in wslots_used(&v) {
                    assert_eq!(v.wslot(i).unwrap().state.load(Ordering::Acquire), W_FREE);
                }
            }
            remove(&t.1, &a).unwrap();
            remove(&t.1, &b).unwrap();
        }
        assert_eq!(slow, 0, "of {calls} calls, {slow} left to the locked path");
    }
}
