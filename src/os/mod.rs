//! Operating-system helpers that are not synchronisation: descriptors and
//! signal masks (here), who this process is and whether another one is
//! alive ([`proc`]) or held by the cgroup freezer ([`cgroup`]), the caller's credentials, and whether a C caller's
//! pointer may be read or written ([`probe`]), and `membarrier(2)`. The pipe and signal engines
//! both use them, so neither borrows from the other (no loop between
//! rooms); the engines, `ns` and `sync` build on them; nothing here uses
//! anything above it.

pub mod cancel;
pub mod cgroup;
pub mod creds;
mod fd;
pub(crate) mod membarrier;
pub mod probe;
pub mod proc;
mod sigmask;

pub(crate) use fd::{close_fd, set_fl};
pub(crate) use sigmask::{sigset, with_signals_blocked};

/// `d` as the kernel's relative `timespec` (seconds saturated at
/// `time_t`'s range), for the waits that take one (futex, nanosleep,
/// sigtimedwait).
#[inline]
pub(crate) fn timespec(d: core::time::Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    }
}
