//! Which backend serves the System V calls: ripc's own engine (default) or
//! the kernel (`RIPC_BACKEND=kernel`).

use once_cell::sync::Lazy;

/// A backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// ripc's userspace engine (`RIPC_BACKEND=user`, the default)
    User,
    /// pass-through to the kernel (`RIPC_BACKEND=kernel`)
    Kernel,
}

static BACKEND: Lazy<Backend> = Lazy::new(|| match std::env::var("RIPC_BACKEND") {
    Ok(v) if v.eq_ignore_ascii_case("kernel") => Backend::Kernel,
    _ => Backend::User,
});

/// The backend this process uses, read once from `RIPC_BACKEND`.
pub fn backend() -> Backend {
    *BACKEND
}

/// True when calls pass through to the kernel.
pub fn is_kernel() -> bool {
    backend() == Backend::Kernel
}
