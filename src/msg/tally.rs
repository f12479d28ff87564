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
//!
//! **Group records** make `MSG_INFO` cost the same with 10 or 32000
//! queues (docs/msg.md, "Constant `MSG_INFO`"). The indexes are taken 64
//! at a time (a group: one `u64` of the hint's bitmap). After the slots,
//! the tally holds per group a *dirty word* ([`DIRTY`] or a recounter's
//! token) and a [`GroupRec`] — the group's bitmap word, its messages and
//! bytes, the token of the recount that made it, and a seal of the four.
//! A record counts while its seal holds, its key is the group's bitmap
//! word now, its token is the group's dirty word now and the group's
//! dirty byte in the index hint is clear. Who keeps them right:
//! - a side, under its lock, right after its copy (no fence: see
//!   [`Copier::touch`]), sets the dirty word to [`DIRTY`] unless it reads
//!   so already (one store per group per recount, a load per message);
//! - a process that writes an index's word in the hint (a creator, a
//!   remover, a [`Marker`]) sets the group's dirty byte there after it
//!   ([`crate::ns::index::Index::set_half`]);
//! - a recounter ([`recount`]) takes a fresh token from the counter,
//!   zeroes the records' seals (and the total's), clears the hint's dirty
//!   bytes, stores the token in the dirty words, then a full barrier on
//!   every CPU ([`heavy_barrier`]), then reads the bitmap, the hint's
//!   words and the slots, and stores each record (its seal last) with
//!   that token. No lock: a record stored by a recounter whose token
//!   another one overwrote does not count.
//!
//! When every group's record counts, `MSG_INFO` stores the *total's*
//! record, keyed by a digest of each group's bitmap word and dirty word
//! and of the token counter as read first: the next call checks one
//! word per group and that record, no seal per group ([`info`]).

use super::*;
use crate::ns::{Tally, TALLY_GROUPS, TALLY_GROUP_AREA, TALLY_STRIDE};
use core::sync::atomic::{compiler_fence, fence};

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

/// Indexes per group: one `u64` of the hint's bitmap.
const GROUP: usize = crate::ns::index::GROUP;
/// Groups of the index range.
const NGROUPS: usize = crate::ns::IDX_SPAN as usize / GROUP;
/// The per-group area of the tally (from [`TALLY_GROUPS`]): a dirty word
/// per group (8 groups, 512 queues, per line: read by every copy, written
/// once per recount), the token counter on a line of its own, the records.
const DIRTY_AT: usize = TALLY_GROUPS;
const TOKENS_AT: usize = DIRTY_AT + NGROUPS * 8;
const RECS_AT: usize = TOKENS_AT + 64;
/// The record of the total (see [`info`]), after the groups'.
const TOTAL_AT: usize = RECS_AT + NGROUPS * core::mem::size_of::<GroupRec>();
const _: () =
    assert!(TOTAL_AT + core::mem::size_of::<GroupRec>() <= TALLY_GROUPS + TALLY_GROUP_AREA);
/// The total's record holds no token of its own (its key covers them).
const TOTAL_TOKEN: u64 = 2;

/// A dirty word's value once a copy was made after its group's last
/// recount. A recounter's tokens are even and at least 2; a fresh file's
/// 0 is no recounter's token.
const DIRTY: u64 = 1;

/// A group's record (see the module comment).
#[repr(C)]
#[derive(Debug)]
pub(super) struct GroupRec {
    /// The group's bitmap word when recounted.
    key: AtomicU64,
    n: AtomicU64,
    bytes: AtomicU64,
    /// The recount's token.
    token: AtomicU64,
    seal: AtomicU64,
}

// SAFETY: `#[repr(C)]`, five atomic words, no padding.
unsafe impl Shared for GroupRec {}

/// The seal of a record: never 0 (a zeroed record fails it).
fn seal(key: u64, n: u64, bytes: u64, token: u64) -> u64 {
    let mut h = 0x9e37_79b9_7f4a_7c15u64;
    for w in [key, n, bytes, token] {
        h = (h ^ w).wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 29;
    }
    h | 1
}

impl GroupRec {
    /// The record's messages and bytes, when it counts for bitmap word
    /// `key` and dirty word `token`.
    fn get(&self, key: u64, token: u64) -> Option<(u64, u64)> {
        let s = self.seal.load(Acquire);
        let (k, n, b, t) = (
            self.key.load(Relaxed),
            self.n.load(Relaxed),
            self.bytes.load(Relaxed),
            self.token.load(Relaxed),
        );
        (k == key && t == token && token != DIRTY && token != 0 && s == seal(k, n, b, t))
            .then_some((n, b))
    }

    /// Stores the record, its seal last.
    fn put(&self, key: u64, n: u64, b: u64, token: u64) {
        self.key.store(key, Relaxed);
        self.n.store(n, Relaxed);
        self.bytes.store(b, Relaxed);
        self.token.store(token, Relaxed);
        self.seal.store(seal(key, n, b, token), Release);
    }
}

/// The per-group area, as laid out from [`TALLY_GROUPS`].
#[repr(C)]
#[derive(Debug)]
struct Area {
    dirty: [AtomicU64; NGROUPS],
    tokens: AtomicU64,
    _pad: [AtomicU64; 7],
    recs: [GroupRec; NGROUPS],
    total: GroupRec,
}

const _: () = assert!(core::mem::offset_of!(Area, tokens) == TOKENS_AT - TALLY_GROUPS);
const _: () = assert!(core::mem::offset_of!(Area, recs) == RECS_AT - TALLY_GROUPS);
const _: () = assert!(core::mem::offset_of!(Area, total) == TOTAL_AT - TALLY_GROUPS);

// SAFETY: `#[repr(C)]`, atomic words only, no padding (every field a
// multiple of 8 bytes, 8-aligned).
unsafe impl Shared for Area {}

/// The per-group area of `t`.
#[inline]
fn area(t: &Tally) -> Option<&Area> {
    t.window(TALLY_GROUPS, core::mem::size_of::<Area>())
        .ok()?
        .at(0)
        .ok()
}

/// Group `g`'s dirty word in `t`.
fn dirty(t: &Tally, g: usize) -> Option<&AtomicU64> {
    area(t)?.dirty.get(g)
}

/// Group `g`'s record in `t`.
fn group_rec(t: &Tally, g: usize) -> Option<&GroupRec> {
    area(t)?.recs.get(g)
}

/// The record of the total in `t`.
fn total_rec(t: &Tally) -> Option<&GroupRec> {
    Some(&area(t)?.total)
}

/// The token counter in `t`.
fn tokens(t: &Tally) -> Option<&AtomicU64> {
    Some(&area(t)?.tokens)
}

use crate::os::membarrier::{membarrier, Cmd};

/// Whether this process registered for [`heavy_barrier`]'s (0: not yet
/// tried, 1: registered, 2: failed). Registration is the process's
/// (its `mm`): kept by a child of `fork`, dropped by `exec` (which
/// starts with this 0 again).
static REGISTERED: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(0);

/// Registers this process for [`heavy_barrier`] (once); true when it is,
/// so that a copy needs no fence of its own ([`Copier::touch`]).
fn register() -> bool {
    match REGISTERED.load(Relaxed) {
        1 => return true,
        2 => return false,
        _ => {}
    }
    let ok = membarrier(Cmd::RegisterGlobal);
    REGISTERED.store(if ok { 1 } else { 2 }, Relaxed);
    ok
}

/// A full barrier on every CPU running a thread of a registered process
/// (`membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`): for the recounter,
/// between storing its token and reading the slots, the other half of a
/// side's unfenced store-then-load ([`Copier::touch`]). False when the
/// kernel does not have it (then no record may be stored).
fn heavy_barrier() -> bool {
    fence(SeqCst);
    let ok = membarrier(Cmd::Global);
    fence(SeqCst);
    ok
}

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
    /// The dirty word of the slot's group.
    dirty: core::ptr::NonNull<AtomicU64>,
    /// Whether this process could not register for [`heavy_barrier`]:
    /// then each copy is fenced ([`Copier::touch`]).
    fenced: bool,
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
            dirty: self.dirty,
            fenced: self.fenced,
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
        let g = idx as usize / GROUP;
        let t = ns
            .tally()
            .filter(|t| t.prepare(idx) && t.prepare_at(DIRTY_AT + g * 8))?;
        let s = slot(t, idx)?;
        let d = dirty(t, g)?;
        Some(Copier {
            slot: core::ptr::NonNull::from(s),
            dirty: core::ptr::NonNull::from(d),
            fenced: !register(),
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

    /// Right after a copy, under the lock that the copy was made under:
    /// marks the group dirty unless its word says so already. The copy's
    /// stores and this load must not be reordered (a store then a load of
    /// another location, which x86 does): else a recounter could store
    /// its token and read the old copy while this load, done first, still
    /// saw `DIRTY` — a record lagging for as long as the group stays
    /// quiet. The recounter's half of the barrier is [`heavy_barrier`], a
    /// barrier on every CPU that runs a registered process, so here the
    /// compiler alone must keep the order (no `mfence` per message); a
    /// process that could not register fences. Under the lock, so that a
    /// holder killed between its copy and this store is a dead holder,
    /// whose repair copies again and sets the word.
    #[inline(always)]
    fn touch(&self) {
        if self.fenced {
            fence(SeqCst);
        } else {
            compiler_fence(SeqCst);
        }
        // SAFETY: found in bounds and aligned by `dirty` (through a
        // Region), in the mapping `_tally` keeps alive as long as `self`.
        let d = unsafe { self.dirty.as_ref() };
        if d.load(Relaxed) != DIRTY {
            d.store(DIRTY, Relaxed);
        }
    }

    /// Under `slock`: the senders' counters, then the dirty word.
    #[inline]
    pub(super) fn note_sent(&self, tag: u32, h: &QHead) {
        self.slot().note_sent(tag, h);
        self.touch();
    }

    /// Under `rlock`: the receivers' counters, then the dirty word.
    #[inline]
    pub(super) fn note_taken(&self, tag: u32, h: &QHead) {
        self.slot().note_taken(tag, h);
        self.touch();
    }

    /// Under both locks: all four, then the dirty word (a creator's
    /// zeros; a repair's rebuilt counters, which is how a holder killed
    /// between its copy and its dirty word is caught).
    pub(super) fn note_all(&self, tag: u32, h: &QHead) {
        self.slot().note_all(tag, h);
        self.touch();
    }
}

impl View<'_> {
    /// After a release that failed (this holder was fenced, the queue
    /// moved: `super::fence`): the copy this holder made may be of the
    /// old file's counters, written over a newer copy of the new file's.
    /// Its side's words get a tag no queue has, so that `MSG_INFO` opens
    /// the queue (its new file) until the side's next copy; then its group
    /// is marked dirty.
    #[cold]
    pub(super) fn spoil_copy(&self, send: bool) {
        if let Some(c) = self.tally {
            let s = c.slot();
            let side = if send { &s.send } else { &s.recv };
            side.n.store(word(NO_QUEUE, 0), Relaxed);
            fence(SeqCst);
            // SAFETY: as in `Copier::touch`.
            unsafe { c.dirty.as_ref() }.store(DIRTY, Relaxed);
        }
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

/// `MSG_INFO`'s figures from the tally, at a cost independent of the
/// number of queues when nothing changed: one `pread` of the index hint's
/// bitmap, one of its groups' dirty bytes, one of the removal marks, then
/// the total's record (a word per group of 64 indexes in use for its key)
/// or else each group's record (see the module comment). The groups whose records do
/// not count are recounted ([`recount`]: their slots read, a queue whose
/// copy does not count opened) and, by a process that may write the
/// tally, their records stored again. `None` without an index hint or a
/// tally (the caller then walks every queue).
pub(super) fn info(ns: &Ns) -> Option<MsgInfo> {
    let t = ns.tally()?;
    let a = area(t)?;
    // The recounts begun so far (read before anything they change).
    let epoch = a.tokens.load(SeqCst);
    let (hi, n, groups, gone) = ns.msg_groups()?;
    // The hint as read, then the tally: a recounter zeroes its seals
    // before it clears the hint's bytes.
    fence(SeqCst);
    let mut i = MsgInfo {
        max_idx: hi,
        queues: n,
        ..Default::default()
    };
    let ng = groups.ng.min(NGROUPS);
    // The total's record counts when its key is a digest of what every
    // group's record depends on now — its bitmap word and its dirty word
    // (the token of its last recount: a copy since then made it `DIRTY`,
    // a recount since then stored another) — and no group's dirty byte in
    // the hint is set: then no group's record changed since the total was
    // stored. A load and a few operations per group instead of checking
    // each record and its seal.
    let (mut key, mut clean) = (
        0x243f_6a88_85a3_08d3u64 ^ ng as u64 ^ epoch,
        gone.is_empty(),
    );
    for g in 0..ng {
        let (bits, hint_dirty) = groups.group(g);
        if bits != 0 {
            clean &= !hint_dirty;
            let tok = a.dirty[g].load(Acquire);
            key = (key ^ bits ^ (g as u64).rotate_left(40)).wrapping_mul(0xff51_afd7_ed55_8ccd);
            key = (key ^ tok ^ key >> 29).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        }
    }
    if let Some((m, b)) = total_rec(t)
        .filter(|_| clean)
        .and_then(|r| r.get(key, TOTAL_TOKEN))
    {
        i.messages = m;
        i.bytes = b;
        return Some(i);
    }
    // One pass: the records that count are added up; the first and last
    // group whose record does not are recounted, with those between.
    let (mut first, mut last) = (usize::MAX, 0);
    let (mut m, mut b) = (0u64, 0u64);
    let mut kept: Vec<(u64, u64)> = Vec::new();
    for g in 0..ng {
        let (bits, hint_dirty) = groups.group(g);
        if bits == 0 {
            continue;
        }
        let rec = (!hint_dirty)
            .then(|| a.recs[g].get(bits, a.dirty[g].load(Acquire)))
            .flatten()
            .filter(|_| !gone.iter().any(|&x| x as usize / GROUP == g));
        match rec {
            Some((gm, gb)) => {
                if first != usize::MAX {
                    // Between two recounted groups: recounted with them
                    // unless no other group after it needs it.
                    kept.push((gm, gb));
                    continue;
                }
                m += gm;
                b += gb;
            }
            None => {
                if first == usize::MAX {
                    first = g;
                }
                last = g;
                // What was kept since the first one is recounted.
                kept.clear();
            }
        }
    }
    for (gm, gb) in kept {
        m += gm;
        b += gb;
    }
    if first == usize::MAX && clean && t.writable() && t.prepare_at(TOTAL_AT) {
        // Every group's record counted: their sum is the total's record,
        // under the key computed before they were read (a change since
        // makes it fail).
        if let Some(r) = total_rec(t) {
            r.put(key, m, b, TOTAL_TOKEN);
        }
    }
    if first != usize::MAX {
        for (gm, gb) in recount(ns, t, first, last + 1 - first, &gone) {
            m += gm;
            b += gb;
        }
    }
    i.messages = m;
    i.bytes = b;
    Some(i)
}

/// Recounts groups `first..first + n` from their slots (a queue whose
/// copy does not count, or that `gone` leaves out, makes its group's
/// record unstorable); returns each group's messages and bytes. A process
/// that may write the tally first zeroes their records' seals (a
/// recounter killed after this fails them), clears their dirty bytes in
/// the hint, stores a fresh token in their dirty words, then makes the
/// [`heavy_barrier`], then reads, then stores the records with that token
/// (docs/msg.md, "Constant `MSG_INFO`", for why each race ends in a record
/// that does not count rather than one that counts wrongly).
fn recount(ns: &Ns, t: &Tally, first: usize, n: usize, gone: &[i32]) -> Vec<(u64, u64)> {
    #[cfg(test)]
    tests::bump(false, n as u32);
    let Some(ix) = ns.index() else {
        return Vec::new();
    };
    let len = core::mem::size_of::<GroupRec>();
    let range = first..first + n;
    let mut token = 0;
    let store = t.writable()
        && range.clone().all(|g| {
            t.prepare_at(DIRTY_AT + g * 8)
                && t.prepare_at(RECS_AT + g * len)
                && t.prepare_at(RECS_AT + g * len + len - 1)
                && dirty(t, g).is_some()
                && group_rec(t, g).is_some()
        })
        && t.prepare_at(TOKENS_AT)
        && t.prepare_at(TOTAL_AT)
        && tokens(t).zip(total_rec(t)).is_some_and(|(c, total)| {
            // 1. The token, taken first: the counter is part of the
            // total's key, so that a total computed before this recount
            // began never counts after it. Then the seals.
            token = (c.fetch_add(2, SeqCst).wrapping_add(2) & !1).max(2);
            total.seal.store(0, Relaxed);
            for g in range.clone() {
                if let Some(r) = group_rec(t, g) {
                    r.seal.store(0, Relaxed);
                }
            }
            fence(SeqCst);
            true
        })
        // 2. The hint's dirty bytes.
        && ix.clear_dirty(Kind::Msg, first, n)
        && {
            // 3. The token in the dirty words, then 4. the barrier.
            for g in range.clone() {
                if let Some(d) = dirty(t, g) {
                    d.store(token, Relaxed);
                }
            }
            heavy_barrier()
        };
    let (bits, words) = ix.group_words(Kind::Msg, first, n);
    let mut out = Vec::with_capacity(n);
    for (k, g) in range.enumerate() {
        let b = bits.get(k).copied().unwrap_or(0);
        let (mut gm, mut gb, mut all) = (0u64, 0u64, true);
        let mut m = b;
        while m != 0 {
            let i = k * GROUP + m.trailing_zeros() as usize;
            m &= m - 1;
            let idx = (g * GROUP + i % GROUP) as i32;
            if gone.contains(&idx) {
                all = false;
                continue;
            }
            let w = words.get(i).copied().unwrap_or(0);
            let (id, unmirrored) = (w as u32, (w >> 32) as u32);
            let copy = slot(t, idx)
                .filter(|_| !id != unmirrored && id != NO_QUEUE)
                .and_then(|s| s.held(id));
            let (qm, qb) = match copy {
                Some(v) => v,
                None => {
                    all = false;
                    #[cfg(test)]
                    tests::bump(true, 1);
                    by_index(ns, idx)
                        .and_then(|q| q.view()?.held())
                        .unwrap_or((0, 0))
                }
            };
            gm += qm;
            gb += qb;
        }
        #[cfg(test)]
        tests::after_read(g);
        if store && all {
            if let Some(r) = group_rec(t, g) {
                r.put(b, gm, gb, token);
            }
        }
        out.push((gm, gb));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ns::testing::TempNs;
    use crate::ns::{IDX_SPAN, IPC_CREAT, IPC_PRIVATE};
    use std::cell::{Cell, RefCell};

    /// Per thread (the tests run side by side): queues [`info`] opened
    /// because their copies did not count, and groups recounted.
    pub(super) struct Counts {
        pub opened: Cell<u32>,
        pub recounted: Cell<u32>,
    }

    type Hook = Box<dyn FnMut(usize)>;

    thread_local! {
        pub(super) static COUNTS: Counts = const {
            Counts { opened: Cell::new(0), recounted: Cell::new(0) }
        };
        /// Run by [`recount`] after it read group `g`, before it stores
        /// its record: a change made there is one its read missed.
        static AFTER_READ: RefCell<Option<Hook>> = const { RefCell::new(None) };
    }

    /// Counts a queue opened (`opened`) or `n` groups recounted.
    pub(super) fn bump(opened: bool, n: u32) {
        COUNTS.with(|c| {
            let x = if opened { &c.opened } else { &c.recounted };
            x.set(x.get() + n);
        });
    }

    pub(super) fn after_read(g: usize) {
        let f = AFTER_READ.with(|h| h.borrow_mut().take());
        if let Some(mut f) = f {
            f(g);
            AFTER_READ.with(|h| {
                let mut h = h.borrow_mut();
                if h.is_none() {
                    *h = Some(f);
                }
            });
        }
    }

    fn set_after_read(f: Option<Hook>) {
        AFTER_READ.with(|h| *h.borrow_mut() = f);
    }

    /// Queues opened since the last call.
    fn opened() -> u32 {
        COUNTS.with(|c| c.opened.replace(0))
    }

    /// Groups recounted since the last call.
    fn recounted() -> u32 {
        COUNTS.with(|c| c.recounted.replace(0))
    }

    /// Marks the group of queue `id` dirty, as every writer of a slot
    /// does after its copy ([`Copier::touch`]): for the slots these tests
    /// write directly.
    fn dirt(ns: &Ns, id: i32) {
        dirty(ns.tally().unwrap(), (id % IDX_SPAN) as usize / GROUP)
            .unwrap()
            .store(DIRTY, Relaxed);
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

    fn totals_fast(ns: &Ns) -> (u64, u64) {
        let i = info(ns).unwrap();
        (i.messages, i.bytes)
    }

    /// The sum of `IPC_STAT`'s `qnum` and `cbytes` over `qs`.
    fn stat_sum<'a>(qs: impl IntoIterator<Item = &'a Queue>) -> (u64, u64) {
        qs.into_iter().fold((0, 0), |(m, b), q| {
            let s = q.stat(false).unwrap();
            (m + s.qnum, b + s.cbytes)
        })
    }

    fn remove_all(ns: &Ns, q: &[Queue]) {
        for x in q {
            x.remove(ns).unwrap();
        }
    }

    fn send(ns: &Ns, q: &Queue, n: usize) {
        q.send(ns, 1, &vec![7u8; n], 0, Deadline::NEVER).unwrap();
    }

    fn take(q: &Queue) {
        let mut buf = [0u8; 1024];
        q.recv(0, &mut buf, 0, Deadline::NEVER).unwrap();
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
        dirt(ns, q[2].id());
        assert_eq!(info(ns).unwrap().messages, 2, "a lost copy shows");
        q[2].repair().unwrap();
        assert_eq!(totals(ns), (3, 305), "repair makes it exact again");

        // A copy written late by a holder of a removed queue (another
        // id's tag): that queue is read instead.
        s.recv.n.store(word(tag ^ 1, 0), Relaxed);
        dirt(ns, q[2].id());
        assert_eq!(totals(ns), (3, 305));
        assert_eq!(opened(), 1);
        q[2].repair().unwrap();

        // A queue some process used without copying: read instead.
        s.send.n.store(word(tag, 9), Relaxed);
        dirt(ns, q[2].id());
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
            base: q[1].base,
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

    /// `n` queues, the one at index `i` holding one message of `i` bytes.
    fn queues(ns: &Ns, n: usize) -> Vec<Queue> {
        let q: Vec<Queue> = (0..n)
            .map(|_| get(ns, IPC_PRIVATE, IPC_CREAT | 0o600).unwrap())
            .collect();
        for (i, x) in q.iter().enumerate() {
            assert_eq!(x.id() % IDX_SPAN, i as i32);
            send(ns, x, i);
        }
        q
    }

    #[test]
    fn group_records_are_kept_until_something_in_their_group_changes() {
        let t = TempNs::new("tally-groups");
        let ns = &*t.ns;
        // Two groups: indexes 0-63 and 64-69.
        let mut q = queues(ns, 70);
        let tally = ns.tally().unwrap();
        let word = |idx: i32| dirty(tally, idx as usize / GROUP).unwrap().load(Relaxed);
        let mut all = (70, (0..70).sum::<u64>());
        assert_eq!(totals(ns), all);
        assert_eq!(stat_sum(&q), all, "the sum of IPC_STATs");
        recounted();
        opened();
        assert_eq!(totals_fast(ns), all);
        assert_eq!((recounted(), opened()), (0, 0), "nothing changed: kept");
        assert!(word(0) >= 2 && word(64) >= 2, "tokens in both words");

        // A receive, a send: that group only, once.
        take(&q[65]);
        all = (all.0 - 1, all.1 - 65);
        assert_eq!((word(0) == DIRTY, word(64)), (false, DIRTY));
        assert_eq!(totals_fast(ns), all);
        assert_eq!(recounted(), 1);
        assert_eq!(totals_fast(ns), all);
        assert_eq!(recounted(), 0);
        send(ns, &q[3], 100);
        all = (all.0 + 1, all.1 + 100);
        assert_eq!(totals_fast(ns), all);
        assert_eq!(recounted(), 1, "one group");
        assert_eq!(stat_sum(&q), all);

        // A create (its bit, its id in the hint, its zeros), a removal of
        // a non-empty queue, and a create at the freed index (the same
        // bits as recorded: the hint's dirty byte and the new queue's
        // copy tell).
        q.push(get(ns, IPC_PRIVATE, IPC_CREAT | 0o600).unwrap());
        assert_eq!(totals_fast(ns), all);
        assert_eq!(recounted(), 1);
        q.remove(10).remove(ns).unwrap();
        all = (all.0 - 1, all.1 - 10);
        assert_eq!(totals_fast(ns), all);
        assert_eq!(recounted(), 1);
        let again = get(ns, IPC_PRIVATE, IPC_CREAT | 0o600).unwrap();
        assert_eq!(again.id() % IDX_SPAN, 10, "the freed index is reused");
        assert_eq!(totals(ns), all, "the new queue counts as empty");
        recounted();
        send(ns, &again, 5);
        all = (all.0 + 1, all.1 + 5);
        q.push(again);
        assert_eq!(totals_fast(ns), all);
        assert_eq!(recounted(), 1);
        assert_eq!(stat_sum(&q), all);

        // The hint's byte alone, the dirty word alone.
        ns.index()
            .unwrap()
            .set_half(Kind::Msg, 7, false, q[7].id() as u32);
        assert_eq!(totals_fast(ns), all);
        assert_eq!(recounted(), 1);
        dirt(ns, 7);
        assert_eq!(totals_fast(ns), all);
        assert_eq!(recounted(), 1);

        // A marked queue (a member changed it without a copy): its group
        // is recounted at every call, the queue opened; the other group
        // keeps its record.
        let at66 = q.iter().find(|x| x.id() % IDX_SPAN == 66).unwrap();
        ns.index()
            .unwrap()
            .set_half(Kind::Msg, 66, true, !(at66.id() as u32));
        for _ in 0..3 {
            assert_eq!(totals_fast(ns), all);
        }
        assert_eq!((recounted(), opened()), (3, 3));

        // A scribbled record: a sum, a key, a token changed, its seal not.
        let r = group_rec(tally, 0).unwrap();
        for f in [&r.n, &r.key, &r.token] {
            f.fetch_xor(2, Relaxed);
            assert_eq!(totals_fast(ns), all);
            assert_eq!(recounted(), 2, "the seal failed (and group 1)");
        }
        remove_all(ns, &q);
        assert_eq!(totals(ns), (0, 0));
    }

    /// A fenced holder's copy (its release failed): spoiled, the queue is
    /// opened until its side's next copy.
    #[test]
    fn a_fenced_holders_copy_is_not_trusted() {
        let t = TempNs::new("tally-fenced");
        let ns = &*t.ns;
        let q = queues(ns, 2);
        assert_eq!(totals(ns), (2, 1));
        // A late copy of an old file's counters, then the spoil.
        let s = slot(ns.tally().unwrap(), 1).unwrap();
        s.send.n.store(word(q[1].id() as u32, 7), Relaxed);
        q[1].view().unwrap().spoil_copy(true);
        opened();
        assert_eq!(totals(ns), (2, 1));
        assert_eq!(opened(), 1, "opened, not its copy");
        send(ns, &q[1], 3);
        assert_eq!(totals(ns), (3, 4));
        assert_eq!(opened(), 0, "copied again");
        remove_all(ns, &q);
    }

    /// A recounter killed after each of its steps (simulated by doing
    /// only the steps before): what it leaves fails, and the next call
    /// counts right — here after an index reused between two calls by a
    /// process that does not copy (its dirty word as it was): the case
    /// that only the hint's dirty byte tells, which a killed recounter may
    /// have cleared.
    #[test]
    fn a_killed_recounter_leaves_no_record_that_counts() {
        let t = TempNs::new("tally-killed");
        let ns = &*t.ns;
        let mut q = queues(ns, 5);
        let (tally, ix) = (ns.tally().unwrap(), ns.index().unwrap());
        let mut all = (5, 10);
        let word = dirty(tally, 0).unwrap();
        for step in 1..=3 {
            // Records and the total stored, then used.
            assert_eq!(totals(ns), all);
            assert_eq!(totals_fast(ns), all);
            recounted();
            assert_eq!(totals_fast(ns), all);
            assert_eq!(recounted(), 0, "the total counts");
            let before = word.load(Relaxed);
            // Index 4 removed (4 bytes) and created again, empty, with
            // the dirty word left as it was.
            q.pop().unwrap().remove(ns).unwrap();
            q.push(get(ns, IPC_PRIVATE, IPC_CREAT | 0o600).unwrap());
            assert_eq!(q[4].id() % IDX_SPAN, 4);
            word.store(before, Relaxed);
            all = (4, 6);
            // The recounter's steps, in its order, up to `step`.
            let tok = tokens(tally).unwrap().fetch_add(2, SeqCst) + 2;
            total_rec(tally).unwrap().seal.store(0, Relaxed);
            group_rec(tally, 0).unwrap().seal.store(0, Relaxed);
            if step >= 2 {
                assert!(ix.clear_dirty(Kind::Msg, 0, 1));
            }
            if step >= 3 {
                word.store(tok, Relaxed);
            }
            recounted();
            assert_eq!(totals_fast(ns), all, "killed after step {step}");
            assert_eq!(recounted(), 1);
            assert_eq!(totals_fast(ns), all);
            assert_eq!(recounted(), 0, "stored again");
            send(ns, &q[4], 4);
            all = (5, 10);
        }
        // A total stored by a recounter that began before another one
        // (an older count of the counter): not counted.
        assert_eq!(totals(ns), all);
        assert_eq!(totals_fast(ns), all);
        tokens(tally).unwrap().fetch_add(2, SeqCst);
        recounted();
        assert_eq!(totals_fast(ns), all);
        assert_eq!(recounted(), 0, "the groups' records count, the total not");
        // A token stored with a record that another recounter's token
        // replaced: not counted.
        let tok = word.load(Relaxed);
        word.store(tok + 2, Relaxed);
        recounted();
        assert_eq!(totals_fast(ns), all);
        assert_eq!(recounted(), 1);
        remove_all(ns, &q);
    }

    /// Changes that a recount's read missed (made after it read the
    /// group, before it stored the record): a send, a receive, another
    /// recounter's whole recount in between. The record it stores does
    /// not count; the next call recounts. Fails if the copy did not mark
    /// its group dirty after itself, or if a record were checked against
    /// a clear dirty byte instead of its own token.
    #[test]
    fn a_change_the_recount_missed_fails_its_record() {
        let t = TempNs::new("tally-missed");
        let ns = &*t.ns;
        let q = std::sync::Arc::new(queues(ns, 3));
        let mut all = (3, 3);
        assert_eq!(totals(ns), all);
        type Change = fn(&Ns, &Queue);
        let changes: [Change; 2] = [|ns, q| send(ns, q, 50), |_, q| take(q)];
        for (nested, change) in [false, true]
            .into_iter()
            .flat_map(|n| changes.iter().map(move |c| (n, c)))
        {
            dirt(ns, 0);
            let (ns2, q2, change) = (t.ns.clone(), q.clone(), *change);
            set_after_read(Some(Box::new(move |g| {
                if g == 0 {
                    change(&ns2, &q2[1]);
                    if nested {
                        // A second recounter, whole, after the change.
                        set_after_read(None);
                        info(&ns2).unwrap();
                    }
                }
            })));
            let before = totals_fast(ns);
            set_after_read(None);
            assert_eq!(before, all, "the read before the change");
            assert_ne!(stat_sum(q.iter()), all, "changed");
            all = stat_sum(q.iter());
            recounted();
            assert_eq!(totals_fast(ns), all, "nested {nested}");
            assert_eq!(recounted(), 1, "its record did not count");
        }
        remove_all(ns, &q);
    }

    /// Senders and receivers on queues of several groups in threads, two
    /// threads calling MSG_INFO meanwhile (recounting and storing side by
    /// side); once they stop, MSG_INFO equals the sum of IPC_STATs — a
    /// record kept stale by any race would show.
    #[test]
    fn records_stored_during_traffic_are_exact_after_it() {
        let t = TempNs::new("tally-traffic");
        let ns = &*t.ns;
        let q: Vec<Queue> = (0..200)
            .map(|_| get(ns, IPC_PRIVATE, IPC_CREAT | 0o600).unwrap())
            .collect();
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let workers: Vec<_> = (0..3)
                .map(|w| {
                    let q = &q;
                    s.spawn(move || {
                        let mut x = 0x9e37_79b9u32.wrapping_mul(w + 1);
                        for _ in 0..20_000 {
                            x ^= x << 13;
                            x ^= x >> 17;
                            x ^= x << 5;
                            let k = &q[(x as usize >> 8) % q.len()];
                            if x & 3 != 0 {
                                let _ =
                                    k.send(ns, 1, &[1; 33], crate::ns::IPC_NOWAIT, Deadline::NEVER);
                            } else {
                                let mut b = [0u8; 64];
                                let _ = k.recv(0, &mut b, crate::ns::IPC_NOWAIT, Deadline::NEVER);
                            }
                        }
                    })
                })
                .collect();
            for _ in 0..2 {
                s.spawn(|| {
                    while !stop.load(Relaxed) {
                        info(ns).unwrap();
                    }
                });
            }
            for w in workers {
                w.join().unwrap();
            }
            stop.store(true, Relaxed);
        });
        let sum = stat_sum(&q);
        assert!(sum.0 > 0);
        assert_eq!(totals_fast(ns), sum);
        assert_eq!(totals_fast(ns), sum);
        remove_all(ns, &q);
    }
}
