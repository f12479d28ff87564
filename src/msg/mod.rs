//! System V message queues: the engine.
//!
//! A queue is one object file (see [`crate::ns`]). After the common header,
//! its control area holds:
//! ```text
//! QHead                       counters, list ends, free lists, futex words
//! desc[ndesc]   (24 B each)   one per message: type, length, first chunk, next
//! link[nchunk]  (4 B each)    next chunk of a message's chain
//! chunk[nchunk] (CHUNK B)     payload
//! ```
//! `ndesc` = the queue's byte capacity (the kernel lets a queue hold as
//! many zero-length messages as it has bytes), `nchunk` = enough for any mix
//! of messages that fits the capacity, so a send never fails for lack of
//! space that the kernel would have had.
//!
//! Crash safety: all changes happen under the object's robust lock. A send
//! fills a free descriptor and chunks, then links the descriptor at the
//! tail: that store commits it. A receive copies the message out, then
//! unlinks it: that store consumes it. Free lists and counters are derived
//! data: when a lock holder died, [`repair`] rebuilds them from the list
//! (whose committed prefix is always intact), so no committed message is
//! lost or duplicated.
//!
//! Untrusted memory: every index read from the mapping is bounds-checked,
//! every walk is bounded; an inconsistency gives `EIO`.
//!
//! Speed (no effect on what happens): before taking the lock, a send or a
//! receive prefetches the lines it will most likely touch (descriptor,
//! chunks, links), so the lock is held over fewer cache misses; a busy lock
//! is looked at again only now and then for a few microseconds, so that a
//! streaming sender and receiver take turns in runs rather than handing
//! the lock's line over for every message.
//!
//! Waiting: receivers wait on `sent` (bumped by every send and by removal),
//! senders on `taken` (bumped by every receive, `IPC_SET` and removal). A
//! waiter spins briefly, then sets the word's low bit and sleeps on the
//! futex; a bumper that sees the bit wakes all sleepers. A waiter killed
//! while asleep leaves at most one spurious wake-up behind.

use crate::error::{Errno, Result};
use crate::ns::{Access, CreateSpec, Kind, Ns, Obj, HEADER_LEN};
use crate::sync::lock::{LockOutcome, RobustLock};
use crate::sync::proc::{creds, my_pid};
use crate::sync::time::{now_secs, Deadline};
use crate::sync::{futex_wait, futex_wake};
use core::sync::atomic::{AtomicI32, AtomicI64, AtomicU32, AtomicU64, Ordering::*};
use std::sync::Arc;

/// Payload bytes per chunk.
pub const CHUNK: usize = 256;
const NIL: u32 = u32::MAX;
/// No receive on a queue whose message count is above this walks further.
const MAX_NDESC: u64 = 1 << 24;

pub use crate::ns::consts::{MSG_COPY, MSG_EXCEPT, MSG_NOERROR};

#[repr(C)]
#[derive(Debug)]
struct QHead {
    /// The queue's lock. It shares its cache line with everything a send
    /// or a receive changes, so taking the lock brings the bookkeeping
    /// along: one line moves between cores per operation.
    lock: RobustLock,
    ndesc: AtomicU32,
    nchunk: AtomicU32,
    head: AtomicU32,
    tail: AtomicU32,
    free_desc: AtomicU32,
    free_chunk: AtomicU32,
    cbytes: AtomicU64,
    qnum: AtomicU64,
    qbytes: AtomicU64,
    /// bumped (by 2) on every send and on removal; bit 0: receivers sleep.
    /// A line of its own: waiters spin on it without disturbing the lock
    /// holder's line.
    sent: AtomicU32,
    _pad0: [AtomicU32; 15],
    /// bumped on every receive, IPC_SET and removal; bit 0: senders sleep
    taken: AtomicU32,
    _pad1: [AtomicU32; 15],
    // Written at most once a second, or when another process operates.
    lspid: AtomicI32,
    lrpid: AtomicI32,
    stime: AtomicI64,
    rtime: AtomicI64,
}

const _: () = assert!(core::mem::offset_of!(QHead, sent) == 64);
const _: () = assert!(core::mem::offset_of!(QHead, taken) == 128);

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
    ndesc: u32,
    nchunk: u32,
    desc_off: usize,
    link_off: usize,
    chunk_off: usize,
    end: usize,
}

impl Geo {
    fn new(ndesc: u64, nchunk: u64) -> Result<Geo> {
        if ndesc == 0 || ndesc > MAX_NDESC || nchunk > MAX_NDESC * 2 {
            return Err(Errno::EIO);
        }
        let desc_off = core::mem::size_of::<QHead>().next_multiple_of(64);
        let link_off = desc_off + ndesc as usize * core::mem::size_of::<Desc>();
        let chunk_off = (link_off + nchunk as usize * 4).next_multiple_of(64);
        let end = chunk_off + nchunk as usize * CHUNK;
        Ok(Geo {
            ndesc: ndesc as u32,
            nchunk: nchunk as u32,
            desc_off,
            link_off,
            chunk_off,
            end,
        })
    }

    fn for_capacity(bytes: u64) -> Result<Geo> {
        let ndesc = bytes.max(1);
        Geo::new(ndesc, bytes.div_ceil(CHUNK as u64) + ndesc)
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

/// Waits until `word` moves away from `seen` (or the deadline passes):
/// spins for a few tens of microseconds, then sleeps on the futex.
/// `EINTR` when a signal handler ran while asleep, `ETIMEDOUT` at the
/// deadline.
pub(crate) fn wait_change(word: &AtomicU32, seen: u32, deadline: &Deadline) -> Result<()> {
    let budget = spin_budget();
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
/// before contending for the lock. The queue then drains and refills in
/// runs instead of handing the lock over for every message. Only delays a
/// sender that is spinning anyway; never decides anything.
fn settle(word: &AtomicU32) {
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

/// Lock back-off: the first look again after one pause (a short holder,
/// as a ping-pong peer checking for its reply, is waited out at once),
/// then each look after twice as many, at most [`BACKOFF_MAX`] (a pause is
/// 10 to 140 cycles, depending on the CPU).
const BACKOFF_FIRST: u32 = 1;
const BACKOFF_MAX: u32 = 64;
/// A full queue's sender stops waiting for the receivers once no receive
/// happened for this long (a receive takes a few hundred nanoseconds).
const SETTLE_QUIET: std::time::Duration = std::time::Duration::from_nanos(400);

/// The queue's lock was busy: look at it again only now and then, for a
/// couple of microseconds, before contending in earnest. A sender and a
/// receiver streaming through one queue then take turns in runs (the
/// holder finds the lock free again for its next message, the line that
/// holds the lock and the bookkeeping stays in its cache) instead of
/// handing the lock and that line over for every message. Only delays;
/// [`RobustLock::lock`] still decides, and recovers a dead owner's lock.
fn contention_backoff(l: &RobustLock) {
    let mut n = BACKOFF_FIRST;
    for _ in 0..8 {
        for _ in 0..n {
            core::hint::spin_loop();
        }
        if !l.is_locked() {
            return;
        }
        n = (n * 2).min(BACKOFF_MAX);
    }
}

/// Bumps a wait word (under the object lock) and reports whether sleepers
/// must be woken (do that after unlocking, with [`wake`]).
pub(crate) fn bump(word: &AtomicU32) -> bool {
    let mut old = word.load(Relaxed);
    loop {
        let new = (old.wrapping_add(2)) & !1;
        match word.compare_exchange_weak(old, new, Release, Relaxed) {
            Ok(_) => return old & 1 != 0,
            Err(v) => old = v,
        }
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

/// Hints the CPU to fetch the cache line at `p` for writing (`write`) or
/// reading. Only a hint: it never faults and changes nothing that another
/// process can see, so it may be given any address, however stale.
#[inline(always)]
fn prefetch(p: *const u8, write: bool) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHW/PREFETCHT0 are hints: they never fault (whatever
    // the address), write no register or flag and no memory; PREFETCHW is
    // used only where CPUID says the CPU has it (older ones raise #UD).
    unsafe {
        if write && has_prefetchw() {
            core::arch::asm!("prefetchw [{0}]", in(reg) p, options(nostack, preserves_flags, readonly));
        } else {
            core::arch::asm!("prefetcht0 [{0}]", in(reg) p, options(nostack, preserves_flags, readonly));
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, write);
}

/// True when the CPU implements PREFETCHW (CPUID 0x8000_0001, ECX bit 8),
/// asked once.
#[cfg(target_arch = "x86_64")]
fn has_prefetchw() -> bool {
    use core::sync::atomic::AtomicU8;
    static KNOWN: AtomicU8 = AtomicU8::new(0); // 0: not asked, 1: no, 2: yes
    match KNOWN.load(Relaxed) {
        2 => true,
        1 => false,
        _ => {
            // Leaf 0x8000_0001 is read only when leaf 0x8000_0000 says it
            // exists.
            use core::arch::x86_64::__cpuid;
            let yes =
                __cpuid(0x8000_0000).eax >= 0x8000_0001 && __cpuid(0x8000_0001).ecx & (1 << 8) != 0;
            KNOWN.store(if yes { 2 } else { 1 }, Relaxed);
            yes
        }
    }
}

/// Wakes every sleeper on `word`.
pub(crate) fn wake(word: &AtomicU32) {
    futex_wake(word, i32::MAX);
}

/// The spec for creating a queue in `ns`.
fn spec_init(obj: &Obj, geo: Geo, qbytes: u64) -> Result<()> {
    let q = View { obj, geo };
    let h = q.head()?;
    h.ndesc.store(geo.ndesc, Relaxed);
    h.nchunk.store(geo.nchunk, Relaxed);
    h.qbytes.store(qbytes, Relaxed);
    q.rebuild_free(
        &vec![false; geo.ndesc as usize],
        &vec![false; geo.nchunk as usize],
    )?;
    h.head.store(NIL, Relaxed);
    h.tail.store(NIL, Relaxed);
    Ok(())
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
            obj.perm().check_owner(&creds())?;
            // No geometry to repair with: whatever a dead lock holder left
            // half-done goes away with the queue.
            let h: &QHead = obj.at(0)?;
            h.lock.lock();
            remove_locked(ns, &obj, QGuard(&h.lock))
        }
    }
}

/// Marks `obj` removed and wakes its waiters; `g` is its lock, held.
/// Only the wait words of the head are touched (fixed offsets, no
/// geometry needed).
fn remove_locked(ns: &Ns, obj: &Obj, g: QGuard<'_>) -> Result<()> {
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

impl Queue {
    fn from_obj(obj: Arc<Obj>) -> Result<Queue> {
        let h: &QHead = obj.at(0)?;
        let geo = Geo::new(h.ndesc.load(Relaxed) as u64, h.nchunk.load(Relaxed) as u64)?;
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

    /// Takes the queue's lock; when its previous holder died inside,
    /// repairs the queue first (see [`View::repair`]).
    fn lock(&self) -> Result<QGuard<'_>> {
        let h = self.head()?;
        if h.lock.try_lock() {
            return Ok(QGuard(&h.lock));
        }
        contention_backoff(&h.lock);
        if h.lock.lock() == LockOutcome::OwnerDied {
            let _ = self.view().repair();
        }
        Ok(QGuard(&h.lock))
    }

    /// Holds the queue's lock until the guard is dropped (for crash tests:
    /// a process killed while holding it exercises recovery).
    pub fn hold_lock(&self) -> Result<impl Drop + '_> {
        self.lock()
    }

    /// Rebuilds the queue's derived state (see [`View::repair`]).
    pub fn repair(&self) -> Result<()> {
        let _g = self.lock()?;
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
        if data.len() as u64 > ns.limits().msgmax {
            return Err(Errno::EINVAL);
        }
        if mtype < 1 {
            return Err(Errno::EINVAL);
        }
        self.obj.perm().check_mine(Access::Write)?;
        let mut first = true;
        loop {
            self.view().prefetch_send(data.len());
            let g = self.lock()?;
            if self.obj.is_removed() {
                return Err(if first { Errno::EINVAL } else { Errno::EIDRM });
            }
            first = false;
            let h = self.head()?;
            let len = data.len() as u64;
            let qbytes = h.qbytes.load(Relaxed);
            let fits = h.cbytes.load(Relaxed) + len <= qbytes && h.qnum.load(Relaxed) < qbytes;
            if fits {
                if let Some(()) = self.view().try_append(mtype, data)? {
                    store_if_changed32(&h.lspid, my_pid());
                    store_if_changed(&h.stime, now_secs());
                    let w = bump(&h.sent);
                    drop(g);
                    if w {
                        wake(&h.sent);
                    }
                    return Ok(());
                }
            }
            if flags & crate::ns::IPC_NOWAIT != 0 {
                return Err(Errno::EAGAIN);
            }
            let seen = h.taken.load(Acquire);
            drop(g);
            wait_change(&h.taken, seen, &deadline)?;
            settle(&h.taken);
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
        let cap = out.cap();
        let mut first = true;
        loop {
            if msgtyp == 0 && flags & MSG_COPY == 0 {
                self.view().prefetch_recv();
            }
            let g = self.lock()?;
            if self.obj.is_removed() {
                return Err(if first { Errno::EINVAL } else { Errno::EIDRM });
            }
            first = false;
            let h = self.head()?;
            if flags & MSG_COPY != 0 {
                return match self.view().nth(msgtyp)? {
                    None => Err(Errno::ENOMSG),
                    Some(i) => {
                        let d = self.view().desc(i)?;
                        let len = d.len.load(Relaxed) as usize;
                        if len > cap && flags & MSG_NOERROR == 0 {
                            return Err(Errno::E2BIG);
                        }
                        let n = self.view().copy_out(d, out.take(len.min(cap))?)?;
                        Ok((d.mtype.load(Relaxed), n))
                    }
                };
            }
            if let Some((prev, i)) = self.view().find(msgtyp, flags)? {
                let d = self.view().desc(i)?;
                let len = d.len.load(Relaxed) as usize;
                if len > cap && flags & MSG_NOERROR == 0 {
                    return Err(Errno::E2BIG);
                }
                let n = self.view().copy_out(d, out.take(len.min(cap))?)?;
                let mtype = d.mtype.load(Relaxed);
                // Commit: unlink.
                let next = d.next.load(Relaxed);
                if prev == NIL {
                    h.head.store(next, Release);
                } else {
                    self.view().desc(prev)?.next.store(next, Release);
                }
                if h.tail.load(Relaxed) == i {
                    h.tail.store(prev, Relaxed);
                }
                h.qnum.fetch_sub(1, Relaxed);
                h.cbytes.fetch_sub(len as u64, Relaxed);
                self.view().free(i, len)?;
                store_if_changed32(&h.lrpid, my_pid());
                store_if_changed(&h.rtime, now_secs());
                let w = bump(&h.taken);
                drop(g);
                if w {
                    wake(&h.taken);
                }
                return Ok((mtype, n));
            }
            if flags & crate::ns::IPC_NOWAIT != 0 {
                return Err(Errno::ENOMSG);
            }
            let seen = h.sent.load(Acquire);
            drop(g);
            wait_change(&h.sent, seen, &deadline)?;
            self.check_live()?;
        }
    }

    /// `IPC_STAT` (needs read permission unless `any`, as `MSG_STAT_ANY`).
    pub fn stat(&self, any: bool) -> Result<MsgStat> {
        if !any {
            self.obj.perm().check_mine(Access::Read)?;
        }
        let _g = self.lock()?;
        let h = self.head()?;
        Ok(MsgStat {
            perm: self.obj.perm(),
            stime: h.stime.load(Relaxed),
            rtime: h.rtime.load(Relaxed),
            ctime: self.obj.header().ctime.load(Relaxed),
            cbytes: h.cbytes.load(Relaxed),
            qnum: h.qnum.load(Relaxed),
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
        self.obj.perm().check_owner(&me)?;
        if qbytes > ns.limits().msgmnb && !me.privileged() {
            return Err(Errno::EPERM);
        }
        if qbytes > self.geo.ndesc as u64 {
            return Err(Errno::EPERM);
        }
        let g = self.lock()?;
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
        self.obj.perm().check_owner(&creds())?;
        let g = self.lock()?;
        remove_locked(ns, &self.obj, g)
    }

    /// Removes every message (native API convenience, not in SysV).
    pub fn bytes_capacity(&self) -> u64 {
        self.geo.ndesc as u64
    }
}

/// A queue's control area with its geometry: the operations that walk
/// and change the structure (all under the lock).
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

    fn chunk_off(&self, c: u32) -> Result<usize> {
        if c >= self.geo.nchunk {
            return Err(Errno::EIO);
        }
        Ok(HEADER_LEN + self.geo.chunk_off + c as usize * CHUNK)
    }

    /// Before taking the lock: warms the cache with the lines a send of
    /// `len` bytes will most likely write (the free descriptor, the first
    /// free chunks and their links), so that fewer misses happen while the
    /// lock is held. Reads racy, untrusted values: every index is
    /// bounds-checked and a bad one just ends the hinting.
    fn prefetch_send(&self, len: usize) {
        let Ok(h) = self.head() else { return };
        // The lock's line, for writing: the reads below then do not leave
        // it shared, to be upgraded by the lock's compare-exchange.
        prefetch((h as *const QHead).cast(), true);
        if let Ok(d) = self.desc(h.free_desc.load(Relaxed)) {
            prefetch((d as *const Desc).cast(), true);
        }
        let mut c = h.free_chunk.load(Relaxed);
        let mut left = len;
        for k in 0..len.div_ceil(CHUNK).min(32) {
            if k > 0 {
                let Ok(l) = self.link(c) else { return };
                c = l.load(Relaxed);
            }
            let Ok(off) = self.chunk_off(c) else { return };
            self.prefetch_chunk(off, CHUNK.min(left), true);
            left = left.saturating_sub(CHUNK);
        }
    }

    /// Before taking the lock: warms the cache with the message a receive
    /// of any type will most likely take (the first one). As
    /// [`View::prefetch_send`], only hints.
    fn prefetch_recv(&self) {
        let Ok(h) = self.head() else { return };
        let Ok(d) = self.desc(h.head.load(Relaxed)) else {
            return;
        };
        let len = d.len.load(Relaxed) as usize;
        let mut c = d.chunk.load(Relaxed);
        let mut left = len;
        for k in 0..len.div_ceil(CHUNK).min(32) {
            if k > 0 {
                let Ok(l) = self.link(c) else { return };
                c = l.load(Relaxed);
            }
            let Ok(off) = self.chunk_off(c) else { return };
            self.prefetch_chunk(off, CHUNK.min(left), false);
            left = left.saturating_sub(CHUNK);
        }
    }

    /// Hints the lines of `n` bytes of a chunk at mapping offset `off`.
    fn prefetch_chunk(&self, off: usize, n: usize, write: bool) {
        let m = self.obj.ctl();
        if off + CHUNK > m.len() {
            return;
        }
        let mut k = 0;
        while k < n {
            // Only an address for a hint: never dereferenced here.
            prefetch(m.ptr().wrapping_add(off + k).cast_const(), write);
            k += 64;
        }
    }

    /// Rebuilds free lists and counters from the message list after a lock
    /// holder died (or to recover from scribbling: whatever prefix of the
    /// list is well-formed is kept, the rest dropped).
    pub fn repair(&self) -> Result<()> {
        let h = self.head()?;
        let mut used_d = vec![false; self.geo.ndesc as usize];
        let mut used_c = vec![false; self.geo.nchunk as usize];
        let (mut qnum, mut cbytes) = (0u64, 0u64);
        let mut prev = NIL;
        let mut cur = h.head.load(Relaxed);
        'walk: while cur != NIL {
            if cur >= self.geo.ndesc || used_d[cur as usize] {
                break;
            }
            let d = self.desc(cur)?;
            let len = d.len.load(Relaxed) as usize;
            let need = len.div_ceil(CHUNK);
            let mut c = d.chunk.load(Relaxed);
            let mut mine = Vec::with_capacity(need);
            for _ in 0..need {
                if c >= self.geo.nchunk || used_c[c as usize] || mine.contains(&c) {
                    break 'walk;
                }
                mine.push(c);
                c = self.link(c)?.load(Relaxed);
            }
            if d.mtype.load(Relaxed) < 1 {
                break;
            }
            for c in mine {
                used_c[c as usize] = true;
            }
            used_d[cur as usize] = true;
            qnum += 1;
            cbytes += len as u64;
            prev = cur;
            cur = d.next.load(Relaxed);
        }
        // Cut the list after the last good message.
        if prev == NIL {
            h.head.store(NIL, Relaxed);
        } else {
            self.desc(prev)?.next.store(NIL, Relaxed);
        }
        h.tail.store(prev, Relaxed);
        h.qnum.store(qnum, Relaxed);
        h.cbytes.store(cbytes, Relaxed);
        let cap = self.geo.ndesc as u64;
        let qb = h.qbytes.load(Relaxed);
        if qb == 0 || qb > cap {
            h.qbytes.store(cap, Relaxed);
        }
        self.rebuild_free(&used_d, &used_c)
    }

    fn rebuild_free(&self, used_d: &[bool], used_c: &[bool]) -> Result<()> {
        let h = self.head()?;
        let mut f = NIL;
        for i in (0..self.geo.ndesc).rev() {
            if !used_d[i as usize] {
                self.desc(i)?.next.store(f, Relaxed);
                f = i;
            }
        }
        h.free_desc.store(f, Relaxed);
        let mut f = NIL;
        for i in (0..self.geo.nchunk).rev() {
            if !used_c[i as usize] {
                self.link(i)?.store(f, Relaxed);
                f = i;
            }
        }
        h.free_chunk.store(f, Relaxed);
        Ok(())
    }

    /// Allocates and links one message; `None` when descriptors or chunks
    /// ran out (cannot happen while the byte accounting is intact).
    fn try_append(&self, mtype: i64, data: &[u8]) -> Result<Option<()>> {
        let h = self.head()?;
        let need = data.len().div_ceil(CHUNK);
        let di = h.free_desc.load(Relaxed);
        if di == NIL {
            return Ok(None);
        }
        let d = self.desc(di)?;
        // Take `need` chunks off the free list, filling them as we go.
        let first = h.free_chunk.load(Relaxed);
        let mut c = first;
        for (k, piece) in data.chunks(CHUNK).enumerate() {
            if c == NIL {
                return Ok(None);
            }
            self.obj.ctl().write_bytes(self.chunk_off(c)?, piece)?;
            if k + 1 < need {
                c = self.link(c)?.load(Relaxed);
            }
        }
        let rest = if need == 0 {
            first
        } else {
            self.link(c)?.load(Relaxed)
        };
        let next_free_desc = d.next.load(Relaxed);
        d.mtype.store(mtype, Relaxed);
        d.len.store(data.len() as u32, Relaxed);
        d.chunk.store(if need == 0 { NIL } else { first }, Relaxed);
        d.next.store(NIL, Relaxed);
        h.free_chunk.store(rest, Relaxed);
        h.free_desc.store(next_free_desc, Relaxed);
        // Commit: link at the tail.
        let t = h.tail.load(Relaxed);
        if t == NIL {
            h.head.store(di, Release);
        } else {
            self.desc(t)?.next.store(di, Release);
        }
        h.tail.store(di, Relaxed);
        h.qnum.fetch_add(1, Relaxed);
        h.cbytes.fetch_add(data.len() as u64, Relaxed);
        Ok(Some(()))
    }

    /// Finds the message `msgrcv` would take: `(prev, index)`.
    fn find(&self, msgtyp: i64, flags: i32) -> Result<Option<(u32, u32)>> {
        let h = self.head()?;
        let mut prev = NIL;
        let mut cur = h.head.load(Acquire);
        let mut best: Option<(u32, u32, i64)> = None;
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
            if msgtyp == 0 {
                return Ok(Some((prev, cur)));
            } else if msgtyp > 0 {
                let hit = if flags & MSG_EXCEPT != 0 {
                    t != msgtyp
                } else {
                    t == msgtyp
                };
                if hit {
                    return Ok(Some((prev, cur)));
                }
            } else if t <= limit && best.map_or(true, |(_, _, bt)| t < bt) {
                best = Some((prev, cur, t));
                if t == 1 {
                    break;
                }
            }
            prev = cur;
            cur = d.next.load(Acquire);
        }
        Ok(best.map(|(p, c, _)| (p, c)))
    }

    /// The `n`th message (for `MSG_COPY`).
    fn nth(&self, n: i64) -> Result<Option<u32>> {
        let h = self.head()?;
        let mut cur = h.head.load(Acquire);
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
        let len = (d.len.load(Relaxed) as usize).min(buf.len());
        let mut c = d.chunk.load(Relaxed);
        let mut done = 0;
        while done < len {
            let n = CHUNK.min(len - done);
            self.obj
                .ctl()
                .read_bytes(self.chunk_off(c)?, &mut buf[done..done + n])?;
            done += n;
            if done < len {
                c = self.link(c)?.load(Relaxed);
            }
        }
        Ok(len)
    }

    fn free(&self, di: u32, len: usize) -> Result<()> {
        let h = self.head()?;
        let d = self.desc(di)?;
        let need = len.div_ceil(CHUNK);
        if need > 0 {
            let first = d.chunk.load(Relaxed);
            let mut last = first;
            for _ in 1..need {
                last = self.link(last)?.load(Relaxed);
            }
            self.link(last)?.store(h.free_chunk.load(Relaxed), Relaxed);
            h.free_chunk.store(first, Relaxed);
        }
        d.next.store(h.free_desc.load(Relaxed), Relaxed);
        h.free_desc.store(di, Relaxed);
        Ok(())
    }
}

/// `IPC_INFO` / `MSG_INFO` figures over the namespace.
pub fn info(ns: &Ns) -> MsgInfo {
    let mut i = MsgInfo {
        max_idx: 0,
        ..Default::default()
    };
    for idx in ns.indexes(Kind::Msg) {
        if let Ok(o) = ns.by_index(Kind::Msg, idx) {
            if o.is_removed() {
                continue;
            }
            if let Ok(q) = Queue::from_obj(o) {
                if let Ok(h) = q.head() {
                    i.queues += 1;
                    i.max_idx = i.max_idx.max(idx);
                    i.messages += h.qnum.load(Relaxed);
                    i.bytes += h.cbytes.load(Relaxed);
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
