//! The native signal API: `ripc_signal_*`.
//!
//! Callbacks registered with `ripc_signal_handle` run on ripc's dispatcher
//! thread, not inside the signal handler: they may call any function
//! (malloc, printf, locks, ripc). See `docs/pipes-signals.md`.

use crate::error::{Errno, Result};
use crate::ffi_boundary;
use crate::signal::{self, SigInfo};
use core::ffi::{c_int, c_void};
use core::time::Duration;
use std::sync::Arc;

/// Flag for `ripc_signal_handle`: restart system calls the signal
/// interrupts (`SA_RESTART`). Without it, a blocking call in the thread
/// that took the signal fails with `EINTR`.
pub const RIPC_SIGNAL_RESTART: c_int = 1;
/// Flag for `ripc_signal_fd`: the descriptor is non-blocking.
pub const RIPC_SIGNAL_NONBLOCK: c_int = 2;

/// What a signal carried, as a callback, `ripc_signal_wait` or
/// `ripc_signal_fd_read` sees it.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy)]
pub struct ripc_siginfo {
    /// The signal number.
    pub signo: c_int,
    /// `si_code`: `SI_USER` (kill), `SI_QUEUE` (sigqueue, ripc_signal_send), ...
    pub code: c_int,
    /// The sender's pid for signals sent by a process (`kill`, `sigqueue`)
    /// and for `SIGCHLD` (the child); else 0.
    pub pid: libc::pid_t,
    /// The sender's real uid, in the same cases as `pid`; else 0.
    pub uid: libc::uid_t,
    /// The exit status or signal of the child, for `SIGCHLD`; else 0.
    pub status: c_int,
    /// The integer payload of `ripc_signal_send`/`sigqueue`; else 0.
    pub value: libc::intptr_t,
    /// reserved for later fields (zero-filled)
    pub reserved: [u64; 4],
}

impl From<SigInfo> for ripc_siginfo {
    fn from(i: SigInfo) -> Self {
        ripc_siginfo {
            signo: i.signo,
            code: i.code,
            pid: i.pid,
            uid: i.uid,
            status: i.status,
            value: i.value,
            reserved: [0; 4],
        }
    }
}

/// A signal callback: `info` is valid for the duration of the call;
/// `user` is the pointer given to `ripc_signal_handle`.
#[allow(non_camel_case_types)]
pub type ripc_signal_fn = Option<extern "C" fn(info: *const ripc_siginfo, user: *mut c_void)>;

/// The C caller's context pointer, passed back untouched.
struct UserPtr(*mut c_void);
// SAFETY: ripc never dereferences it; the caller of ripc_signal_handle
// accepts that the callback runs on another thread.
unsafe impl Send for UserPtr {}
// SAFETY: as above.
unsafe impl Sync for UserPtr {}

impl UserPtr {
    fn get(&self) -> *mut c_void {
        self.0
    }
}

fn sigset<'a>(set: *const libc::sigset_t) -> Result<&'a libc::sigset_t> {
    if set.is_null() {
        return Err(Errno::EFAULT);
    }
    crate::ffi::readable(set.cast(), core::mem::size_of::<libc::sigset_t>())?;
    // SAFETY: non-null, readable, and a sigset_t is plain data.
    Ok(unsafe { &*set })
}

fn put_info(out: *mut ripc_siginfo, i: SigInfo) -> Result<()> {
    if !out.is_null() {
        crate::ffi::put(out, i.into())?;
    }
    Ok(())
}

/// Registers `fn(info, user)` to run when `signo` arrives. The real
/// handler only records the signal (async-signal-safe); `fn` runs later on
/// ripc's dispatcher thread, one signal at a time in arrival order, and may
/// call anything. Queued real-time signals each get their own call, with
/// their `value`, in the order sent as long as one thread at a time takes
/// them (block the signal in all application threads but one for a strict
/// order in a multi-threaded program). `flags`: 0 or `RIPC_SIGNAL_RESTART`. Replaces any earlier
/// handler for `signo`. `EINVAL` for a bad number, `SIGKILL`, `SIGSTOP`,
/// a fault signal (`SIGSEGV`, `SIGBUS`, `SIGFPE`, `SIGILL`: a deferred
/// callback cannot handle those), a NULL `fn` or an unknown flag.
#[no_mangle]
pub extern "C" fn ripc_signal_handle(
    signo: c_int,
    cb: ripc_signal_fn,
    user: *mut c_void,
    flags: c_int,
) -> c_int {
    ffi_boundary!({
        let cb = cb.ok_or(Errno::EINVAL)?;
        if flags & !RIPC_SIGNAL_RESTART != 0 {
            return Err(Errno::EINVAL);
        }
        let user = UserPtr(user);
        let f = move |i: &SigInfo| {
            let info: ripc_siginfo = (*i).into();
            cb(&info, user.get());
        };
        signal::handle(signo, Arc::new(f), flags & RIPC_SIGNAL_RESTART != 0)?;
        Ok(0)
    })
}

/// Restores the default action for `signo` (and forgets its callback).
#[no_mangle]
pub extern "C" fn ripc_signal_default(signo: c_int) -> c_int {
    ffi_boundary!({
        signal::reset(signo, false)?;
        Ok(0)
    })
}

/// Ignores `signo` (and forgets its callback). `ripc_signal_ignore(SIGPIPE)`
/// makes every write to a reader-less pipe a plain `EPIPE`.
#[no_mangle]
pub extern "C" fn ripc_signal_ignore(signo: c_int) -> c_int {
    ffi_boundary!({
        signal::reset(signo, true)?;
        Ok(0)
    })
}

/// Sends `signo` with the integer payload `value` to process `pid`
/// (`sigqueue(3)`; the receiver sees `code == SI_QUEUE`; glibc's sigqueue
/// costs two more system calls than `kill`, see `ripc_signal_kill`). `signo == 0`
/// checks that `pid` exists. `EAGAIN` when the receiver's queue is full
/// (`RLIMIT_SIGPENDING`): retry later. `ESRCH`, `EPERM` as `kill(2)`.
#[no_mangle]
pub extern "C" fn ripc_signal_send(pid: libc::pid_t, signo: c_int, value: libc::intptr_t) -> c_int {
    ffi_boundary!({
        signal::send(pid, signo, value)?;
        Ok(0)
    })
}

/// Sends `signo` without payload (`kill(2)`; the receiver sees
/// `code == SI_USER`, `value == 0`). `pid` 0 or negative addresses a
/// process group, as for `kill`. One system call: use it when there is
/// nothing to carry.
#[no_mangle]
pub extern "C" fn ripc_signal_kill(pid: libc::pid_t, signo: c_int) -> c_int {
    ffi_boundary!({
        signal::kill(pid, signo)?;
        Ok(0)
    })
}

/// Waits for one of the signals in `set` and takes it (`sigtimedwait`).
/// The signals must be blocked in every thread (block them with
/// `ripc_signal_block` before creating threads), or a handler may take them
/// first. `timeout_ms < 0` waits forever. Returns the signal number and
/// fills `*info` when not NULL; -1 with `ETIMEDOUT` on timeout, `EINTR`
/// when another signal's handler ran.
#[no_mangle]
pub extern "C-unwind" fn ripc_signal_wait(
    set: *const libc::sigset_t,
    info: *mut ripc_siginfo,
    timeout_ms: c_int,
) -> c_int {
    ffi_boundary!(cancellation_point, {
        let set = sigset(set)?;
        let timeout = (timeout_ms >= 0).then(|| Duration::from_millis(timeout_ms as u64));
        let i = signal::wait(set, timeout)?;
        put_info(info, i)?;
        Ok(i.signo)
    })
}

/// Blocks the signals in `set` in the calling thread (threads created
/// afterwards inherit the mask). Blocked signals stay pending for
/// `ripc_signal_wait` / `ripc_signal_fd`.
#[no_mangle]
pub extern "C" fn ripc_signal_block(set: *const libc::sigset_t) -> c_int {
    ffi_boundary!({
        signal::block(sigset(set)?)?;
        Ok(0)
    })
}

/// Unblocks the signals in `set` in the calling thread: pending ones are
/// delivered at once.
#[no_mangle]
pub extern "C" fn ripc_signal_unblock(set: *const libc::sigset_t) -> c_int {
    ffi_boundary!({
        signal::unblock(sigset(set)?)?;
        Ok(0)
    })
}

/// Blocks `set` in the calling thread and returns a descriptor that is
/// readable while one of them is pending (`signalfd(2)`), for poll/epoll
/// loops; close-on-exec, non-blocking with `RIPC_SIGNAL_NONBLOCK`. Read it
/// with `ripc_signal_fd_read`; close it with `close(2)`.
#[no_mangle]
pub extern "C" fn ripc_signal_fd(set: *const libc::sigset_t, flags: c_int) -> c_int {
    ffi_boundary!({
        if flags & !RIPC_SIGNAL_NONBLOCK != 0 {
            return Err(Errno::EINVAL);
        }
        signal::signal_fd(sigset(set)?, flags & RIPC_SIGNAL_NONBLOCK != 0)
    })
}

/// Takes one signal from a `ripc_signal_fd` descriptor: returns its number
/// and fills `*info` when not NULL; -1 with `EAGAIN` when none is pending
/// on a non-blocking descriptor.
#[no_mangle]
pub extern "C-unwind" fn ripc_signal_fd_read(fd: c_int, info: *mut ripc_siginfo) -> c_int {
    ffi_boundary!(cancellation_point, {
        let i = signal::signal_fd_read(fd)?;
        put_info(info, i)?;
        Ok(i.signo)
    })
}

/// How many signals the dispatcher could not record because its pipe was
/// full (should stay 0; a growing count means callbacks are too slow for
/// the signal rate).
#[no_mangle]
pub extern "C" fn ripc_signal_dropped() -> i64 {
    ffi_boundary!({ Ok(signal::dropped().min(i64::MAX as u64) as i64) })
}
