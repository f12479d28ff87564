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
//! another file and moves the key name there ([`Ns::by_key`]); when the
//! copy was removed meanwhile (its numbered name gone or another
//! object's), the key name, the old file's only name, is unlinked and the
//! old file marked removed, whether or not its creator lives; a `.mv.`
//! name of a dead mover is unlinked by [`Ns::sweep_tmp`].
//!
//! An `IPC_RMID` that finds the copy by its numbered name while the mover
//! relinks the key names removes the copy: its walk of the key names may
//! come before the mover's relinking (which then gives a key name the
//! removed copy), or its unlink of the numbered name before it (the
//! relinking fails, and the key name stays on the old file, then marked
//! moved). The mover looks at the copy's removal mark after relinking
//! and unlinks what key names of either file end the key's slots; when
//! the mark was not set yet, the remover's walk comes after the relinking
//! and finds the copy at the key names itself. A key name is relinked only
//! to the copy (the numbered name, unlinked by a remover, may already
//! name a new object). A mover killed before its unlinking leaves key
//! names that every lookup passes over (a removed or moved file), swept by
//! the next healer ([`Ns::heal_key`]).

use super::create::{dead_temps, names_in};
use super::lookup::{adopt_in, open_name_in};
use super::*;

/// Unit tests: what runs at a step of a move ([`step`]).
#[cfg(test)]
pub(crate) type StepHook = Option<Box<dyn Fn(u32)>>;

#[cfg(test)]
thread_local! {
    /// Unit tests: what runs at a step of a move in this thread (a
    /// concurrent `IPC_RMID`).
    static AT_STEP: core::cell::RefCell<StepHook> = const { core::cell::RefCell::new(None) };
}

/// Unit tests: sets what runs at a step of a move in this thread (the
/// engines' tests stop a mover there).
#[cfg(test)]
pub(crate) fn set_step_hook(f: StepHook) {
    AT_STEP.with(|h| *h.borrow_mut() = f);
}

/// A point of a move where a unit test runs what another process could
/// do there: 0 once the copy's file is made, before anything is copied
/// into it; 3 once the move is committed (before any rename), 1 once the
/// copy has the numbered name, 2 once the key names were relinked (before
/// the old file is marked moved). And 10 in a look-up by key, between its
/// look at a key name that found no magic and its second look
/// (`Ns::by_key_seen`). And 20 in a sweep of a segment's file, between
/// the unlink of its payload's name and that of its number; 21 in a sweep
/// of a killed creator's file, between the check that the number is that
/// file and the first unlink. And 30 in `shmat`, under the segment's
/// lock, before its payload is opened, 31 once it is open, before it is
/// mapped (where a signal handler of the caller's own thread, or a
/// remover that went on without the lock a stopped caller holds, may
/// destroy the segment: `shm::tests`).
#[inline(always)]
pub(crate) fn step(_n: u32) {
    #[cfg(test)]
    AT_STEP.with(|h| {
        if let Some(f) = h.borrow().as_ref() {
            f(_n)
        }
    });
}

/// `lstat` of `name` in `dir`.
pub(super) fn lstat_in(dir: &OwnedFd, name: &str) -> Option<libc::stat> {
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
fn rename_over(dir: &OwnedFd, from: &CStr, to: &CStr) -> Result<()> {
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
    relink_if(dir, target, to, None)
}

/// [`relink_over`], only while `target` names file `want` (device and
/// inode; `ESTALE` otherwise): a name that may be unlinked and reused
/// meanwhile (an object's numbered name) never gives `to` another file.
pub(super) fn relink_if(
    dir: &OwnedFd,
    target: &str,
    to: &str,
    want: Option<(u64, u64)>,
) -> Result<()> {
    let tname = format!(".mv.{}.{}", my_pid(), my_start());
    let tmp = cpath(&tname)?;
    // SAFETY: unlinking our own temporary name in our directory (a
    // leftover of an earlier attempt of this process).
    unsafe { libc::unlinkat(dir.as_raw_fd(), tmp.as_ptr(), 0) };
    if !link_new(dir, &cpath(target)?, &tmp)? {
        return Err(Errno::EEXIST);
    }
    let r = match want {
        Some((dev, ino)) if !same_in(dir, &tname, dev, ino) => Err(Errno::ESTALE),
        _ => rename_over(dir, &tmp, &cpath(to)?),
    };
    // The temporary name goes whatever happened: after a failure, and
    // after a rename onto a name that was already a link of the same
    // file (another process relinked it first), which rename(2) makes a
    // success that does nothing — the temporary name stays (t_ns: a
    // `.mv.` name left in 2 of 60 runs). After a real rename it is gone
    // already (ENOENT).
    // SAFETY: as above.
    unsafe { libc::unlinkat(dir.as_raw_fd(), tmp.as_ptr(), 0) };
    r
}

/// Copies the first `len` bytes of `from` to `to`, leaving the holes of
/// `from` holes (a queue file is mostly sparse).
pub(super) fn copy_sparse(from: i32, to: i32, len: u64) -> Result<()> {
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

/// Unlinks the names at the end of `key`'s slots that name one of `files`
/// (objects no key leads to any more), under the namespace directory's
/// lock, as [`Ns::heal_key`] does: never one before a name it keeps,
/// which would hide the names after it from [`Ns::by_key`] (a creator
/// takes the next slot past a removed object's name). Without the lock
/// (held elsewhere for 100 ms) the names stay, for the next healer: a
/// removed or moved object's key name is passed over by every lookup.
fn unlink_trailing_keys(dir: &OwnedFd, kind: Kind, key: i32, files: &[(u64, u64)]) {
    let Some(_lock) = super::create::dir_lock_in(dir, libc::LOCK_EX, 100) else {
        return;
    };
    for n in (0..KEY_SLOTS).rev() {
        let name = Ns::key_name(kind, key, n);
        let Some(st) = lstat_in(dir, &name) else {
            continue;
        };
        if !files.contains(&(st.st_dev, st.st_ino)) {
            break;
        }
        if let Ok(c) = cpath(&name) {
            // SAFETY: unlinking a key name in our directory checked just
            // above to name one of `files`.
            unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), 0) };
        }
    }
}

impl Obj {
    /// Gives the copy `new`, now at `idx` (its numbered name, or the
    /// spare's name it was put back from), each of key `key`'s names that
    /// still lead to this (old) file: relinked from `idx` only while `idx`
    /// names `new` ([`relink_if`]).
    pub(super) fn relink_keys_to(&self, key: i32, idx: &str, new: &Obj) {
        if key == IPC_PRIVATE {
            return;
        }
        for n in 0..KEY_SLOTS {
            let name = Ns::key_name(self.kind, key, n);
            match lstat_in(&self.dir, &name) {
                None => break,
                Some(s) if s.st_dev == self.dev && s.st_ino == self.ino => {
                    let _ = relink_if(&self.dir, idx, &name, Some((new.dev, new.ino)));
                }
                Some(_) => {}
            }
        }
    }

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
    ///
    /// A copy that itself moved between the opening of the name and the
    /// look at its header (moves one after the other: a mover's copy
    /// moved again by another) is followed by opening the name again.
    pub fn successor(&self) -> Result<Obj> {
        // Each turn needs a whole move to finish between the open and the
        // look; a name that keeps leading to moved files is a scribble.
        for _ in 0..64 {
            let f = self.open_numbered()?;
            let (obj, live) = adopt_in(&self.dir, self.kind, f)?;
            if obj.id != self.id {
                break;
            }
            if live {
                return Ok(obj);
            }
            if !obj.is_moved() {
                break;
            }
            // Moved by a member that may not rename its names: the copy
            // at the spare's name (src/ns/spare.rs).
            match obj.forwarded() {
                Some((c, true)) => return Ok(c),
                Some((_, false)) => break,
                None => {}
            }
        }
        Err(Errno::EIDRM)
    }

    /// Whether this process may make the object's copy ([`Obj::replace`]:
    /// root, or the owner of its file; anyone else when the object has a
    /// spare that fits, `src/ns/spare.rs`): a waiter that may not has no
    /// reason to fence a stopped holder (the fence, tombstones and seal
    /// would only be lifted again). True when the file cannot be looked
    /// at (`replace` then says what is wrong).
    pub fn may_replace(&self) -> bool {
        match self.file() {
            Ok(ObjFd::Opened(f)) => fstat(f.as_raw_fd()).map_or(true, |st| {
                (may_give(st.st_uid) && !self.alt) || self.has_spare()
            }),
            _ => true,
        }
    }

    /// Moves the object to a new file: [`Obj::replace_from`] in the move
    /// epoch the object is in now (a mover that lays nothing it could lift
    /// again: the queues).
    pub fn replace(
        &self,
        build: &dyn Fn(&Obj) -> Result<()>,
        still: &dyn Fn() -> bool,
        carry: Carry<'_>,
    ) -> Result<()> {
        let epoch = self.open_epoch()?;
        self.replace_from(epoch, build, still, carry)
    }

    /// Moves the object to a new file: a copy of its file with the same
    /// owner, group and mode (`EPERM` when this process may not give it
    /// those: neither root nor the file's owner, or a group it is not in),
    /// which `build` then fixes up (as a private object: no name leads to
    /// it yet), and which is published over the object's numbered name and
    /// key names when `still` says so after `build` (`EAGAIN` otherwise).
    ///
    /// The commit point is the old header's `moved_to`: from `epoch` (the
    /// move epoch the caller began in, [`Obj::move_state`]) to this copy's
    /// inode, by compare-and-swap, before any name changes. Exactly one
    /// copy wins; a mover whose compare-and-swap fails removes its copy
    /// and helps the winner's publication ([`Obj::publish_committed`]):
    /// `ESTALE` once the object moved, `EAGAIN` when the epoch changed (a
    /// mover lifted what it laid, or lifts it: this copy may be stale).
    /// The old file's header is marked moved ([`Obj::mark_moved`]) once
    /// the names lead to the copy; the rest of the old file is the
    /// caller's to mark. `carry` runs on the committed copy before each
    /// attempt to rename it ([`Carry`]).
    /// `EIDRM` when the object was removed or moved meanwhile. `Ok` too
    /// when the copy was removed (by its numbered name) since it got it:
    /// the old file is marked moved, and its waiters follow it to `EIDRM`.
    pub fn replace_from(
        &self,
        epoch: u64,
        build: &dyn Fn(&Obj) -> Result<()>,
        still: &dyn Fn() -> bool,
        carry: Carry<'_>,
    ) -> Result<()> {
        if self.data_apart() || self.is_removed() {
            return Err(Errno::EINVAL);
        }
        let old = match self.file()? {
            ObjFd::Opened(f) => f,
            ObjFd::Building(_) => return Err(Errno::EINVAL),
        };
        let st = fstat(old.as_raw_fd())?;
        if self.alt {
            // (At its spare's name: not moved again until root or the
            // owner puts it back at its number, src/ns/spare.rs.)
            return Err(Errno::EPERM);
        }
        if !may_give(st.st_uid) {
            return self.replace_in_spare(epoch, build, still, carry, &old, &st);
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
            step(0);
            copy_sparse(old.as_raw_fd(), f, st.st_size as u64)?;
            let (new, _) = adopt_in(
                &self.dir,
                self.kind,
                fd.try_clone().map_err(|_| Errno::EMFILE)?,
            )?;
            if new.id != self.id {
                return Err(Errno::EIO);
            }
            // The copy's holes are not reserved (and a file system that
            // reuses inode numbers could give a later copy the inode the
            // header names): not a file whose creation reserved its
            // storage (see `Obj::only_reserved`). Its moves start afresh.
            new.header().reserved_for.store(0, Ordering::Relaxed);
            new.header().moved_to.store(0, Ordering::Relaxed);
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
        // The commit point: this copy, or another mover's.
        if let Err(cur) = self.header().moved_to.compare_exchange(
            epoch,
            MV_COMMITTED | new.ino,
            Ordering::SeqCst,
            Ordering::SeqCst,
        ) {
            unlink_tmp();
            drop(new);
            if cur & MV_COMMITTED == 0 {
                return Err(Errno::EAGAIN);
            }
            self.publish_committed(carry)?;
            return Err(Errno::ESTALE);
        }
        step(3);
        let ino = new.ino;
        self.publish_copy(ino, Some((new, &tname)), carry)
    }

    /// Where the object's moves stand (the old header's `moved_to`).
    pub fn move_state(&self) -> MoveState {
        decode_moved_to(self.header().moved_to.load(Ordering::SeqCst))
    }

    /// The move epoch the object is in, waiting for a live process that
    /// lifts what it laid (a few stores per word; 1 ms naps, 2 s at most:
    /// then `EAGAIN`); a dead lifter's epoch is ended for it. `ESTALE`
    /// when a move is committed.
    pub fn open_epoch(&self) -> Result<u64> {
        let t0 = std::time::Instant::now();
        loop {
            match self.move_state() {
                MoveState::Open(e) => return Ok(e),
                MoveState::Committed(_) => return Err(Errno::ESTALE),
                MoveState::Lifting { pid, epoch } => {
                    if !alive_pid(pid) {
                        let _ = self.header().moved_to.compare_exchange(
                            lifting_word(pid, epoch),
                            next_epoch(epoch),
                            Ordering::SeqCst,
                            Ordering::SeqCst,
                        );
                        continue;
                    }
                    if t0.elapsed() > std::time::Duration::from_secs(2) {
                        return Err(Errno::EAGAIN);
                    }
                    crate::os::cancel::nap(std::time::Duration::from_millis(1));
                }
            }
        }
    }

    /// Claims the right to lift what a mover laid in the old file (a move
    /// given up): `moved_to` from the open `epoch` to *lifting* by this
    /// process, so that no copy made before the lift can be committed
    /// after it. False when the epoch is not `epoch` any more (a move was
    /// committed, or another lifted meanwhile).
    pub fn begin_lift(&self, epoch: u64) -> bool {
        self.header()
            .moved_to
            .compare_exchange(
                epoch,
                lifting_word(my_pid(), epoch),
                Ordering::SeqCst,
                Ordering::SeqCst,
            )
            .is_ok()
    }

    /// Ends this process's [`Obj::begin_lift`] of `epoch`: the next epoch
    /// when it lifted (every mover that began before cannot commit), the
    /// same when it lifted nothing.
    pub fn end_lift(&self, epoch: u64, lifted: bool) {
        let to = if lifted { next_epoch(epoch) } else { epoch };
        let _ = self.header().moved_to.compare_exchange(
            lifting_word(my_pid(), epoch),
            to,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
    }

    /// Helps the publication of a committed move (the winning copy not yet
    /// under the names: its mover stopped or killed after its commit): the
    /// copy renamed over the names, found by its inode among the temporary
    /// names (at most one rename of it can happen: its temporary name is
    /// gone after it), the old header marked moved. `Ok` once the object
    /// is marked moved; `EAGAIN` when no move is committed; `EIDRM` when
    /// the object was removed first (the copy is then removed too).
    /// `carry`: as for [`Obj::replace_from`] (the same for every mover of
    /// the object's kind).
    pub fn publish_committed(&self, carry: Carry<'_>) -> Result<()> {
        match self.move_state() {
            MoveState::Committed(ino) => {
                if self.is_moved() {
                    return Ok(());
                }
                // A copy made in the spare (its filler killed after its
                // commit): published by forwarding (src/ns/spare.rs).
                if let Some((c, _)) = self.committed_spare(ino) {
                    return self.publish_forward(c, carry);
                }
                self.publish_copy(ino, None, carry)
            }
            _ => Err(Errno::EAGAIN),
        }
    }

    /// Whether the committed move `moved_to` names is a scribble (a member
    /// wrote it): the numbered name still leads to this file (not moved,
    /// not removed), and no temporary name holds a copy that a mover
    /// could have made of it (the file `ino`, with this file's owner,
    /// group and mode) — the directory read, so that a listing refused
    /// (`EMFILE`) is never taken for an absence. Then no mover's copy can
    /// ever be published, nor any copy committed (the commit is a
    /// compare-and-swap from an open epoch): a caller that needs the move
    /// answers `EIO` instead of waiting for a publication that cannot
    /// come (docs/bounded-time.md, "A scribbled `moved_to`").
    pub fn commit_forged(&self) -> bool {
        let MoveState::Committed(ino) = self.move_state() else {
            return false;
        };
        if self.is_moved() || self.is_removed() || self.committed_spare(ino).is_some() {
            return false;
        }
        let idx = Ns::idx_name(self.kind, self.id % IDX_SPAN);
        let old = match self.file() {
            Ok(ObjFd::Opened(f)) => match fstat(f.as_raw_fd()) {
                Ok(st) => st,
                Err(_) => return false,
            },
            _ => return false,
        };
        if !same_in(&self.dir, &idx, self.dev, self.ino) {
            return false;
        }
        let _nc = crate::os::cancel::NoCancel::new();
        // (A directory read lists `.` and `..`: none, it was not read.)
        let names = names_in(&self.dir);
        if names.is_empty() {
            return false;
        }
        let copy = names.iter().filter(|n| n.starts_with(".new.")).any(|n| {
            lstat_in(&self.dir, n).is_some_and(|s| {
                s.st_dev == self.dev
                    && s.st_ino == ino
                    && (s.st_uid, s.st_gid, s.st_mode) == (old.st_uid, old.st_gid, old.st_mode)
            })
        });
        // Read again after the listing: a copy renamed over the numbered
        // name meanwhile (it left the temporary names) is a publication.
        !copy
            && same_in(&self.dir, &idx, self.dev, self.ino)
            && self.move_state() == MoveState::Committed(ino)
            && !self.is_moved()
    }

    /// Tests: the header's move commit point, to scribble on.
    #[cfg(test)]
    pub fn moved_to_for_test(&self) -> &AtomicU64 {
        &self.header().moved_to
    }

    /// The temporary name of this namespace's file `ino`, if any.
    fn tmp_name_of(&self, ino: u64) -> Option<CString> {
        let _nc = crate::os::cancel::NoCancel::new();
        names_in(&self.dir)
            .into_iter()
            .filter(|n| n.starts_with(".new."))
            .find(|n| {
                lstat_in(&self.dir, n).is_some_and(|s| s.st_dev == self.dev && s.st_ino == ino)
            })
            .and_then(|n| cpath(&n).ok())
    }

    /// The publication of the committed copy `ino` (`mine`: this
    /// process's own, with its temporary name): renamed over the numbered
    /// name (unless it is there already), then over the key names, then
    /// the old header marked moved. Idempotent: every mover and helper may
    /// run it (the copy's temporary name is renamed at most once: it is
    /// gone after).
    fn publish_copy(&self, ino: u64, mine: Option<(Obj, &CStr)>, carry: Carry<'_>) -> Result<()> {
        let idx = Ns::idx_name(self.kind, self.id % IDX_SPAN);
        // A copy found by a helper under its temporary name is believed
        // only with the old file's owner, group and mode (as its mover
        // made it: root or the owner can): `moved_to` lies in shared
        // memory, and a member must not get a file of its own published
        // over the object's names. `None` once the numbered name no longer
        // leads to the old file: the copy was renamed over it already (by
        // a mover or helper stopped or killed before the mark, the
        // publication's steps 1 and 2), or the object was removed — then
        // only the numbered name is looked at, and no temporary name is
        // renamed. (This used to be an error, `EIDRM`: nobody could finish
        // such a publication, and the old file stayed live, unmarked, in
        // every process that had it open, its lock fenced for good by
        // whoever had taken the dead mover's fence over — a process that
        // then waited for its own fence: t_sem_fence part 7's hang.)
        let old = match self.file() {
            Ok(ObjFd::Opened(f)) => Some(fstat(f.as_raw_fd())?),
            Ok(ObjFd::Building(_)) => return Err(Errno::EINVAL),
            Err(Errno::EIDRM) => None,
            Err(e) => return Err(e),
        };
        let open_as = |name: &str| -> Option<Obj> {
            let f = self.open_named(name).ok()?;
            let st = fstat(f.as_raw_fd()).ok()?;
            if old.as_ref().is_some_and(|old| {
                (st.st_uid, st.st_gid, st.st_mode) != (old.st_uid, old.st_gid, old.st_mode)
            }) {
                return None;
            }
            adopt_in(&self.dir, self.kind, f)
                .ok()
                .map(|(o, _)| o)
                .filter(|o| o.file_id() == (self.dev, ino) && o.id == self.id)
        };
        // The copy, and its temporary name while it has one.
        let (new, tmp) = match mine {
            Some((n, t)) => (n, Some(t.to_owned())),
            None => {
                let t = old.as_ref().and_then(|_| self.tmp_name_of(ino));
                match t.as_ref().and_then(|t| open_as(t.to_str().ok()?)) {
                    Some(n) => (n, t),
                    None => match open_as(&idx) {
                        Some(n) => (n, None),
                        // Neither, and the numbered name still on the old
                        // file: the copy was never published, and cannot
                        // be (`moved_to` names no copy of this object a
                        // mover made: a scribble). Nothing is marked.
                        None if same_in(&self.dir, &idx, self.dev, self.ino) => {
                            return Err(Errno::EIDRM)
                        }
                        // Neither: published and removed since (its
                        // numbered name unlinked, or another object's), or
                        // moved on again (the name on a later copy, which
                        // the old file's followers find).
                        None => {
                            return if self.mark_moved() {
                                Ok(())
                            } else {
                                Err(Errno::EIDRM)
                            }
                        }
                    },
                }
            }
        };
        // What the old file's followers read in it, from the copy (before
        // the copy can be renamed, so before anyone can change it; every
        // publisher of this copy carries the same values).
        carry(self, &new)?;
        core::sync::atomic::fence(Ordering::SeqCst);
        if let Some(t) = tmp.as_deref() {
            if !same_in(&self.dir, &idx, self.dev, ino) {
                if self.is_removed() || !same_in(&self.dir, &idx, self.dev, self.ino) {
                    // Removed first (its remover unlinked the old file's
                    // names): the copy is not published.
                    // SAFETY: unlinking the committed copy's temporary
                    // name (ours, or found by its inode) in our directory.
                    unsafe { libc::unlinkat(self.dir.as_raw_fd(), t.as_ptr(), 0) };
                    if !same_in(&self.dir, &idx, self.dev, ino) {
                        return Err(Errno::EIDRM);
                    }
                } else {
                    match rename_over(&self.dir, t, &cpath(&idx)?) {
                        Ok(()) => {}
                        // Renamed already (by a helper, or by its mover).
                        Err(_) if same_in(&self.dir, &idx, self.dev, ino) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        step(1);
        // The key names that led to the old file now lead to the copy.
        let key = new.perm().key;
        self.relink_keys_to(key, &idx, &new);
        step(2);
        let moved = self.mark_moved();
        if !moved {
            // Removed meanwhile without its locks (`IPC_RMID` after its
            // bound): the remover unlinked only names of the old file.
            // The copy goes too. (The mark is a compare-and-swap from
            // live, as the remover's: exactly one of the two wins.)
            new.header().state.store(STATE_REMOVED, Ordering::Release);
        }
        // Removed by its numbered name since the rename (an `IPC_RMID`
        // that found the copy there: its key walk may have come before our
        // relinking, which then gave a key name the removed copy; or after
        // its unlink of the numbered name, which left the key name on the
        // old file): the key names of either file go. Either we see the
        // copy's removal mark here, or it was set after our relinking and
        // its remover's walk (which follows its mark) finds the copy at
        // the key names and unlinks them itself.
        core::sync::atomic::fence(Ordering::SeqCst);
        if key != IPC_PRIVATE && new.is_removed() {
            unlink_trailing_keys(
                &self.dir,
                self.kind,
                key,
                &[(self.dev, self.ino), (new.dev, new.ino)],
            );
        }
        if !moved {
            if same_in(&self.dir, &idx, new.dev, new.ino) {
                if let Ok(c) = cpath(&idx) {
                    // SAFETY: unlinking the copy's numbered name (checked
                    // by inode just above) in our directory.
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

impl Obj {
    /// Unlinks what processes killed in the middle of a move or a create
    /// left in the namespace under temporary names and nothing else
    /// refers to: never-published files (a mover's copy, whatever step
    /// of its making it was killed at, or a creator's file) and a
    /// mover's `.mv.` link, of makers positively dead ([`dead_temps`]).
    /// Called by whoever ends a dead mover's move (takes its fence over,
    /// or takes its lock back), so that a killed mover leaves nothing
    /// once its fence is resolved, without waiting for a healer
    /// ([`Ns::sweep_tmp`], which also heals a killed creator's numbered
    /// orphan: `ripcs`, `ripcrm -a`, a create that found no room). One
    /// scan of the directory, on that rare path only. A file this
    /// process may not unlink (another user's, in a sticky directory)
    /// stays for those.
    pub fn sweep_dead_temps(&self) {
        dead_temps(&self.dir, |name| {
            if super::create::unlink_unpublished(&self.dir, name) {
                crate::debug_report!(
                    "{:?} {}: swept {name}, left by a process that died",
                    self.kind,
                    self.id
                );
            }
        });
    }
}

/// What a move carries from its committed copy into the old file before
/// the copy is published (`carry(old, copy)`): the queues' fenced
/// holders' outcomes, which the copy's maker judged from the copy itself
/// and left in it (docs/bounded-time.md, "Taking over a stalled move").
/// It must give the same result whoever runs it, and may run more than
/// once; an error stops the publication (a later helper tries again).
pub type Carry<'a> = &'a dyn Fn(&Obj, &Obj) -> Result<()>;

/// A [`Carry`] that carries nothing (the sets: a set's holder learns its
/// outcome from its own compare-and-swaps).
pub fn carry_nothing(_old: &Obj, _copy: &Obj) -> Result<()> {
    Ok(())
}

/// In `moved_to`: a move committed, to the copy whose inode is the rest.
pub(super) const MV_COMMITTED: u64 = 1 << 63;
/// In `moved_to`: a mover lifts what it laid (its pid in bits 0–31, the
/// epoch it lifts in, modulo 2^30, in bits 32–61).
const MV_LIFTING: u64 = 1 << 62;
const EPOCH_MASK: u64 = (1 << 30) - 1;

/// Where an object's moves stand ([`Obj::move_state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveState {
    /// No move committed; the epoch a mover begins in.
    Open(u64),
    /// `pid` lifts what it laid in `epoch` (a move given up).
    Lifting {
        /// the lifter
        pid: i32,
        /// the epoch it lifts in
        epoch: u64,
    },
    /// A move committed, to the copy whose inode this is.
    Committed(u64),
}

fn decode_moved_to(w: u64) -> MoveState {
    if w & MV_COMMITTED != 0 {
        MoveState::Committed(w & !MV_COMMITTED)
    } else if w & MV_LIFTING != 0 {
        MoveState::Lifting {
            pid: w as u32 as i32,
            epoch: (w >> 32) & EPOCH_MASK,
        }
    } else {
        MoveState::Open(w)
    }
}

fn lifting_word(pid: i32, epoch: u64) -> u64 {
    MV_LIFTING | (epoch & EPOCH_MASK) << 32 | pid as u32 as u64
}

fn next_epoch(epoch: u64) -> u64 {
    (epoch + 1) & EPOCH_MASK
}

/// Whether process `pid` may still be alive (a lifter; no start time is
/// kept: a reused pid only makes the wait longer).
fn alive_pid(pid: i32) -> bool {
    crate::os::proc::alive(pid, 0)
}

/// Whether the temporary file `tname` of a dead process in namespace
/// directory `dir` is the committed copy of a move not published yet (its
/// mover killed after its commit): not swept, the next caller of the
/// object publishes it. True too when it cannot be told (a descriptor,
/// a mapping refused: `EMFILE`, `ENOMEM`): a sweep never deletes on
/// missing evidence. False when it is no object file of a kind that
/// moves, or its numbered name is gone or does not say so.
pub(super) fn is_committed_copy(dir: &OwnedFd, tname: &str) -> bool {
    (|| -> Option<bool> {
        let Some(f) = open_name_in(dir, tname).ok()? else {
            return Some(false);
        };
        let st = fstat(f.as_raw_fd()).ok()?;
        if (st.st_size as usize) < HEADER_LEN {
            return Some(false);
        }
        let head = Mapping::new(f.as_fd(), HEADER_LEN, 0).ok()?;
        let h: &ObjHeader = head.at(0).ok()?;
        let kind = match h.kind.load(Ordering::Relaxed) {
            1 => Kind::Msg,
            3 => Kind::Sem,
            _ => return Some(false),
        };
        let id = h.id.load(Ordering::Relaxed);
        let Some(of) = open_name_in(dir, &Ns::idx_name(kind, id.rem_euclid(IDX_SPAN))).ok()? else {
            return Some(false);
        };
        let ost = fstat(of.as_raw_fd()).ok()?;
        if (ost.st_size as usize) < HEADER_LEN {
            return Some(false);
        }
        let ohead = Mapping::new(of.as_fd(), HEADER_LEN, 0).ok()?;
        let oh: &ObjHeader = ohead.at(0).ok()?;
        Some(oh.moved_to.load(Ordering::SeqCst) == MV_COMMITTED | st.st_ino)
    })()
    .unwrap_or(true)
}

/// Whether this process may give a file the owner `uid` (root, or `uid`
/// itself).
fn may_give(uid: libc::uid_t) -> bool {
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    euid == 0 || euid == uid
}

#[cfg(test)]
mod tests {
    use super::super::testing::TempNs;
    use super::*;

    use crate::ns::testing::{nothing, PLAIN as SPEC};

    /// A copy is not a file whose creation reserved its storage: its
    /// holes are not reserved, whatever header it copied.
    #[test]
    fn a_copy_is_not_taken_for_a_file_holding_its_reservations_only() {
        let t = TempNs::new("replace-resv");
        let ns = t.ns.clone();
        let o = ns
            .get(Kind::Msg, IPC_PRIVATE, IPC_CREAT | 0o600, &SPEC)
            .unwrap();
        assert_eq!(o.header().reserved_for.load(Ordering::Relaxed), o.ino);
        assert!(o.only_reserved(1), "a new object holds its first page only");
        o.replace(&nothing, &|| true, &carry_nothing).unwrap();
        let copy = ns.by_id_uncached(Kind::Msg, o.id, true).unwrap();
        assert_ne!(copy.file_id(), o.file_id());
        assert_eq!(copy.header().reserved_for.load(Ordering::Relaxed), 0);
        assert!((0..4).all(|p| !copy.only_reserved(p)));
        ns.remove(&copy, false);
        drop((o, copy));
        assert_eq!(t.objects(), Vec::<String>::new(), "left behind");
    }

    /// A committed move names its copy by inode in the old header, which
    /// lies in shared memory: a member that writes it must not get a file
    /// of its own published over the object's names. A `.new.` file of
    /// the same object (a copy of its file) but another owner, named by a
    /// forged `moved_to`, is not renamed by a helper; one with the old
    /// file's owner, group and mode (as a mover makes it) is.
    #[test]
    fn a_forged_commit_does_not_publish_a_members_file() {
        let t = TempNs::new("replace-forged");
        let ns = t.ns.clone();
        let o = ns.get(Kind::Msg, KEY, IPC_CREAT | 0o600, &SPEC).unwrap();
        let idx = Ns::idx_name(Kind::Msg, o.id % IDX_SPAN);
        let plant = |uid: u32| -> u64 {
            let (fd, tname) = Ns::tmpfile(&o.dir).unwrap();
            let old = match o.file().unwrap() {
                ObjFd::Opened(f) => f,
                ObjFd::Building(_) => unreachable!(),
            };
            let st = fstat(old.as_raw_fd()).unwrap();
            copy_sparse(old.as_raw_fd(), fd.as_raw_fd(), st.st_size as u64).unwrap();
            // SAFETY: chown/chmod of the file we just made (the test runs
            // as root).
            unsafe {
                libc::fchmod(fd.as_raw_fd(), st.st_mode & 0o7777);
                libc::fchown(fd.as_raw_fd(), uid, st.st_gid);
            }
            // As a member would make it: its header says it made it.
            let m = Mapping::new(fd.as_fd(), HEADER_LEN, 0).unwrap();
            let h: &ObjHeader = m.at(0).unwrap();
            h.perm.cuid.store(uid, Ordering::Relaxed);
            h.perm.uid.store(uid, Ordering::Relaxed);
            drop(tname);
            fstat(fd.as_raw_fd()).unwrap().st_ino
        };
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root to give a file another owner");
            return;
        }
        let forged = plant(65534);
        o.header()
            .moved_to
            .store(MV_COMMITTED | forged, Ordering::SeqCst);
        let _ = o.publish_committed(&carry_nothing);
        assert!(
            same_in(&o.dir, &idx, o.dev, o.ino),
            "a member's file was published"
        );
        assert!(!o.is_moved(), "the object marked moved to nothing");
        let honest = plant(0);
        o.header()
            .moved_to
            .store(MV_COMMITTED | honest, Ordering::SeqCst);
        o.publish_committed(&carry_nothing).unwrap();
        assert!(same_in(&o.dir, &idx, o.dev, honest), "the copy");
        assert!(o.is_moved());
        let copy = ns.by_id_uncached(Kind::Msg, o.id, true).unwrap();
        ns.remove(&copy, false);
        drop((o, copy));
        ns.sweep_tmp();
        let _ = std::fs::read_dir(&t.dir).map(|rd| {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with(".new.") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        });
        assert_eq!(t.objects(), Vec::<String>::new(), "left behind");
    }

    const KEY: i32 = 0x5151;

    /// Runs `f` in a child of this one-thread process (a test under
    /// `testing::alone`), which then exits 0, and waits for it: its pid
    /// (gone now) and its exit status (`None`: killed).
    fn run_child(f: impl FnOnce()) -> (i32, Option<i32>) {
        // SAFETY: fork of a one-thread process; the child runs `f` and
        // leaves with _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            f();
            // SAFETY: ending the child.
            unsafe { libc::_exit(0) };
        }
        let mut st = 0;
        // SAFETY: waiting for our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut st, 0) }, pid);
        (pid, libc::WIFEXITED(st).then(|| libc::WEXITSTATUS(st)))
    }

    /// The object a test's creator made in the middle of a move.
    type Made = Arc<std::sync::Mutex<Option<Arc<Obj>>>>;

    /// A move raced by an `IPC_RMID` that finds the copy by its numbered
    /// name (`ripcrm -q`, `msgctl` of another process): its key walk and
    /// mark at step `walk_at` of the move, its unlink of the numbered name
    /// at `unlink_at` (as a remover stopped between the two); with
    /// `creator`, a `*get(creator, IPC_CREAT)` right after the removal
    /// (a key of its own: at the number just freed). The removal wins: no
    /// key name, numbered name or file is left of the object (a key name
    /// of the removed copy or of the old file was), its old file's
    /// waiters follow it to `EIDRM`, and a new object made meanwhile stays
    /// found by its key, and only by it.
    fn removed_while_moving(walk_at: u32, unlink_at: u32, creator: Option<i32>) {
        let case = format!("walk at {walk_at}, unlink at {unlink_at}, creator {creator:?}");
        let t = TempNs::new("replace-rmid");
        let ns = t.ns.clone();
        let o = ns.get(Kind::Msg, KEY, IPC_CREAT | 0o600, &SPEC).unwrap();
        let id = o.id;
        let made: Made = Arc::default();
        let (ns2, made2) = (ns.clone(), made.clone());
        AT_STEP.with(|h| {
            *h.borrow_mut() = Some(Box::new(move |n| {
                if n != walk_at && n != unlink_at {
                    return;
                }
                // What the numbered name leads to: the copy.
                let copy = ns2.by_id_uncached(Kind::Msg, id, true).unwrap();
                if n == walk_at {
                    ns2.mark_removing(&copy);
                    ns2.remove(&copy, true);
                }
                if n == unlink_at {
                    ns2.unlink_id(&copy);
                    if let Some(k) = creator {
                        let c = ns2.get(Kind::Msg, k, IPC_CREAT | 0o600, &SPEC).unwrap();
                        assert_ne!(c.id, id);
                        *made2.lock().unwrap() = Some(c);
                    }
                }
            }))
        });
        let r = o.replace(&nothing, &|| true, &carry_nothing);
        AT_STEP.with(|h| *h.borrow_mut() = None);
        assert!(matches!(r, Ok(()) | Err(Errno::EIDRM)), "{case}: {r:?}");
        // The old file's waiters follow the move and find it removed.
        assert!(o.gone().is_some(), "{case}");
        if o.is_moved() {
            assert_eq!(o.successor().unwrap_err(), Errno::EIDRM, "{case}");
        }
        let made = made.lock().unwrap().take();
        let found = ns.by_key(Kind::Msg, KEY).unwrap();
        let mine = made.as_ref().filter(|_| creator == Some(KEY));
        assert_eq!(
            found.map(|f| f.file_id()),
            mine.map(|c| c.file_id()),
            "{case}: the key finds the object made with it, and only it"
        );
        if let Some(c) = made {
            if creator != Some(KEY) {
                // At the number just freed, and named by its own key only.
                assert_eq!(c.id % IDX_SPAN, id % IDX_SPAN, "{case}");
                let names = vec![
                    Ns::idx_name(Kind::Msg, c.id % IDX_SPAN),
                    Ns::key_name(Kind::Msg, creator.unwrap(), 0),
                ];
                assert_eq!(t.objects(), names, "{case}");
            }
            ns.remove(&c, false);
        }
        assert_eq!(t.objects(), Vec::<String>::new(), "{case}: left behind");
        // The key is free: a new object takes its first name.
        let c = ns.get(Kind::Msg, KEY, IPC_CREAT | 0o600, &SPEC).unwrap();
        assert!(
            ns.same_file(&Ns::key_name(Kind::Msg, KEY, 0), c.dev, c.ino),
            "{case}: {:?}",
            t.objects()
        );
        ns.remove(&c, false);
    }

    #[test]
    fn an_ipc_rmid_of_the_copy_leaves_no_key_name() {
        // (A creator of the key right after an unlink at step 1 finds the
        // key name on the old file, live and not numbered: its only name,
        // so not a creator's between its two links, and the old file is
        // taken for removed with its copy.)
        for (walk_at, unlink_at, creator) in [
            (1, 1, None),
            (1, 1, Some(KEY)),
            (1, 1, Some(KEY + 1)),
            (1, 2, None),
            (1, 2, Some(KEY)),
            (1, 2, Some(KEY + 1)),
            (2, 2, None),
            (2, 2, Some(KEY)),
        ] {
            removed_while_moving(walk_at, unlink_at, creator);
        }
    }

    /// A mover killed (here: unwound) just after it published the copy,
    /// the copy then removed by its numbered name: the key name is left on
    /// the old file, live, whose creator (this process) lives. The key
    /// finds nothing, and a create of it succeeds at once (it waited 2 s
    /// for the "creator" and failed with `EAGAIN` for as long as the
    /// creator lived), leaving nothing of the old object behind.
    #[test]
    fn a_killed_movers_key_name_does_not_outlive_a_removed_copy() {
        let t = TempNs::new("replace-killed");
        let ns = t.ns.clone();
        let o = ns.get(Kind::Msg, KEY, IPC_CREAT | 0o600, &SPEC).unwrap();
        let id = o.id;
        let ns2 = ns.clone();
        AT_STEP.with(|h| {
            *h.borrow_mut() = Some(Box::new(move |n| {
                if n == 1 {
                    panic!("the mover is killed here");
                }
            }))
        });
        let moved = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            o.replace(&nothing, &|| true, &carry_nothing)
        }));
        AT_STEP.with(|h| *h.borrow_mut() = None);
        assert!(moved.is_err());
        // The copy holds the number; remove it there.
        let copy = ns2.by_id_uncached(Kind::Msg, id, true).unwrap();
        assert_ne!(copy.file_id(), o.file_id());
        ns.remove(&copy, false);
        assert!(ns.by_key(Kind::Msg, KEY).unwrap().is_none());
        let started = std::time::Instant::now();
        let c = ns
            .get(Kind::Msg, KEY, IPC_CREAT | IPC_EXCL | 0o600, &SPEC)
            .unwrap();
        assert!(started.elapsed() < std::time::Duration::from_millis(500));
        assert!(
            o.gone().is_some(),
            "the old file's callers learn it is gone"
        );
        ns.remove(&c, false);
        drop((o, copy));
        assert_eq!(t.objects(), Vec::<String>::new(), "left behind");
    }

    /// A dead mover's committed copy is never swept on missing evidence:
    /// with one descriptor free (the listing and the copy get it in turn,
    /// the object's numbered name cannot be opened: `EMFILE`), the sweep
    /// keeps it; with descriptors, it sees the commit and keeps it too;
    /// the commit undone (a copy no move names), it goes. Before, an
    /// `EMFILE` there unlinked the committed copy, the object's data.
    #[test]
    fn a_committed_copy_is_kept_when_it_cannot_be_told() {
        super::super::testing::alone("a_committed_copy_is_kept", || {
            let t = TempNs::new("replace-emfile");
            let ns = t.ns.clone();
            let o = ns.get(Kind::Sem, KEY, IPC_CREAT | 0o600, &SPEC).unwrap();
            // A process that is gone: its pid names nobody now.
            let (gone, _) = run_child(|| {});
            // Its copy of the object, committed in the old header.
            let name = format!(".new.{gone}.1.0");
            let (old, _) = match o.file().unwrap() {
                ObjFd::Opened(f) => (f, ()),
                ObjFd::Building(_) => unreachable!(),
            };
            let len = fstat(old.as_raw_fd()).unwrap().st_size;
            let c = cpath(&name).unwrap();
            // SAFETY: creating a file in our test directory.
            let fd = unsafe {
                libc::openat(
                    o.dir.as_raw_fd(),
                    c.as_ptr(),
                    libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
                    0o600,
                )
            };
            assert!(fd >= 0);
            // SAFETY: our fresh descriptor.
            let copy = unsafe { OwnedFd::from_raw_fd(fd) };
            // SAFETY: sizing the file we made.
            assert_eq!(unsafe { libc::ftruncate(copy.as_raw_fd(), len) }, 0);
            copy_sparse(old.as_raw_fd(), copy.as_raw_fd(), len as u64).unwrap();
            let ino = fstat(copy.as_raw_fd()).unwrap().st_ino;
            drop((old, copy));
            o.header()
                .moved_to
                .store(MV_COMMITTED | ino, Ordering::SeqCst);
            let there = || t.objects().contains(&name);
            // Every descriptor but one taken (the limit lowered to 256
            // for it, then put back).
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: reading and lowering this (test child) process's
            // descriptor limit, filling the table below it, then emptying
            // it and putting the limit back.
            unsafe {
                assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
                let low = libc::rlimit {
                    rlim_cur: 256,
                    rlim_max: lim.rlim_max,
                };
                assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &low), 0);
                let mut fill = Vec::new();
                loop {
                    let d = libc::dup(0);
                    if d < 0 {
                        break;
                    }
                    fill.push(d);
                }
                assert_eq!(Errno::last(), Errno::EMFILE);
                // One slot free.
                libc::close(fill.pop().unwrap());
                o.sweep_dead_temps();
                for d in fill {
                    libc::close(d);
                }
                assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
            }
            assert!(there(), "swept without evidence");
            o.sweep_dead_temps();
            assert!(there(), "a committed copy swept");
            o.header().moved_to.store(0, Ordering::SeqCst);
            o.sweep_dead_temps();
            assert!(!there(), "a copy no move names is left");
            ns.remove(&o, false);
            drop(o);
            assert_eq!(t.objects(), Vec::<String>::new(), "left behind");
        });
    }

    /// A mover killed while it copies (its file made, no header in it
    /// yet) leaves the file under its temporary name: whoever ends its
    /// move sweeps it (`Obj::sweep_dead_temps`), while a live process's
    /// temporary file stays. Before, only a healer (`ripcs`) swept it:
    /// `t_sem_multi` left one in 4 of 45 runs.
    #[test]
    fn a_killed_movers_copy_goes_with_the_end_of_its_move() {
        super::super::testing::alone("a_killed_movers_copy_goes", || {
            let t = TempNs::new("replace-copy");
            let ns = t.ns.clone();
            let o = ns.get(Kind::Sem, KEY, IPC_CREAT | 0o600, &SPEC).unwrap();
            // The mover starts the move and dies when its copy's file is
            // made (7; 3: it did not get there).
            let (_, code) = run_child(|| {
                AT_STEP.with(|h| {
                    *h.borrow_mut() = Some(Box::new(|n| {
                        if n == 0 {
                            // SAFETY: ends the child there, as SIGKILL would.
                            unsafe { libc::_exit(7) };
                        }
                    }))
                });
                let _ = o.replace(&nothing, &|| true, &carry_nothing);
                // SAFETY: ending the child (not at the step: a failure).
                unsafe { libc::_exit(3) };
            });
            assert_eq!(code, Some(7));
            let temps = || -> Vec<String> {
                t.objects()
                    .into_iter()
                    .filter(|n| n.starts_with(".new."))
                    .collect()
            };
            assert_eq!(temps().len(), 1, "the dead mover's copy is there");
            // A live process's temporary file (this one's) is left alone.
            let (_mine, mine) = Ns::tmpfile(&o.dir).unwrap();
            o.sweep_dead_temps();
            let mine = mine.to_str().unwrap().to_owned();
            assert_eq!(temps(), vec![mine.clone()], "only the live one is left");
            let c = cpath(&mine).unwrap();
            // SAFETY: unlinking our own temporary name.
            unsafe { libc::unlinkat(o.dir.as_raw_fd(), c.as_ptr(), 0) };
            ns.remove(&o, false);
            drop(o);
            assert_eq!(t.objects(), Vec::<String>::new(), "left behind");
        });
    }
}
