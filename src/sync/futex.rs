//! Shared (cross-process) futex wait and wake.

use crate::error::{Errno, Result};
use core::sync::atomic::AtomicU32;
use core::time::Duration;

/// Sleeps while `*word == expected`, at most `timeout` (None: forever).
///
/// Returns `Ok(())` when woken (or the word already differed: `EAGAIN` is
/// folded into success, the caller re-checks its condition), `Err(EINTR)`
/// when a signal handler ran, `Err(ETIMEDOUT)` when the timeout passed.
/// Never retried on `EINTR`: the kernel's IPC calls are not restarted either.
///
/// A timeout is always passed to the kernel (a day when the caller has
/// none, reported as a spurious wake-up): an untimed `FUTEX_WAIT` is
/// restarted transparently after a handler installed with `SA_RESTART`,
/// a timed one returns `EINTR` whatever the handler's flags, which is what
/// `msgrcv`/`semop` do.
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> Result<()> {
    wait(word, expected, timeout, false)
}

/// [`futex_wait`] as a cancellation point (msgrcv and msgsnd, whose
/// kernel calls are ones): a `pthread_cancel` ends the sleep with
/// `ECANCELED` ([`crate::os::cancel`]).
pub fn futex_wait_cancellable(
    word: &AtomicU32,
    expected: u32,
    timeout: Option<Duration>,
) -> Result<()> {
    wait(word, expected, timeout, true)
}

fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>, cancel: bool) -> Result<()> {
    const FOREVER: Duration = Duration::from_secs(86400);
    let d = timeout.unwrap_or(FOREVER);
    let ts = crate::os::timespec(d);
    let tsp = &ts as *const libc::timespec;
    let r = if cancel {
        // SAFETY: as below.
        unsafe {
            crate::os::cancel::syscall(
                libc::SYS_futex,
                [
                    word.as_ptr() as libc::c_long,
                    libc::FUTEX_WAIT as libc::c_long,
                    expected as libc::c_long,
                    tsp as libc::c_long,
                    0,
                    0,
                ],
            )
        }
        .map(|_| ())
    } else {
        // SAFETY: `word` is a valid, aligned u32 for the duration of the
        // call; FUTEX_WAIT (shared) reads it and compares with
        // `expected`; `tsp` points to a live timespec (relative timeout).
        let r = unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAIT,
                expected,
                tsp,
                core::ptr::null::<u32>(),
                0u32,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(Errno::last())
        }
    };
    match r {
        Ok(()) | Err(Errno::EAGAIN) => Ok(()),
        Err(Errno::ETIMEDOUT) if timeout.is_none() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Wakes up to `n` processes sleeping on `word`; returns how many woke.
pub fn futex_wake(word: &AtomicU32, n: i32) -> usize {
    // SAFETY: FUTEX_WAKE (shared) only uses the address as a key; `word` is
    // valid and aligned.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            n,
            core::ptr::null::<libc::timespec>(),
            core::ptr::null::<u32>(),
            0u32,
        )
    };
    if r < 0 {
        0
    } else {
        r as usize
    }
}
