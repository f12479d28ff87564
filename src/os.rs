//! Operating-system helpers that are not synchronisation: descriptors and
//! signal masks. The pipe and signal engines both use them, so neither
//! borrows from the other (no loop between rooms).

use crate::error::{cvt, Errno, Result};

/// Closes `fd` if it is a descriptor (not -1). Errors are ignored: the
/// descriptor is released whatever `close` reports (Linux semantics).
pub(crate) fn close_fd(fd: i32) {
    if fd >= 0 {
        // SAFETY: closing a descriptor the caller owns; no memory involved.
        unsafe { libc::close(fd) };
    }
}

/// Sets or clears `flag` in the descriptor's status flags.
pub(crate) fn set_fl(fd: i32, flag: i32, on: bool) -> Result<()> {
    // SAFETY: F_GETFL/F_SETFL take no pointer arguments.
    let fl = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    let new = if on { fl | flag } else { fl & !flag };
    if new != fl {
        // SAFETY: as above.
        cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, new) })?;
    }
    Ok(())
}

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
