//! An event word: a `u32` in shared memory that waiters watch until it
//! changes, spinning a little and then sleeping on its futex, with a
//! deadline; one of its bits announces sleepers, so a waker makes the
//! `FUTEX_WAKE` system call only when somebody sleeps.
//!
//! Used by both SysV engines that block:
//! - msg: `QHead::sent` / `QHead::taken`, counters bumped by 2 with the
//!   sleeper bit 1 (receivers wait on `sent`, senders on `taken`);
//! - sem: each wait slot's `state` (sleeper bit `W_SLEEP`), and the set's
//!   `slot_gen` (no sleeper bit: its waiters count themselves in
//!   `slot_waiters`).
//!
//! The protocol, for a waiter: read the word (`seen`), check its
//! condition, [`spin`] while nothing changes, [`Event::announce`] (sets
//! the sleeper bit unless the word moved), re-check nothing (the futex
//! compares the word), [`Event::sleep`]. For a waker: change the word with
//! release ordering; if the old value had the sleeper bit, [`Event::wake`]
//! (after dropping any lock, so that the sleeper does not run into it).
//!
//! Memory ordering: the waker's change is a release (or `AcqRel` swap),
//! the waiter's loads are acquires, so what the waker wrote before the
//! change (a message, a semop's result) is visible once the waiter sees
//! the change. The sleeper bit is set with an `AcqRel` compare-and-swap
//! against the value the waiter saw: if the waker changed the word in
//! between, the swap fails and the waiter re-checks instead of sleeping;
//! if the waker changes it afterwards, it sees the bit and wakes.

use super::futex::{futex_wait, futex_wait_cancellable, futex_wake};
use super::time::Deadline;
use crate::error::{Errno, Result};
use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;
use std::time::Instant;

/// A word in shared memory and the bit of it that announces sleepers (0:
/// none; the waiters are then counted elsewhere).
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    word: &'a AtomicU32,
    sleep_bit: u32,
}

/// How a [`Event::sleep`] ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slept {
    /// woken, or the word had already changed (or a spurious wake-up)
    Woken,
    /// the `tick` passed (not the deadline): time for a look around
    Tick,
}

impl<'a> Event<'a> {
    /// The event `word`, whose sleepers set `sleep_bit`.
    pub fn new(word: &'a AtomicU32, sleep_bit: u32) -> Event<'a> {
        Event { word, sleep_bit }
    }

    /// The word.
    pub fn word(&self) -> &'a AtomicU32 {
        self.word
    }

    /// Marks a sleeper on the word if it still holds `seen`: the value to
    /// sleep on, or `None` when the word moved (re-check, do not sleep).
    pub fn announce(&self, seen: u32) -> Option<u32> {
        let sleeping = seen | self.sleep_bit;
        if seen & self.sleep_bit != 0 || self.sleep_bit == 0 {
            return Some(sleeping);
        }
        self.word
            .compare_exchange(seen, sleeping, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| sleeping)
    }

    /// Sleeps while the word holds `value`, until `deadline`, and at most
    /// `tick` at a time when given (a waiter that must look around now and
    /// then: dead peers, lost wake-ups). `Err(ETIMEDOUT)` only when the
    /// deadline passed, `Err(EINTR)` when a signal handler ran.
    pub fn sleep(&self, value: u32, deadline: &Deadline, tick: Option<Duration>) -> Result<Slept> {
        self.sleep_with(value, deadline, tick, false)
    }

    /// [`Event::sleep`] as a cancellation point: a `pthread_cancel` ends
    /// it with `Err(ECANCELED)` ([`crate::os::cancel`]).
    pub fn sleep_cancellable(
        &self,
        value: u32,
        deadline: &Deadline,
        tick: Option<Duration>,
    ) -> Result<Slept> {
        self.sleep_with(value, deadline, tick, true)
    }

    fn sleep_with(
        &self,
        value: u32,
        deadline: &Deadline,
        tick: Option<Duration>,
        cancel: bool,
    ) -> Result<Slept> {
        let (t, last) = match (deadline.remaining(), tick) {
            (Some(r), _) if r.is_zero() => return Err(Errno::ETIMEDOUT),
            (Some(r), Some(t)) if t < r => (Some(t), false),
            (Some(r), _) => (Some(r), true),
            (None, t) => (t, false),
        };
        let r = if cancel {
            futex_wait_cancellable(self.word, value, t)
        } else {
            futex_wait(self.word, value, t)
        };
        match r {
            Ok(()) => Ok(Slept::Woken),
            Err(Errno::ETIMEDOUT) if !last => Ok(Slept::Tick),
            Err(e) => Err(e),
        }
    }

    /// Wakes up to `n` sleepers.
    pub fn wake(&self, n: i32) -> usize {
        futex_wake(self.word, n)
    }

    /// Wakes every sleeper.
    pub fn wake_all(&self) -> usize {
        self.wake(i32::MAX)
    }
}

/// Wakes one sleeper on the word at address `addr` (queued under a lock,
/// woken after it: the word's reference is not kept). `FUTEX_WAKE` uses
/// the address as a key only and reads no memory: an address no longer
/// mapped wakes nobody. Returns how many were woken (0 on an error).
pub fn wake_addr(addr: usize) -> usize {
    // SAFETY: FUTEX_WAKE reads no memory at `addr`; an unmapped or
    // foreign address fails (EFAULT) or wakes nobody.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            addr as *const u32,
            libc::FUTEX_WAKE,
            1,
            core::ptr::null::<libc::timespec>(),
            core::ptr::null::<u32>(),
            0u32,
        )
    };
    r.max(0) as usize
}

/// Spins while `still()` holds, for at most `budget`: `true` when it
/// stopped holding. Every 64 rounds the clock is read; past `yield_after`
/// the thread yields the CPU each time (the peer may be waiting for this
/// very CPU on a loaded machine; with a CPU of its own the yield returns at
/// once) — unless yields have been giving the CPU to a third task
/// (`crate::sync::spin::yields_pay`): then it only spins. A zero budget
/// does not spin at all.
pub fn spin(budget: Duration, yield_after: Duration, mut still: impl FnMut() -> bool) -> bool {
    if budget.is_zero() {
        return !still();
    }
    let start = Instant::now();
    let mut i = 0u32;
    loop {
        if !still() {
            return true;
        }
        core::hint::spin_loop();
        i = i.wrapping_add(1);
        if i % 64 == 0 {
            let spent = start.elapsed();
            if spent >= budget {
                return false;
            }
            if spent >= yield_after && super::spin::yields_pay() {
                super::spin::yield_cpu();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announce_fails_when_the_word_moved() {
        let w = AtomicU32::new(4);
        let e = Event::new(&w, 1);
        assert_eq!(e.announce(2), None);
        assert_eq!(e.announce(4), Some(5));
        assert_eq!(w.load(Ordering::Relaxed), 5);
        assert_eq!(e.announce(5), Some(5));
    }

    #[test]
    fn sleep_ends_at_the_tick_then_at_the_deadline() {
        let w = AtomicU32::new(0);
        let e = Event::new(&w, 1);
        let d = Deadline::after(Duration::from_millis(30));
        let tick = Some(Duration::from_millis(5));
        // `EINTR`: a handler ran in this thread (the signal module's tests
        // queue signals to the whole process); sleep again.
        let sleep = || loop {
            match e.sleep(0, &d, tick) {
                Err(Errno::EINTR) => continue,
                r => break r,
            }
        };
        assert_eq!(sleep(), Ok(Slept::Tick));
        let mut n = 0;
        while sleep() == Ok(Slept::Tick) {
            n += 1;
        }
        assert!(d.expired());
        assert_eq!(e.sleep(0, &d, tick), Err(Errno::ETIMEDOUT));
        assert!(n < 10, "{n} ticks in 30 ms");
        // A word that differs: at once.
        assert_eq!(e.sleep(1, &Deadline::NEVER, None), Ok(Slept::Woken));
    }

    #[test]
    fn spin_sees_the_change() {
        let mut k = 0;
        assert!(spin(Duration::from_millis(10), Duration::ZERO, || {
            k += 1;
            k < 100
        }));
        assert!(!spin(Duration::from_micros(50), Duration::ZERO, || true));
    }
}
