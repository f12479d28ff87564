//! [`SemSet`]: a System V semaphore set.

use super::{time, Block, Error, Key, Namespace, OpenOptions, Perms, Result};
use crate::error::Errno;
use crate::ns::{Kind, Obj};
use crate::sem::{self, Wait, IPC_NOWAIT, SEM_UNDO};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A set of counting semaphores, changed by atomic groups of operations
/// ([`SemOp`]): all of a group apply at once, or the call waits (or, for
/// `try_*`, fails with `EAGAIN`).
///
/// A `SemSet` is `Send` and `Sync`; cloning gives another handle on the
/// same set. Dropping a handle leaves the set in place: [`SemSet::remove`]
/// removes it.
///
/// ```
/// use ripc::{Key, Namespace, OpenOptions, SemOp, SemSet};
/// # let dir = std::env::temp_dir().join(format!("ripc-doc-sem-{}", std::process::id()));
/// let ns = Namespace::open(&dir)?;
/// // One semaphore, created with the value 1: a lock.
/// let set = SemSet::create_with(&ns, Key::PRIVATE, &[1], OpenOptions::new().create(true))?;
/// set.op(&[SemOp::new(0, -1).undo()])?; // take it (given back if we die)
/// assert!(set.try_op(&[SemOp::new(0, -1)]).unwrap_err().would_block());
/// set.op(&[SemOp::new(0, 1).undo()])?; // give it back
/// assert_eq!(set.value(0)?, 1);
/// set.remove()?;
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), ripc::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct SemSet {
    ns: Namespace,
    set: Arc<Obj>,
    /// the set's shape as this process maps it, checked at open
    shape: Option<sem::SetShape>,
}

/// One operation of a group (`struct sembuf` without `IPC_NOWAIT`, which
/// is the call's: [`SemSet::try_op`]).
///
/// ```
/// use ripc::SemOp;
/// let take = SemOp::new(0, -1).undo();
/// let wait_for_zero = SemOp::new(1, 0);
/// # let _ = (take, wait_for_zero);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SemOp {
    num: u16,
    op: i16,
    undo: bool,
}

impl SemOp {
    /// On semaphore `num`: `op` < 0 takes `|op|` (waits while the value
    /// is lower), 0 waits for the value to be 0, > 0 adds `op`.
    pub const fn new(num: u16, op: i16) -> SemOp {
        SemOp {
            num,
            op,
            undo: false,
        }
    }

    /// `SEM_UNDO`: the operation is reversed when this process exits
    /// (so that a lock taken by a process that dies is given back).
    pub const fn undo(mut self) -> SemOp {
        self.undo = true;
        self
    }
}

/// What [`SemSet::info`] reports (`struct semid_ds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SemSetInfo {
    /// owner, creator, mode, key
    pub perms: Perms,
    /// semaphores in the set
    pub len: usize,
    /// time of the last operation
    pub last_op: Option<SystemTime>,
    /// time of the last change (creation, `IPC_SET`, setting values)
    pub changed: Option<SystemTime>,
}

impl SemSet {
    /// `semget`: the set with `key` in `ns`, created per `opts` with `len`
    /// semaphores, all 0. An existing set must have at least `len`
    /// (`EINVAL`; `len` 0 accepts any). `ENOENT`, `EEXIST`, `EACCES` as
    /// for [`Queue::open`](crate::Queue::open); `EINVAL` above the
    /// namespace's `semmsl`.
    pub fn open(ns: &Namespace, key: Key, len: usize, opts: OpenOptions) -> Result<SemSet> {
        Self::get(ns, key, len, opts, &[])
    }

    /// As [`SemSet::open`], a created set having `values.len()` semaphores
    /// with these values (published already set: no other process sees
    /// the set before). An existing set keeps its values.
    pub fn create_with(
        ns: &Namespace,
        key: Key,
        values: &[u16],
        opts: OpenOptions,
    ) -> Result<SemSet> {
        let init: Vec<i32> = values.iter().map(|&v| i32::from(v)).collect();
        if init.iter().any(|&v| v > sem::SEMVMX) {
            return Err(Error::from_raw_os_error(libc::ERANGE));
        }
        Self::get(ns, key, values.len(), opts, &init)
    }

    fn get(
        ns: &Namespace,
        key: Key,
        len: usize,
        opts: OpenOptions,
        init: &[i32],
    ) -> Result<SemSet> {
        let n = i32::try_from(len).map_err(|_| Error::from_raw_os_error(libc::EINVAL))?;
        let set = sem::get(ns.ns(), key.value(), n, opts.flags(), init)?;
        Ok(SemSet {
            ns: ns.clone(),
            shape: sem::shape(&set),
            set,
        })
    }

    /// The existing set with id `id` (`EINVAL` when there is none).
    pub fn open_id(ns: &Namespace, id: i32) -> Result<SemSet> {
        let set = ns.ns().by_id(Kind::Sem, id)?;
        sem::check(&set)?;
        Ok(SemSet {
            ns: ns.clone(),
            shape: sem::shape(&set),
            set,
        })
    }

    /// The set's id (for [`SemSet::open_id`] and C's `semop`).
    pub fn id(&self) -> i32 {
        self.set.id
    }

    /// The number of semaphores.
    pub fn len(&self) -> Result<usize> {
        Ok(sem::nsems(&self.set)?)
    }

    /// Whether the set has no semaphore (as `semget` with 0 can make).
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// `semop`: applies all of `ops` at once, waiting as long as one of
    /// them cannot. `EFBIG` for a semaphore number out of the set, `E2BIG`
    /// above the namespace's `semopm` operations, `ERANGE` when a value
    /// would pass `SEMVMX`; `EIDRM` when the set is removed meanwhile,
    /// `EINTR` on a signal.
    pub fn op(&self, ops: &[SemOp]) -> Result<()> {
        self.op_with(ops, Block::Forever)
    }

    /// As [`SemSet::op`], but `EAGAIN` rather than wait.
    pub fn try_op(&self, ops: &[SemOp]) -> Result<()> {
        self.op_with(ops, Block::Try)
    }

    /// As [`SemSet::op`], waiting at most `timeout` (`ETIMEDOUT`; a zero
    /// timeout is [`SemSet::try_op`]).
    pub fn op_timeout(&self, ops: &[SemOp], timeout: Duration) -> Result<()> {
        self.op_with(ops, Block::timeout(timeout))
    }

    fn op_with(&self, ops: &[SemOp], b: Block) -> Result<()> {
        let nowait = if matches!(b, Block::Try) {
            IPC_NOWAIT
        } else {
            0
        };
        let raw: Vec<sem::SemOp> = ops
            .iter()
            .map(|o| sem::SemOp {
                num: o.num,
                op: o.op,
                flg: nowait | if o.undo { SEM_UNDO } else { 0 },
            })
            .collect();
        let wait = match b {
            Block::Until(d) => Wait::Until(d),
            Block::Forever | Block::Try => Wait::Forever,
        };
        let known = sem::Known::of(self.shape);
        Ok(sem::semop_known(
            &self.set,
            &known,
            &raw,
            wait,
            Errno::ETIMEDOUT,
        )?)
    }

    /// Semaphore `num`'s value (`GETVAL`; `EINVAL` out of the set).
    pub fn value(&self, num: usize) -> Result<u16> {
        let v = sem::getval(&self.set, index(num)?)?;
        Ok(v as u16)
    }

    /// Sets semaphore `num` to `value` (`SETVAL`): every process's undo
    /// for it is cleared, and waiters that can now go on are woken.
    /// `ERANGE` above `SEMVMX` (32767).
    pub fn set_value(&self, num: usize, value: u16) -> Result<()> {
        Ok(sem::setval(&self.set, index(num)?, i32::from(value))?)
    }

    /// Every value (`GETALL`).
    pub fn values(&self) -> Result<Vec<u16>> {
        Ok(sem::getall(&self.set)?)
    }

    /// Sets every value (`SETALL`): `values` must have one per semaphore
    /// (`EINVAL`).
    pub fn set_values(&self, values: &[u16]) -> Result<()> {
        if values.len() != self.len()? {
            return Err(Error::from_raw_os_error(libc::EINVAL));
        }
        Ok(sem::setall(&self.set, values)?)
    }

    /// Processes waiting for semaphore `num` to grow (`GETNCNT`).
    pub fn waiting(&self, num: usize) -> Result<usize> {
        Ok(sem::count_waiters(&self.set, index(num)?, false)? as usize)
    }

    /// Processes waiting for semaphore `num` to be 0 (`GETZCNT`).
    pub fn waiting_for_zero(&self, num: usize) -> Result<usize> {
        Ok(sem::count_waiters(&self.set, index(num)?, true)? as usize)
    }

    /// The process id of the last operation on semaphore `num` (`GETPID`).
    pub fn last_pid(&self, num: usize) -> Result<i32> {
        Ok(sem::getpid(&self.set, index(num)?)?)
    }

    /// `IPC_STAT`: needs read permission (`EACCES`).
    pub fn info(&self) -> Result<SemSetInfo> {
        let s = sem::stat(&self.set, true)?;
        Ok(SemSetInfo {
            perms: s.perm.into(),
            len: s.nsems,
            last_op: time(s.otime),
            changed: time(s.ctime),
        })
    }

    /// `IPC_RMID`: removes the set (by its owner, creator or root, else
    /// `EPERM`). Waiters fail with `EIDRM`.
    pub fn remove(&self) -> Result<()> {
        Ok(sem::remove(self.ns.ns(), &self.set)?)
    }
}

/// A semaphore number as the engine takes it (`EINVAL` past `i32`).
fn index(num: usize) -> Result<i32> {
    i32::try_from(num).map_err(|_| Error::from_raw_os_error(libc::EINVAL))
}

/// A process-shared lock named by a key: a one-semaphore set of value 1
/// when unlocked, the same object as C's `ripc_mutex` (either side opens
/// what the other made).
///
/// The lock is the process's, not a thread's: it is taken with `SEM_UNDO`,
/// so a process that dies holding it gives it back, and any thread of the
/// holding process may unlock it. It guards no Rust data (the data is
/// elsewhere, typically in a [`Segment`](crate::Segment)); the guard
/// unlocks when dropped.
///
/// ```
/// use ripc::{Key, Mutex, Namespace, OpenOptions};
/// # let dir = std::env::temp_dir().join(format!("ripc-doc-mutex-{}", std::process::id()));
/// let ns = Namespace::open(&dir)?;
/// let m = Mutex::open(&ns, Key::PRIVATE, OpenOptions::new().create(true))?;
/// {
///     let _held = m.lock()?;
///     assert!(m.try_lock().unwrap_err().would_block());
/// } // unlocked here
/// drop(m.try_lock()?);
/// m.remove()?;
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), ripc::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Mutex {
    set: SemSet,
}

/// A held [`Mutex`]: unlocks when dropped ([`MutexGuard::unlock`] to see
/// the error, if any).
#[derive(Debug)]
#[must_use = "the mutex unlocks when the guard is dropped"]
pub struct MutexGuard<'a> {
    m: &'a Mutex,
    held: bool,
}

/// A one-semaphore set, as a set given to [`Mutex`] or [`Semaphore`]
/// (`EINVAL` for a set of another size).
fn single(set: SemSet) -> Result<SemSet> {
    if set.len()? != 1 {
        return Err(Error::from_raw_os_error(libc::EINVAL));
    }
    Ok(set)
}

impl Mutex {
    /// The mutex with `key` in `ns`, created unlocked per `opts`
    /// (`ENOENT`, `EEXIST`, `EACCES` as for [`SemSet::open`]; `EINVAL`
    /// when the key names a set of more than one semaphore).
    pub fn open(ns: &Namespace, key: Key, opts: OpenOptions) -> Result<Mutex> {
        let set = single(SemSet::create_with(ns, key, &[1], opts)?)?;
        Ok(Mutex { set })
    }

    /// The existing mutex with id `id` (`EINVAL` when there is none or it
    /// is not a one-semaphore set).
    pub fn open_id(ns: &Namespace, id: i32) -> Result<Mutex> {
        let set = single(SemSet::open_id(ns, id)?)?;
        Ok(Mutex { set })
    }

    /// The set's id.
    pub fn id(&self) -> i32 {
        self.set.id()
    }

    /// Locks, waiting as long as another process holds it (`EIDRM` when
    /// it is removed meanwhile, `EINTR` on a signal).
    pub fn lock(&self) -> Result<MutexGuard<'_>> {
        self.lock_with(Block::Forever)
    }

    /// As [`Mutex::lock`], but `EAGAIN` rather than wait.
    pub fn try_lock(&self) -> Result<MutexGuard<'_>> {
        self.lock_with(Block::Try)
    }

    /// As [`Mutex::lock`], waiting at most `timeout` (`ETIMEDOUT`).
    pub fn lock_timeout(&self, timeout: Duration) -> Result<MutexGuard<'_>> {
        self.lock_with(Block::timeout(timeout))
    }

    fn lock_with(&self, b: Block) -> Result<MutexGuard<'_>> {
        self.set.op_with(&[SemOp::new(0, -1).undo()], b)?;
        Ok(MutexGuard {
            m: self,
            held: true,
        })
    }

    /// The set's status ([`SemSet::info`]).
    pub fn info(&self) -> Result<SemSetInfo> {
        self.set.info()
    }

    /// Removes the mutex (waiters fail with `EIDRM`).
    pub fn remove(&self) -> Result<()> {
        self.set.remove()
    }
}

impl MutexGuard<'_> {
    /// Unlocks now (`EPERM` when it was not locked any more: someone set
    /// the value; `EIDRM` when the mutex was removed).
    pub fn unlock(mut self) -> Result<()> {
        self.held = false;
        Ok(sem::unlock_mutex(&self.m.set.set)?)
    }
}

impl Drop for MutexGuard<'_> {
    fn drop(&mut self) {
        if self.held {
            let _ = sem::unlock_mutex(&self.m.set.set);
        }
    }
}

/// A process-shared counting semaphore named by a key: a one-semaphore
/// set, the same object as C's `ripc_sem`.
///
/// ```
/// use ripc::{Key, Namespace, OpenOptions, Semaphore};
/// # let dir = std::env::temp_dir().join(format!("ripc-doc-semaphore-{}", std::process::id()));
/// let ns = Namespace::open(&dir)?;
/// let s = Semaphore::open(&ns, Key::PRIVATE, 2, OpenOptions::new().create(true))?;
/// s.wait()?;
/// s.wait()?;
/// assert!(s.try_wait().unwrap_err().would_block());
/// s.post()?;
/// assert_eq!(s.value()?, 1);
/// s.remove()?;
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), ripc::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Semaphore {
    set: SemSet,
}

impl Semaphore {
    /// The semaphore with `key` in `ns`, created with value `initial`
    /// (at most 32767, else `ERANGE`) per `opts`; `EINVAL` when the key
    /// names a set of more than one semaphore.
    pub fn open(ns: &Namespace, key: Key, initial: u16, opts: OpenOptions) -> Result<Semaphore> {
        let set = single(SemSet::create_with(ns, key, &[initial], opts)?)?;
        Ok(Semaphore { set })
    }

    /// The existing semaphore with id `id` (`EINVAL` when there is none
    /// or it is not a one-semaphore set).
    pub fn open_id(ns: &Namespace, id: i32) -> Result<Semaphore> {
        let set = single(SemSet::open_id(ns, id)?)?;
        Ok(Semaphore { set })
    }

    /// The set's id.
    pub fn id(&self) -> i32 {
        self.set.id()
    }

    /// Takes one unit, waiting while the value is 0.
    pub fn wait(&self) -> Result<()> {
        self.set.op(&[SemOp::new(0, -1)])
    }

    /// As [`Semaphore::wait`], but `EAGAIN` rather than wait.
    pub fn try_wait(&self) -> Result<()> {
        self.set.try_op(&[SemOp::new(0, -1)])
    }

    /// As [`Semaphore::wait`], waiting at most `timeout` (`ETIMEDOUT`).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<()> {
        self.set.op_timeout(&[SemOp::new(0, -1)], timeout)
    }

    /// Gives one unit back (`ERANGE` above 32767).
    pub fn post(&self) -> Result<()> {
        self.set.op(&[SemOp::new(0, 1)])
    }

    /// The current value.
    pub fn value(&self) -> Result<u16> {
        self.set.value(0)
    }

    /// The set's status ([`SemSet::info`]).
    pub fn info(&self) -> Result<SemSetInfo> {
        self.set.info()
    }

    /// Removes the semaphore (waiters fail with `EIDRM`).
    pub fn remove(&self) -> Result<()> {
        self.set.remove()
    }
}
