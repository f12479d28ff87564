//! The allocator of descriptors and chunks: senders' free lists, never-used
//! storage (reserved before its first write), the lists receivers return,
//! and the free lists rebuilt by repair.

use super::*;

/// Descriptors (and small and big chunks) a sender takes from never-used
/// storage before it takes back what receivers returned: the working set a
/// stream cycles through (64 KiB of chunks of either size).
pub(super) const WARM_DESC: u32 = 256;
pub(super) const WARM_CHUNK: u32 = 256;
pub(super) const WARM_BIG: u32 = 64;

impl<'a> View<'a> {
    /// Under `slock`: a free descriptor (see the module comment for the
    /// order of sources), `None` when there is none.
    #[inline]
    pub(super) fn alloc_desc(&self, h: &'a QHead) -> Result<Option<u32>> {
        let pool = Pool {
            free: &h.free_desc,
            fresh: &h.fresh_desc,
            returned: &h.ret_desc,
            warm: WARM_DESC,
            total: self.geo.ndesc,
        };
        let size = core::mem::size_of::<Desc>();
        let at = |i: u32| self.geo.desc_off + i as usize * size;
        pool.alloc(
            |i| Ok(&self.desc(i)?.next),
            |i| self.reserve(at(i), at(i) + size, (i > 0).then(|| at(i))),
        )
    }

    /// Reserves the file's storage under control-area bytes `[start, end)` of
    /// a never-used item before it is first written, so that a full file
    /// system is `ENOMEM` now rather than `SIGBUS` at the write (object
    /// files are sparse: an idle queue costs the pages it used).
    /// `prev_end`: where the item before it ends (items are handed out in
    /// order, so only pages it did not reach are new). One system call per
    /// new page, none on recycled storage.
    #[inline]
    pub(super) fn reserve(&self, start: usize, end: usize, prev_end: Option<usize>) -> Result<()> {
        const PAGE: usize = 4096;
        // Pages are the file's: count from the mapping's start.
        let region = self.obj.region();
        let base = region.start();
        let (start, end, prev_end) = (base + start, base + end, prev_end.map(|p| base + p));
        let from = match prev_end {
            Some(p) => p.next_multiple_of(PAGE).max(start / PAGE * PAGE),
            None => start / PAGE * PAGE,
        };
        if from >= end {
            return Ok(());
        }
        // The header's page counts as the first one's (populate rounds down).
        let from = from.max(base);
        region.populate(from - base, end - from)
    }

    /// The chunks of the size a message of `len` bytes is stored in, as
    /// senders allocate them.
    #[inline]
    pub(super) fn chunk_pool(&self, h: &'a QHead, len: usize) -> Pool<'a> {
        let g = &self.geo;
        if len <= SMALL {
            Pool {
                free: &h.free_chunk,
                fresh: &h.fresh_chunk,
                returned: &h.ret_chunk,
                warm: WARM_CHUNK,
                total: g.nsmall,
            }
        } else {
            Pool {
                free: &h.free_big,
                fresh: &h.fresh_big,
                returned: &h.ret_big,
                warm: g.nsmall.saturating_add(WARM_BIG),
                total: g.nchunk,
            }
        }
    }

    /// Under `rlock`: gives descriptor `i` back (onto the pending chain:
    /// see [`View::batch`]).
    #[inline]
    pub(super) fn give_back_desc(&self, i: u32) -> Result<()> {
        let h = self.head()?;
        let link = &self.desc(i)?.next;
        pend(&h.pend_desc, &h.pend_desc_last, i, i, link);
        Ok(())
    }

    /// Under `rlock`: gives the chain of chunks holding `len` bytes from
    /// `first` back (`EIO`, giving nothing back, when one is of the other
    /// size): small chunks onto the pending chain, big ones onto their
    /// returned list at once (a big chunk's message costs far more than
    /// the push, and the few big chunks must not wait in a batch).
    #[inline]
    pub(super) fn give_back_chunks(&self, first: u32, len: usize) -> Result<()> {
        let class = self.geo.class(len);
        let need = class.count(len);
        if need == 0 {
            return Ok(());
        }
        let mut last = first;
        class.off(last)?;
        for _ in 1..need {
            last = self.link(last)?.load(Relaxed);
            class.off(last)?;
        }
        let h = self.head()?;
        if len <= SMALL {
            pend(
                &h.pend_chunk,
                &h.pend_chunk_last,
                first,
                last,
                self.link(last)?,
            );
        } else {
            push_returned(&h.ret_big, first, self.link(last)?);
        }
        Ok(())
    }

    /// Messages whose descriptors and small chunks a receiver keeps on the
    /// pending chains before it pushes them onto the returned lists: up to
    /// [`PEND_BATCH`], fewer for a small queue, so that what waits there is
    /// at most a sixteenth of the storage (a sender finds none only when
    /// the queue is nearly full of tiny messages, and then flushes: see
    /// [`View::flush_pending`]).
    #[inline]
    pub(super) fn batch(&self) -> u32 {
        (self.geo.ndesc / 16).clamp(1, PEND_BATCH)
    }

    /// Under `rlock`, after a message was taken and its storage given
    /// back: pushes the pending chains once a batch is complete.
    #[inline]
    pub(super) fn taken_one(&self) -> Result<()> {
        let h = self.head()?;
        let n = h.pend_n.load(Relaxed).wrapping_add(1);
        if n >= self.batch() {
            self.flush_pending()
        } else {
            h.pend_n.store(n, Relaxed);
            Ok(())
        }
    }

    /// Under `rlock`: pushes the pending chains onto the returned lists
    /// (one compare-and-swap each). A chain whose ends were scribbled on
    /// is dropped (its storage is found again by the next repair, which a
    /// sender short of storage runs).
    pub(super) fn flush_pending(&self) -> Result<()> {
        let h = self.head()?;
        let lists = [
            (&h.pend_desc, &h.pend_desc_last, &h.ret_desc, true),
            (&h.pend_chunk, &h.pend_chunk_last, &h.ret_chunk, false),
        ];
        for (first, last, ret, desc) in lists {
            let f = first.load(Relaxed);
            if f != NIL {
                let l = last.load(Relaxed);
                let link = if desc {
                    self.desc(l).map(|d| &d.next)
                } else {
                    self.link(l)
                };
                if let Ok(link) = link {
                    push_returned(ret, f, link);
                }
            }
            first.store(NIL, Relaxed);
            last.store(NIL, Relaxed);
        }
        h.pend_n.store(0, Relaxed);
        Ok(())
    }
}

/// Puts the chain `first`..`last` (whose last link is `last_link`) at the
/// front of a pending chain (`head`, `tail`: under `rlock`, plain stores).
#[inline]
fn pend(head: &AtomicU32, tail: &AtomicU32, first: u32, last: u32, last_link: &AtomicU32) {
    let old = head.load(Relaxed);
    last_link.store(old, Relaxed);
    head.store(first, Relaxed);
    if old == NIL {
        tail.store(last, Relaxed);
    }
}

/// The most messages whose storage waits on the pending chains.
pub(super) const PEND_BATCH: u32 = 16;

/// The free list of the items in `range` that `used` (indexed from 0,
/// shorter than the range's end: the rest unused) does not mark, below the
/// highest used one, linked in increasing order through `next`: its first
/// item (or `NIL`) and the never-used mark.
pub(super) fn free_list<'m>(
    range: core::ops::Range<u32>,
    used: &[bool],
    next: impl Fn(u32) -> Result<&'m AtomicU32>,
) -> Result<(u32, u32)> {
    let is_used = |i: u32| used.get(i as usize).copied().unwrap_or(false);
    let top = range.end.min(used.len() as u32).max(range.start);
    let fresh = (range.start..top)
        .rev()
        .find(|&i| is_used(i))
        .map_or(range.start, |i| i + 1);
    let mut f = NIL;
    for i in (range.start..fresh).rev() {
        if !is_used(i) {
            next(i)?.store(f, Relaxed);
            f = i;
        }
    }
    Ok((f, fresh))
}

/// Pushes a chain from `first` (whose last link is `last_link`) onto
/// a returned list. Receivers push under `rlock` (one at a time); a sender
/// may take the whole list meanwhile, hence the compare-and-swap.
#[inline]
pub(super) fn push_returned(list: &AtomicU32, first: u32, last_link: &AtomicU32) {
    let mut old = list.load(Relaxed);
    loop {
        last_link.store(old, Relaxed);
        match list.compare_exchange_weak(old, first, Release, Relaxed) {
            Ok(_) => return,
            Err(v) => old = v,
        }
    }
}

/// One kind of storage (descriptors or chunks) as a sender allocates it.
pub(super) struct Pool<'a> {
    /// The senders' free list.
    pub(super) free: &'a AtomicU32,
    /// Never used from this index on.
    pub(super) fresh: &'a AtomicU32,
    /// What receivers gave back.
    pub(super) returned: &'a AtomicU32,
    /// Never-used storage is taken before what was given back while
    /// `fresh` is below this.
    pub(super) warm: u32,
    /// How many there are.
    pub(super) total: u32,
}

impl Pool<'_> {
    /// Under `slock`: the senders' free list first, then never-used
    /// storage up to the warm set, then the whole returned list (taken at
    /// once), then the rest of the never-used storage. `next` gives an
    /// item's list link.
    ///
    /// `reserve(i)` runs before never-used item `i` is handed out: it
    /// reserves the file's storage for it (see [`View::reserve`]); its
    /// error (`ENOMEM`: the file system is full) leaves the pool as it was.
    #[inline]
    pub(super) fn alloc<'m>(
        &self,
        next: impl Fn(u32) -> Result<&'m AtomicU32>,
        reserve: impl Fn(u32) -> Result<()>,
    ) -> Result<Option<u32>> {
        let mut i = self.free.load(Relaxed);
        if i == NIL {
            let fresh = self.fresh.load(Relaxed);
            // Within the warm set, never-used storage first; when the file
            // system has no room for it, what receivers gave back.
            let mut no_room = None;
            if fresh < self.warm.min(self.total) {
                match reserve(fresh) {
                    Ok(()) => {
                        self.fresh.store(fresh + 1, Relaxed);
                        return Ok(Some(fresh));
                    }
                    Err(e) => no_room = Some(e),
                }
            }
            i = self.returned.swap(NIL, Acquire);
            if i == NIL {
                if let Some(e) = no_room {
                    return Err(e);
                }
                if fresh < self.total {
                    reserve(fresh)?;
                    self.fresh.store(fresh + 1, Relaxed);
                    return Ok(Some(fresh));
                }
                return Ok(None);
            }
        }
        self.free.store(next(i)?.load(Relaxed), Relaxed);
        Ok(Some(i))
    }
}
