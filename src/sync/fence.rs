//! Whether a stopped process stayed stopped: the evidence a waiter needs
//! before it fences a lock holder ([`super::lock::RobustLock::fence`]) and
//! again after it copied what the lock guards (docs/bounded-time.md,
//! "Fencing a stopped holder").
//!
//! A holder seen in state `T` (or `t`) once may have been continued and
//! stopped again since, and have written in between. What proves it did
//! not: every thread of the process in a stopped state at both looks, and
//! each thread's count of context switches (voluntary and involuntary,
//! `/proc/<pid>/task/<tid>/status`) and CPU time (`schedstat`, when the
//! kernel keeps it) the same at both. A thread that ran in between was
//! switched in, and to be stopped again it was switched out, which counts;
//! the CPU time catches the one case the counts cannot (a thread caught
//! in state `T` still on its CPU, continued before it switched out, then
//! stopped again before the second look: it ran on that CPU all along).
//! A thread created or gone in between is a change too. Anything that
//! cannot be read is no evidence: no fence.

use crate::os::proc::{start_time, Start};

/// One look at every thread of a stopped process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frozen {
    pid: i32,
    start: u64,
    /// (tid, context switches, CPU time in ns or `u64::MAX` when the
    /// kernel does not say), sorted by tid.
    threads: Vec<(i32, u64, u64)>,
}

/// The context switches of a thread whose `status` text is `status`, when
/// it is stopped (state `T` or `t`).
fn stopped_switches(status: &str) -> Option<u64> {
    let mut stopped = false;
    let mut n = 0u64;
    let mut seen = 0;
    for line in status.lines() {
        if let Some(v) = line.strip_prefix("State:") {
            let st = v.trim_start();
            stopped = st.starts_with("T ") || st.starts_with("t ") || st == "T" || st == "t";
        } else if let Some(v) = line
            .strip_prefix("voluntary_ctxt_switches:")
            .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
        {
            n = n.checked_add(v.trim().parse().ok()?)?;
            seen += 1;
        }
    }
    (stopped && seen == 2).then_some(n)
}

impl Frozen {
    /// Looks at every thread of process `pid` (whose start time must be
    /// `start`, when that is not 0): `None` unless all are stopped and
    /// everything could be read.
    pub fn look(pid: i32, start: u64) -> Option<Frozen> {
        if pid <= 0 {
            return None;
        }
        let s = match start_time(pid) {
            Start::Known(s) if start == 0 || s == start => s,
            _ => return None,
        };
        let mut threads = Vec::new();
        for e in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
            let tid: i32 = e.ok()?.file_name().to_str()?.parse().ok()?;
            let status = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).ok()?;
            let sw = stopped_switches(&status)?;
            let cpu = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/schedstat"))
                .ok()
                .and_then(|t| t.split_ascii_whitespace().next()?.parse().ok())
                .unwrap_or(u64::MAX);
            threads.push((tid, sw, cpu));
        }
        if threads.is_empty() {
            return None;
        }
        threads.sort_unstable();
        // The start time once more: the pid was not reused while we read.
        match start_time(pid) {
            Start::Known(s2) if s2 == s => {}
            _ => return None,
        }
        Some(Frozen {
            pid,
            start: s,
            threads,
        })
    }

    /// True when the process is still stopped and none of its threads
    /// ran since this look.
    pub fn still(&self) -> bool {
        Frozen::look(self.pid, self.start).as_ref() == Some(self)
    }

    /// The process looked at.
    pub fn pid(&self) -> i32 {
        self.pid
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::time::Duration;

    /// Stops our own child `pid` and waits until it is stopped (shared
    /// with `sync::lock`'s tests).
    pub(crate) fn stop(pid: i32) {
        // SAFETY: stopping our own child; waiting until it is stopped.
        unsafe {
            libc::kill(pid, libc::SIGSTOP);
            let mut st = 0;
            libc::waitpid(pid, &mut st, libc::WUNTRACED);
        }
    }

    #[test]
    fn the_status_text_is_read_right() {
        let t = "Name:\tx\nState:\tT (stopped)\nvoluntary_ctxt_switches:\t5\nnonvoluntary_ctxt_switches:\t7\n";
        assert_eq!(stopped_switches(t), Some(12));
        let t = "State:\tt (tracing stop)\nvoluntary_ctxt_switches:\t1\nnonvoluntary_ctxt_switches:\t0\n";
        assert_eq!(stopped_switches(t), Some(1));
        let t =
            "State:\tS (sleeping)\nvoluntary_ctxt_switches:\t1\nnonvoluntary_ctxt_switches:\t0\n";
        assert_eq!(stopped_switches(t), None);
        assert_eq!(stopped_switches("State:\tT (stopped)\n"), None);
    }

    #[test]
    fn a_stopped_process_stays_frozen_until_it_runs() {
        // A child that spins: whenever it is continued, it runs.
        // SAFETY: the child only spins until killed.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            loop {
                core::hint::spin_loop();
            }
        }
        assert_eq!(Frozen::look(pid, 0), None, "running");
        stop(pid);
        let f = Frozen::look(pid, 0).expect("stopped");
        std::thread::sleep(Duration::from_millis(30));
        assert!(f.still());
        // Continued and stopped again: it ran in between.
        // SAFETY: our own child.
        unsafe { libc::kill(pid, libc::SIGCONT) };
        std::thread::sleep(Duration::from_millis(20));
        stop(pid);
        assert!(!f.still());
        let g = Frozen::look(pid, 0).expect("stopped again");
        assert!(g.still());
        // Another start time: another process.
        assert_eq!(Frozen::look(pid, g.start + 1), None);
        // SAFETY: ending and reaping our child.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, core::ptr::null_mut(), 0);
        }
        assert!(!g.still());
        assert_eq!(Frozen::look(pid, 0), None);
    }
}
