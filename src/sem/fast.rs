//! The lock-free path: one operation without `SEM_UNDO` on a semaphore
//! the set's lock holder has not frozen is one compare-and-swap of the
//! semaphore's word (value and last pid together), as a `sem_t`'s.
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
//! delay: operations on the semaphores it froze, operations with
//! `SEM_UNDO` or on several semaphores (they need the lock), and the grant
//! of sleepers that cannot serve themselves. When the lock cannot be had
//! in [`GRANT_BOUND`], sleepers are woken to serve themselves
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
    /// not for this path (`SEM_UNDO`, a frozen word, no known shape, an
    /// index out of range): the locked path decides
    Slow,
}

/// One operation without the lock, when it can be (see the module doc).
/// The checks come in the general path's order: removed (`EIDRM`),
/// permission, would block, `ERANGE`.
#[inline]
pub(super) fn semop_fast(o: &Obj, known: &Known, op: SemOp) -> Result<Fast> {
    let Some(shape) = known.shape else {
        return Ok(Fast::Slow);
    };
    if op.flg & SEM_UNDO != 0 {
        return Ok(Fast::Slow);
    }
    let v = View::known(o, shape)?;
    if o.is_removed() {
        return Err(Errno::EIDRM);
    }
    let n = op.num as usize;
    if n >= v.s.nsems {
        return Ok(Fast::Slow);
    }
    let alter = op.op != 0;
    // One clock read for the credentials' cache and `sem_otime`.
    let now = o.check_mine_secs(if alter { 0o2 } else { 0o4 })?;
    if !enter(o, v.hdr()) {
        return Ok(Fast::Slow);
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

/// May this process operate without the lock on the set `h` heads? A set
/// on which nobody has yet lets its `SEM_UNDO` operations skip the freeze
/// (`lockfree` 0: see [`SetHdr::lockfree`]); the first lock-free caller
/// announces itself (1, **SeqCst**) and goes ahead only once it finds the
/// lock free (**SeqCst**, as every acquisition), which proves that no
/// holder that saw 0 still holds it — then the set is in use (2) and later
/// calls only load the word. Every lock holder that takes the lock after
/// the announcement sees it, and freezes.
#[inline(always)]
fn enter(o: &Obj, h: &SetHdr) -> bool {
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
fn may_wake(op: i16, r: i32) -> bool {
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

/// [`cas_op`] on the semaphore `s` of `v` (inline in [`semop_fast`], which
/// then keeps its view in registers).
#[inline(always)]
fn cas_word(v: &View<'_>, s: &Sem, op: i16) -> Result<Cas> {
    let me = my_pid();
    let mut w = s.load();
    for _ in 0..RETRIES {
        if w.frozen() {
            return Ok(Cas::Slow);
        }
        let cur = w.val();
        let r = cur + op as i32;
        if !can_go(cur, op) {
            return Ok(Cas::Block);
        }
        if r > SEMVMX {
            return Err(Errno::ERANGE);
        }
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
fn grant(o: &Obj, v: &View<'_>, bound: Duration) {
    // Without a clock read (a free lock is the common case): the lock asks
    // `give_up` first after one full nap of its own (its look-around
    // period, `sync::lock`'s CHECK_EVERY, 10 ms = NOWAIT_BOUND), i.e.
    // once `bound` has passed.
    let got = if bound.is_zero() {
        lock_by(o, &Deadline::after(bound))
    } else {
        lock_or(o, &Deadline::NEVER, &|| true)
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
