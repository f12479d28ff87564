//! The namespace: one directory (`RIPC_DIR`) whose files are the objects.
//!
//! ```text
//! $RIPC_DIR/ripc.ns            limits, and from 1 MiB the queues' totals
//!                              (see [`tally`]): written by the namespace's owner only
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

mod cache;
mod create;
mod fork;
mod fs;
mod get;
mod lookup;
mod obj;
mod open;
mod remove;
mod replace;
mod spare;
mod tally;
#[cfg(test)]
pub(crate) mod testing;

pub use fork::install_fork_handlers;
pub(crate) use fork::single_threaded;
pub use fs::ftok;
use fs::*;
pub(crate) use fs::{fstat, reserve_sizing};
#[cfg(test)]
pub(crate) use obj::NUMBER_STATS;
pub use obj::{ObjFd, ObjGuard, ObjHeader};
pub(crate) use open::unmarked_everywhere;
use open::*;
#[cfg(test)]
pub(crate) use replace::set_step_hook;
pub(crate) use replace::step;
pub use replace::{carry_nothing, Carry, MoveState};

use crate::error::{Errno, Result};
use crate::os::creds::{creds, Creds};
use crate::os::proc::{my_pid, my_start};
use crate::sync::lock::{LockOutcome, RobustLock};
use crate::sync::time::now_secs;
pub use limits::Limits;
pub use map::{Mapping, Region, Shared};
pub use perm::{owner_errno, Access, Perm, PermShared};
pub use tally::{Tally, TALLY_GROUPS, TALLY_GROUP_AREA, TALLY_STRIDE};
pub use trust::Problem;

use core::sync::atomic::{AtomicI32, AtomicI64, AtomicU32, AtomicU64, Ordering};
use once_cell::sync::OnceCell;
use std::ffi::{CStr, CString};
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

/// Control files a create passes over, in a row, because another
/// member's file sits at the name of their payload (see
/// `Ns::claim_data_name`) before it gives up with `ENOMEM`: ~5 system
/// calls each, a few ms in all.
const PLANTED_MAX: usize = 1024;

/// Bytes before an engine's own control data in every object file.
pub const HEADER_LEN: usize = 256;

/// The magic of `ripc.ns` (the namespace's format): `RIPCNS03` since a
/// member that may not make an object's copy moves it into the object's
/// spare and publishes it by forwarding (`src/ns/spare.rs`), which a
/// library of a format before must not meet — it takes the forwarding
/// file for a removed object and its sweeps unlink the names that lead
/// to the copy. `RIPCNS02` since objects are created at their number
/// (`Ns::create`, "At the number"), which a library of the first format
/// must not meet — it takes a file being built for a scribbled one and
/// unlinks it. A library of a format before refuses a namespace of this
/// one (it checks the magic at every open: "corrupt"); this one accepts
/// [`NS_MAGIC_V1`] and [`NS_MAGIC_V2`], and its owner (or root) carries
/// the word over at open (see `Ns::open_ctl`). A member who may not
/// write it keeps to the older format's ways there (a temporary name for
/// a create in the first; no spares in either) until the owner opens it.
const NS_MAGIC: u64 = u64::from_le_bytes(*b"RIPCNS03");
/// `ripc.ns`'s magic before spares (objects created at their number).
const NS_MAGIC_V2: u64 = u64::from_le_bytes(*b"RIPCNS02");
/// `ripc.ns`'s magic before objects were created at their number.
const NS_MAGIC_V1: u64 = u64::from_le_bytes(*b"RIPCNS01");
const OBJ_MAGIC: u64 = u64::from_le_bytes(*b"RIPCOB01");
const STATE_LIVE: u32 = 1;
const STATE_REMOVED: u32 = 2;
/// The object moved to another file (see [`Obj::replace`]).
const STATE_MOVED: u32 = 3;
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
/// Sequence numbers run from 0 to 65534 (an id is `seq * IDX_SPAN + idx`).
const SEQ_WRAP: u32 = 65535;
/// The most sequence numbers a process draws from `ripc.seq` at once
/// (see [`Ns::next_seq`]).
const SEQ_BLOCK: u32 = 16;

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
    /// Per kind, the sequence numbers this process drew from `ripc.seq`
    /// and has not handed out yet (see [`Ns::next_seq`]): the pid that
    /// drew them (a child of `fork` draws its own), the next one and how
    /// many are left, packed (pid << 32 | next << 16 | left).
    seq_block: [AtomicU64; 4],
    /// Per kind, how many numbers the next draw takes (1, 2, 4, … 16).
    seq_grant: [AtomicU32; 4],
    /// the objects this process opened, by id (see [`cache`])
    cache: cache::ObjCache,
    /// Which indexes are in use: a hint that makes creation constant-cost
    /// (see [`index`]); `None` when `ripc.idx` cannot be had.
    index: Option<Arc<index::Index>>,
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
    /// The queues' running totals in `ripc.ns`, mapped at first use (see
    /// [`tally`]).
    tally: OnceCell<Option<Arc<Tally>>>,
    /// A recent look at the file system's free space (see
    /// [`Ns::has_room`]).
    room: fs::Room,
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
    /// The creator's read-write descriptor of its new payload file, kept
    /// from publication until the engine takes it ([`Obj::take_data_fd`];
    /// closed with the object otherwise); `-1` when none.
    data_fd: AtomicI32,
    /// Whether its file is at its spare's name (`<kind>.<idx>.spare`): a
    /// copy a member that may not rename the object's names made there
    /// and published by forwarding (`src/ns/spare.rs`), until root or the
    /// file's owner renames it over the numbered name.
    alt: bool,
}

impl Drop for Obj {
    fn drop(&mut self) {
        drop(self.take_data_fd());
    }
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
    /// read from writing it; the object file holds the control area only.
    /// The payload file is created empty: `init` gives it its `data_len`
    /// bytes (through [`Obj::building_data_fd`])
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
            let len = n
                .bytes()
                .iter()
                .position(|&b| b == 0)
                .expect("NUL-terminated");
            assert_eq!(&n.bytes()[..len], Ns::idx_name(kind, idx).as_bytes());
            assert_eq!(n.as_cstr().unwrap().to_bytes(), &n.bytes()[..len]);
        }
    }

    use testing::TempNs;

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
    fn sequence_numbers_are_drawn_in_blocks_of_this_process_alone() {
        let t = TempNs::new("seq");
        let ns = t.ns.clone();
        // 1, then 2, then 4 … numbers per draw: the first two creates
        // take 0 and 1, and the file says 3 (1 drawn with them, unused).
        assert_eq!((ns.next_seq(Kind::Sem), ns.next_seq(Kind::Sem)), (0, 1));
        assert_eq!(ns.next_seq(Kind::Msg), 0, "kinds are apart");
        // A child of fork draws its own, from the file: never the
        // parent's unused 2.
        let child = ns.clone();
        testing::alone("seq", move || {
            let got: Vec<u32> = (0..3).map(|_| child.next_seq(Kind::Sem)).collect();
            assert_eq!(
                got,
                [3, 4, 5],
                "the child's block starts at the file's number"
            );
        });
        assert_eq!(
            ns.next_seq(Kind::Sem),
            2,
            "the parent's block, still its own"
        );
        // The child drew 3..7 (its inherited grant, 4): the parent's next
        // draws (4, then 8 numbers) start past them.
        let got: Vec<u32> = (0..10).map(|_| ns.next_seq(Kind::Sem)).collect();
        assert_eq!(got, (7..17).collect::<Vec<u32>>());
        // Ids of objects made one after another at one index differ.
        let a = ns
            .get(Kind::Sem, IPC_PRIVATE, IPC_CREAT | 0o600, &spec(&nothing))
            .unwrap();
        let id = a.id;
        ns.remove(&a, false);
        let b = ns
            .get(Kind::Sem, IPC_PRIVATE, IPC_CREAT | 0o600, &spec(&nothing))
            .unwrap();
        assert_eq!(b.id % IDX_SPAN, id % IDX_SPAN);
        assert_ne!(b.id, id);
        ns.remove(&b, false);
    }

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
    fn a_killed_creators_bit_is_put_right_by_a_heal() {
        let t = TempNs::new("bits");
        let ns = &t.ns;
        let ix = ns.index.as_ref().expect("an index hint");
        let objs: Vec<_> = (0..3)
            .map(|_| {
                ns.get(Kind::Shm, IPC_PRIVATE, IPC_CREAT | 0o600, &spec(&nothing))
                    .unwrap()
            })
            .collect();
        let idx = |o: &Obj| o.id % IDX_SPAN;
        assert_eq!(ns.in_use(Kind::Shm), (idx(&objs[2]), 3));
        // A bit lost (the numbered name is there): the object is not
        // counted, and the heal gives the bit back.
        ix.mark(Kind::Shm, idx(&objs[1]), false);
        assert_eq!(ns.in_use(Kind::Shm).1, 2);
        ns.heal();
        assert!(ix.is_used(Kind::Shm, idx(&objs[1])));
        assert_eq!(ns.in_use(Kind::Shm), (idx(&objs[2]), 3));
        // Bits whose names are missing (a creator killed between its bit
        // and its move): the highest is cleared by the next count, one
        // below it by the heal.
        let hi = idx(&objs[2]) + 2;
        ix.mark(Kind::Shm, hi, true);
        assert_eq!(ns.in_use(Kind::Shm), (idx(&objs[2]), 3));
        assert!(!ix.is_used(Kind::Shm, hi));
        ns.remove(&objs[0], false);
        ix.mark(Kind::Shm, idx(&objs[0]), true);
        assert_eq!(ns.in_use(Kind::Shm), (idx(&objs[2]), 3));
        ns.heal();
        assert_eq!(ns.in_use(Kind::Shm), (idx(&objs[2]), 2));
        for o in &objs[1..] {
            ns.remove(o, false);
        }
        assert_eq!(ns.in_use(Kind::Shm), (-1, 0));
        assert!(t.objects().is_empty(), "{:?}", t.objects());
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

    /// A remover killed after marking the object removed, before its
    /// number and its bit went: the next `*_INFO` (here `in_use`) finishes
    /// the removal, no listing needed.
    #[test]
    fn a_killed_removal_is_finished_by_the_next_count() {
        let t = TempNs::new("settle");
        let ns = &t.ns;
        let o = ns
            .get(Kind::Sem, 43, IPC_CREAT | 0o600, &spec(&nothing))
            .unwrap();
        let idx = o.id % IDX_SPAN;
        assert_eq!(ns.in_use(Kind::Sem), (idx, 1));
        // What `Ns::remove` does before it is killed.
        let ix = ns.index().expect("an index hint");
        ix.mark_removing(Kind::Sem, idx);
        o.header().state.store(STATE_REMOVED, Ordering::Release);
        assert_eq!(ns.in_use(Kind::Sem), (-1, 0));
        assert!(!ns.exists(&Ns::idx_name(Kind::Sem, idx)));
        assert!(ix.removing(Kind::Sem, 1 << 15).is_empty());
        // A live object with a mark (its remover at work) is counted.
        let p = ns
            .get(Kind::Sem, 44, IPC_CREAT | 0o600, &spec(&nothing))
            .unwrap();
        ix.mark_removing(Kind::Sem, p.id % IDX_SPAN);
        assert_eq!(ns.in_use(Kind::Sem).1, 1);
        ns.remove(&p, false);
        assert_eq!(ns.in_use(Kind::Sem), (-1, 0));
        assert!(ix.removing(Kind::Sem, 1 << 15).is_empty());
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

    /// A member holds its liveness mark (see `Ns::hold_alive`) in each
    /// namespace it has open, from the opening: the others count it alive
    /// there without `/proc` (an attacher), and take it for a possible
    /// lock holder (`unmarked_everywhere`). Attaching keeps it.
    #[test]
    fn a_member_is_marked_alive_in_each_namespace() {
        let (a, b) = (TempNs::new("la"), TempNs::new("lb"));
        let me = crate::os::proc::my_pid();
        let marked = |t: &TempNs| t.ns.index().and_then(|ix| ix.marked_alive(me));
        assert_eq!((marked(&a), marked(&b)), (Some(true), Some(true)));
        assert!(!super::unmarked_everywhere(me));
        // A process that never opened a namespace (exec'd: no mark).
        let mut other = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .unwrap();
        let pid = other.id() as i32;
        let other_marked = (|| a.ns.index()?.marked_alive(pid))();
        let _ = other.kill();
        let _ = other.wait();
        assert_eq!(other_marked, Some(false));
        let mb = crate::shm::shmget(&b.ns, IPC_PRIVATE, 4096, IPC_CREAT | 0o600).unwrap();
        let (pb, _) = crate::shm::shmat(&b.ns, mb, 0, 0).unwrap();
        assert_eq!((marked(&a), marked(&b)), (Some(true), Some(true)));
        let ma = crate::shm::shmget(&a.ns, IPC_PRIVATE, 4096, IPC_CREAT | 0o600).unwrap();
        let (pa, _) = crate::shm::shmat(&a.ns, ma, 0, 0).unwrap();
        assert_eq!((marked(&a), marked(&b)), (Some(true), Some(true)));
        crate::shm::shmdt(pa, None).unwrap();
        crate::shm::shmdt(pb, None).unwrap();
        crate::shm::rmid(&a.ns, ma).unwrap();
        crate::shm::rmid(&b.ns, mb).unwrap();
    }
}
