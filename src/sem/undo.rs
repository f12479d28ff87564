//! `SEM_UNDO` and dead processes: the sweep of sleeper and undo slots whose
//! owners are gone (`crate::sync::owner`), applying a dead process's
//! adjustments, the repair after a dead lock holder, this process's undo
//! slot.

use super::*;

/// Frees the slots of dead processes: applies a dead process's undo
/// adjustments (clamped to 0..=SEMVMX, as the kernel's `exit_sem`) and,
/// with `sleepers`, drops dead sleepers. `gone(pid, start)` tells a dead
/// process. Returns true when a value changed.
pub(super) fn sweep_with(v: &View<'_>, sleepers: bool, check: Check) -> bool {
    let mut changed = false;
    if sleepers {
        let used: Vec<usize> = wslots_used(v).collect();
        let busy = used.iter().filter_map(|&i| {
            let w = v.wslot(i).ok()?;
            // Not a lock-free multi-operation record (`sweep_multi`).
            (!matches!(w.state.load(Ordering::Acquire) & 0xff, W_FREE | W_MULTI))
                .then(|| (i, w.owner()))
        });
        changed |= multi::sweep_multi(v, &used, check);
        owner::sweep(busy, check, |i, _| {
            changed |= release_sleeper(v, i);
            false
        });
        // The same slots (freeing one writes no new page): one walk of the
        // file's holes, not two.
        recount_in(v, used.into_iter());
    } else {
        changed |= multi::sweep_short(v);
    }
    let undo = v
        .undo_used()
        .filter_map(|u| Some((u, v.uslot(u).ok()?.owner())));
    owner::sweep(undo, check, |u, o| {
        // A sweep that left the sleepers alone keeps the slot of a dead
        // process whose sleepers are still queued: a grant to one of them
        // must find its adjustments in its own slot, and one given back
        // must take them back from there (`release_sleeper`). Freed by
        // the next sweep that drops them first.
        if !sleepers && queued(v, u, o) {
            return false;
        }
        release_undo(v, u, o.pid)
    }) | changed
}

/// Whether a sleeper slot of process `who` that names undo slot `u` is
/// still in the queue (waiting, claimed, serving itself, or granted and
/// not collected).
fn queued(v: &View<'_>, u: usize, who: Owner) -> bool {
    wslots_used(v).any(|i| {
        v.wslot(i).is_ok_and(|w| {
            matches!(
                w.state.load(Ordering::Acquire) & 0xff,
                W_WAITING | W_CLAIMED | W_SELF | W_DONE
            ) && w.undo.load(Ordering::Relaxed) == u as i32
                && w.owner().load() == who
        })
    })
}

/// The full check: every slot, dead by pid and start time (`/proc`), so
/// that a recycled pid is caught.
pub(super) fn sweep(v: &View<'_>) -> bool {
    sweep_with(v, true, Check::Full)
}

/// Applies the adjustments of undo slot `u`, whose process `pid` is gone,
/// and frees the slot; the lock holder only. Its lock-free operations
/// still claiming a word are finished or undone first ([`steal_one`]). A word
/// claimed by another process that is stopped (`EBUSY`) leaves the slot
/// as it is for a later sweep (the adjustments applied so far are
/// cleared, so nothing is applied twice).
pub(super) fn release_undo(v: &View<'_>, u: usize, pid: i32) -> bool {
    // Its multi-operation calls still claiming words first, whole: one
    // finished writes its adjustments for all its semaphores, which must
    // be in the slot before any is read below.
    let mut changed = multi::finish_multi_of(v, u, pid);
    for s in 0..v.s.nsems {
        if let Ok(x) = v.sem(s) {
            let w = x.load();
            // Its claims (the claimant's pid in the word, or in the slot
            // once its release is owned: by itself, or by a settler, which
            // is waited for while it lives).
            if w.claimed() && !w.multi() && !w.tomb() && w.claimant().0 == u {
                let owner = w.pid();
                let take = owner == pid
                    || crate::os::proc::liveness(owner, 0) == crate::os::proc::Liveness::Dead;
                steal_one(v, s, w, take);
                changed = true;
            }
        }
        // An adjustment it owed (its late store will never land).
        pay_owed(v, u, Some(s));
        let Ok(a) = v.adj(u, s) else { continue };
        let adj = a.load(Ordering::Relaxed) as i32;
        if adj == 0 {
            continue;
        }
        let cur = match v.val(s) {
            Ok(x) => x,
            Err(Errno::EBUSY) => return changed,
            Err(_) => continue,
        };
        let mut t = Txn::default();
        t.push(ent(E_VAL, s, (cur + adj).clamp(0, SEMVMX)));
        t.push(ent(E_ADJ, u * v.s.nsems + s, 0));
        if t.commit(v).is_ok() {
            if let Ok(x) = v.sem(s) {
                let _ = x.put_pid(v.o, pid);
            }
            changed = true;
        }
    }
    if let Ok(us) = v.uslot(u) {
        us.pid.store(0, Ordering::Release);
    }
    changed
}

/// How long a lock holder waits for a live claimant of a word before it
/// lets the lock go (`EBUSY`): the `IPC_NOWAIT` bound (a claimant owns
/// its word for a few instructions; one preempted, for a time slice) —
/// a `semop` then lets the lock go and tries again; a `SETVAL` or
/// `SETALL` waits to the control bound instead ([`claim_wait_until`]).
const CLAIM_BOUND: Duration = crate::sync::time::NOWAIT_BOUND;

thread_local! {
    /// The deadline [`settle`] waits to for a live claimant that is not
    /// stopped, instead of [`CLAIM_BOUND`] (set by [`claim_wait_until`]).
    static CLAIM_DEADLINE: core::cell::Cell<Option<Deadline>> = const { core::cell::Cell::new(None) };
    /// Whether the last [`settle`]'s `EBUSY` was for this very thread's
    /// claim ([`met_own_claim`]).
    static OWN_CLAIM: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

/// Notes that [`settle`] answers `EBUSY` for a claim of this very thread:
/// a signal handler's call that interrupted its own lock-free claim (one
/// operation's, `fast`, or several's, `multi`), which cannot end before
/// the handler returns.
pub(super) fn note_own_claim() {
    OWN_CLAIM.with(|c| c.set(true));
}

/// Whether the `EBUSY` just met was [`settle`]'s for this very thread's
/// claim (and forgets it): waiting and trying again would never end, so
/// the call answers at once (`semop`: as at its timeout, `EDEADLK` when
/// untimed; docs/bounded-time.md, "A signal handler's call on its own
/// thread's lock").
pub(super) fn met_own_claim() -> bool {
    OWN_CLAIM.with(|c| c.replace(false))
}

/// Runs `f` with [`settle`] waiting for a live claimant that is not
/// stopped until `d` (a control call's bound: a preempted claimant is no
/// reason for `SETVAL` to fail).
pub(super) fn claim_wait_until<T>(d: Deadline, f: impl FnOnce() -> T) -> T {
    let old = CLAIM_DEADLINE.with(|c| c.replace(Some(d)));
    let r = f();
    CLAIM_DEADLINE.with(|c| c.set(old));
    r
}

/// The lock holder froze semaphore `n`'s word and found it claimed (`w`)
/// by a lock-free `SEM_UNDO` operation (`fast::semop_undo_fast`) or a
/// lock-free multi-operation `semop` (`multi`): waits for a live
/// claimant to let it go (spinning, then yielding, then short naps),
/// settles a dead or stopped one's operation in its place ([`steal_one`],
/// [`multi::finish_multi`], [`multi::steal`]: finished or undone; the
/// whole call for a multi-operation one), and completes a release whose
/// adjustment is stored — or, a one-operation claimant's ([`UREL`])
/// stopped before that store, whose adjustment it leaves owed
/// ([`INTENT_OWED`]; a multi-operation call's [`MULTI_REL`] likewise,
/// `multi::OUT_OWED`). `EBUSY` when the claimant is this very thread (a
/// signal handler's call inside its own claim), a stopped *settler* owns
/// a word's release and has not stored the adjustment (or made its mark)
/// yet, or the
/// claimant still holds the word after [`CLAIM_BOUND`]: the caller lets
/// the lock go and tries again.
pub(super) fn settle(v: &View<'_>, n: usize, w: SemWord) -> Result<()> {
    OWN_CLAIM.with(|c| c.set(false));
    let s = v.sem(n)?;
    // This very thread's claim (a signal handler's call inside it) is
    // looked at first: spinning and yielding for it would only delay the
    // answer (by time slices, on a loaded machine).
    let own = if w.multi() {
        multi::claiming(w.multi_slot())
    } else {
        w.pid() == my_pid() && fast::claiming(w.claimant().1)
    };
    if own {
        let look = if w.multi() {
            multi::settle_multi(v, n, w)
        } else {
            settle_single(v, n, w)
        };
        if let Some(r) = look {
            return r;
        }
    }
    let mut t0 = None;
    let mut round = 0u32;
    loop {
        if s.load() != w {
            return Ok(()); // released
        }
        round += 1;
        if round < 100 {
            core::hint::spin_loop();
            continue;
        }
        if round < 110 {
            std::thread::yield_now();
            continue;
        }
        let look = if w.multi() {
            multi::settle_multi(v, n, w)
        } else {
            settle_single(v, n, w)
        };
        if let Some(r) = look {
            return r;
        }
        let d = *t0.get_or_insert_with(|| {
            CLAIM_DEADLINE
                .with(|c| c.get())
                .unwrap_or_else(|| Deadline::after(CLAIM_BOUND))
        });
        if d.expired() {
            return Err(Errno::EBUSY);
        }
        std::thread::sleep(Duration::from_micros(50));
    }
}

/// [`settle`]'s look at a one-operation `SEM_UNDO` claim `w` of
/// semaphore `n`: `Some` when decided (see [`multi::settle_multi`]),
/// `None` for a live claimant (or release owner) to wait for. A claimant
/// found dead or stopped has its operation settled in its place
/// ([`steal_one`]); a release owned by a stopped claimant is completed,
/// its adjustment left owed when not stored yet ([`INTENT_OWED`]); one
/// owned by a stopped settler, once its adjustment is stored, and is
/// `EBUSY` before.
fn settle_single(v: &View<'_>, n: usize, w: SemWord) -> Option<Result<()>> {
    // An owned release whose adjustment is stored: only its last
    // compare-and-swap left, made here.
    if w.urel() && steal_one(v, n, w, false) {
        return Some(Ok(()));
    }
    let (u, k) = w.claimant();
    let owner = v.uslot(u).map(|us| us.owner().load()).ok();
    let who = w.pid();
    if who == my_pid() {
        if owner.is_some_and(|o| o.is_me()) && fast::claiming(k) {
            note_own_claim();
            return Some(Err(Errno::EBUSY));
        }
        return None; // another thread of this process: it goes on
    }
    let own = owner.is_some_and(|o| o.pid == who);
    let start = match owner {
        Some(o) if o.pid == who => o.start,
        // A release owned by a settler (another process than the slot's).
        _ if w.urel() => 0,
        // A claim whose slot no longer names the claimant: a scribble.
        _ => {
            steal_one(v, n, w, true);
            return Some(Ok(()));
        }
    };
    match crate::os::proc::liveness_and_stopped(who, start) {
        (crate::os::proc::Liveness::Dead, _) => {
            steal_one(v, n, w, true);
            Some(Ok(()))
        }
        // Stopped: a claim not yet committed settled in its place (it
        // learns which way from its own compare-and-swaps once
        // continued); a committed one whose adjustment is not stored yet
        // released with the adjustment owed ([`INTENT_OWED`]: the
        // claimant stores it when continued, every other writer of it
        // defers meanwhile). A release owned by a stopped settler is
        // waited for (its late store of the adjustment is not its last
        // step).
        (_, true) if !w.urel() || own => {
            steal_one(v, n, w, true);
            Some(Ok(()))
        }
        (_, true) => Some(Err(Errno::EBUSY)),
        _ => None,
    }
}

/// Who owes an adjustment ([`owed`]): an intent record of the slot's
/// process ([`INTENT_OWED`]: a one-operation claimant), or a
/// multi-operation call's record ([`W_MULTI`] slot, `multi::OUT_OWED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Owes {
    Rec(usize),
    Multi(usize),
}

/// The adjustment of undo slot `u` for semaphore `n` owed by one of its
/// process's intent records ([`INTENT_OWED`]; `skip`: a record not looked
/// at, the caller's own) or multi-operation records (`multi::OUT_OWED`):
/// which. While one is owed, only its claimant writes that adjustment
/// (its late plain store); every other writer defers ([`wait_owed`]).
/// `None` at once when the set counts no mark (one load).
#[inline]
pub(super) fn owed(v: &View<'_>, u: usize, n: usize, skip: usize) -> Option<Owes> {
    if v.hdr().owed.load(Ordering::Relaxed) == 0 {
        return None;
    }
    let us = v.uslot(u).ok()?;
    let k = us.recs.iter().enumerate().position(|(k, r)| {
        let raw = r.load(Ordering::Acquire);
        k != skip && raw & INTENT_OWED != 0 && Intent::unpack(raw).is_some_and(|i| i.n == n)
    });
    match k {
        Some(k) => Some(Owes::Rec(k)),
        None => multi::owed_by(v, u, us.owner().load(), n).map(Owes::Multi),
    }
}

/// Pays the owed adjustments of undo slot `u` (for semaphore `n`; every
/// one with `None`): the record's adjustment stored, then the mark
/// cleared — where the claimant's own store can no longer land (its
/// process is gone; a move's copy, whose old file it writes). The same
/// value as the claimant's: paying twice (a payer killed between the two
/// stores) changes nothing, since nobody else writes it meanwhile.
pub(super) fn pay_owed(v: &View<'_>, u: usize, n: Option<usize>) {
    let Ok(us) = v.uslot(u) else { return };
    // A multi-operation call's (`multi::OUT_OWED`: its records scanned
    // only while the set counts a mark).
    if v.hdr().owed.load(Ordering::Acquire) != 0 {
        multi::pay_owed_in(v, u, us.owner().load(), n);
    }
    for r in us.recs.iter() {
        let raw = r.load(Ordering::Acquire);
        if raw & INTENT_OWED == 0 {
            continue;
        }
        match Intent::unpack(raw) {
            Some(i) if n.is_some_and(|n| n != i.n) => continue,
            Some(i) => {
                if let Ok(a) = v.adj(u, i.n) {
                    a.store(i.adj, Ordering::Release);
                }
            }
            None => {} // a scribble: nothing to pay
        }
        cleared(v, r);
    }
}

/// Clears the owed mark of record `r` and, when this call cleared it,
/// lowers the set's count of marks ([`SetHdr::owed`], after: a payer
/// killed between the two leaves it high). Returns the record as it was.
pub(super) fn cleared(v: &View<'_>, r: &AtomicU64) -> u64 {
    let was = r.fetch_and(!INTENT_OWED, Ordering::AcqRel);
    if was & INTENT_OWED != 0 {
        lower_owed(v);
    }
    was
}

/// Lowers the set's count of owed marks ([`SetHdr::owed`]) after a mark
/// was cleared (never below 0: a scribbled count).
pub(super) fn lower_owed(v: &View<'_>) {
    let h = &v.hdr().owed;
    let _ = h.fetch_update(Ordering::AcqRel, Ordering::Relaxed, |c| c.checked_sub(1));
}

/// Before a write of undo slot `u`'s adjustment for semaphore `n` (the
/// locked path's, a grant's, `SETVAL`/`SETALL`'s): waits for an owed
/// adjustment's claimant to store it and clear its mark (its process
/// runs: a few instructions), as [`settle`] waits for a live claimant;
/// pays it when its process is gone. `EBUSY` (the caller lets the lock
/// go, or answers `EAGAIN`) when that process is stopped, when the
/// claimant is this very thread (a signal handler's call inside its
/// claim), or past the wait's bound.
#[inline]
pub(super) fn wait_owed(v: &View<'_>, u: usize, n: usize) -> Result<()> {
    // The common answer from one load: no mark in the set (**relaxed**:
    // after the word's freeze, whose acquire follows a settler's release,
    // which follows its raising of the count).
    if v.hdr().owed.load(Ordering::Relaxed) == 0 {
        return Ok(());
    }
    wait_owed_slow(v, u, n)
}

#[cold]
#[inline(never)]
fn wait_owed_slow(v: &View<'_>, u: usize, n: usize) -> Result<()> {
    let d = CLAIM_DEADLINE
        .with(|c| c.get())
        .unwrap_or_else(|| Deadline::after(CLAIM_BOUND));
    let mut round = 0u32;
    loop {
        let Some(who) = owed(v, u, n, NREC) else {
            return Ok(());
        };
        let o = v.uslot(u)?.owner().load();
        if o.is_me() {
            let inside = match who {
                Owes::Rec(k) => fast::claiming(k),
                Owes::Multi(i) => multi::claiming(i),
            };
            if inside {
                return Err(Errno::EBUSY);
            }
        } else {
            match crate::os::proc::liveness_and_stopped(o.pid, o.start) {
                (crate::os::proc::Liveness::Dead, _) => {
                    pay_owed(v, u, Some(n));
                    continue;
                }
                (_, true) => return Err(Errno::EBUSY),
                _ => {}
            }
        }
        if d.expired() {
            return Err(Errno::EBUSY);
        }
        round += 1;
        if round < 100 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
}

/// Settles the one-operation `SEM_UNDO` claim `w` of semaphore `n`
/// (`fast::semop_undo_fast`) in its claimant's place, under the lock or
/// by a mover; true when the word was acted on or changed meanwhile (look
/// again), false when nothing could be done.
///
/// - A release owned ([`UREL`]) by the claimant, or by a settler that
///   marked the record finished, whose adjustment is stored (the record's
///   value found in the slot: nobody else writes it while the word is
///   claimed, and the operation changes it): only the owner's last
///   compare-and-swap is left, made here with the same outcome.
/// - Otherwise, with `take` (the claimant stopped or gone, a release
///   owner gone): the word becomes this process's release by
///   compare-and-swap (against the claimant's commit: exactly one wins),
///   then the claimant's intent record decides: one that repeats the
///   claim's epoch and names the semaphore (the claimant wrote it before
///   it could commit) → marked [`INTENT_FIN`], its adjustment stored,
///   the word given its new value and the claimant's pid; none → the
///   value the claim kept put back, the adjustment untouched (the
///   claimant, continued, finds its commit failed and no mark: it stored
///   nothing, and makes the call again). Absolute values: settling twice
///   changes nothing.
pub(super) fn steal_one(v: &View<'_>, n: usize, w: SemWord, take: bool) -> bool {
    let Ok(s) = v.sem(n) else { return false };
    let (u, k) = w.claimant();
    let us = v.uslot(u).ok();
    let slot_pid = us.map_or(0, |us| us.pid.load(Ordering::Acquire));
    let claimant = if w.urel() { slot_pid } else { w.pid() };
    // (A claim naming no record of the set is a scribble: undone.)
    let recw = v.intent(u, k).ok();
    let load = || recw.map_or(0, |r| r.load(Ordering::Acquire));
    let record = |raw: u64| {
        Intent::unpack(raw)
            .filter(|i| i.n == n && i.epoch == w.epoch())
            .filter(|_| claimant != 0 && slot_pid == claimant)
    };
    if w.urel() {
        let raw = load();
        if let (Some(i), Ok(a)) = (record(raw), v.adj(u, n)) {
            if (w.pid() == claimant || raw & INTENT_FIN != 0) && a.load(Ordering::Acquire) == i.adj
            {
                let _ = s.word.compare_exchange(
                    w.0,
                    SemWord::new(i.val, claimant).0,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                return true;
            }
        }
    }
    if !take {
        return false;
    }
    let owned = w.urel_by(my_pid());
    if s.word
        .compare_exchange(w.0, owned.0, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return true;
    }
    // The word ours: the claimant can no longer commit; its record as it
    // stands decides (read after the compare-and-swap).
    let raw = load();
    let rec = record(raw);
    let new = match (rec.map(|i| (i, v.adj(u, n))), recw) {
        (Some((i, Ok(a))), Some(recw)) => {
            // A claimant that committed (its release its own, or taken
            // from it by a settler that died before its mark: a settler
            // that takes an uncommitted claim marks it finished alone)
            // may still make its plain store of the adjustment: owed
            // ([`INTENT_OWED`]), the mark cleared by the claimant once it
            // learns the word's fate, or paid by its undo when it is gone.
            let owes =
                w.urel() && (w.pid() == claimant || raw & (INTENT_FIN | INTENT_OWED) != INTENT_FIN);
            let mark = if owes {
                INTENT_FIN | INTENT_OWED
            } else {
                INTENT_FIN
            };
            // The adjustment stored **before** the mark, as a
            // multi-operation call's settler does: once the record says
            // finished, another process may complete this release (the
            // first branch above, on finding the adjustment stored: the
            // claimant's late store, the same value), after which the
            // claimant clears its mark and other writers go on; a store
            // of this settler's still to come (it stopped between its mark
            // and its store) would then land over theirs. Stopped between
            // this store and the mark, the settler is waited for (nothing
            // says finished yet), as any stopped settler.
            a.store(i.adj, Ordering::Release);
            multi::pause(14);
            // The set's count of marks raised first (**before** the mark:
            // a writer that reads it 0 finds no mark), lowered again when
            // the mark was there already (a settler taken over).
            let h = &v.hdr().owed;
            if owes {
                h.fetch_add(1, Ordering::SeqCst);
            }
            let set = recw.compare_exchange(raw, raw | mark, Ordering::SeqCst, Ordering::Acquire);
            if owes && (set.is_err() || raw & INTENT_OWED != 0) {
                lower_owed(v);
            }
            SemWord::new(i.val, claimant)
        }
        _ => SemWord::new(w.val(), if w.urel() { slot_pid } else { w.pid() }),
    };
    let _ = s
        .word
        .compare_exchange(owned.0, new.0, Ordering::AcqRel, Ordering::Acquire);
    crate::debug_report!(
        "semaphore set {}: a lock-free SEM_UNDO operation of pid {} on semaphore {} {} in its place",
        v.o.id,
        claimant,
        n,
        if rec.is_some() { "finished" } else { "undone" }
    );
    true
}

/// Before sleeping and before reads: releases the undo of processes that
/// are plainly gone (`kill(pid, 0)` fails: one cheap system call per other
/// undo holder, none when there is none), and with `waiters` drops
/// sleepers that are gone and gives back the grants of those that died
/// before collecting them. A reused pid is caught by the
/// periodic [`sweep`].
#[inline]
pub(super) fn quick_sweep_with(v: &View<'_>, waiters: bool) -> bool {
    let sleepers = waiters && v.hdr().waiting.load(Ordering::Relaxed) != 0;
    // Grants not yet collected (the sweep of sleepers sees them), before
    // the undo holders: a dead sleeper's grant is taken back together
    // with its adjustment, before that is applied.
    let reclaimed = waiters && !sleepers && reclaim(v, Check::Quick);
    sweep_with(v, sleepers, Check::Quick) | reclaimed
}

/// The repair run by whoever takes over the lock of a dead holder.
pub(super) fn repair(o: &Obj) {
    crate::debug_report!("semaphore set {}: repaired after a lock holder died", o.id);
    if let Ok(v) = View::new(o) {
        // The dead holder may have left words frozen (thawed when this
        // lock is let go); frozen, none changes under the replay.
        freeze_all(&v);
        redo(&v);
        // A granter that died between claiming a sleeper and committing
        // (a committed journal made it DONE just above): still waiting.
        for i in 0..v.s.nwait {
            if let Ok(w) = v.wslot(i) {
                let s = w.state.load(Ordering::Acquire);
                if s & 0xff == W_CLAIMED {
                    w.state.store((s & !0xff) | W_WAITING, Ordering::Release);
                }
            }
        }
        sweep(&v);
        update_queue(&v);
    }
}

/// [`undo_slot`], first trying the slot `hint` names (this process's
/// slot when last looked up): one owner load when it is still ours (then
/// `true`: nothing else was looked at or changed); the hint is updated to
/// what [`undo_slot`] finds otherwise.
#[inline(always)]
pub(super) fn undo_slot_known(
    v: &View<'_>,
    hint: &core::cell::Cell<Option<usize>>,
) -> Result<(usize, bool)> {
    if let Some(u) = hint.get() {
        if u < v.undo_used().end && v.uslot(u)?.owner().load().is_me() {
            return Ok((u, true));
        }
    }
    let u = undo_slot(v)?;
    hint.set(Some(u));
    Ok((u, false))
}

/// This process's undo slot, allocated when missing (`ENOSPC` when full);
/// the lock holder only. A free slot is taken as the lock-free path takes
/// one ([`take_slot`]).
pub(super) fn undo_slot(v: &View<'_>) -> Result<usize> {
    let me = Owner::me();
    // Not beside a lock-free take by another thread of this process
    // (waited for: given up on, this would take a second slot beside the
    // one it records; one this very thread was inside, a signal
    // handler's call, is not waited for).
    let held = Taking::hold_or_wait();
    let used = v.undo_used();
    for u in used.clone() {
        let us = v.uslot(u)?;
        let o = us.owner().load();
        if o.pid == me.pid {
            if o.is_me() {
                return Ok(u);
            }
            // A dead process that had our pid: its undo is due now.
            release_undo(v, u, o.pid);
        }
    }
    // A free slot among those in use, then the one above them (`undo_hi`
    // is shared memory: a member may have lowered it over a live slot,
    // which `take_slot` never hands out), then, after a sweep, any. The
    // first slot taken on the set gives the undo area and the journal
    // storage first (`ENOMEM`, nothing changed, when there is no room).
    v.reserve_tail()?;
    let mut swept = false;
    loop {
        let cands = if swept {
            0..v.s.nundo
        } else {
            used.start..(used.end + 1).min(v.s.nundo)
        };
        for u in cands {
            if v.uslot(u)?.pid.load(Ordering::Relaxed) == 0 && take_slot(v, u, me)? {
                drop(held);
                return Ok(u);
            }
        }
        if swept {
            return Err(Errno::ENOSPC);
        }
        swept = true;
        if sweep(v) {
            update_queue(v);
        }
    }
}

/// Takes the free undo slot `u` for `me`, with or without the set's lock
/// (the lock-free path's first `SEM_UNDO` operation on a set, `fast.rs`,
/// which must not wait for a stopped lock holder): false when it is not
/// free, or another process is taking it. The slot is *reserved* first
/// (its `taking` word, compare-and-swap from 0 to this pid: of two takers
/// one wins, and a lock holder takes slots the same way), then, while it
/// is still free, `undo_hi` raised over it, its adjustments zeroed, and
/// the owner recorded (start time, then pid with **release**: a reader
/// that sees the pid sees a whole record); then the reservation is let
/// go. Nothing reads `taking` but takers: a sweep frees only slots whose
/// recorded owner is dead, and a reserved slot has none until it is
/// whole. A reserver killed inside leaves its pid there, cleared by the
/// next taker that finds that pid gone.
pub(super) fn take_slot(v: &View<'_>, u: usize, me: Owner) -> Result<bool> {
    let us = v.uslot(u)?;
    let cur = us.taking.load(Ordering::Acquire);
    if cur != 0 {
        if cur == me.pid as u32 || crate::os::proc::pid_exists(cur as i32) {
            return Ok(false);
        }
        if us
            .taking
            .compare_exchange(cur, 0, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return Ok(false);
        }
    }
    if us
        .taking
        .compare_exchange(0, me.pid as u32, Ordering::AcqRel, Ordering::Relaxed)
        .is_err()
    {
        return Ok(false);
    }
    let free = us.pid.load(Ordering::Acquire) == 0;
    if free {
        // Before the owner: whoever sees the slot owned scans up to it.
        v.hdr().undo_hi.fetch_max(u as u32 + 1, Ordering::AcqRel);
        for s in 0..v.s.nsems {
            if let Ok(a) = v.adj(u, s) {
                a.store(0, Ordering::Relaxed);
            }
        }
        // No owed mark carried over (the undo that freed the slot paid
        // its own: one here is a scribble).
        for r in us.recs.iter() {
            cleared(v, r);
        }
        us.owner().claim(me);
        // A new undo holder: a sleeper without a timer must look again
        // (its death could be what the sleeper waits for). After the
        // owner, with a fence: a sleeper going deep without the lock's
        // help (this take may have none) marks itself, fences, then looks
        // at the undo slots (`pending::go_deep`): one of the two sees the
        // other.
        core::sync::atomic::fence(Ordering::SeqCst);
        prewake(v);
    }
    us.taking.store(0, Ordering::Release);
    Ok(free)
}

/// [`Taking::try_hold`] registered the fork child's reset.
static HOOKED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// The thread of this process taking an undo slot ([`Taking`]): its tid,
/// 0 when none.
static TAKING: AtomicI32 = AtomicI32::new(0);

/// The calling thread's id.
fn my_tid() -> i32 {
    // SAFETY: gettid has no preconditions and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

/// How long a locked take waits for another thread's lock-free take
/// ([`Taking::hold_or_wait`]): a few instructions, or as long as that
/// thread waits for a CPU; the bound only guards against the unforeseen.
const TAKE_WAIT: Duration = crate::sync::time::CTL_BOUND;

/// Held while this process takes an undo slot (one at a time: two threads
/// taking at once would give it two slots on one set).
pub(super) struct Taking(bool);

impl Taking {
    /// Without waiting: `None` when another take of this process is
    /// under way (the caller takes the lock and [`undo_slot`]).
    pub(super) fn try_hold() -> Option<Taking> {
        Taking::try_hold_as(my_tid()).ok()
    }

    /// [`Taking::try_hold`] for thread `tid`; the holder's tid otherwise.
    fn try_hold_as(tid: i32) -> core::result::Result<Taking, i32> {
        // The fork child's reset (`fast::recs_after_fork`), registered
        // once per process before the flag is first taken.
        if !HOOKED.load(Ordering::Relaxed) {
            crate::os::proc::on_fork_child(recs_after_fork);
            HOOKED.store(true, Ordering::Relaxed);
        }
        // Made only when taken (`then_some` would make and drop one, and
        // its drop let another's take go).
        TAKING
            .compare_exchange(0, tid, Ordering::Acquire, Ordering::Relaxed)
            .map(|_| Taking(true))
    }

    /// Waits for a lock-free take by another thread of this process to
    /// end: it is as alive as the caller, and runs a few instructions
    /// without waiting for anything, but may wait for a CPU longer than
    /// any short bound (a loaded machine) — given up on then, the caller
    /// would take a second slot beside the one that take records. A take
    /// this very thread was inside (a signal handler's call) never ends
    /// meanwhile: not waited for.
    fn hold_or_wait() -> Taking {
        let tid = my_tid();
        let t0 = std::time::Instant::now();
        let mut round = 0u32;
        loop {
            match Taking::try_hold_as(tid) {
                Ok(t) => return t,
                Err(holder) if holder == tid => return Taking(false),
                Err(_) => {}
            }
            if t0.elapsed() > TAKE_WAIT {
                return Taking(false);
            }
            round += 1;
            if round < 100 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    }

    /// After `fork`: only the forking thread exists in the child, and it
    /// was not taking.
    pub(super) fn after_fork() {
        TAKING.store(0, Ordering::Relaxed);
    }
}

impl Drop for Taking {
    fn drop(&mut self) {
        if self.0 {
            TAKING.store(0, Ordering::Release);
        }
    }
}
