//! Shared memory entry points: the System V-shaped `ripc_shmget`,
//! `ripc_shmat`, `ripc_shmdt`, `ripc_shmctl` (declared in `ripc_sysv.h`
//! with `<sys/shm.h>` types, so kept out of `ripc.h`), and the native
//! handle API `ripc_shm_*` (in `ripc.h`).
//!
//! Both go through the backend chosen once ([`crate::sysv::ops`]). The
//! drop-in calls use the default namespace; a native handle the namespace
//! it was opened in (none under the kernel backend).

#![allow(clippy::not_unsafe_ptr_arg_deref)]

use crate::error::{Errno, Result};
use crate::ffi::cstructs::{self, shmid_ds};
use crate::ffi::ns::{handle_ns, ripc_ns};
use crate::ffi::{put, writable};
use crate::ffi_boundary;
use crate::ns::Ns;
use crate::sysv::ops;
use core::ffi::{c_int, c_uint, c_void};
use std::sync::Arc;

/// `shmdt` of an address the library mapped (undoing an attach), or of
/// the native handle's own attachment.
fn shmdt(addr: *const c_void, of_id: Option<(&Ns, c_int)>) -> Result<c_int> {
    // SAFETY: the caller gives the attachment at `addr` up.
    unsafe { ops().shmdt(addr, of_id) }
}

/// `shmctl` for the native handle's own commands.
fn shmctl(ns: Option<&Arc<Ns>>, id: c_int, cmd: c_int, buf: *mut shmid_ds) -> Result<c_int> {
    // SAFETY: `buf` is NULL (IPC_RMID) or a shmid_ds of the library's own,
    // checked by the backend as any buffer.
    unsafe { ops().shmctl(ns, id, cmd, buf.cast()) }
}

/// `shmget(2)` on ripc (see `ripc_sysv.h`).
///
/// Declared in ripc_sysv.h, with the system structures.
///
/// cbindgen:ignore
#[no_mangle]
pub extern "C" fn ripc_shmget(key: c_int, size: usize, shmflg: c_int) -> c_int {
    ffi_boundary!({ ops().shmget(None, key, size, shmflg) })
}

/// `shmat(2)` on ripc (see `ripc_sysv.h`): `(void *)-1` with `errno` on
/// failure.
///
/// Declared in ripc_sysv.h, with the system structures.
///
/// cbindgen:ignore
#[no_mangle]
pub extern "C" fn ripc_shmat(shmid: c_int, shmaddr: *const c_void, shmflg: c_int) -> *mut c_void {
    let r: isize = ffi_boundary!({
        // SAFETY: the caller's address, checked by the backend.
        unsafe { ops().shmat(None, shmid, shmaddr, shmflg) }.map(|(p, _)| p as isize)
    });
    r as *mut c_void
}

/// `shmdt(2)` on ripc (see `ripc_sysv.h`).
///
/// Declared in ripc_sysv.h, with the system structures.
///
/// cbindgen:ignore
#[no_mangle]
pub extern "C" fn ripc_shmdt(shmaddr: *const c_void) -> c_int {
    ffi_boundary!({ shmdt(shmaddr, None) })
}

/// `shmctl(2)` on ripc (see `ripc_sysv.h`); `buf` is a `struct shmid_ds`,
/// `struct shminfo` (`IPC_INFO`) or `struct shm_info` (`SHM_INFO`).
///
/// Declared in ripc_sysv.h, with the system structures.
///
/// cbindgen:ignore
#[no_mangle]
pub extern "C" fn ripc_shmctl(shmid: c_int, cmd: c_int, buf: *mut c_void) -> c_int {
    ffi_boundary!({
        // SAFETY: the caller's buffer, checked by the backend.
        unsafe { ops().shmctl(None, shmid, cmd, buf) }
    })
}

/// A shared memory segment. From [`ripc_shm_open`] or [`ripc_shm_open_id`],
/// released by [`ripc_shm_close`].
///
/// Thread safety: any number of threads may use one handle at once
/// (attach, detach, stat, remove); a call with a closed handle fails with `EBADF`; a
/// close while another thread is inside a call with the handle closes it
/// at once and frees it when that call returns.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct ripc_shm {
    id: c_int,
    /// the namespace (ripc's engine; `None` for a kernel segment)
    ns: Option<Arc<Ns>>,
}

/// A segment's status, as [`ripc_shm_stat`] reports it.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ripc_shm_info {
    /// the segment's id (as `shmget` returns it)
    pub id: c_int,
    /// its key (0 for `IPC_PRIVATE`, and once removed)
    pub key: c_int,
    /// size in bytes
    pub size: usize,
    /// current attachments (all processes)
    pub nattch: u64,
    /// creator's pid
    pub cpid: c_int,
    /// pid of the last attach or detach
    pub lpid: c_int,
    /// last attach, seconds since the epoch (0: never)
    pub atime: i64,
    /// last detach (0: never)
    pub dtime: i64,
    /// last change (creation, `IPC_SET`)
    pub ctime: i64,
    /// owner
    pub uid: c_uint,
    /// owner's group
    pub gid: c_uint,
    /// creator
    pub cuid: c_uint,
    /// creator's group
    pub cgid: c_uint,
    /// permission bits (low 9), with `SHM_DEST` once removed and still
    /// attached, `SHM_LOCKED` after `SHM_LOCK`
    pub mode: c_uint,
    /// reserved for later fields (zero-filled)
    pub reserved: [u64; 8],
}

impl super::handle::Handle for ripc_shm {
    const KIND: u64 = 7;
}

fn into_handle(id: c_int, ns: Option<Arc<Ns>>) -> Result<*mut ripc_shm> {
    super::handle::new(ripc_shm { id, ns })
}

/// Opens the segment with `key` in namespace `ns` (NULL: the default one;
/// `IPC_PRIVATE`: a new one), creating it with `size` bytes (zero-filled)
/// when `flags` has `IPC_CREAT`; the low 9 bits of `flags` are its
/// permissions. Errors as `shmget(2)`: `EEXIST` (`IPC_CREAT|IPC_EXCL`),
/// `ENOENT`, `EACCES`, `EINVAL` (size 0, too big, or bigger than the
/// existing segment). NULL with `errno` on failure.
#[no_mangle]
pub extern "C" fn ripc_shm_open(
    ns: *const ripc_ns,
    key: c_int,
    size: usize,
    flags: c_int,
) -> *mut ripc_shm {
    ffi_boundary!({
        let ns = handle_ns(ns)?;
        let id = ops().shmget(ns.as_ref(), key, size, flags)?;
        into_handle(id, ns)
    })
}

/// Opens the segment with id `id` in namespace `ns` (NULL: the default
/// one), as a parent shares an `IPC_PRIVATE` segment's id. `EINVAL` when
/// there is none, `EACCES` without read permission. NULL with `errno` on
/// failure.
#[no_mangle]
pub extern "C" fn ripc_shm_open_id(ns: *const ripc_ns, id: c_int) -> *mut ripc_shm {
    ffi_boundary!({
        let ns = handle_ns(ns)?;
        let mut ds = shmid_ds::default();
        shmctl(ns.as_ref(), id, cstructs::IPC_STAT, &mut ds)?;
        into_handle(id, ns)
    })
}

/// The segment's System V id.
#[no_mangle]
pub extern "C" fn ripc_shm_id(shm: *const ripc_shm) -> c_int {
    ffi_boundary!({ Ok(super::handle::get(shm)?.id) })
}

/// Attaches the segment anywhere in this process (`flags`: 0, or
/// `SHM_RDONLY` to map it read-only: a write then raises `SIGSEGV`) and
/// returns its address; its size goes to `*size_out` when not NULL. Each
/// call is a new attachment (two calls: two views of the same bytes).
/// NULL with `errno` on failure (`EACCES`, `EINVAL` once destroyed).
#[no_mangle]
pub extern "C" fn ripc_shm_attach(
    shm: *mut ripc_shm,
    flags: c_int,
    size_out: *mut usize,
) -> *mut c_void {
    ffi_boundary!({
        let h = super::handle::get(shm)?;
        let (id, ns) = (h.id, h.ns.as_ref());
        if flags & !(cstructs::SHM_RDONLY | cstructs::SHM_EXEC) != 0 {
            return Err(Errno::EINVAL);
        }
        if !size_out.is_null() {
            writable(size_out.cast(), core::mem::size_of::<usize>())?;
        }
        // SAFETY: no address: the backend maps anywhere.
        let (p, size) = unsafe { ops().shmat(ns, id, core::ptr::null(), flags) }?;
        if !size_out.is_null() {
            let size = match size {
                Some(s) => s,
                None => {
                    let mut ds = shmid_ds::default();
                    if let Err(e) = shmctl(ns, id, cstructs::IPC_STAT, &mut ds) {
                        let _ = shmdt(p, None);
                        return Err(e);
                    }
                    ds.shm_segsz
                }
            };
            put(size_out, size)?;
        }
        Ok(p)
    })
}

/// Ends the attachment at `addr` (an address [`ripc_shm_attach`] returned
/// for this segment). `EINVAL` when `addr` is not one. Returns 0.
#[no_mangle]
pub extern "C" fn ripc_shm_detach(shm: *mut ripc_shm, addr: *mut c_void) -> c_int {
    ffi_boundary!({
        let h = super::handle::get(shm)?;
        shmdt(addr, h.ns.as_deref().map(|ns| (ns, h.id)))
    })
}

/// Fills `*out` with the segment's status (needs read permission:
/// `EACCES`); `EINVAL` once the segment is destroyed. Returns 0.
#[no_mangle]
pub extern "C" fn ripc_shm_stat(shm: *const ripc_shm, out: *mut ripc_shm_info) -> c_int {
    ffi_boundary!({
        let h = super::handle::get(shm)?;
        let id = h.id;
        let mut ds = shmid_ds::default();
        shmctl(h.ns.as_ref(), id, cstructs::IPC_STAT, &mut ds)?;
        let p = &ds.shm_perm;
        let st = ripc_shm_info {
            id,
            key: p.__key,
            size: ds.shm_segsz,
            nattch: ds.shm_nattch as _,
            cpid: ds.shm_cpid,
            lpid: ds.shm_lpid,
            atime: ds.shm_atime,
            dtime: ds.shm_dtime,
            ctime: ds.shm_ctime,
            uid: p.uid,
            gid: p.gid,
            cuid: p.cuid,
            cgid: p.cgid,
            mode: p.mode,
            reserved: [0; 8],
        };
        put(out, st)?;
        Ok(0)
    })
}

/// Removes the segment (`IPC_RMID`): its key no longer finds it; it stays
/// usable by its attachers and is destroyed at the last detach. Owner,
/// creator or root only (`EPERM`). Returns 0.
#[no_mangle]
pub extern "C" fn ripc_shm_remove(shm: *mut ripc_shm) -> c_int {
    ffi_boundary!({
        let h = super::handle::get(shm)?;
        shmctl(
            h.ns.as_ref(),
            h.id,
            cstructs::IPC_RMID,
            core::ptr::null_mut(),
        )
    })
}

/// Releases the handle (NULL is ignored; `EBADF` when it is not an open
/// handle: closed already). Attachments stay valid until
/// [`ripc_shm_detach`] or exit; the segment itself lives on until removed.
/// Returns 0.
#[no_mangle]
pub extern "C" fn ripc_shm_close(shm: *mut ripc_shm) -> c_int {
    ffi_boundary!({
        super::handle::close(shm)?;
        Ok(0)
    })
}
