//! Deadlines on the monotonic clock, and wall-clock seconds for `*_time`
//! fields.

use core::time::Duration;
use std::time::Instant;

/// When a blocking call gives up.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    /// `None`: never.
    at: Option<Instant>,
    /// A lock wait under this deadline also ends (`ETIMEDOUT`) as soon as
    /// the lock's holder is seen *stopped* (see [`Deadline::ends_if_stopped`]).
    stopped_ends: bool,
    /// An `IPC_NOWAIT` call's: a holder that stays stopped for
    /// [`NOWAIT_GRACE`] is fenced (see [`Deadline::fences_quickly`]).
    quick_fence: bool,
}

impl Deadline {
    /// Never expires.
    pub const NEVER: Deadline = Deadline {
        at: None,
        stopped_ends: false,
        quick_fence: false,
    };

    /// Expires `d` from now.
    pub fn after(d: Duration) -> Deadline {
        Deadline {
            at: Instant::now().checked_add(d),
            stopped_ends: false,
            quick_fence: false,
        }
    }

    /// Whether a lock wait under this deadline ends as soon as the lock's
    /// holder is positively stopped (SIGSTOP, job control, a debugger's
    /// stop, the cgroup freezer: state `T` or `t` in `/proc/<pid>/stat`).
    /// Set for the calls the kernel never blocks — `IPC_NOWAIT` calls and
    /// the control calls ([`Deadline::ctl`], [`Deadline::for_lock`] with
    /// `nowait`): a stopped holder lets go only once continued, so waiting
    /// for it out to the bound buys nothing, while a holder that is merely
    /// preempted is still waited for (it lets go within a time slice, and
    /// a control call then reads the object whole). Timed calls wait to
    /// their deadline whatever the holder does: it may be continued.
    pub fn ends_if_stopped(&self) -> bool {
        self.stopped_ends
    }

    /// Whether a lock wait under this deadline (an `IPC_NOWAIT` call's:
    /// [`Deadline::for_lock`]) fences a holder of a movable object (a
    /// queue, a set) that stays stopped, and not run, for
    /// [`NOWAIT_GRACE`], rather than ending at it: the kernel performs
    /// such a call at once (the stopped process holds nothing there), so
    /// the object is moved away from the holder as an untimed call moves
    /// it after its grace (docs/bounded-time.md, "`IPC_NOWAIT` beside a
    /// stopped holder"). A holder that runs meanwhile (a tracer's brief
    /// stop) still ends the wait.
    pub fn fences_quickly(&self) -> bool {
        self.quick_fence
    }

    /// The grace a waiter under this deadline gives a stopped holder of a
    /// movable object before it fences it: `untimed` (the object's own)
    /// for untimed and timed calls, [`NOWAIT_GRACE`] for an `IPC_NOWAIT`
    /// call, none for the other calls that end at a stopped holder (the
    /// control calls: they do what they can without the lock).
    pub fn fence_grace(&self, untimed: Duration) -> Option<Duration> {
        if self.quick_fence {
            Some(NOWAIT_GRACE)
        } else {
            (!self.stopped_ends).then_some(untimed)
        }
    }

    /// This deadline, ending a lock wait when the holder is stopped.
    pub fn or_holder_stopped(self) -> Deadline {
        Deadline {
            stopped_ends: true,
            ..self
        }
    }

    /// From a C timeout in milliseconds: negative means forever.
    pub fn from_millis(ms: i64) -> Deadline {
        if ms < 0 {
            Deadline::NEVER
        } else {
            Deadline::after(Duration::from_millis(ms as u64))
        }
    }

    /// Time left, `None` for forever, `Some(ZERO)` once passed.
    pub fn remaining(&self) -> Option<Duration> {
        self.at.map(|t| t.saturating_duration_since(Instant::now()))
    }

    /// True when the deadline has passed.
    pub fn expired(&self) -> bool {
        matches!(self.remaining(), Some(d) if d.is_zero())
    }
}

/// Seconds since the epoch, as the kernel stores `msg_stime` and friends.
pub fn now_secs() -> i64 {
    crate::os::proc::coarse_now().tv_sec
}

/// How long a call that must not block (`IPC_NOWAIT`) waits at most for an
/// object's lock held by another process: an honest holder keeps it for
/// well under a microsecond, or for one time slice when it was preempted
/// (the waiter sleeps on the futex meanwhile, so the holder gets a CPU);
/// a stopped holder or a scribbled lock word then costs the caller this
/// long, and the call fails as if it would have blocked.
pub const NOWAIT_BOUND: Duration = Duration::from_millis(10);

/// How long an `IPC_NOWAIT` call watches a stopped holder of a queue's or
/// a set's lock, to see it stays stopped and does not run, before it
/// fences it and moves the object away (an untimed call's grace is 20 ms:
/// it has time; this call's bound is [`NOWAIT_BOUND`]).
pub const NOWAIT_GRACE: Duration = Duration::from_millis(2);

/// How long a move started by an `IPC_NOWAIT` call (after
/// [`NOWAIT_GRACE`]) may take before it is given up: a move copies the
/// object's file, which [`NOWAIT_BOUND`] may not leave time for on a
/// loaded machine, and a move given up at the call's bound would be made
/// again by every call.
pub const NOWAIT_MOVE_BOUND: Duration = Duration::from_millis(200);

/// How long a call that the kernel never blocks (`*ctl`, `shmat`,
/// `shmdt`) waits at most for an object's lock before it does what it can
/// without it (see docs/bounded-time.md).
pub const CTL_BOUND: Duration = Duration::from_millis(1000);

impl Deadline {
    /// The earlier of this deadline and `d` from now.
    pub fn min_after(&self, d: Duration) -> Deadline {
        let other = Instant::now().checked_add(d);
        let at = match (self.at, other) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Deadline { at, ..*self }
    }

    /// The deadline a lock wait gets under a call's deadline and flags:
    /// `nowait` adds [`NOWAIT_BOUND`], and a stopped holder ends the wait
    /// unless it stays stopped for [`NOWAIT_GRACE`] (then it is fenced
    /// where the object can move: [`Deadline::fences_quickly`]).
    pub fn for_lock(&self, nowait: bool) -> Deadline {
        if nowait {
            Deadline {
                quick_fence: true,
                ..self.min_after(NOWAIT_BOUND).or_holder_stopped()
            }
        } else {
            *self
        }
    }

    /// [`CTL_BOUND`] from now (or what [`set_ctl_bound`] made it in this
    /// process), or until the lock's holder is seen stopped.
    pub fn ctl() -> Deadline {
        Deadline::after(Duration::from_millis(
            CTL_BOUND_MS.load(core::sync::atomic::Ordering::Relaxed),
        ))
        .or_holder_stopped()
    }
}

/// This process's bound for a control call's lock wait ([`Deadline::ctl`]),
/// in milliseconds.
static CTL_BOUND_MS: core::sync::atomic::AtomicU64 =
    core::sync::atomic::AtomicU64::new(CTL_BOUND.as_millis() as u64);

/// Sets this process's bound for a control call's lock wait (default
/// [`CTL_BOUND`]). For the tools, which walk over every object (`ripcs`,
/// `ripcrm -a`): a member's stopped process holding the locks of many
/// objects would cost them a second per object (thousands: hours) where
/// the kernel's `ipcs`/`ipcrm` never wait; [`NOWAIT_BOUND`] is still far
/// longer than an honest holder keeps a lock, and what a control call
/// does without the lock is safe (docs/bounded-time.md).
pub fn set_ctl_bound(d: Duration) {
    CTL_BOUND_MS.store(
        d.as_millis().min(u64::MAX as u128) as u64,
        core::sync::atomic::Ordering::Relaxed,
    );
}
