//! The namespace: one directory (`RIPC_DIR`) whose files are the objects.
//!
//! ```text
//! $RIPC_DIR/ripc.ns            limits and id sequence counters
//! $RIPC_DIR/msg.<idx>          queue whose id is  seq * 32768 + idx
//! $RIPC_DIR/msg.key.<key hex>  a second name (hard link) of a keyed queue
//! $RIPC_DIR/shm.<idx> …, sem.<idx> …    the same for segments and sets
//! ```
//! There is exactly one implementation of "find or create by key, check
//! permissions" ([`Ns::get`]), shared by the three System V engines, as in
//! the kernel's `ipc/util.c`.
//!
//! Creation is atomic: an object is built complete in a private temporary
//! file and only then given its names with `link(2)`, which fails when the
//! name exists; so concurrent creators of one key end up on one object, and
//! a creator killed half-way leaves no half-built object behind a name. No
//! name is ever followed through a symlink, and a file is adopted only when
//! it is a regular file with ripc's header whose owner is the creator it
//! records.

pub mod consts;
pub mod index;
pub mod limits;
pub mod map;
pub mod perm;

use crate::error::{Errno, Result};
use crate::sync::lock::{LockOutcome, RobustLock};
use crate::sync::proc::{creds, my_pid, Creds};
use crate::sync::time::now_secs;
pub use limits::Limits;
pub use map::Mapping;
pub use perm::{owner_errno, Access, Perm, PermShared};

use core::sync::atomic::{AtomicI32, AtomicI64, AtomicU32, AtomicU64, Ordering};
use once_cell::sync::OnceCell;
use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// `IPC_CREAT`, `IPC_EXCL`, `IPC_NOWAIT`, `IPC_PRIVATE` as in `<sys/ipc.h>`.
pub const IPC_CREAT: i32 = 0o1000;
/// fail if the key exists
pub const IPC_EXCL: i32 = 0o2000;
/// do not block
pub const IPC_NOWAIT: i32 = 0o4000;
/// a new object with no key
pub const IPC_PRIVATE: i32 = 0;

/// Objects of one kind are numbered `seq * IDX_SPAN + idx`, as the kernel's.
pub const IDX_SPAN: i32 = 32768;

/// Where a namespace lives when `RIPC_DIR` is not set.
pub const DEFAULT_DIR: &str = "/dev/shm/ripc";

/// How many names one key may go through (see [`Ns::by_key`]).
const KEY_SLOTS: u32 = 16;

/// Bytes before an engine's own control data in every object file.
pub const HEADER_LEN: usize = 256;

const NS_MAGIC: u64 = u64::from_le_bytes(*b"RIPCNS01");
const OBJ_MAGIC: u64 = u64::from_le_bytes(*b"RIPCOB01");
const STATE_LIVE: u32 = 1;
const STATE_REMOVED: u32 = 2;

/// The three System V object kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// message queue
    Msg = 1,
    /// shared memory segment
    Shm = 2,
    /// semaphore set
    Sem = 3,
}

impl Kind {
    /// File name prefix.
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::Msg => "msg",
            Kind::Shm => "shm",
            Kind::Sem => "sem",
        }
    }

    fn max_objects(self, l: &Limits) -> i32 {
        let n = match self {
            Kind::Msg => l.msgmni,
            Kind::Shm => l.shmmni,
            Kind::Sem => l.semmni,
        };
        n.min(IDX_SPAN as u64) as i32
    }
}

/// The header at offset 0 of every object file.
#[repr(C)]
#[derive(Debug)]
pub struct ObjHeader {
    magic: AtomicU64,
    kind: AtomicU32,
    version: AtomicU32,
    id: AtomicI32,
    state: AtomicU32,
    ctl_len: AtomicU64,
    data_len: AtomicU64,
    /// the object's lock; engines take it through [`Obj::lock`]
    lock: RobustLock,
    /// owner, creator, mode, key
    pub perm: PermShared,
    /// last change (`*_ctime`)
    pub ctime: AtomicI64,
    /// creator pid (`shm_cpid`)
    pub cpid: AtomicI32,
    _pad: AtomicU32,
    /// `IPC_SET` in progress (see [`Obj::set_perm`]): 1 while the new
    /// owner, group and mode below are being applied, else 0.
    pend: AtomicU32,
    pend_uid: AtomicU32,
    pend_gid: AtomicU32,
    pend_mode: AtomicU32,
}

const _: () = assert!(core::mem::size_of::<ObjHeader>() <= HEADER_LEN);

#[repr(C)]
#[derive(Debug)]
struct NsCtl {
    magic: AtomicU64,
    limits: [AtomicU64; 10],
    seq: [AtomicU32; 4],
}

/// An open namespace.
#[derive(Debug)]
pub struct Ns {
    dir: PathBuf,
    dirfd: OwnedFd,
    ctl: Mapping,
    cache: Mutex<HashMap<(Kind, i32), Arc<Obj>, IdHash>>,
    /// Which indexes are in use: a hint that makes creation constant-cost
    /// (see [`index`]); `None` when `ripc.idx` cannot be had.
    index: Option<index::Index>,
}

/// The per-process cache is keyed by small integers: hash them by
/// multiplication, not SipHash (it is on every call's path).
type IdHash = std::hash::BuildHasherDefault<IdHasher>;

/// See [`IdHash`].
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ *b as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_i32(&mut self, i: i32) {
        self.0 = (self.0 ^ i as u32 as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write_isize(&mut self, i: isize) {
        self.0 = (self.0 ^ i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// One object as this process sees it: its control area mapped.
#[derive(Debug)]
pub struct Obj {
    /// what it is
    pub kind: Kind,
    /// its id
    pub id: i32,
    map: Mapping,
    file: OwnedFd,
    dev: u64,
    ino: u64,
    data_len: u64,
}

/// What a `*get` call creates when the key is new.
pub struct CreateSpec<'a> {
    /// bytes of the engine's control data (after [`HEADER_LEN`])
    pub ctl_len: usize,
    /// bytes of payload after the control area (shared memory)
    pub data_len: u64,
    /// fills the engine's control data of the new, still private object
    pub init: &'a dyn Fn(&Obj) -> Result<()>,
    /// for an existing object, the kernel's `more_checks` (`EINVAL` when a
    /// segment is smaller than asked, …)
    pub check_existing: &'a dyn Fn(&Obj) -> Result<()>,
}

impl core::fmt::Debug for CreateSpec<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CreateSpec")
            .field("ctl_len", &self.ctl_len)
            .field("data_len", &self.data_len)
            .finish()
    }
}

static DEFAULT: OnceCell<Ns> = OnceCell::new();

type CacheGuard = std::sync::MutexGuard<'static, HashMap<(Kind, i32), Arc<Obj>, IdHash>>;

thread_local! {
    /// The default namespace's object cache, held by the forking thread
    /// across `fork` (see [`cache_fork_prepare`]).
    static CACHE_HELD: core::cell::RefCell<Option<CacheGuard>> =
        const { core::cell::RefCell::new(None) };
}

/// `fork` in a multithreaded program: another thread may hold the object
/// cache's mutex, and the child, whose one thread is a copy of the forking
/// one, would wait for it for ever. So the forking thread takes it before
/// the fork (waiting out whoever holds it, for a few instructions), and
/// both parent and child let it go after.
extern "C" fn cache_fork_prepare() {
    if let Some(ns) = DEFAULT.get() {
        let g = ns.cache.lock().unwrap_or_else(|e| e.into_inner());
        CACHE_HELD.with(|h| *h.borrow_mut() = Some(g));
    }
}

extern "C" fn cache_fork_release() {
    CACHE_HELD.with(|h| drop(h.borrow_mut().take()));
}

fn cpath(p: &str) -> Result<CString> {
    CString::new(p).map_err(|_| Errno::EINVAL)
}

/// Gives the file named `from` in `dir` the new name `to` (`link(2)`):
/// `Ok(true)` when done, `Ok(false)` when `to` exists, never replacing it.
fn link_new(dir: &OwnedFd, from: &CString, to: &CString) -> Result<bool> {
    // SAFETY: linkat between two names relative to a directory we hold;
    // it never replaces an existing name.
    let r = unsafe {
        libc::linkat(
            dir.as_raw_fd(),
            from.as_ptr(),
            dir.as_raw_fd(),
            to.as_ptr(),
            0,
        )
    };
    if r == 0 {
        return Ok(true);
    }
    match Errno::last() {
        Errno::EEXIST => Ok(false),
        e => Err(e),
    }
}

/// `fstat(2)` of `fd`.
pub(crate) fn fstat(fd: i32) -> Result<libc::stat> {
    // SAFETY: fstat fills a zeroed, properly sized stat buffer.
    unsafe {
        let mut st: libc::stat = core::mem::zeroed();
        if libc::fstat(fd, &mut st) != 0 {
            return Err(Errno::last());
        }
        Ok(st)
    }
}

impl Ns {
    /// The namespace named by `RIPC_DIR` (or [`DEFAULT_DIR`]), opened once
    /// per process.
    pub fn default_ns() -> Result<&'static Ns> {
        DEFAULT.get_or_try_init(|| {
            let dir = std::env::var_os("RIPC_DIR")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR));
            let ns = Ns::open(&dir)?;
            // SAFETY: registering plain extern "C" fns; no preconditions.
            unsafe {
                libc::pthread_atfork(
                    Some(cache_fork_prepare),
                    Some(cache_fork_release),
                    Some(cache_fork_release),
                );
            }
            Ok(ns)
        })
    }

    /// Opens (creating when missing) the namespace in `dir`.
    ///
    /// A missing directory is created world-writable and sticky (`1777`,
    /// like `/tmp` and `/dev/shm`): the kernel's IPC namespace is shared by
    /// all users, and so is a ripc namespace. A directory writable by others
    /// without the sticky bit is refused (`EPERM`): anyone could unlink
    /// anyone's objects.
    pub fn open(dir: &Path) -> Result<Ns> {
        let cdir = cpath(dir.to_str().ok_or(Errno::EINVAL)?)?;
        // SAFETY: mkdir/chmod on a NUL-terminated path.
        unsafe {
            if libc::mkdir(cdir.as_ptr(), 0o1777) == 0 {
                libc::chmod(cdir.as_ptr(), 0o1777);
            }
        }
        // SAFETY: open a directory by path; the fd is owned below.
        let fd = unsafe {
            libc::open(
                cdir.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(Errno::last());
        }
        // SAFETY: fd is a fresh descriptor we own.
        let dirfd = unsafe { OwnedFd::from_raw_fd(fd) };
        let st = fstat(fd)?;
        if st.st_mode & 0o002 != 0 && st.st_mode & 0o1000 == 0 {
            return Err(Errno::EPERM);
        }
        let ctl = Self::open_ctl(&dirfd)?;
        // Members write the index hint: group read-write in a namespace
        // shared with a group, else the owner's alone.
        let index = index::Index::open(
            &dirfd,
            if st.st_mode & 0o020 != 0 {
                0o660
            } else {
                0o600
            },
        );
        Ok(Ns {
            dir: dir.to_path_buf(),
            dirfd,
            ctl,
            cache: Mutex::new(HashMap::default()),
            index,
        })
    }

    fn open_ctl(dirfd: &OwnedFd) -> Result<Mapping> {
        let name = cpath("ripc.ns")?;
        let len = core::mem::size_of::<NsCtl>();
        loop {
            // SAFETY: openat relative to our directory fd, never following
            // a symlink.
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
                let st = fstat(fd)?;
                if st.st_mode & libc::S_IFMT != libc::S_IFREG || (st.st_size as usize) < len {
                    return Err(Errno::EIO);
                }
                let m = Mapping::new(f.as_fd(), len, 0)?;
                let c: &NsCtl = m.at(0)?;
                if c.magic.load(Ordering::Acquire) != NS_MAGIC {
                    return Err(Errno::EIO);
                }
                return Ok(m);
            }
            match Errno::last() {
                Errno::ENOENT => {}
                Errno::ELOOP => return Err(Errno::EACCES),
                e => return Err(e),
            }
            // Build it privately, then link it in: the first creator wins.
            let (tmp, tname) = Self::tmpfile(dirfd)?;
            // SAFETY: fchmod/ftruncate on our own fresh file.
            unsafe {
                libc::fchmod(tmp.as_raw_fd(), 0o666);
                if libc::ftruncate(tmp.as_raw_fd(), len as libc::off_t) != 0 {
                    return Err(Errno::last());
                }
            }
            {
                let m = Mapping::new(tmp.as_fd(), len, 0)?;
                let c: &NsCtl = m.at(0)?;
                let v = Limits::from_env();
                for (i, x) in v.iter().enumerate() {
                    c.limits[i].store(*x, Ordering::Relaxed);
                }
                c.magic.store(NS_MAGIC, Ordering::Release);
            }
            // The first creator wins; the others open its file next time round.
            let _ = link_new(dirfd, &tname, &name);
            // SAFETY: unlinking our temporary name in our directory.
            unsafe { libc::unlinkat(dirfd.as_raw_fd(), tname.as_ptr(), 0) };
        }
    }

    fn tmpfile(dirfd: &OwnedFd) -> Result<(OwnedFd, CString)> {
        static N: AtomicU32 = AtomicU32::new(0);
        loop {
            let name = cpath(&format!(
                ".new.{}.{}",
                my_pid(),
                N.fetch_add(1, Ordering::Relaxed)
            ))?;
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
                return Ok((unsafe { OwnedFd::from_raw_fd(fd) }, name));
            }
            if Errno::last() != Errno::EEXIST {
                return Err(Errno::last());
            }
        }
    }

    fn ctl(&self) -> &NsCtl {
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
    /// unknown name or a value of 0 or above the hard cap.
    pub fn set_limit(&self, name: &str, value: u64) -> Result<()> {
        let i = Limits::index(name)?;
        if value == 0 || value > limits::TABLE[i].2 {
            return Err(Errno::EINVAL);
        }
        self.ctl().limits[i].store(value, Ordering::Relaxed);
        Ok(())
    }

    /// The name of key slot `n` of `key`. A key normally has one name
    /// (slot 0). Removal by a user who may not unlink the creator's file (an
    /// owner set by `IPC_SET` in the sticky directory) leaves a removed
    /// object behind its name; the key then lives on in the next slot.
    fn key_name(kind: Kind, key: i32, n: u32) -> String {
        if n == 0 {
            format!("{}.key.{:08x}", kind.prefix(), key as u32)
        } else {
            format!("{}.key.{:08x}.{}", kind.prefix(), key as u32, n)
        }
    }

    fn idx_name(kind: Kind, idx: i32) -> String {
        format!("{}.{}", kind.prefix(), idx)
    }

    fn open_name(&self, name: &str) -> Result<Option<OwnedFd>> {
        let c = cpath(name)?;
        // SAFETY: openat relative to our directory, never following links.
        let fd = unsafe {
            libc::openat(
                self.dirfd.as_raw_fd(),
                c.as_ptr(),
                libc::O_RDWR | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if fd >= 0 {
            // SAFETY: fresh descriptor we own.
            return Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }));
        }
        match Errno::last() {
            Errno::ENOENT => Ok(None),
            // A symlink planted at one of our names is never followed.
            Errno::ELOOP => Err(Errno::EACCES),
            e => Err(e),
        }
    }

    /// Maps and validates an object file of this kind (regular file,
    /// header, recorded creator owns the file, sizes): the object, and
    /// whether it is live (`false`: removed, its file still present).
    fn adopt_any(&self, kind: Kind, f: OwnedFd) -> Result<(Obj, bool)> {
        let st = fstat(f.as_raw_fd())?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG || (st.st_size as usize) < HEADER_LEN {
            return Err(Errno::EIO);
        }
        let head = Mapping::new(f.as_fd(), HEADER_LEN, 0)?;
        let h: &ObjHeader = head.at(0)?;
        if h.magic.load(Ordering::Acquire) != OBJ_MAGIC
            || h.kind.load(Ordering::Relaxed) != kind as u32
            || h.version.load(Ordering::Relaxed) != 1
        {
            return Err(Errno::EIO);
        }
        if h.perm.cuid.load(Ordering::Relaxed) != st.st_uid {
            // Not made by the user it claims: a planted file.
            return Err(Errno::EACCES);
        }
        let ctl_len = h.ctl_len.load(Ordering::Relaxed);
        let data_len = h.data_len.load(Ordering::Relaxed);
        let id = h.id.load(Ordering::Relaxed);
        if ctl_len < HEADER_LEN as u64
            || ctl_len > (1 << 40)
            || ctl_len
                .checked_add(data_len)
                .map_or(true, |t| t > st.st_size as u64)
            || id < 0
        {
            return Err(Errno::EIO);
        }
        drop(head);
        let map = Mapping::new(f.as_fd(), ctl_len as usize, 0)?;
        let obj = Obj {
            kind,
            id,
            map,
            file: f,
            dev: st.st_dev,
            ino: st.st_ino,
            data_len,
        };
        let live = obj.header().state.load(Ordering::Acquire) == STATE_LIVE;
        Ok((obj, live))
    }

    /// As [`Ns::adopt_any`], `None` for a removed object.
    fn adopt(&self, kind: Kind, f: OwnedFd) -> Result<Option<Obj>> {
        let (obj, live) = self.adopt_any(kind, f)?;
        Ok(live.then_some(obj))
    }

    /// The object with id `id`. `EINVAL` when there is none (or it was
    /// removed), as the kernel says for a stale id.
    pub fn by_id(&self, kind: Kind, id: i32) -> Result<Arc<Obj>> {
        self.by_id_opt(kind, id, false)
    }

    /// As [`Ns::by_id`]; with `removed_ok`, an object removed but still
    /// present (a segment awaiting its last detach) is found too.
    pub fn by_id_opt(&self, kind: Kind, id: i32, removed_ok: bool) -> Result<Arc<Obj>> {
        if id < 0 {
            return Err(Errno::EINVAL);
        }
        if let Some(o) = self.cache.lock().map_err(|_| Errno::EIO)?.get(&(kind, id)) {
            if o.header().id.load(Ordering::Relaxed) == id && (removed_ok || !o.is_removed()) {
                return Ok(o.clone());
            }
        }
        let obj = self.by_id_uncached(kind, id, removed_ok)?;
        let obj = Arc::new(obj);
        let mut c = self.cache.lock().map_err(|_| Errno::EIO)?;
        c.retain(|_, o| !o.is_removed());
        c.insert((kind, id), obj.clone());
        Ok(obj)
    }

    fn by_id_uncached(&self, kind: Kind, id: i32, removed_ok: bool) -> Result<Obj> {
        let idx = id % IDX_SPAN;
        let f = self
            .open_name(&Self::idx_name(kind, idx))?
            .ok_or(Errno::EINVAL)?;
        let (obj, live) = self.adopt_any(kind, f)?;
        if !live && !removed_ok {
            return Err(Errno::EINVAL);
        }
        if obj.id != id {
            return Err(Errno::EINVAL);
        }
        Ok(obj)
    }

    /// The live object with `key`, if any: the first live object along
    /// the key's slots (slots are taken in order and never freed while a
    /// later one is in use, so the walk stops at the first free slot).
    pub fn by_key(&self, kind: Kind, key: i32) -> Result<Option<Arc<Obj>>> {
        for n in 0..KEY_SLOTS {
            let Some(f) = self.open_name(&Self::key_name(kind, key, n))? else {
                return Ok(None);
            };
            let Some(obj) = self.adopt(kind, f)? else {
                continue; // removed, but its name stayed: look further
            };
            // The key name must be a second name of a numbered object.
            let idx = obj.id % IDX_SPAN;
            if !self.same_file(&Self::idx_name(kind, idx), obj.dev, obj.ino) {
                continue;
            }
            let obj = Arc::new(obj);
            if let Ok(mut c) = self.cache.lock() {
                c.insert((kind, obj.id), obj.clone());
            }
            return Ok(Some(obj));
        }
        Ok(None)
    }

    /// `lstat` of a name in the namespace directory (never following it).
    fn lstat(&self, name: &str) -> Option<libc::stat> {
        let c = cpath(name).ok()?;
        // SAFETY: fstatat without following links, into a zeroed buffer.
        unsafe {
            let mut st: libc::stat = core::mem::zeroed();
            (libc::fstatat(
                self.dirfd.as_raw_fd(),
                c.as_ptr(),
                &mut st,
                libc::AT_SYMLINK_NOFOLLOW,
            ) == 0)
                .then_some(st)
        }
    }

    fn same_file(&self, name: &str, dev: u64, ino: u64) -> bool {
        self.lstat(name)
            .is_some_and(|st| st.st_dev == dev && st.st_ino == ino)
    }

    /// The kernel's `ipcget`: find the object with `key` or create it, per
    /// `IPC_CREAT`/`IPC_EXCL`, checking permissions with the mode bits of
    /// `flags` as the kernel does.
    pub fn get(&self, kind: Kind, key: i32, flags: i32, spec: &CreateSpec<'_>) -> Result<Arc<Obj>> {
        let me = creds();
        if key == IPC_PRIVATE {
            return self.create(kind, key, flags, spec, &me);
        }
        for _ in 0..1000 {
            let found = match self.by_key(kind, key) {
                // It exists, but its file is closed to us.
                Err(Errno::EACCES) if flags & IPC_CREAT != 0 && flags & IPC_EXCL != 0 => {
                    return Err(Errno::EEXIST)
                }
                r => r?,
            };
            if let Some(obj) = found {
                if flags & IPC_CREAT != 0 && flags & IPC_EXCL != 0 {
                    return Err(Errno::EEXIST);
                }
                // As the kernel's ipcget_public: the kind's own checks
                // (shmget size, semget nsems: EINVAL) before permissions.
                (spec.check_existing)(&obj)?;
                obj.perm().check_bits(&me, Access::from_get_flags(flags))?;
                return Ok(obj);
            }
            if flags & IPC_CREAT == 0 {
                return Err(Errno::ENOENT);
            }
            match self.create(kind, key, flags, spec, &me) {
                Err(Errno::EEXIST) => continue, // lost the race: open the winner's
                r => return r,
            }
        }
        Err(Errno::EAGAIN)
    }

    fn create(
        &self,
        kind: Kind,
        key: i32,
        flags: i32,
        spec: &CreateSpec<'_>,
        me: &Creds,
    ) -> Result<Arc<Obj>> {
        let limits = self.limits();
        let ctl_len = HEADER_LEN.checked_add(spec.ctl_len).ok_or(Errno::ENOMEM)?;
        let ctl_len = (ctl_len + 4095) & !4095;
        let total = (ctl_len as u64)
            .checked_add(spec.data_len)
            .ok_or(Errno::ENOMEM)?;
        let (tmp, tname) = Self::tmpfile(&self.dirfd)?;
        let cleanup = |extra: Option<&str>| {
            // SAFETY: unlinking names we created, relative to our directory.
            unsafe {
                libc::unlinkat(self.dirfd.as_raw_fd(), tname.as_ptr(), 0);
                if let Some(n) = extra.and_then(|n| cpath(n).ok()) {
                    libc::unlinkat(self.dirfd.as_raw_fd(), n.as_ptr(), 0);
                }
            }
        };
        // SAFETY: sizing our own fresh file.
        if unsafe { libc::ftruncate(tmp.as_raw_fd(), total as libc::off_t) } != 0 {
            let e = Errno::last();
            cleanup(None);
            return Err(if e == Errno::EFBIG || e == Errno::EINVAL {
                Errno::ENOMEM
            } else {
                e
            });
        }
        let st = fstat(tmp.as_raw_fd())?;
        let mut obj = Obj {
            kind,
            id: 0,
            map: match Mapping::new(tmp.as_fd(), ctl_len, 0) {
                Ok(m) => m,
                Err(e) => {
                    cleanup(None);
                    return Err(e);
                }
            },
            file: tmp,
            dev: st.st_dev,
            ino: st.st_ino,
            data_len: spec.data_len,
        };
        let h = obj.header();
        h.kind.store(kind as u32, Ordering::Relaxed);
        h.version.store(1, Ordering::Relaxed);
        h.ctl_len.store(ctl_len as u64, Ordering::Relaxed);
        h.data_len.store(spec.data_len, Ordering::Relaxed);
        h.lock.init();
        let seq = self.ctl().seq[kind as usize].fetch_add(1, Ordering::Relaxed) % 65535;
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
        if let Err(e) = (spec.init)(&obj) {
            cleanup(None);
            return Err(e);
        }
        h.state.store(STATE_LIVE, Ordering::Relaxed);
        h.magic.store(OBJ_MAGIC, Ordering::Release);
        // Who may open the file: anyone the IPC mode grants anything to
        // (read-only users still write the queue's bookkeeping); ripc then
        // applies the IPC read/write bits itself.
        obj.sync_file_mode((flags as u32) & 0o777);
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
            let Ok(name) = cpath(&Self::idx_name(kind, idx)) else {
                break;
            };
            let linked = match link_new(&self.dirfd, &tname, &name) {
                // A removed object's leftover name may be in the way: once
                // swept, the index is free after all.
                Ok(false) if self.sweep_stale(kind, idx) => link_new(&self.dirfd, &tname, &name),
                r => r,
            };
            if let (Ok(_), Some(ix)) = (&linked, &self.index) {
                // Ours now, or someone else's all along: in use either way.
                ix.mark(kind, idx, true);
            }
            match linked {
                Ok(true) => {
                    placed = Some(idx);
                    break;
                }
                Ok(false) => {}
                Err(e) => {
                    cleanup(None);
                    return Err(e);
                }
            }
        }
        let Some(idx) = placed else {
            cleanup(None);
            return Err(Errno::ENOSPC);
        };
        obj.id = obj.header().id.load(Ordering::Relaxed);
        if key != IPC_PRIVATE {
            if let Err(e) = self.link_key(kind, key, &tname) {
                obj.header().state.store(STATE_REMOVED, Ordering::Release);
                cleanup(Some(&Self::idx_name(kind, idx)));
                if let Some(ix) = &self.index {
                    ix.mark(kind, idx, false);
                }
                return Err(e);
            }
        }
        cleanup(None);
        let obj = Arc::new(obj);
        if let Ok(mut c) = self.cache.lock() {
            c.insert((kind, obj.id), obj.clone());
        }
        Ok(obj)
    }

    /// Gives the private file `tname` the first free name of `key`'s slots,
    /// passing over names whose objects were removed. `EEXIST` when a live
    /// object holds the key (another creator won the race).
    fn link_key(&self, kind: Kind, key: i32, tname: &CString) -> Result<()> {
        for n in 0..KEY_SLOTS {
            let kname = cpath(&Self::key_name(kind, key, n))?;
            if link_new(&self.dirfd, tname, &kname)? {
                return Ok(());
            }
            // Taken: by a live object (we lost a race) or a removed one
            // whose name its remover could not unlink.
            match self.open_name(&Self::key_name(kind, key, n)) {
                Ok(Some(f)) => match self.adopt(kind, f) {
                    Ok(None) => continue,
                    _ => return Err(Errno::EEXIST),
                },
                Ok(None) => return Err(Errno::EEXIST), // gone meanwhile: retry
                Err(_) => return Err(Errno::EEXIST),
            }
        }
        Err(Errno::ENOSPC)
    }

    /// Marks `obj` removed and takes its key name away (so the key finds
    /// nothing any more). With `keep_id`, its numbered name stays (a
    /// segment still attached); [`Ns::unlink_id`] removes it later.
    pub fn remove(&self, obj: &Obj, keep_id: bool) {
        obj.header().state.store(STATE_REMOVED, Ordering::Release);
        let key = obj.perm().key;
        if key != IPC_PRIVATE {
            for n in 0..KEY_SLOTS {
                let name = Self::key_name(obj.kind, key, n);
                if self.unlink_if_same(&name, obj) || !self.exists(&name) {
                    break;
                }
            }
        }
        if !keep_id {
            self.unlink_id(obj);
        }
        if let Ok(mut c) = self.cache.lock() {
            c.remove(&(obj.kind, obj.id));
        }
    }

    /// Removes the numbered name of a removed object.
    pub fn unlink_id(&self, obj: &Obj) {
        let idx = obj.id % IDX_SPAN;
        if self.unlink_if_same(&Self::idx_name(obj.kind, idx), obj) {
            if let Some(ix) = &self.index {
                ix.mark(obj.kind, idx, false);
            }
        }
    }

    /// Unlinks `name` if it is a name of `obj`; true when it was one.
    fn unlink_if_same(&self, name: &str, obj: &Obj) -> bool {
        if !self.same_file(name, obj.dev, obj.ino) {
            return false;
        }
        if let Ok(c) = cpath(name) {
            // SAFETY: unlinking a name in our directory that we just
            // checked refers to this object.
            unsafe { libc::unlinkat(self.dirfd.as_raw_fd(), c.as_ptr(), 0) };
        }
        true
    }

    fn exists(&self, name: &str) -> bool {
        self.lstat(name).is_some()
    }

    /// Indexes in use for `kind`, ascending (for `*_INFO`, `*_STAT`, tools).
    pub fn indexes(&self, kind: Kind) -> Vec<i32> {
        let mut v = Vec::new();
        let prefix = format!("{}.", kind.prefix());
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                let n = e.file_name();
                let Some(n) = n.to_str() else { continue };
                if let Some(rest) = n.strip_prefix(&prefix) {
                    if let Ok(i) = rest.parse::<i32>() {
                        if (0..IDX_SPAN).contains(&i) && !self.sweep_stale(kind, i) {
                            v.push(i);
                        }
                    }
                }
            }
        }
        v.sort_unstable();
        v
    }

    /// Unlinks the numbered name `idx` when it holds a removed queue or
    /// semaphore set: its remover may not have been allowed to (an owner
    /// who is not the creator, in the sticky directory); the creator or
    /// root heals it here, at its next listing or creation. True when the
    /// name is gone. Segments are left to the shared-memory engine (a
    /// removed segment lives on while attached).
    fn sweep_stale(&self, kind: Kind, idx: i32) -> bool {
        if kind == Kind::Shm {
            return false;
        }
        let name = Self::idx_name(kind, idx);
        let Ok(Some(f)) = self.open_name(&name) else {
            return false;
        };
        let Ok(st) = fstat(f.as_raw_fd()) else {
            return false;
        };
        let Ok(head) = Mapping::new(f.as_fd(), HEADER_LEN, 0) else {
            return false;
        };
        let Ok(h) = head.at::<ObjHeader>(0) else {
            return false;
        };
        if h.magic.load(Ordering::Acquire) != OBJ_MAGIC
            || h.state.load(Ordering::Acquire) != STATE_REMOVED
        {
            return false;
        }
        let Ok(c) = cpath(&name) else { return false };
        // SAFETY: unlinking a numbered name in our directory whose object
        // (checked just above, by its inode) was removed.
        self.same_file(&name, st.st_dev, st.st_ino)
            && unsafe { libc::unlinkat(self.dirfd.as_raw_fd(), c.as_ptr(), 0) } == 0
    }

    /// The object at index `idx` (for `MSG_STAT` and friends), live or
    /// removed-but-present.
    /// A full id is taken for its index part, as the kernel's
    /// `ipc_obtain_object_idr` does.
    pub fn by_index(&self, kind: Kind, idx: i32) -> Result<Arc<Obj>> {
        if idx < 0 {
            return Err(Errno::EINVAL);
        }
        let idx = idx % IDX_SPAN;
        let f = self
            .open_name(&Self::idx_name(kind, idx))?
            .ok_or(Errno::EINVAL)?;
        Ok(Arc::new(self.adopt_any(kind, f)?.0))
    }

    /// Removes stale temporary files left by creators that died.
    pub fn sweep_tmp(&self) {
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                let n = e.file_name();
                let Some(n) = n.to_str() else { continue };
                let Some(rest) = n.strip_prefix(".new.") else {
                    continue;
                };
                let pid: i32 = rest
                    .split('.')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0);
                if pid > 0 && !crate::sync::proc::pid_alive(pid) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}

/// A held object lock; unlocks when dropped.
#[derive(Debug)]
pub struct ObjGuard<'a> {
    obj: &'a Obj,
}

impl Drop for ObjGuard<'_> {
    fn drop(&mut self) {
        self.obj.header().lock.unlock();
    }
}

impl Obj {
    /// The common header.
    pub fn header(&self) -> &ObjHeader {
        self.map.at(0).expect("object header mapped")
    }

    /// The engine's control area (after the header), for typed access.
    pub fn ctl(&self) -> &Mapping {
        &self.map
    }

    /// A `T` at `off` bytes into the engine's control area.
    pub fn at<T>(&self, off: usize) -> Result<&T> {
        self.map.at(HEADER_LEN.checked_add(off).ok_or(Errno::EIO)?)
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

    /// The object file (to map its payload).
    pub fn file(&self) -> &OwnedFd {
        &self.file
    }

    /// Snapshot of the permission block.
    pub fn perm(&self) -> Perm {
        let h = self.header();
        if h.pend.load(Ordering::Acquire) != 0 {
            self.settle_pending();
        }
        h.perm.load()
    }

    /// The id recorded in the file (differs from [`Obj::id`] only if the
    /// file was scribbled on).
    pub fn header_id(&self) -> i32 {
        self.header().id.load(Ordering::Relaxed)
    }

    /// True once `IPC_RMID` (or `ripcrm`) removed it.
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
    pub fn lock_until(
        &self,
        repair: &dyn Fn(&Obj),
        deadline: &crate::sync::Deadline,
    ) -> Result<ObjGuard<'_>> {
        let gone = || self.is_removed();
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
    pub fn set_perm(&self, me: &Creds, uid: u32, gid: u32, mode: u32) -> Result<()> {
        let h = self.header();
        self.perm().check_owner(me)?;
        h.pend_uid.store(uid, Ordering::Relaxed);
        h.pend_gid.store(gid, Ordering::Relaxed);
        h.pend_mode.store(mode & 0o777, Ordering::Relaxed);
        h.pend.store(1, Ordering::Release);
        self.sync_file_mode(mode & 0o777);
        Self::apply_perm(h, uid, gid, mode);
        h.pend.store(0, Ordering::Release);
        Ok(())
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
        let file_mode = fstat(self.file.as_raw_fd()).map(|st| st.st_mode & 0o777);
        if file_mode == Ok(file_mode_for(mode)) {
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
        let fmode = file_mode_for(mode);
        // SAFETY: fchmod of a descriptor we hold; failure is harmless.
        unsafe { libc::fchmod(self.file.as_raw_fd(), fmode as libc::mode_t) };
    }
}

/// The object file's mode for IPC mode `mode`: read-write for each class
/// (owner, group, other) the mode grants anything to (read-only users
/// still write a queue's bookkeeping), always for the owner.
fn file_mode_for(mode: u32) -> u32 {
    (0..3).fold(0o600u32, |acc, c| {
        if (mode >> (c * 3)) & 0o6 != 0 {
            acc | (0o6 << (c * 3))
        } else {
            acc
        }
    })
}

/// glibc's `ftok`: the same key for the same file and id —
/// `(st_ino & 0xffff) | ((st_dev & 0xff) << 16) | ((id & 0xff) << 24)`.
/// Fails with `stat`'s errno when the file cannot be reached.
pub fn ftok(path: &std::ffi::CStr, id: i32) -> Result<i32> {
    // SAFETY: stat on a NUL-terminated path into a zeroed buffer.
    let st = unsafe {
        let mut st: libc::stat = core::mem::zeroed();
        if libc::stat(path.as_ptr(), &mut st) != 0 {
            return Err(Errno::last());
        }
        st
    };
    Ok(((st.st_ino & 0xffff) as u32
        | (((st.st_dev & 0xff) as u32) << 16)
        | (((id as u32) & 0xff) << 24)) as i32)
}
