//! The owner record: a process as shared memory names it, by pid and start
//! time (a pid alone is recycled within seconds), and whether it is gone.
//!
//! Used wherever an object records who holds something on its behalf: sem's
//! sleeper slots and undo slots (and, with its own packing, the robust
//! lock's holder, [`super::lock`]). A record whose owner is gone is
//! released by a sweep ([`sweep`]): the engine says what releasing means.
//!
//! Memory ordering: [`OwnerRef::claim`] stores the start time, then the
//! pid with release; [`OwnerRef::load`] reads the pid with acquire, then
//! the start time: a reader that sees the new pid sees its start time,
//! and a pid of 0 means a free record.

use crate::os::proc::{alive, my_pid, my_start, pid_exists};
use core::sync::atomic::{AtomicI32, AtomicU64, Ordering};

/// A process: pid (0: none) and start time (clock ticks since boot; 0 in
/// records made before it was recorded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// process id
    pub pid: i32,
    /// its start time
    pub start: u64,
}

/// How hard to look at a process before calling it gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// `kill(pid, 0)` fails: one cheap system call, blind to a recycled pid
    Quick,
    /// its pid and start time no longer name a live process (`/proc`)
    Full,
}

impl Owner {
    /// This process.
    pub fn me() -> Owner {
        Owner {
            pid: my_pid(),
            start: my_start(),
        }
    }

    /// No process (a free record).
    pub fn is_none(&self) -> bool {
        self.pid == 0
    }

    /// Whether the record names this process (pid and start time).
    #[inline]
    pub fn is_me(&self) -> bool {
        self.pid == my_pid() && self.start == my_start()
    }

    /// Whether the owner is gone (never for this process or no process).
    pub fn gone(&self, check: Check) -> bool {
        if self.is_none() || self.is_me() {
            return false;
        }
        match check {
            Check::Quick => !pid_exists(self.pid),
            Check::Full => !alive(self.pid, self.start),
        }
    }
}

/// An owner record as it lies in shared memory: a pid word and a start
/// time word (wherever the layout puts them).
#[derive(Debug, Clone, Copy)]
pub struct OwnerRef<'a> {
    pid: &'a AtomicI32,
    start: &'a AtomicU64,
}

impl<'a> OwnerRef<'a> {
    /// The record made of these two words.
    pub fn new(pid: &'a AtomicI32, start: &'a AtomicU64) -> OwnerRef<'a> {
        OwnerRef { pid, start }
    }

    /// The owner recorded (untrusted: any values).
    pub fn load(&self) -> Owner {
        let pid = self.pid.load(Ordering::Acquire);
        Owner {
            pid,
            start: self.start.load(Ordering::Relaxed),
        }
    }

    /// Records `o` as the owner.
    pub fn claim(&self, o: Owner) {
        self.start.store(o.start, Ordering::Relaxed);
        self.pid.store(o.pid, Ordering::Release);
    }

    /// Frees the record.
    pub fn clear(&self) {
        self.pid.store(0, Ordering::Release);
    }
}

/// Releases every record of `records` (index, record) whose owner is gone
/// by `check`, with `release(index, owner)`; whether any was released.
pub fn sweep<'a>(
    records: impl IntoIterator<Item = (usize, OwnerRef<'a>)>,
    check: Check,
    mut release: impl FnMut(usize, Owner) -> bool,
) -> bool {
    let mut changed = false;
    for (i, r) in records {
        let o = r.load();
        if o.gone(check) {
            changed |= release(i, o);
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_of_a_dead_process_is_swept_and_mine_is_not() {
        let words: Vec<(AtomicI32, AtomicU64)> = (0..3)
            .map(|_| (AtomicI32::new(0), AtomicU64::new(0)))
            .collect();
        let rec = |i: usize| OwnerRef::new(&words[i].0, &words[i].1);
        rec(0).claim(Owner::me());
        // This pid with another start time: a process that died, its pid
        // now ours.
        rec(1).claim(Owner {
            pid: my_pid(),
            start: my_start() + 1,
        });
        let mut released = Vec::new();
        let recs = (0..3).map(|i| (i, rec(i)));
        assert!(sweep(recs.clone(), Check::Full, |i, _| {
            released.push(i);
            true
        }));
        assert_eq!(released, [1]);
        // The quick check cannot tell a recycled pid.
        assert!(!sweep(recs, Check::Quick, |_, _| true));
        assert!(rec(0).load().is_me());
        rec(0).clear();
        assert!(rec(0).load().is_none());
    }
}
