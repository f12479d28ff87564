//! The System V calls the tools are built on, with the C convention
//! (`-1` and `errno` on failure), exactly as util-linux calls the kernel.
//!
//! Every call goes through the crate's drop-in functions, so the tools
//! follow `RIPC_BACKEND` like any program built with `ripc_sysv.h`.

use core::ffi::{c_int, c_void};

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
    ripc::ffi::sem::ripc_semget(key, nsems, flags)
}

/// `semctl(2)` with its fourth argument already chosen: `val` for
/// `SETVAL`, `ptr` for the commands that take a buffer or an array.
///
/// # Safety
/// As [`msgctl`], for `ptr`.
pub unsafe fn semctl(id: c_int, num: c_int, cmd: c_int, val: c_int, ptr: *mut c_void) -> c_int {
    ripc::ffi::sem::ripc_semctl_arg(id, num, cmd, val, ptr)
}
