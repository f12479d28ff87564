//! System V message queues: the engine.
//!
//! A queue is one object file (see [`crate::ns`]). After the common header,
//! its control area holds:
//! ```text
//! QHead                       five cache lines: the senders' side, their
//!                             wait word, the receivers' side, theirs, and
//!                             the fixed geometry
//! desc[ndesc]   (24 B each)   one per message: type, length, first chunk, next
//! link[nchunk]  (4 B each)    next chunk of a message's chain
//! small[ndesc - 1] (256 B)    payload of a message of up to 256 bytes
//! big[nchunk - ndesc + 1] (1 KiB)  payload of a longer one, chained
//! ```
//! `ndesc` = the queue's byte capacity + 1 (the kernel lets a queue hold as
//! many zero-length messages as it has bytes; one more descriptor is the
//! list's dummy), `nchunk` = enough for any mix of messages that fits the
//! capacity, so a send never fails for lack of space that the kernel would
//! have had.
//!
//! Two locks (the two-lock queue of Michael and Scott): senders append at
//! the tail under `slock`, receivers take from the head under `rlock`. The
//! list always starts with a dummy descriptor (`head`) whose message is
//! already consumed; a receive makes the first message the new dummy. So a
//! sender and a receiver never write the same word, and a one-sender,
//! one-receiver stream moves only the messages' own lines between cores,
//! not a shared lock and bookkeeping line per operation.
//! - Counters are split: senders count what they appended (`sent_n`,
//!   `sent_bytes`), receivers what they took (`taken_n`, `taken_bytes`);
//!   the queue holds the difference. A sender checks the kernel's limits
//!   against its cached copy of the receivers' counters, and reads theirs
//!   only when the copy says the queue is full (taken counters only grow,
//!   so a stale copy only errs towards "full").
//! - Free descriptors and chunks: a receiver pushes what it frees onto the
//!   returned lists (`ret_desc`, `ret_chunk`, compare-and-swap pushes); a
//!   sender allocates from its own free lists, then from never-used storage
//!   up to a small working set, then takes the whole returned list at once
//!   (an atomic swap), and only then from the rest of the never-used
//!   storage. Recycled lines stay few and warm.
//! - A typed receive takes the first message like an untyped one, and
//!   unlinks a later one under `rlock` alone as long as it is not the last
//!   message (senders only ever write the last message's `next`); removing
//!   the last one, `IPC_STAT`, `IPC_SET`, `IPC_RMID` and repair take both
//!   locks, always `slock` first.
//!
//! Crash safety: a send fills a free descriptor and chunks, then links the
//! descriptor after the last message: that store commits it. A receive
//! copies the message out, then moves `head` (or the predecessor's `next`)
//! past it: that store consumes it. Free lists, counters and `tail` are
//! derived data: when a lock holder died, [`View::repair`] (under both
//! locks) rebuilds them from the list, whose committed prefix is always
//! intact, so no committed message is lost or duplicated. A receiver that
//! finds `rlock` left by a dead holder cannot take `slock` while holding
//! it (lock order), so it marks the queue `dirty`, lets go, and repairs
//! under both; every receiver checks the mark.
//!
//! Untrusted memory: every index read from the mapping is bounds-checked,
//! every walk is bounded; an inconsistency gives `EIO`.
//!
//! Waiting: receivers wait on `sent` (bumped by a send that finds it
//! watched, and by removal), senders on `taken` (bumped by a receive that
//! finds it watched, `IPC_SET` and removal). An untyped receiver that finds
//! the queue empty, or a sender that finds it full, whose other side last
//! ran on another CPU first spins on the queue itself (the list's end; the
//! receivers' counters) without marking the word (`wait::spin_unmarked`):
//! the other side then writes nothing for that wait. A waiter that goes on
//! (or any other) marks the word
//! watched (bit 1), checks the queue once more, spins briefly (unless it
//! spun already), then sets
//! the word's low bit and sleeps on the futex; a sender (receiver) reads
//! the word after letting go of its lock and, when marked, bumps it (which
//! clears both bits) and wakes all sleepers. A stream whose other side
//! does not wait writes no wait word. A waiter killed while watching or
//! asleep leaves at most one needless bump and wake-up behind.
//!
//! # Locking
//! - `slock` (`QHead`, line 0): senders; guards `tail`, the senders' free
//!   lists and never-used marks, `sent_n`/`sent_bytes`, the senders' cached
//!   `seen_taken_*`, `lspid`/`stime`. Taken by `Queue::lock_send`.
//! - `rlock` (line 2): receivers; guards `head` (the dummy), every `next`
//!   but the last message's, `taken_n`/`taken_bytes`, `lrpid`/`rtime`, the
//!   pushes onto the returned lists. Taken by `Queue::lock_recv`.
//! - Both, always `slock` first (`Queue::lock_both`): removing the last
//!   message by type, `IPC_STAT`, `IPC_SET`, `IPC_RMID`, `View::repair`.
//! - No lock: the wait words `sent`/`taken` (bumped under the lock of the
//!   side that changes them, woken after it is let go: `wait::publish`),
//!   the peers' `speer`/`rpeer` hints, and a sender's swap of a returned
//!   list (`alloc::Pool::alloc`).
//! - A dead holder: `slock` or both are repaired at once; `rlock` alone
//!   sets `dirty` (see above). Both locks are `crate::sync::RobustLock`s,
//!   whose acquire and release order everything written under them.
//!
//! # Memory ordering
//! Release/acquire pairs between the two sides, which hold different locks:
//! - Commit: `list::View::try_append` fills the descriptor and chunks, then
//!   stores the last message's `next` with **release**; receivers load
//!   `next` with **acquire** (`View::find`, `View::nth`, `View::take`,
//!   and `Queue::recv_into`'s last-message check) and so see the filled
//!   message.
//! - Room: `View::take` stores `taken_n`/`taken_bytes` with **release**
//!   after giving the storage back; a sender loads them with **acquire**
//!   (`View::fits`) before trusting that the room exists.
//! - Returned storage: `alloc::push_returned` links a chain, then
//!   publishes it with a **release** compare-and-swap; the sender's
//!   **acquire** swap (`alloc::Pool::alloc`) takes the whole list with its
//!   links.
//! - Waking: a waiter marks `sent`/`taken` with a **seq-cst**
//!   `fetch_or` (`wait::watch`) before its last look at the queue; a
//!   sender (receiver) reads the mark after letting go of its lock (a
//!   locked exchange: on x86 a full barrier, elsewhere `wait::after_rmw`
//!   adds a fence), so the look and the read cannot both miss (Dekker);
//!   `wait::bump` changes the word with a **release** compare-and-swap;
//!   waiters load it with **acquire** (`wait::wait_change` while spinning)
//!   and set the sleeper bit with an **acq-rel** compare-and-swap
//!   (`crate::sync::event`).
//! - Consumption: `View::take` moves `head` (or the predecessor's `next`)
//!   with **release**; only `rlock` holders read them (the lock orders them),
//!   and repair under both locks.

use crate::error::{Errno, Result};
use crate::ns::{limits, Access, CreateSpec, Kind, Ns, Obj, Shared};
use crate::os::creds::creds;
use crate::os::proc::my_pid;
use crate::sync::event::{self, Event};
use crate::sync::lock::{LockOutcome, RobustLock};
use crate::sync::spin;
use crate::sync::time::Deadline;
use core::sync::atomic::{AtomicI32, AtomicI64, AtomicU32, AtomicU64, Ordering::*};
use std::sync::Arc;

mod alloc;
mod fence;
mod layout;
mod list;
mod tally;
mod wait;

use alloc::*;
use fence::*;
use layout::*;
pub use layout::{BIG, LAYOUT_VERSION, MAX_MSGS, SMALL};
use list::*;
use tally::*;
use wait::*;

pub use crate::ns::consts::{MSG_COPY, MSG_EXCEPT, MSG_NOERROR};

/// Where [`Queue::recv_into`] puts a message's text.
pub trait RecvBuf {
    /// The most bytes of text this buffer takes (`msgsz`).
    fn cap(&self) -> usize;
    /// Exactly `n` (≤ [`RecvBuf::cap`]) bytes to copy the text to, asked
    /// for once the message is chosen and before it is taken: an error
    /// (`EFAULT` for a bad C buffer) leaves the message in the queue.
    fn take(&mut self, n: usize) -> Result<&mut [u8]>;
}

/// A plain slice as a [`RecvBuf`].
struct SliceBuf<'a>(&'a mut [u8]);

impl RecvBuf for SliceBuf<'_> {
    fn cap(&self) -> usize {
        self.0.len()
    }
    fn take(&mut self, n: usize) -> Result<&mut [u8]> {
        self.0.get_mut(..n).ok_or(Errno::EINVAL)
    }
}

/// A queue as this process holds it (one `Arc`: the per-thread cache of
/// [`by_id`] hands out a clone at every call).
#[derive(Debug, Clone)]
pub struct Queue(Arc<QueueInner>);

#[derive(Debug)]
#[doc(hidden)]
pub struct QueueInner {
    obj: Arc<Obj>,
    geo: Geo,
    /// The queue's slot in the namespace's tally when this process copies
    /// the queue's counters there (see [`tally`]), found once.
    tally: Option<Copier>,
    /// Otherwise, how it tells `MSG_INFO` it does not.
    mark: Option<Marker>,
    /// Once the queue moved ([`Obj::replace`]): the queue in its new file,
    /// found once, so that a holder of this one (a native handle) does not
    /// open the numbered name again on every call.
    next: std::sync::OnceLock<Queue>,
    /// Where `obj`'s control area starts, checked against `geo` once
    /// ([`View::check`]): a call's [`View`] and [`Queue::head`] are made
    /// without checking bounds again.
    base: Base,
}

/// [`QueueInner::base`]: an address in the mapping `obj` keeps for as long
/// as the queue lives.
#[derive(Debug, Clone, Copy)]
#[doc(hidden)]
pub struct Base(*mut u8);

// SAFETY: an address in a shared mapping that every thread of the process
// sees at the same place; it is only read through `View` (atomics and byte
// copies, as any thread's access to the mapping), never owned.
unsafe impl Send for Base {}
// SAFETY: as for `Send`: sharing the address shares nothing else.
unsafe impl Sync for Base {}

impl core::ops::Deref for Queue {
    type Target = QueueInner;
    #[inline]
    fn deref(&self) -> &QueueInner {
        &self.0
    }
}

/// What `IPC_STAT` reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct MsgStat {
    /// permissions
    pub perm: crate::ns::Perm,
    /// last send
    pub stime: i64,
    /// last receive
    pub rtime: i64,
    /// last change
    pub ctime: i64,
    /// bytes in the queue
    pub cbytes: u64,
    /// messages in the queue
    pub qnum: u64,
    /// capacity in bytes
    pub qbytes: u64,
    /// pid of last send
    pub lspid: i32,
    /// pid of last receive
    pub lrpid: i32,
}

/// Namespace-wide figures for `IPC_INFO` / `MSG_INFO`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MsgInfo {
    /// highest index in use (the return value of the `*_INFO` commands)
    pub max_idx: i32,
    /// queues in use
    pub queues: i32,
    /// messages in all queues
    pub messages: u64,
    /// bytes in all queues
    pub bytes: u64,
}

/// Both locks, held.
struct Both<'a> {
    /// `slock`
    _s: QGuard<'a>,
    /// `rlock`
    r: QGuard<'a>,
}

/// The spec for creating a queue in `ns`.
fn spec_init(obj: &Obj, geo: Geo, qbytes: u64) -> Result<()> {
    let q = View::new(obj, geo)?;
    let h = q.head()?;
    h.ndesc.store(geo.ndesc, Relaxed);
    h.nchunk.store(geo.nchunk, Relaxed);
    h.cap_bytes.store(geo.bytes, Relaxed);
    h.qbytes.store(qbytes, Relaxed);
    h.speer.store(u64::MAX, Relaxed);
    h.rpeer.store(u64::MAX, Relaxed);
    q.reset_empty()
}

/// `msgget`: the queue with `key` (created per `IPC_CREAT`/`IPC_EXCL`).
pub fn get(ns: &Ns, key: i32, flags: i32) -> Result<Queue> {
    get_sized(ns, key, flags, 0)
}

/// [`get`], a new queue holding at most `capacity` bytes (0: the
/// namespace's `msgmnb`, as `msgget` gives). Above `msgmnb` needs root
/// (`EPERM`, as raising `msg_qbytes` with `IPC_SET`); above the hard cap,
/// `EINVAL`. An existing queue keeps its own capacity.
pub fn get_sized(ns: &Ns, key: i32, flags: i32, capacity: u64) -> Result<Queue> {
    let l = ns.limits();
    let qbytes = if capacity == 0 { l.msgmnb } else { capacity };
    let geo = Geo::for_capacity(qbytes)?;
    let over = qbytes > l.msgmnb && !creds().privileged();
    let built = core::cell::Cell::new(None);
    let init = |o: &Obj| {
        if over {
            return Err(Errno::EPERM);
        }
        built.set(Some(o.file_id()));
        spec_init(o, geo, qbytes)
    };
    let check = |_: &Obj| Ok(());
    let obj = ns.get(
        Kind::Msg,
        key,
        flags,
        &CreateSpec {
            ctl_len: geo.end,
            data_len: 0,
            data_apart: false,
            init: &init,
            check_existing: &check,
            layout: LAYOUT_VERSION,
        },
    )?;
    let q = Queue::from_obj(ns, obj)?;
    if built.get() == Some(q.obj.file_id()) {
        // Ours, just numbered: record it for MSG_INFO, then copy its
        // counters (under both locks: another process may have sent
        // already).
        record(ns, q.obj.id % crate::ns::IDX_SPAN, q.obj.id as u32);
        if let Ok(_g) = q.lock_both(&Deadline::ctl()) {
            if let Ok(v) = q.view() {
                v.note_all();
            }
        }
    }
    Ok(q)
}

/// The queue with id `id`.
pub fn by_id(ns: &Ns, id: i32) -> Result<Queue> {
    // Programs call msgsnd/msgrcv on one queue over and over: remember the
    // last one per thread (checked still live and still this id), so the
    // common call skips the process-wide cache and its mutex.
    let key = ns.serial() as usize;
    let c = &last().q;
    if let Some(q) = cached(c, key, id) {
        return Ok(Queue::clone(&q));
    }
    // Made once per process and kept beside the object (`Ns::engine_by_id`):
    // a call that misses this thread's entry (a program using several
    // queues in turn) allocates nothing.
    let q = Queue(ns.engine_by_id(
        Kind::Msg,
        id,
        |e: &Arc<QueueInner>| e.next.get().map(|n| (n.0.obj.clone(), n.0.clone())),
        |o| Queue::from_obj(ns, o).map(|q| q.0),
    )?);
    // Not cached once this thread's cleanup ran (nothing would let the
    // queue go), nor while a caller up the stack (a signal handler's host)
    // uses the entry.
    if crate::os::thread_exit::arm(crate::os::thread_exit::Slot::MsgCache, at_thread_exit) {
        if let Ok(mut b) = c.try_borrow_mut() {
            let old = b.replace(CachedQueue::new(key, &q));
            drop(b);
            if let Some(e) = old {
                e.release();
            }
        }
    }
    Ok(q)
}

/// Runs `f` on the queue with id `id`: [`by_id`] without taking a
/// reference of its own when the thread's last queue is that one (two
/// atomic read-modify-writes fewer per call: `msgsnd` and `msgrcv`), and
/// through a thread-local without a destructor (no check of its state,
/// no closure: ~45 instructions fewer per call than a `RefCell` of the
/// queue itself, docs/msg.md).
#[inline]
pub fn with_queue<R>(ns: &Ns, id: i32, f: impl FnOnce(&Queue) -> Result<R>) -> Result<R> {
    with_queue_probed(ns, id, |_| Ok(()), |q, (), _| f(q))
}

/// [`with_queue`] for a C caller's call: `pre` first (the checks the
/// kernel makes before it looks the queue up: the caller's buffer,
/// `EFAULT`), then `f` on the queue with what `pre` made; both get the
/// thread's probe cache ([`Seen`]), kept in the queue cache's own
/// thread-local: one thread-local address per call instead of two
/// (`__tls_get_addr` in the shared library; `sem::with_set_after` does
/// the same).
#[inline]
pub fn with_queue_probed<U, R>(
    ns: &Ns,
    id: i32,
    pre: impl FnOnce(&Seen) -> Result<U>,
    f: impl FnOnce(&Queue, U, &Seen) -> Result<R>,
) -> Result<R> {
    let t = last();
    let u = pre(&t.probe)?;
    let key = ns.serial() as usize;
    // The entry stays borrowed while `f` runs: a signal handler's call in
    // between cannot replace it (it takes the long way).
    // One call of `f` (inlined once, not per branch).
    let hit = cached(&t.q, key, id);
    let looked_up;
    let q: &Queue = match &hit {
        Some(q) => q,
        None => {
            // Opens files: no cancellation may act in there (msgsnd and
            // msgrcv are cancellation points at entry and while they
            // sleep only: crate::os::cancel).
            looked_up = {
                let _nc = crate::os::cancel::NoCancel::new();
                by_id(ns, id)?
            };
            &looked_up
        }
    };
    f(q, u, &t.probe)
}

/// This thread's cached queue: the live queue `id` of the namespace with
/// serial `key`, borrowed; `None` otherwise (or while a caller up the
/// stack replaces it).
#[inline(always)]
fn cached(c: &RefCell<Option<CachedQueue>>, key: usize, id: i32) -> Option<Ref<'_, Queue>> {
    let b = c.try_borrow().ok()?;
    Ref::filter_map(b, |e| {
        let q = &e.as_ref()?.q;
        let live = e.as_ref()?.key == key
            && q.obj.id == id
            && q.obj.header_id() == id
            && !q.obj.is_removed();
        live.then_some(&**q)
    })
    .ok()
}

use crate::os::probe::Seen;
use core::cell::{Ref, RefCell};

thread_local! {
    /// The last queue this thread named by id (see [`by_id`]). No
    /// destructor (whose registration would allocate: `os::thread_exit`):
    /// [`at_thread_exit`] lets the queue go when the thread exits.
    static LAST: ThreadCache = const {
        ThreadCache {
            q: RefCell::new(None),
            probe: Seen::new(),
        }
    };
}
const _: () = assert!(!core::mem::needs_drop::<ThreadCache>());

/// This thread's cached queue ([`by_id`]) and the probe cache of the C
/// calls that use it ([`with_queue_probed`]), in one thread-local.
struct ThreadCache {
    q: RefCell<Option<CachedQueue>>,
    probe: Seen,
}

/// This thread's [`LAST`], reached without a closure, and on x86-64
/// Linux without `__tls_get_addr` ([`last_ie`]).
#[inline(always)]
fn last() -> &'static ThreadCache {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    let p = match last_ie::get() {
        p if !p.is_null() => p,
        _ => {
            let p: *const ThreadCache = LAST.with(|c| c as *const _);
            last_ie::set(p);
            p
        }
    };
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    let p: *const ThreadCache = LAST.with(|c| c as *const _);
    // SAFETY: this thread's `LAST` (found through `LAST` itself, or the
    // address this thread stored in its own `last_ie` slot), which has no
    // destructor: it lives as long as the thread, and its cells are not
    // `Sync`, so the reference cannot leave the thread.
    unsafe { &*p }
}

crate::sync::tls::ie_tls_word!(
    /// The address of the thread's [`LAST`] (see `crate::sync::tls`).
    last_ie,
    "ripc_msg_last",
    ThreadCache
);

/// Lets [`LAST`]'s queue go as the thread exits (armed when a queue is
/// cached: `os::thread_exit`, slot `MsgCache`).
fn at_thread_exit() {
    let _ = LAST.try_with(|c| {
        if let Ok(mut b) = c.q.try_borrow_mut() {
            if let Some(e) = b.take() {
                e.release();
            }
        }
    });
}

/// [`LAST`]'s entry: a queue and the [`Ns::serial`] of its namespace. The
/// queue's `Arc` is held without its `Drop` (given back by
/// [`CachedQueue::release`] when the entry is replaced or its thread
/// exits), so that [`LAST`] needs no destructor.
struct CachedQueue {
    key: usize,
    q: core::mem::ManuallyDrop<Queue>,
}

impl CachedQueue {
    fn new(key: usize, q: &Queue) -> CachedQueue {
        CachedQueue {
            key,
            q: core::mem::ManuallyDrop::new(q.clone()),
        }
    }

    /// Gives the entry's reference back (not a `Drop`: see the type).
    fn release(mut self) {
        // SAFETY: `self` is consumed, so the queue is dropped once, and
        // never used after.
        unsafe { core::mem::ManuallyDrop::drop(&mut self.q) }
    }
}

/// `IPC_RMID` by id. Unlike the other calls this works on a queue whose
/// geometry (`ndesc`/`nchunk` in the file) was scribbled on: every other
/// call on it fails with `EIO`, and it must still be removable, as any
/// kernel queue is.
pub fn remove_id(ns: &Ns, id: i32) -> Result<()> {
    let obj = ns.by_id(Kind::Msg, id)?;
    match Queue::from_obj(ns, obj.clone()) {
        Ok(q) => q.remove(ns),
        Err(_) => {
            obj.check_owner(&creds())?;
            // No geometry to repair with: whatever a dead lock holder left
            // half-done goes away with the queue.
            let h: &QHead = obj.at(0)?;
            let d = Deadline::ctl();
            let gone = || obj.is_removed();
            let both = match take(&h.slock, &d, &gone) {
                Ok((s, _)) => take(&h.rlock, &d, &gone)
                    .ok()
                    .map(|(r, _)| Both { _s: s, r }),
                Err(_) => None,
            };
            remove_locked(ns, &obj, both)
        }
    }
}

/// Marks `obj` removed and wakes its waiters; `g` are its locks, held
/// (`None`: they could not be had within [`Deadline::ctl`] — a holder
/// stopped or a scribbled word — and the queue is removed without them:
/// every operation checks the removed mark, so a stalled holder that
/// resumes finishes on a removed queue). Only the wait words of the head
/// are touched (fixed offsets, no geometry needed).
fn remove_locked(ns: &Ns, obj: &Obj, g: Option<Both<'_>>) -> Result<()> {
    // Before the index is freed: MSG_INFO no longer trusts its copy.
    record(ns, obj.id % crate::ns::IDX_SPAN, NO_QUEUE);
    ns.remove(obj, false);
    let h: &QHead = obj.at(0)?;
    let a = bump(&h.sent);
    let b = bump(&h.taken);
    drop(g);
    if a {
        wake(&h.sent);
    }
    if b {
        wake(&h.taken);
    }
    Ok(())
}

/// A lock wait's `ETIMEDOUT` of an `IPC_NOWAIT` call: `busy` (what a call
/// that would block says).
fn nowait_err(e: Errno, flags: i32, busy: Errno) -> Errno {
    if e == Errno::ETIMEDOUT && flags & crate::ns::IPC_NOWAIT != 0 {
        busy
    } else {
        e
    }
}

/// The message a receive chose, and how to take it.
#[derive(Debug, Clone, Copy)]
struct Found {
    /// Its predecessor (the dummy when it is the first message).
    prev: u32,
    /// Its descriptor.
    at: u32,
}

impl Queue {
    /// The geometry `obj`'s file records, checked against its mapping.
    fn geo_of(obj: &Obj) -> Result<Geo> {
        obj.check_layout(LAYOUT_VERSION)?;
        let h: &QHead = obj.at(0)?;
        let geo = Geo::new(
            h.ndesc.load(Relaxed) as u64,
            h.nchunk.load(Relaxed) as u64,
            h.cap_bytes.load(Relaxed),
        )?;
        if geo.end > obj.region().len() {
            return Err(Errno::EIO);
        }
        Ok(geo)
    }

    fn from_obj(ns: &Ns, obj: Arc<Obj>) -> Result<Queue> {
        let geo = Self::geo_of(&obj)?;
        let base = Base(View::check(&obj, geo)?);
        let tally = Copier::new(ns, obj.id);
        let mark = match tally {
            Some(_) => None,
            None => Marker::new(ns, obj.id),
        };
        Ok(Queue(Arc::new(QueueInner {
            obj,
            geo,
            tally,
            mark,
            next: std::sync::OnceLock::new(),
            base,
        })))
    }

    /// The same queue in another file (after a move): its geometry read
    /// and checked again, the tally slot and marker kept (same id).
    fn with_obj(&self, obj: Arc<Obj>) -> Result<Queue> {
        let geo = Self::geo_of(&obj)?;
        let base = Base(View::check(&obj, geo)?);
        if obj.id != self.obj.id {
            return Err(Errno::EIO);
        }
        Ok(Queue(Arc::new(QueueInner {
            obj,
            geo,
            tally: self.tally.clone(),
            mark: self.mark.clone(),
            next: std::sync::OnceLock::new(),
            base,
        })))
    }

    /// The queue's id.
    pub fn id(&self) -> i32 {
        self.obj.id
    }

    /// The underlying object.
    pub fn obj(&self) -> &Arc<Obj> {
        &self.obj
    }

    #[inline]
    fn view(&self) -> Result<View<'_>> {
        // SAFETY: `base` came from `View::check(&self.obj, self.geo)`.
        let mut v = unsafe { View::checked(&self.obj, self.geo, self.base.0) };
        v.tally = self.tally.as_ref();
        v.mark = self.mark.as_ref();
        Ok(v)
    }

    #[inline]
    fn head(&self) -> Result<&QHead> {
        Ok(self.view()?.h)
    }

    /// Takes the senders' lock by `d` (`ETIMEDOUT`; `EIDRM` when the
    /// queue is removed meanwhile). When its previous holder died inside,
    /// repairs the queue first (under both locks).
    fn lock_send(&self, d: &Deadline) -> Result<QGuard<'_>> {
        let h = self.head()?;
        let (s, died) = self.take_movable(&h.slock, d, false)?;
        if died {
            let (r, _) = self.take_movable(&h.rlock, d, true)?;
            let _ = self.view().and_then(|v| v.repair());
            drop(r);
        }
        Ok(s)
    }

    /// Takes the receivers' lock by `d`. When its previous holder died
    /// inside (or another receiver found that and has not repaired yet),
    /// lets go and repairs under both locks first.
    #[inline]
    fn lock_recv(&self, d: &Deadline) -> Result<QGuard<'_>> {
        let h = self.head()?;
        let (r, died) = self.take_movable(&h.rlock, d, false)?;
        if died {
            h.dirty.store(1, Relaxed);
        }
        if h.dirty.load(Relaxed) == 0 {
            return Ok(r);
        }
        drop(r);
        Ok(self.lock_both(d)?.r)
    }

    /// Takes both locks (`slock` first) by `d`, repairing the queue when a
    /// holder of either died inside.
    fn lock_both(&self, d: &Deadline) -> Result<Both<'_>> {
        let h = self.head()?;
        let (s, d1) = self.take_movable(&h.slock, d, false)?;
        let (r, d2) = self.take_movable(&h.rlock, d, true)?;
        if d1 || d2 || h.dirty.load(Relaxed) != 0 {
            let _ = self.view().and_then(|v| v.repair());
        }
        Ok(Both { _s: s, r })
    }

    /// Both locks, waiting as long as it takes (repair, crash tests).
    fn lock_both_always(&self) -> Result<Both<'_>> {
        let h = self.head()?;
        let (s, d1) = take_always(&h.slock);
        let (r, d2) = take_always(&h.rlock);
        if d1 || d2 || h.dirty.load(Relaxed) != 0 {
            let _ = self.view().and_then(|v| v.repair());
        }
        Ok(Both { _s: s, r })
    }

    /// Holds both of the queue's locks until the guard is dropped (for
    /// crash tests: a process killed while holding them exercises
    /// recovery).
    pub fn hold_lock(&self) -> Result<impl Sized + '_> {
        self.lock_both_always()
    }

    /// Holds only the receivers' lock until the guard is dropped (for
    /// crash tests, as [`Queue::hold_lock`]).
    pub fn hold_recv_lock(&self) -> Result<impl Drop + '_> {
        self.lock_recv(&Deadline::NEVER)
    }

    /// Rebuilds the queue's derived state (see [`View::repair`]).
    pub fn repair(&self) -> Result<()> {
        let _g = self.lock_both_always()?;
        self.view()?.repair()
    }

    fn check_live(&self) -> Result<()> {
        self.obj.gone().map_or(Ok(()), Err)
    }

    /// `msgsnd`: appends a message of type `mtype`, blocking while the
    /// queue is full unless `IPC_NOWAIT` (then `EAGAIN`). `ETIMEDOUT` at
    /// the deadline, `EINTR` on a signal, `EIDRM` if removed meanwhile.
    pub fn send(
        &self,
        ns: &Ns,
        mtype: i64,
        data: &[u8],
        flags: i32,
        deadline: Deadline,
    ) -> Result<()> {
        if data.len() as u64 > ns.limit(limits::MSGMAX) {
            return Err(Errno::EINVAL);
        }
        self.send_checked(mtype, data, flags, deadline)
    }

    /// [`Queue::send`] of a text its caller checked against `msgmax`
    /// already (`msgsnd`).
    pub fn send_checked(
        &self,
        mtype: i64,
        data: &[u8],
        flags: i32,
        deadline: Deadline,
    ) -> Result<()> {
        let d = deadline.for_lock(flags & crate::ns::IPC_NOWAIT != 0);
        self.on_moved(&d, |q| q.send_once(mtype, data, flags, deadline))
            .map_err(|e| nowait_err(e, flags, Errno::EAGAIN))
    }

    /// [`Queue::send_checked`] on this file (`ESTALE`: it moved).
    fn send_once(&self, mtype: i64, data: &[u8], flags: i32, deadline: Deadline) -> Result<()> {
        if mtype < 1 {
            return Err(Errno::EINVAL);
        }
        self.obj.settled_perm().check_mine(Access::Write)?;
        let q = self.view()?;
        let len = data.len() as u64;
        let mut first = true;
        let (mut flushed, mut repaired) = (false, false);
        let nowait = flags & crate::ns::IPC_NOWAIT != 0;
        // What this call's wait for room did before marking the word
        // (`None`: not tried yet for this wait).
        let mut before = None;
        // A lock held past the call's bound is a queue we cannot use now:
        // "full" for IPC_NOWAIT (see NOWAIT_BOUND), the deadline otherwise.
        let lock_d = deadline.for_lock(nowait);
        let busy = |e: Errno| {
            if e == Errno::ETIMEDOUT && nowait {
                Errno::EAGAIN
            } else {
                e
            }
        };
        loop {
            let g = self.lock_send(&lock_d).map_err(busy)?;
            match self.obj.gone() {
                None => {}
                Some(Errno::EIDRM) if first => return Err(Errno::EINVAL),
                Some(e) => return Err(e),
            }
            first = false;
            let h = self.head()?;
            // When the senders' copy of the receivers' counters says full:
            // read the counters themselves; when they say full too, watch
            // the wait word and read them once more. A receive after that
            // look sees the mark and bumps the word, so the wait below
            // cannot miss it (and a sender whose copy was merely stale
            // writes no wait word).
            let mut seen = 0;
            let room = q.fits(len, false)? || q.fits(len, true)?;
            if !room && !nowait && before.is_none() && unmarked_pays((&h.rpeer, &h.speer)) {
                // Full: first spin on the receivers' counters themselves
                // without marking `taken` (`spin_unmarked`), so that
                // receivers write nothing for this wait. Ends when the
                // message would fit by the counters (as `View::fits`
                // judges, from this sender's look at its own counters),
                // or at any bump of `taken` (`IPC_SET`, removal, a move).
                let (sn, sb) = (h.sent_n.load(Relaxed), h.sent_bytes.load(Relaxed));
                let qb = h.qbytes.load(Relaxed);
                let most = qb.min(q.geo.msgs());
                let word = h.taken.load(Relaxed);
                drop(g);
                let ready = || {
                    let tn = h.taken_n.load(Acquire);
                    let tb = h.taken_bytes.load(Acquire);
                    (sb.wrapping_sub(tb) as u64 + len <= qb && (sn.wrapping_sub(tn) as u64) < most)
                        || h.taken.load(Relaxed) != word
                };
                match spin_unmarked(ready, &deadline, (&h.rpeer, &h.speer)) {
                    Unmarked::Ready => settle(
                        &h.taken_n,
                        &h.taken_bytes,
                        len,
                        h.qbytes.load(Relaxed),
                        (&h.rpeer, &h.speer),
                    ),
                    Unmarked::Wait(b) => before = Some(b),
                }
                self.check_live()?;
                continue;
            }
            let room = room || {
                seen = watch(&h.taken);
                q.fits(len, true)?
            };
            if room {
                if let Some(op) = q.try_append(mtype, data)? {
                    let released = publish(g, &self.obj, &h.lspid, &h.stime, &h.sent, &h.speer);
                    if !released {
                        q.spoil_copy(true);
                    }
                    if !released && !outcome(&h.sout, op) {
                        // Fenced before its commit: the queue moved
                        // without the message (see `fence`).
                        return Err(Errno::ESTALE);
                    }
                    return Ok(());
                }
                // Room by the counters but no storage: receivers keep
                // some on their pending chains (a queue nearly full of
                // tiny messages: push them), or a receiver died holding
                // some (repaired once its lock is taken over), or the
                // queue was scribbled on (repair).
                drop(g);
                if repaired {
                    return Err(Errno::EIO);
                }
                let _both = self.lock_both(&lock_d).map_err(busy)?;
                if flushed {
                    q.repair()?;
                    repaired = true;
                } else {
                    q.flush_pending()?;
                    flushed = true;
                }
                continue;
            }
            if flags & crate::ns::IPC_NOWAIT != 0 {
                return Err(Errno::EAGAIN);
            }
            drop(g);
            let b = before.take().unwrap_or(Before::Nothing);
            wait_change(&h.taken, seen, &deadline, (&h.rpeer, &h.speer), b)?;
            settle(
                &h.taken_n,
                &h.taken_bytes,
                len,
                h.qbytes.load(Relaxed),
                (&h.rpeer, &h.speer),
            );
            self.check_live()?;
        }
    }

    /// `msgrcv`: takes the first message matching `msgtyp` (0: any; > 0:
    /// that type, or any other with `MSG_EXCEPT`; < 0: the lowest type ≤
    /// |msgtyp|) into `buf`, returning its type and the bytes copied.
    /// `E2BIG` (message kept) when it is longer than `buf` unless
    /// `MSG_NOERROR` (then truncated). Blocks unless `IPC_NOWAIT`
    /// (`ENOMSG`).
    pub fn recv(
        &self,
        msgtyp: i64,
        buf: &mut [u8],
        flags: i32,
        deadline: Deadline,
    ) -> Result<(i64, usize)> {
        self.recv_into(msgtyp, &mut SliceBuf(buf), flags, deadline)
    }

    /// As [`Queue::recv`], into a [`RecvBuf`]: the buffer is asked for
    /// exactly the bytes that will be copied once the message is chosen,
    /// and before it is taken (an error there keeps the message).
    pub fn recv_into<B: RecvBuf + ?Sized>(
        &self,
        msgtyp: i64,
        out: &mut B,
        flags: i32,
        deadline: Deadline,
    ) -> Result<(i64, usize)> {
        let d = deadline.for_lock(flags & crate::ns::IPC_NOWAIT != 0);
        self.on_moved(&d, |q| q.recv_once(msgtyp, out, flags, deadline))
            .map_err(|e| nowait_err(e, flags, Errno::ENOMSG))
    }

    /// [`Queue::recv_into`] on this file (`ESTALE`: it moved).
    #[inline]
    fn recv_once<B: RecvBuf + ?Sized>(
        &self,
        msgtyp: i64,
        out: &mut B,
        flags: i32,
        deadline: Deadline,
    ) -> Result<(i64, usize)> {
        if flags & MSG_COPY != 0 && (flags & crate::ns::IPC_NOWAIT == 0 || flags & MSG_EXCEPT != 0)
        {
            return Err(Errno::EINVAL);
        }
        self.obj.settled_perm().check_mine(Access::Read)?;
        let q = self.view()?;
        let mut first = true;
        let nowait = flags & crate::ns::IPC_NOWAIT != 0;
        // What this call's untyped wait did before marking the word
        // (`None`: not tried yet for this wait).
        let mut before = None;
        // A lock held past the call's bound: "no message" for IPC_NOWAIT
        // (see NOWAIT_BOUND), the deadline otherwise.
        let lock_d = deadline.for_lock(nowait);
        let busy = |e: Errno| {
            if e == Errno::ETIMEDOUT && nowait {
                Errno::ENOMSG
            } else {
                e
            }
        };
        loop {
            let g = self.lock_recv(&lock_d).map_err(busy)?;
            match self.obj.gone() {
                None => {}
                Some(Errno::EIDRM) if first => return Err(Errno::EINVAL),
                Some(e) => return Err(e),
            }
            first = false;
            let h = self.head()?;
            if flags & MSG_COPY != 0 {
                return match q.nth(msgtyp)? {
                    None => Err(Errno::ENOMSG),
                    Some(i) => q.copy_message(q.desc(i)?, out, flags),
                };
            }
            let f = match q.find(msgtyp, flags)? {
                Some(f) => f,
                None if msgtyp == 0
                    && !nowait
                    && before.is_none()
                    && unmarked_pays((&h.speer, &h.rpeer)) =>
                {
                    // An empty queue: first spin on the list's end itself
                    // without marking `sent` (`spin_unmarked`), so that
                    // the sender writes nothing for this wait. Ends at a
                    // new message, another receiver's take (`head`
                    // moved), or any bump of `sent` (removal, a move).
                    let dummy = h.head.load(Relaxed);
                    let end = &q.desc(dummy)?.next;
                    let word = h.sent.load(Relaxed);
                    drop(g);
                    let ready = || {
                        end.load(Acquire) != NIL
                            || h.head.load(Relaxed) != dummy
                            || h.sent.load(Relaxed) != word
                    };
                    if let Unmarked::Wait(b) = spin_unmarked(ready, &deadline, (&h.speer, &h.rpeer))
                    {
                        before = Some(b);
                    }
                    self.check_live()?;
                    continue;
                }
                None => {
                    // Watch the word, then look again (see `send`).
                    let seen = watch(&h.sent);
                    match q.find(msgtyp, flags)? {
                        Some(f) => f,
                        None if flags & crate::ns::IPC_NOWAIT != 0 => return Err(Errno::ENOMSG),
                        None => {
                            drop(g);
                            let b = before.take().unwrap_or(Before::Nothing);
                            wait_change(&h.sent, seen, &deadline, (&h.speer, &h.rpeer), b)?;
                            self.check_live()?;
                            continue;
                        }
                    }
                }
            };
            let dummy = h.head.load(Relaxed);
            let d = q.desc(f.at)?;
            if f.prev == dummy || d.next.load(Acquire) != NIL {
                // The first message, or one that is not the last: senders
                // never write where this receive does.
                return q.take(f, out, flags, g);
            }
            // The last message behind others: its predecessor becomes the
            // last, which is the senders' business too. Under both locks,
            // choose again (the queue may have changed meanwhile).
            drop(g);
            let both = self.lock_both(&lock_d).map_err(busy)?;
            self.check_live()?;
            match q.find(msgtyp, flags)? {
                Some(f) => return q.take(f, out, flags, both.r),
                None => {
                    drop(both);
                    continue;
                }
            }
        }
    }

    /// `IPC_STAT` (needs read permission unless `any`, as `MSG_STAT_ANY`).
    pub fn stat(&self, any: bool) -> Result<MsgStat> {
        self.on_moved(&Deadline::ctl(), |q| q.stat_once(any))
    }

    fn stat_once(&self, any: bool) -> Result<MsgStat> {
        if !any {
            self.obj.perm().check_mine(Access::Read)?;
        }
        // Without the locks when they cannot be had in CTL_BOUND (a holder
        // stopped, or a scribbled word): the counters then give a snapshot.
        let _g = match self.lock_both(&Deadline::ctl()) {
            Err(Errno::ESTALE) => return Err(Errno::ESTALE),
            g => g.ok(),
        };
        let h = self.head()?;
        let (qnum, cbytes) = self.view()?.held()?;
        Ok(MsgStat {
            perm: self.obj.perm(),
            stime: h.stime.load(Relaxed),
            rtime: h.rtime.load(Relaxed),
            ctime: self.obj.header().ctime.load(Relaxed),
            cbytes,
            qnum,
            qbytes: h.qbytes.load(Relaxed),
            lspid: h.lspid.load(Relaxed),
            lrpid: h.lrpid.load(Relaxed),
        })
    }

    /// `IPC_SET`: owner, group, mode and `msg_qbytes`. Raising `qbytes`
    /// above the namespace's `msgmnb` needs root, and never goes above the
    /// capacity the queue was created with (`EPERM`, see README).
    pub fn set(&self, ns: &Ns, uid: u32, gid: u32, mode: u32, qbytes: u64) -> Result<()> {
        self.on_moved(&Deadline::ctl(), |q| q.set_once(ns, uid, gid, mode, qbytes))
    }

    fn set_once(&self, ns: &Ns, uid: u32, gid: u32, mode: u32, qbytes: u64) -> Result<()> {
        let me = creds();
        self.obj.check_owner(&me)?;
        if qbytes > ns.limit(limits::MSGMNB) && !me.privileged() {
            return Err(Errno::EPERM);
        }
        if qbytes > self.geo.capacity() {
            return Err(Errno::EPERM);
        }
        // Without the locks when they cannot be had in CTL_BOUND: each
        // field is one word, and senders read `qbytes` once per send.
        let g = match self.lock_both(&Deadline::ctl()) {
            Err(Errno::ESTALE) => return Err(Errno::ESTALE),
            // A signal handler's call on the queue its own thread is
            // moving (not committed): the copy may be made already, and
            // would miss the change.
            Err(_) if self.my_threads_move() => return Err(Errno::EAGAIN),
            g => g.ok(),
        };
        let r = self.obj.set_perm(&me, uid, gid, mode);
        let h = self.head()?;
        if r.is_ok() {
            h.qbytes.store(qbytes, Relaxed);
        }
        let w = bump(&h.taken);
        drop(g);
        if w {
            wake(&h.taken);
        }
        // Moved meanwhile (this caller was stopped inside and fenced):
        // the change may have missed the copy; made again there (it is
        // idempotent).
        if self.obj.is_moved() {
            return Err(Errno::ESTALE);
        }
        r
    }

    /// `IPC_RMID`: removes the queue; blocked senders and receivers fail
    /// with `EIDRM`.
    pub fn remove(&self, ns: &Ns) -> Result<()> {
        self.on_moved(&Deadline::ctl(), |q| q.remove_once(ns))
    }

    fn remove_once(&self, ns: &Ns) -> Result<()> {
        self.obj.check_owner(&creds())?;
        let g = match self.lock_both(&Deadline::ctl()) {
            Err(Errno::ESTALE) => return Err(Errno::ESTALE),
            g => g.ok(),
        };
        let r = remove_locked(ns, &self.obj, g);
        // Moved meanwhile (this caller was stopped inside and fenced, or
        // removed without the locks while a move finished): the header
        // kept its moved mark, and the removal is made on the copy.
        if self.obj.is_moved() {
            return Err(Errno::ESTALE);
        }
        r
    }

    /// The most bytes the queue can hold (the highest `msg_qbytes`).
    pub fn bytes_capacity(&self) -> u64 {
        self.geo.capacity()
    }
}

/// `IPC_INFO` / `MSG_INFO` figures over the namespace: from the tally
/// (see [`tally`]), at a cost nearly independent of the number of queues;
/// without one, by opening every queue.
pub fn info(ns: &Ns) -> MsgInfo {
    tally::info(ns).unwrap_or_else(|| info_walk(ns))
}

/// [`info`] by opening every queue.
fn info_walk(ns: &Ns) -> MsgInfo {
    let mut i = MsgInfo {
        max_idx: 0,
        ..Default::default()
    };
    // The queues in use from the index hint (one pread, no directory
    // listing), or the directory.
    let idxs = ns
        .in_use_indexes(Kind::Msg)
        .unwrap_or_else(|| ns.indexes(Kind::Msg));
    for idx in idxs {
        if let Ok(o) = ns.by_index(Kind::Msg, idx) {
            if o.is_removed() {
                continue;
            }
            if let Ok(q) = Queue::from_obj(ns, o) {
                i.queues += 1;
                i.max_idx = i.max_idx.max(idx);
                if let Ok((n, b)) = q.view().and_then(|v| v.held()) {
                    i.messages += n;
                    i.bytes += b;
                }
            }
        }
    }
    i
}

/// The queue at index `idx` (`MSG_STAT`).
pub fn by_index(ns: &Ns, idx: i32) -> Result<Queue> {
    let o = ns.by_index(Kind::Msg, idx)?;
    if o.is_removed() {
        return Err(Errno::EINVAL);
    }
    Queue::from_obj(ns, o)
}

/// `MSG_STAT` / `MSG_STAT_ANY` (`any`): the id and status of the queue at
/// index `idx`. A queue whose control area was scribbled on (every other
/// call gives `EIO`) is still reported, from its object header: its
/// permissions and times, no messages — so that listings show it and its
/// owner can remove it (see [`check`]).
pub fn stat_index(ns: &Ns, idx: i32, any: bool) -> Result<(i32, MsgStat)> {
    let o = ns.by_index(Kind::Msg, idx)?;
    if o.is_removed() {
        return Err(Errno::EINVAL);
    }
    let id = o.id;
    match Queue::from_obj(ns, o.clone()).and_then(|q| q.stat(any)) {
        Err(Errno::EIO) => {
            if !any {
                o.perm().check_mine(Access::Read)?;
            }
            Ok((
                id,
                MsgStat {
                    perm: o.perm(),
                    ctime: o.header().ctime.load(Relaxed),
                    ..Default::default()
                },
            ))
        }
        r => r.map(|s| (id, s)),
    }
}

/// Whether the queue with id `id` is intact: `EIO` when its control area
/// was scribbled on (for the tools, which mark such a queue).
pub fn check(ns: &Ns, id: i32) -> Result<()> {
    let q = Queue::from_obj(ns, ns.by_id(Kind::Msg, id)?)?;
    q.view()?.held().map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ns::testing::TempNs;
    use crate::ns::{IPC_CREAT, IPC_NOWAIT, IPC_PRIVATE};

    #[test]
    fn no_lock_stays_noted_after_a_call() {
        use crate::sync::held;
        let t = TempNs::new("msgheld");
        let q = get(&t.ns, IPC_PRIVATE, IPC_CREAT | 0o600).unwrap();
        held::forget_all();
        let mut buf = [0u8; 64];
        for i in 0..50 {
            q.send(&t.ns, 1 + i % 3, b"hello", 0, Deadline::NEVER)
                .unwrap();
            assert_eq!(held::count(), 0, "after send {i}");
            q.stat(false).unwrap();
            assert_eq!(held::count(), 0, "after stat {i}");
            q.recv(0, &mut buf, 0, Deadline::NEVER).unwrap();
            assert_eq!(held::count(), 0, "after recv {i}");
            assert_eq!(
                q.recv(0, &mut buf, IPC_NOWAIT, Deadline::NEVER),
                Err(Errno::ENOMSG)
            );
            assert_eq!(held::count(), 0, "after an empty recv {i}");
        }
        q.remove(&t.ns).unwrap();
        assert_eq!(held::count(), 0, "after remove");
    }

    #[test]
    fn a_thread_lets_its_cached_queue_go_when_it_exits() {
        // Each queue's state is held by the namespace's cache (one
        // reference, made once per process: `Ns::engine_by_id`) and by the
        // thread's one-entry cache while it is the thread's last queue.
        let t = TempNs::new("msgcache");
        let a = get(&t.ns, IPC_PRIVATE, IPC_CREAT | 0o600).unwrap();
        let b = get(&t.ns, IPC_PRIVATE, IPC_CREAT | 0o600).unwrap();
        let (first, second) = std::thread::scope(|s| {
            s.spawn(|| {
                let x = by_id(&t.ns, a.id()).unwrap();
                let first = Arc::downgrade(&x.0);
                drop(x);
                assert_eq!(first.strong_count(), 2, "held by both caches");
                // with_queue hands out the cached queue itself.
                with_queue(&t.ns, a.id(), |q| {
                    assert!(core::ptr::eq(Arc::as_ptr(&q.0), first.as_ptr()));
                    Ok(())
                })
                .unwrap();
                // Replaced by another queue: the thread let the first go
                // at once.
                let y = by_id(&t.ns, b.id()).unwrap();
                let second = Arc::downgrade(&y.0);
                drop(y);
                assert_eq!(first.strong_count(), 1, "replaced: the namespace's only");
                assert_eq!(second.strong_count(), 2, "held by both caches");
                // Back to the first: the same state, not made again.
                let x = by_id(&t.ns, a.id()).unwrap();
                assert!(core::ptr::eq(Arc::as_ptr(&x.0), first.as_ptr()));
                drop(x);
                let y = by_id(&t.ns, b.id()).unwrap();
                drop(y);
                (first, second)
            })
            .join()
            .unwrap()
        });
        assert_eq!(first.strong_count(), 1);
        assert_eq!(second.strong_count(), 1, "the thread let go at its exit");
        a.remove(&t.ns).unwrap();
        b.remove(&t.ns).unwrap();
        assert!(
            first.upgrade().is_none(),
            "removed: let go by the namespace too"
        );
        assert!(second.upgrade().is_none());
    }
}
