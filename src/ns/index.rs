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
//! After the three bitmaps, from byte 12288, one `u64` per index per kind:
//! the object's size — a set's semaphores, a segment's pages; for a queue,
//! two `u32` records of its running totals instead (see `crate::msg`,
//! `Tally`) — so that `SEM_INFO`,
//! `SHM_INFO` and the `semmns` and `shmall` checks add the sizes of the
//! indexes in use instead of opening every object. Written by the creator
//! just after it numbered the object; summed only over indexes whose bit
//! is set (a removal clears the bit and leaves the size: one `pwrite`
//! less). A creator killed between its bit and its size leaves the size of
//! the index's previous object there (its object then counts that much
//! until removed), and a scribbled size skews the figures and the checks of its
//! namespace's members, as a scribbled object would: both costs, never a
//! crash.
//!
//! Far past its end, from byte 2^40, one byte per pid is a *liveness
//! mark*: a process that attaches a segment holds an OFD read lock on its
//! pid's byte through a descriptor of its own ([`Index::hold_alive`]), so
//! that others can tell with one `fcntl(F_OFD_GETLK)` that it is alive
//! ([`Index::marked_alive`]) instead of reading `/proc` (see docs/shm.md,
//! "Attach accounting"). The kernel drops such a lock when the process
//! exits (before it is a zombie) or `exec`s (the descriptor is
//! close-on-exec); locks take no storage.
//!
//! The file is read and written with `pread`/`pwrite` of the bytes needed,
//! never mapped: a member that truncates or fills it cannot make another
//! process fault, and a planted file of any other kind is ignored. One
//! descriptor per process for the whole namespace.

use super::Kind;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Bytes of one kind's bitmap.
const MAP: usize = 4096;

/// Where the per-index sizes start (after the three bitmaps).
const SIZES: u64 = 3 * MAP as u64;

/// Where the liveness marks start (one byte per pid; see the module
/// comment).
const LIVE: i64 = 1 << 40;

/// The highest index in use (-1: none), how many are, and each in use,
/// ascending, with its word (see [`Index::used_words`]).
pub type UsedWords = (i32, i32, Vec<(i32, u64)>);

/// The open hint file.
#[derive(Debug)]
pub struct Index {
    fd: OwnedFd,
    /// Orders this process's threads around [`Index::mark`] (an OFD lock
    /// does not tell apart threads sharing the descriptor): the pid of
    /// the process whose thread holds it, 0 when free. Not a mutex: a
    /// child forked while another thread held it inherits it held, sees
    /// its parent's pid there and takes it over.
    local: std::sync::atomic::AtomicI32,
    /// the file's device and inode, as opened
    id: (u64, u64),
}

/// The clear bits of a bitmap below `max`, ascending. Whole bytes in use
/// are passed over a byte at a time: with 4000 objects, the lowest free
/// index was found by testing 4000 bits one by one (~3 us per create at
/// the last quarter of `build/bench/shm`'s fill row).
struct FreeBits {
    map: Box<[u8; MAP]>,
    next: i32,
    max: i32,
}

impl Iterator for FreeBits {
    type Item = i32;

    fn next(&mut self) -> Option<i32> {
        while self.next < self.max {
            let i = self.next;
            let byte = self.map[i as usize / 8];
            if byte == 0xff && i % 8 == 0 {
                self.next += 8;
                continue;
            }
            self.next += 1;
            if byte & (1 << (i % 8)) == 0 {
                return Some(i);
            }
        }
        None
    }
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
        Some(Index {
            fd,
            local: std::sync::atomic::AtomicI32::new(0),
            id: (st.st_dev, st.st_ino),
        })
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
        let max = max.clamp(0, (MAP * 8) as i32);
        let free = FreeBits {
            map: self.read_map(kind),
            next: 0,
            max,
        };
        free.chain(0..max)
    }

    /// Records that index `idx` of `kind` is (`used`) or is not in use.
    /// A read-modify-write of one byte, under a lock on that byte (this
    /// process's flag, then an OFD lock between processes) so that two
    /// creators setting bits of one byte do not lose one: the counts that
    /// `*_INFO` take from [`Index::used`] stay exact. The lock is tried,
    /// never waited for unboundedly: after ~1 ms of a holder that does not
    /// let go (stopped, or a member playing games) the update is made
    /// unlocked, and a lost bit is then the module comment's case.
    pub fn mark(&self, kind: Kind, idx: i32, used: bool) {
        if !(0..(MAP * 8) as i32).contains(&idx) {
            return;
        }
        let off = Self::base(kind) + idx as u64 / 8;
        let bit = 1u8 << (idx % 8);
        let mine = self.take_local();
        let locked = self.lock_byte(off, libc::F_WRLCK as libc::c_short);
        let mut b = 0u8;
        // SAFETY: pread/pwrite of one byte from/to a local.
        unsafe {
            if libc::pread(
                self.fd.as_raw_fd(),
                (&mut b as *mut u8).cast(),
                1,
                off as libc::off_t,
            ) >= 0
            {
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
        if locked {
            self.lock_byte(off, libc::F_UNLCK as libc::c_short);
        }
        if mine {
            self.local.store(0, std::sync::atomic::Ordering::Release);
        }
    }

    fn size_off(kind: Kind, idx: i32) -> libc::off_t {
        (SIZES + ((kind as u64 - 1) * (MAP as u64 * 8) + idx as u64) * 8) as libc::off_t
    }

    /// Records the size of the object at index `idx` of `kind` (see the
    /// module comment): semaphores of a set, pages of a segment.
    pub fn set_size(&self, kind: Kind, idx: i32, size: u64) {
        if !(0..(MAP * 8) as i32).contains(&idx) {
            return;
        }
        let b = size.to_le_bytes();
        // SAFETY: pwrite of 8 bytes from a local.
        unsafe {
            libc::pwrite(
                self.fd.as_raw_fd(),
                b.as_ptr().cast(),
                8,
                Self::size_off(kind, idx),
            );
        }
    }

    /// Writes the low (`high` false: bytes 0–3) or high half of the word
    /// of index `idx` of `kind` (a queue's two records, see the module
    /// comment): one `pwrite` of 4 bytes, so that two writers of the two
    /// halves never undo each other.
    pub fn set_half(&self, kind: Kind, idx: i32, high: bool, v: u32) {
        if !(0..(MAP * 8) as i32).contains(&idx) {
            return;
        }
        let b = v.to_le_bytes();
        // SAFETY: pwrite of 4 bytes from a local.
        unsafe {
            libc::pwrite(
                self.fd.as_raw_fd(),
                b.as_ptr().cast(),
                4,
                Self::size_off(kind, idx) + if high { 4 } else { 0 },
            );
        }
    }

    /// [`Index::used`], and the sum of the recorded sizes of the indexes
    /// in use (saturating): one `pread` of the bitmap and one of the sizes
    /// up to the highest index in use, whatever the number of objects.
    pub fn used_size(&self, kind: Kind) -> (i32, i32, u64) {
        let (hi, n, words) = self.used_words(kind);
        (hi, n, words.iter().fold(0u64, |t, w| t.saturating_add(w.1)))
    }

    /// [`Index::used`], and the indexes in use, ascending, each with its
    /// word (a size, or a queue's records): one `pread` of the bitmap and
    /// one of the words up to the highest index in use.
    pub fn used_words(&self, kind: Kind) -> UsedWords {
        let map = self.read_map(kind);
        let (hi, n) = Self::scan(&map);
        if hi < 0 {
            return (hi, n, Vec::new());
        }
        let len = (hi as usize + 1) * 8;
        let mut sizes = vec![0u8; len];
        // SAFETY: pread into our own buffer of `len` bytes.
        let got = unsafe {
            libc::pread(
                self.fd.as_raw_fd(),
                sizes.as_mut_ptr().cast(),
                len,
                Self::size_off(kind, 0),
            )
        };
        // Bytes past the end of the file (never written) read as zero.
        if got < 0 {
            sizes.fill(0);
        } else {
            sizes[got as usize..].fill(0);
        }
        let mut v = Vec::with_capacity(n.max(0) as usize);
        for (i, chunk) in sizes.chunks_exact(8).enumerate() {
            if map[i / 8] & (1 << (i % 8)) != 0 {
                v.push((
                    i as i32,
                    u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8])),
                ));
            }
        }
        (hi, n, v)
    }

    /// Takes [`Index::local`], trying for about 1 ms (another thread of
    /// this process holds it only for a `pread` and a `pwrite`); true when
    /// taken (then the caller releases it), false to go on without it.
    fn take_local(&self) -> bool {
        use std::sync::atomic::Ordering;
        let me = crate::os::proc::my_pid();
        for round in 0..64 {
            let cur = self.local.load(Ordering::Relaxed);
            // Free (0), or held by a thread of the process we were forked
            // from (another pid): ours to take.
            if cur != me
                && self
                    .local
                    .compare_exchange(cur, me, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return true;
            }
            if round < 16 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(std::time::Duration::from_micros(20));
            }
        }
        false
    }

    /// Takes (`F_WRLCK`) or releases (`F_UNLCK`) an OFD lock on byte `off`;
    /// a take is retried for about 1 ms. True when done.
    fn lock_byte(&self, off: u64, ty: libc::c_short) -> bool {
        for round in 0..64 {
            // SAFETY: a zeroed flock is a valid argument; we fill it below.
            let mut fl: libc::flock = unsafe { core::mem::zeroed() };
            fl.l_type = ty;
            fl.l_whence = libc::SEEK_SET as libc::c_short;
            fl.l_start = off as libc::off_t;
            fl.l_len = 1;
            // SAFETY: fcntl on our descriptor with a flock we own.
            if unsafe { libc::fcntl(self.fd.as_raw_fd(), libc::F_OFD_SETLK, &mut fl) } == 0 {
                return true;
            }
            if ty == libc::F_UNLCK as libc::c_short {
                return false;
            }
            match crate::error::Errno::last() {
                crate::error::Errno::EAGAIN | crate::error::Errno::EACCES => {}
                _ => return false, // no OFD locks here: unlocked
            }
            if round < 16 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(std::time::Duration::from_micros(20));
            }
        }
        false
    }

    /// The highest index of `kind` the hint says is in use, and how many
    /// are (-1 and 0 when none): one `pread` of the kind's 4 KiB and a
    /// scan of it, whatever the number of objects (`IPC_INFO`'s highest
    /// index; see `Ns::in_use` for how exact that is).
    pub fn used(&self, kind: Kind) -> (i32, i32) {
        Self::scan(&self.read_map(kind))
    }

    /// Takes this process's liveness mark (an OFD read lock on the byte of
    /// `pid`) through a new open file description of the hint file
    /// (close-on-exec), which the caller keeps open for as long as the
    /// process should count as alive, and closes in a child of `fork` (the
    /// child shares it). `None` when it cannot be had (others then check
    /// `/proc`).
    ///
    /// The file is opened again by its name in the namespace directory
    /// `dirfd`, and used when it is still the same file (device and
    /// inode); only when it is not (a member renamed another file over
    /// it) through `/proc/self/fd`. The name costs one look-up in a
    /// directory the dentry cache holds; the `/proc` path, in a child of
    /// `fork`, allocated dentries and inodes for the new pid and its `fd`
    /// directory, which the parent's reaping of the child then
    /// invalidated (most of a connection's extra system time in
    /// `bench/pgload.c`, see docs/perf.md).
    pub fn hold_alive(&self, dirfd: &OwnedFd, pid: i32) -> Option<OwnedFd> {
        let flags = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK;
        // The name from the stack: the kernel's copy of it from the
        // library's read-only data would be a page fault in a fork child.
        let name: [u8; 9] = *b"ripc.idx\0";
        let name = core::hint::black_box(name);
        // SAFETY: openat relative to our directory fd with a NUL-terminated
        // name, never following a symlink.
        let by_name = unsafe {
            libc::openat(
                dirfd.as_raw_fd(),
                name.as_ptr().cast(),
                flags | libc::O_NOFOLLOW,
            )
        };
        let by_name = (by_name >= 0).then(|| {
            // SAFETY: a fresh descriptor we own.
            unsafe { OwnedFd::from_raw_fd(by_name) }
        });
        let fd = match by_name {
            Some(fd)
                if super::fstat(fd.as_raw_fd())
                    .is_ok_and(|st| (st.st_dev, st.st_ino) == self.id) =>
            {
                fd
            }
            _ => {
                let path = format!("/proc/self/fd/{}\0", self.fd.as_raw_fd());
                // SAFETY: opening a NUL-terminated path read-only.
                let fd = unsafe { libc::open(path.as_ptr().cast(), flags) };
                if fd < 0 {
                    return None;
                }
                // SAFETY: a fresh descriptor we own.
                unsafe { OwnedFd::from_raw_fd(fd) }
            }
        };
        let mut fl = Self::live_flock(pid, libc::F_RDLCK);
        // SAFETY: fcntl on our descriptor with a flock we own.
        (unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_SETLK, &mut fl) } == 0).then_some(fd)
    }

    /// Whether some process holds the liveness mark of `pid` (see
    /// [`Index::hold_alive`]): `Some(true)` when one does (a process with
    /// that pid is alive and has not exec'd since it took it — or a child
    /// it forked without `fork(3)`'s handlers still shares the
    /// descriptor), `Some(false)` when nobody does (dead, exec'd, or a
    /// process that never took one), `None` when it cannot be told.
    pub fn marked_alive(&self, pid: i32) -> Option<bool> {
        if pid <= 0 {
            return Some(false);
        }
        let mut fl = Self::live_flock(pid, libc::F_WRLCK);
        // SAFETY: fcntl on our descriptor with a flock we own.
        if unsafe { libc::fcntl(self.fd.as_raw_fd(), libc::F_OFD_GETLK, &mut fl) } != 0 {
            return None;
        }
        Some(fl.l_type != libc::F_UNLCK as libc::c_short)
    }

    /// Device and inode of the hint file (as opened).
    pub fn file_id(&self) -> (u64, u64) {
        self.id
    }

    fn live_flock(pid: i32, ty: i32) -> libc::flock {
        // SAFETY: a zeroed flock is a valid argument; we fill it below.
        let mut fl: libc::flock = unsafe { core::mem::zeroed() };
        fl.l_type = ty as libc::c_short;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        fl.l_start = (LIVE + pid as i64) as libc::off_t;
        fl.l_len = 1;
        fl
    }

    /// The indexes of `kind` the hint says are in use, ascending (one
    /// `pread` of the kind's bitmap).
    pub fn used_indexes(&self, kind: Kind) -> Vec<i32> {
        let map = self.read_map(kind);
        let mut v = Vec::new();
        for (i, byte) in map.iter().enumerate() {
            let mut b = *byte;
            while b != 0 {
                v.push((i * 8) as i32 + b.trailing_zeros() as i32);
                b &= b - 1;
            }
        }
        v
    }

    fn scan(map: &[u8; MAP]) -> (i32, i32) {
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
    fn full_bytes_are_passed_over_and_no_free_index_is_missed() {
        let (d, dirfd) = tmp();
        let ix = Index::open(&dirfd, 0o600).expect("index");
        for i in (0..20).chain([22, 31, 32]) {
            ix.mark(Kind::Shm, i, true);
        }
        let free: Vec<i32> = ix
            .candidates(Kind::Shm, 35)
            .take_while(|&i| i != 0)
            .collect();
        assert_eq!(free, [20, 21, 23, 24, 25, 26, 27, 28, 29, 30, 33, 34]);
        // The free bits end within a full byte, or at a limit inside one.
        assert_eq!(ix.candidates(Kind::Shm, 5).next(), Some(0));
        assert_eq!(
            ix.candidates(Kind::Shm, 16).take(2).collect::<Vec<_>>(),
            [0, 1]
        );
        assert_eq!(ix.candidates(Kind::Shm, 21).next(), Some(20));
        let _ = std::fs::remove_dir_all(d);
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
        assert_eq!(ix.used_indexes(Kind::Msg), [0, 1, 3]);
        ix.mark(Kind::Msg, 3, false);
        assert_eq!(ix.used(Kind::Msg), (1, 2));
        // Sizes count only where the bit is set; a cleared bit clears its.
        ix.mark(Kind::Shm, 0, true);
        ix.mark(Kind::Shm, 9, true);
        ix.set_size(Kind::Shm, 0, 3);
        ix.set_size(Kind::Shm, 9, 4);
        ix.set_size(Kind::Shm, 5, 100); // no bit: not counted
        ix.set_size(Kind::Sem, 0, 7); // another kind
        assert_eq!(ix.used_size(Kind::Shm), (9, 2, 7));
        ix.mark(Kind::Shm, 9, false);
        assert_eq!(ix.used_size(Kind::Shm), (0, 1, 3));
        ix.mark(Kind::Shm, 9, true);
        ix.set_size(Kind::Shm, 9, 0);
        assert_eq!(ix.used_size(Kind::Shm), (9, 2, 3), "the new object's size");
        assert_eq!(ix.used_size(Kind::Sem), (2, 1, 0));
        // A queue's two records: halves written apart, read as one word.
        ix.set_half(Kind::Msg, 1, false, 0x1234);
        ix.set_half(Kind::Msg, 1, true, 0xabcd);
        ix.set_half(Kind::Msg, 1, false, 0x5678);
        ix.set_half(Kind::Msg, 2, true, 9); // no bit: not listed
        assert_eq!(
            ix.used_words(Kind::Msg),
            (1, 2, vec![(0, 0), (1, 0xabcd_0000_5678)])
        );
        // A scribbled file (all ones) still yields every index at the end.
        std::fs::write(d.join("ripc.idx"), vec![0xffu8; 3 * MAP]).unwrap();
        assert_eq!(ix.candidates(Kind::Shm, 3).collect::<Vec<_>>(), [0, 1, 2]);
        // A truncated one reads as free.
        std::fs::write(d.join("ripc.idx"), b"").unwrap();
        assert_eq!(ix.candidates(Kind::Shm, 2).next(), Some(0));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_liveness_mark_lasts_as_long_as_its_descriptor() {
        let (d, dirfd) = tmp();
        let ix = Index::open(&dirfd, 0o600).expect("index");
        assert_eq!(ix.marked_alive(4242), Some(false));
        let held = ix.hold_alive(&dirfd, 4242).expect("mark");
        assert_eq!(ix.marked_alive(4242), Some(true));
        assert_eq!(ix.marked_alive(4243), Some(false), "one byte per pid");
        drop(held);
        assert_eq!(
            ix.marked_alive(4242),
            Some(false),
            "gone with its descriptor"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    /// The mark is taken by the index file's name when that still names
    /// the file, else through `/proc/self/fd`: in the file the others
    /// read either way.
    #[test]
    fn a_liveness_mark_lands_in_the_open_index_file() {
        let (d, dirfd) = tmp();
        let ix = Index::open(&dirfd, 0o600).expect("index");
        // Another file renamed over the name.
        std::fs::write(d.join("other"), b"").unwrap();
        std::fs::rename(d.join("other"), d.join("ripc.idx")).unwrap();
        let held = ix.hold_alive(&dirfd, 4242).expect("mark");
        assert_eq!(ix.marked_alive(4242), Some(true), "in the file opened");
        let again = Index::open(&dirfd, 0o600).expect("the new file");
        assert_eq!(again.marked_alive(4242), Some(false), "not in the new one");
        let held2 = again.hold_alive(&dirfd, 4243).expect("mark");
        assert_eq!(again.marked_alive(4243), Some(true), "by name");
        assert_eq!(ix.marked_alive(4243), Some(false));
        drop((held, held2));
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
