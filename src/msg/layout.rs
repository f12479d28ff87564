//! The layout of a queue's control area: [`QHead`], the descriptors
//! ([`Desc`]), and the geometry ([`Geo`]) that places the link array and
//! the small and big chunks after them. Declared once, here; read through
//! the object's `Region`.

use super::*;

/// Payload bytes per small chunk: a message of up to this many bytes is
/// stored in one.
pub const SMALL: usize = 256;
/// Payload bytes per big chunk: a longer message is stored in a chain of
/// these, so that a 1 KiB message is one contiguous run of memory (a
/// stream of them runs 13–18% faster than out of four small chunks, the
/// median gain per round in the slow and fast phase; docs/msg.md).
pub const BIG: usize = 1024;
pub(super) const NIL: u32 = u32::MAX;
/// The most messages one queue holds (the kernel allows as many as the
/// queue has bytes; each may need a small chunk of its own, so a queue
/// file has room for this many whatever its byte capacity: 18 MiB of
/// sparse file at most, see [`Geo::for_capacity`]).
pub const MAX_MSGS: u64 = 1 << 16;
/// The largest byte capacity (`msgmnb`'s hard cap).
pub(super) const MAX_BYTES: u64 = 1 << 30;

#[repr(C)]
#[derive(Debug)]
pub(super) struct QHead {
    // Line 0: the senders' side, changed under `slock` only.
    pub(super) slock: RobustLock,
    /// The last message (the dummy when the queue is empty).
    pub(super) tail: AtomicU32,
    pub(super) free_desc: AtomicU32,
    pub(super) free_chunk: AtomicU32,
    /// Descriptors from this index on were never used (since creation or
    /// the last repair): they are free without being on a list.
    pub(super) fresh_desc: AtomicU32,
    pub(super) fresh_chunk: AtomicU32,
    /// The big chunks' free list and never-used mark (absolute chunk
    /// indices, from `ndesc - 1` on).
    pub(super) free_big: AtomicU32,
    pub(super) fresh_big: AtomicU32,
    /// Messages and bytes ever appended (wrapping).
    pub(super) sent_n: AtomicU32,
    pub(super) sent_bytes: AtomicU32,
    /// The senders' copy of `taken_n`/`taken_bytes`, refreshed when the
    /// queue looks full.
    pub(super) seen_taken_n: AtomicU32,
    pub(super) seen_taken_bytes: AtomicU32,
    pub(super) lspid: AtomicI32,
    // Line 1.
    /// Bumped (by 4, see [`super::wait`]) by a send when receivers watch
    /// it, and on removal; bit 0: receivers sleep, bit 1: receivers
    /// watch. A line of its own: receivers spin on it without pulling the
    /// senders' line, and a send only reads it.
    pub(super) sent: AtomicU32,
    pub(super) _pad1a: AtomicU32,
    /// The last sender: pid << 32 | the CPU it ran on (`u64::MAX`: none
    /// yet). A waiter spins only when the other side runs elsewhere (see
    /// [`super::wait::peer`]).
    pub(super) speer: AtomicU64,
    /// The senders' operation record (see [`super::fence`]): the id of the
    /// send about to commit (stored just before its commit), and its
    /// descriptor (stored before the id).
    pub(super) sop_id: AtomicU64,
    pub(super) sop_at: AtomicU32,
    pub(super) _pad1b: AtomicU32,
    /// Written once, by a mover, into the copy it makes (see
    /// [`super::fence`]), and never changed after: the outcomes of the
    /// fenced holders of the file it copied, judged from this copy (the
    /// id of the fenced sender's, receiver's, operation when it had
    /// committed here, else 0). Whoever publishes the copy carries them
    /// into that file's `sout`/`rout`.
    pub(super) born_sout: AtomicU64,
    pub(super) born_rout: AtomicU64,
    pub(super) _pad1: [AtomicU32; 4],
    // Line 2: the receivers' side, changed under `rlock` (the returned
    // lists also by a sender's swap).
    pub(super) rlock: RobustLock,
    /// The dummy: the list's first descriptor, its message consumed.
    pub(super) head: AtomicU32,
    pub(super) ret_desc: AtomicU32,
    pub(super) ret_chunk: AtomicU32,
    pub(super) ret_big: AtomicU32,
    pub(super) lrpid: AtomicI32,
    /// The receivers' operation record (see [`super::fence`]): the
    /// predecessor and the descriptor of the message a receive is about to
    /// take (stored first), then the receive's id, just before its commit.
    pub(super) rop_prev: AtomicU32,
    pub(super) rtime: AtomicI64,
    pub(super) rop_id: AtomicU64,
    pub(super) rop_at: AtomicU32,
    pub(super) _pad2: AtomicU32,
    // Line 3: what a sender waiting for room reads, changed by every
    // receive: one line to pull.
    /// Bumped by a receive when senders watch it, and on `IPC_SET` and
    /// removal; bit 0: senders sleep, bit 1: senders watch.
    pub(super) taken: AtomicU32,
    /// Messages and bytes ever taken (wrapping).
    pub(super) taken_n: AtomicU32,
    pub(super) taken_bytes: AtomicU32,
    pub(super) _pad3a: AtomicU32,
    /// The last receiver, as [`QHead::speer`].
    pub(super) rpeer: AtomicU64,
    /// The descriptors and small chunks receivers freed and have not yet
    /// pushed onto the returned lists (under `rlock`: one
    /// compare-and-swap per list every few messages, see
    /// [`super::alloc`]'s `View::batch`, instead of two per message):
    /// each chain's first and last.
    pub(super) pend_desc: AtomicU32,
    pub(super) pend_desc_last: AtomicU32,
    pub(super) pend_chunk: AtomicU32,
    pub(super) pend_chunk_last: AtomicU32,
    /// Messages taken since the pending chains were last pushed.
    pub(super) pend_n: AtomicU32,
    pub(super) _pad3: [AtomicU32; 5],
    // Line 4: fixed at creation or changed under both locks (read by every
    // operation), then `stime`, which senders change once a second.
    pub(super) ndesc: AtomicU32,
    pub(super) nchunk: AtomicU32,
    pub(super) qbytes: AtomicU64,
    /// Set by a receiver that took `rlock` over from a dead holder: the
    /// next holder of both locks repairs.
    pub(super) dirty: AtomicU32,
    pub(super) _pad4a: AtomicU32,
    pub(super) stime: AtomicI64,
    /// The byte capacity the queue was created with (fixed; 0 in files
    /// made before it was recorded: then `ndesc - 1`).
    pub(super) cap_bytes: AtomicU64,
    /// Written into the file a queue moved out of, by whoever publishes
    /// the committed copy (see [`super::fence`]), before the copy is
    /// renamed: the copy's `born_sout` (`born_rout`).
    pub(super) sout: AtomicU64,
    pub(super) rout: AtomicU64,
    pub(super) _pad4: [AtomicU32; 2],
}

const _: () = assert!(core::mem::offset_of!(QHead, sent) == 64);
const _: () = assert!(core::mem::offset_of!(QHead, lspid) == 60);
const _: () = assert!(core::mem::offset_of!(QHead, stime) == 280);
const _: () = assert!(core::mem::offset_of!(QHead, rlock) == 128);
const _: () = assert!(core::mem::offset_of!(QHead, rtime) == 168);
const _: () = assert!(core::mem::offset_of!(QHead, taken) == 192);
const _: () = assert!(core::mem::offset_of!(QHead, ndesc) == 256);
const _: () = assert!(core::mem::offset_of!(QHead, pend_desc) == 216);
const _: () = assert!(core::mem::offset_of!(QHead, pend_n) == 232);
const _: () = assert!(core::mem::offset_of!(QHead, sop_id) == 80);
const _: () = assert!(core::mem::offset_of!(QHead, rop_id) == 176);
const _: () = assert!(core::mem::offset_of!(QHead, sout) == 296);
const _: () = assert!(core::mem::offset_of!(QHead, born_sout) == 96);
const _: () = assert!(core::mem::size_of::<QHead>() == 320);

// SAFETY: `#[repr(C)]`, atomics (and `RobustLock`) only.
unsafe impl Shared for QHead {}

#[repr(C)]
#[derive(Debug)]
pub(super) struct Desc {
    pub(super) mtype: AtomicI64,
    pub(super) len: AtomicU32,
    pub(super) chunk: AtomicU32,
    pub(super) next: AtomicU32,
    pub(super) _pad: AtomicU32,
}

const _: () = assert!(core::mem::size_of::<Desc>() == 24);

// SAFETY: `#[repr(C)]`, atomics only.
unsafe impl Shared for Desc {}

/// The version of this layout ([`QHead`], then the arrays [`Geo`] places),
/// kept in the object header and checked on open: another version is a
/// corrupt queue.
///
/// 2: the wait words' watch bit (a sender or receiver bumps the other
/// side's word only when someone watches it) and the receivers' pending
/// lists; a process of version 1 would neither bump nor flush.
///
/// 3: the copy's `born_sout`/`born_rout` (a move's outcomes kept in the
/// copy, carried into the old file by whoever publishes it: the takeover
/// of a stopped mover's move); a process of version 2 would judge into
/// the old file before its commit.
pub const LAYOUT_VERSION: u32 = 3;

/// Geometry of a queue's control area, computed (and checked against the
/// mapping) in this process, never trusted from the file.
#[derive(Debug, Clone, Copy)]
pub(super) struct Geo {
    /// The most bytes the queue holds.
    pub(super) bytes: u64,
    pub(super) ndesc: u32,
    /// Chunks in all; indices below `nsmall` are small, the rest big.
    pub(super) nchunk: u32,
    pub(super) nsmall: u32,
    pub(super) desc_off: usize,
    pub(super) link_off: usize,
    /// The small chunks, then the big ones.
    pub(super) chunk_off: usize,
    pub(super) big_off: usize,
    pub(super) end: usize,
}

impl Geo {
    /// The geometry a queue file records (`ndesc`, `nchunk`, its byte
    /// capacity), checked against the one that capacity implies: `EIO`
    /// for anything else.
    pub(super) fn new(ndesc: u64, nchunk: u64, bytes: u64) -> Result<Geo> {
        let bytes = if bytes == 0 {
            ndesc.saturating_sub(1)
        } else {
            bytes
        };
        let g = Geo::for_capacity(bytes)?;
        if g.ndesc as u64 != ndesc || g.nchunk as u64 != nchunk {
            return Err(Errno::EIO);
        }
        Ok(g)
    }

    /// `nsmall` is `ndesc - 1`: one small chunk for each message the
    /// queue can hold (every non-empty one has a byte of the capacity).
    pub(super) fn layout(bytes: u64, ndesc: u64, nchunk: u64) -> Geo {
        let nsmall = ndesc - 1;
        let desc_off = core::mem::size_of::<QHead>().next_multiple_of(64);
        let link_off = desc_off + ndesc as usize * core::mem::size_of::<Desc>();
        let chunk_off = (link_off + nchunk as usize * 4).next_multiple_of(64);
        let big_off = chunk_off + nsmall as usize * SMALL;
        let end = big_off + (nchunk - nsmall) as usize * BIG;
        Geo {
            bytes,
            ndesc: ndesc as u32,
            nchunk: nchunk as u32,
            nsmall: nsmall as u32,
            desc_off,
            link_off,
            chunk_off,
            big_off,
            end,
        }
    }

    /// The geometry of a queue of `bytes` bytes (`EINVAL` beyond
    /// [`MAX_BYTES`]): one descriptor per message it can hold (as many as
    /// bytes, at most [`MAX_MSGS`]) plus the dummy; a small chunk per
    /// message; big chunks: a message longer than [`SMALL`] takes at most
    /// len / BIG + 1 of them, and at most bytes / (SMALL + 1) such
    /// messages fit. A 16 KiB queue is 4.6 MiB of sparse file, a 1 GiB
    /// one 1.1 GiB.
    pub(super) fn for_capacity(bytes: u64) -> Result<Geo> {
        if bytes > MAX_BYTES {
            return Err(Errno::EINVAL);
        }
        let bytes = bytes.max(1);
        let msgs = bytes.min(MAX_MSGS);
        let nbig = bytes.div_ceil(BIG as u64) + (bytes / (SMALL as u64 + 1)).min(msgs) + 1;
        Ok(Geo::layout(bytes, msgs + 1, msgs + nbig))
    }

    /// The most bytes the queue can hold.
    #[inline]
    pub(super) fn capacity(&self) -> u64 {
        self.bytes
    }

    /// The most messages the queue can hold.
    #[inline]
    pub(super) fn msgs(&self) -> u64 {
        self.ndesc as u64 - 1
    }

    /// The chunks a message of `len` bytes is stored in.
    #[inline]
    pub(super) fn class(&self, len: usize) -> Class {
        if len <= SMALL {
            Class {
                shift: SMALL.trailing_zeros(),
                lo: 0,
                hi: self.nsmall,
                base: self.chunk_off,
            }
        } else {
            Class {
                shift: BIG.trailing_zeros(),
                lo: self.nsmall,
                hi: self.nchunk,
                base: self.big_off,
            }
        }
    }
}

/// One size of chunks: indices `lo..hi`, stored from control-area offset
/// `base`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Class {
    pub(super) shift: u32,
    pub(super) lo: u32,
    pub(super) hi: u32,
    pub(super) base: usize,
}

impl Class {
    #[inline]
    pub(super) fn size(&self) -> usize {
        1 << self.shift
    }

    /// How many chunks `len` bytes take.
    #[inline]
    pub(super) fn count(&self, len: usize) -> usize {
        (len + self.size() - 1) >> self.shift
    }

    #[inline]
    pub(super) fn has(&self, c: u32) -> bool {
        (self.lo..self.hi).contains(&c)
    }

    /// The control-area offset of chunk `c`: `EIO` unless it is of this size.
    #[inline]
    pub(super) fn off(&self, c: u32) -> Result<usize> {
        if !self.has(c) {
            return Err(Errno::EIO);
        }
        Ok(self.base + (((c - self.lo) as usize) << self.shift))
    }
}
