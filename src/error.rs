//! The one error type of every engine: a POSIX `errno` value.
//!
//! Engines return [`Result`]; the FFI layer turns an `Err(e)` into `-1` or
//! `NULL` with `errno = e`, exactly as the kernel's system calls do.

pub use nix::errno::Errno;

/// Result of every fallible engine operation.
pub type Result<T> = core::result::Result<T, Errno>;

/// Sets the calling thread's `errno`.
pub fn set_errno(e: Errno) {
    // SAFETY: __errno_location always returns a valid pointer to this
    // thread's errno.
    unsafe { *libc::__errno_location() = e as i32 };
}

/// Reads the calling thread's last OS error as an [`Errno`].
pub fn last_errno() -> Errno {
    Errno::last()
}

/// A system call's return value: negative means it failed, with the
/// reason in `errno`.
pub(crate) fn cvt<T: Copy + Default + PartialOrd>(r: T) -> Result<T> {
    if r < T::default() {
        Err(Errno::last())
    } else {
        Ok(r)
    }
}
