//! Whether a stopped process stayed stopped: the evidence a waiter needs
//! before it fences a lock holder ([`super::lock::RobustLock::fence`]) and
//! again after it copied what the lock guards (docs/bounded-time.md,
//! "Fencing a stopped holder").
//!
//! Stopped means state `T` (or `t`), or asleep (`S`, `D`) in a cgroup
//! that reports itself frozen (the cgroup freezer's tasks show no `T`:
//! [`crate::os::cgroup`]).
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

use crate::os::cgroup::Cgroups;
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

/// How a thread whose `status` text is `status` is held, and its context
/// switches: `Some` when it is stopped (state `T` or `t`), or sleeping
/// (`S`, `D`) and then [`Held::IfFrozen`] — held only when its cgroup
/// says frozen.
fn held_switches(status: &str) -> Option<(Held, u64)> {
    let mut held = None;
    let mut n = 0u64;
    let mut seen = 0;
    for line in status.lines() {
        if let Some(v) = line.strip_prefix("State:") {
            held = match v.trim_start().split_ascii_whitespace().next() {
                Some("T" | "t") => Some(Held::Stopped),
                Some("S" | "D") => Some(Held::IfFrozen),
                _ => None,
            };
        } else if let Some(v) = line
            .strip_prefix("voluntary_ctxt_switches:")
            .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
        {
            n = n.checked_add(v.trim().parse().ok()?)?;
            seen += 1;
        }
    }
    held.filter(|_| seen == 2).map(|h| (h, n))
}

/// What a thread's state says of it (see [`held_switches`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    /// stopped by a signal or a tracer
    Stopped,
    /// asleep: held when the cgroup freezer holds it
    IfFrozen,
}

impl Frozen {
    /// Looks at every thread of process `pid` (whose start time must be
    /// `start`, when that is not 0): `None` unless all are stopped (or
    /// frozen) and everything could be read.
    pub fn look(pid: i32, start: u64) -> Option<Frozen> {
        if pid <= 0 {
            return None;
        }
        let s = match start_time(pid) {
            Start::Known(s) if start == 0 || s == start => s,
            _ => return None,
        };
        let mut threads = Vec::new();
        let mut cgroups = Cgroups::default();
        // std::fs calls glibc's cancellation points: none may act here
        // (crate::os::cancel).
        let _nc = crate::os::cancel::NoCancel::new();
        for n in crate::os::cgroup::task_names(pid)? {
            let tid: i32 = n.parse().ok()?;
            let status = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).ok()?;
            let sw = match held_switches(&status)? {
                (Held::Stopped, sw) => sw,
                (Held::IfFrozen, sw) => cgroups.frozen(pid, tid).then_some(sw)?,
            };
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
        assert_eq!(held_switches(t), Some((Held::Stopped, 12)));
        let t = "State:\tt (tracing stop)\nvoluntary_ctxt_switches:\t1\nnonvoluntary_ctxt_switches:\t0\n";
        assert_eq!(held_switches(t), Some((Held::Stopped, 1)));
        let t =
            "State:\tS (sleeping)\nvoluntary_ctxt_switches:\t1\nnonvoluntary_ctxt_switches:\t0\n";
        assert_eq!(held_switches(t), Some((Held::IfFrozen, 1)));
        let t =
            "State:\tD (disk sleep)\nvoluntary_ctxt_switches:\t1\nnonvoluntary_ctxt_switches:\t2\n";
        assert_eq!(held_switches(t), Some((Held::IfFrozen, 3)));
        let t =
            "State:\tR (running)\nvoluntary_ctxt_switches:\t1\nnonvoluntary_ctxt_switches:\t0\n";
        assert_eq!(held_switches(t), None);
        assert_eq!(held_switches("State:\tT (stopped)\n"), None);
    }

    #[test]
    fn a_sleeping_process_outside_a_frozen_cgroup_is_not_frozen() {
        // A child asleep in a pipe read (state S): no cgroup says frozen.
        let mut fd = [0; 2];
        // SAFETY: a pipe of our own; the child only reads it and exits.
        let pid = unsafe {
            assert_eq!(libc::pipe(fd.as_mut_ptr()), 0);
            let pid = libc::fork();
            if pid == 0 {
                let mut b = 0u8;
                libc::read(fd[0], (&mut b as *mut u8).cast(), 1);
                libc::_exit(0);
            }
            pid
        };
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(Frozen::look(pid, 0), None);
        assert!(!crate::os::cgroup::process_frozen(pid));
        // SAFETY: ending and reaping our child; closing our pipe.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, core::ptr::null_mut(), 0);
            libc::close(fd[0]);
            libc::close(fd[1]);
        }
    }

    /// A cgroup made for a test under a writable freezer (v2's unified
    /// mount, else v1's freezer), removed when dropped.
    struct TestCgroup {
        dir: String,
        v2: bool,
    }

    impl TestCgroup {
        fn new() -> Option<TestCgroup> {
            let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
            let mut places = Vec::new();
            for l in mounts.lines() {
                let (left, right) = l.split_once(" - ")?;
                let at = left.split(' ').nth(4)?.to_owned();
                let mut r = right.split(' ');
                let fstype = r.next()?;
                let opts = r.nth(1).unwrap_or("");
                if fstype == "cgroup2" {
                    places.insert(0, (at, true));
                } else if fstype == "cgroup" && opts.split(',').any(|o| o == "freezer") {
                    places.push((at, false));
                }
            }
            places.into_iter().find_map(|(at, v2)| {
                let dir = format!("{at}/ripc-fence-test-{}", std::process::id());
                std::fs::create_dir(&dir).ok()?;
                Some(TestCgroup { dir, v2 })
            })
        }

        fn add(&self, pid: i32) -> bool {
            std::fs::write(format!("{}/cgroup.procs", self.dir), pid.to_string()).is_ok()
        }

        fn freeze(&self, on: bool) {
            let (file, what) = match (self.v2, on) {
                (true, true) => ("cgroup.freeze", "1"),
                (true, false) => ("cgroup.freeze", "0"),
                (false, true) => ("freezer.state", "FROZEN"),
                (false, false) => ("freezer.state", "THAWED"),
            };
            let _ = std::fs::write(format!("{}/{file}", self.dir), what);
        }

        fn frozen(&self) -> bool {
            if self.v2 {
                std::fs::read_to_string(format!("{}/cgroup.events", self.dir))
                    .is_ok_and(|t| t.lines().any(|l| l == "frozen 1"))
            } else {
                std::fs::read_to_string(format!("{}/freezer.state", self.dir))
                    .is_ok_and(|t| t.trim() == "FROZEN")
            }
        }
    }

    impl Drop for TestCgroup {
        /// Thawed, what is in it killed (a test that failed midway), and
        /// removed.
        fn drop(&mut self) {
            self.freeze(false);
            for _ in 0..200 {
                let procs = std::fs::read_to_string(format!("{}/cgroup.procs", self.dir));
                for p in procs.iter().flat_map(|t| t.lines()) {
                    if let Ok(p) = p.parse::<i32>() {
                        // SAFETY: a process the test moved into its cgroup.
                        unsafe { libc::kill(p, libc::SIGKILL) };
                    }
                }
                if std::fs::remove_dir(&self.dir).is_ok() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    /// A child that spins until killed: whenever it may run, it runs.
    fn spinner() -> i32 {
        // SAFETY: the child only spins until killed.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            loop {
                core::hint::spin_loop();
            }
        }
        pid
    }

    /// Kills and reaps our child `pid`.
    fn end(pid: i32) {
        // SAFETY: ending and reaping our child.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, core::ptr::null_mut(), 0);
        }
    }

    #[test]
    fn a_process_frozen_by_its_cgroup_is_frozen_until_it_runs() {
        let Some(cg) = TestCgroup::new() else {
            eprintln!("no writable freezer: not tried");
            return;
        };
        let pid = spinner();
        if !cg.add(pid) {
            end(pid);
            eprintln!("the freezer cgroup takes no process: not tried");
            return;
        }
        let wait_frozen = |on: bool| {
            for _ in 0..400 {
                if cg.frozen() == on {
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            panic!("the cgroup never froze");
        };
        assert_eq!(Frozen::look(pid, 0), None, "running");
        assert!(!crate::os::cgroup::process_frozen(pid));
        cg.freeze(true);
        wait_frozen(true);
        let f = Frozen::look(pid, 0).expect("frozen");
        assert!(crate::os::cgroup::process_frozen(pid));
        assert!(crate::os::proc::liveness_and_stopped(pid, 0).1);
        std::thread::sleep(Duration::from_millis(30));
        assert!(f.still());
        // Thawed, it runs; frozen again, it ran in between.
        cg.freeze(false);
        wait_frozen(false);
        std::thread::sleep(Duration::from_millis(20));
        assert!(!crate::os::proc::liveness_and_stopped(pid, 0).1, "thawed");
        cg.freeze(true);
        wait_frozen(true);
        assert!(!f.still());
        assert!(Frozen::look(pid, 0).expect("frozen again").still());
        cg.freeze(false);
        end(pid);
    }

    #[test]
    fn a_stopped_process_stays_frozen_until_it_runs() {
        let pid = spinner();
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
        end(pid);
        assert!(!g.still());
        assert_eq!(Frozen::look(pid, 0), None);
    }
}
