//! Liveness: which attachers still count ([`sweep()`], liveness marks and
//! `/proc`), and the end of a removed segment nobody attaches ([`destroy`]).

use super::*;

/// True when process `pid` maps the segment's payload file `data` (its
/// device and inode, [`Obj::data_id`]; checked in `/proc/<pid>/maps`). An
/// unreadable maps file (another user's process), or a payload that
/// cannot be seen (`None`), counts as "still maps it".
pub(super) fn maps_segment(pid: i32, data: Option<(u64, u64)>) -> bool {
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

/// How much a [`sweep()`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sweep {
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
pub(super) fn sweep(ns: &Ns, obj: &Obj, c: &ShmCtl, atts: &[Att], full: Sweep) -> Result<u64> {
    let full = full == Sweep::Full || obj.perm().mode & SHM_DEST != 0;
    let me = Owner::me();
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
    for s in slots_used(obj)? {
        let o = s.owner().load();
        if o.is_none() {
            continue;
        }
        let n = s.count.load(Ordering::Relaxed);
        if is_mine(o, me) {
            if mine_seen {
                s.owner().clear(); // a duplicate: scribbled
                continue;
            }
            mine_seen = true;
            let n = local_count(atts, obj);
            s.owner().claim(me);
            s.count.store(n, Ordering::Relaxed);
            if n == 0 {
                s.owner().clear();
            }
            total += n as u64;
            continue;
        }
        if n == 0 || (full && !live(ix, o, verify, &data, obj)) {
            s.count.store(0, Ordering::Relaxed);
            s.owner().clear();
            if n != 0 {
                // The kernel records the exiting process as the last user.
                c.dtime.store(now_secs(), Ordering::Relaxed);
                c.lpid.store(o.pid, Ordering::Relaxed);
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
/// sweeps of one segment (see [`sweep()`]).
pub(super) const VERIFY_SECS: i64 = 2;

/// Whether the attacher `(pid, start)` still counts, for a full sweep: a
/// liveness mark held (one `fcntl`, see `ns::index`) says yes, unless
/// `verify`; otherwise `/proc` decides, as before the marks: alive (start
/// time) and still mapping the payload (`/proc/<pid>/maps`). So a dead or
/// exec'd attacher (its mark dropped with its descriptor) is found at
/// once, and what only `/proc` shows (pid reuse, an unmapping without
/// `shmdt`) within [`VERIFY_SECS`].
pub(super) fn live(
    ix: Option<&crate::ns::index::Index>,
    o: Owner,
    verify: bool,
    data: &std::cell::OnceCell<Option<(u64, u64)>>,
    obj: &Obj,
) -> bool {
    if !verify && ix.and_then(|ix| ix.marked_alive(o.pid)) == Some(true) {
        return true;
    }
    !o.gone(Check::Full) && maps_segment(o.pid, *data.get_or_init(|| obj.data_id()))
}

/// Ends a removed segment nobody attaches any more (under the lock): the
/// `destroyed` flag, and its last name unlinked. The file is not cut
/// short: a process may map it without being counted (a child made by a
/// raw `fork` system call, which runs no `pthread_atfork` handler), and
/// shrinking the file under its mapping would turn its next access into
/// `SIGBUS`. The file system frees the pages when the last mapping and the
/// last descriptor go (each process drops removed objects from its cache
/// at its next look-up of another object).
pub(super) fn destroy(ns: &Ns, obj: &Obj, c: &ShmCtl) {
    drop_stash_of(obj);
    if c.destroyed.swap(1, Ordering::AcqRel) != 0 {
        return;
    }
    ns.remove(obj, true);
    ns.unlink_id(obj);
}

/// Finishes the destruction of the removed segments whose removal mark
/// is set (`IPC_RMID` sets it before it marks the segment removed,
/// `destroy` clears it with the index's bit, see `ns::index`), so that
/// `SHM_INFO` and `IPC_INFO` count exactly right after a remover or a
/// last detacher was killed, without a walk: one `pread` of the bitmap
/// and one of the marks up to the highest index in use, and per mark
/// (none in the common case; one per segment removed but still attached)
/// what any call on that segment does — a destroyed one's name unlinked
/// (bit and mark cleared), a removed one nobody attaches any more (its
/// dead attachers forgotten by a full sweep) destroyed, one still
/// attached left as it is, counted (as on the kernel). A mark whose name
/// is gone is cleared by the counts themselves (`Ns::in_use`).
pub(super) fn settle(ns: &Ns) {
    let Some(ix) = ns.index() else {
        return;
    };
    let marked = ix.removing_seen(Kind::Shm, ix.used(Kind::Shm).0.saturating_add(1));
    if marked.is_empty() {
        return;
    }
    let mut a = atts();
    for i in marked {
        if let Ok(obj) = ns.by_index(Kind::Shm, i) {
            let _ = with_obj(
                ns,
                &obj,
                a.as_deref_mut(),
                Sweep::Full,
                Bound::Walk,
                |_, _, _, _| Ok(()),
            );
        }
    }
}

/// Sweeps every segment (dead attachers forgotten, removed segments
/// nobody attaches any more destroyed): what a create that found no room
/// (`ENOSPC`, `ENOMEM`) does before it tries once more, so that what dead
/// attachers left behind never keeps a new segment out. Linear in the
/// segments, and only then.
pub(super) fn reclaim(ns: &Ns) {
    let mut a = atts();
    for idx in ns.indexes(Kind::Shm) {
        if let Ok(obj) = ns.by_index(Kind::Shm, idx) {
            if obj.perm().mode & SHM_DEST != 0 {
                let _ = with_obj(
                    ns,
                    &obj,
                    a.as_deref_mut(),
                    Sweep::Full,
                    Bound::Walk,
                    |_, _, _, _| Ok(()),
                );
            }
        }
    }
}
