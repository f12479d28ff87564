//! `RIPC_DEBUG`: what ripc does behind the caller's back — lock takeovers,
//! repairs, sweeps, refused namespaces — reported on standard error, one
//! line each (`ripc[PID]: …`). Off unless `RIPC_DEBUG` is set to a
//! non-empty value other than `0`; when off, a report costs one relaxed
//! load and a branch, and its message is never formatted.

use core::sync::atomic::{AtomicU8, Ordering};

/// 0: not read yet, 1: off, 2: on.
static STATE: AtomicU8 = AtomicU8::new(0);

/// Whether reports are on (`RIPC_DEBUG`, read once per process).
#[inline]
pub fn enabled() -> bool {
    match STATE.load(Ordering::Relaxed) {
        0 => read_env(),
        s => s == 2,
    }
}

#[cold]
fn read_env() -> bool {
    let on = std::env::var_os("RIPC_DEBUG").is_some_and(|v| !v.is_empty() && v != "0");
    STATE.store(if on { 2 } else { 1 }, Ordering::Relaxed);
    on
}

/// Writes one report line (with one `write(2)`, so lines of concurrent
/// processes do not mix).
#[cold]
pub fn emit(args: core::fmt::Arguments<'_>) {
    let line = format!("ripc[{}]: {}\n", crate::os::proc::my_pid(), args);
    // SAFETY: writing our own buffer to standard error.
    unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
}

/// Reports what ripc did on its own when `RIPC_DEBUG` is set (see the
/// module documentation).
#[macro_export]
#[doc(hidden)]
macro_rules! debug_report {
    ($($t:tt)*) => {
        if $crate::log::enabled() {
            $crate::log::emit(format_args!($($t)*));
        }
    };
}
