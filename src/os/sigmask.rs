//! Signal masks and sets.

use crate::error::{Errno, Result};

/// Runs `f` with every signal blocked in the calling thread, so a thread
/// spawned inside inherits a full mask (it must never take a signal meant
/// for the application's threads).
pub(crate) fn with_signals_blocked<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: plain-data sigsets filled by sigfillset / pthread_sigmask.
    let mut all: libc::sigset_t = unsafe { core::mem::zeroed() };
    // SAFETY: as above.
    let mut old: libc::sigset_t = unsafe { core::mem::zeroed() };
    // SAFETY: live sigsets.
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    let r = f();
    // SAFETY: restores the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, core::ptr::null_mut()) };
    r
}

/// A set holding exactly `signos` (`EINVAL` for a number the system does
/// not know).
pub(crate) fn sigset(signos: &[i32]) -> Result<libc::sigset_t> {
    // SAFETY: plain data initialised by sigemptyset.
    let mut s: libc::sigset_t = unsafe { core::mem::zeroed() };
    // SAFETY: live set.
    unsafe { libc::sigemptyset(&mut s) };
    for &n in signos {
        // SAFETY: live set; sigaddset checks the number itself.
        if unsafe { libc::sigaddset(&mut s, n) } != 0 {
            return Err(Errno::EINVAL);
        }
    }
    Ok(s)
}
