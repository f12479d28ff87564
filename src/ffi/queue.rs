//! The native message-queue API: an opaque `ripc_queue` handle, a timeout
//! on every blocking call.
//!
//! Under `RIPC_BACKEND=kernel` the same calls drive a kernel queue; a
//! finite timeout there is served by retrying with `IPC_NOWAIT` every
//! millisecond (the kernel's `msgrcv` has no timeout).

use super::{readable, writable};
use crate::error::{Errno, Result};
use crate::kernel;
use crate::msg::{self, Queue};
use crate::ns::{Ns, IPC_NOWAIT};
use crate::sync::time::Deadline;
use crate::sysv::is_kernel;
use core::ffi::{c_int, c_long, c_void};

/// An open message queue. Create with [`ripc_queue_open`], free with
/// [`ripc_queue_close`].
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct ripc_queue {
    id: c_int,
    user: Option<Queue>,
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
}

fn deadline(timeout_ms: c_int) -> (c_int, Deadline) {
    if timeout_ms == 0 {
        (IPC_NOWAIT, Deadline::NEVER)
    } else {
        (0, Deadline::from_millis(timeout_ms as i64))
    }
}

/// Kernel backend: retries a non-blocking call until it succeeds, fails
/// otherwise, or the deadline passes.
fn kernel_wait<T>(
    timeout_ms: c_int,
    retry: Errno,
    mut f: impl FnMut(c_int) -> Result<T>,
) -> Result<T> {
    if timeout_ms <= 0 {
        return f(if timeout_ms == 0 { IPC_NOWAIT } else { 0 });
    }
    let d = Deadline::from_millis(timeout_ms as i64);
    loop {
        match f(IPC_NOWAIT) {
            Err(e) if e == retry => {
                if d.expired() {
                    return Err(Errno::ETIMEDOUT);
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            r => return r,
        }
    }
}

/// Opens the queue with `key` (or a new one for `key` 0, `IPC_PRIVATE`),
/// creating it when `flags` has `IPC_CREAT` (`IPC_EXCL`: fail with
/// `EEXIST` if it exists); the low 9 bits of `flags` are its mode.
/// NULL with `errno` on failure.
#[no_mangle]
pub extern "C" fn ripc_queue_open(key: c_int, flags: c_int) -> *mut ripc_queue {
    crate::ffi_boundary!({
        let q = if is_kernel() {
            ripc_queue {
                id: kernel::msgget(key, flags)?,
                user: None,
            }
        } else {
            let q = msg::get(Ns::default_ns()?, key, flags)?;
            ripc_queue {
                id: q.id(),
                user: Some(q),
            }
        };
        Ok(Box::into_raw(Box::new(q)))
    })
}

/// Opens the existing queue with id `id` (`EINVAL` if there is none).
#[no_mangle]
pub extern "C" fn ripc_queue_open_id(id: c_int) -> *mut ripc_queue {
    crate::ffi_boundary!({
        let q = if is_kernel() {
            let mut ds = super::cstructs::msqid_ds::default();
            // SAFETY: a valid msqid_ds for the kernel to fill.
            unsafe {
                kernel::msgctl(
                    id,
                    super::cstructs::IPC_STAT,
                    (&mut ds as *mut super::cstructs::msqid_ds).cast(),
                )?
            };
            ripc_queue { id, user: None }
        } else {
            ripc_queue {
                id,
                user: Some(msg::by_id(Ns::default_ns()?, id)?),
            }
        };
        Ok(Box::into_raw(Box::new(q)))
    })
}

/// The queue's System V id (usable with `ripc_msgsnd` and friends, and by
/// other processes).
#[no_mangle]
pub extern "C" fn ripc_queue_id(q: *const ripc_queue) -> c_int {
    crate::ffi_boundary!({ Ok(crate::try_ref!(q).id) })
}

/// Sends `len` bytes as a message of `type` (≥ 1). Waits while the queue
/// is full: `timeout_ms` < 0 forever, 0 not at all (`EAGAIN`), > 0 at most
/// that long (`ETIMEDOUT`). `EINTR` on a signal, `EIDRM` if the queue is
/// removed meanwhile.
///
/// # Safety
/// `data` must point to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn ripc_queue_send(
    q: *mut ripc_queue,
    r#type: c_long,
    data: *const c_void,
    len: usize,
    timeout_ms: c_int,
) -> c_int {
    crate::ffi_boundary!({
        let q = crate::try_ref!(q);
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
        match &q.user {
            Some(u) => {
                let ns = Ns::default_ns()?;
                let (flags, d) = deadline(timeout_ms);
                u.send(ns, r#type, bytes, flags, d)?;
            }
            None => {
                let mut m = Vec::with_capacity(8 + len);
                m.extend_from_slice(&r#type.to_ne_bytes());
                m.extend_from_slice(bytes);
                kernel_wait(timeout_ms, Errno::EAGAIN, |f| {
                    // SAFETY: m holds the type and text.
                    unsafe { kernel::msgsnd(q.id, m.as_ptr().cast(), len, f) }
                })?;
            }
        }
        Ok(0)
    })
}

/// Receives a message into `buf` (at most `cap` bytes; longer messages
/// fail with `E2BIG` unless `flags` has `MSG_NOERROR`). `type` selects as
/// `msgrcv` does (0 any, > 0 that type, < 0 lowest type ≤ |type|;
/// `MSG_EXCEPT` in `flags` inverts a positive type). Stores the message's
/// type in `*type_out` when not NULL. Returns the bytes received. Timeout
/// as [`ripc_queue_send`]; `ENOMSG` when `timeout_ms` is 0 and nothing
/// matches.
///
/// # Safety
/// `buf` must point to `cap` writable bytes; `type_out` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn ripc_queue_recv(
    q: *mut ripc_queue,
    r#type: c_long,
    buf: *mut c_void,
    cap: usize,
    flags: c_int,
    timeout_ms: c_int,
    type_out: *mut c_long,
) -> isize {
    crate::ffi_boundary!({
        let q = crate::try_ref!(q);
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
        let flags = flags & !IPC_NOWAIT;
        let (t, n) = match &q.user {
            Some(u) => {
                let (f, d) = deadline(timeout_ms);
                u.recv(r#type, out, flags | f, d)?
            }
            None => {
                let mut m = vec![0u8; 8 + cap];
                let n = kernel_wait(timeout_ms, Errno::ENOMSG, |f| {
                    // SAFETY: m has room for the type and cap bytes.
                    unsafe { kernel::msgrcv(q.id, m.as_mut_ptr().cast(), cap, r#type, flags | f) }
                })? as usize;
                out[..n].copy_from_slice(&m[8..8 + n]);
                (i64::from_ne_bytes(m[..8].try_into().unwrap_or([0; 8])), n)
            }
        };
        if !type_out.is_null() {
            // SAFETY: checked writable above.
            unsafe { type_out.write_unaligned(t) };
        }
        Ok(n as isize)
    })
}

/// Fills `*info` with the queue's status (`msgctl(IPC_STAT)`).
#[no_mangle]
#[allow(clippy::unnecessary_cast)] // c_ulong is u64 only on 64-bit targets
pub extern "C" fn ripc_queue_stat(q: *mut ripc_queue, info: *mut ripc_queue_info) -> c_int {
    crate::ffi_boundary!({
        let q = crate::try_ref!(q);
        let v = match &q.user {
            Some(u) => {
                let s = u.stat(false)?;
                ripc_queue_info {
                    key: s.perm.key,
                    id: q.id,
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
                }
            }
            None => {
                let mut ds = super::cstructs::msqid_ds::default();
                // SAFETY: a valid msqid_ds for the kernel to fill.
                unsafe {
                    kernel::msgctl(
                        q.id,
                        super::cstructs::IPC_STAT,
                        (&mut ds as *mut super::cstructs::msqid_ds).cast(),
                    )?
                };
                ripc_queue_info {
                    key: ds.msg_perm.__key,
                    id: q.id,
                    uid: ds.msg_perm.uid,
                    gid: ds.msg_perm.gid,
                    cuid: ds.msg_perm.cuid,
                    cgid: ds.msg_perm.cgid,
                    mode: ds.msg_perm.mode,
                    messages: ds.msg_qnum as u64,
                    bytes: ds.__msg_cbytes as u64,
                    capacity: ds.msg_qbytes as u64,
                    last_send_pid: ds.msg_lspid,
                    last_recv_pid: ds.msg_lrpid,
                    last_send_time: ds.msg_stime,
                    last_recv_time: ds.msg_rtime,
                    change_time: ds.msg_ctime,
                }
            }
        };
        super::put(info, v)?;
        Ok(0)
    })
}

/// Removes the queue (`IPC_RMID`): blocked senders and receivers fail with
/// `EIDRM`. The handle stays valid until [`ripc_queue_close`].
#[no_mangle]
pub extern "C" fn ripc_queue_remove(q: *mut ripc_queue) -> c_int {
    crate::ffi_boundary!({
        let q = crate::try_ref!(q);
        match &q.user {
            Some(u) => u.remove(Ns::default_ns()?)?,
            None => {
                // SAFETY: IPC_RMID takes no buffer.
                unsafe { kernel::msgctl(q.id, super::cstructs::IPC_RMID, core::ptr::null_mut())? };
            }
        }
        Ok(0)
    })
}

/// Frees the handle (the queue itself stays). NULL is ignored.
///
/// # Safety
/// `q` must come from `ripc_queue_open*` and not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn ripc_queue_close(q: *mut ripc_queue) {
    let _ = std::panic::catch_unwind(|| super::free_handle(q));
}

/// Sets a namespace limit (`"msgmax"`, `"msgmnb"`, `"msgmni"`, `"shmmax"`,
/// `"shmall"`, `"shmmni"`, `"semmsl"`, `"semmns"`, `"semopm"`, `"semmni"`)
/// for the namespace in `RIPC_DIR`. No privilege needed. New queues get
/// the `msgmnb` in force when they are created.
#[no_mangle]
pub extern "C" fn ripc_limit_set(name: *const core::ffi::c_char, value: u64) -> c_int {
    crate::ffi_boundary!({
        let n = super::cstr(name)?.to_str().map_err(|_| Errno::EINVAL)?;
        Ns::default_ns()?.set_limit(n, value)?;
        Ok(0)
    })
}

/// Reads a namespace limit by name (see [`ripc_limit_set`]); -1 with
/// `EINVAL` for an unknown name.
#[no_mangle]
pub extern "C" fn ripc_limit_get(name: *const core::ffi::c_char) -> i64 {
    crate::ffi_boundary!({
        let n = super::cstr(name)?.to_str().map_err(|_| Errno::EINVAL)?;
        let i = crate::ns::Limits::index(n)?;
        Ok(Ns::default_ns()?.limit(i).min(i64::MAX as u64) as i64)
    })
}
