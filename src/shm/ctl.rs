//! The control calls (`IPC_STAT`, `SHM_STAT`, `IPC_SET`, `IPC_RMID`,
//! `SHM_LOCK`) and the `IPC_INFO`/`SHM_INFO` reports.

use super::*;

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

pub(super) fn stat_of(obj: &Obj, c: &ShmCtl, nattch: u64) -> ShmStat {
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

/// Pages of every segment in the namespace (for the `shmall` check):
/// from the index hint's recorded sizes at constant cost (see
/// `ns::index`); by opening every segment when the hint is missing or
/// stale.
pub(super) fn total_pages(ns: &Ns) -> u64 {
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

/// `IPC_STAT`: needs read permission (`EACCES`).
pub fn stat(ns: &Ns, id: i32) -> Result<ShmStat> {
    with_seg(ns, id, Sweep::Full, false, |obj, c, _, n| {
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
    let r = with_obj(
        ns,
        &obj,
        a.as_deref_mut(),
        Sweep::Full,
        Bound::Walk,
        |obj, c, _, n| {
            if !any {
                obj.perm().check(&creds(), Access::Read)?;
            }
            Ok((obj.id, stat_of(obj, c, n)))
        },
    );
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
    with_seg(ns, id, Sweep::Mine, false, |obj, _, _, _| {
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
    with_obj_checked(
        ns,
        &obj,
        a.as_deref_mut(),
        Sweep::Full,
        Bound::Ctl,
        |obj, c, _, n| {
            obj.check_owner(&creds())?;
            drop_stash_of(obj);
            if obj.perm().mode & SHM_DEST == 0 {
                // The removal mark first: a remover (or, later, the last
                // detacher) killed before the end of the destruction is
                // finished by the next `SHM_INFO` (`sweep::settle`).
                ns.mark_removing(obj);
                ns.remove(obj, true);
                mark_dest(obj);
            }
            if n == 0 {
                destroy(ns, obj, c);
            }
            Ok(())
        },
    )
    .map_err(owner_errno)
}

/// Marks a removed segment as the kernel shows it: `SHM_DEST` in its mode,
/// its key `IPC_PRIVATE` (by `IPC_RMID`, after the namespace's removal; or
/// by the next call on a segment whose remover was killed in between).
pub(super) fn mark_dest(obj: &Obj) {
    let h = obj.header();
    if h.perm.mode.load(Ordering::Relaxed) & SHM_DEST == 0 {
        h.perm.mode.fetch_or(SHM_DEST, Ordering::Relaxed);
    }
    h.perm.key.store(crate::ns::IPC_PRIVATE, Ordering::Relaxed);
}

/// `SHM_LOCK` / `SHM_UNLOCK`: owner, creator or root (`EPERM`). Sets the
/// `SHM_LOCKED` mode bit and locks (unlocks) this process's attachments
/// in memory, best effort (other processes' pages are not pinned).
pub fn lock(ns: &Ns, id: i32, on: bool) -> Result<()> {
    with_seg(ns, id, Sweep::Mine, true, |obj, c, a, _| {
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
        maxidx: {
            settle(ns);
            ns.in_use(Kind::Shm).0.max(0)
        },
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
    settle(ns);
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
