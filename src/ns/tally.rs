//! The tally: a window of `ripc.ns` where the queues' running totals live,
//! so that `MSG_INFO` adds them up without opening a queue (see
//! docs/msg.md, "MSG_INFO").
//!
//! From byte [`TALLY_OFF`] of `ripc.ns`, [`TALLY_STRIDE`] bytes per queue
//! index (the layout is the message engine's: `crate::msg`'s `Tally`).
//! `ripc.ns` is written by the namespace's owner only (and root), so the
//! tally is mapped read-write only in their processes, read-only in the
//! other members': no member can truncate it under another process's
//! mapping (a `SIGBUS`), which a group-writable file would allow. A
//! process that cannot write the tally tells `MSG_INFO` so through the
//! index hint (the queue is then counted by opening it).
//!
//! The owner's first process to want the window extends the file to cover
//! it (sparse: only the pages of indexes in use take memory, one page per
//! 32 queues); each page is populated ([`Tally::prepare`]) before its
//! first write, so a full file system is an error there, never a
//! `SIGBUS` at a store.
//!
//! After the slots, from [`TALLY_GROUPS`], the per-group area that makes
//! `MSG_INFO` cost the same with 10 or 32000 queues: a dirty word and a
//! sealed record per group of 64 indexes, a token counter and the
//! record of the total (docs/msg.md, "Constant `MSG_INFO`").

use super::*;

/// Where the tally starts in `ripc.ns`.
pub const TALLY_OFF: u64 = 1 << 20;
/// Bytes of tally per queue index: two cache lines, the senders' and the
/// receivers', so that neither side of a queue writes a line the other
/// side or a neighbouring queue writes.
pub const TALLY_STRIDE: usize = 128;
/// Bytes of the slots (every index).
const TALLY_LEN: usize = IDX_SPAN as usize * TALLY_STRIDE;
const PAGE: usize = 4096;
/// Where the per-group area starts in the window, after the slots: what
/// makes `MSG_INFO` cost the same with 10 or 32000 queues (its layout is
/// the message engine's: `crate::msg`'s `tally`; docs/msg.md, "Constant
/// `MSG_INFO`").
pub const TALLY_GROUPS: usize = TALLY_LEN;
/// Bytes of the per-group area.
pub const TALLY_GROUP_AREA: usize = 7 * PAGE;
/// Bytes of the whole window.
const WINDOW: usize = TALLY_GROUPS + TALLY_GROUP_AREA;
const _: () = assert!(WINDOW % PAGE == 0);

/// The mapped tally of a namespace.
#[derive(Debug)]
pub struct Tally {
    map: Mapping,
    writable: bool,
    /// Pages populated through this mapping, one bit each.
    ready: [AtomicU64; WINDOW.div_ceil(PAGE * 64)],
}

impl Tally {
    /// Maps the window of `ripc.ns` (extending the file first when the
    /// caller may write it). `None` when it cannot be had: a member's
    /// process before any owner's process made it, a file that is not
    /// the namespace's, no memory.
    pub(super) fn open(dirfd: &OwnedFd, writable: bool) -> Option<Tally> {
        let flags = if writable {
            libc::O_RDWR
        } else {
            libc::O_RDONLY
        };
        // SAFETY: openat relative to our directory fd with a constant,
        // NUL-terminated name, never following a symlink.
        let fd = unsafe {
            libc::openat(
                dirfd.as_raw_fd(),
                c"ripc.ns".as_ptr(),
                flags | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK,
            )
        };
        if fd < 0 {
            return None;
        }
        // SAFETY: a fresh descriptor we own.
        let f = unsafe { OwnedFd::from_raw_fd(fd) };
        let st = fstat(fd).ok()?;
        let dst = fstat(dirfd.as_raw_fd()).ok()?;
        // The checks of `Ns::open_ctl`: the owner's (or root's) regular
        // file, writable by nobody else.
        if st.st_mode & libc::S_IFMT != libc::S_IFREG
            || (st.st_uid != dst.st_uid && st.st_uid != 0)
            || st.st_mode & 0o022 != 0
        {
            return None;
        }
        let end = TALLY_OFF + WINDOW as u64;
        if (st.st_size as u64) < end {
            // SAFETY: growing a file we hold open for writing; only ever
            // grown (a concurrent grower sets the same length).
            if !writable || unsafe { libc::ftruncate(fd, end as libc::off_t) } != 0 {
                return None;
            }
        }
        let prot = if writable {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        let map = Mapping::with_prot(f.as_fd(), WINDOW, TALLY_OFF, prot).ok()?;
        Some(Tally {
            map,
            writable,
            ready: Default::default(),
        })
    }

    /// Whether this process may write the tally.
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// The tally of index `idx` (`TALLY_STRIDE` bytes).
    pub fn slot(&self, idx: i32) -> Result<Region<'_>> {
        let i = usize::try_from(idx).map_err(|_| Errno::EINVAL)?;
        self.map.region().sub(i * TALLY_STRIDE, TALLY_STRIDE)
    }

    /// Makes the page holding index `idx`'s tally backed by storage
    /// (once per page and process); false when it cannot be (a full file
    /// system) or the tally is read-only: then the caller must not write
    /// it.
    pub fn prepare(&self, idx: i32) -> bool {
        (0..IDX_SPAN).contains(&idx) && self.prepare_at(idx as usize * TALLY_STRIDE)
    }

    /// The bytes at `off..off + len` of the window (for the per-group
    /// area, from [`TALLY_GROUPS`]).
    pub fn window(&self, off: usize, len: usize) -> Result<Region<'_>> {
        self.map.region().sub(off, len)
    }

    /// Makes the page holding byte `off` of the window backed by storage,
    /// as [`Tally::prepare`].
    pub fn prepare_at(&self, off: usize) -> bool {
        if !self.writable || off >= WINDOW {
            return false;
        }
        let p = off / PAGE;
        let bit = 1u64 << (p % 64);
        if self.ready[p / 64].load(Ordering::Relaxed) & bit != 0 {
            return true;
        }
        if self.map.populate(p * PAGE, PAGE).is_err() {
            return false;
        }
        self.ready[p / 64].fetch_or(bit, Ordering::Relaxed);
        true
    }
}

impl Ns {
    /// The namespace's tally (see [`tally`](self)), mapped at the first
    /// call; `None` when it cannot be had.
    pub fn tally(&self) -> Option<&Arc<Tally>> {
        self.tally
            .get_or_init(|| Tally::open(&self.dirfd, self.ctl_writable).map(Arc::new))
            .as_ref()
    }

    /// For `MSG_INFO`'s group records: the queues' bitmap and their
    /// groups' dirty bytes in the index hint ([`index::Index::groups`]),
    /// once marked removals are settled; the highest index in use and how
    /// many are (as [`Ns::in_use`]), and the indexes to leave out (a
    /// removed queue's name we may not unlink). `None` as for
    /// [`Ns::in_use_words`].
    pub(crate) fn msg_groups(&self) -> Option<(i32, i32, index::Groups, Vec<i32>)> {
        let (hi, n, g, gone) = self.settled_hint(Kind::Msg, |ix| ix.groups(Kind::Msg))?;
        let (hi, n) = self.leave_out(Kind::Msg, &gone, hi, n);
        Some((hi, n, g, gone))
    }
}
