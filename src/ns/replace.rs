//! Moving an object to a new file: a copy, built and checked by the
//! engine, published over the object's names. The message queue moves a
//! queue away from a stopped lock holder this way (docs/bounded-time.md,
//! "Fencing a stopped holder"): the holder keeps writing, when continued,
//! into the file no name leads to any more.
//!
//! Names: the copy is made as `.new.<pid>.<start>.<n>` (swept as any
//! creator's temporary file when its maker dies before publishing),
//! renamed over the numbered name, then linked as `.mv.<pid>.<start>`
//! and renamed over each key name that named the old file. A mover killed
//! between the two leaves the key naming the old file: whoever opens the
//! key finds the numbered name holding the same object (id and key) in
//! another file and moves the key name there ([`Ns::by_key`]); a `.mv.`
//! name of a dead mover is unlinked by [`Ns::sweep_tmp`].

use super::lookup::adopt_in;
use super::*;

/// `lstat` of `name` in `dir`.
fn lstat_in(dir: &OwnedFd, name: &str) -> Option<libc::stat> {
    let c = cpath(name).ok()?;
    // SAFETY: fstatat without following links, into a zeroed buffer.
    unsafe {
        let mut st: libc::stat = core::mem::zeroed();
        (libc::fstatat(
            dir.as_raw_fd(),
            c.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        ) == 0)
            .then_some(st)
    }
}

fn same_in(dir: &OwnedFd, name: &str, dev: u64, ino: u64) -> bool {
    lstat_in(dir, name).is_some_and(|st| st.st_dev == dev && st.st_ino == ino)
}

/// Renames `from` over `to` in `dir` (replacing it).
fn rename_over(dir: &OwnedFd, from: &CString, to: &CString) -> Result<()> {
    // SAFETY: renameat between two names relative to a directory we hold.
    if unsafe { libc::renameat(dir.as_raw_fd(), from.as_ptr(), dir.as_raw_fd(), to.as_ptr()) } != 0
    {
        return Err(Errno::last());
    }
    Ok(())
}

/// Gives file `target` (a name in `dir`) the name `to` too, replacing
/// what `to` named: a link under a temporary name, renamed over `to`.
pub(super) fn relink_over(dir: &OwnedFd, target: &str, to: &str) -> Result<()> {
    let tmp = cpath(&format!(".mv.{}.{}", my_pid(), my_start()))?;
    // SAFETY: unlinking our own temporary name in our directory (a
    // leftover of an earlier attempt of this process).
    unsafe { libc::unlinkat(dir.as_raw_fd(), tmp.as_ptr(), 0) };
    if !link_new(dir, &cpath(target)?, &tmp)? {
        return Err(Errno::EEXIST);
    }
    let r = rename_over(dir, &tmp, &cpath(to)?);
    if r.is_err() {
        // SAFETY: as above.
        unsafe { libc::unlinkat(dir.as_raw_fd(), tmp.as_ptr(), 0) };
    }
    r
}

/// Copies the first `len` bytes of `from` to `to`, leaving the holes of
/// `from` holes (a queue file is mostly sparse).
fn copy_sparse(from: i32, to: i32, len: u64) -> Result<()> {
    let mut buf = vec![0u8; 1 << 16];
    let mut off: i64 = 0;
    let end = len as i64;
    while off < end {
        // SAFETY: lseek on a descriptor we hold.
        let data = unsafe { libc::lseek(from, off, libc::SEEK_DATA) };
        if data < 0 {
            if Errno::last() == Errno::ENXIO {
                break; // only a hole is left
            }
            return Err(Errno::last());
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(from, data, libc::SEEK_HOLE) }.min(end);
        if hole < 0 {
            return Err(Errno::last());
        }
        let mut at = data;
        while at < hole {
            let n = buf.len().min((hole - at) as usize);
            // SAFETY: reading into our buffer at most its length.
            let r = unsafe { libc::pread(from, buf.as_mut_ptr().cast(), n, at) };
            if r <= 0 {
                return Err(if r < 0 { Errno::last() } else { Errno::EIO });
            }
            let r = r as usize;
            let mut w = 0;
            while w < r {
                // SAFETY: writing from our buffer what was read into it.
                let k =
                    unsafe { libc::pwrite(to, buf[w..r].as_ptr().cast(), r - w, at + w as i64) };
                if k <= 0 {
                    return Err(if k < 0 { Errno::last() } else { Errno::EIO });
                }
                w += k as usize;
            }
            at += r as i64;
        }
        off = hole;
    }
    Ok(())
}

impl Obj {
    /// What became of the object, in one look at its header's state:
    /// `None` while live, `Some(ESTALE)` once moved ([`Obj::is_moved`]),
    /// `Some(EIDRM)` once removed. Two looks (moved? then removed?) would
    /// take an object moved between them for a removed one: a caller
    /// stopped there and fenced, or one racing a move, then answered
    /// `EINVAL`/`EIDRM` for a live queue instead of following it.
    #[inline]
    pub fn gone(&self) -> Option<Errno> {
        match self.header().state.load(Ordering::Acquire) {
            STATE_LIVE => None,
            STATE_MOVED => Some(Errno::ESTALE),
            _ => Some(Errno::EIDRM),
        }
    }

    /// True once the object moved to another file ([`Obj::replace`]):
    /// every name now leads to the copy (reopen it: [`Obj::successor`]).
    #[inline]
    pub fn is_moved(&self) -> bool {
        self.header().state.load(Ordering::Acquire) == STATE_MOVED
    }

    /// The object as its numbered name has it now: after a move, the
    /// copy. `EIDRM` when the name is gone or leads to another object or
    /// a removed one.
    pub fn successor(&self) -> Result<Obj> {
        let f = self.open_numbered()?;
        let (obj, live) = adopt_in(&self.dir, self.kind, f)?;
        if !live || obj.id != self.id {
            return Err(Errno::EIDRM);
        }
        Ok(obj)
    }

    /// Moves the object to a new file: a copy of its file with the same
    /// owner, group and mode (`EPERM` when this process may not give it
    /// those: neither root nor the file's owner, or a group it is not in),
    /// which `build` then fixes up (as a private object: no name leads to
    /// it yet), and which is published over the object's numbered name and
    /// key names when `still` says so after `build` (`EAGAIN` otherwise).
    /// The old file's header is marked moved ([`Obj::mark_moved`]) once
    /// the names lead to the copy; the rest of the old file is the
    /// caller's to mark.
    /// `EIDRM` when the object was removed or moved meanwhile.
    pub fn replace(
        &self,
        build: &dyn Fn(&Obj) -> Result<()>,
        still: &dyn Fn() -> bool,
    ) -> Result<()> {
        if self.data_apart() || self.is_removed() {
            return Err(Errno::EINVAL);
        }
        let old = match self.file()? {
            ObjFd::Opened(f) => f,
            ObjFd::Building(_) => return Err(Errno::EINVAL),
        };
        let st = fstat(old.as_raw_fd())?;
        // SAFETY: geteuid cannot fail.
        let euid = unsafe { libc::geteuid() };
        if euid != 0 && euid != st.st_uid {
            return Err(Errno::EPERM);
        }
        let (fd, tname) = Ns::tmpfile(&self.dir)?;
        let unlink_tmp = || {
            // SAFETY: unlinking our own temporary name in our directory.
            unsafe { libc::unlinkat(self.dir.as_raw_fd(), tname.as_ptr(), 0) };
        };
        let made = (|| -> Result<Obj> {
            let f = fd.as_raw_fd();
            // SAFETY: fchown/fchmod/ftruncate of the file we just made.
            unsafe {
                if libc::fchown(f, st.st_uid, st.st_gid) != 0 {
                    return Err(Errno::EPERM);
                }
                if libc::fchmod(f, st.st_mode & 0o7777) != 0 {
                    return Err(Errno::last());
                }
                if libc::ftruncate(f, st.st_size) != 0 {
                    return Err(Errno::last());
                }
            }
            copy_sparse(old.as_raw_fd(), f, st.st_size as u64)?;
            let (new, _) = adopt_in(
                &self.dir,
                self.kind,
                fd.try_clone().map_err(|_| Errno::EMFILE)?,
            )?;
            if new.id != self.id {
                return Err(Errno::EIO);
            }
            build(&new)?;
            Ok(new)
        })();
        let new = match made {
            Ok(n) => n,
            Err(e) => {
                unlink_tmp();
                return Err(e);
            }
        };
        let idx = Ns::idx_name(self.kind, self.id % IDX_SPAN);
        if !still() {
            unlink_tmp();
            return Err(Errno::EAGAIN);
        }
        if self.is_removed() || !same_in(&self.dir, &idx, self.dev, self.ino) {
            unlink_tmp();
            return Err(Errno::EIDRM);
        }
        if let Err(e) = rename_over(&self.dir, &tname, &cpath(&idx)?) {
            unlink_tmp();
            return Err(e);
        }
        // The key names that led to the old file now lead to the copy.
        let key = new.perm().key;
        if key != IPC_PRIVATE {
            for n in 0..KEY_SLOTS {
                let name = Ns::key_name(self.kind, key, n);
                match lstat_in(&self.dir, &name) {
                    None => break,
                    Some(s) if s.st_dev == self.dev && s.st_ino == self.ino => {
                        let _ = relink_over(&self.dir, &idx, &name);
                    }
                    Some(_) => {}
                }
            }
        }
        if !self.mark_moved() {
            // Removed meanwhile without its locks (`IPC_RMID` after its
            // bound): the remover unlinked only names of the old file.
            // The copy goes too. (The mark is a compare-and-swap from
            // live, as the remover's: exactly one of the two wins.)
            new.header().state.store(STATE_REMOVED, Ordering::Release);
            for n in 0..KEY_SLOTS {
                let name = Ns::key_name(self.kind, key, n);
                if key == IPC_PRIVATE || lstat_in(&self.dir, &name).is_none() {
                    break;
                }
                if same_in(&self.dir, &name, new.dev, new.ino) {
                    if let Ok(c) = cpath(&name) {
                        // SAFETY: unlinking a name of the copy (checked by
                        // inode just above) in our directory.
                        unsafe { libc::unlinkat(self.dir.as_raw_fd(), c.as_ptr(), 0) };
                    }
                }
            }
            if same_in(&self.dir, &idx, new.dev, new.ino) {
                if let Ok(c) = cpath(&idx) {
                    // SAFETY: as above, the copy's numbered name.
                    unsafe { libc::unlinkat(self.dir.as_raw_fd(), c.as_ptr(), 0) };
                }
            }
            return Err(Errno::EIDRM);
        }
        drop(new);
        Ok(())
    }

    /// Marks the object moved (done by [`Obj::replace`] once the copy is
    /// published; again by whoever finishes a move its mover was killed
    /// in): a compare-and-swap from live. True when it is marked moved
    /// now; false when it was removed.
    pub fn mark_moved(&self) -> bool {
        let st = &self.header().state;
        match st.compare_exchange(STATE_LIVE, STATE_MOVED, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => true,
            Err(v) => v == STATE_MOVED,
        }
    }
}
