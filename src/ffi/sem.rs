//! System V semaphores for C: the drop-in calls (`ripc_semget`,
//! `ripc_semop`, `ripc_semtimedop`, `ripc_semctl_arg`, declared by
//! `ripc_sysv.h`), the native set handle (`ripc_semset_*`), and the simple
//! things built on it: a process-shared mutex (`ripc_mutex_*`) and a
//! counting semaphore (`ripc_sem_*`).
//!
//! The entry points take raw pointers from C by contract: each is checked
//! (NULL, `EFAULT` probe) before it is read or written, or handed to the
//! kernel untouched in the pass-through backend.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use crate::error::{Errno, Result};
use crate::ffi::cstructs::{
    perm_to_c, sembuf, semid_ds, seminfo, GETALL, GETNCNT, GETPID, GETVAL, GETZCNT, IPC_INFO,
    IPC_RMID, IPC_SET, IPC_STAT, SEM_INFO, SEM_STAT, SEM_STAT_ANY, SETALL, SETVAL,
};
use crate::ffi::{get, put, readable, writable};
use crate::ns::{limits, owner_errno, Kind, Ns, Obj, IPC_CREAT};
use crate::os::probe::Seen;
use crate::sem::{self, SemOp, Wait};
use crate::sync::Deadline;
use crate::{ffi_boundary, try_ref};
use core::ffi::{c_int, c_long, c_uint, c_void};
use core::time::Duration;
use std::sync::Arc;

// ---------------------------------------------------------------------------
// The drop-in System V calls.

/// Checks the caller's operations buffer with `check` (`EFAULT`; the
/// probe cache of the caller's choice) and copies it: up to 8 operations
/// into `inline`, more into `heap`.
#[inline]
fn copy_ops<'a>(
    check: impl FnOnce(usize, usize) -> Result<()>,
    sops: *const sembuf,
    nsops: usize,
    inline: &'a mut [SemOp; 8],
    heap: &'a mut Vec<SemOp>,
) -> Result<&'a [SemOp]> {
    let len = nsops
        .checked_mul(core::mem::size_of::<sembuf>())
        .ok_or(Errno::E2BIG)?;
    if sops.is_null() {
        return Err(Errno::EFAULT);
    }
    check(sops as usize, len)?;
    let read = |i: usize| {
        // SAFETY: `i < nsops` and the `len` bytes at `sops` were checked
        // readable; read_unaligned copies the plain-data struct out.
        let b = unsafe { core::ptr::read_unaligned(sops.add(i)) };
        SemOp {
            num: b.sem_num,
            op: b.sem_op,
            flg: b.sem_flg,
        }
    };
    if nsops <= inline.len() {
        let mut i = 0;
        while i < nsops {
            inline[i] = read(i);
            i += 1;
        }
        Ok(&inline[..nsops])
    } else {
        heap.extend((0..nsops).map(read));
        Ok(heap)
    }
}

fn semtimedop_user(
    semid: c_int,
    sops: *const sembuf,
    nsops: usize,
    timeout: *const libc::timespec,
) -> Result<c_int> {
    if nsops == 0 {
        return Err(Errno::EINVAL);
    }
    // semopm is at least 1: a single operation never needs the limits.
    if nsops > 1 && nsops as u64 > Ns::default_ns()?.limit(limits::SEMOPM) {
        return Err(Errno::E2BIG);
    }
    let mut inline = [SemOp::default(); 8];
    let mut heap = Vec::new();
    // The buffers are checked (EFAULT, EINVAL for the timeout) before the
    // set is looked up, with the set cache's own probe cache (one TLS
    // look-up for both).
    let (inline, heap) = (&mut inline, &mut heap);
    sem::with_set_after(
        semid,
        move |seen: &Seen| {
            let ops = copy_ops(|a, n| seen.readable(a, n), sops, nsops, inline, heap)?;
            let wait = if timeout.is_null() {
                Wait::Forever
            } else {
                seen.readable(timeout as usize, core::mem::size_of::<libc::timespec>())?;
                // SAFETY: checked readable above; a plain-data copy.
                let ts = unsafe { core::ptr::read_unaligned(timeout) };
                if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
                    return Err(Errno::EINVAL);
                }
                Wait::Until(Deadline::after(Duration::new(
                    ts.tv_sec as u64,
                    ts.tv_nsec as u32,
                )))
            };
            Ok((ops, wait))
        },
        |o, (ops, wait)| sem::semop(o, ops, wait, Errno::EAGAIN),
    )?;
    Ok(0)
}

/// `semget(2)` (drop-in; declared in `ripc_sysv.h`).
///
/// cbindgen:ignore
#[no_mangle]
pub extern "C" fn ripc_semget(key: c_int, nsems: c_int, semflg: c_int) -> c_int {
    ffi_boundary!({
        if crate::sysv::is_kernel() {
            return crate::kernel::semget(key, nsems, semflg);
        }
        Ok(sem::get(Ns::default_ns()?, key, nsems, semflg, &[])?.id)
    })
}

/// `semop(2)` (drop-in; declared in `ripc_sysv.h`).
///
/// cbindgen:ignore
#[no_mangle]
pub extern "C" fn ripc_semop(semid: c_int, sops: *mut sembuf, nsops: usize) -> c_int {
    ffi_boundary!({
        if crate::sysv::is_kernel() {
            // SAFETY: raw arguments; the kernel checks the pointer.
            return unsafe {
                crate::kernel::semtimedop(semid, sops.cast(), nsops, core::ptr::null())
            };
        }
        semtimedop_user(semid, sops, nsops, core::ptr::null())
    })
}

/// `semtimedop(2)` (drop-in; declared in `ripc_sysv.h`).
///
/// cbindgen:ignore
#[no_mangle]
pub extern "C" fn ripc_semtimedop(
    semid: c_int,
    sops: *mut sembuf,
    nsops: usize,
    timeout: *const libc::timespec,
) -> c_int {
    ffi_boundary!({
        if crate::sysv::is_kernel() {
            // SAFETY: raw arguments; the kernel checks the pointers.
            return unsafe { crate::kernel::semtimedop(semid, sops.cast(), nsops, timeout) };
        }
        semtimedop_user(semid, sops, nsops, timeout)
    })
}

fn fill_info(ns: &Ns, cmd: c_int, p: *mut seminfo) -> Result<c_int> {
    let l = ns.limits();
    // IPC_INFO needs only the highest index: from the index hint, at
    // constant cost; SEM_INFO's semaphore total needs every set (linear,
    // see README "Scale").
    let (sets, sems, max_idx) = if cmd == SEM_INFO {
        sem::usage(ns)
    } else {
        (0, 0, ns.in_use(crate::ns::Kind::Sem).0.max(0))
    };
    let cl = |x: u64| x.min(i32::MAX as u64) as c_int;
    let semmns = cl(l.semmns);
    let info = seminfo {
        semmap: semmns,
        semmni: cl(l.semmni),
        semmns,
        semmnu: semmns,
        semmsl: cl(l.semmsl),
        semopm: cl(l.semopm),
        semume: cl(l.semopm),
        semusz: if cmd == SEM_INFO { sets } else { 20 },
        semvmx: sem::SEMVMX,
        semaem: if cmd == SEM_INFO {
            sems.min(i32::MAX as i64) as c_int
        } else {
            sem::SEMAEM
        },
    };
    put(p, info)?;
    Ok(max_idx)
}

fn fill_stat(o: &Obj, need_read: bool, p: *mut semid_ds) -> Result<()> {
    put(p, stat_to_c(&sem::stat(o, need_read)?))
}

fn stat_to_c(s: &sem::Stat) -> semid_ds {
    semid_ds {
        sem_perm: perm_to_c(&s.perm),
        sem_otime: s.otime,
        sem_ctime: s.ctime,
        sem_nsems: s.nsems as _,
        ..Default::default()
    }
}

fn semctl_user(
    semid: c_int,
    semnum: c_int,
    cmd: c_int,
    val: c_int,
    ptr: *mut c_void,
) -> Result<c_int> {
    let ns = Ns::default_ns()?;
    // IPC_SET's new values, read before anything else (EFAULT first, as
    // the kernel).
    let mut set_to = None;
    match cmd {
        IPC_INFO | SEM_INFO => return fill_info(ns, cmd, ptr.cast()),
        SEM_STAT | SEM_STAT_ANY => {
            let o = ns.by_index(Kind::Sem, semid)?;
            if o.is_removed() {
                return Err(Errno::EINVAL);
            }
            let s = sem::stat_listed(&o, cmd == SEM_STAT)?;
            put(ptr.cast::<semid_ds>(), stat_to_c(&s))?;
            return Ok(o.id);
        }
        SETVAL if !(0..=sem::SEMVMX).contains(&val) => return Err(Errno::ERANGE),
        IPC_SET => set_to = Some(get(ptr.cast_const().cast::<semid_ds>())?),
        IPC_RMID | IPC_STAT | GETVAL | GETPID | GETNCNT | GETZCNT | GETALL | SETALL | SETVAL => {}
        _ => return Err(Errno::EINVAL),
    }
    let o = match cmd {
        // A set we may not even open is not ours (EPERM, as msgctl).
        IPC_RMID | IPC_SET => sem::by_id(semid).map_err(owner_errno)?,
        _ => sem::by_id(semid)?,
    };
    match cmd {
        IPC_RMID => sem::remove(Ns::default_ns()?, &o).map(|_| 0),
        IPC_STAT => fill_stat(&o, true, ptr.cast()).map(|_| 0),
        IPC_SET => {
            let d: semid_ds = set_to.ok_or(Errno::EINVAL)?;
            sem::set(&o, d.sem_perm.uid, d.sem_perm.gid, d.sem_perm.mode).map(|_| 0)
        }
        GETVAL => sem::getval(&o, semnum),
        GETPID => sem::getpid(&o, semnum),
        GETNCNT => sem::count_waiters(&o, semnum, false),
        GETZCNT => sem::count_waiters(&o, semnum, true),
        GETALL => {
            let n = sem::nsems(&o)?;
            writable(ptr, 2 * n)?;
            let v = sem::getall(&o)?;
            // SAFETY: `2 * n` bytes at ptr checked writable; v has n items.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    v.as_ptr().cast::<u8>(),
                    ptr.cast::<u8>(),
                    2 * v.len().min(n),
                )
            };
            Ok(0)
        }
        SETALL => {
            let n = sem::nsems(&o)?;
            readable(ptr, 2 * n)?;
            let mut v = vec![0u16; n];
            // SAFETY: `2 * n` bytes at ptr checked readable; v holds n u16.
            unsafe {
                core::ptr::copy_nonoverlapping(ptr.cast::<u8>(), v.as_mut_ptr().cast::<u8>(), 2 * n)
            };
            sem::setall(&o, &v).map(|_| 0)
        }
        SETVAL => sem::setval(&o, semnum, val).map(|_| 0),
        _ => Err(Errno::EINVAL),
    }
}

/// `semctl(2)` with its fourth argument already read from the `va_list`
/// by the `semctl` wrapper of `ripc_sysv.h`: `val` for `SETVAL`, `ptr` for
/// the commands that take a buffer or an array.
///
/// cbindgen:ignore
#[no_mangle]
pub extern "C" fn ripc_semctl_arg(
    semid: c_int,
    semnum: c_int,
    cmd: c_int,
    val: c_int,
    ptr: *mut c_void,
) -> c_int {
    ffi_boundary!({
        if crate::sysv::is_kernel() {
            let arg = if cmd == SETVAL {
                val as u32 as usize
            } else {
                ptr as usize
            };
            // SAFETY: raw arguments; the kernel checks the pointer.
            return unsafe { crate::kernel::semctl(semid, semnum, cmd, arg) };
        }
        semctl_user(semid, semnum, cmd, val, ptr)
    })
}

// ---------------------------------------------------------------------------
// The native set handle.

/// An open semaphore set (ripc's own engine, whatever `RIPC_BACKEND` says).
/// Opaque; from `ripc_semset_open`, released by `ripc_semset_close`.
#[allow(non_camel_case_types)]
pub struct ripc_semset {
    obj: Arc<Obj>,
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

/// What `ripc_semset_stat` reports.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
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
}

impl core::fmt::Debug for ripc_semset {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ripc_semset")
            .field("id", &self.obj.id)
            .finish()
    }
}

fn boxed(obj: Arc<Obj>) -> *mut ripc_semset {
    Box::into_raw(Box::new(ripc_semset { obj }))
}

fn op_timeout(o: &Obj, ops: &[SemOp], timeout_ms: c_long) -> Result<()> {
    if timeout_ms == 0 {
        let mut v = ops.to_vec();
        for x in &mut v {
            x.flg |= sem::IPC_NOWAIT;
        }
        return sem::semop(o, &v, Wait::Forever, Errno::ETIMEDOUT).map_err(|e| {
            if e == Errno::EAGAIN {
                Errno::ETIMEDOUT
            } else {
                e
            }
        });
    }
    let wait = if timeout_ms < 0 {
        Wait::Forever
    } else {
        Wait::Until(Deadline::from_millis(timeout_ms))
    };
    sem::semop(o, ops, wait, Errno::ETIMEDOUT)
}

/// Opens the set with `key`, or creates it, as `semget(key, nsems, flags)`
/// does (`IPC_CREAT`, `IPC_EXCL`, mode bits in `flags`; `key` 0 is
/// `IPC_PRIVATE`). A new set's values are 0. NULL and errno on failure.
#[no_mangle]
pub extern "C" fn ripc_semset_open(key: c_int, nsems: c_int, flags: c_int) -> *mut ripc_semset {
    ffi_boundary!({ Ok(boxed(sem::get(Ns::default_ns()?, key, nsems, flags, &[])?)) })
}

/// Opens the set with id `id` (as returned by `semget` or
/// `ripc_semset_id`). NULL and errno (EINVAL) when there is none.
#[no_mangle]
pub extern "C" fn ripc_semset_from_id(id: c_int) -> *mut ripc_semset {
    ffi_boundary!({ Ok(boxed(sem::by_id(id)?)) })
}

/// The set's id (usable with `ripc_semop`/`ripc_semctl` and `ripcs`).
#[no_mangle]
pub extern "C" fn ripc_semset_id(set: *const ripc_semset) -> c_int {
    ffi_boundary!({ Ok(try_ref!(set).obj.id) })
}

/// Applies the `nops` operations atomically (all or none), waiting at most
/// `timeout_ms` milliseconds (< 0: forever; 0: do not wait). Returns 0, or
/// -1 with errno: ETIMEDOUT (time out, or would block with timeout 0),
/// EINTR (a signal handler ran), EIDRM (set removed), EFBIG, ERANGE,
/// EINVAL, E2BIG, EACCES, ENOSPC, EFAULT, as `semop(2)`.
#[no_mangle]
pub extern "C" fn ripc_semset_op(
    set: *mut ripc_semset,
    ops: *const ripc_sembuf,
    nops: usize,
    timeout_ms: c_long,
) -> c_int {
    ffi_boundary!({
        let s = try_ref!(set);
        if nops == 0 {
            return Err(Errno::EINVAL);
        }
        if nops as u64 > Ns::default_ns()?.limit(limits::SEMOPM) {
            return Err(Errno::E2BIG);
        }
        let (mut inline, mut heap) = ([SemOp::default(); 8], Vec::new());
        let v = copy_ops(
            crate::os::probe::readable,
            ops.cast(),
            nops,
            &mut inline,
            &mut heap,
        )?;
        op_timeout(&s.obj, v, timeout_ms)?;
        Ok(0)
    })
}

/// The value of semaphore `num`; -1 and errno on failure.
#[no_mangle]
pub extern "C" fn ripc_semset_get(set: *const ripc_semset, num: c_int) -> c_int {
    ffi_boundary!({ sem::getval(&try_ref!(set).obj, num) })
}

/// Sets semaphore `num` to `value` (0..32767, else ERANGE), clearing every
/// process's SEM_UNDO adjustment for it and waking whoever can proceed.
#[no_mangle]
pub extern "C" fn ripc_semset_set(set: *mut ripc_semset, num: c_int, value: c_int) -> c_int {
    ffi_boundary!({
        sem::setval(&try_ref!(set).obj, num, value)?;
        Ok(0)
    })
}

/// Number of semaphores in the set.
#[no_mangle]
pub extern "C" fn ripc_semset_nsems(set: *const ripc_semset) -> c_int {
    ffi_boundary!({ Ok(sem::nsems(&try_ref!(set).obj)? as c_int) })
}

/// Fills `*out` with the set's key, id, owner, mode, size and times.
#[no_mangle]
pub extern "C" fn ripc_semset_stat(set: *const ripc_semset, out: *mut ripc_semset_info) -> c_int {
    ffi_boundary!({
        let s = try_ref!(set);
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
        };
        put(out, info)?;
        Ok(0)
    })
}

/// Removes the set (as `IPC_RMID`): sleepers fail with EIDRM. The handle
/// stays valid until `ripc_semset_close`, every operation failing.
#[no_mangle]
pub extern "C" fn ripc_semset_remove(set: *mut ripc_semset) -> c_int {
    ffi_boundary!({
        sem::remove(Ns::default_ns()?, &try_ref!(set).obj)?;
        Ok(0)
    })
}

/// Releases the handle (the set itself stays). NULL is ignored.
#[no_mangle]
pub extern "C" fn ripc_semset_close(set: *mut ripc_semset) -> c_int {
    ffi_boundary!({
        super::free_handle(set);
        Ok(0)
    })
}

// ---------------------------------------------------------------------------
// A process-shared mutex and a counting semaphore.

/// A process-shared mutex named by a key (a one-semaphore set). A holder
/// that dies, even by SIGKILL, releases it (SEM_UNDO). Opaque.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct ripc_mutex {
    set: ripc_semset,
}

/// A process-shared counting semaphore named by a key. Opaque.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct ripc_sem {
    set: ripc_semset,
}

fn open_one(key: c_int, initial: i32) -> Result<ripc_semset> {
    if !(0..=sem::SEMVMX).contains(&initial) {
        return Err(Errno::ERANGE);
    }
    Ok(ripc_semset {
        obj: sem::get(Ns::default_ns()?, key, 1, IPC_CREAT | 0o600, &[initial])?,
    })
}

fn op1(s: &ripc_semset, op: i16, flg: i16, timeout_ms: c_long) -> Result<c_int> {
    op_timeout(&s.obj, &[SemOp { num: 0, op, flg }], timeout_ms)?;
    Ok(0)
}

/// Opens the mutex with `key`, creating it unlocked (mode 0600) when
/// missing. `key` 0 (IPC_PRIVATE) makes a new one, shared with children.
#[no_mangle]
pub extern "C" fn ripc_mutex_open(key: c_int) -> *mut ripc_mutex {
    ffi_boundary!({
        Ok(Box::into_raw(Box::new(ripc_mutex {
            set: open_one(key, 1)?,
        })))
    })
}

/// Locks, waiting at most `timeout_ms` ms (< 0: forever, 0: try).
/// -1 with ETIMEDOUT, EINTR or EIDRM on failure.
#[no_mangle]
pub extern "C" fn ripc_mutex_lock(m: *mut ripc_mutex, timeout_ms: c_long) -> c_int {
    ffi_boundary!({ op1(&try_ref!(m).set, -1, sem::SEM_UNDO, timeout_ms) })
}

/// Unlocks (EPERM when it is not locked).
#[no_mangle]
pub extern "C" fn ripc_mutex_unlock(m: *mut ripc_mutex) -> c_int {
    ffi_boundary!({
        sem::unlock_mutex(&try_ref!(m).set.obj)?;
        Ok(0)
    })
}

/// The mutex's set id (for `ripcs`, `ripcrm`).
#[no_mangle]
pub extern "C" fn ripc_mutex_id(m: *const ripc_mutex) -> c_int {
    ffi_boundary!({ Ok(try_ref!(m).set.obj.id) })
}

/// Removes the mutex from the namespace (waiters fail with EIDRM).
#[no_mangle]
pub extern "C" fn ripc_mutex_remove(m: *mut ripc_mutex) -> c_int {
    ffi_boundary!({
        sem::remove(Ns::default_ns()?, &try_ref!(m).set.obj)?;
        Ok(0)
    })
}

/// Releases the handle (not the mutex). NULL is ignored.
#[no_mangle]
pub extern "C" fn ripc_mutex_close(m: *mut ripc_mutex) -> c_int {
    ffi_boundary!({
        super::free_handle(m);
        Ok(0)
    })
}

/// Opens the counting semaphore with `key`, creating it with value
/// `initial` (0..32767) when missing. `key` 0 makes a private one.
#[no_mangle]
pub extern "C" fn ripc_sem_open(key: c_int, initial: c_uint) -> *mut ripc_sem {
    ffi_boundary!({
        let init = i32::try_from(initial).map_err(|_| Errno::ERANGE)?;
        Ok(Box::into_raw(Box::new(ripc_sem {
            set: open_one(key, init)?,
        })))
    })
}

/// Takes one unit, waiting at most `timeout_ms` ms (< 0: forever, 0: try).
#[no_mangle]
pub extern "C" fn ripc_sem_wait(s: *mut ripc_sem, timeout_ms: c_long) -> c_int {
    ffi_boundary!({ op1(&try_ref!(s).set, -1, 0, timeout_ms) })
}

/// Gives one unit back (ERANGE above 32767).
#[no_mangle]
pub extern "C" fn ripc_sem_post(s: *mut ripc_sem) -> c_int {
    ffi_boundary!({ op1(&try_ref!(s).set, 1, 0, -1) })
}

/// The current value.
#[no_mangle]
pub extern "C" fn ripc_sem_value(s: *const ripc_sem) -> c_int {
    ffi_boundary!({ sem::getval(&try_ref!(s).set.obj, 0) })
}

/// The semaphore's set id.
#[no_mangle]
pub extern "C" fn ripc_sem_id(s: *const ripc_sem) -> c_int {
    ffi_boundary!({ Ok(try_ref!(s).set.obj.id) })
}

/// Removes the semaphore from the namespace (waiters fail with EIDRM).
#[no_mangle]
pub extern "C" fn ripc_sem_remove(s: *mut ripc_sem) -> c_int {
    ffi_boundary!({
        sem::remove(Ns::default_ns()?, &try_ref!(s).set.obj)?;
        Ok(0)
    })
}

/// Releases the handle (not the semaphore). NULL is ignored.
#[no_mangle]
pub extern "C" fn ripc_sem_close(s: *mut ripc_sem) -> c_int {
    ffi_boundary!({
        super::free_handle(s);
        Ok(0)
    })
}
