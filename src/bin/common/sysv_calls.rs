//! The System V calls the tools are built on, with the C convention
//! (`-1` and `errno` on failure), exactly as util-linux calls the kernel.
//!
//! Message queues go through the crate's drop-in functions, so they follow
//! `RIPC_BACKEND`. Shared memory and semaphores are still being written on
//! other branches: until they are merged, `shmget`/`shmctl`/`semget`/
//! `semctl` below pass straight to the kernel under `RIPC_BACKEND=kernel`
//! and fail with `ENOSYS` under the user backend (so that a ripc namespace
//! never shows, nor `ripcrm -a` removes, the kernel's objects). Each body
//! is one line, and its `TODO(merge)` comment is the line that replaces it.

use core::ffi::{c_int, c_void};
use ripc::error::{set_errno, Errno, Result};
use ripc::ffi::cstructs::SETVAL;

fn c_ret(r: Result<c_int>) -> c_int {
    match r {
        Ok(v) => v,
        Err(e) => {
            set_errno(e);
            -1
        }
    }
}

/// Before the merge, only the kernel backend has shared memory and
/// semaphores: `call` runs under `RIPC_BACKEND=kernel`, else `ENOSYS`.
/// TODO(merge): delete with its last callers.
fn kernel_only(call: impl FnOnce() -> Result<c_int>) -> c_int {
    if ripc::sysv::is_kernel() {
        c_ret(call())
    } else {
        set_errno(Errno::ENOSYS);
        -1
    }
}

/// `msgget(2)`.
pub fn msgget(key: c_int, flags: c_int) -> c_int {
    ripc::ffi::sysv::ripc_msgget(key, flags)
}

/// `msgctl(2)`.
///
/// # Safety
/// `buf` must be NULL or point to a buffer large enough for `cmd`'s
/// structure (the callers pass a 256-byte buffer).
pub unsafe fn msgctl(id: c_int, cmd: c_int, buf: *mut c_void) -> c_int {
    // SAFETY: the caller's contract is ripc_msgctl's.
    unsafe { ripc::ffi::sysv::ripc_msgctl(id, cmd, buf) }
}

// Each body below is one line; after the merge it becomes the line in its
// TODO(merge) comment.

/// `shmget(2)`.
pub fn shmget(key: c_int, size: usize, flags: c_int) -> c_int {
    ripc::ffi::shm::ripc_shmget(key, size, flags)
}

/// `shmctl(2)`.
///
/// # Safety
/// As [`msgctl`].
pub unsafe fn shmctl(id: c_int, cmd: c_int, buf: *mut c_void) -> c_int {
    ripc::ffi::shm::ripc_shmctl(id, cmd, buf)
}

/// `semget(2)`.
pub fn semget(key: c_int, nsems: c_int, flags: c_int) -> c_int {
    // TODO(merge): ripc::ffi::sem::ripc_semget(key, nsems, flags)
    kernel_only(|| ripc::kernel::semget(key, nsems, flags))
}

/// The kernel's `union semun` word: `val` for `SETVAL`, else the pointer.
/// TODO(merge): delete.
fn semun(cmd: c_int, val: c_int, ptr: *mut c_void) -> usize {
    if cmd == SETVAL {
        val as usize
    } else {
        ptr as usize
    }
}

/// `semctl(2)` with its fourth argument already chosen: `val` for
/// `SETVAL`, `ptr` for the commands that take a buffer or an array.
///
/// # Safety
/// As [`msgctl`], for `ptr`.
pub unsafe fn semctl(id: c_int, num: c_int, cmd: c_int, val: c_int, ptr: *mut c_void) -> c_int {
    // TODO(merge): ripc::ffi::sem::ripc_semctl_arg(id, num, cmd, val, ptr)
    // SAFETY: the caller's contract; the kernel checks the pointer.
    kernel_only(|| unsafe { ripc::kernel::semctl(id, num, cmd, semun(cmd, val, ptr)) })
}
