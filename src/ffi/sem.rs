//! System V semaphores for C: the drop-in calls (`ripc_semget`,
//! `ripc_semop`, `ripc_semtimedop`, `ripc_semctl_arg`, declared by
//! `ripc_sysv.h`), the native set handle (`ripc_semset_*`), and the simple
//! things built on it: a process-shared mutex (`ripc_mutex_*`) and a
//! counting semaphore (`ripc_sem_*`).
//!
//! The entry points take raw pointers from C by contract: each is checked
//! (NULL, `EFAULT` probe) before it is read or written, or handed to the
//! kernel untouched in the pass-through backend.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use crate::error::{Errno, Result};
use crate::ffi::cstructs::{
    perm_to_c, sembuf, semid_ds, seminfo, GETALL, GETNCNT, GETPID, GETVAL, GETZCNT, IPC_INFO,
    IPC_RMID, IPC_SET, IPC_STAT, SEM_INFO, SEM_STAT, SEM_STAT_ANY, SETALL, SETVAL,
};
use crate::ffi::{get, put, readable, writable};
use crate::ffi_boundary;
use crate::ns::{limits, Kind, Ns, Obj};
use crate::sem::{self, SemOp, Wait};
use crate::sync::probe::Seen;
use crate::sync::Deadline;
use core::ffi::{c_int, c_void};
use core::time::Duration;

// ---------------------------------------------------------------------------
// The drop-in System V calls.

/// Checks the caller's operations buffer with `check` (`EFAULT`; the
/// probe cache of the caller's choice) and copies it: up to 8 operations
/// into `inline`, more into `heap`.
#[inline]
pub(crate) fn copy_ops<'a>(
    check: impl FnOnce(usize, usize) -> Result<()>,
    sops: *const sembuf,
    nsops: usize,
    inline: &'a mut [SemOp; 8],
    heap: &'a mut Vec<SemOp>,
) -> Result<&'a [SemOp]> {
    let len = nsops
        .checked_mul(core::mem::size_of::<sembuf>())
        .ok_or(Errno::E2BIG)?;
    if sops.is_null() {
        return Err(Errno::EFAULT);
    }
    check(sops as usize, len)?;
    let read = |i: usize| {
        // SAFETY: `i < nsops` and the `len` bytes at `sops` were checked
        // readable; read_unaligned copies the plain-data struct out.
        let b = unsafe { core::ptr::read_unaligned(sops.add(i)) };
        SemOp {
            num: b.sem_num,
            op: b.sem_op,
            flg: b.sem_flg,
        }
    };
    if nsops <= inline.len() {
        let mut i = 0;
        while i < nsops {
            inline[i] = read(i);
            i += 1;
        }
        Ok(&inline[..nsops])
    } else {
        heap.extend((0..nsops).map(read));
        Ok(heap)
    }
}

fn semtimedop_user(
    semid: c_int,
    sops: *const sembuf,
    nsops: usize,
    timeout: *const libc::timespec,
) -> Result<c_int> {
    if nsops == 0 {
        return Err(Errno::EINVAL);
    }
    let ns = Ns::default_ns()?;
    // semopm is at least 1: a single operation never needs the limits.
    if nsops > 1 && nsops as u64 > ns.limit(limits::SEMOPM) {
        return Err(Errno::E2BIG);
    }
    let mut inline = [SemOp::default(); 8];
    let mut heap = Vec::new();
    // The buffers are checked (EFAULT, EINVAL for the timeout) before the
    // set is looked up, with the set cache's own probe cache (one TLS
    // look-up for both).
    let (inline, heap) = (&mut inline, &mut heap);
    sem::with_set_after(
        ns,
        semid,
        move |seen: &Seen| {
            let ops = copy_ops(|a, n| seen.readable(a, n), sops, nsops, inline, heap)?;
            let wait = if timeout.is_null() {
                Wait::Forever
            } else {
                seen.readable(timeout as usize, core::mem::size_of::<libc::timespec>())?;
                // SAFETY: checked readable above; a plain-data copy.
                let ts = unsafe { core::ptr::read_unaligned(timeout) };
                if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
                    return Err(Errno::EINVAL);
                }
                Wait::Until(Deadline::after(Duration::new(
                    ts.tv_sec as u64,
                    ts.tv_nsec as u32,
                )))
            };
            Ok((ops, wait))
        },
        |o, (ops, wait)| sem::semop(o, ops, wait, Errno::EAGAIN),
    )?;
    Ok(0)
}

/// `semget(2)` (drop-in; declared in `ripc_sysv.h`).
///
/// cbindgen:ignore
#[no_mangle]
pub extern "C" fn ripc_semget(key: c_int, nsems: c_int, semflg: c_int) -> c_int {
    ffi_boundary!({
        if crate::sysv::is_kernel() {
            return crate::kernel::semget(key, nsems, semflg);
        }
        Ok(sem::get(Ns::default_ns()?, key, nsems, semflg, &[])?.id)
    })
}

/// `semop(2)` (drop-in; declared in `ripc_sysv.h`).
///
/// cbindgen:ignore
#[no_mangle]
pub extern "C" fn ripc_semop(semid: c_int, sops: *mut sembuf, nsops: usize) -> c_int {
    ffi_boundary!({
        if crate::sysv::is_kernel() {
            // SAFETY: raw arguments; the kernel checks the pointer.
            return unsafe {
                crate::kernel::semtimedop(semid, sops.cast(), nsops, core::ptr::null())
            };
        }
        semtimedop_user(semid, sops, nsops, core::ptr::null())
    })
}

/// `semtimedop(2)` (drop-in; declared in `ripc_sysv.h`).
///
/// cbindgen:ignore
#[no_mangle]
pub extern "C" fn ripc_semtimedop(
    semid: c_int,
    sops: *mut sembuf,
    nsops: usize,
    timeout: *const libc::timespec,
) -> c_int {
    ffi_boundary!({
        if crate::sysv::is_kernel() {
            // SAFETY: raw arguments; the kernel checks the pointers.
            return unsafe { crate::kernel::semtimedop(semid, sops.cast(), nsops, timeout) };
        }
        semtimedop_user(semid, sops, nsops, timeout)
    })
}

fn fill_info(ns: &Ns, cmd: c_int, p: *mut seminfo) -> Result<c_int> {
    let l = ns.limits();
    // IPC_INFO needs only the highest index: from the index hint, at
    // constant cost; SEM_INFO's semaphore total needs every set (linear,
    // see README "Scale").
    let (sets, sems, max_idx) = if cmd == SEM_INFO {
        sem::usage(ns)
    } else {
        (0, 0, ns.in_use(crate::ns::Kind::Sem).0.max(0))
    };
    let cl = |x: u64| x.min(i32::MAX as u64) as c_int;
    let semmns = cl(l.semmns);
    let info = seminfo {
        semmap: semmns,
        semmni: cl(l.semmni),
        semmns,
        semmnu: semmns,
        semmsl: cl(l.semmsl),
        semopm: cl(l.semopm),
        semume: cl(l.semopm),
        semusz: if cmd == SEM_INFO { sets } else { 20 },
        semvmx: sem::SEMVMX,
        semaem: if cmd == SEM_INFO {
            sems.min(i32::MAX as i64) as c_int
        } else {
            sem::SEMAEM
        },
    };
    put(p, info)?;
    Ok(max_idx)
}

fn fill_stat(o: &Obj, need_read: bool, p: *mut semid_ds) -> Result<()> {
    put(p, stat_to_c(&sem::stat(o, need_read)?))
}

fn stat_to_c(s: &sem::Stat) -> semid_ds {
    semid_ds {
        sem_perm: perm_to_c(&s.perm),
        sem_otime: s.otime,
        sem_ctime: s.ctime,
        sem_nsems: s.nsems as _,
        ..Default::default()
    }
}

fn semctl_user(
    semid: c_int,
    semnum: c_int,
    cmd: c_int,
    val: c_int,
    ptr: *mut c_void,
) -> Result<c_int> {
    let ns = Ns::default_ns()?;
    // IPC_SET's new values, read before anything else (EFAULT first, as
    // the kernel).
    let mut set_to = None;
    match cmd {
        IPC_INFO | SEM_INFO => return fill_info(ns, cmd, ptr.cast()),
        SEM_STAT | SEM_STAT_ANY => {
            let o = ns.by_index(Kind::Sem, semid)?;
            if o.is_removed() {
                return Err(Errno::EINVAL);
            }
            let s = sem::stat_listed(&o, cmd == SEM_STAT)?;
            put(ptr.cast::<semid_ds>(), stat_to_c(&s))?;
            return Ok(o.id);
        }
        SETVAL if !(0..=sem::SEMVMX).contains(&val) => return Err(Errno::ERANGE),
        IPC_SET => set_to = Some(get(ptr.cast_const().cast::<semid_ds>())?),
        IPC_RMID | IPC_STAT | GETVAL | GETPID | GETNCNT | GETZCNT | GETALL | SETALL | SETVAL => {}
        _ => return Err(Errno::EINVAL),
    }
    let o = match cmd {
        // The owner-only commands' one lookup and check (EPERM).
        IPC_RMID | IPC_SET => {
            ns.obtain_check(Kind::Sem, semid, false, &crate::sync::proc::creds())?
        }
        _ => sem::by_id(ns, semid)?,
    };
    match cmd {
        IPC_RMID => sem::remove(ns, &o).map(|_| 0),
        IPC_STAT => fill_stat(&o, true, ptr.cast()).map(|_| 0),
        IPC_SET => {
            let d: semid_ds = set_to.ok_or(Errno::EINVAL)?;
            sem::set(&o, d.sem_perm.uid, d.sem_perm.gid, d.sem_perm.mode).map(|_| 0)
        }
        GETVAL => sem::getval(&o, semnum),
        GETPID => sem::getpid(&o, semnum),
        GETNCNT => sem::count_waiters(&o, semnum, false),
        GETZCNT => sem::count_waiters(&o, semnum, true),
        GETALL => {
            let n = sem::nsems(&o)?;
            writable(ptr, 2 * n)?;
            let v = sem::getall(&o)?;
            // SAFETY: `2 * n` bytes at ptr checked writable; v has n items.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    v.as_ptr().cast::<u8>(),
                    ptr.cast::<u8>(),
                    2 * v.len().min(n),
                )
            };
            Ok(0)
        }
        SETALL => {
            let n = sem::nsems(&o)?;
            readable(ptr, 2 * n)?;
            let mut v = vec![0u16; n];
            // SAFETY: `2 * n` bytes at ptr checked readable; v holds n u16.
            unsafe {
                core::ptr::copy_nonoverlapping(ptr.cast::<u8>(), v.as_mut_ptr().cast::<u8>(), 2 * n)
            };
            sem::setall(&o, &v).map(|_| 0)
        }
        SETVAL => sem::setval(&o, semnum, val).map(|_| 0),
        _ => Err(Errno::EINVAL),
    }
}

/// `semctl(2)` with its fourth argument already read from the `va_list`
/// by the `semctl` wrapper of `ripc_sysv.h`: `val` for `SETVAL`, `ptr` for
/// the commands that take a buffer or an array.
///
/// cbindgen:ignore
#[no_mangle]
pub extern "C" fn ripc_semctl_arg(
    semid: c_int,
    semnum: c_int,
    cmd: c_int,
    val: c_int,
    ptr: *mut c_void,
) -> c_int {
    ffi_boundary!({
        if crate::sysv::is_kernel() {
            let arg = if cmd == SETVAL {
                val as u32 as usize
            } else {
                ptr as usize
            };
            // SAFETY: raw arguments; the kernel checks the pointer.
            return unsafe { crate::kernel::semctl(semid, semnum, cmd, arg) };
        }
        semctl_user(semid, semnum, cmd, val, ptr)
    })
}
