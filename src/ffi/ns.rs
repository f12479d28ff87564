//! The namespace handle: `ripc_ns_open` / `ripc_ns_close`, and the one
//! place where the C API chooses the default namespace (a NULL `ripc_ns *`
//! given to any call that takes one, see `resolve`).

#![allow(clippy::not_unsafe_ptr_arg_deref)]

use crate::error::Result;
use crate::ns::Ns;
use crate::{ffi_boundary, try_ref};
use core::ffi::{c_char, c_int};
use std::path::Path;
use std::sync::Arc;

/// An open namespace: a directory of ripc objects, as `RIPC_DIR` names the
/// default one. From [`ripc_ns_open`], released by [`ripc_ns_close`];
/// every `*_open` / `*_open_id` call takes one (NULL: the default
/// namespace, `RIPC_DIR` or the private default).
///
/// Thread safety: a `ripc_ns` may be used by any number of threads at
/// once (a closed one, or anything but an open `ripc_ns`, gives `EBADF`).
/// Handles opened in it keep the namespace open: closing the `ripc_ns`
/// does not close them.
///
/// Under `RIPC_BACKEND=kernel`, queues and segments are the kernel's, in
/// the process's kernel IPC namespace, whatever `ripc_ns` is given; sets,
/// mutexes and semaphores of the native API always use ripc's engine and
/// live in the `ripc_ns` given.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct ripc_ns {
    ns: Arc<Ns>,
}

impl super::handle::Handle for ripc_ns {
    const KIND: u64 = 1;
}

/// The namespace `ns` names: its own, or the default one for NULL
/// (`EBADF` for anything but an open `ripc_ns`).
pub(crate) fn resolve(ns: *const ripc_ns) -> Result<Arc<Ns>> {
    if ns.is_null() {
        return Ok(Ns::default_ns()?.clone());
    }
    Ok(super::handle::get(ns)?.ns.clone())
}

/// The namespace a native queue or segment call runs in: `ns` checked
/// (`EBADF` unless NULL or an open `ripc_ns`, whatever the backend), then
/// resolved (`None` under the kernel backend, which needs none).
pub(crate) fn handle_ns(ns: *const ripc_ns) -> Result<Option<Arc<Ns>>> {
    if !ns.is_null() {
        drop(super::handle::get(ns)?);
    }
    crate::sysv::ops().handle_ns(&|| resolve(ns))
}

/// Opens the namespace in directory `path` (created, private, mode 0700,
/// when missing), after the same checks as `RIPC_DIR`'s (`EPERM` for a
/// directory the caller may not trust, `EACCES` for a symlink; see
/// ripc(7)). NULL `path` opens the default namespace. Two handles on one
/// directory see the same objects. NULL with `errno` on failure.
#[no_mangle]
pub extern "C" fn ripc_ns_open(path: *const c_char) -> *mut ripc_ns {
    ffi_boundary!({
        let ns = if path.is_null() {
            Ns::default_ns()?.clone()
        } else {
            let p = super::cstr(path)?
                .to_str()
                .map_err(|_| crate::error::Errno::EINVAL)?;
            Ns::open_shared(Path::new(p))?
        };
        super::handle::new(ripc_ns { ns })
    })
}

/// Releases the handle; objects and handles opened in it stay. NULL is
/// ignored. Returns 0 (-1 with `EBADF` when `ns` is not an open handle,
/// e.g. closed already).
#[no_mangle]
pub extern "C" fn ripc_ns_close(ns: *mut ripc_ns) -> c_int {
    ffi_boundary!({
        super::handle::close(ns)?;
        Ok(0)
    })
}

/// Sets a limit (`"msgmax"`, `"msgmnb"`, `"msgmni"`, `"shmmax"`,
/// `"shmall"`, `"shmmni"`, `"semmsl"`, `"semmns"`, `"semopm"`, `"semmni"`)
/// of namespace `ns` (NULL: the default one). No privilege needed; the
/// namespace's owner only (`EPERM`). New queues get the `msgmnb` in force
/// when they are created. `EINVAL` for an unknown name.
#[no_mangle]
pub extern "C" fn ripc_limit_set(ns: *const ripc_ns, name: *const c_char, value: u64) -> c_int {
    ffi_boundary!({
        let n = super::cstr(name)?
            .to_str()
            .map_err(|_| crate::error::Errno::EINVAL)?;
        resolve(ns)?.set_limit(n, value)?;
        Ok(0)
    })
}

/// Reads a limit of namespace `ns` (NULL: the default one) by name (see
/// [`ripc_limit_set`]); -1 with `EINVAL` for an unknown name.
#[no_mangle]
pub extern "C" fn ripc_limit_get(ns: *const ripc_ns, name: *const c_char) -> i64 {
    ffi_boundary!({
        let n = super::cstr(name)?
            .to_str()
            .map_err(|_| crate::error::Errno::EINVAL)?;
        let i = crate::ns::Limits::index(n)?;
        Ok(resolve(ns)?.limit(i).min(i64::MAX as u64) as i64)
    })
}

/// The directory of namespace `ns` (NULL: the default one), copied with
/// its NUL into `buf` of `len` bytes; returns its length without the NUL.
/// `ERANGE` when it does not fit.
#[no_mangle]
pub extern "C" fn ripc_ns_path(ns: *const ripc_ns, buf: *mut c_char, len: usize) -> isize {
    ffi_boundary!({
        let n = resolve(ns)?;
        let p = n.dir().as_os_str().as_encoded_bytes();
        if p.len() >= len {
            return Err(crate::error::Errno::ERANGE);
        }
        let _ = try_ref!(buf);
        super::writable(buf.cast(), p.len() + 1)?;
        // SAFETY: checked writable for p.len() + 1 bytes.
        unsafe {
            core::ptr::copy_nonoverlapping(p.as_ptr(), buf.cast::<u8>(), p.len());
            *buf.add(p.len()) = 0;
        }
        Ok(p.len() as isize)
    })
}
