//! The namespace's index hint: which object indexes are in use, one bit
//! each, so that a create finds the lowest free index in constant time
//! instead of probing every name from 0 (500 failed `linkat` and 500
//! mappings for the 501st queue).
//!
//! `$RIPC_DIR/ripc.idx` holds one 4 KiB bitmap per kind (32768 bits: the
//! kernel's index range). It is a *hint*, never the truth: the numbered
//! names are. A create tries the lowest index the bitmap says is free; the
//! `link(2)` of the number decides (it fails when the name exists), and
//! whoever learns a bit is wrong puts it right. So every way the file can
//! be wrong costs time, never correctness:
//! - a bit clear whose name exists (a creator killed after its link and
//!   before its bit, a lost update between two processes setting bits of
//!   one byte, a scribble): the next create's link fails, it sets the bit
//!   and tries the next;
//! - a bit set whose name is gone (a remover killed between its unlink and
//!   its bit): the index stays unused until a create finds no free bit,
//!   and then probes every index, as before the hint (and rewrites the
//!   bits it learns).
//!
//! The file is read and written with `pread`/`pwrite` of the bytes needed,
//! never mapped: a member that truncates or fills it cannot make another
//! process fault, and a planted file of any other kind is ignored. One
//! descriptor per process for the whole namespace.

use super::Kind;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Bytes of one kind's bitmap.
const MAP: usize = 4096;

/// The open hint file.
#[derive(Debug)]
pub struct Index {
    fd: OwnedFd,
}

impl Index {
    /// Opens (creating when missing, with `mode`) `ripc.idx` in the
    /// namespace directory `dirfd`; `None` when it cannot be had or is not
    /// a regular file (creation then probes, as without a hint).
    pub fn open(dirfd: &OwnedFd, mode: u32) -> Option<Index> {
        // SAFETY: openat relative to our directory fd with a constant,
        // NUL-terminated name; never following a symlink, never blocking
        // on a planted FIFO.
        let fd = unsafe {
            libc::openat(
                dirfd.as_raw_fd(),
                c"ripc.idx".as_ptr(),
                libc::O_RDWR
                    | libc::O_CREAT
                    | libc::O_NOFOLLOW
                    | libc::O_CLOEXEC
                    | libc::O_NONBLOCK,
                mode as libc::c_uint,
            )
        };
        if fd < 0 {
            return None;
        }
        // SAFETY: a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let st = super::fstat(fd.as_raw_fd()).ok()?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return None;
        }
        // SAFETY: geteuid cannot fail; fchmod of a descriptor we hold.
        unsafe {
            // The umask may have taken the group's write bit off at
            // creation: its creator gives it back (others cannot).
            if st.st_uid == libc::geteuid() && st.st_mode & 0o777 != mode {
                libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t);
            }
        }
        Some(Index { fd })
    }

    fn base(kind: Kind) -> u64 {
        (kind as u64 - 1) * MAP as u64
    }

    /// The kind's bitmap as the file holds it (bytes past its end read as
    /// zero: free).
    fn read_map(&self, kind: Kind) -> Box<[u8; MAP]> {
        let mut b = Box::new([0u8; MAP]);
        // SAFETY: pread into our own buffer of MAP bytes.
        let n = unsafe {
            libc::pread(
                self.fd.as_raw_fd(),
                b.as_mut_ptr().cast(),
                MAP,
                Self::base(kind) as libc::off_t,
            )
        };
        if n < 0 {
            b.fill(0);
        }
        b
    }

    /// The indexes below `max` that the hint says are free, lowest first;
    /// then every index below `max` (the fallback when the hint was wrong
    /// all along).
    pub fn candidates(&self, kind: Kind, max: i32) -> impl Iterator<Item = i32> {
        let map = self.read_map(kind);
        let max = max.clamp(0, (MAP * 8) as i32);
        let free = (0..max).filter(move |&i| map[i as usize / 8] & (1 << (i % 8)) == 0);
        free.chain(0..max)
    }

    /// Records that index `idx` of `kind` is (`used`) or is not in use.
    /// A read-modify-write of one byte: a concurrent update of another bit
    /// of the same byte may be lost, which the module comment covers.
    pub fn mark(&self, kind: Kind, idx: i32, used: bool) {
        if !(0..(MAP * 8) as i32).contains(&idx) {
            return;
        }
        let off = Self::base(kind) + idx as u64 / 8;
        let bit = 1u8 << (idx % 8);
        let mut b = 0u8;
        // SAFETY: pread/pwrite of one byte from/to a local.
        unsafe {
            if libc::pread(
                self.fd.as_raw_fd(),
                (&mut b as *mut u8).cast(),
                1,
                off as libc::off_t,
            ) < 0
            {
                return;
            }
            let nb = if used { b | bit } else { b & !bit };
            if nb != b {
                libc::pwrite(
                    self.fd.as_raw_fd(),
                    (&nb as *const u8).cast(),
                    1,
                    off as libc::off_t,
                );
            }
        }
    }

    /// The highest index of `kind` the hint says is in use, and how many
    /// are (for `*_INFO`, which need no exact figure from the hint: the
    /// callers that report figures count the names).
    pub fn used(&self, kind: Kind) -> (i32, i32) {
        let map = self.read_map(kind);
        let mut hi = -1;
        let mut n = 0;
        for (i, byte) in map.iter().enumerate() {
            if *byte != 0 {
                n += byte.count_ones() as i32;
                hi = (i * 8 + 7 - byte.leading_zeros() as usize) as i32;
            }
        }
        (hi, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> (std::path::PathBuf, OwnedFd) {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let d = std::env::temp_dir().join(format!(
            "ripc-idx-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&d).unwrap();
        let f = std::fs::File::open(&d).unwrap();
        (d, OwnedFd::from(f))
    }

    #[test]
    fn the_lowest_free_index_comes_first_then_every_index() {
        let (d, dirfd) = tmp();
        let ix = Index::open(&dirfd, 0o600).expect("index");
        assert_eq!(
            ix.candidates(Kind::Msg, 5).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]
        );
        ix.mark(Kind::Msg, 0, true);
        ix.mark(Kind::Msg, 1, true);
        ix.mark(Kind::Msg, 3, true);
        ix.mark(Kind::Sem, 2, true);
        assert_eq!(
            ix.candidates(Kind::Msg, 5).take(2).collect::<Vec<_>>(),
            [2, 4]
        );
        assert_eq!(
            ix.candidates(Kind::Sem, 5).next(),
            Some(0),
            "kinds are apart"
        );
        assert_eq!(ix.used(Kind::Msg), (3, 3));
        ix.mark(Kind::Msg, 3, false);
        assert_eq!(ix.used(Kind::Msg), (1, 2));
        // A scribbled file (all ones) still yields every index at the end.
        std::fs::write(d.join("ripc.idx"), vec![0xffu8; 3 * MAP]).unwrap();
        assert_eq!(ix.candidates(Kind::Shm, 3).collect::<Vec<_>>(), [0, 1, 2]);
        // A truncated one reads as free.
        std::fs::write(d.join("ripc.idx"), b"").unwrap();
        assert_eq!(ix.candidates(Kind::Shm, 2).next(), Some(0));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_planted_fifo_is_no_index() {
        let (d, dirfd) = tmp();
        let p = std::ffi::CString::new(d.join("ripc.idx").to_str().unwrap()).unwrap();
        // SAFETY: mkfifo on a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(p.as_ptr(), 0o600) }, 0);
        assert!(Index::open(&dirfd, 0o600).is_none());
        let _ = std::fs::remove_dir_all(&d);
    }
}
