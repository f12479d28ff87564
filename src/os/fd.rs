//! File descriptors: closing, status flags.

use crate::error::{cvt, Result};

/// Closes `fd` if it is a descriptor (not -1). Errors are ignored: the
/// descriptor is released whatever `close` reports (Linux semantics).
/// The raw system call: glibc's `close` is a cancellation point, which
/// must not act inside ripc ([`super::cancel`]; `ripc_pipe_close` is a
/// cancellation point at its entry instead).
pub(crate) fn close_fd(fd: i32) {
    if fd >= 0 {
        // SAFETY: closing a descriptor the caller owns; no memory involved.
        unsafe { libc::syscall(libc::SYS_close, fd) };
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
