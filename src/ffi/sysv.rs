//! `ripc_ftok` and the message-queue calls with System V signatures (what
//! `ripc_sysv.h` maps `ftok msgget msgsnd msgrcv msgctl` to).
//!
//! Each hands its raw arguments to the backend chosen once
//! ([`crate::sysv::ops`]): the kernel, or ripc's engine, which checks them
//! in the kernel's order.

use super::cstr;
use crate::sysv::{ops, Sysv};
use core::ffi::{c_char, c_int, c_long, c_void};

/// Generates the same key as glibc's `ftok(3)` for the same `pathname` and
/// `proj_id` (the file must exist). -1 with `errno` from `stat` on failure.
#[no_mangle]
pub extern "C" fn ripc_ftok(pathname: *const c_char, proj_id: c_int) -> c_int {
    crate::ffi_boundary!({ crate::ns::ftok(cstr(pathname)?, proj_id) })
}

/// `msgget(2)`: the id of the queue with `key`, creating it per
/// `IPC_CREAT`/`IPC_EXCL` with the low 9 bits of `msgflg` as its mode.
///
/// Declared in ripc_sysv.h, with the system structures.
///
/// cbindgen:ignore
#[no_mangle]
pub extern "C" fn ripc_msgget(key: c_int, msgflg: c_int) -> c_int {
    crate::ffi_boundary!({ ops().msgget(key, msgflg) })
}

/// `msgsnd(2)`: `msgp` points to a `long` type followed by `msgsz` bytes.
///
/// # Safety
/// `msgp` must point to `sizeof(long) + msgsz` readable bytes (NULL and
/// unmapped addresses are reported as `EFAULT`).
///
/// Declared in ripc_sysv.h, with the system structures.
///
/// cbindgen:ignore
#[no_mangle]
pub unsafe extern "C-unwind" fn ripc_msgsnd(
    msqid: c_int,
    msgp: *const c_void,
    msgsz: usize,
    msgflg: c_int,
) -> c_int {
    crate::ffi_boundary!(cancellation_point, {
        // ripc's engine called directly (inlined), not through `ops()`.
        if crate::sysv::backend() == crate::sysv::Backend::User {
            // SAFETY: the caller's buffer, checked by the engine.
            return unsafe { crate::sysv::engine::Engine.msgsnd(msqid, msgp, msgsz, msgflg) };
        }
        // SAFETY: the caller's buffer, checked by the backend.
        unsafe { ops().msgsnd(msqid, msgp, msgsz, msgflg) }
    })
}

/// `msgrcv(2)`: receives into `msgp` (a `long` type, then up to `msgsz`
/// bytes); returns the number of bytes of text received.
///
/// # Safety
/// `msgp` must point to `sizeof(long) + msgsz` writable bytes (NULL and
/// unmapped addresses are reported as `EFAULT`, before any message is
/// taken).
///
/// Declared in ripc_sysv.h, with the system structures.
///
/// cbindgen:ignore
#[no_mangle]
pub unsafe extern "C-unwind" fn ripc_msgrcv(
    msqid: c_int,
    msgp: *mut c_void,
    msgsz: usize,
    msgtyp: c_long,
    msgflg: c_int,
) -> isize {
    crate::ffi_boundary!(cancellation_point, {
        // ripc's engine called directly (inlined), not through `ops()`.
        if crate::sysv::backend() == crate::sysv::Backend::User {
            // SAFETY: the caller's buffer, checked by the engine.
            return unsafe {
                crate::sysv::engine::Engine.msgrcv(msqid, msgp, msgsz, msgtyp, msgflg)
            };
        }
        // SAFETY: the caller's buffer, checked by the backend.
        unsafe { ops().msgrcv(msqid, msgp, msgsz, msgtyp, msgflg) }
    })
}

/// `msgctl(2)`: `IPC_STAT`, `IPC_SET`, `IPC_RMID`, `IPC_INFO`, `MSG_INFO`,
/// `MSG_STAT`, `MSG_STAT_ANY`.
///
/// # Safety
/// `buf` must point to a `struct msqid_ds` (or `struct msginfo` for the
/// `*_INFO` commands) when the command uses it.
///
/// Declared in ripc_sysv.h, with the system structures.
///
/// cbindgen:ignore
#[no_mangle]
pub unsafe extern "C" fn ripc_msgctl(msqid: c_int, cmd: c_int, buf: *mut c_void) -> c_int {
    crate::ffi_boundary!({
        // SAFETY: the caller's buffer, checked by the backend.
        unsafe { ops().msgctl(msqid, cmd, buf) }
    })
}
