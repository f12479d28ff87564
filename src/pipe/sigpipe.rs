//! `write(2)` without `SIGPIPE`: the `MSG_NOSIGNAL` of pipes.
//!
//! The kernel raises `SIGPIPE` on the writing thread (a thread-directed
//! signal) when a pipe has no reader left. To suppress it without touching
//! the process-wide disposition, the write runs with `SIGPIPE` blocked in
//! the calling thread; on `EPIPE` the signal the write raised is consumed
//! with a zero-timeout `sigtimedwait`, and the mask is restored. (A
//! blocked write that had written part of its data when the last reader
//! left returns the short count and raises `SIGPIPE` too: consumed as well.) A `SIGPIPE`
//! that was already pending before the write (the caller had it blocked) is
//! left pending.

use crate::error::{Errno, Result};

fn sigpipe_set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it fully and
    // sigaddset with a valid signal number cannot fail.
    unsafe {
        let mut s: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut s);
        libc::sigaddset(&mut s, libc::SIGPIPE);
        s
    }
}

fn pending_sigpipe() -> bool {
    // SAFETY: sigpending fills a sigset_t we own; sigismember reads it.
    unsafe {
        let mut s: libc::sigset_t = core::mem::zeroed();
        libc::sigpending(&mut s) == 0 && libc::sigismember(&s, libc::SIGPIPE) == 1
    }
}

/// One `write(2)` on `fd` that reports `EPIPE` without raising `SIGPIPE`.
pub(super) fn write_nosigpipe(fd: i32, buf: &[u8]) -> Result<usize> {
    let set = sigpipe_set();
    // SAFETY: sigset_t is plain data, filled by pthread_sigmask below.
    let mut old: libc::sigset_t = unsafe { core::mem::zeroed() };
    // SAFETY: both sets are live sigset_t values.
    let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) };
    if r != 0 {
        return Err(Errno::from_raw(r));
    }
    // SAFETY: `old` was initialised by pthread_sigmask.
    let was_blocked = unsafe { libc::sigismember(&old, libc::SIGPIPE) } == 1;
    let already_pending = was_blocked && pending_sigpipe();
    // SAFETY: `buf` is a valid readable slice of `buf.len()` bytes.
    let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    let res = if n < 0 {
        Err(Errno::last())
    } else {
        Ok(n as usize)
    };
    // The kernel raises SIGPIPE with EPIPE, and also when a blocked write
    // had written part of its data before the last reader left (it then
    // returns the short count): consume it in both cases.
    let short = matches!(res, Ok(n) if n < buf.len());
    if (res == Err(Errno::EPIPE) || short) && !already_pending {
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: live set and timespec; the siginfo pointer may be NULL.
        unsafe { libc::sigtimedwait(&set, core::ptr::null_mut(), &zero) };
    }
    if !was_blocked {
        // SAFETY: restoring the mask saved above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, core::ptr::null_mut()) };
    }
    res
}
