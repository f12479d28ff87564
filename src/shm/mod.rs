//! System V shared memory: the engine behind `ripc_shmget`, `ripc_shmat`,
//! `ripc_shmdt` and `ripc_shmctl`.
//!
//! A segment is one object file of the namespace (see [`crate::ns`]):
//!
//! ```text
//! 0      ObjHeader (perm, ctime, cpid, robust lock)        256 bytes
//! 256    ShmCtl: magic, segsz, atime, dtime, lpid, …         64 bytes
//! 320    attach table: NSLOTS × {pid, count, start time}
//! …      padding to a page boundary (Obj::data_range().0)
//! data   the segment's bytes (zero-filled by ftruncate)
//! ```
//!
//! Attachments are counted per process: the slot of `(pid, start time)`
//! holds how many attachments that process has. `shm_nattch` is the sum
//! over slots whose process is alive and still maps the segment (a
//! process that exited, was killed or exec'd stops counting). This
//! process's own slot always equals its private attach table ([`ATTS`]),
//! which `fork` re-registers in the child ([`on_fork_child`]).
//!
//! Everything read from the control area is checked: a wrong magic, a
//! slot count other than [`NSLOTS`] or a size beyond the file gives `EIO`.

use crate::error::{Errno, Result};
use crate::ns::{owner_errno, Access, CreateSpec, Kind, Ns, Obj, Perm, IPC_CREAT, IPC_EXCL};
use crate::sync::proc::{alive, creds, map_lines, my_pid, my_start, on_fork_child};
use crate::sync::time::{now_secs, Deadline};
use core::sync::atomic::{
    AtomicBool, AtomicI32, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
use core::time::Duration;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, MutexGuard};

pub use crate::ns::consts::{SHM_DEST, SHM_EXEC, SHM_LOCKED, SHM_RDONLY, SHM_REMAP, SHM_RND};
/// Attach address granularity (the page size on x86-64 and arm64).
/// cbindgen:ignore
pub const SHMLBA: usize = 4096;
/// `SHMMIN`: the smallest segment.
/// cbindgen:ignore
pub const SHMMIN: u64 = 1;
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

/// One attachment made by this process.
#[derive(Debug)]
struct Att {
    addr: usize,
    len: usize,
    obj: Arc<Obj>,
}

/// This process's attachments. Lock order: `ATTS`, then an object lock.
static ATTS: Mutex<Vec<Att>> = Mutex::new(Vec::new());

fn atts() -> MutexGuard<'static, Vec<Att>> {
    ATTS.lock().unwrap_or_else(|e| e.into_inner())
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
    let c: &ShmCtl = obj.at(0)?;
    if c.magic.load(Ordering::Acquire) != SHM_MAGIC
        || c.nslots.load(Ordering::Relaxed) as usize != NSLOTS
        || obj.ctl_len() < CTL_LEN
        || c.segsz.load(Ordering::Relaxed) > obj.data_range().1
        || c.segsz.load(Ordering::Relaxed) < SHMMIN
    {
        return Err(Errno::EIO);
    }
    // A file cut short under the mappings would turn the next access into
    // SIGBUS: refuse it (the control area and the payload must be there).
    // (A destroyed segment keeps only its control area.)
    let st = obj.stat()?;
    let mut need = obj.data_range().0;
    if c.destroyed.load(Ordering::Acquire) == 0 {
        need = need.saturating_add(c.segsz.load(Ordering::Relaxed));
    }
    if (st.st_size as u64) < need {
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

fn ns() -> Result<&'static Ns> {
    Ns::default_ns()
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
    atts.iter().filter(|a| a.obj.id == obj.id).count() as u32
}

/// True when process `pid` maps the segment's payload (checked in
/// `/proc/<pid>/maps`: inode and file offset). An unreadable maps file
/// (another user's process) counts as "still maps it".
fn maps_segment(pid: i32, obj: &Obj) -> bool {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
        return true;
    };
    let data_off = obj.data_range().0;
    let (dev, ino) = obj.file_id();
    let ino = ino.to_string();
    let dev = format!("{:02x}:{:02x}", libc::major(dev), libc::minor(dev));
    // A line maps [offset, offset + len) of some file; the kernel merges
    // adjacent mappings of one file, so the payload may sit inside a line
    // that starts at the control area.
    let maps = map_lines(&text).any(|m| {
        m.ino == ino
            && m.dev == dev
            && m.offset <= data_off
            && data_off < m.offset.saturating_add(m.end.saturating_sub(m.start))
    });
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
fn sweep(obj: &Obj, c: &ShmCtl, atts: &[Att], full: Sweep) -> Result<u64> {
    let full = full == Sweep::Full || obj.perm().mode & SHM_DEST != 0;
    let (me, my_st) = (my_pid(), my_start());
    let mut total: u64 = 0;
    let mut mine_seen = false;
    for i in 0..hiwater(obj) {
        let s = slot(obj, i)?;
        let pid = s.pid.load(Ordering::Relaxed);
        if pid == 0 {
            continue;
        }
        let start = s.start.load(Ordering::Relaxed);
        let n = s.count.load(Ordering::Relaxed);
        if pid == me && start == my_st {
            if mine_seen {
                s.pid.store(0, Ordering::Relaxed); // a duplicate: scribbled
                continue;
            }
            mine_seen = true;
            let n = local_count(atts, obj);
            s.count.store(n, Ordering::Relaxed);
            if n == 0 {
                s.pid.store(0, Ordering::Relaxed);
            }
            total += n as u64;
            continue;
        }
        if n == 0 || (full && (!alive(pid, start) || !maps_segment(pid, obj))) {
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
        destroy(obj, c);
    }
    Ok(total)
}

/// Frees a removed segment's storage and its last name (under the lock).
fn destroy(obj: &Obj, c: &ShmCtl) {
    if c.destroyed.swap(1, Ordering::AcqRel) != 0 {
        return;
    }
    // The file is reached by its numbered name: open it before that goes.
    let file = obj.file();
    if let Ok(ns) = ns() {
        ns.remove(obj, true);
        ns.unlink_id(obj);
    }
    // Give the pages back now, whoever still holds the file open.
    if let Ok(f) = file {
        // SAFETY: shrinking our own object file to its control area.
        unsafe { libc::ftruncate(f.as_raw_fd(), obj.data_range().0 as libc::off_t) };
    }
}

/// Adds `delta` attachments to this process's slot.
fn add_mine(obj: &Obj, delta: u32) -> Result<()> {
    let (me, my_st) = (my_pid(), my_start());
    let mut free = None;
    let hw = hiwater(obj);
    for i in 0..hw {
        let s = slot(obj, i)?;
        let pid = s.pid.load(Ordering::Relaxed);
        if pid == me && s.start.load(Ordering::Relaxed) == my_st {
            let n = s.count.load(Ordering::Relaxed).saturating_add(delta);
            s.count.store(n, Ordering::Relaxed);
            return Ok(());
        }
        if free.is_none() && (pid == 0 || s.count.load(Ordering::Relaxed) == 0) {
            free = Some(s);
        }
    }
    let s = match free {
        Some(s) => s,
        None if hw < NSLOTS => {
            let c: &ShmCtl = obj.at(0)?;
            c.hiwater.store(hw as u32 + 1, Ordering::Relaxed);
            slot(obj, hw)?
        }
        None => return Err(Errno::ENOMEM),
    };
    s.count.store(0, Ordering::Relaxed);
    s.start.store(my_st, Ordering::Relaxed);
    s.pid.store(me, Ordering::Relaxed);
    s.count.store(delta, Ordering::Relaxed);
    Ok(())
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
    id: i32,
    how: Sweep,
    f: impl FnOnce(&Arc<Obj>, &ShmCtl, &mut Vec<Att>, u64) -> Result<T>,
) -> Result<T> {
    let obj = ns()?.by_id_opt(Kind::Shm, id, true)?;
    let mut a = atts();
    with_obj(&obj, &mut a, how, f)
}

fn with_obj<T>(
    obj: &Arc<Obj>,
    a: &mut Vec<Att>,
    how: Sweep,
    f: impl FnOnce(&Arc<Obj>, &ShmCtl, &mut Vec<Att>, u64) -> Result<T>,
) -> Result<T> {
    let c = ctl(obj)?;
    let _g = obj.lock(&repair);
    if c.destroyed.load(Ordering::Acquire) != 0 {
        // Destroyed, but its name may remain: in a sticky namespace only
        // the file's owner (the creator) or root may unlink it, so a
        // later caller who can finishes the job.
        ns()?.unlink_id(obj);
        return Err(Errno::EINVAL);
    }
    let n = sweep(obj, c, a, how)?;
    if c.destroyed.load(Ordering::Acquire) != 0 {
        return Err(Errno::EINVAL);
    }
    f(obj, c, a, n)
}

/// `shmget(2)`: the segment with `key` (or a new one), of at least `size`
/// bytes. `EINVAL` for a new segment of size 0 or above `shmmax`, or an
/// existing one smaller than `size`.
pub fn shmget(key: i32, size: usize, flags: i32) -> Result<i32> {
    let ns = ns()?;
    let limits = ns.limits();
    let size = size as u64;
    let valid = (SHMMIN..=limits.shmmax).contains(&size);
    let created = core::cell::Cell::new(false);
    let init = |obj: &Obj| -> Result<()> {
        if !valid {
            return Err(Errno::EINVAL);
        }
        if limits.shmall < crate::ns::limits::TABLE[4].1 {
            let pages = page_round(size) / PAGE;
            if total_pages(ns).saturating_add(pages) > limits.shmall {
                return Err(Errno::ENOSPC);
            }
        }
        let c: &ShmCtl = obj.at(0)?;
        c.segsz.store(size, Ordering::Relaxed);
        c.nslots.store(NSLOTS as u32, Ordering::Relaxed);
        c.magic.store(SHM_MAGIC, Ordering::Release);
        created.set(true);
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
        init: &init,
        check_existing: &check,
    };
    let obj = ns.get(
        Kind::Shm,
        key,
        flags & (IPC_CREAT | IPC_EXCL | 0o777),
        &spec,
    )?;
    if created.get() {
        return Ok(obj.id); // new: nobody attaches it yet
    }
    // Notice dead attachers of the segment we hand out.
    let a = atts();
    if let Ok(c) = ctl(&obj) {
        let _g = obj.lock(&repair);
        let _ = sweep(&obj, c, &a, Sweep::Mine);
    }
    Ok(obj.id)
}

fn total_pages(ns: &Ns) -> u64 {
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
pub fn shmat(id: i32, addr: usize, flags: i32) -> Result<(usize, u64)> {
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
    let (p, segsz, replaced) = with_seg(id, Sweep::Mine, |obj, c, a, _| {
        obj.perm().check_bits(&creds(), want)?;
        let segsz = c.segsz.load(Ordering::Relaxed);
        let (off, data_len) = obj.data_range();
        // ctl() checked segsz and the file size, but before the lock, and
        // the word lies in a file any process may scribble on: check the
        // value we map with, or a larger one would map past the payload.
        if segsz > data_len {
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
        let file = obj.file()?;
        // SAFETY: a shared mapping of our object file's payload. With an
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
                off as libc::off_t,
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
                replaced.push(x.obj.clone());
            }
            !overlap
        });
        // A full slot table may hold dead attachers: forget them, once.
        let added = add_mine(obj, 1).or_else(|e| {
            if e != Errno::ENOMEM {
                return Err(e);
            }
            sweep(obj, c, a, Sweep::Full)?;
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
        });
        c.atime.store(now_secs(), Ordering::Relaxed);
        c.lpid.store(my_pid(), Ordering::Relaxed);
        Ok((p, segsz, replaced))
    })?;
    // Bring the segments whose attachments SHM_REMAP replaced up to date
    // (one object lock at a time).
    for o in replaced {
        if o.id != id {
            let mut a = atts();
            let _ = with_obj(&o, &mut a, Sweep::Mine, |_, _, _, _| Ok(()));
        }
    }
    Ok((p, segsz))
}

/// `shmdt(2)`: ends the attachment that starts at `addr`. `EINVAL` when
/// no attachment of this process starts there, or (with `of_id`, for the
/// native API's handle check) when the one there is of another segment.
pub fn shmdt(addr: usize, of_id: Option<i32>) -> Result<()> {
    if addr % SHMLBA != 0 {
        return Err(Errno::EINVAL);
    }
    let mut a = atts();
    let i = a
        .iter()
        .position(|x| x.addr == addr && of_id.map_or(true, |id| x.obj.id == id))
        .ok_or(Errno::EINVAL)?;
    let att = a.swap_remove(i);
    // SAFETY: unmapping an attachment this engine mapped (found in our
    // table); the caller asked for it to go, as with the real shmdt.
    unsafe { libc::munmap(att.addr as *mut libc::c_void, att.len) };
    let obj = att.obj;
    let Ok(c) = ctl(&obj) else {
        return Ok(()); // scribbled: the mapping is gone, nothing to count
    };
    let _g = obj.lock(&repair);
    if c.destroyed.load(Ordering::Acquire) == 0 {
        c.dtime.store(now_secs(), Ordering::Relaxed);
        c.lpid.store(my_pid(), Ordering::Relaxed);
        let _ = sweep(&obj, c, &a, Sweep::Mine);
    }
    Ok(())
}

/// `IPC_STAT`: needs read permission (`EACCES`).
pub fn stat(id: i32) -> Result<ShmStat> {
    with_seg(id, Sweep::Full, |obj, c, _, n| {
        obj.perm().check(&creds(), Access::Read)?;
        Ok(stat_of(obj, c, n))
    })
}

/// `SHM_STAT` (`any == false`: needs read permission) and `SHM_STAT_ANY`:
/// the segment at index `idx`; returns its id and status.
pub fn stat_index(idx: i32, any: bool) -> Result<(i32, ShmStat)> {
    let obj = ns()?.by_index(Kind::Shm, idx)?;
    let mut a = atts();
    with_obj(&obj, &mut a, Sweep::Full, |obj, c, _, n| {
        if !any {
            obj.perm().check(&creds(), Access::Read)?;
        }
        Ok((obj.id, stat_of(obj, c, n)))
    })
}

/// `IPC_SET`: owner, group and mode bits, by the owner, creator or root.
pub fn set(id: i32, uid: u32, gid: u32, mode: u32) -> Result<()> {
    with_seg(id, Sweep::Mine, |obj, _, _, _| {
        obj.set_perm(&creds(), uid, gid, mode)
    })
    .map_err(owner_errno)
}

/// `IPC_RMID`: the key finds the segment no more; it is destroyed now if
/// nobody attaches it, else marked `SHM_DEST` and destroyed at the last
/// detach (or death) of its attachers.
pub fn rmid(id: i32) -> Result<()> {
    with_seg(id, Sweep::Full, |obj, c, _, n| {
        obj.perm().check_owner(&creds())?;
        let ns = ns()?;
        let h = obj.header();
        if obj.perm().mode & SHM_DEST == 0 {
            ns.remove(obj, true);
            h.perm.mode.fetch_or(SHM_DEST, Ordering::Relaxed);
            h.perm.key.store(crate::ns::IPC_PRIVATE, Ordering::Relaxed);
        }
        if n == 0 {
            destroy(obj, c);
        }
        Ok(())
    })
    .map_err(owner_errno)
}

/// `SHM_LOCK` / `SHM_UNLOCK`: owner, creator or root (`EPERM`). Sets the
/// `SHM_LOCKED` mode bit and locks (unlocks) this process's attachments
/// in memory, best effort (other processes' pages are not pinned).
pub fn lock(id: i32, on: bool) -> Result<()> {
    with_seg(id, Sweep::Mine, |obj, c, a, _| {
        let me = creds();
        obj.perm().check_owner(&me)?;
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
        for x in a.iter().filter(|x| x.obj.id == obj.id) {
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

/// `IPC_INFO` / `SHM_INFO`: limits and usage; sweeps every segment, so a
/// removed segment whose last attacher died is destroyed here.
pub fn info() -> Result<ShmInfo> {
    let ns = ns()?;
    let l = ns.limits();
    let mut out = ShmInfo {
        shmmax: l.shmmax,
        shmmin: SHMMIN,
        shmmni: l.shmmni,
        shmseg: l.shmmni,
        shmall: l.shmall,
        ..Default::default()
    };
    let mut a = atts();
    for idx in ns.indexes(Kind::Shm) {
        let Ok(obj) = ns.by_index(Kind::Shm, idx) else {
            continue;
        };
        let r = with_obj(&obj, &mut a, Sweep::Mine, |_, c, _, _| {
            Ok(c.segsz.load(Ordering::Relaxed))
        });
        if let Ok(sz) = r {
            out.used_ids += 1;
            out.shm_tot = out.shm_tot.saturating_add(page_round(sz) / PAGE);
            out.maxidx = idx;
        }
    }
    out.shm_rss = out.shm_tot;
    Ok(out)
}

/// Sets up the `fork` handling of attachments. Only [`shmat`] calls it:
/// it is the one call that adds to [`ATTS`], and the handlers have
/// nothing to do while that table is empty.
fn install_fork_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // One shared anonymous word, inherited by every child: children
        // count their registrations there, so the parent's `fork` returns
        // only once the child's attachments count (else the parent could
        // detach and remove the segment before the child registered).
        // SAFETY: a fresh anonymous shared mapping of one page.
        let p = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p != libc::MAP_FAILED {
            FORK_WORD.store(p as usize, Ordering::Release);
        }
        on_fork_child(fork_child);
        // SAFETY: registering plain extern "C" fns; no other precondition.
        unsafe { libc::pthread_atfork(Some(fork_prepare), Some(fork_parent), None) };
    });
}

static FORK_WORD: AtomicUsize = AtomicUsize::new(0);
static FORK_EXPECT: AtomicU32 = AtomicU32::new(0);
static FORK_PENDING: AtomicBool = AtomicBool::new(false);

fn fork_word() -> Option<&'static AtomicU32> {
    let p = FORK_WORD.load(Ordering::Acquire);
    if p == 0 {
        return None;
    }
    // SAFETY: a page-aligned shared anonymous mapping made once and never
    // unmapped; an AtomicU32 is valid for any bit pattern.
    Some(unsafe { &*(p as *const AtomicU32) })
}

extern "C" fn fork_prepare() {
    let busy = ATTS.try_lock().map(|a| !a.is_empty()).unwrap_or(true);
    if let (true, Some(w)) = (busy, fork_word()) {
        FORK_EXPECT.store(w.load(Ordering::Acquire).wrapping_add(1), Ordering::Relaxed);
        FORK_PENDING.store(true, Ordering::Relaxed);
    }
}

extern "C" fn fork_parent() {
    if !FORK_PENDING.swap(false, Ordering::Relaxed) {
        return;
    }
    let Some(w) = fork_word() else { return };
    let want = FORK_EXPECT.load(Ordering::Relaxed);
    let until = Deadline::after(Duration::from_secs(2));
    loop {
        let v = w.load(Ordering::Acquire);
        if v.wrapping_sub(want) as i32 >= 0 || until.expired() {
            return;
        }
        let _ = crate::sync::futex_wait(w, v, Some(Duration::from_millis(10)));
    }
}

/// In the child of `fork`: it inherited our attachments, so it attaches
/// them too (the kernel counts a forked mapping as an attachment).
fn fork_child() {
    if FORK_PENDING.swap(false, Ordering::Relaxed) {
        register_child();
        if let Some(w) = fork_word() {
            w.fetch_add(1, Ordering::AcqRel);
            crate::sync::futex_wake(w, i32::MAX);
        }
    }
}

fn register_child() {
    let Ok(a) = ATTS.try_lock() else { return };
    let mut seen: Vec<i32> = Vec::new();
    for x in a.iter() {
        if seen.contains(&x.obj.id) {
            continue;
        }
        seen.push(x.obj.id);
        if let Ok(c) = ctl(&x.obj) {
            let _g = x.obj.lock(&repair);
            let _ = add_mine(&x.obj, local_count(&a, &x.obj));
            c.atime.store(now_secs(), Ordering::Relaxed);
            c.lpid.store(my_pid(), Ordering::Relaxed);
        }
    }
}
