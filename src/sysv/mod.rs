//! Which backend serves the System V calls: ripc's own engine (default) or
//! the kernel (`RIPC_BACKEND=kernel`).
//!
//! Any other non-empty value is a configuration error: every call of the
//! C API then fails with `EINVAL` (see [`check`]), and the library says
//! why once on stderr, rather than silently running a backend the user
//! did not ask for.

use crate::error::{Errno, Result};
use once_cell::sync::Lazy;

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

/// `Ok` when `RIPC_BACKEND` names a backend, else `EINVAL`: what every C
/// entry point checks first (in `ffi_boundary!`).
#[inline]
pub fn check() -> Result<Backend> {
    (*BACKEND).ok_or(Errno::EINVAL)
}

/// The backend this process uses, read once from `RIPC_BACKEND` (`user`
/// when the value is unknown: the C API refuses to run then, see
/// [`check`]).
pub fn backend() -> Backend {
    (*BACKEND).unwrap_or(Backend::User)
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
