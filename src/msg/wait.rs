//! Waiting and the two locks: the spin policy (spin only when the peer
//! runs on another CPU), waiting on `sent`/`taken` (an event word,
//! `crate::sync::event`), bumping and waking, taking `slock`/`rlock`.

use super::*;

pub(super) fn spin_budget() -> std::time::Duration {
    static US: once_cell::sync::Lazy<u64> = once_cell::sync::Lazy::new(|| {
        std::env::var("RIPC_SPIN_US")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(50)
            .min(100)
    });
    std::time::Duration::from_micros(*US)
}

/// Where the other side of a wait last ran ([`spin::Peer`]): the last
/// process other than this one seen on the side this waiter waits for
/// (`first`), else on its own side (`second`: in a ping-pong this process
/// was the last sender, and the peer that will answer was the last
/// receiver), else the last other process this thread saw in one of them
/// ([`spin::last_seen`]: in a ping-pong both name the waiter right after
/// it sent). The words are [`QHead::speer`] and [`QHead::rpeer`].
#[inline]
pub(super) fn peer(first: &AtomicU64, second: &AtomicU64) -> spin::Peer {
    [first, second]
        .into_iter()
        .map(|w| spin::peer_of(w.load(Relaxed)))
        .find(|p| *p != spin::Peer::Unknown)
        .unwrap_or_else(spin::last_seen)
}

/// Waits until `word` moves away from `seen` (or the deadline passes):
/// hands the CPU over, or spins for a few tens of microseconds, then
/// sleeps on the futex. `EINTR` when a signal handler ran while asleep,
/// `ETIMEDOUT` at the deadline. Every wait is timed for the spin policy
/// ([`spin::waited_since`]): whether a spin would have caught the answer,
/// and whether a yield gave the CPU away to a third task (then this
/// thread stops yielding for a while and sleeps instead, keeping its
/// place: beside a busy loop on the same CPU a one-CPU ping-pong took
/// 1.5 ms a round trip when the queue's waits did not report it).
pub(super) fn wait_change(
    word: &AtomicU32,
    seen: u32,
    deadline: &Deadline,
    peers: (&AtomicU64, &AtomicU64),
    before: Before,
) -> Result<()> {
    // The deadline first: a peer that keeps the word moving (other types
    // sent, a scribbler) must not keep a timed call past it.
    if deadline.expired() {
        return Err(Errno::ETIMEDOUT);
    }
    let start = spin::begin();
    let mut quick = before != Before::SpunOut;
    let r = wait_word(word, seen, deadline, peers, before, &mut quick);
    spin::waited_since(start, quick);
    r
}

/// What a waiter did before [`wait_change`] ([`spin_unmarked`]), so that
/// a wait is not spun twice nor its spin policy asked twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Before {
    /// Nothing: the wait decides (hand the CPU over, spin, sleep).
    Nothing,
    /// The policy said not to spin toward a peer on another CPU: sleep.
    NoSpin,
    /// Spun its budget out without marking the word: sleep.
    SpunOut,
}

/// How [`spin_unmarked`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unmarked {
    /// `ready()` turned true: look at the queue again.
    Ready,
    /// Did not end the wait: go on with [`wait_change`], telling it this.
    Wait(Before),
}

/// Whether [`spin_unmarked`] may end a wait: the other side last ran on
/// another CPU (toward one on this CPU the wait hands the CPU over, which
/// needs the mark; checked before the caller lets go of its lock, so that
/// such a wait costs no second look).
#[inline]
pub(super) fn unmarked_pays(peers: (&AtomicU64, &AtomicU64)) -> bool {
    peer(peers.0, peers.1) == spin::Peer::Elsewhere
}

/// Before a waiter marks its wait word: while the other side last ran on
/// another CPU and the spin policy says spinning pays, spins up to the
/// budget (bounded by `deadline`) until `ready()` — a look at the queue
/// itself — turns true, *without* marking the word. The other side then
/// finds no watcher after its commit and writes nothing for this waiter:
/// no bump (a compare-and-swap on a line this waiter holds) and no wake-up
/// per message, where a receiver that keeps finding the queue empty (an
/// 8 KiB stream: 98 % of its receives) had the sender bump the word at
/// every message. Only a wait that goes on to sleep marks the word (then
/// [`wait_change`], after the caller's mark and last look, as before): the
/// marking protocol that makes a sleep safe is unchanged.
pub(super) fn spin_unmarked(
    mut ready: impl FnMut() -> bool,
    deadline: &Deadline,
    peers: (&AtomicU64, &AtomicU64),
) -> Unmarked {
    let who = peer(peers.0, peers.1);
    if who != spin::Peer::Elsewhere {
        return Unmarked::Wait(Before::Nothing);
    }
    if !spin::should_spin(who) {
        return Unmarked::Wait(Before::NoSpin);
    }
    let budget = match deadline.remaining() {
        Some(r) => spin_budget().min(r),
        None => spin_budget(),
    };
    let start = spin::begin();
    let yield_after = std::time::Duration::from_micros(3);
    if event::spin(budget, yield_after, || !ready()) {
        spin::waited_since(start, true);
        return Unmarked::Ready;
    }
    // Spun out: the wait that follows reports the whole of it.
    spin::yielded_since(start);
    Unmarked::Wait(Before::SpunOut)
}

/// [`wait_change`]'s wait. `quick` is left true when the hand-over or
/// the spin caught the answer (no clock read), and says after a sleep
/// whether a spin would have caught it: the wait, spin included, took no
/// longer than a spin's budget (slept waits count too).
fn wait_word(
    word: &AtomicU32,
    seen: u32,
    deadline: &Deadline,
    peers: (&AtomicU64, &AtomicU64),
    before: Before,
    quick: &mut bool,
) -> Result<()> {
    // Spin only while it can pay off (crate::sync::spin): not when the
    // other side last ran on this CPU, nor right after waking it, nor after
    // spins that kept missing it (but for a probe now and then).
    let who = peer(peers.0, peers.1);
    if before == Before::Nothing
        && who == spin::Peer::Here
        && spin::hand_over(|| word.load(Acquire) == seen)
    {
        // The other side last ran on this CPU: handed it the CPU.
        return Ok(());
    }
    let spinning = before == Before::Nothing && spin::should_spin(who);
    let budget = if !spinning {
        std::time::Duration::ZERO
    } else {
        match deadline.remaining() {
            Some(r) => spin_budget().min(r),
            None => spin_budget(),
        }
    };
    // Past a few microseconds the peer may be waiting for this very core
    // (a loaded machine): the spin yields.
    let yield_after = std::time::Duration::from_micros(3);
    if !budget.is_zero() && event::spin(budget, yield_after, || word.load(Acquire) == seen) {
        return Ok(());
    }
    // Announce a sleeper (bit 0) unless the word moved meanwhile.
    let ev = Event::new(word, 1);
    let Some(sleeping) = ev.announce(seen) else {
        return Ok(());
    };
    // A spin that ran its budget out already took longer than one.
    let t0 = spin::begin();
    // A cancellation point, as the kernel's msgsnd/msgrcv: a
    // pthread_cancel ends the sleep with ECANCELED (crate::os::cancel).
    let r = ev.sleep_cancellable(sleeping, deadline, None).map(|_| ());
    *quick = budget.is_zero() && before != Before::SpunOut && spin::within(t0, spin_budget());
    r
}

/// After a full queue's sender saw room appear: while receivers keep taking
/// messages (`taken_n`, the receivers' count, keeps moving), let them go on
/// until a quarter of the queue's bytes (`qbytes`) drained since, or they
/// went quiet, or 30 µs passed, before appending again. The queue then
/// drains and refills in runs, instead of the sender adding one message
/// per receive and pulling the receivers' counters' line each time
/// (without it, 64-byte streams ran at ~5 instead of ~7.5 M msg/s:
/// docs/msg.md). "Quiet" is no receive for [`SETTLE_QUIET`] plus a
/// nanosecond per byte of the message (`len`): a 1 KiB or 8 KiB receive
/// takes longer than 400 ns. Only delays a sender that is waiting anyway;
/// never decides anything.
pub(super) fn settle(
    taken_n: &AtomicU32,
    taken_bytes: &AtomicU32,
    len: u64,
    qbytes: u64,
    peers: (&AtomicU64, &AtomicU64),
) {
    if peer(peers.0, peers.1) != spin::Peer::Elsewhere {
        return;
    }
    let start = std::time::Instant::now();
    let quiet_for = SETTLE_QUIET + std::time::Duration::from_nanos(len);
    let enough = (qbytes / 4).max(1) as u32;
    let from = taken_bytes.load(Relaxed);
    let mut last = taken_n.load(Relaxed);
    let mut quiet = start;
    for _ in 0..4096 {
        core::hint::spin_loop();
        let v = taken_n.load(Relaxed);
        let now = std::time::Instant::now();
        if v != last {
            last = v;
            quiet = now;
            if taken_bytes.load(Relaxed).wrapping_sub(from) >= enough {
                break;
            }
        } else if now.duration_since(quiet) > quiet_for
            || now.duration_since(start) > std::time::Duration::from_micros(30)
        {
            break;
        }
    }
}

/// A full queue's sender stops waiting for the receivers once no receive
/// happened for this long (a receive takes a few hundred nanoseconds).
pub(super) const SETTLE_QUIET: std::time::Duration = std::time::Duration::from_nanos(400);

/// A wait word's bit 0: someone sleeps on the futex (wake them).
pub(super) const SLEEPERS: u32 = 1;
/// A wait word's bit 1: someone waits for a change, spinning or asleep
/// (bump the word).
pub(super) const WATCHERS: u32 = 2;
/// What a bump adds (above the two bits).
const STEP: u32 = 4;

/// A full barrier after a locked read-modify-write and before a load of
/// another word (the watch bit, or the queue a watcher looks at). On x86
/// every locked instruction is one already (the waiter's [`watch`], the
/// bumper's unlock, an exchange: `RobustLock::unlock`), so only the
/// compiler must not move the load; elsewhere a fence.
#[inline(always)]
pub(super) fn after_rmw() {
    #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
    core::sync::atomic::compiler_fence(SeqCst);
    #[cfg(not(any(target_arch = "x86_64", target_arch = "x86")))]
    core::sync::atomic::fence(SeqCst);
}

/// Before a waiter's last look at the queue: marks `word` watched and
/// returns the value to wait on (see [`notify`]: the look and the other
/// side's check of the mark cannot both miss each other's change).
#[inline]
pub(super) fn watch(word: &AtomicU32) -> u32 {
    let v = word.fetch_or(WATCHERS, SeqCst) | WATCHERS;
    after_rmw();
    v
}

/// Bumps a wait word and reports whether sleepers must be woken (do that
/// after unlocking, with [`wake`]): for the changes that always bump
/// (`IPC_SET`, removal), and [`notify`]'s.
#[inline]
pub(super) fn bump(word: &AtomicU32) -> bool {
    let mut old = word.load(Relaxed);
    loop {
        let new = old.wrapping_add(STEP) & !(SLEEPERS | WATCHERS);
        match word.compare_exchange_weak(old, new, Release, Relaxed) {
            Ok(_) => return old & SLEEPERS != 0,
            Err(v) => old = v,
        }
    }
}

/// After a send (receive) was committed and its lock let go (an exchange:
/// a full barrier): bumps the other side's wait word only when someone
/// watches it, and wakes its sleepers. A stream whose other side does not
/// wait writes neither the word nor its line. A watcher marks the word
/// ([`watch`], a locked read-modify-write), then looks at the queue; this
/// side changed the queue, then let go (a locked exchange), then reads
/// the mark: either the watcher's look sees the change, or this read sees
/// the mark.
#[inline(always)]
pub(super) fn notify(word: &AtomicU32) {
    after_rmw();
    if word.load(Relaxed) & (SLEEPERS | WATCHERS) != 0 && bump(word) {
        wake(word);
    }
}

/// The end of a send (receive) under `g`: records who did it and when
/// (at the kernel's resolution, seconds: [`wall_secs`]),
/// lets go of `g`, then bumps the wait word of the other side and wakes
/// its sleepers if any watch it ([`notify`]). False when `g` had been
/// fenced and the queue moved ([`QGuard::release`]).
#[inline(always)]
pub(super) fn publish(
    g: QGuard<'_>,
    obj: &Obj,
    pid: &AtomicI32,
    time: &AtomicI64,
    word: &AtomicU32,
    peer: &AtomicU64,
) -> bool {
    store_if_changed32(pid, my_pid());
    let here = spin::here();
    let last = peer.load(Relaxed);
    if last != here {
        spin::saw(last);
        peer.store(here, Relaxed);
    }
    store_if_changed(time, wall_secs());
    let released = g.release(obj);
    notify(word);
    released
}

/// The wall clock's seconds, as the kernel stamps `msg_stime`/`msg_rtime`
/// (`ktime_get_real_seconds`): `time()`, one load in the vDSO (~1 ns
/// against ~5.5 for `clock_gettime(CLOCK_REALTIME_COARSE)`, the same
/// seconds).
#[inline(always)]
pub(super) fn wall_secs() -> i64 {
    // SAFETY: time(2) with a NULL argument writes nothing.
    unsafe { libc::time(core::ptr::null_mut()) }
}

/// A held queue lock; unlocks when dropped.
#[derive(Debug)]
pub(super) struct QGuard<'a>(pub(super) &'a RobustLock);

impl Drop for QGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // Where nothing was committed under it: a fenced holder's failed
        // release needs no answer (its caller retries on the moved queue).
        if !self.0.unlock() {
            self.0.ack_fence();
        }
    }
}

impl QGuard<'_> {
    /// Lets go at a commit point: false when this holder was fenced and
    /// the queue (`obj`) moved meanwhile (see `super::fence`).
    #[inline]
    pub(super) fn release(self, obj: &Obj) -> bool {
        let l = self.0;
        core::mem::forget(self);
        super::fence::release_at_commit(l, obj)
    }
}

/// Stores `v` unless already there (a store would dirty the line for
/// nothing: the other side reads it).
#[inline]
pub(super) fn store_if_changed(a: &AtomicI64, v: i64) {
    if a.load(Relaxed) != v {
        a.store(v, Relaxed);
    }
}

#[inline]
pub(super) fn store_if_changed32(a: &AtomicI32, v: i32) {
    if a.load(Relaxed) != v {
        a.store(v, Relaxed);
    }
}

/// Wakes every sleeper on `word`.
#[inline]
pub(super) fn wake(word: &AtomicU32) {
    Event::new(word, 1).wake_all();
}

/// Takes `l` (spinning, then sleeping, as [`RobustLock::lock_until`]
/// does) unless `deadline` passes (`ETIMEDOUT`) or `gone` turns true
/// (`EIDRM`); reports whether a dead holder left it.
#[inline]
pub(super) fn take<'l>(
    l: &'l RobustLock,
    deadline: &Deadline,
    gone: &dyn Fn() -> bool,
) -> Result<(QGuard<'l>, bool)> {
    let died = l.lock_until(deadline, gone)? == LockOutcome::OwnerDied;
    Ok((QGuard(l), died))
}

/// Waits for nothing: [`take`] without a deadline, for the calls that
/// must have the lock (repair, crash tests).
#[inline]
pub(super) fn take_always(l: &RobustLock) -> (QGuard<'_>, bool) {
    let died = l.lock() == LockOutcome::OwnerDied;
    (QGuard(l), died)
}
