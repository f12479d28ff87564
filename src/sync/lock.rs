//! A process-shared lock that survives its owner's death.
//!
//! The lock word holds the owner's pid (bit 31: someone sleeps on it). A
//! contender spins briefly, then sleeps on the futex with a short timeout;
//! each time it wakes it checks that the owner still lives (pid and start
//! time, see [`super::proc`]). When the owner is gone, the contender takes
//! the lock over and learns it through [`LockOutcome::OwnerDied`]: the data
//! the lock guards may be half-updated, and the caller must repair it
//! before use.
//!
//! Nothing here trusts the word: a scribbled value is just "some owner";
//! if that pid is not alive, the lock is recovered.

use super::futex::{futex_wait, futex_wake};
use super::proc::{alive, maps_file_at, my_pid, my_start};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use core::time::Duration;

const WAITERS: u32 = 1 << 31;
const SPINS: u32 = 200;
const CHECK_EVERY: Duration = Duration::from_millis(10);

/// The lock as it lies in shared memory (16 bytes).
#[repr(C)]
#[derive(Debug)]
pub struct RobustLock {
    word: AtomicU32,
    _pad: AtomicU32,
    owner_start: AtomicU64,
}

/// How a lock was acquired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockOutcome {
    /// Normally: the guarded data is consistent.
    Acquired,
    /// Taken over from a dead owner: repair the guarded data.
    OwnerDied,
}

impl RobustLock {
    /// Acquires the lock. Not interruptible by signals (as the kernel's
    /// internal locks are not); waits out a live owner however long.
    pub fn lock(&self) -> LockOutcome {
        if self.try_lock() {
            return LockOutcome::Acquired;
        }
        self.lock_slow(my_pid() as u32 & !WAITERS)
    }

    /// Takes the lock if it is free right now, without waiting (and
    /// without recovering it from a dead owner: use [`RobustLock::lock`]
    /// for that).
    #[inline]
    pub fn try_lock(&self) -> bool {
        let me = my_pid() as u32 & !WAITERS;
        if self
            .word
            .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            self.owner_start.store(my_start(), Ordering::Relaxed);
            return true;
        }
        false
    }

    #[cold]
    fn lock_slow(&self, me: u32) -> LockOutcome {
        let mut spins = 0;
        let mut last_check: Option<std::time::Instant> = None;
        loop {
            let v = self.word.load(Ordering::Relaxed);
            if v == 0 {
                // Take it, keeping the waiters bit conservatively set when
                // we have slept (others may still sleep).
                let new = if spins > SPINS { me | WAITERS } else { me };
                if self
                    .word
                    .compare_exchange(0, new, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    self.owner_start.store(my_start(), Ordering::Relaxed);
                    return LockOutcome::Acquired;
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
            let r = futex_wait(&self.word, v | WAITERS, Some(CHECK_EVERY));
            // Check the owner every CHECK_EVERY however the wait ended: a
            // signal arriving more often than that (EINTR) must not keep a
            // dead owner's lock from ever being recovered.
            let since = *last_check.get_or_insert_with(std::time::Instant::now);
            if r == Err(crate::error::Errno::ETIMEDOUT) || since.elapsed() >= CHECK_EVERY {
                last_check = Some(std::time::Instant::now());
                let cur = self.word.load(Ordering::Relaxed);
                if cur != 0 {
                    if let Some(o) = self.take_if_dead(cur, me) {
                        return o;
                    }
                }
            }
        }
    }

    /// Takes the lock over when its owner (as read in `seen`) is dead, or
    /// is a live process that does not map the file the lock lies in (the
    /// word was scribbled on: see [`maps_file_at`]). A recorded start time
    /// that matches the live owner's already names the holder; the maps
    /// are read only without one (a holder between its compare-and-swap
    /// and its start-time store, or a scribbled word).
    fn take_if_dead(&self, seen: u32, me: u32) -> Option<LockOutcome> {
        let owner = (seen & !WAITERS) as i32;
        let start = self.owner_start.load(Ordering::Relaxed);
        if owner == my_pid()
            || (alive(owner, start)
                && (start != 0 || maps_file_at(owner, self as *const Self as usize)))
        {
            return None;
        }
        self.word
            .compare_exchange(seen, me | WAITERS, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| {
                self.owner_start.store(my_start(), Ordering::Relaxed);
                LockOutcome::OwnerDied
            })
    }

    /// Releases the lock and wakes one sleeper if any.
    pub fn unlock(&self) {
        self.owner_start.store(0, Ordering::Relaxed);
        let old = self.word.swap(0, Ordering::Release);
        if old & WAITERS != 0 {
            futex_wake(&self.word, 1);
        }
    }

    /// True when some process holds the lock (for diagnostics and tests).
    pub fn is_locked(&self) -> bool {
        self.word.load(Ordering::Relaxed) != 0
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
