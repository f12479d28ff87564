//! Cancellation points (`pthread_cancel`): the blocking system calls of
//! the calls glibc makes cancellation points, and what the outermost C
//! entry point does once one of them met a cancellation.
//!
//! glibc acts on a cancellation by unwinding the thread, which must not
//! cross a Rust frame that has anything to drop (and may not cross a
//! plain `extern "C"` one at all: the process aborts). So:
//! - a blocking system call of a cancellation point goes through
//!   [`syscall`] (in a process with several threads, the C shim
//!   `src/ffi/cancel.c`): a cancellation that acts inside it (pending at
//!   entry, or arriving while it blocks) is stopped there, and the call
//!   fails with `ECANCELED`; [`caught`] is true from then on, and every
//!   later [`syscall`] of the thread fails with `ECANCELED` at once (no
//!   loop that retries `EINTR` spins on it);
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
//!
//! Nor may a cancellation act at one of glibc's cancellation points that
//! ripc calls for its own work (an object file's `openat`, a `pread`, a
//! `/proc` read, a back-off `nanosleep`): the unwind would cross Rust
//! frames. So the entry points that are no cancellation points run with
//! cancellation disabled ([`NoCancel`], in `ffi_boundary!`), except the
//! lock-free `semop` family, whose slow paths take [`NoCancel`]
//! themselves (the fast path calls nothing of glibc's: no locked
//! instruction added to it).

use crate::error::{Errno, Result};
use core::ffi::{c_int, c_long, c_void};

extern "C" {
    /// The system call through the shim (several threads): the result,
    /// or minus the error number. Cold: [`syscall`] then inlines to a
    /// load, a test and the system call, the shim's call out of the way.
    #[cold]
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

/// `PTHREAD_CANCEL_DISABLE` (glibc's pthread.h; the libc crate has none).
const PTHREAD_CANCEL_DISABLE: c_int = 1;

extern "C" {
    // With PTHREAD_CANCEL_DISABLE it never acts; restoring ENABLE acts
    // only in asynchronous mode, in which a caller may call no ripc
    // function (POSIX: async-cancel-safe functions only).
    fn pthread_setcancelstate(state: c_int, old: *mut c_int) -> c_int;
    static __libc_single_threaded: core::ffi::c_char;
}

extern "C-unwind" {
    fn pthread_testcancel();
    fn pthread_exit(value: *mut c_void) -> !;
}

/// `syscall(nr, args…)` as a cancellation point: the result, or the
/// errno; `ECANCELED` when a cancellation acted (then [`caught`]).
///
/// In a process with one thread (glibc's `__libc_single_threaded`) this
/// is the plain system call, inline ([`super::raw_syscall`]): no other
/// thread can cancel this one while it waits, and a cancellation this
/// thread asked for itself (`pthread_cancel(pthread_self())`, which
/// leaves `__libc_single_threaded` set: glibc 2.36 marks the thread in
/// its own flag only) was acted on by the entry point's
/// `pthread_testcancel` ([`fn@test`]), where glibc's `read` acts on it too
/// (`c_tests/t_cancel`, "pipe_edges"). [`caught`] is never true then
/// (only the shim sets it). Otherwise the C shim makes the call
/// (`ripc_cancel_syscall`).
///
/// # Safety
/// As `libc::syscall` with these arguments.
#[inline(always)]
pub unsafe fn syscall(nr: c_long, args: [c_long; 6]) -> Result<c_long> {
    let r = if single_threaded() {
        // SAFETY: the caller's promise.
        unsafe { super::raw_syscall(nr, args) }
    } else {
        let [a, b, c, d, e, f] = args;
        // SAFETY: the caller's promise; the shim never unwinds.
        unsafe { ripc_cancel_syscall(nr, a, b, c, d, e, f) }
    };
    // -4095..=-1 is an error number (the kernel's convention).
    if (r as u64) > (-4096i64) as u64 {
        Err(Errno::from_raw(-r as i32))
    } else {
        Ok(r)
    }
}

/// glibc's `__libc_single_threaded` (2.32 and later): true while the
/// process has one thread (false from the first `pthread_create` on).
#[inline(always)]
fn single_threaded() -> bool {
    // SAFETY: a byte glibc keeps, read only (a plain load, as glibc
    // documents it).
    unsafe { core::ptr::read_volatile(&raw const __libc_single_threaded) != 0 }
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
    let ts = super::timespec(d);
    // SAFETY: a live timespec; no remainder wanted.
    unsafe {
        syscall(
            libc::SYS_nanosleep,
            [&ts as *const libc::timespec as c_long, 0, 0, 0, 0, 0],
        )
    }
    .map(|_| ())
}

/// Cancellation disabled (`pthread_setcancelstate`) while it lives: what
/// ripc does for itself never acts on a cancellation. Restores the
/// caller's state when dropped (nested guards restore "disabled").
#[derive(Debug)]
pub struct NoCancel(c_int);

impl NoCancel {
    /// Disables cancellation in this thread until dropped. Nothing to do
    /// in a single-threaded process (no other thread to cancel this one;
    /// glibc's own wrappers skip their switch then too).
    #[inline]
    pub fn new() -> NoCancel {
        if single_threaded() {
            return NoCancel(-1);
        }
        let mut old: c_int = 0;
        // SAFETY: a valid state and out pointer; never acts (see above).
        unsafe { pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &mut old) };
        NoCancel(old)
    }
}

impl Default for NoCancel {
    fn default() -> Self {
        NoCancel::new()
    }
}

impl Drop for NoCancel {
    #[inline]
    fn drop(&mut self) {
        if self.0 >= 0 {
            // SAFETY: restores the state saved by `new`; no out pointer.
            unsafe { pthread_setcancelstate(self.0, core::ptr::null_mut()) };
        }
    }
}

/// Sleeps `d` with a raw `nanosleep`, which is no cancellation point: for
/// ripc's own back-offs inside calls that do not run under [`NoCancel`]
/// (msgsnd and msgrcv). Returns early on a signal.
pub fn nap(d: core::time::Duration) {
    let ts = super::timespec(d);
    // SAFETY: a live timespec; no remainder wanted.
    unsafe { libc::syscall(libc::SYS_nanosleep, &ts as *const libc::timespec, 0usize) };
}
