//! Creating an object (built at its number under a build mark and
//! published by its magic, or, where no mark can be had, built in a
//! temporary file and linked under its names), and healing what a killed
//! creator left.

use super::lookup::Stale;
use super::*;

/// What a create makes (see `Ns::create`): the kind, key, `*get` flags,
/// the engine's spec, the creator and the files' sizes.
struct Making<'a> {
    kind: Kind,
    key: i32,
    flags: i32,
    spec: &'a CreateSpec<'a>,
    me: &'a Creds,
    geo: Geometry,
}

/// The sizes of a new object's files (see `Ns::create`).
struct Geometry {
    /// bytes of the control file's control area (header and the engine's
    /// control data, a whole number of pages)
    ctl_len: usize,
    /// bytes of the control file
    total: u64,
}

impl Ns {
    pub(super) fn tmpfile(dirfd: &OwnedFd) -> Result<(OwnedFd, CString)> {
        static N: AtomicU32 = AtomicU32::new(0);
        loop {
            // ".new." and three numbers of at most 10, 20 and 10 digits:
            // 48 of 64 bytes with the NUL.
            let name = StackName::<64>::new()
                .push(b".new.")
                .num(my_pid() as u64)
                .push(b".")
                .num(my_start())
                .push(b".")
                .num(N.fetch_add(1, Ordering::Relaxed) as u64);
            let name = name.as_cstr()?;
            // SAFETY: exclusive creation relative to our directory fd.
            let fd = unsafe {
                libc::openat(
                    dirfd.as_raw_fd(),
                    name.as_ptr(),
                    libc::O_RDWR
                        | libc::O_CREAT
                        | libc::O_EXCL
                        | libc::O_NOFOLLOW
                        | libc::O_CLOEXEC,
                    0o600,
                )
            };
            if fd >= 0 {
                // SAFETY: fresh descriptor we own.
                return Ok((unsafe { OwnedFd::from_raw_fd(fd) }, name.to_owned()));
            }
            if Errno::last() != Errno::EEXIST {
                return Err(Errno::last());
            }
        }
    }

    /// Creates the payload file of the fresh control file `ctl` at its
    /// public name, `<kind>.data.<inode of the control file>`, empty and
    /// `0600` as the control file is, before anything is built (a segment
    /// is never published without its payload). The payload is made at
    /// that name directly (`O_CREAT | O_EXCL`), not under a temporary name
    /// of its own moved there: one `renameat2` less per create, ~7 us here
    /// (docs/shm.md), and no window in which it has a name a sweeper must
    /// find by itself — a creator killed from here on leaves its control
    /// file (at its temporary name, or at its number without magic), by
    /// whose inode the sweepers find the payload (`heal_orphan`,
    /// `sweep_stale`). A file already there cannot be a live object's
    /// payload (no other file has our inode while ours exists): a
    /// leftover, removed when we may; or another member's file, planted
    /// at the inode numbers tmpfs will hand out next, which the sticky
    /// directory does not let us remove (before, `ENOMEM`: a member could
    /// deny every other member `shmget`). Then the control file is made
    /// again — another inode — by `again(previous, true)`, which unlinks
    /// the previous file's name and makes a new one, until a free name
    /// turns up; the control files passed over stay open until then (so a
    /// file system that reuses inode numbers cannot hand the same one
    /// back). Each planted name costs one creator one more control file,
    /// once (tmpfs numbers inodes in sequence): at most [`PLANTED_MAX`] in
    /// a row, then `ENOMEM`. The planted file is never opened (`O_EXCL`).
    /// Returns the control file, its status (`fstat`, which `create` then
    /// needs not make again: sizing the file changes none of the inode,
    /// device, owner and mode it reads), and the payload, open
    /// read-write; on failure the control file's name is gone
    /// (`again(current, false)`) and no payload was made.
    fn claim_data_name(
        &self,
        kind: Kind,
        mut ctl: OwnedFd,
        again: &mut dyn FnMut(&OwnedFd, bool) -> Result<Option<OwnedFd>>,
    ) -> Result<(OwnedFd, libc::stat, OwnedFd)> {
        let mut passed: Vec<OwnedFd> = Vec::new();
        let r = loop {
            let claimed = fstat(ctl.as_raw_fd()).and_then(|st| {
                let name = data_cname(kind, st.st_ino);
                let name = name.as_cstr()?;
                if let Some(d) = create_new(&self.dirfd, name)? {
                    return Ok(Some((st, d)));
                }
                // A leftover of an earlier file with our inode: away with
                // it, once (only where we may).
                self.unlink_data(kind, st.st_ino);
                Ok(create_new(&self.dirfd, name)?.map(|d| (st, d)))
            });
            match claimed {
                Ok(Some(c)) => break Ok(c),
                Ok(None) if passed.len() < PLANTED_MAX => {}
                Ok(None) => break Err(Errno::ENOMEM),
                Err(e) => break Err(e),
            }
            match again(&ctl, true) {
                Ok(Some(next)) => passed.push(core::mem::replace(&mut ctl, next)),
                Ok(None) => break Err(Errno::ENOMEM),
                Err(e) => break Err(e),
            }
        };
        match r {
            Ok((st, d)) => Ok((ctl, st, d)),
            Err(e) => {
                let _ = again(&ctl, false);
                Err(e)
            }
        }
    }

    /// Whether objects are created at their number in this namespace
    /// (its format, see `NS_MAGIC`).
    fn at_number(&self) -> bool {
        let m = self.ctl().magic.load(Ordering::Relaxed);
        m == NS_MAGIC || m == NS_MAGIC_V2
    }

    /// The descriptor through which this process takes its build marks
    /// ([`index::Index::claim_build`]): its liveness mark's, its own open
    /// file description of the index (`Ns::hold_alive`); `None` when the
    /// namespace's format is the one before (see `NS_MAGIC`) or this
    /// process holds no such descriptor here (an `Ns` opened without
    /// [`Ns::register`], or no descriptor to be had): then objects are
    /// created under a temporary name.
    pub(super) fn build_fd(&self) -> Option<i32> {
        let fd = self.live_fd.load(Ordering::Relaxed);
        (fd >= 0 && self.live_pid.load(Ordering::Relaxed) == my_pid() && self.at_number())
            .then_some(fd)
    }

    pub(super) fn create(
        &self,
        kind: Kind,
        key: i32,
        flags: i32,
        spec: &CreateSpec<'_>,
        me: &Creds,
    ) -> Result<Arc<Obj>> {
        let ctl_len = HEADER_LEN.checked_add(spec.ctl_len).ok_or(Errno::ENOMEM)?;
        let ctl_len = (ctl_len + 4095) & !4095;
        let here = if spec.data_apart { 0 } else { spec.data_len };
        let total = (ctl_len as u64).checked_add(here).ok_or(Errno::ENOMEM)?;
        let m = Making {
            kind,
            key,
            flags,
            spec,
            me,
            geo: Geometry { ctl_len, total },
        };
        if let (Some(ix), Some(lfd)) = (self.index.as_deref(), self.build_fd()) {
            if let Some(r) = self.create_at_number((ix, lfd), &m) {
                return r;
            }
        }
        self.create_renamed(&m)
    }

    /// Creates the object at its number (see "At the number" in
    /// docs/shm.md): the lowest free index the hint gives, claimed
    /// ([`index::Index::claim_build`]: its build mark held from before
    /// the file exists until after its magic), its bit set, the file made
    /// there (`openat(O_CREAT | O_EXCL)` of `<kind>.<idx>`: the name
    /// decides; a killed creator's file found there is swept first, once),
    /// built there, named by its key (a link from the number), and
    /// published by its magic. Until the magic every reader takes the file
    /// for absent while its build mark is held, and every sweeper leaves it
    /// alone; once the mark is free (the creator dead) and the magic still
    /// missing, the first sweeper to meet it removes it with its key name
    /// and its payload's (`Ns::sweep_stale`). `None` when the build mark
    /// cannot be taken here (no OFD locks): the caller then creates
    /// under a temporary name.
    fn create_at_number(
        &self,
        (ix, lfd): (&index::Index, i32),
        m: &Making<'_>,
    ) -> Option<Result<Arc<Obj>>> {
        let &Making {
            kind, key, spec, ..
        } = m;
        let limits = self.limits();
        let max = kind.max_objects(&limits);
        let mut got = None;
        for idx in ix.candidates(kind, max) {
            let slot = match ix.claim_build(lfd, kind, idx) {
                index::Claim::Mine(s) => s,
                index::Claim::Busy => continue,
                index::Claim::NoLocks => return None,
            };
            // (The index's bit is set once the object is published: a
            // file being built is no object `*_INFO` count, nor one the
            // walks of the bits visit; a killed creator's file is then
            // at an index the hint offers, and the next create there
            // sweeps it.)
            let name = idx_cname(kind, idx);
            let mut stale = Stale::Gone;
            let made = name
                .as_cstr()
                .and_then(|n| match create_new(&self.dirfd, n)? {
                    // A killed creator's file, or a removed object's name,
                    // may be in the way: once swept, the index is free.
                    None => {
                        stale = self.sweep_stale_as(kind, idx, true);
                        match stale {
                            Stale::Gone => create_new(&self.dirfd, n),
                            _ => Ok(None),
                        }
                    }
                    r => Ok(r),
                });
            match made {
                Ok(Some(fd)) => {
                    got = Some((idx, slot, fd));
                    break;
                }
                Ok(None) => {
                    // Another object's (its bit set: the hint was wrong,
                    // e.g. after a creator killed between its magic and
                    // its bit), or a file we may not sweep.
                    if stale == Stale::Kept && !ix.is_used(kind, idx) {
                        ix.mark(kind, idx, true);
                    }
                    ix.release_build(lfd, kind, idx, slot);
                }
                Err(e) => {
                    self.clear_bit_unless_named(ix, kind, idx);
                    ix.release_build(lfd, kind, idx, slot);
                    return Some(Err(e));
                }
            }
        }
        let Some((idx, slot, fd)) = got else {
            return Some(Err(Errno::ENOSPC));
        };
        let name = idx_cname(kind, idx);
        let Ok(numbered) = name.as_cstr() else {
            ix.release_build(lfd, kind, idx, slot);
            return Some(Err(Errno::EINVAL));
        };
        // Unlinks the number of control file `f` (ours: the build mark is
        // held), and makes another there when `more`.
        let mut again = |f: &OwnedFd, more: bool| -> Result<Option<OwnedFd>> {
            if let Ok(st) = fstat(f.as_raw_fd()) {
                if self.same_file(&Self::idx_name(kind, idx), st.st_dev, st.st_ino) {
                    // SAFETY: unlinking our own file's number (checked by
                    // inode just above) in our directory.
                    unsafe { libc::unlinkat(self.dirfd.as_raw_fd(), numbered.as_ptr(), 0) };
                }
            }
            if more {
                return create_new(&self.dirfd, numbered);
            }
            Ok(None)
        };
        let r = (|| {
            let (fd, claimed, data) = if spec.data_apart {
                let (fd, st, d) = self.claim_data_name(kind, fd, &mut again)?;
                (fd, Some(st), Some(d))
            } else {
                (fd, None, None)
            };
            let seq = self.next_seq(kind);
            let id = seq as i32 * IDX_SPAN + idx;
            let built = self.build(m, (seq, id), &fd, claimed, data.as_ref());
            // Its spare, when it grants anyone but its owner anything
            // (src/ns/spare.rs): made before any name is shared.
            let built = built.map(|obj| {
                if super::spare::wants_spare(kind, file_mode_for(m.flags as u32 & 0o777)) {
                    obj.ensure_spare_known(self.ctl().magic.load(Ordering::Relaxed) == NS_MAGIC);
                }
                obj
            });
            // Named by its key from its number (the link decides a race
            // of creators: exactly one links the key's first free slot;
            // a loser unwinds, never published).
            let built = built.and_then(|obj| {
                if key != IPC_PRIVATE {
                    self.link_key(kind, key, numbered)?;
                }
                Ok(obj)
            });
            match built {
                Ok(obj) => Ok((obj, data)),
                Err(e) => {
                    if let Some(st) = claimed {
                        self.unlink_data(kind, st.st_ino);
                    }
                    let _ = again(&fd, false);
                    Err(e)
                }
            }
        })();
        let r = r.map(|(obj, data)| {
            obj.header().magic.store(OBJ_MAGIC, Ordering::Release);
            // Its bit, right after: counted by `*_INFO` and visited by the
            // walks from now on (a creator killed between the two leaves
            // an object the hint misses until the next create there or a
            // heal sets its bit, as for any bit a scribble cleared).
            ix.mark(kind, idx, true);
            self.published(obj, data)
        });
        if r.is_err() {
            self.clear_bit_unless_named(ix, kind, idx);
        }
        ix.release_build(lfd, kind, idx, slot);
        Some(r)
    }

    /// Creates the object under a temporary name (the way of the format
    /// before, and where no build mark can be had): built there, published
    /// by its magic, linked under its key, then moved to its number.
    fn create_renamed(&self, m: &Making<'_>) -> Result<Arc<Obj>> {
        let &Making {
            kind, key, spec, ..
        } = m;
        let limits = self.limits();
        let (tmp, tname) = Self::tmpfile(&self.dirfd)?;
        let tname = core::cell::RefCell::new(tname);
        // A payload of its own: a second file, made at once at its public
        // name (see `claim_data_name`), which may give the control file
        // another inode (and another temporary name).
        let mut again = |_: &OwnedFd, more: bool| -> Result<Option<OwnedFd>> {
            // SAFETY: unlinking our temporary name in our directory.
            unsafe { libc::unlinkat(self.dirfd.as_raw_fd(), tname.borrow().as_ptr(), 0) };
            if !more {
                return Ok(None);
            }
            let (t, n) = Self::tmpfile(&self.dirfd)?;
            *tname.borrow_mut() = n;
            Ok(Some(t))
        };
        let (tmp, data, claimed) = if spec.data_apart {
            let (tmp, st, d) = self.claim_data_name(kind, tmp, &mut again)?;
            (tmp, Some(d), Some(st))
        } else {
            (tmp, None, None)
        };
        let tname = tname.into_inner();
        // The payload's public name (see `data_cname`): its control file's
        // inode.
        let data_named = claimed.as_ref().map(|st| st.st_ino);
        // The control file's temporary name (it stays reachable by it until
        // it is moved to its number, so that `sweep_tmp` finds a killed
        // creator's leftovers: its payload, named from the start, is found
        // by the control file's inode).
        let ctl_tmp = core::cell::Cell::new(true);
        let tmp_names = || {
            if ctl_tmp.get() {
                // SAFETY: unlinking a name we created, relative to our
                // directory.
                unsafe { libc::unlinkat(self.dirfd.as_raw_fd(), tname.as_ptr(), 0) };
            }
        };
        let cleanup = || {
            if let Some(ino) = data_named {
                self.unlink_data(kind, ino);
            }
            tmp_names();
        };
        let seq = self.next_seq(kind);
        let obj = match self.build(m, (seq, 0), &tmp, claimed, data.as_ref()) {
            Ok(obj) => obj,
            Err(e) => {
                cleanup();
                return Err(e);
            }
        };
        let h = obj.header();
        h.magic.store(OBJ_MAGIC, Ordering::Release);
        // The key first: a creator killed before its number leaves a key
        // name whose object has none, which the next get of the key heals
        // (see `by_key`), not a numbered object no key finds.
        if key != IPC_PRIVATE {
            if let Err(e) = self.link_key(kind, key, &tname) {
                cleanup();
                return Err(e);
            }
        }
        // Unwinds a failed numbering: the key name goes, the object with it.
        let unkey = || {
            if key != IPC_PRIVATE {
                h.state.store(STATE_REMOVED, Ordering::Release);
                for n in 0..KEY_SLOTS {
                    if self.unlink_if_same(&Self::key_name(kind, key, n), &obj) {
                        break;
                    }
                }
            }
            cleanup();
        };
        // Give it a number: the lowest free index, as the index hint has
        // it (the link decides; see `index`).
        let max = kind.max_objects(&limits);
        let mut placed = None;
        let candidates: Box<dyn Iterator<Item = i32>> = match &self.index {
            Some(ix) => Box::new(ix.candidates(kind, max)),
            None => Box::new(0..max),
        };
        for idx in candidates {
            let id = seq as i32 * IDX_SPAN + idx;
            h.id.store(id, Ordering::Release);
            let name = idx_cname(kind, idx);
            let Ok(name) = name.as_cstr() else {
                break;
            };
            // The bit before the name as well as after it: a creator
            // killed just after its move then leaves its object listed
            // (`*_INFO` and `*_STAT` walk the bits), not one no walk finds
            // and no `ipcrm -a` removes. Killed before the move, it leaves
            // a bit whose name is missing, which costs time, never an
            // object (see `index`).
            if let Some(ix) = &self.index {
                ix.mark(kind, idx, true);
            }
            // Moved, not linked: the number is the file's last name to
            // come, and its temporary name goes with the same system call
            // (a key name, linked first, keeps an orphan findable until
            // then; see `heal_orphan`).
            let linked = match move_new(&self.dirfd, &tname, name) {
                // A removed object's leftover name may be in the way: once
                // swept, the index is free after all.
                Ok(false) if self.sweep_stale(kind, idx) => move_new(&self.dirfd, &tname, name),
                r => r,
            };
            if let Ok(true) = linked {
                ctl_tmp.set(false);
            }
            if let (Ok(_), Some(ix)) = (&linked, &self.index) {
                // Ours now, or someone else's all along: in use either
                // way. Set again if a healer cleared it while the name
                // was missing (one `pread` when it did not).
                if !ix.is_used(kind, idx) {
                    ix.mark(kind, idx, true);
                }
            }
            match linked {
                Ok(true) => {
                    placed = Some(idx);
                    break;
                }
                Ok(false) => {}
                Err(e) => {
                    // The bit set before the move, taken back (set again
                    // if the name exists: a creator of another process
                    // moved there meanwhile; one still on its way checks
                    // its bit after its move).
                    if let Some(ix) = &self.index {
                        self.clear_bit_unless_named(ix, kind, idx);
                    }
                    unkey();
                    return Err(e);
                }
            }
        }
        if placed.is_none() {
            unkey();
            return Err(Errno::ENOSPC);
        }
        tmp_names();
        Ok(self.published(obj, data))
    }

    /// Builds the object in its fresh control file `fd` (with its payload
    /// `data`, and `claimed`, the status taken to claim the payload's
    /// name): storage reserved and the file sized, the header (id
    /// `seq_id.1`, sequence `seq_id.0`), the engine's `init`, the state
    /// live, the files' modes; everything but the magic and the names.
    /// Errors leave the files to the caller.
    fn build(
        &self,
        m: &Making<'_>,
        (seq, id): (u32, i32),
        fd: &OwnedFd,
        claimed: Option<libc::stat>,
        data: Option<&OwnedFd>,
    ) -> Result<Obj> {
        let &Making {
            kind,
            key,
            flags,
            spec,
            me,
            geo: Geometry { ctl_len, total },
        } = m;
        // Storage for what creation writes (the header and the engines'
        // `init`: the first page) is reserved now: a full tmpfs must fail
        // this call, not SIGBUS its first write to a sparse page. The rest
        // stays sparse, allocated on first use as the kernel allocates a
        // queue's messages or a segment's pages (reserving a queue's whole
        // area, 4.7 MB at the default msgmnb, would cost that much memory
        // and ~0.5 ms per msgget); see `Obj::reserve` for later growth.
        // An `ftruncate` sizes it.
        let sized = reserve(fd.as_raw_fd(), (ctl_len as u64).min(CREATE_RESERVE)).and_then(|()| {
            // SAFETY: sizing our own fresh file.
            if unsafe { libc::ftruncate(fd.as_raw_fd(), total as libc::off_t) } != 0 {
                return Err(Errno::last());
            }
            // (A payload file of its own stays empty: the engine's `init`
            // sizes it, with the `fallocate` that reserves it if it does.)
            Ok(())
        });
        if let Err(e) = sized {
            if e == Errno::ENOSPC {
                // Make what room the dead left behind, for the next try.
                self.sweep_tmp();
            }
            // No room on the file system is no memory for the object,
            // the kernel's ENOMEM (its ENOSPC means "too many objects").
            return Err(match e {
                Errno::EFBIG | Errno::EINVAL | Errno::ENOSPC => Errno::ENOMEM,
                e => e,
            });
        }
        // (With a payload of its own, the status taken to claim its name.)
        let st = claimed.map_or_else(|| fstat(fd.as_raw_fd()), Ok)?;
        let obj = Obj {
            kind,
            id,
            map: Mapping::new(fd.as_fd(), ctl_len, 0)?,
            dir: self.dirfd.clone(),
            dev: st.st_dev,
            ino: st.st_ino,
            data_len: spec.data_len,
            building: Some(fd.as_raw_fd()),
            building_data: data.map(|d| d.as_raw_fd()),
            data_fd: AtomicI32::new(-1),
            alt: false,
        };
        let h = obj.header();
        h.kind.store(kind as u32, Ordering::Relaxed);
        h.version.store(spec.layout, Ordering::Relaxed);
        h.ctl_len.store(ctl_len as u64, Ordering::Relaxed);
        h.data_len.store(spec.data_len, Ordering::Relaxed);
        h.id.store(id, Ordering::Relaxed);
        if spec.data_apart {
            h.flags.store(DATA_APART, Ordering::Relaxed);
        }
        h.lock.init();
        // The file's group is the creator's, as the object's (in a setgid
        // shared namespace it would otherwise be the directory's).
        // (Both files were made alike: one look at the first says whether
        // either needs it.)
        if st.st_gid != me.egid {
            // SAFETY: fchown of our own fresh file; failure is harmless.
            unsafe {
                libc::fchown(fd.as_raw_fd(), u32::MAX, me.egid);
                if let Some(d) = data {
                    libc::fchown(d.as_raw_fd(), u32::MAX, me.egid);
                }
            }
        }
        h.perm.store(&Perm {
            key,
            uid: me.euid,
            gid: me.egid,
            cuid: me.euid,
            cgid: me.egid,
            mode: (flags as u32) & 0o777,
            seq,
        });
        h.ctime.store(now_secs(), Ordering::Relaxed);
        h.cpid.store(my_pid(), Ordering::Relaxed);
        h.cstart.store(my_start(), Ordering::Relaxed);
        // (The storage reserved above and by `init` is this file's: see
        // `Obj::only_reserved`.)
        h.reserved_for.store(st.st_ino, Ordering::Relaxed);
        (spec.init)(&obj)?;
        h.state.store(STATE_LIVE, Ordering::Relaxed);
        // Who may open the file: anyone the IPC mode grants anything to
        // (read-only users still write the queue's bookkeeping); ripc then
        // applies the IPC read/write bits itself. Set before any name of
        // the file is shared (the key name, linked next, or the number of
        // the format before): a file being built is closed to whom its
        // object would be.
        // (Both files were made 0600 less the umask: a mode they already
        // have is not set again.)
        if st.st_mode & 0o7777 != file_mode_for((flags as u32) & 0o777) {
            Obj::chmod_fd(fd.as_raw_fd(), (flags as u32) & 0o777);
        }
        // The payload: exactly the IPC mode's read and write bits (set now,
        // while the creator still holds it open read-write; its name was
        // claimed at the start, and no one finds it before the object).
        if let Some(d) = data {
            if st.st_mode & 0o7777 != data_mode_for(flags as u32) {
                // SAFETY: fchmod of our own fresh payload file.
                unsafe { libc::fchmod(d.as_raw_fd(), data_mode_for(flags as u32) as libc::mode_t) };
            }
        }
        Ok(obj)
    }

    /// The end of a create: `obj`, published, made the caller's (its
    /// payload's descriptor `data` kept for the engine) and cached.
    fn published(&self, mut obj: Obj, data: Option<OwnedFd>) -> Arc<Obj> {
        obj.id = obj.header().id.load(Ordering::Relaxed);
        obj.building = None;
        obj.building_data = None;
        if let Some(d) = data {
            // Kept for the engine (a create is mostly followed by an attach:
            // it then needs no open), not closed here.
            use std::os::fd::IntoRawFd;
            obj.data_fd.store(d.into_raw_fd(), Ordering::Relaxed);
        }
        let obj = Arc::new(obj);
        if let Ok(mut c) = self.cache.lock() {
            c.insert((obj.kind, obj.id), obj.clone());
        }
        obj
    }

    /// Gives the file named `tname` (the creator's: its temporary name,
    /// or its number while it is built there) the first free name of
    /// `key`'s slots, passing over names whose objects were removed.
    /// `EEXIST` when a live object holds the key (another creator won the
    /// race), or one being built at its number; a killed creator's file
    /// found at the slot is swept on the way (`EEXIST` too: the caller's
    /// `get` looks again).
    pub(super) fn link_key(&self, kind: Kind, key: i32, tname: &CStr) -> Result<()> {
        for attempt in 0..2 {
            // Linking past a removed object's name must not meet a healer
            // unlinking the names before it (a gap would hide this one).
            let mut shared: Option<OwnedFd> = None;
            for n in 0..KEY_SLOTS {
                if n > 0 && shared.is_none() {
                    shared = Some(self.dir_lock(libc::LOCK_SH, 100).ok_or(Errno::EAGAIN)?);
                }
                let kname = cpath(&Self::key_name(kind, key, n))?;
                if link_new(&self.dirfd, tname, &kname)? {
                    return Ok(());
                }
                // Taken: by a live object (we lost a race) or a removed one
                // whose name its remover could not unlink.
                match self.adopt_name(kind, &Self::key_name(kind, key, n)) {
                    // Removed, or another key's (`Ns::keyed`): the next
                    // slot. (A moved file is looked up again by
                    // `adopt_name`: its copy is live.)
                    Ok(Some((o, live))) if !live || !Self::keyed(&o, key) => continue,
                    Ok(None) => return Err(Errno::EEXIST), // gone meanwhile: retry
                    // A killed creator's file, built at its number, that we
                    // may not unlink: passed over as a removed object's.
                    Err(_)
                        if self.key_unborn(kind, &Self::key_name(kind, key, n)) == Some(false)
                            && self.exists(&Self::key_name(kind, key, n)) =>
                    {
                        continue
                    }
                    _ => return Err(Errno::EEXIST),
                }
            }
            drop(shared);
            // Every slot holds a removed object's name: unlink those we may
            // (ours, or all for root or in a non-sticky directory), once.
            if attempt == 0 && !self.heal_key(kind, key) {
                break;
            }
        }
        Err(Errno::ENOSPC)
    }

    /// A lock on the namespace directory (`flock` on a descriptor of its
    /// own, so that threads of one process exclude each other too), tried
    /// up to `tries` times a millisecond apart; `None` when not had.
    pub(super) fn dir_lock(&self, op: i32, tries: u32) -> Option<OwnedFd> {
        dir_lock_in(&self.dirfd, op, tries)
    }

    /// Unlinks the names of removed objects at the end of `key`'s slots
    /// (never one before a live object's: the walk of [`Ns::by_key`] stops
    /// at the first free slot), where the caller may. True when any went.
    pub(super) fn heal_key(&self, kind: Kind, key: i32) -> bool {
        let Some(_lock) = self.dir_lock(libc::LOCK_EX, 1) else {
            return false;
        };
        let mut healed = false;
        for n in (0..KEY_SLOTS).rev() {
            let name = Self::key_name(kind, key, n);
            let Ok(Some(f)) = self.open_name(&name) else {
                if self.exists(&name) {
                    break; // unreadable: leave it and what is before it
                }
                continue;
            };
            let Ok(st) = fstat(f.as_raw_fd()) else { break };
            let gone = match self.adopt_any(kind, f) {
                // A removed object's name, or another key's object linked
                // here by a member (see `Ns::keyed`).
                // (A moved file forwarding to a live copy is the key's
                // object: src/ns/spare.rs.)
                Ok((obj, live))
                    if (!live && !obj.forwarded().is_some_and(|(_, l)| l))
                        || obj.header().perm.key.load(Ordering::Relaxed) != key =>
                {
                    self.unlink_if_same(&name, &obj) && !self.exists(&name)
                }
                Ok(_) => false,
                // An object being built at its number (a creator links
                // its key name before its magic): left alone while its
                // creator lives, swept with its number once it is dead.
                Err(_) if self.key_unborn(kind, &name).is_some() => !self.exists(&name),
                // No object at all (a member scribbled on its header, or
                // planted the file): a creator links a key name only to an
                // object with its header written, so nobody can use it
                // any more.
                Err(_) => {
                    self.same_file(&name, st.st_dev, st.st_ino)
                        && cpath(&name).is_ok_and(|c| {
                            // SAFETY: unlinking a key name in our directory
                            // checked just above to be this file.
                            unsafe { libc::unlinkat(self.dirfd.as_raw_fd(), c.as_ptr(), 0) == 0 }
                        })
                }
            };
            if !gone {
                break;
            }
            crate::debug_report!(
                "{}: swept {name}, a removed (or unusable, or another key's) object's key name",
                self.dir.display()
            );
            healed = true;
        }
        healed
    }

    /// Heals the whole namespace (for `ripcs` and `ripcrm -a`): temporary
    /// files and orphans of killed creators ([`Ns::sweep_tmp`]), removed
    /// objects' names left in key slots, removed objects' numbered names.
    pub fn heal(&self) {
        self.sweep_tmp();
        let mut keys = Vec::new();
        for n in names_in(&self.dirfd) {
            let n = n.as_str();
            for kind in [Kind::Msg, Kind::Shm, Kind::Sem] {
                let Some(rest) = n
                    .strip_prefix(kind.prefix())
                    .and_then(|r| r.strip_prefix(".key."))
                else {
                    continue;
                };
                let hex = rest.split('.').next().unwrap_or("");
                if let Ok(k) = u32::from_str_radix(hex, 16) {
                    keys.push((kind, k as i32));
                }
            }
        }
        keys.sort_unstable_by_key(|(k, key)| (*k as u32, *key));
        keys.dedup();
        for (kind, key) in keys {
            // (The walk of a lookup removes unnumbered objects whose
            // creator is dead, or cannot have made them.)
            let _ = self.by_key(kind, key);
            self.heal_key(kind, key);
        }
        for kind in [Kind::Msg, Kind::Sem, Kind::Shm] {
            // The bits first, then the names (sweeping removed and
            // unreachable numbered names): a bit a creator sets after the
            // read is not taken for one whose name is missing.
            let bits = self.index.as_ref().map(|ix| ix.used_indexes(kind));
            let named = self.indexes(kind);
            if let (Some(ix), Some(bits)) = (&self.index, bits) {
                self.reconcile_bits(ix, kind, &bits, &named);
            }
        }
        // Spares no object names (src/ns/spare.rs): last, once the names
        // of removed objects went above.
        self.sweep_spares();
    }

    /// Puts the index hint of `kind` right where a killed process left it
    /// wrong (`bits`: the indexes it had set, read before the directory
    /// listing `named`; both ascending): a name whose bit is clear gets it
    /// (an object `*_INFO` and `*_STAT` would not list), and a bit whose
    /// name is missing is cleared, then set again if the name exists by
    /// then (a creator between its first bit and its move; it also checks
    /// its bit after the move, see `create`).
    fn reconcile_bits(&self, ix: &index::Index, kind: Kind, bits: &[i32], named: &[i32]) {
        for &i in named {
            if bits.binary_search(&i).is_err() {
                // (Its page's head byte first: a byte already set that
                // the read did not reach is read from then on.)
                ix.note_page(kind, i);
                if !ix.is_used(kind, i) {
                    ix.mark(kind, i, true);
                }
            }
        }
        for &i in bits {
            if named.binary_search(&i).is_err() && !self.exists(&Self::idx_name(kind, i)) {
                self.clear_bit_unless_named(ix, kind, i);
            }
        }
    }

    /// Removes what creators killed half-way left behind: their temporary
    /// files (`.new.<pid>.<start>.<n>`, for creators positively dead), and
    /// the objects they had numbered but not yet named by their key (an
    /// orphan no key can find, which `ripcs` would list for ever): those
    /// are removed. One directory scan: called by `ripcs`, `ripcrm -a` and
    /// a create that found no room, never on every call.
    pub fn sweep_tmp(&self) {
        dead_temps(&self.dirfd, |n| {
            self.heal_orphan(n);
            unlink_temp(&self.dirfd, n);
            crate::debug_report!(
                "{}: swept {n}, left by a process that died",
                self.dir.display()
            );
        });
    }

    /// The temporary file `tname` of a dead creator: when it was already
    /// numbered (more than one link) but its key name is missing, the
    /// object is an orphan of a killed create: marked removed and its
    /// numbered name unlinked.
    pub(super) fn heal_orphan(&self, tname: &str) {
        let Ok(Some(f)) = self.open_name(tname) else {
            return;
        };
        let Ok(st) = fstat(f.as_raw_fd()) else { return };
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return;
        }
        if st.st_nlink < 2 {
            // Never published: a payload's name goes with it, whatever the
            // header says (a creator claims the name before it writes the
            // header, see `claim_data_name`; no other file has this inode).
            self.unlink_data(Kind::Shm, st.st_ino);
        }
        if (st.st_size as usize) < HEADER_LEN {
            return;
        }
        let Ok(head) = Mapping::new(f.as_fd(), HEADER_LEN, 0) else {
            return;
        };
        let Ok(h) = head.at::<ObjHeader>(0) else {
            return;
        };
        let kind = match h.kind.load(Ordering::Relaxed) {
            1 => Kind::Msg,
            2 => Kind::Shm,
            3 => Kind::Sem,
            _ => return,
        };
        let apart = h.flags.load(Ordering::Relaxed) & DATA_APART != 0;
        if st.st_nlink < 2 {
            return; // never published (its payload's name went above)
        }
        if h.magic.load(Ordering::Acquire) != OBJ_MAGIC
            || h.state.load(Ordering::Acquire) != STATE_LIVE
        {
            return;
        }
        let key = h.perm.key.load(Ordering::Relaxed);
        if key == IPC_PRIVATE {
            return; // complete: it needs no key name
        }
        let keyed = (0..KEY_SLOTS)
            .map(|n| Self::key_name(kind, key, n))
            .find(|k| self.same_file(k, st.st_dev, st.st_ino));
        let id = h.id.load(Ordering::Relaxed);
        let numbered = (id >= 0)
            .then(|| Self::idx_name(kind, id % IDX_SPAN))
            .filter(|i| self.same_file(i, st.st_dev, st.st_ino));
        if keyed.is_some() == numbered.is_some() {
            return; // complete, or never published
        }
        // Killed between its two names (key first since the key is
        // linked first; number first in files of older creators).
        h.state.store(STATE_REMOVED, Ordering::Release);
        if apart {
            self.unlink_data(kind, st.st_ino);
        }
        for name in keyed.iter().chain(numbered.iter()) {
            if let Ok(c) = cpath(name) {
                // SAFETY: unlinking a name of the orphan (checked by inode
                // just above) in our directory.
                unsafe { libc::unlinkat(self.dirfd.as_raw_fd(), c.as_ptr(), 0) };
            }
        }
    }
}

/// Walks the temporary names in namespace directory `dir` whose maker is
/// positively dead: a dead mover's `.mv.<pid>.<start>` (the link of a key
/// name, `Obj::replace`: the object it names has its own names) is
/// unlinked here; each `.new.<pid>.<start>.<n>` (a creator's file, or a
/// mover's copy: `Obj::replace`) that is not a committed copy waiting for
/// its publication is handed to `new_file`, which decides.
pub(super) fn dead_temps(dir: &OwnedFd, mut new_file: impl FnMut(&str)) {
    for n in names_in(dir) {
        if let Some(rest) = n.strip_prefix(".mv.") {
            let mut p = rest.split('.').map(|x| x.parse::<u64>().ok());
            if let (Some(Some(pid)), Some(Some(start)), None) = (p.next(), p.next(), p.next()) {
                if pid <= i32::MAX as u64 && trust::positively_dead(pid as i32, start) {
                    unlink_temp(dir, &n);
                }
            }
            continue;
        }
        let Some(rest) = n.strip_prefix(".new.") else {
            continue;
        };
        let parts: Vec<&str> = rest.split('.').collect();
        let num = |i: usize| parts.get(i).and_then(|p| p.parse::<u64>().ok());
        let (pid, start) = match (parts.len(), num(0), num(1)) {
            (3, Some(p), Some(s)) => (p, s),
            (2, Some(p), _) => (p, 0), // made before start times were
            _ => continue,
        };
        // A mover killed after committing its copy, before renaming it:
        // the copy is the object's now, published by the next caller
        // (`Obj::publish_committed`), never swept.
        if pid <= i32::MAX as u64
            && trust::positively_dead(pid as i32, start)
            && !super::replace::is_committed_copy(dir, &n)
        {
            new_file(&n);
        }
    }
}

/// Unlinks temporary name `name` (of a dead maker: [`dead_temps`]) in
/// namespace directory `dir`.
fn unlink_temp(dir: &OwnedFd, name: &str) {
    if let Ok(c) = cpath(name) {
        // SAFETY: unlinking a dead process's temporary name in our
        // directory.
        unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), 0) };
    }
}

/// Unlinks the dead maker's temporary file `name` in namespace directory
/// `dir` ([`dead_temps`]) when it was never published (its only link:
/// neither numbered nor named by a key), with the payload a creator may
/// have claimed for it (see `claim_data_name`; no other file has its
/// inode). True when it went. A file with more links is a killed
/// creator's orphan, for [`Ns::sweep_tmp`].
pub(super) fn unlink_unpublished(dir: &OwnedFd, name: &str) -> bool {
    let Some(st) = super::replace::lstat_in(dir, name) else {
        return false;
    };
    if st.st_mode & libc::S_IFMT != libc::S_IFREG || st.st_nlink != 1 {
        return false;
    }
    if let Ok(d) = data_cname(Kind::Shm, st.st_ino).as_cstr() {
        // SAFETY: unlinking, in our directory, the payload name of the
        // never-published file just looked at.
        unsafe { libc::unlinkat(dir.as_raw_fd(), d.as_ptr(), 0) };
    }
    unlink_temp(dir, name);
    true
}

/// The names in directory `dir` (read through a descriptor of its own:
/// `dir`'s offset is left alone; `.` and `..` included). Empty when it
/// cannot be read; the names read before a failed read of a long
/// directory. No `malloc` (`crate::os::dir`).
pub(super) fn names_in(dir: &OwnedFd) -> Vec<String> {
    let mut out = Vec::new();
    // SAFETY: opening the directory itself, relative to a descriptor we
    // hold.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c".".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return out;
    }
    // SAFETY: the descriptor just opened, ours alone.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let _ = crate::os::dir::for_each_name(fd.as_fd(), |n| {
        if let Ok(s) = n.to_str() {
            out.push(s.to_owned());
        }
    });
    out
}

/// [`Ns::dir_lock`] of namespace directory `dir`.
pub(super) fn dir_lock_in(dir: &OwnedFd, op: i32, tries: u32) -> Option<OwnedFd> {
    let dot = cpath(".").ok()?;
    // SAFETY: opening the directory itself, relative to our fd.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            dot.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: fresh descriptor we own.
    let f = unsafe { OwnedFd::from_raw_fd(fd) };
    for i in 0..tries.max(1) {
        // SAFETY: flock on a descriptor we hold.
        if unsafe { libc::flock(fd, op | libc::LOCK_NB) } == 0 {
            return Some(f);
        }
        if i + 1 < tries {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    None
}

/// Creation at the number: a file being built is no object to anyone
/// while its creator lives, and a killed creator's is swept.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::ns::testing::{TempNs, PLAIN};

    /// A look-up by key that finds a key name without magic — a creator
    /// at the number between its key link and its magic — and whose
    /// creator publishes before the second look (`key_unborn`, which then
    /// sees the magic) adopts the object. It answered `EIO`: one of 80
    /// racing `msgget(IPC_CREAT)` in `t_ns` on a loaded machine.
    #[test]
    fn a_key_published_between_the_two_looks_is_found() {
        let t = TempNs::new("keylooks");
        let ns = &t.ns;
        let o = ns
            .get(Kind::Msg, KEY + 7, IPC_CREAT | 0o600, &spec())
            .unwrap();
        let magic = o.header().magic.load(Ordering::Relaxed);
        // As its creator before the magic.
        o.header().magic.store(0, Ordering::Release);
        let o2 = o.clone();
        super::replace::set_step_hook(Some(Box::new(move |n| {
            if n == 10 {
                o2.header().magic.store(magic, Ordering::Release);
            }
        })));
        let r = ns.get(Kind::Msg, KEY + 7, IPC_CREAT | 0o600, &spec());
        super::replace::set_step_hook(None);
        assert_eq!(r.map(|f| f.id), Ok(o.id), "the published object");
        assert_eq!(o.header().magic.load(Ordering::Relaxed), magic);
        ns.remove(&o, false);
    }

    fn spec() -> CreateSpec<'static> {
        PLAIN
    }

    /// A segment-like object: a page of payload in a file of its own.
    const APART: CreateSpec<'static> = CreateSpec {
        data_len: 4096,
        data_apart: true,
        ..PLAIN
    };

    /// A sweeper that is no creator (a listing, a get of a key, `ripcs`)
    /// checks that the number is still the killed creator's file, then
    /// unlinks it. Preempted in between, another sweeper could sweep that
    /// file and a creator make its own at the number — and this sweeper's
    /// unlink took the new file's number (the segment lost its name, its
    /// payload's name stayed for ever). The sweeper holds the index's
    /// build mark across its check and its unlinks now, which a creator
    /// needs before it makes its file: here, one that tries at that
    /// instant does not get it, and whatever it made would keep its name.
    #[test]
    fn a_sweeper_holds_the_build_mark_from_its_check_to_its_unlink() {
        use std::os::unix::fs::OpenOptionsExt;
        let t = TempNs::new("sweepmark");
        let ns = &t.ns;
        let first = ns.get(Kind::Shm, IPC_PRIVATE, 0o600, &APART).unwrap();
        let idx = first.id % IDX_SPAN + 1;
        let number = Ns::idx_name(Kind::Shm, idx);
        // A creator killed right after making its file at the number.
        let open_new = |p: &std::path::Path| {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(p)
        };
        open_new(&t.dir.join(&number)).unwrap();
        // At the sweeper's step 21, as another process would: a sweeper
        // sweeps the file (it may: the mark is free, its creator dead),
        // then a creator takes the mark and makes its file there.
        let made = Arc::new(std::sync::Mutex::new(None));
        let (m2, dir, n2) = (made.clone(), t.dir.clone(), number.clone());
        super::replace::set_step_hook(Some(Box::new(move |n| {
            if n != 21 || m2.lock().unwrap().is_some() {
                return;
            }
            let mark = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(dir.join("ripc.idx"))
                .unwrap();
            let mark = OwnedFd::from(mark);
            let got = index::Index::hold_build_mark(mark.as_raw_fd(), Kind::Shm, idx);
            let mut ino = None;
            if got {
                let _ = std::fs::remove_file(dir.join(&n2));
                ino = open_new(&dir.join(&n2))
                    .ok()
                    .and_then(|f| f.metadata().ok())
                    .map(|md| std::os::unix::fs::MetadataExt::ino(&md));
            }
            *m2.lock().unwrap() = Some((got, ino, mark));
        })));
        let swept = ns.sweep_stale(Kind::Shm, idx);
        super::replace::set_step_hook(None);
        let made = made.lock().unwrap().take();
        let (got, ino, mark) = made.expect("the sweep checked the number (step 21)");
        let now = std::fs::symlink_metadata(t.dir.join(&number))
            .ok()
            .map(|md| std::os::unix::fs::MetadataExt::ino(&md));
        if let Some(ino) = ino {
            assert_eq!(now, Some(ino), "the creator's file lost its number");
        }
        assert!(
            !got,
            "a creator took the build mark in the sweeper's window"
        );
        assert!(swept && now.is_none(), "the killed creator's file is swept");
        drop(mark);
        ns.remove(&first, false);
        assert!(t.objects().is_empty(), "left: {:?}", t.objects());
    }

    /// A segment's creator killed after sizing its file, before writing
    /// its header (a file of zeros: id 0, at another index than 0), is
    /// swept with its payload's name first: a sweeper killed between the
    /// two unlinks must leave the number (swept later), never a payload
    /// name no control file gives. The number went first: one
    /// `t_shm_crash` run of 7 (two in parallel) ended with an orphaned
    /// `shm.data.<inode>`, empty and `0600` (seen by `strace -f`: a
    /// sweeping creator killed between its `unlinkat` of `shm.6` and of
    /// the payload).
    #[test]
    fn a_segment_file_without_header_is_swept_payload_first() {
        use std::os::unix::fs::FileExt;
        let t = TempNs::new("noheader");
        let ns = &t.ns;
        let first = ns.get(Kind::Shm, IPC_PRIVATE, 0o600, &APART).unwrap();
        let o = ns.get(Kind::Shm, IPC_PRIVATE, 0o600, &APART).unwrap();
        let idx = o.id % IDX_SPAN;
        assert_ne!(idx, 0);
        let number = Ns::idx_name(Kind::Shm, idx);
        let payload = format!("shm.data.{}", o.ino);
        assert!(t.objects().contains(&payload));
        // As its killed creator left it: sized, no header, no bit.
        std::fs::OpenOptions::new()
            .write(true)
            .open(t.dir.join(&number))
            .unwrap()
            .write_all_at(&[0u8; HEADER_LEN], 0)
            .unwrap();
        ns.index().unwrap().mark(Kind::Shm, idx, false);
        let mut c = ns.cache.lock().unwrap();
        c.clear();
        c.engines.clear();
        drop(c);
        drop(o);
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (s2, dir) = (seen.clone(), t.dir.clone());
        let (n2, p2) = (number.clone(), payload.clone());
        super::replace::set_step_hook(Some(Box::new(move |n| {
            if n == 20 {
                let has = |x: &str| dir.join(x).symlink_metadata().is_ok();
                s2.lock().unwrap().push((has(&n2), has(&p2)));
            }
        })));
        let swept = ns.sweep_stale(Kind::Shm, idx);
        super::replace::set_step_hook(None);
        assert!(swept, "its creator is dead: swept");
        assert_eq!(
            *seen.lock().unwrap(),
            [(true, false)],
            "(number, payload) named between the two unlinks"
        );
        assert!(
            !t.objects().contains(&payload) && !t.objects().contains(&number),
            "left: {:?}",
            t.objects()
        );
        ns.remove(&first, false);
        assert!(t.objects().is_empty(), "left: {:?}", t.objects());
    }

    const KEY: i32 = 0x5eed;

    /// An object of `t` made to look as another process's build in
    /// progress at its number (after its key link, before its magic):
    /// its magic taken off, its bit cleared, its build mark held through
    /// an open file description of the index of its own (returned: the
    /// mark lasts as long as it is open). Returns the id too.
    fn unborn(t: &TempNs) -> (i32, OwnedFd) {
        let ns = &t.ns;
        let o = ns.get(Kind::Sem, KEY, IPC_CREAT | 0o600, &spec()).unwrap();
        let id = o.id;
        let idx = id % IDX_SPAN;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(t.dir.join("ripc.idx"))
            .unwrap();
        let mark = OwnedFd::from(f);
        assert!(index::Index::hold_build_mark(
            mark.as_raw_fd(),
            Kind::Sem,
            idx
        ));
        o.header().magic.store(0, Ordering::SeqCst);
        ns.index().unwrap().mark(Kind::Sem, idx, false);
        let mut c = ns.cache.lock().unwrap();
        c.clear();
        c.engines.clear();
        drop(c);
        (id, mark)
    }

    #[test]
    fn a_file_being_built_is_no_object_and_stays_while_its_creator_lives() {
        let t = TempNs::new("unborn");
        let ns = &t.ns;
        let (id, mark) = unborn(&t);
        let idx = id % IDX_SPAN;
        let named = t.objects();
        assert_eq!(named.len(), 2, "its number and its key name: {named:?}");
        assert_eq!(ns.by_id(Kind::Sem, id).err(), Some(Errno::EINVAL));
        assert_eq!(ns.by_index(Kind::Sem, idx).err(), Some(Errno::EINVAL));
        let mut pending = false;
        assert!(ns
            .by_key_seen(Kind::Sem, KEY, &mut pending)
            .unwrap()
            .is_none());
        assert!(pending, "a get of its key waits for it");
        assert_eq!(
            ns.get(Kind::Sem, KEY, IPC_CREAT | IPC_EXCL | 0o600, &spec())
                .err(),
            Some(Errno::EEXIST),
            "its key is taken"
        );
        assert_eq!(ns.in_use(Kind::Sem), (-1, 0), "*_INFO count nothing");
        assert!(ns.indexes(Kind::Sem).is_empty(), "listed nowhere");
        ns.heal();
        assert_eq!(t.objects(), named, "no sweeper takes it");
        // Another create passes it over.
        let other = ns.get(Kind::Sem, IPC_PRIVATE, 0o600, &spec()).unwrap();
        assert_ne!(other.id % IDX_SPAN, idx);
        ns.remove(&other, false);
        // Its creator dies: the mark is free, and the first sweeper (here
        // `ripcs`'s and `ripcrm -a`'s heal) takes the file and its key
        // name away.
        drop(mark);
        ns.heal();
        assert!(t.objects().is_empty(), "left: {:?}", t.objects());
        assert_eq!(ns.in_use(Kind::Sem), (-1, 0));
    }

    #[test]
    fn a_killed_creators_file_is_swept_by_the_next_create_at_its_index() {
        let t = TempNs::new("unborn-next");
        let ns = &t.ns;
        let (id, mark) = unborn(&t);
        drop(mark);
        let o = ns.get(Kind::Sem, IPC_PRIVATE, 0o600, &spec()).unwrap();
        assert_eq!(o.id % IDX_SPAN, id % IDX_SPAN, "the lowest index, swept");
        assert_eq!(t.objects(), [Ns::idx_name(Kind::Sem, id % IDX_SPAN)]);
        assert_eq!(ns.in_use(Kind::Sem), (id % IDX_SPAN, 1));
        ns.remove(&o, false);
        // By a get of its key: swept on the way, and the key takes a new
        // object.
        let (_, mark) = unborn(&t);
        drop(mark);
        let o = ns
            .get(Kind::Sem, KEY, IPC_CREAT | IPC_EXCL | 0o600, &spec())
            .unwrap();
        assert_eq!(t.objects().len(), 2);
        ns.remove(&o, false);
        assert!(t.objects().is_empty(), "left: {:?}", t.objects());
    }

    #[test]
    fn a_namespace_of_the_format_before_is_carried_over_by_its_owner() {
        let t = TempNs::new("format");
        assert!(t.ns.at_number(), "a new namespace is of this format");
        t.ns.ctl().magic.store(NS_MAGIC_V1, Ordering::SeqCst);
        assert!(!t.ns.at_number() && t.ns.build_fd().is_none());
        // Created under a temporary name meanwhile, as before.
        let o =
            t.ns.get(Kind::Msg, KEY, IPC_CREAT | 0o600, &spec())
                .unwrap();
        assert_eq!(t.ns.by_id(Kind::Msg, o.id).unwrap().id, o.id);
        // Its owner's next open carries the word over.
        let again = Ns::open_shared(&t.dir).unwrap();
        assert!(again.at_number() && t.ns.at_number());
        assert_eq!(again.by_key(Kind::Msg, KEY).unwrap().unwrap().id, o.id);
        t.ns.remove(&o, false);
        assert!(t.objects().is_empty(), "left: {:?}", t.objects());
    }

    /// A namespace of the format before spares (`RIPCNS02`): objects are
    /// created at their number, but a queue that grants others access gets
    /// no spare there (a library of that format, which may be a member,
    /// would not follow a forwarded object); its owner's next open carries
    /// the word over, and the next such create makes one.
    #[test]
    fn no_spare_in_a_namespace_of_the_format_before_until_its_owner_carries_it_over() {
        let t = TempNs::new("format2");
        t.ns.ctl().magic.store(NS_MAGIC_V2, Ordering::SeqCst);
        assert!(t.ns.at_number() && t.ns.build_fd().is_some());
        let o =
            t.ns.get(Kind::Msg, KEY, IPC_CREAT | 0o666, &spec())
                .unwrap();
        assert!(
            !o.has_spare(),
            "a spare made in a namespace of the format before"
        );
        let again = Ns::open_shared(&t.dir).unwrap();
        assert_eq!(again.ctl().magic.load(Ordering::SeqCst), NS_MAGIC);
        let p =
            t.ns.get(Kind::Msg, KEY + 1, IPC_CREAT | 0o666, &spec())
                .unwrap();
        assert!(p.has_spare(), "no spare once carried over");
        t.ns.remove(&o, false);
        t.ns.remove(&p, false);
        assert!(t.objects().is_empty(), "left: {:?}", t.objects());
    }

    #[test]
    fn racing_exclusive_creators_of_a_key_make_one_object() {
        let t = TempNs::new("excl");
        // Threads of one process (one description of the index: the
        // build slots tell them apart) and of a second open of the
        // directory (another description: the marks do).
        let second = Ns::open_shared(&t.dir).unwrap();
        let nss = [t.ns.clone(), second];
        for round in 0..30 {
            let key = KEY + round;
            let barrier = Arc::new(std::sync::Barrier::new(6));
            let won: Vec<_> = (0..6)
                .map(|i| {
                    let ns = nss[i % 2].clone();
                    let b = barrier.clone();
                    std::thread::spawn(move || {
                        b.wait();
                        ns.get(Kind::Msg, key, IPC_CREAT | IPC_EXCL | 0o600, &spec())
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect();
            let ok: Vec<_> = won.iter().filter_map(|r| r.as_ref().ok()).collect();
            assert_eq!(ok.len(), 1, "round {round}: {won:?}");
            assert!(won
                .iter()
                .all(|r| r.as_ref().is_ok() || r.as_ref().err() == Some(&Errno::EEXIST)));
            let found = t.ns.by_key(Kind::Msg, key).unwrap().unwrap();
            assert_eq!(found.id, ok[0].id);
            t.ns.remove(ok[0], false);
        }
        assert!(t.objects().is_empty(), "left: {:?}", t.objects());
    }
}
