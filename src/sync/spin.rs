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

use core::cell::Cell;

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
}

thread_local! {
    static STATE: Cell<State> = const {
        Cell::new(State { slow: 0, since_probe: 0, other: u64::MAX })
    };
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

/// Yields the CPU a few times while `still()` holds, for a wait whose
/// answer must come from a process that last ran on this CPU
/// ([`Peer::Here`]): when that process is runnable, a yield hands it the
/// CPU at once, and it answers without either side's futex system calls
/// or a wake-up. `true` when `still()` stopped holding. Bounded (a peer
/// that is not runnable makes each yield return at once): the waiter then
/// sleeps.
#[inline]
pub fn hand_over(mut still: impl FnMut() -> bool) -> bool {
    for _ in 0..HAND_OVER_YIELDS {
        if !still() {
            return true;
        }
        std::thread::yield_now();
    }
    !still()
}

/// Yields [`hand_over`] tries before the waiter sleeps.
pub const HAND_OVER_YIELDS: u32 = 4;

/// How a wait ended: `quick` when the answer came within the spin budget
/// (whether the thread spun or slept).
#[inline]
pub fn waited(quick: bool) {
    STATE.with(|c| {
        let mut s = c.get();
        s.slow = if quick { 0 } else { s.slow.saturating_add(1) };
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
