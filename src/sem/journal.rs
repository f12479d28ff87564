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

#[inline]
pub(super) fn ent(kind: u64, idx: usize, v: i32) -> u64 {
    (kind << 62) | (((idx as u64) & 0x3fff_ffff) << 32) | (v as u32 as u64)
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
#[inline]
pub(super) fn journal_then(
    v: &View<'_>,
    entries: &[u64],
    apply_all: impl FnOnce() -> Result<()>,
) -> Result<()> {
    if entries.len() > v.s.jcap() {
        return Err(Errno::EIO);
    }
    let h = v.hdr();
    for (k, &e) in entries.iter().enumerate() {
        v.jent(k)?.store(e, Ordering::Relaxed);
    }
    h.jcount.store(entries.len() as u32, Ordering::Relaxed);
    h.jstate.store(1, Ordering::Release);
    apply_all()?;
    h.jstate.store(0, Ordering::Release);
    Ok(())
}

pub(super) fn apply(v: &View<'_>, e: u64) -> Result<()> {
    let idx = ((e >> 32) & 0x3fff_ffff) as usize;
    let val = e as u32 as i32;
    match e >> 62 {
        E_SET => {
            let (idx, no_undo) = (idx & !SET_NO_UNDO, idx & SET_NO_UNDO != 0);
            if !no_undo {
                for u in v.undo_used() {
                    v.adj(u, idx)?.store(0, Ordering::Relaxed);
                }
            }
            let s = v.sem(idx)?;
            s.val.store(val.clamp(0, SEMVMX), Ordering::Relaxed);
            s.pid
                .store(v.hdr().jpid.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        E_VAL => v
            .sem(idx)?
            .val
            .store(val.clamp(0, SEMVMX), Ordering::Relaxed),
        E_ADJ => v
            .adj(idx / v.s.nsems, idx % v.s.nsems)?
            .store(val as i16, Ordering::Relaxed),
        E_DONE => {
            let w = v.wslot(idx)?;
            w.result.store(val, Ordering::Relaxed);
            let old = w.state.swap(W_DONE, Ordering::AcqRel);
            if old & W_SLEEP != 0 {
                // Woken after the lock is released (see [`Locked`]), so that
                // the sleeper does not run straight into our lock.
                WAKES.with(|q| q.borrow_mut().push(w.state.as_ptr() as usize));
            }
        }
        _ => return Err(Errno::EIO),
    }
    Ok(())
}

thread_local! {
    /// Futex words of sleepers to wake once the set's lock is released.
    static WAKES: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// The set's lock, held; on release, wakes the sleepers whose operations
/// were completed under it (the kernel's `wake_q`).
pub(super) struct Locked<'a> {
    pub(super) g: Option<crate::ns::ObjGuard<'a>>,
    /// false when nothing can have been queued (the uncontended path)
    pub(super) flush: bool,
    /// the lock came from a dead holder and [`repair`] ran, which may
    /// have queued wakes
    repaired: bool,
}

impl Locked<'_> {
    /// Nothing was queued under this lock by its holder: no wake queue to
    /// flush on release, unless taking the lock ran [`repair`].
    #[inline]
    pub(super) fn skip_wakes(&mut self) {
        self.flush = self.repaired;
    }
}

/// The set's lock ([`Obj::lock_until`]) by `d` (`ETIMEDOUT`), or `EIDRM`
/// once the set is removed.
#[inline]
pub(super) fn lock_by<'a>(o: &'a Obj, d: &Deadline) -> Result<Locked<'a>> {
    let repaired = core::cell::Cell::new(false);
    let g = o.lock_until(
        &|o: &Obj| {
            repaired.set(true);
            repair(o)
        },
        d,
    )?;
    Ok(Locked {
        g: Some(g),
        flush: true,
        repaired: repaired.get(),
    })
}

/// The lock for a `semctl` command, which the kernel never blocks: by
/// [`Deadline::ctl`]; `None` when a holder is stopped or the lock word
/// was scribbled on (the caller then reads without it, or fails).
#[inline]
pub(super) fn lock_ctl(o: &Obj) -> Option<Locked<'_>> {
    lock_by(o, &Deadline::ctl()).ok()
}

impl Drop for Locked<'_> {
    #[inline]
    fn drop(&mut self) {
        drop(self.g.take());
        if self.flush {
            flush_wakes();
        }
    }
}

/// Wakes the sleepers queued in [`WAKES`] (out of line: the uncontended
/// `semop` never gets here, and its lock's release stays short).
#[inline(never)]
fn flush_wakes() {
    let q = WAKES.with(|q| {
        let mut q = q.borrow_mut();
        if q.is_empty() {
            // Keep the queue's allocation for the next time.
            return Vec::new();
        }
        core::mem::take(&mut *q)
    });
    for addr in q {
        // The word lies in a mapping of a set our caller still holds
        // (it was queued under that set's lock moments ago).
        event::wake_addr(addr);
    }
}

/// Replays a journal committed by a process that died before finishing.
pub(super) fn redo(v: &View<'_>) {
    let h = v.hdr();
    if h.jstate.load(Ordering::Acquire) == 1 {
        let n = (h.jcount.load(Ordering::Relaxed) as usize).min(v.s.jcap());
        for k in 0..n {
            if let Ok(e) = v.jent(k) {
                let _ = apply(v, e.load(Ordering::Relaxed));
            }
        }
    }
    h.jstate.store(0, Ordering::Release);
}
