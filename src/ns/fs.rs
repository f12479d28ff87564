//! File-system calls of the namespace layer: descriptors moved out of the
//! low range, `link(2)` without replacing, `fallocate`, `fstat`, the index
//! file names, the file modes an IPC mode maps to, and `ftok`.

use super::*;

/// Moves descriptor `fd` to a high number (`F_DUPFD_CLOEXEC` from
/// [`LIVE_FD_FLOOR`]): `exec` closes descriptors in ascending order and
/// the kernel completes the closes last in, first out, so a liveness mark
/// is gone before any lower descriptor — a pipe whose end-of-file tells a
/// parent that its child exec'd — is seen closed. Below 64, the size of
/// the descriptor table every process starts with: a higher one would
/// grow the table, which `fork` then copies (~2 us per fork here). Keeps
/// `fd` when it cannot.
pub(super) fn high_fd(fd: i32) -> i32 {
    if fd >= LIVE_FD_FLOOR {
        return fd;
    }
    // SAFETY: duplicating a descriptor we own; the original is closed
    // once the copy (same open file description, same lock) exists.
    unsafe {
        let hi = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, LIVE_FD_FLOOR);
        if hi < 0 {
            return fd;
        }
        libc::close(fd);
        hi
    }
}

/// See [`high_fd`].
pub(super) const LIVE_FD_FLOOR: i32 = 60;

pub(super) fn cpath(p: &str) -> Result<CString> {
    CString::new(p).map_err(|_| Errno::EINVAL)
}

/// Moves the file named `from` in `dir` to the new name `to`
/// (`renameat2(RENAME_NOREPLACE)`: one system call where `link` + `unlink`
/// made two): `Ok(true)` when done (`from` is gone), `Ok(false)` when `to`
/// exists (`from` stays), never replacing it. Where the file system has no
/// `RENAME_NOREPLACE`, [`link_new`] then the unlink of `from`.
pub(super) fn move_new(dir: &OwnedFd, from: &CStr, to: &CStr) -> Result<bool> {
    // SAFETY: renameat2 between two names relative to a directory we hold;
    // RENAME_NOREPLACE never replaces an existing name.
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            dir.as_raw_fd(),
            from.as_ptr(),
            dir.as_raw_fd(),
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        return Ok(true);
    }
    match Errno::last() {
        Errno::EEXIST => Ok(false),
        Errno::EINVAL | Errno::ENOSYS => {
            let linked = link_new(dir, from, to)?;
            if linked {
                // SAFETY: unlinking the old name, now a second name of the
                // file just linked, in our directory.
                unsafe { libc::unlinkat(dir.as_raw_fd(), from.as_ptr(), 0) };
            }
            Ok(linked)
        }
        e => Err(e),
    }
}

/// Creates the file `name` in `dir`, read-write, `0600` less the umask,
/// as a temporary file is (`O_CREAT | O_EXCL | O_NOFOLLOW`):
/// `Ok(Some(fd))` when made, `Ok(None)` when the name exists (whatever it
/// names: it is not opened).
pub(super) fn create_new(dir: &OwnedFd, name: &CStr) -> Result<Option<OwnedFd>> {
    // SAFETY: exclusive creation relative to a directory we hold; O_EXCL
    // never follows a symlink nor opens an existing file.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o600,
        )
    };
    if fd >= 0 {
        // SAFETY: a fresh descriptor we own.
        return Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }));
    }
    match Errno::last() {
        Errno::EEXIST => Ok(None),
        e => Err(e),
    }
}

/// Gives the file named `from` in `dir` the new name `to` (`link(2)`):
/// `Ok(true)` when done, `Ok(false)` when `to` exists, never replacing it.
pub(super) fn link_new(dir: &OwnedFd, from: &CStr, to: &CStr) -> Result<bool> {
    // SAFETY: linkat between two names relative to a directory we hold;
    // it never replaces an existing name.
    let r = unsafe {
        libc::linkat(
            dir.as_raw_fd(),
            from.as_ptr(),
            dir.as_raw_fd(),
            to.as_ptr(),
            0,
        )
    };
    if r == 0 {
        return Ok(true);
    }
    match Errno::last() {
        Errno::EEXIST => Ok(false),
        e => Err(e),
    }
}

/// Gives the file `fd` `len` bytes of storage now (`posix_fallocate`), so
/// that writing them through a mapping can never meet a full file system
/// (tmpfs answers a write to a sparse page it cannot back with `SIGBUS`).
pub(super) fn reserve(fd: i32, len: u64) -> Result<()> {
    reserve_at(fd, 0, len)
}

/// [`reserve`] of `len` bytes from `off`.
pub(super) fn reserve_at(fd: i32, off: u64, len: u64) -> Result<()> {
    if len == 0 {
        return Ok(());
    }
    let off = libc::off_t::try_from(off).map_err(|_| Errno::EFBIG)?;
    let len = libc::off_t::try_from(len).map_err(|_| Errno::EFBIG)?;
    // SAFETY: posix_fallocate on a descriptor we hold; it returns the
    // error number instead of setting errno.
    let r = unsafe { libc::posix_fallocate(fd, off, len) };
    if r != 0 {
        return Err(Errno::from_raw(r));
    }
    Ok(())
}

/// [`reserve_at`] with `fallocate(2)` itself (mode 0, which also extends
/// the file to `off + len`: a range that ends the file sizes it too).
/// `Ok(false)` on a file system without `fallocate` (nothing done: the
/// caller sizes the file; `posix_fallocate` would write every block
/// instead).
pub(crate) fn reserve_sizing(fd: i32, off: u64, len: u64) -> Result<bool> {
    let off = libc::off_t::try_from(off).map_err(|_| Errno::EFBIG)?;
    let len = libc::off_t::try_from(len).map_err(|_| Errno::EFBIG)?;
    // SAFETY: fallocate (mode 0: contents unchanged) of a file we hold.
    if unsafe { libc::fallocate(fd, 0, off, len) } == 0 {
        return Ok(true);
    }
    match Errno::last() {
        Errno::EOPNOTSUPP | Errno::ENOSYS => Ok(false),
        e => Err(e),
    }
}

/// A recent look at the free space of the namespace's file system (see
/// [`Ns::has_room`]): bytes free for root (`f_bfree`) and for others
/// (`f_bavail`), less what this process's room checks granted since,
/// and when it was taken (`os::proc::coarse_now`'s stamp, as the
/// credentials' cache; 0: never).
#[derive(Debug, Default)]
pub(crate) struct Room {
    at: AtomicU64,
    bfree: AtomicU64,
    bavail: AtomicU64,
}

/// How long a look at the free space stands in for the next ones
/// ([`Ns::has_room`]): as long as a process's credentials are cached.
pub(crate) const ROOM_FRESH_NS: u64 = 10_000_000;

/// The free space a cached look must still show beyond a check's bytes
/// for the look to answer it ([`Ns::has_room`]).
pub(crate) const ROOM_SLACK: u64 = 16 << 20;

/// How many times [`Ns::fs_stat`] asked the kernel (for the tests).
#[cfg(test)]
pub(crate) static FS_STATS: AtomicU64 = AtomicU64::new(0);

impl Ns {
    /// Whether the namespace's file system has `bytes` free for the
    /// caller (`privileged`: root's reserved blocks count, as for its
    /// writes), for a create's room check (`shm::room_for`: a set's whole
    /// sparse file, a segment of more than 1 MiB). One `fstatvfs` of the
    /// directory's descriptor (a `statfs`, ~1 system call of a set's 13
    /// per create); its answer then stands in for this process's next
    /// checks for [`ROOM_FRESH_NS`], each taking its bytes off what it
    /// saw, as long as it still shows [`ROOM_SLACK`] beyond the bytes
    /// asked for. `fresh` looks again whatever was seen (after a sweep
    /// that freed space). A look says nothing beyond its instant in any
    /// case (others may fill the file system the next microsecond): what
    /// it guards against is a create the file system cannot hold *now*,
    /// and what a create writes at once is reserved by `fallocate`, which
    /// fails on a full file system whatever any look said (`ENOMEM`, never
    /// `SIGBUS`). A cached answer differs from a fresh one only when
    /// another process used more than the slack (16 MiB) of the file
    /// system within those 10 ms. (No answer is cached from a file system
    /// that reports no size: `f_blocks` 0, room always.)
    pub fn has_room(&self, bytes: u64, privileged: bool, fresh: bool) -> bool {
        let now = crate::os::proc::stamp(&crate::os::proc::coarse_now());
        let (mine, other) = if privileged {
            (&self.room.bfree, &self.room.bavail)
        } else {
            (&self.room.bavail, &self.room.bfree)
        };
        let at = self.room.at.load(Ordering::Acquire);
        if !fresh && at != 0 && now.wrapping_sub(at) < ROOM_FRESH_NS {
            let need = bytes.saturating_add(ROOM_SLACK);
            let take = |v: u64| (v >= need).then(|| v - bytes);
            if mine
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, take)
                .is_ok()
            {
                let _ = other.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                    Some(v.saturating_sub(bytes))
                });
                return true;
            }
        }
        let Ok(st) = self.fs_stat() else {
            return true; // cannot tell: fallocate will
        };
        if st.f_blocks == 0 {
            return true;
        }
        #[allow(clippy::unnecessary_cast)] // fsblkcnt_t and c_ulong are u64 on 64-bit targets only
        let (bfree, bavail) = (
            (st.f_bfree as u64).saturating_mul(st.f_frsize as u64),
            (st.f_bavail as u64).saturating_mul(st.f_frsize as u64),
        );
        let ok = bytes <= if privileged { bfree } else { bavail };
        let used = if ok { bytes } else { 0 };
        self.room
            .bfree
            .store(bfree.saturating_sub(used), Ordering::Relaxed);
        self.room
            .bavail
            .store(bavail.saturating_sub(used), Ordering::Relaxed);
        self.room.at.store(now, Ordering::Release);
        ok
    }

    /// `fstatvfs(2)` of the namespace's directory (the file system its
    /// objects live on).
    pub fn fs_stat(&self) -> Result<libc::statvfs> {
        #[cfg(test)]
        FS_STATS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: fstatvfs of a descriptor we hold into a zeroed buffer.
        unsafe {
            let mut st: libc::statvfs = core::mem::zeroed();
            if libc::fstatvfs(self.dirfd.as_raw_fd(), &mut st) != 0 {
                return Err(Errno::last());
            }
            Ok(st)
        }
    }
}

/// `fstat(2)` of `fd`.
pub(crate) fn fstat(fd: i32) -> Result<libc::stat> {
    // SAFETY: fstat fills a zeroed, properly sized stat buffer.
    unsafe {
        let mut st: libc::stat = core::mem::zeroed();
        if libc::fstat(fd, &mut st) != 0 {
            return Err(Errno::last());
        }
        Ok(st)
    }
}

pub(super) use crate::os::name::StackName;

/// [`Ns::idx_name`] as a NUL-terminated name in a buffer of its own (no
/// allocation: [`Obj::stat`] runs on every call of an engine, and in the
/// handlers of `fork`, where every first write to a heap page is a
/// fault).
#[inline(always)]
pub(super) fn idx_cname(kind: Kind, idx: i32) -> IdxName {
    // The prefix (`Kind::prefix`) as immediates: read from the library's
    // read-only data it was a page fault in every fork child's first
    // `IPC_STAT` (docs/perf.md).
    let p = match kind {
        Kind::Msg => core::hint::black_box(*b"msg"),
        Kind::Shm => core::hint::black_box(*b"shm"),
        Kind::Sem => core::hint::black_box(*b"sem"),
    };
    // "sem." and at most 10 digits: 14 of 16 bytes, the NUL included.
    IdxName(StackName::new().push(&p).push(b".").num(idx.max(0) as u64))
}

/// A numbered name, NUL-terminated (see [`idx_cname`]).
pub(super) struct IdxName(StackName<16>);

impl IdxName {
    #[inline(always)]
    pub(super) fn as_ptr(&self) -> *const libc::c_char {
        self.0.as_ptr()
    }

    pub(super) fn as_cstr(&self) -> Result<&CStr> {
        self.0.as_cstr()
    }

    #[cfg(test)]
    pub(super) fn bytes(&self) -> &[u8] {
        self.0.raw()
    }
}

/// The name of the payload file of the object whose file is inode `ino`
/// (with [`CreateSpec::data_apart`]), on the stack: "shm.data." and at
/// most 20 digits, 30 of 32 bytes with the NUL. Only that object's
/// creator links it (while the object file, hence its inode, exists: a
/// name found there for a live object file is that object's, or a
/// leftover of an earlier file with the same inode), and it goes before
/// the object's numbered name. No name parser takes it for an object
/// (`<kind>.data.…` is neither a number nor a key name).
pub(super) fn data_cname(kind: Kind, ino: u64) -> StackName<32> {
    StackName::new()
        .push(kind.prefix().as_bytes())
        .push(b".data.")
        .num(ino)
}

/// The object file's mode for IPC mode `mode`: read-write for each class
/// (owner, group, other) the mode grants anything to (read-only users
/// still write a queue's bookkeeping), always for the owner.
pub(super) fn file_mode_for(mode: u32) -> u32 {
    (0..3).fold(0o600u32, |acc, c| {
        if (mode >> (c * 3)) & 0o6 != 0 {
            acc | (0o6 << (c * 3))
        } else {
            acc
        }
    })
}

/// The payload file's mode for IPC mode `mode` (see
/// [`CreateSpec::data_apart`]): exactly its read and write bits, so that a
/// class granted only read may open it only for reading.
pub(super) fn data_mode_for(mode: u32) -> u32 {
    mode & 0o666
}

/// glibc's `ftok`: the same key for the same file and id —
/// `(st_ino & 0xffff) | ((st_dev & 0xff) << 16) | ((id & 0xff) << 24)`.
/// Fails with `stat`'s errno when the file cannot be reached.
pub fn ftok(path: &std::ffi::CStr, id: i32) -> Result<i32> {
    // SAFETY: stat on a NUL-terminated path into a zeroed buffer.
    let st = unsafe {
        let mut st: libc::stat = core::mem::zeroed();
        if libc::stat(path.as_ptr(), &mut st) != 0 {
            return Err(Errno::last());
        }
        st
    };
    Ok(((st.st_ino & 0xffff) as u32
        | (((st.st_dev & 0xff) as u32) << 16)
        | (((id as u32) & 0xff) << 24)) as i32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ns::testing::{alone, TempNs};

    /// Counts this process's `fstatvfs` calls around `f` (alone in a child:
    /// no other test's room check counts).
    fn looks(f: impl FnOnce()) -> u64 {
        let n0 = FS_STATS.load(Ordering::Relaxed);
        f();
        FS_STATS.load(Ordering::Relaxed) - n0
    }

    #[test]
    fn a_room_check_looks_once_in_10_ms_and_takes_its_bytes_off() {
        alone("room", || {
            let t = TempNs::new("room");
            let ns = &t.ns;
            let st = ns.fs_stat().unwrap();
            #[allow(clippy::unnecessary_cast)]
            let avail = (st.f_bavail as u64).saturating_mul(st.f_frsize as u64);
            if st.f_blocks == 0 || avail < 4 * ROOM_SLACK {
                eprintln!("skipped: the temporary directory's file system reports no size or is nearly full");
                return;
            }
            // A run slower than 5 ms (a loaded machine) may see a look
            // expire: tried again, up to 5 times.
            let mut tries = 0;
            loop {
                tries += 1;
                let start = std::time::Instant::now();
                let first = looks(|| assert!(ns.has_room(4096, false, true)));
                let seen = ns.room.bavail.load(Ordering::Relaxed);
                let seen_root = ns.room.bfree.load(Ordering::Relaxed);
                let again = looks(|| {
                    for _ in 0..100 {
                        assert!(ns.has_room(4096, false, false));
                    }
                });
                let left = ns.room.bavail.load(Ordering::Relaxed);
                let left_root = ns.room.bfree.load(Ordering::Relaxed);
                // More than the look less its slack: looked at again.
                let beyond = looks(|| {
                    ns.has_room(left - ROOM_SLACK + 1, false, false);
                });
                if start.elapsed() > std::time::Duration::from_millis(5) && tries < 5 {
                    continue;
                }
                assert_eq!(first, 1, "a fresh check looks");
                assert_eq!(again, 0, "100 checks within 10 ms answered by the look");
                assert_eq!(seen - left, 100 * 4096, "each took its bytes off");
                assert_eq!(seen_root - left_root, 100 * 4096, "root's figure too");
                assert_eq!(
                    beyond, 1,
                    "a check the look cannot answer with its slack looks again"
                );
                break;
            }
            // An expired look is looked at again.
            std::thread::sleep(std::time::Duration::from_millis(15));
            assert_eq!(looks(|| assert!(ns.has_room(4096, false, false))), 1);
            // No room: a look, and the answer no; not answered by a look
            // that said no (it keeps only what it saw).
            assert_eq!(
                looks(|| assert!(!ns.has_room(u64::MAX / 2, false, false))),
                1
            );
            assert_eq!(
                looks(|| assert!(!ns.has_room(u64::MAX / 2, true, false))),
                1
            );
            assert_eq!(looks(|| assert!(ns.has_room(4096, true, false))), 0);
        });
    }
}
