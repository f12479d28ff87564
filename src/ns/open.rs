//! Opening a namespace: the default one, a checked directory, its limits
//! file (`ripc.ns`), id counters (`ripc.seq`) and liveness mark.

use super::*;

pub(super) static DEFAULT: OnceCell<Arc<Ns>> = OnceCell::new();

/// Every namespace open in this process (the default one and those of
/// [`Ns::open_shared`]), for the `fork` handlers.
pub(super) static OPEN: Mutex<Vec<std::sync::Weak<Ns>>> = Mutex::new(Vec::new());

impl Drop for Ns {
    fn drop(&mut self) {
        self.drop_mark();
    }
}

impl Ns {
    /// Takes this process's liveness mark in this namespace's index, once
    /// per process (see [`index::Index::hold_alive`]), so that the others
    /// can tell with one `fcntl` that it is alive and a member. Every
    /// process that uses a namespace holds it from the namespace's opening
    /// ([`Ns::register`]; a child of `fork` takes its own in the `fork`
    /// handler) to its exit or `exec`, so a process holding none is no
    /// member and holds no lock of the namespace's objects
    /// ([`unmarked_everywhere`]); the shared-memory engine counts an
    /// attacher alive by it. A process of several namespaces holds a mark
    /// in each. Without an index, others check `/proc`.
    pub fn hold_alive(&self) {
        self.hold_alive_as(crate::os::proc::my_pid());
    }

    /// [`Ns::hold_alive`] for this process, whose pid is `me` (the `fork`
    /// handlers pass it: the pid cache may not be reset yet there).
    ///
    /// When no descriptor can be had for the mark (the process has used
    /// up its table, `EMFILE`), it is a record lock of the process
    /// (`F_SETLK`) through the namespace's own descriptor of the index:
    /// no descriptor, but released by any `close` of a descriptor of the
    /// index in this process (a second `Ns` of the directory dropped), so
    /// only a fallback. Without either, others find no mark.
    pub(super) fn hold_alive_as(&self, me: i32) {
        if self.live_pid.load(Ordering::Relaxed) == me {
            return;
        }
        self.drop_mark();
        if let Some(ix) = self.index.as_ref() {
            match ix.hold_alive(&self.dirfd, me) {
                Some(fd) => {
                    use std::os::fd::IntoRawFd;
                    self.live_fd
                        .store(high_fd(fd.into_raw_fd()), Ordering::Relaxed);
                }
                None => {
                    if !ix.hold_alive_here(me) {
                        crate::debug_report!("no liveness mark for pid {me}: {}", Errno::last());
                    }
                }
            }
        }
        self.live_pid.store(me, Ordering::Relaxed);
    }

    /// Closes the liveness descriptor, if any (a child of `fork` inherits
    /// the parent's, whose mark must end with the parent).
    pub(super) fn drop_mark(&self) {
        let fd = self.live_fd.swap(-1, Ordering::Relaxed);
        // Only if it is still ours: the program may have closed it and
        // reused the number (then the mark is gone already).
        let ours = || {
            let ix = self.index.as_ref().map(|ix| ix.file_id());
            matches!((fstat(fd), ix), (Ok(a), Some(b)) if (a.st_dev, a.st_ino) == b)
        };
        if fd >= 0 && ours() {
            // SAFETY: closing the descriptor hold_alive opened and kept.
            unsafe { libc::close(fd) };
        }
        self.live_pid.store(0, Ordering::Relaxed);
    }
}

impl Ns {
    /// The namespace named by `RIPC_DIR` (or [`default_dir`]), opened once
    /// per process.
    pub fn default_ns() -> Result<&'static Arc<Ns>> {
        Self::default_ns_explained().map_err(|(_, p)| p.errno())
    }

    /// The directory of the default namespace: `RIPC_DIR`, or
    /// [`default_dir`] when it is unset or empty; and whether it is the
    /// latter (which must be the caller's own).
    pub fn default_path() -> (PathBuf, bool) {
        match std::env::var_os("RIPC_DIR").filter(|s| !s.is_empty()) {
            Some(d) => (PathBuf::from(d), false),
            None => (default_dir(), true),
        }
    }

    /// As [`Ns::default_ns`], with the reason for a refusal (for the
    /// tools' messages: [`Problem::message`]).
    pub fn default_ns_explained() -> core::result::Result<&'static Arc<Ns>, (PathBuf, Problem)> {
        DEFAULT.get_or_try_init(|| {
            let (dir, default) = Self::default_path();
            let ns = Ns::open_checked(&dir, true, default).map_err(|p| {
                crate::debug_report!("{}", p.message(&dir));
                (dir, p)
            })?;
            Ok(Self::register(ns))
        })
    }

    /// Opens the namespace in `dir` as [`Ns::open`] does, shared: for a
    /// caller that names its namespace explicitly (the C API's
    /// `ripc_ns_open`). Its object cache is kept safe across `fork` like
    /// the default namespace's.
    pub fn open_shared(dir: &Path) -> Result<Arc<Ns>> {
        Ok(Self::register(Self::open(dir)?))
    }

    /// Shares `ns`, lists it for the `fork` handlers and takes this
    /// process's liveness mark in it ([`Ns::hold_alive`]).
    pub(crate) fn register(ns: Ns) -> Arc<Ns> {
        install_fork_handlers();
        let ns = Arc::new(ns);
        ns.hold_alive();
        let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
        open.retain(|w| w.strong_count() > 0);
        open.push(Arc::downgrade(&ns));
        ns
    }

    /// This open namespace's process-unique number (see [`Ns::serial`]).
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// True when `other` is the same directory (opened apart, perhaps).
    pub fn same_dir(&self, other: &Ns) -> bool {
        self.dir_id == other.dir_id
    }

    /// Opens (creating when missing) the namespace in `dir`, after the
    /// checks of [`trust`]: `EPERM` (`EACCES` for a symlink) when the
    /// directory is not one the caller may trust.
    ///
    /// A missing directory is created private (`0700`). A shared one is
    /// made on purpose, with [`Ns::create_shared`] (`ripcmk --namespace`).
    pub fn open(dir: &Path) -> Result<Ns> {
        Self::open_checked(dir, true, false).map_err(|p| p.errno())
    }

    /// [`Ns::open`] with the reason for a refusal. `create`: make a
    /// missing directory (`0700`); `default`: the default namespace, which
    /// must belong to the caller.
    pub fn open_checked(
        dir: &Path,
        create: bool,
        default: bool,
    ) -> core::result::Result<Ns, Problem> {
        let cdir = cpath(dir.to_str().ok_or(Problem::Io(Errno::EINVAL))?).map_err(Problem::Io)?;
        let open_dir = || {
            // SAFETY: open a directory by path, never through a symlink;
            // the fd is owned by the caller.
            unsafe {
                libc::open(
                    cdir.as_ptr(),
                    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                )
            }
        };
        let mut fd = open_dir();
        if fd < 0 && Errno::last() == Errno::ENOENT && create {
            // SAFETY: mkdir on a NUL-terminated path; private to the caller.
            unsafe { libc::mkdir(cdir.as_ptr(), 0o700) };
            fd = open_dir();
        }
        if fd < 0 {
            return Err(match Errno::last() {
                Errno::ENOENT => Problem::Missing,
                Errno::ELOOP | Errno::ENOTDIR => {
                    let link =
                        std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink());
                    if link {
                        Problem::Symlink
                    } else {
                        Problem::NotDir
                    }
                }
                e => Problem::Io(e),
            });
        }
        // SAFETY: fd is a fresh descriptor we own.
        let dirfd = unsafe { OwnedFd::from_raw_fd(fd) };
        let st = fstat(fd).map_err(Problem::Io)?;
        // Fresh ids, not the 10 ms cache: a process that just changed them
        // must be judged by its new ones.
        // SAFETY: these getters cannot fail.
        let me = unsafe {
            Creds {
                euid: libc::geteuid(),
                egid: libc::getegid(),
            }
        };
        trust::check_dir(&st, me.euid, &|g| me.in_group(g), default)?;
        let (ctl, ctl_writable) = Self::open_ctl(&dirfd, &st, me.euid)?;
        let seq = Self::open_seq(&dirfd, &st);
        // Members write the index hint: group read-write in a namespace
        // shared with a group, else the owner's alone.
        let index = index::Index::open(
            &dirfd,
            if st.st_mode & 0o020 != 0 {
                0o660
            } else {
                0o600
            },
        )
        .map(Arc::new);
        Ok(Ns {
            dir: dir.to_path_buf(),
            dirfd: Arc::new(dirfd),
            ctl,
            ctl_writable,
            seq,
            seq_block: Default::default(),
            seq_grant: Default::default(),
            cache: Default::default(),
            index,
            serial: SERIAL.fetch_add(1, Ordering::Relaxed),
            dir_id: (st.st_dev, st.st_ino),
            live_fd: core::sync::atomic::AtomicI32::new(-1),
            live_pid: core::sync::atomic::AtomicI32::new(0),
            tally: OnceCell::new(),
            room: Default::default(),
        })
    }

    /// Makes `dir` a namespace shared by group `gid` (`ripcmk --namespace
    /// DIR --group NAME`): created when missing (or taken when it is an
    /// existing directory of the caller's), given the group and mode
    /// `3770` (setgid, sticky, rwx for owner and group, nothing for
    /// others), and initialised. With `gid == None`, a private namespace
    /// (`0700`).
    pub fn create_shared(dir: &Path, gid: Option<u32>) -> core::result::Result<Ns, Problem> {
        let cdir = cpath(dir.to_str().ok_or(Problem::Io(Errno::EINVAL))?).map_err(Problem::Io)?;
        // SAFETY: mkdir on a NUL-terminated path, private until set up.
        if unsafe { libc::mkdir(cdir.as_ptr(), 0o700) } != 0 && Errno::last() != Errno::EEXIST {
            return Err(Problem::Io(Errno::last()));
        }
        // SAFETY: open without following a symlink; owned below.
        let fd = unsafe {
            libc::open(
                cdir.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(match Errno::last() {
                Errno::ELOOP => Problem::Symlink,
                Errno::ENOTDIR => Problem::NotDir,
                e => Problem::Io(e),
            });
        }
        // SAFETY: fresh descriptor we own.
        let dirfd = unsafe { OwnedFd::from_raw_fd(fd) };
        let st = fstat(fd).map_err(Problem::Io)?;
        let me = trust::euid();
        if st.st_uid != me {
            return Err(Problem::Owner {
                uid: st.st_uid,
                me,
                default: false,
            });
        }
        // SAFETY: fchown/fchmod of the directory we hold and own.
        unsafe {
            if let Some(g) = gid {
                if libc::fchown(fd, u32::MAX, g) != 0 {
                    return Err(Problem::Io(Errno::last()));
                }
                if libc::fchmod(fd, 0o3770) != 0 {
                    return Err(Problem::Io(Errno::last()));
                }
            } else if libc::fchmod(fd, 0o700) != 0 {
                return Err(Problem::Io(Errno::last()));
            }
        }
        drop(dirfd);
        let ns = Self::open_checked(dir, false, false)?;
        // An existing ripc.seq made before the directory was shared.
        if let Some(f) = &ns.seq {
            let mode = if gid.is_some() { 0o660 } else { 0o600 };
            // SAFETY: fchmod of a descriptor we hold; failure is harmless.
            unsafe { libc::fchmod(f.as_raw_fd(), mode) };
        }
        Ok(ns)
    }

    /// Opens `ripc.ns`, the limits, creating it when missing if the caller
    /// owns the directory (or is root). Trusted only when owned by the
    /// directory's owner or root and writable by nobody else; mapped
    /// read-write only for its owner (and root). Returns the mapping and
    /// whether it is writable.
    pub(super) fn open_ctl(
        dirfd: &OwnedFd,
        dst: &libc::stat,
        me: u32,
    ) -> core::result::Result<(Mapping, bool), Problem> {
        let name = cpath("ripc.ns").map_err(Problem::Io)?;
        let len = core::mem::size_of::<NsCtl>();
        let openat = |flags: i32| {
            // SAFETY: openat relative to our directory fd, never following
            // a symlink, never blocking: a FIFO planted at the name (by a
            // member, before the owner made the file) would wait for a
            // writer for ever when opened read-only.
            unsafe {
                libc::openat(
                    dirfd.as_raw_fd(),
                    name.as_ptr(),
                    flags | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK,
                )
            }
        };
        for _ in 0..100 {
            let mut rw = true;
            let mut fd = openat(libc::O_RDWR);
            if fd < 0 && Errno::last() == Errno::EACCES {
                rw = false;
                fd = openat(libc::O_RDONLY);
            }
            if fd >= 0 {
                // SAFETY: fresh descriptor we own.
                let f = unsafe { OwnedFd::from_raw_fd(fd) };
                let st = fstat(fd).map_err(Problem::Io)?;
                if st.st_mode & libc::S_IFMT != libc::S_IFREG {
                    return Err(Problem::Corrupt);
                }
                if st.st_uid != dst.st_uid && st.st_uid != 0 {
                    return Err(Problem::CtlOwner {
                        uid: st.st_uid,
                        owner: dst.st_uid,
                    });
                }
                let owner = st.st_uid == me || me == 0;
                if st.st_mode & 0o022 != 0 {
                    // An old namespace's 0666 file: its owner closes it.
                    // SAFETY: fchmod of a descriptor we hold.
                    if !owner || unsafe { libc::fchmod(fd, 0o644) } != 0 {
                        return Err(Problem::CtlWritable(st.st_mode & 0o7777));
                    }
                }
                if (st.st_size as usize) < len {
                    return Err(Problem::Corrupt);
                }
                let writable = rw && owner;
                let prot = if writable {
                    libc::PROT_READ | libc::PROT_WRITE
                } else {
                    libc::PROT_READ
                };
                let m = Mapping::with_prot(f.as_fd(), len, 0, prot).map_err(Problem::Io)?;
                let c: &NsCtl = m.at(0).map_err(Problem::Io)?;
                let magic = c.magic.load(Ordering::Acquire);
                if (magic == NS_MAGIC_V1 || magic == NS_MAGIC_V2) && writable {
                    // A format before (see `NS_MAGIC`): carried over by
                    // its owner, once (a library of that format opens it
                    // no more; one of this format creates at the number
                    // and makes spares from its next create on).
                    let _ = c.magic.compare_exchange(
                        magic,
                        NS_MAGIC,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    );
                } else if magic != NS_MAGIC && magic != NS_MAGIC_V1 && magic != NS_MAGIC_V2 {
                    return Err(Problem::Corrupt);
                }
                return Ok((m, writable));
            }
            match Errno::last() {
                Errno::ENOENT => {}
                Errno::ELOOP => return Err(Problem::Corrupt),
                e => return Err(Problem::Io(e)),
            }
            if me != dst.st_uid && me != 0 {
                return Err(Problem::NotInitialised { owner: dst.st_uid });
            }
            // Build it privately, then link it in: the first creator wins.
            let mut bytes = vec![0u8; len];
            bytes[..8].copy_from_slice(&NS_MAGIC.to_le_bytes());
            for (i, x) in Limits::from_env().iter().enumerate() {
                bytes[8 + i * 8..16 + i * 8].copy_from_slice(&x.to_le_bytes());
            }
            Self::publish_file(dirfd, &name, 0o644, Some(dst), &bytes).map_err(Problem::Io)?;
        }
        Err(Problem::Io(Errno::EAGAIN))
    }

    /// Creates the file `name` in `dirfd` with `mode` and contents `bytes`
    /// (storage reserved first: a full file system gives `ENOSPC`, never
    /// a half-written file), built under a temporary name and linked in
    /// only when complete. `Ok` also when another process linked it first.
    /// Root gives the file to the directory's owner (`owner_of`).
    pub(super) fn publish_file(
        dirfd: &OwnedFd,
        name: &CString,
        mode: u32,
        owner_of: Option<&libc::stat>,
        bytes: &[u8],
    ) -> Result<()> {
        let (tmp, tname) = Self::tmpfile(dirfd)?;
        let unlink_tmp = || {
            // SAFETY: unlinking our temporary name in our directory.
            unsafe { libc::unlinkat(dirfd.as_raw_fd(), tname.as_ptr(), 0) };
        };
        let r = (|| {
            reserve(tmp.as_raw_fd(), bytes.len() as u64)?;
            // SAFETY: pwrite from a live buffer into our own fresh file;
            // fchmod/fchown of it.
            unsafe {
                let n = libc::pwrite(tmp.as_raw_fd(), bytes.as_ptr().cast(), bytes.len(), 0);
                if n != bytes.len() as isize {
                    return Err(if n < 0 { Errno::last() } else { Errno::EIO });
                }
                libc::fchmod(tmp.as_raw_fd(), mode as libc::mode_t);
                if let Some(d) = owner_of {
                    if trust::euid() == 0 && d.st_uid != 0 {
                        libc::fchown(tmp.as_raw_fd(), d.st_uid, u32::MAX);
                    }
                }
            }
            link_new(dirfd, &tname, name).map(|_| ())
        })();
        unlink_tmp();
        r
    }

    /// Opens `ripc.seq`, the id sequence counters every member writes,
    /// creating it when missing (`0660` in a shared namespace, `0600` in a
    /// private one). `None` when it cannot be had (a member made it
    /// unreadable: ids then take their sequence from the clock).
    pub(super) fn open_seq(dirfd: &OwnedFd, dst: &libc::stat) -> Option<OwnedFd> {
        let name = cpath("ripc.seq").ok()?;
        for _ in 0..2 {
            // SAFETY: openat relative to our directory, never following a
            // symlink.
            let fd = unsafe {
                libc::openat(
                    dirfd.as_raw_fd(),
                    name.as_ptr(),
                    libc::O_RDWR | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                )
            };
            if fd >= 0 {
                // SAFETY: fresh descriptor we own.
                let f = unsafe { OwnedFd::from_raw_fd(fd) };
                let st = fstat(fd).ok()?;
                return (st.st_mode & libc::S_IFMT == libc::S_IFREG).then_some(f);
            }
            if Errno::last() != Errno::ENOENT {
                return None;
            }
            let shared = dst.st_mode & 0o020 != 0;
            let mode = if shared { 0o660 } else { 0o600 };
            let _ = Self::publish_file(dirfd, &name, mode, None, &[0u8; SEQ_LEN]);
        }
        None
    }

    /// The next sequence number of `kind` (the high part of a new id).
    /// Read and written with `pread`/`pwrite`, never mapped: a member who
    /// truncates the file makes ids repeat sooner, nothing worse. (Two
    /// creators at once may draw the same number: they get different
    /// indexes, so different ids.)
    ///
    /// Drawn in blocks: a process's first create of a kind takes one
    /// number from the file, its next draw two, then four, up to
    /// [`SEQ_BLOCK`] (the file moved past them with the same `pwrite`),
    /// and hands them out one per create; so a process that makes many
    /// objects reads and writes the file once per 16 creates, not on
    /// each (two system calls less per create). The numbers of one block
    /// are this process's alone (another process's draw starts where the
    /// file says, past the block), so ids stay unique as before; what
    /// changes is that they no longer follow the order of creation across
    /// processes (the kernel promises none), and that numbers a process
    /// drew and did not use before it exits are skipped — never more
    /// than it used, so the sequence wraps (after 65535 numbers) at most
    /// twice as soon.
    pub(super) fn next_seq(&self, kind: Kind) -> u32 {
        let k = kind as usize;
        let me = my_pid() as u32 as u64;
        let block = &self.seq_block[k];
        let mut b = block.load(Ordering::Relaxed);
        while b >> 32 == me && b & 0xffff != 0 {
            let next = (b >> 16) & 0xffff;
            let taken = me << 32 | ((next + 1) % SEQ_WRAP as u64) << 16 | ((b & 0xffff) - 1);
            match block.compare_exchange_weak(b, taken, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return next as u32,
                Err(now) => b = now,
            }
        }
        let off = (k * 4) as libc::off_t;
        if let Some(f) = &self.seq {
            let grant = self.seq_grant[k]
                .load(Ordering::Relaxed)
                .clamp(1, SEQ_BLOCK);
            let mut r = [0u8; 4];
            // SAFETY: pread/pwrite of 4 bytes from/to a live buffer.
            unsafe {
                if libc::pread(f.as_raw_fd(), r.as_mut_ptr().cast(), 4, off) == 4 {
                    let v = u32::from_le_bytes(r) % SEQ_WRAP;
                    let end = (v + grant) % SEQ_WRAP;
                    libc::pwrite(f.as_raw_fd(), end.to_le_bytes().as_ptr().cast(), 4, off);
                    self.seq_grant[k].store((grant * 2).min(SEQ_BLOCK), Ordering::Relaxed);
                    // The rest of the block (another thread's draw at the
                    // same time may replace it: its numbers are skipped).
                    let next = (v + 1) % SEQ_WRAP;
                    block.store(
                        me << 32 | (next as u64) << 16 | (grant - 1) as u64,
                        Ordering::Relaxed,
                    );
                    return v;
                }
            }
        }
        (now_secs() as u32 ^ my_pid() as u32) % SEQ_WRAP
    }

    pub(super) fn ctl(&self) -> &NsCtl {
        // The mapping was checked to hold an NsCtl when it was opened.
        self.ctl.at(0).expect("namespace control block mapped")
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// One limit (index [`limits::MSGMAX`], …), as [`Ns::limits`] gives
    /// it: for the per-call checks of `msgsnd`, `msgrcv` and `semop`,
    /// which need one value, not all ten.
    pub fn limit(&self, i: usize) -> u64 {
        limits::clamp(i, self.ctl().limits[i].load(Ordering::Relaxed))
    }

    /// The namespace's limits (sanitised: see [`Limits::from_raw`]).
    pub fn limits(&self) -> Limits {
        let c = self.ctl();
        let mut v = [0u64; 10];
        for (i, x) in v.iter_mut().enumerate() {
            *x = c.limits[i].load(Ordering::Relaxed);
        }
        Limits::from_raw(&v)
    }

    /// Sets one limit by name (`msgmax`, `msgmnb`, …); `EINVAL` for an
    /// unknown name or a value of 0 or above the hard cap;
    /// `EPERM` unless the caller owns the namespace's limits file (or is
    /// root): members of a shared namespace may read the limits, not
    /// change them.
    pub fn set_limit(&self, name: &str, value: u64) -> Result<()> {
        let i = Limits::index(name)?;
        if value == 0 || value > limits::TABLE[i].2 {
            return Err(Errno::EINVAL);
        }
        if !self.ctl_writable {
            return Err(Errno::EPERM);
        }
        self.ctl().limits[i].store(value, Ordering::Relaxed);
        Ok(())
    }
}

/// Whether process `pid` is positively no member of the namespaces this
/// process has open (those of [`Ns::register`]: the default one and the
/// C API's): each has an index, and none holds a liveness mark of `pid`
/// ([`Ns::hold_alive`]). Every member holds its mark for as long as it
/// can hold a lock of its namespace's objects, so a live `pid` named by a
/// lock word that is no member does not hold that lock: the word was
/// scribbled on. This is the evidence when `pid`'s maps cannot be read
/// (another user's process, init: `crate::os::proc::maps_file_at`).
/// False when it cannot be told: no namespace open, one without an index,
/// a mark found (maybe forged: then the lock is waited for, as for a live
/// holder), an `fcntl` that failed, or the list busy (another thread
/// registering, a `fork` handler).
pub(crate) fn unmarked_everywhere(pid: i32) -> bool {
    let Ok(open) = OPEN.try_lock() else {
        return false;
    };
    let mut seen = false;
    for ns in open.iter().filter_map(std::sync::Weak::upgrade) {
        match ns.index.as_ref().map(|ix| ix.marked_alive(pid)) {
            Some(Some(false)) => seen = true,
            _ => return false,
        }
    }
    seen
}
