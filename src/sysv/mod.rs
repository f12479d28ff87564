//! Which backend serves the System V calls: ripc's own engine (default) or
//! the kernel (`RIPC_BACKEND=kernel`), chosen once, and the interface both
//! serve ([`Sysv`](crate::sysv::Sysv), reached with
//! [`ops`](crate::sysv::ops)). The C facade only converts
//! arguments, checks its own pointers and maps errors; what differs
//! between the backends (the engine's argument checks in the kernel's
//! order, the kernel backend's emulations of a timed wait or a capacity
//! set at creation) lives behind this seam:
//! [`Engine`](crate::sysv::engine::Engine) and [`crate::kernel::Kernel`].
//!
//! Any other non-empty value is a configuration error: every call of the
//! C API then fails with `EINVAL` (see [`check`]), and the library says
//! why once on stderr, rather than silently running a backend the user
//! did not ask for.

pub mod engine;

use crate::error::{Errno, Result};
use crate::ffi::cstructs::sembuf;
use crate::ns::Ns;
use core::ffi::{c_int, c_long, c_void};
use core::sync::atomic::{AtomicU8, Ordering};
use once_cell::sync::Lazy;
use std::sync::Arc;

/// The System V interface, with raw C arguments, as both backends serve it
/// (the drop-in calls), and the native handles built on it. Pointer
/// arguments are the caller's, unchecked: the engine checks them in the
/// kernel's order, the kernel checks them itself.
pub trait Sysv: Sync {
    /// `msgget(2)`.
    fn msgget(&self, key: c_int, flags: c_int) -> Result<c_int>;
    /// `msgsnd(2)`.
    ///
    /// # Safety
    /// `msgp` is the caller's `msgbuf`, checked by the backend.
    unsafe fn msgsnd(
        &self,
        id: c_int,
        msgp: *const c_void,
        sz: usize,
        flags: c_int,
    ) -> Result<c_int>;
    /// `msgrcv(2)`.
    ///
    /// # Safety
    /// As [`Sysv::msgsnd`].
    unsafe fn msgrcv(
        &self,
        id: c_int,
        msgp: *mut c_void,
        sz: usize,
        typ: c_long,
        flags: c_int,
    ) -> Result<isize>;
    /// `msgctl(2)`.
    ///
    /// # Safety
    /// `buf` is the caller's, checked by the backend for the command.
    unsafe fn msgctl(&self, id: c_int, cmd: c_int, buf: *mut c_void) -> Result<c_int>;
    /// `shmget(2)` in `ns` (`None`: the default namespace).
    fn shmget(&self, ns: Option<&Arc<Ns>>, key: c_int, size: usize, flags: c_int) -> Result<c_int>;
    /// `shmat(2)`, with the segment's size when the backend has it at
    /// hand (the kernel's `shmat` does not tell it).
    ///
    /// # Safety
    /// A non-NULL `addr` maps over the caller's memory there, as asked.
    unsafe fn shmat(
        &self,
        ns: Option<&Arc<Ns>>,
        id: c_int,
        addr: *const c_void,
        flags: c_int,
    ) -> Result<(*mut c_void, Option<usize>)>;
    /// `shmdt(2)`; with `of_id`, `EINVAL` unless `addr` attaches that
    /// segment of that namespace (the kernel backend cannot tell, and
    /// detaches whatever is there).
    ///
    /// # Safety
    /// The caller gives the attachment at `addr` up.
    unsafe fn shmdt(&self, addr: *const c_void, of_id: Option<(&Ns, c_int)>) -> Result<c_int>;
    /// `shmctl(2)`.
    ///
    /// # Safety
    /// `buf` is the caller's, checked by the backend for the command.
    unsafe fn shmctl(
        &self,
        ns: Option<&Arc<Ns>>,
        id: c_int,
        cmd: c_int,
        buf: *mut c_void,
    ) -> Result<c_int>;
    /// `semget(2)`.
    fn semget(&self, key: c_int, nsems: c_int, flags: c_int) -> Result<c_int>;
    /// `semtimedop(2)` (`semop` with a NULL timeout).
    ///
    /// # Safety
    /// `sops` and `timeout` are the caller's, checked by the backend.
    unsafe fn semtimedop(
        &self,
        id: c_int,
        sops: *const sembuf,
        nsops: usize,
        timeout: *const libc::timespec,
    ) -> Result<c_int>;
    /// `semctl(2)`, its fourth argument read already: `val` for
    /// `SETVAL`, `ptr` for the commands that take a buffer or an array.
    ///
    /// # Safety
    /// `ptr` is the caller's, checked by the backend for the command.
    unsafe fn semctl(
        &self,
        id: c_int,
        num: c_int,
        cmd: c_int,
        val: c_int,
        ptr: *mut c_void,
    ) -> Result<c_int>;
    /// The namespace a native queue or segment handle keeps: `resolve`'s
    /// for the engine, none for the kernel (whose objects are in the
    /// process's kernel IPC namespace, whatever namespace is named).
    fn handle_ns(&self, resolve: &dyn Fn() -> Result<Arc<Ns>>) -> Result<Option<Arc<Ns>>>;
    /// A native queue by key (`capacity` 0: the default).
    fn queue_open(
        &self,
        ns: Option<Arc<Ns>>,
        key: c_int,
        capacity: u64,
        flags: c_int,
    ) -> Result<Box<dyn NativeQueue>>;
    /// A native queue by id.
    fn queue_open_id(&self, ns: Option<Arc<Ns>>, id: c_int) -> Result<Box<dyn NativeQueue>>;
}

/// An open native queue (`ripc_queue`), of either backend.
pub trait NativeQueue: Send + Sync + core::fmt::Debug {
    /// its System V id
    fn id(&self) -> c_int;
    /// sends, waiting per `t` while full
    fn send(&self, mtype: c_long, text: &[u8], t: Timeout) -> Result<()>;
    /// receives into `out` (`flags` as `msgrcv`'s, without
    /// `IPC_NOWAIT`): the type and the length
    fn recv(&self, mtype: c_long, out: &mut [u8], flags: c_int, t: Timeout)
        -> Result<(i64, usize)>;
    /// `IPC_STAT`
    fn stat(&self) -> Result<crate::msg::MsgStat>;
    /// `IPC_RMID`
    fn remove(&self) -> Result<()>;
}

/// The one meaning of a native call's `timeout_ms`: negative, wait for
/// ever; 0, try once and fail with `EAGAIN` rather than wait; positive,
/// wait at most that many milliseconds, then `ETIMEDOUT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// negative
    Forever,
    /// 0
    Try,
    /// positive: milliseconds
    Ms(i64),
}

impl Timeout {
    /// From a C `timeout_ms`.
    pub fn from_ms(ms: c_long) -> Timeout {
        match ms {
            ..=-1 => Timeout::Forever,
            0 => Timeout::Try,
            #[allow(clippy::unnecessary_cast)] // c_long is i64 on 64-bit targets only
            n => Timeout::Ms(n as i64),
        }
    }

    /// The deadline of a wait (`NEVER` for `Forever` and `Try`).
    pub fn deadline(self) -> crate::sync::time::Deadline {
        match self {
            Timeout::Ms(n) => crate::sync::time::Deadline::from_millis(n),
            _ => crate::sync::time::Deadline::NEVER,
        }
    }
}

/// The backend this process uses, chosen once (`RIPC_BACKEND`).
pub fn ops() -> &'static dyn Sysv {
    match backend() {
        Backend::User => &engine::Engine,
        Backend::Kernel => &crate::kernel::Kernel,
    }
}

/// A backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// ripc's userspace engine (`RIPC_BACKEND=user`, the default)
    User,
    /// pass-through to the kernel (`RIPC_BACKEND=kernel`)
    Kernel,
}

/// What `RIPC_BACKEND` names: unset or empty is the default (`user`);
/// `user` and `kernel` in any case; anything else is `None`.
pub fn parse(v: Option<&std::ffi::OsStr>) -> Option<Backend> {
    let Some(v) = v else {
        return Some(Backend::User);
    };
    match v.to_str() {
        Some("") => Some(Backend::User),
        Some(s) if s.eq_ignore_ascii_case("user") => Some(Backend::User),
        Some(s) if s.eq_ignore_ascii_case("kernel") => Some(Backend::Kernel),
        _ => None,
    }
}

static BACKEND: Lazy<Option<Backend>> = Lazy::new(|| {
    let v = std::env::var_os("RIPC_BACKEND");
    let b = parse(v.as_deref());
    if b.is_none() {
        use std::io::Write;
        let v = v.unwrap_or_default();
        // Said once per process (this initialiser runs once); a closed
        // stderr is ignored.
        let _ = writeln!(
            std::io::stderr(),
            "ripc: RIPC_BACKEND={}: unknown backend (use user or kernel)",
            v.to_string_lossy()
        );
    }
    b
});

/// [`BACKEND`] once read, as one byte every C call loads (a `Lazy` costs
/// a state check and the value's load, twice in `semop`): 0 not read
/// yet, 1 user, 2 kernel, 3 an unknown name.
static BACKEND_READ: AtomicU8 = AtomicU8::new(0);

/// [`BACKEND`], through [`BACKEND_READ`].
#[inline(always)]
fn backend_read() -> Option<Backend> {
    match BACKEND_READ.load(Ordering::Relaxed) {
        1 => Some(Backend::User),
        2 => Some(Backend::Kernel),
        3 => None,
        _ => backend_first(),
    }
}

/// [`backend_read`] before [`BACKEND_READ`] is set (threads racing here
/// store the same value).
#[cold]
#[inline(never)]
fn backend_first() -> Option<Backend> {
    let b = *BACKEND;
    let v = match b {
        Some(Backend::User) => 1,
        Some(Backend::Kernel) => 2,
        None => 3,
    };
    BACKEND_READ.store(v, Ordering::Relaxed);
    b
}

/// `Ok` when `RIPC_BACKEND` names a backend, else `EINVAL`: what every C
/// entry point checks first (in `ffi_boundary!`).
#[inline]
pub fn check() -> Result<Backend> {
    backend_read().ok_or(Errno::EINVAL)
}

/// The backend this process uses, read once from `RIPC_BACKEND` (`user`
/// when the value is unknown: the C API refuses to run then, see
/// [`check`]).
#[inline]
pub fn backend() -> Backend {
    backend_read().unwrap_or(Backend::User)
}

/// True when calls pass through to the kernel.
pub fn is_kernel() -> bool {
    backend() == Backend::Kernel
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn names() {
        assert_eq!(parse(None), Some(Backend::User));
        assert_eq!(parse(Some(OsStr::new(""))), Some(Backend::User));
        assert_eq!(parse(Some(OsStr::new("user"))), Some(Backend::User));
        assert_eq!(parse(Some(OsStr::new("KERNEL"))), Some(Backend::Kernel));
        assert_eq!(parse(Some(OsStr::new("bogus"))), None);
        assert_eq!(parse(Some(OsStr::new("kernel "))), None);
    }
}
