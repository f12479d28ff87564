//! The message list: [`View`] over a queue's control area, its counters,
//! repair after a dead lock holder, appending a message after the last one,
//! finding (by type), taking and copying one out.

use super::*;

/// A queue's control area with its geometry: the operations that walk
/// and change the structure (each under the lock(s) its comment names).
#[derive(Debug, Clone, Copy)]
pub(super) struct View<'a> {
    pub(super) obj: &'a Obj,
    pub(super) geo: Geo,
    /// Where this process copies the queue's counters (see
    /// [`super::tally`]); `None` when it does not.
    pub(super) tally: Option<&'a Copier>,
    /// Otherwise, how this process marks the queue as changed without a
    /// copy.
    pub(super) mark: Option<&'a Marker>,
    /// The control area's head, found (bounds-checked) once.
    pub(super) h: &'a QHead,
    /// The control area's first byte: `geo.end` bytes from it lie in the
    /// mapping, and it is 8-byte aligned ([`View::new`] checks both once),
    /// so an item whose index is below its count in `geo` is addressed
    /// without another check ([`View::desc`], [`View::link`],
    /// [`View::chunk`]).
    base: *mut u8,
}

impl<'a> View<'a> {
    #[inline]
    pub(super) fn new(obj: &'a Obj, geo: Geo) -> Result<View<'a>> {
        let base = View::check(obj, geo)?;
        // SAFETY: just checked.
        Ok(unsafe { View::checked(obj, geo, base) })
    }

    /// Where `obj`'s control area starts, once `geo` was checked to fit
    /// its mapping: the items of the geometry all lie below `geo.end`
    /// (see `Geo::layout`) at offsets that are multiples of their
    /// alignment (at most 8). `EIO` when it does not fit.
    pub(super) fn check(obj: &Obj, geo: Geo) -> Result<*mut u8> {
        let r = obj.region();
        let base = r.as_ptr();
        if geo.end > r.len()
            || base as usize % 8 != 0
            || geo.desc_off < core::mem::size_of::<QHead>()
        {
            return Err(Errno::EIO);
        }
        Ok(base)
    }

    /// The view of `obj` with geometry `geo` whose control area starts at
    /// `base`, without a check.
    ///
    /// # Safety
    /// `base` is what [`View::check`] returned for this `obj` and `geo`.
    #[inline]
    pub(super) unsafe fn checked(obj: &'a Obj, geo: Geo, base: *mut u8) -> View<'a> {
        View {
            obj,
            geo,
            tally: None,
            mark: None,
            // SAFETY: the head lies below `desc_off` ≤ `geo.end`, inside
            // the mapping, which lives as long as `obj`; `base` is
            // 8-aligned; `QHead` is `Shared` (atomics only). The caller
            // vouches for `base` (see `View::check`).
            h: unsafe { &*(base as *const QHead) },
            base,
        }
    }

    /// Before a change of the counters: when this process does not copy
    /// them, marks the queue (see [`super::tally`]).
    #[inline]
    pub(super) fn before_change(&self) {
        if self.tally.is_none() {
            if let Some(m) = self.mark {
                m.mark();
            }
        }
    }

    /// Under both locks: copies all four counters to the tally.
    pub(super) fn note_all(&self) {
        if let (Some(t), Ok(h)) = (self.tally, self.head()) {
            t.note_all(self.obj.id as u32, h);
        }
    }

    #[inline]
    pub(super) fn head(&self) -> Result<&'a QHead> {
        Ok(self.h)
    }

    /// Descriptor `i` (`EIO` past the last one).
    #[inline]
    pub(super) fn desc(&self, i: u32) -> Result<&'a Desc> {
        if i >= self.geo.ndesc {
            return Err(Errno::EIO);
        }
        let off = self.geo.desc_off + i as usize * core::mem::size_of::<Desc>();
        // SAFETY: `i < ndesc`, so `[off, off + 24)` lies below `link_off`
        // ≤ `geo.end`, inside the mapping (checked in `View::new`), which
        // lives for 'a; `desc_off` is a multiple of 64 and 24 one of 8, on
        // an 8-aligned base: aligned for `Desc`. `Desc` is `Shared`
        // (atomics, any bit pattern).
        Ok(unsafe { &*(self.base.add(off) as *const Desc) })
    }

    /// Chunk `c`'s link (`EIO` past the last chunk).
    #[inline]
    pub(super) fn link(&self, c: u32) -> Result<&'a AtomicU32> {
        if c >= self.geo.nchunk {
            return Err(Errno::EIO);
        }
        let off = self.geo.link_off + c as usize * 4;
        // SAFETY: `c < nchunk`, so `[off, off + 4)` lies below `chunk_off`
        // ≤ `geo.end`, inside the mapping (`View::new`); `link_off` is
        // `desc_off` plus a multiple of 24: 4-aligned. An atomic: any bit
        // pattern.
        Ok(unsafe { &*(self.base.add(off) as *const AtomicU32) })
    }

    /// The bytes of chunk `c` of `class` (`EIO` when `c` is not one of
    /// that class): a pointer to `class.size()` bytes of the mapping,
    /// which other processes may write at any time (copy them, never make
    /// a reference to them).
    #[inline]
    pub(super) fn chunk(&self, class: Class, c: u32) -> Result<*mut u8> {
        let off = class.off(c)?;
        // `off + class.size()` ≤ `geo.end` for every chunk of the class
        // (`Geo::layout`), inside the mapping (`View::new`).
        Ok(self.base.wrapping_add(off))
    }

    /// Messages and bytes held: what was appended less what was taken
    /// (exact under both locks, a snapshot otherwise). `EIO` when the
    /// counters say more than the queue can hold.
    #[inline]
    pub(super) fn held(&self) -> Result<(u64, u64)> {
        let h = self.head()?;
        self.held_after(h.taken_n.load(Relaxed), h.taken_bytes.load(Relaxed))
    }

    /// Messages and bytes appended since the receivers' counters were at
    /// `taken_n`, `taken_bytes`; `EIO` when more than the queue can hold.
    #[inline]
    pub(super) fn held_after(&self, taken_n: u32, taken_bytes: u32) -> Result<(u64, u64)> {
        let h = self.head()?;
        let n = h.sent_n.load(Relaxed).wrapping_sub(taken_n) as u64;
        let b = h.sent_bytes.load(Relaxed).wrapping_sub(taken_bytes) as u64;
        if n > self.geo.msgs() || b > self.geo.capacity() {
            return Err(Errno::EIO);
        }
        Ok((n, b))
    }

    /// Under `slock`: whether a message of `len` bytes fits the kernel's
    /// limits (bytes and count within `msg_qbytes`), judged by the senders'
    /// copy of the receivers' counters, refreshed first when `fresh`.
    #[inline]
    pub(super) fn fits(&self, len: u64, fresh: bool) -> Result<bool> {
        let h = self.head()?;
        if fresh {
            h.seen_taken_n.store(h.taken_n.load(Acquire), Relaxed);
            h.seen_taken_bytes
                .store(h.taken_bytes.load(Acquire), Relaxed);
        }
        let (n, b) = self.held_after(
            h.seen_taken_n.load(Relaxed),
            h.seen_taken_bytes.load(Relaxed),
        )?;
        let qb = h.qbytes.load(Relaxed);
        Ok(b + len <= qb && n < qb.min(self.geo.msgs()))
    }

    /// A new queue's state (or what a queue whose dummy index was
    /// scribbled on becomes): empty, descriptor 0 the dummy, all else
    /// never used.
    pub(super) fn reset_empty(&self) -> Result<()> {
        let h = self.head()?;
        self.desc(0)?.next.store(NIL, Relaxed);
        h.head.store(0, Relaxed);
        h.tail.store(0, Relaxed);
        for a in [
            &h.sent_n,
            &h.sent_bytes,
            &h.taken_n,
            &h.taken_bytes,
            &h.seen_taken_n,
            &h.seen_taken_bytes,
        ] {
            a.store(0, Relaxed);
        }
        self.rebuild_free(&[true], &[])
    }

    /// Under both locks: rebuilds free lists, counters and `tail` from the
    /// message list after a lock holder died (or to recover from
    /// scribbling: whatever prefix of the list is well-formed is kept, the
    /// rest dropped).
    pub fn repair(&self) -> Result<()> {
        self.before_change();
        let h = self.head()?;
        h.dirty.store(0, Relaxed);
        crate::debug_report!("queue {}: repaired after a lock holder died", self.obj.id);
        let dummy = h.head.load(Relaxed);
        if dummy >= self.geo.ndesc {
            self.reset_empty()?;
            self.note_all();
            return Ok(());
        }
        let mut used_d = vec![false; self.geo.ndesc as usize];
        let mut used_c = vec![false; self.geo.nchunk as usize];
        used_d[dummy as usize] = true;
        let (mut qnum, mut cbytes) = (0u32, 0u32);
        let mut prev = dummy;
        let mut cur = self.desc(dummy)?.next.load(Relaxed);
        'walk: while cur != NIL {
            if cur >= self.geo.ndesc || used_d[cur as usize] {
                break;
            }
            let d = self.desc(cur)?;
            let len = d.len.load(Relaxed) as usize;
            if len as u64 > self.geo.capacity() || d.mtype.load(Relaxed) < 1 {
                break;
            }
            let class = self.geo.class(len);
            let need = class.count(len);
            let mut c = d.chunk.load(Relaxed);
            let mut mine = Vec::with_capacity(need);
            for _ in 0..need {
                if !class.has(c) || used_c[c as usize] || mine.contains(&c) {
                    break 'walk;
                }
                mine.push(c);
                c = self.link(c)?.load(Relaxed);
            }
            if cbytes as u64 + len as u64 > self.geo.capacity() {
                break;
            }
            for c in mine {
                used_c[c as usize] = true;
            }
            used_d[cur as usize] = true;
            qnum += 1;
            cbytes += len as u32;
            prev = cur;
            cur = d.next.load(Relaxed);
        }
        // Cut the list after the last good message.
        self.desc(prev)?.next.store(NIL, Relaxed);
        h.tail.store(prev, Relaxed);
        // Only the differences count: keep the receivers' counters.
        let (tn, tb) = (h.taken_n.load(Relaxed), h.taken_bytes.load(Relaxed));
        h.sent_n.store(tn.wrapping_add(qnum), Relaxed);
        h.sent_bytes.store(tb.wrapping_add(cbytes), Relaxed);
        h.seen_taken_n.store(tn, Relaxed);
        h.seen_taken_bytes.store(tb, Relaxed);
        let cap = self.geo.capacity();
        let qb = h.qbytes.load(Relaxed);
        if qb == 0 || qb > cap {
            h.qbytes.store(cap, Relaxed);
        }
        // The copies in the tally, whatever the dead holder left there.
        self.note_all();
        self.rebuild_free(&used_d, &used_c)
    }

    /// Under both locks: each free list holds every descriptor (small
    /// chunk, big chunk) below the highest one in use that is not in use
    /// (`used_*`, shorter than the geometry: the rest unused); everything
    /// above is never used again until needed. The returned lists are
    /// emptied, and so are the receivers' pending chains.
    pub(super) fn rebuild_free(&self, used_d: &[bool], used_c: &[bool]) -> Result<()> {
        let h = self.head()?;
        let g = self.geo;
        let (f, fresh) = free_list(0..g.ndesc, used_d, |i| Ok(&self.desc(i)?.next))?;
        h.free_desc.store(f, Relaxed);
        h.fresh_desc.store(fresh, Relaxed);
        let (f, fresh) = free_list(0..g.nsmall, used_c, |c| self.link(c))?;
        h.free_chunk.store(f, Relaxed);
        h.fresh_chunk.store(fresh, Relaxed);
        let (f, fresh) = free_list(g.nsmall..g.nchunk, used_c, |c| self.link(c))?;
        h.free_big.store(f, Relaxed);
        h.fresh_big.store(fresh, Relaxed);
        for l in [
            &h.ret_desc,
            &h.ret_chunk,
            &h.ret_big,
            &h.pend_desc,
            &h.pend_desc_last,
            &h.pend_chunk,
            &h.pend_chunk_last,
        ] {
            l.store(NIL, Relaxed);
        }
        h.pend_n.store(0, Relaxed);
        Ok(())
    }
}

impl<'a> View<'a> {
    /// Under `slock`: allocates, fills and links one message; `false` when
    /// descriptors or chunks ran out (cannot happen while the byte
    /// accounting is intact).
    #[inline]
    pub(super) fn try_append(&self, mtype: i64, data: &[u8]) -> Result<Option<u64>> {
        self.before_change();
        let h = self.head()?;
        let Some(di) = self.alloc_desc(h)? else {
            return Ok(None);
        };
        let d = self.desc(di)?;
        let (mut first, mut last) = (NIL, NIL);
        let len = data.len();
        let class = self.geo.class(len);
        let pool = self.chunk_pool(h, len);
        let link_at = |c: u32| self.geo.link_off + c as usize * 4;
        let reserve = |c: u32| {
            // Its link, then its bytes.
            let l = link_at(c);
            self.reserve(l, l + 4, (c > class.lo).then_some(l))?;
            let o = class.off(c)?;
            self.reserve(o, o + class.size(), (c > class.lo).then_some(o))
        };
        for piece in data.chunks(class.size()) {
            let c = match pool.alloc(|c| self.link(c), reserve) {
                Ok(Some(c)) => c,
                r => {
                    // Give back what this message took (to the senders'
                    // lists): none left, or no storage for a new one.
                    if last != NIL {
                        self.link(last)?.store(pool.free.load(Relaxed), Relaxed);
                        pool.free.store(first, Relaxed);
                    }
                    d.next.store(h.free_desc.load(Relaxed), Relaxed);
                    h.free_desc.store(di, Relaxed);
                    return r.map(|_| None);
                }
            };
            let to = self.chunk(class, c)?;
            // SAFETY: `piece` (at most `class.size()` bytes, the chunks'
            // size) goes to chunk `c`, which lies in the mapping
            // (`View::chunk`); process-private source, no overlap.
            unsafe { core::ptr::copy_nonoverlapping(piece.as_ptr(), to, piece.len()) };
            if last == NIL {
                first = c;
            } else {
                self.link(last)?.store(c, Relaxed);
            }
            last = c;
        }
        d.mtype.store(mtype, Relaxed);
        d.len.store(data.len() as u32, Relaxed);
        d.chunk.store(first, Relaxed);
        d.next.store(NIL, Relaxed);
        // The operation's record (for a fencer, see `super::fence`), then
        // the commit: link after the last message.
        let op = op_id(h.sent_n.load(Relaxed));
        h.sop_at.store(di, Relaxed);
        h.sop_id.store(op, Relaxed);
        super::fence::hold_point(1);
        let t = h.tail.load(Relaxed);
        self.desc(t)?.next.store(di, Release);
        h.tail.store(di, Relaxed);
        super::fence::hold_point(2);
        h.sent_n
            .store(h.sent_n.load(Relaxed).wrapping_add(1), Relaxed);
        h.sent_bytes.store(
            h.sent_bytes.load(Relaxed).wrapping_add(data.len() as u32),
            Relaxed,
        );
        if let Some(t) = self.tally {
            t.note_sent(self.obj.id as u32, h);
        }
        Ok(Some(op))
    }

    /// Whether descriptor `at` is in the list, the dummy included (a
    /// bounded walk; `EIO` for a list that does not end).
    pub(super) fn reaches(&self, at: u32) -> Result<bool> {
        let mut cur = self.head()?.head.load(Relaxed);
        for _ in 0..=self.geo.ndesc {
            if cur == at {
                return Ok(true);
            }
            if cur == NIL {
                return Ok(false);
            }
            cur = self.desc(cur)?.next.load(Acquire);
        }
        Err(Errno::EIO)
    }

    /// Under `rlock`: finds the message `msgrcv` would take.
    #[inline]
    pub(super) fn find(&self, msgtyp: i64, flags: i32) -> Result<Option<Found>> {
        let h = self.head()?;
        let mut prev = h.head.load(Relaxed);
        let mut cur = self.desc(prev)?.next.load(Acquire);
        let mut best: Option<(Found, i64)> = None;
        let limit = if msgtyp == i64::MIN {
            i64::MAX
        } else {
            msgtyp.abs()
        };
        let mut steps = 0u32;
        while cur != NIL {
            steps += 1;
            if steps > self.geo.ndesc {
                return Err(Errno::EIO);
            }
            let d = self.desc(cur)?;
            let t = d.mtype.load(Relaxed);
            let here = Found { prev, at: cur };
            if msgtyp == 0 {
                return Ok(Some(here));
            } else if msgtyp > 0 {
                let hit = if flags & MSG_EXCEPT != 0 {
                    t != msgtyp
                } else {
                    t == msgtyp
                };
                if hit {
                    return Ok(Some(here));
                }
            } else if t <= limit && best.map_or(true, |(_, bt)| t < bt) {
                best = Some((here, t));
                if t == 1 {
                    break;
                }
            }
            prev = cur;
            cur = d.next.load(Acquire);
        }
        Ok(best.map(|(f, _)| f))
    }

    /// Under `rlock` (both locks when `f` is the last message behind
    /// others; `g` is `rlock`, released before waking senders): copies
    /// the message out and takes it off the list.
    #[inline]
    pub(super) fn take<B: RecvBuf + ?Sized>(
        &self,
        f: Found,
        out: &mut B,
        flags: i32,
        g: QGuard<'_>,
    ) -> Result<(i64, usize)> {
        self.before_change();
        let h = self.head()?;
        let d = self.desc(f.at)?;
        let (mtype, n) = self.copy_message(d, out, flags)?;
        let len = d.len.load(Relaxed);
        let next = d.next.load(Acquire);
        let dummy = h.head.load(Relaxed);
        // The operation's record (for a fencer, see `super::fence`).
        h.rop_prev.store(f.prev, Relaxed);
        h.rop_at.store(f.at, Relaxed);
        let op = op_id(h.taken_n.load(Relaxed));
        h.rop_id.store(op, Relaxed);
        super::fence::hold_point(3);
        if f.prev == dummy {
            // Commit: the message becomes the dummy; the old dummy and the
            // message's chunks are free.
            h.head.store(f.at, Release);
            self.give_back_chunks(d.chunk.load(Relaxed), len as usize)?;
            self.give_back_desc(dummy)?;
        } else {
            // Commit: unlink it. When it is the last message the caller
            // holds `slock` too.
            self.desc(f.prev)?.next.store(next, Release);
            if next == NIL {
                h.tail.store(f.prev, Relaxed);
            }
            self.give_back_chunks(d.chunk.load(Relaxed), len as usize)?;
            self.give_back_desc(f.at)?;
        }
        self.taken_one()?;
        h.taken_n
            .store(h.taken_n.load(Relaxed).wrapping_add(1), Release);
        h.taken_bytes
            .store(h.taken_bytes.load(Relaxed).wrapping_add(len), Release);
        if let Some(t) = self.tally {
            t.note_taken(self.obj.id as u32, h);
        }
        super::fence::hold_point(4);
        let released = publish(g, self.obj, &h.lrpid, &h.rtime, &h.taken, &h.rpeer);
        if !released {
            self.spoil_copy(false);
        }
        if !released && !outcome(&h.rout, op) {
            // Fenced before the commit: the message is still in the queue,
            // which moved (see `super::fence`).
            return Err(Errno::ESTALE);
        }
        Ok((mtype, n))
    }

    /// Copies message `d` into `out` (`E2BIG` when it does not fit unless
    /// `MSG_NOERROR`): its type and the bytes copied.
    #[inline(always)]
    pub(super) fn copy_message<B: RecvBuf + ?Sized>(
        &self,
        d: &Desc,
        out: &mut B,
        flags: i32,
    ) -> Result<(i64, usize)> {
        let len = d.len.load(Relaxed) as usize;
        if len as u64 > self.geo.capacity() {
            return Err(Errno::EIO);
        }
        let cap = out.cap();
        if len > cap && flags & MSG_NOERROR == 0 {
            return Err(Errno::E2BIG);
        }
        let n = self.copy_out(d, out.take(len.min(cap))?)?;
        Ok((d.mtype.load(Relaxed), n))
    }

    /// Under `rlock`: the `n`th message (for `MSG_COPY`).
    pub(super) fn nth(&self, n: i64) -> Result<Option<u32>> {
        let h = self.head()?;
        let mut cur = self.desc(h.head.load(Relaxed))?.next.load(Acquire);
        let mut i = 0i64;
        let mut steps = 0;
        while cur != NIL {
            steps += 1;
            if steps > self.geo.ndesc {
                return Err(Errno::EIO);
            }
            if i == n {
                return Ok(Some(cur));
            }
            i += 1;
            cur = self.desc(cur)?.next.load(Acquire);
        }
        Ok(None)
    }

    #[inline]
    pub(super) fn copy_out(&self, d: &Desc, buf: &mut [u8]) -> Result<usize> {
        let full = d.len.load(Relaxed) as usize;
        let class = self.geo.class(full);
        let len = full.min(buf.len());
        let mut c = d.chunk.load(Relaxed);
        let mut done = 0;
        while done < len {
            let n = class.size().min(len - done);
            let from = self.chunk(class, c)?;
            let to = &mut buf[done..done + n];
            // SAFETY: `n` ≤ `class.size()` bytes of chunk `c`, which lies in
            // the mapping (`View::chunk`), into the caller's private
            // buffer: no overlap.
            unsafe { core::ptr::copy_nonoverlapping(from, to.as_mut_ptr(), n) };
            done += n;
            if done < len {
                c = self.link(c)?.load(Relaxed);
            }
        }
        Ok(len)
    }
}
