//! `ripc_ftok` and the message-queue calls with System V signatures (what
//! `ripc_sysv.h` maps `ftok msgget msgsnd msgrcv msgctl` to).
//!
//! Each checks its arguments in the kernel's order, then either passes the
//! call to the kernel (`RIPC_BACKEND=kernel`) or runs ripc's engine.

use super::cstructs::*;
use super::{cstr, get, put, readable, writable};
use crate::error::{Errno, Result};
use crate::kernel;
use crate::msg;
use crate::ns::owner_errno;
use crate::ns::{limits, Ns};
use crate::sync::time::Deadline;
use crate::sysv::is_kernel;
use core::ffi::{c_char, c_int, c_long, c_void};

/// Generates the same key as glibc's `ftok(3)` for the same `pathname` and
/// `proj_id` (the file must exist). -1 with `errno` from `stat` on failure.
#[no_mangle]
pub extern "C" fn ripc_ftok(pathname: *const c_char, proj_id: c_int) -> c_int {
    crate::ffi_boundary!({ crate::ns::ftok(cstr(pathname)?, proj_id) })
}

/// `msgget(2)`: the id of the queue with `key`, creating it per
/// `IPC_CREAT`/`IPC_EXCL` with the low 9 bits of `msgflg` as its mode.
///
/// Declared in ripc_sysv.h, with the system structures.
///
/// cbindgen:ignore
#[no_mangle]
pub extern "C" fn ripc_msgget(key: c_int, msgflg: c_int) -> c_int {
    crate::ffi_boundary!({
        if is_kernel() {
            return kernel::msgget(key, msgflg);
        }
        Ok(msg::get(Ns::default_ns()?, key, msgflg)?.id())
    })
}

/// `msgsnd(2)`: `msgp` points to a `long` type followed by `msgsz` bytes.
///
/// # Safety
/// `msgp` must point to `sizeof(long) + msgsz` readable bytes (NULL and
/// unmapped addresses are reported as `EFAULT`).
///
/// Declared in ripc_sysv.h, with the system structures.
///
/// cbindgen:ignore
#[no_mangle]
pub unsafe extern "C" fn ripc_msgsnd(
    msqid: c_int,
    msgp: *const c_void,
    msgsz: usize,
    msgflg: c_int,
) -> c_int {
    crate::ffi_boundary!({
        if is_kernel() {
            // SAFETY: the kernel checks the pointer.
            return unsafe { kernel::msgsnd(msqid, msgp, msgsz, msgflg) };
        }
        readable(msgp, core::mem::size_of::<c_long>())?;
        // SAFETY: checked readable just above; msgbuf may be unaligned.
        let mtype = unsafe { (msgp as *const c_long).read_unaligned() };
        let ns = Ns::default_ns()?;
        if msgsz > isize::MAX as usize || msgsz as u64 > ns.limit(limits::MSGMAX) || msqid < 0 {
            return Err(Errno::EINVAL);
        }
        if mtype < 1 {
            return Err(Errno::EINVAL);
        }
        let text_ptr = (msgp as *const u8).wrapping_add(core::mem::size_of::<c_long>());
        readable(text_ptr.cast(), msgsz)?;
        // SAFETY: `msgsz` bytes at text_ptr were checked readable; the
        // slice lives only for this call.
        let text = unsafe { core::slice::from_raw_parts(text_ptr, msgsz) };
        msg::by_id(ns, msqid)?.send(ns, mtype, text, msgflg, Deadline::NEVER)?;
        Ok(0)
    })
}

/// `msgrcv(2)`: receives into `msgp` (a `long` type, then up to `msgsz`
/// bytes); returns the number of bytes of text received.
///
/// # Safety
/// `msgp` must point to `sizeof(long) + msgsz` writable bytes (NULL and
/// unmapped addresses are reported as `EFAULT`, before any message is
/// taken).
///
/// Declared in ripc_sysv.h, with the system structures.
///
/// cbindgen:ignore
#[no_mangle]
pub unsafe extern "C" fn ripc_msgrcv(
    msqid: c_int,
    msgp: *mut c_void,
    msgsz: usize,
    msgtyp: c_long,
    msgflg: c_int,
) -> isize {
    crate::ffi_boundary!({
        if is_kernel() {
            // SAFETY: the kernel checks the pointer.
            return unsafe { kernel::msgrcv(msqid, msgp, msgsz, msgtyp, msgflg) };
        }
        if msqid < 0 || msgsz > isize::MAX as usize {
            return Err(Errno::EINVAL);
        }
        let ns = Ns::default_ns()?;
        let q = msg::by_id(ns, msqid)?;
        let cap = msgsz.min(q.bytes_capacity().max(ns.limit(limits::MSGMAX)) as usize);
        cap.checked_add(core::mem::size_of::<c_long>())
            .ok_or(Errno::EINVAL)?;
        // As the kernel, only the bytes actually received must be
        // writable (a buffer shorter than `msgsz` is fine for a short
        // message), and nothing is checked before there is a message; but
        // unlike the kernel, a bad buffer leaves the message in the queue.
        let mut out = CRecvBuf {
            msgp: msgp.cast(),
            cap,
            probed: false,
        };
        let (mtype, n) = q.recv_into(msgtyp, &mut out, msgflg, Deadline::NEVER)?;
        if !out.probed {
            writable(msgp, core::mem::size_of::<c_long>())?;
        }
        // SAFETY: the type's bytes were checked writable, by `take` (with
        // the text) or just above; possibly unaligned.
        unsafe { (msgp as *mut c_long).write_unaligned(mtype) };
        Ok(n as isize)
    })
}

/// A C `msgbuf` (a `long` type, then the text) as a receive buffer.
struct CRecvBuf {
    msgp: *mut u8,
    cap: usize,
    /// `take` checked the type and the text writable.
    probed: bool,
}

impl msg::RecvBuf for CRecvBuf {
    fn cap(&self) -> usize {
        self.cap
    }

    fn take(&mut self, n: usize) -> Result<&mut [u8]> {
        if n > self.cap {
            return Err(Errno::EINVAL);
        }
        writable(self.msgp.cast(), n + core::mem::size_of::<c_long>())?;
        self.probed = true;
        // SAFETY: the type and `n` bytes of text at msgp were checked
        // writable just above (so msgp is not NULL); the slice lives only
        // for this call and nothing else in this thread uses that memory.
        Ok(unsafe {
            core::slice::from_raw_parts_mut(self.msgp.add(core::mem::size_of::<c_long>()), n)
        })
    }
}

fn stat_to_c(s: &msg::MsgStat) -> msqid_ds {
    msqid_ds {
        msg_perm: perm_to_c(&s.perm),
        msg_stime: s.stime,
        msg_rtime: s.rtime,
        msg_ctime: s.ctime,
        __msg_cbytes: s.cbytes as _,
        msg_qnum: s.qnum as _,
        msg_qbytes: s.qbytes as _,
        msg_lspid: s.lspid,
        msg_lrpid: s.lrpid,
        ..Default::default()
    }
}

/// `msgctl(2)`: `IPC_STAT`, `IPC_SET`, `IPC_RMID`, `IPC_INFO`, `MSG_INFO`,
/// `MSG_STAT`, `MSG_STAT_ANY`.
///
/// # Safety
/// `buf` must point to a `struct msqid_ds` (or `struct msginfo` for the
/// `*_INFO` commands) when the command uses it.
///
/// Declared in ripc_sysv.h, with the system structures.
///
/// cbindgen:ignore
#[no_mangle]
pub unsafe extern "C" fn ripc_msgctl(msqid: c_int, cmd: c_int, buf: *mut c_void) -> c_int {
    crate::ffi_boundary!({
        if is_kernel() {
            // SAFETY: the kernel checks the pointer.
            return unsafe { kernel::msgctl(msqid, cmd, buf) };
        }
        let ns = Ns::default_ns()?;
        match cmd {
            IPC_INFO | MSG_INFO => {
                let l = ns.limits();
                // IPC_INFO needs only the highest index: from the index
                // hint, at constant cost; MSG_INFO's message and byte
                // totals need every queue (linear, see README "Scale").
                let i = if cmd == MSG_INFO {
                    msg::info(ns)
                } else {
                    msg::MsgInfo {
                        max_idx: ns.in_use(crate::ns::Kind::Msg).0.max(0),
                        ..Default::default()
                    }
                };
                let clamp = |v: u64| v.min(i32::MAX as u64) as c_int;
                let mut out = msginfo {
                    msgpool: clamp(l.msgmni * l.msgmnb / 1024),
                    msgmap: clamp(l.msgmnb),
                    msgmax: clamp(l.msgmax),
                    msgmnb: clamp(l.msgmnb),
                    msgmni: clamp(l.msgmni),
                    msgssz: 16,
                    msgtql: clamp(l.msgmnb),
                    msgseg: 0xffff,
                };
                if cmd == MSG_INFO {
                    out.msgpool = i.queues;
                    out.msgmap = clamp(i.messages);
                    out.msgtql = clamp(i.bytes);
                }
                put(buf as *mut msginfo, out)?;
                Ok(i.max_idx)
            }
            MSG_STAT | MSG_STAT_ANY => {
                let (id, s) = msg::stat_index(ns, msqid, cmd == MSG_STAT_ANY)?;
                put(buf as *mut msqid_ds, stat_to_c(&s))?;
                Ok(id)
            }
            IPC_STAT => {
                if msqid < 0 {
                    return Err(Errno::EINVAL);
                }
                let s = msg::by_id(ns, msqid)?.stat(false)?;
                put(buf as *mut msqid_ds, stat_to_c(&s))?;
                Ok(0)
            }
            IPC_SET => {
                let d: msqid_ds = get(buf as *const msqid_ds)?;
                if msqid < 0 {
                    return Err(Errno::EINVAL);
                }
                let q = msg::by_id(ns, msqid).map_err(owner_errno)?;
                q.set(
                    ns,
                    d.msg_perm.uid,
                    d.msg_perm.gid,
                    d.msg_perm.mode,
                    d.msg_qbytes as u64,
                )?;
                Ok(0)
            }
            IPC_RMID => {
                if msqid < 0 {
                    return Err(Errno::EINVAL);
                }
                msg::remove_id(ns, msqid).map_err(owner_errno)?;
                Ok(0)
            }
            _ => Err(Errno::EINVAL),
        }
    })
}
