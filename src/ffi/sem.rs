//! System V semaphores for C: the drop-in calls (`ripc_semget`,
//! `ripc_semop`, `ripc_semtimedop`, `ripc_semctl_arg`, declared by
//! `ripc_sysv.h`), the native set handle (`ripc_semset_*`), and the simple
//! things built on it: a process-shared mutex (`ripc_mutex_*`) and a
//! counting semaphore (`ripc_sem_*`).
//!
//! The drop-in calls hand their raw arguments to the backend chosen once
//! ([`crate::sysv::ops`]), which checks them (ripc's engine, in the
//! kernel's order) or passes them to the kernel untouched. The native
//! handles are in [`super::semset`].
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use crate::error::{Errno, Result};
use crate::ffi::cstructs::sembuf;
use crate::ffi_boundary;
use crate::sem::SemOp;
use crate::sysv::ops;
use core::ffi::{c_int, c_void};

// ---------------------------------------------------------------------------
// The drop-in System V calls.

/// Checks the caller's operations buffer with `check` (`EFAULT`; the
/// probe cache of the caller's choice) and copies it: up to `N` operations
/// into `inline`, more into `heap`.
#[inline]
pub(crate) fn copy_ops<'a, const N: usize>(
    check: impl FnOnce(usize, usize) -> Result<()>,
    sops: *const sembuf,
    nsops: usize,
    inline: &'a mut [SemOp; N],
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

/// `semget(2)` (drop-in; declared in `ripc_sysv.h`).
///
/// cbindgen:ignore
#[no_mangle]
pub extern "C" fn ripc_semget(key: c_int, nsems: c_int, semflg: c_int) -> c_int {
    ffi_boundary!({ ops().semget(key, nsems, semflg) })
}

/// `semop(2)` (drop-in; declared in `ripc_sysv.h`).
///
/// cbindgen:ignore
#[no_mangle]
pub extern "C" fn ripc_semop(semid: c_int, sops: *mut sembuf, nsops: usize) -> c_int {
    ffi_boundary!(fast, {
        // One operation on ripc's engine, the common case: its own short
        // path (no buffers, no timeout), same checks in the same order.
        if nsops == 1 && crate::sysv::backend() == crate::sysv::Backend::User {
            // SAFETY: the caller's buffer, checked by the engine.
            return unsafe { crate::sysv::engine::semop_one(semid, sops) };
        }
        // SAFETY: the caller's buffer, checked by the backend.
        unsafe { ops().semtimedop(semid, sops, nsops, core::ptr::null()) }
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
    ffi_boundary!(fast, {
        // SAFETY: the caller's buffers, checked by the backend.
        unsafe { ops().semtimedop(semid, sops, nsops, timeout) }
    })
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
        // SAFETY: the caller's buffer, checked by the backend.
        unsafe { ops().semctl(semid, semnum, cmd, val, ptr) }
    })
}
