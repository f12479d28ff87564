//! System V shared memory: the engine behind `ripc_shmget`, `ripc_shmat`,
//! `ripc_shmdt` and `ripc_shmctl`.
//!
//! A segment is an object file of the namespace (see [`crate::ns`]) and
//! a payload file of its own ([`Obj::data_file`]):
//!
//! ```text
//! 0      ObjHeader (perm, ctime, cpid, robust lock)        256 bytes
//! 256    ShmCtl: magic, segsz, atime, dtime, lpid, …         64 bytes
//! 320    attach table: NSLOTS × {pid, count, start time}
//! …      padding to a page boundary (Obj::data_range().0)
//! payload file: the segment's bytes (zero-filled by ftruncate)
//! ```
//!
//! The object file is read-write for every class the IPC mode grants
//! anything (a read-only attacher writes its slot); the payload file's
//! mode is exactly the IPC mode's read and write bits, and `SHM_RDONLY`
//! maps it from a read-only descriptor, so the file system keeps a user
//! granted only read from writing the segment's data.
//!
//! Attachments are counted per process: the slot of `(pid, start time)`
//! holds how many attachments that process has. `shm_nattch` is the sum
//! over slots whose process is alive and still maps the segment (a
//! process that exited, was killed or exec'd stops counting). This
//! process's own slot always equals its private attach table ([`ATTS`]),
//! and `fork` counts for the child ([`fork_parent`], [`fork_child`]).
//!
//! Everything read from the control area is checked: a wrong magic, a
//! slot count other than [`NSLOTS`] or a size beyond the file gives `EIO`.

use crate::error::{Errno, Result};
use crate::ns::{owner_errno, Access, CreateSpec, Kind, Ns, Obj, Perm, IPC_CREAT, IPC_EXCL};
use crate::os::creds::creds;
use crate::os::proc::{alive, map_lines, my_pid, my_start, on_fork_child};
use crate::sync::time::now_secs;
use crate::sync::Deadline;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::os::fd::AsRawFd;
use std::sync::Arc;

pub use crate::ns::consts::{SHM_DEST, SHM_EXEC, SHM_LOCKED, SHM_RDONLY, SHM_REMAP, SHM_RND};
/// Attach address granularity (the page size on x86-64 and arm64).
/// cbindgen:ignore
pub const SHMLBA: usize = 4096;
/// `SHMMIN`: the smallest segment.
/// cbindgen:ignore
pub const SHMMIN: u64 = 1;
/// `shmget` flag: huge pages (ripc: ordinary pages; the privilege check
/// is the kernel's).
/// cbindgen:ignore
pub const SHM_HUGETLB: i32 = 0o4000;
/// `shmget` flag: reserve no storage at creation.
/// cbindgen:ignore
pub const SHM_NORESERVE: i32 = 0o10000;
/// Processes that can attach one segment at the same time.
/// cbindgen:ignore
pub const NSLOTS: usize = 512;

const SHM_MAGIC: u64 = u64::from_le_bytes(*b"RIPCSHM1");
const SLOTS_OFF: usize = 64;
const SLOT_LEN: usize = 16;
const CTL_LEN: usize = SLOTS_OFF + NSLOTS * SLOT_LEN;
const PAGE: u64 = 4096;

#[repr(C)]
#[derive(Debug)]
struct ShmCtl {
    magic: AtomicU64,
    segsz: AtomicU64,
    atime: AtomicI64,
    dtime: AtomicI64,
    lpid: AtomicI32,
    nslots: AtomicU32,
    destroyed: AtomicU32,
    /// slots ever used: scans stop here (untrusted: clamped to NSLOTS)
    hiwater: AtomicU32,
    /// when (seconds) a full sweep last checked every attacher in `/proc`
    /// (see [`sweep`]; 0 in segments made before it was kept)
    verified: AtomicI64,
}

const _: () = assert!(core::mem::size_of::<ShmCtl>() <= SLOTS_OFF);

#[repr(C)]
#[derive(Debug)]
struct Slot {
    pid: AtomicI32,
    count: AtomicU32,
    start: AtomicU64,
}

const _: () = assert!(core::mem::size_of::<Slot>() == SLOT_LEN);

// SAFETY: `#[repr(C)]`, atomics only.
unsafe impl crate::ns::Shared for ShmCtl {}
// SAFETY: as above.
unsafe impl crate::ns::Shared for Slot {}

/// The version of this layout ([`ShmCtl`] at 0, [`Slot`]s from
/// `SLOTS_OFF`), kept in the object header and checked on open: another
/// version is a corrupt segment.
pub const LAYOUT_VERSION: u32 = 1;

/// One attachment made by this process.
#[derive(Debug)]
struct Att {
    addr: usize,
    len: usize,
    obj: Arc<Obj>,
    /// the namespace the segment lives in (destroyed through it at the
    /// last detach)
    ns: Arc<Ns>,
}

/// This process's attachments. Lock order: `ATTS`, then an object lock.
///
/// Its own small lock, not a `std::sync::Mutex`: `fork` must not leave
/// the child with this lock held by a thread that does not exist there.
/// The `pthread_atfork` prepare handler takes it (so no other thread is
/// inside at the fork) and the parent and child handlers release it
/// ([`fork_prepare`], [`fork_parent`], [`fork_child`]).
static ATTS: AttsLock = AttsLock {
    word: AtomicU32::new(0),
    fork_held: AtomicBool::new(false),
    v: core::cell::UnsafeCell::new(Vec::new()),
};

/// A futex lock around the attach table: 0 free, 1 held, 2 held with
/// sleepers (process-private memory, not shared with anyone).
struct AttsLock {
    word: AtomicU32,
    /// set by [`fork_prepare`] once it holds the lock, read (and cleared)
    /// by the child's handler, which is registered apart from the other
    /// two and could run without it (a fork while [`install_fork_hook`]
    /// runs)
    fork_held: AtomicBool,
    v: core::cell::UnsafeCell<Vec<Att>>,
}

// SAFETY: the Vec is only reached through an `AttsGuard`, which exists
// only while `word` is held (mutual exclusion); `Att` is Send.
unsafe impl Sync for AttsLock {}

impl AttsLock {
    fn raw_lock(&self) {
        if self
            .word
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
        loop {
            // Mark contended, then sleep while it stays so.
            if self.word.swap(2, Ordering::Acquire) == 0 {
                return;
            }
            let _ = crate::sync::futex_wait(&self.word, 2, None);
        }
    }

    fn raw_unlock(&self) {
        if self.word.swap(0, Ordering::Release) == 2 {
            crate::sync::futex_wake(&self.word, 1);
        }
    }

    /// The table, for a caller that holds the lock without a guard (the
    /// fork handlers, between prepare and parent/child).
    ///
    /// # Safety
    /// The caller holds the lock (took it with `raw_lock`) and makes no
    /// other reference to the table meanwhile.
    #[allow(clippy::mut_from_ref)]
    unsafe fn held(&self) -> &mut Vec<Att> {
        // SAFETY: per the contract, we hold the lock: exclusive access.
        unsafe { &mut *self.v.get() }
    }
}

/// The attach table, locked.
struct AttsGuard;

impl core::ops::Deref for AttsGuard {
    type Target = Vec<Att>;
    fn deref(&self) -> &Vec<Att> {
        // SAFETY: an AttsGuard exists only while ATTS is held by us.
        unsafe { &*ATTS.v.get() }
    }
}

impl core::ops::DerefMut for AttsGuard {
    fn deref_mut(&mut self) -> &mut Vec<Att> {
        // SAFETY: an AttsGuard exists only while ATTS is held by us, and
        // `&mut self` makes this the only reference through it.
        unsafe { &mut *ATTS.v.get() }
    }
}

impl Drop for AttsGuard {
    fn drop(&mut self) {
        ATTS.raw_unlock();
    }
}

fn atts() -> AttsGuard {
    ATTS.raw_lock();
    AttsGuard
}

/// What `IPC_STAT` reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShmStat {
    /// owner, creator, mode (with `SHM_DEST`/`SHM_LOCKED`), key
    pub perm: Perm,
    /// size in bytes
    pub segsz: u64,
    /// last attach, detach, change
    pub atime: i64,
    /// last detach
    pub dtime: i64,
    /// last change
    pub ctime: i64,
    /// creator pid
    pub cpid: i32,
    /// last shmat/shmdt pid
    pub lpid: i32,
    /// current attachments
    pub nattch: u64,
}

/// What `IPC_INFO` and `SHM_INFO` report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShmInfo {
    /// largest segment
    pub shmmax: u64,
    /// smallest segment
    pub shmmin: u64,
    /// segments in the namespace
    pub shmmni: u64,
    /// segments one process may attach
    pub shmseg: u64,
    /// total pages
    pub shmall: u64,
    /// segments in use
    pub used_ids: i32,
    /// pages of all segments
    pub shm_tot: u64,
    /// pages resident (ripc: same as `shm_tot`, a documented difference)
    pub shm_rss: u64,
    /// highest index in use (0 when none), the return value
    pub maxidx: i32,
}

fn ctl(obj: &Obj) -> Result<&ShmCtl> {
    obj.check_layout(LAYOUT_VERSION)?;
    let c: &ShmCtl = obj.at(0)?;
    if c.magic.load(Ordering::Acquire) != SHM_MAGIC
        || !obj.data_apart()
        || c.nslots.load(Ordering::Relaxed) as usize != NSLOTS
        || obj.ctl_len() < CTL_LEN
        || c.segsz.load(Ordering::Relaxed) > obj.data_range().1
        || c.segsz.load(Ordering::Relaxed) < SHMMIN
    {
        return Err(Errno::EIO);
    }
    // A file cut short under the mapping would turn the next access into
    // SIGBUS: refuse it (the payload, a file of its own, is checked by
    // `shmat`, the one call that maps it).
    let st = obj.stat()?;
    if (st.st_size as u64) < obj.data_range().0 {
        return Err(Errno::EIO);
    }
    Ok(c)
}

fn slot(obj: &Obj, i: usize) -> Result<&Slot> {
    if i >= NSLOTS {
        return Err(Errno::EIO);
    }
    obj.at(SLOTS_OFF + i * SLOT_LEN)
}

/// True when `a` and `b` are the same segment (ids alone may repeat
/// across the namespaces one process uses).
fn same(a: &Obj, b: &Obj) -> bool {
    a.file_id() == b.file_id()
}

/// Slots in use so far (only those are scanned, so a new segment's table
/// costs one page, not the three its 512 slots span).
fn hiwater(obj: &Obj) -> usize {
    obj.at::<ShmCtl>(0)
        .map(|c| (c.hiwater.load(Ordering::Relaxed) as usize).min(NSLOTS))
        .unwrap_or(NSLOTS)
}

fn page_round(n: u64) -> u64 {
    n.div_ceil(PAGE) * PAGE
}

/// Repairs after a lock holder died: a slot half-claimed (pid set, count
/// zero) is freed. Everything else is single-word stores, already whole.
fn repair(obj: &Obj) {
    crate::debug_report!("segment {}: repaired after a lock holder died", obj.id);
    for i in 0..hiwater(obj) {
        if let Ok(s) = slot(obj, i) {
            if s.count.load(Ordering::Relaxed) == 0 {
                s.pid.store(0, Ordering::Relaxed);
            }
        }
    }
}

/// How many attachments of `obj` this process holds, by its own table.
fn local_count(atts: &[Att], obj: &Obj) -> u32 {
    atts.iter().filter(|a| same(&a.obj, obj)).count() as u32
}

/// True when process `pid` maps the segment's payload file `data` (its
/// device and inode, [`Obj::data_id`]; checked in `/proc/<pid>/maps`). An
/// unreadable maps file (another user's process), or a payload that
/// cannot be seen (`None`), counts as "still maps it".
fn maps_segment(pid: i32, data: Option<(u64, u64)>) -> bool {
    let Some((dev, ino)) = data else {
        return true;
    };
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
        return true;
    };
    let ino = ino.to_string();
    let dev = format!("{:02x}:{:02x}", libc::major(dev), libc::minor(dev));
    let maps = map_lines(&text).any(|m| m.ino == ino && m.dev == dev);
    maps
}

/// How much a [`sweep`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sweep {
    /// This process's own slot only: `shmat`, `shmdt`, `shmget`,
    /// `IPC_SET`, `SHM_LOCK` of a live segment (nothing they do depends
    /// on other processes' counts).
    Mine,
    /// Every slot, dead attachers forgotten: `IPC_STAT`, `SHM_STAT`,
    /// `IPC_RMID` (destroys at once when nobody attaches), a full slot
    /// table.
    Full,
}

/// Under the object lock: makes this process's slot equal its own table
/// and returns `nattch`. With `full` (or on a removed segment, whose
/// destruction depends on the count) it also forgets dead (or exec'd)
/// attachers, which reads `/proc/<pid>/stat` and `/proc/<pid>/maps` for
/// each other attacher; without, their slots are counted as they stand.
/// Only the calls that report or decide on the count pass `full` (see
/// [`Sweep`]). Destroys a removed segment nobody attaches any more.
fn sweep(ns: &Ns, obj: &Obj, c: &ShmCtl, atts: &[Att], full: Sweep) -> Result<u64> {
    let full = full == Sweep::Full || obj.perm().mode & SHM_DEST != 0;
    let (me, my_st) = (my_pid(), my_start());
    let now = now_secs();
    // At most once per VERIFY_SECS a full sweep checks every attacher in
    // /proc (pid reuse, a raw-fork child holding a dead parent's mark, a
    // process that unmapped without shmdt); otherwise a liveness mark
    // held is enough (see `live`).
    let verify = full && now.wrapping_sub(c.verified.load(Ordering::Relaxed)) >= VERIFY_SECS;
    if verify {
        c.verified.store(now, Ordering::Relaxed);
    }
    let ix = ns.index();
    let mut total: u64 = 0;
    let mut mine_seen = false;
    // The payload's identity, looked up once (only a full sweep needs it).
    let data = std::cell::OnceCell::new();
    for i in 0..hiwater(obj) {
        let s = slot(obj, i)?;
        let pid = s.pid.load(Ordering::Relaxed);
        if pid == 0 {
            continue;
        }
        let start = s.start.load(Ordering::Relaxed);
        let n = s.count.load(Ordering::Relaxed);
        if is_mine(pid, start, me, my_st) {
            if mine_seen {
                s.pid.store(0, Ordering::Relaxed); // a duplicate: scribbled
                continue;
            }
            mine_seen = true;
            let n = local_count(atts, obj);
            s.start.store(my_st, Ordering::Relaxed);
            s.count.store(n, Ordering::Relaxed);
            if n == 0 {
                s.pid.store(0, Ordering::Relaxed);
            }
            total += n as u64;
            continue;
        }
        if n == 0 || (full && !live(ix, pid, start, verify, &data, obj)) {
            s.count.store(0, Ordering::Relaxed);
            s.pid.store(0, Ordering::Relaxed);
            if n != 0 {
                // The kernel records the exiting process as the last user.
                c.dtime.store(now_secs(), Ordering::Relaxed);
                c.lpid.store(pid, Ordering::Relaxed);
            }
            continue;
        }
        total = total.saturating_add(n as u64);
    }
    if !mine_seen {
        // Our slot was lost (scribbled): our own table is the truth.
        let n = local_count(atts, obj);
        if n > 0 {
            add_mine(obj, n)?;
            total += n as u64;
        }
    }
    if total == 0 && obj.perm().mode & SHM_DEST != 0 {
        destroy(ns, obj, c);
    }
    Ok(total)
}

/// Seconds between two checks of every attacher in `/proc` by full
/// sweeps of one segment (see [`sweep`]).
const VERIFY_SECS: i64 = 2;

/// Whether the attacher `(pid, start)` still counts, for a full sweep: a
/// liveness mark held (one `fcntl`, see `ns::index`) says yes, unless
/// `verify`; otherwise `/proc` decides, as before the marks: alive (start
/// time) and still mapping the payload (`/proc/<pid>/maps`). So a dead or
/// exec'd attacher (its mark dropped with its descriptor) is found at
/// once, and what only `/proc` shows (pid reuse, an unmapping without
/// `shmdt`) within [`VERIFY_SECS`].
fn live(
    ix: Option<&crate::ns::index::Index>,
    pid: i32,
    start: u64,
    verify: bool,
    data: &std::cell::OnceCell<Option<(u64, u64)>>,
    obj: &Obj,
) -> bool {
    if !verify && ix.and_then(|ix| ix.marked_alive(pid)) == Some(true) {
        return true;
    }
    alive(pid, start) && maps_segment(pid, *data.get_or_init(|| obj.data_id()))
}

/// Ends a removed segment nobody attaches any more (under the lock): the
/// `destroyed` flag, and its last name unlinked. The file is not cut
/// short: a process may map it without being counted (a child made by a
/// raw `fork` system call, which runs no `pthread_atfork` handler), and
/// shrinking the file under its mapping would turn its next access into
/// `SIGBUS`. The file system frees the pages when the last mapping and the
/// last descriptor go (each process drops removed objects from its cache
/// at its next look-up of another object).
fn destroy(ns: &Ns, obj: &Obj, c: &ShmCtl) {
    drop_stash_of(obj);
    if c.destroyed.swap(1, Ordering::AcqRel) != 0 {
        return;
    }
    ns.remove(obj, true);
    ns.unlink_id(obj);
}

/// True when slot `(pid, start)` is this process's: its own, or one a
/// parent made for it at `fork` (start time not known then).
fn is_mine(pid: i32, start: u64, me: i32, my_st: u64) -> bool {
    pid == me && (start == my_st || start == 0)
}

/// This process's slot, if it has one (taking over, with its start time,
/// one its parent made for it at `fork`).
fn my_slot(obj: &Obj) -> Result<Option<&Slot>> {
    let (me, my_st) = (my_pid(), my_start());
    for i in 0..hiwater(obj) {
        let s = slot(obj, i)?;
        if is_mine(
            s.pid.load(Ordering::Relaxed),
            s.start.load(Ordering::Relaxed),
            me,
            my_st,
        ) {
            s.start.store(my_st, Ordering::Relaxed);
            return Ok(Some(s));
        }
    }
    Ok(None)
}

/// Adds `delta` attachments to this process's slot.
fn add_mine(obj: &Obj, delta: u32) -> Result<()> {
    match my_slot(obj)? {
        Some(s) => {
            let n = s.count.load(Ordering::Relaxed).saturating_add(delta);
            s.count.store(n, Ordering::Relaxed);
            Ok(())
        }
        None => add_slot(obj, my_pid(), my_start(), delta),
    }
}

/// Claims a free slot (or a new one below [`NSLOTS`]) for `(pid, start)`
/// with `n` attachments; `ENOMEM` when the table is full.
fn add_slot(obj: &Obj, pid: i32, start: u64, n: u32) -> Result<()> {
    let mut free = None;
    let hw = hiwater(obj);
    for i in 0..hw {
        let s = slot(obj, i)?;
        if s.pid.load(Ordering::Relaxed) == 0 || s.count.load(Ordering::Relaxed) == 0 {
            free = Some(s);
            break;
        }
    }
    let s = match free {
        Some(s) => s,
        None if hw < NSLOTS => {
            // A slot never used before may lie in a page the file does
            // not hold yet: storage first (full file system: ENOMEM).
            let off = SLOTS_OFF + hw * SLOT_LEN;
            // (The file's first page was reserved at creation.)
            if crate::ns::HEADER_LEN + off + SLOT_LEN > crate::ns::CREATE_RESERVE as usize {
                obj.region().populate(off, SLOT_LEN)?;
            }
            let c: &ShmCtl = obj.at(0)?;
            c.hiwater.store(hw as u32 + 1, Ordering::Relaxed);
            slot(obj, hw)?
        }
        None => return Err(Errno::ENOMEM),
    };
    s.count.store(0, Ordering::Relaxed);
    s.start.store(start, Ordering::Relaxed);
    s.pid.store(pid, Ordering::Relaxed);
    s.count.store(n, Ordering::Relaxed);
    Ok(())
}

/// `nattch` as the slots stand, read without the lock (see [`with_obj`]):
/// slots of processes positively dead are not counted (nor cleared: that
/// needs the lock).
fn counted(obj: &Obj) -> u64 {
    (0..hiwater(obj))
        .filter_map(|i| slot(obj, i).ok())
        .filter(|s| {
            let pid = s.pid.load(Ordering::Relaxed);
            pid != 0 && alive(pid, s.start.load(Ordering::Relaxed))
        })
        .map(|s| s.count.load(Ordering::Relaxed) as u64)
        .fold(0u64, |a, b| a.saturating_add(b))
}

fn stat_of(obj: &Obj, c: &ShmCtl, nattch: u64) -> ShmStat {
    let h = obj.header();
    let mut perm = obj.perm();
    perm.mode &= 0o777 | SHM_DEST | SHM_LOCKED;
    ShmStat {
        perm,
        segsz: c.segsz.load(Ordering::Relaxed),
        atime: c.atime.load(Ordering::Relaxed),
        dtime: c.dtime.load(Ordering::Relaxed),
        ctime: h.ctime.load(Ordering::Relaxed),
        cpid: h.cpid.load(Ordering::Relaxed),
        lpid: c.lpid.load(Ordering::Relaxed),
        nattch,
    }
}

/// Looks a segment up by id (a removed one awaiting its last detach too,
/// as Linux allows) and runs `f` with the attach table and the object
/// lock held, after a sweep. `EINVAL` once destroyed.
fn with_seg<T>(
    ns: &Ns,
    id: i32,
    how: Sweep,
    f: impl FnOnce(&Arc<Obj>, &ShmCtl, &mut Vec<Att>, u64) -> Result<T>,
) -> Result<T> {
    let obj = ns.by_id_opt(Kind::Shm, id, true)?;
    let mut a = atts();
    with_obj(ns, &obj, &mut a, how, f)
}

fn with_obj<T>(
    ns: &Ns,
    obj: &Arc<Obj>,
    a: &mut Vec<Att>,
    how: Sweep,
    f: impl FnOnce(&Arc<Obj>, &ShmCtl, &mut Vec<Att>, u64) -> Result<T>,
) -> Result<T> {
    // A segment whose file lost its name was destroyed (by a process
    // that may unlink it): a stale id, EINVAL as the kernel says.
    ctl(obj).map_err(|e| if e == Errno::EIDRM { Errno::EINVAL } else { e })?;
    with_obj_checked(ns, obj, a, how, f)
}

/// [`with_obj`] for a caller that has just checked `ctl(obj)` itself (one
/// `fstatat` less).
fn with_obj_checked<T>(
    ns: &Ns,
    obj: &Arc<Obj>,
    a: &mut Vec<Att>,
    how: Sweep,
    f: impl FnOnce(&Arc<Obj>, &ShmCtl, &mut Vec<Att>, u64) -> Result<T>,
) -> Result<T> {
    let c: &ShmCtl = obj.at(0)?;
    // The lock within CTL_BOUND (the kernel never blocks these calls): when
    // a holder is stopped or the lock word was scribbled on, the call goes
    // on without it and without the sweep — counts as they stand; this
    // process's own slot is brought up to date by its next locked call,
    // and a segment destroyed meanwhile keeps its pages under every
    // mapping (destroy never shrinks the file).
    let g = obj.lock_bounded(&repair, &Deadline::ctl()).ok();
    if c.destroyed.load(Ordering::Acquire) != 0 {
        // Destroyed, but its name may remain: in a sticky namespace only
        // the file's owner (the creator) or root may unlink it, so a
        // later caller who can finishes the job.
        ns.unlink_id(obj);
        return Err(Errno::EINVAL);
    }
    let n = match g {
        Some(_) => sweep(ns, obj, c, a, how)?,
        None => counted(obj),
    };
    if c.destroyed.load(Ordering::Acquire) != 0 {
        return Err(Errno::EINVAL);
    }
    f(obj, c, a, n)
}

/// `shmget(2)`: the segment with `key` (or a new one), of at least `size`
/// bytes. A new segment, in the kernel's order (`newseg`): `EINVAL` for
/// size 0 or above `shmmax`, `ENOSPC` above `shmall` pages, `EPERM` for
/// [`SHM_HUGETLB`] without privilege, `ENOMEM` when the namespace's file
/// system cannot hold it; its storage is then reserved (`fallocate`, unless
/// [`SHM_NORESERVE`]), so that a full file system fails here, not with
/// `SIGBUS` at the first touch. An existing one: `EINVAL` when smaller
/// than `size`.
pub fn shmget(ns: &Ns, key: i32, size: usize, flags: i32) -> Result<i32> {
    let limits = ns.limits();
    let size = size as u64;
    let valid = (SHMMIN..=limits.shmmax).contains(&size);
    let ctl_len = (crate::ns::HEADER_LEN + CTL_LEN).next_multiple_of(PAGE as usize) as u64;
    // The checks a new segment must pass before its file is written at
    // all (the namespace writes the new file's header before `init`: on a
    // full file system that write would be a SIGBUS).
    let refused = || -> Result<()> {
        if page_round(size) / PAGE > limits.shmall {
            return Err(Errno::ENOSPC);
        }
        if flags & SHM_HUGETLB != 0 && !hugetlb_allowed() {
            return Err(Errno::EPERM);
        }
        room_for(ns, ctl_len.saturating_add(size))
    };
    let prechecked = valid && (key == crate::ns::IPC_PRIVATE || flags & IPC_CREAT != 0);
    if prechecked {
        let checked = refused().or_else(|e| match e {
            // Room that dead attachers of removed segments still hold
            // first (see `reclaim`).
            Errno::ENOMEM | Errno::ENOSPC => {
                reclaim(ns);
                refused()
            }
            e => Err(e),
        });
        if let Err(e) = checked {
            // Unless the key names an existing segment (then the size only
            // has to fit in it, as with the kernel).
            if key == crate::ns::IPC_PRIVATE || matches!(ns.by_key(Kind::Shm, key), Ok(None)) {
                return Err(e);
            }
        }
    }
    let created = core::cell::Cell::new(false);
    let built = core::cell::Cell::new(None);
    let stashed = core::cell::Cell::new(false);
    let init = |obj: &Obj| -> Result<()> {
        if !valid {
            return Err(Errno::EINVAL);
        }
        if !prechecked {
            refused()?;
        }
        if limits.shmall < crate::ns::limits::TABLE[4].1 {
            let pages = page_round(size) / PAGE;
            if total_pages(ns).saturating_add(pages) > limits.shmall {
                return Err(Errno::ENOSPC);
            }
        }
        if flags & SHM_NORESERVE == 0 {
            reserve(obj, size)?;
            stashed.set(true);
        }
        let c: &ShmCtl = obj.at(0)?;
        c.segsz.store(size, Ordering::Relaxed);
        c.nslots.store(NSLOTS as u32, Ordering::Relaxed);
        c.magic.store(SHM_MAGIC, Ordering::Release);
        created.set(true);
        built.set(Some(obj.file_id()));
        Ok(())
    };
    let check = |obj: &Obj| -> Result<()> {
        let c = ctl(obj)?;
        if c.segsz.load(Ordering::Relaxed) < size {
            return Err(Errno::EINVAL);
        }
        Ok(())
    };
    let spec = CreateSpec {
        ctl_len: CTL_LEN,
        data_len: if valid { size } else { 0 },
        data_apart: true,
        init: &init,
        check_existing: &check,
        layout: LAYOUT_VERSION,
    };
    let get = || {
        ns.get(
            Kind::Shm,
            key,
            flags & (IPC_CREAT | IPC_EXCL | 0o777),
            &spec,
        )
    };
    let got = match get() {
        Err(Errno::ENOSPC | Errno::ENOMEM) => {
            reclaim(ns);
            get()
        }
        r => r,
    };
    // A payload built and stashed by a create that then failed, or lost
    // its key to another creator, is no segment's: its pages go now.
    if stashed.get()
        && got
            .as_ref()
            .map_or(true, |o| built.get() != Some(o.file_id()))
    {
        drop_stash();
    }
    let obj = got?;
    if created.get() {
        // For the shmall check (see `total_pages`), when the file is the
        // one this call built (not a winner's after a lost race).
        if built.get() == Some(obj.file_id()) {
            ns.note_size(&obj, page_round(size) / PAGE);
        }
        return Ok(obj.id); // new: nobody attaches it yet
    }
    // Notice dead attachers of the segment we hand out.
    let a = atts();
    if let Ok(c) = ctl(&obj) {
        if let Ok(_g) = obj.lock_bounded(&repair, &Deadline::ctl()) {
            let _ = sweep(ns, &obj, c, &a, Sweep::Mine);
        }
    }
    Ok(obj.id)
}

/// Whether the caller may ask for huge pages: the kernel's
/// `can_do_hugetlb_shm` (`CAP_IPC_LOCK`, here root, or membership of the
/// group in `/proc/sys/vm/hugetlb_shm_group`). ripc then uses ordinary
/// pages (a file in the namespace directory cannot be huge-page backed).
fn hugetlb_allowed() -> bool {
    let me = creds();
    if me.privileged() {
        return true;
    }
    std::fs::read_to_string("/proc/sys/vm/hugetlb_shm_group")
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok())
        .is_some_and(|g| me.in_group(g))
}

/// `ENOMEM` unless the namespace's file system has `bytes` free (for the
/// caller: root may use the blocks reserved for it). A file system that
/// reports no size (an unlimited tmpfs) has room.
pub(crate) fn room_for(ns: &Ns, bytes: u64) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(ns.dir().as_os_str().as_bytes()) else {
        return Ok(());
    };
    // SAFETY: statvfs of a NUL-terminated path into a zeroed buffer.
    let st = unsafe {
        let mut st: libc::statvfs = core::mem::zeroed();
        if libc::statvfs(path.as_ptr(), &mut st) != 0 {
            return Ok(()); // cannot tell: fallocate will
        }
        st
    };
    if st.f_blocks == 0 {
        return Ok(());
    }
    let free = if creds().privileged() {
        st.f_bfree
    } else {
        st.f_bavail
    };
    let avail = (free as u64).saturating_mul(st.f_frsize as u64);
    if bytes > avail {
        return Err(Errno::ENOMEM);
    }
    Ok(())
}

/// Reserves the storage of a new segment's control area and of the first
/// `len` bytes of its payload file, so that no access to them can fail
/// later: `ENOMEM` when the file system cannot hold it (the kernel's
/// answer when memory for a segment is short). A file system without
/// `fallocate` keeps the sparse files.
///
/// The control area needs nothing here: the namespace reserved its first
/// page (header, `ShmCtl` and the first 236 slots), and [`add_slot`]
/// reserves each further page of the slot table when it is first used.
fn reserve(obj: &Obj, len: u64) -> Result<()> {
    let f = obj.data_file(true)?;
    reserve_fd(f.as_raw_fd(), 0, len)?;
    stash_payload(obj, f);
    Ok(())
}

/// The payload descriptor of the segment this process created last,
/// read-write, kept for its first read-write `shmat` (create, then attach,
/// is the common pattern: that attach then needs no open and no owner
/// check). One descriptor per process at most: the next create replaces
/// it, the attach takes it. Keyed by the control file's device and inode.
/// Atomics, not a lock: a child of `fork` inherits it consistent or not
/// at all (a torn key only costs a reopen).
static STASH_FD: AtomicI32 = AtomicI32::new(-1);
static STASH_DEV: AtomicU64 = AtomicU64::new(0);
static STASH_INO: AtomicU64 = AtomicU64::new(0);

fn stash_payload(obj: &Obj, f: std::os::fd::OwnedFd) {
    use std::os::fd::IntoRawFd;
    // A child of fork must not keep it (see fork_child).
    on_fork_child(fork_child);
    let (dev, ino) = obj.file_id();
    drop_stash();
    STASH_DEV.store(dev, Ordering::Relaxed);
    STASH_INO.store(ino, Ordering::Relaxed);
    STASH_FD.store(f.into_raw_fd(), Ordering::Release);
}

/// Closes the stashed payload descriptor, if any: its segment's pages
/// must not outlive the segment's removal because of it.
fn drop_stash() {
    let old = STASH_FD.swap(-1, Ordering::AcqRel);
    if old >= 0 {
        // SAFETY: closing the descriptor we stashed (taken out above).
        unsafe { libc::close(old) };
    }
}

/// [`drop_stash`] if the stash is `obj`'s (at its removal).
fn drop_stash_of(obj: &Obj) {
    if (
        STASH_DEV.load(Ordering::Relaxed),
        STASH_INO.load(Ordering::Relaxed),
    ) == obj.file_id()
    {
        drop_stash();
    }
}

/// The stashed payload descriptor, if it is `obj`'s (taken: the stash is
/// then empty); a stash of another segment is closed.
fn take_stash(obj: &Obj) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    let key = (
        STASH_DEV.load(Ordering::Relaxed),
        STASH_INO.load(Ordering::Relaxed),
    );
    let fd = STASH_FD.swap(-1, Ordering::AcqRel);
    if fd < 0 {
        return None;
    }
    // SAFETY: the descriptor stash_payload kept, now ours alone.
    let f = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    (key == obj.file_id()).then_some(f)
}

/// [`reserve`] of bytes `[off, off + len)` of an object's file.
pub(crate) fn reserve_range(obj: &Obj, off: u64, len: u64) -> Result<()> {
    let f = obj.file()?;
    reserve_fd(f.as_raw_fd(), off, len)
}

/// [`reserve_range`] on a descriptor.
fn reserve_fd(fd: i32, off: u64, len: u64) -> Result<()> {
    let off = libc::off_t::try_from(off).map_err(|_| Errno::ENOMEM)?;
    let len = libc::off_t::try_from(len).map_err(|_| Errno::ENOMEM)?;
    // SAFETY: allocating blocks of a file the caller holds open; fallocate
    // with mode 0 never changes existing contents.
    if unsafe { libc::fallocate(fd, 0, off, len) } == 0 {
        return Ok(());
    }
    match Errno::last() {
        Errno::EOPNOTSUPP | Errno::ENOSYS => Ok(()),
        _ => Err(Errno::ENOMEM),
    }
}

/// Pages of every segment in the namespace (for the `shmall` check):
/// from the index hint's recorded sizes at constant cost (see
/// `ns::index`); by opening every segment when the hint is missing or
/// stale.
fn total_pages(ns: &Ns) -> u64 {
    if let Some((_, _, pages)) = ns.in_use_size(Kind::Shm) {
        return pages;
    }
    ns.indexes(Kind::Shm)
        .into_iter()
        .filter_map(|i| ns.by_index(Kind::Shm, i).ok())
        .filter_map(|o| {
            ctl(&o)
                .ok()
                .map(|c| page_round(c.segsz.load(Ordering::Relaxed)) / PAGE)
        })
        .fold(0u64, |a, b| a.saturating_add(b))
}

/// `shmat(2)`: maps segment `id` at `addr` (0: anywhere) and returns the
/// address and the segment's size (`shm_segsz`, loaded for the mapping
/// anyway: the native API reports it without a second lookup). Flags:
/// [`SHM_RDONLY`], [`SHM_RND`], [`SHM_REMAP`], [`SHM_EXEC`].
pub fn shmat(ns: &Arc<Ns>, id: i32, addr: usize, flags: i32) -> Result<(usize, u64)> {
    install_fork_hook();
    if id < 0 {
        return Err(Errno::EINVAL);
    }
    let mut addr = addr;
    if addr != 0 {
        if addr % SHMLBA != 0 {
            if flags & SHM_RND == 0 {
                return Err(Errno::EINVAL);
            }
            addr &= !(SHMLBA - 1);
            if addr == 0 {
                return Err(Errno::EINVAL);
            }
        }
    } else if flags & SHM_REMAP != 0 {
        return Err(Errno::EINVAL);
    }
    let (mut prot, mut want) = if flags & SHM_RDONLY != 0 {
        (libc::PROT_READ, 0o444)
    } else {
        (libc::PROT_READ | libc::PROT_WRITE, 0o666)
    };
    if flags & SHM_EXEC != 0 {
        prot |= libc::PROT_EXEC;
        want |= 0o111;
    }
    let (p, segsz, replaced) = with_seg(ns, id, Sweep::Mine, |obj, c, a, _| {
        obj.perm().check_bits(&creds(), want)?;
        let segsz = c.segsz.load(Ordering::Relaxed);
        // ctl() checked segsz, but before the lock, and the word lies in a
        // file any process may scribble on: check the value we map with
        // against the payload file, or a larger one would map past its end.
        if segsz > obj.data_range().1 {
            return Err(Errno::EIO);
        }
        // The payload is opened as the attachment may use it: read-only
        // for SHM_RDONLY, so that the kernel itself refuses to make the
        // mapping writable (mprotect: EACCES); the file's mode is the IPC
        // mode's read and write bits, so the file system checks the caller
        // too. Errors mapping: a missing payload (scribbled) is EIO.
        let stashed = if flags & SHM_RDONLY == 0 {
            take_stash(obj)
        } else {
            None
        };
        let file = match stashed {
            Some(f) => f,
            None => obj.data_file(flags & SHM_RDONLY == 0).map_err(|e| {
                if e == Errno::EIDRM {
                    Errno::EIO
                } else {
                    e
                }
            })?,
        };
        let st = crate::ns::fstat(file.as_raw_fd())?;
        if (st.st_size as u64) < segsz {
            return Err(Errno::EIO);
        }
        let len = usize::try_from(page_round(segsz)).map_err(|_| Errno::ENOMEM)?;
        let mut mflags = libc::MAP_SHARED;
        if addr != 0 {
            addr.checked_add(len).ok_or(Errno::EINVAL)?;
            mflags |= if flags & SHM_REMAP != 0 {
                libc::MAP_FIXED
            } else {
                libc::MAP_FIXED_NOREPLACE
            };
        }
        // SAFETY: a shared mapping of the segment's payload file. With an
        // address, MAP_FIXED (SHM_REMAP) replaces the caller's pages there
        // as the kernel's shmat does, at the caller's request; otherwise
        // MAP_FIXED_NOREPLACE never touches existing mappings.
        let p = unsafe {
            libc::mmap(
                addr as *mut libc::c_void,
                len,
                prot,
                mflags,
                file.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(match Errno::last() {
                Errno::EEXIST => Errno::EINVAL,
                Errno::EACCES => Errno::EACCES,
                Errno::EPERM => Errno::EPERM,
                _ => Errno::ENOMEM,
            });
        }
        let p = p as usize;
        if addr != 0 && p != addr {
            // An old kernel took MAP_FIXED_NOREPLACE as a hint.
            // SAFETY: unmapping the mapping we just made.
            unsafe { libc::munmap(p as *mut libc::c_void, len) };
            return Err(Errno::EINVAL);
        }
        // SHM_REMAP over our own attachments replaces them: they end.
        let mut replaced = Vec::new();
        a.retain(|x| {
            let overlap = x.addr < p + len && p < x.addr + x.len;
            if overlap {
                replaced.push((x.obj.clone(), x.ns.clone()));
            }
            !overlap
        });
        ns.hold_alive();
        // A full slot table may hold dead attachers: forget them, once.
        let added = add_mine(obj, 1).or_else(|e| {
            if e != Errno::ENOMEM {
                return Err(e);
            }
            sweep(ns, obj, c, a, Sweep::Full)?;
            add_mine(obj, 1)
        });
        if let Err(e) = added {
            // SAFETY: undoing our own mapping.
            unsafe { libc::munmap(p as *mut libc::c_void, len) };
            return Err(e);
        }
        a.push(Att {
            addr: p,
            len,
            obj: obj.clone(),
            ns: ns.clone(),
        });
        c.atime.store(now_secs(), Ordering::Relaxed);
        c.lpid.store(my_pid(), Ordering::Relaxed);
        Ok((p, segsz, replaced))
    })?;
    // Bring the segments whose attachments SHM_REMAP replaced up to date
    // (one object lock at a time).
    for (o, ons) in replaced {
        if !(o.id == id && ons.same_dir(ns)) {
            let mut a = atts();
            let _ = with_obj(&ons, &o, &mut a, Sweep::Mine, |_, _, _, _| Ok(()));
        }
    }
    Ok((p, segsz))
}

/// `shmdt(2)`: ends the attachment that starts at `addr`. `EINVAL` when
/// no attachment of this process starts there, or (with `of_id`, for the
/// native API's handle check) when the one there is of another segment.
pub fn shmdt(addr: usize, of_id: Option<(&Ns, i32)>) -> Result<()> {
    if addr % SHMLBA != 0 {
        return Err(Errno::EINVAL);
    }
    let mut a = atts();
    let i = a
        .iter()
        .position(|x| {
            x.addr == addr && of_id.map_or(true, |(ns, id)| x.obj.id == id && x.ns.same_dir(ns))
        })
        .ok_or(Errno::EINVAL)?;
    let att = a.swap_remove(i);
    // SAFETY: unmapping an attachment this engine mapped (found in our
    // table); the caller asked for it to go, as with the real shmdt.
    unsafe { libc::munmap(att.addr as *mut libc::c_void, att.len) };
    let obj = att.obj;
    let Ok(c) = ctl(&obj) else {
        return Ok(()); // scribbled: the mapping is gone, nothing to count
    };
    // Within CTL_BOUND; without the lock the count waits for this
    // process's next locked call (its slot follows its own table).
    let Ok(_g) = obj.lock_bounded(&repair, &Deadline::ctl()) else {
        return Ok(());
    };
    if c.destroyed.load(Ordering::Acquire) == 0 {
        c.dtime.store(now_secs(), Ordering::Relaxed);
        c.lpid.store(my_pid(), Ordering::Relaxed);
        let _ = sweep(&att.ns, &obj, c, &a, Sweep::Mine);
    }
    Ok(())
}

/// `IPC_STAT`: needs read permission (`EACCES`).
pub fn stat(ns: &Ns, id: i32) -> Result<ShmStat> {
    with_seg(ns, id, Sweep::Full, |obj, c, _, n| {
        obj.perm().check(&creds(), Access::Read)?;
        Ok(stat_of(obj, c, n))
    })
}

/// `SHM_STAT` (`any == false`: needs read permission) and `SHM_STAT_ANY`:
/// the segment at index `idx`; returns its id and status.
///
/// A segment whose control area was scribbled on (every other call gives
/// `EIO`) is still reported, from its object header (size 0, no
/// attachments), so that listings show it and its owner can remove it.
pub fn stat_index(ns: &Ns, idx: i32, any: bool) -> Result<(i32, ShmStat)> {
    let obj = ns.by_index(Kind::Shm, idx)?;
    let mut a = atts();
    let r = with_obj(ns, &obj, &mut a, Sweep::Full, |obj, c, _, n| {
        if !any {
            obj.perm().check(&creds(), Access::Read)?;
        }
        Ok((obj.id, stat_of(obj, c, n)))
    });
    match r {
        Err(Errno::EIO) if !obj.is_removed() => {
            if !any {
                obj.perm().check(&creds(), Access::Read)?;
            }
            let h = obj.header();
            Ok((
                obj.id,
                ShmStat {
                    perm: obj.perm(),
                    ctime: h.ctime.load(Ordering::Relaxed),
                    cpid: h.cpid.load(Ordering::Relaxed),
                    ..Default::default()
                },
            ))
        }
        r => r,
    }
}

/// Whether the segment with id `id` is intact: `EIO` when its control
/// area was scribbled on (for the tools, which mark such a segment).
pub fn check(ns: &Ns, id: i32) -> Result<()> {
    let obj = ns.by_id_opt(Kind::Shm, id, true)?;
    ctl(&obj).map(|_| ())
}

/// `IPC_SET`: owner, group and mode bits, by the owner, creator or root.
pub fn set(ns: &Ns, id: i32, uid: u32, gid: u32, mode: u32) -> Result<()> {
    with_seg(ns, id, Sweep::Mine, |obj, _, _, _| {
        obj.set_perm(&creds(), uid, gid, mode)
    })
    .map_err(owner_errno)
}

/// `IPC_RMID`: the key finds the segment no more; it is destroyed now if
/// nobody attaches it, else marked `SHM_DEST` and destroyed at the last
/// detach (or death) of its attachers.
///
/// A segment whose control area was scribbled on is removed all the same
/// (its names go; its pages stay under whatever maps them until the last
/// mapping goes, the file is never shrunk).
pub fn rmid(ns: &Ns, id: i32) -> Result<()> {
    let obj = ns.obtain_check(Kind::Shm, id, true, &creds())?;
    match ctl(&obj) {
        Err(Errno::EIO) => {
            drop_stash_of(&obj);
            ns.remove(&obj, false);
            return Ok(());
        }
        // Destroyed by a process that could unlink it: a stale id.
        Err(Errno::EIDRM) => return Err(Errno::EINVAL),
        Err(e) => return Err(e),
        Ok(_) => {}
    }
    let mut a = atts();
    with_obj_checked(ns, &obj, &mut a, Sweep::Full, |obj, c, _, n| {
        obj.check_owner(&creds())?;
        let h = obj.header();
        drop_stash_of(obj);
        if obj.perm().mode & SHM_DEST == 0 {
            ns.remove(obj, true);
            h.perm.mode.fetch_or(SHM_DEST, Ordering::Relaxed);
            h.perm.key.store(crate::ns::IPC_PRIVATE, Ordering::Relaxed);
        }
        if n == 0 {
            destroy(ns, obj, c);
        }
        Ok(())
    })
    .map_err(owner_errno)
}

/// `SHM_LOCK` / `SHM_UNLOCK`: owner, creator or root (`EPERM`). Sets the
/// `SHM_LOCKED` mode bit and locks (unlocks) this process's attachments
/// in memory, best effort (other processes' pages are not pinned).
pub fn lock(ns: &Ns, id: i32, on: bool) -> Result<()> {
    with_seg(ns, id, Sweep::Mine, |obj, c, a, _| {
        let me = creds();
        obj.check_owner(&me)?;
        // The kernel: without CAP_IPC_LOCK, SHM_LOCK needs a non-zero
        // RLIMIT_MEMLOCK (EPERM), and a segment larger than that limit
        // cannot be locked (ENOMEM). (The kernel also adds up the user's
        // other locked segments; ripc checks each segment on its own.)
        let already = obj.header().perm.mode.load(Ordering::Relaxed) & SHM_LOCKED != 0;
        if on && !already && !me.privileged() {
            let mut rl = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit into a local.
            if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut rl) } == 0 {
                if rl.rlim_cur == 0 {
                    return Err(Errno::EPERM);
                }
                let pages = c.segsz.load(Ordering::Relaxed).div_ceil(4096);
                if rl.rlim_cur != libc::RLIM_INFINITY && pages.saturating_mul(4096) > rl.rlim_cur {
                    return Err(Errno::ENOMEM);
                }
            }
        }
        let h = obj.header();
        if on {
            h.perm.mode.fetch_or(SHM_LOCKED, Ordering::Relaxed);
        } else {
            h.perm.mode.fetch_and(!SHM_LOCKED, Ordering::Relaxed);
        }
        for x in a.iter().filter(|x| same(&x.obj, obj)) {
            // SAFETY: (un)locking pages of a mapping this engine made; the
            // call only changes residency, never contents.
            unsafe {
                if on {
                    libc::mlock(x.addr as *const libc::c_void, x.len);
                } else {
                    libc::munlock(x.addr as *const libc::c_void, x.len);
                }
            }
        }
        Ok(())
    })
    .map_err(owner_errno)
}

/// `IPC_INFO`: the limits and the highest index in use, at constant cost
/// (from the index hint, see `Ns::in_use`; no sweep of the segments).
pub fn info_limits(ns: &Ns) -> Result<ShmInfo> {
    let l = ns.limits();
    Ok(ShmInfo {
        shmmax: l.shmmax,
        shmmin: SHMMIN,
        shmmni: l.shmmni,
        shmseg: l.shmmni,
        shmall: l.shmall,
        maxidx: ns.in_use(Kind::Shm).0.max(0),
        ..Default::default()
    })
}

/// `SHM_INFO`: limits and usage, at constant cost: the segments in use,
/// their pages and the highest index come from the namespace's index
/// (one `pread` of its bitmap and one of the recorded sizes, see
/// `ns::index`), as the kernel keeps `shm_tot` and `in_use` as running
/// totals. A segment removed but still attached counts until destroyed,
/// as in the kernel. Where the index is missing or stale, the segments
/// are walked (as [`total_pages`]).
pub fn info(ns: &Ns) -> Result<ShmInfo> {
    let l = ns.limits();
    let mut out = ShmInfo {
        shmmax: l.shmmax,
        shmmin: SHMMIN,
        shmmni: l.shmmni,
        shmseg: l.shmmni,
        shmall: l.shmall,
        ..Default::default()
    };
    match ns.in_use_size(Kind::Shm) {
        Some((hi, n, pages)) => {
            out.used_ids = n;
            out.shm_tot = pages;
            out.maxidx = hi.max(0);
        }
        None => {
            for idx in ns.indexes(Kind::Shm) {
                let Ok(obj) = ns.by_index(Kind::Shm, idx) else {
                    continue;
                };
                if let Ok(c) = ctl(&obj) {
                    if c.destroyed.load(Ordering::Acquire) == 0 {
                        out.used_ids += 1;
                        let pages = page_round(c.segsz.load(Ordering::Relaxed)) / PAGE;
                        out.shm_tot = out.shm_tot.saturating_add(pages);
                        out.maxidx = idx;
                    }
                }
            }
        }
    }
    out.shm_rss = out.shm_tot;
    Ok(out)
}

/// Sweeps every segment (dead attachers forgotten, removed segments
/// nobody attaches any more destroyed): what a create that found no room
/// (`ENOSPC`, `ENOMEM`) does before it tries once more, so that what dead
/// attachers left behind never keeps a new segment out. Linear in the
/// segments, and only then.
fn reclaim(ns: &Ns) {
    let mut a = atts();
    for idx in ns.indexes(Kind::Shm) {
        if let Ok(obj) = ns.by_index(Kind::Shm, idx) {
            if obj.perm().mode & SHM_DEST != 0 {
                let _ = with_obj(ns, &obj, &mut a, Sweep::Full, |_, _, _, _| Ok(()));
            }
        }
    }
}

/// Sets up the `fork` handling of attachments. Only [`shmat`] calls it:
/// it is the one call that adds to [`ATTS`], and the handlers have
/// nothing to do while that table is empty.
fn install_fork_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The namespace layer's handlers first (for its object caches):
        // handlers registered earlier prepare later, so ours take ATTS
        // before it takes the caches, the order every other path nests
        // them in (a removal under ATTS unlinks through a cache).
        crate::ns::install_fork_handlers();
        // SAFETY: access(2) of a NUL-terminated path.
        let ok = unsafe { libc::access(c"/proc/thread-self/children".as_ptr(), libc::R_OK) } == 0;
        PARENT_COUNTS.store(ok, Ordering::Relaxed);
        on_fork_child(fork_child);
        // SAFETY: registering plain extern "C" fns; no other precondition.
        unsafe { libc::pthread_atfork(Some(fork_prepare), Some(fork_parent), None) };
    });
}

/// True when the parent's fork handler can name its child (the kernel
/// lists children in `/proc`): it then counts the child's attachments and
/// the child has nothing to count (its slots get its start time at its
/// next call). Inherited by the child, which is how it knows.
static PARENT_COUNTS: AtomicBool = AtomicBool::new(false);

/// Before `fork`: take the attach table, so that no other thread is
/// inside it when the child is made (the child would inherit it locked by
/// a thread that does not exist there). The flag the child's handler
/// reads lies beside the lock word: one page written per fork, not two
/// (after a fork every first write to a private page is a fault).
extern "C" fn fork_prepare() {
    ATTS.raw_lock();
    ATTS.fork_held.store(true, Ordering::Relaxed);
}

/// In the parent after `fork`: the child inherited our attachments, and
/// the kernel counts a forked mapping at once, so we count it for the
/// child before `fork` returns (no waiting for the child: see
/// [`newest_child`]); then release the table.
extern "C" fn fork_parent() {
    // SAFETY: fork_prepare took ATTS in this thread; nothing else refers
    // to the table until we release it below.
    let a = unsafe { ATTS.held() };
    if !a.is_empty() {
        if let Some(child) = newest_child() {
            register_for(a, child);
        }
    }
    ATTS.raw_unlock();
}

/// In the child of `fork` (after the pid caches are reset): close the
/// parent's kept descriptors (children list, stashed payload), take our
/// own liveness mark (the inherited descriptor holds the parent's) and
/// release the table that `fork_prepare` took in the parent. The parent
/// counted our inherited attachments under our pid; only where it cannot
/// (no children list in `/proc`) do we register them here, taking each
/// segment's lock (and the parent's fork may then return before we did:
/// a short window in which they do not count).
fn fork_child() {
    drop_inherited_children();
    drop_stash();
    if !ATTS.fork_held.swap(false, Ordering::Relaxed) {
        return;
    }
    // SAFETY: the parent's thread that forked took ATTS in fork_prepare,
    // and that thread is the one running here; we are the only thread.
    let a = unsafe { ATTS.held() };
    if !a.is_empty() {
        // Our own liveness mark in each namespace we attach in (the ns
        // layer's child handler closes the inherited ones, the parent's).
        for x in a.iter() {
            x.ns.hold_alive();
        }
        if !PARENT_COUNTS.load(Ordering::Relaxed) {
            let me = my_pid();
            for (obj, n) in per_segment(a) {
                if ctl(obj).is_ok() {
                    if let Ok(_g) = obj.lock_bounded(&repair, &Deadline::ctl()) {
                        if my_slot(obj).ok().flatten().is_none() {
                            let _ = add_slot(obj, me, 0, n);
                        }
                    }
                }
            }
        }
    }
    ATTS.raw_unlock();
}

/// The attachments of `a` per segment: each segment once, with how many
/// attachments `a` holds of it.
fn per_segment(a: &[Att]) -> impl Iterator<Item = (&Arc<Obj>, u32)> {
    a.iter()
        .enumerate()
        .filter(|(i, x)| !a[..*i].iter().any(|y| same(&y.obj, &x.obj)))
        .map(|(_, x)| (&x.obj, local_count(a, &x.obj)))
}

/// A descriptor of `/proc/thread-self/children` kept open by the thread
/// that forks (its pthread id beside it), so that naming the new child
/// costs one `pread` per fork, not an open, two reads and a close (the
/// file lists the children again from offset 0).
static CHILDREN_FD: AtomicI32 = AtomicI32::new(-1);
static CHILDREN_OF: AtomicU64 = AtomicU64::new(0);

/// In a child of `fork`: the kept children list is the parent's thread's.
fn drop_inherited_children() {
    let fd = CHILDREN_FD.swap(-1, Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: closing the descriptor newest_child opened and kept.
        unsafe { libc::close(fd) };
    }
    CHILDREN_OF.store(0, Ordering::Relaxed);
}

/// The pid of the child that `fork` just made in this thread: the last one
/// of `/proc/thread-self/children` (a thread's children are listed in the
/// order they were made, and only this thread forks from here). `None`
/// when the file is missing (a kernel without `CONFIG_PROC_CHILDREN`): the
/// child then registers itself in [`fork_child`]. After a failed `fork`
/// this names an older child, or nothing: a wrong guess counts a process
/// that does not map the segment, which the next full sweep forgets.
fn newest_child() -> Option<i32> {
    // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() } as u64;
    let mut fd = CHILDREN_FD.load(Ordering::Relaxed);
    if fd < 0 || CHILDREN_OF.load(Ordering::Relaxed) != me {
        let path = b"/proc/thread-self/children\0";
        // SAFETY: opening a NUL-terminated path read-only.
        let nfd = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if nfd < 0 {
            return None;
        }
        let old = CHILDREN_FD.swap(nfd, Ordering::Relaxed);
        if old >= 0 {
            // SAFETY: closing the descriptor we kept for another thread.
            unsafe { libc::close(old) };
        }
        CHILDREN_OF.store(me, Ordering::Relaxed);
        fd = nfd;
    }
    let (mut last, mut cur, mut in_num) = (0i64, 0i64, false);
    let mut buf = [0u8; 512];
    let mut off = 0;
    loop {
        // SAFETY: reading into a local buffer of its length from our fd.
        let n = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), off) };
        if n <= 0 {
            break;
        }
        for &b in &buf[..n as usize] {
            if b.is_ascii_digit() {
                cur = (cur * 10 + (b - b'0') as i64).min(i32::MAX as i64);
                in_num = true;
            } else if in_num {
                (last, cur, in_num) = (cur, 0, false);
            }
        }
        if (n as usize) < buf.len() {
            break; // the whole list (one read is the common case)
        }
        off += n as libc::off_t;
    }
    if in_num {
        last = cur;
    }
    (last > 0).then_some(last as i32)
}

/// Counts `child`'s inherited attachments (the parent's table `a`) in each
/// segment, as `(child, start time unknown)`. A slot that already names
/// that pid is a dead predecessor's (the child is brand new and registers
/// nothing itself): it is taken over. `shm_atime`/`shm_lpid` as the
/// kernel's fork (its `shm_open` runs in the parent).
fn register_for(a: &[Att], child: i32) {
    for (obj, n) in per_segment(a) {
        let Ok(c) = ctl(obj) else { continue };
        let Ok(_g) = obj.lock_bounded(&repair, &Deadline::ctl()) else {
            continue;
        };
        if c.destroyed.load(Ordering::Acquire) != 0 {
            continue;
        }
        let stale = (0..hiwater(obj))
            .filter_map(|k| slot(obj, k).ok())
            .find(|s| s.pid.load(Ordering::Relaxed) == child);
        let done = match stale {
            Some(s) => {
                s.start.store(0, Ordering::Relaxed);
                s.count.store(n, Ordering::Relaxed);
                true
            }
            None => add_slot(obj, child, 0, n).is_ok(),
        };
        if done {
            c.atime.store(now_secs(), Ordering::Relaxed);
            c.lpid.store(my_pid(), Ordering::Relaxed);
        }
    }
}
