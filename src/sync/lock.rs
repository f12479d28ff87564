//! A process-shared lock that survives its owner's death, and whose waits
//! are bounded by what the caller asked for.
//!
//! The lock word holds the owner's pid (bit 31: someone sleeps on it). A
//! contender spins briefly, then sleeps on the futex with a short timeout;
//! each time it wakes it checks that the owner still lives (pid and start
//! time, see [`crate::os::proc`]). When the owner is gone, the contender takes
//! the lock over and learns it through [`LockOutcome::OwnerDied`]: the data
//! the lock guards may be half-updated, and the caller must repair it
//! before use.
//!
//! Nothing here trusts the word: a scribbled value is just "some owner".
//! An owner is declared dead only on positive evidence (see
//! [`crate::os::proc::alive`]): a full descriptor table or an unreadable
//! `/proc` never breaks mutual exclusion. A live process that has named
//! the lock for longer than [`STALL_CHECK`] and whose memory map we can
//! read but which does not map the file the lock lies in cannot hold it
//! (a scribbled word naming init or a kernel thread): it is taken over.
//!
//! Bounded time: [`RobustLock::lock_until`] gives up at a deadline
//! (`ETIMEDOUT`) or as soon as a caller's predicate says the wait is moot
//! (`EIDRM`: the object was removed meanwhile), and, under a deadline that
//! asks for it ([`Deadline::ends_if_stopped`]: the calls the kernel never
//! blocks), as soon as a look at the holder finds it stopped (SIGSTOP, job
//! control, a tracer: one `/proc/<pid>/stat` read, which the look makes
//! anyway; the cgroup freezer, whose tasks show `S` or `D`: the cgroup's
//! own word, read only then, see [`crate::os::cgroup`]). A stopped holder
//! or a word that names a live process we may not inspect delays only
//! callers without a deadline — see docs/bounded-time.md for what each
//! call waits for.

use super::fence::Frozen;
use super::futex::{futex_wait, futex_wake};
use super::held;
use super::owner::Owner;
use super::time::Deadline;
use crate::error::{Errno, Result};
use crate::os::proc::{liveness, liveness_and_stopped, maps_file_at, my_pid, my_start, Liveness};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use core::time::Duration;
use std::time::Instant;

const WAITERS: u32 = 1 << 31;
/// With a pid below it: a fence, naming its fencer (see
/// [`RobustLock::fence`]). Pids stay below 2^22 (`pid_max`), so no
/// holder's word has it.
const FENCE: u32 = 1 << 30;
/// The pid bits of a word.
const PID: u32 = FENCE - 1;
/// The object moved to another file: for good (no pid is all ones).
const MOVED: u32 = FENCE | PID;
/// In the fenced-holder word: the holder found its release failing and
/// writes nothing more.
const ACKED: u32 = 1 << 31;
const SPINS: u32 = 200;
const CHECK_EVERY: Duration = Duration::from_millis(10);
/// After a live owner has named the lock this long, a waiter also checks
/// that it maps the lock's file (once per this period).
pub const STALL_CHECK: Duration = Duration::from_millis(200);

/// The lock as it lies in shared memory (16 bytes).
#[repr(C)]
#[derive(Debug)]
pub struct RobustLock {
    word: AtomicU32,
    /// The pid of the holder a fence fenced (see [`RobustLock::fence`]).
    fenced: AtomicU32,
    owner_start: AtomicU64,
}

// SAFETY: `#[repr(C)]`, atomics only.
unsafe impl crate::ns::Shared for RobustLock {}

/// How a lock was acquired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockOutcome {
    /// Normally: the guarded data is consistent.
    Acquired,
    /// Taken over from a dead owner: repair the guarded data.
    OwnerDied,
}

/// What a lock word says (see [`RobustLock::state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockState {
    /// nobody holds it
    Free,
    /// this pid holds it
    Held(i32),
    /// `fencer` fenced `holder` (see [`RobustLock::fence`])
    Fenced {
        /// the waiter that fenced
        fencer: i32,
        /// the holder it fenced
        holder: i32,
    },
    /// the object moved (see [`RobustLock::mark_moved`])
    Moved,
}

/// How a wait for a lock ended (see [`RobustLock::lock_movable`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Got {
    /// The lock is this process's.
    Out(LockOutcome),
    /// Not taken: its holder (the word as read) is stopped and did not
    /// run for the grace period asked for (the look that proves it): the
    /// caller may fence it ([`RobustLock::fence`]) and move the object.
    Stopped(u32, Frozen),
    /// A dead fencer's fence, now this process's (the pid it had fenced):
    /// the caller must move the object as the fencer would have.
    Orphan(i32),
}

/// What a waiter's look at the lock's owner found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Look {
    /// The owner was dead (or did not map the lock): the lock is ours.
    Taken(Got),
    /// The owner holds it; `stopped` when it is positively stopped
    /// (`/proc/<pid>/stat` state `T` or `t`), which ends a wait under a
    /// deadline that asks for it ([`Deadline::ends_if_stopped`]).
    Held { stopped: bool },
    /// (A movable object's lock) the object moved or is moving.
    Moving,
}

/// A predicate a waiter checks now and then: true when waiting for the
/// lock no longer makes sense (the object was removed).
pub type GiveUp<'a> = &'a dyn Fn() -> bool;

fn never() -> bool {
    false
}

/// What a wait for this very thread answers at once (see
/// [`RobustLock::not_my_threads`]): `ETIMEDOUT` for a call with a
/// deadline (what it answers at its deadline), `EDEADLK` for one without.
#[cold]
pub fn own_answer(deadline: &Deadline) -> Errno {
    if deadline.remaining().is_some() {
        Errno::ETIMEDOUT
    } else {
        Errno::EDEADLK
    }
}

impl RobustLock {
    /// Acquires the lock, however long a live owner holds it. Not
    /// interruptible by signals (as the kernel's internal locks are not).
    pub fn lock(&self) -> LockOutcome {
        if self.try_lock() {
            return LockOutcome::Acquired;
        }
        match self.lock_slow(&Deadline::NEVER, &never, None, None) {
            Ok(Got::Out(o)) => o,
            // Not for a lock that does not move.
            Ok(_) => LockOutcome::OwnerDied,
            // Neither can happen without a deadline or a predicate.
            Err(_) => unreachable!("an unbounded lock wait ended"),
        }
    }

    /// Acquires the lock unless `deadline` passes first (`ETIMEDOUT`) or
    /// `give_up` turns true (`EIDRM`); `give_up` is asked at most every
    /// few milliseconds while waiting, never on the uncontended path.
    #[inline]
    pub fn lock_until(&self, deadline: &Deadline, give_up: GiveUp<'_>) -> Result<LockOutcome> {
        if self.try_lock() {
            return Ok(LockOutcome::Acquired);
        }
        self.not_my_threads(deadline)?;
        if self.moved_by_my_thread() {
            // (A lock of an object this thread is moving, met by a
            // signal handler's call that interrupted it: the move cannot
            // end before the handler returns. A movable take leaves the
            // answer to the engine, which may finish a committed move.)
            return Err(own_answer(deadline));
        }
        match self.lock_slow(deadline, give_up, None, None)? {
            Got::Out(o) => Ok(o),
            // Not for a lock that does not move.
            _ => Ok(LockOutcome::OwnerDied),
        }
    }

    /// Takes the lock if it is free right now, without waiting (and
    /// without recovering it from a dead owner: use [`RobustLock::lock`]
    /// for that).
    #[inline]
    pub fn try_lock(&self) -> bool {
        let me = my_pid() as u32 & !WAITERS;
        // Noted before the swap, not after: a signal handler that runs
        // right after the swap (a locked instruction, where interrupts
        // tend to land) must find it noted ([`held`]).
        held::note(self.addr());
        if self
            .word
            .compare_exchange(0, me, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
        {
            self.owner_start.store(my_start(), Ordering::Relaxed);
            return true;
        }
        held::forget(self.addr());
        false
    }

    /// The word from `seen` to `new` by compare-and-swap, the lock noted
    /// as this thread's first (see [`RobustLock::try_lock`]); false, and
    /// nothing noted, when the word changed.
    fn swap_noted(&self, seen: u32, new: u32) -> bool {
        held::note(self.addr());
        let ok = self
            .word
            .compare_exchange(seen, new, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok();
        if !ok {
            held::forget(self.addr());
        }
        ok
    }

    /// This lock's address, as [`held`] notes it.
    #[inline(always)]
    fn addr(&self) -> usize {
        self as *const RobustLock as usize
    }

    /// `Ok` unless the word names this process and it is this very thread
    /// that holds the lock: a signal handler's call that
    /// interrupted its own thread inside the locked section, which cannot
    /// let go before the handler returns. Waiting would be waiting for
    /// itself: a call with a deadline ends at once (`ETIMEDOUT`: what it
    /// answers at its deadline — `EAGAIN` for an operation, the reading
    /// without the lock for a control call), one without gets `EDEADLK`
    /// (docs/bounded-time.md, "A signal handler's call on its own
    /// thread's lock").
    #[inline]
    fn not_my_threads(&self, deadline: &Deadline) -> Result<()> {
        let me = my_pid() as u32 & PID;
        // (A plain hold only: a word that is this thread's fence tells a
        // taker that the object is moving, as before — a move this very
        // thread makes is not cut short.)
        if self.word.load(Ordering::Relaxed) & !WAITERS != me || !held::holds(self.addr()) {
            return Ok(());
        }
        Err(own_answer(deadline))
    }

    /// Whether the lock carries this process's fence, laid by this very
    /// thread, whose move of the object is under way on this thread's
    /// stack ([`held::Moving`]): a signal handler's call that interrupted
    /// its own thread's move, which cannot end before the handler returns
    /// (docs/bounded-time.md, "A handler whose thread is moving the
    /// object"). A fence of a sibling thread's (not noted here), or one
    /// this thread left behind when its move call returned (a committed
    /// move whose publication failed: finished by whoever meets it), is
    /// not: those moves end without this thread.
    #[inline]
    pub fn moved_by_my_thread(&self) -> bool {
        let me = my_pid() as u32 & PID;
        self.word.load(Ordering::Relaxed) & !WAITERS == FENCE | me
            && held::holds(self.addr())
            && held::moving(self.addr())
    }

    /// Marks this lock and `other` (the object's other lock, or this one
    /// again) as those of an object this thread moves, until the guard is
    /// dropped ([`RobustLock::moved_by_my_thread`]).
    #[inline]
    pub fn mark_moving(&self, other: &RobustLock) -> held::Moving {
        held::Moving::new(self.addr(), other.addr())
    }

    #[cold]
    fn lock_slow(
        &self,
        deadline: &Deadline,
        give_up: GiveUp<'_>,
        mv: Option<GiveUp<'_>>,
        grace: Option<Duration>,
    ) -> Result<Got> {
        let movable = mv.is_some();
        let me = my_pid() as u32 & !WAITERS;
        // A stopped holder as first seen frozen, and when (see `grace`).
        let mut frozen: Option<(u32, Frozen, Instant)> = None;
        // Whether a look's finding ends the wait: a holder stopped and
        // frozen for `grace` (a movable lock) is handed to the caller to
        // fence.
        let mut stopped_long = |cur: u32, owner: i32| -> Option<Got> {
            let g = grace?;
            let w = cur & !WAITERS;
            match &frozen {
                Some((fw, f, t)) if *fw == w => {
                    if t.elapsed() < g {
                        return None;
                    }
                    if f.still() {
                        return Some(Got::Stopped(cur, f.clone()));
                    }
                    frozen = None;
                }
                _ => {
                    let start = self.owner_start.load(Ordering::Relaxed);
                    frozen = Frozen::look(owner, start).map(|f| (w, f, Instant::now()));
                }
            }
            None
        };
        // The one watch of a stopped holder a wait that ends at one may
        // make ([`RobustLock::watch_stopped`]): a holder seen stopped only
        // at the wait's last look (it was stopped meanwhile) is watched
        // then, past the deadline by the grace; one that ran during the
        // watch ends the wait.
        let mut watch = grace;
        let mut spins = 0;
        let mut last_check: Option<Instant> = None;
        // The owner word as first seen, and when: a live owner that keeps
        // it past STALL_CHECK has its memory map looked at.
        let mut stall: Option<(u32, Instant, Instant)> = None;
        loop {
            let v = self.word.load(Ordering::Relaxed);
            if v == 0 {
                // Take it, keeping the waiters bit conservatively set when
                // we have slept (others may still sleep).
                let new = if spins > SPINS { me | WAITERS } else { me };
                if self.swap_noted(0, new) {
                    self.owner_start.store(my_start(), Ordering::Relaxed);
                    return Ok(Got::Out(LockOutcome::Acquired));
                }
                continue;
            }
            if movable && v & FENCE != 0 && self.moving(v, mv, false) {
                return Err(Errno::ESTALE);
            }
            if spins < SPINS {
                spins += 1;
                // Back off: the lock word shares its line with the data it
                // guards, and every read pulls that line from the holder.
                for _ in 0..(1u32 << (spins / 16).min(5)) {
                    core::hint::spin_loop();
                }
                continue;
            }
            spins = SPINS + 1;
            if !self.mark_waiters(v) {
                continue;
            }
            // The word as it now is: a look's takeover swaps from it (from
            // `v` without the bit, a dead owner's word was never taken at
            // the first look, only after the first nap: 10 ms).
            let v = v | WAITERS;
            if last_check.is_none() && deadline.remaining().is_some() {
                // Done spinning, with a deadline: a dead owner (the common
                // reason for a long wait after a crash) is taken over at
                // once, not after the first nap, which a bounded call may
                // not have time for. (Unbounded waits look after a nap:
                // the look costs /proc reads.)
                last_check = Some(Instant::now());
                match self.take_if_dead(v, me, false, mv) {
                    Look::Taken(o) => return Ok(o),
                    Look::Moving => return Err(Errno::ESTALE),
                    Look::Held { stopped: true } if deadline.ends_if_stopped() => {
                        match self.watch_stopped(v, watch.take(), deadline) {
                            Some(r) => return r,
                            None => continue,
                        }
                    }
                    Look::Held { stopped: true } => {
                        if let Some(g) = stopped_long(v, (v & PID) as i32) {
                            return Ok(g);
                        }
                    }
                    Look::Held { .. } => {}
                }
            }
            let nap = match deadline.remaining() {
                Some(r) if r.is_zero() => {
                    // One last look: an owner that died meanwhile.
                    let cur = self.word.load(Ordering::Relaxed);
                    if cur != 0 {
                        match self.take_if_dead(cur, me, false, mv) {
                            Look::Taken(o) => return Ok(o),
                            Look::Moving => return Err(Errno::ESTALE),
                            Look::Held { .. } => {}
                        }
                    }
                    return Err(Errno::ETIMEDOUT);
                }
                Some(r) => r.min(CHECK_EVERY),
                None => CHECK_EVERY,
            };
            let r = futex_wait(&self.word, v | WAITERS, Some(nap));
            // Check the owner every CHECK_EVERY however the wait ended: a
            // signal arriving more often than that (EINTR) must not keep a
            // dead owner's lock from ever being recovered.
            let since = *last_check.get_or_insert_with(Instant::now);
            if r == Err(Errno::ETIMEDOUT) || since.elapsed() >= CHECK_EVERY {
                let now = Instant::now();
                last_check = Some(now);
                if give_up() {
                    return Err(Errno::EIDRM);
                }
                let cur = self.word.load(Ordering::Relaxed);
                if cur != 0 {
                    let owner = cur & PID;
                    let look_at_maps = match stall {
                        Some((o, _, last)) if o == owner => {
                            if now.duration_since(last) >= STALL_CHECK {
                                stall = Some((o, now, now));
                                true
                            } else {
                                false
                            }
                        }
                        _ => {
                            stall = Some((owner, now, now));
                            false
                        }
                    };
                    match self.take_if_dead(cur, me, look_at_maps, mv) {
                        Look::Taken(o) => return Ok(o),
                        Look::Moving => return Err(Errno::ESTALE),
                        Look::Held { stopped: true } if deadline.ends_if_stopped() => {
                            match self.watch_stopped(cur, watch.take(), deadline) {
                                Some(r) => return r,
                                None => continue,
                            }
                        }
                        Look::Held { stopped: true } => {
                            if let Some(g) = stopped_long(cur, owner as i32) {
                                return Ok(g);
                            }
                        }
                        Look::Held { .. } => {}
                    }
                }
            }
        }
    }

    /// A wait that ends at a stopped holder ([`Deadline::ends_if_stopped`])
    /// found the word `seen` held by one. With `grace` and a deadline that
    /// fences quickly (an `IPC_NOWAIT` call on a movable object:
    /// [`Deadline::fences_quickly`]) it watches the holder for `grace`:
    /// [`Got::Stopped`] when the word stayed the same and the holder stayed
    /// stopped and did not run ([`Frozen::still`]: the caller fences it);
    /// `None` when the word changed meanwhile (look again). Otherwise, or
    /// when the holder ran, `ETIMEDOUT`.
    #[cold]
    #[inline(never)]
    fn watch_stopped(
        &self,
        seen: u32,
        grace: Option<Duration>,
        deadline: &Deadline,
    ) -> Option<Result<Got>> {
        let g = match grace {
            Some(g) if deadline.fences_quickly() => g,
            _ => return Some(Err(Errno::ETIMEDOUT)),
        };
        let start = self.owner_start.load(Ordering::Relaxed);
        let Some(f) = Frozen::look((seen & PID) as i32, start) else {
            return Some(Err(Errno::ETIMEDOUT));
        };
        if !self.mark_waiters(seen) {
            return None;
        }
        let w = seen | WAITERS;
        let t0 = Instant::now();
        loop {
            if self.word.load(Ordering::Relaxed) != w {
                return None;
            }
            match g.checked_sub(t0.elapsed()) {
                Some(left) if !left.is_zero() => {
                    let _ = futex_wait(&self.word, w, Some(left));
                }
                _ => break,
            }
        }
        Some(if f.still() && self.word.load(Ordering::Relaxed) == w {
            Ok(Got::Stopped(w, f))
        } else {
            Err(Errno::ETIMEDOUT)
        })
    }

    /// Before sleeping on the word seen as `w`: sets its waiters bit; false
    /// when the word changed meanwhile (look again).
    #[inline]
    fn mark_waiters(&self, w: u32) -> bool {
        w & WAITERS != 0
            || self
                .word
                .compare_exchange(w, w | WAITERS, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// Takes the lock over when its owner (as read in `seen`) is dead, or
    /// is a live process that does not map the file the lock lies in (the
    /// word was scribbled on: see [`maps_file_at`]). Dead means positively
    /// known dead ([`alive`] says no only on evidence). The maps are read
    /// when no start time is recorded (a holder between its
    /// compare-and-swap and its start-time store, or a scribbled word),
    /// when the owner holds no liveness mark in the namespaces open here
    /// (`ns::unmarked_everywhere`: no member; a holder always holds one),
    /// or with `stalled` (the same owner for [`STALL_CHECK`]).
    fn take_if_dead(&self, seen: u32, me: u32, stalled: bool, mv: Option<GiveUp<'_>>) -> Look {
        let movable = mv.is_some();
        if movable && seen & FENCE != 0 && self.moving(seen, mv, stalled) {
            return Look::Moving;
        }
        // A fence names its fencer, who is then the holder (MOVED names
        // no process: taken over, unless the object may move).
        let owner = (seen & PID) as i32;
        let start = self.owner_start.load(Ordering::Relaxed);
        if owner == my_pid() {
            return Look::Held { stopped: false };
        }
        let (live, stopped) = liveness_and_stopped(owner, start);
        let holds = match live {
            Liveness::Dead => false,
            // The maps are read when there is reason to doubt the word, or
            // when its process holds no liveness mark here (no member: a
            // scribble naming init or an unrelated program — one `fcntl`
            // per open namespace tells; then, if its maps cannot be read,
            // the missing mark is the evidence, see `maps_file_at`).
            Liveness::Alive | Liveness::Unknown => {
                !(start == 0 || stalled || crate::ns::unmarked_everywhere(owner))
                    || maps_file_at(owner, self as *const Self as usize)
            }
        };
        if holds {
            return Look::Held { stopped };
        }
        if movable && seen & FENCE != 0 && seen & !WAITERS != MOVED {
            // A dead fencer's fence: taken over as a fence (the holder it
            // fenced may still write; the object must still move).
            let mine = self.forget_start();
            if !self.swap_noted(seen, FENCE | me | WAITERS) {
                return Look::Held { stopped: false };
            }
            self.owner_start.store(mine, Ordering::Relaxed);
            return Look::Taken(Got::Orphan(
                (self.fenced.load(Ordering::Relaxed) & PID) as i32,
            ));
        }
        let mine = self.forget_start();
        if !self.swap_noted(seen, me | WAITERS) {
            return Look::Held { stopped: false };
        }
        self.owner_start.store(mine, Ordering::Relaxed);
        crate::debug_report!(
            "lock at {:p} taken over from pid {owner} ({})",
            self,
            if start != 0 && liveness(owner, start) != Liveness::Dead {
                "alive, but it does not map the lock's file"
            } else {
                "gone"
            }
        );
        Look::Taken(Got::Out(LockOutcome::OwnerDied))
    }

    /// Before a compare-and-swap that makes this process the word's
    /// holder (or fencer) where another process was: clears the start
    /// time, and returns this process's own, to be stored once the swap
    /// succeeded. The word and the start time are two stores: a waiter
    /// that looks between them must never read the previous holder's
    /// start beside this process's pid, which it would take for proof
    /// that this process is dead (a start time that differs) and take the
    /// lock from it. A start time of 0 is "unknown": the waiter then
    /// looks at the pid and at whether it maps the lock ([`Self::take_if_dead`]).
    /// The release clears it likewise before its swap ([`Self::unlock`]),
    /// so a take from a free word finds 0. (A failed swap leaves 0 where
    /// another's start was: "unknown" for that holder, the safe side.)
    /// Read first: a fresh child reads its start from `/proc`, which
    /// must not happen between the swap and the store.
    #[inline]
    fn forget_start(&self) -> u64 {
        let mine = my_start();
        self.owner_start.store(0, Ordering::SeqCst);
        mine
    }

    /// Releases the lock and wakes one sleeper if any: true when it was
    /// released, false when the word no longer names this process (a
    /// waiter fenced it, [`RobustLock::fence`], or took it over: then it
    /// is left as it is). The release is a compare-and-swap from this
    /// process's value (with or without the waiters bit) to 0 — the
    /// holder's commit point relative to a fence: everything it wrote
    /// before a successful release is the lock's next holder's to see; a
    /// holder whose release fails was fenced, and what it wrote since is
    /// not trusted. It is a locked instruction and so a full barrier on
    /// x86, as the exchange it replaced: the message queue's wake-up check
    /// right after it relies on that (`msg::wait::notify`).
    #[inline(always)]
    pub fn unlock(&self) -> bool {
        let me = my_pid() as u32 & PID;
        let cur = self.word.load(Ordering::Relaxed);
        if cur & !WAITERS != me {
            // Fenced: no longer this thread's.
            held::forget(self.addr());
            return false;
        }
        self.owner_start.store(0, Ordering::Relaxed);
        // No waiter (the common case): one compare-and-swap.
        if cur == me
            && self
                .word
                .compare_exchange(me, 0, Ordering::Release, Ordering::Relaxed)
                .is_ok()
        {
            held::forget(self.addr());
            return true;
        }
        let r = self.unlock_slow(me, cur);
        held::forget(self.addr());
        r
    }

    #[cold]
    fn unlock_slow(&self, me: u32, mut cur: u32) -> bool {
        loop {
            match self
                .word
                .compare_exchange_weak(cur, 0, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => {
                    if cur & WAITERS != 0 {
                        futex_wake(&self.word, 1);
                    }
                    return true;
                }
                // Only the waiters bit may change under a holder; anything
                // else is a fence or a takeover.
                Err(v) if v & !WAITERS == me => cur = v,
                Err(_) => return false,
            }
        }
    }

    /// Fences the holder named by `seen` (the word as read, which must
    /// name a holder, not a fence): one compare-and-swap from `seen` to a
    /// fence naming this process (the waiters bit kept). From then on the
    /// holder's [`RobustLock::unlock`] fails, so nothing it writes after
    /// the fence is taken for the lock's next holder's: the fencer owns
    /// the lock instead, for the purpose of moving the guarded object
    /// elsewhere (docs/bounded-time.md, "Fencing a stopped holder"), after
    /// which it marks the lock [`RobustLock::mark_moved`], or gives it back
    /// with [`RobustLock::unfence`]. The holder's pid is kept in the
    /// lock's second word, its start time returned (as read before the
    /// swap; the fencer's own replaces it). `None` when the word changed
    /// meanwhile (the holder let go, or another waiter fenced first).
    pub fn fence(&self, seen: u32) -> Option<Owner> {
        let holder = seen & PID;
        if holder == 0 || seen & FENCE != 0 {
            return None;
        }
        let start = self.owner_start.load(Ordering::Relaxed);
        self.swap_to_my_fence(seen)?;
        self.fenced.store(holder, Ordering::Relaxed);
        Some(Owner {
            pid: holder as i32,
            start,
        })
    }

    /// Takes over the fence `seen` (the word as read) of a live mover seen
    /// stopped, and not run, for the grace (docs/bounded-time.md, "Taking
    /// over a stalled move"): one compare-and-swap from `seen` to a fence
    /// naming this process (the waiters bit kept; the fenced holder stays
    /// in the second word). The mover's every later step on the lock (its
    /// [`RobustLock::unfence`], [`RobustLock::carries_my_fence`]) compares
    /// against its own fence, which is gone. The holder's pid, or `None`
    /// when the word changed meanwhile.
    pub fn fence_fencer(&self, seen: u32) -> Option<i32> {
        let was = seen & !WAITERS;
        if was & FENCE == 0 || was == MOVED {
            return None;
        }
        if was & PID == my_pid() as u32 & PID {
            return None;
        }
        self.swap_to_my_fence(seen)?;
        Some((self.fenced.load(Ordering::Relaxed) & PID) as i32)
    }

    /// The word from `seen` (the waiters bit may have changed since;
    /// nothing else) to a fence naming this process, by compare-and-swap,
    /// the start time this process's; `None` when the word changed.
    fn swap_to_my_fence(&self, seen: u32) -> Option<()> {
        let me = my_pid() as u32 & PID;
        let mine = self.forget_start();
        let mut cur = seen;
        loop {
            if cur & !WAITERS != seen & !WAITERS {
                return None;
            }
            match self.word.compare_exchange_weak(
                cur,
                FENCE | me | (cur & WAITERS),
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(v) => cur = v,
            }
        }
        // (Already noted when it is this thread's own hold it fences:
        // `fence_mine`.)
        if !held::holds(self.addr()) {
            held::note(self.addr());
        }
        self.owner_start.store(mine, Ordering::Relaxed);
        Some(())
    }

    /// Whether the lock carries this process's fence now (**SeqCst**: a
    /// mover that claimed the right to lift what it laid, `Obj::begin_lift`,
    /// then finds its fence still there, knows that a mover that takes it
    /// over afterwards sees its claim).
    pub fn carries_my_fence(&self) -> bool {
        let w = self.word.load(Ordering::SeqCst) & !WAITERS;
        w & FENCE != 0 && w != MOVED && w & PID == my_pid() as u32 & PID
    }

    /// Turns this process's own hold of the lock into a fence of itself
    /// (so that every taker sees the object moving, as for
    /// [`RobustLock::fence`]); false when the word is not this process's.
    pub fn fence_mine(&self) -> bool {
        self.fence(self.word.load(Ordering::Relaxed))
            .is_some_and(|o| o.pid == my_pid())
    }

    /// Called by a holder whose release failed: tells its fencer that it
    /// writes nothing more (see [`RobustLock::fence_acked`]).
    pub fn ack_fence(&self) {
        let me = my_pid() as u32 & PID;
        let _ = self
            .fenced
            .compare_exchange(me, me | ACKED, Ordering::SeqCst, Ordering::Relaxed);
    }

    /// Whether the fenced holder said it writes nothing more (it found its
    /// release failing: [`RobustLock::ack_fence`]).
    pub fn fence_acked(&self) -> bool {
        self.fenced.load(Ordering::SeqCst) & ACKED != 0
    }

    /// The holder this process fenced (`fence`'s answer), when the lock
    /// still carries this process's fence.
    pub fn fenced_by_me(&self) -> Option<i32> {
        let w = self.word.load(Ordering::Relaxed);
        (w & FENCE != 0 && w & !WAITERS != MOVED && w & PID == my_pid() as u32 & PID)
            .then(|| (self.fenced.load(Ordering::Relaxed) & PID) as i32)
    }

    /// Gives a fence back to the holder it fenced (`holder` as `fence`
    /// returned it): the fencer found it could not move the object (the
    /// holder ran meanwhile, a file could not be made). The holder's
    /// release works again; a holder that tried to release meanwhile
    /// found the fence and waits for it to end ([`RobustLock::state`]),
    /// then releases. False when the word no longer carries this
    /// process's fence.
    pub fn unfence(&self, holder: Owner) -> bool {
        let me = my_pid() as u32 & PID;
        let mut cur = self.word.load(Ordering::Relaxed);
        loop {
            if cur & !WAITERS != FENCE | me {
                return false;
            }
            self.owner_start.store(holder.start, Ordering::Relaxed);
            match self.word.compare_exchange_weak(
                cur,
                holder.pid as u32 & PID | WAITERS,
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    // (Given back to this very process by `fence_mine`'s
                    // caller: its hold again.)
                    if holder.pid != my_pid() {
                        held::forget(self.addr());
                    }
                    futex_wake(&self.word, i32::MAX);
                    return true;
                }
                Err(v) => cur = v,
            }
        }
    }

    /// Marks the lock as the lock of an object that moved to another file
    /// (its fencer published the copy): for good — every taker, and the
    /// fenced holder, learns it ([`RobustLock::state`],
    /// [`RobustLock::lock_movable`]: `ESTALE`) and reopens the object.
    /// Every sleeper is woken.
    pub fn mark_moved(&self) {
        self.word.store(MOVED, Ordering::SeqCst);
        held::forget(self.addr());
        futex_wake(&self.word, i32::MAX);
    }

    /// What the word says now (untrusted: any value is one of these).
    pub fn state(&self) -> LockState {
        let w = self.word.load(Ordering::Acquire);
        match w & !WAITERS {
            0 => LockState::Free,
            MOVED => LockState::Moved,
            v if v & FENCE != 0 => LockState::Fenced {
                fencer: (v & PID) as i32,
                holder: (self.fenced.load(Ordering::Relaxed) & PID) as i32,
            },
            v => LockState::Held((v & PID) as i32),
        }
    }

    /// As [`RobustLock::lock_until`], for an object that may move
    /// ([`RobustLock::fence`]): `ESTALE` when the lock is marked moved, or
    /// carries a live fencer's fence (the caller lets go of what it holds
    /// and waits for the move with [`RobustLock::wait_moved`], then
    /// reopens the object). A dead fencer's fence is taken over as a fence
    /// ([`Got::Orphan`]): the object was not moved (the mark comes last),
    /// and the holder it fenced may still write, so the taker moves it.
    /// With `grace`, a holder seen stopped and frozen for that long
    /// ([`Frozen`]) ends the wait with [`Got::Stopped`].
    ///
    /// `moved` says whether the object really moved (its own mark, set
    /// before the locks are marked): a lock word saying so of an object
    /// that did not is a scribble, taken over as a dead holder's; so is a
    /// fence whose fencer, alive, has named the lock for [`STALL_CHECK`]
    /// without mapping its file.
    pub fn lock_movable(
        &self,
        deadline: &Deadline,
        give_up: GiveUp<'_>,
        grace: Option<Duration>,
        moved: GiveUp<'_>,
    ) -> Result<Got> {
        if self.try_lock() {
            return Ok(Got::Out(LockOutcome::Acquired));
        }
        self.not_my_threads(deadline)?;
        self.lock_slow(deadline, give_up, Some(moved), grace)
    }

    /// With a word that names a fence or the move (not a holder): whether
    /// a taker of a movable object must reopen it — the object moved, or
    /// a live fencer is moving it.
    fn moving(&self, seen: u32, moved: Option<GiveUp<'_>>, stalled: bool) -> bool {
        match seen & !WAITERS {
            MOVED => moved.map_or(true, |m| m()),
            v if v & FENCE != 0 => {
                let f = (v & PID) as i32;
                liveness(f, self.owner_start.load(Ordering::Relaxed)) != Liveness::Dead
                    && (!stalled || maps_file_at(f, self as *const Self as usize))
            }
            _ => false,
        }
    }

    /// A live mover's fence met on this lock (docs/bounded-time.md,
    /// "Taking over a stalled move"): waits by `d` for the move's end
    /// (`Ok(None)`: the lock marked moved, or `moved` says the object is),
    /// `EAGAIN` when the fence ended otherwise (given back, its mover dead:
    /// take the lock again), `ETIMEDOUT` at `d`. With `grace` (a caller
    /// that would move the object itself), the fencer is watched: seen
    /// stopped, and not run, for that long ([`Frozen`], as a holder), its
    /// fence word is returned (`Ok(Some(word))`) for the caller to take
    /// over ([`RobustLock::fence_fencer`]). `help` runs after each 10 ms
    /// nap that did not end the wait: a committed move whose publisher is
    /// stopped is finished by whoever waits for it.
    pub fn wait_for_mover(
        &self,
        d: &Deadline,
        grace: Option<Duration>,
        moved: GiveUp<'_>,
        help: &dyn Fn(),
    ) -> Result<Option<u32>> {
        let mut watch: Option<(u32, Frozen, std::time::Instant)> = None;
        loop {
            if moved() {
                return Ok(None);
            }
            let w = self.word();
            match self.state() {
                LockState::Moved => return Ok(None),
                LockState::Fenced { fencer, .. } => {
                    if let Some(g) = grace {
                        let key = w & !WAITERS;
                        match &watch {
                            Some((k, f, t)) if *k == key => {
                                if t.elapsed() >= g {
                                    if f.still() {
                                        return Ok(Some(w));
                                    }
                                    watch = None;
                                    continue;
                                }
                            }
                            _ => {
                                watch = Frozen::look(fencer, self.owner_start())
                                    .map(|f| (key, f, std::time::Instant::now()));
                            }
                        }
                    }
                }
                _ => return Err(Errno::EAGAIN),
            }
            let nap = match d.remaining() {
                Some(r) if r.is_zero() => return Err(Errno::ETIMEDOUT),
                Some(r) => r.min(Duration::from_millis(10)),
                None => Duration::from_millis(10),
            };
            match self.wait_moved(&Deadline::after(nap)) {
                Ok(()) => return Ok(None),
                Err(Errno::ETIMEDOUT) => help(),
                Err(e) => return Err(e),
            }
        }
    }

    /// Called by a fenced holder whose fencer died before the move (the
    /// object's names still lead to this lock's file, and nobody took
    /// the fence over): takes its own lock back from the fence `seen`, so
    /// that its release works. False when the word changed meanwhile.
    pub fn reclaim(&self, seen: u32) -> bool {
        let me = my_pid() as u32 & PID;
        if seen & FENCE == 0 || seen & !WAITERS == MOVED {
            return false;
        }
        let mine = self.forget_start();
        if self
            .word
            .compare_exchange(
                seen,
                me | (seen & WAITERS),
                Ordering::SeqCst,
                Ordering::Relaxed,
            )
            .is_err()
        {
            return false;
        }
        if !held::holds(self.addr()) {
            held::note(self.addr());
        }
        self.owner_start.store(mine, Ordering::Relaxed);
        self.fenced.store(0, Ordering::Relaxed);
        true
    }

    /// The word as it is (for [`RobustLock::reclaim`]).
    pub fn word(&self) -> u32 {
        self.word.load(Ordering::Acquire)
    }

    /// The start time recorded with the word (the holder's, or a fence's
    /// fencer's).
    pub fn owner_start(&self) -> u64 {
        self.owner_start.load(Ordering::Relaxed)
    }

    /// Waits until the lock is marked moved (`Ok`), its fence is given
    /// back or its fencer died (`EAGAIN`: take the lock again), or
    /// `deadline` passes (`ETIMEDOUT`).
    pub fn wait_moved(&self, deadline: &Deadline) -> Result<()> {
        loop {
            let w = self.word.load(Ordering::Acquire);
            if w & !WAITERS == MOVED {
                return Ok(());
            }
            if w & FENCE == 0 || !self.moving(w, None, false) {
                return Err(Errno::EAGAIN);
            }
            let nap = match deadline.remaining() {
                Some(r) if r.is_zero() => return Err(Errno::ETIMEDOUT),
                Some(r) => r.min(CHECK_EVERY),
                None => CHECK_EVERY,
            };
            if !self.mark_waiters(w) {
                continue;
            }
            let _ = futex_wait(&self.word, w | WAITERS, Some(nap));
        }
    }

    /// True when some process holds the lock. **SeqCst**, as every
    /// acquisition's compare-and-swap: a process that stores a flag
    /// (SeqCst) and then finds the lock free knows that every later holder
    /// sees the flag, and that no holder that did not is left (the
    /// semaphores' lock-free path, `sem::fast::enter`).
    pub fn is_locked(&self) -> bool {
        self.word.load(Ordering::SeqCst) != 0
    }

    /// Resets the lock to free (only while initialising a new object).
    pub fn init(&self) {
        self.word.store(0, Ordering::Relaxed);
        self.fenced.store(0, Ordering::Relaxed);
        self.owner_start.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bounded (50 ms) take of `l` as a movable object's taker does it.
    fn take_movable_50ms(l: &RobustLock) -> Result<Got> {
        l.lock_movable(
            &Deadline::after(Duration::from_millis(50)),
            &never,
            None,
            &|| true,
        )
    }

    /// `took < bound`, or within what this thread's plain sleeps overrun
    /// right now: on a loaded machine (other tests, other builds) a thread
    /// that is woken in time may wait for a CPU long after. The worst of
    /// three 10 ms sleeps' lateness is the allowance, as the C tests judge
    /// timed calls beside `nap_over()`.
    fn in_time(took: Duration, bound: Duration) -> bool {
        if took < bound {
            return true;
        }
        let late = (0..3)
            .map(|_| {
                let t0 = std::time::Instant::now();
                std::thread::sleep(Duration::from_millis(10));
                t0.elapsed().saturating_sub(Duration::from_millis(10))
            })
            .max()
            .unwrap_or_default();
        took < bound + late
    }

    #[test]
    fn dead_owner_is_recovered() {
        let l = RobustLock {
            word: AtomicU32::new(0),
            fenced: AtomicU32::new(0),
            owner_start: AtomicU64::new(0),
        };
        // A pid that cannot exist owns it.
        l.word.store(0x3fff_fff0, Ordering::Relaxed);
        assert_eq!(l.lock(), LockOutcome::OwnerDied);
        l.unlock();
        assert_eq!(l.lock(), LockOutcome::Acquired);
        l.unlock();
        assert!(!l.is_locked());
    }

    /// A lock in a shared mapping of a fresh temporary file.
    struct Mapped {
        p: *mut u8,
        path: std::path::PathBuf,
    }

    impl Mapped {
        fn new() -> Mapped {
            use std::os::fd::AsRawFd;
            static N: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);
            let path = std::env::temp_dir().join(format!(
                "ripc-lock-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let f = std::fs::File::create_new(&path).unwrap();
            f.set_len(4096).unwrap();
            // SAFETY: a fresh shared mapping of a 4096-byte file we own.
            let p = unsafe {
                libc::mmap(
                    core::ptr::null_mut(),
                    4096,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    f.as_raw_fd(),
                    0,
                )
            };
            assert_ne!(p, libc::MAP_FAILED);
            Mapped { p: p.cast(), path }
        }

        fn lock(&self) -> &RobustLock {
            // SAFETY: the mapping is page-aligned, zero-filled (a free lock),
            // and lives as long as `self`.
            unsafe { &*(self.p as *const RobustLock) }
        }
    }

    impl Drop for Mapped {
        fn drop(&mut self) {
            // SAFETY: unmapping what `new` mapped.
            unsafe { libc::munmap(self.p.cast(), 4096) };
            let _ = std::fs::remove_file(&self.path);
        }
    }

    /// A live process unrelated to the lock: it maps no file of ours and
    /// never opened a namespace (the caller kills and reaps it).
    fn unrelated_process() -> std::process::Child {
        std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .unwrap()
    }

    #[test]
    fn a_live_process_that_does_not_map_the_lock_does_not_hold_it() {
        let m = Mapped::new();
        let l = m.lock();
        // A scribble: a live process's pid, no start time (as if caught
        // between the compare-exchange and the start time's store).
        let mut stranger = unrelated_process();
        l.word.store(stranger.id(), Ordering::Relaxed);
        let t0 = std::time::Instant::now();
        assert_eq!(l.lock(), LockOutcome::OwnerDied);
        assert!(t0.elapsed() < Duration::from_secs(1));
        l.unlock();
        let _ = stranger.kill();
        let _ = stranger.wait();
    }

    /// Makes `l` held by a child of this process (which inherits the
    /// mapping, so it is a live holder) that sleeps `us` microseconds, then
    /// exits; its pid (the caller kills and reaps it).
    fn held_by_sleeping_child(l: &RobustLock, us: u32) -> i32 {
        // SAFETY: the child only sleeps, then exits: async-signal-safe
        // calls.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: as above.
            unsafe {
                libc::usleep(us);
                libc::_exit(0);
            }
        }
        l.word.store(pid as u32, Ordering::Relaxed);
        l.owner_start
            .store(crate::os::proc::start_time_of(pid), Ordering::Relaxed);
        pid
    }

    #[test]
    fn a_bounded_wait_gives_up_at_its_deadline_or_when_told() {
        let m = Mapped::new();
        let l = m.lock();
        // Held by a live process that maps the file: this one, as seen
        // from a "different" pid would be too clever; a child sleeping.
        let pid = held_by_sleeping_child(l, 2_000_000);
        let t0 = std::time::Instant::now();
        let d = Deadline::after(Duration::from_millis(50));
        assert_eq!(l.lock_until(&d, &never), Err(Errno::ETIMEDOUT));
        let waited = t0.elapsed();
        assert!(
            waited >= Duration::from_millis(50) && in_time(waited, Duration::from_millis(150)),
            "{waited:?}"
        );
        let t0 = std::time::Instant::now();
        assert_eq!(l.lock_until(&Deadline::NEVER, &|| true), Err(Errno::EIDRM));
        assert!(in_time(t0.elapsed(), Duration::from_millis(100)));
        // SAFETY: ending and reaping our child.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, core::ptr::null_mut(), 0);
        }
        // Now dead: a bounded call takes the lock over at once.
        let t0 = std::time::Instant::now();
        let d = Deadline::after(Duration::from_millis(5));
        assert_eq!(l.lock_until(&d, &never), Ok(LockOutcome::OwnerDied));
        assert!(in_time(t0.elapsed(), Duration::from_millis(50)));
        l.unlock();
    }

    #[test]
    fn a_stopped_holder_ends_only_the_waits_that_ask() {
        let m = Mapped::new();
        let l = m.lock();
        let pid = held_by_sleeping_child(l, 5_000_000);
        let timed = |d: Deadline| {
            let t0 = std::time::Instant::now();
            assert_eq!(l.lock_until(&d, &never), Err(Errno::ETIMEDOUT));
            t0.elapsed()
        };
        let bound = Duration::from_millis(200);
        // Running (asleep) holder: both kinds of wait last to the bound.
        let w = timed(Deadline::after(bound).or_holder_stopped());
        assert!(w >= bound, "{w:?}");
        // Stopped holder: a wait that asks ends at its first look.
        // SAFETY: stopping our own child; waiting until it is stopped.
        unsafe {
            libc::kill(pid, libc::SIGSTOP);
            let mut st = 0;
            libc::waitpid(pid, &mut st, libc::WUNTRACED);
        }
        let w = timed(Deadline::after(bound).or_holder_stopped());
        assert!(in_time(w, Duration::from_millis(50)), "{w:?}");
        assert!(Deadline::ctl().ends_if_stopped());
        assert!(Deadline::NEVER.for_lock(true).ends_if_stopped());
        // A timed call (no IPC_NOWAIT) waits for it to its deadline: the
        // holder may be continued.
        let d = Deadline::after(bound);
        assert!(!d.for_lock(false).ends_if_stopped());
        let w = timed(d);
        assert!(w >= bound, "{w:?}");
        // SAFETY: ending and reaping our child.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, core::ptr::null_mut(), 0);
        }
    }

    /// An IPC_NOWAIT wait on a movable lock (`for_lock(true)`, with the
    /// grace `fence_grace` gives it) watches a stopped holder for its
    /// short grace and hands it to the caller to fence; a control call's
    /// wait, or one with no grace, still ends at it. (A holder that runs
    /// during the watch ends the wait: [`Frozen::still`], tested in
    /// `sync::fence`.)
    #[test]
    fn a_nowait_wait_hands_over_a_holder_that_stays_stopped() {
        let m = Mapped::new();
        let l = m.lock();
        let pid = held_by_sleeping_child(l, 5_000_000);
        crate::sync::fence::tests::stop(pid);
        let nowait = Deadline::NEVER.for_lock(true);
        assert!(nowait.fences_quickly());
        let grace = nowait.fence_grace(Duration::from_millis(20));
        assert_eq!(grace, Some(crate::sync::time::NOWAIT_GRACE));
        let t0 = std::time::Instant::now();
        match l.lock_movable(&nowait, &never, grace, &|| false) {
            Ok(Got::Stopped(seen, f)) => {
                assert_eq!(seen & PID, pid as u32);
                assert_eq!(f.pid(), pid);
            }
            other => panic!("{other:?}"),
        }
        let w = t0.elapsed();
        assert!(
            w >= crate::sync::time::NOWAIT_GRACE && in_time(w, Duration::from_millis(60)),
            "{w:?}"
        );
        // A control call fences nobody: it ends at the stopped holder.
        let ctl = Deadline::ctl();
        assert_eq!(ctl.fence_grace(Duration::from_millis(20)), None);
        assert_eq!(
            l.lock_movable(&ctl, &never, None, &|| false).err(),
            Some(Errno::ETIMEDOUT)
        );
        // Nor does an IPC_NOWAIT wait given no grace (an object that may
        // not move here).
        assert_eq!(
            l.lock_movable(&nowait, &never, None, &|| false).err(),
            Some(Errno::ETIMEDOUT)
        );
        // SAFETY: ending and reaping our child.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, core::ptr::null_mut(), 0);
        }
    }

    /// Mutual exclusion while holders are SIGKILLed at random: four
    /// processes take the lock over and over (a dead holder's lock is
    /// taken over, a fenceless takeover as every object's lock does it),
    /// each marking a shared word while it holds the lock; a holder that
    /// finds the mark another's after a plain take, or loses its own
    /// mark before its release, shares the lock with someone. A takeover
    /// stores its start time after its compare-and-swap: a waiter that
    /// looked in between once read the dead holder's start beside the new
    /// holder's pid, took the new holder for dead and took the lock from
    /// it (t_msg_crash part A: one message received twice).
    #[test]
    fn holders_killed_at_random_never_share_the_lock() {
        crate::ns::testing::alone("holders_killed_at_random_never_share_the_lock", || {
            let m = Mapped::new();
            let l = m.lock();
            // SAFETY: offsets 64, 128 and 192 of the 4096-byte mapping, 4-aligned,
            // atomics only, living as long as `m`.
            let (inside, broken, failed) = unsafe {
                (
                    &*(m.p.add(64) as *const AtomicU32),
                    &*(m.p.add(128) as *const AtomicU32),
                    &*(m.p.add(192) as *const AtomicU32),
                )
            };
            let worker = || -> ! {
                let me = crate::os::proc::my_pid() as u32;
                loop {
                    // Bounded, as the engines' takes are: a waiter looks
                    // at the holder as soon as it is done spinning.
                    let d = Deadline::after(Duration::from_secs(60));
                    match l.lock_until(&d, &never) {
                        // Repair: the dead holder's mark.
                        Ok(LockOutcome::OwnerDied) => inside.store(0, Ordering::SeqCst),
                        Ok(LockOutcome::Acquired) => {}
                        // Not taken (no wait here should end so): counted,
                        // and the critical section not entered.
                        Err(_) => {
                            failed.fetch_add(1, Ordering::SeqCst);
                            continue;
                        }
                    }
                    if inside.swap(me, Ordering::SeqCst) != 0 {
                        broken.fetch_add(1, Ordering::SeqCst);
                    }
                    for _ in 0..200 {
                        core::hint::spin_loop();
                    }
                    if inside
                        .compare_exchange(me, 0, Ordering::SeqCst, Ordering::SeqCst)
                        .is_err()
                    {
                        broken.fetch_add(1, Ordering::SeqCst);
                    }
                    l.unlock();
                }
            };
            let spawn = || -> i32 {
                // SAFETY: fork from this single-threaded child; the worker
                // loops until killed and never returns.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    worker();
                }
                pid
            };
            let mut pids: Vec<i32> = (0..4).map(|_| spawn()).collect();
            let t0 = std::time::Instant::now();
            let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ u64::from(std::process::id());
            let mut kills = 0;
            // 3 s and 120 kills at least (a loaded machine forks slowly:
            // 99 kills in 3 s once), 20 s at most.
            while (t0.elapsed() < Duration::from_secs(3) || kills < 120)
                && t0.elapsed() < Duration::from_secs(20)
            {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let k = (x % 4) as usize;
                // SAFETY: kill and reap our own child.
                unsafe {
                    libc::kill(pids[k], libc::SIGKILL);
                    libc::waitpid(pids[k], core::ptr::null_mut(), 0);
                }
                kills += 1;
                pids[k] = spawn();
                std::thread::sleep(Duration::from_micros(200 + x % 1500));
            }
            for p in pids {
                // SAFETY: as above.
                unsafe {
                    libc::kill(p, libc::SIGKILL);
                    libc::waitpid(p, core::ptr::null_mut(), 0);
                }
            }
            assert!(kills > 100, "{kills} kills");
            let f = failed.load(Ordering::SeqCst);
            assert_eq!(f, 0, "a take failed {f} times ({kills} kills)");
            let b = broken.load(Ordering::SeqCst);
            assert_eq!(b, 0, "the lock was shared {b} times ({kills} kills)");
        });
    }

    /// A word naming a live process that is no member of any namespace
    /// open here (a scribble: it never opened one, so it holds no
    /// liveness mark), with its true start time, is taken over at the
    /// first look of a bounded waiter — its maps are then read (or, when
    /// they cannot be, the missing mark decides) — instead of being
    /// waited for to the deadline (before: `ETIMEDOUT`, and for ever
    /// without a deadline where the maps could not be read).
    #[test]
    fn a_live_non_member_is_no_holder() {
        let _ns = crate::ns::testing::TempNs::new("nonmember");
        let m = Mapped::new();
        let l = m.lock();
        let mut stranger = unrelated_process();
        let pid = stranger.id() as i32;
        l.word.store(pid as u32, Ordering::Relaxed);
        l.owner_start
            .store(crate::os::proc::start_time_of(pid), Ordering::Relaxed);
        let t0 = std::time::Instant::now();
        let r = l.lock_until(&Deadline::after(Duration::from_millis(500)), &never);
        let took = t0.elapsed();
        let _ = stranger.kill();
        let _ = stranger.wait();
        assert_eq!(r, Ok(LockOutcome::OwnerDied));
        assert!(took < Duration::from_millis(100), "{took:?}");
        l.unlock();
    }

    /// A bounded waiter takes a dead owner's lock at its first look,
    /// when it stops spinning, not after its first nap (10 ms): the look
    /// swapped from the word as read before the waiter set the waiters
    /// bit, and failed.
    #[test]
    fn a_dead_owner_is_taken_over_at_the_first_look() {
        let l = RobustLock {
            word: AtomicU32::new(0x3fff_fff0),
            fenced: AtomicU32::new(0),
            owner_start: AtomicU64::new(0),
        };
        let t0 = std::time::Instant::now();
        let r = l.lock_until(&Deadline::after(Duration::from_secs(1)), &never);
        let took = t0.elapsed();
        assert_eq!(r, Ok(LockOutcome::OwnerDied));
        assert!(in_time(took, Duration::from_millis(5)), "{took:?}");
        l.unlock();
    }

    #[test]
    fn a_live_holder_that_maps_the_lock_is_waited_for() {
        let m = Mapped::new();
        let l = m.lock();
        // SAFETY: the child (which inherits the mapping) only sleeps, frees
        // the word and exits: async-signal-safe calls.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: as above.
            unsafe {
                libc::usleep(300_000);
                l.word.store(0, Ordering::Release);
                libc::syscall(
                    libc::SYS_futex,
                    &l.word as *const AtomicU32,
                    libc::FUTEX_WAKE,
                    i32::MAX,
                );
                libc::_exit(0);
            }
        }
        // Held by the child, start time not yet written.
        l.word.store(pid as u32, Ordering::Relaxed);
        let t0 = std::time::Instant::now();
        assert_eq!(l.lock(), LockOutcome::Acquired);
        assert!(t0.elapsed() >= Duration::from_millis(250));
        l.unlock();
        let mut st = 0;
        // SAFETY: reaping our child.
        unsafe { libc::waitpid(pid, &mut st, 0) };
    }

    /// A child that takes `l` (it inherits the mapping), tells the parent
    /// through `ready` (a pipe), spins `spin_ms` inside, then releases and
    /// exits with 0 when its release worked, 1 when it found a fence, and
    /// 2 when it found the lock moved after waiting for the fence to end.
    fn holding_child(l: &RobustLock, spin_ms: u64) -> i32 {
        // The pid cache's fork handler is installed before the fork.
        let _ = my_pid();
        let mut fds = [0; 2];
        // SAFETY: a pipe for the child's signal.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: the child takes the lock, spins, releases and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let _ = l.lock();
            // SAFETY: telling the parent.
            unsafe { libc::write(fds[1], b"x".as_ptr().cast(), 1) };
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_millis(spin_ms) {
                core::hint::spin_loop();
            }
            let code = if l.unlock() {
                0
            } else if l
                .wait_moved(&Deadline::after(Duration::from_secs(5)))
                .is_ok()
            {
                2
            } else {
                1
            };
            // SAFETY: leaving the child.
            unsafe { libc::_exit(code) };
        }
        let mut b = [0u8; 1];
        // SAFETY: waiting for the child's signal on our pipe.
        unsafe {
            libc::read(fds[0], b.as_mut_ptr().cast(), 1);
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
        pid
    }

    fn exit_code(pid: i32) -> i32 {
        let mut st = 0;
        // SAFETY: reaping our child.
        unsafe { libc::waitpid(pid, &mut st, 0) };
        assert!(libc::WIFEXITED(st), "{st:#x}");
        libc::WEXITSTATUS(st)
    }

    #[test]
    fn a_release_fails_once_the_holder_is_fenced_and_never_frees_anothers_lock() {
        let m = Mapped::new();
        let l = m.lock();
        // Not held: nothing to release, nothing to fence.
        assert!(!l.unlock());
        assert_eq!(l.fence(0), None);
        // Held by a child that spins 300 ms, stopped inside: fenced.
        let pid = holding_child(l, 300);
        crate::sync::fence::tests::stop(pid);
        let seen = l.word.load(Ordering::Relaxed);
        assert_eq!(l.state(), LockState::Held(pid));
        // A stale view of the word does not fence.
        assert_eq!(l.fence(seen ^ 1), None);
        let f = crate::sync::fence::Frozen::look(pid, 0).expect("stopped");
        let holder = l.fence(seen).expect("fenced");
        assert_eq!(holder.pid, pid);
        assert!(f.still());
        assert_eq!(
            l.state(),
            LockState::Fenced {
                fencer: my_pid(),
                holder: pid
            }
        );
        assert_eq!(l.fenced_by_me(), Some(pid));
        // A second fence of the fence does not happen.
        assert_eq!(l.fence(l.word.load(Ordering::Relaxed)), None);
        // Other takers of a movable object are told to reopen it; a
        // bounded plain taker waits (the fencer is alive and holds it).
        assert_eq!(take_movable_50ms(l), Err(Errno::ESTALE));
        // Continued: its release fails, it waits for the move and sees it.
        // SAFETY: our own child.
        unsafe { libc::kill(pid, libc::SIGCONT) };
        std::thread::sleep(Duration::from_millis(400));
        assert!(!f.still());
        l.mark_moved();
        assert_eq!(exit_code(pid), 2);
        assert_eq!(l.state(), LockState::Moved);
        assert_eq!(
            l.lock_movable(&Deadline::NEVER, &never, None, &|| true),
            Err(Errno::ESTALE)
        );
        assert_eq!(l.wait_moved(&Deadline::NEVER), Ok(()));
        // A lock that does not move (a scribble left MOVED): taken over.
        assert_eq!(l.lock(), LockOutcome::OwnerDied);
        assert!(l.unlock());
    }

    #[test]
    fn a_fence_given_back_lets_the_holder_release() {
        let m = Mapped::new();
        let l = m.lock();
        let pid = holding_child(l, 200);
        crate::sync::fence::tests::stop(pid);
        let holder = l.fence(l.word.load(Ordering::Relaxed)).expect("fenced");
        // SAFETY: our own child.
        unsafe { libc::kill(pid, libc::SIGCONT) };
        // The child finds the fence and waits for it to end (it marks the
        // word before it sleeps).
        let t0 = Instant::now();
        while l.word.load(Ordering::Relaxed) & WAITERS == 0 {
            assert!(t0.elapsed() < Duration::from_secs(20), "no wait");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(l.unfence(holder));
        assert!(!l.unfence(holder));
        // Given back: the child's wait ends with EAGAIN (exit 1) and the
        // word is its own again.
        assert_eq!(exit_code(pid), 1);
        assert_eq!(l.state(), LockState::Held(pid));
        // Its holder is dead now: taken over as usual.
        assert_eq!(l.lock(), LockOutcome::OwnerDied);
        assert!(l.unlock());
        assert_eq!(l.state(), LockState::Free);
    }

    #[test]
    fn a_dead_fencers_fence_is_taken_over() {
        let m = Mapped::new();
        let l = m.lock();
        // A fence naming a pid that cannot exist.
        l.word.store(FENCE | 0x3fff_fff0, Ordering::Relaxed);
        assert_eq!(take_movable_50ms(l), Ok(Got::Orphan(0)));
        assert_eq!(l.fenced_by_me(), Some(0));
        assert!(l.unfence(Owner {
            pid: my_pid(),
            start: my_start()
        }));
        assert!(l.unlock());
        // A release after a takeover is the taker's, not the old
        // holder's: a holder whose word was taken over leaves it alone.
        l.word.store(0x3fff_fff0, Ordering::Relaxed);
        assert!(!l.unlock());
        assert_eq!(l.word.load(Ordering::Relaxed), 0x3fff_fff0);
        l.init();
    }
}
