//! Names built on the stack ([`StackName`]): the namespace's file names
//! and the `/proc` paths ripc reads, without an allocation — in a fork
//! child's first call, or in a signal handler that interrupted `malloc`.

use crate::error::{Errno, Result};
use core::ffi::CStr;

/// A file name built on the stack, NUL-terminated: no allocation and no
/// `core::fmt` (a create and a removal build four names of the namespace,
/// which with `format!` and `CString` were a third of the shared-memory
/// cycle's instructions in user mode, docs/shm.md). The names are short
/// and bounded (`N` is chosen for the longest, see the callers); a push
/// past the end is refused, never a panic, and makes the name unusable
/// ([`StackName::as_cstr`] then gives `EINVAL`).
pub(crate) struct StackName<const N: usize> {
    b: [u8; N],
    n: usize,
    over: bool,
}

impl<const N: usize> StackName<N> {
    #[inline(always)]
    pub(crate) fn new() -> Self {
        StackName {
            b: [0; N],
            n: 0,
            over: false,
        }
    }

    /// Appends `s` (room for the NUL kept).
    #[inline(always)]
    pub(crate) fn push(mut self, s: &[u8]) -> Self {
        if self.n + s.len() < N {
            self.b[self.n..self.n + s.len()].copy_from_slice(s);
            self.n += s.len();
        } else {
            self.over = true;
        }
        self
    }

    /// Appends `v` in decimal, byte by byte (a copy of a slice of
    /// variable length would be a call of libc's `memcpy`: one more code
    /// window for a fork child to fault on, see `link/child-path.ld`).
    #[inline(always)]
    pub(crate) fn num(mut self, v: u64) -> Self {
        let mut len = 1;
        let mut t = v / 10;
        while t != 0 {
            len += 1;
            t /= 10;
        }
        if self.n + len >= N {
            self.over = true;
            return self;
        }
        let (mut v, mut i) = (v, self.n + len);
        while i > self.n {
            i -= 1;
            self.b[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        self.n += len;
        self
    }

    /// The name with its NUL, `EINVAL` when it did not fit.
    #[inline(always)]
    pub(crate) fn as_cstr(&self) -> Result<&CStr> {
        if self.over {
            return Err(Errno::EINVAL);
        }
        CStr::from_bytes_until_nul(&self.b).map_err(|_| Errno::EINVAL)
    }

    /// The name's first byte, for a system call that takes a C string
    /// (NUL-terminated whenever [`StackName::as_cstr`] is `Ok`).
    #[inline(always)]
    pub(crate) fn as_ptr(&self) -> *const libc::c_char {
        self.b.as_ptr().cast()
    }

    /// The name as text (tests; ASCII by construction of every caller).
    #[cfg(test)]
    pub(crate) fn as_str(&self) -> &str {
        core::str::from_utf8(&self.b[..self.n]).unwrap_or("")
    }

    /// The whole buffer (tests).
    #[cfg(test)]
    pub(crate) fn raw(&self) -> &[u8; N] {
        &self.b
    }
}
