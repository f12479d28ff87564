//! A shared file mapping that unmaps itself, and the discipline for what
//! may be read out of one.
//!
//! Memory in a mapping is shared with other, untrusted processes: any word
//! can change at any time and hold any bit pattern. A Rust reference into
//! it is sound only for a type every access of which is atomic and every
//! bit pattern of which is a valid value: such types carry the `unsafe`
//! marker trait [`Shared`]. [`Mapping::at`] and [`Region::at`] hand out
//! references of [`Shared`] types only, bounds- and alignment-checked, so
//! no safe function gives out a reference of an arbitrary type into a
//! mapping. Engines read their objects through a [`Region`] (the control
//! area of an object, see `crate::ns::Obj::region`), and declare each
//! layout once, as `#[repr(C)]` structs implementing [`Shared`].

use crate::error::{Errno, Result};
use core::sync::atomic::{
    AtomicI16, AtomicI32, AtomicI64, AtomicI8, AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering,
};
use std::os::fd::{AsRawFd, BorrowedFd};

const PAGE: usize = 4096;
/// Pages at the start of a mapping whose population this process remembers
/// (1 MiB: a semaphore set's sleeper slots, a queue's or segment's control
/// pages), so that [`Mapping::populate`] of a page it already populated
/// costs no system call.
const REMEMBERED: usize = 256;

/// A type that may live in memory shared with other processes.
///
/// # Safety
/// Implement only for types that are
/// - `#[repr(C)]` (or a primitive atomic, or an array of such types), so
///   that every process, whatever its build, agrees on the layout;
/// - made only of atomics (and `#[repr(C)]` structs or arrays of types that
///   implement `Shared`): another process may write any word at any time,
///   so a plain field read through a reference would be a data race;
/// - valid for any bit pattern, zero included (a fresh file is zeroes; a
///   hostile one is anything): no `bool`, enum, `char` or niche;
/// - free of pointers and references (they mean nothing in another
///   process) and of `Drop` (nothing is ever dropped in place).
///
/// A type that is not `Shared` cannot be read out of a mapping:
/// ```compile_fail
/// fn f(m: &ripc::ns::Mapping) {
///     let _s: &String = m.at::<String>(0).unwrap();
/// }
/// ```
/// while an atomic can:
/// ```
/// fn f(m: &ripc::ns::Mapping) -> u32 {
///     use core::sync::atomic::{AtomicU32, Ordering};
///     m.at::<AtomicU32>(0).map_or(0, |w| w.load(Ordering::Relaxed))
/// }
/// ```
pub unsafe trait Shared: Sync {}

macro_rules! shared_atomics {
    ($($t:ty),*) => {
        $(
            // SAFETY: a primitive atomic: any bit pattern is a value, every
            // access is atomic, no pointer.
            unsafe impl Shared for $t {}
        )*
    };
}
shared_atomics!(
    AtomicU8, AtomicI8, AtomicU16, AtomicI16, AtomicU32, AtomicI32, AtomicU64, AtomicI64
);

// SAFETY: an array of `Shared` elements has no padding between them and
// inherits every property of its element.
unsafe impl<T: Shared, const N: usize> Shared for [T; N] {}

/// A bounds-checked window `[off, off + len)` of a [`Mapping`], through
/// which an engine reads and writes its object: typed access only to
/// [`Shared`] types, byte copies for payloads. Every offset given to it is
/// relative to the window's start and checked against its end; a bad one
/// gives `EIO` (offsets come from shared memory: untrusted input).
#[derive(Debug, Clone, Copy)]
pub struct Region<'m> {
    map: &'m Mapping,
    off: usize,
    len: usize,
}

impl<'m> Region<'m> {
    /// Bytes of the window.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never empty in practice; for clippy's sake.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Where the window starts in the mapping (for page arithmetic: the
    /// mapping starts at a page boundary of the file).
    pub fn start(&self) -> usize {
        self.off
    }

    /// The window's first byte, for an engine that checks a layout of its
    /// own against [`Region::len`] once and then addresses it with one
    /// index check per access (`msg::list::View`).
    #[inline]
    pub fn as_ptr(&self) -> *mut u8 {
        // `off` ≤ the mapping's length: every Region is made inside it.
        self.map.ptr.wrapping_add(self.off)
    }

    /// Absolute offset in the mapping of `off` in the window, when
    /// `[off, off + n)` lies inside the window.
    #[inline]
    fn abs(&self, off: usize, n: usize) -> Result<usize> {
        let end = off.checked_add(n).ok_or(Errno::EIO)?;
        if end > self.len {
            return Err(Errno::EIO);
        }
        Ok(self.off + off)
    }

    /// The sub-window `[off, off + len)`.
    pub fn sub(&self, off: usize, len: usize) -> Result<Region<'m>> {
        Ok(Region {
            map: self.map,
            off: self.abs(off, len)?,
            len,
        })
    }

    /// The `T` at byte `off` of the window, when it fits and is aligned.
    #[inline]
    pub fn at<T: Shared>(&self, off: usize) -> Result<&'m T> {
        let abs = self.abs(off, core::mem::size_of::<T>())?;
        // The mapping starts page aligned: an aligned offset is an aligned
        // address.
        if abs % core::mem::align_of::<T>() != 0 {
            return Err(Errno::EIO);
        }
        // SAFETY: `[abs, abs + size_of::<T>())` lies in the window, which
        // lies in the mapping (every Region is made inside its mapping),
        // and is aligned (checked above); the mapping lives for 'm; `T:
        // Shared`: atomics, valid for any bit pattern.
        Ok(unsafe { &*(self.map.ptr.add(abs) as *const T) })
    }

    /// Element `i` of an array of `T` that starts at byte `base` and has
    /// `stride` bytes per element (`size_of::<T>()` for a plain array; more
    /// when each element is followed by a variable tail).
    #[inline]
    pub fn elem<T: Shared>(&self, base: usize, stride: usize, i: usize) -> Result<&'m T> {
        let off = stride
            .checked_mul(i)
            .and_then(|o| o.checked_add(base))
            .ok_or(Errno::EIO)?;
        self.at(off)
    }

    /// Makes bytes `[off, off + len)` backed by storage now (see
    /// [`Mapping::populate`]).
    pub fn populate(&self, off: usize, len: usize) -> Result<()> {
        self.map.populate(self.abs(off, len)?, len)
    }

    /// Copies `dst.len()` bytes out of the window from `off`.
    #[inline]
    pub fn read_bytes(&self, off: usize, dst: &mut [u8]) -> Result<()> {
        self.map.read_bytes(self.abs(off, dst.len())?, dst)
    }

    /// Copies `src` into the window at `off`.
    #[inline]
    pub fn write_bytes(&self, off: usize, src: &[u8]) -> Result<()> {
        self.map.write_bytes(self.abs(off, src.len())?, src)
    }

    /// Whether the page holding byte `off` of the window is in memory
    /// (`mincore`): a tmpfs page never written is not, and reading it would
    /// allocate one (or raise `SIGBUS` on a full file system). `false` past
    /// the end.
    pub fn resident(&self, off: usize) -> bool {
        let Ok(abs) = self.abs(off, 1) else {
            return false;
        };
        let page = abs / PAGE * PAGE;
        let mut vec = 0u8;
        // SAFETY: mincore on one page of our own mapping (the mapping
        // starts page aligned and `abs` lies inside it), into a local.
        let r = unsafe {
            libc::mincore(
                self.map.ptr.add(page).cast(),
                PAGE.min(self.map.len - page),
                &mut vec,
            )
        };
        r != 0 || vec & 1 != 0
    }
}

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

    /// The whole mapping as a [`Region`].
    #[inline]
    pub fn region(&self) -> Region<'_> {
        self.region_from(0)
    }

    /// The mapping from byte `off` on (empty when `off` is past the end).
    #[inline]
    pub fn region_from(&self, off: usize) -> Region<'_> {
        let off = off.min(self.len);
        Region {
            map: self,
            off,
            len: self.len - off,
        }
    }

    /// A `T` at byte offset `off`, when it fits and is aligned. `T` is
    /// [`Shared`]: made only of atomics, valid for any bit pattern.
    #[inline]
    pub fn at<T: Shared>(&self, off: usize) -> Result<&T> {
        let end = off
            .checked_add(core::mem::size_of::<T>())
            .ok_or(Errno::EIO)?;
        if end > self.len || off % core::mem::align_of::<T>() != 0 {
            return Err(Errno::EIO);
        }
        // SAFETY: in bounds and aligned (checked above); the mapping lives as
        // long as `self`; `T: Shared`: made of atomics, valid for any bit
        // pattern, so another process's writes race with nothing.
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
    #[inline]
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
    #[inline]
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

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::Ordering;
    use std::os::fd::AsFd;

    fn mapping(len: usize) -> (Mapping, std::fs::File) {
        let path = std::env::temp_dir().join(format!(
            "ripc-map-{}-{len}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        f.set_len(len as u64).unwrap();
        (Mapping::new(f.as_fd(), len, 0).unwrap(), f)
    }

    #[test]
    fn a_region_refuses_what_does_not_fit_or_is_misaligned() {
        let (m, _f) = mapping(4096);
        let r = m.region().sub(256, 1024).unwrap();
        assert_eq!(r.start(), 256);
        assert_eq!(r.len(), 1024);
        // In bounds, aligned: the same word as through the mapping.
        r.at::<AtomicU64>(8).unwrap().store(7, Ordering::Relaxed);
        assert_eq!(m.at::<AtomicU64>(264).unwrap().load(Ordering::Relaxed), 7);
        // The window's end, not the mapping's, is the limit.
        assert_eq!(r.at::<AtomicU64>(1016).map(|_| ()), Ok(()));
        assert_eq!(r.at::<AtomicU64>(1017).err(), Some(Errno::EIO));
        assert_eq!(r.at::<AtomicU64>(1024).err(), Some(Errno::EIO));
        assert_eq!(r.at::<AtomicU32>(2).err(), Some(Errno::EIO));
        assert_eq!(r.at::<AtomicU32>(usize::MAX - 1).err(), Some(Errno::EIO));
        // Arrays: index and stride overflow, the last element.
        assert_eq!(r.elem::<AtomicU64>(0, 8, 127).map(|_| ()), Ok(()));
        assert_eq!(r.elem::<AtomicU64>(0, 8, 128).err(), Some(Errno::EIO));
        assert_eq!(
            r.elem::<AtomicU64>(8, usize::MAX / 2, 3).err(),
            Some(Errno::EIO)
        );
        // Sub-windows and bytes.
        assert_eq!(r.sub(1000, 25).err(), Some(Errno::EIO));
        assert!(r.sub(1000, 24).is_ok());
        let mut b = [0u8; 16];
        assert_eq!(r.read_bytes(1016, &mut b).err(), Some(Errno::EIO));
        assert_eq!(r.write_bytes(1010, &[1; 16]).err(), Some(Errno::EIO));
        r.write_bytes(1008, &[9; 16]).unwrap();
        r.read_bytes(1008, &mut b).unwrap();
        assert_eq!(b, [9; 16]);
        // Past the end is never resident.
        assert!(!r.resident(1024));
    }
}
