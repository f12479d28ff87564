//! Transactions: the journal (redo log) a change of more than one word is
//! written to first, its commit and replay, and the set's lock
//! ([`Locked`]), which wakes the sleepers it completed once let go.

use super::*;

// ---------------------------------------------------------------------------
// Transactions: journal, commit, apply.

/// `SETALL`/`SETVAL` of one semaphore: its value, its last pid (the
/// header's `jpid`) and its adjustment in every undo slot cleared, all in
/// one entry (so a journal of `nsems` entries holds a whole `SETALL`).
pub(super) const E_SET: u64 = 0;
/// In an [`E_SET`] entry's index: no undo slot was in use at commit (their
/// adjustments are all zero, as `undo_slot` zeroes a slot it hands out),
/// so there is nothing to clear: a `SETALL` without `SEM_UNDO` users
/// writes no adjustment.
pub(super) const SET_NO_UNDO: usize = 1 << 29;
pub(super) const E_VAL: u64 = 1;
pub(super) const E_ADJ: u64 = 2;
pub(super) const E_DONE: u64 = 3;
/// In an [`E_DONE`] entry's value: not a result but "free the slot" — its
/// sleeper died before collecting its grant, which the same transaction
/// undoes (`pending::release_sleeper`).
pub(super) const DONE_FREE: i32 = i32::MIN;

#[inline]
pub(super) fn ent(kind: u64, idx: usize, v: i32) -> u64 {
    (kind << 62) | (((idx as u64) & 0x3fff_ffff) << 32) | (v as u32 as u64)
}

/// An entry made by [`ent`], taken apart: its kind, index and value.
#[inline]
pub(super) fn unent(e: u64) -> (u64, usize, i32) {
    (e >> 62, ((e >> 32) & 0x3fff_ffff) as usize, e as u32 as i32)
}

/// The writes of one atomic change, applied by [`Txn::commit`].
#[derive(Default)]
pub(super) struct Txn {
    pub(super) inline: [u64; 8],
    pub(super) n: usize,
    pub(super) more: Vec<u64>,
}

impl Txn {
    #[inline]
    pub(super) fn push(&mut self, e: u64) {
        if self.n < self.inline.len() {
            self.inline[self.n] = e;
        } else {
            self.more.push(e);
        }
        self.n += 1;
    }
    #[inline]
    pub(super) fn iter(&self) -> impl DoubleEndedIterator<Item = u64> + '_ {
        self.inline[..self.n.min(8)]
            .iter()
            .copied()
            .chain(self.more.iter().copied())
    }
    /// The value this transaction gives to entry `(kind, idx)`, if any.
    #[inline]
    pub(super) fn lookup(&self, kind: u64, idx: usize) -> Option<i32> {
        if self.n == 0 {
            return None;
        }
        let key = ent(kind, idx, 0) >> 32;
        if self.n <= self.inline.len() {
            // The common case: no spill, a plain backward scan.
            return self.inline[..self.n]
                .iter()
                .rev()
                .find(|&&e| e >> 32 == key)
                .map(|&e| e as u32 as i32);
        }
        self.iter()
            .rev()
            .find(|e| e >> 32 == key)
            .map(|e| e as u32 as i32)
    }
    #[inline]
    pub(super) fn commit(&self, v: &View<'_>) -> Result<()> {
        if self.n == 0 {
            return Ok(());
        }
        if self.n == 1 {
            return apply(v, self.inline[0]);
        }
        self.commit_journaled(v)
    }
    /// [`Txn::commit`] through the journal even for one entry (an
    /// [`E_SET`] writes many words).
    pub(super) fn commit_journaled(&self, v: &View<'_>) -> Result<()> {
        if self.n > v.s.jcap() {
            return Err(Errno::EIO);
        }
        // Spilled (a SETALL of more than 8): gathered first.
        if self.n <= self.inline.len() {
            return journal(v, &self.inline[..self.n]);
        }
        journal(v, &self.iter().collect::<Vec<u64>>())
    }
}

/// Commits `entries` through the journal: written, marked committed
/// (**release**), applied, cleared (see the module doc of `sem`).
#[inline]
pub(super) fn journal(v: &View<'_>, entries: &[u64]) -> Result<()> {
    journal_then(v, entries, || entries.iter().try_for_each(|&e| apply(v, e)))
}

/// [`journal()`], with `apply_all` doing what [`apply`] would do with each
/// entry (a caller that holds the words already stores them directly).
#[inline(always)]
pub(super) fn journal_then(
    v: &View<'_>,
    entries: &[u64],
    apply_all: impl FnOnce() -> Result<()>,
) -> Result<()> {
    if entries.len() > v.s.jcap() {
        return Err(Errno::EIO);
    }
    // The set's first journaled change gives the journal storage first
    // (`ENOMEM` before anything is written when there is no room).
    v.reserve_tail()?;
    let h = v.hdr();
    for (k, &e) in entries.iter().enumerate() {
        v.jent(k)?.store(e, Ordering::Relaxed);
    }
    h.jcount.store(entries.len() as u32, Ordering::Relaxed);
    commit_point(v.o, h)?;
    match apply_all() {
        // Committed before the set moved (the commit came before the
        // mover's seal): the copy replayed it, and a write here that met
        // a tombstone is the copy's (`fence.rs`). The journal is left as
        // the seal has it.
        Err(Errno::ESTALE) => Ok(()),
        Ok(()) => {
            applied(v.o, h);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// The end of a journal's apply: `jstate` 1 → 0 by compare-and-swap
/// (**release**), which a mover's seal of the committed journal
/// (`J_SEALED_DONE`) makes fail — then the fate is waited for: the seal
/// lifted, made again; moved, left (the copy replayed the journal, and
/// this holder's next commit finds the seal).
#[inline(always)]
fn applied(o: &Obj, h: &SetHdr) {
    while h
        .jstate
        .compare_exchange(1, 0, Ordering::Release, Ordering::Relaxed)
        .is_err()
    {
        if h.jstate.load(Ordering::Relaxed) != fence::J_SEALED_DONE || fence::fate(o).is_err() {
            return;
        }
    }
}

/// The journal's commit: `jstate` to 1 by compare-and-swap (**release**),
/// which a mover's seal ([`J_SEALED`]) makes fail: then the move's fate is
/// waited for (`fence::fate`), and the commit made again once the seal is
/// lifted, or `ESTALE` (not committed: the set moved).
#[inline(always)]
fn commit_point(o: &Obj, h: &SetHdr) -> Result<()> {
    let mut cur = h.jstate.load(Ordering::Relaxed);
    loop {
        if cur == J_SEALED || cur == fence::J_SEALED_DONE {
            fence::fate(o)?;
            cur = h.jstate.load(Ordering::Relaxed);
            continue;
        }
        match h
            .jstate
            .compare_exchange_weak(cur, 1, Ordering::Release, Ordering::Relaxed)
        {
            Ok(_) => return Ok(()),
            Err(x) => cur = x,
        }
    }
}

pub(super) fn apply(v: &View<'_>, e: u64) -> Result<()> {
    let (kind, idx, val) = unent(e);
    match kind {
        E_SET => {
            let (idx, no_undo) = (idx & !SET_NO_UNDO, idx & SET_NO_UNDO != 0);
            if !no_undo {
                for u in v.undo_used() {
                    v.adj(u, idx)?.store(0, Ordering::Relaxed);
                }
            }
            v.sem(idx)?
                .put(v.o, val, v.hdr().jpid.load(Ordering::Relaxed))?;
        }
        E_VAL => v.sem(idx)?.put_val(v.o, val)?,
        E_ADJ => v
            .adj(idx / v.s.nsems, idx % v.s.nsems)?
            .store(val as i16, Ordering::Relaxed),
        E_DONE if val == DONE_FREE => free_wslot(v, idx),
        E_DONE => {
            let w = v.wslot(idx)?;
            w.result.store(val, Ordering::Relaxed);
            if val == 0 && idx < 64 {
                // A grant to collect: found again by `reclaim` should its
                // sleeper be dead (idempotent, as a replay needs).
                v.hdr().granted.fetch_or(1 << idx, Ordering::Relaxed);
            }
            let old = w.state.swap(W_DONE, Ordering::AcqRel);
            if old & W_SLEEP != 0 {
                // Woken after the lock is released (see [`Locked`]), so that
                // the sleeper does not run straight into our lock.
                queue_wake(w.state.as_ptr() as usize);
            }
        }
        _ => return Err(Errno::EIO),
    }
    Ok(())
}

thread_local! {
    /// Futex words of sleepers to wake once the set's lock is released.
    /// No destructor (whose registration would allocate:
    /// `os::thread_exit`): its allocation is kept only by a thread armed
    /// to free it at exit ([`wakes_at_exit`]).
    static WAKES: RefCell<ManuallyDrop<Vec<usize>>> =
        const { RefCell::new(ManuallyDrop::new(Vec::new())) };
}
const _: () = assert!(!core::mem::needs_drop::<RefCell<ManuallyDrop<Vec<usize>>>>());

use crate::os::thread_exit::{arm, armed, Slot};
use core::mem::ManuallyDrop;

/// Queues the futex word at `addr` in [`WAKES`].
fn queue_wake(addr: usize) {
    WAKES.with(|q| {
        let mut q = q.borrow_mut();
        if q.capacity() == 0 {
            // About to allocate: freed at exit. (When that cannot be
            // arranged, `flush_wakes` does not give the allocation back.)
            let _ = arm(Slot::SemWakes, wakes_at_exit);
        }
        q.push(addr);
    });
}

/// Frees [`WAKES`]'s allocation as the thread exits.
fn wakes_at_exit() {
    let _ = WAKES.try_with(|q| {
        if let Ok(mut q) = q.try_borrow_mut() {
            let v = core::mem::take(&mut **q);
            drop(q);
            drop(v);
        }
    });
}

/// Words a [`FrozenList`] records before it overflows.
const FROZEN_CAP: usize = 32;

/// The semaphore words this thread froze under a set's lock
/// ([`Sem::freeze`]), to be thawed when that lock is let go ([`Locked`]'s
/// drop thaws those of its own set: a signal handler's `semop` on another
/// set, nested, thaws only its own). No destructor, so that a look at it
/// costs no more than the thread-local access.
struct FrozenList {
    n: core::cell::Cell<usize>,
    at: [core::cell::Cell<usize>; FROZEN_CAP],
    /// words went unrecorded (more than `FROZEN_CAP`): the next release
    /// thaws its whole set
    over: core::cell::Cell<bool>,
}

thread_local! {
    static FROZEN_WORDS: FrozenList = const {
        FrozenList {
            n: core::cell::Cell::new(0),
            at: [const { core::cell::Cell::new(0) }; FROZEN_CAP],
            over: core::cell::Cell::new(false),
        }
    };
}

/// Records a word [`Sem::freeze`] froze, for the lock's release to thaw
/// (once: the pending queue's retries freeze the same words again).
#[inline]
pub(super) fn note_frozen(s: &Sem) {
    let addr = &s.word as *const AtomicU64 as usize;
    FROZEN_WORDS.with(|f| {
        let n = f.n.get();
        if f.at[..n].iter().rev().any(|a| a.get() == addr) {
            return;
        }
        if n < FROZEN_CAP {
            f.at[n].set(addr);
            f.n.set(n + 1);
        } else {
            f.over.set(true);
        }
    });
}

/// Thaws the words this thread froze in the set `o` (before its lock is
/// let go). A word left frozen (a record lost to a nested handler's
/// overflow) is harmless: operations on it take the lock, whose holder
/// freezes, records and thaws it.
#[inline]
pub(super) fn thaw_set(o: &Obj) {
    FROZEN_WORDS.with(|f| {
        let n = f.n.get();
        if n == 0 && !f.over.get() {
            return;
        }
        let Ok(h) = o.at::<SetHdr>(0) else {
            return;
        };
        let lo = h as *const SetHdr as usize;
        let hi = lo + o.ctl_len();
        let mut keep = 0;
        for k in 0..n {
            let addr = f.at[k].get();
            if (lo..hi).contains(&addr) {
                // SAFETY: `addr` is a semaphore word in this set's
                // mapping (recorded by `note_frozen` from a `&Sem` of
                // it, and inside its range), which the lock's `Obj`
                // keeps mapped; a `Sem` is that one word.
                let s = unsafe { &*(addr as *const Sem) };
                s.thaw_to(o, None);
            } else {
                f.at[keep].set(addr);
                keep += 1;
            }
        }
        f.n.set(keep);
        if f.over.replace(false) {
            if let Ok(v) = View::new(o) {
                thaw_all(&v);
            }
        }
    });
}

/// Thaws every frozen word of the set (the lock's holder only), but a
/// [`CLAIM`]ed one: its claimant owns it (and thaws it with its release
/// store), or, dead, leaves it to [`settle`].
fn thaw_all(v: &View<'_>) {
    for i in 0..v.s.nsems {
        if let Ok(s) = v.sem(i) {
            let w = s.load();
            if w.frozen() && !w.claimed() {
                s.word.fetch_and(!FROZEN, Ordering::AcqRel);
            }
        }
    }
}

/// Freezes every semaphore of the set (the repair after a dead holder,
/// which may have died with words frozen, before it replays the journal:
/// then nothing it writes can race a lock-free operation); the lock's
/// release thaws them all — the words the dead holder froze, not those a
/// lock-free `SEM_UNDO` operation has claimed (no journal entry names
/// one: a holder writes only words it froze, which no claim can take).
pub(super) fn freeze_all(v: &View<'_>) {
    for i in 0..v.s.nsems {
        if let Ok(s) = v.sem(i) {
            if !s.load().claimed() {
                s.word.fetch_or(FROZEN, Ordering::AcqRel);
            }
        }
    }
    FROZEN_WORDS.with(|f| f.over.set(true));
}

/// The set's lock, held; on release, wakes the sleepers whose operations
/// were completed under it (the kernel's `wake_q`).
pub(super) struct Locked<'a> {
    /// the set whose lock is held (`None` once released)
    o: Option<&'a Obj>,
    /// false when nothing can have been queued (the uncontended path)
    pub(super) flush: bool,
    /// the lock came from a dead holder and [`repair`] ran, which may
    /// have queued wakes
    repaired: bool,
    /// false when no word can have been recorded frozen under this lock
    /// (the single-operation path thaws its own word)
    thaw: bool,
}

impl Locked<'_> {
    /// Nothing was queued under this lock by its holder: no wake queue to
    /// flush on release, unless taking the lock ran [`repair`].
    #[inline]
    pub(super) fn skip_wakes(&mut self) {
        self.flush = self.repaired;
    }
    /// Nothing was frozen through [`Sem::freeze`] under this lock by its
    /// holder: no record to look at on release, unless taking the lock ran
    /// [`repair`] (which freezes every word).
    #[inline]
    pub(super) fn skip_thaw(&mut self) {
        self.thaw = self.repaired;
    }
    /// Words may have been frozen and recorded after all.
    #[inline]
    pub(super) fn need_thaw(&mut self) {
        self.thaw = true;
    }
}

/// The set's lock ([`Obj::lock_until`]) by `d` (`ETIMEDOUT`), or `EIDRM`
/// once the set is removed.
#[inline]
pub(super) fn lock_by<'a>(o: &'a Obj, d: &Deadline) -> Result<Locked<'a>> {
    lock_or(o, d, &|| false)
}

/// [`lock_by`], giving up (`EIDRM`) also when `give_up` turns true (asked
/// every few milliseconds while the lock is held by another).
#[inline]
pub(super) fn lock_or<'a>(
    o: &'a Obj,
    d: &Deadline,
    give_up: &dyn Fn() -> bool,
) -> Result<Locked<'a>> {
    lock_movable(o, d, give_up, None)
}

/// [`lock_or`] for a call that may move the set away from a stopped
/// holder (`grace`: `fence::grace`). Every taker of a set's lock sees it
/// moving or moved (`ESTALE`: the caller retries on the copy), and
/// finishes the move of a mover that died (`fence::take_slow`).
#[inline]
pub(super) fn lock_movable<'a>(
    o: &'a Obj,
    d: &Deadline,
    give_up: &dyn Fn() -> bool,
    grace: Option<Duration>,
) -> Result<Locked<'a>> {
    let l = o.obj_lock();
    let died = if l.try_lock() {
        false
    } else {
        fence::take_slow(o, d, give_up, grace)?
    };
    let g = held(o, died);
    if died {
        repair(o);
    }
    Ok(g)
}

/// The guard of the lock just taken (`died`: from a dead holder, whose
/// [`repair`] the caller runs).
#[inline(always)]
fn held(o: &Obj, died: bool) -> Locked<'_> {
    Locked {
        o: Some(o),
        flush: true,
        repaired: died,
        thaw: true,
    }
}

/// [`lock_by`] with the deadline `d` made only when the lock is not free
/// at once: the uncontended take (a grant after a lock-free release)
/// reads no clock.
#[inline]
pub(super) fn lock_soon<'a>(o: &'a Obj, d: impl FnOnce() -> Deadline) -> Result<Locked<'a>> {
    if o.obj_lock().try_lock() {
        return Ok(held(o, false));
    }
    lock_by(o, &d())
}

/// The lock for a `semctl` command, which the kernel never blocks: by
/// [`Deadline::ctl`]; `None` when a holder is stopped or the lock word
/// was scribbled on (the caller then reads without it, or fails).
#[inline]
pub(super) fn lock_ctl(o: &Obj) -> Option<Locked<'_>> {
    lock_by(o, &Deadline::ctl()).ok()
}

impl Locked<'_> {
    /// Lets the lock go (as the drop does): false when the set moved
    /// under this holder, which was fenced (what it wrote since is not
    /// the set's: see `fence.rs`).
    #[inline]
    pub(super) fn release(mut self) -> bool {
        self.let_go()
    }

    #[inline]
    fn let_go(&mut self) -> bool {
        let Some(o) = self.o.take() else {
            return true;
        };
        if self.thaw {
            thaw_set(o);
        }
        let released = fence::release(o);
        if self.flush {
            flush_wakes(o);
        }
        released
    }
}

impl Drop for Locked<'_> {
    #[inline]
    fn drop(&mut self) {
        self.let_go();
    }
}

/// Wakes the sleepers queued in [`WAKES`] (out of line: the uncontended
/// `semop` never gets here, and its lock's release stays short).
#[inline(never)]
fn flush_wakes(o: &Obj) {
    // Taken, so that a nested call (a signal handler's) queues its own;
    // given back afterwards with its allocation, for the next grant.
    let mut q = WAKES.with(|q| {
        let mut q = q.borrow_mut();
        if q.is_empty() {
            return Vec::new();
        }
        core::mem::take(&mut **q)
    });
    if q.is_empty() {
        return;
    }
    for addr in q.drain(..) {
        // The word lies in a mapping of a set our caller still holds
        // (it was queued under that set's lock moments ago).
        if event::wake_addr(addr) == 0 {
            // It said it slept, and nobody was asleep: it may be dead,
            // with the grant just made to it.
            unwoken(o, addr);
        }
    }
    // Kept only by a thread that frees it at exit.
    if armed(Slot::SemWakes) {
        WAKES.with(|w| {
            let mut w = w.borrow_mut();
            if w.capacity() == 0 {
                **w = q;
            }
        });
    }
}

/// Replays a journal committed by a process that died before finishing.
pub(super) fn redo(v: &View<'_>) {
    let h = v.hdr();
    // (Sealed by a mover that gave up without lifting its seal: as it was.)
    if matches!(h.jstate.load(Ordering::Acquire), 1 | fence::J_SEALED_DONE) {
        let n = (h.jcount.load(Ordering::Relaxed) as usize).min(v.s.jcap());
        for k in 0..n {
            if let Ok(e) = v.jent(k) {
                let _ = apply(v, e.load(Ordering::Relaxed));
            }
        }
    }
    h.jstate.store(0, Ordering::Release);
}
