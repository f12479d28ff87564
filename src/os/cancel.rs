//! Cancellation points (`pthread_cancel`): the blocking system calls of
//! the calls glibc makes cancellation points, and what the outermost C
//! entry point does once one of them met a cancellation.
//!
//! glibc acts on a cancellation by unwinding the thread, which must not
//! cross a Rust frame that has anything to drop (and may not cross a
//! plain `extern "C"` one at all: the process aborts). So:
//! - a blocking system call of a cancellation point goes through
//!   [`syscall`] (the C shim `src/ffi/cancel.c`): a cancellation that
//!   acts inside it (pending at entry, or arriving while it blocks) is
//!   stopped there, and the call fails with `ECANCELED`; [`caught`] is
//!   true from then on, and every later [`syscall`] of the thread fails
//!   with `ECANCELED` at once (no loop that retries `EINTR` spins on it);
//! - the engine undoes what it did (its sleeper mark) as for any error,
//!   and returns it; `ECANCELED` never reaches the caller:
//! - the C entry point (`extern "C-unwind"`, with nothing left to drop)
//!   calls [`act`], which ends the thread as the cancellation would have
//!   (`pthread_exit(PTHREAD_CANCELED)`: the caller's cleanup handlers run,
//!   `pthread_join` returns `PTHREAD_CANCELED`).
//!
//! Calls that glibc does not make cancellation points (`semop`, the shm
//! calls) wait with raw system calls (`libc::syscall`), where a
//! cancellation never acts: glibc sends no `SIGCANCEL` to a thread in
//! deferred mode, and a raw call is no cancellation point.

use crate::error::{Errno, Result};
use core::ffi::{c_int, c_long, c_void};

extern "C" {
    fn ripc_cancel_syscall(
        nr: c_long,
        a: c_long,
        b: c_long,
        c: c_long,
        d: c_long,
        e: c_long,
        f: c_long,
    ) -> c_long;
    fn ripc_cancel_caught() -> c_int;
}

extern "C-unwind" {
    fn pthread_testcancel();
    fn pthread_exit(value: *mut c_void) -> !;
}

/// `syscall(nr, args…)` as a cancellation point: the result, or the
/// errno; `ECANCELED` when a cancellation acted (then [`caught`]).
///
/// # Safety
/// As `libc::syscall` with these arguments.
#[inline]
pub unsafe fn syscall(nr: c_long, args: [c_long; 6]) -> Result<c_long> {
    let [a, b, c, d, e, f] = args;
    // SAFETY: the caller's promise; the shim never unwinds.
    let r = unsafe { ripc_cancel_syscall(nr, a, b, c, d, e, f) };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r)
    }
}

/// A cancellation acted inside one of this thread's [`syscall`]s.
#[inline]
pub fn caught() -> bool {
    // SAFETY: reads a thread-local int.
    unsafe { ripc_cancel_caught() != 0 }
}

/// Acts on a cancellation [`caught`] by this thread: ends it as glibc's
/// cancellation does (the cleanup handlers run, the thread's result is
/// `PTHREAD_CANCELED`). Returns when there was none.
///
/// # Safety
/// Called only from an `extern "C-unwind"` entry point, with nothing of
/// its frame left to drop (glibc's forced unwind then crosses that frame
/// only).
#[inline]
pub unsafe fn act() {
    if caught() {
        // SAFETY: the caller's promise; PTHREAD_CANCELED is (void *)-1.
        unsafe { pthread_exit(usize::MAX as *mut c_void) }
    }
}

/// A cancellation point at entry (`pthread_testcancel`): for the calls
/// that are cancellation points but may not block (a message there).
///
/// # Safety
/// As [`act`].
#[inline]
pub unsafe fn test() {
    // SAFETY: the caller's promise.
    unsafe { pthread_testcancel() }
}

/// Sleeps `d` as a cancellation point (`nanosleep`); `Err(EINTR)` when a
/// signal handler ran, `Err(ECANCELED)` when a cancellation acted.
pub fn sleep(d: core::time::Duration) -> Result<()> {
    let ts = libc::timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as c_long,
    };
    // SAFETY: a live timespec; no remainder wanted.
    unsafe {
        syscall(
            libc::SYS_nanosleep,
            [&ts as *const libc::timespec as c_long, 0, 0, 0, 0, 0],
        )
    }
    .map(|_| ())
}
