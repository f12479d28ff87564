//! [`Segment`] and [`Attachment`]: System V shared memory.

use super::{time, Error, Key, Namespace, OpenOptions, Perms, Result};
use core::sync::atomic::{AtomicU8, Ordering};
use std::time::SystemTime;

/// A shared memory segment: bytes that every process attaching it maps.
/// Attach it with [`Segment::attach`]; the [`Attachment`] detaches when
/// dropped.
///
/// A `Segment` is `Send` and `Sync`. Dropping it leaves the segment in
/// place: [`Segment::remove`] removes it (at once when nobody has it
/// attached, else at the last detach, as the kernel does).
///
/// ```
/// use ripc::{Key, Namespace, OpenOptions, Segment};
/// # let dir = std::env::temp_dir().join(format!("ripc-doc-shm-{}", std::process::id()));
/// let ns = Namespace::open(&dir)?;
/// let seg = Segment::open(&ns, Key::PRIVATE, 4096, OpenOptions::new().create(true))?;
/// let a = seg.attach()?;
/// a.write_at(100, b"shared")?;
/// let b = seg.attach_read_only()?; // a second mapping of the same bytes
/// let mut buf = [0u8; 6];
/// b.read_at(100, &mut buf)?;
/// assert_eq!(&buf, b"shared");
/// assert_eq!(seg.info()?.attachments, 2);
/// seg.remove()?; // gone once both attachments are dropped
/// # drop((a, b));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), ripc::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Segment {
    ns: Namespace,
    id: i32,
}

/// What [`Segment::info`] reports (`struct shmid_ds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SegmentInfo {
    /// owner, creator, mode (with `SHM_DEST` once removed), key
    pub perms: Perms,
    /// size in bytes
    pub size: u64,
    /// current attachments, in every process
    pub attachments: u64,
    /// process id of the creator
    pub creator_pid: i32,
    /// process id of the last attach or detach
    pub last_pid: i32,
    /// time of the last attach
    pub last_attach: Option<SystemTime>,
    /// time of the last detach
    pub last_detach: Option<SystemTime>,
    /// time of the last change
    pub changed: Option<SystemTime>,
}

impl Segment {
    /// `shmget`: the segment with `key` in `ns`, created per `opts` with
    /// `size` bytes (zeroed; its storage reserved now, so that a full file
    /// system fails here with `ENOMEM`, not at the first touch). An
    /// existing segment must have at least `size` bytes (`EINVAL`).
    /// `EINVAL` for size 0 or above the namespace's `shmmax`; `ENOENT`,
    /// `EEXIST`, `EACCES` as for [`Queue::open`](crate::Queue::open).
    pub fn open(ns: &Namespace, key: Key, size: usize, opts: OpenOptions) -> Result<Segment> {
        let id = engine::get(ns, key.value(), size, opts.flags())?;
        Ok(Segment { ns: ns.clone(), id })
    }

    /// The existing segment with id `id` (`EINVAL` when there is none).
    pub fn open_id(ns: &Namespace, id: i32) -> Result<Segment> {
        engine::check(ns, id)?;
        Ok(Segment { ns: ns.clone(), id })
    }

    /// The segment's id (for [`Segment::open_id`] and C's `shmat`).
    pub fn id(&self) -> i32 {
        self.id
    }

    /// Maps the segment read-write (needs read and write permission,
    /// `EACCES`). `EMFILE` past the namespace's `shmseg` attachments;
    /// `EIDRM`/`EINVAL` once it is destroyed.
    pub fn attach(&self) -> Result<Attachment> {
        self.attach_with(false)
    }

    /// Maps the segment read-only (`SHM_RDONLY`: needs read permission).
    pub fn attach_read_only(&self) -> Result<Attachment> {
        self.attach_with(true)
    }

    fn attach_with(&self, read_only: bool) -> Result<Attachment> {
        let (addr, len) = engine::attach(&self.ns, self.id, read_only)?;
        Ok(Attachment {
            ns: self.ns.clone(),
            id: self.id,
            addr,
            len,
            read_only,
        })
    }

    /// `IPC_STAT`: needs read permission (`EACCES`).
    pub fn info(&self) -> Result<SegmentInfo> {
        let s = engine::stat(&self.ns, self.id)?;
        Ok(SegmentInfo {
            perms: s.perm.into(),
            size: s.segsz,
            attachments: s.nattch,
            creator_pid: s.cpid,
            last_pid: s.lpid,
            last_attach: time(s.atime),
            last_detach: time(s.dtime),
            changed: time(s.ctime),
        })
    }

    /// `IPC_RMID` (by its owner, creator or root, else `EPERM`): the key
    /// finds it no more, and it is destroyed when nobody has it attached,
    /// at once or at the last detach.
    pub fn remove(&self) -> Result<()> {
        engine::remove(&self.ns, self.id)
    }
}

/// A mapping of a [`Segment`] into this process; dropping it detaches
/// (`shmdt`).
///
/// Other processes may write the bytes at any time, so this type never
/// hands out `&[u8]` or `&mut [u8]` (which promise that nobody else
/// changes them): it copies in and out ([`Attachment::read_at`],
/// [`Attachment::write_at`]), or gives the bytes as atomics
/// ([`Attachment::atomic_bytes`]). [`Attachment::as_ptr`] is for `unsafe`
/// code that synchronises with the other processes itself.
///
/// An `Attachment` is `Send` and `Sync`: the mapping is the process's, and
/// its bytes are only ever reached through atomics or raw pointers.
#[derive(Debug)]
pub struct Attachment {
    ns: Namespace,
    id: i32,
    addr: usize,
    len: usize,
    read_only: bool,
}

impl Attachment {
    /// The mapping's length: the segment's size.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the segment has no bytes (never: a segment has at least
    /// one).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether it was attached read-only.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The id of the segment it maps.
    pub fn segment_id(&self) -> i32 {
        self.id
    }

    /// The mapping's first byte, for `unsafe` code (a read-only
    /// attachment must not be written through it: `SIGSEGV`).
    pub fn as_ptr(&self) -> *mut u8 {
        self.addr as *mut u8
    }

    /// The bytes as atomics, which other processes may change at any time
    /// (`EACCES` for a read-only attachment, whose every store would
    /// fault).
    ///
    /// ```
    /// # use ripc::{Key, Namespace, OpenOptions, Segment};
    /// # let dir = std::env::temp_dir().join(format!("ripc-doc-atomic-{}", std::process::id()));
    /// # let ns = Namespace::open(&dir)?;
    /// # let seg = Segment::open(&ns, Key::PRIVATE, 64, OpenOptions::new().create(true))?;
    /// use std::sync::atomic::Ordering;
    /// let a = seg.attach()?;
    /// let flag = &a.atomic_bytes()?[0];
    /// flag.store(1, Ordering::Release); // seen by every process that maps it
    /// # seg.remove()?;
    /// # drop(a);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), ripc::Error>(())
    /// ```
    pub fn atomic_bytes(&self) -> Result<&[AtomicU8]> {
        if self.read_only {
            return Err(Error::from_raw_os_error(libc::EACCES));
        }
        Ok(self.bytes())
    }

    /// The mapping as atomics (loads only, when read-only).
    fn bytes(&self) -> &[AtomicU8] {
        // SAFETY: `addr..addr + len` is mapped (readable, and writable
        // unless read-only) for as long as `self` lives: only our Drop
        // detaches it. AtomicU8 has u8's layout and allows the concurrent
        // changes other processes make; callers store only when writable.
        unsafe { core::slice::from_raw_parts(self.addr as *const AtomicU8, self.len) }
    }

    /// The bytes at `offset..offset + len` (`EINVAL` past the end).
    fn range(&self, offset: usize, len: usize) -> Result<&[AtomicU8]> {
        offset
            .checked_add(len)
            .and_then(|end| self.bytes().get(offset..end))
            .ok_or(Error::from_raw_os_error(libc::EINVAL))
    }

    /// Copies `buf.len()` bytes from `offset` into `buf` (`EINVAL` past
    /// the end). Each byte is read once, atomically: a copy that races a
    /// writer may mix old and new bytes, as with any shared memory
    /// (synchronise with a [`SemSet`](crate::SemSet) or the bytes'
    /// atomics).
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        let src = self.range(offset, buf.len())?;
        for (d, s) in buf.iter_mut().zip(src) {
            *d = s.load(Ordering::Relaxed);
        }
        core::sync::atomic::fence(Ordering::Acquire);
        Ok(())
    }

    /// Copies `data` to `offset` (`EINVAL` past the end, `EACCES` for a
    /// read-only attachment).
    pub fn write_at(&self, offset: usize, data: &[u8]) -> Result<()> {
        let dst = self.range(offset, data.len())?;
        if self.read_only {
            return Err(Error::from_raw_os_error(libc::EACCES));
        }
        core::sync::atomic::fence(Ordering::Release);
        for (d, s) in dst.iter().zip(data) {
            d.store(*s, Ordering::Relaxed);
        }
        Ok(())
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        // Fails only if the mapping is already gone, which only this
        // Drop does.
        let _ = engine::detach(&self.ns, self.addr, self.id);
    }
}

/// Every call of [`Segment`] and [`Attachment`] to the shared memory
/// engine, in one place.
mod engine {
    use super::{Namespace, Result};
    use crate::shm::{self, ShmStat, SHM_RDONLY};

    pub(super) fn get(ns: &Namespace, key: i32, size: usize, flags: i32) -> Result<i32> {
        Ok(shm::shmget(ns.ns(), key, size, flags)?)
    }

    pub(super) fn check(ns: &Namespace, id: i32) -> Result<()> {
        Ok(shm::check(ns.ns(), id)?)
    }

    /// The address and length of a new mapping of segment `id`.
    pub(super) fn attach(ns: &Namespace, id: i32, read_only: bool) -> Result<(usize, usize)> {
        let flags = if read_only { SHM_RDONLY } else { 0 };
        let (addr, len) = shm::shmat(ns.ns(), id, 0, flags)?;
        Ok((addr, len as usize))
    }

    pub(super) fn detach(ns: &Namespace, addr: usize, id: i32) -> Result<()> {
        Ok(shm::shmdt(addr, Some((ns.ns(), id)))?)
    }

    pub(super) fn stat(ns: &Namespace, id: i32) -> Result<ShmStat> {
        Ok(shm::stat(ns.ns(), id)?)
    }

    pub(super) fn remove(ns: &Namespace, id: i32) -> Result<()> {
        Ok(shm::rmid(ns.ns(), id)?)
    }
}
