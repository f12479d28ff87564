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
use core::cell::Cell;

const PAGE: usize = 4096;
const LOW: usize = 0x10000; // vm.mmap_min_addr
/// Above the highest user address any configuration of the architecture
/// can hand out: a range beyond it fails without a system call. (Not the
/// common 47-bit top: 5-level paging on x86-64 and 52-bit address spaces on
/// arm64 map user memory higher; the probe decides below this.)
#[cfg(target_arch = "x86_64")]
const HIGH: usize = 0x00ff_ffff_ffff_f000;
#[cfg(target_arch = "aarch64")]
const HIGH: usize = 1 << 52;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const HIGH: usize = usize::MAX;
const CACHE: usize = 8;

/// A per-thread cache of probed ranges, `(start, end, writable)`, and where
/// the next one goes: plain cells (no borrow flag). This module keeps one
/// per thread; a module that already has a thread-local of its own on a hot
/// path can embed another (see `sem::with_set_after`,
/// `msg::with_queue_probed`), to save a second TLS look-up
/// (`__tls_get_addr` in the shared library). Same rule for all: a range
/// stays trusted until 8 newer ranges push it out.
#[derive(Debug)]
pub struct Seen {
    ranges: [Cell<(usize, usize, bool)>; CACHE],
    next: Cell<usize>,
    /// the entry that answered last (looked at first)
    hit: Cell<usize>,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Cell<(usize, usize, bool)> = Cell::new((0, 0, false));

impl Seen {
    /// An empty cache.
    pub const fn new() -> Seen {
        Seen {
            ranges: [EMPTY; CACHE],
            next: Cell::new(0),
            hit: Cell::new(0),
        }
    }

    /// `EFAULT` unless `len` bytes at `addr` can be read.
    #[inline]
    pub fn readable(&self, addr: usize, len: usize) -> Result<()> {
        self.check(addr, len, false)
    }

    /// `EFAULT` unless `len` bytes at `addr` can be written.
    #[inline]
    pub fn writable(&self, addr: usize, len: usize) -> Result<()> {
        self.check(addr, len, true)
    }

    #[inline]
    fn check(&self, addr: usize, len: usize, write: bool) -> Result<()> {
        if len == 0 {
            return Ok(());
        }
        if !in_user_range(addr, len) {
            return Err(Errno::EFAULT);
        }
        // No overflow: the range lies below HIGH.
        let end = addr + len;
        // The range that answered last first (a loop reuses its buffers).
        let (a, e, w) = self.ranges[self.hit.get() % CACHE].get();
        if a <= addr && end <= e && (w || !write) {
            return Ok(());
        }
        self.check_cached(addr, end, write)
    }

    /// [`Seen::check`] past its first look: the other entries, then a
    /// probe.
    #[inline(never)]
    fn check_cached(&self, addr: usize, end: usize, write: bool) -> Result<()> {
        let hit = self.ranges.iter().position(|r| {
            let (a, e, w) = r.get();
            a <= addr && end <= e && (w || !write)
        });
        if let Some(i) = hit {
            self.hit.set(i);
            return Ok(());
        }
        probe(addr, end, write)?;
        // Access is per page: every page the range touches was probed, so
        // the whole pages are remembered (a neighbouring buffer on the
        // same page, as the two `sembuf`s of a P and a V on the stack,
        // then hits the same entry). `end <= HIGH`, page aligned: no
        // overflow.
        let i = self.next.get() % CACHE;
        self.next.set((i + 1) % CACHE);
        self.ranges[i].set((addr & !(PAGE - 1), end.next_multiple_of(PAGE), write));
        self.hit.set(i);
        Ok(())
    }
}

/// Whether `[addr, addr + len)` lies within `[LOW, HIGH)`, as one
/// compare for a constant `len` (a `sembuf`): `addr - LOW` wraps to above
/// any room for an address below `LOW`, NULL included, and exceeds the
/// room left for a range that would end above `HIGH` or wrap.
#[inline(always)]
fn in_user_range(addr: usize, len: usize) -> bool {
    match (HIGH - LOW).checked_sub(len) {
        Some(room) => addr.wrapping_sub(LOW) <= room,
        None => false,
    }
}

impl Default for Seen {
    fn default() -> Seen {
        Seen::new()
    }
}

thread_local! {
    static SEEN: Seen = const { Seen::new() };
}

/// `EFAULT` unless `len` bytes at `addr` can be read.
#[inline]
pub fn readable(addr: usize, len: usize) -> Result<()> {
    SEEN.with(|s| s.check(addr, len, false))
}

/// `EFAULT` unless `len` bytes at `addr` can be written.
#[inline]
pub fn writable(addr: usize, len: usize) -> Result<()> {
    SEEN.with(|s| s.check(addr, len, true))
}

/// Iovecs per `process_vm_readv` of a probe: a buffer of up to 64 pages
/// (256 KiB) is probed with one system call.
const BATCH: usize = 64;

/// Probes one byte per page of `[addr, end)` (and the last byte).
///
/// No allocation and no zeroing of the iovec array (only the entries
/// filled are passed): the first probe in a child of `fork` (a
/// `shmctl(IPC_STAT)` buffer on its stack, say) then touches no page of
/// the allocator or of `memset`, each of which is a page fault there (the
/// child maps a shared library's code page by page as it first runs it).
#[cold]
fn probe(addr: usize, end: usize, write: bool) -> Result<()> {
    use core::mem::MaybeUninit;
    let mut p = addr;
    let mut scratch = [0u8; BATCH];
    while p < end {
        let mut remote = [MaybeUninit::<libc::iovec>::uninit(); BATCH];
        let mut n = 0;
        while n < BATCH && p < end {
            remote[n].write(libc::iovec {
                iov_base: p as *mut libc::c_void,
                iov_len: 1,
            });
            n += 1;
            let next_page = (p & !(PAGE - 1)) + PAGE;
            p = if next_page >= end && p != end - 1 {
                end - 1
            } else {
                next_page
            };
        }
        let remote: *const libc::iovec = remote.as_ptr().cast();
        let one = libc::iovec {
            iov_base: scratch.as_mut_ptr().cast(),
            iov_len: n,
        };
        // In write mode each byte is copied onto itself: the local side
        // is the remote side.
        let (local, nlocal) = if write {
            (remote, n)
        } else {
            (&one as *const _, 1)
        };
        // SAFETY: the first `n` entries of `remote` are initialized, and
        // `local` points at them or at `one`, alive until the call
        // returns. process_vm_readv on our own pid copies between iovecs
        // checked by the kernel; a bad address yields EFAULT, never a
        // fault in this process.
        let r = unsafe {
            libc::process_vm_readv(
                crate::os::proc::my_pid(),
                local,
                nlocal as libc::c_ulong,
                remote,
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

    /// The one-compare range check against its plain statement, at and
    /// around every edge (NULL, `LOW`, `HIGH`, the top of the address
    /// space, lengths up to more than the space).
    #[test]
    fn in_user_range_is_the_plain_check() {
        let plain = |addr: usize, len: usize| {
            addr.checked_add(len)
                .is_some_and(|end| addr >= LOW && end <= HIGH)
        };
        let edges = [0, 1, LOW, HIGH, usize::MAX, HIGH - LOW, HIGH / 2];
        let mut addrs = Vec::new();
        let mut lens = Vec::new();
        for e in edges {
            for d in [0usize, 1, 2, 6, 7, 4096] {
                addrs.push(e.wrapping_add(d));
                addrs.push(e.wrapping_sub(d));
                lens.push(e.wrapping_add(d).max(1));
                lens.push(e.wrapping_sub(d).max(1));
            }
        }
        for &a in &addrs {
            for &l in &lens {
                assert_eq!(in_user_range(a, l), plain(a, l), "addr {a:#x} len {l:#x}");
            }
        }
    }
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
