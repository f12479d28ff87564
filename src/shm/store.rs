//! Storage: room checks and `fallocate` reservations of a new segment, and
//! the payload descriptor kept from create to first attach.

use super::*;

/// Whether the caller may ask for huge pages: the kernel's
/// `can_do_hugetlb_shm` (`CAP_IPC_LOCK`, here root, or membership of the
/// group in `/proc/sys/vm/hugetlb_shm_group`). ripc then uses ordinary
/// pages (a file in the namespace directory cannot be huge-page backed).
pub(super) fn hugetlb_allowed() -> bool {
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
/// reports no size (an unlimited tmpfs) has room. When it is short, what
/// killed creators left (their temporary files, [`Ns::sweep_tmp`]) is
/// swept and the room looked at again: the next process that needs the
/// space takes it back (a precheck that only failed would never reach
/// the create that sweeps). The first look may be this process's look of
/// the last 10 ms, less what its checks took since ([`Ns::has_room`]:
/// the `fstatvfs` of a set's every create, issue 14); the look after the
/// sweep is a fresh one.
pub(crate) fn room_for(ns: &Ns, bytes: u64) -> Result<()> {
    let privileged = creds().privileged();
    if ns.has_room(bytes, privileged, false) {
        return Ok(());
    }
    ns.sweep_tmp();
    if ns.has_room(bytes, privileged, true) {
        Ok(())
    } else {
        Err(Errno::ENOMEM)
    }
}

/// Gives a new segment's payload file (created empty by the namespace)
/// its `len` bytes: with `reserve`, their storage too, so that no access
/// to them can fail later (`fallocate`, which sets the size as it
/// reserves: one system call), `ENOMEM` when the file system cannot hold
/// it (the kernel's answer when memory for a segment is short); without
/// (`SHM_NORESERVE`), or on a file system without `fallocate`, a sparse
/// file (`ftruncate`).
///
/// The control area needs nothing here: the namespace reserved its first
/// page (header, `ShmCtl` and the first 236 slots), and [`add_slot`]
/// reserves each further page of the slot table when it is first used.
pub(super) fn size_payload(obj: &Obj, len: u64, reserve: bool) -> Result<()> {
    let owned;
    let fd = match obj.building_data_fd() {
        Some(f) => f.as_raw_fd(),
        None => {
            owned = obj.data_file(true)?;
            owned.as_raw_fd()
        }
    };
    if reserve && reserve_fd(fd, 0, len)? {
        return Ok(());
    }
    let len = libc::off_t::try_from(len).map_err(|_| Errno::ENOMEM)?;
    // SAFETY: sizing the new payload file this create holds open.
    if unsafe { libc::ftruncate(fd, len) } != 0 {
        return Err(match Errno::last() {
            Errno::EFBIG | Errno::EINVAL | Errno::ENOSPC => Errno::ENOMEM,
            e => e,
        });
    }
    Ok(())
}

/// The payload descriptor of the segment this process created last,
/// read-write, kept for its first read-write `shmat` (create, then attach,
/// is the common pattern: that attach then needs no open and no owner
/// check). One descriptor per process at most: the next create replaces
/// it, the attach takes it. Keyed by the control file's device and inode.
/// Atomics, not a lock: a child of `fork` inherits it consistent or not
/// at all (a torn key only costs a reopen).
pub(super) static STASH_FD: AtomicI32 = AtomicI32::new(-1);

pub(super) static STASH_DEV: AtomicU64 = AtomicU64::new(0);

pub(super) static STASH_INO: AtomicU64 = AtomicU64::new(0);

pub(super) fn stash_payload(obj: &Obj, f: std::os::fd::OwnedFd) {
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
pub(super) fn drop_stash() {
    let old = STASH_FD.swap(-1, Ordering::AcqRel);
    if old >= 0 {
        // SAFETY: closing the descriptor we stashed (taken out above).
        unsafe { libc::close(old) };
    }
}

/// [`drop_stash`] if the stash is `obj`'s (at its removal).
pub(super) fn drop_stash_of(obj: &Obj) {
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
pub(super) fn take_stash(obj: &Obj) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    let fd = STASH_FD.swap(-1, Ordering::AcqRel);
    if fd < 0 {
        return None;
    }
    // The key after the descriptor (acquire above, release in
    // stash_payload): read before, it could be an older segment's while
    // another thread's create replaced the descriptor in between, and
    // that segment's payload would be mapped as this one's.
    let key = (
        STASH_DEV.load(Ordering::Relaxed),
        STASH_INO.load(Ordering::Relaxed),
    );
    // SAFETY: the descriptor stash_payload kept, now ours alone.
    let f = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    (key == obj.file_id()).then_some(f)
}

/// Reserves bytes `[off, off + len)` of an object's file (`ENOMEM` when the
/// file system cannot hold them; nothing on one without `fallocate`).
pub(crate) fn reserve_range(obj: &Obj, off: u64, len: u64) -> Result<()> {
    let f = obj.file()?;
    reserve_fd(f.as_raw_fd(), off, len).map(|_| ())
}

/// [`reserve_range`] on a descriptor: `Ok(true)` when reserved (and the
/// file at least `off + len` long), `Ok(false)` on a file system without
/// `fallocate` (nothing done).
pub(super) fn reserve_fd(fd: i32, off: u64, len: u64) -> Result<bool> {
    crate::ns::reserve_sizing(fd, off, len).map_err(|_| Errno::ENOMEM)
}
