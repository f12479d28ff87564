//! The lock-free path: one operation without `SEM_UNDO` on a semaphore
//! the set's lock holder has not frozen is one compare-and-swap of the
//! semaphore's word (value and last pid together), as a `sem_t`'s; one
//! with `SEM_UNDO` claims the word, stores the adjustment and releases
//! the word ([`semop_undo_fast`]).
//!
//! Why it is safe beside the locked paths: every lock holder freezes a
//! semaphore's word ([`Sem::freeze`], an atomic OR of [`FROZEN`]) before it
//! reads the value to decide, and writes only frozen words; the words are
//! thawed when the lock is let go. A compare-and-swap here fails on a
//! frozen word (or on one that changed since it was read), so it never
//! lands between a holder's reading and its writing: each operation, here
//! or under the lock, happens at one point of the word's order of changes.
//! A holder killed with words frozen leaves them so; the next holder's
//! repair freezes every word before it replays the journal and thaws them
//! all when it lets go.
//!
//! One holder skips the freeze: a single `SEM_UNDO` operation on a set
//! nobody has yet operated on without the lock ([`SetHdr::lockfree`] 0).
//! The first caller of this path announces itself and waits, once, to
//! find the lock free ([`enter`]): every holder from then on sees the
//! announcement and freezes, so a set used only with `SEM_UNDO` pays
//! nothing for this path.
//!
//! Sleepers: an operation that raises or lowers a value while anyone
//! sleeps ([`SetHdr::waiting`]) then takes the lock for a moment to grant
//! them (`update_queue`), as the locked path would. The sleeper's enqueue
//! (under the lock, with the word frozen) and this path's compare-and-swap
//! are ordered by the word itself: a compare-and-swap before the freeze is
//! seen by the sleeper's check of the value (it does not sleep); one after
//! the thaw sees the sleeper counted.
//!
//! What a stopped lock holder (SIGSTOP, a debugger, the freezer) can still
//! delay: operations on the semaphores it froze, and the grant of
//! sleepers that cannot serve themselves. (Operations on several
//! semaphores go without the lock while another holds it: `multi`.) (A process's first `SEM_UNDO` operation on the set
//! takes its undo slot without the lock: [`take_mine`].) When the lock cannot be had in [`GRANT_BOUND`] (or the
//! holder is seen stopped), sleepers are woken to serve themselves
//! ([`self_serve`]: one operation without `SEM_UNDO`, the common sleeper).
//! See docs/bounded-time.md.

use super::*;

/// How long a lock-free operation that changed a value waits for the lock
/// to grant the sleepers, before it wakes them to serve themselves (a
/// holder stopped): about the lock's look-around period (10 ms; no
/// deadline is given to the lock, which would have it read `/proc` after
/// its spin).
pub(super) const GRANT_BOUND: Duration = crate::sync::time::NOWAIT_BOUND;

/// Compare-and-swap attempts before the locked path takes over (every
/// failure is another process's success).
const RETRIES: u32 = 64;

/// What [`semop_fast`] did.
pub(super) enum Fast {
    /// performed
    Done,
    /// the operation must wait (nothing done): the general path sweeps,
    /// answers `IPC_NOWAIT` or sleeps
    Block,
    /// not for this path (`SEM_UNDO`, a frozen word, no known shape): the
    /// locked path decides
    Slow,
}

/// One operation without the lock, when it can be (see the module doc).
/// The checks come in the general path's order: removed (`EIDRM`),
/// `EFBIG`, permission, would block, `ERANGE`.
#[inline(always)]
pub(super) fn semop_fast(o: &Obj, known: &Known, op: SemOp) -> Result<Fast> {
    let Some(shape) = known.shape else {
        return Ok(Fast::Slow);
    };
    let v = View::known(o, shape)?;
    if let Some(e) = o.gone() {
        return Err(e);
    }
    let n = op.num as usize;
    if n >= v.s.nsems {
        // Answered here, as the locked path would (after `EIDRM`): left
        // to it, the call waited for a stopped lock holder (t_sem_multi).
        return Err(Errno::EFBIG);
    }
    let alter = op.op != 0;
    // One clock read for the credentials' cache and `sem_otime`.
    let now = o.check_mine_secs(if alter { 0o2 } else { 0o4 })?;
    if !enter(o, v.hdr()) {
        return Ok(Fast::Slow);
    }
    if op.flg & SEM_UNDO != 0 {
        return semop_undo_fast(o, &v, known, n, op, now);
    }
    Ok(match cas_word(&v, v.sem(n)?, op.op)? {
        Cas::Done(r) => {
            note_otime(v.hdr(), now);
            if may_wake(op.op, r) && v.hdr().waiting.load(Ordering::SeqCst) != 0 {
                grant(o, &v, GRANT_BOUND);
            }
            Fast::Done
        }
        Cas::Block => Fast::Block,
        Cas::Slow => Fast::Slow,
    })
}

/// One operation with `SEM_UNDO` without the lock (semaphore `n` of `v`,
/// checked by [`semop_fast`]; `now` for `sem_otime`): when this process's
/// undo slot is known ([`Known`]'s hint, still its own) and this thread
/// has an intent record ([`begin`]). Otherwise, for a wait-for-zero, and
/// on a frozen or claimed word, the locked path decides.
///
/// 1. the word is **claimed** by compare-and-swap: frozen, naming this
///    process, its undo slot, its intent record and an epoch (the value
///    kept): from here no one else changes the word or this process's
///    adjustment for it but a settler in its place: a lock holder (or
///    mover) that needs it waits for a running claimant, and settles the
///    operation of a dead or stopped one (`undo::settle`,
///    `undo::steal_one`);
/// 2. the intent record (semaphore, new value, new adjustment: absolute;
///    the claim's epoch) is written in this process's undo slot;
/// 3. the commit: the word becomes this claimant's release ([`UREL`]) by
///    compare-and-swap from its claim — against a settler's, which takes
///    the word from the claim the same way: exactly one wins. Lost, the
///    record says how the settler decided ([`INTENT_FIN`]: finished, the
///    call succeeded; no mark: undone, nothing stored, made again);
/// 4. the adjustment is stored, then the word's new value and pid,
///    unfrozen, by compare-and-swap from the release (a settler that
///    found the adjustment stored may have made it first: the same
///    outcome).
///
/// A claimant gone (or stopped) before step 3 is settled by its record:
/// one that repeats the claim's epoch finishes the operation, none puts
/// the value back (absolute values: settling twice changes nothing); one
/// gone after step 3 is finished from its record; one stopped between
/// step 3 and its adjustment's store is released in its place with the
/// adjustment stored and *owed* ([`INTENT_OWED`]: its late store lands
/// the same value, and every other writer of it defers until the
/// claimant, continued, learns the word's fate and clears the mark:
/// [`decided`]). So a stopped claimant delays no call on its semaphore
/// but `SETVAL`/`SETALL` and its own process's. No ABA: from the claim
/// to the release nobody else changes the word (but its one settler),
/// and only the claimant's own record is named by it.
#[inline(always)]
fn semop_undo_fast(
    o: &Obj,
    v: &View<'_>,
    known: &Known,
    n: usize,
    op: SemOp,
    now: i64,
) -> Result<Fast> {
    if op.op == 0 {
        return Ok(Fast::Slow);
    }
    let u = match known.undo.get() {
        Some(u) => u,
        None => match my_slot(v, known) {
            Some(u) => u,
            None => return Ok(Fast::Slow),
        },
    };
    let (us, adj) = v.uslot_adj(u, n)?;
    // Still this process's slot (pid and start time: a fork child has the
    // parent's hint, and another pid). Taken, the slot stays its own while
    // it lives (sweeps free only the dead's). A hint that is not: looked
    // for again by the next try (the locked path's, or its retries of
    // this path while it waits for the lock).
    if !mine(us) {
        known.undo.set(None);
        return Ok(Fast::Slow);
    }
    let Some((k, rec)) = begin(known.rec.unwrap_or_else(thread_rec)) else {
        return Ok(Fast::Slow);
    };
    let r = claim_op(v, u, us, adj, k, n, op);
    rec.set(rec.get() & !BUSY);
    Ok(match r? {
        Cas::Done(r) => {
            note_otime(v.hdr(), now);
            // **SeqCst**, after the claim (**SeqCst**): a sleeper that
            // enqueued on this word froze it first, so the claim saw its
            // thaw and this load sees it counted.
            if may_wake(op.op, r) && v.hdr().waiting.load(Ordering::SeqCst) != 0 {
                grant(o, v, GRANT_BOUND);
            }
            Fast::Done
        }
        Cas::Block => Fast::Block,
        Cas::Slow => Fast::Slow,
    })
}

/// This process's undo slot, looked for without the lock (a caller with
/// no hint: the native handle's calls); `None` when it has none yet (it
/// is then taken: [`take_mine`]).
#[cold]
#[inline(never)]
fn find_mine(v: &View<'_>) -> Option<usize> {
    v.undo_used().find(|&u| v.uslot(u).is_ok_and(mine))
}

/// [`semop_fast`], and for a wait-for-zero with `SEM_UNDO` (which it
/// leaves to the locked path) what that path does — no adjustment, but
/// the process gets its undo slot on the set, as on the kernel — without
/// the lock: the slot found or taken ([`my_slot`]), then the operation as
/// without `SEM_UNDO`. Out of the common path (called after
/// [`semop_fast`] said [`Fast::Slow`], and by waiters for the lock).
#[cold]
#[inline(never)]
pub(super) fn semop_fast_any(o: &Obj, known: &Known, op: SemOp) -> Result<Fast> {
    match semop_fast(o, known, op)? {
        Fast::Slow if op.op == 0 && op.flg & SEM_UNDO != 0 => {}
        r => return Ok(r),
    }
    let Some(shape) = known.shape else {
        return Ok(Fast::Slow);
    };
    let v = View::known(o, shape)?;
    // The checks `semop_fast` makes before its own operation, first: no
    // slot for a caller the set refuses.
    if o.is_removed() || op.num as usize >= v.s.nsems || o.check_mine_secs(0o4).is_err() {
        return Ok(Fast::Slow);
    }
    let have = known.undo.get().is_some_and(|u| v.uslot(u).is_ok_and(mine));
    if !enter(o, v.hdr()) || (!have && my_slot(&v, known).is_none()) {
        return Ok(Fast::Slow);
    }
    let plain = SemOp {
        flg: op.flg & !SEM_UNDO,
        ..op
    };
    semop_fast(o, known, plain)
}

/// This process's undo slot on the set, found or taken without the lock
/// ([`take_mine`]), remembered in `known`; `None`: the locked path decides.
#[cold]
#[inline(never)]
pub(super) fn my_slot(v: &View<'_>, known: &Known) -> Option<usize> {
    let u = find_mine(v).or_else(|| take_mine(v));
    known.undo.set(u);
    u
}

/// This process's first `SEM_UNDO` operation on the set: an undo slot
/// taken without the lock ([`take_slot`]), so that it does not wait for a
/// lock holder (a stopped one: docs/bounded-time.md). `None` (the locked
/// path takes one) when another thread of this process is taking one, a
/// slot names this pid with another start time (a dead process's, whose
/// undo the lock holder applies), or no slot is free among those in use
/// and the one above them.
#[cold]
#[inline(never)]
fn take_mine(v: &View<'_>) -> Option<usize> {
    let _t = Taking::try_hold()?;
    // Taken by another thread of this process meanwhile.
    if let Some(u) = find_mine(v) {
        return Some(u);
    }
    let me = Owner::me();
    if v.undo_used().any(|u| {
        v.uslot(u)
            .is_ok_and(|us| us.pid.load(Ordering::Acquire) == me.pid)
    }) {
        return None;
    }
    take_free(v, me)
}

/// [`take_mine`]'s last step (its checks made, [`Taking`] held): a free
/// slot among those in use or the one above them, taken for `me`.
pub(super) fn take_free(v: &View<'_>, me: Owner) -> Option<usize> {
    // The set's first slot: the undo area and journal given storage
    // first (no room: the locked path's `undo_slot` answers `ENOMEM`).
    v.reserve_tail().ok()?;
    let used = v.undo_used();
    for u in used.start..(used.end + 1).min(v.s.nundo) {
        if v.uslot(u).ok()?.pid.load(Ordering::Relaxed) == 0 && take_slot(v, u, me).ok()? {
            return Some(u);
        }
    }
    None
}

/// [`semop_undo_fast`]'s steps on semaphore `n` with undo slot `u` and
/// intent record `k`.
#[inline(always)]
fn claim_op(
    v: &View<'_>,
    u: usize,
    us: &UndoHdr,
    adj: &Adj,
    k: usize,
    n: usize,
    op: SemOp,
) -> Result<Cas> {
    let s = v.sem(n)?;
    let rec = us.recs.get(k).ok_or(Errno::EIO)?;
    let me = my_pid();
    let mut w = s.load();
    for _ in 0..RETRIES {
        let (cur, r) = match step(w, op.op)? {
            Step::Go(cur, r) => (cur, r),
            Step::Stop(c) => return Ok(c),
        };
        if w.parked() {
            prewake(v);
        }
        // The record is this thread's alone: its last epoch, plus one.
        let e = Intent::next_epoch(rec.load(Ordering::Relaxed));
        // **SeqCst**: as the plain path's compare-and-swap (see `cas_word`).
        match s.word.compare_exchange_weak(
            w.0,
            SemWord::claim(cur, u, k, e, me).0,
            Ordering::SeqCst,
            Ordering::Acquire,
        ) {
            Ok(_) => {
                let claim = SemWord::claim(cur, u, k, e, me);
                multi::pause(10);
                // Another thread of this process owes its adjustment for
                // this semaphore (a settler released its word while the
                // process was stopped: `undo::owed`): not read before
                // that thread's store; the locked path waits for it. One
                // load while this thread is the process's only lock-free
                // `SEM_UNDO` caller (its record the one bit held; the
                // test needs no mask kept live: 2 instructions fewer).
                // (**acquire**: a thread of a multi-operation call that
                // counted itself out after its late store and clearing.)
                let held = RECS.load(Ordering::Acquire);
                if held & held.wrapping_sub(1) != 0 && sibling_owes(v, s, n, claim, w) {
                    return Ok(Cas::Slow);
                }
                // Ours now, and so the adjustment: no other thread of
                // this process changes it while the word is claimed.
                let a = adj.load(Ordering::Relaxed) as i32 - op.op as i32;
                if !(-SEMAEM - 1..=SEMAEM).contains(&a) {
                    // Nothing stored: the word as it was (unless a
                    // settler that met this claim stopped put it back
                    // already: the same).
                    let _ = s.word.compare_exchange(
                        claim.0,
                        w.0 & !PARKED,
                        Ordering::Release,
                        Ordering::Relaxed,
                    );
                    return Err(Errno::ERANGE);
                }
                let i = Intent {
                    n,
                    val: r,
                    adj: a as i16,
                    epoch: e,
                };
                rec.store(i.pack(), Ordering::Relaxed);
                multi::pause(11);
                // The commit: the release this claimant's, by
                // compare-and-swap against a settler that met the claim
                // stopped (`undo::steal_one`; **acq-rel**: after the
                // record).
                let mine = claim.urel_by(me);
                if s.word
                    .compare_exchange(claim.0, mine.0, Ordering::AcqRel, Ordering::Relaxed)
                    .is_err()
                {
                    if settled_for_me(v, n, s, rec, claim) {
                        return Ok(Cas::Done(r));
                    }
                    // Undone (nothing stored): made again.
                    w = s.load();
                    continue;
                }
                multi::pause(12);
                // **release**: whoever sees the word released sees the
                // adjustment (a sweep of this process's undo, later).
                adj.store(a as i16, Ordering::Release);
                multi::pause(13);
                // A compare-and-swap: a settler that found the adjustment
                // stored may have released the word already (the same
                // outcome), or one that met this claimant stopped before
                // the store released it with the adjustment owed.
                if s.word
                    .compare_exchange(
                        mine.0,
                        SemWord::new(r, me).0,
                        Ordering::Release,
                        Ordering::Relaxed,
                    )
                    .is_err()
                {
                    released_for_me(v, n, claim);
                }
                return Ok(Cas::Done(r));
            }
            Err(x) => w = SemWord(x),
        }
    }
    Ok(Cas::Slow)
}

/// The grants skipped while this thread's adjustment was owed, made.
#[cold]
#[inline(never)]
fn grant_skipped(v: &View<'_>) {
    // Caught: a `grant` that may unwind, reachable from the claimant's
    // cold paths, cost the uncontended call 13 instructions (its frame
    // kept for the unwinding edges; callgrind, docs/sem.md).
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| grant(v.o, v, GRANT_BOUND)));
}

/// Whether another thread of this process owes its adjustment for
/// semaphore `n` in the undo slot this thread's claim `claim` (of word
/// `s`, claimed from `w`) names: then the claim is put back (the caller
/// takes the locked path, which waits for that thread's store). Out of
/// line: only a process with more than one lock-free `SEM_UNDO` caller
/// looks.
#[cold]
#[inline(never)]
fn sibling_owes(v: &View<'_>, s: &Sem, n: usize, claim: SemWord, w: SemWord) -> bool {
    let (u, k) = claim.claimant();
    if undo::owed(v, u, n, k).is_none() {
        return false;
    }
    // The word as it was (unless a settler that met this claim stopped
    // put it back already: the same).
    let _ = s
        .word
        .compare_exchange(claim.0, w.0 & !PARKED, Ordering::Release, Ordering::Relaxed);
    true
}

/// This thread's committed claim `claim` of semaphore `n` was released by
/// a settler (it met this claimant stopped: `undo::steal_one`), perhaps
/// with the adjustment owed: [`decided`] (out of line, the word and the
/// record found again from the claim).
#[cold]
#[inline(never)]
fn released_for_me(v: &View<'_>, n: usize, claim: SemWord) {
    let (u, k) = claim.claimant();
    if let (Ok(s), Ok(rec)) = (v.sem(n), v.intent(u, k)) {
        decided(v, n, s, rec, claim);
    }
}

/// The claim `claim` of word `s` (this thread's, with intent record
/// `rec`) was settled by another process before its commit
/// (`undo::steal_one`: the claimant seen stopped, or taken for dead):
/// semaphore `n`; once the settler's decision is made (the word no longer names the
/// claim), true when the operation was finished in this claimant's place
/// (its record marked [`INTENT_FIN`]), false when it was undone (nothing
/// stored: the caller makes it again). A settler that died deciding is
/// taken over here (this claimant's record is its own to read).
#[cold]
#[inline(never)]
fn settled_for_me(v: &View<'_>, n: usize, s: &Sem, rec: &AtomicU64, claim: SemWord) -> bool {
    let r = decided(v, n, s, rec, claim);
    r & INTENT_FIN != 0 && Intent::unpack(r).is_some_and(|i| i.epoch == claim.epoch())
}

/// Waits until the word `s` (semaphore `n`) no longer names this thread's
/// claim `claim` (a settler's decision made; a settler found dead is
/// taken over), then clears an owed mark the settler left on this
/// thread's record `rec` ([`INTENT_OWED`]: the adjustment is stored by
/// now, or was never this claimant's to store) and, when there was one,
/// looks at the sleepers, whose grants skipped this process's meanwhile.
/// Returns the record as it was.
#[cold]
#[inline(never)]
fn decided(v: &View<'_>, n: usize, s: &Sem, rec: &AtomicU64, claim: SemWord) -> u64 {
    let (u, k) = claim.claimant();
    let mut naps = 0u32;
    loop {
        let x = s.load();
        if !(x.claimed() && !x.multi() && !x.tomb())
            || x.claimant() != (u, k)
            || x.epoch() != claim.epoch()
        {
            break;
        }
        // A settler at it (a few instructions), or one that died: taken
        // over (it finishes from this claimant's record, seen here).
        if naps >= 20 && crate::os::proc::liveness(x.pid(), 0) == crate::os::proc::Liveness::Dead {
            undo::steal_one(v, n, x, true);
            continue;
        }
        naps += 1;
        if naps < 20 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
    // An RMW: it follows the settler's mark, made before its release,
    // which the loop saw (**acq-rel**: after this thread's store of the
    // adjustment).
    let r = undo::cleared(v, rec);
    if r & INTENT_OWED != 0 && v.hdr().waiting.load(Ordering::SeqCst) != 0 {
        grant_skipped(v);
    }
    r
}

/// In this thread's record word ([`Last::rec`]): a lock-free `SEM_UNDO`
/// operation is under way (a signal handler's call meanwhile takes the
/// lock, and does not reuse the record).
const BUSY: u32 = 0x100;
/// In this thread's record word: no record (all [`NREC`] taken by other
/// threads when it asked, or the thread is exiting).
const NO_REC: u32 = 0xff;
/// The records this process's threads hold (bit `k` for record `k`),
/// and above them ([`MULTI_ONE`]) the number of its threads inside a
/// lock-free multi-operation `SEM_UNDO` call.
static RECS: AtomicU32 = AtomicU32::new(0);

/// One thread inside a lock-free multi-operation `SEM_UNDO` call, in
/// [`RECS`] (above the [`NREC`] record bits): such a call may owe an
/// adjustment (`multi::OUT_OWED`) once continued after a stop, so the
/// one-operation path's test for another lock-free `SEM_UNDO` caller of
/// the process (one load of [`RECS`]) must see it.
const MULTI_ONE: u32 = 1 << NREC;

/// Counts this thread among the process's lock-free `SEM_UNDO` callers
/// while it makes a multi-operation call ([`MULTI_ONE`]), until dropped.
pub(super) struct MultiUndo;

impl MultiUndo {
    pub(super) fn enter() -> MultiUndo {
        RECS.fetch_add(MULTI_ONE, Ordering::AcqRel);
        MultiUndo
    }
}

impl Drop for MultiUndo {
    fn drop(&mut self) {
        // **release**: after its late stores and the clearing of its
        // marks (`multi::released_for_me`).
        RECS.fetch_sub(MULTI_ONE, Ordering::Release);
    }
}

/// This thread's record word, for a call whose [`Known`] is not the
/// thread's cached set's (out of line: inlined, the thread-local look-up
/// would be hoisted onto the common path).
#[cold]
#[inline(never)]
fn thread_rec() -> &'static core::cell::Cell<u32> {
    &last().rec
}

/// Whether undo slot `us` is this process's (pid and start time).
#[inline(always)]
pub(super) fn mine(us: &UndoHdr) -> bool {
    us.pid.load(Ordering::Acquire) == my_pid()
        && us.start.load(Ordering::Relaxed) == crate::os::proc::my_start()
}

/// This thread's intent record (`c`: the thread's record word, from
/// [`Last::rec`]), marked busy: its index and the record word (to clear
/// [`BUSY`]); `None` when it has none or is busy.
#[inline(always)]
fn begin(c: &'static core::cell::Cell<u32>) -> Option<(usize, &'static core::cell::Cell<u32>)> {
    let t = c.get();
    let k = match t & 0xff {
        _ if t & BUSY != 0 => return None,
        0 => assign(c)?,
        NO_REC => return None,
        x => x as usize - 1,
    };
    c.set((k as u32 + 1) | BUSY);
    Some((k, c))
}

/// Whether this thread is inside its own claim with record `k` (a signal
/// handler's call met it: waiting would never end).
pub(super) fn claiming(k: usize) -> bool {
    let t = last().rec.get();
    t & BUSY != 0 && (t & 0xff) as usize == k + 1
}

/// Gives this thread the lowest free record of the process (once), let
/// go when the thread exits ([`rec_at_exit`]).
#[cold]
#[inline(never)]
fn assign(c: &core::cell::Cell<u32>) -> Option<usize> {
    if !crate::os::thread_exit::arm(crate::os::thread_exit::Slot::SemRec, rec_at_exit) {
        c.set(NO_REC); // exiting: its cleanup has run (or none to be had)
        return None;
    }
    crate::os::proc::on_fork_child(recs_after_fork);
    let mut m = RECS.load(Ordering::Relaxed);
    loop {
        let k = (!m).trailing_zeros() as usize;
        if k >= NREC {
            c.set(NO_REC);
            return None;
        }
        match RECS.compare_exchange_weak(m, m | 1 << k, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => {
                c.set(k as u32 + 1);
                return Some(k);
            }
            Err(x) => m = x,
        }
    }
}

/// A record of this process held as another (live) thread would hold it
/// (tests: a forged owed record of this process): its index, and the
/// guard that lets it go.
#[cfg(test)]
pub(super) fn hold_rec_for_test() -> (usize, impl Drop) {
    struct Held(usize);
    impl Drop for Held {
        fn drop(&mut self) {
            RECS.fetch_and(!(1 << self.0), Ordering::AcqRel);
        }
    }
    let mut m = RECS.load(Ordering::Relaxed);
    loop {
        let k = (!m).trailing_zeros() as usize;
        assert!(k < NREC, "no record free");
        match RECS.compare_exchange_weak(m, m | 1 << k, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => return (k, Held(k)),
            Err(x) => m = x,
        }
    }
}

/// In a `fork` child: only this thread exists, so only its record is
/// taken, and no undo slot is being taken ([`Taking`]).
pub(super) fn recs_after_fork() {
    Taking::after_fork();
    let t = last().rec.get() & 0xff;
    let m = match t {
        0 | NO_REC => 0,
        x => 1 << (x - 1),
    };
    RECS.store(m, Ordering::Relaxed);
}

/// Lets this thread's record go when it exits (armed by [`assign`]:
/// `os::thread_exit`, slot `SemRec`).
fn rec_at_exit() {
    let c = &last().rec;
    let t = c.get() & 0xff;
    if t != 0 && t != NO_REC {
        RECS.fetch_and(!(1 << (t - 1)), Ordering::AcqRel);
    }
    c.set(NO_REC);
}

/// May this process operate without the lock on the set `h` heads? A set
/// on which nobody has yet lets its `SEM_UNDO` operations skip the freeze
/// (`lockfree` 0: see [`SetHdr::lockfree`]); the first lock-free caller
/// announces itself (1, **SeqCst**) and goes ahead only once it finds the
/// lock free (**SeqCst**, as every acquisition), which proves that no
/// holder that saw 0 still holds it — then the set is in use (2) and later
/// calls only load the word. Every lock holder that takes the lock after
/// the announcement sees it, and freezes.
#[inline(always)]
pub(super) fn enter(o: &Obj, h: &SetHdr) -> bool {
    match h.lockfree.load(Ordering::SeqCst) {
        2 => true,
        s => announce(o, h, s),
    }
}

/// [`enter`] on a set not yet in use without the lock (`s`: its
/// `lockfree` word, 0 or 1).
#[cold]
#[inline(never)]
fn announce(o: &Obj, h: &SetHdr, s: u32) -> bool {
    if s != 1 {
        h.lockfree.store(1, Ordering::SeqCst);
    }
    if o.is_locked() {
        return false;
    }
    h.lockfree.store(2, Ordering::Relaxed);
    true
}

/// Can operation `op` (< 0 take, 0 wait for zero, > 0 release) go on a
/// semaphore whose value is `cur`, or must it wait? (Whether the result
/// fits under SEMVMX is the caller's `ERANGE`.)
#[inline]
pub(super) fn can_go(cur: i32, op: i16) -> bool {
    if op == 0 {
        cur == 0
    } else {
        cur + op as i32 >= 0
    }
}

/// Can operation `op`, which left the value `r`, let a sleeper go? A
/// release can; a take only when it leaves zero (for those waiting for
/// zero): lowering a value never lets anyone else through.
#[inline]
pub(super) fn may_wake(op: i16, r: i32) -> bool {
    op > 0 || (op < 0 && r == 0)
}

/// What [`cas_op`] did.
enum Cas {
    /// performed, leaving this value
    Done(i32),
    /// it would wait (nothing done)
    Block,
    /// the word is frozen, or kept changing
    Slow,
}

/// The operation `op` (< 0 take, 0 wait for zero, > 0 release) on
/// semaphore `n`, by compare-and-swap.
#[inline]
fn cas_op(v: &View<'_>, n: usize, op: i16) -> Result<Cas> {
    cas_word(v, v.sem(n)?, op)
}

/// What operation `op` can do with the word `w`, read for a
/// compare-and-swap.
enum Step {
    /// go on: the value found and the one to leave
    Go(i32, i32),
    /// return this (a frozen word: the lock; one that would block)
    Stop(Cas),
}

/// [`Step`] for `op` on `w`: `ERANGE` when the result would pass SEMVMX.
#[inline(always)]
fn step(w: SemWord, op: i16) -> Result<Step> {
    if w.frozen() {
        return Ok(Step::Stop(Cas::Slow));
    }
    let cur = w.val();
    let r = cur + op as i32;
    if !can_go(cur, op) {
        return Ok(Step::Stop(Cas::Block));
    }
    if r > SEMVMX {
        return Err(Errno::ERANGE);
    }
    Ok(Step::Go(cur, r))
}

/// [`cas_op`] on the semaphore `s` of `v` (inline in [`semop_fast`], which
/// then keeps its view in registers).
#[inline(always)]
fn cas_word(v: &View<'_>, s: &Sem, op: i16) -> Result<Cas> {
    let me = my_pid();
    let mut w = s.load();
    for _ in 0..RETRIES {
        let r = match step(w, op)? {
            Step::Go(_, r) => r,
            Step::Stop(c) => return Ok(c),
        };
        if w.parked() {
            // A sleeper sleeps on it without a timer: woken before the
            // change (see `pending::go_deep`), which drops the mark.
            prewake(v);
        }
        // **SeqCst**: ordered with a sleeper's `W_SELF` → `W_WAITING`
        // store and the granters' loads of the sleepers' states (see
        // `self_serve`).
        match s.word.compare_exchange_weak(
            w.0,
            SemWord::new(r, me).0,
            Ordering::SeqCst,
            Ordering::Acquire,
        ) {
            Ok(_) => return Ok(Cas::Done(r)),
            Err(x) => w = SemWord(x),
        }
    }
    Ok(Cas::Slow)
}

/// After a lock-free change with sleepers: grants those that can now go,
/// under the lock if it can be had within `bound` (about: see
/// [`GRANT_BOUND`]; zero: only if it is free now); otherwise (a holder
/// stopped or long preempted) wakes the sleepers to serve themselves.
#[cold]
pub(super) fn grant(o: &Obj, v: &View<'_>, bound: Duration) {
    // Within `bound` (NOWAIT_BOUND), and no longer than the first look
    // at a holder found stopped (`Deadline::for_lock`): a stopped holder
    // lets go only once continued, and the sleepers can be woken now.
    // (This used to wait out the bound, ~10 ms, for a stopped holder: an
    // `IPC_NOWAIT` P with `SEM_UNDO`, lock-free since layout 5, took
    // 10.3 ms beside one in `t_chaos`, 0.5 ms before.)
    let got = if bound.is_zero() {
        lock_by(o, &Deadline::after(bound))
    } else {
        lock_soon(o, || Deadline::NEVER.for_lock(true))
    };
    match got {
        Ok(_g) => {
            // The view is this mapping's: still the set's (its magic was
            // checked by the caller, the set is not removed while locked).
            update_queue(v);
        }
        Err(_) if o.is_removed() => {}
        Err(_) => wake_sleepers(v),
    }
}

/// Wakes every waiting sleeper (without the lock): each looks at its
/// operation again and serves itself when it can ([`self_serve`]).
pub(super) fn wake_sleepers(v: &View<'_>) {
    for i in wslots_used(v) {
        if let Ok(w) = v.wslot(i) {
            if w.state.load(Ordering::Acquire) & 0xff == W_WAITING {
                Event::new(&w.state, W_SLEEP).wake_all();
            }
        }
    }
}

/// A sleeper in slot `i` (ticket `ticket`) tries its operation itself,
/// without the lock: when it is one operation without `SEM_UNDO`. The
/// slot goes `W_WAITING` → `W_SELF` first (compare-and-swap: a granter
/// that claimed it first wins, and one that comes later skips it), then
/// the operation is tried; performed, the slot is given up (`W_CANCELLED`,
/// reused by the next enqueue) and the call succeeds; would still block,
/// the slot goes back to `W_WAITING` and the value is looked at once more
/// (a release that came while the slot was `W_SELF` was not granted to
/// it). `None`: nothing decided, keep waiting.
pub(super) fn self_serve(v: &View<'_>, i: usize, ticket: u64) -> Option<Result<()>> {
    let w = v.wslot(i).ok()?;
    if w.ticket.load(Ordering::Relaxed) != ticket
        || w.pid.load(Ordering::Relaxed) != my_pid()
        || w.undo.load(Ordering::Relaxed) >= 0
        || w.nsops.load(Ordering::Relaxed) != 1
    {
        return None;
    }
    if v.o.is_removed() {
        return None; // the removal's EIDRM comes by the usual way
    }
    let op = SemOp::unpack(v.wop(i, 0).ok()?.load(Ordering::Relaxed));
    if op.flg & SEM_UNDO != 0 || op.num as usize >= v.s.nsems || !enter(v.o, v.hdr()) {
        return None;
    }
    for _ in 0..2 {
        let st = w.state.load(Ordering::Acquire);
        if st & 0xff != W_WAITING
            || w.state
                .compare_exchange(st, W_SELF, Ordering::SeqCst, Ordering::Acquire)
                .is_err()
        {
            return None;
        }
        let r = cas_op(v, op.num as usize, op.op);
        match r {
            Ok(Cas::Done(r)) => {
                w.state.store(W_CANCELLED, Ordering::Release);
                note_otime(v.hdr(), now_secs());
                // (`waiting` still counts this slot until a granter
                // recounts: no wait for the lock here, which is likely
                // held by the stopped process this sleeper went around.)
                if may_wake(op.op, r) && v.hdr().waiting.load(Ordering::SeqCst) != 0 {
                    grant(v.o, v, Duration::ZERO);
                }
                return Some(Ok(()));
            }
            Err(e) => {
                w.state.store(W_CANCELLED, Ordering::Release);
                return Some(Err(e));
            }
            Ok(_) => {
                // Back to waiting (**SeqCst**, then the value again: a
                // release whose grant skipped this slot is seen here).
                w.state.swap(W_WAITING, Ordering::SeqCst);
                let now = SemWord(v.sem(op.num as usize).ok()?.word.load(Ordering::SeqCst));
                if !can_go(now.val(), op.op) || now.frozen() {
                    return None;
                }
            }
        }
    }
    None
}

/// How long a lock-free call without `IPC_NOWAIT` waits at most (its own
/// deadline permitting) for another lock-free call's claim of a word it
/// needs to go ([`ClaimWait`]): a claim lasts a few instructions, or a
/// time slice when its claimant is preempted; past this the locked path
/// decides, as before.
const CLAIM_WAIT: Duration = Duration::from_millis(1);
/// Spins on a claimed word before the first yield (~1–5 µs).
const CLAIM_SPINS: u32 = 100;
/// Yields an `IPC_NOWAIT` call gives a claimant at most (so that one
/// preempted on this CPU can finish; with nothing else to run a yield
/// returns at once).
const NOWAIT_YIELDS: u32 = 2;
/// Yields after which the claimant is looked at (`/proc`): stopped or
/// gone, it is not waited for any longer.
const LOOK_AFTER_YIELDS: u32 = 16;
/// Claims waited for in one call, at most.
pub(super) const CLAIM_TRIES: u32 = 8;

/// A lock-free call's wait for other lock-free calls' claims of the words
/// it needs (a multi-operation call's, `multi`, or a one-operation
/// `SEM_UNDO` one's, [`semop_undo_fast`]): without it, beside a stopped
/// lock holder, such a call went to the locked path, which found the
/// holder stopped (`IPC_NOWAIT`: `EAGAIN` for a call the kernel performs;
/// otherwise ~10 ms to its next look). The waiter holds no claim while it
/// waits (a multi-operation call puts back its claims first), and a
/// claimant never waits while it holds one: no claimant waits for a
/// waiter. Bounded: [`CLAIM_SPINS`] spins, then yields — at most
/// [`NOWAIT_YIELDS`] for an `IPC_NOWAIT` call, else until the call's
/// deadline or [`CLAIM_WAIT`] — and a claimant found stopped or gone
/// after [`LOOK_AFTER_YIELDS`] yields is left to the locked path, as
/// before (a dead one's call is finished or undone there).
pub(super) struct ClaimWait {
    until: Deadline,
    nowait: bool,
    yields: u32,
    looked: bool,
}

impl ClaimWait {
    /// A wait under the call's deadline `d` (`nowait`: `IPC_NOWAIT`).
    #[cold]
    pub(super) fn new(d: Deadline, nowait: bool) -> ClaimWait {
        ClaimWait {
            until: d.min_after(CLAIM_WAIT),
            nowait,
            yields: 0,
            looked: false,
        }
    }

    /// Waits for the claim `w` of semaphore `s` (its word as last read) to
    /// go: true when it went or `w` is not frozen (try the lock-free path
    /// again), false when `w` is no other process's claim (the lock holder's freeze, this
    /// process's own claim: a signal handler's call would wait for the
    /// call it interrupted) or the wait's bound came first.
    #[cold]
    #[inline(never)]
    pub(super) fn wait(&mut self, v: &View<'_>, s: &Sem, w: SemWord) -> bool {
        // Nothing in the way (any more): try again.
        if !w.frozen() || s.load() != w {
            return true;
        }
        // Not a claim: the lock holder's freeze, or a tombstone (the set
        // moves: the lock says so).
        if !w.claimed() || w.tomb() {
            return false;
        }
        let pid = if w.multi() {
            match v.wslot(w.multi_slot()) {
                Ok(r) => multi::state_pid(r.state.load(Ordering::Acquire)),
                Err(_) => return false,
            }
        } else {
            w.pid()
        };
        // No such claimant (its record freed: the claim gone, seen here),
        // or this process's own.
        if pid <= 0 || pid == my_pid() {
            return s.load() != w;
        }
        for _ in 0..CLAIM_SPINS {
            if s.load() != w {
                return true;
            }
            core::hint::spin_loop();
        }
        loop {
            if s.load() != w {
                return true;
            }
            if self.until.expired() || (self.nowait && self.yields >= NOWAIT_YIELDS) {
                return false;
            }
            if self.yields >= LOOK_AFTER_YIELDS && !self.looked {
                self.looked = true;
                let (l, stopped) = crate::os::proc::liveness_and_stopped(pid, 0);
                if l == crate::os::proc::Liveness::Dead || stopped {
                    return false;
                }
            }
            self.yields += 1;
            std::thread::yield_now();
        }
    }
}

/// After the lock-free path said [`Fast::Slow`] for `op`: while the word
/// is claimed by another lock-free call, waits for the claim to go
/// ([`ClaimWait`], under the call's deadline `d`) and tries the
/// lock-free path again; [`Fast::Slow`] when the word is not claimed (the
/// lock holder's freeze, or another reason) or the claim stayed.
#[cold]
#[inline(never)]
pub(super) fn past_claims(o: &Obj, known: &Known, op: SemOp, d: Deadline) -> Result<Fast> {
    let mut cw = ClaimWait::new(d, op.flg & IPC_NOWAIT != 0);
    for _ in 0..CLAIM_TRIES {
        let Some(shape) = known.shape else { break };
        let v = View::known(o, shape)?;
        let Ok(s) = v.sem(op.num as usize) else { break };
        if !cw.wait(&v, s, s.load()) {
            break;
        }
        match semop_fast_any(o, known, op)? {
            Fast::Slow => {}
            r => return Ok(r),
        }
    }
    Ok(Fast::Slow)
}
