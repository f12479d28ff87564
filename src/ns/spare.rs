//! Spares: how a member that may not make an object's copy moves it
//! anyway (docs/bounded-time.md, "A member that may not make the copy").
//!
//! A move ([`Obj::replace`]) makes a new file that must carry the old
//! one's owner, group and mode, and renames it over the object's names.
//! Only root and the file's owner can make such a file, and in the
//! shared namespace (a sticky directory) only they can rename or unlink
//! a name of the owner's files: any other member can neither make the
//! copy nor publish one by renaming.
//!
//! So root or the owner makes the file ahead of time: the *spare*, at
//! `<kind>.<idx>.spare`, empty, with the object file's owner, group and
//! mode, its inode recorded in the object's header (`spare_ino`). It is
//! made when an object that grants anything to anyone but its owner is
//! created, when `IPC_SET` changes the file's owner, group or mode, and
//! when root or the owner puts a forwarded copy back at its number
//! (below). An object whose mode grants nothing to group or other has
//! none: nobody but root and its owner may use it, and they make their
//! copies themselves.
//!
//! A member that may not make the copy fills the spare instead
//! ([`Obj::replace_in_spare`]): it opens it (never through a symlink),
//! believes it only when it is a regular file with one link, the old
//! file's owner, group and mode, and the inode the old header records
//! (a planted file, a hard link, a stale spare: refused, as no spare),
//! claims it with `flock(LOCK_EX | LOCK_NB)` (released if the member
//! dies: whoever moves next fills it again from the start), checks again
//! under the claim that it is still the recorded spare and the move epoch
//! the one it began in, and then fills and commits it as any mover does
//! its own copy (the commit point is the old header's `moved_to`, by
//! compare-and-swap, under the claim: exactly one copy wins). It cannot
//! rename the spare over the numbered name: it *forwards* instead. The
//! old file is marked moved and keeps its names; whoever opens the
//! numbered name (or a key name) and finds a moved file whose committed
//! copy is the file at the spare's name (inode, owner, group and mode
//! checked) takes that file for the object ([`Obj::forwarded`]). Root or
//! the owner, finding the object forwarded, renames the spare's name over
//! the numbered name and the key names that named the old file, and makes
//! a new spare ([`Obj::forwarded`] again): one such move per visit of
//! root or the owner. An object at its spare's name is not moved again
//! until then (its would-be spare is the numbered name, still the old
//! file's, which the fenced holder may still write into).
//!
//! Crash consistency: a filler killed before its commit leaves the spare
//! half filled and unclaimed (the next filler truncates it); after its
//! commit, the copy is published by whoever helps the move
//! ([`Obj::publish_committed`] finds it at the spare's name). A spare no
//! object names (its object removed by a remover killed before it, a
//! leftover at an index created anew) is swept by [`Ns::heal`] (`ripcs`,
//! `ripcrm -a`) and replaced by the next create at its index; never listed.

use super::lookup::adopt_in;
use super::replace::lstat_in;
use super::*;

impl Ns {
    /// The name of the spare of the object at index `idx`.
    pub(super) fn spare_name(kind: Kind, idx: i32) -> String {
        format!("{}.{}.spare", kind.prefix(), idx)
    }
}

/// In a header's `spare_ino`: a spare is being made or replaced (no file
/// is believed as the spare; the file at the spare's name, if any, is
/// unlinked with the object). 0: none, and none being made.
const SPARE_MAKING: u64 = u64::MAX;

/// Whether an object of `kind` whose file has mode `file_mode` has a
/// spare: a kind that moves (queues and sets), and a file that grants
/// anyone but its owner anything.
pub(super) fn wants_spare(kind: Kind, file_mode: u32) -> bool {
    matches!(kind, Kind::Msg | Kind::Sem) && file_mode & 0o066 != 0
}

/// `flock(fd, LOCK_EX | LOCK_NB)`: whether had.
fn claim(fd: &OwnedFd) -> bool {
    // SAFETY: flock on a descriptor we hold.
    unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// Truncates `fd` to 0 (a spare emptied again after a fill that did not
/// commit).
fn empty(fd: &OwnedFd) {
    // SAFETY: ftruncate of a descriptor we hold; failure leaves a spare
    // the next filler truncates itself.
    unsafe { libc::ftruncate(fd.as_raw_fd(), 0) };
}

/// Whether `st` (a file at a spare's name) may be used as the spare of a
/// file with status `of`: a regular file with one link, the same owner,
/// group and mode.
fn fits(st: &libc::stat, of: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFREG
        && st.st_nlink == 1
        && (st.st_uid, st.st_gid, st.st_mode) == (of.st_uid, of.st_gid, of.st_mode)
}

fn euid() -> libc::uid_t {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

impl Obj {
    fn spare_path(&self) -> String {
        Ns::spare_name(self.kind, self.id % IDX_SPAN)
    }

    /// The status of the object's own file.
    fn own_stat(&self) -> Result<libc::stat> {
        match self.file()? {
            ObjFd::Opened(f) => fstat(f.as_raw_fd()),
            ObjFd::Building(f) => fstat(f.as_raw_fd()),
        }
    }

    /// Whether the object has a spare this process could fill now (one
    /// `fstat` and one `lstat`): for [`Obj::may_replace`].
    pub(super) fn has_spare(&self) -> bool {
        if self.alt {
            return false;
        }
        let want = self.header().spare_ino.load(Ordering::Acquire);
        if want == 0 {
            return false;
        }
        let Ok(of) = self.own_stat() else {
            return false;
        };
        lstat_in(&self.dir, &self.spare_path())
            .is_some_and(|st| st.st_ino == want && st.st_dev == self.dev && fits(&st, &of))
    }

    /// Whether the namespace's format is this one (`ripc.ns`'s magic
    /// `NS_MAGIC`, read afresh: three calls, only when a spare is wanted),
    /// where no library of a format before, which would not follow a
    /// forwarded object, can be a member.
    fn ns_forwards(&self) -> bool {
        let Ok(name) = cpath("ripc.ns") else {
            return false;
        };
        // SAFETY: openat relative to the namespace directory we hold,
        // read-only, never following a symlink.
        let fd = unsafe {
            libc::openat(
                self.dir.as_raw_fd(),
                name.as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
            )
        };
        if fd < 0 {
            return false;
        }
        // SAFETY: a fresh descriptor we own.
        let f = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut b = [0u8; 8];
        // SAFETY: pread of 8 bytes into a local buffer of 8.
        let n = unsafe { libc::pread(f.as_raw_fd(), b.as_mut_ptr().cast(), 8, 0) };
        n == 8 && u64::from_le_bytes(b) == NS_MAGIC
    }

    /// Makes this object's spare when it should have one and has none
    /// that fits (after a create, an `IPC_SET`, a forwarded copy put back
    /// at its number), or unlinks the spare of an object that should have
    /// none: root and the file's owner only (others: nothing). Never
    /// touches the spare's name while a move may be under way (the object
    /// not live, a move committed or a mover lifting) nor while a filler
    /// holds the spare claimed. A fresh spare is made under a temporary
    /// name, recorded in the header, then renamed over the spare's name:
    /// a process killed in between leaves a temporary file (swept as a
    /// dead creator's) or a spare that is recorded (used) or not (swept).
    ///
    /// Only in a namespace of this format (a library of a format before
    /// would take a forwarding file for a removed object: `NS_MAGIC`),
    /// read afresh from `ripc.ns` when wanted ([`Obj::ns_forwards`]).
    pub(super) fn ensure_spare(&self) {
        let _ = self.ensure_spare_inner(None);
    }

    /// [`Obj::ensure_spare`] by a caller that knows whether the
    /// namespace is of this format (a create reads its mapped `ripc.ns`;
    /// a forwarded copy exists only in one): no `ripc.ns` read.
    pub(super) fn ensure_spare_known(&self, this_format: bool) {
        let _ = self.ensure_spare_inner(Some(this_format));
    }

    fn ensure_spare_inner(&self, this_format: Option<bool>) -> Result<()> {
        if self.alt || !matches!(self.kind, Kind::Msg | Kind::Sem) {
            return Ok(());
        }
        let of = self.own_stat()?;
        let me = euid();
        if me != 0 && me != of.st_uid {
            return Ok(());
        }
        let h = self.header();
        let want = wants_spare(self.kind, of.st_mode & 0o777)
            && this_format.unwrap_or_else(|| self.ns_forwards());
        let name = self.spare_path();
        let recorded = h.spare_ino.load(Ordering::Acquire);
        if want && recorded == 0 && self.building.is_some() {
            // A create's (nothing moves a file being built): made at its
            // name at once when none is there, without the look below.
            if let Some(r) = self.make_spare_at(&name, &of) {
                return r;
            }
        }
        let cur = lstat_in(&self.dir, &name);
        if want
            && cur
                .is_some_and(|st| st.st_ino == recorded && st.st_dev == self.dev && fits(&st, &of))
        {
            return Ok(()); // it has its spare
        }
        if !want && cur.is_none() && recorded == 0 {
            return Ok(());
        }
        let open = || {
            h.state.load(Ordering::Acquire) == STATE_LIVE
                && matches!(self.move_state(), MoveState::Open(_))
        };
        if !open() {
            return Ok(());
        }
        let c = cpath(&name)?;
        if want && cur.is_none() {
            if let Some(r) = self.make_spare_at(&name, &of) {
                return r;
            }
        }
        // The file there (if any) claimed first: not while a filler holds
        // it.
        let held = match self.open_named(&name) {
            Ok(f) => {
                if !claim(&f) {
                    return Err(Errno::EAGAIN);
                }
                Some(f)
            }
            Err(Errno::EIDRM) => None,
            Err(e) => return Err(e),
        };
        if !open() {
            return Ok(());
        }
        // (No filler believes it from here on; a removal unlinks the
        // spare's name whatever happens next: `unlink_spare`.)
        h.spare_ino.store(SPARE_MAKING, Ordering::Release);
        if !want {
            // SAFETY: unlinking the spare's name (claimed just above, or
            // none) in our directory.
            unsafe { libc::unlinkat(self.dir.as_raw_fd(), c.as_ptr(), 0) };
            h.spare_ino.store(0, Ordering::Release);
            return Ok(());
        }
        let (fd, tname) = Ns::tmpfile(&self.dir)?;
        let made = (|| -> Result<u64> {
            let st = fstat(fd.as_raw_fd())?;
            self.give_spare(&fd, &st, &of)?;
            h.spare_ino.store(st.st_ino, Ordering::Release);
            // SAFETY: renameat of our temporary file over the spare's
            // name, relative to the namespace directory we hold.
            if unsafe {
                libc::renameat(
                    self.dir.as_raw_fd(),
                    tname.as_ptr(),
                    self.dir.as_raw_fd(),
                    c.as_ptr(),
                )
            } != 0
            {
                return Err(Errno::last());
            }
            Ok(st.st_ino)
        })();
        drop(held);
        if made.is_err() {
            // (`SPARE_MAKING` stays: the file at the spare's name, if
            // any, goes with the object, and the next make replaces it.)
            h.spare_ino.store(SPARE_MAKING, Ordering::Release);
            // SAFETY: unlinking our own temporary name in our directory.
            unsafe { libc::unlinkat(self.dir.as_raw_fd(), tname.as_ptr(), 0) };
        }
        made.map(|_| ())
    }

    /// The spare made at `name` where none is (`O_EXCL`: two system calls
    /// fewer than the way through a temporary name), with the owner,
    /// group and mode of the object file (status `of`), then recorded.
    /// Until then no filler takes it (not recorded), and a sweeper keeps
    /// it while the object is built, or sweeps it (the object then has no
    /// spare until its owner's next `IPC_SET`). `None` when a file is
    /// there.
    fn make_spare_at(&self, name: &str, of: &libc::stat) -> Option<Result<()>> {
        let c = match cpath(name) {
            Ok(c) => c,
            Err(e) => return Some(Err(e)),
        };
        // Recorded as being made before it exists: a process killed from
        // here on leaves a file its object's removal unlinks.
        self.header()
            .spare_ino
            .store(SPARE_MAKING, Ordering::Release);
        let fd = match create_new(&self.dir, &c) {
            Ok(Some(fd)) => fd,
            Ok(None) => return None,
            Err(e) => return Some(Err(e)),
        };
        let made = fstat(fd.as_raw_fd()).and_then(|st| {
            self.give_spare(&fd, &st, of)?;
            Ok(st.st_ino)
        });
        Some(match made {
            Ok(ino) => {
                self.header().spare_ino.store(ino, Ordering::Release);
                Ok(())
            }
            Err(e) => {
                // SAFETY: unlinking the file we just made at the spare's
                // name.
                unsafe { libc::unlinkat(self.dir.as_raw_fd(), c.as_ptr(), 0) };
                self.header().spare_ino.store(0, Ordering::Release);
                Err(e)
            }
        })
    }

    /// Gives the fresh file `fd` (status `st`) the owner, group and mode
    /// of the object file (status `of`), where they differ.
    fn give_spare(&self, fd: &OwnedFd, st: &libc::stat, of: &libc::stat) -> Result<()> {
        // SAFETY: fchown/fchmod of a file we just made.
        unsafe {
            if (st.st_uid, st.st_gid) != (of.st_uid, of.st_gid)
                && libc::fchown(fd.as_raw_fd(), of.st_uid, of.st_gid) != 0
            {
                return Err(Errno::last());
            }
            if st.st_mode & 0o7777 != of.st_mode & 0o7777
                && libc::fchmod(fd.as_raw_fd(), of.st_mode & 0o7777) != 0
            {
                return Err(Errno::last());
            }
        }
        Ok(())
    }

    /// [`Obj::replace_from`] for a process that may not make the copy:
    /// the copy made in the object's spare (`EPERM` when it has none that
    /// fits, `EAGAIN` while another filler holds it), published by
    /// forwarding (module doc). `of`: the old file's status.
    pub(super) fn replace_in_spare(
        &self,
        epoch: u64,
        build: &dyn Fn(&Obj) -> Result<()>,
        still: &dyn Fn() -> bool,
        carry: Carry<'_>,
        old: &OwnedFd,
        of: &libc::stat,
    ) -> Result<()> {
        if self.alt {
            return Err(Errno::EPERM);
        }
        let h = self.header();
        let name = self.spare_path();
        // (No spare, or none this process may open read-write: none.)
        let f = self.open_named(&name).map_err(|_| Errno::EPERM)?;
        let st = fstat(f.as_raw_fd())?;
        let recorded = || h.spare_ino.load(Ordering::Acquire) == st.st_ino;
        if st.st_dev != self.dev || !fits(&st, of) || !recorded() {
            return Err(Errno::EPERM);
        }
        if !claim(&f) {
            return Err(Errno::EAGAIN);
        }
        // Under the claim: still the recorded spare at its name, and no
        // move committed or lifted since this mover began.
        let same = || {
            lstat_in(&self.dir, &name)
                .is_some_and(|s| s.st_dev == st.st_dev && s.st_ino == st.st_ino)
        };
        if !same() || !recorded() || self.move_state() != MoveState::Open(epoch) {
            return Err(Errno::EAGAIN);
        }
        let made = (|| -> Result<Obj> {
            // SAFETY: ftruncate of the spare we hold claimed: emptied
            // (whatever an earlier filler left), then sized.
            unsafe {
                if libc::ftruncate(f.as_raw_fd(), 0) != 0
                    || libc::ftruncate(f.as_raw_fd(), of.st_size) != 0
                {
                    return Err(Errno::last());
                }
            }
            super::replace::step(0);
            super::replace::copy_sparse(old.as_raw_fd(), f.as_raw_fd(), of.st_size as u64)?;
            let (mut new, _) = adopt_in(
                &self.dir,
                self.kind,
                f.try_clone().map_err(|_| Errno::EMFILE)?,
            )?;
            if new.id != self.id {
                return Err(Errno::EIO);
            }
            new.alt = true;
            let nh = new.header();
            nh.reserved_for.store(0, Ordering::Relaxed);
            nh.moved_to.store(0, Ordering::Relaxed);
            // (It is its own spare no more: it has none until root or
            // the owner puts it at its number.)
            nh.spare_ino.store(0, Ordering::Relaxed);
            build(&new)?;
            Ok(new)
        })();
        let new = match made {
            Ok(n) => n,
            Err(e) => {
                empty(&f);
                return Err(e);
            }
        };
        let idx = Ns::idx_name(self.kind, self.id % IDX_SPAN);
        if !still() {
            drop(new);
            empty(&f);
            return Err(Errno::EAGAIN);
        }
        if self.is_removed()
            || !lstat_in(&self.dir, &idx)
                .is_some_and(|s| s.st_dev == self.dev && s.st_ino == self.ino)
        {
            drop(new);
            empty(&f);
            return Err(Errno::EIDRM);
        }
        if let Err(cur) = h.moved_to.compare_exchange(
            epoch,
            super::replace::MV_COMMITTED | st.st_ino,
            Ordering::SeqCst,
            Ordering::SeqCst,
        ) {
            drop(new);
            empty(&f);
            if cur & super::replace::MV_COMMITTED == 0 {
                return Err(Errno::EAGAIN);
            }
            self.publish_committed(carry)?;
            return Err(Errno::ESTALE);
        }
        super::replace::step(3);
        let r = self.publish_forward(new, carry);
        drop(f);
        r
    }

    /// The publication of the committed copy `new`, at the spare's name:
    /// what the old file's followers read carried into it, then the old
    /// file marked moved (its names stay: they forward). `EIDRM` when the
    /// object was removed first (the copy is marked removed too).
    pub(super) fn publish_forward(&self, new: Obj, carry: Carry<'_>) -> Result<()> {
        carry(self, &new)?;
        core::sync::atomic::fence(Ordering::SeqCst);
        if !self.mark_moved() {
            new.header().state.store(STATE_REMOVED, Ordering::Release);
            return Err(Errno::EIDRM);
        }
        Ok(())
    }

    /// The committed copy at the spare's name of this old file, if the
    /// committed move `ino` names it (inode, and the old file's owner,
    /// group and mode), adopted (live or not).
    pub(super) fn committed_spare(&self, ino: u64) -> Option<(Obj, bool)> {
        let of = self.own_stat().ok()?;
        let f = self.open_named(&self.spare_path()).ok()?;
        let st = fstat(f.as_raw_fd()).ok()?;
        if st.st_dev != self.dev || st.st_ino != ino || !fits(&st, &of) {
            return None;
        }
        let (mut c, live) = adopt_in(&self.dir, self.kind, f).ok()?;
        if c.id != self.id {
            return None;
        }
        c.alt = true;
        Some((c, live))
    }

    /// What a moved old file forwards to (module doc): its committed copy
    /// at the spare's name, and whether it is live. Root or the file's
    /// owner puts a live one at its number first (the spare's name renamed
    /// over the numbered name, then over each key name that named the old
    /// file) and gives it a spare again; the object is then returned at
    /// its number. `None` when this file forwards to nothing (not moved,
    /// or moved by renaming, or its copy gone).
    pub fn forwarded(&self) -> Option<(Obj, bool)> {
        if !self.is_moved() || self.alt {
            return None;
        }
        let MoveState::Committed(ino) = self.move_state() else {
            return None;
        };
        let (c, live) = self.committed_spare(ino)?;
        if !live {
            return Some((c, false));
        }
        let me = euid();
        let of = self.own_stat().ok()?;
        if me != 0 && me != of.st_uid {
            return Some((c, true));
        }
        Some((self.put_back(c), true))
    }

    /// Root or the owner: the forwarded copy `c` renamed over the numbered
    /// name and the key names of this (old, moved) file, and given a
    /// spare. Returns the object where it is then.
    fn put_back(&self, c: Obj) -> Obj {
        let idx = Ns::idx_name(self.kind, self.id % IDX_SPAN);
        let spare = self.spare_path();
        let (Ok(from), Ok(to)) = (cpath(&spare), cpath(&idx)) else {
            return c;
        };
        let at = |name: &str, dev: u64, ino: u64| {
            lstat_in(&self.dir, name).is_some_and(|s| s.st_dev == dev && s.st_ino == ino)
        };
        let mut c = c;
        if !(at(&idx, self.dev, self.ino) && at(&spare, c.dev, c.ino)) {
            // (Put back by another meanwhile: at its number.)
            c.alt = !at(&idx, c.dev, c.ino);
            return c;
        }
        // SAFETY: renameat between two names of our directory, checked
        // just above to be the copy and the old file.
        if unsafe {
            libc::renameat(
                self.dir.as_raw_fd(),
                from.as_ptr(),
                self.dir.as_raw_fd(),
                to.as_ptr(),
            )
        } != 0
        {
            c.alt = !at(&idx, c.dev, c.ino);
            return c;
        }
        self.relink_keys_to(c.perm().key, &idx, &c);
        c.alt = false;
        crate::debug_report!(
            "{:?} {}: a forwarded copy put back at its number",
            self.kind,
            self.id
        );
        if !c.is_removed() {
            // (Forwarded: the namespace is of this format.)
            c.ensure_spare_known(true);
        }
        c
    }

    /// The names of a removed object at its spare's name (forwarded): the
    /// old file's key names and numbered name, then the spare's name;
    /// with the index's bit. (A remover killed in between leaves names
    /// that forward to a removed object: swept as a removed object's.)
    pub(super) fn unlink_forwarded_names(&self, ns: &Ns) {
        let idx = Ns::idx_name(self.kind, self.id % IDX_SPAN);
        // The old file at the number, if it forwards here.
        let old = ns.open_name(&idx).ok().flatten().and_then(|f| {
            let (o, _) = adopt_in(&self.dir, self.kind, f).ok()?;
            (o.is_moved() && o.move_state() == MoveState::Committed(self.ino)).then_some(o)
        });
        if let Some(o) = &old {
            let key = o.perm().key;
            if key != IPC_PRIVATE {
                for n in 0..KEY_SLOTS {
                    let name = Ns::key_name(self.kind, key, n);
                    if !ns.unlink_if_same(&name, o) && !ns.exists(&name) {
                        break;
                    }
                }
            }
            ns.unlink_if_same(&idx, o);
        }
        let spare = self.spare_path();
        if lstat_in(&self.dir, &spare).is_some_and(|s| s.st_dev == self.dev && s.st_ino == self.ino)
        {
            if let Ok(c) = cpath(&spare) {
                // SAFETY: unlinking the spare's name, checked just above to
                // be this (removed) object's file.
                unsafe { libc::unlinkat(self.dir.as_raw_fd(), c.as_ptr(), 0) };
            }
        }
        if let Some(ix) = &ns.index {
            ns.clear_bit_unless_named(ix, self.kind, self.id % IDX_SPAN);
        }
    }

    /// The spare of this object, removed with it (before its number, by
    /// [`Ns::unlink_id`]; one load of the header when it records none, nor
    /// one being made ([`SPARE_MAKING`]):
    /// an object that grants nothing to others pays nothing). Whatever
    /// file is at the spare's name goes: while the object's number is its
    /// own, that name is its spare's, or a copy of it made by a filler
    /// whose move lost to the removal (marked removed by its filler), or
    /// a leftover. (A copy published by forwarding is removed by its own
    /// remover: `Ns::remove` leaves a moved object's names alone.) A
    /// spare of a removed object that recorded none (a make cut short)
    /// is swept by the heal.
    pub(super) fn unlink_spare(&self) {
        if self.alt || self.header().spare_ino.load(Ordering::Acquire) == 0 {
            return;
        }
        if let Ok(c) = cpath(&self.spare_path()) {
            // SAFETY: unlinking the spare's name of a removed object in our
            // directory (see above).
            unsafe { libc::unlinkat(self.dir.as_raw_fd(), c.as_ptr(), 0) };
        }
    }
}

impl Ns {
    /// Whether the numbered name `idx` holds a moved file that forwards
    /// to a live copy (not a removed object's name: kept by the sweepers).
    pub(super) fn forwards_at(&self, kind: Kind, idx: i32) -> bool {
        let Ok(Some(f)) = self.open_name(&Self::idx_name(kind, idx)) else {
            return false;
        };
        let Ok((o, _)) = self.adopt_any(kind, f) else {
            return false;
        };
        match o.move_state() {
            MoveState::Committed(ino) if o.is_moved() => {
                o.committed_spare(ino).is_some_and(|(_, live)| live)
            }
            _ => false,
        }
    }

    /// Sweeps the spares no object names (for [`Ns::heal`]): a file at a
    /// spare's name is kept when the numbered name holds a file being
    /// built, a live object that records it as its spare, or an old file
    /// whose committed move names it; otherwise unlinked where we may.
    pub(super) fn sweep_spares(&self) {
        for n in super::create::names_in(&self.dirfd) {
            for kind in [Kind::Msg, Kind::Sem] {
                let Some(idx) = n
                    .strip_prefix(kind.prefix())
                    .and_then(|r| r.strip_prefix('.'))
                    .and_then(|r| r.strip_suffix(".spare"))
                    .and_then(|r| r.parse::<i32>().ok())
                    .filter(|i| (0..IDX_SPAN).contains(i))
                else {
                    continue;
                };
                if self.spare_kept(kind, idx, &n) {
                    continue;
                }
                if let Ok(c) = cpath(&n) {
                    // SAFETY: unlinking, in our directory, a spare's name
                    // that no object names (checked just above).
                    if unsafe { libc::unlinkat(self.dirfd.as_raw_fd(), c.as_ptr(), 0) } == 0 {
                        crate::debug_report!(
                            "{}: swept {n}, a spare no object names",
                            self.dir.display()
                        );
                    }
                }
            }
        }
    }

    fn spare_kept(&self, kind: Kind, idx: i32, name: &str) -> bool {
        let Some(st) = self.lstat(name) else {
            return true;
        };
        if self.unborn_at(kind, idx) && self.being_built(kind, idx) {
            return true;
        }
        let Ok(Some(f)) = self.open_name(&Self::idx_name(kind, idx)) else {
            // (Unreadable: kept; no number: swept.)
            return self.exists(&Self::idx_name(kind, idx));
        };
        let Ok((o, live)) = self.adopt_any(kind, f) else {
            return false;
        };
        if o.file_id().0 != st.st_dev {
            return false;
        }
        match o.move_state() {
            // (A committed copy while live: forwarded to, or waiting for
            // its publication.)
            MoveState::Committed(ino) if ino == st.st_ino => {
                o.committed_spare(ino).is_some_and(|(_, l)| l)
            }
            _ => live && o.header().spare_ino.load(Ordering::Acquire) == st.st_ino,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::replace::{carry_nothing, set_step_hook};
    use super::super::testing::{alone, nothing, TempNs, PLAIN as SPEC};
    use super::*;

    const KEY: i32 = 0x5a5e;
    const NOBODY: u32 = 65534;

    fn root() -> bool {
        euid() == 0
    }

    /// The namespace directory made sticky and open to all (as a shared
    /// namespace is to its group): a stranger may make files there, and
    /// rename or unlink only its own.
    fn sticky(t: &TempNs) {
        let c = cpath(t.dir.to_str().unwrap()).unwrap();
        // SAFETY: chmod of the test's own directory.
        assert_eq!(unsafe { libc::chmod(c.as_ptr(), 0o1777) }, 0);
    }

    /// This (child) process's effective ids: `uid`/`gid`.
    fn become_(uid: u32) {
        // SAFETY: changing this test child's effective ids (root may).
        unsafe {
            if uid == 0 {
                assert_eq!(libc::seteuid(0), 0);
                assert_eq!(libc::setegid(0), 0);
            } else {
                assert_eq!(libc::setegid(uid), 0);
                assert_eq!(libc::seteuid(uid), 0);
            }
        }
    }

    fn spare_of(t: &TempNs, o: &Obj) -> Option<libc::stat> {
        lstat_in(&t.ns.dirfd, &o.spare_path())
    }

    /// A queue that grants others something gets a spare at its creation
    /// (its owner, group and mode, recorded in its header); one that
    /// grants nothing to anyone but its owner gets none. A stranger (uid
    /// 65534, not the file's owner, in a sticky directory) moves it
    /// through the spare: the old file forwards (by id and by key) to the
    /// copy at the spare's name, which has no spare and is not moved again
    /// by the stranger (`EPERM`); root's next lookup puts it back at its
    /// number with a new spare; `IPC_RMID` leaves nothing. The stranger
    /// made no file.
    #[test]
    fn a_stranger_moves_through_the_spare_and_root_puts_the_copy_back() {
        if !root() {
            eprintln!("skipped: needs root to act as another user");
            return;
        }
        alone("spare-move", || {
            let t = TempNs::new("spare-move");
            sticky(&t);
            let ns = t.ns.clone();
            let o = ns.get(Kind::Msg, KEY, IPC_CREAT | 0o666, &SPEC).unwrap();
            let p = ns
                .get(Kind::Sem, IPC_PRIVATE, IPC_CREAT | 0o600, &SPEC)
                .unwrap();
            let s = spare_of(&t, &o).expect("a 0666 queue has a spare");
            let of = o.own_stat().unwrap();
            assert!(fits(&s, &of));
            assert_eq!(o.header().spare_ino.load(Ordering::Relaxed), s.st_ino);
            assert!(spare_of(&t, &p).is_none(), "a 0600 set has none");
            assert_eq!(p.header().spare_ino.load(Ordering::Relaxed), 0);
            become_(NOBODY);
            assert!(
                o.may_replace(),
                "the stranger may move it through its spare"
            );
            o.replace(&nothing, &|| true, &carry_nothing).unwrap();
            assert!(o.is_moved());
            let c = ns.by_id_uncached(Kind::Msg, o.id, false).unwrap();
            assert!(c.alt, "found at the spare's name");
            assert_eq!(c.file_id(), (s.st_dev, s.st_ino));
            let k = ns.by_key(Kind::Msg, KEY).unwrap().unwrap();
            assert_eq!(k.file_id(), c.file_id(), "the key forwards too");
            assert!(c.file().is_ok() && c.stat().is_ok());
            assert!(!c.may_replace());
            assert_eq!(
                c.replace(&nothing, &|| true, &carry_nothing).unwrap_err(),
                Errno::EPERM
            );
            // Listed once, at its number.
            assert_eq!(ns.indexes(Kind::Msg), vec![o.id % IDX_SPAN]);
            become_(0);
            let mine: Vec<String> = t
                .objects()
                .into_iter()
                .filter(|n| lstat_in(&ns.dirfd, n).is_some_and(|s| s.st_uid == NOBODY))
                .collect();
            assert!(mine.is_empty(), "the stranger's files: {mine:?}");
            // Root's next lookup puts it back, with a new spare.
            let r = ns.by_id_uncached(Kind::Msg, o.id, false).unwrap();
            assert!(!r.alt);
            assert_eq!(r.file_id(), c.file_id());
            assert!(ns.same_file(&Ns::idx_name(Kind::Msg, o.id % IDX_SPAN), r.dev, r.ino));
            assert!(ns.same_file(&Ns::key_name(Kind::Msg, KEY, 0), r.dev, r.ino));
            let s2 = spare_of(&t, &r).expect("a new spare");
            assert_ne!(s2.st_ino, s.st_ino);
            assert_eq!(r.header().spare_ino.load(Ordering::Relaxed), s2.st_ino);
            ns.remove(&r, false);
            ns.remove(&p, false);
            drop((o, c, k, r, p));
            assert_eq!(t.objects(), Vec::<String>::new(), "left behind");
        });
    }

    /// Planted spares are never filled: another owner's file (its inode
    /// recorded by a scribble), a file of the wrong mode, a second hard
    /// link, a symlink, a file the header does not record: the stranger's
    /// move answers `EPERM` and changes nothing (the object stays in its
    /// file, the planted file as it was). The heal sweeps a spare no
    /// object records.
    #[test]
    fn a_planted_spare_is_refused_and_swept() {
        if !root() {
            eprintln!("skipped: needs root to act as another user");
            return;
        }
        alone("spare-planted", || {
            let t = TempNs::new("spare-planted");
            sticky(&t);
            let ns = t.ns.clone();
            let o = ns
                .get(Kind::Sem, IPC_PRIVATE, IPC_CREAT | 0o666, &SPEC)
                .unwrap();
            let name = o.spare_path();
            let path = t.dir.join(&name);
            let h = o.header();
            let cases: [(&str, &dyn Fn()); 5] = [
                ("another owner's file", &|| {
                    std::fs::remove_file(&path).unwrap();
                    std::fs::write(&path, b"").unwrap();
                    let c = cpath(path.to_str().unwrap()).unwrap();
                    // SAFETY: chown/chmod of a file of the test.
                    unsafe {
                        libc::chown(c.as_ptr(), NOBODY, NOBODY);
                        libc::chmod(c.as_ptr(), 0o666);
                    }
                    let st = lstat_in(&ns.dirfd, &name).unwrap();
                    h.spare_ino.store(st.st_ino, Ordering::SeqCst);
                }),
                ("the wrong mode", &|| {
                    let c = cpath(path.to_str().unwrap()).unwrap();
                    // SAFETY: chmod of a file of the test.
                    unsafe { libc::chmod(c.as_ptr(), 0o644) };
                }),
                ("a second hard link", &|| {
                    std::fs::hard_link(&path, t.dir.join("elsewhere")).unwrap();
                }),
                ("a symlink", &|| {
                    let st = lstat_in(&ns.dirfd, &name).unwrap();
                    std::fs::rename(&path, t.dir.join("elsewhere")).unwrap();
                    std::os::unix::fs::symlink("elsewhere", &path).unwrap();
                    h.spare_ino.store(st.st_ino, Ordering::SeqCst);
                }),
                ("a file not recorded", &|| {
                    h.spare_ino.store(1, Ordering::SeqCst);
                }),
            ];
            for (what, plant) in cases {
                o.ensure_spare();
                assert!(o.has_spare(), "{what}: a fresh spare first");
                plant();
                let before = lstat_in(&ns.dirfd, &name).map(|s| (s.st_ino, s.st_size));
                become_(NOBODY);
                assert!(!o.may_replace(), "{what}");
                assert_eq!(
                    o.replace(&nothing, &|| true, &carry_nothing).unwrap_err(),
                    Errno::EPERM,
                    "{what}"
                );
                become_(0);
                assert!(!o.is_moved(), "{what}: moved");
                assert_eq!(
                    lstat_in(&ns.dirfd, &name).map(|s| (s.st_ino, s.st_size)),
                    before,
                    "{what}: the planted file changed"
                );
                let _ = std::fs::remove_file(t.dir.join("elsewhere"));
                // Swept once no object records it (and never listed).
                if what != "a symlink" {
                    h.spare_ino.store(0, Ordering::SeqCst);
                    ns.heal();
                    assert!(lstat_in(&ns.dirfd, &name).is_none(), "{what}: not swept");
                } else {
                    std::fs::remove_file(&path).unwrap();
                }
                assert_eq!(ns.indexes(Kind::Sem), vec![o.id % IDX_SPAN], "{what}");
            }
            ns.remove(&o, false);
            drop(o);
            assert_eq!(t.objects(), Vec::<String>::new(), "left behind");
        });
    }

    /// Two strangers' moves at once: the spare is claimed by exactly one
    /// (the other, meeting the claim, answers `EAGAIN` and fills
    /// nothing); once the first committed, the second follows the move.
    /// A filler killed while it fills (its claim released) leaves a spare
    /// the next stranger fills again from the start; one killed after its
    /// commit leaves a move any caller publishes by forwarding.
    #[test]
    fn the_spare_is_claimed_by_one_filler_and_a_killed_fillers_is_taken_over() {
        if !root() {
            eprintln!("skipped: needs root to act as another user");
            return;
        }
        alone("spare-race", || {
            let t = TempNs::new("spare-race");
            sticky(&t);
            let ns = t.ns.clone();
            let o = Arc::new(
                ns.get(Kind::Msg, IPC_PRIVATE, IPC_CREAT | 0o666, &SPEC)
                    .unwrap(),
            );
            become_(NOBODY);
            // The first filler, stopped at its step 0 (claimed, emptied,
            // nothing copied) while the second tries.
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let (tx2, rx2) = std::sync::mpsc::channel::<Result<()>>();
            let o2 = o.clone();
            let second = std::thread::spawn(move || {
                rx.recv().unwrap();
                let r = o2.replace(&nothing, &|| true, &carry_nothing);
                tx2.send(r).unwrap();
            });
            let rx2 = std::sync::Mutex::new(rx2);
            let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
            let seen2 = seen.clone();
            set_step_hook(Some(Box::new(move |n| {
                if n == 0 {
                    tx.send(()).unwrap();
                    *seen2.lock().unwrap() = Some(rx2.lock().unwrap().recv().unwrap());
                }
            })));
            let first = o.replace(&nothing, &|| true, &carry_nothing);
            set_step_hook(None);
            second.join().unwrap();
            assert_eq!(
                *seen.lock().unwrap(),
                Some(Err(Errno::EAGAIN)),
                "the second filler"
            );
            assert_eq!(first, Ok(()), "the first filler");
            assert!(o.is_moved());
            let c = ns.by_id_uncached(Kind::Msg, o.id, false).unwrap();
            assert!(c.alt);
            become_(0);
            let r = ns.by_id_uncached(Kind::Msg, o.id, false).unwrap();
            assert!(!r.alt && r.has_spare());
            drop((c, o));
            // A filler killed while filling, then one killed after its
            // commit: each in a child of its own.
            for (at, code) in [(0u32, 7), (3, 8)] {
                let cur = ns.by_id_uncached(Kind::Msg, r.id, false).unwrap();
                assert!(!cur.alt && cur.has_spare(), "step {at}: a spare");
                // SAFETY: fork of this one-thread child; the grandchild
                // runs the move and leaves with _exit.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    become_(NOBODY);
                    set_step_hook(Some(Box::new(move |n| {
                        if n == at {
                            // SAFETY: ends the grandchild there, as SIGKILL would.
                            unsafe { libc::_exit(code) };
                        }
                    })));
                    let _ = cur.replace(&nothing, &|| true, &carry_nothing);
                    // SAFETY: ending the grandchild (not at the step).
                    unsafe { libc::_exit(3) };
                }
                let mut st = 0;
                // SAFETY: waiting for our own child.
                assert_eq!(unsafe { libc::waitpid(pid, &mut st, 0) }, pid);
                assert_eq!(libc::WEXITSTATUS(st), code, "step {at}");
                become_(NOBODY);
                if at == 0 {
                    assert!(!cur.is_moved());
                    cur.replace(&nothing, &|| true, &carry_nothing).unwrap();
                } else {
                    assert!(!cur.is_moved());
                    assert!(matches!(cur.move_state(), MoveState::Committed(_)));
                    assert!(!cur.commit_forged(), "a committed spare is no scribble");
                    cur.publish_committed(&carry_nothing).unwrap();
                }
                assert!(cur.is_moved(), "step {at}");
                let c = ns.by_id_uncached(Kind::Msg, r.id, false).unwrap();
                assert!(c.alt, "step {at}");
                become_(0);
                let back = ns.by_id_uncached(Kind::Msg, r.id, false).unwrap();
                assert!(!back.alt, "step {at}");
            }
            let last = ns.by_id_uncached(Kind::Msg, r.id, false).unwrap();
            ns.remove(&last, false);
            drop((r, last));
            ns.sweep_tmp();
            assert_eq!(t.objects(), Vec::<String>::new(), "left behind");
        });
    }

    /// `IPC_RMID` of an object removes its spare; of a copy at its
    /// spare's name (forwarded), the old file's numbered and key names
    /// and the spare's name. A spare whose object is gone is swept by the
    /// heal.
    #[test]
    fn a_spare_goes_with_its_object() {
        if !root() {
            eprintln!("skipped: needs root to act as another user");
            return;
        }
        alone("spare-rmid", || {
            let t = TempNs::new("spare-rmid");
            sticky(&t);
            let ns = t.ns.clone();
            let o = ns.get(Kind::Sem, KEY, IPC_CREAT | 0o606, &SPEC).unwrap();
            assert!(o.has_spare());
            ns.remove(&o, false);
            drop(o);
            assert_eq!(t.objects(), Vec::<String>::new(), "IPC_RMID left");
            let o = ns.get(Kind::Msg, KEY, IPC_CREAT | 0o666, &SPEC).unwrap();
            become_(NOBODY);
            o.replace(&nothing, &|| true, &carry_nothing).unwrap();
            become_(0);
            let MoveState::Committed(ino) = o.move_state() else {
                panic!("not committed")
            };
            let (c, live) = o.committed_spare(ino).unwrap();
            assert!(live && c.alt);
            ns.remove(&c, false);
            assert!(ns.by_key(Kind::Msg, KEY).unwrap().is_none());
            assert_eq!(
                ns.by_id_uncached(Kind::Msg, o.id, false).unwrap_err(),
                Errno::EINVAL
            );
            drop((o, c));
            assert_eq!(
                t.objects(),
                Vec::<String>::new(),
                "IPC_RMID of the copy left"
            );
            // An orphan spare (its object's remover killed before it).
            std::fs::write(t.dir.join("msg.3.spare"), b"").unwrap();
            assert!(ns.indexes(Kind::Msg).is_empty(), "listed");
            ns.heal();
            assert_eq!(t.objects(), Vec::<String>::new(), "an orphan spare left");
        });
    }
}
