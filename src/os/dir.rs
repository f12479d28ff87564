//! Directory listings without the C library's `opendir`, which allocates
//! its stream with `malloc` (32 KiB): the namespace's walks (a listing
//! of its numbered names, a heal, the sweep of a killed creator's
//! temporary files) and the look at a process's threads in `/proc` may
//! run in a signal handler that interrupted `malloc` (the library's own
//! allocations are async-signal-safe: `super::alloc`). `getdents64` into a
//! buffer on the stack instead.

use crate::error::{Errno, Result};
use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// The entry's fixed part: `d_ino` (8), `d_off` (8), `d_reclen` (2),
/// `d_type` (1); the name follows, NUL-terminated.
const NAME_AT: usize = 19;

/// Calls `each` with every name in the directory open at `dir` (`.` and
/// `..` included), from `dir`'s offset on (which moves: give it a
/// descriptor of its own). `Err` when the kernel refuses a read; names
/// given before an error stay given.
pub(crate) fn for_each_name(dir: BorrowedFd<'_>, mut each: impl FnMut(&CStr)) -> Result<()> {
    // 8-byte aligned, as the kernel lays its records out (each record's
    // length is a multiple of 8).
    let mut buf = [0u64; 512];
    loop {
        // SAFETY: getdents64 writes at most the buffer's length into it
        // (`raw_syscall`: no errno written, no cancellation point).
        let n = unsafe {
            super::raw_syscall(
                libc::SYS_getdents64,
                [
                    dir.as_raw_fd() as libc::c_long,
                    buf.as_mut_ptr() as libc::c_long,
                    core::mem::size_of_val(&buf) as libc::c_long,
                    0,
                    0,
                    0,
                ],
            )
        };
        if n < 0 {
            match Errno::from_raw(-n as i32) {
                Errno::EINTR => continue,
                e => return Err(e),
            }
        }
        if n == 0 {
            return Ok(());
        }
        // SAFETY: the first `n` bytes of the buffer, written by the kernel
        // (n ≤ the buffer's length).
        let bytes = unsafe { core::slice::from_raw_parts(buf.as_ptr() as *const u8, n as usize) };
        let mut at = 0;
        while at + NAME_AT < bytes.len() {
            let reclen = u16::from_ne_bytes([bytes[at + 16], bytes[at + 17]]) as usize;
            if reclen <= NAME_AT || at + reclen > bytes.len() {
                return Err(Errno::EIO);
            }
            match CStr::from_bytes_until_nul(&bytes[at + NAME_AT..at + reclen]) {
                Ok(name) => each(name),
                Err(_) => return Err(Errno::EIO),
            }
            at += reclen;
        }
    }
}

/// The names in directory `path` (`.` and `..` left out), opened for this
/// walk; `None` when it cannot be opened or read.
pub(crate) fn names_at(path: &CStr) -> Option<Vec<String>> {
    // SAFETY: opens a directory by a NUL-terminated path.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: the descriptor just opened, ours alone.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut out = Vec::new();
    let r = for_each_name(fd.as_fd(), |n| {
        let b = n.to_bytes();
        if b != b"." && b != b".." {
            if let Ok(s) = n.to_str() {
                out.push(s.to_owned());
            }
        }
    });
    r.ok().map(|_| out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_of_a_large_directory_once() {
        let dir = std::env::temp_dir().join(format!("ripc-dirwalk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Names long and short, enough to take several reads of the
        // buffer (4 KiB: ~100 records of this length).
        let mut want: Vec<String> = (0..700)
            .map(|i| format!("n{i}{}", "x".repeat(i % 90)))
            .collect();
        for n in &want {
            std::fs::write(dir.join(n), b"").unwrap();
        }
        let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
        let mut got = names_at(&c).unwrap();
        got.sort();
        want.sort();
        assert_eq!(got, want);
        let f = std::fs::File::open(&dir).unwrap();
        let mut all = 0;
        for_each_name(f.as_fd(), |_| all += 1).unwrap();
        assert_eq!(all, want.len() + 2, ". and .. given too");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(names_at(&c).is_none(), "a missing directory");
    }
}
