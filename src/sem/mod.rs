//! System V semaphore sets: the engine (safe Rust over a mapped control area).
//!
//! Layout of a set's control area (after the common object header), all
//! words atomics, every offset derived from the set header and checked
//! against the mapping before use (shared memory is untrusted input):
//! ```text
//! SetHdr                      64 bytes: magic, nsems, max_ops, slot counts,
//!                             waiting count, journal state, otime, ticket
//! Sem[nsems]                  value and last pid, 8 bytes each
//! WaitSlot[NWAIT]             a sleeping semop: state (its futex word),
//!                             result, pid/start, FIFO ticket, its operations
//! UndoSlot[NUNDO]             SEM_UNDO: pid/start and adj[nsems] (i16)
//! Journal[jcap]               redo log of the transaction in progress
//!                             (max(2*max_ops, nsems)+8 entries: a SETALL fits)
//! ```
//! Everything is changed under the object's robust lock. A change touching
//! more than one word is written to the journal first, marked committed,
//! then applied; a process killed mid-way leaves a committed journal that
//! the next lock holder replays (the values are absolute, so replay is
//! idempotent), or an uncommitted one that is ignored. See `docs/sem.md`.

use crate::error::{Errno, Result};
use crate::ns::{Access, CreateSpec, Kind, Ns, Obj, Perm, HEADER_LEN};
use crate::sync::probe::Seen;
use crate::sync::proc::{alive, my_pid, my_start, pid_exists};
use crate::sync::time::now_secs;
use crate::sync::{futex_wait, futex_wake, Deadline};
use core::sync::atomic::{AtomicI16, AtomicI32, AtomicI64, AtomicU32, AtomicU64, Ordering};
use core::time::Duration;
use std::cell::RefCell;
use std::sync::Arc;
use std::time::Instant;

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

const MAGIC: u32 = 0x5345_4d31; // "SEM1"
/// Sleeping semop calls one set can hold at once (more wait for a slot).
///
/// cbindgen:ignore
pub const NWAIT: usize = 64;
/// Processes with SEM_UNDO adjustments on one set at once (more: ENOSPC).
///
/// cbindgen:ignore
pub const NUNDO: usize = 64;
/// How often a sleeper wakes to look for dead processes (undo, lost wakes).
const TICK: Duration = Duration::from_millis(50);
/// How long a waiter spins (yielding the CPU now and then) before it sleeps.
const SPIN: Duration = Duration::from_micros(20);

const W_FREE: u32 = 0;
const W_WAITING: u32 = 1;
const W_DONE: u32 = 2;
/// A granter (under the lock) has chosen this sleeper and is committing
/// its operations: the sleeper can no longer cancel, it waits for DONE.
const W_CLAIMED: u32 = 3;
/// The sleeper gave up (its deadline passed, or a signal) without the
/// lock, which it could not get in time: no granter touches the slot, and
/// the next enqueue under the lock reuses it.
const W_CANCELLED: u32 = 4;
const W_SLEEP: u32 = 0x100;

const HDR: usize = 64;
const WHDR: usize = 40;
const UHDR: usize = 16;

/// One operation of a `semop` call (the layout of `struct sembuf`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SemOp {
    /// semaphore index in the set
    pub num: u16,
    /// < 0 take, 0 wait for zero, > 0 release
    pub op: i16,
    /// `IPC_NOWAIT` | `SEM_UNDO`
    pub flg: i16,
}

impl SemOp {
    fn pack(self) -> u64 {
        (self.num as u64) | ((self.op as u16 as u64) << 16) | ((self.flg as u16 as u64) << 32)
    }
    fn unpack(w: u64) -> SemOp {
        SemOp {
            num: w as u16,
            op: (w >> 16) as u16 as i16,
            flg: (w >> 32) as u16 as i16,
        }
    }
}

#[repr(C)]
struct SetHdr {
    magic: AtomicU32,
    nsems: AtomicU32,
    max_ops: AtomicU32,
    nwait: AtomicU32,
    nundo: AtomicU32,
    waiting: AtomicU32,
    slot_gen: AtomicU32,
    jstate: AtomicU32,
    jcount: AtomicU32,
    slot_waiters: AtomicU32,
    otime: AtomicI64,
    ticket: AtomicU64,
    /// the pid that [`E_SET`] entries record as the semaphores' last
    /// (`SETALL`/`SETVAL`'s caller), written before the journal commits
    jpid: AtomicI32,
    /// journal entries (0: a set made before this field, whose journal
    /// holds `2 * max_ops + 8`)
    jcap: AtomicU32,
}
const _: () = assert!(core::mem::size_of::<SetHdr>() == HDR);

#[repr(C)]
struct Sem {
    val: AtomicI32,
    pid: AtomicI32,
}

#[repr(C)]
struct WaitHdr {
    state: AtomicU32,
    result: AtomicI32,
    pid: AtomicI32,
    undo: AtomicI32,
    start: AtomicU64,
    ticket: AtomicU64,
    nsops: AtomicU32,
    blocking: AtomicU32,
}
const _: () = assert!(core::mem::size_of::<WaitHdr>() == WHDR);

#[repr(C)]
struct UndoHdr {
    pid: AtomicI32,
    _pad: AtomicU32,
    start: AtomicU64,
}
const _: () = assert!(core::mem::size_of::<UndoHdr>() == UHDR);

/// Sizes of a set's areas, from its shape.
#[derive(Debug, Clone, Copy)]
struct Shape {
    nsems: usize,
    max_ops: usize,
    nwait: usize,
    nundo: usize,
    jcap: usize,
}

/// Journal entries of a set made by an older version (no `jcap` field).
fn legacy_jcap(max_ops: usize) -> usize {
    2 * max_ops + 8
}

/// Journal entries of a new set: a `semop` (values, adjustments, its
/// sleepers' completions) or a `SETALL` (one [`E_SET`] per semaphore).
fn new_jcap(nsems: usize, max_ops: usize) -> usize {
    (2 * max_ops).max(nsems) + 8
}

impl Shape {
    fn wsz(&self) -> usize {
        WHDR + 8 * self.max_ops
    }
    fn usz(&self) -> usize {
        UHDR + (2 * self.nsems).div_ceil(8) * 8
    }
    fn jcap(&self) -> usize {
        self.jcap
    }
    fn off_sems(&self) -> usize {
        HDR
    }
    fn off_wait(&self) -> usize {
        HDR + 8 * self.nsems
    }
    fn off_undo(&self) -> usize {
        self.off_wait() + self.nwait * self.wsz()
    }
    fn off_journal(&self) -> usize {
        self.off_undo() + self.nundo * self.usz()
    }
    fn total(&self) -> usize {
        self.off_journal() + 8 * self.jcap()
    }
}

/// A checked view of one set's control area.
struct View<'a> {
    o: &'a Obj,
    s: Shape,
}

impl<'a> View<'a> {
    fn new(o: &'a Obj) -> Result<View<'a>> {
        let h: &SetHdr = o.at(0)?;
        if h.magic.load(Ordering::Acquire) != MAGIC {
            return Err(Errno::EIO);
        }
        let mut s = Shape {
            nsems: h.nsems.load(Ordering::Relaxed) as usize,
            max_ops: h.max_ops.load(Ordering::Relaxed) as usize,
            nwait: h.nwait.load(Ordering::Relaxed) as usize,
            nundo: h.nundo.load(Ordering::Relaxed) as usize,
            jcap: h.jcap.load(Ordering::Relaxed) as usize,
        };
        if s.jcap == 0 {
            s.jcap = legacy_jcap(s.max_ops);
        }
        // Bounded shape (so the arithmetic cannot overflow), fitting the map.
        if s.nsems == 0
            || s.nsems > 32000
            || s.max_ops == 0
            || s.max_ops > 32000
            || s.nwait > NWAIT
            || s.nundo > NUNDO
            || s.jcap < legacy_jcap(s.max_ops)
            || s.jcap > new_jcap(32000, 32000)
            || s.total() > o.ctl_len()
        {
            return Err(Errno::EIO);
        }
        Ok(View { o, s })
    }
    fn hdr(&self) -> &'a SetHdr {
        self.o.at(0).expect("checked in View::new")
    }
    fn sem(&self, i: usize) -> Result<&'a Sem> {
        if i >= self.s.nsems {
            return Err(Errno::EIO);
        }
        self.o.at(self.s.off_sems() + 8 * i)
    }
    fn val(&self, i: usize) -> Result<i32> {
        // A scribbled value is clamped into the valid range.
        Ok(self.sem(i)?.val.load(Ordering::Relaxed).clamp(0, SEMVMX))
    }
    fn wslot(&self, i: usize) -> Result<&'a WaitHdr> {
        if i >= self.s.nwait {
            return Err(Errno::EIO);
        }
        self.o.at(self.s.off_wait() + i * self.s.wsz())
    }
    fn wop(&self, i: usize, k: usize) -> Result<&'a AtomicU64> {
        if k >= self.s.max_ops {
            return Err(Errno::EIO);
        }
        self.o
            .at(self.s.off_wait() + i * self.s.wsz() + WHDR + 8 * k)
    }
    /// Slot `i`'s operations, into `out` (cleared first; reused by the
    /// caller so that a scan of the queue allocates at most once).
    fn wops_into(&self, i: usize, out: &mut Vec<SemOp>) -> Result<()> {
        out.clear();
        let n = self.wslot(i)?.nsops.load(Ordering::Relaxed) as usize;
        if n == 0 || n > self.s.max_ops {
            return Err(Errno::EIO);
        }
        for k in 0..n {
            out.push(SemOp::unpack(self.wop(i, k)?.load(Ordering::Relaxed)));
        }
        Ok(())
    }
    fn uslot(&self, i: usize) -> Result<&'a UndoHdr> {
        if i >= self.s.nundo {
            return Err(Errno::EIO);
        }
        self.o.at(self.s.off_undo() + i * self.s.usz())
    }
    fn adj(&self, i: usize, sem: usize) -> Result<&'a AtomicI16> {
        if i >= self.s.nundo || sem >= self.s.nsems {
            return Err(Errno::EIO);
        }
        self.o
            .at(self.s.off_undo() + i * self.s.usz() + UHDR + 2 * sem)
    }
    fn jent(&self, k: usize) -> Result<&'a AtomicU64> {
        if k >= self.s.jcap() {
            return Err(Errno::EIO);
        }
        self.o.at(self.s.off_journal() + 8 * k)
    }
}

// ---------------------------------------------------------------------------
// Transactions: journal, commit, apply.

/// `SETALL`/`SETVAL` of one semaphore: its value, its last pid (the
/// header's `jpid`) and its adjustment in every undo slot cleared, all in
/// one entry (so a journal of `nsems` entries holds a whole `SETALL`).
const E_SET: u64 = 0;
/// In an [`E_SET`] entry's index: no undo slot was in use at commit (their
/// adjustments are all zero, as `undo_slot` zeroes a slot it hands out),
/// so there is nothing to clear: a `SETALL` without `SEM_UNDO` users
/// writes no adjustment.
const SET_NO_UNDO: usize = 1 << 29;
const E_VAL: u64 = 1;
const E_ADJ: u64 = 2;
const E_DONE: u64 = 3;

fn ent(kind: u64, idx: usize, v: i32) -> u64 {
    (kind << 62) | (((idx as u64) & 0x3fff_ffff) << 32) | (v as u32 as u64)
}

/// The writes of one atomic change, applied by [`Txn::commit`].
#[derive(Default)]
struct Txn {
    inline: [u64; 8],
    n: usize,
    more: Vec<u64>,
}

impl Txn {
    fn push(&mut self, e: u64) {
        if self.n < self.inline.len() {
            self.inline[self.n] = e;
        } else {
            self.more.push(e);
        }
        self.n += 1;
    }
    fn iter(&self) -> impl DoubleEndedIterator<Item = u64> + '_ {
        self.inline[..self.n.min(8)]
            .iter()
            .copied()
            .chain(self.more.iter().copied())
    }
    /// The value this transaction gives to entry `(kind, idx)`, if any.
    fn lookup(&self, kind: u64, idx: usize) -> Option<i32> {
        if self.n == 0 {
            return None;
        }
        let key = ent(kind, idx, 0) >> 32;
        if self.n <= self.inline.len() {
            // The common case: no spill, a plain backward scan.
            return self.inline[..self.n]
                .iter()
                .rev()
                .find(|&&e| e >> 32 == key)
                .map(|&e| e as u32 as i32);
        }
        self.iter()
            .rev()
            .find(|e| e >> 32 == key)
            .map(|e| e as u32 as i32)
    }
    fn commit(&self, v: &View<'_>) -> Result<()> {
        if self.n == 0 {
            return Ok(());
        }
        if self.n == 1 {
            return apply(v, self.inline[0]);
        }
        self.commit_journaled(v)
    }
    /// [`Txn::commit`] through the journal even for one entry (an
    /// [`E_SET`] writes many words).
    fn commit_journaled(&self, v: &View<'_>) -> Result<()> {
        if self.n > v.s.jcap() {
            return Err(Errno::EIO);
        }
        let h = v.hdr();
        for (k, e) in self.iter().enumerate() {
            v.jent(k)?.store(e, Ordering::Relaxed);
        }
        h.jcount.store(self.n as u32, Ordering::Relaxed);
        h.jstate.store(1, Ordering::Release);
        for e in self.iter() {
            apply(v, e)?;
        }
        h.jstate.store(0, Ordering::Release);
        Ok(())
    }
}

fn apply(v: &View<'_>, e: u64) -> Result<()> {
    let idx = ((e >> 32) & 0x3fff_ffff) as usize;
    let val = e as u32 as i32;
    match e >> 62 {
        E_SET => {
            let (idx, no_undo) = (idx & !SET_NO_UNDO, idx & SET_NO_UNDO != 0);
            if !no_undo {
                for u in 0..v.s.nundo {
                    v.adj(u, idx)?.store(0, Ordering::Relaxed);
                }
            }
            let s = v.sem(idx)?;
            s.val.store(val.clamp(0, SEMVMX), Ordering::Relaxed);
            s.pid
                .store(v.hdr().jpid.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        E_VAL => v
            .sem(idx)?
            .val
            .store(val.clamp(0, SEMVMX), Ordering::Relaxed),
        E_ADJ => v
            .adj(idx / v.s.nsems, idx % v.s.nsems)?
            .store(val as i16, Ordering::Relaxed),
        E_DONE => {
            let w = v.wslot(idx)?;
            w.result.store(val, Ordering::Relaxed);
            let old = w.state.swap(W_DONE, Ordering::AcqRel);
            if old & W_SLEEP != 0 {
                // Woken after the lock is released (see [`Locked`]), so that
                // the sleeper does not run straight into our lock.
                WAKES.with(|q| q.borrow_mut().push(w.state.as_ptr() as usize));
            }
        }
        _ => return Err(Errno::EIO),
    }
    Ok(())
}

thread_local! {
    /// Futex words of sleepers to wake once the set's lock is released.
    static WAKES: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// The set's lock, held; on release, wakes the sleepers whose operations
/// were completed under it (the kernel's `wake_q`).
struct Locked<'a> {
    g: Option<crate::ns::ObjGuard<'a>>,
    /// false when nothing can have been queued (the uncontended path)
    flush: bool,
}

/// The set's lock ([`Obj::lock_until`]) by `d` (`ETIMEDOUT`), or `EIDRM`
/// once the set is removed.
fn lock_by<'a>(o: &'a Obj, d: &Deadline) -> Result<Locked<'a>> {
    Ok(Locked {
        g: Some(o.lock_until(&repair, d)?),
        flush: true,
    })
}

/// The lock for a `semctl` command, which the kernel never blocks: by
/// [`Deadline::ctl`]; `None` when a holder is stopped or the lock word
/// was scribbled on (the caller then reads without it, or fails).
fn lock_ctl(o: &Obj) -> Option<Locked<'_>> {
    lock_by(o, &Deadline::ctl()).ok()
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        drop(self.g.take());
        if !self.flush {
            return;
        }
        let q = WAKES.with(|q| core::mem::take(&mut *q.borrow_mut()));
        for addr in q {
            // SAFETY: FUTEX_WAKE uses the address only as a key and reads no
            // memory; the word lies in a mapping of a set our caller still
            // holds (it was queued under that set's lock moments ago).
            unsafe {
                libc::syscall(
                    libc::SYS_futex,
                    addr as *const u32,
                    libc::FUTEX_WAKE,
                    1,
                    core::ptr::null::<libc::timespec>(),
                    core::ptr::null::<u32>(),
                    0u32,
                )
            };
        }
    }
}

/// Replays a journal committed by a process that died before finishing.
fn redo(v: &View<'_>) {
    let h = v.hdr();
    if h.jstate.load(Ordering::Acquire) == 1 {
        let n = (h.jcount.load(Ordering::Relaxed) as usize).min(v.s.jcap());
        for k in 0..n {
            if let Ok(e) = v.jent(k) {
                let _ = apply(v, e.load(Ordering::Relaxed));
            }
        }
    }
    h.jstate.store(0, Ordering::Release);
}

// ---------------------------------------------------------------------------
// The kernel's perform_atomic_semop and update_queue.

enum Try {
    Done,
    Block(usize),
}

/// Tries `ops` against the current values (plus what `txn` already holds),
/// recording the writes in `txn`. Nothing is written to the set.
fn try_ops(v: &View<'_>, ops: &[SemOp], undo: Option<usize>, txn: &mut Txn) -> Result<Try> {
    for (i, op) in ops.iter().enumerate() {
        let n = op.num as usize;
        if n >= v.s.nsems {
            return Err(Errno::EFBIG);
        }
        let cur = match txn.lookup(E_VAL, n) {
            Some(x) => x,
            None => v.val(n)?,
        };
        if op.op == 0 {
            if cur != 0 {
                return Ok(Try::Block(i));
            }
            continue;
        }
        let r = cur + op.op as i32;
        if r < 0 {
            return Ok(Try::Block(i));
        }
        if r > SEMVMX {
            return Err(Errno::ERANGE);
        }
        if op.flg & SEM_UNDO != 0 {
            let u = undo.ok_or(Errno::EIO)?;
            let ai = u * v.s.nsems + n;
            let a = match txn.lookup(E_ADJ, ai) {
                Some(x) => x,
                None => v.adj(u, n)?.load(Ordering::Relaxed) as i32,
            } - op.op as i32;
            if !(-SEMAEM - 1..=SEMAEM).contains(&a) {
                return Err(Errno::ERANGE);
            }
            txn.push(ent(E_ADJ, ai, a));
        }
        txn.push(ent(E_VAL, n, r));
    }
    Ok(Try::Done)
}

/// Records `pid` as the last to operate on each semaphore of `ops`, and
/// `now` (seconds) as the set's `sem_otime`.
fn mark_done(v: &View<'_>, ops: &[SemOp], pid: i32, now: i64) {
    for op in ops {
        if let Ok(s) = v.sem(op.num as usize) {
            s.pid.store(pid, Ordering::Relaxed);
        }
    }
    let h = v.hdr();
    if h.otime.load(Ordering::Relaxed) != now {
        h.otime.store(now, Ordering::Relaxed);
    }
}

/// The sleeper slots that may be in use, in order: a slot whose header
/// lies (even in part) in a hole of the file was never written, so it is
/// free, and is skipped without being read — on tmpfs reading a hole
/// allocates a page (one per slot: the slots are ~4 KiB apart), ~100 us
/// for an `IPC_RMID` of a set nobody ever slept on, and a `SIGBUS` when the
/// file system is full. Found with `lseek(SEEK_DATA/SEEK_HOLE)`, two calls
/// per run of written pages; a file system without them reports the whole
/// file as data (every slot is read, as before).
/// Whether the page of mapping `(ptr, len)` holding byte `off` is in
/// memory (`mincore`): a tmpfs page never written is not, and reading it
/// would allocate one (or raise SIGBUS on a full file system).
fn resident(map: (usize, usize), off: usize) -> bool {
    if off >= map.1 {
        return false;
    }
    let page = off & !4095;
    let mut vec = 0u8;
    // SAFETY: mincore on one page inside our own mapping, into a local.
    let r = unsafe { libc::mincore((map.0 + page) as *mut libc::c_void, 4096, &mut vec) };
    r != 0 || vec & 1 != 0
}

fn wslots_used(v: &View<'_>) -> impl Iterator<Item = usize> {
    use std::os::fd::AsRawFd;
    // A descriptor for the walk (none: every slot is read, as on a file
    // system without SEEK_DATA).
    let file = v.o.file().ok();
    let fd = file.as_ref().map_or(-1, |f| f.as_raw_fd());
    let base = (HEADER_LEN + v.s.off_wait()) as i64;
    let wsz = v.s.wsz() as i64;
    let nwait = v.s.nwait;
    let v_map = (v.o.ctl().ptr() as usize, v.o.ctl().len());
    let mut i = 0usize;
    let mut run_end = i64::MIN; // end of the data run around slot i
    core::iter::from_fn(move || {
        // Kept open for the walk (moved in).
        let _file = &file;
        while i < nwait {
            let hdr = base + i as i64 * wsz;
            if hdr + WHDR as i64 > run_end {
                // SAFETY: lseek on our object file's descriptor; it only
                // moves the (unused) file offset.
                let d = unsafe { libc::lseek(fd, hdr, libc::SEEK_DATA) };
                if d < 0 {
                    if Errno::last() == Errno::ENXIO {
                        return None; // no data from here on
                    }
                    if fd < 0 && !resident(v_map, hdr as usize) {
                        // No descriptor (the set's names are gone): a
                        // page not in memory was never written.
                        i += 1;
                        continue;
                    }
                    // No SEEK_DATA here: every slot is data.
                    run_end = if fd < 0 { hdr + WHDR as i64 } else { i64::MAX };
                    continue;
                }
                // SAFETY: as above.
                let h = unsafe { libc::lseek(fd, d, libc::SEEK_HOLE) };
                if h < 0 {
                    run_end = i64::MAX;
                    continue;
                }
                run_end = h;
                if d > hdr {
                    // Skip the slots whose header starts in the hole.
                    let skip = (d - hdr + wsz - 1) / wsz;
                    i = i.saturating_add(skip as usize);
                    continue;
                }
                if hdr + WHDR as i64 > run_end {
                    i += 1; // the header ends in a hole: never written
                    continue;
                }
            }
            let k = i;
            i += 1;
            return Some(k);
        }
        None
    })
}

fn recount(v: &View<'_>) {
    let n = wslots_used(v)
        .filter(|&i| {
            v.wslot(i)
                .map(|w| w.state.load(Ordering::Relaxed) & 0xff == W_WAITING)
                .unwrap_or(false)
        })
        .count();
    v.hdr().waiting.store(n as u32, Ordering::Relaxed);
}

fn free_wslot(v: &View<'_>, i: usize) {
    if let Ok(w) = v.wslot(i) {
        w.pid.store(0, Ordering::Relaxed);
        w.state.store(W_FREE, Ordering::Release);
        let h = v.hdr();
        h.slot_gen.fetch_add(1, Ordering::Release);
        if h.slot_waiters.load(Ordering::Relaxed) != 0 {
            futex_wake(&h.slot_gen, i32::MAX);
        }
    }
}

/// Retries the sleeping operations, oldest first, after a change; each one
/// that can now complete is performed on its sleeper's behalf and the
/// sleeper woken. Restarts from the oldest after every success.
///
/// This runs after every altering operation while anyone sleeps, so it
/// makes no system call for a sleeper that stays blocked: a sleeper's
/// liveness (`kill(pid, 0)`) is checked only when its operation would be
/// granted, so that a dead process never consumes a release. Dead sleepers
/// that stay blocked are dropped by the sweeps (reads, the sleepers'
/// periodic look-around, a full slot table).
fn update_queue(v: &View<'_>) {
    if v.hdr().waiting.load(Ordering::Relaxed) == 0 {
        return;
    }
    let me = my_pid();
    let mut ops = Vec::new();
    for _round in 0..=v.s.nwait {
        // The waiting slots by FIFO ticket (nwait <= NWAIT: no allocation).
        // Sleepers take the lowest free slot, and the count is exact under
        // the lock, so the scan stops at the last one. (Each slot is on its
        // own page: scanning all 64 cost more than the rest together.) A
        // count left short by a process killed inside `enqueue` is put
        // right by the next sweep, at the latest a sleeper's next tick.
        let want = v.hdr().waiting.load(Ordering::Relaxed) as usize;
        let mut q = [(0u64, 0usize); NWAIT];
        let mut n = 0;
        for i in 0..v.s.nwait.min(NWAIT) {
            if n >= want {
                break;
            }
            let Ok(w) = v.wslot(i) else { continue };
            if w.state.load(Ordering::Acquire) & 0xff == W_WAITING {
                q[n] = (w.ticket.load(Ordering::Relaxed), i);
                n += 1;
            }
        }
        let q = &mut q[..n];
        q.sort_unstable();
        let mut restart = false;
        // Slots of `q` that stop waiting in this round (granted, failed or
        // dropped): the count afterwards is `n - finished`, without a
        // scan of the table.
        let mut finished = 0;
        for &(_, i) in q.iter() {
            let Ok(w) = v.wslot(i) else { continue };
            let mut txn = Txn::default();
            let undo = match w.undo.load(Ordering::Relaxed) {
                u if u >= 0 && (u as usize) < v.s.nundo => Some(u as usize),
                _ => None,
            };
            let r = v
                .wops_into(i, &mut ops)
                .and_then(|()| try_ops(v, &ops, undo, &mut txn));
            if let Ok(Try::Block(b)) = r {
                w.blocking.store(b as u32, Ordering::Relaxed);
                continue;
            }
            // Granted or failed: claim the slot first, so that a sleeper
            // giving up without the lock (see `cancel`) either is skipped
            // here or waits for our commit — never both.
            let st = w.state.load(Ordering::Acquire);
            if st & 0xff != W_WAITING
                || w.state
                    .compare_exchange(
                        st,
                        (st & !0xff) | W_CLAIMED,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    )
                    .is_err()
            {
                finished += 1;
                continue;
            }
            match r {
                Ok(Try::Block(_)) => {}
                Ok(Try::Done) => {
                    let pid = w.pid.load(Ordering::Relaxed);
                    if pid != me && !pid_exists(pid) {
                        free_wslot(v, i);
                        finished += 1;
                        continue;
                    }
                    txn.push(ent(E_DONE, i, 0));
                    if txn.commit(v).is_ok() {
                        finished += 1;
                        mark_done(v, &ops, pid, now_secs());
                        if ops.iter().any(|o| o.op != 0) {
                            restart = true;
                            break;
                        }
                    } else {
                        w.state.store(st, Ordering::Release);
                    }
                }
                Err(e) => {
                    if apply(v, ent(E_DONE, i, e as i32)).is_ok() {
                        finished += 1;
                    } else {
                        w.state.store(st, Ordering::Release);
                    }
                }
            }
        }
        // Also puts right a count that was stale (a scribble), or every
        // operation would scan the table.
        let left = (n - finished) as u32;
        if v.hdr().waiting.load(Ordering::Relaxed) != left {
            v.hdr().waiting.store(left, Ordering::Relaxed);
        }
        if !restart {
            break;
        }
    }
}

/// Frees the slots of dead processes: applies a dead process's undo
/// adjustments (clamped to 0..=SEMVMX, as the kernel's `exit_sem`) and,
/// with `sleepers`, drops dead sleepers. `gone(pid, start)` tells a dead
/// process. Returns true when a value changed.
fn sweep_with(v: &View<'_>, sleepers: bool, gone: impl Fn(i32, u64) -> bool) -> bool {
    let me = my_pid();
    let mut changed = false;
    if sleepers {
        let used: Vec<usize> = wslots_used(v).collect();
        for i in used {
            let Ok(w) = v.wslot(i) else { continue };
            if w.state.load(Ordering::Acquire) & 0xff != W_FREE {
                let pid = w.pid.load(Ordering::Relaxed);
                if pid != me && gone(pid, w.start.load(Ordering::Relaxed)) {
                    free_wslot(v, i);
                }
            }
        }
        recount(v);
    }
    for u in 0..v.s.nundo {
        let Ok(us) = v.uslot(u) else { continue };
        let pid = us.pid.load(Ordering::Acquire);
        let start = us.start.load(Ordering::Relaxed);
        if pid == 0 || (pid == me && start == my_start()) {
            continue;
        }
        if gone(pid, start) {
            changed |= release_undo(v, u, pid);
        }
    }
    changed
}

/// The full check: every slot, dead by pid and start time (`/proc`), so
/// that a recycled pid is caught.
fn sweep(v: &View<'_>) -> bool {
    sweep_with(v, true, |pid, start| !alive(pid, start))
}

fn release_undo(v: &View<'_>, u: usize, pid: i32) -> bool {
    let mut changed = false;
    for s in 0..v.s.nsems {
        let Ok(a) = v.adj(u, s) else { continue };
        let adj = a.load(Ordering::Relaxed) as i32;
        if adj == 0 {
            continue;
        }
        let Ok(cur) = v.val(s) else { continue };
        let mut t = Txn::default();
        t.push(ent(E_VAL, s, (cur + adj).clamp(0, SEMVMX)));
        t.push(ent(E_ADJ, u * v.s.nsems + s, 0));
        if t.commit(v).is_ok() {
            if let Ok(x) = v.sem(s) {
                x.pid.store(pid, Ordering::Relaxed);
            }
            changed = true;
        }
    }
    if let Ok(us) = v.uslot(u) {
        us.pid.store(0, Ordering::Release);
    }
    changed
}

/// Before sleeping and before reads: releases the undo of processes that
/// are plainly gone (`kill(pid, 0)` fails: one cheap system call per other
/// undo holder, none when there is none), and with `waiters` (when anyone
/// sleeps) drops sleepers that are gone. A reused pid is caught by the
/// periodic [`sweep`].
fn quick_sweep_with(v: &View<'_>, waiters: bool) -> bool {
    let sleepers = waiters && v.hdr().waiting.load(Ordering::Relaxed) != 0;
    sweep_with(v, sleepers, |pid, _| !pid_exists(pid))
}

/// The repair run by whoever takes over the lock of a dead holder.
fn repair(o: &Obj) {
    crate::debug_report!("semaphore set {}: repaired after a lock holder died", o.id);
    if let Ok(v) = View::new(o) {
        redo(&v);
        // A granter that died between claiming a sleeper and committing
        // (a committed journal made it DONE just above): still waiting.
        for i in 0..v.s.nwait {
            if let Ok(w) = v.wslot(i) {
                let s = w.state.load(Ordering::Acquire);
                if s & 0xff == W_CLAIMED {
                    w.state.store((s & !0xff) | W_WAITING, Ordering::Release);
                }
            }
        }
        sweep(&v);
        update_queue(&v);
    }
}

/// This process's undo slot, allocated when missing (`ENOSPC` when full).
fn undo_slot(v: &View<'_>) -> Result<usize> {
    let me = my_pid();
    let st = my_start();
    let mut free = None;
    for u in 0..v.s.nundo {
        let us = v.uslot(u)?;
        let pid = us.pid.load(Ordering::Acquire);
        if pid == me {
            if us.start.load(Ordering::Relaxed) == st {
                return Ok(u);
            }
            // A dead process that had our pid: its undo is due now.
            release_undo(v, u, pid);
        }
        if free.is_none() && us.pid.load(Ordering::Relaxed) == 0 {
            free = Some(u);
        }
    }
    let u = match free {
        Some(u) => u,
        None => {
            if sweep(v) {
                update_queue(v);
            }
            (0..v.s.nundo)
                .find(|&u| {
                    v.uslot(u)
                        .map(|s| s.pid.load(Ordering::Relaxed) == 0)
                        .unwrap_or(false)
                })
                .ok_or(Errno::ENOSPC)?
        }
    };
    for s in 0..v.s.nsems {
        v.adj(u, s)?.store(0, Ordering::Relaxed);
    }
    let us = v.uslot(u)?;
    us.start.store(st, Ordering::Relaxed);
    us.pid.store(me, Ordering::Release);
    Ok(u)
}

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
        v.sem(i)?.val.store(*x, Ordering::Relaxed);
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
    // values) and the journal are reserved at creation: a full file system
    // gives ENOMEM here rather than SIGBUS (the namespace writes the new
    // file's header before `init`: checked before it is created, unless
    // the key names an existing set). The sleeper and undo slots stay
    // sparse: a file system that fills up later can still make their first
    // touch a SIGBUS (see docs/sem.md).
    let shape = Shape {
        nsems: n.max(1),
        max_ops,
        nwait: NWAIT,
        nundo: NUNDO,
        jcap: new_jcap(n.max(1), max_ops),
    };
    let head = (HEADER_LEN + shape.off_wait()) as u64;
    let journal = (
        (HEADER_LEN + shape.off_journal()) as u64,
        8 * shape.jcap() as u64,
    );
    // The undo area too when small (up to ~500 semaphores): every
    // SEM_UNDO operation reads each slot's owner.
    let undo_area = (
        (HEADER_LEN + shape.off_undo()) as u64,
        (shape.nundo * shape.usz()) as u64,
    );
    let whole = ((HEADER_LEN + shape.total()) as u64).next_multiple_of(4096);
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
            crate::shm::reserve_range(o, 0, head)?;
            crate::shm::reserve_range(o, journal.0, journal.1)?;
            if undo_area.1 <= 64 * 1024 {
                crate::shm::reserve_range(o, undo_area.0, undo_area.1)?;
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
/// `semop` makes one TLS look-up, not two.
struct Last {
    /// the set, with the [`Ns::serial`] of the namespace it was found in
    set: RefCell<LastSet>,
    probe: Seen,
}

thread_local! {
    static LAST: Last = const {
        Last {
            set: RefCell::new(None),
            probe: Seen::new(),
        }
    };
}

/// The live set with id `id` in `ns` (`EINVAL` when none), through this
/// thread's one-entry cache (see [`with_set_after`]).
pub fn by_id(ns: &Ns, id: i32) -> Result<Arc<Obj>> {
    LAST.with(|c| {
        if let Some(o) = cached(c, ns, id) {
            return Ok(Arc::clone(&o.as_ref().expect("checked by cached").1));
        }
        remember(c, ns, id)
    })
}

/// [`Last::set`]: a set and the serial of its namespace.
type LastSet = Option<(u64, Arc<Obj>)>;

/// This thread's cached set when it is the live set `id` of `ns`.
#[inline]
fn cached<'a>(c: &'a Last, ns: &Ns, id: i32) -> Option<core::cell::Ref<'a, LastSet>> {
    c.set.try_borrow().ok().filter(|b| {
        b.as_ref()
            .is_some_and(|(s, o)| *s == ns.serial() && o.id == id && !o.is_removed())
    })
}

/// Looks the set `id` up in `ns` and caches it for this thread.
fn remember(c: &Last, ns: &Ns, id: i32) -> Result<Arc<Obj>> {
    let o = ns.by_id(Kind::Sem, id)?;
    if let Ok(mut b) = c.set.try_borrow_mut() {
        *b = Some((ns.serial(), o.clone()));
    }
    Ok(o)
}

/// Runs `f` on the live set with id `id` in `ns` (`EINVAL` when none),
/// through a one-entry per-thread cache, so that the common case takes no
/// lock and touches no reference count.
pub fn with_set<T>(ns: &Ns, id: i32, f: impl FnOnce(&Obj) -> Result<T>) -> Result<T> {
    with_set_after(ns, id, |_| Ok(()), |o, ()| f(o))
}

/// [`with_set`], after `pre`, which gets this thread's probe cache for the
/// checks that come before the set is looked up (a bad buffer is `EFAULT`
/// even for a bad id, as in the kernel); `pre`'s error is returned as is.
#[inline]
pub fn with_set_after<U, T>(
    ns: &Ns,
    id: i32,
    pre: impl FnOnce(&Seen) -> Result<U>,
    f: impl FnOnce(&Obj, U) -> Result<T>,
) -> Result<T> {
    LAST.with(|c| {
        let u = pre(&c.probe)?;
        if let Some(b) = cached(c, ns, id) {
            return f(&b.as_ref().expect("checked by cached").1, u);
        }
        let o = remember(c, ns, id)?;
        f(&o, u)
    })
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
    // The lock by the call's deadline, and within NOWAIT_BOUND when it
    // asked not to block: a holder stopped or a scribbled lock word is
    // then EAGAIN (or the timeout's errno), as a call that would block.
    let deadline = match wait {
        Wait::Forever => Deadline::NEVER,
        Wait::Until(d) => d,
    };
    let lock_d = deadline.for_lock(nowait);
    // Retried (a loop, not a recursion: how often is up to the other
    // processes) while every sleeper slot is taken.
    let (slot, ticket) = 'retry: loop {
        let mut g = lock_by(o, &lock_d).map_err(|e| match e {
            Errno::ETIMEDOUT if nowait && !deadline.expired() => Errno::EAGAIN,
            Errno::ETIMEDOUT => timeout_errno,
            e => e,
        })?;
        let v = View::new(o)?;
        if o.is_removed() {
            return Err(Errno::EIDRM);
        }
        if max >= v.s.nsems {
            return Err(Errno::EFBIG);
        }
        // The set's journal and sleeper slots are sized for the `semopm`
        // in force when it was created: more (after a raise) is E2BIG.
        if ops.len() > v.s.max_ops {
            return Err(Errno::E2BIG);
        }
        // One clock read for the credentials' cache and `sem_otime`.
        let now = crate::sync::proc::coarse_now();
        o.perm()
            .check_mine_at(if alter { 0o2 } else { 0o4 }, &now)?;
        // The common case, one operation without SEM_UNDO: what try_ops and
        // a one-entry Txn (a single store, no journal) would do, inline.
        if let [op] = ops {
            if !has_undo {
                let s = v.sem(op.num as usize)?;
                let cur = s.val.load(Ordering::Relaxed).clamp(0, SEMVMX);
                let r = cur + op.op as i32;
                let done = if op.op == 0 { cur == 0 } else { r >= 0 };
                if done {
                    if r > SEMVMX {
                        return Err(Errno::ERANGE);
                    }
                    if op.op != 0 {
                        s.val.store(r, Ordering::Relaxed);
                    }
                    s.pid.store(my_pid(), Ordering::Relaxed);
                    let h = v.hdr();
                    if h.otime.load(Ordering::Relaxed) != now.tv_sec {
                        h.otime.store(now.tv_sec, Ordering::Relaxed);
                    }
                    if alter && h.waiting.load(Ordering::Relaxed) != 0 {
                        update_queue(&v);
                    } else {
                        // Nothing woken under this lock: skip the wake queue.
                        g.flush = false;
                    }
                    return Ok(());
                }
                // Would block: the general path below sweeps, then waits.
            }
        }
        let undo = if has_undo { Some(undo_slot(&v)?) } else { None };
        let mut swept = false;
        loop {
            let mut txn = Txn::default();
            match try_ops(&v, ops, undo, &mut txn)? {
                Try::Done => {
                    txn.commit(&v)?;
                    mark_done(&v, ops, my_pid(), now.tv_sec);
                    if alter && v.hdr().waiting.load(Ordering::Relaxed) != 0 {
                        update_queue(&v);
                    } else if !swept {
                        // Nothing woken under this lock: skip the wake queue.
                        g.flush = false;
                    }
                    return Ok(());
                }
                Try::Block(b) => {
                    if !swept {
                        // A dead process's undo may be what we wait for.
                        swept = true;
                        if quick_sweep_with(&v, false) {
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
                        Some(x) => break 'retry x,
                        None => {
                            // No free sleeper slot: wait for one, then retry
                            // from the top (the deadline is absolute, so a
                            // timed call still ends by it).
                            let gen = v.hdr().slot_gen.load(Ordering::Acquire);
                            v.hdr().slot_waiters.fetch_add(1, Ordering::Relaxed);
                            drop(g);
                            let t = match wait {
                                Wait::Forever => TICK,
                                Wait::Until(d) => d.remaining().unwrap_or(TICK).min(TICK),
                            };
                            let r = futex_wait(&v.hdr().slot_gen, gen, Some(t));
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
    sleep(o, slot, ticket, wait, timeout_errno)
}

fn enqueue(
    v: &View<'_>,
    ops: &[SemOp],
    undo: Option<usize>,
    b: usize,
) -> Result<Option<(usize, u64)>> {
    // Free slots, and slots their sleepers gave up without the lock. A
    // slot never written lies in a hole of the file: its page is given
    // storage before it is read or written (a full file system: ENOMEM
    // from semop, not SIGBUS).
    let mut found = None;
    for i in 0..v.s.nwait {
        v.o.ctl()
            .populate(HEADER_LEN + v.s.off_wait() + i * v.s.wsz(), v.s.wsz())?;
        let Ok(w) = v.wslot(i) else { continue };
        if matches!(w.state.load(Ordering::Acquire), W_FREE | W_CANCELLED) {
            found = Some(i);
            break;
        }
    }
    let Some(i) = found else {
        return Ok(None);
    };
    let w = v.wslot(i)?;
    for (k, op) in ops.iter().enumerate() {
        v.wop(i, k)?.store(op.pack(), Ordering::Relaxed);
    }
    let ticket = v.hdr().ticket.fetch_add(1, Ordering::Relaxed);
    w.nsops.store(ops.len() as u32, Ordering::Relaxed);
    w.blocking.store(b as u32, Ordering::Relaxed);
    w.undo
        .store(undo.map_or(-1, |u| u as i32), Ordering::Relaxed);
    w.pid.store(my_pid(), Ordering::Relaxed);
    w.start.store(my_start(), Ordering::Relaxed);
    w.ticket.store(ticket, Ordering::Relaxed);
    w.result.store(0, Ordering::Relaxed);
    w.state.store(W_WAITING, Ordering::Release);
    v.hdr().waiting.fetch_add(1, Ordering::Relaxed);
    Ok(Some((i, ticket)))
}

/// Our sleeper slot is ours while its ticket is ours: a scribbler or a
/// sweeper that freed it (thinking us dead) must not make us read another's.
fn finish(v: &View<'_>, i: usize, ticket: u64) -> Option<Result<()>> {
    let w = v.wslot(i).ok()?;
    if w.ticket.load(Ordering::Relaxed) != ticket || w.pid.load(Ordering::Relaxed) != my_pid() {
        return Some(Err(Errno::EIDRM));
    }
    if w.state.load(Ordering::Acquire) & 0xff != W_DONE {
        return None;
    }
    let r = w.result.load(Ordering::Relaxed);
    free_wslot(v, i);
    Some(if r == 0 {
        Ok(())
    } else {
        Err(Errno::from_raw(r))
    })
}

fn sleep(o: &Obj, i: usize, ticket: u64, wait: Wait, timeout_errno: Errno) -> Result<()> {
    let v = View::new(o)?;
    let w = v.wslot(i)?;
    let t0 = Instant::now();
    // Spin a little: the peer is often about to release. Yield now and then:
    // on a busy machine the peer may be waiting for this very CPU. Not at
    // all when this process may run on one CPU only: the peer needs it.
    let mut n = 0u32;
    let spin = crate::sync::proc::many_cpus();
    while spin
        && matches!(
            w.state.load(Ordering::Acquire) & 0xff,
            W_WAITING | W_CLAIMED
        )
    {
        core::hint::spin_loop();
        n += 1;
        if n % 64 == 0 {
            if t0.elapsed() > SPIN {
                break;
            }
            // SAFETY: sched_yield has no preconditions.
            unsafe { libc::sched_yield() };
        }
    }
    loop {
        let s = w.state.load(Ordering::Acquire);
        if s & 0xff == W_DONE {
            // Granted (or failed) by a waker: the slot is ours alone now.
            if let Some(r) = finish(&v, i, ticket) {
                return r;
            }
            continue;
        }
        if !matches!(s & 0xff, W_WAITING | W_CLAIMED) {
            return Err(Errno::EIDRM);
        }
        if s & W_SLEEP == 0
            && w.state
                .compare_exchange(s, s | W_SLEEP, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            continue;
        }
        let (t, last) = match wait {
            Wait::Forever => (TICK, false),
            Wait::Until(d) => {
                let r = d.remaining().unwrap_or(TICK);
                if r <= TICK {
                    (r, true)
                } else {
                    (TICK, false)
                }
            }
        };
        let r = futex_wait(&w.state, s | W_SLEEP, Some(t));
        let give_up = match r {
            Err(Errno::EINTR) => Some(Errno::EINTR),
            Err(Errno::ETIMEDOUT) if last => Some(timeout_errno),
            _ => None,
        };
        // The lock: to leave (within NOWAIT_BOUND), or for the periodic
        // look around (by the call's deadline). When it cannot be had (a
        // holder stopped, a scribbled word) or the set is removed, the
        // slot is given up without it.
        let lock_d = match (give_up, wait) {
            (Some(_), _) => Deadline::NEVER.for_lock(true),
            (None, Wait::Until(d)) => d,
            (None, Wait::Forever) => Deadline::NEVER,
        };
        let _g = match lock_by(o, &lock_d) {
            Ok(g) => g,
            Err(Errno::EIDRM) => return cancel(&v, i, ticket, Errno::EIDRM),
            Err(_) => return cancel(&v, i, ticket, give_up.unwrap_or(timeout_errno)),
        };
        if let Some(r) = finish(&v, i, ticket) {
            return r;
        }
        if let Some(e) = give_up {
            free_wslot(&v, i);
            recount(&v);
            return Err(e);
        }
        if matches!(r, Err(Errno::ETIMEDOUT)) {
            // A periodic look around: dead undo holders, lost wake-ups.
            sweep(&v);
            update_queue(&v);
            if let Some(r) = finish(&v, i, ticket) {
                return r;
            }
        }
    }
}

/// Leaves sleeper slot `i` without the set's lock, answering `e` — unless
/// a granter got there first: a slot already granted (or failed) gives
/// its result, and one a granter has claimed (committing under the lock
/// right now) is waited for, since its operations will have been done.
/// A cancelled slot is skipped by every granter and reused by the next
/// enqueue.
fn cancel(v: &View<'_>, i: usize, ticket: u64, e: Errno) -> Result<()> {
    let Ok(w) = v.wslot(i) else {
        return Err(e);
    };
    loop {
        if w.ticket.load(Ordering::Relaxed) != ticket || w.pid.load(Ordering::Relaxed) != my_pid() {
            return Err(Errno::EIDRM);
        }
        let s = w.state.load(Ordering::Acquire);
        match s & 0xff {
            W_WAITING => {
                if w.state
                    .compare_exchange(s, W_CANCELLED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    return Err(e);
                }
            }
            W_DONE => return finish(v, i, ticket).unwrap_or(Err(Errno::EIDRM)),
            W_CLAIMED => {
                let _ = futex_wait(&w.state, s, Some(TICK));
            }
            _ => return Err(Errno::EIDRM),
        }
    }
}

/// One semaphore's value (`GETVAL`), after applying dead processes' undo.
pub fn getval(o: &Obj, num: i32) -> Result<i32> {
    read(o, num, |v, n| v.val(n))
}

/// Last pid that operated on one semaphore (`GETPID`).
pub fn getpid(o: &Obj, num: i32) -> Result<i32> {
    read(o, num, |v, n| Ok(v.sem(n)?.pid.load(Ordering::Relaxed)))
}

/// Sleepers whose blocking operation waits for semaphore `num` to grow
/// (`GETNCNT`, `zero == false`) or to be zero (`GETZCNT`). Dead sleepers
/// are dropped first, so a killed waiter is never counted.
pub fn count_waiters(o: &Obj, num: i32, zero: bool) -> Result<i32> {
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
    if o.is_removed() {
        return Err(Errno::EIDRM);
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
    if o.is_removed() {
        return Err(Errno::EIDRM);
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
    f(&v, num as usize)
}

/// All values (`GETALL`).
pub fn getall(o: &Obj) -> Result<Vec<u16>> {
    let g = lock_ctl(o);
    let v = read_view(o, &g)?;
    o.perm().check_mine(Access::Read)?;
    (0..v.s.nsems).map(|i| Ok(v.val(i)? as u16)).collect()
}

/// `SETVAL`/`SETALL`: the values, their last pid and every process's
/// adjustment for them, all or nothing under SIGKILL at any instruction:
/// one [`E_SET`] entry per semaphore in the journal, committed, then
/// applied (a holder killed after the commit leaves it to the next lock
/// holder's [`redo`]). Then the sleepers that can now proceed go.
fn set_values(v: &View<'_>, vals: &[(usize, i32)]) -> Result<()> {
    let me = my_pid();
    let mut flag = SET_NO_UNDO;
    for u in 0..v.s.nundo {
        if v.uslot(u)?.pid.load(Ordering::Relaxed) != 0 {
            flag = 0;
            break;
        }
    }
    let mut txn = Txn::default();
    txn.more.reserve(vals.len().saturating_sub(8));
    for &(n, x) in vals {
        v.sem(n)?; // range-checked before anything is written
        txn.push(ent(E_SET, n | flag, x));
    }
    if txn.n <= v.s.jcap() {
        v.hdr().jpid.store(me, Ordering::Relaxed);
        txn.commit_journaled(v)?;
    } else {
        // A set made by an older version, its journal too small for a
        // SETALL: as before, value by value.
        for &(n, x) in vals {
            for u in 0..v.s.nundo {
                v.adj(u, n)?.store(0, Ordering::Relaxed);
            }
            let s = v.sem(n)?;
            s.val.store(x, Ordering::Relaxed);
            s.pid.store(me, Ordering::Relaxed);
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
    if !(0..=SEMVMX).contains(&val) {
        return Err(Errno::ERANGE);
    }
    let _g = lock_change(o)?;
    let v = locked_view(o)?;
    if num < 0 || num as usize >= v.s.nsems {
        return Err(Errno::EINVAL);
    }
    o.perm().check_mine(Access::Write)?;
    set_values(&v, &[(num as usize, val)])
}

/// `SETALL`: `vals` must hold exactly the set's size (checked by the
/// caller through [`nsems`]); `ERANGE` for a value above SEMVMX.
pub fn setall(o: &Obj, vals: &[u16]) -> Result<()> {
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
    set_values(&v, &pairs)
}

/// Releases a mutex made of semaphore 0 (`+1` with `SEM_UNDO`), `EPERM`
/// when it is not held (value not 0), checked under the lock.
pub fn unlock_mutex(o: &Obj) -> Result<()> {
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
    if o.is_removed() {
        return Err(Errno::EIDRM);
    }
    o.perm().check_mine(Access::Write)?;
    if v.val(0)? != 0 {
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
    let v = View::new(o)?;
    let p = o.perm();
    if need_read {
        p.check_mine(Access::Read)?;
    }
    Ok(Stat {
        perm: p,
        otime: v.hdr().otime.load(Ordering::Relaxed),
        ctime: o.header().ctime.load(Ordering::Relaxed),
        nsems: v.s.nsems,
    })
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
    // Without the lock when it cannot be had in CTL_BOUND: the permission
    // block's words are stored one by one either way.
    let _g = lock_ctl(o);
    if o.is_removed() {
        return Err(Errno::EIDRM);
    }
    // Obj::set_perm also gives the object file the mode the new IPC mode
    // implies (so that the users it now grants can open the file).
    o.set_perm(&crate::sync::proc::creds(), uid, gid, mode)
}

/// `IPC_RMID`: removes the set; every sleeper returns `EIDRM`.
///
/// When the lock cannot be had in CTL_BOUND (a holder stopped, or a
/// scribbled lock word), the set is removed without it: every sleeper is
/// told `EIDRM` through its own slot word, and a stalled holder that
/// resumes finishes on a removed set.
pub fn remove(ns: &Ns, o: &Obj) -> Result<()> {
    let g = lock_ctl(o);
    if o.is_removed() {
        return Err(Errno::EIDRM);
    }
    o.check_owner(&crate::sync::proc::creds())?;
    // The slots ever written, found while the file still has its name.
    let view = View::new(o);
    let used: Vec<usize> = view
        .as_ref()
        .map_or(Vec::new(), |v| wslots_used(v).collect());
    ns.remove(o, false);
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
                    futex_wake(&w.state, 1);
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

    struct TmpNs(std::path::PathBuf, Ns);
    impl Drop for TmpNs {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn tmp_ns(tag: &str) -> TmpNs {
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
        // An adjustment to clear, in some undo slot.
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
    fn dead_process_undo_is_applied_and_clamped() {
        let t = tmp_ns("undo");
        let o = get(&t.1, 0, 2, IPC_CREAT_FLAG | 0o600, &[3, 1]).unwrap();
        let v = View::new(&o).unwrap();
        // Slot 5 belongs to a process that cannot exist: it took 2 of sem 0
        // (adj +2) and gave 4 to sem 1 (adj -4).
        let us = v.uslot(5).unwrap();
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

    const IPC_CREAT_FLAG: i32 = crate::ns::IPC_CREAT;
}
