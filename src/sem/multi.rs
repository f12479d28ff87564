//! A `semop` of several operations without the set's lock, when the lock
//! is held by another process (perhaps stopped: docs/bounded-time.md,
//! "Sets"): the kernel makes such a call wait only for its values, never
//! for another process, so neither does ripc when the semaphores it names
//! are not the lock holder's.
//!
//! The record is a sleeper slot of the set, taken as a [`W_MULTI`] slot
//! (from [`W_FREE`], by compare-and-swap; its claimant's pid in the
//! state, then its owner recorded). Then:
//! 1. each semaphore the call names is **claimed**, in ascending order,
//!    by compare-and-swap of a word that is not frozen: frozen, claimed
//!    ([`MULTI`], naming the slot and its ticket's low bits), value and
//!    last pid kept. From here nobody else changes the word (the
//!    lock-free path finds it frozen; a lock holder's freeze finds it
//!    claimed and waits for the claimant, or finishes a dead or stopped
//!    one's call: [`settle_multi`]) nor this process's adjustment for it
//!    (but a lock holder finishing the call in its place). A word
//!    frozen by the lock holder, or claimed by another, ends the attempt:
//!    every claim is put back (the words as they were). Another lock-free
//!    call's claim is then waited for briefly, the record freed
//!    ([`fast::ClaimWait`]: a few µs, then yields, within the call's
//!    deadline), and the call starts over; the holder's freeze, or a
//!    claim that stays, sends the call to the locked path. Nothing is
//!    waited for while claims are held, so no claimant ever waits for a
//!    waiter.
//! 2. the operations are decided on the claimed values (in the order of
//!    the call, as the locked path's `try_ops`): one that must wait, or
//!    `ERANGE`, puts every claim back;
//! 3. the outcome of each semaphore (its new value and, with `SEM_UNDO`,
//!    this process's new adjustment for it: absolute values) is written
//!    in the slot's operation words, then [`MULTI_COMMIT`] in its
//!    `result` by compare-and-swap from 0 (**acq-rel**): the commit point;
//! 4. each word released by compare-and-swap from its claim
//!    ([`release_word`]: a word with an adjustment first becomes the
//!    claimant's own release, [`MULTI_REL`], then takes the adjustment,
//!    then the outcome: new value, this pid, not frozen), then the slot is
//!    freed once no word names it.
//!
//! A claimant killed before its commit is undone: each word it claims is
//! put back as it was (the claim kept the value and last pid). One
//! killed after is finished: each word it still claims gets its outcome
//! (absolute: finishing twice changes nothing). Whoever needs one of its
//! words does this under the lock ([`finish_multi`]), and so does every
//! sweep that finds its slot's claimant gone.
//!
//! A claimant **stopped** (SIGSTOP, the freezer) is treated the same way,
//! in its place, by the lock holder that needs one of its words, or by a
//! mover laying its tombstones ([`steal`]; docs/bounded-time.md, "Sets"):
//! its `result` from 0 to [`MULTI_ABORT`] by compare-and-swap — against
//! the claimant's commit, so exactly one of the two wins — then an
//! undone call's claims put back, a committed one's words released with
//! their outcomes and adjustments by the same compare-and-swaps as the
//! claimant's own. Continued, the claimant learns its fate from its own
//! compare-and-swaps: a failed commit means undone (its claims put back
//! by compare-and-swap, which finds them put back already; the call is
//! made again: a fresh record, or the locked path), a failed release
//! means that word was released for it (with the same outcome). An answer
//! it decided on the claimed values (must wait, `ERANGE`) stands only if
//! the call was not undone meanwhile: the values were then all held at
//! once. The record stays the claimant's until it frees it (the stealer
//! never frees a live claimant's record, so no claim of a stale record
//! can be mistaken for a new one). A word whose release the claimant
//! owns ([`MULTI_REL`]) while it is stopped before the adjustment's
//! store is taken by the settler, the adjustment stored and left *owed*
//! ([`OUT_OWED`], layout 13: the claimant's late store lands the same
//! value; every other writer of it defers until the claimant, continued,
//! clears the mark). What is still waited for: a word whose release a
//! stopped *settler* owns before its store (or its mark, [`MULTI_OWING`]).

use super::*;

thread_local! {
    /// The slot (+ 1) of this thread's multi-operation claim under way: a
    /// signal handler's call that meets one of its words under the lock
    /// must not wait for it (it would never end), nor start another.
    static MINE: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

/// The state of a [`W_MULTI`] slot taken by `pid` (pid below 2^22).
#[inline]
pub(super) fn taken_by(pid: i32) -> u32 {
    W_MULTI | ((pid as u32) << 10)
}

/// The claimant's pid a [`W_MULTI`] slot's state names.
#[inline]
pub(super) fn state_pid(st: u32) -> i32 {
    (st >> 10) as i32
}

/// One semaphore's outcome in a [`W_MULTI`] slot's operation word: its
/// index, new value and (`has_adj`) this process's new adjustment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Outcome {
    pub(super) n: usize,
    pub(super) val: i32,
    pub(super) adj: Option<i16>,
}

/// The tag in an outcome word's top 12 bits (a zeroed or scribbled word is
/// not one).
const OUT_TAG: u64 = 0x3c5;

/// In a [`W_MULTI`] record's outcome word (bit 49, which
/// [`Outcome::pack`] leaves clear): that semaphore's adjustment is
/// *owed* (layout 13) — a settler took the word's release from the
/// claimant stopped between its own [`MULTI_REL`] and its adjustment's
/// store (or from a dead settler that may have taken it from there),
/// stored the adjustment itself (the value the claimant's late store
/// lands) and released the word. Until the claimant, continued, clears
/// it (once no word names its record: [`released_for_me`]), every other
/// writer of that adjustment defers (`undo::owed`), as for a
/// one-operation claimant's [`INTENT_OWED`]; paid by the undo of the
/// dead claimant, by the sweep that frees its record and by a move's
/// copy ([`pay_marks`]).
pub(super) const OUT_OWED: u64 = 1 << 49;

impl Outcome {
    pub(super) fn pack(self) -> u64 {
        (self.n as u64 & 0xffff)
            | ((self.val as u16 as u64) << 16)
            | ((self.adj.unwrap_or(0) as u16 as u64) << 32)
            | ((self.adj.is_some() as u64) << 48)
            | (OUT_TAG << 52)
    }
    fn unpack(w: u64) -> Option<Outcome> {
        (w >> 52 == OUT_TAG).then_some(Outcome {
            n: (w & 0xffff) as usize,
            val: ((w >> 16) as u16 as i32).clamp(0, SEMVMX),
            adj: (w >> 48 & 1 != 0).then_some((w >> 32) as u16 as i16),
        })
    }
}

/// `ops` (two or more) without the lock, when they can be (see the module
/// doc): [`Fast::Done`] performed, [`Fast::Block`] one must wait,
/// [`Fast::Slow`] left to the locked path. The checks come in the
/// general path's order (`EIDRM`, `EFBIG`, `E2BIG`, permission).
#[cold]
#[inline(never)]
pub(super) fn semop_multi_fast(o: &Obj, known: &Known, ops: &[SemOp], d: Deadline) -> Result<Fast> {
    let Some(shape) = known.shape else {
        return Ok(Fast::Slow);
    };
    let v = View::known(o, shape)?;
    if let Some(e) = o.gone() {
        return Err(e);
    }
    // Answered here, in the locked path's order: left to it, such a call
    // waited for the stopped holder it was made beside (t_sem_multi).
    if ops.iter().any(|op| op.num as usize >= v.s.nsems) {
        return Err(Errno::EFBIG);
    }
    if ops.len() > v.s.max_ops {
        return Err(Errno::E2BIG);
    }
    let alter = ops.iter().any(|op| op.op != 0);
    let now = o.check_mine_secs(if alter { 0o2 } else { 0o4 })?;
    if MINE.with(|m| m.get()) != 0 || !enter(o, v.hdr()) {
        return Ok(Fast::Slow);
    }
    let undo = if ops.iter().any(|op| op.flg & SEM_UNDO != 0) {
        match lock_free_undo_slot(&v, known) {
            Some(u) => Some(u),
            None => return Ok(Fast::Slow),
        }
    } else {
        None
    };
    // Counted among this process's lock-free `SEM_UNDO` callers while
    // it may owe an adjustment ([`OUT_OWED`]): the one-operation path of
    // another thread then looks for the mark (`fast::sibling_owes`).
    let _counted = undo.map(|_| fast::MultiUndo::enter());
    let me = my_pid();
    if !(1..1 << 22).contains(&me) {
        return Ok(Fast::Slow);
    }
    // A word another lock-free call claims: waited for with no claim
    // held (every claim put back, the record freed), then tried again.
    let mut cw: Option<fast::ClaimWait> = None;
    let mut tries = 0;
    let r = loop {
        let Some((i, e)) = take_record(&v, undo) else {
            return Ok(Fast::Slow);
        };
        let mut in_way = None;
        let mut stolen = false;
        MINE.with(|m| m.set(i + 1));
        let r = claim_and_apply(&v, i, e, ops, undo, &mut in_way, &mut stolen);
        MINE.with(|m| m.set(0));
        free_wslot(&v, i);
        let r = r?;
        if stolen {
            // Undone by a lock holder that met this call stopped: made
            // again, here (a fresh record) or under the lock.
            if tries < fast::CLAIM_TRIES {
                tries += 1;
                continue;
            }
            return Ok(Fast::Slow);
        }
        match in_way {
            Some((n, w)) if tries < fast::CLAIM_TRIES => {
                tries += 1;
                let nowait = ops.iter().any(|op| op.flg & IPC_NOWAIT != 0);
                let cw = cw.get_or_insert_with(|| fast::ClaimWait::new(d, nowait));
                if !cw.wait(&v, v.sem(n)?, w) {
                    break r;
                }
            }
            _ => break r,
        }
    };
    if let Some(r) = r {
        note_otime(v.hdr(), now);
        // **SeqCst**, after the claims (**SeqCst**): a sleeper that
        // enqueued on one of these words froze it first, so the claim saw
        // its thaw and this load sees it counted.
        if r && v.hdr().waiting.load(Ordering::SeqCst) != 0 {
            grant(o, &v, GRANT_BOUND);
        }
        return Ok(Fast::Done);
    }
    Ok(Fast::Block)
}

/// A free sleeper slot taken as this process's [`W_MULTI`] record (its
/// index and ticket epoch); `None` when none is free (or its page cannot
/// be given storage).
fn take_record(v: &View<'_>, undo: Option<usize>) -> Option<(usize, u32)> {
    let me = Owner::me();
    for i in 0..v.s.nwait {
        v.r.populate(v.s.off_wait() + i * v.s.wsz(), v.s.wsz())
            .ok()?;
        let w = v.wslot(i).ok()?;
        if w.state.load(Ordering::Relaxed) != W_FREE
            || w.state
                .compare_exchange(
                    W_FREE,
                    taken_by(me.pid),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            continue;
        }
        let ticket = v.hdr().ticket.fetch_add(1, Ordering::Relaxed);
        w.result.store(0, Ordering::Relaxed);
        w.nsops.store(0, Ordering::Relaxed);
        w.blocking.store(0, Ordering::Relaxed);
        w.undo
            .store(undo.map_or(-1, |u| u as i32), Ordering::Relaxed);
        w.ticket.store(ticket, Ordering::Relaxed);
        // Start time, then pid (**release**): before any word names the
        // slot, whoever reads a claim finds its claimant here.
        w.owner().claim(me);
        return Some((i, (ticket & 3) as u32));
    }
    // Every slot taken: some may be records of claimants killed holding
    // no word (before their first claim, after their last release),
    // which only a sweep of sleepers used to free — with none queued,
    // never, and this path stayed shut. The next lock holder frees them.
    v.hdr().multi_short.store(1, Ordering::Relaxed);
    None
}

/// Under the lock: when a lock-free multi-operation call found no free
/// sleeper slot ([`SetHdr::multi_short`]), the records whose claimants are
/// gone are finished or undone and freed ([`sweep_multi`], by pid and
/// start time). True when a value changed (then run `update_queue`).
pub(super) fn sweep_short(v: &View<'_>) -> bool {
    if v.hdr().multi_short.load(Ordering::Relaxed) == 0
        || v.hdr().multi_short.swap(0, Ordering::Relaxed) == 0
    {
        return false;
    }
    let used: Vec<usize> = wslots_used(v).collect();
    sweep_multi(v, &used, Check::Full)
}

/// This process's undo slot, found or taken without the lock.
fn lock_free_undo_slot(v: &View<'_>, known: &Known) -> Option<usize> {
    if let Some(u) = known.undo.get() {
        if v.uslot(u).is_ok_and(fast::mine) {
            return Some(u);
        }
    }
    fast::my_slot(v, known)
}

/// Steps 1–4 of the module doc with record `i` (epoch `e`): `Some(woke)`
/// performed (`woke`: a change may let a sleeper go), `None` must wait,
/// `Ok(None)` also when a word could not be claimed (`in_way`: its
/// semaphore and the frozen word found; the caller waits for another
/// lock-free call's claim and tries again, or its [`Fast::Slow`] goes to
/// the locked path, which decides). Every
/// word it touches is found first: nothing fails once a word is claimed
/// but an answer of the operations (`ERANGE`, which puts every claim
/// back), and nothing at all once the call is committed.
fn claim_and_apply(
    v: &View<'_>,
    i: usize,
    e: u32,
    ops: &[SemOp],
    undo: Option<usize>,
    in_way: &mut Option<(usize, SemWord)>,
    stolen: &mut bool,
) -> Result<Option<bool>> {
    let w = v.wslot(i)?;
    let mut sems: Vec<usize> = ops.iter().map(|op| op.num as usize).collect();
    sems.sort_unstable();
    sems.dedup();
    // Each semaphore: its index, word, this process's adjustment for it
    // (with `SEM_UNDO`), the record's word for its outcome.
    let mut at: Vec<(usize, &Sem, Option<&Adj>, &WaitOp)> = Vec::with_capacity(sems.len());
    for (k, &n) in sems.iter().enumerate() {
        let adj = match undo {
            Some(u) => Some(v.adj(u, n)?),
            None => None,
        };
        at.push((n, v.sem(n)?, adj, v.wop(i, k)?));
    }
    // The words as claimed from, in the order of `at`.
    let mut held: Vec<SemWord> = Vec::with_capacity(at.len());
    let put_back = |held: &[SemWord]| {
        for (x, old) in at.iter().zip(held) {
            // As it was (without PARKED: the sleeper it marked was woken
            // before the claim), unless a lock holder that met this call
            // stopped put it back already ([`steal`]): a compare-and-swap
            // from the claim.
            let _ = x.1.word.compare_exchange(
                old.claim_multi(i, e).0,
                old.0 & !PARKED,
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
    };
    // Before an answer decided on the claimed values: they were all held
    // at once only if no lock holder undid the call meanwhile (its
    // `MULTI_ABORT` stays until the record is freed). Undone: made again.
    let undone = |stolen: &mut bool| {
        let gone = w.result.load(Ordering::SeqCst) != 0;
        *stolen |= gone;
        gone
    };
    for &(n, s, _, _) in &at {
        let mut cur = s.load();
        let mut got = false;
        for _ in 0..64 {
            if cur.frozen() {
                *in_way = Some((n, cur));
                break;
            }
            if cur.parked() {
                prewake(v);
            }
            // **SeqCst**: as the one-operation path's compare-and-swap.
            match s.word.compare_exchange_weak(
                cur.0,
                cur.claim_multi(i, e).0,
                Ordering::SeqCst,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    got = true;
                    break;
                }
                Err(x) => cur = SemWord(x),
            }
        }
        if !got {
            put_back(&held);
            undone(stolen);
            return Ok(None);
        }
        held.push(cur);
        if held.len() == 1 {
            pause(1);
        }
    }
    pause(2);
    // Every word held (**SeqCst**, after the claims): a reading without
    // the lock that began before this sees the number move, one that
    // began after sees the claims ([`all_as_they_stand`]).
    v.hdr().multi_gen.fetch_add(1, Ordering::SeqCst);
    // An adjustment another thread of this process owes for one of them
    // (`undo::owed`): not read before that thread's store; made again.
    if let Some(u) = undo.filter(|_| v.hdr().owed.load(Ordering::Relaxed) != 0) {
        if ops
            .iter()
            .any(|op| op.flg & SEM_UNDO != 0 && undo::owed(v, u, op.num as usize, NREC).is_some())
        {
            put_back(&held);
            undone(stolen);
            *stolen = true;
            return Ok(None);
        }
    }
    let k_of = |n: usize| at.iter().position(|x| x.0 == n).unwrap_or(0);
    let mut txn = Txn::default();
    let mut woke = false;
    for op in ops {
        let n = op.num as usize;
        let k = k_of(n);
        let cur = txn.lookup(E_VAL, n).unwrap_or_else(|| held[k].val());
        if !can_go(cur, op.op) {
            put_back(&held);
            undone(stolen);
            return Ok(None);
        }
        if op.op == 0 {
            continue;
        }
        let r = cur + op.op as i32;
        if r > SEMVMX {
            put_back(&held);
            if undone(stolen) {
                return Ok(None);
            }
            return Err(Errno::ERANGE);
        }
        woke |= may_wake(op.op, r);
        if op.flg & SEM_UNDO != 0 {
            let Some(adj) = at[k].2 else {
                put_back(&held);
                if undone(stolen) {
                    return Ok(None);
                }
                return Err(Errno::EIO);
            };
            let a = match txn.lookup(E_ADJ, n) {
                Some(x) => x,
                None => adj.load(Ordering::Relaxed) as i32,
            } - op.op as i32;
            if !(-SEMAEM - 1..=SEMAEM).contains(&a) {
                put_back(&held);
                if undone(stolen) {
                    return Ok(None);
                }
                return Err(Errno::ERANGE);
            }
            txn.push(ent(E_ADJ, n, a));
        }
        txn.push(ent(E_VAL, n, r));
    }
    // Step 3: the outcomes, then the commit.
    let outs: Vec<Outcome> = at
        .iter()
        .zip(&held)
        .map(|(x, old)| Outcome {
            n: x.0,
            val: txn.lookup(E_VAL, x.0).unwrap_or(old.val()),
            // An adjustment the call leaves as it was is not stored (its
            // word released at once): a stored one differs from before,
            // so that finding it in the slot proves the owner of the
            // word's release stored it ([`release_word`]).
            adj: txn
                .lookup(E_ADJ, x.0)
                .map(|a| a as i16)
                .filter(|&a| x.2.map_or(true, |adj| adj.load(Ordering::Relaxed) != a)),
        })
        .collect();
    for (x, out) in at.iter().zip(&outs) {
        x.3.store(out.pack(), Ordering::Relaxed);
    }
    w.nsops.store(outs.len() as u32, Ordering::Relaxed);
    // The commit: from 0, unless a lock holder that met this call stopped
    // undid it first (`MULTI_ABORT`: it puts the claims back; made again).
    if w.result
        .compare_exchange(0, MULTI_COMMIT, Ordering::AcqRel, Ordering::Relaxed)
        .is_err()
    {
        put_back(&held);
        *stolen = true;
        return Ok(None);
    }
    pause(3);
    // Step 4: each word released by compare-and-swap from the claim
    // ([`release_word`]): a lock holder that met this call stopped may
    // have released it already, with the same outcome.
    let me = my_pid();
    let mut helped = false;
    for (k, ((x, out), old)) in at.iter().zip(&outs).zip(&held).enumerate() {
        if k == 1 {
            pause(4);
        }
        helped |= !release_mine(x.1, old.claim_multi(i, e), *out, me, x.2);
    }
    // A word released for this call, or whose release another process
    // owns (a settler that met this call stopped): the owed marks it left
    // cleared once no word names the record (then the grants they made
    // skip this process's sleepers no more).
    if helped {
        woke |= released_for_me(v, i, e, &at, &outs);
    }
    v.o.note_peer();
    Ok(Some(woke))
}

/// The claimant of record `i` (epoch `e`), continued after a settler met
/// it stopped: waits until no word names the record (a word whose
/// release another process owns: its owner's last step; a dead owner's
/// taken over: [`release_word`]), then clears the owed marks the
/// settlers left on its outcomes ([`OUT_OWED`]: this claimant's late
/// stores are made by now). True when one was cleared.
#[cold]
#[inline(never)]
fn released_for_me(
    v: &View<'_>,
    i: usize,
    e: u32,
    at: &[(usize, &Sem, Option<&Adj>, &WaitOp)],
    outs: &[Outcome],
) -> bool {
    let me = my_pid();
    let by = By {
        v,
        i,
        e,
        pid: me,
        me,
        lives: false,
    };
    let mut naps = 0u32;
    loop {
        let mut busy = false;
        for (x, out) in at.iter().zip(outs) {
            busy |= !release_word(&by, x.1, *out, x.2, x.3);
        }
        if !busy {
            break;
        }
        naps += 1;
        if naps < 20 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
    at.iter().fold(false, |any, x| clear_mark(v, x.3) | any)
}

/// Clears the owed mark of outcome word `x` ([`OUT_OWED`]) and, when this
/// call cleared it, lowers the set's count of marks (after). True when
/// it did.
pub(super) fn clear_mark(v: &View<'_>, x: &WaitOp) -> bool {
    if x.load(Ordering::Acquire) & OUT_OWED == 0 {
        return false;
    }
    let was = x.fetch_and(!OUT_OWED, Ordering::AcqRel);
    if was & OUT_OWED == 0 {
        return false;
    }
    undo::lower_owed(v);
    true
}

/// Pays the owed marks of [`W_MULTI`] record `i` (for semaphore `n`; all
/// with `None`) whose claimant can no longer store (gone; or a move's
/// copy, while its store lands in the old file): the outcome's
/// adjustment stored (the value the settler stored, which nobody wrote
/// since) into the record's undo slot while it is still the claimant's,
/// then the mark cleared.
pub(super) fn pay_marks(v: &View<'_>, i: usize, n: Option<usize>) {
    let Ok(w) = v.wslot(i) else { return };
    let u = w.undo.load(Ordering::Relaxed);
    let own = u >= 0
        && v.uslot(u as usize)
            .is_ok_and(|us| us.owner().load() == w.owner().load());
    for k in 0..v.s.max_ops {
        let Ok(x) = v.wop(i, k) else { break };
        let raw = x.load(Ordering::Acquire);
        if raw & OUT_OWED == 0 {
            continue;
        }
        let out = Outcome::unpack(raw);
        if n.is_some_and(|n| out.is_some_and(|o| o.n != n)) {
            continue;
        }
        if let Some(Outcome {
            n, adj: Some(a), ..
        }) = out.filter(|_| own)
        {
            if let Ok(adj) = v.adj(u as usize, n) {
                adj.store(a, Ordering::Release);
            }
        }
        clear_mark(v, x);
    }
}

/// The [`W_MULTI`] record whose claimant owes the adjustment of undo slot
/// `u` (owned by `who`) for semaphore `n` ([`OUT_OWED`]), if any (a
/// record of another owner — a dead claimant whose slot was taken anew —
/// is not looked at). Scans the records in use: only when the set's
/// count of marks is not 0 (`undo::owed`).
pub(super) fn owed_by(
    v: &View<'_>,
    u: usize,
    who: crate::sync::owner::Owner,
    n: usize,
) -> Option<usize> {
    wslots_used(v).find(|&i| {
        let Ok(w) = v.wslot(i) else { return false };
        w.state.load(Ordering::Acquire) & 0xff == W_MULTI
            && w.undo.load(Ordering::Relaxed) == u as i32
            && w.owner().load() == who
            && (0..(w.nsops.load(Ordering::Relaxed) as usize).min(v.s.max_ops)).any(|k| {
                v.wop(i, k).is_ok_and(|x| {
                    let raw = x.load(Ordering::Acquire);
                    raw & OUT_OWED != 0 && Outcome::unpack(raw).is_some_and(|o| o.n == n)
                })
            })
    })
}

/// Pays the owed marks of the [`W_MULTI`] records that name undo slot
/// `u` (owned by `who`, gone) for semaphore `n` (all with `None`).
pub(super) fn pay_owed_in(
    v: &View<'_>,
    u: usize,
    who: crate::sync::owner::Owner,
    n: Option<usize>,
) {
    for i in wslots_used(v).collect::<Vec<_>>() {
        let Ok(w) = v.wslot(i) else { continue };
        if w.state.load(Ordering::Acquire) & 0xff == W_MULTI
            && w.undo.load(Ordering::Relaxed) == u as i32
            && w.owner().load() == who
        {
            pay_marks(v, i, n);
        }
    }
}

/// Whether this thread is inside the claims of record `i` (a signal
/// handler's call met its mark: waiting would never end).
pub(super) fn claiming(i: usize) -> bool {
    MINE.with(|m| m.get()) == i + 1
}

/// Unit tests: the step of a multi-operation call at which its claimant
/// stops itself (SIGSTOP, once), 0 for none: 1 after its first claim, 2 after
/// every claim, 3 after its commit, 4 after its first word's release, 5
/// inside a word's release, between its owning and its adjustment's store,
/// 6 inside it, after the adjustment's store. The one-operation
/// `SEM_UNDO` path (`fast::claim_op`): 10 after its claim, 11 after its record, 12
/// after its commit, 13 after its adjustment's store; a settler
/// (`undo::steal_one`) 14 between its mark and the adjustment's store.
#[cfg(test)]
pub(super) static PAUSE_AT: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

#[inline(always)]
pub(super) fn pause(_n: u32) {
    #[cfg(test)]
    if PAUSE_AT.load(Ordering::Relaxed) == _n
        && PAUSE_AT
            .compare_exchange(_n, 0, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        // SAFETY: stops this (test child) process, as SIGSTOP would (once).
        unsafe { libc::raise(libc::SIGSTOP) };
    }
}

/// The claimant's release of word `s` (its claim `claim`) with outcome
/// `out`, inline: true when its own compare-and-swaps made it (the word
/// its release, the adjustment, the outcome); false when the word was
/// released for it, or its release taken over by a settler that met it
/// stopped: then [`released_for_me`].
#[inline(always)]
fn release_mine(s: &Sem, claim: SemWord, out: Outcome, me: i32, adj: Option<&Adj>) -> bool {
    let done = SemWord::new(out.val, me);
    match (out.adj, adj) {
        (Some(a), Some(adj)) => {
            if s.word
                .compare_exchange(
                    claim.0,
                    claim.rel_by(me).0,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                pause(5);
                adj.store(a, Ordering::Release);
                pause(6);
                // A compare-and-swap: whoever finds the adjustment stored
                // may have made it first ([`release_word`]: the same), and
                // a settler that met this claimant stopped before the
                // store took the word and left the adjustment owed.
                return s
                    .word
                    .compare_exchange(
                        claim.rel_by(me).0,
                        done.0,
                        Ordering::Release,
                        Ordering::Relaxed,
                    )
                    .is_ok();
            }
        }
        _ => {
            if s.word
                .compare_exchange(claim.0, done.0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return true;
            }
        }
    }
    false
}

/// Whose release [`release_word`] makes: the committed call of record
/// `i` (epoch `e`) of claimant `pid`, by process `me`; `lives`: the
/// claimant lives (a settler that met it stopped), so that a release
/// taken from it — or from a dead settler, which may have taken it from
/// there — leaves the adjustment owed ([`OUT_OWED`]).
pub(super) struct By<'a, 'v> {
    pub(super) v: &'a View<'v>,
    pub(super) i: usize,
    pub(super) e: u32,
    pub(super) pid: i32,
    pub(super) me: i32,
    pub(super) lives: bool,
}

/// Releases semaphore word `s`, claimed for the committed call `by`
/// names, with its outcome `out` (the adjustment into `adj`, the
/// claimant's own undo slot's, when given; `rec`: the record's outcome
/// word for it): the claim becomes `by.me`'s release by compare-and-swap
/// when there is an adjustment to store (then the adjustment, then the
/// outcome: nobody else writes either while `me` owns the word), else
/// the outcome directly. Another's release ([`MULTI_REL`]) is completed
/// when only its last compare-and-swap is left (the claimant's once its
/// adjustment is stored; a settler's once its owed mark is made, when it
/// took the release from an owner that may still store —
/// [`MULTI_OWING`] —, else once its adjustment is stored), taken over
/// when its owner is dead, and, by a settler, from the claimant stopped
/// before its store: the adjustment then stored here and left owed
/// ([`OUT_OWED`]: the claimant's late store lands the same value, and
/// every other writer defers until it clears the mark). True when the
/// word no longer names the record (released now, or by another before);
/// false when another live process owns its release.
#[cold]
#[inline(never)]
pub(super) fn release_word(
    by: &By<'_, '_>,
    s: &Sem,
    out: Outcome,
    adj: Option<&Adj>,
    rec: &WaitOp,
) -> bool {
    let (i, e, pid, me) = (by.i, by.e, by.pid, by.me);
    let done = SemWord::new(out.val, pid);
    let mut cur = s.load();
    loop {
        if !cur.names(i, e) {
            return true;
        }
        // Taken from an owner that may still store (the adjustment then
        // owed: [`OUT_OWED`]).
        let mut owes = false;
        if cur.rel() {
            let owner = cur.pid();
            let last = match (out.adj, adj) {
                // Only the owner's last compare-and-swap left, made here
                // (the same outcome): its adjustment stored (the call
                // changes it, and nobody else writes it while the word
                // is owned) — but a settler's taken from an owner that
                // may still store, whose adjustment found stored may be
                // that late store: once its mark is made (after its own).
                (Some(a), Some(adj)) if !cur.owing() || owner == pid => {
                    adj.load(Ordering::Acquire) == a
                }
                _ if cur.owing() => rec.load(Ordering::Acquire) & OUT_OWED != 0,
                _ => false,
            };
            if last {
                match s
                    .word
                    .compare_exchange(cur.0, done.0, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => return true,
                    Err(x) => {
                        cur = SemWord(x);
                        continue;
                    }
                }
            }
            if owner == me {
                return false;
            }
            match crate::os::proc::liveness_and_stopped(owner, 0) {
                // A dead owner's release taken over: owed when the
                // claimant lives and the owner was a settler (it may have
                // taken the release from the claimant's window).
                (crate::os::proc::Liveness::Dead, _) => owes = by.lives && owner != pid,
                // The claimant stopped between its release and its
                // adjustment's store: taken by a settler, owed.
                (_, true) if owner == pid && by.lives && me != pid => owes = true,
                _ => return false,
            }
        }
        let (to, owned) = match (out.adj, adj) {
            (Some(_), Some(_)) if owes => (SemWord(cur.rel_by(me).0 | MULTI_OWING), true),
            (Some(_), Some(_)) => (cur.rel_by(me), true),
            _ => (done, false),
        };
        match s
            .word
            .compare_exchange(cur.0, to.0, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {
                if owned {
                    pause(5);
                    if let (Some(a), Some(adj)) = (out.adj, adj) {
                        adj.store(a, Ordering::Release);
                    }
                    if owes {
                        owe(by.v, rec);
                    }
                    let _ =
                        s.word
                            .compare_exchange(to.0, done.0, Ordering::Release, Ordering::Relaxed);
                }
                return true;
            }
            Err(x) => cur = SemWord(x),
        }
    }
}

/// Marks outcome word `rec` owed ([`OUT_OWED`]), after the settler's
/// store of its adjustment and before the word's release: the set's
/// count of marks raised first (**SeqCst**: a writer that reads it 0
/// after freezing the word finds no mark), lowered again when the mark
/// was there already.
#[cold]
fn owe(v: &View<'_>, rec: &WaitOp) {
    let h = &v.hdr().owed;
    h.fetch_add(1, Ordering::SeqCst);
    if rec.fetch_or(OUT_OWED, Ordering::SeqCst) & OUT_OWED != 0 {
        undo::lower_owed(v);
    }
}

/// The lock holder froze a word and found it claimed by a multi-operation
/// `semop` (`w`, [`MULTI`]): `Some(Ok)` when its claimant is gone and its
/// call was finished or undone ([`finish_multi`]), or the claim named no
/// such record (a scribble: the word put back), or the claimant is
/// stopped and its call was finished or undone in its place ([`steal`]);
/// `Some(Err(EBUSY))` when the claimant is this very thread, or the
/// word's release is owned by a stopped settler that has not stored (or
/// marked) yet ([`MULTI_REL`]: a few instructions' window; the
/// claimant's own, stopped before its store, is taken, the adjustment
/// left owed: [`OUT_OWED`]); `None`: a live claimant, to wait for.
pub(super) fn settle_multi(v: &View<'_>, n: usize, w: SemWord) -> Option<Result<()>> {
    let i = w.multi_slot();
    let slot = v.wslot(i).ok();
    let rec = slot.filter(|s| {
        let st = s.state.load(Ordering::Acquire);
        st & 0xff == W_MULTI && s.ticket.load(Ordering::Relaxed) & 3 == w.epoch() as u64
    });
    let Some(s) = rec else {
        // No record of this claim: not one a claimant made.
        if let Ok(x) = v.sem(n) {
            let _ =
                x.word
                    .compare_exchange(w.0, w.unclaimed().0, Ordering::AcqRel, Ordering::Acquire);
        }
        return Some(Ok(()));
    };
    let st = s.state.load(Ordering::Acquire);
    let o = s.owner().load();
    // The word still the claim's after the record was read (**acquire**
    // each): the record is the claim's (a claimant frees its record only
    // after no word names it). Released meanwhile — its record maybe
    // freed and taken again by another claimant, not yet recorded
    // (owner pid 0, which would read as dead) — nothing to settle.
    if v.peek(n).ok() != Some(w) {
        return Some(Ok(()));
    }
    if o.is_me() && MINE.with(|m| m.get()) == i + 1 {
        undo::note_own_claim();
        return Some(Err(Errno::EBUSY));
    }
    if o.is_me() {
        return None; // another thread of this process: it goes on
    }
    match crate::os::proc::liveness_and_stopped(o.pid, o.start) {
        (crate::os::proc::Liveness::Dead, _) => {
            finish_multi(v, i, st);
            Some(Ok(()))
        }
        (_, true) => {
            // Stopped: its call finished or undone in its place; it
            // learns which from its own compare-and-swaps once continued.
            steal(v, i, w.epoch(), o.pid, true);
            match v.peek(n) {
                Ok(x) if x.names(i, w.epoch()) => Some(Err(Errno::EBUSY)),
                _ => Some(Ok(())),
            }
        }
        _ => None,
    }
}

/// Decides the call recorded in [`W_MULTI`] slot `i` (epoch `e`, claimant
/// `pid`) in its claimant's place: its `result` from 0 to
/// [`MULTI_ABORT`] by compare-and-swap (against the claimant's commit),
/// then a committed call's words released with their outcomes
/// ([`release_word`], adjustments into the claimant's undo slot while it
/// is its own), an undone one's put back as they were. The lock holder
/// only (or a mover). Returns whether the call was committed, and whether
/// a word still names the record (its release owned by another live
/// process: the record must stay).
pub(super) fn steal(v: &View<'_>, i: usize, e: u32, pid: i32, lives: bool) -> (bool, bool) {
    let Ok(w) = v.wslot(i) else {
        return (false, false);
    };
    let r = match w
        .result
        .compare_exchange(0, MULTI_ABORT, Ordering::AcqRel, Ordering::Acquire)
    {
        Ok(_) => MULTI_ABORT,
        Err(x) => x,
    };
    let committed = r == MULTI_COMMIT;
    let by = By {
        v,
        i,
        e,
        pid,
        me: my_pid(),
        lives,
    };
    let mut busy = false;
    if committed {
        let u = w.undo.load(Ordering::Relaxed);
        let own = u >= 0
            && v.uslot(u as usize)
                .is_ok_and(|us| us.pid.load(Ordering::Acquire) == pid);
        let k_max = (w.nsops.load(Ordering::Relaxed) as usize).min(v.s.max_ops);
        for k in 0..k_max {
            let Ok(x) = v.wop(i, k) else { continue };
            let Some(out) = Outcome::unpack(x.load(Ordering::Relaxed)) else {
                continue;
            };
            let Ok(s) = v.sem(out.n) else { continue };
            let adj = if own {
                v.adj(u as usize, out.n).ok()
            } else {
                None
            };
            busy |= !release_word(&by, s, out, adj, x);
        }
    }
    // Not committed (or a scribbled record): every word it still claims
    // back as it was (a word whose release is owned is a committed
    // call's: left to its owner).
    for n in 0..v.s.nsems {
        let Ok(s) = v.sem(n) else { continue };
        let cur = s.load();
        if cur.names(i, e) && !cur.rel() {
            let _ = s.word.compare_exchange(
                cur.0,
                cur.unclaimed().0,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
        busy |= s.load().names(i, e);
    }
    (committed, busy)
}

/// Finishes (committed) or undoes (not) the multi-operation `semop`
/// recorded in [`W_MULTI`] slot `i`, whose claimant is gone, and frees
/// the slot ([`steal`]; a slot a word still names, its release owned by
/// a live process, is left for a later sweep); the lock holder only (see
/// the module doc). `seen`: the slot's state when its claimant was judged
/// gone — a slot in another state since (its live claimant freed it, and
/// another took it) is left alone. (Once gone, a claimant frees nothing:
/// the slot stays as seen.)
pub(super) fn finish_multi(v: &View<'_>, i: usize, seen: u32) {
    let Ok(w) = v.wslot(i) else { return };
    let st = w.state.load(Ordering::Acquire);
    if st & 0xff != W_MULTI || st != seen {
        return;
    }
    let e = (w.ticket.load(Ordering::Relaxed) & 3) as u32;
    let owner = w.owner().load();
    let pid = if owner.pid != 0 {
        owner.pid
    } else {
        state_pid(st)
    };
    let (committed, busy) = steal(v, i, e, pid, false);
    crate::debug_report!(
        "semaphore set {}: a lock-free multi-operation semop of dead pid {} {}",
        v.o.id,
        pid,
        if committed { "finished" } else { "undone" }
    );
    if !busy {
        // Its owed marks paid (its late stores will never land) before
        // the record is freed.
        pay_marks(v, i, None);
        free_wslot(v, i);
    }
}

/// Under the lock: the multi-operation calls of process `pid` (gone) with
/// undo slot `u` that still claim words, finished or undone (before its
/// undo is applied: [`undo::release_undo`]). True when any was.
pub(super) fn finish_multi_of(v: &View<'_>, u: usize, pid: i32) -> bool {
    let mut any = false;
    for n in 0..v.s.nsems {
        let Ok(w) = v.peek(n) else { continue };
        if !w.multi() {
            continue;
        }
        let i = w.multi_slot();
        let Ok(s) = v.wslot(i) else { continue };
        let st = s.state.load(Ordering::Acquire);
        if st & 0xff == W_MULTI
            && s.undo.load(Ordering::Relaxed) == u as i32
            && s.owner().load().pid == pid
        {
            finish_multi(v, i, st);
            any = true;
        }
    }
    any
}

/// Under the lock: the [`W_MULTI`] records among `used` whose claimants
/// are gone (by `check`), finished or undone and freed. True when any
/// was.
pub(super) fn sweep_multi(v: &View<'_>, used: &[usize], check: Check) -> bool {
    let mut any = false;
    for &i in used {
        let Ok(w) = v.wslot(i) else { continue };
        let st = w.state.load(Ordering::Acquire);
        if st & 0xff != W_MULTI {
            continue;
        }
        let o = w.owner().load();
        let gone = if o.pid == state_pid(st) {
            o.gone(check)
        } else {
            // Killed before it recorded itself: its pid alone.
            !crate::os::proc::pid_exists(state_pid(st))
        };
        if gone {
            finish_multi(v, i, st);
            any = true;
        }
    }
    any
}

/// Semaphore `n`'s value as it stands, read without waiting for a claim:
/// a word a multi-operation `semop` claims reads as its outcome once the
/// call committed, as it was before (what the claim kept) otherwise — so
/// that its words read together never show the call half done.
pub(super) fn as_it_stands(v: &View<'_>, n: usize) -> Result<i32> {
    // A committed journal being applied (its holder stopped or killed
    // in the middle: see [`Journal`]) gives the value it writes.
    for _ in 0..READS {
        let j = Journal::read(v);
        let (val, _) = standing(v, n)?;
        let val = j.value(n).unwrap_or(val);
        if Journal::read(v) == j {
            return Ok(val);
        }
        std::thread::yield_now();
    }
    Ok(standing(v, n)?.0)
}

/// The committed journal of a set, as a lock-free reading sees it: the
/// value its entries give each semaphore they write (the last entry's),
/// while `jstate` says one is committed (1, or sealed over one:
/// [`fence::J_SEALED_DONE`]). A holder applies such a journal entry by
/// entry, into words it froze: one stopped (or killed, and its lock's
/// taker stopped before it replays) between two entries leaves some
/// words with the call's outcome and others without, or a semaphore the
/// call names twice ({+1} … {-1}) at the value between its two
/// operations — which a reading without the lock (`GETVAL`, `GETALL`
/// beside a stopped holder) showed: `t_sem_multi`, a `GETALL` with Z at
/// 1 once in about 80 runs. The reading takes each such semaphore's value
/// from the journal, where the apply writes it (absolute values: applied
/// or not, the outcome is the entry's). Read before and after the words:
/// equal twice, the journal was the same committed one throughout (or
/// one with the same outcomes).
#[derive(PartialEq, Eq)]
pub(super) struct Journal {
    state: u32,
    entries: Vec<u64>,
}

impl Journal {
    pub(super) fn read(v: &View<'_>) -> Journal {
        let h = v.hdr();
        let state = h.jstate.load(Ordering::Acquire);
        let mut entries = Vec::new();
        if state == 1 || state == fence::J_SEALED_DONE {
            let n = (h.jcount.load(Ordering::Relaxed) as usize).min(v.s.jcap());
            entries.extend((0..n).filter_map(|k| Some(v.jent(k).ok()?.load(Ordering::Relaxed))));
        }
        Journal { state, entries }
    }

    /// The value the journal gives semaphore `n`, if it writes it.
    pub(super) fn value(&self, n: usize) -> Option<i32> {
        self.entries.iter().rev().find_map(|&e| {
            let (kind, idx, val) = unent(e);
            let val = val.clamp(0, SEMVMX);
            match kind {
                E_VAL if idx == n => Some(val),
                E_SET if idx & !SET_NO_UNDO == n => Some(val),
                _ => None,
            }
        })
    }
}

/// Semaphore `n`'s last pid as it stands (`GETPID`), with its value
/// ([`as_it_stands`]): a word a committed multi-operation `semop` still
/// claims names its claimant (the claim keeps the pid before it).
pub(super) fn pid_as_it_stands(v: &View<'_>, n: usize) -> Result<i32> {
    let w = v.peek(n)?;
    if w.urel() {
        // A one-operation claim's release owned (perhaps by a settler):
        // the last pid is its claimant's, the slot's owner.
        return Ok(v.uslot(w.claimant().0)?.pid.load(Ordering::Acquire));
    }
    if !w.multi() {
        return Ok(w.pid());
    }
    let Some(s) = committed(v, w) else {
        return Ok(w.pid());
    };
    let st = s.state.load(Ordering::Acquire);
    let pid = match s.owner().load().pid {
        0 => state_pid(st),
        p => p,
    };
    // Still the claim's (the record read is its own); moved on: as now.
    let now = v.peek(n)?;
    Ok(if now == w { pid } else { now.pid() })
}

/// Whether the [`W_MULTI`] record a claim `w` names has committed.
fn committed<'a>(v: &View<'a>, w: SemWord) -> Option<&'a WaitHdr> {
    v.wslot(w.multi_slot()).ok().filter(|s| {
        s.state.load(Ordering::Acquire) & 0xff == W_MULTI
            && s.ticket.load(Ordering::Relaxed) & 3 == w.epoch() as u64
            && s.result.load(Ordering::Acquire) == MULTI_COMMIT
    })
}

/// [`as_it_stands`], and the claim it read the value from when that was
/// a multi-operation `semop`'s not committed then (its call may commit
/// after this reading: [`all_as_they_stand`] looks again).
fn standing(v: &View<'_>, n: usize) -> Result<(i32, Option<SemWord>)> {
    let w = v.peek(n)?;
    if !w.multi() {
        return Ok((w.val(), None));
    }
    let i = w.multi_slot();
    let Some(s) = committed(v, w) else {
        return Ok((w.val(), Some(w)));
    };
    let k_max = (s.nsops.load(Ordering::Relaxed) as usize).min(v.s.max_ops);
    let out = (0..k_max)
        .filter_map(|k| Outcome::unpack(v.wop(i, k).ok()?.load(Ordering::Relaxed)))
        .find(|o| o.n == n);
    // The word still the claim's: the outcome read belongs to it (the
    // slot is not reused while a word names it). Moved on: released with
    // that outcome, or claimed again from it (by a call not known to be
    // committed).
    let now = v.peek(n)?;
    if now != w {
        return Ok((now.val(), now.multi().then_some(now)));
    }
    Ok((out.map_or(w.val(), |o| o.val), None))
}

/// Readings [`all_as_they_stand`] makes at most.
const READS: usize = 64;

/// Every semaphore's value as it stands, without the lock (`GETALL` when
/// it cannot be had: a holder stopped), one moment's reading as far as
/// multi-operation `semop`s go: read again until no such call committed
/// while the values were read — the claims' number
/// ([`SetHdr::multi_gen`]) did not move, and each word read from a claim
/// not committed is still that claim's, still not committed. (Each value
/// read alone could show a call's first word before it and its second
/// after it: `t_sem_multi`.) After [`READS`] readings that each saw a
/// call commit, the last one.
pub(super) fn all_as_they_stand(v: &View<'_>) -> Result<Vec<u16>> {
    let h = v.hdr();
    let mut vals = vec![0u16; v.s.nsems];
    let mut open = Vec::new();
    for round in 0..READS {
        if round >= 2 {
            std::thread::yield_now();
        }
        let g = h.multi_gen.load(Ordering::SeqCst);
        let j = Journal::read(v);
        open.clear();
        for (n, x) in vals.iter_mut().enumerate() {
            let (val, claim) = standing(v, n)?;
            *x = j.value(n).unwrap_or(val) as u16;
            if let Some(w) = claim {
                open.push((n, w));
            }
        }
        if h.multi_gen.load(Ordering::SeqCst) == g
            && Journal::read(v) == j
            && open
                .iter()
                .all(|&(n, w)| v.peek(n).is_ok_and(|x| x == w) && committed(v, w).is_none())
        {
            break;
        }
    }
    Ok(vals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sem::undo::sweep_with;

    fn op(num: u16, op: i16, flg: i16) -> SemOp {
        SemOp { num, op, flg }
    }

    use crate::sem::fence::tests::SharedWords as Shared;

    fn wait_status(pid: i32, flags: i32) -> i32 {
        let mut st = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut st, flags) };
        st
    }

    /// The claimant's call (semaphores 0..=3; 0 and 2 with `SEM_UNDO`).
    const CALL: [SemOp; 4] = [
        SemOp {
            num: 0,
            op: -1,
            flg: SEM_UNDO,
        },
        SemOp {
            num: 1,
            op: 1,
            flg: 0,
        },
        SemOp {
            num: 2,
            op: 2,
            flg: SEM_UNDO,
        },
        SemOp {
            num: 3,
            op: -1,
            flg: 0,
        },
    ];

    /// A set of five semaphores (5 each), used once without the lock
    /// (holders freeze from now on).
    fn lock_free_set(ns: &crate::ns::Ns) -> std::sync::Arc<Obj> {
        let o = get(ns, 0, 5, crate::ns::IPC_CREAT | 0o600, &[5, 5, 5, 5, 5]).unwrap();
        semop(&o, &[op(4, 1, 0)], Wait::Forever, Errno::EAGAIN).unwrap();
        semop(&o, &[op(4, -1, 0)], Wait::Forever, Errno::EAGAIN).unwrap();
        View::new(&o)
            .unwrap()
            .hdr()
            .lockfree
            .store(2, Ordering::SeqCst);
        o
    }

    /// A holder stopped in the middle of applying its committed journal:
    /// the call {0 +1} {1 +1} {0 -1} (entries 0 → 6, 1 → 6, 0 → 5), its
    /// first entry applied. A reading without the lock (`GETVAL`,
    /// `GETALL`: the holder is stopped) shows the call's outcome, 5 and 6,
    /// not the value between (6 and 5, which it showed before: a reading
    /// of the words as they stand); the holder continued, the same.
    #[test]
    fn a_reading_beside_a_holder_stopped_in_its_apply_shows_the_outcome() {
        let t = crate::sem::tests::tmp_ns("mid-apply");
        let o = lock_free_set(&t.1);
        let sh = Shared::new();
        // SAFETY: the child holds the set's lock, commits a journal and
        // applies its first entry, waits to be told to go on, applies the
        // rest, lets go, exits.
        let h = unsafe { libc::fork() };
        if h == 0 {
            let g = lock_by(&o, &Deadline::NEVER).unwrap();
            let v = View::new(&o).unwrap();
            v.freeze(0).unwrap();
            v.freeze(1).unwrap();
            let entries = [ent(E_VAL, 0, 6), ent(E_VAL, 1, 6), ent(E_VAL, 0, 5)];
            for (k, e) in entries.iter().enumerate() {
                v.jent(k).unwrap().store(*e, Ordering::Relaxed);
            }
            v.hdr().jcount.store(3, Ordering::Relaxed);
            v.hdr().jstate.store(1, Ordering::Release);
            apply(&v, entries[0]).unwrap();
            sh.at(0).store(1, Ordering::SeqCst);
            while sh.at(1).load(Ordering::SeqCst) == 0 {
                core::hint::spin_loop();
            }
            for e in &entries[1..] {
                apply(&v, *e).unwrap();
            }
            v.hdr().jstate.store(0, Ordering::Release);
            thaw_set(&o);
            let ok = g.release();
            // SAFETY: ending the test child.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        while sh.at(0).load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        crate::sync::fence::tests::stop(h);
        let v = View::new(&o).unwrap();
        assert_eq!(
            (v.peek(0).unwrap().val(), v.peek(1).unwrap().val()),
            (6, 5),
            "the words stand between the call's operations"
        );
        assert_eq!((getval(&o, 0).unwrap(), getval(&o, 1).unwrap()), (5, 6));
        assert_eq!(getall(&o).unwrap()[..2], [5, 6]);
        sh.at(1).store(1, Ordering::SeqCst);
        // SAFETY: continuing our own child.
        unsafe { libc::kill(h, libc::SIGCONT) };
        let st = wait_status(h, 0);
        assert!(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0, "{st:#x}");
        assert_eq!(getall(&o).unwrap()[..2], [5, 6]);
        remove(&t.1, &o).unwrap();
    }

    /// With the set fence: a child holding the set's lock, semaphore 4
    /// frozen, stopped (seen so); continued by [`end_holder`], it writes,
    /// lets go and exits. Its pid.
    fn stopped_holder(o: &Obj, sh: &Shared) -> i32 {
        // SAFETY: the child holds the set's lock, freezes a word, waits
        // to be told to go on, writes, lets go, exits.
        let h = unsafe { libc::fork() };
        if h == 0 {
            let g = lock_by(o, &Deadline::NEVER).unwrap();
            let v = View::new(o).unwrap();
            let w = v.freeze(4).unwrap();
            sh.at(10).store(1, Ordering::SeqCst);
            while sh.at(11).load(Ordering::SeqCst) == 0 {
                core::hint::spin_loop();
            }
            let _ = v.sem(4).unwrap().put(o, w.val() + 10, my_pid());
            let _ = g.release();
            // SAFETY: ending the test child.
            unsafe { libc::_exit(0) };
        }
        while sh.at(10).load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        crate::sync::fence::tests::stop(h);
        h
    }

    /// [`stopped_holder`] `h` continued, and gone.
    fn end_holder(h: i32, sh: &Shared, what: &str) {
        sh.at(11).store(1, Ordering::SeqCst);
        // SAFETY: continuing our own child.
        unsafe { libc::kill(h, libc::SIGCONT) };
        let st = wait_status(h, 0);
        assert!(libc::WIFEXITED(st), "{what}: holder {st:#x}");
    }

    /// Waits (5 s at most) for the claimant's answer in word 0 of `sh`.
    fn wait_answer(sh: &Shared, what: &str) {
        let t1 = std::time::Instant::now();
        while sh.at(0).load(Ordering::SeqCst) == 0 {
            assert!(
                t1.elapsed() < Duration::from_secs(5),
                "{what}: the claimant hangs"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Process `c`'s undo slot in `v`.
    fn slot_of(v: &View<'_>, c: i32) -> Result<usize> {
        v.undo_used()
            .find(|&u| {
                v.uslot(u)
                    .is_ok_and(|us| us.pid.load(Ordering::Acquire) == c)
            })
            .ok_or(Errno::ENOENT)
    }

    /// The owed marks ([`INTENT_OWED`]) in every undo slot of the set,
    /// and the set's count of them ([`SetHdr::owed`]).
    fn owed_marks(v: &View<'_>) -> (usize, u32) {
        let marks = (0..v.s.nundo)
            .filter_map(|u| v.uslot(u).ok())
            .flat_map(|us| us.recs.iter())
            .filter(|r| r.load(Ordering::Acquire) & INTENT_OWED != 0)
            .count();
        // A multi-operation call's ([`OUT_OWED`]), in its record.
        let multi = (0..v.s.nwait)
            .filter(|&i| {
                v.wslot(i)
                    .is_ok_and(|w| w.state.load(Ordering::Acquire) & 0xff == W_MULTI)
            })
            .flat_map(|i| (0..v.s.max_ops).filter_map(move |k| v.wop(i, k).ok()))
            .filter(|x| x.load(Ordering::Acquire) & OUT_OWED != 0)
            .count();
        (marks + multi, v.hdr().owed.load(Ordering::Acquire))
    }

    /// The dead's undo applied (the sweep of dead undo holders, under the
    /// lock).
    fn sweep_dead(ns: &crate::ns::Ns, id: i32) {
        with_set(ns, id, |o| {
            let _g = lock_by(o, &Deadline::NEVER)?;
            sweep_with(&View::new(o)?, true, crate::sync::owner::Check::Full);
            Ok(())
        })
        .unwrap();
    }

    /// A lock-free multi-operation claimant stopped (SIGSTOP) at each step
    /// of its call ([`pause`]: after its first claim, after every claim,
    /// after its commit, after its first release, inside the release of a
    /// word with an adjustment — semaphore 0's, before or after its
    /// adjustment's store), met by a locked call on three of its
    /// semaphores, semaphore 0 among them (`mover` false), or by a call
    /// that moves the set away from a lock holder stopped beside it
    /// (`mover` true, the set fence: it meets the claims when it lays its
    /// tombstones). The call gets through while the claimant is stopped —
    /// at step 5 too (layout 13: the word released, its adjustment stored
    /// and left owed, `SETVAL` on it `EAGAIN`; in a move's copy, paid) —
    /// and the claimant, then continued or SIGKILLed, has its call made
    /// once (continued: it took effect in place or is made again) or,
    /// killed before its commit, not at all; its adjustments exact, then
    /// undone once when it is gone; no owed mark left.
    #[test]
    fn a_stopped_multi_claimant_s_call_is_finished_or_undone_in_its_place() {
        for step in 1..=6u32 {
            for mover in [false, true] {
                for kill in [false, true] {
                    stopped_claimant_case(step, mover, kill);
                }
            }
        }
    }

    fn stopped_claimant_case(step: u32, mover: bool, kill: bool) {
        let what = format!("step {step}, mover {mover}, killed {kill}");
        let t = crate::sem::tests::tmp_ns(&format!("stolen{step}{mover}{kill}"));
        let o = lock_free_set(&t.1);
        let id = o.id;
        let sh = Shared::new();
        // With the set fence: a lock holder that froze semaphore 4,
        // stopped.
        let holder = if mover { stopped_holder(&o, &sh) } else { 0 };
        // SAFETY: the child makes the call, stopping itself at `step`,
        // reports, waits to be told to exit.
        let c = unsafe { libc::fork() };
        if c == 0 {
            PAUSE_AT.store(step, Ordering::Relaxed);
            let known = Known::of(shape(&o));
            let first = semop_multi_fast(&o, &known, &CALL, Deadline::NEVER);
            let r = match first {
                Ok(Fast::Done) => 1,
                Ok(_) => {
                    PAUSE_AT.store(0, Ordering::Relaxed);
                    // Made again, as `semop_known` does.
                    match semop(&o, &CALL, Wait::Forever, Errno::EAGAIN) {
                        Ok(()) => 2,
                        Err(_) => 3,
                    }
                }
                Err(_) => 4,
            };
            sh.at(0).store(r, Ordering::SeqCst);
            while sh.at(1).load(Ordering::SeqCst) == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            // SAFETY: ending the test child.
            unsafe { libc::_exit(0) };
        }
        let st = wait_status(c, libc::WUNTRACED);
        assert!(
            libc::WIFSTOPPED(st),
            "{what}: the claimant did not stop ({st:#x})"
        );
        // The call needing the claimant's words, while it is stopped.
        let d = Deadline::after(Duration::from_secs(3));
        let t0 = std::time::Instant::now();
        let mine = if mover {
            [op(4, 1, 0), op(0, 1, 0), op(1, 1, 0)]
        } else {
            [op(0, 1, 0), op(1, 1, 0), op(2, 1, 0)]
        };
        let r = with_set(&t.1, id, |o| semop(o, &mine, Wait::Until(d), Errno::EAGAIN));
        let took = t0.elapsed();
        assert_eq!(r, Ok(()), "{what}: the call beside the stopped claimant");
        assert!(took < Duration::from_secs(1), "{what}: {took:?}");
        if mover {
            assert_ne!(
                with_set(&t.1, id, |o| Ok(o.file_id())).unwrap(),
                o.file_id(),
                "{what}: the set moved"
            );
        }
        // Stopped inside semaphore 0's release before its adjustment's
        // store (5): released with the adjustment owed — but in a move's
        // copy, which pays it (the claimant's store lands in the old
        // file). Its semaphore's SETVAL defers to the late store.
        let marks = with_set(&t.1, id, |o| Ok(owed_marks(&View::new(o)?))).unwrap();
        let one = u32::from(step == 5 && !mover);
        assert_eq!(marks, (one as usize, one), "{what}: owed");
        if one == 1 {
            let r = with_set(&t.1, id, |o| setval(o, 0, 9));
            assert_eq!(
                r,
                Err(Errno::EAGAIN),
                "{what}: SETVAL on the owed semaphore"
            );
            let r = with_set(&t.1, id, |o| getval(o, 4).and_then(|x| setval(o, 4, x)));
            assert_eq!(r, Ok(()), "{what}: SETVAL on another");
        }
        let committed = step >= 3;
        // SAFETY: continuing or killing our own child.
        unsafe { libc::kill(c, if kill { libc::SIGKILL } else { libc::SIGCONT }) };
        let applied = if kill {
            let st = wait_status(c, 0);
            assert!(libc::WIFSIGNALED(st), "{what}: {st:#x}");
            committed
        } else {
            wait_answer(&sh, &what);
            let r = sh.at(0).load(Ordering::SeqCst);
            assert!(r == 1 || r == 2, "{what}: the claimant's call answered {r}");
            // Made once, with its adjustments, before it exits.
            let vals = with_set(&t.1, id, getall).unwrap();
            let p = if mover { 0 } else { 1 };
            let s4 = if mover { 6 } else { 5 };
            assert_eq!(vals, vec![5, 7, 7 + p, 4, s4], "{what}: answered {r}");
            let adj = with_set(&t.1, id, |o| {
                let v = View::new(o)?;
                let u = slot_of(&v, c)?;
                Ok((
                    v.adj(u, 0)?.load(Ordering::Relaxed),
                    v.adj(u, 2)?.load(Ordering::Relaxed),
                ))
            });
            assert_eq!(adj, Ok((1, -2)), "{what}: answered {r}");
            let marks = with_set(&t.1, id, |o| Ok(owed_marks(&View::new(o)?))).unwrap();
            assert_eq!(marks, (0, 0), "{what}: the claimant cleared its marks");
            sh.at(1).store(1, Ordering::SeqCst);
            let st = wait_status(c, 0);
            assert!(libc::WIFEXITED(st), "{what}: {st:#x}");
            true
        };
        if mover {
            end_holder(holder, &sh, &what);
        }
        // The claimant gone: its undo applied (the sweep of dead undo
        // holders, under the lock).
        sweep_dead(&t.1, id);
        let vals = with_set(&t.1, id, getall).unwrap();
        let p = if mover { 0 } else { 1 };
        let s4 = if mover { 6 } else { 5 };
        let want = if applied {
            vec![6, 7, 5 + p, 4, s4]
        } else {
            vec![6, 6, 5 + p, 5, s4]
        };
        assert_eq!(vals, want, "{what}");
        let marks = with_set(&t.1, id, |o| Ok(owed_marks(&View::new(o)?))).unwrap();
        assert_eq!(marks, (0, 0), "{what}: no mark left by the undo");
        // No word left claimed, no record left taken; the set works with
        // and without the lock.
        with_set(&t.1, id, |o| {
            let v = View::new(o)?;
            for n in 0..5 {
                assert!(!v.peek(n)?.claimed(), "{what}: word {n} {:x?}", v.peek(n)?);
            }
            let taken = (0..v.s.nwait)
                .filter(|&i| {
                    v.wslot(i)
                        .is_ok_and(|w| w.state.load(Ordering::Acquire) & 0xff == W_MULTI)
                })
                .count();
            assert_eq!(taken, 0, "{what}: records left");
            semop(
                o,
                &[op(0, 1, SEM_UNDO), op(3, 1, 0)],
                Wait::Forever,
                Errno::EAGAIN,
            )?;
            semop(o, &[op(0, -1, SEM_UNDO)], Wait::Forever, Errno::EAGAIN)
        })
        .unwrap();
        with_set(&t.1, id, |o| remove(&t.1, o)).unwrap();
    }

    /// A member scribbles the set's `moved_to` (a committed move to an
    /// inode that is no copy of it: docs/bounded-time.md, "A scribbled
    /// `moved_to`"). Without a lock holder nothing reads it: the calls
    /// are performed. Beside a lock holder stopped with semaphore 4
    /// frozen, a call on it would move the set: it answers `EIO` (an
    /// `IPC_NOWAIT` one within 250 ms, a 500 ms timed one before its
    /// deadline, an untimed one within 1 s) — before, the untimed one
    /// waited as long as the holder stayed stopped, and the fence it left
    /// made the holder, continued, wait for ever too. The holder,
    /// continued, writes and lets go; the calls then go; `IPC_RMID`
    /// removes the set.
    #[test]
    fn a_scribbled_moved_to_ends_every_call() {
        for holder in [false, true] {
            let what = format!("holder {holder}");
            let t = crate::sem::tests::tmp_ns(&format!("mvscrib{holder}"));
            let o = lock_free_set(&t.1);
            let id = o.id;
            let sh = Shared::new();
            let h = if holder { stopped_holder(&o, &sh) } else { 0 };
            o.moved_to_for_test()
                .store((1 << 63) | 0x7fff_fff0, Ordering::SeqCst);
            let calls: [(&[SemOp], Wait, Duration); 4] = [
                (
                    &[op(4, -1, IPC_NOWAIT)],
                    Wait::Forever,
                    Duration::from_millis(250),
                ),
                (
                    &[op(4, -1, 0)],
                    Wait::Until(Deadline::after(Duration::from_millis(500))),
                    Duration::from_millis(500),
                ),
                (&[op(4, 1, 0)], Wait::Forever, Duration::from_secs(1)),
                (
                    &[op(0, 1, 0), op(4, 1, 0)],
                    Wait::Forever,
                    Duration::from_secs(1),
                ),
            ];
            for (ops, wait, bound) in calls {
                // In a child under an alarm: an untimed call that hangs
                // is reported, not waited for.
                // SAFETY: a child that makes the call and reports.
                let c = unsafe { libc::fork() };
                if c == 0 {
                    // SAFETY: an alarm for the child.
                    unsafe { libc::alarm(5) };
                    let t0 = std::time::Instant::now();
                    let r = with_set(&t.1, id, |o| semop(o, ops, wait, Errno::EAGAIN));
                    let fine = if holder {
                        r == Err(Errno::EIO) && t0.elapsed() < bound
                    } else {
                        r == Ok(())
                    };
                    // SAFETY: ending the test child.
                    unsafe { libc::_exit(if fine { 0 } else { 1 }) };
                }
                let st = wait_status(c, 0);
                assert!(
                    libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0,
                    "{what}: {ops:?}: {st:#x}"
                );
            }
            if holder {
                end_holder(h, &sh, &what);
                // Not left fenced: the holder's write landed, and calls go.
                let v = with_set(&t.1, id, |o| getval(o, 4)).unwrap();
                assert_eq!(v, 15, "{what}: the holder's write");
                with_set(&t.1, id, |o| {
                    semop(o, &[op(4, -1, IPC_NOWAIT)], Wait::Forever, Errno::EAGAIN)
                })
                .unwrap();
            }
            let r = with_set(&t.1, id, |o| remove(&t.1, o));
            assert_eq!(r, Ok(()), "{what}: IPC_RMID");
        }
    }

    /// A lock-free one-operation `SEM_UNDO` V (semaphore 0, 5 → 6, the
    /// claimant's adjustment -1) whose claimant stops itself at each step
    /// ([`pause`]: 10 after its claim, 11 after its record, 12 after its
    /// commit, 13 after its adjustment's store), met by calls under the
    /// lock (`mover` false: an `IPC_NOWAIT` P and an untimed V) or by a
    /// call that moves the set away from a lock holder stopped beside it
    /// (`mover` true: it meets the claim when it lays its tombstones). The
    /// calls get through while it is stopped — at step 12 too (its
    /// adjustment not stored yet: released with the adjustment owed, paid
    /// by the move's copy) — and the claimant, continued, answers once,
    /// its V made once with its adjustment; killed, made or not as its
    /// record says; the undo then applied once (an owed adjustment paid
    /// first).
    #[test]
    fn a_stopped_one_operation_undo_claimant_is_settled_in_its_place() {
        for step in 10..=13u32 {
            for mover in [false, true] {
                for kill in [false, true] {
                    stopped_one_case(step, mover, kill);
                }
            }
        }
    }

    fn stopped_one_case(step: u32, mover: bool, kill: bool) {
        let what = format!("one-op step {step}, mover {mover}, killed {kill}");
        let t = crate::sem::tests::tmp_ns(&format!("stolen1{step}{mover}{kill}"));
        let o = lock_free_set(&t.1);
        let id = o.id;
        let sh = Shared::new();
        // SAFETY: the child makes the call, stopping itself at `step`,
        // reports, waits to be told to exit.
        let c = unsafe { libc::fork() };
        if c == 0 {
            PAUSE_AT.store(step, Ordering::Relaxed);
            let known = Known::of(shape(&o));
            let r = match fast::semop_fast(&o, &known, op(0, 1, SEM_UNDO)) {
                Ok(Fast::Done) => 1,
                Ok(_) => {
                    PAUSE_AT.store(0, Ordering::Relaxed);
                    // Undone (the word then a tombstone, the set moved):
                    // made again, as `semop_known` does.
                    match semop(&o, &[op(0, 1, SEM_UNDO)], Wait::Forever, Errno::EAGAIN) {
                        Ok(()) => 2,
                        Err(_) => 8,
                    }
                }
                Err(_) => 4,
            };
            sh.at(0).fetch_add(r, Ordering::SeqCst);
            while sh.at(1).load(Ordering::SeqCst) == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            // SAFETY: ending the test child.
            unsafe { libc::_exit(0) };
        }
        let t1 = std::time::Instant::now();
        let st = loop {
            let st = wait_status(c, libc::WUNTRACED | libc::WNOHANG);
            if st != 0 || t1.elapsed() > Duration::from_secs(5) {
                break st;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        assert!(
            libc::WIFSTOPPED(st),
            "{what}: the claimant did not stop ({st:#x}, answered {})",
            sh.at(0).load(Ordering::SeqCst)
        );
        assert!(
            View::new(&o).unwrap().peek(0).unwrap().claimed(),
            "{what}: stopped inside its claim"
        );
        let holder = if mover { stopped_holder(&o, &sh) } else { 0 };
        let t0 = std::time::Instant::now();
        if mover {
            let r = with_set(&t.1, id, |o| {
                semop(o, &[op(4, 1, 0), op(0, 1, 0)], Wait::Forever, Errno::EAGAIN)
            });
            assert_eq!(r, Ok(()), "{what}: the call beside the stopped claimant");
            assert_ne!(
                with_set(&t.1, id, |o| Ok(o.file_id())).unwrap(),
                o.file_id(),
                "{what}: the set moved"
            );
        } else {
            let r = semop(&o, &[op(0, -1, IPC_NOWAIT)], Wait::Forever, Errno::EAGAIN);
            assert_eq!(r, Ok(()), "{what}: IPC_NOWAIT P");
            let r = semop(&o, &[op(0, 1, 0)], Wait::Forever, Errno::EAGAIN);
            assert_eq!(r, Ok(()), "{what}: untimed V");
        }
        let took = t0.elapsed();
        assert!(took < Duration::from_secs(1), "{what}: {took:?}");
        // Stopped after its commit (12): its adjustment owed — but in a
        // move's copy, which pays it (the claimant's store lands in the
        // old file).
        let marks = with_set(&t.1, id, |o| Ok(owed_marks(&View::new(o)?))).unwrap();
        let one = u32::from(step == 12 && !mover);
        assert_eq!(marks, (one as usize, one), "{what}: owed");
        // Semaphore 0 without the claimant's V: 5, and 6 after the
        // mover's call.
        let base = if mover { 6 } else { 5 };
        // SAFETY: continuing or killing our own child.
        unsafe { libc::kill(c, if kill { libc::SIGKILL } else { libc::SIGCONT }) };
        if kill {
            let st = wait_status(c, 0);
            assert!(libc::WIFSIGNALED(st), "{what}: {st:#x}");
        } else {
            wait_answer(&sh, &what);
            std::thread::sleep(Duration::from_millis(5));
            let r = sh.at(0).load(Ordering::SeqCst);
            assert!(r == 1 || r == 2, "{what}: answered {r}");
            // Made once, with its adjustment, before it exits.
            let got = with_set(&t.1, id, |o| {
                let v = View::new(o)?;
                let u = slot_of(&v, c)?;
                Ok((getval(o, 0)?, v.adj(u, 0)?.load(Ordering::Relaxed)))
            });
            assert_eq!(got, Ok((base + 1, -1)), "{what}");
            let marks = with_set(&t.1, id, |o| Ok(owed_marks(&View::new(o)?))).unwrap();
            assert_eq!(marks, (0, 0), "{what}: the claimant cleared its mark");
            sh.at(1).store(1, Ordering::SeqCst);
            let st = wait_status(c, 0);
            assert!(libc::WIFEXITED(st), "{what}: {st:#x}");
        }
        if mover {
            end_holder(holder, &sh, &what);
        }
        sweep_dead(&t.1, id);
        // The V and its undo once (or neither): as before it.
        assert_eq!(with_set(&t.1, id, |o| getval(o, 0)), Ok(base), "{what}");
        let marks = with_set(&t.1, id, |o| Ok(owed_marks(&View::new(o)?))).unwrap();
        assert_eq!(marks, (0, 0), "{what}: no mark left by the undo");
        with_set(&t.1, id, |o| {
            let v = View::new(o)?;
            for n in 0..5 {
                assert!(!v.peek(n)?.claimed(), "{what}: word {n} {:x?}", v.peek(n)?);
            }
            semop(o, &[op(0, 1, SEM_UNDO)], Wait::Forever, Errno::EAGAIN)?;
            semop(o, &[op(0, -1, SEM_UNDO)], Wait::Forever, Errno::EAGAIN)
        })
        .unwrap();
        with_set(&t.1, id, |o| remove(&t.1, o)).unwrap();
    }
}

#[cfg(test)]
mod cost_loop {
    use super::*;

    /// Not a check: `RIPC_MULTI_N` pairs of lock-free two-operation calls
    /// (V V, P P; with `SEM_UNDO` when `RIPC_MULTI_UNDO` is set), for
    /// callgrind's instruction counts of this path (docs/bounded-time.md).
    #[test]
    #[ignore]
    fn lock_free_multi_cost_loop() {
        let n: usize = std::env::var("RIPC_MULTI_N")
            .ok()
            .and_then(|x| x.parse().ok())
            .unwrap_or(1000);
        let f = if std::env::var_os("RIPC_MULTI_UNDO").is_some() {
            SEM_UNDO
        } else {
            0
        };
        let t = crate::sem::tests::tmp_ns("multi_cost");
        let o = get(&t.1, 0, 2, crate::ns::IPC_CREAT | 0o600, &[5, 5]).unwrap();
        View::new(&o)
            .unwrap()
            .hdr()
            .lockfree
            .store(2, Ordering::SeqCst);
        let known = Known::of(shape(&o));
        let up = [
            SemOp {
                num: 0,
                op: 1,
                flg: f,
            },
            SemOp {
                num: 1,
                op: 1,
                flg: f,
            },
        ];
        let down = [
            SemOp {
                num: 0,
                op: -1,
                flg: f,
            },
            SemOp {
                num: 1,
                op: -1,
                flg: f,
            },
        ];
        for _ in 0..n {
            assert!(matches!(
                semop_multi_fast(&o, &known, &up, Deadline::NEVER),
                Ok(Fast::Done)
            ));
            assert!(matches!(
                semop_multi_fast(&o, &known, &down, Deadline::NEVER),
                Ok(Fast::Done)
            ));
        }
        remove(&t.1, &o).unwrap();
    }
}
