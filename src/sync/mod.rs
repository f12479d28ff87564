//! Synchronisation over shared mappings: futex wait/wake, the robust
//! owner-recovering lock, deadlines. (Process identity and liveness,
//! credentials and pointer probing are operating-system queries: `crate::os`.)
//!
//! Everything here works on words that live in memory shared with other,
//! untrusted processes: no value read from such a word is trusted beyond
//! "it is some u32".

pub mod futex;
pub mod lock;
pub mod time;

pub use futex::{futex_wait, futex_wake};
pub use lock::{LockOutcome, RobustLock};
pub use time::Deadline;
