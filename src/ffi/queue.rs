//! The native message-queue API: an opaque `ripc_queue` handle, a timeout
//! on every blocking call.
//!
//! The handle is the backend's ([`crate::sysv::NativeQueue`]): under
//! `RIPC_BACKEND=kernel` a kernel queue, with the kernel backend's
//! emulations (a capacity set at creation, a timed wait).

use super::ns::{handle_ns, ripc_ns};
use super::{readable, writable, Timeout};
use crate::error::{Errno, Result};
use crate::ns::IPC_NOWAIT;
use crate::sysv::{ops, NativeQueue};
use core::ffi::{c_int, c_long, c_void};

/// An open message queue. From [`ripc_queue_open`] or
/// [`ripc_queue_open_id`], released by [`ripc_queue_close`].
///
/// Thread safety: any number of threads may use one handle at once (send,
/// receive, stat, remove); a call with a closed handle fails with `EBADF`; a
/// close while another thread is inside a call with the handle closes it
/// at once and frees it when that call returns.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct ripc_queue {
    q: Box<dyn NativeQueue>,
}

/// What [`ripc_queue_stat`] reports.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ripc_queue_info {
    /// key the queue was created with (0 for `IPC_PRIVATE`)
    pub key: c_int,
    /// queue id
    pub id: c_int,
    /// owner uid
    pub uid: u32,
    /// owner gid
    pub gid: u32,
    /// creator uid
    pub cuid: u32,
    /// creator gid
    pub cgid: u32,
    /// permission bits
    pub mode: u32,
    /// messages in the queue
    pub messages: u64,
    /// bytes of text in the queue
    pub bytes: u64,
    /// most bytes the queue holds (`msg_qbytes`)
    pub capacity: u64,
    /// pid of the last send
    pub last_send_pid: c_int,
    /// pid of the last receive
    pub last_recv_pid: c_int,
    /// time of the last send (seconds since the epoch)
    pub last_send_time: i64,
    /// time of the last receive
    pub last_recv_time: i64,
    /// time of the last change
    pub change_time: i64,
    /// reserved for later fields (zero-filled)
    pub reserved: [u64; 8],
}

impl super::handle::Handle for ripc_queue {
    const KIND: u64 = 3;
}

fn boxed(q: Box<dyn NativeQueue>) -> Result<*mut ripc_queue> {
    super::handle::new(ripc_queue { q })
}

/// Opens the queue with `key` in namespace `ns` (NULL: the default one),
/// or a new one for `key` 0 (`IPC_PRIVATE`), creating it when `flags` has
/// `IPC_CREAT` (`IPC_EXCL`: fail with `EEXIST` if it exists); the low 9
/// bits of `flags` are its mode. A queue this call creates holds at most
/// `capacity` bytes of text (0: the namespace's `msgmnb`, as `msgget`;
/// above `msgmnb` needs root: `EPERM`); an existing queue keeps its own.
/// NULL with `errno` on failure (`ENOENT`, `EEXIST`, `EACCES`, `ENOSPC`,
/// `EPERM`, `EINVAL` for a capacity above the hard cap).
#[no_mangle]
pub extern "C" fn ripc_queue_open(
    ns: *const ripc_ns,
    key: c_int,
    capacity: u64,
    flags: c_int,
) -> *mut ripc_queue {
    crate::ffi_boundary!({
        let ns = handle_ns(ns)?;
        boxed(ops().queue_open(ns, key, capacity, flags)?)
    })
}

/// Opens the existing queue with id `id` in namespace `ns` (NULL: the
/// default one). NULL with `EINVAL` if there is none.
#[no_mangle]
pub extern "C" fn ripc_queue_open_id(ns: *const ripc_ns, id: c_int) -> *mut ripc_queue {
    crate::ffi_boundary!({
        let ns = handle_ns(ns)?;
        boxed(ops().queue_open_id(ns, id)?)
    })
}

/// The queue's System V id (usable with `ripc_msgsnd` and friends, and by
/// other processes with [`ripc_queue_open_id`]).
#[no_mangle]
pub extern "C" fn ripc_queue_id(q: *const ripc_queue) -> c_int {
    crate::ffi_boundary!({ Ok(super::handle::get(q)?.q.id()) })
}

/// Sends `len` bytes as a message of `type` (≥ 1). Waits while the queue
/// is full: `timeout_ms` negative, for ever; 0, not at all (`EAGAIN` when
/// full); positive, at most that long (`ETIMEDOUT`). `EINTR` on a signal,
/// `EIDRM` if the queue is removed meanwhile. Returns 0.
///
/// # Safety
/// `data` must point to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C-unwind" fn ripc_queue_send(
    q: *mut ripc_queue,
    r#type: c_long,
    data: *const c_void,
    len: usize,
    timeout_ms: c_long,
) -> c_int {
    crate::ffi_boundary!(cancellation_point, {
        let q = super::handle::get(q)?;
        if data.is_null() && len > 0 {
            return Err(Errno::EFAULT);
        }
        readable(data, len)?;
        let bytes: &[u8] = if len == 0 {
            &[]
        } else {
            // SAFETY: checked readable; lives for this call.
            unsafe { core::slice::from_raw_parts(data.cast(), len) }
        };
        q.q.send(r#type, bytes, Timeout::from_ms(timeout_ms))?;
        Ok(0)
    })
}

/// Receives a message into `buf` (at most `cap` bytes; longer messages
/// fail with `E2BIG` unless `flags` has `MSG_NOERROR`). `type` selects as
/// `msgrcv` does (0 any, > 0 that type, < 0 lowest type ≤ |type|;
/// `MSG_EXCEPT` in `flags` inverts a positive type). Stores the message's
/// type in `*type_out` when not NULL. Returns the bytes received. Waits
/// while nothing matches: `timeout_ms` negative, for ever; 0, not at all
/// (`EAGAIN` when nothing matches); positive, at most that long
/// (`ETIMEDOUT`).
///
/// # Safety
/// `buf` must point to `cap` writable bytes; `type_out` NULL or valid.
#[no_mangle]
pub unsafe extern "C-unwind" fn ripc_queue_recv(
    q: *mut ripc_queue,
    r#type: c_long,
    buf: *mut c_void,
    cap: usize,
    flags: c_int,
    timeout_ms: c_long,
    type_out: *mut c_long,
) -> isize {
    crate::ffi_boundary!(cancellation_point, {
        let q = super::handle::get(q)?;
        if (buf.is_null() && cap > 0) || cap > isize::MAX as usize {
            return Err(if buf.is_null() {
                Errno::EFAULT
            } else {
                Errno::EINVAL
            });
        }
        writable(buf, cap)?;
        if !type_out.is_null() {
            writable(type_out.cast(), core::mem::size_of::<c_long>())?;
        }
        let out: &mut [u8] = if cap == 0 {
            &mut []
        } else {
            // SAFETY: checked writable; lives for this call.
            unsafe { core::slice::from_raw_parts_mut(buf.cast(), cap) }
        };
        let (ty, n) = q.q.recv(
            r#type,
            out,
            flags & !IPC_NOWAIT,
            Timeout::from_ms(timeout_ms),
        )?;
        if !type_out.is_null() {
            // SAFETY: checked writable above.
            unsafe { type_out.write_unaligned(ty) };
        }
        Ok(n as isize)
    })
}

/// Fills `*info` with the queue's status (`msgctl(IPC_STAT)`: needs read
/// permission, `EACCES`). Returns 0.
#[no_mangle]
pub extern "C" fn ripc_queue_stat(q: *const ripc_queue, info: *mut ripc_queue_info) -> c_int {
    crate::ffi_boundary!({
        let q = super::handle::get(q)?;
        let s = q.q.stat()?;
        let v = ripc_queue_info {
            key: s.perm.key,
            id: q.q.id(),
            uid: s.perm.uid,
            gid: s.perm.gid,
            cuid: s.perm.cuid,
            cgid: s.perm.cgid,
            mode: s.perm.mode,
            messages: s.qnum,
            bytes: s.cbytes,
            capacity: s.qbytes,
            last_send_pid: s.lspid,
            last_recv_pid: s.lrpid,
            last_send_time: s.stime,
            last_recv_time: s.rtime,
            change_time: s.ctime,
            reserved: [0; 8],
        };
        super::put(info, v)?;
        Ok(0)
    })
}

/// Removes the queue (`IPC_RMID`; owner, creator or root: `EPERM`):
/// blocked senders and receivers fail with `EIDRM`. The handle stays valid
/// until [`ripc_queue_close`], every other call failing. Returns 0.
#[no_mangle]
pub extern "C" fn ripc_queue_remove(q: *mut ripc_queue) -> c_int {
    crate::ffi_boundary!({
        super::handle::get(q)?.q.remove()?;
        Ok(0)
    })
}

/// Releases the handle (the queue itself stays). NULL is ignored; `EBADF`
/// when `q` is not an open handle (closed already).
/// Returns 0.
#[no_mangle]
pub extern "C" fn ripc_queue_close(q: *mut ripc_queue) -> c_int {
    crate::ffi_boundary!({
        super::handle::close(q)?;
        Ok(0)
    })
}
