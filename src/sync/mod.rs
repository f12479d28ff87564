//! Synchronisation over shared mappings, the building blocks every engine
//! uses: the event word (spin, then sleep on the futex, with a deadline:
//! [`event`]), the owner record (pid and start time, liveness, sweep:
//! [`owner`]), when to spin before sleeping ([`spin`]), the robust owner-recovering lock ([`lock`]) and the evidence for fencing its stopped holder ([`fence`]), deadlines
//! ([`time`]). (Process identity and liveness,
//! credentials and pointer probing are operating-system queries: `crate::os`.)
//!
//! Everything here works on words that live in memory shared with other,
//! untrusted processes: no value read from such a word is trusted beyond
//! "it is some u32".

pub mod event;
pub mod fence;
pub mod futex;
pub mod held;
pub mod lock;
pub mod owner;
pub mod spin;
pub mod time;
#[macro_use]
pub(crate) mod tls;

pub use event::{Event, Slept};
pub use futex::{futex_wait, futex_wake};
pub use lock::{LockOutcome, LockState, RobustLock};
pub use owner::{Check, Owner, OwnerRef};
pub use time::Deadline;
