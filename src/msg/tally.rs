//! `MSG_INFO`'s running totals: each queue's counters, copied into the
//! namespace's tally ([`crate::ns::Tally`], a window of `ripc.ns`) by the
//! lock holder that changes them, so that `MSG_INFO` adds up messages and
//! bytes of every queue without opening one (docs/msg.md, "MSG_INFO").
//!
//! Per queue index, [`TallySlot`]: the senders' line holds `sent_n` and
//! `sent_bytes`, the receivers' line `taken_n` and `taken_bytes`, each
//! word the counter (low 32 bits) tagged with the queue's id (high 32
//! bits). A copy is an absolute store of what the queue's own counters
//! say, never an increment: storing it twice is harmless, so the repair
//! after a dead lock holder ([`View::repair`], under both locks) simply
//! stores all four again from the counters it rebuilt, and the totals are
//! exact again whatever instruction the holder died at.
//!
//! What `MSG_INFO` trusts, per index in use, comes with the index hint's
//! word of that index (`crate::ns::index`), two `u32` records written with
//! `pwrite` by any member:
//! - low half: the id of the queue there, written by its creator just
//!   after creating it (before it copies its counters) and set to
//!   [`NO_QUEUE`] by its remover before the index is freed;
//! - high half: the complement of the id of a queue some process used
//!   without copying its counters (a member that may not write
//!   `ripc.ns`, or an owner's process whose tally page could not be had),
//!   written before that process first changes the queue ([`Marker`]; the
//!   complement: a
//!   fresh file's zero is no queue's mark, not even id 0's).
//!
//! The copy counts when all four tags equal the low half and the high half
//! is not its mark; otherwise (a queue being created, one a member used, a copy
//! written late by a holder stopped across the queue's removal and the
//! index's reuse, a difference that is negative for an instant because a
//! receiver copied before the sender), that queue is opened and its own
//! counters read, as before the tally: slower, never wrong.

use super::*;
use crate::ns::{Tally, TALLY_STRIDE};

/// One side's copy of its counters: a cache line of its own.
#[repr(C, align(64))]
#[derive(Debug)]
pub(super) struct TallySide {
    /// id << 32 | messages appended (taken)
    n: AtomicU64,
    /// id << 32 | bytes appended (taken)
    bytes: AtomicU64,
    _pad: [AtomicU64; 6],
}

/// A queue's copies, at its index in the tally.
#[repr(C)]
#[derive(Debug)]
pub(super) struct TallySlot {
    send: TallySide,
    recv: TallySide,
}

const _: () = assert!(core::mem::size_of::<TallySlot>() == TALLY_STRIDE);

// SAFETY: `#[repr(C)]`, atomics only, no padding (8 words per aligned
// line).
unsafe impl Shared for TallySide {}
// SAFETY: as above.
unsafe impl Shared for TallySlot {}

/// The low half's value for an index whose queue is being removed.
pub(super) const NO_QUEUE: u32 = u32::MAX;

#[inline]
fn word(tag: u32, v: u32) -> u64 {
    (tag as u64) << 32 | v as u64
}

impl TallySlot {
    /// Under `slock`: the senders' counters.
    #[inline]
    pub(super) fn note_sent(&self, tag: u32, h: &QHead) {
        self.send
            .n
            .store(word(tag, h.sent_n.load(Relaxed)), Relaxed);
        self.send
            .bytes
            .store(word(tag, h.sent_bytes.load(Relaxed)), Relaxed);
    }

    /// Under `rlock`: the receivers' counters.
    #[inline]
    pub(super) fn note_taken(&self, tag: u32, h: &QHead) {
        self.recv
            .n
            .store(word(tag, h.taken_n.load(Relaxed)), Relaxed);
        self.recv
            .bytes
            .store(word(tag, h.taken_bytes.load(Relaxed)), Relaxed);
    }

    /// Under both locks: all four.
    pub(super) fn note_all(&self, tag: u32, h: &QHead) {
        self.note_sent(tag, h);
        self.note_taken(tag, h);
    }

    /// Messages and bytes held by queue `id` by this copy, when it counts
    /// (see the module comment): the receivers' words first, so that a
    /// message taken meanwhile is one whose sending is seen too.
    fn held(&self, id: u32) -> Option<(u64, u64)> {
        let rn = self.recv.n.load(Acquire);
        let rb = self.recv.bytes.load(Acquire);
        let sn = self.send.n.load(Acquire);
        let sb = self.send.bytes.load(Acquire);
        if [rn, rb, sn, sb].iter().any(|w| (w >> 32) as u32 != id) {
            return None;
        }
        let n = (sn as u32).wrapping_sub(rn as u32) as u64;
        let b = (sb as u32).wrapping_sub(rb as u32) as u64;
        (n <= MAX_MSGS && b <= MAX_BYTES).then_some((n, b))
    }
}

/// Where this process copies a queue's counters: its slot, found once
/// per [`Queue`], and the tally that holds it.
#[derive(Debug)]
pub(super) struct Copier {
    slot: core::ptr::NonNull<TallySlot>,
    _tally: Arc<Tally>,
}

// SAFETY: `slot` points into the mapping `_tally` keeps alive, and is
// only ever read as a `&TallySlot` (atomics: shared by design).
unsafe impl Send for Copier {}
// SAFETY: as above.
unsafe impl Sync for Copier {}

impl Clone for Copier {
    fn clone(&self) -> Copier {
        Copier {
            slot: self.slot,
            _tally: self._tally.clone(),
        }
    }
}

impl Clone for Marker {
    fn clone(&self) -> Marker {
        Marker {
            ix: self.ix.clone(),
            serial: self.serial,
            id: self.id,
            done: core::sync::atomic::AtomicBool::new(self.done.load(Relaxed)),
        }
    }
}

impl Copier {
    /// How this process copies queue `id`'s counters: into its slot in
    /// `ns`'s tally; `None` when it cannot write there (then see
    /// [`Marker`]).
    pub(super) fn new(ns: &Ns, id: i32) -> Option<Copier> {
        let idx = id % crate::ns::IDX_SPAN;
        let t = ns.tally().filter(|t| t.prepare(idx))?;
        let s = slot(t, idx)?;
        Some(Copier {
            slot: core::ptr::NonNull::from(s),
            _tally: t.clone(),
        })
    }

    /// The slot.
    #[inline]
    pub(super) fn slot(&self) -> &TallySlot {
        // SAFETY: found in bounds and aligned by `slot` (through a
        // Region), in the mapping `_tally` keeps alive as long as `self`.
        unsafe { self.slot.as_ref() }
    }
}

/// How a process that cannot copy a queue's counters tells `MSG_INFO`
/// not to trust the copy: it marks the queue in the index hint before it
/// first changes it ([`Marker::mark`], from the calls that change the
/// counters: a send, a receive, a repair), once per queue and process.
/// Only then: a process that merely looks (`MSG_STAT`, `ripcs`, `MSG_INFO`
/// itself) leaves the copy trusted.
#[derive(Debug)]
pub(super) struct Marker {
    ix: Arc<crate::ns::index::Index>,
    serial: u64,
    id: i32,
    done: core::sync::atomic::AtomicBool,
}

impl Marker {
    /// A marker of queue `id` in `ns` (`None` without an index hint:
    /// then `MSG_INFO` walks the queues anyway).
    pub(super) fn new(ns: &Ns, id: i32) -> Option<Marker> {
        Some(Marker {
            ix: ns.index_arc()?.clone(),
            serial: ns.serial(),
            id,
            done: Default::default(),
        })
    }

    /// Marks the queue (once).
    #[cold]
    pub(super) fn mark(&self) {
        if self.done.load(Relaxed) {
            return;
        }
        static DONE: std::sync::Mutex<Option<std::collections::HashSet<(u64, i32)>>> =
            std::sync::Mutex::new(None);
        // The mark is idempotent: the set only saves writing it again
        // from another handle of the queue. Not waited for (a child of
        // `fork` may find it held by a thread it does not have): busy,
        // the mark is simply written.
        let first = match DONE.try_lock() {
            Ok(mut done) => done
                .get_or_insert_with(Default::default)
                .insert((self.serial, self.id)),
            Err(_) => true,
        };
        if first {
            let idx = self.id % crate::ns::IDX_SPAN;
            self.ix.set_half(Kind::Msg, idx, true, !(self.id as u32));
        }
        self.done.store(true, Relaxed);
    }
}

/// The slot of index `idx` in `t`.
#[inline]
pub(super) fn slot(t: &Tally, idx: i32) -> Option<&TallySlot> {
    t.slot(idx).ok()?.at(0).ok()
}

/// Records in the index hint that index `idx` holds queue `id` (its
/// creator, just after creating it) or none ([`NO_QUEUE`], its remover).
pub(super) fn record(ns: &Ns, idx: i32, id: u32) {
    if let Some(ix) = ns.index() {
        ix.set_half(Kind::Msg, idx, false, id);
    }
}

/// `MSG_INFO`'s figures from the tally, at a cost of one `pread` of the
/// index hint's bitmap, one of its words up to the highest index in use,
/// and a few loads per queue; a queue whose copy does not count is opened
/// (see the module comment). `None` without an index hint or a tally (the
/// caller then walks every queue).
pub(super) fn info(ns: &Ns) -> Option<MsgInfo> {
    let t = ns.tally()?;
    let (hi, n, words) = ns.in_use_words(Kind::Msg)?;
    let mut i = MsgInfo {
        max_idx: hi,
        queues: n,
        ..Default::default()
    };
    for (idx, w) in words {
        let (id, unmirrored) = (w as u32, (w >> 32) as u32);
        let copy = slot(t, idx)
            .filter(|_| !id != unmirrored && id != NO_QUEUE)
            .and_then(|s| s.held(id));
        let (m, b) = match copy {
            Some(v) => v,
            None => {
                #[cfg(test)]
                tests::OPENED.fetch_add(1, Relaxed);
                by_index(ns, idx)
                    .and_then(|q| q.view()?.held())
                    .unwrap_or((0, 0))
            }
        };
        i.messages += m;
        i.bytes += b;
    }
    Some(i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ns::testing::TempNs;
    use crate::ns::{IDX_SPAN, IPC_CREAT, IPC_PRIVATE};

    /// Queues [`info`] opened because their copies did not count.
    pub(super) static OPENED: AtomicU32 = AtomicU32::new(0);

    /// [`OPENED`] since the last call.
    fn opened() -> u32 {
        OPENED.swap(0, Relaxed)
    }

    /// MSG_INFO's totals, checked against opening every queue (from the
    /// tally whenever a queue is in use; an empty hint is walked).
    fn totals(ns: &Ns) -> (u64, u64) {
        let w = info_walk(ns);
        let i = info(ns).unwrap_or_else(|| {
            assert_eq!(w.queues, 0, "MSG_INFO from the tally");
            w
        });
        assert_eq!((i.queues, i.max_idx), (w.queues, w.max_idx));
        assert_eq!(
            (i.messages, i.bytes),
            (w.messages, w.bytes),
            "the tally and the queues agree"
        );
        (i.messages, i.bytes)
    }

    #[test]
    fn msg_info_adds_the_copies_and_repair_rewrites_them() {
        let t = TempNs::new("tally");
        let ns = &*t.ns;
        let q: Vec<Queue> = (0..3)
            .map(|_| get(ns, IPC_PRIVATE, IPC_CREAT | 0o600).unwrap())
            .collect();
        assert_eq!(totals(ns), (0, 0));
        let send = |q: &Queue, n: usize| {
            q.send(ns, 1, &vec![7u8; n], 0, Deadline::NEVER).unwrap();
        };
        send(&q[0], 10);
        send(&q[0], 300);
        send(&q[1], 0);
        send(&q[2], 5);
        let mut buf = [0u8; 512];
        q[0].recv(0, &mut buf, 0, Deadline::NEVER).unwrap();
        opened();
        assert_eq!(totals(ns), (3, 305));
        assert_eq!(
            q[0].id(),
            0,
            "the first queue's id is 0 (as a fresh file's words)"
        );
        assert_eq!(opened(), 0, "no queue opened, id 0's included");

        // A sender killed between its commit and its copy: the copy is
        // behind (MSG_INFO counts one message too few) until the repair
        // that taking its lock over runs, which rewrites all four words.
        let s = slot(ns.tally().unwrap(), q[2].id() % IDX_SPAN).unwrap();
        let tag = q[2].id() as u32;
        s.send.n.store(word(tag, 0), Relaxed);
        s.send.bytes.store(word(tag, 0), Relaxed);
        assert_eq!(info(ns).unwrap().messages, 2, "a lost copy shows");
        q[2].repair().unwrap();
        assert_eq!(totals(ns), (3, 305), "repair makes it exact again");

        // A copy written late by a holder of a removed queue (another
        // id's tag): that queue is read instead.
        s.recv.n.store(word(tag ^ 1, 0), Relaxed);
        assert_eq!(totals(ns), (3, 305));
        assert_eq!(opened(), 1);
        q[2].repair().unwrap();

        // A queue some process used without copying: read instead.
        s.send.n.store(word(tag, 9), Relaxed);
        assert_ne!(totals_fast(ns), (3, 305));
        ns.index()
            .unwrap()
            .set_half(Kind::Msg, q[2].id() % IDX_SPAN, true, !tag);
        assert_eq!(totals(ns), (3, 305), "marked unmirrored: the queue counts");
        assert_eq!(opened(), 1);

        // A process that cannot copy (a member: no tally it may write)
        // leaves the copy trusted while it only looks, and marks the queue
        // before its first change.
        let member = Queue(Arc::new(QueueInner {
            obj: q[1].obj.clone(),
            geo: q[1].geo,
            tally: None,
            mark: Marker::new(ns, q[1].id()),
            next: std::sync::OnceLock::new(),
        }));
        member.stat(false).unwrap();
        opened();
        assert_eq!(totals(ns), (3, 305));
        assert_eq!(opened(), 1, "only q[2], marked above");
        member.send(ns, 1, &[1; 20], 0, Deadline::NEVER).unwrap();
        assert_eq!(totals(ns), (4, 325), "its send counts: the queue is read");
        assert_eq!(opened(), 2, "q[1] is marked now");
        member.recv(0, &mut buf, 0, Deadline::NEVER).unwrap();
        member.recv(0, &mut buf, 0, Deadline::NEVER).unwrap();
        assert_eq!(totals(ns), (2, 305));

        // IPC_RMID of a non-empty queue, and a new queue at its index.
        let idx = q[0].id() % IDX_SPAN;
        q[0].remove(ns).unwrap();
        assert_eq!(totals(ns), (1, 5));
        let n = get(ns, IPC_PRIVATE, IPC_CREAT | 0o600).unwrap();
        assert_eq!(n.id() % IDX_SPAN, idx, "the freed index is reused");
        assert_eq!(totals(ns), (1, 5), "the new queue counts as empty");
        send(&n, 4);
        opened();
        assert_eq!(totals(ns), (2, 9));
        assert_eq!(opened(), 2, "only the marked queues are opened");
        for x in [&n, &q[1], &q[2]] {
            x.remove(ns).unwrap();
        }
        assert_eq!(totals(ns), (0, 0));
    }

    fn totals_fast(ns: &Ns) -> (u64, u64) {
        let i = info(ns).unwrap();
        (i.messages, i.bytes)
    }
}
