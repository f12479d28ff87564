//! The pass-through backend: the kernel's System V IPC, by raw `syscall`.
//!
//! Raw system calls (not libc's `msgget` …) so that this library never
//! depends on the drop-in header's renaming, and a future link-level
//! drop-in exporting `msgget` itself could never call itself.
//! The kernel does all checking, `EFAULT` included: arguments go through
//! untouched (no `IPC_64` is added to `*ctl` commands: the 64-bit
//! system calls take the 64-bit structures natively, which is also why
//! glibc adds nothing there).

use crate::error::{cvt, Result};
use core::ffi::{c_int, c_long, c_void};

/// `msgget(2)`.
pub fn msgget(key: c_int, flags: c_int) -> Result<c_int> {
    // SAFETY: plain integers.
    cvt(unsafe { libc::syscall(libc::SYS_msgget, key, flags) }).map(|r| r as c_int)
}

/// `msgsnd(2)`.
///
/// # Safety
/// `msgp` is passed to the kernel, which checks it.
pub unsafe fn msgsnd(id: c_int, msgp: *const c_void, sz: usize, flags: c_int) -> Result<c_int> {
    // SAFETY: the kernel validates the user pointer.
    cvt(unsafe { libc::syscall(libc::SYS_msgsnd, id, msgp, sz, flags) }).map(|r| r as c_int)
}

/// `msgrcv(2)`.
///
/// # Safety
/// `msgp` is passed to the kernel, which checks it.
pub unsafe fn msgrcv(
    id: c_int,
    msgp: *mut c_void,
    sz: usize,
    typ: c_long,
    flags: c_int,
) -> Result<isize> {
    // SAFETY: the kernel validates the user pointer.
    cvt(unsafe { libc::syscall(libc::SYS_msgrcv, id, msgp, sz, typ, flags) }).map(|r| r as isize)
}

/// `msgctl(2)`.
///
/// # Safety
/// `buf` is passed to the kernel, which checks it.
pub unsafe fn msgctl(id: c_int, cmd: c_int, buf: *mut c_void) -> Result<c_int> {
    // SAFETY: the kernel validates the user pointer.
    cvt(unsafe { libc::syscall(libc::SYS_msgctl, id, cmd, buf) }).map(|r| r as c_int)
}

/// `shmget(2)`.
pub fn shmget(key: c_int, size: usize, flags: c_int) -> Result<c_int> {
    // SAFETY: plain integers.
    cvt(unsafe { libc::syscall(libc::SYS_shmget, key, size, flags) }).map(|r| r as c_int)
}

/// `shmat(2)`.
///
/// # Safety
/// Maps memory at `addr` when given: the caller's responsibility, as with
/// the real call.
pub unsafe fn shmat(id: c_int, addr: *const c_void, flags: c_int) -> Result<*mut c_void> {
    // SAFETY: the kernel validates the address.
    cvt(unsafe { libc::syscall(libc::SYS_shmat, id, addr, flags) }).map(|r| r as *mut c_void)
}

/// `shmdt(2)`.
///
/// # Safety
/// Unmaps the attachment at `addr`: the caller must not use it afterwards.
pub unsafe fn shmdt(addr: *const c_void) -> Result<c_int> {
    // SAFETY: the kernel validates the address.
    cvt(unsafe { libc::syscall(libc::SYS_shmdt, addr) }).map(|r| r as c_int)
}

/// `shmctl(2)`.
///
/// # Safety
/// `buf` is passed to the kernel, which checks it.
pub unsafe fn shmctl(id: c_int, cmd: c_int, buf: *mut c_void) -> Result<c_int> {
    // SAFETY: the kernel validates the user pointer.
    cvt(unsafe { libc::syscall(libc::SYS_shmctl, id, cmd, buf) }).map(|r| r as c_int)
}

/// `semget(2)`.
pub fn semget(key: c_int, nsems: c_int, flags: c_int) -> Result<c_int> {
    // SAFETY: plain integers.
    cvt(unsafe { libc::syscall(libc::SYS_semget, key, nsems, flags) }).map(|r| r as c_int)
}

/// `semtimedop(2)` (`semop` is `semtimedop` with no timeout).
///
/// # Safety
/// `sops` and `timeout` are passed to the kernel, which checks them.
pub unsafe fn semtimedop(
    id: c_int,
    sops: *mut c_void,
    nsops: usize,
    timeout: *const libc::timespec,
) -> Result<c_int> {
    // SAFETY: the kernel validates the user pointers.
    cvt(unsafe { libc::syscall(libc::SYS_semtimedop, id, sops, nsops, timeout) })
        .map(|r| r as c_int)
}

/// `semctl(2)` with its fourth argument already taken from the `va_list`
/// (a `union semun` is passed as one pointer-sized word).
///
/// # Safety
/// `arg` may be a pointer the kernel dereferences for the command.
pub unsafe fn semctl(id: c_int, num: c_int, cmd: c_int, arg: usize) -> Result<c_int> {
    // SAFETY: the kernel validates whatever `arg` points to.
    cvt(unsafe { libc::syscall(libc::SYS_semctl, id, num, cmd, arg) }).map(|r| r as c_int)
}
