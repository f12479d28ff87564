//! The namespace's index hint: which object indexes are in use, one bit
//! each, so that a create finds the lowest free index in constant time
//! instead of probing every name from 0 (500 failed `linkat` and 500
//! mappings for the 501st queue).
//!
//! `$RIPC_DIR/ripc.idx` holds one byte per index and kind (32768 per kind:
//! the kernel's index range), not 0 while the index is in use — its *bit*
//! below, for readers make a bitmap of them (see "Bytes, not bits"). It is
//! a *hint*, never the truth: the numbered
//! names are. A create tries the lowest index the hint says is free; the
//! `link(2)` of the number decides (it fails when the name exists), and
//! whoever learns a bit is wrong puts it right. So every way the file can
//! be wrong costs time, never correctness:
//! - a bit clear whose name exists (a scribble, a library of the bitmap
//!   layout at work in the same namespace, a creator at the number killed
//!   between its magic and its bit — it sets the bit once the object is
//!   published, see `Ns::create`; a file being built at its number has no
//!   bit on purpose: it is no object yet; a creator under a temporary name
//!   sets its bit before it moves its file to the number, and checks it
//!   after):
//!   the object is missing from `*_INFO` and `*_STAT` walks until the next
//!   create's link at that index fails (it sets the bit and tries the
//!   next) or `ripcs` or `ripcrm -a` heal the namespace (`Ns::heal` sets
//!   the bit of every numbered name);
//! - a bit set whose name is gone (a creator killed between its bit and
//!   its move, a remover killed between its unlink and its bit): the
//!   index stays unused until a create finds no free bit, and then probes
//!   every index, as before the hint (and rewrites the bits it learns),
//!   or until a heal clears it; a highest bit of that kind is cleared by
//!   the next `*_INFO` (see `Ns::in_use`).
//!
//! From byte 12288 (the 12 KiB before held the bitmaps of the layout
//! before, see "Bytes, not bits"), one `u64` per index per kind:
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
//! From byte 2^20, per kind, *records* make those sums cost the same with
//! 10 or 32000 objects (what the kernel's running totals give): the
//! indexes are taken 64 at a time (a group: one `u64` of the bitmap), and
//! per group the file holds a *dirty* byte; after the 512 dirty bytes, a
//! record of the kind's total, then one per group, each of 24 bytes — a
//! key, a sum and a seal of the two ([`seal`]). A group's record (key: the
//! group's bitmap word; sum: its words over the bits set) counts when its
//! seal holds, its key is the group's word in the bitmap now, and the
//! group's dirty byte is clear. The total's record (key: a [`digest`] of
//! the whole bitmap) counts when its seal holds, its key is the digest of
//! the bitmap now and no dirty byte is set: then `*_INFO` has read the
//! bitmap (its bytes: a page while no index past the first 4032 was
//! used, one read more of 28 KiB at most after) and the dirty bytes with
//! the total (536 bytes), whatever the number of objects. Otherwise the group records
//! are read too (at most 12 KiB), the groups whose records do not count are
//! recounted from their 64 words, and the records stored again (see
//! [`Index::used_size`]): the first call after a change pays for the
//! groups changed since the last call. Who keeps them right:
//! - a creator writes its index's size, then sets its group's dirty byte
//!   ([`Index::set_size`]: one `pwrite` of one byte more per create); a
//!   remover writes nothing more: clearing its bit changes its group's
//!   bitmap word, which no longer matches the record. The dirty byte is
//!   what catches an index removed and created again, with another size,
//!   between two calls (the same bits, another sum);
//! - the recounter, under a lock of its own (a process's lock, tried
//!   once: a second recounter of the moment recounts without storing), reads
//!   again under it, then zeroes the total's record and the records of the
//!   groups it recounts (their seals then fail), then their dirty bytes,
//!   then reads the bitmap and the words and stores the records, and the
//!   total's last. A dirty byte a creator set before the clear belongs to
//!   a size written before it, which the read sees; one set after stays
//!   set. A recounter killed at any step leaves records that fail, never
//!   one that counts wrongly.
//!
//! A creator killed between its size and its dirty byte may leave its
//! group's record counting the index's previous size (when its bit was
//! already back in the recorded word): the module's case above of a
//! creator killed between its bit and its size, which the next create or
//! removal in that group (one more `pwrite` of the dirty byte, or a bit)
//! puts right. A scribbled record fails its seal and is recounted; one
//! scribbled with a right seal skews the figures as a scribbled size would.
//!
//! Queues keep no sizes: their group records live in the namespace's
//! tally (`crate::msg`'s `tally`, for `MSG_INFO`), and of this area they
//! use the dirty bytes alone, set by [`Index::set_half`] after a queue's
//! id or mark and cleared by `MSG_INFO`'s recounter ([`Index::clear_dirty`]).
//!
//! A *removal mark* (see [`Index::mark_removing`]) is the value 2 of an
//! index byte (1: in use; both are in use for every reader of the
//! bitmap): written by a remover (a queue's or set's; a segment's
//! `IPC_RMID`) before it marks the object removed, and gone with the
//! write of 0 that frees the index, so that `*_INFO` finish the removal
//! of a remover killed in between instead of counting the object until a
//! directory listing (`Ns::settle_removals`; segments:
//! `shm::sweep::settle`). One `pwrite` to mark, none to unmark: until
//! the index bytes, the marks were bytes of their own (after the group
//! records, [`MARKS`]; before them, bits under a byte lock), set and
//! cleared with a `pwrite` each.
//!
//! From byte 2^39, one byte per kind and index is a *build mark*: a
//! creator building its object at its number holds an OFD write lock on
//! its index's byte from before its `openat` until after its magic
//! ([`Index::claim_build`]), so that others tell a file being built from
//! a killed creator's with one `F_OFD_GETLK` ([`Index::build_held`]).
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
//! *Bytes, not bits.* The in-use marks were a bitmap of 4 KiB per kind
//! (from byte 0) until the creates and removals of issue 14's scale work
//! were counted: eight indexes shared a byte, so setting or clearing one
//! was a read-modify-write under a lock between processes — an OFD lock,
//! a `pread`, a `pwrite`, the unlock: 4 system calls at each create and
//! each removal, 8 of a set's 31 per create + `IPC_RMID`. With a byte of
//! its own per index (after the removal marks, [`BYTES`]) a mark is one
//! `pwrite`, no lock and no read, and two writers can no longer lose each
//! other's update. Readers make the bitmap they had from the bytes
//! ([`Index::read_bits`]: bit `i % 8` of byte `i / 8` set when index `i`'s
//! byte is not 0), so the group records, keyed by bitmap words, and the
//! total's digest are what they were. Each kind's bytes follow a head of
//! 64 bytes in a page-aligned area, so that the first page holds the
//! head and the first 4032 indexes: a create reads its free index from
//! that page (the rest only when the page is full), and a reader of the
//! whole bitmap reads past it only up to the last page the head says was
//! used (a byte per page, set before the index's byte by the first
//! process to mark an index there, never cleared; [`Index::note_far`]). A file of the layout
//! before (no [`BYTE_MAP`] at [`FORMAT`]) has its bits carried over to the
//! bytes by the first open of this library ([`Index::migrate`]).
//!
//! The file is read and written with `pread`/`pwrite` of the bytes needed,
//! never mapped: a member that truncates or fills it cannot make another
//! process fault, and a planted file of any other kind is ignored. One
//! descriptor per process for the whole namespace.

use super::Kind;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Bytes of one kind's bitmap.
const MAP: usize = 4096;

/// Where the per-index sizes start (after the three bitmaps of the layout
/// before the index bytes).
const SIZES: u64 = 3 * MAP as u64;

/// Where the group records start (see the module comment).
const GROUPS: u64 = 1 << 20;

/// Indexes per group: one `u64` of a bitmap.
pub(crate) const GROUP: usize = 64;

/// Groups per kind.
const NGROUPS: usize = MAP * 8 / GROUP;

/// Bytes of a group's record: its bitmap word, its sum, their seal.
const REC: usize = 24;

/// Bytes between two kinds' group areas (512 dirty bytes, 512 records).
const GROUP_AREA: u64 = 16384;

/// Where the removal marks of the bitmap layout start (one byte per index
/// and kind; read only by [`Index::migrate`]: a mark is now an index
/// byte's value, see [`Index::mark_removing`]). The 12 KiB before them
/// held the marks of an earlier layout (one bit per index, under a byte
/// lock): not read, so a mark a library of that layout left there is no
/// mark.
const MARKS: u64 = GROUPS + 3 * GROUP_AREA + 3 * MAP as u64;

/// Indexes per kind.
const IDXS: usize = MAP * 8;

/// Where the *index bytes* start: per kind a page-aligned area of a head
/// ([`HEAD`] bytes) and one byte per index, not 0 while the index is in
/// use (see the module comment, "Bytes, not bits").
const BYTES: u64 = MARKS + 3 * IDXS as u64;

/// Bytes of a kind's head: its byte `p` (1 to [`PAGES`]) not 0 once an
/// index in page `p` of the area (past the first: [`FIRST_READ`] and up)
/// was marked in use (see [`Index::note_far`], [`Index::read_bits`]); in
/// the queues' head, from byte 16, [`FORMAT`].
const HEAD: usize = 64;

/// Bytes of a kind's area of index bytes: a page more than its indexes
/// (the head, and page-aligned areas).
const AREA: u64 = IDXS as u64 + 4096;

/// Where the file says which layout its in-use marks have: [`BYTE_MAP`]
/// once the bitmaps of the layout before were carried over to the bytes
/// (see [`Index::migrate`]); in the queues' head, the page of their first
/// index bytes (a namespace with a few objects writes no page more than
/// with the bitmaps).
const FORMAT: u64 = BYTES + 16;

/// Pages of a kind's area past its first.
const PAGES: usize = (HEAD + IDXS).div_ceil(4096) - 1;

/// The value of an index byte with a removal mark (see
/// [`Index::mark_removing`]).
const REMOVING: u8 = 2;

/// The value at [`FORMAT`] of a file whose in-use marks are bytes.
const BYTE_MAP: u64 = u64::from_le_bytes(*b"ripcidxB");

/// The indexes whose bytes share the first page of their kind's area
/// with its head: what a create reads before it reads the rest (see
/// [`FreeBytes`]), and a reader of the whole bitmap, unless the head says
/// an index past them was used (see [`Index::read_bits`]).
const FIRST_READ: usize = 4096 - HEAD;

const _: () = assert!((NGROUPS + REC + NGROUPS * REC) as u64 <= GROUP_AREA);
const _: () = assert!(BYTES + 3 * AREA <= LIVE as u64);
const _: () = assert!(BYTES % 4096 == 0 && AREA % 4096 == 0 && FIRST_READ % 8 == 0);
const _: () = assert!(PAGES < 16 && PAGES < HEAD - 8);
const _: () = assert!(SIZES + 3 * (IDXS as u64) * 8 <= GROUPS);
const _: () = assert!(GROUPS + 3 * GROUP_AREA < LIVE as u64);
const _: () = assert!(BUILD + 4 * (IDXS as u64) < LIVE as u64 && BUILD > BYTES + 3 * AREA);

/// The seal of a group record (bitmap word `bits`, sum `sum`): never 0,
/// so that zeroed (or never written) records fail.
fn seal(bits: u64, sum: u64) -> u64 {
    (bits ^ sum.rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15).wrapping_mul(0xff51_afd7_ed55_8ccd)
}

/// What [`Index::used_size`] did beyond reading: groups recounted, and
/// whether their records were stored (for the tests).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Recount {
    pub groups: usize,
    pub stored: bool,
}

/// Where the liveness marks start (one byte per pid; see the module
/// comment).
const LIVE: i64 = 1 << 40;

/// The highest index in use (-1: none), how many are, and each in use,
/// ascending, with its word (see [`Index::used_words`]).
pub type UsedWords = (i32, i32, Vec<(i32, u64)>);

/// A kind's bitmap and its groups' dirty bytes (see [`Index::groups`]).
#[derive(Debug)]
pub(crate) struct Groups {
    /// The bitmap, as read.
    map: [u8; MAP],
    /// The dirty bytes of the groups below `ng`.
    dirty: [u8; NGROUPS],
    /// The groups up to the highest index in use.
    pub ng: usize,
}

impl Groups {
    /// Group `g`'s bitmap word, and whether its dirty byte is set.
    #[inline]
    pub fn group(&self, g: usize) -> (u64, bool) {
        (le(&self.map[g * 8..g * 8 + 8]), self.dirty[g] != 0)
    }
}

/// The open hint file.
#[derive(Debug)]
pub struct Index {
    fd: OwnedFd,
    /// the file's device and inode, as opened
    id: (u64, u64),
    /// Per kind, the pages whose head byte this process set (bit `p`; see
    /// [`Index::note_far`]).
    far: [std::sync::atomic::AtomicU16; 3],
    /// Per kind, whether the last read of the whole bitmap in this process
    /// met a removal mark (see [`Index::removing_seen`]).
    marked: [std::sync::atomic::AtomicBool; 3],
    /// Orders this process's threads around a recount of group records
    /// (an OFD lock does not tell apart threads sharing the descriptor):
    /// the pid of the process whose thread holds it, 0 when free; tried
    /// once, never waited for. Not a mutex: a child forked while another
    /// thread held it inherits it held, sees its parent's pid there and
    /// takes it over.
    recount: std::sync::atomic::AtomicI32,
    /// The builds at their number this process's threads have under way
    /// ([`Index::claim_build`]): a [`build_word`] each, 0 when free. An
    /// OFD lock does not tell apart threads sharing the descriptor (a
    /// second `F_OFD_SETLK` of the same byte succeeds, `F_OFD_GETLK` never
    /// sees the descriptor's own locks), so the threads tell each other
    /// here. A word of another pid is a parent's, inherited by `fork`:
    /// free.
    builds: [std::sync::atomic::AtomicU64; BUILD_SLOTS],
}

/// Where the *build marks* start (see [`Index::claim_build`]): one byte
/// per kind and index, never written (locks take no storage).
const BUILD: u64 = 1 << 39;

/// Builds at their number one process may have under way at once (more
/// threads wait for a slot).
const BUILD_SLOTS: usize = 16;

/// What [`Index::claim_build`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The index is this thread's to build at (the slot to give back).
    Mine(usize),
    /// Another creator builds there: the next index.
    Busy,
    /// No lock could be taken (a file system without OFD locks): the
    /// caller creates as before the build marks (a temporary name).
    NoLocks,
}

/// The word of [`Index::builds`] for index `idx` of `kind` in process
/// `pid`.
fn build_word(pid: i32, kind: Kind, idx: i32) -> u64 {
    ((pid as u32 as u64) << 32) | ((kind as u64) << 16) | (idx as u16 as u64)
}

/// [`Index::setlk`] through descriptor `fd` (of the index file).
fn setlk_on(fd: i32, cmd: libc::c_int, off: u64, ty: libc::c_int) -> bool {
    // SAFETY: a zeroed flock is a valid argument; we fill it below.
    let mut fl: libc::flock = unsafe { core::mem::zeroed() };
    fl.l_type = ty as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = off as libc::off_t;
    fl.l_len = 1;
    // SAFETY: fcntl on a descriptor the caller holds, with a flock we own.
    unsafe { libc::fcntl(fd, cmd, &mut fl) == 0 }
}

/// The free indexes below `max` (index byte 0), ascending, read as
/// needed: the first page of index bytes (its 4032 indexes after the
/// kind's head), then the next page (4096 more), then the rest up to
/// `max` — one `pread` of a page per create while fewer than 4032
/// objects of its kind exist, two up to 8128, three beyond. (Until
/// 2026-12-07 the second read took the whole rest, 28 KiB, zeroed first:
/// with 4000 objects present a batch of creates past index 4031 paid
/// that copy and that `memset` each.) Bytes in use are passed over 16 at
/// a time ([`eq_mask16`]).
struct FreeBytes<'a> {
    ix: &'a Index,
    kind: Kind,
    /// The index bytes read so far, from index 0.
    bytes: Vec<u8>,
    next: i32,
    max: i32,
}

impl FreeBytes<'_> {
    /// Appends the next stretch of index bytes (see the type's comment);
    /// bytes past the end of the file are 0 (free).
    fn read_more(&mut self) {
        let at = self.bytes.len();
        let want = match at {
            0 => FIRST_READ,
            FIRST_READ => FIRST_READ + 4096,
            _ => IDXS,
        }
        .min(self.max as usize);
        let n = want.saturating_sub(at);
        self.bytes.reserve_exact(n);
        // SAFETY: pread of at most `n` bytes into the vector's spare
        // capacity (at least `n` bytes, reserved just above); only the
        // bytes it wrote are then made part of the vector.
        unsafe {
            let got = libc::pread(
                self.ix.fd.as_raw_fd(),
                self.bytes.spare_capacity_mut().as_mut_ptr().cast(),
                n,
                Index::byte_off(self.kind, at) as libc::off_t,
            );
            self.bytes.set_len(at + got.clamp(0, n as isize) as usize);
        }
        // Past the end of the file (or all of it, on an error): free.
        self.bytes.resize(want, 0);
    }
}

impl Iterator for FreeBytes<'_> {
    type Item = i32;

    fn next(&mut self) -> Option<i32> {
        while self.next < self.max {
            let i = self.next as usize;
            if i >= self.bytes.len() {
                self.read_more();
                continue;
            }
            match first_zero(&self.bytes[i..]) {
                Some(k) => {
                    self.next = (i + k + 1) as i32;
                    return Some((i + k) as i32);
                }
                None => self.next = self.bytes.len() as i32,
            }
        }
        None
    }
}

/// The position of the first 0 byte of `b`, 16 bytes per compare
/// ([`eq_mask16`]; 8 per step of a scalar loop took ~11 000 instructions
/// per create with 4000 objects present, 22 per 8 bytes in use).
fn first_zero(b: &[u8]) -> Option<usize> {
    let mut chunks = b.chunks_exact(16);
    for (n, c) in chunks.by_ref().enumerate() {
        let m = eq_mask16(c, 0);
        if m != 0 {
            return Some(n * 16 + m.trailing_zeros() as usize);
        }
    }
    let tail = chunks.remainder();
    tail.iter()
        .position(|&x| x == 0)
        .map(|k| b.len() - tail.len() + k)
}

/// Packs index bytes into bits: bit `k` of `out[j]` set when
/// `bytes[8 * j + k]` is not 0 (a whole `out` byte 0 past `bytes`). 16
/// bytes at a time ([`eq_mask16`]; 8 at a time, [`gather`], took a
/// microsecond of `IPC_INFO` with 4000 objects).
/// True when a byte of `bytes` is a removal mark ([`REMOVING`]).
fn pack(bytes: &[u8], out: &mut [u8]) -> bool {
    let pairs = (bytes.len() / 16).min(out.len() / 2);
    let mut marks = 0;
    for (o, c) in out.chunks_exact_mut(2).zip(bytes.chunks_exact(16)) {
        let used = !eq_mask16(c, 0) as u16;
        marks |= eq_mask16(c, REMOVING);
        o.copy_from_slice(&used.to_le_bytes());
    }
    let (out, bytes) = (&mut out[pairs * 2..], &bytes[pairs * 16..]);
    for (o, c) in out.iter_mut().zip(bytes.chunks(8)) {
        *o = gather(le8(c));
        marks |= eq_mask16(c, REMOVING);
    }
    for o in out.iter_mut().skip(bytes.len().div_ceil(8)) {
        *o = 0;
    }
    marks != 0
}

/// Bit `k` set when `c[k] == b`, for the (up to) 16 bytes of `c`: one
/// compare of 16 bytes (SSE2, in every x86-64) where there is one.
#[inline]
fn eq_mask16(c: &[u8], b: u8) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if c.len() == 16 {
        use core::arch::x86_64::{
            _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
        };
        // SAFETY: SSE2 is part of the x86-64 baseline; an unaligned load
        // of the 16 bytes of `c`.
        let m = unsafe {
            let v = _mm_loadu_si128(c.as_ptr().cast());
            _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b as i8)))
        };
        return m as u32 & 0xffff;
    }
    c.iter()
        .take(16)
        .enumerate()
        .fold(0, |m, (k, x)| m | (u32::from(*x == b) << k))
}

/// A bit per byte of `v`: bit `k` set when byte `k` is not 0.
#[inline]
fn gather(v: u64) -> u8 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HI: u64 = 0x8080_8080_8080_8080;
    if v == 0 {
        return 0;
    }
    // The high bit of each byte not 0, then the 8 high bits gathered into
    // the top byte (distinct powers of two: no carries).
    let nz = ((v & LOW7).wrapping_add(LOW7) | v) & HI;
    ((nz >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u8
}

/// The little-endian `u64` of up to 8 bytes (missing bytes 0).
fn le8(c: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b[..c.len().min(8)].copy_from_slice(&c[..c.len().min(8)]);
    u64::from_le_bytes(b)
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
        let ix = Index {
            fd,
            id: (st.st_dev, st.st_ino),
            far: Default::default(),
            marked: Default::default(),
            recount: std::sync::atomic::AtomicI32::new(0),
            builds: Default::default(),
        };
        ix.migrate();
        Some(ix)
    }

    /// Carries the in-use bits of the layout before (one bitmap of 4 KiB
    /// per kind from byte 0, set and cleared under a byte lock) and its
    /// removal marks (bytes from [`MARKS`]) over to the index bytes, once
    /// per file: a namespace a library before this
    /// one used keeps its objects counted by `*_INFO` and its free
    /// indexes found at once. One `pread` of the format word when done
    /// (every open after the first); else, under an OFD lock on that word
    /// (tried for ~1 ms: a migrator that does not let go leaves the
    /// migration to the next open), read again, then per kind the old
    /// bitmap read and, when any bit is set, its bits added to the bytes
    /// (read, or-ed, written: a byte another process set meanwhile stays
    /// set), then the format word written. The old bitmaps are left as
    /// they are, not read again. A fresh file is migrated the same way
    /// (three reads of nothing, one write).
    ///
    /// A library before this one that still runs in the namespace keeps
    /// its bitmaps, which this one no longer reads (nor it the bytes):
    /// each side's creates then meet the other's objects by their failed
    /// `link`s (time, not objects), and its `*_INFO` miss the other's
    /// objects until `ripcs` or `ripcrm -a` heal the namespace.
    fn migrate(&self) {
        if self.format() == BYTE_MAP {
            return;
        }
        if !self.lock_byte(FORMAT, libc::F_WRLCK as libc::c_short) {
            return;
        }
        if self.format() != BYTE_MAP {
            for kind in [Kind::Msg, Kind::Shm, Kind::Sem] {
                let mut old = [0u8; MAP];
                self.read_at(&mut old, (kind as u64 - 1) * MAP as u64);
                let Some(last) = old.iter().rposition(|b| *b != 0) else {
                    continue;
                };
                let mut bytes = vec![0u8; (last + 1) * 8];
                self.read_at(&mut bytes, Self::byte_off(kind, 0));
                let mut marks = vec![0u8; bytes.len()];
                self.read_at(&mut marks, MARKS + (kind as u64 - 1) * IDXS as u64);
                for (i, b) in bytes.iter_mut().enumerate() {
                    if old[i / 8] & (1 << (i % 8)) != 0 && *b == 0 {
                        // (A mark counts with its bit: one without is a
                        // remover's leftover after it cleared the bit.)
                        *b = if marks[i] != 0 { REMOVING } else { 1 };
                    }
                }
                self.write_at(&bytes, Self::byte_off(kind, 0));
                // The head's byte of the last page used (readers read up
                // to it).
                let page = (HEAD + bytes.len() - 1) / 4096;
                if page > 0 {
                    self.write_at(&[1], Self::head_off(kind) + page as u64);
                }
            }
            self.write_at(&BYTE_MAP.to_le_bytes(), FORMAT);
        }
        self.lock_byte(FORMAT, libc::F_UNLCK as libc::c_short);
    }

    /// The format word (see [`FORMAT`]).
    fn format(&self) -> u64 {
        let mut b = [0u8; 8];
        self.read_at(&mut b, FORMAT);
        u64::from_le_bytes(b)
    }

    /// Offset of the head of `kind`'s index bytes.
    fn head_off(kind: Kind) -> u64 {
        BYTES + (kind as u64 - 1) * AREA
    }

    /// Offset of the index byte of index `idx` of `kind`.
    fn byte_off(kind: Kind, idx: usize) -> u64 {
        Self::head_off(kind) + (HEAD + idx) as u64
    }

    /// Before a mark of index `idx` of `kind` as in use: when it lies past
    /// the first page of the kind's area, the head's byte of its page (1
    /// to 8) set (once per process, kind and page: this process's `far`
    /// then remembers it), so that readers of the whole bitmap read up to
    /// that page. Set before the index's byte and never cleared: a marker
    /// killed in between leaves a byte that costs readers a page more, no
    /// index missed.
    fn note_far(&self, kind: Kind, idx: i32) {
        use std::sync::atomic::Ordering;
        let page = (HEAD + idx as usize) / 4096;
        let far = &self.far[kind as usize - 1];
        if page > 0 && far.load(Ordering::Relaxed) & (1 << page) == 0 {
            self.write_at(&[1], Self::head_off(kind) + page as u64);
            far.fetch_or(1 << page, Ordering::Relaxed);
        }
    }

    /// [`Index::note_far`] whatever this process remembers: for a healer
    /// that found index `idx` named but not in the bitmap it read (its
    /// page's head byte scribbled away, say).
    pub fn note_page(&self, kind: Kind, idx: i32) {
        if (0..IDXS as i32).contains(&idx) {
            self.far[kind as usize - 1].store(0, std::sync::atomic::Ordering::Relaxed);
            self.note_far(kind, idx);
        }
    }

    /// The bitmap of groups `first..first + out.len() / 8` of `kind`, made
    /// from their index bytes (bit `i % 8` of byte `i / 8` set when index
    /// `i`'s byte is not 0; bytes past the end of the file are 0). The
    /// whole bitmap is one `pread` of a page (the head and 4032 indexes)
    /// while no index past them was used, then one of the pages up to the
    /// last the head says was used (28 KiB at most): a reader of the whole
    /// 32 KiB each time doubled `IPC_INFO` and `SEM_INFO`, and
    /// `SEEK_DATA`/`SEEK_HOLE` to skip the pages never written cost three
    /// `lseek`s, as much (see docs/perf.md). Records whether a removal
    /// mark was met (see [`Index::removing_seen`]).
    fn read_bits(&self, kind: Kind, first: usize, out: &mut [u8]) {
        out.fill(0);
        let lo = first * GROUP;
        let n = (out.len() * 8).min(IDXS.saturating_sub(lo));
        if lo > 0 || n <= FIRST_READ {
            let mut bytes = vec![0u8; n];
            self.read_at(&mut bytes, Self::byte_off(kind, lo));
            let _ = pack(&bytes, out);
            return;
        }
        // The whole bitmap: the first page (the head and the first
        // indexes), then the rest when the head says an index past them
        // was used.
        use std::sync::atomic::Ordering;
        let mut page = [0u8; 4096];
        self.read_at(&mut page, Self::head_off(kind));
        let mut marked = pack(&page[HEAD..], &mut out[..FIRST_READ / 8]);
        // Up to the last page the head says was used (its bytes 1 to 8).
        if let Some(last) = page[1..=PAGES].iter().rposition(|b| *b != 0) {
            let end = ((last + 2) * 4096 - HEAD).min(n);
            let rest = self.read_vec(end - FIRST_READ, Self::byte_off(kind, FIRST_READ));
            marked |= pack(&rest, &mut out[FIRST_READ / 8..]);
        }
        self.marked[kind as usize - 1].store(marked, Ordering::Relaxed);
    }

    /// The kind's bitmap, made from its index bytes (see
    /// [`Index::read_bits`]).
    fn read_map(&self, kind: Kind) -> Box<[u8; MAP]> {
        let mut b = Box::new([0u8; MAP]);
        self.read_bits(kind, 0, &mut b[..]);
        b
    }

    /// The indexes below `max` that the hint says are free, lowest first;
    /// then every index below `max` (the fallback when the hint was wrong
    /// all along).
    pub fn candidates(&self, kind: Kind, max: i32) -> impl Iterator<Item = i32> + '_ {
        let max = max.clamp(0, IDXS as i32);
        let free = FreeBytes {
            ix: self,
            kind,
            bytes: Vec::new(),
            next: 0,
            max,
        };
        free.chain(0..max)
    }

    /// Records that index `idx` of `kind` is (`used`) or is not in use:
    /// one `pwrite` of its byte, no lock and no read (each index has a
    /// byte of its own; see the module comment, "Bytes, not bits").
    pub fn mark(&self, kind: Kind, idx: i32, used: bool) {
        if (0..IDXS as i32).contains(&idx) {
            if used {
                self.note_far(kind, idx);
            }
            self.write_at(&[u8::from(used)], Self::byte_off(kind, idx as usize));
        }
    }

    /// Sets the *removal mark* of index `idx` of `kind` (its byte to 2):
    /// a remover writes it before it marks its object removed, and the
    /// write of 0 that frees the index ([`Index::mark`]) takes it away, so
    /// that a remover killed in between (the object removed, its number or
    /// its bit still there, which `*_INFO` would count) is found by the
    /// next `*_INFO` without a directory listing (see
    /// `Ns::settle_removals`). One `pwrite` of the index's byte; a marked
    /// index is in use for every reader of the bitmap, as it was (a
    /// remover marks an object that has its number).
    pub fn mark_removing(&self, kind: Kind, idx: i32) {
        if (0..IDXS as i32).contains(&idx) {
            self.note_far(kind, idx);
            self.write_at(&[REMOVING], Self::byte_off(kind, idx as usize));
        }
    }

    /// [`Index::removing`], when the last read of `kind`'s whole bitmap in
    /// this process (the caller's, just before: `*_INFO` read the bitmap,
    /// then settle the marks up to its highest index) met a removal mark;
    /// else none, without reading the bytes again — with 20000 sets they
    /// were five `pread`s of 4 KiB more per `IPC_INFO`, three times its
    /// cost. Another thread's read in between may answer instead: a mark
    /// it met costs the read; one it did not meet was cleared by then (or
    /// set since, by a removal at work beside the call, which counts as
    /// the call's if it takes effect first either way).
    pub fn removing_seen(&self, kind: Kind, below: i32) -> Vec<i32> {
        if self.marked[kind as usize - 1].load(std::sync::atomic::Ordering::Relaxed) {
            self.removing(kind, below)
        } else {
            Vec::new()
        }
    }

    /// The indexes of `kind` below `below` with a removal mark, ascending
    /// (one `pread` of `below` index bytes).
    pub fn removing(&self, kind: Kind, below: i32) -> Vec<i32> {
        let n = below.clamp(0, IDXS as i32) as usize;
        let mut v = Vec::new();
        // A page at a time through a buffer on the stack, scanned 16
        // bytes at a time ([`eq_mask16`]): a zeroed heap buffer scanned byte
        // by byte was most of `MSG_INFO`'s instructions with 4000 queues
        // once the group records made the rest constant.
        let mut buf = [0u8; 4096];
        for at in (0..n).step_by(4096) {
            let len = (n - at).min(4096);
            // SAFETY: pread of at most 4096 bytes into our own buffer of
            // 4096 bytes.
            let got = unsafe {
                libc::pread(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    len,
                    (Self::byte_off(kind, 0) + at as u64) as libc::off_t,
                )
            };
            let got = got.clamp(0, len as isize) as usize;
            for (c, chunk) in buf[..got].chunks(16).enumerate() {
                let mut m = eq_mask16(chunk, REMOVING);
                while m != 0 {
                    v.push((at + c * 16 + m.trailing_zeros() as usize) as i32);
                    m &= m - 1;
                }
            }
            if got < len {
                break;
            }
        }
        v
    }

    /// Whether index `idx` of `kind` is marked in use (one `pread` of its
    /// byte).
    pub fn is_used(&self, kind: Kind, idx: i32) -> bool {
        if !(0..IDXS as i32).contains(&idx) {
            return false;
        }
        let mut b = [0u8; 1];
        self.read_at(&mut b, Self::byte_off(kind, idx as usize));
        b[0] != 0
    }

    /// The size recorded for index `idx` of `kind` (see
    /// [`Index::set_size`]); 0 when unreadable.
    pub fn size(&self, kind: Kind, idx: i32) -> u64 {
        if !(0..IDXS as i32).contains(&idx) {
            return 0;
        }
        let mut b = [0u8; 8];
        self.read_at(&mut b, Self::size_off(kind, idx) as u64);
        u64::from_le_bytes(b)
    }

    fn size_off(kind: Kind, idx: i32) -> libc::off_t {
        (SIZES + ((kind as u64 - 1) * (MAP as u64 * 8) + idx as u64) * 8) as libc::off_t
    }

    /// Records the size of the object at index `idx` of `kind` (see the
    /// module comment): semaphores of a set, pages of a segment; then
    /// marks its group dirty (after the size: a recounter that clears the
    /// mark reads the size).
    pub fn set_size(&self, kind: Kind, idx: i32, size: u64) {
        if !(0..IDXS as i32).contains(&idx) {
            return;
        }
        self.write_at(&size.to_le_bytes(), Self::size_off(kind, idx) as u64);
        self.write_at(&[1], Self::dirty_off(kind, idx as usize / GROUP));
    }

    /// `pread` into `buf` from `off`; the bytes past the end of the file
    /// (or all, on an error) read as zero.
    fn read_at(&self, buf: &mut [u8], off: u64) {
        // SAFETY: pread into our own buffer of its length.
        let got = unsafe {
            libc::pread(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                off as libc::off_t,
            )
        };
        buf[got.max(0) as usize..].fill(0);
    }

    /// Up to `n` bytes from `off`: those `pread` got (none past the end of
    /// the file, nor on an error), into a buffer not zeroed first (a
    /// kind's rest of 28 KiB was mostly zeroed for nothing).
    fn read_vec(&self, n: usize, off: u64) -> Vec<u8> {
        let mut v: Vec<u8> = Vec::with_capacity(n);
        // SAFETY: pread into the vector's spare capacity of at least `n`
        // bytes; only the bytes it wrote are then made part of the vector.
        unsafe {
            let got = libc::pread(
                self.fd.as_raw_fd(),
                v.spare_capacity_mut().as_mut_ptr().cast(),
                n,
                off as libc::off_t,
            );
            v.set_len(got.clamp(0, n as isize) as usize);
        }
        v
    }

    /// `pwrite` of `buf` at `off`; true when all of it was written.
    fn write_at(&self, buf: &[u8], off: u64) -> bool {
        // SAFETY: pwrite from our own buffer of its length.
        let n = unsafe {
            libc::pwrite(
                self.fd.as_raw_fd(),
                buf.as_ptr().cast(),
                buf.len(),
                off as libc::off_t,
            )
        };
        n == buf.len() as isize
    }

    /// Offset of group `g`'s dirty byte.
    fn dirty_off(kind: Kind, g: usize) -> u64 {
        GROUPS + (kind as u64 - 1) * GROUP_AREA + g as u64
    }

    /// Offset of the record of the kind's total (after the dirty bytes).
    fn top_off(kind: Kind) -> u64 {
        Self::dirty_off(kind, NGROUPS)
    }

    /// Offset of group `g`'s record (after the total's).
    fn rec_off(kind: Kind, g: usize) -> u64 {
        Self::top_off(kind) + (REC + g * REC) as u64
    }

    /// Writes the low (`high` false: bytes 0–3) or high half of the word
    /// of index `idx` of `kind` (a queue's two records, see the module
    /// comment): one `pwrite` of 4 bytes, so that two writers of the two
    /// halves never undo each other; then sets the group's dirty byte (as
    /// [`Index::set_size`]: `MSG_INFO`'s group records, `crate::msg`'s
    /// `tally`, count only while it is clear).
    pub fn set_half(&self, kind: Kind, idx: i32, high: bool, v: u32) {
        if !(0..IDXS as i32).contains(&idx) {
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
        self.write_at(&[1], Self::dirty_off(kind, idx as usize / GROUP));
    }

    /// For `MSG_INFO`'s group records (`crate::msg`'s `tally`): the
    /// kind's bitmap, its highest index in use and how many are (as
    /// [`Index::used`]), and the dirty bytes of the groups up to that
    /// index — the bitmap ([`Index::read_bits`]) and one `pread`
    /// whatever the number of objects.
    pub(crate) fn groups(&self, kind: Kind) -> (i32, i32, Groups) {
        // On the stack, zeroed by `read_at` past what it read: a boxed
        // zeroed bitmap cost ~10 000 instructions of allocation and fill.
        let mut g = Groups {
            map: [0; MAP],
            dirty: [0; NGROUPS],
            ng: 0,
        };
        self.read_bits(kind, 0, &mut g.map);
        let (hi, n) = Self::scan(&g.map);
        g.ng = if hi < 0 { 0 } else { hi as usize / GROUP + 1 };
        self.read_at(&mut g.dirty[..g.ng], Self::dirty_off(kind, 0));
        (hi, n, g)
    }

    /// Clears the dirty bytes of groups `first..first + n` of `kind` (one
    /// `pwrite`), for a recount that reads their words afterwards (see
    /// `crate::msg`'s `tally`: a word written before a dirty byte this
    /// clear overwrote is read then; one written after sets the byte
    /// again). False when it could not be written.
    pub(crate) fn clear_dirty(&self, kind: Kind, first: usize, n: usize) -> bool {
        first + n <= NGROUPS && self.write_at(&vec![0u8; n], Self::dirty_off(kind, first))
    }

    /// The bitmap words of groups `first..first + n` of `kind` and the
    /// words of their indexes, without clearing anything.
    pub(crate) fn group_words(&self, kind: Kind, first: usize, n: usize) -> (Vec<u64>, Vec<u64>) {
        let n = n.min(NGROUPS.saturating_sub(first));
        let mut bits = vec![0u8; n * 8];
        self.read_bits(kind, first, &mut bits);
        let mut words = vec![0u8; n * GROUP * 8];
        self.read_at(
            &mut words,
            Self::size_off(kind, (first * GROUP) as i32) as u64,
        );
        (
            bits.chunks_exact(8).map(le).collect(),
            words.chunks_exact(8).map(le).collect(),
        )
    }

    /// [`Index::used`], and the sum of the recorded sizes of the indexes
    /// in use (saturating), at constant cost: the bitmap
    /// ([`Index::read_bits`]),
    /// one of the dirty bytes and group records up to the highest index in
    /// use, and a recount of the groups whose records do not count (see
    /// the module comment).
    pub fn used_size(&self, kind: Kind) -> (i32, i32, u64) {
        let (hi, n, sum, _) = self.used_size_recount(kind);
        (hi, n, sum)
    }

    /// [`Index::used_size`], and what it recounted.
    pub(crate) fn used_size_recount(&self, kind: Kind) -> (i32, i32, u64, Recount) {
        let map = self.read_map(kind);
        let (hi, n) = Self::scan(&map);
        if hi < 0 {
            return (hi, n, 0, Recount::default());
        }
        // The kind's total, when it counts: one read of the dirty bytes
        // and the total's record, whatever the number of objects.
        let mut head = [0u8; NGROUPS + REC];
        self.read_at(&mut head, Self::dirty_off(kind, 0));
        let ng = hi as usize / GROUP + 1;
        if head[..ng].iter().all(|d| *d == 0) {
            if let Some(t) = unseal(&head[NGROUPS..]).filter(|t| t.0 == digest(&map)) {
                return (hi, n, t.1, Recount::default());
            }
        }
        if !self.take_recount(kind) {
            let (sum, r) = self.sum_groups(kind, &map, ng, false);
            return (hi, n, sum, r);
        }
        // Again under the lock: what was read before it may have been
        // recounted meanwhile.
        let map = self.read_map(kind);
        let (hi, n) = Self::scan(&map);
        let (sum, r) = match hi {
            0.. => self.sum_groups(kind, &map, hi as usize / GROUP + 1, true),
            _ => (0, Recount::default()),
        };
        self.release_recount(kind);
        (hi, n, sum, r)
    }

    /// The sum of the groups below `ng` (`map` as read), from their
    /// records and a recount of the groups whose records do not count;
    /// with `store` (under the recount lock), their records and the
    /// kind's total stored again.
    fn sum_groups(&self, kind: Kind, map: &[u8; MAP], ng: usize, store: bool) -> (u64, Recount) {
        // The dirty bytes (all of them: one read), the total, the records.
        let mut area = vec![0u8; NGROUPS + REC + ng * REC];
        self.read_at(&mut area, Self::dirty_off(kind, 0));
        let (dirty, recs) = area.split_at(NGROUPS);
        // Per group, its recorded sum when the record counts.
        let recorded: Vec<Option<u64>> = (map.chunks_exact(8).zip(recs[REC..].chunks_exact(REC)))
            .zip(dirty)
            .map(|((b, r), dirty)| match le(b) {
                0 => Some(0),
                bits => unseal(r)
                    .filter(|r| *dirty == 0 && r.0 == bits)
                    .map(|r| r.1),
            })
            .collect();
        let add = |v: &mut dyn Iterator<Item = &u64>| v.fold(0u64, |t, s| t.saturating_add(*s));
        let Some(first) = recorded.iter().position(Option::is_none) else {
            let sum = add(&mut recorded.iter().flatten());
            if store {
                self.write_at(&record(digest(map), sum), Self::top_off(kind));
            }
            return (
                sum,
                Recount {
                    groups: 0,
                    stored: store,
                },
            );
        };
        let last = recorded.iter().rposition(Option::is_none).unwrap_or(first);
        let (fresh, bits, stored) = self.recount(kind, map, first, last, store);
        let sum = add(&mut recorded[..first]
            .iter()
            .chain(&recorded[last + 1..])
            .flatten()
            .chain(&fresh));
        if stored {
            // The bitmap the total covers: as read, with the recounted
            // groups' words as read for their recount.
            let mut covered = Box::new(*map);
            covered[first * 8..(last + 1) * 8].copy_from_slice(&bits);
            self.write_at(&record(digest(&covered), sum), Self::top_off(kind));
        }
        let groups = last - first + 1;
        (sum, Recount { groups, stored })
    }

    /// The sums of groups `first..=last` from their words, and the
    /// bitmap words they cover; with `store` (under the recount lock)
    /// their records stored again, else from `map` as read, nothing
    /// stored. True when stored.
    fn recount(
        &self,
        kind: Kind,
        map: &[u8; MAP],
        first: usize,
        last: usize,
        store: bool,
    ) -> (Vec<u64>, Vec<u8>, bool) {
        let ng = last - first + 1;
        // The total and the records first (they fail from here), then the
        // dirty bytes: see the module comment.
        let store = store
            && self.write_at(&[0; REC], Self::top_off(kind))
            && self.write_at(&vec![0u8; ng * REC], Self::rec_off(kind, first))
            && self.write_at(&vec![0u8; ng], Self::dirty_off(kind, first));
        let mut bits = vec![0u8; ng * 8];
        if store {
            self.read_bits(kind, first, &mut bits);
        } else {
            bits.copy_from_slice(&map[first * 8..(last + 1) * 8]);
        }
        let mut words = vec![0u8; ng * GROUP * 8];
        self.read_at(
            &mut words,
            Self::size_off(kind, (first * GROUP) as i32) as u64,
        );
        let mut sums = Vec::with_capacity(ng);
        let mut recs = Vec::with_capacity(ng * REC);
        for g in 0..ng {
            let b = le(&bits[g * 8..g * 8 + 8]);
            let mut s = 0u64;
            let mut m = b;
            while m != 0 {
                let i = g * GROUP + m.trailing_zeros() as usize;
                s = s.saturating_add(le(&words[i * 8..i * 8 + 8]));
                m &= m - 1;
            }
            sums.push(s);
            recs.extend_from_slice(&record(b, s));
        }
        if store {
            self.write_at(&recs, Self::rec_off(kind, first));
        }
        (sums, bits, store)
    }

    /// Takes the right to store `kind`'s group records: this process's
    /// flag, then a lock on the kind's first dirty byte, each tried once.
    /// True when taken (then release with [`Index::release_recount`]).
    /// The lock is a process's (`F_SETLK`), not the descriptor's: a child
    /// of `fork` shares this descriptor, and an OFD lock would let it
    /// recount beside its parent. (Such a lock is lost when the process
    /// closes any descriptor of the file, as a liveness mark's: then two
    /// recounters may store at once, and a record stored from the older
    /// read counts wrongly until a change in its group, if an index of it
    /// was removed and created again between the two reads.)
    fn take_recount(&self, kind: Kind) -> bool {
        use std::sync::atomic::Ordering;
        let me = crate::os::proc::my_pid();
        let cur = self.recount.load(Ordering::Relaxed);
        if cur == me
            || self
                .recount
                .compare_exchange(cur, me, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
        {
            return false;
        }
        if self.setlk(libc::F_SETLK, Self::dirty_off(kind, 0), libc::F_WRLCK) {
            return true;
        }
        self.recount.store(0, Ordering::Release);
        false
    }

    fn release_recount(&self, kind: Kind) {
        self.setlk(libc::F_SETLK, Self::dirty_off(kind, 0), libc::F_UNLCK);
        self.recount.store(0, std::sync::atomic::Ordering::Release);
    }

    /// [`Index::used`], and the indexes in use, ascending, each with its
    /// word (a size, or a queue's records): the bitmap
    /// ([`Index::read_bits`]) and
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

    /// Takes (`F_WRLCK`) or releases (`F_UNLCK`) an OFD lock on byte `off`;
    /// a take is retried for about 1 ms. True when done.
    fn lock_byte(&self, off: u64, ty: libc::c_short) -> bool {
        for round in 0..64 {
            if self.setlk(libc::F_OFD_SETLK, off, ty as libc::c_int) {
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

    /// Takes (`F_WRLCK`) or releases (`F_UNLCK`) a lock on byte `off`
    /// with `cmd` (`F_OFD_SETLK`: the descriptor's, `F_SETLK`: the
    /// process's), once; true when done.
    fn setlk(&self, cmd: libc::c_int, off: u64, ty: libc::c_int) -> bool {
        setlk_on(self.fd.as_raw_fd(), cmd, off, ty)
    }

    /// Offset of the build mark of index `idx` of `kind`.
    fn build_off(kind: Kind, idx: i32) -> u64 {
        BUILD + (kind as u64) * IDXS as u64 + idx as u64
    }

    /// Claims index `idx` of `kind` for a create at its number (the file
    /// made at `<kind>.<idx>` itself, published by its magic; see
    /// `Ns::create`): this process's slot for it (no other thread of ours
    /// may have the index), then an OFD write lock on the index's *build
    /// mark*, a byte of this file at [`BUILD`] + kind × 32768 + index,
    /// which the creator holds from before its `openat` of the name until
    /// after its magic. Another process tells a file being built (no
    /// magic, the mark held) from a killed creator's (no magic, the mark
    /// free: the kernel drops the lock with the creator's last descriptor
    /// of the file, at its death or `exec`) with one `F_OFD_GETLK`
    /// ([`Index::build_held`]). Two system calls per create (this one and
    /// [`Index::release_build`]).
    ///
    /// The lock is taken through `fd`, this process's own open file
    /// description of the file (its liveness mark's, `Ns::hold_alive`:
    /// a child of `fork` closes the parent's and opens its own), never
    /// through the index's descriptor, which a child of `fork` shares with
    /// its parent: a creator killed in a child would leave its mark held
    /// for as long as its parent lived.
    pub fn claim_build(&self, fd: i32, kind: Kind, idx: i32) -> Claim {
        self.claim_build_as(fd, kind, idx, true)
    }

    /// [`Index::claim_build`] for a sweeper (`Ns::sweep_stale_as`), which
    /// may hold another index's mark already (a create's look-up of a key
    /// name that meets a killed creator's file): `Busy` at once when every
    /// slot of this process is taken, instead of waiting for one (16
    /// threads each holding a slot and waiting for a second would wait
    /// for ever).
    pub fn try_claim_build(&self, fd: i32, kind: Kind, idx: i32) -> Claim {
        self.claim_build_as(fd, kind, idx, false)
    }

    fn claim_build_as(&self, fd: i32, kind: Kind, idx: i32, wait: bool) -> Claim {
        use std::sync::atomic::Ordering::SeqCst;
        if !(0..IDXS as i32).contains(&idx) {
            return Claim::Busy;
        }
        let me = crate::os::proc::my_pid();
        let w = build_word(me, kind, idx);
        let ours = |v: u64| v != 0 && (v >> 32) as u32 == me as u32;
        let slot = 'found: loop {
            for (i, s) in self.builds.iter().enumerate() {
                let v = s.load(SeqCst);
                if !ours(v) && s.compare_exchange(v, w, SeqCst, SeqCst).is_ok() {
                    break 'found i;
                }
            }
            if !wait {
                return Claim::Busy;
            }
            std::thread::yield_now();
        };
        // Another thread of ours at the same index (both may see each
        // other and both pass: the index is left to the next create).
        if self
            .builds
            .iter()
            .enumerate()
            .any(|(i, s)| i != slot && s.load(SeqCst) == w)
        {
            self.builds[slot].store(0, SeqCst);
            return Claim::Busy;
        }
        if setlk_on(
            fd,
            libc::F_OFD_SETLK,
            Self::build_off(kind, idx),
            libc::F_WRLCK,
        ) {
            return Claim::Mine(slot);
        }
        let e = crate::error::Errno::last();
        self.builds[slot].store(0, SeqCst);
        match e {
            crate::error::Errno::EAGAIN | crate::error::Errno::EACCES => Claim::Busy,
            _ => Claim::NoLocks,
        }
    }

    /// Gives back what [`Index::claim_build`] took for index `idx` of
    /// `kind` (`slot`, the lock taken through `fd`): the lock, then the
    /// slot.
    pub fn release_build(&self, fd: i32, kind: Kind, idx: i32, slot: usize) {
        setlk_on(
            fd,
            libc::F_OFD_SETLK,
            Self::build_off(kind, idx),
            libc::F_UNLCK,
        );
        self.builds[slot].store(0, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether a create is building at index `idx` of `kind`
    /// ([`Index::claim_build`]): `Some(true)` when a thread of ours is,
    /// or another process holds the build mark; `Some(false)` when nobody
    /// does; `None` when it cannot be told (every caller then takes it
    /// for a build: missing evidence never sweeps).
    pub fn build_held(&self, kind: Kind, idx: i32) -> Option<bool> {
        use std::sync::atomic::Ordering::SeqCst;
        if !(0..IDXS as i32).contains(&idx) {
            return Some(false);
        }
        let w = build_word(crate::os::proc::my_pid(), kind, idx);
        if self.builds.iter().any(|s| s.load(SeqCst) == w) {
            return Some(true);
        }
        // SAFETY: a zeroed flock is a valid argument; we fill it below.
        let mut fl: libc::flock = unsafe { core::mem::zeroed() };
        fl.l_type = libc::F_WRLCK as libc::c_short;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        fl.l_start = Self::build_off(kind, idx) as libc::off_t;
        fl.l_len = 1;
        // SAFETY: fcntl on our descriptor with a flock we own.
        if unsafe { libc::fcntl(self.fd.as_raw_fd(), libc::F_OFD_GETLK, &mut fl) } != 0 {
            return None;
        }
        Some(fl.l_type != libc::F_UNLCK as libc::c_short)
    }

    /// For tests: the build mark of index `idx` of `kind` taken through
    /// `fd` alone (no slot of this process: as another process holds it).
    #[cfg(test)]
    pub(crate) fn hold_build_mark(fd: i32, kind: Kind, idx: i32) -> bool {
        setlk_on(
            fd,
            libc::F_OFD_SETLK,
            Self::build_off(kind, idx),
            libc::F_WRLCK,
        )
    }

    /// The highest index of `kind` the hint says is in use, and how many
    /// are (-1 and 0 when none): the kind's bitmap
    /// ([`Index::read_bits`]) and a scan of it, whatever the number of objects (`IPC_INFO`'s highest
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
    ///
    /// Opened read-write (as [`Index::open`] opened the file): the same
    /// description carries this process's build marks, write locks
    /// ([`Index::claim_build`]).
    pub fn hold_alive(&self, dirfd: &OwnedFd, pid: i32) -> Option<OwnedFd> {
        let flags = libc::O_RDWR | libc::O_CLOEXEC | libc::O_NONBLOCK;
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

    /// The fallback of [`Index::hold_alive`] when no descriptor can be
    /// had: a record lock of the process (`F_SETLK`, read) on the byte of
    /// `pid` through the index's own descriptor. It conflicts with the
    /// others' test of the mark as the descriptor's lock would, and ends
    /// with the process, its `exec`, or any `close` of a descriptor of
    /// this file in the process. True when taken.
    pub fn hold_alive_here(&self, pid: i32) -> bool {
        let mut fl = Self::live_flock(pid, libc::F_RDLCK);
        // SAFETY: fcntl on our descriptor with a flock we own.
        unsafe { libc::fcntl(self.fd.as_raw_fd(), libc::F_SETLK, &mut fl) == 0 }
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

    /// The indexes of `kind` the hint says are in use, ascending (the
    /// kind's bitmap, [`Index::read_bits`]).
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

    /// The highest index set (-1: none) and how many are: 512 words
    /// whatever is set (byte by byte, a full bitmap cost ~2 us more than
    /// an empty one).
    fn scan(map: &[u8; MAP]) -> (i32, i32) {
        let mut hi = -1;
        let mut n = 0;
        for (g, c) in map.chunks_exact(8).enumerate() {
            let w = le(c);
            // Empty words passed over first: `count_ones` without the
            // `popcnt` instruction (not in the baseline x86-64) is a dozen
            // instructions, 8 000 per scan of a nearly empty bitmap.
            if w != 0 {
                n += w.count_ones() as i32;
                hi = (g * GROUP + 63 - w.leading_zeros() as usize) as i32;
            }
        }
        (hi, n)
    }
}

/// A record: `key` (a group's bitmap word, or the kind's [`digest`]),
/// `sum`, their seal.
fn record(key: u64, sum: u64) -> [u8; REC] {
    let mut r = [0u8; REC];
    for (i, w) in [key, sum, seal(key, sum)].into_iter().enumerate() {
        r[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    r
}

/// A record's key and sum when its seal holds.
fn unseal(r: &[u8]) -> Option<(u64, u64)> {
    let (key, sum) = (le(&r[0..8]), le(&r[8..16]));
    (r.len() >= REC && le(&r[16..24]) == seal(key, sum)).then_some((key, sum))
}

/// A digest of a whole bitmap, for the record of a kind's total: a sum of
/// a mix of each word with its position (independent terms: ~0.3 us for
/// 4 KiB). Any change of one word changes it; changes of several could
/// cancel out with a chance of 2^-64.
fn digest(map: &[u8; MAP]) -> u64 {
    map.chunks_exact(8).enumerate().fold(0u64, |t, (i, c)| {
        let x = (le(c) ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .wrapping_mul(0xff51_afd7_ed55_8ccd);
        t.wrapping_add(x ^ x >> 29)
    })
}

/// The little-endian `u64` of 8 bytes.
fn le(b: &[u8]) -> u64 {
    u64::from_le_bytes(b.try_into().unwrap_or([0; 8]))
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

    /// The mark without a descriptor of its own (a process out of
    /// descriptors): a record lock of the process, which another open
    /// file description of the index sees as the mark, until a descriptor
    /// of the file is closed in this process.
    #[test]
    fn the_fallback_mark_is_seen_and_ends_with_a_close() {
        let (d, dirfd) = tmp();
        let ix = Index::open(&dirfd, 0o600).expect("index");
        let other = Index::open(&dirfd, 0o600).expect("a second description");
        let pid = 4_000_001; // no process: only the byte matters here
        assert_eq!(other.marked_alive(pid), Some(false));
        assert!(ix.hold_alive_here(pid));
        assert_eq!(other.marked_alive(pid), Some(true));
        drop(other); // a close of a descriptor of the file: the lock goes
        let third = Index::open(&dirfd, 0o600).expect("a third description");
        assert_eq!(third.marked_alive(pid), Some(false));
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn free_indexes_are_found_in_each_read_of_the_bytes() {
        // The first page's 4032 indexes, the next page's 4096, the rest:
        // a free index at each edge of each read, none missed or made up.
        let (d, dirfd) = tmp();
        let ix = Index::open(&dirfd, 0o600).expect("index");
        let free = [4031, 4032, 4100, 8127, 8128, 8200];
        for i in (0..8300).filter(|i| !free.contains(i)) {
            ix.mark(Kind::Sem, i, true);
        }
        let mut want = free.to_vec();
        want.extend(8300..8310);
        let got: Vec<i32> = ix.candidates(Kind::Sem, 20000).take(want.len()).collect();
        assert_eq!(got, want);
        // A limit inside a read: nothing at or past it.
        let got: Vec<i32> = ix.candidates(Kind::Sem, 4100).take(3).collect();
        assert_eq!(got, [4031, 4032, 0], "then every index from 0");
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
        let all = (BYTES + 3 * IDXS as u64) as usize;
        std::fs::write(d.join("ripc.idx"), vec![0xffu8; all]).unwrap();
        assert_eq!(ix.used(Kind::Shm), (IDXS as i32 - 1, IDXS as i32));
        assert_eq!(ix.candidates(Kind::Shm, 3).collect::<Vec<_>>(), [0, 1, 2]);
        // A truncated one reads as free.
        std::fs::write(d.join("ripc.idx"), b"").unwrap();
        assert_eq!(ix.candidates(Kind::Shm, 2).next(), Some(0));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn index_bytes_pack_into_the_bitmap_bit_by_bit() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut bytes = vec![0u8; 4099];
        for b in bytes.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Mostly 0, some 1, some any value (a scribble counts as used).
            *b = match x % 5 {
                0 => 1,
                1 => (x >> 8) as u8,
                _ => 0,
            };
        }
        let mut out = vec![0xaau8; bytes.len().div_ceil(8) + 2];
        pack(&bytes, &mut out);
        for (i, b) in bytes.iter().enumerate() {
            assert_eq!(out[i / 8] & (1 << (i % 8)) != 0, *b != 0, "index {i}");
        }
        assert_eq!(out[out.len() - 2..], [0, 0], "past the bytes: 0");
        let c: Vec<u8> = (0..16).map(|k| [2, 0, 1, 0x82][k % 4]).collect();
        assert_eq!(eq_mask16(&c, 2), 0x1111);
        assert_eq!(eq_mask16(&c, 0), 0x2222);
        assert_eq!(eq_mask16(&c[..15], 0), 0x2222, "a short chunk");
        assert_eq!(eq_mask16(&c[..3], 2), 1);
        for len in [0usize, 1, 15, 16, 17, 31, 32, 33, 100] {
            for at in 0..=len {
                let mut b = vec![1u8; len];
                if at < len {
                    b[at] = 0;
                }
                let want = (at < len).then_some(at);
                assert_eq!(first_zero(&b), want, "len {len}, 0 at {at}");
                if at + 1 < len {
                    b[len - 1] = 0; // a later 0 does not count
                    assert_eq!(first_zero(&b), want, "len {len}, 0 at {at} and the end");
                }
            }
        }
    }

    #[test]
    fn indexes_past_the_first_page_are_counted() {
        let (d, dirfd) = tmp();
        let ix = Index::open(&dirfd, 0o600).expect("index");
        // Index 3, then one five pages further (the pages between never
        // written), then the last index: past the first page, read as the
        // head's flag says.
        for i in [3, 20000, IDXS as i32 - 1] {
            ix.mark(Kind::Sem, i, true);
        }
        ix.mark(Kind::Shm, 7, true);
        assert_eq!(ix.used(Kind::Sem), (IDXS as i32 - 1, 3));
        assert_eq!(ix.used_indexes(Kind::Sem), [3, 20000, IDXS as i32 - 1]);
        assert_eq!(ix.used_indexes(Kind::Shm), [7], "kinds are apart");
        assert_eq!(ix.used(Kind::Msg), (-1, 0));
        ix.mark(Kind::Sem, IDXS as i32 - 1, false);
        assert_eq!(ix.used(Kind::Sem), (20000, 2));
        // Past the first page, the head's bytes of the pages: without them
        // (scribbled away) the readers of the bitmap stop at the first.
        ix.write_at(&[0; PAGES], Index::head_off(Kind::Sem) + 1);
        assert_eq!(ix.used(Kind::Sem), (3, 1));
        let again = Index::open(&dirfd, 0o600).expect("index");
        again.mark(Kind::Sem, 20001, true);
        assert_eq!(ix.used_indexes(Kind::Sem), [3, 20000, 20001]);
        // Free indexes past the first page are found (the second read).
        for i in 0..4100 {
            ix.mark(Kind::Msg, i, true);
        }
        ix.mark(Kind::Msg, 4097, false);
        assert_eq!(ix.candidates(Kind::Msg, 32000).next(), Some(4097));
        assert_eq!(
            ix.candidates(Kind::Msg, 4097).next(),
            Some(0),
            "none below the limit"
        );
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn a_namespace_of_the_bitmap_layout_is_carried_over_once() {
        let (d, dirfd) = tmp();
        // The layout before: a bitmap of 4 KiB per kind from byte 0
        // (queues, segments, sets), sizes from byte 12288, no format word.
        let mut old = vec![0u8; SIZES as usize + 3 * IDXS * 8];
        let mut set = |kind: Kind, i: usize| old[(kind as usize - 1) * MAP + i / 8] |= 1 << (i % 8);
        for i in (0..70).chain([100, 9000]) {
            set(Kind::Sem, i);
        }
        set(Kind::Msg, 5);
        // Removal marks (bytes from MARKS): of index 69 (bit set: a
        // remover at work) and 70 (no bit: a leftover, no mark).
        old.resize((MARKS + 3 * IDXS as u64) as usize, 0);
        let marks = (MARKS + (Kind::Sem as u64 - 1) * IDXS as u64) as usize;
        old[marks + 69] = 1;
        old[marks + 70] = 1;
        let size = Index::size_off(Kind::Sem, 100) as usize;
        old[size..size + 8].copy_from_slice(&3u64.to_le_bytes());
        std::fs::write(d.join("ripc.idx"), &old).unwrap();
        let ix = Index::open(&dirfd, 0o600).expect("index");
        assert_eq!(ix.format(), BYTE_MAP);
        let sets: Vec<i32> = (0..70).chain([100, 9000]).collect();
        assert_eq!(ix.used_indexes(Kind::Sem), sets);
        assert_eq!(ix.used_indexes(Kind::Msg), [5]);
        assert_eq!(ix.used(Kind::Shm), (-1, 0));
        assert_eq!(ix.candidates(Kind::Sem, 32000).next(), Some(70));
        assert_eq!(ix.removing(Kind::Sem, 32768), [69]);
        assert_eq!(ix.used_size(Kind::Sem).2, 3, "the sizes as they were");
        // Once: an index freed since is not set again by the next open
        // (the old bitmap, left as it was, is not read again).
        ix.mark(Kind::Sem, 100, false);
        drop(ix);
        let ix = Index::open(&dirfd, 0o600).expect("index");
        assert!(!ix.is_used(Kind::Sem, 100));
        assert_eq!(ix.used(Kind::Sem), (9000, 71));
        // A fresh file is marked at its first open, with nothing in use.
        std::fs::write(d.join("ripc.idx"), b"").unwrap();
        let ix = Index::open(&dirfd, 0o600).expect("index");
        assert_eq!(ix.format(), BYTE_MAP);
        assert_eq!(ix.used(Kind::Sem), (-1, 0));
        let _ = std::fs::remove_dir_all(d);
    }

    /// The sum of the words of the indexes whose bits are set, read one
    /// by one (what the group records must agree with).
    fn walked(ix: &Index, kind: Kind) -> u64 {
        ix.used_words(kind).2.iter().map(|w| w.1).sum()
    }

    /// A create as the namespace makes it: the bit, then the size.
    fn create(ix: &Index, kind: Kind, idx: i32, size: u64) {
        ix.mark(kind, idx, true);
        ix.set_size(kind, idx, size);
    }

    /// A new hint with `n` objects of `kind` from index 0, each of `size`.
    fn filled(kind: Kind, n: i32, size: u64) -> (std::path::PathBuf, Index) {
        let (d, dirfd) = tmp();
        let ix = Index::open(&dirfd, 0o600).expect("index");
        for i in 0..n {
            create(&ix, kind, i, size);
        }
        (d, ix)
    }

    /// `used_size`, checked against the words; and what it recounted.
    fn counted(ix: &Index, kind: Kind) -> (i32, u64, Recount) {
        let (_, n, sum, r) = ix.used_size_recount(kind);
        assert_eq!(sum, walked(ix, kind), "the records agree with the words");
        (n, sum, r)
    }

    const fn stored(groups: usize) -> Recount {
        Recount {
            groups,
            stored: true,
        }
    }

    #[test]
    fn group_records_are_recounted_only_where_something_changed() {
        let (d, dirfd) = tmp();
        let ix = Index::open(&dirfd, 0o600).expect("index");
        for i in 0..300 {
            create(&ix, Kind::Sem, i, i as u64 % 7 + 1);
        }
        create(&ix, Kind::Shm, 3, 1 << 40);
        let (n, sum, r) = counted(&ix, Kind::Sem);
        assert_eq!((n, r), (300, stored(5)), "every group, once");
        assert_eq!(counted(&ix, Kind::Sem), (300, sum, Recount::default()));
        // A removal: the bits of its group no longer match its record.
        ix.mark(Kind::Sem, 130, false);
        assert_eq!(counted(&ix, Kind::Sem), (299, sum - 5, stored(1)));
        assert_eq!(counted(&ix, Kind::Sem).2, Recount::default());
        // An index removed and created again with another size between
        // two calls: the same bits, another sum; the dirty byte tells.
        ix.mark(Kind::Sem, 7, false);
        create(&ix, Kind::Sem, 7, 1000);
        assert_eq!(
            counted(&ix, Kind::Sem),
            (299, sum - 5 - 1 + 1000, stored(1))
        );
        // Changes in two groups: the groups between are recounted with them.
        ix.mark(Kind::Sem, 1, false);
        create(&ix, Kind::Sem, 200, 50);
        ix.mark(Kind::Sem, 200, false);
        create(&ix, Kind::Sem, 200, 60);
        let (_, _, r) = counted(&ix, Kind::Sem);
        assert_eq!(r, stored(4));
        // Kinds are apart; an emptied kind counts nothing.
        assert_eq!(counted(&ix, Kind::Shm), (1, 1 << 40, stored(1)));
        for i in 0..300 {
            ix.mark(Kind::Sem, i, false);
        }
        assert_eq!(counted(&ix, Kind::Sem), (0, 0, Recount::default()));
        // Created again, same sizes: recounted (the dirty bytes).
        create(&ix, Kind::Sem, 0, 2);
        assert_eq!(counted(&ix, Kind::Sem), (1, 2, stored(1)));
        // The highest group of all: its group only.
        create(&ix, Kind::Sem, 32767, 3);
        assert_eq!(counted(&ix, Kind::Sem), (2, 5, stored(1)));
        assert_eq!(counted(&ix, Kind::Sem).2, Recount::default());
        let _ = std::fs::remove_dir_all(&d);
    }

    /// A process killed between two steps, simulated by skipping the
    /// steps after it.
    #[test]
    fn a_step_skipped_by_a_killed_process_is_caught() {
        let k = Kind::Shm;
        let (d, ix) = filled(k, 10, 10);
        assert_eq!(counted(&ix, k).1, 100);
        // A creator killed between its bit and its size: the index's
        // previous size counts (the module comment's case), as the words
        // say, until a create at that index.
        ix.mark(k, 3, false);
        ix.mark(k, 3, true);
        assert_eq!(counted(&ix, k).1, 100);
        ix.mark(k, 3, false);
        create(&ix, k, 3, 1);
        assert_eq!(counted(&ix, k).1, 91);
        // Killed between its size and its dirty byte, the group's bits
        // changed since its record: the bits tell.
        ix.mark(k, 10, true);
        ix.write_at(&7u64.to_le_bytes(), Index::size_off(k, 10) as u64);
        assert_eq!(counted(&ix, k), (11, 98, stored(1)));
        // A recounter killed after zeroing the total's record, then the
        // group's, then after clearing the dirty byte too: they fail
        // their seals. (The index was created again meanwhile: the dirty
        // byte, cleared by the killed recounter, is what it consumed.)
        ix.mark(k, 4, false);
        create(&ix, k, 4, 20);
        ix.write_at(&[0; REC], Index::top_off(k));
        assert_eq!(counted(&ix, k), (11, 108, stored(1)));
        let total = Recount {
            groups: 0,
            stored: true,
        };
        ix.write_at(&[0; REC], Index::top_off(k));
        assert_eq!(counted(&ix, k), (11, 108, total), "the total alone");
        for dirty in [false, true] {
            ix.mark(k, 4, false);
            create(&ix, k, 4, 20);
            ix.write_at(&[0; REC], Index::top_off(k));
            ix.write_at(&[0; REC], Index::rec_off(k, 0));
            if dirty {
                ix.write_at(&[0], Index::dirty_off(k, 0));
            }
            assert_eq!(counted(&ix, k), (11, 108, stored(1)));
        }
        // A total whose record was changed, its seal not; the dirty byte
        // of a group changed meanwhile, with the total's record intact.
        let mut r = [0u8; REC];
        ix.read_at(&mut r, Index::top_off(k));
        r[8] ^= 1;
        ix.write_at(&r, Index::top_off(k));
        assert_eq!(counted(&ix, k), (11, 108, total));
        ix.write_at(&[1], Index::dirty_off(k, 0));
        assert_eq!(counted(&ix, k), (11, 108, stored(1)));
        assert_eq!(counted(&ix, k).2, Recount::default());
        // The limit: killed between its size and its dirty byte when the
        // bits are back as recorded (an index removed and created again
        // between two calls) — the record counts the previous size until
        // the next change in the group.
        ix.mark(k, 5, false);
        ix.mark(k, 5, true);
        ix.write_at(&30u64.to_le_bytes(), Index::size_off(k, 5) as u64);
        assert_eq!(ix.used_size(k).2, 108, "stale");
        create(&ix, k, 40, 1);
        assert_eq!(counted(&ix, k), (12, 129, stored(1)), "put right");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn scribbled_group_records_are_recounted() {
        let k = Kind::Sem;
        let (d, ix) = filled(k, 130, 2);
        assert_eq!(counted(&ix, k).1, 260);
        let area = GROUPS + (k as u64 - 1) * GROUP_AREA;
        for junk in [0xffu8, 0x5a, 0] {
            ix.write_at(&vec![junk; NGROUPS + 4 * REC], area);
            assert_eq!(counted(&ix, k), (130, 260, stored(3)));
        }
        // A record whose sum was changed, its seal not.
        let mut r = [0u8; REC];
        ix.read_at(&mut r, Index::rec_off(k, 1));
        r[8] ^= 1;
        ix.write_at(&r, Index::rec_off(k, 1));
        assert_eq!(counted(&ix, k).2, Recount::default(), "the total counts");
        ix.write_at(&[0; REC], Index::top_off(k));
        assert_eq!(counted(&ix, k), (130, 260, stored(1)));
        // A file cut short: as never written. (The index bytes, past the
        // records, go too: nothing in use until they are set again.)
        // SAFETY: ftruncate of our own descriptor.
        assert_eq!(
            unsafe { libc::ftruncate(ix.fd.as_raw_fd(), area as i64) },
            0
        );
        assert_eq!(counted(&ix, k), (0, 0, Recount::default()));
        (0..130).for_each(|i| ix.mark(k, i, true));
        assert_eq!(counted(&ix, k), (130, 260, stored(3)));
        let _ = std::fs::remove_dir_all(&d);
    }

    /// Two recounters at once: the second counts the same without
    /// storing (its figures from the words) — another thread of the
    /// process, or another process sharing the descriptor (a child of
    /// `fork`, whose lock on it is its own).
    #[test]
    fn a_second_recounter_counts_without_storing() {
        let (d, dirfd) = tmp();
        let ix = Index::open(&dirfd, 0o600).expect("index");
        let k = Kind::Msg;
        create(&ix, k, 70, 4);
        let unstored = Recount {
            groups: 1,
            stored: false,
        };
        // This process's flag held (another thread recounting).
        assert!(ix.take_recount(k));
        assert_eq!(counted(&ix, k), (1, 4, unstored));
        ix.release_recount(k);
        // A child sharing the descriptor holds the lock.
        let (mut held, mut go) = ([0i32; 2], [0i32; 2]);
        // SAFETY: two pipes into our arrays; fork, the child calling only
        // fcntl, read, write and _exit.
        let pid = unsafe {
            assert_eq!(libc::pipe(held.as_mut_ptr()), 0);
            assert_eq!(libc::pipe(go.as_mut_ptr()), 0);
            let pid = libc::fork();
            if pid == 0 {
                let ok = ix.setlk(libc::F_SETLK, Index::dirty_off(k, 0), libc::F_WRLCK);
                libc::write(held[1], [ok as u8].as_ptr().cast(), 1);
                let mut b = 0u8;
                libc::read(go[0], (&mut b as *mut u8).cast(), 1);
                libc::_exit(0);
            }
            pid
        };
        let mut b = 0u8;
        // SAFETY: reads into a local; the pipe's ends are ours.
        unsafe {
            assert_eq!(libc::read(held[0], (&mut b as *mut u8).cast(), 1), 1);
        }
        assert_eq!(b, 1, "the child took the lock");
        assert_eq!(counted(&ix, k), (1, 4, unstored));
        assert_eq!(counted(&ix, k), (1, 4, unstored), "nothing stored");
        // SAFETY: a write from a local, a wait for our child, closes of
        // our pipes' ends.
        unsafe {
            libc::write(go[1], [0u8].as_ptr().cast(), 1);
            assert_eq!(libc::waitpid(pid, core::ptr::null_mut(), 0), pid);
            for fd in held.into_iter().chain(go) {
                libc::close(fd);
            }
        }
        assert_eq!(counted(&ix, k), (1, 4, stored(1)));
        assert_eq!(counted(&ix, k).2, Recount::default());
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
    fn removal_marks_are_found_wherever_they_lie() {
        let (d, dirfd) = tmp();
        let ix = Index::open(&dirfd, 0o600).expect("index");
        let at = [0, 7, 8, 63, 64, 4095, 4096, 5000, 32767];
        // Indexes in use around them are no marks.
        for i in [1, 6, 9, 62, 65, 4094, 4097, 32766] {
            ix.mark(Kind::Sem, i, true);
        }
        for i in at {
            ix.mark_removing(Kind::Sem, i);
        }
        ix.mark_removing(Kind::Msg, 9);
        assert_eq!(ix.removing(Kind::Sem, 32768), at);
        assert_eq!(ix.removing(Kind::Sem, 4097), at[..7]);
        assert_eq!(ix.removing(Kind::Sem, 8), [0, 7]);
        assert_eq!(ix.removing(Kind::Sem, 0), [0; 0]);
        assert_eq!(ix.removing(Kind::Msg, 10), [9], "kinds are apart");
        // A marked index is in use; freeing it takes the mark away.
        assert_eq!(ix.used(Kind::Sem), (32767, 17));
        ix.mark(Kind::Sem, 7, false);
        assert_eq!(ix.removing(Kind::Sem, 9), [0, 8]);
        assert_eq!(ix.used(Kind::Sem), (32767, 16));
        // A scribbled byte (neither 1 nor 2) is in use, not a mark.
        ix.write_at(&[0x5a], Index::byte_off(Kind::Sem, 7));
        assert!(ix.is_used(Kind::Sem, 7));
        assert_eq!(ix.removing(Kind::Sem, 9), [0, 8]);
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
