//! The pass-through backend: the kernel's System V IPC, by raw `syscall`.
//!
//! Raw system calls (not libc's `msgget` …) so that this library never
//! depends on the drop-in header's renaming, and a future link-level
//! drop-in exporting `msgget` itself could never call itself.
//! The kernel does all checking, `EFAULT` included: arguments go through
//! untouched (no `IPC_64` is added to `*ctl` commands: the 64-bit
//! system calls take the 64-bit structures natively, which is also why
//! glibc adds nothing there).

use crate::error::{cvt, Result};
use core::ffi::{c_int, c_long, c_void};

/// `msgget(2)`.
pub fn msgget(key: c_int, flags: c_int) -> Result<c_int> {
    // SAFETY: plain integers.
    cvt(unsafe { libc::syscall(libc::SYS_msgget, key, flags) }).map(|r| r as c_int)
}

/// `msgsnd(2)`.
///
/// # Safety
/// `msgp` is passed to the kernel, which checks it.
pub unsafe fn msgsnd(id: c_int, msgp: *const c_void, sz: usize, flags: c_int) -> Result<c_int> {
    let args = [
        id as c_long,
        msgp as c_long,
        sz as c_long,
        flags as c_long,
        0,
        0,
    ];
    // SAFETY: the kernel validates the user pointer. A cancellation point,
    // as glibc's msgsnd (crate::os::cancel).
    unsafe { crate::os::cancel::syscall(libc::SYS_msgsnd, args) }.map(|r| r as c_int)
}

/// `msgrcv(2)`.
///
/// # Safety
/// `msgp` is passed to the kernel, which checks it.
pub unsafe fn msgrcv(
    id: c_int,
    msgp: *mut c_void,
    sz: usize,
    typ: c_long,
    flags: c_int,
) -> Result<isize> {
    let args = [
        id as c_long,
        msgp as c_long,
        sz as c_long,
        typ,
        flags as c_long,
        0,
    ];
    // SAFETY: the kernel validates the user pointer. A cancellation point,
    // as glibc's msgrcv (crate::os::cancel).
    unsafe { crate::os::cancel::syscall(libc::SYS_msgrcv, args) }.map(|r| r as isize)
}

/// `msgctl(2)`.
///
/// # Safety
/// `buf` is passed to the kernel, which checks it.
pub unsafe fn msgctl(id: c_int, cmd: c_int, buf: *mut c_void) -> Result<c_int> {
    // SAFETY: the kernel validates the user pointer.
    cvt(unsafe { libc::syscall(libc::SYS_msgctl, id, cmd, buf) }).map(|r| r as c_int)
}

/// `shmget(2)`.
pub fn shmget(key: c_int, size: usize, flags: c_int) -> Result<c_int> {
    // SAFETY: plain integers.
    cvt(unsafe { libc::syscall(libc::SYS_shmget, key, size, flags) }).map(|r| r as c_int)
}

/// `shmat(2)`.
///
/// # Safety
/// Maps memory at `addr` when given: the caller's responsibility, as with
/// the real call.
pub unsafe fn shmat(id: c_int, addr: *const c_void, flags: c_int) -> Result<*mut c_void> {
    // SAFETY: the kernel validates the address.
    cvt(unsafe { libc::syscall(libc::SYS_shmat, id, addr, flags) }).map(|r| r as *mut c_void)
}

/// `shmdt(2)`.
///
/// # Safety
/// Unmaps the attachment at `addr`: the caller must not use it afterwards.
pub unsafe fn shmdt(addr: *const c_void) -> Result<c_int> {
    // SAFETY: the kernel validates the address.
    cvt(unsafe { libc::syscall(libc::SYS_shmdt, addr) }).map(|r| r as c_int)
}

/// `shmctl(2)`.
///
/// # Safety
/// `buf` is passed to the kernel, which checks it.
pub unsafe fn shmctl(id: c_int, cmd: c_int, buf: *mut c_void) -> Result<c_int> {
    // SAFETY: the kernel validates the user pointer.
    cvt(unsafe { libc::syscall(libc::SYS_shmctl, id, cmd, buf) }).map(|r| r as c_int)
}

/// `semget(2)`.
pub fn semget(key: c_int, nsems: c_int, flags: c_int) -> Result<c_int> {
    // SAFETY: plain integers.
    cvt(unsafe { libc::syscall(libc::SYS_semget, key, nsems, flags) }).map(|r| r as c_int)
}

/// `semtimedop(2)` (`semop` is `semtimedop` with no timeout).
///
/// # Safety
/// `sops` and `timeout` are passed to the kernel, which checks them.
pub unsafe fn semtimedop(
    id: c_int,
    sops: *mut c_void,
    nsops: usize,
    timeout: *const libc::timespec,
) -> Result<c_int> {
    // SAFETY: the kernel validates the user pointers.
    cvt(unsafe { libc::syscall(libc::SYS_semtimedop, id, sops, nsops, timeout) })
        .map(|r| r as c_int)
}

/// `semctl(2)` with its fourth argument already taken from the `va_list`
/// (a `union semun` is passed as one pointer-sized word).
///
/// # Safety
/// `arg` may be a pointer the kernel dereferences for the command.
pub unsafe fn semctl(id: c_int, num: c_int, cmd: c_int, arg: usize) -> Result<c_int> {
    // SAFETY: the kernel validates whatever `arg` points to.
    cvt(unsafe { libc::syscall(libc::SYS_semctl, id, num, cmd, arg) }).map(|r| r as c_int)
}

// ---------------------------------------------------------------------------
// The native queue calls' emulations: what the kernel's queues lack for
// `ripc_queue_*` (a capacity chosen at creation, a timed wait), built
// from the calls above. They live here, with the kernel backend, so that
// the C facade only routes.

/// A queue for `ripc_queue_open`: `msgget`, then, when this call created it
/// and `capacity` is not 0, its `msg_qbytes` set to `capacity` (above
/// `msgmnb` needs `CAP_SYS_RESOURCE`: `EPERM`, and the new queue is
/// removed again).
pub fn queue_open(key: c_int, capacity: u64, flags: c_int) -> Result<c_int> {
    use crate::ffi::cstructs::{msqid_ds, IPC_RMID, IPC_SET, IPC_STAT};
    use crate::ns::{IPC_CREAT, IPC_EXCL, IPC_PRIVATE};
    if capacity == 0 || flags & IPC_CREAT == 0 && key != IPC_PRIVATE {
        return msgget(key, flags);
    }
    let id = match msgget(key, flags | IPC_EXCL) {
        Ok(id) => id,
        // It exists: opened as msgget opens it, its capacity its own.
        Err(crate::error::Errno::EEXIST) if flags & IPC_EXCL == 0 => return msgget(key, flags),
        Err(e) => return Err(e),
    };
    let set = || -> Result<()> {
        let mut ds = msqid_ds::default();
        // SAFETY: a msqid_ds of ours for the kernel to fill, then read.
        unsafe { msgctl(id, IPC_STAT, (&mut ds as *mut msqid_ds).cast())? };
        ds.msg_qbytes = capacity as _;
        // SAFETY: as above.
        unsafe { msgctl(id, IPC_SET, (&mut ds as *mut msqid_ds).cast())? };
        Ok(())
    };
    if let Err(e) = set() {
        // SAFETY: IPC_RMID takes no buffer; the queue is the one just made.
        let _ = unsafe { msgctl(id, IPC_RMID, core::ptr::null_mut()) };
        return Err(e);
    }
    Ok(id)
}

/// Retries a non-blocking call while it fails with `retry`, until the
/// deadline (`ETIMEDOUT`); with `try_once`, one non-blocking attempt
/// (`retry` becomes `EAGAIN`); with neither a deadline nor `try_once`,
/// the kernel's own blocking call. The kernel's `msgsnd`/`msgrcv` have no
/// timeout: a finite one is served by retrying every millisecond.
fn timed<T>(
    try_once: bool,
    d: crate::sync::time::Deadline,
    retry: crate::error::Errno,
    mut f: impl FnMut(c_int) -> Result<T>,
) -> Result<T> {
    use crate::error::Errno;
    use crate::ns::IPC_NOWAIT;
    if try_once {
        return f(IPC_NOWAIT).map_err(|e| if e == retry { Errno::EAGAIN } else { e });
    }
    if d.remaining().is_none() {
        return f(0);
    }
    loop {
        match f(IPC_NOWAIT) {
            Err(e) if e == retry => {
                if d.expired() {
                    return Err(Errno::ETIMEDOUT);
                }
                // A cancellation point (ECANCELED), as the wait of the
                // untimed call is; a signal does not end the wait.
                let nap = crate::os::cancel::sleep(std::time::Duration::from_millis(1));
                if nap == Err(Errno::ECANCELED) {
                    return Err(Errno::ECANCELED);
                }
            }
            r => return r,
        }
    }
}

/// `ripc_queue_send` on a kernel queue.
pub fn queue_send(
    id: c_int,
    mtype: c_long,
    text: &[u8],
    try_once: bool,
    d: crate::sync::time::Deadline,
) -> Result<()> {
    let mut m = Vec::with_capacity(8 + text.len());
    m.extend_from_slice(&mtype.to_ne_bytes());
    m.extend_from_slice(text);
    timed(try_once, d, crate::error::Errno::EAGAIN, |f| {
        // SAFETY: m holds the type and the text.
        unsafe { msgsnd(id, m.as_ptr().cast(), text.len(), f) }
    })
    .map(|_| ())
}

/// `ripc_queue_recv` on a kernel queue: the message's type and length.
pub fn queue_recv(
    id: c_int,
    mtype: c_long,
    out: &mut [u8],
    flags: c_int,
    try_once: bool,
    d: crate::sync::time::Deadline,
) -> Result<(i64, usize)> {
    let cap = out.len();
    let mut m = vec![0u8; 8 + cap];
    let n = timed(try_once, d, crate::error::Errno::ENOMSG, |f| {
        // SAFETY: m has room for the type and cap bytes.
        unsafe { msgrcv(id, m.as_mut_ptr().cast(), cap, mtype, flags | f) }
    })? as usize;
    out[..n].copy_from_slice(&m[8..8 + n]);
    let t = i64::from_ne_bytes(m[..8].try_into().unwrap_or([0; 8]));
    Ok((t, n))
}

/// `msgctl(IPC_STAT)` of a kernel queue.
pub fn queue_stat(id: c_int) -> Result<crate::ffi::cstructs::msqid_ds> {
    let mut ds = crate::ffi::cstructs::msqid_ds::default();
    // SAFETY: a valid msqid_ds for the kernel to fill.
    unsafe {
        msgctl(
            id,
            crate::ffi::cstructs::IPC_STAT,
            (&mut ds as *mut crate::ffi::cstructs::msqid_ds).cast(),
        )?
    };
    Ok(ds)
}

// ---------------------------------------------------------------------------
// The kernel behind the System V interface.

/// The kernel backend (`RIPC_BACKEND=kernel`): every System V call passed
/// straight to the kernel with its raw arguments (the kernel checks them);
/// the native queue's timed wait and creation capacity emulated above.
#[derive(Debug)]
pub struct Kernel;

impl crate::sysv::Sysv for Kernel {
    fn msgget(&self, key: c_int, flags: c_int) -> Result<c_int> {
        msgget(key, flags)
    }

    unsafe fn msgsnd(
        &self,
        id: c_int,
        msgp: *const c_void,
        sz: usize,
        flags: c_int,
    ) -> Result<c_int> {
        // SAFETY: the kernel checks the pointer.
        unsafe { msgsnd(id, msgp, sz, flags) }
    }

    unsafe fn msgrcv(
        &self,
        id: c_int,
        msgp: *mut c_void,
        sz: usize,
        typ: c_long,
        flags: c_int,
    ) -> Result<isize> {
        // SAFETY: the kernel checks the pointer.
        unsafe { msgrcv(id, msgp, sz, typ, flags) }
    }

    unsafe fn msgctl(&self, id: c_int, cmd: c_int, buf: *mut c_void) -> Result<c_int> {
        // SAFETY: the kernel checks the pointer.
        unsafe { msgctl(id, cmd, buf) }
    }

    fn shmget(
        &self,
        _ns: Option<&std::sync::Arc<crate::ns::Ns>>,
        key: c_int,
        size: usize,
        flags: c_int,
    ) -> Result<c_int> {
        shmget(key, size, flags)
    }

    unsafe fn shmat(
        &self,
        _ns: Option<&std::sync::Arc<crate::ns::Ns>>,
        id: c_int,
        addr: *const c_void,
        flags: c_int,
    ) -> Result<(*mut c_void, Option<usize>)> {
        // SAFETY: the kernel checks the address; mapping over the caller's
        // memory there is what the caller asked for.
        unsafe { shmat(id, addr, flags) }.map(|p| (p, None))
    }

    unsafe fn shmdt(
        &self,
        addr: *const c_void,
        _of: Option<(&crate::ns::Ns, c_int)>,
    ) -> Result<c_int> {
        // SAFETY: the kernel checks the address; the caller gives the
        // attachment up.
        unsafe { shmdt(addr) }
    }

    unsafe fn shmctl(
        &self,
        _ns: Option<&std::sync::Arc<crate::ns::Ns>>,
        id: c_int,
        cmd: c_int,
        buf: *mut c_void,
    ) -> Result<c_int> {
        // SAFETY: the kernel checks `buf` for the command.
        unsafe { shmctl(id, cmd, buf) }
    }

    fn semget(&self, key: c_int, nsems: c_int, flags: c_int) -> Result<c_int> {
        semget(key, nsems, flags)
    }

    unsafe fn semtimedop(
        &self,
        id: c_int,
        sops: *const crate::ffi::cstructs::sembuf,
        nsops: usize,
        timeout: *const libc::timespec,
    ) -> Result<c_int> {
        // SAFETY: raw arguments; the kernel checks the pointers.
        unsafe { semtimedop(id, sops.cast_mut().cast(), nsops, timeout) }
    }

    unsafe fn semctl(
        &self,
        id: c_int,
        num: c_int,
        cmd: c_int,
        val: c_int,
        ptr: *mut c_void,
    ) -> Result<c_int> {
        let arg = if cmd == crate::ffi::cstructs::SETVAL {
            val as u32 as usize
        } else {
            ptr as usize
        };
        // SAFETY: raw arguments; the kernel checks the pointer.
        unsafe { semctl(id, num, cmd, arg) }
    }

    fn handle_ns(
        &self,
        _resolve: &dyn Fn() -> Result<std::sync::Arc<crate::ns::Ns>>,
    ) -> Result<Option<std::sync::Arc<crate::ns::Ns>>> {
        Ok(None)
    }

    fn queue_open(
        &self,
        _ns: Option<std::sync::Arc<crate::ns::Ns>>,
        key: c_int,
        capacity: u64,
        flags: c_int,
    ) -> Result<Box<dyn crate::sysv::NativeQueue>> {
        Ok(Box::new(KernelQueue {
            id: queue_open(key, capacity, flags)?,
        }))
    }

    fn queue_open_id(
        &self,
        _ns: Option<std::sync::Arc<crate::ns::Ns>>,
        id: c_int,
    ) -> Result<Box<dyn crate::sysv::NativeQueue>> {
        queue_stat(id)?;
        Ok(Box::new(KernelQueue { id }))
    }
}

/// A native queue that is the kernel's.
#[derive(Debug)]
struct KernelQueue {
    id: c_int,
}

impl crate::sysv::NativeQueue for KernelQueue {
    fn id(&self) -> c_int {
        self.id
    }

    fn send(&self, mtype: c_long, text: &[u8], t: crate::sysv::Timeout) -> Result<()> {
        queue_send(
            self.id,
            mtype,
            text,
            t == crate::sysv::Timeout::Try,
            t.deadline(),
        )
    }

    fn recv(
        &self,
        mtype: c_long,
        out: &mut [u8],
        flags: c_int,
        t: crate::sysv::Timeout,
    ) -> Result<(i64, usize)> {
        queue_recv(
            self.id,
            mtype,
            out,
            flags,
            t == crate::sysv::Timeout::Try,
            t.deadline(),
        )
    }

    #[allow(clippy::unnecessary_cast)] // c_ulong is u64 only on 64-bit targets
    fn stat(&self) -> Result<crate::msg::MsgStat> {
        let ds = queue_stat(self.id)?;
        let p = &ds.msg_perm;
        Ok(crate::msg::MsgStat {
            perm: crate::ns::Perm {
                key: p.__key,
                uid: p.uid,
                gid: p.gid,
                cuid: p.cuid,
                cgid: p.cgid,
                mode: p.mode,
                seq: p.__seq as u32,
            },
            stime: ds.msg_stime,
            rtime: ds.msg_rtime,
            ctime: ds.msg_ctime,
            cbytes: ds.__msg_cbytes as u64,
            qnum: ds.msg_qnum as u64,
            qbytes: ds.msg_qbytes as u64,
            lspid: ds.msg_lspid,
            lrpid: ds.msg_lrpid,
        })
    }

    fn remove(&self) -> Result<()> {
        // SAFETY: IPC_RMID takes no buffer.
        unsafe {
            msgctl(
                self.id,
                crate::ffi::cstructs::IPC_RMID,
                core::ptr::null_mut(),
            )
        }
        .map(|_| ())
    }
}
