//! Connecting a child process to one end of a pipe, as a shell's `|` does.

use super::{End, Pipe};
use crate::error::{Errno, Result};
use crate::os::close_fd;
use core::ffi::{c_char, CStr};

extern "C" {
    static environ: *const *mut c_char;
}

/// The descriptor of `end`, moved off `child_fd` if it happens to be that
/// number (a `dup2` onto itself would keep close-on-exec set). The second
/// value is a temporary descriptor to close afterwards, or -1.
fn source_fd(p: &Pipe, end: End, child_fd: i32) -> Result<(i32, i32)> {
    let fd = p.fd(end)?;
    if fd != child_fd {
        return Ok((fd, -1));
    }
    // SAFETY: F_DUPFD_CLOEXEC takes an int argument, no pointer.
    let d = crate::error::cvt(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) })?;
    Ok((d, d))
}

pub(super) fn fork_connected(p: &Pipe, end: End, child_fd: i32) -> Result<i32> {
    let other = match end {
        End::Read => End::Write,
        End::Write => End::Read,
    };
    let (src, tmp) = if child_fd >= 0 {
        source_fd(p, end, child_fd)?
    } else {
        (p.fd(end)?, -1)
    };
    // SAFETY: fork has no memory-safety preconditions; the child below
    // only calls async-signal-safe functions (dup2, close) before
    // returning to the caller, who owns what happens next.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        close_fd(tmp);
        return Err(Errno::last());
    }
    if pid == 0 {
        if child_fd >= 0 {
            // SAFETY: plain descriptor calls.
            if unsafe { libc::dup2(src, child_fd) } < 0 {
                // SAFETY: _exit is always safe to call.
                unsafe { libc::_exit(127) };
            }
            close_fd(tmp);
            if p.fd(end) != Ok(child_fd) {
                let _ = p.close(end);
            }
            let _ = p.close(other);
        } else {
            let _ = p.close(other);
        }
        return Ok(0);
    }
    close_fd(tmp);
    let _ = p.close(end);
    Ok(pid)
}

pub(super) fn spawn_connected(p: &Pipe, end: End, child_fd: i32, argv: &[&CStr]) -> Result<i32> {
    if argv.is_empty() || child_fd < 0 {
        return Err(Errno::EINVAL);
    }
    let mut args: Vec<*mut c_char> = argv.iter().map(|s| s.as_ptr() as *mut c_char).collect();
    args.push(core::ptr::null_mut());
    let (src, tmp) = source_fd(p, end, child_fd)?;
    // SAFETY: posix_spawn_file_actions_t is initialised by _init before
    // use and destroyed on every path; argv is NUL-terminated and its
    // strings outlive the call; environ is the process environment.
    let r = unsafe {
        let mut fa: libc::posix_spawn_file_actions_t = core::mem::zeroed();
        let mut r = libc::posix_spawn_file_actions_init(&mut fa);
        if r == 0 {
            r = libc::posix_spawn_file_actions_adddup2(&mut fa, src, child_fd);
            // Like a shell, the child keeps only `child_fd` of this pipe
            // (this matters when the pipe was made inheritable).
            for fd in [p.fd(End::Read), p.fd(End::Write)].into_iter().flatten() {
                if r == 0 && fd != child_fd {
                    r = libc::posix_spawn_file_actions_addclose(&mut fa, fd);
                }
            }
            let mut pid: libc::pid_t = 0;
            if r == 0 {
                r = libc::posix_spawnp(
                    &mut pid,
                    args[0],
                    &fa,
                    core::ptr::null(),
                    args.as_ptr(),
                    environ,
                );
            }
            libc::posix_spawn_file_actions_destroy(&mut fa);
            if r == 0 {
                Ok(pid)
            } else {
                Err(Errno::from_raw(r))
            }
        } else {
            Err(Errno::from_raw(r))
        }
    };
    close_fd(tmp);
    let pid = r?;
    let _ = p.close(end);
    Ok(pid)
}
