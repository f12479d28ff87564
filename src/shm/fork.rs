//! `fork` handling: the child's inherited attachments are counted (by the
//! parent where it can name the child, else by the child).

use super::*;

/// Sets up the `fork` handling of attachments. Only [`shmat`] calls it:
/// it is the one call that adds to [`ATTS`], and the handlers have
/// nothing to do while that table is empty.
pub(super) fn install_fork_hook() {
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
pub(super) static PARENT_COUNTS: AtomicBool = AtomicBool::new(false);

/// Before `fork`: take the attach table, so that no other thread is
/// inside it when the child is made (the child would inherit it locked by
/// a thread that does not exist there) — unless the process has one
/// thread (glibc says so) and the table is free: then nobody can enter it
/// until `fork` returns, and the parent writes nothing on the table's page
/// after the `fork` (every first write to a private page after a `fork`
/// is a copy-on-write fault). The flags the other handlers read lie beside
/// the lock word, written here, before the `fork`.
///
/// The checks of each attached segment's control area ([`ctl()`]: its
/// header, and the file's size, one `fstatat`) are made here too, before
/// the `fork`, for [`fork_parent`]: the `fstatat`'s stack page is then
/// not one the parent writes first after the `fork` (a fault), and the
/// check is as close to the use as it was (a file cut short under the
/// mapping between a check and a use faults whenever the check ran; see
/// docs/security.md).
pub(super) extern "C" fn fork_prepare() {
    let alone = crate::ns::single_threaded() && ATTS.word.load(Ordering::Relaxed) == 0;
    // A `fork` from a signal handler that interrupted this thread inside
    // the table finds it held by the thread itself, half-changed: neither
    // handler reads it then (the child's inherited attachments are not
    // counted for it: the parent's last `shmdt` may destroy a segment the
    // child still maps, whose pages stay under its mapping), and the
    // interrupted call, which goes on in both processes, releases it.
    let skipped = !alone && !ATTS.raw_lock();
    if ATTS.fork_skipped.load(Ordering::Relaxed) != skipped {
        ATTS.fork_skipped.store(skipped, Ordering::Relaxed);
    }
    if skipped {
        return;
    }
    // SAFETY: we hold ATTS, or are the one thread, outside the table.
    let a = unsafe { ATTS.held() };
    let mut checked = 0u64;
    for (i, (obj, _)) in per_segment(a).enumerate().take(64) {
        if ctl(obj).is_ok() {
            checked |= 1 << i;
        }
    }
    // Stored only when they change (the usual values are the last fork's):
    // a `fork` write-protects the page, and the next write to it, even
    // here before the next `fork`, is a fault.
    if ATTS.fork_checked.load(Ordering::Relaxed) != checked {
        ATTS.fork_checked.store(checked, Ordering::Relaxed);
    }
    if ATTS.fork_alone.load(Ordering::Relaxed) != alone {
        ATTS.fork_alone.store(alone, Ordering::Relaxed);
    }
    if !ATTS.fork_held.load(Ordering::Relaxed) {
        ATTS.fork_held.store(true, Ordering::Relaxed);
    }
}

/// In the parent after `fork`: the child inherited our attachments, and
/// the kernel counts a forked mapping at once, so we count it for the
/// child before `fork` returns (no waiting for the child: see
/// [`newest_child`]); then release the table (when `fork_prepare` took
/// it).
pub(super) extern "C" fn fork_parent() {
    if ATTS.fork_skipped.load(Ordering::Relaxed) {
        return;
    }
    let alone = ATTS.fork_alone.load(Ordering::Relaxed);
    // SAFETY: fork_prepare took ATTS in this thread, or found it free in
    // a process of one thread (this one); nothing else refers to the
    // table until we release it below.
    let a = unsafe { ATTS.held() };
    if !a.is_empty() {
        if let Some(child) = newest_child() {
            register_for(a, child, Some(ATTS.fork_checked.load(Ordering::Relaxed)));
        }
    }
    if !alone {
        ATTS.raw_unlock();
    }
}

/// In the child of `fork` (after the pid caches are reset): close the
/// parent's kept descriptors (children list, stashed payload), take our
/// own liveness mark (the inherited descriptor holds the parent's) and
/// release the table that `fork_prepare` took in the parent. The parent
/// counted our inherited attachments under our pid; only where it cannot
/// (no children list in `/proc`) do we register them here, taking each
/// segment's lock (and the parent's fork may then return before we did:
/// a short window in which they do not count).
pub(super) fn fork_child() {
    drop_inherited_children();
    drop_stash();
    if !ATTS.fork_held.swap(false, Ordering::Relaxed) || ATTS.fork_skipped.load(Ordering::Relaxed) {
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
            // Start time 0: as a parent's registration (see `is_mine`).
            let me = Owner {
                pid: my_pid(),
                start: 0,
            };
            for (obj, n) in per_segment(a) {
                if ctl(obj).is_ok() {
                    if let Ok(_g) = obj.lock_bounded(&repair, &Deadline::ctl()) {
                        if my_slot(obj).ok().flatten().is_none() {
                            let _ = add_slot(obj, me, n);
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
pub(super) fn per_segment(a: &[Att]) -> impl Iterator<Item = (&Arc<Obj>, u32)> {
    a.iter()
        .enumerate()
        .filter(|(i, x)| !a[..*i].iter().any(|y| same(&y.obj, &x.obj)))
        .map(|(_, x)| (&x.obj, local_count(a, &x.obj)))
}

/// A descriptor of `/proc/thread-self/children` kept open by the thread
/// that forks (its pthread id beside it), so that naming the new child
/// costs one `pread` per fork, not an open, two reads and a close (the
/// file lists the children again from offset 0).
pub(super) static CHILDREN_FD: AtomicI32 = AtomicI32::new(-1);

pub(super) static CHILDREN_OF: AtomicU64 = AtomicU64::new(0);

/// In a child of `fork`: the kept children list is the parent's thread's.
pub(super) fn drop_inherited_children() {
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
pub(super) fn newest_child() -> Option<i32> {
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
/// that pid is either the child's own (it ran ahead of this handler and
/// attached or detached, counting itself from its own table, inherited
/// attachments included: left as it is) or a dead predecessor's (taken
/// over). `shm_atime`/`shm_lpid` as the kernel's fork (its `shm_open`
/// runs in the parent). With `checked`, [`fork_prepare`]'s checks: bit
/// `i` set when the `i`-th segment passed [`ctl()`] (the 65th on are
/// checked here, as every segment is without it).
pub(super) fn register_for(a: &[Att], child: i32, checked: Option<u64>) {
    for (i, (obj, n)) in per_segment(a).enumerate() {
        let c = match checked {
            Some(bits) if i < 64 && bits & (1 << i) != 0 => area(obj).map(|x| &x.hdr),
            Some(_) if i < 64 => continue, // refused by `ctl()` before the fork
            _ => ctl(obj),
        };
        let Ok(c) = c else { continue };
        let Ok(_g) = obj.lock_bounded(&repair, &Deadline::ctl()) else {
            continue;
        };
        if c.destroyed.load(Ordering::Acquire) != 0 {
            continue;
        }
        let child = Owner {
            pid: child,
            start: 0,
        };
        let stale = slots_used(obj)
            .unwrap_or_default()
            .iter()
            .find(|s| s.owner().load().pid == child.pid);
        let done = match stale {
            Some(s) => {
                let o = s.owner().load();
                // The child's own: its start time, and alive (a dead
                // predecessor's start time differs from the child's).
                let childs_own = o.start != 0 && !o.gone(Check::Full);
                if !childs_own {
                    s.owner().claim(child);
                    s.count.store(n, Ordering::Relaxed);
                }
                true
            }
            None => add_slot(obj, child, n).is_ok(),
        };
        if done {
            c.atime.store(now_secs(), Ordering::Relaxed);
            c.lpid.store(my_pid(), Ordering::Relaxed);
        }
    }
}
