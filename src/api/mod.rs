//! The Rust API: [`Namespace`], [`Queue`], [`SemSet`], [`Segment`] and
//! their options, over the userspace engines. See the crate documentation.

mod error;
mod namespace;
mod queue;
mod segment;
mod semset;

pub use error::{Error, Result};
pub use namespace::{Key, Namespace, OpenOptions, Perms};
pub use queue::{Queue, QueueInfo, Selector};
pub use segment::{Attachment, Segment, SegmentInfo};
pub use semset::{Mutex, MutexGuard, SemOp, SemSet, SemSetInfo, Semaphore};

use crate::sync::time::Deadline;
use core::time::Duration;
use std::time::SystemTime;

/// How a call that may block waits.
#[derive(Debug, Clone, Copy)]
enum Block {
    /// until it can go on (or a signal, or removal)
    Forever,
    /// not at all: `EAGAIN` when it would block
    Try,
    /// at most until the deadline: then `ETIMEDOUT`
    Until(Deadline),
}

impl Block {
    /// A timeout: zero is [`Block::Try`].
    fn timeout(d: Duration) -> Block {
        if d.is_zero() {
            Block::Try
        } else {
            Block::Until(Deadline::after(d))
        }
    }
}

/// A `*_time` field (seconds since the epoch, 0 for never).
fn time(secs: i64) -> Option<SystemTime> {
    (secs > 0).then(|| SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64))
}

/// The types are shared between threads as the C handles are: every
/// operation takes `&self` and the engines lock what they touch.
#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Namespace>();
    is::<Queue>();
    is::<SemSet>();
    is::<Segment>();
    is::<Mutex>();
    is::<MutexGuard<'static>>();
    is::<Semaphore>();
    is::<Attachment>();
    is::<Error>();
}
