//! System V shared memory: the engine behind `ripc_shmget`, `ripc_shmat`,
//! `ripc_shmdt` and `ripc_shmctl`.
//!
//! A segment is an object file of the namespace (see [`crate::ns`]) and
//! a payload file of its own ([`Obj::data_file`]):
//!
//! ```text
//! 0      ObjHeader (perm, ctime, cpid, robust lock)        256 bytes
//! 256    ShmArea (layout.rs, LAYOUT_VERSION 1):
//!          ShmCtl: magic, segsz, atime, dtime, lpid, …     64 bytes
//!          slots: NSLOTS × Slot {pid, count, start time}   16 bytes each
//! …      padding to a page boundary (Obj::data_range().0)
//! payload file: the segment's bytes (zero-filled by ftruncate)
//! ```
//!
//! The files of this engine:
//!
//! | file | holds |
//! | --- | --- |
//! | `mod.rs` | `shmget`, `shmat`, `shmdt` and the skeleton of every locked call ([`with_seg`]) |
//! | `layout.rs` | the control area's `#[repr(C)]` structs and its checked access ([`ctl()`]) |
//! | `atts.rs` | this process's attach table ([`ATTS`]) and its slot in each segment |
//! | `sweep.rs` | which attachers still count (liveness marks, `/proc`), destruction |
//! | `fork.rs` | the `fork` handlers: the child's inherited attachments counted |
//! | `ctl.rs` | `IPC_STAT`, `SHM_STAT`, `IPC_SET`, `IPC_RMID`, `SHM_LOCK`, `IPC_INFO`, `SHM_INFO` |
//! | `store.rs` | room checks, `fallocate` reservations, the payload kept from create to attach |
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
//!
//! # Locking
//! - Lock order: [`ATTS`] (this process's attach table, a private futex
//!   lock), then a segment's robust lock (the object header's, taken with
//!   `Obj::lock_bounded` within `Deadline::ctl()`), then the namespace
//!   layer's object caches. Never two segment locks at once (`shmat`'s
//!   `SHM_REMAP` brings the replaced segments up to date one by one, after).
//! - The segment lock guards the attach slots (owner records, counts,
//!   `hiwater`), `atime`/`dtime`/`lpid`, `verified`, the move of
//!   `destroyed` from 0 to 1 ([`destroy`]), and the header's `SHM_DEST`,
//!   `SHM_LOCKED` and key under `IPC_RMID`/`SHM_LOCK`. The sweep that
//!   forgets dead attachers and destroys a removed segment at its last
//!   detach ([`sweep()`]) runs under it. A holder killed mid-way leaves at
//!   worst a half-claimed slot (count 0), which [`repair`] frees.
//! - The lock is bounded (the kernel never blocks these calls): when it
//!   is not had in time (a stopped holder, a scribbled word), the call goes
//!   on without it and without the sweep, counting the slots as they stand
//!   ([`counted`]); this process's own slot follows its table at its next
//!   locked call.
//! - Liveness marks: this process takes its mark in a namespace
//!   (`Ns::hold_alive`, an open-file-description lock on the index file)
//!   in `shmat` under [`ATTS`] and the segment lock, before its slot first
//!   counts there; a full sweep reads others' marks under the segment
//!   lock ([`live`]). A mark proves liveness only: at most every
//!   [`VERIFY_SECS`] a full sweep checks `/proc` instead (pid reuse, an
//!   unmapping without `shmdt`, a raw-`fork` child sharing its parent's
//!   mark).
//! - `fork`: the prepare handler ([`fork_prepare`]) takes [`ATTS`], so
//!   that no other thread is inside the table at the fork; the parent's
//!   handler counts the child's inherited attachments under each
//!   segment's lock ([`register_for`]: the same order, [`ATTS`] then the
//!   segment) and releases [`ATTS`]; the child's handler closes the
//!   parent's kept descriptors (children list, stash), takes its own
//!   liveness marks (the namespace layer's child handler dropped the
//!   inherited ones), counts itself only where the parent cannot, and
//!   releases [`ATTS`]. The namespace layer's handlers are registered
//!   first, so its prepare runs after ours: [`ATTS`] before the caches.
//! - Without a lock: the stashed payload descriptor ([`take_stash`],
//!   atomics), the read-only `IPC_INFO`/`SHM_INFO` reports.
//!
//! # Memory ordering
//! - Creation: `shmget`'s `init` writes `segsz` and `nslots`, then stores
//!   `magic` with **release**; [`ctl()`] loads `magic` with **acquire**
//!   before reading them (the object is linked under its names only after
//!   `init`, but a file adopted by another path is checked all the same).
//! - Slots: each is a `crate::sync::owner` record. [`add_slot`] (and a
//!   slot taken over, [`my_slot`], [`register_for`]) stores the start
//!   time, then the pid with **release** (`OwnerRef::claim`); readers load
//!   the pid with **acquire**, then the start time (`OwnerRef::load`), so
//!   one who sees a pid sees its start time. This matters to [`counted`],
//!   which reads the slots without the lock; every other reader holds it.
//!   Counts, `hiwater`, the times and `lpid` are single words written
//!   under the lock (**relaxed**): an unlocked reader may count a slot
//!   one change late, as the kernel's unlocked `IPC_STAT` fields may be.
//! - Destruction: [`destroy`] swaps `destroyed` to 1 (**acq-rel**) after
//!   the removal marks (`SHM_DEST`, key cleared); callers load it with
//!   **acquire** ([`with_obj_checked`], `shmdt`, [`register_for`],
//!   `SHM_INFO`) and, seeing 1, answer `EINVAL`.
//! - Attach table: [`ATTS`]'s word is taken with an **acquire**
//!   compare-and-swap (or swap) and let go with a **release** swap: the
//!   table's contents pass from holder to holder. `fork_held` is written
//!   and read by the forking thread only (**relaxed**).
//! - Stash: [`stash_payload`] stores the key (device, inode), then the
//!   descriptor with **release**; [`take_stash`] takes the descriptor with
//!   an **acq-rel** swap and only then reads the key, so the key it
//!   compares is the one stored with that descriptor (or a later
//!   create's, of a segment not yet linked, which no attach can name).

use crate::error::{Errno, Result};
use crate::ns::{
    owner_errno, Access, CreateSpec, Kind, Ns, Obj, Perm, Shared, IPC_CREAT, IPC_EXCL,
};
use crate::os::creds::creds;
use crate::os::proc::{map_lines, my_pid, on_fork_child};
use crate::sync::owner::{Check, Owner, OwnerRef};
use crate::sync::time::now_secs;
use crate::sync::Deadline;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::os::fd::AsRawFd;
use std::sync::Arc;

mod atts;
mod ctl;
mod fork;
mod layout;
mod store;
mod sweep;
#[cfg(test)]
mod tests;

use atts::*;
use ctl::*;
pub use ctl::{check, info, info_limits, lock, rmid, set, stat, stat_index, ShmInfo, ShmStat};
use fork::*;
pub use layout::LAYOUT_VERSION;
use layout::*;
use store::*;
pub(crate) use store::{reserve_range, room_for};
use sweep::*;

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

const PAGE: u64 = 4096;

fn page_round(n: u64) -> u64 {
    n.div_ceil(PAGE) * PAGE
}

/// Looks a segment up by id (a removed one awaiting its last detach too,
/// as Linux allows) and runs `f` with the attach table and the object
/// lock held, after a sweep. `EINVAL` once destroyed. In a signal handler
/// that interrupted its own thread inside the attach table ([`atts()`]): a
/// call that changes the table (`needs_table`) answers `EDEADLK`; the
/// others run `f` with an empty table and without the sweep.
fn with_seg<T>(
    ns: &Ns,
    id: i32,
    how: Sweep,
    needs_table: bool,
    f: impl FnOnce(&Arc<Obj>, &ShmCtl, &mut Vec<Att>, u64) -> Result<T>,
) -> Result<T> {
    let obj = ns.by_id_opt(Kind::Shm, id, true)?;
    let mut a = atts();
    if a.is_none() && needs_table {
        return Err(Errno::EDEADLK);
    }
    with_obj(ns, &obj, a.as_deref_mut(), how, Bound::Ctl, f)
}

/// How long [`with_obj`] waits for a segment's lock before it goes on
/// without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    /// [`crate::sync::time::CTL_BOUND`]: a call on one segment.
    Ctl,
    /// [`crate::sync::time::NOWAIT_BOUND`]: one segment of a walk over
    /// all of them (`SHM_STAT` for a listing, the reclaim of a create
    /// that found no room), so that a member's stopped process holding
    /// the locks of many segments costs a listing 10 ms per segment, not
    /// a second (`c_tests/t_shm_stall_list`).
    Walk,
}

fn with_obj<T>(
    ns: &Ns,
    obj: &Arc<Obj>,
    a: Option<&mut Vec<Att>>,
    how: Sweep,
    bound: Bound,
    f: impl FnOnce(&Arc<Obj>, &ShmCtl, &mut Vec<Att>, u64) -> Result<T>,
) -> Result<T> {
    // A segment whose file lost its name was destroyed (by a process
    // that may unlink it): a stale id, EINVAL as the kernel says.
    ctl(obj).map_err(|e| if e == Errno::EIDRM { Errno::EINVAL } else { e })?;
    with_obj_checked(ns, obj, a, how, bound, f)
}

/// [`with_obj`] for a caller that has just checked `ctl(obj)` itself (one
/// `fstatat` less). `a`: the attach table, `None` in a signal handler
/// that interrupted its own thread inside it (no sweep then: `f` gets an
/// empty table and the counts as they stand).
fn with_obj_checked<T>(
    ns: &Ns,
    obj: &Arc<Obj>,
    a: Option<&mut Vec<Att>>,
    how: Sweep,
    bound: Bound,
    f: impl FnOnce(&Arc<Obj>, &ShmCtl, &mut Vec<Att>, u64) -> Result<T>,
) -> Result<T> {
    let c = &area(obj)?.hdr;
    // The lock within CTL_BOUND (the kernel never blocks these calls; a
    // walk over every segment: NOWAIT_BOUND each): when a holder is
    // stopped or the lock word was scribbled on, the call goes on without
    // it and without the sweep — counts as they stand; this process's own
    // slot is brought up to date by its next locked call, and a segment
    // destroyed meanwhile keeps its pages under every mapping (destroy
    // never shrinks the file).
    let deadline = match bound {
        Bound::Ctl => Deadline::ctl(),
        Bound::Walk => Deadline::after(crate::sync::time::NOWAIT_BOUND).or_holder_stopped(),
    };
    let g = obj.lock_bounded(&repair, &deadline).ok();
    if c.destroyed.load(Ordering::Acquire) != 0 {
        // Destroyed, but its name may remain: in a sticky namespace only
        // the file's owner (the creator) or root may unlink it, so a
        // later caller who can finishes the job.
        ns.unlink_id(obj);
        return Err(Errno::EINVAL);
    }
    // A remover killed inside `IPC_RMID`, between the namespace's removal
    // (state, key name) and the segment's mark: finished here, so that
    // listings no longer show a removed segment under its key (which no
    // `shmget` finds) and the sweep below destroys it when unattached.
    if obj.is_removed() {
        ctl::mark_dest(obj);
    }
    let mut none = Vec::new();
    let (a, n) = match (g, a) {
        (Some(_), Some(a)) => {
            let n = sweep(ns, obj, c, a, how)?;
            (a, n)
        }
        (_, a) => (a.unwrap_or(&mut none), counted(obj)),
    };
    if c.destroyed.load(Ordering::Acquire) != 0 {
        return Err(Errno::EINVAL);
    }
    f(obj, c, a, n)
}

/// The largest segment [`shmget`] creates without looking at the file
/// system's free room first (`fallocate` tells).
const ROOM_UNCHECKED: u64 = 1 << 20;

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
        // A segment whose storage is reserved needs no look at the file
        // system first: its `fallocate` fails when there is no room (and
        // the namespace reserves the control file's first page before it
        // writes it). The look (`statvfs`, one system call per create)
        // stays for a large one, which a failing `fallocate` would first
        // half-allocate, and for `SHM_NORESERVE`, which reserves nothing.
        if flags & SHM_NORESERVE != 0 || size > ROOM_UNCHECKED {
            room_for(ns, ctl_len.saturating_add(size))?;
        }
        Ok(())
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
        size_payload(obj, size, flags & SHM_NORESERVE == 0)?;
        let c = &area(obj)?.hdr;
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
    let obj = got?;
    if created.get() {
        // For the shmall check (see `total_pages`), when the file is the
        // one this call built (not a winner's after a lost race).
        if built.get() == Some(obj.file_id()) {
            ns.note_size(&obj, page_round(size) / PAGE);
            // The payload descriptor the namespace kept from the build,
            // for this process's first read-write attach (see `stash_payload`).
            if let Some(f) = obj.take_data_fd() {
                stash_payload(&obj, f);
            }
        }
        return Ok(obj.id); // new: nobody attaches it yet
    }
    // Notice dead attachers of the segment we hand out (not in a signal
    // handler that interrupted its own thread inside the table).
    let Some(a) = atts() else {
        return Ok(obj.id);
    };
    if let Ok(c) = ctl(&obj) {
        if let Ok(_g) = obj.lock_bounded(&repair, &Deadline::ctl()) {
            let _ = sweep(ns, &obj, c, &a, Sweep::Mine);
        }
    }
    Ok(obj.id)
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
    let (p, segsz, replaced) = with_seg(ns, id, Sweep::Mine, true, |obj, c, a, _| {
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
        crate::ns::step(30);
        let stashed = if flags & SHM_RDONLY == 0 {
            take_stash(obj)
        } else {
            None
        };
        let file = match stashed {
            Some(f) => f,
            // A payload gone with the segment destroyed (below) is a
            // stale id; gone otherwise, scribbled.
            None => obj.data_file(flags & SHM_RDONLY == 0).map_err(|e| {
                if e != Errno::EIDRM {
                    e
                } else if c.destroyed.load(Ordering::Acquire) != 0 {
                    Errno::EINVAL
                } else {
                    Errno::EIO
                }
            })?,
        };
        crate::ns::step(31);
        // Destroyed since `with_obj` looked, its payload opened (or taken
        // from the stash) before it lost its name: by a signal handler of
        // this thread, whose `IPC_RMID` went on without the lock its
        // interrupted thread holds here, or by a remover that went on
        // without the lock of a caller stopped here. As the kernel's
        // shmat after the removal: EINVAL, nothing mapped.
        if c.destroyed.load(Ordering::Acquire) != 0 {
            return Err(Errno::EINVAL);
        }
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
            let _ = with_obj(
                &ons,
                &o,
                a.as_deref_mut(),
                Sweep::Mine,
                Bound::Ctl,
                |_, _, _, _| Ok(()),
            );
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
    // In a signal handler that interrupted its own thread inside the
    // table: EDEADLK (the table cannot be changed under the thread).
    let mut a = atts().ok_or(Errno::EDEADLK)?;
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
