//! `write(2)` without `SIGPIPE`: the `MSG_NOSIGNAL` of pipes.
//!
//! The kernel raises `SIGPIPE` on the writing thread (a thread-directed
//! signal) when a pipe has no reader left. To suppress it without touching
//! the process-wide disposition, the writes run with `SIGPIPE` blocked in
//! the calling thread; if one of them may have raised it (it failed with
//! `EPIPE`, or a blocked write had written part of its data when the last
//! reader left and returned the short count), the signal is consumed with
//! a zero-timeout `sigtimedwait`, and the mask is restored. `SIGPIPE` is a
//! standard signal, so however many writes raised it, one is pending: a
//! whole `write_all` loop runs inside one [`without_sigpipe`] and consumes
//! at most one. A `SIGPIPE` that was already pending before (the caller
//! had it blocked) is left pending.

use crate::error::{Errno, Result};

fn pending_sigpipe() -> bool {
    // SAFETY: sigpending fills a sigset_t we own; sigismember reads it.
    unsafe {
        let mut s: libc::sigset_t = core::mem::zeroed();
        libc::sigpending(&mut s) == 0 && libc::sigismember(&s, libc::SIGPIPE) == 1
    }
}

/// True when a `write(2)` of `len` bytes that returned `r` may have raised
/// `SIGPIPE`: `EPIPE`, or a short count (see the module doc).
pub(super) fn may_raise(r: &Result<usize>, len: usize) -> bool {
    match r {
        Ok(n) => *n < len,
        Err(e) => *e == Errno::EPIPE,
    }
}

/// Runs `f` with `SIGPIPE` blocked in the calling thread. `f` returns its
/// result and whether one of its writes may have raised `SIGPIPE`
/// ([`may_raise`]); if so, the pending `SIGPIPE` is consumed (unless it
/// was pending before `f`). The mask is then restored.
pub(super) fn without_sigpipe<T>(f: impl FnOnce() -> (Result<T>, bool)) -> Result<T> {
    let set = crate::os::sigset(&[libc::SIGPIPE])?;
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
    let (res, raised) = f();
    if raised && !already_pending {
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: live set and timespec; the siginfo pointer may be NULL.
        // The raw call: glibc's sigtimedwait is a cancellation point, and
        // a cancellation must not act here (crate::os::cancel).
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigtimedwait,
                &set as *const libc::sigset_t,
                core::ptr::null_mut::<libc::siginfo_t>(),
                &zero as *const libc::timespec,
                core::mem::size_of::<libc::c_ulong>(),
            )
        };
    }
    if !was_blocked {
        // SAFETY: restoring the mask saved above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, core::ptr::null_mut()) };
    }
    res
}
