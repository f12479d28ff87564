//! The native semaphore handles: a set (`ripc_semset_*`), and the simple
//! things built on a one-semaphore set: a process-shared mutex
//! (`ripc_mutex_*`) and a counting semaphore (`ripc_sem_*`). All three are
//! ripc's own engine whatever `RIPC_BACKEND` says, in the namespace they
//! were opened in.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use super::ns::{resolve, ripc_ns};
use super::sem::copy_ops;
use super::{put, Timeout};
use crate::error::{Errno, Result};
use crate::ffi_boundary;
use crate::ns::{limits, Ns, Obj};
use crate::sem::{self, SemOp, Wait};
use crate::sync::Deadline;
use core::ffi::{c_int, c_long, c_uint};
use std::sync::Arc;

/// An open semaphore set. From [`ripc_semset_open`] or
/// [`ripc_semset_open_id`], released by [`ripc_semset_close`].
///
/// Thread safety: any number of threads may use one handle at once;
/// a call with a closed handle fails with `EBADF`; a
/// close while another thread is inside a call with the handle closes it
/// at once and frees it when that call returns.
#[allow(non_camel_case_types)]
pub struct ripc_semset {
    obj: Arc<Obj>,
    ns: Arc<Ns>,
    /// the set's shape as this process maps it, checked at open (the
    /// lock-free path of one operation needs it)
    shape: Option<sem::SetShape>,
}

/// One operation for `ripc_semset_op`: the layout of `struct sembuf`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ripc_sembuf {
    /// semaphore index in the set
    pub num: u16,
    /// < 0: take that many (wait while the value is too small); 0: wait
    /// until the value is 0; > 0: give back
    pub op: i16,
    /// `IPC_NOWAIT` and/or `SEM_UNDO`
    pub flags: i16,
}

/// What `ripc_semset_stat`, `ripc_mutex_stat` and `ripc_sem_stat` report.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ripc_semset_info {
    /// the set's key (0 for IPC_PRIVATE)
    pub key: c_int,
    /// its id (as `semget` returns)
    pub id: c_int,
    /// owner uid
    pub uid: c_uint,
    /// owner gid
    pub gid: c_uint,
    /// permission bits (low 9)
    pub mode: c_uint,
    /// number of semaphores
    pub nsems: c_int,
    /// last successful operation, seconds since the epoch (0: never)
    pub otime: i64,
    /// last change of values or permissions, seconds since the epoch
    pub ctime: i64,
    /// creator uid
    pub cuid: c_uint,
    /// creator gid
    pub cgid: c_uint,
    /// reserved for later fields (zero-filled)
    pub reserved: [u64; 8],
}

impl core::fmt::Debug for ripc_semset {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ripc_semset")
            .field("id", &self.obj.id)
            .finish()
    }
}

/// The one wait of every native semaphore call (see [`Timeout`]): `EAGAIN`
/// when a try would block, `ETIMEDOUT` when a finite wait expires.
fn op_timeout(s: &ripc_semset, ops: &[SemOp], timeout_ms: c_long) -> Result<()> {
    let (o, k) = (&*s.obj, &sem::Known::of(s.shape));
    match Timeout::from_ms(timeout_ms) {
        Timeout::Try => {
            let mut v = ops.to_vec();
            for x in &mut v {
                x.flg |= sem::IPC_NOWAIT;
            }
            sem::semop_known(o, k, &v, Wait::Forever, Errno::ETIMEDOUT)
        }
        Timeout::Forever => sem::semop_known(o, k, ops, Wait::Forever, Errno::ETIMEDOUT),
        Timeout::Ms(ms) => sem::semop_known(
            o,
            k,
            ops,
            Wait::Until(Deadline::from_millis(ms)),
            Errno::ETIMEDOUT,
        ),
    }
}

fn open_set(
    ns: *const ripc_ns,
    key: c_int,
    nsems: c_int,
    flags: c_int,
    init: &[i32],
) -> Result<ripc_semset> {
    let ns = resolve(ns)?;
    let obj = sem::get(&ns, key, nsems, flags, init)?;
    let shape = sem::shape(&obj);
    Ok(ripc_semset { obj, ns, shape })
}

fn open_set_id(ns: *const ripc_ns, id: c_int) -> Result<ripc_semset> {
    let ns = resolve(ns)?;
    let obj = sem::by_id(&ns, id)?;
    let shape = sem::shape(&obj);
    Ok(ripc_semset { obj, ns, shape })
}

fn stat_set(s: &ripc_semset, out: *mut ripc_semset_info) -> Result<c_int> {
    let st = sem::stat(&s.obj, true)?;
    let info = ripc_semset_info {
        key: st.perm.key,
        id: s.obj.id,
        uid: st.perm.uid,
        gid: st.perm.gid,
        mode: st.perm.mode & 0o777,
        nsems: st.nsems as c_int,
        otime: st.otime,
        ctime: st.ctime,
        cuid: st.perm.cuid,
        cgid: st.perm.cgid,
        reserved: [0; 8],
    };
    put(out, info)?;
    Ok(0)
}

fn remove_set(s: &ripc_semset) -> Result<c_int> {
    sem::remove(&s.ns, &s.obj)?;
    Ok(0)
}

impl super::handle::Handle for ripc_semset {
    const KIND: u64 = 4;
}
impl super::handle::Handle for ripc_mutex {
    const KIND: u64 = 5;
}
impl super::handle::Handle for ripc_sem {
    const KIND: u64 = 6;
}

fn boxed<T: super::handle::Handle>(v: T) -> Result<*mut T> {
    super::handle::new(v)
}

/// Opens the set with `key` in namespace `ns` (NULL: the default one), or
/// creates it, as `semget(key, nsems, flags)` does (`IPC_CREAT`,
/// `IPC_EXCL`, mode bits in `flags`; `key` 0 is `IPC_PRIVATE`). A new
/// set's values are 0. NULL and errno on failure.
#[no_mangle]
pub extern "C" fn ripc_semset_open(
    ns: *const ripc_ns,
    key: c_int,
    nsems: c_int,
    flags: c_int,
) -> *mut ripc_semset {
    ffi_boundary!({ boxed(open_set(ns, key, nsems, flags, &[])?) })
}

/// Opens the set with id `id` in namespace `ns` (NULL: the default one).
/// NULL and errno (`EINVAL`) when there is none.
#[no_mangle]
pub extern "C" fn ripc_semset_open_id(ns: *const ripc_ns, id: c_int) -> *mut ripc_semset {
    ffi_boundary!({ boxed(open_set_id(ns, id)?) })
}

/// The set's id (usable with `ripc_semop`/`ripc_semctl` and `ripcs`).
#[no_mangle]
pub extern "C" fn ripc_semset_id(set: *const ripc_semset) -> c_int {
    ffi_boundary!({ Ok(super::handle::get(set)?.obj.id) })
}

/// Applies the `nops` operations atomically (all or none). Waits while
/// they cannot all be applied: `timeout_ms` < 0 for ever; 0 not at all
/// (`EAGAIN`); > 0 at most that long (`ETIMEDOUT`). Returns 0, or -1 with
/// errno: those, `EINTR` (a signal handler ran), `EIDRM` (set removed),
/// `EFBIG`, `ERANGE`, `EINVAL`, `E2BIG`, `EACCES`, `ENOSPC`, `EFAULT`, as
/// `semop(2)`.
#[no_mangle]
pub extern "C" fn ripc_semset_op(
    set: *mut ripc_semset,
    ops: *const ripc_sembuf,
    nops: usize,
    timeout_ms: c_long,
) -> c_int {
    ffi_boundary!(fast, {
        let s = &*super::handle::get(set)?;
        if nops == 0 {
            return Err(Errno::EINVAL);
        }
        if nops as u64 > s.ns.limit(limits::SEMOPM) {
            return Err(Errno::E2BIG);
        }
        if nops == 1 {
            // The common case: one operation, read without the buffers.
            let (mut one, mut none) = ([SemOp::default(); 1], Vec::new());
            let v = copy_ops(
                crate::os::probe::readable,
                ops.cast(),
                1,
                &mut one,
                &mut none,
            )?;
            op_timeout(s, v, timeout_ms)?;
            return Ok(0);
        }
        let (mut inline, mut heap) = ([SemOp::default(); 8], Vec::new());
        let v = copy_ops(
            crate::os::probe::readable,
            ops.cast(),
            nops,
            &mut inline,
            &mut heap,
        )?;
        op_timeout(s, v, timeout_ms)?;
        Ok(0)
    })
}

/// The value of semaphore `num`; -1 and errno on failure.
#[no_mangle]
pub extern "C" fn ripc_semset_get(set: *const ripc_semset, num: c_int) -> c_int {
    ffi_boundary!({ sem::getval(&super::handle::get(set)?.obj, num) })
}

/// Sets semaphore `num` to `value` (0..32767, else `ERANGE`), clearing
/// every process's `SEM_UNDO` adjustment for it and waking whoever can
/// proceed. Returns 0.
#[no_mangle]
pub extern "C" fn ripc_semset_set(set: *mut ripc_semset, num: c_int, value: c_int) -> c_int {
    ffi_boundary!({
        sem::setval(&super::handle::get(set)?.obj, num, value)?;
        Ok(0)
    })
}

/// Number of semaphores in the set.
#[no_mangle]
pub extern "C" fn ripc_semset_nsems(set: *const ripc_semset) -> c_int {
    ffi_boundary!({ Ok(sem::nsems(&super::handle::get(set)?.obj)? as c_int) })
}

/// Fills `*out` with the set's key, id, owner, mode, size and times
/// (needs read permission: `EACCES`). Returns 0.
#[no_mangle]
pub extern "C" fn ripc_semset_stat(set: *const ripc_semset, out: *mut ripc_semset_info) -> c_int {
    ffi_boundary!({ stat_set(&*super::handle::get(set)?, out) })
}

/// Removes the set (as `IPC_RMID`; owner, creator or root: `EPERM`):
/// sleepers fail with `EIDRM`. The handle stays valid until
/// `ripc_semset_close`, every operation failing. Returns 0.
#[no_mangle]
pub extern "C" fn ripc_semset_remove(set: *mut ripc_semset) -> c_int {
    ffi_boundary!({ remove_set(&*super::handle::get(set)?) })
}

/// Releases the handle (the set itself stays). NULL is ignored. Returns 0 (-1
/// with `EBADF` when it is not an open handle: closed already).
#[no_mangle]
pub extern "C" fn ripc_semset_close(set: *mut ripc_semset) -> c_int {
    ffi_boundary!({
        super::handle::close(set)?;
        Ok(0)
    })
}

// ---------------------------------------------------------------------------
// A process-shared mutex and a counting semaphore.

/// A process-shared mutex named by a key (a one-semaphore set). A holder
/// that dies, even by `SIGKILL`, releases it (`SEM_UNDO`). From
/// [`ripc_mutex_open`] or [`ripc_mutex_open_id`], released by
/// [`ripc_mutex_close`].
///
/// Thread safety: any number of threads may use one handle at once (the
/// lock is the process's: a thread may unlock what another locked); a
/// call with a closed handle fails with `EBADF`; a close while another
/// thread is inside a call with the handle closes it at once and frees it
/// when that call returns.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct ripc_mutex {
    set: ripc_semset,
}

/// A process-shared counting semaphore named by a key (a one-semaphore
/// set). From [`ripc_sem_open`] or [`ripc_sem_open_id`], released by
/// [`ripc_sem_close`].
///
/// Thread safety: any number of threads may use one handle at once;
/// a call with a closed handle fails with `EBADF`; a
/// close while another thread is inside a call with the handle closes it
/// at once and frees it when that call returns.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct ripc_sem {
    set: ripc_semset,
}

fn open_one(ns: *const ripc_ns, key: c_int, initial: i32, flags: c_int) -> Result<ripc_semset> {
    if !(0..=sem::SEMVMX).contains(&initial) {
        return Err(Errno::ERANGE);
    }
    open_set(ns, key, 1, flags, &[initial])
}

/// A set by id that is one semaphore (`EINVAL` otherwise).
fn open_one_id(ns: *const ripc_ns, id: c_int) -> Result<ripc_semset> {
    let s = open_set_id(ns, id)?;
    if sem::nsems(&s.obj)? != 1 {
        return Err(Errno::EINVAL);
    }
    Ok(s)
}

fn op1(s: &ripc_semset, op: i16, flg: i16, timeout_ms: c_long) -> Result<c_int> {
    op_timeout(s, &[SemOp { num: 0, op, flg }], timeout_ms)?;
    Ok(0)
}

/// Opens the mutex with `key` in namespace `ns` (NULL: the default one),
/// creating it unlocked when `flags` has `IPC_CREAT` (`IPC_EXCL`, mode
/// bits as `semget`). `key` 0 (`IPC_PRIVATE`) makes a new one, shared with
/// children. NULL and errno on failure.
#[no_mangle]
pub extern "C" fn ripc_mutex_open(ns: *const ripc_ns, key: c_int, flags: c_int) -> *mut ripc_mutex {
    ffi_boundary!({
        boxed(ripc_mutex {
            set: open_one(ns, key, 1, flags)?,
        })
    })
}

/// Opens the mutex with id `id` in namespace `ns` (NULL: the default
/// one): `EINVAL` when there is none or it is not a one-semaphore set.
#[no_mangle]
pub extern "C" fn ripc_mutex_open_id(ns: *const ripc_ns, id: c_int) -> *mut ripc_mutex {
    ffi_boundary!({
        boxed(ripc_mutex {
            set: open_one_id(ns, id)?,
        })
    })
}

/// Locks. Waits while another holds it: `timeout_ms` < 0 for ever; 0 not
/// at all (`EAGAIN`); > 0 at most that long (`ETIMEDOUT`). `EINTR`,
/// `EIDRM` too. Returns 0.
#[no_mangle]
pub extern "C" fn ripc_mutex_lock(m: *mut ripc_mutex, timeout_ms: c_long) -> c_int {
    ffi_boundary!(fast, {
        op1(&super::handle::get(m)?.set, -1, sem::SEM_UNDO, timeout_ms)
    })
}

/// Unlocks (`EPERM` when it is not locked). Returns 0.
#[no_mangle]
pub extern "C" fn ripc_mutex_unlock(m: *mut ripc_mutex) -> c_int {
    ffi_boundary!({
        sem::unlock_mutex(&super::handle::get(m)?.set.obj)?;
        Ok(0)
    })
}

/// The mutex's set id (for [`ripc_mutex_open_id`], `ripcs`, `ripcrm`).
#[no_mangle]
pub extern "C" fn ripc_mutex_id(m: *const ripc_mutex) -> c_int {
    ffi_boundary!({ Ok(super::handle::get(m)?.set.obj.id) })
}

/// Fills `*out` with the mutex's set status (value 1 unlocked, 0 locked
/// is [`ripc_semset_get`]'s business; this is the key, id, owner, mode
/// and times). Returns 0.
#[no_mangle]
pub extern "C" fn ripc_mutex_stat(m: *const ripc_mutex, out: *mut ripc_semset_info) -> c_int {
    ffi_boundary!({ stat_set(&super::handle::get(m)?.set, out) })
}

/// Removes the mutex from its namespace (waiters fail with `EIDRM`).
/// Returns 0.
#[no_mangle]
pub extern "C" fn ripc_mutex_remove(m: *mut ripc_mutex) -> c_int {
    ffi_boundary!({ remove_set(&super::handle::get(m)?.set) })
}

/// Releases the handle (not the mutex). NULL is ignored. Returns 0 (-1
/// with `EBADF` when it is not an open handle: closed already).
#[no_mangle]
pub extern "C" fn ripc_mutex_close(m: *mut ripc_mutex) -> c_int {
    ffi_boundary!({
        super::handle::close(m)?;
        Ok(0)
    })
}

/// Opens the counting semaphore with `key` in namespace `ns` (NULL: the
/// default one), creating it with value `initial` (0..32767, else
/// `ERANGE`) when `flags` has `IPC_CREAT` (`IPC_EXCL`, mode bits as
/// `semget`). `key` 0 makes a private one. NULL and errno on failure.
#[no_mangle]
pub extern "C" fn ripc_sem_open(
    ns: *const ripc_ns,
    key: c_int,
    initial: c_uint,
    flags: c_int,
) -> *mut ripc_sem {
    ffi_boundary!({
        let init = i32::try_from(initial).map_err(|_| Errno::ERANGE)?;
        boxed(ripc_sem {
            set: open_one(ns, key, init, flags)?,
        })
    })
}

/// Opens the semaphore with id `id` in namespace `ns` (NULL: the default
/// one): `EINVAL` when there is none or it is not a one-semaphore set.
#[no_mangle]
pub extern "C" fn ripc_sem_open_id(ns: *const ripc_ns, id: c_int) -> *mut ripc_sem {
    ffi_boundary!({
        boxed(ripc_sem {
            set: open_one_id(ns, id)?,
        })
    })
}

/// Takes one unit. Waits while the value is 0: `timeout_ms` < 0 for ever;
/// 0 not at all (`EAGAIN`); > 0 at most that long (`ETIMEDOUT`). Returns 0.
#[no_mangle]
pub extern "C" fn ripc_sem_wait(s: *mut ripc_sem, timeout_ms: c_long) -> c_int {
    ffi_boundary!(fast, {
        op1(&super::handle::get(s)?.set, -1, 0, timeout_ms)
    })
}

/// Gives one unit back (`ERANGE` above 32767). Returns 0.
#[no_mangle]
pub extern "C" fn ripc_sem_post(s: *mut ripc_sem) -> c_int {
    ffi_boundary!(fast, { op1(&super::handle::get(s)?.set, 1, 0, -1) })
}

/// The current value.
#[no_mangle]
pub extern "C" fn ripc_sem_value(s: *const ripc_sem) -> c_int {
    ffi_boundary!({ sem::getval(&super::handle::get(s)?.set.obj, 0) })
}

/// The semaphore's set id (for [`ripc_sem_open_id`], `ripcs`).
#[no_mangle]
pub extern "C" fn ripc_sem_id(s: *const ripc_sem) -> c_int {
    ffi_boundary!({ Ok(super::handle::get(s)?.set.obj.id) })
}

/// Fills `*out` with the semaphore's set status. Returns 0.
#[no_mangle]
pub extern "C" fn ripc_sem_stat(s: *const ripc_sem, out: *mut ripc_semset_info) -> c_int {
    ffi_boundary!({ stat_set(&super::handle::get(s)?.set, out) })
}

/// Removes the semaphore from its namespace (waiters fail with `EIDRM`).
/// Returns 0.
#[no_mangle]
pub extern "C" fn ripc_sem_remove(s: *mut ripc_sem) -> c_int {
    ffi_boundary!({ remove_set(&super::handle::get(s)?.set) })
}

/// Releases the handle (not the semaphore). NULL is ignored. Returns 0 (-1
/// with `EBADF` when it is not an open handle: closed already).
#[no_mangle]
pub extern "C" fn ripc_sem_close(s: *mut ripc_sem) -> c_int {
    ffi_boundary!({
        super::handle::close(s)?;
        Ok(0)
    })
}
