//! The namespace: one directory (`RIPC_DIR`) whose files are the objects.
//!
//! ```text
//! $RIPC_DIR/ripc.ns            limits: written by the namespace's owner only
//! $RIPC_DIR/ripc.seq           id sequence counters: written by every member
//! $RIPC_DIR/msg.<idx>          queue whose id is  seq * 32768 + idx
//! $RIPC_DIR/msg.key.<key hex>  a second name (hard link) of a keyed queue
//! $RIPC_DIR/shm.<idx> …, sem.<idx> …    the same for segments and sets
//! ```
//! There is exactly one implementation of "find or create by key, check
//! permissions" ([`Ns::get`]), shared by the three System V engines, as in
//! the kernel's `ipc/util.c`:
//!
//! | kernel (`ipc/util.c`) | here |
//! | --- | --- |
//! | `ipcget` (`ipcget_new`, `ipcget_public`) | [`Ns::get`](crate::ns::Ns::get) |
//! | `ipc_ops.getnew` | [`CreateSpec::init`](crate::ns::CreateSpec::init) (with the sizes of [`CreateSpec`](crate::ns::CreateSpec)) |
//! | `ipc_ops.more_checks` | [`CreateSpec::check_existing`](crate::ns::CreateSpec::check_existing) |
//! | `ipc_ops.associate`, `ipcperms` | [`Perm::check_bits`](crate::ns::perm::Perm::check_bits) (one permission check) |
//! | `ipc_obtain_object_check` | [`Ns::by_id`](crate::ns::Ns::by_id) (and the per-process cache) |
//! | `ipcctl_obtain_check` (`IPC_SET`, `IPC_RMID`) | [`Ns::obtain_check`](crate::ns::Ns::obtain_check) |
//! | `ipc_rmid` | [`Ns::remove`](crate::ns::Ns::remove) |
//!
//! Every engine takes its namespace as an argument: only the C facade
//! chooses the default one ([`Ns::default_ns`](crate::ns::Ns::default_ns)); an object that must reach
//! its namespace later (a segment destroyed at its last detach) keeps a
//! handle to it.
//!
//! Creation is atomic: an object is built complete in a private temporary
//! file and only then given its names with `link(2)`, which fails when the
//! name exists; so concurrent creators of one key end up on one object, and
//! a creator killed half-way leaves no half-built object behind a name. No
//! name is ever followed through a symlink, and a file is adopted only when
//! it is a regular file with ripc's header whose owner is the creator it
//! records. The key name is linked first, the number second: a creator
//! killed in between leaves a key name without a number, which the next
//! get of that key removes once the creator is positively dead.
//!
//! Who may use a directory at all is [`trust`]'s business (checked at every
//! [`Ns::open`]); docs/security.md has the whole model. No descriptor is
//! kept per object: [`Obj::file`] reopens a file by its number when one is
//! needed.

pub mod consts;
pub mod index;
pub mod limits;
pub mod map;
pub mod perm;
pub mod trust;

use crate::error::{Errno, Result};
use crate::os::creds::{creds, Creds};
use crate::os::proc::{my_pid, my_start};
use crate::sync::lock::{LockOutcome, RobustLock};
use crate::sync::time::now_secs;
pub use limits::Limits;
pub use map::{Mapping, Region, Shared};
pub use perm::{owner_errno, Access, Perm, PermShared};
pub use trust::Problem;

use core::sync::atomic::{AtomicI32, AtomicI64, AtomicU32, AtomicU64, Ordering};
use once_cell::sync::OnceCell;
use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
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

/// Where a namespace lives when `RIPC_DIR` is not set: private to the
/// caller (see [`trust::default_dir`]).
pub fn default_dir() -> PathBuf {
    trust::default_dir()
}

/// How many names one key may go through (see [`Ns::by_key`]).
const KEY_SLOTS: u32 = 16;

/// Bytes of a new object file given storage before its `init` runs (see
/// [`CreateSpec::init`]).
pub const CREATE_RESERVE: u64 = 4096;

/// Bytes before an engine's own control data in every object file.
pub const HEADER_LEN: usize = 256;

const NS_MAGIC: u64 = u64::from_le_bytes(*b"RIPCNS01");
const OBJ_MAGIC: u64 = u64::from_le_bytes(*b"RIPCOB01");
const STATE_LIVE: u32 = 1;
const STATE_REMOVED: u32 = 2;
/// Header flag: the object's payload is a second file,
/// `<kind>.data.<inode of the object file>` (see [`CreateSpec::data_apart`]).
const DATA_APART: u32 = 1;

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
    /// [`DATA_APART`] when the payload is a file of its own
    flags: AtomicU32,
    /// the creator's start time (with `cpid`, tells a killed creator from
    /// a live one; 0 in files made before it was recorded)
    pub cstart: AtomicU64,
    /// `IPC_SET` in progress (see [`Obj::set_perm`]): 1 while the new
    /// owner, group and mode below are being applied, else 0.
    pend: AtomicU32,
    pend_uid: AtomicU32,
    pend_gid: AtomicU32,
    pend_mode: AtomicU32,
    /// The last two distinct processes that changed the object, and the
    /// CPU each ran on then (`pid << 32 | cpu`, [`crate::sync::spin::here`];
    /// 0: none yet, and in files made before the field): where a waiter's
    /// answer will come from ([`Obj::peer`]).
    peers: [AtomicU64; 2],
}

const _: () = assert!(core::mem::size_of::<ObjHeader>() <= HEADER_LEN);
const _: () = assert!(core::mem::offset_of!(ObjHeader, version) == 12);

// SAFETY: `#[repr(C)]`, atomics (and `RobustLock`, `PermShared`, both
// `Shared`) only.
unsafe impl Shared for ObjHeader {}

#[repr(C)]
#[derive(Debug)]
struct NsCtl {
    magic: AtomicU64,
    limits: [AtomicU64; 10],
    /// where the id counters were before `ripc.seq` (unused)
    _seq: [AtomicU32; 4],
}

// SAFETY: `#[repr(C)]`, atomics only.
unsafe impl Shared for NsCtl {}

/// Bytes of `ripc.seq`: one `u32` counter per kind.
const SEQ_LEN: usize = 16;

/// An open namespace.
#[derive(Debug)]
pub struct Ns {
    dir: PathBuf,
    /// the directory, as checked when opened (objects reopen their files
    /// relative to it: see [`Obj::file`])
    dirfd: Arc<OwnedFd>,
    /// `ripc.ns`, mapped read-write only for its owner (or root)
    ctl: Mapping,
    ctl_writable: bool,
    /// `ripc.seq` (never mapped: a member may truncate it; `None` when it
    /// cannot be opened, then ids take a sequence from the clock)
    seq: Option<OwnedFd>,
    cache: Mutex<HashMap<(Kind, i32), Arc<Obj>, IdHash>>,
    /// Which indexes are in use: a hint that makes creation constant-cost
    /// (see [`index`]); `None` when `ripc.idx` cannot be had.
    index: Option<index::Index>,
    /// This process's number for this open namespace (never reused): what
    /// per-thread caches key an object by, with its id, so that two
    /// namespaces open in one process never answer for each other.
    serial: u64,
    /// the directory's device and inode, as opened
    dir_id: (u64, u64),
    /// This process's liveness mark in the index (see [`Ns::hold_alive`]):
    /// the descriptor that holds it (-1: none) and the pid it was taken
    /// for (a child of `fork` inherits both, and takes its own).
    live_fd: core::sync::atomic::AtomicI32,
    live_pid: core::sync::atomic::AtomicI32,
}

/// Source of [`Ns::serial`].
static SERIAL: AtomicU64 = AtomicU64::new(1);

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
    /// the namespace directory: the object keeps no descriptor of its
    /// own file (see [`Obj::file`])
    dir: Arc<OwnedFd>,
    dev: u64,
    ino: u64,
    data_len: u64,
    /// While the object is being created (its file has no name yet): the
    /// creator's descriptor of it, for [`Obj::file`].
    building: Option<i32>,
    /// Likewise its payload file's (with [`CreateSpec::data_apart`]), for
    /// [`Obj::data_file`].
    building_data: Option<i32>,
}

/// What a `*get` call creates when the key is new.
pub struct CreateSpec<'a> {
    /// bytes of the engine's control data (after [`HEADER_LEN`])
    pub ctl_len: usize,
    /// bytes of payload after the control area (shared memory)
    pub data_len: u64,
    /// the payload is a file of its own (`<kind>.data.<inode>`, reached
    /// with [`Obj::data_file`]) whose mode is exactly the IPC mode's read
    /// and write bits, so that the file system keeps a user granted only
    /// read from writing it; the object file holds the control area only
    pub data_apart: bool,
    /// fills the engine's control data of the new, still private object;
    /// it must write only within the first [`CREATE_RESERVE`] bytes of
    /// the file (the storage reserved for it), or use [`Obj::reserve`]
    pub init: &'a dyn Fn(&Obj) -> Result<()>,
    /// for an existing object, the kernel's `more_checks` (`EINVAL` when a
    /// segment is smaller than asked, …)
    pub check_existing: &'a dyn Fn(&Obj) -> Result<()>,
    /// the version of the kind's layout (header and control area), kept in
    /// the header; the engine checks it on open ([`Obj::check_layout`])
    pub layout: u32,
}

impl core::fmt::Debug for CreateSpec<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CreateSpec")
            .field("ctl_len", &self.ctl_len)
            .field("data_len", &self.data_len)
            .field("data_apart", &self.data_apart)
            .finish()
    }
}

static DEFAULT: OnceCell<Arc<Ns>> = OnceCell::new();

/// Every namespace open in this process (the default one and those of
/// [`Ns::open_shared`]), for the `fork` handlers.
static OPEN: Mutex<Vec<std::sync::Weak<Ns>>> = Mutex::new(Vec::new());

type Cache = HashMap<(Kind, i32), Arc<Obj>, IdHash>;

/// An object cache held across `fork`, with the namespace it belongs to
/// (the guard first: it is dropped before the `Arc` that keeps its mutex
/// alive).
type HeldCache = (std::sync::MutexGuard<'static, Cache>, Arc<Ns>);

/// What the forking thread holds across `fork` (see
/// [`cache_fork_prepare`]): [`OPEN`], and every open namespace's object
/// cache.
struct ForkHeld {
    open: Option<std::sync::MutexGuard<'static, Vec<std::sync::Weak<Ns>>>>,
    caches: Vec<HeldCache>,
}

/// The slot of [`ForkHeld`]. A static rather than a thread-local: after
/// `fork` every first write to a private page is a copy-on-write fault,
/// and this way the parent's release writes the page that holds [`OPEN`]
/// and this slot, not a thread-local page besides. The `Vec` keeps its
/// storage from one `fork` to the next, so the release frees nothing (a
/// `free` after the fork would write the allocator's pages too).
static FORK_HELD: ForkSlot = ForkSlot(core::cell::UnsafeCell::new(ForkHeld {
    open: None,
    caches: Vec::new(),
}));

struct ForkSlot(core::cell::UnsafeCell<ForkHeld>);

// SAFETY: only the fork handlers touch the slot, and only while holding
// OPEN's mutex: prepare fills it after taking OPEN, parent and child empty
// it before that guard unlocks, and make no reference to it after: one
// thread at a time.
unsafe impl Sync for ForkSlot {}

/// `fork` in a multithreaded program: another thread may hold an object
/// cache's mutex, and the child, whose one thread is a copy of the forking
/// one, would wait for it for ever. So the forking thread takes every open
/// namespace's cache before the fork (waiting out whoever holds it, for a
/// few instructions), and both parent and child let them go after.
extern "C" fn cache_fork_prepare() {
    let open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: we hold OPEN (see ForkSlot).
    let held = unsafe { &mut *FORK_HELD.0.get() };
    for ns in open.iter().filter_map(std::sync::Weak::upgrade) {
        let g = ns.cache.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: the guard borrows `ns.cache`; the `Arc` stored beside it
        // keeps that namespace alive until the guard is dropped (first, in
        // `cache_fork_release`), so the 'static lifetime is never outlived.
        let g = unsafe {
            core::mem::transmute::<
                std::sync::MutexGuard<'_, Cache>,
                std::sync::MutexGuard<'static, Cache>,
            >(g)
        };
        held.caches.push((g, ns));
    }
    held.open = Some(open);
}

extern "C" fn cache_fork_release() {
    // SAFETY: this thread took OPEN in cache_fork_prepare and holds it
    // until the guard taken out last here drops (see ForkSlot).
    let held = unsafe { &mut *FORK_HELD.0.get() };
    for (g, ns) in held.caches.drain(..) {
        drop(g);
        drop(ns);
    }
    let open = held.open.take();
    drop(open);
}

/// In the child of `fork`: the liveness marks of the namespaces (see
/// [`Ns::hold_alive`]) are the parent's, shared through the inherited
/// descriptors; they go (the child takes its own where it attaches), then
/// the caches are released as in the parent.
extern "C" fn cache_fork_child() {
    // SAFETY: getpid has no preconditions (the pid caches may not be reset
    // yet: handlers run in the order they were registered).
    let me = unsafe { libc::getpid() };
    {
        // SAFETY: the one thread of the child holds OPEN (taken in
        // cache_fork_prepare); the reference ends before the release.
        let held = unsafe { &*FORK_HELD.0.get() };
        for (_, ns) in &held.caches {
            if ns.live_pid.load(Ordering::Relaxed) != me {
                ns.drop_mark();
            }
        }
    }
    cache_fork_release();
}

/// Registers the namespace layer's `fork` handlers (once per process).
/// Called when a namespace is first opened, and by engines whose own
/// handlers must be registered after these (see `shm`).
pub fn install_fork_handlers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: registering plain extern "C" fns; no preconditions.
        unsafe {
            libc::pthread_atfork(
                Some(cache_fork_prepare),
                Some(cache_fork_release),
                Some(cache_fork_child),
            );
        }
    });
}

impl Drop for Ns {
    fn drop(&mut self) {
        self.drop_mark();
    }
}

impl Ns {
    /// Takes this process's liveness mark in this namespace's index, once
    /// per process (see [`index::Index::hold_alive`]): the shared-memory
    /// engine calls it before the process counts in a segment's slot
    /// table, under its attach table's lock, so that the others can tell
    /// with one `fcntl` that it is alive. A process attached in several
    /// namespaces holds a mark in each. Without an index, others check
    /// `/proc`.
    pub fn hold_alive(&self) {
        let me = crate::os::proc::my_pid();
        if self.live_pid.load(Ordering::Relaxed) == me {
            return;
        }
        self.drop_mark();
        if let Some(fd) = self.index.as_ref().and_then(|ix| ix.hold_alive(me)) {
            use std::os::fd::IntoRawFd;
            self.live_fd
                .store(high_fd(fd.into_raw_fd()), Ordering::Relaxed);
        }
        self.live_pid.store(me, Ordering::Relaxed);
    }

    /// Closes the liveness descriptor, if any (a child of `fork` inherits
    /// the parent's, whose mark must end with the parent).
    fn drop_mark(&self) {
        let fd = self.live_fd.swap(-1, Ordering::Relaxed);
        // Only if it is still ours: the program may have closed it and
        // reused the number (then the mark is gone already).
        let ours = || {
            let ix = self.index.as_ref().map(|ix| ix.file_id());
            matches!((fstat(fd), ix), (Ok(a), Some(Ok(b))) if (a.st_dev, a.st_ino) == b)
        };
        if fd >= 0 && ours() {
            // SAFETY: closing the descriptor hold_alive opened and kept.
            unsafe { libc::close(fd) };
        }
        self.live_pid.store(0, Ordering::Relaxed);
    }
}

/// Moves descriptor `fd` to a high number (`F_DUPFD_CLOEXEC` from
/// [`LIVE_FD_FLOOR`]): `exec` closes descriptors in ascending order and
/// the kernel completes the closes last in, first out, so a liveness mark
/// is gone before any lower descriptor — a pipe whose end-of-file tells a
/// parent that its child exec'd — is seen closed. Below 64, the size of
/// the descriptor table every process starts with: a higher one would
/// grow the table, which `fork` then copies (~2 us per fork here). Keeps
/// `fd` when it cannot.
fn high_fd(fd: i32) -> i32 {
    if fd >= LIVE_FD_FLOOR {
        return fd;
    }
    // SAFETY: duplicating a descriptor we own; the original is closed
    // once the copy (same open file description, same lock) exists.
    unsafe {
        let hi = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, LIVE_FD_FLOOR);
        if hi < 0 {
            return fd;
        }
        libc::close(fd);
        hi
    }
}

/// See [`high_fd`].
const LIVE_FD_FLOOR: i32 = 60;

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

/// Gives the file `fd` `len` bytes of storage now (`posix_fallocate`), so
/// that writing them through a mapping can never meet a full file system
/// (tmpfs answers a write to a sparse page it cannot back with `SIGBUS`).
fn reserve(fd: i32, len: u64) -> Result<()> {
    reserve_at(fd, 0, len)
}

/// [`reserve`] of `len` bytes from `off`.
fn reserve_at(fd: i32, off: u64, len: u64) -> Result<()> {
    if len == 0 {
        return Ok(());
    }
    let off = libc::off_t::try_from(off).map_err(|_| Errno::EFBIG)?;
    let len = libc::off_t::try_from(len).map_err(|_| Errno::EFBIG)?;
    // SAFETY: posix_fallocate on a descriptor we hold; it returns the
    // error number instead of setting errno.
    let r = unsafe { libc::posix_fallocate(fd, off, len) };
    if r != 0 {
        return Err(Errno::from_raw(r));
    }
    Ok(())
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

    /// Shares `ns` and lists it for the `fork` handlers.
    pub(crate) fn register(ns: Ns) -> Arc<Ns> {
        install_fork_handlers();
        let ns = Arc::new(ns);
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
        );
        Ok(Ns {
            dir: dir.to_path_buf(),
            dirfd: Arc::new(dirfd),
            ctl,
            ctl_writable,
            seq,
            cache: Mutex::new(HashMap::default()),
            index,
            serial: SERIAL.fetch_add(1, Ordering::Relaxed),
            dir_id: (st.st_dev, st.st_ino),
            live_fd: core::sync::atomic::AtomicI32::new(-1),
            live_pid: core::sync::atomic::AtomicI32::new(0),
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
    fn open_ctl(
        dirfd: &OwnedFd,
        dst: &libc::stat,
        me: u32,
    ) -> core::result::Result<(Mapping, bool), Problem> {
        let name = cpath("ripc.ns").map_err(Problem::Io)?;
        let len = core::mem::size_of::<NsCtl>();
        let openat = |flags: i32| {
            // SAFETY: openat relative to our directory fd, never following
            // a symlink.
            unsafe {
                libc::openat(
                    dirfd.as_raw_fd(),
                    name.as_ptr(),
                    flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
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
                if c.magic.load(Ordering::Acquire) != NS_MAGIC {
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
    fn publish_file(
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
    fn open_seq(dirfd: &OwnedFd, dst: &libc::stat) -> Option<OwnedFd> {
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
    fn next_seq(&self, kind: Kind) -> u32 {
        let off = (kind as usize * 4) as libc::off_t;
        if let Some(f) = &self.seq {
            let mut b = [0u8; 4];
            // SAFETY: pread/pwrite of 4 bytes from/to a live buffer.
            unsafe {
                if libc::pread(f.as_raw_fd(), b.as_mut_ptr().cast(), 4, off) == 4 {
                    let v = u32::from_le_bytes(b);
                    let n = v.wrapping_add(1) % 65535;
                    libc::pwrite(f.as_raw_fd(), n.to_le_bytes().as_ptr().cast(), 4, off);
                    return v % 65535;
                }
            }
        }
        (now_secs() as u32 ^ my_pid() as u32) % 65535
    }

    fn tmpfile(dirfd: &OwnedFd) -> Result<(OwnedFd, CString)> {
        static N: AtomicU32 = AtomicU32::new(0);
        loop {
            let name = cpath(&format!(
                ".new.{}.{}.{}",
                my_pid(),
                my_start(),
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

    /// The name of the payload file of the object whose file is inode
    /// `ino` (with [`CreateSpec::data_apart`]). Only that object's creator
    /// links it (while the object file, hence its inode, exists: a name
    /// found there for a live object file is that object's, or a leftover
    /// of an earlier file with the same inode), and it goes before the
    /// object's numbered name. No name parser takes it for an object
    /// (`<kind>.data.…` is neither a number nor a key name).
    fn data_name(kind: Kind, ino: u64) -> String {
        format!("{}.data.{}", kind.prefix(), ino)
    }

    /// Unlinks the payload name of object file `ino` (no such name: nothing).
    fn unlink_data(&self, kind: Kind, ino: u64) {
        if let Ok(c) = cpath(&Self::data_name(kind, ino)) {
            // SAFETY: unlinking a name in our directory; the name is that
            // of the payload of an object file we hold (see `data_name`).
            unsafe { libc::unlinkat(self.dirfd.as_raw_fd(), c.as_ptr(), 0) };
        }
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
        // The layout version is the engine's to check (`Obj::check_layout`):
        // an object of another version is listed, and removable, as a
        // corrupt one.
        if h.magic.load(Ordering::Acquire) != OBJ_MAGIC
            || h.kind.load(Ordering::Relaxed) != kind as u32
        {
            return Err(Errno::EIO);
        }
        if h.perm.cuid.load(Ordering::Relaxed) != st.st_uid
            && h.perm.uid.load(Ordering::Relaxed) != st.st_uid
        {
            // Neither made by the user it claims nor given to its owner
            // (root's IPC_SET hands the file over): a planted file.
            return Err(Errno::EACCES);
        }
        let ctl_len = h.ctl_len.load(Ordering::Relaxed);
        let data_len = h.data_len.load(Ordering::Relaxed);
        let id = h.id.load(Ordering::Relaxed);
        // A payload of its own is checked by whoever maps it (its size
        // against the mapping, at `shmat`).
        let here = if h.flags.load(Ordering::Relaxed) & DATA_APART != 0 {
            0
        } else {
            data_len
        };
        if ctl_len < HEADER_LEN as u64
            || ctl_len > (1 << 40)
            || ctl_len
                .checked_add(here)
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
            dir: self.dirfd.clone(),
            dev: st.st_dev,
            ino: st.st_ino,
            data_len,
            building: None,
            building_data: None,
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

    /// The kernel's `ipcctl_obtain_check`, the one lookup of the
    /// owner-only commands (`IPC_SET`, `IPC_RMID`) of every kind: the
    /// object `id` (`EINVAL` for a stale id; with `removed_ok`, a removed
    /// one still present too), `EPERM` unless `me` is its owner, its
    /// creator or privileged. An object whose file `me` may not even open
    /// is not `me`'s either: `EPERM` too, not the open's `EACCES`.
    pub fn obtain_check(
        &self,
        kind: Kind,
        id: i32,
        removed_ok: bool,
        me: &Creds,
    ) -> Result<Arc<Obj>> {
        let obj = self.by_id_opt(kind, id, removed_ok).map_err(owner_errno)?;
        obj.check_owner(me).map_err(owner_errno)?;
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
        self.by_key_seen(kind, key, &mut false)
    }

    /// [`Ns::by_key`]; `pending` is set when an object still being created
    /// (named by the key, not numbered yet, its creator alive) was seen.
    fn by_key_seen(&self, kind: Kind, key: i32, pending: &mut bool) -> Result<Option<Arc<Obj>>> {
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
                // Not numbered (yet): its creator is between its key and
                // its number, or was killed there. Then it is an orphan no
                // one can reach: removed here, where we may.
                let h = obj.header();
                let (pid, start) = (
                    h.cpid.load(Ordering::Relaxed),
                    h.cstart.load(Ordering::Relaxed),
                );
                if trust::positively_dead(pid, start) {
                    h.state.store(STATE_REMOVED, Ordering::Release);
                    self.unlink_if_same(&Self::key_name(kind, key, n), &obj);
                } else {
                    *pending = true;
                }
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
        // Waits for another creator of the key: a few yields, then 1 ms
        // sleeps; about 2 s in all before EAGAIN (a creator stopped
        // between its two links).
        let backoff = |round: u32| {
            if round < 50 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        };
        for round in 0..2000 {
            let mut pending = false;
            let found = match self.by_key_seen(kind, key, &mut pending) {
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
                // (An object still being created is not there yet.)
                return Err(Errno::ENOENT);
            }
            if pending {
                if flags & IPC_EXCL != 0 {
                    return Err(Errno::EEXIST);
                }
                // Another process is creating it: take its object when it
                // is numbered, rather than build one bound to lose.
                backoff(round);
                continue;
            }
            match self.create(kind, key, flags, spec, &me) {
                Err(Errno::EEXIST) => {
                    // Lost the race: open the winner's (once it is numbered).
                    backoff(round);
                    continue;
                }
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
        let here = if spec.data_apart { 0 } else { spec.data_len };
        let total = (ctl_len as u64).checked_add(here).ok_or(Errno::ENOMEM)?;
        let (tmp, tname) = Self::tmpfile(&self.dirfd)?;
        // A payload of its own: a second private file, built alongside.
        let data = if spec.data_apart {
            match Self::tmpfile(&self.dirfd) {
                Ok(d) => Some(d),
                Err(e) => {
                    // SAFETY: unlinking the name we just created.
                    unsafe { libc::unlinkat(self.dirfd.as_raw_fd(), tname.as_ptr(), 0) };
                    return Err(e);
                }
            }
        } else {
            None
        };
        // The payload's public name, once linked (see `data_name`).
        let data_linked: core::cell::Cell<Option<u64>> = core::cell::Cell::new(None);
        // The temporary names (both files stay reachable by them until the
        // object is published, so that `sweep_tmp` finds a killed
        // creator's leftovers).
        let tmp_names = || {
            // SAFETY: unlinking names we created, relative to our directory.
            unsafe {
                libc::unlinkat(self.dirfd.as_raw_fd(), tname.as_ptr(), 0);
                if let Some((_, n)) = &data {
                    libc::unlinkat(self.dirfd.as_raw_fd(), n.as_ptr(), 0);
                }
            }
        };
        let cleanup = |extra: Option<&str>| {
            if let Some(ino) = data_linked.get() {
                self.unlink_data(kind, ino);
            }
            tmp_names();
            if let Some(n) = extra.and_then(|n| cpath(n).ok()) {
                // SAFETY: unlinking a name we created, in our directory.
                unsafe { libc::unlinkat(self.dirfd.as_raw_fd(), n.as_ptr(), 0) };
            }
        };
        // Storage for what creation writes (the header and the engines'
        // `init`: the first page) is reserved now: a full tmpfs must fail
        // this call, not SIGBUS its first write to a sparse page. The rest
        // stays sparse, allocated on first use as the kernel allocates a
        // queue's messages or a segment's pages (reserving a queue's whole
        // area, 4.7 MB at the default msgmnb, would cost that much memory
        // and ~0.5 ms per msgget); see `Obj::reserve` for later growth.
        let sized = reserve(tmp.as_raw_fd(), (ctl_len as u64).min(CREATE_RESERVE)).and_then(|()| {
            // SAFETY: sizing our own fresh file.
            if unsafe { libc::ftruncate(tmp.as_raw_fd(), total as libc::off_t) } != 0 {
                return Err(Errno::last());
            }
            if let Some((d, _)) = &data {
                let len = libc::off_t::try_from(spec.data_len).map_err(|_| Errno::EFBIG)?;
                // SAFETY: sizing our own fresh payload file (sparse: the
                // engine reserves what it needs in `init`).
                if unsafe { libc::ftruncate(d.as_raw_fd(), len) } != 0 {
                    return Err(Errno::last());
                }
            }
            Ok(())
        });
        if let Err(e) = sized {
            cleanup(None);
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
        let st = match fstat(tmp.as_raw_fd()) {
            Ok(st) => st,
            Err(e) => {
                cleanup(None);
                return Err(e);
            }
        };
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
            dir: self.dirfd.clone(),
            dev: st.st_dev,
            ino: st.st_ino,
            data_len: spec.data_len,
            building: Some(tmp.as_raw_fd()),
            building_data: data.as_ref().map(|(d, _)| d.as_raw_fd()),
        };
        let h = obj.header();
        h.kind.store(kind as u32, Ordering::Relaxed);
        h.version.store(spec.layout, Ordering::Relaxed);
        h.ctl_len.store(ctl_len as u64, Ordering::Relaxed);
        h.data_len.store(spec.data_len, Ordering::Relaxed);
        if spec.data_apart {
            h.flags.store(DATA_APART, Ordering::Relaxed);
        }
        h.lock.init();
        let seq = self.next_seq(kind);
        // The file's group is the creator's, as the object's (in a setgid
        // shared namespace it would otherwise be the directory's).
        // (Both files were made alike: one look at the first says whether
        // either needs it.)
        if st.st_gid != me.egid {
            // SAFETY: fchown of our own fresh file; failure is harmless.
            unsafe {
                libc::fchown(tmp.as_raw_fd(), u32::MAX, me.egid);
                if let Some((d, _)) = &data {
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
        if let Err(e) = (spec.init)(&obj) {
            cleanup(None);
            return Err(e);
        }
        h.state.store(STATE_LIVE, Ordering::Relaxed);
        h.magic.store(OBJ_MAGIC, Ordering::Release);
        // Who may open the file: anyone the IPC mode grants anything to
        // (read-only users still write the queue's bookkeeping); ripc then
        // applies the IPC read/write bits itself.
        // (Both files were made 0600 less the umask: a mode they already
        // have is not set again.)
        if st.st_mode & 0o7777 != file_mode_for((flags as u32) & 0o777) {
            Obj::chmod_fd(tmp.as_raw_fd(), (flags as u32) & 0o777);
        }
        // The payload: exactly the IPC mode's read and write bits (set now,
        // while the creator still holds it open read-write), then its name,
        // before the object can be found (a segment is never published
        // without its payload).
        if let Some((d, dname)) = &data {
            if st.st_mode & 0o7777 != data_mode_for(flags as u32) {
                // SAFETY: fchmod of our own fresh payload file.
                unsafe { libc::fchmod(d.as_raw_fd(), data_mode_for(flags as u32) as libc::mode_t) };
            }
            let linked = cpath(&Self::data_name(kind, st.st_ino)).and_then(|name| {
                match link_new(&self.dirfd, dname, &name)? {
                    true => Ok(true),
                    // A leftover of an earlier file with our inode (no
                    // live object has it): away with it, once.
                    false => {
                        self.unlink_data(kind, st.st_ino);
                        link_new(&self.dirfd, dname, &name)
                    }
                }
            });
            match linked {
                Ok(true) => data_linked.set(Some(st.st_ino)),
                // Someone else's file at our payload name, which we may not
                // remove: no room for this object.
                Ok(false) => {
                    cleanup(None);
                    return Err(Errno::ENOMEM);
                }
                Err(e) => {
                    cleanup(None);
                    return Err(e);
                }
            }
        }
        // The key first: a creator killed before its number leaves a key
        // name whose object has none, which the next get of the key heals
        // (see `by_key`), not a numbered object no key finds.
        if key != IPC_PRIVATE {
            if let Err(e) = self.link_key(kind, key, &tname) {
                cleanup(None);
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
            cleanup(None);
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
                    unkey();
                    return Err(e);
                }
            }
        }
        if placed.is_none() {
            unkey();
            return Err(Errno::ENOSPC);
        }
        obj.id = obj.header().id.load(Ordering::Relaxed);
        obj.building = None;
        obj.building_data = None;
        tmp_names();
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
                match self.open_name(&Self::key_name(kind, key, n)) {
                    Ok(Some(f)) => match self.adopt(kind, f) {
                        Ok(None) => continue,
                        _ => return Err(Errno::EEXIST),
                    },
                    Ok(None) => return Err(Errno::EEXIST), // gone meanwhile: retry
                    Err(_) => return Err(Errno::EEXIST),
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
    fn dir_lock(&self, op: i32, tries: u32) -> Option<OwnedFd> {
        let dot = cpath(".").ok()?;
        // SAFETY: opening the directory itself, relative to our fd.
        let fd = unsafe {
            libc::openat(
                self.dirfd.as_raw_fd(),
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

    /// Unlinks the names of removed objects at the end of `key`'s slots
    /// (never one before a live object's: the walk of [`Ns::by_key`] stops
    /// at the first free slot), where the caller may. True when any went.
    fn heal_key(&self, kind: Kind, key: i32) -> bool {
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
            match self.adopt_any(kind, f) {
                Ok((obj, false)) => {
                    if !self.unlink_if_same(&name, &obj) || self.exists(&name) {
                        break;
                    }
                    crate::debug_report!(
                        "{}: swept {name}, a removed object's key name",
                        self.dir.display()
                    );
                    healed = true;
                }
                _ => break,
            }
        }
        healed
    }

    /// Heals the whole namespace (for `ripcs` and `ripcrm -a`): temporary
    /// files and orphans of killed creators ([`Ns::sweep_tmp`]), removed
    /// objects' names left in key slots, removed objects' numbered names.
    pub fn heal(&self) {
        self.sweep_tmp();
        let mut keys = Vec::new();
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                let n = e.file_name();
                let Some(n) = n.to_str() else { continue };
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
        }
        keys.sort_unstable_by_key(|(k, key)| (*k as u32, *key));
        keys.dedup();
        for (kind, key) in keys {
            self.heal_key(kind, key);
        }
        for kind in [Kind::Msg, Kind::Sem] {
            let _ = self.indexes(kind); // sweeps removed numbered names
        }
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
                if self.unlink_if_same(&name, obj) {
                    // Names of removed objects before ours are now at the
                    // end of the key's slots: unlink them where we may.
                    if n > 0 {
                        self.heal_key(obj.kind, key);
                    }
                    break;
                }
                if !self.exists(&name) {
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
    /// A payload of its own ([`CreateSpec::data_apart`]) goes first: its
    /// name is never left behind by an object whose file is gone.
    pub fn unlink_id(&self, obj: &Obj) {
        let idx = obj.id % IDX_SPAN;
        let name = Self::idx_name(obj.kind, idx);
        if !self.same_file(&name, obj.dev, obj.ino) {
            return;
        }
        if obj.data_apart() {
            self.unlink_data(obj.kind, obj.ino);
        }
        // (Checked just above to be this object's: a number is unlinked
        // only by a remover of its object, never reused while it exists.)
        if let Ok(c) = cpath(&name) {
            // SAFETY: unlinking a name in our directory that refers to
            // this object (checked above).
            unsafe { libc::unlinkat(self.dirfd.as_raw_fd(), c.as_ptr(), 0) };
        }
        if let Some(ix) = &self.index {
            ix.mark(obj.kind, idx, false);
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

    /// The highest index of `kind` in use (-1 when none) and how many are,
    /// at constant cost (`IPC_INFO`): from the index hint, one `pread` of
    /// its 4 KiB bitmap and one `lstat` of the highest name, which must
    /// exist, else (a stale, empty or missing hint: an empty namespace, or
    /// one older than the hint) the directory is listed, as
    /// [`Ns::indexes`]. Exact but for a process killed between its link
    /// (or unlink) of a numbered name and its bit: an index it left in use
    /// below the highest counts one off until the next create or removal
    /// at that index puts the bit right.
    pub fn in_use(&self, kind: Kind) -> (i32, i32) {
        if let Some(ix) = &self.index {
            let (hi, n) = ix.used(kind);
            if hi >= 0 && self.exists(&Self::idx_name(kind, hi)) {
                return (hi, n);
            }
        }
        let v = self.indexes(kind);
        (v.last().copied().unwrap_or(-1), v.len() as i32)
    }

    /// [`Ns::in_use`] with the total of the sizes recorded with
    /// [`Ns::note_size`] (semaphores, pages), at constant cost; `None`
    /// when the hint is missing, empty or stale (the caller then walks the
    /// objects).
    pub fn in_use_size(&self, kind: Kind) -> Option<(i32, i32, u64)> {
        let ix = self.index.as_ref()?;
        let (hi, n, total) = ix.used_size(kind);
        (hi >= 0 && self.exists(&Self::idx_name(kind, hi))).then_some((hi, n, total))
    }

    /// The indexes of `kind` in use, ascending, from the index hint (no
    /// directory listing), as exact as [`Ns::in_use`]; `None` when the
    /// hint is missing, empty or stale (the caller then lists, with
    /// [`Ns::indexes`]).
    pub fn in_use_indexes(&self, kind: Kind) -> Option<Vec<i32>> {
        let v = self.index.as_ref()?.used_indexes(kind);
        let hi = *v.last()?;
        self.exists(&Self::idx_name(kind, hi)).then_some(v)
    }

    /// The index hint, when the namespace has one (see [`index`]).
    pub fn index(&self) -> Option<&index::Index> {
        self.index.as_ref()
    }

    /// Records in the index hint the size of the new object `obj` (a
    /// set's semaphores, a segment's pages), for [`Ns::in_use_size`].
    pub fn note_size(&self, obj: &Obj, size: u64) {
        if let Some(ix) = &self.index {
            ix.set_size(obj.kind, obj.id % IDX_SPAN, size);
        }
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
        // A file shorter than a header (planted, or cut short) would turn
        // the first read of the mapping into SIGBUS.
        if st.st_mode & libc::S_IFMT != libc::S_IFREG || (st.st_size as usize) < HEADER_LEN {
            return false;
        }
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

    /// Removes what creators killed half-way left behind: their temporary
    /// files (`.new.<pid>.<start>.<n>`, for creators positively dead), and
    /// the objects they had numbered but not yet named by their key (an
    /// orphan no key can find, which `ripcs` would list for ever): those
    /// are removed. One directory scan: called by `ripcs`, `ripcrm -a` and
    /// a create that found no room, never on every call.
    pub fn sweep_tmp(&self) {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in rd.flatten() {
            let n = e.file_name();
            let Some(n) = n.to_str() else { continue };
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
            if pid == 0 || pid > i32::MAX as u64 || !trust::positively_dead(pid as i32, start) {
                continue;
            }
            self.heal_orphan(n);
            if let Ok(c) = cpath(n) {
                // SAFETY: unlinking a dead creator's temporary name in our
                // directory.
                unsafe { libc::unlinkat(self.dirfd.as_raw_fd(), c.as_ptr(), 0) };
                crate::debug_report!(
                    "{}: swept {n}, left by a creator that died (pid {pid})",
                    self.dir.display()
                );
            }
        }
    }

    /// The temporary file `tname` of a dead creator: when it was already
    /// numbered (more than one link) but its key name is missing, the
    /// object is an orphan of a killed create: marked removed and its
    /// numbered name unlinked.
    fn heal_orphan(&self, tname: &str) {
        let Ok(Some(f)) = self.open_name(tname) else {
            return;
        };
        let Ok(st) = fstat(f.as_raw_fd()) else { return };
        if st.st_mode & libc::S_IFMT != libc::S_IFREG || (st.st_size as usize) < HEADER_LEN {
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
            // Never published: its payload's name (if it got that far)
            // goes with it.
            if apart && h.magic.load(Ordering::Acquire) == OBJ_MAGIC {
                self.unlink_data(kind, st.st_ino);
            }
            return;
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
        let name = cpath(&Ns::idx_name(self.kind, self.id % IDX_SPAN))?;
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
        let f = unsafe { OwnedFd::from_raw_fd(fd) };
        let st = fstat(fd)?;
        if st.st_dev != self.dev || st.st_ino != self.ino {
            return Err(Errno::EIDRM);
        }
        Ok(ObjFd::Opened(f))
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
        let name = cpath(&Ns::data_name(self.kind, self.ino))?;
        // SAFETY: openat relative to the namespace directory we hold,
        // never following a symlink.
        let fd = unsafe {
            libc::openat(
                self.dir.as_raw_fd(),
                name.as_ptr(),
                how | libc::O_NOFOLLOW | libc::O_CLOEXEC,
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
        let name = cpath(&Ns::data_name(self.kind, self.ino)).ok()?;
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
    #[inline]
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
    fn chmod_fd(fd: i32, mode: u32) {
        let fmode = file_mode_for(mode);
        // SAFETY: fchmod of a descriptor we hold; failure is harmless.
        unsafe { libc::fchmod(fd, fmode as libc::mode_t) };
    }
}

/// [`Ns::idx_name`] as a NUL-terminated name in a buffer of its own (no
/// allocation: [`Obj::stat`] runs on every call of an engine, and in the
/// handlers of `fork`, where every first write to a heap page is a
/// fault).
fn idx_cname(kind: Kind, idx: i32) -> IdxName {
    let mut b = [0u8; 16];
    let p = kind.prefix().as_bytes();
    b[..p.len()].copy_from_slice(p);
    b[p.len()] = b'.';
    let mut n = p.len() + 1;
    let mut digits = [0u8; 10];
    let (mut v, mut k) = (idx.max(0) as u32, 0);
    loop {
        digits[k] = b'0' + (v % 10) as u8;
        k += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for d in digits[..k].iter().rev() {
        b[n] = *d;
        n += 1;
    }
    IdxName(b)
}

/// A numbered name, NUL-terminated (see [`idx_cname`]).
struct IdxName([u8; 16]);

impl IdxName {
    fn as_ptr(&self) -> *const libc::c_char {
        self.0.as_ptr().cast()
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

/// The payload file's mode for IPC mode `mode` (see
/// [`CreateSpec::data_apart`]): exactly its read and write bits, so that a
/// class granted only read may open it only for reading.
fn data_mode_for(mode: u32) -> u32 {
    mode & 0o666
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

/// The seam every engine stands on: `ipcget` (create, look up by key and
/// by id, `IPC_CREAT`/`IPC_EXCL`, the kind's own checks), the permission
/// check, the owner-only obtain-check and removal, on a namespace of the
/// test's own (never the default one).
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_numbered_name_without_allocation_is_the_numbered_name() {
        for (kind, idx) in [
            (Kind::Shm, 0),
            (Kind::Msg, 7),
            (Kind::Sem, 32767),
            (Kind::Shm, 4095),
        ] {
            let n = idx_cname(kind, idx);
            let len = n.0.iter().position(|&b| b == 0).expect("NUL-terminated");
            assert_eq!(&n.0[..len], Ns::idx_name(kind, idx).as_bytes());
        }
    }

    /// A fresh private namespace directory, removed when dropped.
    struct TempNs {
        ns: Arc<Ns>,
        dir: PathBuf,
    }

    impl TempNs {
        fn new(tag: &str) -> TempNs {
            static N: AtomicU32 = AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "ripc-ns-test-{}-{}-{}",
                std::process::id(),
                tag,
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            let ns = Ns::open_shared(&dir).expect("open a private namespace");
            TempNs { ns, dir }
        }
    }

    impl Drop for TempNs {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn nothing(_: &Obj) -> Result<()> {
        Ok(())
    }

    fn spec<'a>(check: &'a dyn Fn(&Obj) -> Result<()>) -> CreateSpec<'a> {
        CreateSpec {
            ctl_len: 64,
            data_len: 0,
            data_apart: false,
            init: &nothing,
            check_existing: check,
            layout: 1,
        }
    }

    const NOBODY: Creds = Creds {
        euid: 65534,
        egid: 65534,
    };

    #[test]
    fn create_then_find_by_key_and_by_id() {
        let t = TempNs::new("get");
        let ns = &t.ns;
        let o = ns
            .get(Kind::Sem, 0x1234, IPC_CREAT | 0o640, &spec(&nothing))
            .unwrap();
        assert!(o.id >= 0);
        assert_eq!(o.kind, Kind::Sem);
        let p = o.perm();
        assert_eq!((p.key, p.mode & 0o777), (0x1234, 0o640));
        // by key, by id, and by get without IPC_CREAT: the same object
        let k = ns.by_key(Kind::Sem, 0x1234).unwrap().expect("found by key");
        assert_eq!(k.file_id(), o.file_id());
        assert_eq!(ns.by_id(Kind::Sem, o.id).unwrap().file_id(), o.file_id());
        let g = ns.get(Kind::Sem, 0x1234, 0, &spec(&nothing)).unwrap();
        assert_eq!(g.id, o.id);
        // another kind does not see it
        assert!(ns.by_key(Kind::Msg, 0x1234).unwrap().is_none());
        assert_eq!(ns.by_id(Kind::Msg, o.id).unwrap_err(), Errno::EINVAL);
        assert_eq!(ns.by_id(Kind::Sem, -1).unwrap_err(), Errno::EINVAL);
        ns.remove(&o, false);
    }

    #[test]
    fn creat_excl_and_missing_key() {
        let t = TempNs::new("excl");
        let ns = &t.ns;
        assert_eq!(
            ns.get(Kind::Msg, 77, 0o600, &spec(&nothing)).unwrap_err(),
            Errno::ENOENT
        );
        let o = ns
            .get(Kind::Msg, 77, IPC_CREAT | IPC_EXCL | 0o600, &spec(&nothing))
            .unwrap();
        assert_eq!(
            ns.get(Kind::Msg, 77, IPC_CREAT | IPC_EXCL | 0o600, &spec(&nothing))
                .unwrap_err(),
            Errno::EEXIST
        );
        // IPC_CREAT alone opens the existing one
        let again = ns
            .get(Kind::Msg, 77, IPC_CREAT | 0o600, &spec(&nothing))
            .unwrap();
        assert_eq!(again.id, o.id);
        // IPC_PRIVATE always makes a new object, never found by key
        let p1 = ns
            .get(Kind::Msg, IPC_PRIVATE, IPC_CREAT | 0o600, &spec(&nothing))
            .unwrap();
        let p2 = ns
            .get(Kind::Msg, IPC_PRIVATE, 0o600, &spec(&nothing))
            .unwrap();
        assert_ne!(p1.id, p2.id);
        assert!(ns.by_key(Kind::Msg, IPC_PRIVATE).unwrap().is_none());
        for x in [&o, &p1, &p2] {
            ns.remove(x, false);
        }
    }

    #[test]
    fn kind_checks_run_on_an_existing_object_first() {
        let t = TempNs::new("more");
        let ns = &t.ns;
        let o = ns
            .get(Kind::Shm, 5, IPC_CREAT | 0o600, &spec(&nothing))
            .unwrap();
        let refuse = |_: &Obj| Err(Errno::EINVAL);
        assert_eq!(
            ns.get(Kind::Shm, 5, IPC_CREAT | 0o600, &spec(&refuse))
                .unwrap_err(),
            Errno::EINVAL
        );
        ns.remove(&o, false);
    }

    #[test]
    fn permission_refusals() {
        let t = TempNs::new("perm");
        let ns = &t.ns;
        let o = ns
            .get(Kind::Sem, 9, IPC_CREAT | 0o640, &spec(&nothing))
            .unwrap();
        let p = o.perm();
        // owner (root here, the creator) and root pass; others by mode
        let owner = Creds {
            euid: p.uid,
            egid: p.gid,
        };
        assert!(p.check(&owner, Access::ReadWrite).is_ok());
        assert_eq!(p.check(&NOBODY, Access::Read), Err(Errno::EACCES));
        assert_eq!(p.check(&NOBODY, Access::Write), Err(Errno::EACCES));
        assert!(p.check(&NOBODY, Access::None).is_ok());
        let group = Creds {
            euid: 65534,
            egid: p.gid,
        };
        assert!(p.check(&group, Access::Read).is_ok());
        assert_eq!(p.check(&group, Access::Write), Err(Errno::EACCES));
        // a get asking for more than the mode grants
        assert_eq!(
            p.check_bits(&NOBODY, Access::from_get_flags(0o400)),
            Err(Errno::EACCES)
        );
        // the owner-only commands: EPERM for anyone else, never EACCES
        assert_eq!(
            ns.obtain_check(Kind::Sem, o.id, false, &NOBODY)
                .unwrap_err(),
            Errno::EPERM
        );
        assert_eq!(
            ns.obtain_check(Kind::Sem, o.id, false, &creds())
                .unwrap()
                .id,
            o.id
        );
        assert_eq!(
            ns.obtain_check(Kind::Sem, o.id + 1, false, &creds())
                .unwrap_err(),
            Errno::EINVAL
        );
        ns.remove(&o, false);
    }

    #[test]
    fn remove_ends_both_names() {
        let t = TempNs::new("rm");
        let ns = &t.ns;
        let o = ns
            .get(Kind::Msg, 42, IPC_CREAT | 0o600, &spec(&nothing))
            .unwrap();
        let id = o.id;
        ns.remove(&o, false);
        assert!(o.is_removed());
        assert!(ns.by_key(Kind::Msg, 42).unwrap().is_none());
        assert_eq!(ns.by_id(Kind::Msg, id).unwrap_err(), Errno::EINVAL);
        assert_eq!(
            ns.obtain_check(Kind::Msg, id, false, &creds()).unwrap_err(),
            Errno::EINVAL
        );
        // the key is free again: a new object, a new id
        let n = ns
            .get(Kind::Msg, 42, IPC_CREAT | IPC_EXCL | 0o600, &spec(&nothing))
            .unwrap();
        assert_ne!(n.id, id);
        ns.remove(&n, false);
        assert_eq!(ns.in_use(Kind::Msg).1, 0);
    }

    #[test]
    fn two_namespaces_are_apart() {
        let (a, b) = (TempNs::new("a"), TempNs::new("b"));
        assert_ne!(a.ns.serial(), b.ns.serial());
        assert!(!a.ns.same_dir(&b.ns));
        let o =
            a.ns.get(Kind::Sem, 3, IPC_CREAT | 0o600, &spec(&nothing))
                .unwrap();
        assert!(b.ns.by_key(Kind::Sem, 3).unwrap().is_none());
        assert_eq!(b.ns.by_id(Kind::Sem, o.id).unwrap_err(), Errno::EINVAL);
        let again = Ns::open_shared(&a.dir).unwrap();
        assert!(again.same_dir(&a.ns));
        assert_eq!(again.by_id(Kind::Sem, o.id).unwrap().file_id(), o.file_id());
        a.ns.remove(&o, false);
    }

    /// The engines take their namespace: the same id in two namespaces is
    /// two objects, through every per-thread and per-process cache.
    #[test]
    fn engines_keep_namespaces_apart() {
        let (a, b) = (TempNs::new("sa"), TempNs::new("sb"));
        let sa = crate::sem::get(&a.ns, IPC_PRIVATE, 1, IPC_CREAT | 0o600, &[3]).unwrap();
        let sb = crate::sem::get(&b.ns, IPC_PRIVATE, 2, IPC_CREAT | 0o600, &[5, 6]).unwrap();
        assert_eq!(sa.id, sb.id, "fresh namespaces number alike");
        for _ in 0..2 {
            let x = crate::sem::by_id(&a.ns, sa.id).unwrap();
            assert_eq!(crate::sem::nsems(&x).unwrap(), 1);
            assert_eq!(crate::sem::getval(&x, 0).unwrap(), 3);
            let y = crate::sem::by_id(&b.ns, sb.id).unwrap();
            assert_eq!(crate::sem::nsems(&y).unwrap(), 2);
            let n = crate::sem::with_set(&b.ns, sb.id, |o| crate::sem::getval(o, 1)).unwrap();
            assert_eq!(n, 6);
        }
        crate::sem::remove(&a.ns, &sa).unwrap();
        assert_eq!(crate::sem::by_id(&a.ns, sa.id).unwrap_err(), Errno::EINVAL);
        assert!(crate::sem::by_id(&b.ns, sb.id).is_ok());
        crate::sem::remove(&b.ns, &sb).unwrap();

        // segments: attached in both, removed in one, destroyed at its
        // last detach through the namespace it lives in
        let ma = crate::shm::shmget(&a.ns, IPC_PRIVATE, 4096, IPC_CREAT | 0o600).unwrap();
        let mb = crate::shm::shmget(&b.ns, IPC_PRIVATE, 8192, IPC_CREAT | 0o600).unwrap();
        assert_eq!(ma, mb);
        let (pa, za) = crate::shm::shmat(&a.ns, ma, 0, 0).unwrap();
        let (pb, zb) = crate::shm::shmat(&b.ns, mb, 0, 0).unwrap();
        assert_eq!((za, zb), (4096, 8192));
        assert_eq!(crate::shm::stat(&a.ns, ma).unwrap().nattch, 1);
        assert_eq!(crate::shm::stat(&b.ns, mb).unwrap().nattch, 1);
        // a detach checked against another namespace's segment is refused
        assert_eq!(
            crate::shm::shmdt(pa, Some((&b.ns, ma))).unwrap_err(),
            Errno::EINVAL
        );
        crate::shm::rmid(&a.ns, ma).unwrap();
        assert!(crate::shm::stat(&a.ns, ma).is_ok(), "still attached");
        crate::shm::shmdt(pa, Some((&a.ns, ma))).unwrap();
        assert_eq!(crate::shm::stat(&a.ns, ma).unwrap_err(), Errno::EINVAL);
        assert_eq!(a.ns.in_use(Kind::Shm).1, 0);
        assert_eq!(crate::shm::stat(&b.ns, mb).unwrap().nattch, 1);
        crate::shm::shmdt(pb, None).unwrap();
        crate::shm::rmid(&b.ns, mb).unwrap();
        assert_eq!(b.ns.in_use(Kind::Shm).1, 0);
    }

    /// An attacher holds its liveness mark (see `Ns::hold_alive`) in each
    /// namespace it attaches in, so that the others count it alive there
    /// without `/proc`: in B when it attaches only there, then in A too.
    #[test]
    fn an_attacher_is_marked_alive_in_each_namespace() {
        let (a, b) = (TempNs::new("la"), TempNs::new("lb"));
        let me = crate::os::proc::my_pid();
        let marked = |t: &TempNs| t.ns.index().and_then(|ix| ix.marked_alive(me));
        assert_eq!((marked(&a), marked(&b)), (Some(false), Some(false)));
        let mb = crate::shm::shmget(&b.ns, IPC_PRIVATE, 4096, IPC_CREAT | 0o600).unwrap();
        let (pb, _) = crate::shm::shmat(&b.ns, mb, 0, 0).unwrap();
        assert_eq!((marked(&a), marked(&b)), (Some(false), Some(true)));
        let ma = crate::shm::shmget(&a.ns, IPC_PRIVATE, 4096, IPC_CREAT | 0o600).unwrap();
        let (pa, _) = crate::shm::shmat(&a.ns, ma, 0, 0).unwrap();
        assert_eq!((marked(&a), marked(&b)), (Some(true), Some(true)));
        crate::shm::shmdt(pa, None).unwrap();
        crate::shm::shmdt(pb, None).unwrap();
        crate::shm::rmid(&a.ns, ma).unwrap();
        crate::shm::rmid(&b.ns, mb).unwrap();
    }
}
