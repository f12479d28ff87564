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
//! Waiting: receivers wait on `sent` (bumped by every send and by removal),
//! senders on `taken` (bumped by every receive, `IPC_SET` and removal). A
//! waiter reads the word, checks the queue once more, spins briefly, then
//! sets the word's low bit and sleeps on the futex; a bumper that sees the
//! bit wakes all sleepers. A waiter killed while asleep leaves at most one
//! spurious wake-up behind.

use crate::error::{Errno, Result};
use crate::ns::{limits, Access, CreateSpec, Kind, Ns, Obj, HEADER_LEN};
use crate::sync::lock::{LockOutcome, RobustLock};
use crate::sync::proc::{creds, my_pid};
use crate::sync::time::{now_secs, Deadline};
use crate::sync::{futex_wait, futex_wake};
use core::sync::atomic::{AtomicI32, AtomicI64, AtomicU32, AtomicU64, Ordering::*};
use std::sync::Arc;

/// Payload bytes per small chunk: a message of up to this many bytes is
/// stored in one.
pub const SMALL: usize = 256;
/// Payload bytes per big chunk: a longer message is stored in a chain of
/// these, so that a 1 KiB message is one contiguous run of memory (a
/// stream of them runs 13–18% faster than out of four small chunks, the
/// median gain per round in the slow and fast phase; docs/msg.md).
pub const BIG: usize = 1024;
const NIL: u32 = u32::MAX;
/// The most messages one queue holds (the kernel allows as many as the
/// queue has bytes; each may need a small chunk of its own, so a queue
/// file has room for this many whatever its byte capacity: 18 MiB of
/// sparse file at most, see [`Geo::for_capacity`]).
pub const MAX_MSGS: u64 = 1 << 16;
/// The largest byte capacity (`msgmnb`'s hard cap).
const MAX_BYTES: u64 = 1 << 30;
/// Descriptors (and small and big chunks) a sender takes from never-used
/// storage before it takes back what receivers returned: the working set a
/// stream cycles through (64 KiB of chunks of either size).
const WARM_DESC: u32 = 256;
const WARM_CHUNK: u32 = 256;
const WARM_BIG: u32 = 64;

pub use crate::ns::consts::{MSG_COPY, MSG_EXCEPT, MSG_NOERROR};

#[repr(C)]
#[derive(Debug)]
struct QHead {
    // Line 0: the senders' side, changed under `slock` only.
    slock: RobustLock,
    /// The last message (the dummy when the queue is empty).
    tail: AtomicU32,
    free_desc: AtomicU32,
    free_chunk: AtomicU32,
    /// Descriptors from this index on were never used (since creation or
    /// the last repair): they are free without being on a list.
    fresh_desc: AtomicU32,
    fresh_chunk: AtomicU32,
    /// The big chunks' free list and never-used mark (absolute chunk
    /// indices, from `ndesc - 1` on).
    free_big: AtomicU32,
    fresh_big: AtomicU32,
    /// Messages and bytes ever appended (wrapping).
    sent_n: AtomicU32,
    sent_bytes: AtomicU32,
    /// The senders' copy of `taken_n`/`taken_bytes`, refreshed when the
    /// queue looks full.
    seen_taken_n: AtomicU32,
    seen_taken_bytes: AtomicU32,
    lspid: AtomicI32,
    // Line 1.
    /// Bumped (by 2) on every send and on removal; bit 0: receivers sleep.
    /// A line of its own: receivers spin on it without pulling the
    /// senders' line.
    sent: AtomicU32,
    _pad1a: AtomicU32,
    /// The last sender: pid << 32 | the CPU it ran on (`u64::MAX`: none
    /// yet). A waiter spins only when the other side runs elsewhere (see
    /// [`spin_pays`]).
    speer: AtomicU64,
    _pad1: [AtomicU32; 12],
    // Line 2: the receivers' side, changed under `rlock` (the returned
    // lists also by a sender's swap).
    rlock: RobustLock,
    /// The dummy: the list's first descriptor, its message consumed.
    head: AtomicU32,
    ret_desc: AtomicU32,
    ret_chunk: AtomicU32,
    ret_big: AtomicU32,
    lrpid: AtomicI32,
    _pad2a: AtomicU32,
    rtime: AtomicI64,
    _pad2: [AtomicU64; 2],
    // Line 3: what a sender waiting for room reads, changed by every
    // receive: one line to pull.
    /// Bumped on every receive, `IPC_SET` and removal; bit 0: senders sleep.
    taken: AtomicU32,
    /// Messages and bytes ever taken (wrapping).
    taken_n: AtomicU32,
    taken_bytes: AtomicU32,
    _pad3a: AtomicU32,
    /// The last receiver, as [`QHead::speer`].
    rpeer: AtomicU64,
    _pad3: [AtomicU32; 10],
    // Line 4: fixed at creation or changed under both locks (read by every
    // operation), then `stime`, which senders change once a second.
    ndesc: AtomicU32,
    nchunk: AtomicU32,
    qbytes: AtomicU64,
    /// Set by a receiver that took `rlock` over from a dead holder: the
    /// next holder of both locks repairs.
    dirty: AtomicU32,
    _pad4a: AtomicU32,
    stime: AtomicI64,
    /// The byte capacity the queue was created with (fixed; 0 in files
    /// made before it was recorded: then `ndesc - 1`).
    cap_bytes: AtomicU64,
    _pad4: [AtomicU32; 6],
}

const _: () = assert!(core::mem::offset_of!(QHead, sent) == 64);
const _: () = assert!(core::mem::offset_of!(QHead, lspid) == 60);
const _: () = assert!(core::mem::offset_of!(QHead, stime) == 280);
const _: () = assert!(core::mem::offset_of!(QHead, rlock) == 128);
const _: () = assert!(core::mem::offset_of!(QHead, rtime) == 168);
const _: () = assert!(core::mem::offset_of!(QHead, taken) == 192);
const _: () = assert!(core::mem::offset_of!(QHead, ndesc) == 256);
const _: () = assert!(core::mem::size_of::<QHead>() == 320);

#[repr(C)]
#[derive(Debug)]
struct Desc {
    mtype: AtomicI64,
    len: AtomicU32,
    chunk: AtomicU32,
    next: AtomicU32,
    _pad: AtomicU32,
}

/// Geometry of a queue's control area, computed (and checked against the
/// mapping) in this process, never trusted from the file.
#[derive(Debug, Clone, Copy)]
struct Geo {
    /// The most bytes the queue holds.
    bytes: u64,
    ndesc: u32,
    /// Chunks in all; indices below `nsmall` are small, the rest big.
    nchunk: u32,
    nsmall: u32,
    desc_off: usize,
    link_off: usize,
    /// The small chunks, then the big ones.
    chunk_off: usize,
    big_off: usize,
    end: usize,
}

impl Geo {
    /// The geometry a queue file records (`ndesc`, `nchunk`, its byte
    /// capacity), checked against the one that capacity implies: `EIO`
    /// for anything else.
    fn new(ndesc: u64, nchunk: u64, bytes: u64) -> Result<Geo> {
        let bytes = if bytes == 0 {
            ndesc.saturating_sub(1)
        } else {
            bytes
        };
        let g = Geo::for_capacity(bytes)?;
        if g.ndesc as u64 != ndesc || g.nchunk as u64 != nchunk {
            return Err(Errno::EIO);
        }
        Ok(g)
    }

    /// `nsmall` is `ndesc - 1`: one small chunk for each message the
    /// queue can hold (every non-empty one has a byte of the capacity).
    fn layout(bytes: u64, ndesc: u64, nchunk: u64) -> Geo {
        let nsmall = ndesc - 1;
        let desc_off = core::mem::size_of::<QHead>().next_multiple_of(64);
        let link_off = desc_off + ndesc as usize * core::mem::size_of::<Desc>();
        let chunk_off = (link_off + nchunk as usize * 4).next_multiple_of(64);
        let big_off = chunk_off + nsmall as usize * SMALL;
        let end = big_off + (nchunk - nsmall) as usize * BIG;
        Geo {
            bytes,
            ndesc: ndesc as u32,
            nchunk: nchunk as u32,
            nsmall: nsmall as u32,
            desc_off,
            link_off,
            chunk_off,
            big_off,
            end,
        }
    }

    /// The geometry of a queue of `bytes` bytes (`EINVAL` beyond
    /// [`MAX_BYTES`]): one descriptor per message it can hold (as many as
    /// bytes, at most [`MAX_MSGS`]) plus the dummy; a small chunk per
    /// message; big chunks: a message longer than [`SMALL`] takes at most
    /// len / BIG + 1 of them, and at most bytes / (SMALL + 1) such
    /// messages fit. A 16 KiB queue is 4.6 MiB of sparse file, a 1 GiB
    /// one 1.1 GiB.
    fn for_capacity(bytes: u64) -> Result<Geo> {
        if bytes > MAX_BYTES {
            return Err(Errno::EINVAL);
        }
        let bytes = bytes.max(1);
        let msgs = bytes.min(MAX_MSGS);
        let nbig = bytes.div_ceil(BIG as u64) + (bytes / (SMALL as u64 + 1)).min(msgs) + 1;
        Ok(Geo::layout(bytes, msgs + 1, msgs + nbig))
    }

    /// The most bytes the queue can hold.
    fn capacity(&self) -> u64 {
        self.bytes
    }

    /// The most messages the queue can hold.
    fn msgs(&self) -> u64 {
        self.ndesc as u64 - 1
    }

    /// The chunks a message of `len` bytes is stored in.
    #[inline]
    fn class(&self, len: usize) -> Class {
        if len <= SMALL {
            Class {
                shift: SMALL.trailing_zeros(),
                lo: 0,
                hi: self.nsmall,
                base: HEADER_LEN + self.chunk_off,
            }
        } else {
            Class {
                shift: BIG.trailing_zeros(),
                lo: self.nsmall,
                hi: self.nchunk,
                base: HEADER_LEN + self.big_off,
            }
        }
    }
}

/// One size of chunks: indices `lo..hi`, stored from mapping offset `base`.
#[derive(Debug, Clone, Copy)]
struct Class {
    shift: u32,
    lo: u32,
    hi: u32,
    base: usize,
}

impl Class {
    fn size(&self) -> usize {
        1 << self.shift
    }

    /// How many chunks `len` bytes take.
    fn count(&self, len: usize) -> usize {
        (len + self.size() - 1) >> self.shift
    }

    fn has(&self, c: u32) -> bool {
        (self.lo..self.hi).contains(&c)
    }

    /// The mapping offset of chunk `c`: `EIO` unless it is of this size.
    #[inline]
    fn off(&self, c: u32) -> Result<usize> {
        if !self.has(c) {
            return Err(Errno::EIO);
        }
        Ok(self.base + (((c - self.lo) as usize) << self.shift))
    }
}

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

/// A queue as this process holds it.
#[derive(Debug, Clone)]
pub struct Queue {
    obj: Arc<Obj>,
    geo: Geo,
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

fn spin_budget() -> std::time::Duration {
    static US: once_cell::sync::Lazy<u64> = once_cell::sync::Lazy::new(|| {
        std::env::var("RIPC_SPIN_US")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(50)
            .min(100)
    });
    std::time::Duration::from_micros(*US)
}

/// The CPU this thread runs on now (glibc reads it from the rseq area: no
/// system call), -1 when unknown.
#[inline]
fn current_cpu() -> i32 {
    // SAFETY: sched_getcpu has no preconditions.
    unsafe { libc::sched_getcpu() }
}

/// Whether spinning while waiting for the other side can pay off: only
/// when this process may run on more than one CPU and the other side last
/// ran on a CPU other than this one. Otherwise the peer needs this very
/// CPU (both pinned to one, or placed on one by the scheduler): a spin
/// only burns its time slice, so the waiter sleeps at once (on one CPU a
/// 64-byte ping-pong took 8.6 µs spinning against the kernel's 2.4 µs).
///
/// The other side is the last process other than this one seen on the
/// side this waiter waits for (`first`), else on its own side (`second`:
/// in a ping-pong this process was the last sender, and the peer that will
/// answer was the last receiver); when neither is known, spin.
#[inline]
fn spin_pays(first: &AtomicU64, second: &AtomicU64) -> bool {
    if !crate::sync::proc::many_cpus() {
        return false;
    }
    let me = my_pid() as u32 as u64;
    let other = [first, second]
        .into_iter()
        .map(|w| w.load(Relaxed))
        .find(|&v| v != u64::MAX && v >> 32 != me);
    match other {
        Some(v) => v as u32 as i32 != current_cpu(),
        None => true,
    }
}

/// This process and the CPU it runs on, as [`QHead::speer`] records them.
#[inline]
fn me_here() -> u64 {
    (my_pid() as u32 as u64) << 32 | current_cpu() as u32 as u64
}

/// Waits until `word` moves away from `seen` (or the deadline passes):
/// spins for a few tens of microseconds, then sleeps on the futex.
/// `EINTR` when a signal handler ran while asleep, `ETIMEDOUT` at the
/// deadline.
fn wait_change(
    word: &AtomicU32,
    seen: u32,
    deadline: &Deadline,
    peers: (&AtomicU64, &AtomicU64),
) -> Result<()> {
    // The deadline first: a peer that keeps the word moving (other types
    // sent, a scribbler) must not keep a timed call past it.
    if deadline.expired() {
        return Err(Errno::ETIMEDOUT);
    }
    let budget = if !spin_pays(peers.0, peers.1) {
        std::time::Duration::ZERO
    } else {
        match deadline.remaining() {
            Some(r) => spin_budget().min(r),
            None => spin_budget(),
        }
    };
    if !budget.is_zero() {
        let start = std::time::Instant::now();
        let mut i = 0u32;
        loop {
            if word.load(Acquire) != seen {
                return Ok(());
            }
            core::hint::spin_loop();
            i = i.wrapping_add(1);
            if i % 64 == 0 {
                let spent = start.elapsed();
                if spent >= budget {
                    break;
                }
                // Past a few microseconds the peer may be waiting for this
                // very core (a loaded machine): let it run. With a core of
                // its own the yield returns at once.
                if spent >= std::time::Duration::from_micros(3) {
                    std::thread::yield_now();
                }
            }
        }
    }
    // Announce a sleeper (bit 0) unless the word moved meanwhile.
    let sleeping = seen | 1;
    if seen & 1 == 0
        && word
            .compare_exchange(seen, sleeping, AcqRel, Acquire)
            .is_err()
    {
        return Ok(());
    }
    match deadline.remaining() {
        Some(d) if d.is_zero() => Err(Errno::ETIMEDOUT),
        rem => futex_wait(word, sleeping, rem),
    }
}

/// After a full queue's sender saw room appear: while receivers keep taking
/// messages (the word keeps moving), let them go on for a few microseconds
/// before appending again. The queue then drains and refills in runs,
/// instead of the sender adding one message per receive and pulling the
/// receivers' counters' line each time (without it, 64-byte streams ran at
/// ~5 instead of ~7.5 M msg/s: docs/msg.md). Only delays a sender that is
/// waiting anyway; never decides anything.
fn settle(word: &AtomicU32, peers: (&AtomicU64, &AtomicU64)) {
    if !spin_pays(peers.0, peers.1) {
        return;
    }
    let start = std::time::Instant::now();
    let mut last = word.load(Relaxed);
    let mut quiet = start;
    for _ in 0..4096 {
        core::hint::spin_loop();
        let v = word.load(Relaxed);
        let now = std::time::Instant::now();
        if v != last {
            last = v;
            quiet = now;
        } else if now.duration_since(quiet) > SETTLE_QUIET
            || now.duration_since(start) > std::time::Duration::from_micros(30)
        {
            break;
        }
    }
}

/// A full queue's sender stops waiting for the receivers once no receive
/// happened for this long (a receive takes a few hundred nanoseconds).
const SETTLE_QUIET: std::time::Duration = std::time::Duration::from_nanos(400);

/// Bumps a wait word (under a queue lock) and reports whether sleepers
/// must be woken (do that after unlocking, with [`wake`]).
fn bump(word: &AtomicU32) -> bool {
    let mut old = word.load(Relaxed);
    loop {
        let new = (old.wrapping_add(2)) & !1;
        match word.compare_exchange_weak(old, new, Release, Relaxed) {
            Ok(_) => return old & 1 != 0,
            Err(v) => old = v,
        }
    }
}

/// The end of a send (receive) under `g`: records who did it and when,
/// bumps the wait word of the other side, lets go of `g`, then wakes that
/// word's sleepers if there are any.
#[inline(always)]
fn publish(g: QGuard<'_>, pid: &AtomicI32, time: &AtomicI64, word: &AtomicU32, peer: &AtomicU64) {
    store_if_changed32(pid, my_pid());
    let here = me_here();
    if peer.load(Relaxed) != here {
        peer.store(here, Relaxed);
    }
    store_if_changed(time, now_secs());
    let w = bump(word);
    drop(g);
    if w {
        wake(word);
    }
}

/// A held queue lock; unlocks when dropped.
#[derive(Debug)]
struct QGuard<'a>(&'a RobustLock);

impl Drop for QGuard<'_> {
    fn drop(&mut self) {
        self.0.unlock();
    }
}

/// Stores `v` unless already there (a store would dirty the line for
/// nothing: the other side reads it).
fn store_if_changed(a: &AtomicI64, v: i64) {
    if a.load(Relaxed) != v {
        a.store(v, Relaxed);
    }
}

fn store_if_changed32(a: &AtomicI32, v: i32) {
    if a.load(Relaxed) != v {
        a.store(v, Relaxed);
    }
}

/// Wakes every sleeper on `word`.
fn wake(word: &AtomicU32) {
    futex_wake(word, i32::MAX);
}

/// Takes `l` (spinning, then sleeping, as [`RobustLock::lock_until`]
/// does) unless `deadline` passes (`ETIMEDOUT`) or `gone` turns true
/// (`EIDRM`); reports whether a dead holder left it.
fn take<'l>(
    l: &'l RobustLock,
    deadline: &Deadline,
    gone: &dyn Fn() -> bool,
) -> Result<(QGuard<'l>, bool)> {
    let died = l.lock_until(deadline, gone)? == LockOutcome::OwnerDied;
    Ok((QGuard(l), died))
}

/// Waits for nothing: [`take`] without a deadline, for the calls that
/// must have the lock (repair, crash tests).
fn take_always(l: &RobustLock) -> (QGuard<'_>, bool) {
    let died = l.lock() == LockOutcome::OwnerDied;
    (QGuard(l), died)
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
    let q = View { obj, geo };
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
    let l = ns.limits();
    let geo = Geo::for_capacity(l.msgmnb)?;
    let qbytes = l.msgmnb;
    let init = move |o: &Obj| spec_init(o, geo, qbytes);
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
        },
    )?;
    Queue::from_obj(obj)
}

/// The queue with id `id`.
pub fn by_id(ns: &Ns, id: i32) -> Result<Queue> {
    // Programs call msgsnd/msgrcv on one queue over and over: remember the
    // last one per thread (checked still live and still this id), so the
    // common call skips the process-wide cache and its mutex.
    thread_local! {
        static LAST: core::cell::RefCell<Option<(usize, Queue)>> =
            const { core::cell::RefCell::new(None) };
    }
    let key = ns as *const Ns as usize;
    let hit = LAST.with(|l| {
        l.borrow()
            .as_ref()
            .filter(|(k, q)| *k == key && q.obj.id == id)
            .filter(|(_, q)| q.obj.header_id() == id && !q.obj.is_removed())
            .map(|(_, q)| q.clone())
    });
    if let Some(q) = hit {
        return Ok(q);
    }
    let q = Queue::from_obj(ns.by_id(Kind::Msg, id)?)?;
    LAST.with(|l| *l.borrow_mut() = Some((key, q.clone())));
    Ok(q)
}

/// `IPC_RMID` by id. Unlike the other calls this works on a queue whose
/// geometry (`ndesc`/`nchunk` in the file) was scribbled on: every other
/// call on it fails with `EIO`, and it must still be removable, as any
/// kernel queue is.
pub fn remove_id(ns: &Ns, id: i32) -> Result<()> {
    let obj = ns.by_id(Kind::Msg, id)?;
    match Queue::from_obj(obj.clone()) {
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

/// The message a receive chose, and how to take it.
#[derive(Debug, Clone, Copy)]
struct Found {
    /// Its predecessor (the dummy when it is the first message).
    prev: u32,
    /// Its descriptor.
    at: u32,
}

impl Queue {
    fn from_obj(obj: Arc<Obj>) -> Result<Queue> {
        let h: &QHead = obj.at(0)?;
        let geo = Geo::new(
            h.ndesc.load(Relaxed) as u64,
            h.nchunk.load(Relaxed) as u64,
            h.cap_bytes.load(Relaxed),
        )?;
        if HEADER_LEN + geo.end > obj.ctl().len() {
            return Err(Errno::EIO);
        }
        Ok(Queue { obj, geo })
    }

    /// The queue's id.
    pub fn id(&self) -> i32 {
        self.obj.id
    }

    /// The underlying object.
    pub fn obj(&self) -> &Arc<Obj> {
        &self.obj
    }

    fn view(&self) -> View<'_> {
        View {
            obj: &self.obj,
            geo: self.geo,
        }
    }

    fn head(&self) -> Result<&QHead> {
        self.obj.at(0)
    }

    /// Takes the senders' lock by `d` (`ETIMEDOUT`; `EIDRM` when the
    /// queue is removed meanwhile). When its previous holder died inside,
    /// repairs the queue first (under both locks).
    fn lock_send(&self, d: &Deadline) -> Result<QGuard<'_>> {
        let h = self.head()?;
        let gone = || self.obj.is_removed();
        let (s, died) = take(&h.slock, d, &gone)?;
        if died {
            let (r, _) = take(&h.rlock, d, &gone)?;
            let _ = self.view().repair();
            drop(r);
        }
        Ok(s)
    }

    /// Takes the receivers' lock by `d`. When its previous holder died
    /// inside (or another receiver found that and has not repaired yet),
    /// lets go and repairs under both locks first.
    fn lock_recv(&self, d: &Deadline) -> Result<QGuard<'_>> {
        let h = self.head()?;
        let gone = || self.obj.is_removed();
        let (r, died) = take(&h.rlock, d, &gone)?;
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
        let gone = || self.obj.is_removed();
        let (s, d1) = take(&h.slock, d, &gone)?;
        let (r, d2) = take(&h.rlock, d, &gone)?;
        if d1 || d2 || h.dirty.load(Relaxed) != 0 {
            let _ = self.view().repair();
        }
        Ok(Both { _s: s, r })
    }

    /// Both locks, waiting as long as it takes (repair, crash tests).
    fn lock_both_always(&self) -> Result<Both<'_>> {
        let h = self.head()?;
        let (s, d1) = take_always(&h.slock);
        let (r, d2) = take_always(&h.rlock);
        if d1 || d2 || h.dirty.load(Relaxed) != 0 {
            let _ = self.view().repair();
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
        self.view().repair()
    }

    fn check_live(&self) -> Result<()> {
        if self.obj.is_removed() {
            Err(Errno::EIDRM)
        } else {
            Ok(())
        }
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
        if mtype < 1 {
            return Err(Errno::EINVAL);
        }
        self.obj.perm().check_mine(Access::Write)?;
        let q = self.view();
        let len = data.len() as u64;
        let mut first = true;
        let mut repaired = false;
        let nowait = flags & crate::ns::IPC_NOWAIT != 0;
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
            if self.obj.is_removed() {
                return Err(if first { Errno::EINVAL } else { Errno::EIDRM });
            }
            first = false;
            let h = self.head()?;
            // When the senders' copy of the receivers' counters says full:
            // read the wait word, then the counters themselves. A receive
            // after that look bumps the word, so the wait below cannot
            // miss it.
            let mut seen = 0;
            let room = q.fits(len, false)? || {
                seen = h.taken.load(Acquire);
                q.fits(len, true)?
            };
            if room {
                if q.try_append(mtype, data)? {
                    publish(g, &h.lspid, &h.stime, &h.sent, &h.speer);
                    return Ok(());
                }
                // Room by the counters but no storage: a receiver died
                // holding some (repaired once its lock is taken over), or
                // the queue was scribbled on.
                drop(g);
                if repaired {
                    return Err(Errno::EIO);
                }
                let _both = self.lock_both(&lock_d).map_err(busy)?;
                q.repair()?;
                repaired = true;
                continue;
            }
            if flags & crate::ns::IPC_NOWAIT != 0 {
                return Err(Errno::EAGAIN);
            }
            drop(g);
            wait_change(&h.taken, seen, &deadline, (&h.rpeer, &h.speer))?;
            settle(&h.taken, (&h.rpeer, &h.speer));
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
    pub fn recv_into(
        &self,
        msgtyp: i64,
        out: &mut dyn RecvBuf,
        flags: i32,
        deadline: Deadline,
    ) -> Result<(i64, usize)> {
        if flags & MSG_COPY != 0 && (flags & crate::ns::IPC_NOWAIT == 0 || flags & MSG_EXCEPT != 0)
        {
            return Err(Errno::EINVAL);
        }
        self.obj.perm().check_mine(Access::Read)?;
        let q = self.view();
        let mut first = true;
        let nowait = flags & crate::ns::IPC_NOWAIT != 0;
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
            if self.obj.is_removed() {
                return Err(if first { Errno::EINVAL } else { Errno::EIDRM });
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
                None => {
                    // Read the word, then look again (see `send`).
                    let seen = h.sent.load(Acquire);
                    match q.find(msgtyp, flags)? {
                        Some(f) => f,
                        None if flags & crate::ns::IPC_NOWAIT != 0 => return Err(Errno::ENOMSG),
                        None => {
                            drop(g);
                            wait_change(&h.sent, seen, &deadline, (&h.speer, &h.rpeer))?;
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
            if self.obj.is_removed() {
                return Err(Errno::EIDRM);
            }
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
        if !any {
            self.obj.perm().check_mine(Access::Read)?;
        }
        // Without the locks when they cannot be had in CTL_BOUND (a holder
        // stopped, or a scribbled word): the counters then give a snapshot.
        let _g = self.lock_both(&Deadline::ctl()).ok();
        let h = self.head()?;
        let (qnum, cbytes) = self.view().held()?;
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
        let g = self.lock_both(&Deadline::ctl()).ok();
        self.obj.set_perm(&me, uid, gid, mode)?;
        let h = self.head()?;
        h.qbytes.store(qbytes, Relaxed);
        let w = bump(&h.taken);
        drop(g);
        if w {
            wake(&h.taken);
        }
        Ok(())
    }

    /// `IPC_RMID`: removes the queue; blocked senders and receivers fail
    /// with `EIDRM`.
    pub fn remove(&self, ns: &Ns) -> Result<()> {
        self.obj.check_owner(&creds())?;
        let g = self.lock_both(&Deadline::ctl()).ok();
        remove_locked(ns, &self.obj, g)
    }

    /// The most bytes the queue can hold (the highest `msg_qbytes`).
    pub fn bytes_capacity(&self) -> u64 {
        self.geo.capacity()
    }
}

/// A queue's control area with its geometry: the operations that walk
/// and change the structure (each under the lock(s) its comment names).
#[derive(Debug, Clone, Copy)]
struct View<'a> {
    obj: &'a Obj,
    geo: Geo,
}

impl<'a> View<'a> {
    fn head(&self) -> Result<&'a QHead> {
        self.obj.at(0)
    }

    fn desc(&self, i: u32) -> Result<&'a Desc> {
        if i >= self.geo.ndesc {
            return Err(Errno::EIO);
        }
        self.obj
            .at(self.geo.desc_off + i as usize * core::mem::size_of::<Desc>())
    }

    fn link(&self, c: u32) -> Result<&'a AtomicU32> {
        if c >= self.geo.nchunk {
            return Err(Errno::EIO);
        }
        self.obj.at(self.geo.link_off + c as usize * 4)
    }

    /// Messages and bytes held: what was appended less what was taken
    /// (exact under both locks, a snapshot otherwise). `EIO` when the
    /// counters say more than the queue can hold.
    fn held(&self) -> Result<(u64, u64)> {
        let h = self.head()?;
        self.held_after(h.taken_n.load(Relaxed), h.taken_bytes.load(Relaxed))
    }

    /// Messages and bytes appended since the receivers' counters were at
    /// `taken_n`, `taken_bytes`; `EIO` when more than the queue can hold.
    fn held_after(&self, taken_n: u32, taken_bytes: u32) -> Result<(u64, u64)> {
        let h = self.head()?;
        let n = h.sent_n.load(Relaxed).wrapping_sub(taken_n) as u64;
        let b = h.sent_bytes.load(Relaxed).wrapping_sub(taken_bytes) as u64;
        if n > self.geo.msgs() || b > self.geo.capacity() {
            return Err(Errno::EIO);
        }
        Ok((n, b))
    }

    /// Under `slock`: whether a message of `len` bytes fits the kernel's
    /// limits (bytes and count within `msg_qbytes`), judged by the senders'
    /// copy of the receivers' counters, refreshed first when `fresh`.
    fn fits(&self, len: u64, fresh: bool) -> Result<bool> {
        let h = self.head()?;
        if fresh {
            h.seen_taken_n.store(h.taken_n.load(Acquire), Relaxed);
            h.seen_taken_bytes
                .store(h.taken_bytes.load(Acquire), Relaxed);
        }
        let (n, b) = self.held_after(
            h.seen_taken_n.load(Relaxed),
            h.seen_taken_bytes.load(Relaxed),
        )?;
        let qb = h.qbytes.load(Relaxed);
        Ok(b + len <= qb && n < qb.min(self.geo.msgs()))
    }

    /// A new queue's state (or what a queue whose dummy index was
    /// scribbled on becomes): empty, descriptor 0 the dummy, all else
    /// never used.
    fn reset_empty(&self) -> Result<()> {
        let h = self.head()?;
        self.desc(0)?.next.store(NIL, Relaxed);
        h.head.store(0, Relaxed);
        h.tail.store(0, Relaxed);
        for a in [
            &h.sent_n,
            &h.sent_bytes,
            &h.taken_n,
            &h.taken_bytes,
            &h.seen_taken_n,
            &h.seen_taken_bytes,
        ] {
            a.store(0, Relaxed);
        }
        self.rebuild_free(&[true], &[])
    }

    /// Under both locks: rebuilds free lists, counters and `tail` from the
    /// message list after a lock holder died (or to recover from
    /// scribbling: whatever prefix of the list is well-formed is kept, the
    /// rest dropped).
    pub fn repair(&self) -> Result<()> {
        let h = self.head()?;
        h.dirty.store(0, Relaxed);
        crate::debug_report!("queue {}: repaired after a lock holder died", self.obj.id);
        let dummy = h.head.load(Relaxed);
        if dummy >= self.geo.ndesc {
            return self.reset_empty();
        }
        let mut used_d = vec![false; self.geo.ndesc as usize];
        let mut used_c = vec![false; self.geo.nchunk as usize];
        used_d[dummy as usize] = true;
        let (mut qnum, mut cbytes) = (0u32, 0u32);
        let mut prev = dummy;
        let mut cur = self.desc(dummy)?.next.load(Relaxed);
        'walk: while cur != NIL {
            if cur >= self.geo.ndesc || used_d[cur as usize] {
                break;
            }
            let d = self.desc(cur)?;
            let len = d.len.load(Relaxed) as usize;
            if len as u64 > self.geo.capacity() || d.mtype.load(Relaxed) < 1 {
                break;
            }
            let class = self.geo.class(len);
            let need = class.count(len);
            let mut c = d.chunk.load(Relaxed);
            let mut mine = Vec::with_capacity(need);
            for _ in 0..need {
                if !class.has(c) || used_c[c as usize] || mine.contains(&c) {
                    break 'walk;
                }
                mine.push(c);
                c = self.link(c)?.load(Relaxed);
            }
            if cbytes as u64 + len as u64 > self.geo.capacity() {
                break;
            }
            for c in mine {
                used_c[c as usize] = true;
            }
            used_d[cur as usize] = true;
            qnum += 1;
            cbytes += len as u32;
            prev = cur;
            cur = d.next.load(Relaxed);
        }
        // Cut the list after the last good message.
        self.desc(prev)?.next.store(NIL, Relaxed);
        h.tail.store(prev, Relaxed);
        // Only the differences count: keep the receivers' counters.
        let (tn, tb) = (h.taken_n.load(Relaxed), h.taken_bytes.load(Relaxed));
        h.sent_n.store(tn.wrapping_add(qnum), Relaxed);
        h.sent_bytes.store(tb.wrapping_add(cbytes), Relaxed);
        h.seen_taken_n.store(tn, Relaxed);
        h.seen_taken_bytes.store(tb, Relaxed);
        let cap = self.geo.capacity();
        let qb = h.qbytes.load(Relaxed);
        if qb == 0 || qb > cap {
            h.qbytes.store(cap, Relaxed);
        }
        self.rebuild_free(&used_d, &used_c)
    }

    /// Under both locks: each free list holds every descriptor (small
    /// chunk, big chunk) below the highest one in use that is not in use
    /// (`used_*`, shorter than the geometry: the rest unused); everything
    /// above is never used again until needed. The returned lists are
    /// emptied.
    fn rebuild_free(&self, used_d: &[bool], used_c: &[bool]) -> Result<()> {
        let h = self.head()?;
        let g = self.geo;
        let (f, fresh) = free_list(0..g.ndesc, used_d, |i| Ok(&self.desc(i)?.next))?;
        h.free_desc.store(f, Relaxed);
        h.fresh_desc.store(fresh, Relaxed);
        let (f, fresh) = free_list(0..g.nsmall, used_c, |c| self.link(c))?;
        h.free_chunk.store(f, Relaxed);
        h.fresh_chunk.store(fresh, Relaxed);
        let (f, fresh) = free_list(g.nsmall..g.nchunk, used_c, |c| self.link(c))?;
        h.free_big.store(f, Relaxed);
        h.fresh_big.store(fresh, Relaxed);
        for l in [&h.ret_desc, &h.ret_chunk, &h.ret_big] {
            l.store(NIL, Relaxed);
        }
        Ok(())
    }

    /// Under `slock`: a free descriptor (see the module comment for the
    /// order of sources), `None` when there is none.
    fn alloc_desc(&self, h: &'a QHead) -> Result<Option<u32>> {
        let pool = Pool {
            free: &h.free_desc,
            fresh: &h.fresh_desc,
            returned: &h.ret_desc,
            warm: WARM_DESC,
            total: self.geo.ndesc,
        };
        let size = core::mem::size_of::<Desc>();
        let at = |i: u32| HEADER_LEN + self.geo.desc_off + i as usize * size;
        pool.alloc(
            |i| Ok(&self.desc(i)?.next),
            |i| self.reserve(at(i), at(i) + size, (i > 0).then(|| at(i))),
        )
    }

    /// Reserves the file's storage under mapping bytes `[start, end)` of
    /// a never-used item before it is first written, so that a full file
    /// system is `ENOMEM` now rather than `SIGBUS` at the write (object
    /// files are sparse: an idle queue costs the pages it used).
    /// `prev_end`: where the item before it ends (items are handed out in
    /// order, so only pages it did not reach are new). One system call per
    /// new page, none on recycled storage.
    fn reserve(&self, start: usize, end: usize, prev_end: Option<usize>) -> Result<()> {
        const PAGE: usize = 4096;
        let from = match prev_end {
            Some(p) => p.next_multiple_of(PAGE).max(start / PAGE * PAGE),
            None => start / PAGE * PAGE,
        };
        if from >= end {
            return Ok(());
        }
        self.obj.ctl().populate(from, end - from)
    }

    /// The chunks of the size a message of `len` bytes is stored in, as
    /// senders allocate them.
    fn chunk_pool(&self, h: &'a QHead, len: usize) -> Pool<'a> {
        let g = &self.geo;
        if len <= SMALL {
            Pool {
                free: &h.free_chunk,
                fresh: &h.fresh_chunk,
                returned: &h.ret_chunk,
                warm: WARM_CHUNK,
                total: g.nsmall,
            }
        } else {
            Pool {
                free: &h.free_big,
                fresh: &h.fresh_big,
                returned: &h.ret_big,
                warm: g.nsmall.saturating_add(WARM_BIG),
                total: g.nchunk,
            }
        }
    }

    /// Under `slock`: allocates, fills and links one message; `false` when
    /// descriptors or chunks ran out (cannot happen while the byte
    /// accounting is intact).
    fn try_append(&self, mtype: i64, data: &[u8]) -> Result<bool> {
        let h = self.head()?;
        let Some(di) = self.alloc_desc(h)? else {
            return Ok(false);
        };
        let d = self.desc(di)?;
        let (mut first, mut last) = (NIL, NIL);
        let len = data.len();
        let class = self.geo.class(len);
        let pool = self.chunk_pool(h, len);
        let link_at = |c: u32| HEADER_LEN + self.geo.link_off + c as usize * 4;
        let reserve = |c: u32| {
            // Its link, then its bytes.
            let l = link_at(c);
            self.reserve(l, l + 4, (c > class.lo).then_some(l))?;
            let o = class.off(c)?;
            self.reserve(o, o + class.size(), (c > class.lo).then_some(o))
        };
        for piece in data.chunks(class.size()) {
            let c = match pool.alloc(|c| self.link(c), reserve) {
                Ok(Some(c)) => c,
                r => {
                    // Give back what this message took (to the senders'
                    // lists): none left, or no storage for a new one.
                    if last != NIL {
                        self.link(last)?.store(pool.free.load(Relaxed), Relaxed);
                        pool.free.store(first, Relaxed);
                    }
                    d.next.store(h.free_desc.load(Relaxed), Relaxed);
                    h.free_desc.store(di, Relaxed);
                    return r.map(|_| false);
                }
            };
            self.obj.ctl().write_bytes(class.off(c)?, piece)?;
            if last == NIL {
                first = c;
            } else {
                self.link(last)?.store(c, Relaxed);
            }
            last = c;
        }
        d.mtype.store(mtype, Relaxed);
        d.len.store(data.len() as u32, Relaxed);
        d.chunk.store(first, Relaxed);
        d.next.store(NIL, Relaxed);
        // Commit: link after the last message.
        let t = h.tail.load(Relaxed);
        self.desc(t)?.next.store(di, Release);
        h.tail.store(di, Relaxed);
        h.sent_n
            .store(h.sent_n.load(Relaxed).wrapping_add(1), Relaxed);
        h.sent_bytes.store(
            h.sent_bytes.load(Relaxed).wrapping_add(data.len() as u32),
            Relaxed,
        );
        Ok(true)
    }

    /// Under `rlock`: finds the message `msgrcv` would take.
    fn find(&self, msgtyp: i64, flags: i32) -> Result<Option<Found>> {
        let h = self.head()?;
        let mut prev = h.head.load(Relaxed);
        let mut cur = self.desc(prev)?.next.load(Acquire);
        let mut best: Option<(Found, i64)> = None;
        let limit = if msgtyp == i64::MIN {
            i64::MAX
        } else {
            msgtyp.abs()
        };
        let mut steps = 0u32;
        while cur != NIL {
            steps += 1;
            if steps > self.geo.ndesc {
                return Err(Errno::EIO);
            }
            let d = self.desc(cur)?;
            let t = d.mtype.load(Relaxed);
            let here = Found { prev, at: cur };
            if msgtyp == 0 {
                return Ok(Some(here));
            } else if msgtyp > 0 {
                let hit = if flags & MSG_EXCEPT != 0 {
                    t != msgtyp
                } else {
                    t == msgtyp
                };
                if hit {
                    return Ok(Some(here));
                }
            } else if t <= limit && best.map_or(true, |(_, bt)| t < bt) {
                best = Some((here, t));
                if t == 1 {
                    break;
                }
            }
            prev = cur;
            cur = d.next.load(Acquire);
        }
        Ok(best.map(|(f, _)| f))
    }

    /// Under `rlock` (both locks when `f` is the last message behind
    /// others; `g` is `rlock`, released before waking senders): copies
    /// the message out and takes it off the list.
    fn take(
        &self,
        f: Found,
        out: &mut dyn RecvBuf,
        flags: i32,
        g: QGuard<'_>,
    ) -> Result<(i64, usize)> {
        let h = self.head()?;
        let d = self.desc(f.at)?;
        let (mtype, n) = self.copy_message(d, out, flags)?;
        let len = d.len.load(Relaxed);
        let next = d.next.load(Acquire);
        let dummy = h.head.load(Relaxed);
        if f.prev == dummy {
            // Commit: the message becomes the dummy; the old dummy and the
            // message's chunks are free.
            h.head.store(f.at, Release);
            self.give_back_chunks(d.chunk.load(Relaxed), len as usize)?;
            self.give_back_desc(dummy)?;
        } else {
            // Commit: unlink it. When it is the last message the caller
            // holds `slock` too.
            self.desc(f.prev)?.next.store(next, Release);
            if next == NIL {
                h.tail.store(f.prev, Relaxed);
            }
            self.give_back_chunks(d.chunk.load(Relaxed), len as usize)?;
            self.give_back_desc(f.at)?;
        }
        h.taken_n
            .store(h.taken_n.load(Relaxed).wrapping_add(1), Release);
        h.taken_bytes
            .store(h.taken_bytes.load(Relaxed).wrapping_add(len), Release);
        publish(g, &h.lrpid, &h.rtime, &h.taken, &h.rpeer);
        Ok((mtype, n))
    }

    /// Copies message `d` into `out` (`E2BIG` when it does not fit unless
    /// `MSG_NOERROR`): its type and the bytes copied.
    fn copy_message(&self, d: &Desc, out: &mut dyn RecvBuf, flags: i32) -> Result<(i64, usize)> {
        let len = d.len.load(Relaxed) as usize;
        if len as u64 > self.geo.capacity() {
            return Err(Errno::EIO);
        }
        let cap = out.cap();
        if len > cap && flags & MSG_NOERROR == 0 {
            return Err(Errno::E2BIG);
        }
        let n = self.copy_out(d, out.take(len.min(cap))?)?;
        Ok((d.mtype.load(Relaxed), n))
    }

    /// Under `rlock`: the `n`th message (for `MSG_COPY`).
    fn nth(&self, n: i64) -> Result<Option<u32>> {
        let h = self.head()?;
        let mut cur = self.desc(h.head.load(Relaxed))?.next.load(Acquire);
        let mut i = 0i64;
        let mut steps = 0;
        while cur != NIL {
            steps += 1;
            if steps > self.geo.ndesc {
                return Err(Errno::EIO);
            }
            if i == n {
                return Ok(Some(cur));
            }
            i += 1;
            cur = self.desc(cur)?.next.load(Acquire);
        }
        Ok(None)
    }

    fn copy_out(&self, d: &Desc, buf: &mut [u8]) -> Result<usize> {
        let full = d.len.load(Relaxed) as usize;
        let class = self.geo.class(full);
        let len = full.min(buf.len());
        let mut c = d.chunk.load(Relaxed);
        let mut done = 0;
        while done < len {
            let n = class.size().min(len - done);
            self.obj
                .ctl()
                .read_bytes(class.off(c)?, &mut buf[done..done + n])?;
            done += n;
            if done < len {
                c = self.link(c)?.load(Relaxed);
            }
        }
        Ok(len)
    }

    /// Under `rlock`: pushes descriptor `i` onto the returned list.
    fn give_back_desc(&self, i: u32) -> Result<()> {
        push_returned(&self.head()?.ret_desc, i, &self.desc(i)?.next);
        Ok(())
    }

    /// Under `rlock`: pushes the chain of chunks holding `len` bytes from
    /// `first` onto the returned list of their size (`EIO`, pushing
    /// nothing, when one is of the other size).
    #[inline]
    fn give_back_chunks(&self, first: u32, len: usize) -> Result<()> {
        let class = self.geo.class(len);
        let need = class.count(len);
        if need == 0 {
            return Ok(());
        }
        let mut last = first;
        class.off(last)?;
        for _ in 1..need {
            last = self.link(last)?.load(Relaxed);
            class.off(last)?;
        }
        let list = self.chunk_pool(self.head()?, len).returned;
        push_returned(list, first, self.link(last)?);
        Ok(())
    }
}

/// The free list of the items in `range` that `used` (indexed from 0,
/// shorter than the range's end: the rest unused) does not mark, below the
/// highest used one, linked in increasing order through `next`: its first
/// item (or `NIL`) and the never-used mark.
fn free_list<'m>(
    range: core::ops::Range<u32>,
    used: &[bool],
    next: impl Fn(u32) -> Result<&'m AtomicU32>,
) -> Result<(u32, u32)> {
    let is_used = |i: u32| used.get(i as usize).copied().unwrap_or(false);
    let top = range.end.min(used.len() as u32).max(range.start);
    let fresh = (range.start..top)
        .rev()
        .find(|&i| is_used(i))
        .map_or(range.start, |i| i + 1);
    let mut f = NIL;
    for i in (range.start..fresh).rev() {
        if !is_used(i) {
            next(i)?.store(f, Relaxed);
            f = i;
        }
    }
    Ok((f, fresh))
}

/// Pushes a chain from `first` (whose last link is `last_link`) onto
/// a returned list. Receivers push under `rlock` (one at a time); a sender
/// may take the whole list meanwhile, hence the compare-and-swap.
fn push_returned(list: &AtomicU32, first: u32, last_link: &AtomicU32) {
    let mut old = list.load(Relaxed);
    loop {
        last_link.store(old, Relaxed);
        match list.compare_exchange_weak(old, first, Release, Relaxed) {
            Ok(_) => return,
            Err(v) => old = v,
        }
    }
}

/// One kind of storage (descriptors or chunks) as a sender allocates it.
struct Pool<'a> {
    /// The senders' free list.
    free: &'a AtomicU32,
    /// Never used from this index on.
    fresh: &'a AtomicU32,
    /// What receivers gave back.
    returned: &'a AtomicU32,
    /// Never-used storage is taken before what was given back while
    /// `fresh` is below this.
    warm: u32,
    /// How many there are.
    total: u32,
}

impl Pool<'_> {
    /// Under `slock`: the senders' free list first, then never-used
    /// storage up to the warm set, then the whole returned list (taken at
    /// once), then the rest of the never-used storage. `next` gives an
    /// item's list link.
    ///
    /// `reserve(i)` runs before never-used item `i` is handed out: it
    /// reserves the file's storage for it (see [`View::reserve`]); its
    /// error (`ENOMEM`: the file system is full) leaves the pool as it was.
    fn alloc<'m>(
        &self,
        next: impl Fn(u32) -> Result<&'m AtomicU32>,
        reserve: impl Fn(u32) -> Result<()>,
    ) -> Result<Option<u32>> {
        let mut i = self.free.load(Relaxed);
        if i == NIL {
            let fresh = self.fresh.load(Relaxed);
            // Within the warm set, never-used storage first; when the file
            // system has no room for it, what receivers gave back.
            let mut no_room = None;
            if fresh < self.warm.min(self.total) {
                match reserve(fresh) {
                    Ok(()) => {
                        self.fresh.store(fresh + 1, Relaxed);
                        return Ok(Some(fresh));
                    }
                    Err(e) => no_room = Some(e),
                }
            }
            i = self.returned.swap(NIL, Acquire);
            if i == NIL {
                if let Some(e) = no_room {
                    return Err(e);
                }
                if fresh < self.total {
                    reserve(fresh)?;
                    self.fresh.store(fresh + 1, Relaxed);
                    return Ok(Some(fresh));
                }
                return Ok(None);
            }
        }
        self.free.store(next(i)?.load(Relaxed), Relaxed);
        Ok(Some(i))
    }
}

/// `IPC_INFO` / `MSG_INFO` figures over the namespace.
pub fn info(ns: &Ns) -> MsgInfo {
    let mut i = MsgInfo {
        max_idx: 0,
        ..Default::default()
    };
    // The queues in use from the index hint (one pread, no directory
    // listing); each queue is still opened for its message and byte
    // counts, which only the queues themselves keep (docs/shm.md).
    let idxs = ns
        .in_use_indexes(Kind::Msg)
        .unwrap_or_else(|| ns.indexes(Kind::Msg));
    for idx in idxs {
        if let Ok(o) = ns.by_index(Kind::Msg, idx) {
            if o.is_removed() {
                continue;
            }
            if let Ok(q) = Queue::from_obj(o) {
                i.queues += 1;
                i.max_idx = i.max_idx.max(idx);
                if let Ok((n, b)) = q.view().held() {
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
    Queue::from_obj(o)
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
    match Queue::from_obj(o.clone()).and_then(|q| q.stat(any)) {
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
    let q = Queue::from_obj(ns.by_id(Kind::Msg, id)?)?;
    q.view().held().map(|_| ())
}
