//! When a waiter spins before it sleeps: only while spinning can pay off.
//!
//! A spin pays when the other side is running on another CPU right now
//! and answers within the spin; otherwise it burns the CPU the other side
//! may need (one CPU for both, or more runnable processes than CPUs) and
//! the waiter sleeps late. What a waiter can know, cheaply:
//!
//! 1. **Where the other side last ran**: the engines publish `pid << 32 |
//!    cpu` words ([`here`]; the CPU comes from glibc's rseq area, no
//!    system call). The other side last ran on this thread's CPU → no spin:
//!    it needs this CPU to answer.
//! 2. **How long this thread's recent waits took**, spun or slept: after
//!    two waits in a row that lasted longer than a spin would have, no
//!    spin — but for a probe every [`PROBE`]th wait, so that spinning
//!    resumes when the placement changes. Measuring slept waits too
//!    matters: two processes that both sleep would otherwise never learn
//!    that the answers now come quickly.
//!
//! When nothing is known of the other side, a process pinned to one CPU
//! does not spin. All state is per thread: no shared word is written to
//! decide.
//!
//! **A yield only while yields hand the CPU to the peer.** On Linux ≥ 6.6
//! (EEVDF) `sched_yield` forfeits the rest of the caller's slice: its
//! virtual runtime moves to its deadline, a slice (about a millisecond
//! here) for a yield after a microsecond's work. With only the two parties
//! on a CPU that costs nothing (both are charged alike, and a yield runs
//! the other at once: the cheapest hand-over there is, no futex call on
//! either side); with any third runnable task there — another program, a
//! build — every yield is a debt that task collects: the yielder then waits
//! about half a millisecond before it runs again, in this wait or one of
//! the next. A nice-0 process yielding in a loop beside a nice-5 busy loop
//! on one CPU got 876 turns a second; a semaphore ping-pong pair beside it
//! 1-6 k round trips a second against the kernel's 230-270 k (docs/perf.md,
//! "Yields that give the CPU away"). So every wait is timed ([`begin`],
//! [`waited_since`], two time-stamp counter reads): a wait that took longer
//! than [`SLOW_WAIT`] within [`YIELD_BLAME`] waits of a yield counts against
//! yielding, and this thread then does not yield (waits sleep on the futex
//! at once, spins do not yield) for the next 16 waits, four times as many
//! with every such wait up to [`YIELD_BACKOFF_MAX`]; [`YIELD_FORGIVE`]
//! quick waits in a row with yields start the count over. A futex sleep
//! keeps the sleeper's place: woken, it runs before a task that has used
//! its share.
//!
//! **A hand-over yields once** ([`hand_over`]): a yield that did not
//! bring the answer found the peer not runnable here or gave the CPU
//! away, and the futex sleep, whose wake by the peer hands the CPU back,
//! follows at once.
//!
//! Each probe (the first yield after a back-off) beside a busy task costs
//! that task's slice: doubling, a fresh process beside a busy loop probed
//! 11 times in its first 30 000 waits and the busy loop took 51–58 % of
//! the CPU against 45–46 % beside the kernel's `msgrcv`/`semop`; growing
//! fourfold, 6 probes reach the same bound, and a third task that comes and
//! goes (the back-off is forgiven between its bursts) is met as before.
//! Back-offs counted in time instead of waits cut more probes beside a task
//! that stays and lost more where it comes and goes (docs/perf.md, "A busy
//! task on the CPU"). So did a back-off that lasted while its futex waits
//! stayed slow (a busy task's turns show as such waits): fewer probes
//! beside the busy loop, but the one-CPU pairs then slept on the futex
//! beside the other sessions' builds, where yields still paid
//! (docs/perf.md, "Waits beside a busy task"). And so did a back-off
//! renewed without its probe while the thread's own scheduler counters
//! (`/proc/thread-self/schedstat`) showed it waiting for the CPU longer
//! than it ran: the other sessions' work on the CPU reads the same, and
//! the one-CPU semaphore row lost a quarter (docs/perf.md, "Probes priced
//! by the scheduler's counters").

use core::cell::Cell;
use core::time::Duration;
#[cfg(not(target_arch = "x86_64"))]
use std::time::Instant;

/// One wait in this many spins despite reasons 2 and 3.
pub const PROBE: u32 = 16;

/// Where the other side of a wait last ran, as far as known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// Nobody known (sem: whoever will release).
    Unknown,
    /// On the CPU this thread runs on now.
    Here,
    /// On another CPU.
    Elsewhere,
}

#[derive(Clone, Copy, Default)]
struct State {
    /// waits in a row that lasted longer than their spin budget
    slow: u8,
    /// waits since the last probe
    since_probe: u32,
    /// the last word naming another process this thread saw ([`saw`])
    other: u64,
    /// waits left before this thread yields again ([`yields_pay`])
    no_yield: u32,
    /// how many waits the last slow wait after a yield set `no_yield` to
    backoff: u32,
    /// waits since this thread last yielded (saturating)
    since_yield: u8,
    /// quick waits with a yield in a row ([`YIELD_FORGIVE`])
    good: u16,
}

thread_local! {
    static STATE: Cell<State> = const {
        Cell::new(State {
            slow: 0,
            since_probe: 0,
            other: u64::MAX,
            no_yield: 0,
            backoff: 0,
            since_yield: u8::MAX,
            good: 0,
        })
    };
}

/// A wait longer than this, right after a yield, paid a third task's
/// slice (a peer's turn in a ping-pong takes a microsecond or two, a debt
/// to a busy task about half a millisecond).
pub const SLOW_WAIT: Duration = Duration::from_micros(250);
/// A slow wait counts against yielding when this thread yielded in it or
/// in the waits just before (the debt is collected at the next wake-up).
pub const YIELD_BLAME: u8 = 4;
/// The most waits a thread goes without yielding after slow waits.
pub const YIELD_BACKOFF_MAX: u32 = 1 << 14;
/// Quick waits with yields in a row after which slow waits are forgotten.
pub const YIELD_FORGIVE: u16 = 1024;

/// Whether a yield may hand the CPU over now: no wait of this thread was
/// slow after a yield lately ([`waited_since`]).
#[inline]
pub fn yields_pay() -> bool {
    STATE.with(|c| c.get().no_yield == 0)
}

/// Yields the CPU (only when [`yields_pay`]; the wait it is part of must
/// end with [`waited_since`]).
#[inline]
pub fn yield_cpu() {
    std::thread::yield_now();
    STATE.with(|c| {
        let mut s = c.get();
        s.since_yield = 0;
        c.set(s);
    })
}

/// A time stamp for [`waited_since`]: the time-stamp counter on x86-64
/// (about 20 ns here, half a `clock_gettime`), nanoseconds elsewhere.
#[inline]
pub fn begin() -> u64 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: rdtsc reads a counter; no memory is touched.
    unsafe {
        core::arch::x86_64::_rdtsc()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        use std::sync::OnceLock;
        static EPOCH: OnceLock<Instant> = OnceLock::new();
        EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
}

/// `d` in [`begin`]'s units: on x86-64 at 4 cycles a nanosecond, the
/// fastest counter likely (a slower one makes the bound longer: at
/// 2.6 GHz, [`SLOW_WAIT`] is 385 us).
pub const fn ticks(d: Duration) -> u64 {
    if cfg!(target_arch = "x86_64") {
        d.as_nanos() as u64 * 4
    } else {
        d.as_nanos() as u64
    }
}

/// [`SLOW_WAIT`] in [`begin`]'s units.
const SLOW_TICKS: u64 = ticks(SLOW_WAIT);

/// Whether no more than `d` ([`ticks`]: up to about 1.5 `d` on a 2.6 GHz
/// counter) passed since `start` ([`begin`]): one counter read, where
/// `Instant::now` and `elapsed` are two clock reads (26 ns each here).
#[inline]
pub fn within(start: u64, d: Duration) -> bool {
    begin().wrapping_sub(start) <= ticks(d)
}

/// How a wait that started at `start` ([`begin`]) ended: [`waited`]'s
/// `quick`, and whether it took so long after a yield that yields give the
/// CPU away here ([`yields_pay`]).
#[inline]
pub fn waited_since(start: u64, quick: bool) {
    yielded_since(start);
    waited(quick);
}

/// [`waited_since`] for a wait that ended at `end` ([`begin`], read by
/// the caller, which needed it too): one counter read fewer.
#[inline]
pub fn waited_between(start: u64, end: u64, quick: bool) {
    yielded_between(start, end);
    waited(quick);
}

/// [`waited_since`]'s part for yields alone: whether a wait (or the part
/// of one) that started at `start` took so long after a yield that yields
/// give the CPU away here. Leaves the spin policy's counts ([`waited`])
/// to the wait's end.
#[inline]
pub fn yielded_since(start: u64) {
    yielded_between(start, begin());
}

/// [`yielded_since`] for a wait (or part of one) that ended at `end`.
#[inline]
fn yielded_between(start: u64, end: u64) {
    let slow = end.wrapping_sub(start) > SLOW_TICKS;
    STATE.with(|c| {
        let mut s = c.get();
        s.since_yield = s.since_yield.saturating_add(1);
        if slow && s.since_yield <= YIELD_BLAME {
            s.backoff = (s.backoff * 4).clamp(16, YIELD_BACKOFF_MAX);
            s.no_yield = s.backoff;
            s.good = 0;
        } else if s.since_yield == 1 {
            s.good += 1;
            if s.good >= YIELD_FORGIVE {
                s.good = 0;
                s.backoff = 0;
            }
        }
        c.set(s);
    });
}

/// Notes a published word this thread is about to overwrite (or read):
/// when it names another process, that is the last other party seen —
/// [`last_seen`] answers with it when the words at hand all name this
/// process (in a ping-pong on one queue, both of its words name the
/// waiter right after it sent).
#[inline]
pub fn saw(word: u64) {
    let pid = word >> 32;
    if word != u64::MAX && pid != 0 && pid != crate::os::proc::my_pid() as u32 as u64 {
        STATE.with(|c| {
            let mut s = c.get();
            s.other = word;
            c.set(s);
        })
    }
}

/// Where the last other party [`saw`] noted ran, seen from this thread.
#[inline]
pub fn last_seen() -> Peer {
    peer_of(STATE.with(|c| c.get().other))
}

/// The CPU this thread runs on now (glibc reads it from the rseq area: no
/// system call), -1 when unknown.
#[inline]
pub fn current_cpu() -> i32 {
    // SAFETY: sched_getcpu has no preconditions.
    unsafe { libc::sched_getcpu() }
}

/// This process and the CPU it runs on, as the engines publish it.
#[inline]
pub fn here() -> u64 {
    (crate::os::proc::my_pid() as u32 as u64) << 32 | current_cpu() as u32 as u64
}

/// Where the process a published `word` ([`here`]) names last ran, seen
/// from this thread; [`Peer::Unknown`] for `u64::MAX` and pid 0 (nobody
/// yet) and for this process itself.
#[inline]
pub fn peer_of(word: u64) -> Peer {
    let pid = word >> 32;
    if word == u64::MAX || pid == 0 || pid == crate::os::proc::my_pid() as u32 as u64 {
        return Peer::Unknown;
    }
    if word as u32 as i32 == current_cpu() {
        Peer::Here
    } else {
        Peer::Elsewhere
    }
}

/// Whether the wait about to start should spin; report how long the
/// wait took, spun or slept, with [`waited`].
#[inline]
pub fn should_spin(peer: Peer) -> bool {
    STATE.with(|c| {
        let mut s = c.get();
        let go = match peer {
            Peer::Here => false,
            Peer::Unknown if !crate::os::proc::many_cpus() => false,
            _ if s.slow >= 2 => {
                s.since_probe += 1;
                if s.since_probe >= PROBE {
                    s.since_probe = 0;
                    true
                } else {
                    false
                }
            }
            _ => true,
        };
        c.set(s);
        go
    })
}

/// Yields the CPU once while `still()` holds, for a wait whose answer
/// must come from a process that last ran on this CPU ([`Peer::Here`]):
/// when that process is runnable, the yield hands it the CPU at once, and
/// it answers without either side's futex system calls or a wake-up.
/// `true` when `still()` stopped holding. One yield, not more: one that
/// did not bring the answer found the peer not runnable here (it returned
/// at once) or gave the CPU to a third task (a debt: "A yield only while
/// yields hand the CPU to the peer" above) — either way the futex sleep,
/// whose wake by the peer hands the CPU back, is the way on. No yield
/// while yields give the CPU away ([`yields_pay`]).
#[inline]
pub fn hand_over(mut still: impl FnMut() -> bool) -> bool {
    if !still() {
        return true;
    }
    if !yields_pay() {
        return false;
    }
    yield_cpu();
    !still()
}

/// How a wait ended: `quick` when the answer came within the spin budget
/// (whether the thread spun or slept). Also counts the waits without
/// yields down ([`yields_pay`]).
#[inline]
pub fn waited(quick: bool) {
    STATE.with(|c| {
        let mut s = c.get();
        s.slow = if quick { 0 } else { s.slow.saturating_add(1) };
        s.no_yield = s.no_yield.saturating_sub(1);
        c.set(s);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_cpu_never_spins_and_slow_waits_stop_spinning_until_a_probe() {
        assert!(!should_spin(Peer::Here));
        assert!(should_spin(Peer::Elsewhere));
        waited(false);
        assert!(should_spin(Peer::Elsewhere));
        waited(false);
        // Two slow waits: only every PROBE-th wait spins.
        let n = (0..PROBE * 3)
            .filter(|_| should_spin(Peer::Elsewhere))
            .count();
        assert_eq!(n, 3);
        // One quick wait, even slept: spinning again.
        waited(true);
        assert!(should_spin(Peer::Elsewhere));
    }

    /// The yield back-off as a fresh thread has it, whatever ran on this
    /// thread before (a spin that yielded).
    fn fresh_yields() {
        STATE.with(|c| {
            let mut s = c.get();
            (s.no_yield, s.backoff, s.since_yield, s.good) = (0, 0, u8::MAX, 0);
            c.set(s);
        });
    }

    #[test]
    fn a_slow_wait_after_a_yield_stops_yields_for_a_while() {
        fresh_yields();
        let slow = || begin().wrapping_sub(SLOW_TICKS * 2);
        assert!(yields_pay());
        // Slow, but no yield in it nor just before: yields go on.
        waited_since(slow(), false);
        assert!(yields_pay());
        // Slow right after a yield: no yield in the next 16 waits.
        yield_cpu();
        waited_since(slow(), false);
        assert!(!yields_pay());
        for _ in 0..14 {
            waited(true);
        }
        assert!(!yields_pay());
        waited(true);
        assert!(yields_pay());
        // Blamed within YIELD_BLAME waits of the yield; the backoff grows
        // fourfold.
        yield_cpu();
        for _ in 1..YIELD_BLAME {
            waited_since(begin(), true);
        }
        assert!(yields_pay());
        waited_since(slow(), false);
        assert!(!yields_pay());
        // 64 waits, this one the first.
        for _ in 0..62 {
            waited(true);
        }
        assert!(!yields_pay());
        waited(true);
        assert!(yields_pay());
        // Up to YIELD_BACKOFF_MAX.
        for _ in 0..8 {
            yield_cpu();
            waited_since(slow(), false);
        }
        STATE.with(|c| assert_eq!(c.get().backoff, YIELD_BACKOFF_MAX));
        for _ in 1..YIELD_BACKOFF_MAX {
            waited(true);
        }
        assert!(yields_pay());
        // Quick waits with yields: forgiven, the backoff starts over.
        for _ in 0..YIELD_FORGIVE {
            yield_cpu();
            waited_since(begin(), true);
        }
        yield_cpu();
        waited_since(slow(), false);
        for _ in 0..15 {
            waited(true);
        }
        assert!(yields_pay());
    }

    #[test]
    fn a_hand_over_yields_once() {
        fresh_yields();
        // A peer that never answers: one yield (a look before, one after),
        // then the waiter goes to sleep.
        let mut looks = 0;
        assert!(!hand_over(|| {
            looks += 1;
            true
        }));
        assert_eq!(looks, 2);
        // An answer already there: no yield.
        looks = 0;
        assert!(hand_over(|| {
            looks += 1;
            false
        }));
        assert_eq!(looks, 1);
        // While yields give the CPU away: none.
        STATE.with(|c| {
            let mut s = c.get();
            s.no_yield = 1;
            c.set(s);
        });
        looks = 0;
        assert!(!hand_over(|| {
            looks += 1;
            true
        }));
        assert_eq!(looks, 1);
        waited(true);
    }

    #[test]
    fn peer_words() {
        assert_eq!(peer_of(u64::MAX), Peer::Unknown);
        assert_eq!(peer_of(here()), Peer::Unknown);
        let other = 1u64 << 32 | current_cpu() as u32 as u64;
        assert_eq!(peer_of(other), Peer::Here);
        let far = 1u64 << 32 | (current_cpu() + 1) as u32 as u64;
        assert_eq!(peer_of(far), Peer::Elsewhere);
        saw(here());
        saw(far);
        saw(u64::MAX);
        assert_eq!(last_seen(), Peer::Elsewhere);
    }
}
