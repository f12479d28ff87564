//! Checking a C caller's buffer before touching it, so a bad pointer gives
//! `EFAULT` as the kernel's calls do, instead of `SIGSEGV` in the library.
//!
//! Obviously invalid ranges (NULL page, above the user address space,
//! wrapping) fail without a system call. Others are probed once with
//! `process_vm_readv` on ourselves (one byte per page; for a buffer we will
//! write, each byte is copied onto itself, which checks write access and
//! changes nothing) and remembered per thread, so a program that reuses its
//! buffers pays the system call once. A buffer unmapped after it was probed
//! is not noticed until it falls out of the small per-thread cache.

use crate::error::{Errno, Result};
use std::cell::RefCell;

const PAGE: usize = 4096;
const LOW: usize = 0x10000; // vm.mmap_min_addr
const HIGH: usize = 0x7fff_ffff_f000; // top of the x86-64/arm64 user range
const CACHE: usize = 8;

thread_local! {
    static SEEN: RefCell<[(usize, usize, bool); CACHE]> = const { RefCell::new([(0, 0, false); CACHE]) };
    static NEXT: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

/// `EFAULT` unless `len` bytes at `addr` can be read.
pub fn readable(addr: usize, len: usize) -> Result<()> {
    check(addr, len, false)
}

/// `EFAULT` unless `len` bytes at `addr` can be written.
pub fn writable(addr: usize, len: usize) -> Result<()> {
    check(addr, len, true)
}

fn check(addr: usize, len: usize, write: bool) -> Result<()> {
    if len == 0 {
        return Ok(());
    }
    let end = addr.checked_add(len).ok_or(Errno::EFAULT)?;
    if addr < LOW || end > HIGH {
        return Err(Errno::EFAULT);
    }
    let hit = SEEN.with(|s| {
        s.borrow()
            .iter()
            .any(|&(a, e, w)| a <= addr && end <= e && (w || !write))
    });
    if hit {
        return Ok(());
    }
    probe(addr, end, write)?;
    SEEN.with(|s| {
        let i = NEXT.with(|n| {
            let i = n.get();
            n.set((i + 1) % CACHE);
            i
        });
        s.borrow_mut()[i] = (addr, end, write);
    });
    Ok(())
}

fn probe(addr: usize, end: usize, write: bool) -> Result<()> {
    let mut p = addr;
    let mut scratch = [0u8; 64];
    while p < end {
        let mut remote: [libc::iovec; 64] = [libc::iovec {
            iov_base: core::ptr::null_mut(),
            iov_len: 0,
        }; 64];
        let mut n = 0;
        while n < 64 && p < end {
            remote[n] = libc::iovec {
                iov_base: p as *mut libc::c_void,
                iov_len: 1,
            };
            n += 1;
            let next_page = (p & !(PAGE - 1)) + PAGE;
            p = if next_page >= end && p != end - 1 {
                end - 1
            } else {
                next_page
            };
        }
        let local: Vec<libc::iovec> = if write {
            remote[..n].to_vec()
        } else {
            vec![libc::iovec {
                iov_base: scratch.as_mut_ptr().cast(),
                iov_len: n,
            }]
        };
        // SAFETY: process_vm_readv on our own pid copies between iovecs
        // checked by the kernel; a bad address yields EFAULT, never a fault
        // in this process. In write mode each byte is copied onto itself.
        let r = unsafe {
            libc::process_vm_readv(
                libc::getpid(),
                local.as_ptr(),
                local.len() as libc::c_ulong,
                remote.as_ptr(),
                n as libc::c_ulong,
                0,
            )
        };
        if r < 0 {
            return match Errno::last() {
                // Not allowed to probe here (seccomp, old kernel): trust it.
                Errno::ENOSYS | Errno::EPERM => Ok(()),
                _ => Err(Errno::EFAULT),
            };
        }
        if (r as usize) < n {
            return Err(Errno::EFAULT);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn probes() {
        let mut v = vec![7u8; 10000];
        assert!(readable(v.as_ptr() as usize, v.len()).is_ok());
        assert!(writable(v.as_mut_ptr() as usize, v.len()).is_ok());
        assert_eq!(v[9999], 7);
        assert_eq!(readable(0, 1), Err(Errno::EFAULT));
        assert_eq!(readable(usize::MAX - 3, 8), Err(Errno::EFAULT));
        let s: &'static str = "read only";
        assert_eq!(writable(s.as_ptr() as usize, s.len()), Err(Errno::EFAULT));
        assert!(readable(s.as_ptr() as usize, s.len()).is_ok());
    }
}
