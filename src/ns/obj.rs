//! The object: its header ([`ObjHeader`], at offset 0 of every object file)
//! and what an engine does with an [`Obj`] (its region, lock, files,
//! permissions).

use super::*;

/// How many times [`Obj::stat`] was called in this process (for the
/// tests that count a removal's system calls).
#[cfg(test)]
pub(crate) static NUMBER_STATS: AtomicU64 = AtomicU64::new(0);

/// The header at offset 0 of every object file.
#[repr(C)]
#[derive(Debug)]
pub struct ObjHeader {
    pub(super) magic: AtomicU64,
    pub(super) kind: AtomicU32,
    pub(super) version: AtomicU32,
    pub(super) id: AtomicI32,
    pub(super) state: AtomicU32,
    pub(super) ctl_len: AtomicU64,
    pub(super) data_len: AtomicU64,
    /// the object's lock; engines take it through [`Obj::lock`]
    pub(super) lock: RobustLock,
    /// owner, creator, mode, key
    pub perm: PermShared,
    /// last change (`*_ctime`)
    pub ctime: AtomicI64,
    /// creator pid (`shm_cpid`)
    pub cpid: AtomicI32,
    /// [`DATA_APART`] when the payload is a file of its own
    pub(super) flags: AtomicU32,
    /// the creator's start time (with `cpid`, tells a killed creator from
    /// a live one; 0 in files made before it was recorded)
    pub cstart: AtomicU64,
    /// `IPC_SET` in progress (see [`Obj::set_perm`]): 1 while the new
    /// owner, group and mode below are being applied, else 0.
    pub(super) pend: AtomicU32,
    pub(super) pend_uid: AtomicU32,
    pub(super) pend_gid: AtomicU32,
    pub(super) pend_mode: AtomicU32,
    /// The last two distinct processes that changed the object, and the
    /// CPU each ran on then (`pid << 32 | cpu`, [`crate::sync::spin::here`];
    /// 0: none yet, and in files made before the field): where a waiter's
    /// answer will come from ([`Obj::peer`]).
    pub(super) peers: [AtomicU64; 2],
    /// The inode of the file whose creation reserved the storage it
    /// holds (its first page and the engine's reservations, see
    /// [`Obj::only_reserved`]); written by the creator before
    /// publication. A copy made by [`Obj::replace`] carries the inode of
    /// the file it was copied from (its holes are not reserved), and files
    /// made before the field hold 0: neither matches its file.
    pub(super) reserved_for: AtomicU64,
    /// A move's commit point ([`Obj::replace`], docs/bounded-time.md,
    /// "Taking over a stalled move"): the *epoch* of the object's moves
    /// (bits 0–61; 0 in files made before the field), bumped each time a
    /// mover lifts what it laid (`MV_LIFTING` meanwhile), or, once a move
    /// is committed, `MV_COMMITTED` and the inode of the winning copy
    /// (set by compare-and-swap from the epoch its mover began in, before
    /// the copy is renamed over the names).
    pub(super) moved_to: AtomicU64,
    /// The inode of this file's *spare* (`<kind>.<idx>.spare`, made by
    /// root or the file's owner with the file's owner, group and mode),
    /// which a member that may not make the object's copy fills to move
    /// it (docs/bounded-time.md, "A member that may not make the copy";
    /// `src/ns/spare.rs`). 0: none (files made before the field, objects
    /// that grant nothing to anyone but their owner, a copy made in its
    /// spare).
    pub(super) spare_ino: AtomicU64,
}

const _: () = assert!(core::mem::size_of::<ObjHeader>() <= HEADER_LEN);

const _: () = assert!(core::mem::offset_of!(ObjHeader, version) == 12);

// SAFETY: `#[repr(C)]`, atomics (and `RobustLock`, `PermShared`, both
// `Shared`) only.
unsafe impl Shared for ObjHeader {}

impl ObjHeader {
    /// Whether the recorded sizes are possible in a file of `file_size`
    /// bytes: a control area of at least the header and at most 1 TiB,
    /// and the payload too when it lies in this file (a payload of its
    /// own is checked by whoever maps it, at `shmat`).
    pub(super) fn sizes_fit(&self, file_size: u64) -> bool {
        let ctl_len = self.ctl_len.load(Ordering::Relaxed);
        let here = if self.flags.load(Ordering::Relaxed) & DATA_APART != 0 {
            0
        } else {
            self.data_len.load(Ordering::Relaxed)
        };
        (HEADER_LEN as u64..=1 << 40).contains(&ctl_len)
            && ctl_len.checked_add(here).is_some_and(|t| t <= file_size)
    }

    /// Whether a file owned by `uid` may be this object's: made by the
    /// user it claims, or given to its owner (root's `IPC_SET` hands the
    /// file over). Anything else is a planted file.
    pub(super) fn owned_by(&self, uid: libc::uid_t) -> bool {
        self.perm.cuid.load(Ordering::Relaxed) == uid
            || self.perm.uid.load(Ordering::Relaxed) == uid
    }
}

/// A held object lock; unlocks when dropped.
#[derive(Debug)]
pub struct ObjGuard<'a> {
    obj: &'a Obj,
}

impl<'a> ObjGuard<'a> {
    /// The object whose lock this is.
    #[inline]
    pub fn obj(&self) -> &'a Obj {
        self.obj
    }
}

impl Drop for ObjGuard<'_> {
    fn drop(&mut self) {
        self.obj.header().lock.unlock();
    }
}

/// A descriptor of an object's file, from [`Obj::file`]: opened for the
/// caller (closed on drop), or, while the object is being created, the
/// creator's own (not closed here: it outlives the borrow).
#[derive(Debug)]
pub enum ObjFd<'a> {
    /// Opened by name for this call.
    Opened(OwnedFd),
    /// The creator's descriptor, while the object is being built.
    Building(BorrowedFd<'a>),
}

impl AsRawFd for ObjFd<'_> {
    fn as_raw_fd(&self) -> i32 {
        match self {
            ObjFd::Opened(f) => f.as_raw_fd(),
            ObjFd::Building(fd) => fd.as_raw_fd(),
        }
    }
}

impl Obj {
    /// The common header.
    #[inline]
    pub fn header(&self) -> &ObjHeader {
        self.map.at(0).expect("object header mapped")
    }

    /// The engine's control area (after the header): the one window
    /// through which an engine reads and writes its object.
    #[inline]
    pub fn region(&self) -> Region<'_> {
        self.map.region_from(HEADER_LEN)
    }

    /// A `T` at `off` bytes into the engine's control area.
    #[inline]
    pub fn at<T: Shared>(&self, off: usize) -> Result<&T> {
        self.region().at(off)
    }

    /// `EIO` unless the object's layout version (in its header) is
    /// `expected`: an object of another layout is treated as corrupt.
    pub fn check_layout(&self, expected: u32) -> Result<()> {
        if self.header().version.load(Ordering::Relaxed) == expected {
            Ok(())
        } else {
            Err(Errno::EIO)
        }
    }

    /// Bytes of the engine's control area.
    pub fn ctl_len(&self) -> usize {
        self.map.len() - HEADER_LEN
    }

    /// Offset of the payload in the file (page aligned), and its length.
    pub fn data_range(&self) -> (u64, u64) {
        (self.map.len() as u64, self.data_len)
    }

    /// The device and inode of the object's file (recorded when it was
    /// opened).
    pub fn file_id(&self) -> (u64, u64) {
        (self.dev, self.ino)
    }

    /// Notes this process, on the CPU it runs on now, as the last to
    /// change the object (for waiters' spin policy, `crate::sync::spin`).
    /// Writes only when the last changer was not this process on this CPU.
    #[inline]
    pub fn note_peer(&self) {
        let p = &self.header().peers;
        let here = crate::sync::spin::here();
        let last = p[0].load(Ordering::Relaxed);
        if last == here {
            return;
        }
        if last >> 32 != here >> 32 {
            p[1].store(last, Ordering::Relaxed);
        }
        p[0].store(here, Ordering::Relaxed);
    }

    /// Where the last process other than this one that changed the object
    /// ran ([`Obj::note_peer`]): a waiter's likely waker.
    #[inline]
    pub fn peer(&self) -> crate::sync::spin::Peer {
        use crate::sync::spin::{peer_of, Peer};
        self.header()
            .peers
            .iter()
            .map(|w| peer_of(w.load(Ordering::Relaxed)))
            .find(|p| *p != Peer::Unknown)
            .unwrap_or(Peer::Unknown)
    }

    /// The object file (to map its payload, or `fstat` it), opened again
    /// by its numbered name, never through a symlink, and checked to be
    /// the same file (device and inode) as when the object was opened: a
    /// descriptor for the caller to use and drop, so that an object keeps
    /// none open between calls (`ulimit -n` bounds descriptors, not
    /// objects). `EIDRM` when that name is gone or names another file.
    pub fn file(&self) -> Result<ObjFd<'_>> {
        if let Some(fd) = self.building {
            // While it is being built, the creator's descriptor (no dup:
            // a create asks for the file several times).
            // SAFETY: `building` is the creator's open descriptor of the
            // new file for as long as this object is being built, which
            // outlives the borrow of `self`.
            return Ok(ObjFd::Building(unsafe { BorrowedFd::borrow_raw(fd) }));
        }
        if self.alt {
            // At its spare's name (src/ns/spare.rs), or back at its number
            // since (root or the owner put it back).
            if let Ok(f) = self.open_named(&Ns::spare_name(self.kind, self.id % IDX_SPAN)) {
                if fstat(f.as_raw_fd())
                    .is_ok_and(|st| st.st_dev == self.dev && st.st_ino == self.ino)
                {
                    return Ok(ObjFd::Opened(f));
                }
            }
        }
        let f = self.open_numbered()?;
        let st = fstat(f.as_raw_fd())?;
        if st.st_dev != self.dev || st.st_ino != self.ino {
            return Err(Errno::EIDRM);
        }
        Ok(ObjFd::Opened(f))
    }

    /// Whatever file the object's numbered name leads to now, opened
    /// read-write, never through a symlink (`EIDRM`: no such name).
    pub(super) fn open_numbered(&self) -> Result<OwnedFd> {
        self.open_named(&Ns::idx_name(self.kind, self.id % IDX_SPAN))
    }

    /// Opens `name` in the namespace directory read-write, never through
    /// a symlink (`EIDRM`: no such name).
    pub(super) fn open_named(&self, name: &str) -> Result<OwnedFd> {
        let name = cpath(name)?;
        // SAFETY: openat relative to the namespace directory we hold,
        // never following a symlink.
        let fd = unsafe {
            libc::openat(
                self.dir.as_raw_fd(),
                name.as_ptr(),
                libc::O_RDWR | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(match Errno::last() {
                Errno::ENOENT | Errno::ELOOP => Errno::EIDRM,
                e => e,
            });
        }
        // SAFETY: fresh descriptor we own.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// While the object is being built: the creator's descriptor of its
    /// payload file (read-write, not duplicated), e.g. to reserve storage.
    pub fn building_data_fd(&self) -> Option<BorrowedFd<'_>> {
        // SAFETY: `building_data` is the creator's open descriptor of the
        // new payload for as long as this object is being built, which
        // outlives the borrow of `self`.
        self.building_data
            .map(|fd| unsafe { BorrowedFd::borrow_raw(fd) })
    }

    /// The read-write descriptor of the payload file that this process
    /// created with the object, once (then `None`): the creator's own,
    /// with no open and no owner check. Not taken, it is closed with the
    /// object.
    pub fn take_data_fd(&self) -> Option<OwnedFd> {
        let fd = self.data_fd.swap(-1, Ordering::AcqRel);
        // SAFETY: the descriptor `create` stored, now ours alone.
        (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// True when the payload is a file of its own ([`Obj::data_file`]).
    pub fn data_apart(&self) -> bool {
        self.header().flags.load(Ordering::Relaxed) & DATA_APART != 0
    }

    /// The payload file ([`CreateSpec::data_apart`]), opened by its name
    /// (never through a symlink) read-write or read-only: the file system
    /// checks the caller against the payload's mode, the IPC mode's read
    /// and write bits (`EACCES`). It must be a regular file owned by the
    /// object's owner or creator (anything else was planted: `EIO`);
    /// `EIDRM` when it is gone. The caller checks its size before mapping.
    pub fn data_file(&self, write: bool) -> Result<OwnedFd> {
        if let Some(fd) = self.building_data {
            // SAFETY: duplicating the creator's descriptor of the new
            // payload, open for as long as this object is being built.
            let d = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
            if d < 0 {
                return Err(Errno::last());
            }
            // SAFETY: a fresh descriptor we own.
            return Ok(unsafe { OwnedFd::from_raw_fd(d) });
        }
        if !self.data_apart() {
            return Err(Errno::EIO);
        }
        let how = if write { libc::O_RDWR } else { libc::O_RDONLY };
        self.open_data(how).map_err(|e| match e {
            Errno::ENOENT => Errno::EIDRM,
            Errno::ELOOP => Errno::EIO,
            e => e,
        })
    }

    /// Opens the payload file with `how` (plus `O_NOFOLLOW`), checked to
    /// be a regular file owned by the object's owner or creator (`EIO`
    /// otherwise: planted).
    fn open_data(&self, how: i32) -> Result<OwnedFd> {
        // The name on the stack: `shmat` allocates nothing for it (a
        // signal handler's `shmat` that interrupted `malloc` must not
        // enter it again).
        let name = super::fs::data_cname(self.kind, self.ino);
        let name = name.as_cstr()?;
        // SAFETY: openat relative to the namespace directory we hold,
        // never following a symlink, never blocking: a FIFO a member put
        // in place of its own segment's payload, opened read-only, waited
        // for a writer for ever (`c_tests/t_shm_data_fifo`).
        let fd = unsafe {
            libc::openat(
                self.dir.as_raw_fd(),
                name.as_ptr(),
                how | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK,
            )
        };
        if fd < 0 {
            return Err(Errno::last());
        }
        // SAFETY: fresh descriptor we own.
        let f = unsafe { OwnedFd::from_raw_fd(fd) };
        let st = fstat(fd)?;
        let p = self.header();
        if st.st_mode & libc::S_IFMT != libc::S_IFREG
            || (st.st_uid != p.perm.uid.load(Ordering::Relaxed)
                && st.st_uid != p.perm.cuid.load(Ordering::Relaxed))
        {
            return Err(Errno::EIO);
        }
        Ok(f)
    }

    /// Device and inode of the payload file (see [`Obj::data_file`]), by
    /// its name; `None` when it cannot be seen.
    pub fn data_id(&self) -> Option<(u64, u64)> {
        let name = super::fs::data_cname(self.kind, self.ino);
        let name = name.as_cstr().ok()?;
        // SAFETY: fstatat relative to the namespace directory, without
        // following a symlink, into a zeroed buffer.
        unsafe {
            let mut st: libc::stat = core::mem::zeroed();
            (libc::fstatat(
                self.dir.as_raw_fd(),
                name.as_ptr(),
                &mut st,
                libc::AT_SYMLINK_NOFOLLOW,
            ) == 0)
                .then_some((st.st_dev, st.st_ino))
        }
    }

    /// Gives `len` bytes of the object file from `off` storage now
    /// (`posix_fallocate`), so that first writes there through the mapping
    /// cannot meet a full file system (tmpfs answers those with SIGBUS):
    /// for an engine about to use pages it never used. `ENOSPC` when there
    /// is no room. (A published object only: in `init` the file has no
    /// name yet.)
    pub fn reserve(&self, off: u64, len: u64) -> Result<()> {
        reserve_at(self.file()?.as_raw_fd(), off, len)
    }

    /// The owner's check (`IPC_SET`, `IPC_RMID`, `SHM_LOCK`): the owner or
    /// creator the header records, or root (`EPERM` otherwise), who must
    /// also own the object file (root's `IPC_SET` gives the file to a new
    /// owner). A member who rewrote the header's owner — it may write the
    /// file of a queue or set it was granted anything on — is not the
    /// file's owner: the file system has the last word.
    pub fn check_owner(&self, me: &Creds) -> Result<()> {
        self.perm().check_owner(me)?;
        if me.privileged() {
            return Ok(());
        }
        if self.stat()?.st_uid != me.euid {
            return Err(Errno::EPERM);
        }
        Ok(())
    }

    /// `stat` of the object file by its numbered name (one system call,
    /// no descriptor), checked to be the object's file: `EIDRM` otherwise.
    pub fn stat(&self) -> Result<libc::stat> {
        #[cfg(test)]
        NUMBER_STATS.fetch_add(1, Ordering::Relaxed);
        if self.alt {
            // (A copy at its spare's name: `src/ns/spare.rs`.)
            return match self.file()? {
                ObjFd::Opened(f) => fstat(f.as_raw_fd()),
                ObjFd::Building(f) => fstat(f.as_raw_fd()),
            };
        }
        let name = idx_cname(self.kind, self.id % IDX_SPAN);
        // SAFETY: fstatat relative to the namespace directory, without
        // following a symlink, into a zeroed buffer.
        let st = unsafe {
            let mut st: libc::stat = core::mem::zeroed();
            if libc::fstatat(
                self.dir.as_raw_fd(),
                name.as_ptr(),
                &mut st,
                libc::AT_SYMLINK_NOFOLLOW,
            ) != 0
            {
                return Err(match Errno::last() {
                    Errno::ENOENT => Errno::EIDRM,
                    e => e,
                });
            }
            st
        };
        if st.st_dev != self.dev || st.st_ino != self.ino {
            return Err(Errno::EIDRM);
        }
        Ok(st)
    }

    /// Whether the object's file holds exactly `pages` pages of storage
    /// (`st_blocks`) and was created here with its reservations (its
    /// header's `reserved_for` is its inode): then an engine that reserved
    /// `pages` distinct pages at creation knows that no other page of the
    /// file was ever written (a write to a hole allocates a page), with one
    /// `fstatat` of the number (which also checks that the number still
    /// names this object) instead of a descriptor and `lseek(SEEK_DATA)`.
    /// False when anything differs (another file system's accounting,
    /// huge pages, a page written or reserved since, a moved object, the
    /// number gone): the caller then looks with `SEEK_DATA`. The header is
    /// untrusted: a member that scribbles `reserved_for` (or punches a hole
    /// in a reserved page) can make the engine pass over a written page,
    /// what scribbling on that page's contents achieves as well.
    pub fn only_reserved(&self, pages: u64) -> bool {
        let Ok(st) = self.stat() else {
            return false;
        };
        self.only_reserved_in(&st, pages)
    }

    /// [`Obj::only_reserved`] from `st`, a status of the object's number
    /// its caller took ([`Obj::stat`], checked to be this object's file:
    /// `Ns::remove_walked` hands the one its unlink check takes).
    pub fn only_reserved_in(&self, st: &libc::stat, pages: u64) -> bool {
        st.st_dev == self.dev
            && st.st_ino == self.ino
            && self.header().reserved_for.load(Ordering::Relaxed) == st.st_ino
            && (st.st_blocks as u64).checked_mul(512) == pages.checked_mul(4096)
    }

    /// Snapshot of the permission block.
    #[inline]
    pub fn perm(&self) -> Perm {
        self.settled_perm().load()
    }

    /// [`Perm::check_mine_secs`] on the object's permission block (see
    /// [`PermShared::check_mine_secs`]): `EACCES` unless the caller may
    /// access it as `want` (rwx bits); the wall clock's seconds otherwise.
    #[inline(always)]
    pub fn check_mine_secs(&self, want: u32) -> Result<i64> {
        self.settled_perm().check_mine_secs(want)
    }

    /// The permission block, a pending `IPC_SET` settled first: for the
    /// per-call checks that load only what they need
    /// ([`crate::ns::perm::PermShared::check_mine`]).
    #[inline(always)]
    pub fn settled_perm(&self) -> &crate::ns::perm::PermShared {
        let h = self.header();
        if h.pend.load(Ordering::Acquire) != 0 {
            self.settle_pending();
        }
        &h.perm
    }

    /// The id recorded in the file (differs from [`Obj::id`] only if the
    /// file was scribbled on).
    pub fn header_id(&self) -> i32 {
        self.header().id.load(Ordering::Relaxed)
    }

    /// True when some process holds the object's lock (**SeqCst**, as its
    /// acquisitions: see [`crate::sync::lock::RobustLock::is_locked`]).
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.header().lock.is_locked()
    }

    /// The object's lock itself, for an engine that takes it as movable
    /// and fences its holder (the semaphore set fence, `sem::fence`).
    #[inline]
    pub fn obj_lock(&self) -> &crate::sync::lock::RobustLock {
        &self.header().lock
    }

    /// True once `IPC_RMID` (or `ripcrm`) removed it.
    #[inline]
    pub fn is_removed(&self) -> bool {
        self.header().state.load(Ordering::Acquire) != STATE_LIVE
    }

    /// Takes the object lock; when the previous holder died inside,
    /// `repair` runs (under the lock) before the guard is returned.
    pub fn lock(&self, repair: &dyn Fn(&Obj)) -> ObjGuard<'_> {
        if self.header().lock.lock() == LockOutcome::OwnerDied {
            repair(self);
        }
        ObjGuard { obj: self }
    }

    /// [`Obj::lock`] unless `deadline` passes first (`ETIMEDOUT`), for an
    /// object that stays in use after removal (a segment still attached).
    pub fn lock_bounded(
        &self,
        repair: &dyn Fn(&Obj),
        deadline: &crate::sync::Deadline,
    ) -> Result<ObjGuard<'_>> {
        if self.header().lock.lock_until(deadline, &|| false)? == LockOutcome::OwnerDied {
            repair(self);
        }
        Ok(ObjGuard { obj: self })
    }

    /// [`Obj::lock`] unless `deadline` passes first (`ETIMEDOUT`) or the
    /// object is removed while waiting (`EIDRM`).
    #[inline]
    pub fn lock_until(
        &self,
        repair: &dyn Fn(&Obj),
        deadline: &crate::sync::Deadline,
    ) -> Result<ObjGuard<'_>> {
        self.lock_until_or(repair, deadline, &|| false)
    }

    /// [`Obj::lock_until`], also giving up (`EIDRM`) when `give_up` turns
    /// true (asked every few milliseconds while another holds the lock:
    /// a waiter that may get what it wants another way).
    #[inline]
    pub fn lock_until_or(
        &self,
        repair: &dyn Fn(&Obj),
        deadline: &crate::sync::Deadline,
        give_up: &dyn Fn() -> bool,
    ) -> Result<ObjGuard<'_>> {
        let gone = || self.is_removed() || give_up();
        if self.header().lock.lock_until(deadline, &gone)? == LockOutcome::OwnerDied {
            repair(self);
        }
        Ok(ObjGuard { obj: self })
    }

    /// `IPC_SET`'s common part: uid, gid and the low 9 mode bits, by the
    /// owner, creator or root (`EPERM` otherwise). Updates `ctime`.
    ///
    /// Crash-atomic with the file's mode: the new values are recorded as
    /// pending, the file is given its mode, the values are applied, the
    /// record is cleared. A process killed anywhere in between leaves a
    /// pending record that the next look at the permissions settles (see
    /// [`Obj::settle_pending`]): the change counts when the file already
    /// has the new mode, and not otherwise — so the IPC mode and the file's
    /// mode never disagree.
    ///
    /// A new owner or group is given the file too (`fchown`), so that it
    /// can open it: root may give an object to anyone; anyone else only
    /// what `chown(2)` allows — its group to a group the caller is in, its
    /// owner never (`EPERM`: a file cannot be given away without
    /// privilege; the kernel's IPC_SET allows it, see README).
    pub fn set_perm(&self, me: &Creds, uid: u32, gid: u32, mode: u32) -> Result<()> {
        let h = self.header();
        let old = self.perm();
        self.check_owner(me)?;
        let owner_changes = uid != old.uid || gid != old.gid;
        if owner_changes && uid != old.uid && !me.privileged() {
            return Err(Errno::EPERM);
        }
        let file = if owner_changes {
            Some(self.file()?)
        } else {
            None
        };
        // A payload of its own never grants more than the IPC mode: it is
        // narrowed to what the old and the new mode both grant before the
        // change, and given the new owner and mode after it. A setter
        // killed in between leaves it stricter than the IPC mode (the next
        // IPC_SET mends that), never looser.
        let data = self.data_apart().then(|| self.data_path().ok()).flatten();
        let (old_d, new_d) = (data_mode_for(old.mode), data_mode_for(mode));
        if let Some(d) = &data {
            Self::chmod_path(d, old_d & new_d);
        }
        h.pend_uid.store(uid, Ordering::Relaxed);
        h.pend_gid.store(gid, Ordering::Relaxed);
        h.pend_mode.store(mode & 0o777, Ordering::Relaxed);
        h.pend.store(1, Ordering::Release);
        if let Some(f) = &file {
            let new_uid = if uid != old.uid { uid } else { u32::MAX };
            let new_gid = if gid != old.gid { gid } else { u32::MAX };
            // SAFETY: fchown of a descriptor of the object file we hold.
            if unsafe { libc::fchown(f.as_raw_fd(), new_uid, new_gid) } != 0 {
                h.pend.store(0, Ordering::Release);
                if let Some(d) = &data {
                    Self::chmod_path(d, old_d);
                }
                return Err(Errno::EPERM);
            }
        }
        self.sync_file_mode(mode & 0o777);
        Self::apply_perm(h, uid, gid, mode);
        h.pend.store(0, Ordering::Release);
        if let Some(d) = &data {
            if owner_changes {
                let new_uid = if uid != old.uid { uid } else { u32::MAX };
                let new_gid = if gid != old.gid { gid } else { u32::MAX };
                // SAFETY: fchownat of the payload through an O_PATH
                // descriptor we hold (AT_EMPTY_PATH: that very file).
                unsafe {
                    libc::fchownat(
                        d.as_raw_fd(),
                        c"".as_ptr(),
                        new_uid,
                        new_gid,
                        libc::AT_EMPTY_PATH,
                    )
                };
            }
            Self::chmod_path(d, new_d);
        }
        // Its spare follows the file's owner, group and mode (made, made
        // again, or unlinked: src/ns/spare.rs).
        self.ensure_spare();
        Ok(())
    }

    /// An `O_PATH` descriptor of the payload file (never a symlink; a
    /// regular file owned by the object's owner or creator), for changing
    /// its mode and owner whatever read or write access its mode gives.
    fn data_path(&self) -> Result<OwnedFd> {
        self.open_data(libc::O_PATH)
    }

    /// `chmod` of the file behind an `O_PATH` descriptor (through
    /// `/proc/self/fd`, which names that very file); failure is harmless
    /// (only the file's owner or root may).
    fn chmod_path(fd: &OwnedFd, mode: u32) {
        let Ok(p) = cpath(&format!("/proc/self/fd/{}", fd.as_raw_fd())) else {
            return;
        };
        // SAFETY: chmod of a NUL-terminated path naming our descriptor.
        unsafe { libc::chmod(p.as_ptr(), mode as libc::mode_t) };
    }

    fn apply_perm(h: &ObjHeader, uid: u32, gid: u32, mode: u32) {
        h.perm.uid.store(uid, Ordering::Relaxed);
        h.perm.gid.store(gid, Ordering::Relaxed);
        let old = h.perm.mode.load(Ordering::Relaxed);
        h.perm
            .mode
            .store((old & !0o777) | (mode & 0o777), Ordering::Relaxed);
        h.ctime.store(now_secs(), Ordering::Relaxed);
    }

    /// Settles an `IPC_SET` whose setter died midway (a pending record):
    /// applied when the object file already has the mode the new IPC mode
    /// implies (its `fchmod` was done, or was not needed), dropped
    /// otherwise. Harmless while the setter is still at work: it applies
    /// its values and clears the record itself after.
    #[cold]
    fn settle_pending(&self) {
        let h = self.header();
        let mode = h.pend_mode.load(Ordering::Relaxed) & 0o777;
        let (uid, gid) = (
            h.pend_uid.load(Ordering::Relaxed),
            h.pend_gid.load(Ordering::Relaxed),
        );
        let cur = h.perm.load();
        // The file must already show every part of the change that the
        // setter gives the file: its mode, and a new owner or group.
        let done = self
            .file()
            .and_then(|f| fstat(f.as_raw_fd()))
            .is_ok_and(|st| {
                st.st_mode & 0o777 == file_mode_for(mode)
                    && (uid == cur.uid || st.st_uid == uid)
                    && (gid == cur.gid || st.st_gid == gid)
            });
        if done {
            Self::apply_perm(
                h,
                h.pend_uid.load(Ordering::Relaxed),
                h.pend_gid.load(Ordering::Relaxed),
                mode,
            );
        }
        h.pend.store(0, Ordering::Release);
    }

    /// Gives the object file the access the IPC mode implies: read-write
    /// for each class (owner, group, other) the mode grants anything to
    /// (read-only users still write a queue's bookkeeping; ripc applies the
    /// IPC read/write bits itself). Only the file's owner (the creator) or
    /// root can; otherwise the file keeps its mode (see README).
    fn sync_file_mode(&self, mode: u32) {
        if let Ok(f) = self.file() {
            Self::chmod_fd(f.as_raw_fd(), mode);
        }
    }

    /// [`Obj::sync_file_mode`] on a descriptor of the file.
    pub(super) fn chmod_fd(fd: i32, mode: u32) {
        let fmode = file_mode_for(mode);
        // SAFETY: fchmod of a descriptor we hold; failure is harmless.
        unsafe { libc::fchmod(fd, fmode as libc::mode_t) };
    }
}
