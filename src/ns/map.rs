//! A shared file mapping that unmaps itself.

use crate::error::{Errno, Result};
use core::sync::atomic::{AtomicU64, Ordering};
use std::os::fd::{AsRawFd, BorrowedFd};

const PAGE: usize = 4096;
/// Pages at the start of a mapping whose population this process remembers
/// (1 MiB: a semaphore set's sleeper slots, a queue's or segment's control
/// pages), so that [`Mapping::populate`] of a page it already populated
/// costs no system call.
const REMEMBERED: usize = 256;

/// `len` bytes of a file, mapped shared and read-write.
#[derive(Debug)]
pub struct Mapping {
    ptr: *mut u8,
    len: usize,
    /// Bit `p` set: page `p` (< [`REMEMBERED`]) was populated through this
    /// mapping. A populated page of a file keeps its storage (object files
    /// are never shrunk while mapped), so asking again cannot fail.
    populated: [AtomicU64; REMEMBERED / 64],
}

// SAFETY: the mapping is plain shared memory; every access goes through
// atomics or explicit copies, never through Rust references to non-atomic
// data that another thread could change.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes of `fd` from `offset`, read-write and shared.
    pub fn new(fd: BorrowedFd<'_>, len: usize, offset: u64) -> Result<Mapping> {
        Self::with_prot(fd, len, offset, libc::PROT_READ | libc::PROT_WRITE)
    }

    /// Maps with the given protection (`PROT_*`).
    pub fn with_prot(fd: BorrowedFd<'_>, len: usize, offset: u64, prot: i32) -> Result<Mapping> {
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        // SAFETY: a fresh shared mapping of a file we hold open; the kernel
        // checks the fd, length and offset.
        let p = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                prot,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                offset as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(Errno::last());
        }
        Ok(Mapping {
            ptr: p.cast(),
            len,
            populated: Default::default(),
        })
    }

    /// Start of the mapping.
    pub fn ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never empty (a zero-length mapping cannot be made).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// A `T` at byte offset `off`, when it fits and is aligned.
    ///
    /// `T` must be a type made only of atomics (or `repr(C)` structs of
    /// them), so that sharing it with other processes is sound.
    pub fn at<T>(&self, off: usize) -> Result<&T> {
        let end = off
            .checked_add(core::mem::size_of::<T>())
            .ok_or(Errno::EIO)?;
        if end > self.len || off % core::mem::align_of::<T>() != 0 {
            return Err(Errno::EIO);
        }
        // SAFETY: in bounds and aligned (checked above); the mapping lives as
        // long as `self`; T is made of atomics, valid for any bit pattern.
        Ok(unsafe { &*(self.ptr.add(off) as *const T) })
    }

    /// Makes bytes `[off, off + len)` of the mapping backed by storage now
    /// (`MADV_POPULATE_WRITE`, Linux 5.14): the first write to a page of a
    /// sparse file on a full tmpfs would raise `SIGBUS`; this fails with
    /// `ENOMEM` instead. A no-op on kernels without the advice. One system
    /// call; pages already there cost a page-table walk.
    pub fn populate(&self, off: usize, len: usize) -> Result<()> {
        const MADV_POPULATE_WRITE: libc::c_int = 23;
        let from = off / PAGE * PAGE;
        let to = off
            .checked_add(len)
            .ok_or(Errno::EIO)?
            .next_multiple_of(PAGE)
            .min(self.len);
        if from >= to {
            return if len == 0 { Ok(()) } else { Err(Errno::EIO) };
        }
        let pages = from / PAGE..to / PAGE;
        if self.remembered(pages.clone()) {
            return Ok(());
        }
        // SAFETY: [from, to) lies inside our mapping (clamped above);
        // MADV_POPULATE_WRITE only faults its pages in, never changes
        // their contents.
        let r = unsafe { libc::madvise(self.ptr.add(from).cast(), to - from, MADV_POPULATE_WRITE) };
        if r == 0 {
            self.remember(pages);
            return Ok(());
        }
        match Errno::last() {
            // Older kernels know no such advice: write as before.
            Errno::EINVAL => Ok(()),
            // EFAULT: the write would have been SIGBUS (no space); ENOMEM.
            _ => Err(Errno::ENOMEM),
        }
    }

    /// True when every page of `pages` is one this mapping populated.
    fn remembered(&self, pages: core::ops::Range<usize>) -> bool {
        pages.end <= REMEMBERED
            && pages
                .into_iter()
                .all(|p| self.populated[p / 64].load(Ordering::Relaxed) & (1 << (p % 64)) != 0)
    }

    /// Notes `pages` as populated (those below [`REMEMBERED`]).
    fn remember(&self, pages: core::ops::Range<usize>) {
        for p in pages.start..pages.end.min(REMEMBERED) {
            self.populated[p / 64].fetch_or(1 << (p % 64), Ordering::Relaxed);
        }
    }

    /// Copies `dst.len()` bytes out of the mapping from `off`.
    pub fn read_bytes(&self, off: usize, dst: &mut [u8]) -> Result<()> {
        let end = off.checked_add(dst.len()).ok_or(Errno::EIO)?;
        if end > self.len {
            return Err(Errno::EIO);
        }
        // SAFETY: the source range is inside the mapping (checked above) and
        // cannot overlap `dst`, which is process-private.
        unsafe { core::ptr::copy_nonoverlapping(self.ptr.add(off), dst.as_mut_ptr(), dst.len()) };
        Ok(())
    }

    /// Copies `src` into the mapping at `off`.
    pub fn write_bytes(&self, off: usize, src: &[u8]) -> Result<()> {
        let end = off.checked_add(src.len()).ok_or(Errno::EIO)?;
        if end > self.len {
            return Err(Errno::EIO);
        }
        // SAFETY: the destination range is inside the mapping (checked
        // above); `src` is process-private, so they cannot overlap.
        unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr.add(off), src.len()) };
        Ok(())
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what mmap returned.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}
