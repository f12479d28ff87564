//! Deadlines on the monotonic clock, and wall-clock seconds for `*_time`
//! fields.

use core::time::Duration;
use std::time::Instant;

/// When a blocking call gives up. `None` inside means "never".
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// Never expires.
    pub const NEVER: Deadline = Deadline(None);

    /// Expires `d` from now.
    pub fn after(d: Duration) -> Deadline {
        Deadline(Instant::now().checked_add(d))
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
        self.0.map(|t| t.saturating_duration_since(Instant::now()))
    }

    /// True when the deadline has passed.
    pub fn expired(&self) -> bool {
        matches!(self.remaining(), Some(d) if d.is_zero())
    }
}

/// Seconds since the epoch, as the kernel stores `msg_stime` and friends.
pub fn now_secs() -> i64 {
    crate::sync::proc::coarse_now().tv_sec
}
