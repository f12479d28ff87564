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
//! anyway). A holder that is stopped (also by the cgroup freezer, which
//! `/proc` does not show) or a word that names a live process we may not
//! inspect delays only callers without a deadline — see
//! docs/bounded-time.md for what each call waits for.

use super::futex::{futex_wait, futex_wake};
use super::time::Deadline;
use crate::error::{Errno, Result};
use crate::os::proc::{liveness, liveness_and_stopped, maps_file_at, my_pid, my_start, Liveness};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use core::time::Duration;
use std::time::Instant;

const WAITERS: u32 = 1 << 31;
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
    _pad: AtomicU32,
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

/// What a waiter's look at the lock's owner found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Look {
    /// The owner was dead (or did not map the lock): the lock is ours.
    Taken(LockOutcome),
    /// The owner holds it; `stopped` when it is positively stopped
    /// (`/proc/<pid>/stat` state `T` or `t`), which ends a wait under a
    /// deadline that asks for it ([`Deadline::ends_if_stopped`]).
    Held { stopped: bool },
}

/// A predicate a waiter checks now and then: true when waiting for the
/// lock no longer makes sense (the object was removed).
pub type GiveUp<'a> = &'a dyn Fn() -> bool;

fn never() -> bool {
    false
}

impl RobustLock {
    /// Acquires the lock, however long a live owner holds it. Not
    /// interruptible by signals (as the kernel's internal locks are not).
    pub fn lock(&self) -> LockOutcome {
        if self.try_lock() {
            return LockOutcome::Acquired;
        }
        match self.lock_slow(&Deadline::NEVER, &never) {
            Ok(o) => o,
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
        self.lock_slow(deadline, give_up)
    }

    /// Takes the lock if it is free right now, without waiting (and
    /// without recovering it from a dead owner: use [`RobustLock::lock`]
    /// for that).
    #[inline]
    pub fn try_lock(&self) -> bool {
        let me = my_pid() as u32 & !WAITERS;
        if self
            .word
            .compare_exchange(0, me, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
        {
            self.owner_start.store(my_start(), Ordering::Relaxed);
            return true;
        }
        false
    }

    #[cold]
    fn lock_slow(&self, deadline: &Deadline, give_up: GiveUp<'_>) -> Result<LockOutcome> {
        let me = my_pid() as u32 & !WAITERS;
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
                if self
                    .word
                    .compare_exchange(0, new, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok()
                {
                    self.owner_start.store(my_start(), Ordering::Relaxed);
                    return Ok(LockOutcome::Acquired);
                }
                continue;
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
            if v & WAITERS == 0
                && self
                    .word
                    .compare_exchange(v, v | WAITERS, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            if last_check.is_none() && deadline.remaining().is_some() {
                // Done spinning, with a deadline: a dead owner (the common
                // reason for a long wait after a crash) is taken over at
                // once, not after the first nap, which a bounded call may
                // not have time for. (Unbounded waits look after a nap:
                // the look costs /proc reads.)
                last_check = Some(Instant::now());
                match self.take_if_dead(v, me, false) {
                    Look::Taken(o) => return Ok(o),
                    Look::Held { stopped: true } if deadline.ends_if_stopped() => {
                        return Err(Errno::ETIMEDOUT)
                    }
                    Look::Held { .. } => {}
                }
            }
            let nap = match deadline.remaining() {
                Some(r) if r.is_zero() => {
                    // One last look: an owner that died meanwhile.
                    let cur = self.word.load(Ordering::Relaxed);
                    if cur != 0 {
                        if let Look::Taken(o) = self.take_if_dead(cur, me, false) {
                            return Ok(o);
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
                    let owner = cur & !WAITERS;
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
                    match self.take_if_dead(cur, me, look_at_maps) {
                        Look::Taken(o) => return Ok(o),
                        Look::Held { stopped: true } if deadline.ends_if_stopped() => {
                            return Err(Errno::ETIMEDOUT)
                        }
                        Look::Held { .. } => {}
                    }
                }
            }
        }
    }

    /// Takes the lock over when its owner (as read in `seen`) is dead, or
    /// is a live process that does not map the file the lock lies in (the
    /// word was scribbled on: see [`maps_file_at`]). Dead means positively
    /// known dead ([`alive`] says no only on evidence). The maps are read
    /// when no start time is recorded (a holder between its
    /// compare-and-swap and its start-time store, or a scribbled word), or
    /// with `stalled` (the same owner for [`STALL_CHECK`]).
    fn take_if_dead(&self, seen: u32, me: u32, stalled: bool) -> Look {
        let owner = (seen & !WAITERS) as i32;
        let start = self.owner_start.load(Ordering::Relaxed);
        if owner == my_pid() {
            return Look::Held { stopped: false };
        }
        let (live, stopped) = liveness_and_stopped(owner, start);
        let holds = match live {
            Liveness::Dead => false,
            Liveness::Alive | Liveness::Unknown => {
                !(start == 0 || stalled) || maps_file_at(owner, self as *const Self as usize)
            }
        };
        if holds {
            return Look::Held { stopped };
        }
        self.word
            .compare_exchange(seen, me | WAITERS, Ordering::SeqCst, Ordering::Relaxed)
            .ok()
            .map_or(Look::Held { stopped: false }, |_| {
                self.owner_start.store(my_start(), Ordering::Relaxed);
                crate::debug_report!(
                    "lock at {:p} taken over from pid {owner} ({})",
                    self,
                    if start != 0 && liveness(owner, start) != Liveness::Dead {
                        "alive, but it does not map the lock's file"
                    } else {
                        "gone"
                    }
                );
                Look::Taken(LockOutcome::OwnerDied)
            })
    }

    /// Releases the lock and wakes one sleeper if any. The release is an
    /// exchange, a locked instruction and so a full barrier on x86: the
    /// message queue's wake-up check right after it relies on that
    /// (`msg::wait::notify`).
    pub fn unlock(&self) {
        self.owner_start.store(0, Ordering::Relaxed);
        let old = self.word.swap(0, Ordering::Release);
        if old & WAITERS != 0 {
            futex_wake(&self.word, 1);
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
        self.owner_start.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_owner_is_recovered() {
        let l = RobustLock {
            word: AtomicU32::new(0),
            _pad: AtomicU32::new(0),
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

    #[test]
    fn a_live_process_that_does_not_map_the_lock_does_not_hold_it() {
        let m = Mapped::new();
        let l = m.lock();
        // A scribble: a live process's pid, no start time (as if caught
        // between the compare-exchange and the start time's store).
        let mut stranger = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .unwrap();
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
            waited >= Duration::from_millis(50) && waited < Duration::from_millis(150),
            "{waited:?}"
        );
        let t0 = std::time::Instant::now();
        assert_eq!(l.lock_until(&Deadline::NEVER, &|| true), Err(Errno::EIDRM));
        assert!(t0.elapsed() < Duration::from_millis(100));
        // SAFETY: ending and reaping our child.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, core::ptr::null_mut(), 0);
        }
        // Now dead: a bounded call takes the lock over at once.
        let t0 = std::time::Instant::now();
        let d = Deadline::after(Duration::from_millis(5));
        assert_eq!(l.lock_until(&d, &never), Ok(LockOutcome::OwnerDied));
        assert!(t0.elapsed() < Duration::from_millis(50));
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
        assert!(w < Duration::from_millis(50), "{w:?}");
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
}
