//! The `extern "C"` facade: argument checks, the panic boundary and `errno`.
//! No IPC logic lives here, and nothing here touches a mapping.
//!
//! Every entry point is written as
//! ```ignore
//! #[no_mangle]
//! pub extern "C" fn ripc_x(...) -> c_int {
//!     ffi_boundary!({ ...body returning Result<c_int>... })
//! }
//! ```
//! The macro catches panics (a panic never unwinds into C: the call fails
//! with `ENOTRECOVERABLE`, see [`PANIC_ERRNO`]), and maps `Err(e)` to the return type's
//! failure value ([`FfiReturn::failure`]: -1 or NULL) with `errno = e`.
//! It first checks `RIPC_BACKEND` ([`crate::sysv::check`]): an unknown
//! backend makes every call fail with `EINVAL`.

use crate::error::Errno;
use core::ffi::{c_char, c_void};

/// cbindgen:ignore
pub mod cstructs;
pub(crate) mod handle;
pub mod ns;
pub mod pipe;
pub mod queue;
pub mod sem;
pub mod semset;
pub mod shm;
pub mod signal;
pub mod sysv;
pub mod version;

/// The errno a call reports when the library itself failed (a panic
/// caught at the boundary: a bug in ripc, never the caller's or another
/// process's doing). Distinct from `EIO`, which means an object whose
/// shared state is corrupt (written by something other than ripc).
pub const PANIC_ERRNO: Errno = Errno::ENOTRECOVERABLE;

/// Makes, as the library is loaded, the key whose destructor lets a
/// thread's cached objects go when it exits (`crate::os::thread_exit`):
/// the library's thread-locals have no destructor of their own, whose
/// registration would `calloc` at a thread's first call — which a signal
/// handler that interrupted `malloc` must not meet (the library's own
/// allocations are async-signal-safe: `crate::os::alloc`).
#[used]
#[link_section = ".init_array"]
static KEY_AT_LOAD: extern "C" fn() = {
    extern "C" fn at_load() {
        crate::os::thread_exit::at_load();
    }
    at_load
};

/// The value a C entry point returns on failure, per return type.
pub trait FfiReturn: Sized {
    /// -1 for integers, NULL for pointers.
    fn failure() -> Self;
}

macro_rules! impl_ffi_return_int {
    ($($t:ty),*) => {$(
        impl FfiReturn for $t {
            fn failure() -> Self { -1 }
        }
    )*};
}
impl_ffi_return_int!(i32, i64, isize);

impl<T> FfiReturn for *mut T {
    fn failure() -> Self {
        core::ptr::null_mut()
    }
}

/// Runs `body` (a `Result<T>`) behind the panic boundary, with
/// cancellation disabled (a `pthread_cancel` acts at the next cancellation
/// point after the call, never inside it: [`crate::os::cancel`]; the
/// `fast` form leaves that to the body), and converts it to
/// the C convention: `Ok(v)` → `v`; `Err(e)` → failure value with `errno = e`;
/// a panic → failure value with `errno = ENOTRECOVERABLE`. An unknown `RIPC_BACKEND`
/// fails every call with `EINVAL` before `body` runs.
///
/// `ffi_boundary!(cancellation_point, { … })`: the same for an entry
/// point that is a cancellation point (declared `extern "C-unwind"`): a
/// cancellation pending at entry acts first (`pthread_testcancel`); when
/// the body failed because a cancellation acted inside one of its system
/// calls (`ECANCELED`, [`crate::os::cancel`]), the thread ends there as
/// glibc's cancellation ends it ([`finish_cancellable`]).
#[macro_export]
#[doc(hidden)]
macro_rules! ffi_boundary {
    (cancellation_point, $body:block) => {{
        // A pending cancellation acts here, before anything is done, even
        // when the call would not block (as glibc's cancellation points).
        // SAFETY: the `extern "C-unwind"` entry point holds nothing yet.
        unsafe { $crate::os::cancel::test() };
        let r = ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(
            || -> $crate::error::Result<_> {
                $crate::sysv::check()?;
                $body
            },
        ));
        // SAFETY: called from the `extern "C-unwind"` entry point, with
        // nothing of its frame left to drop (`r` moves in).
        unsafe { $crate::ffi::finish_cancellable(r) }
    }};
    // The lock-free `semop` family: no guard here; its slow paths take
    // one (crate::os::cancel::NoCancel).
    (fast, $body:block) => {
        $crate::ffi_boundary!(@run, {}, $body)
    };
    // Every other entry point that is no cancellation point: cancellation
    // disabled for the whole call (crate::os::cancel).
    ($body:block) => {
        $crate::ffi_boundary!(@run, { let _nc = $crate::os::cancel::NoCancel::new(); }, $body)
    };
    (@run, { $($guard:tt)* }, $body:block) => {{
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(
            || -> $crate::error::Result<_> {
                $($guard)*
                $crate::sysv::check()?;
                $body
            },
        )) {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                $crate::error::set_errno(e);
                $crate::ffi::FfiReturn::failure()
            }
            Err(_) => {
                $crate::error::set_errno($crate::ffi::PANIC_ERRNO);
                $crate::ffi::FfiReturn::failure()
            }
        }
    }};
}
pub use crate::ffi_boundary;

/// The end of `ffi_boundary!(cancellation_point, …)`: as `ffi_boundary!`,
/// except that a failure (`ECANCELED`, or any) after a cancellation acted in
/// this thread ([`crate::os::cancel::caught`]) ends the thread
/// (`pthread_exit(PTHREAD_CANCELED)`): glibc's forced unwind then crosses
/// this frame, which holds nothing (`r` is taken apart by value), and the
/// entry point's, which must hold nothing either.
///
/// # Safety
/// Called by an `extern "C-unwind"` entry point with nothing of its own
/// frame left to drop.
#[doc(hidden)]
#[inline(always)]
pub unsafe fn finish_cancellable<T: FfiReturn + Copy>(
    r: std::thread::Result<crate::error::Result<T>>,
) -> T {
    let e = match r {
        Ok(inner) => match inner {
            Ok(v) => return v,
            Err(e) => e,
        },
        Err(payload) => {
            drop(payload);
            PANIC_ERRNO
        }
    };
    // Also after a panic that followed a cancellation.
    // SAFETY: the caller's promise; nothing is left here.
    unsafe { crate::os::cancel::act() };
    crate::error::set_errno(e);
    T::failure()
}

pub(crate) use crate::sysv::Timeout;

/// Fails with `EFAULT` when `$p` is NULL, else yields a shared reference.
#[macro_export]
#[doc(hidden)]
macro_rules! try_ref {
    ($p:expr) => {{
        let p = $p;
        if p.is_null() {
            return Err($crate::error::Errno::EFAULT);
        }
        // SAFETY: non-null, and the C caller promises it points to a valid,
        // properly aligned object for the duration of the call.
        unsafe { &*p }
    }};
}

/// Copies `v` into the caller's `*buf` (`EFAULT` unless writable; the
/// C struct may be unaligned).
pub(crate) fn put<T: Copy>(buf: *mut T, v: T) -> crate::error::Result<()> {
    writable(buf.cast(), core::mem::size_of::<T>())?;
    // SAFETY: checked writable; written unaligned-safe.
    unsafe { buf.write_unaligned(v) };
    Ok(())
}

/// Copies the caller's `*buf` out (`EFAULT` unless readable).
pub(crate) fn get<T: Copy>(buf: *const T) -> crate::error::Result<T> {
    readable(buf.cast(), core::mem::size_of::<T>())?;
    // SAFETY: checked readable; read unaligned-safe.
    Ok(unsafe { buf.read_unaligned() })
}

/// Converts a C string argument to `&CStr`: `EFAULT` when NULL or when
/// the bytes up to its NUL cannot all be read (as the kernel answers a
/// path it cannot read), never `SIGSEGV`. Probed a page at a time
/// ([`readable`]) before each page is searched for the NUL.
pub(crate) fn cstr<'a>(p: *const c_char) -> crate::error::Result<&'a core::ffi::CStr> {
    const PAGE: usize = 4096;
    if p.is_null() {
        return Err(Errno::EFAULT);
    }
    let mut at = p as usize;
    loop {
        let end = (at | (PAGE - 1)).checked_add(1).ok_or(Errno::EFAULT)?;
        crate::os::probe::readable(at, end - at)?;
        // SAFETY: the bytes from `at` to `end` were just found readable.
        let bytes = unsafe { core::slice::from_raw_parts(at as *const u8, end - at) };
        if bytes.contains(&0) {
            break;
        }
        at = end;
    }
    // SAFETY: non-null, readable up to and including its NUL (above); the
    // C caller promises the string outlives the call.
    Ok(unsafe { core::ffi::CStr::from_ptr(p) })
}

/// Checks that the `len` bytes at `p` can be read by this process, without
/// touching them (so a bad pointer gives `EFAULT`, not `SIGSEGV`).
///
/// See [`crate::os::probe`] for how (one cached `process_vm_readv` probe
/// per buffer and thread).
pub(crate) fn readable(p: *const c_void, len: usize) -> crate::error::Result<()> {
    crate::os::probe::readable(p as usize, len)
}

/// As [`readable`], for a buffer the call will write.
pub(crate) fn writable(p: *mut c_void, len: usize) -> crate::error::Result<()> {
    crate::os::probe::writable(p as usize, len)
}
