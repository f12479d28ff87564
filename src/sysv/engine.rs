//! ripc's engine behind the System V interface ([`super::Sysv`]): the
//! drop-in calls' arguments, checked in the kernel's order (`EFAULT`
//! probes before a pointer is read or written), turned into engine calls
//! in the namespace each call names (the drop-in calls: the default one).
//! The C facade (`ffi`) reaches it only through [`super::ops`].
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use super::{NativeQueue, Sysv, Timeout};
use crate::error::{Errno, Result};
use crate::ffi::cstructs::{self, *};
use crate::ffi::sem::copy_ops;
use crate::ffi::{get, put, readable, writable};
use crate::msg::{self, Queue};
use crate::ns::{limits, owner_errno, Kind, Ns, Obj, IPC_NOWAIT};
use crate::os::creds::creds;
use crate::os::probe::Seen;
use crate::sem::{self, SemOp, Wait};
use crate::shm;
use crate::sync::time::Deadline;
use core::ffi::{c_int, c_long, c_void};
use core::time::Duration;
use std::sync::Arc;

/// `msgrcv` on queue `q` (the rest of [`Sysv::msgrcv`], run on the
/// thread's cached queue: see [`msg::with_queue`]).
///
/// # Safety
/// `msgp` is the caller's buffer (checked here: `EFAULT`).
unsafe fn msgrcv_on(
    ns: &Ns,
    q: &Queue,
    seen: &Seen,
    msgp: *mut c_void,
    msgsz: usize,
    msgtyp: c_long,
    msgflg: c_int,
) -> Result<isize> {
    // At most what the queue or msgmax allow (the limit looked up only
    // when the buffer is larger than the queue).
    let cap = if msgsz as u64 <= q.bytes_capacity() {
        msgsz
    } else {
        msgsz.min(q.bytes_capacity().max(ns.limit(limits::MSGMAX)) as usize)
    };
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
        seen,
    };
    let (mtype, n) = q.recv_into(msgtyp, &mut out, msgflg, Deadline::NEVER)?;
    if !out.probed {
        seen.writable(msgp as usize, core::mem::size_of::<c_long>())?;
    }
    // SAFETY: the type's bytes were checked writable, by `take` (with
    // the text) or just above; possibly unaligned.
    unsafe { (msgp as *mut c_long).write_unaligned(mtype) };
    Ok(n as isize)
}

/// ripc's engine (`RIPC_BACKEND=user`, the default).
#[derive(Debug)]
pub struct Engine;

/// The namespace of a call: `ns`, or the default one (the drop-in calls
/// pass `None`).
fn user_ns(ns: Option<&Arc<Ns>>) -> Result<&Arc<Ns>> {
    match ns {
        Some(ns) => Ok(ns),
        None => Ns::default_ns(),
    }
}

/// `shmctl` commands other than `IPC_STAT` (see `Engine::shmctl`).
#[inline(never)]
fn shmctl_other(ns: &Arc<Ns>, id: c_int, cmd: c_int, buf: *mut shmid_ds) -> Result<c_int> {
    match cmd {
        cstructs::IPC_INFO => {
            let i = shm::info_limits(ns)?;
            let out = shminfo {
                shmmax: i.shmmax as _,
                shmmin: i.shmmin as _,
                shmmni: i.shmmni as _,
                shmseg: i.shmseg as _,
                shmall: i.shmall as _,
                ..Default::default()
            };
            put(buf.cast::<shminfo>(), out)?;
            Ok(i.maxidx)
        }
        cstructs::SHM_INFO => {
            let i = shm::info(ns)?;
            let out = shm_info {
                used_ids: i.used_ids,
                shm_tot: i.shm_tot as _,
                shm_rss: i.shm_rss as _,
                ..Default::default()
            };
            put(buf.cast::<shm_info>(), out)?;
            Ok(i.maxidx)
        }
        cstructs::SHM_STAT | cstructs::SHM_STAT_ANY => {
            let (full, s) = shm::stat_index(ns, id, cmd == cstructs::SHM_STAT_ANY)?;
            put(buf, shm_stat_to_c(&s))?;
            Ok(full)
        }
        cstructs::IPC_SET => {
            let b = get(buf.cast_const())?;
            shm::set(ns, id, b.shm_perm.uid, b.shm_perm.gid, b.shm_perm.mode)?;
            Ok(0)
        }
        cstructs::IPC_RMID => shm::rmid(ns, id).map(|_| 0),
        cstructs::SHM_LOCK => shm::lock(ns, id, true).map(|_| 0),
        cstructs::SHM_UNLOCK => shm::lock(ns, id, false).map(|_| 0),
        _ => Err(Errno::EINVAL),
    }
}

/// `semop` of one operation on ripc's engine, without a timeout: what
/// [`Sysv::semtimedop`] does for it (the same checks, in the same order),
/// without its buffers, limits and timeout (the common case, kept short).
///
/// # Safety
/// `sops` is the caller's buffer (checked here: `EFAULT`).
#[inline]
pub(crate) unsafe fn semop_one(semid: c_int, sops: *const sembuf) -> Result<c_int> {
    let ns = Ns::default_ns()?;
    sem::with_set_after(
        ns,
        semid,
        |seen: &Seen| {
            // NULL included: below the lowest address a mapping can have.
            seen.readable(sops as usize, core::mem::size_of::<sembuf>())?;
            // SAFETY: the bytes were checked readable just above;
            // read_unaligned copies the plain-data struct out.
            let b = unsafe { core::ptr::read_unaligned(sops) };
            Ok(SemOp {
                num: b.sem_num,
                op: b.sem_op,
                flg: b.sem_flg,
            })
        },
        |o, k, op| sem::semop_known(o, k, &[op], Wait::Forever, Errno::EAGAIN),
    )?;
    Ok(0)
}

impl Sysv for Engine {
    fn msgget(&self, key: c_int, msgflg: c_int) -> Result<c_int> {
        Ok(msg::get(Ns::default_ns()?, key, msgflg)?.id())
    }

    unsafe fn msgsnd(
        &self,
        msqid: c_int,
        msgp: *const c_void,
        msgsz: usize,
        msgflg: c_int,
    ) -> Result<c_int> {
        const TYPE: usize = core::mem::size_of::<c_long>();
        let ns = Ns::default_ns()?;
        let msgmax = ns.limit(limits::MSGMAX);
        // One probe for the type and the text when the call is valid and
        // both are readable (the common case); else the kernel's order:
        // the type (EFAULT), the size and the type (EINVAL), the text;
        // all before the queue is looked up.
        let valid = msgsz as u64 <= msgmax && msgsz <= isize::MAX as usize && msqid >= 0;
        let read = |seen: &Seen| -> Result<(c_long, &[u8])> {
            let readable = |p: *const c_void, n: usize| seen.readable(p as usize, n);
            let whole = valid && readable(msgp, TYPE + msgsz).is_ok();
            if !whole {
                readable(msgp, TYPE)?;
            }
            // SAFETY: checked readable just above; msgbuf may be unaligned.
            let mtype = unsafe { (msgp as *const c_long).read_unaligned() };
            if !valid || mtype < 1 {
                return Err(Errno::EINVAL);
            }
            let text_ptr = (msgp as *const u8).wrapping_add(TYPE);
            if !whole {
                readable(text_ptr.cast(), msgsz)?;
            }
            // SAFETY: `msgsz` bytes at text_ptr were checked readable; the
            // slice lives only for this call.
            Ok((mtype, unsafe {
                core::slice::from_raw_parts(text_ptr, msgsz)
            }))
        };
        msg::with_queue_probed(ns, msqid, read, |q, (mtype, text), _| {
            q.send_checked(mtype, text, msgflg, Deadline::NEVER)
        })?;
        Ok(0)
    }

    unsafe fn msgrcv(
        &self,
        msqid: c_int,
        msgp: *mut c_void,
        msgsz: usize,
        msgtyp: c_long,
        msgflg: c_int,
    ) -> Result<isize> {
        if msqid < 0 || msgsz > isize::MAX as usize {
            return Err(Errno::EINVAL);
        }
        let ns = Ns::default_ns()?;
        msg::with_queue_probed(
            ns,
            msqid,
            |_| Ok(()),
            |q, (), seen| {
                // SAFETY: the caller's buffer, as this function's.
                unsafe { msgrcv_on(ns, q, seen, msgp, msgsz, msgtyp, msgflg) }
            },
        )
    }

    unsafe fn msgctl(&self, msqid: c_int, cmd: c_int, buf: *mut c_void) -> Result<c_int> {
        let ns = Ns::default_ns()?;
        match cmd {
            IPC_INFO | MSG_INFO => {
                let l = ns.limits();
                // IPC_INFO needs only the highest index: from the index
                // hint, at constant cost; MSG_INFO's message and byte
                // totals from the queues' copies in the tally (a few
                // loads per queue, see docs/msg.md "MSG_INFO").
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
                put(buf as *mut msqid_ds, msg_stat_to_c(&s))?;
                Ok(id)
            }
            IPC_STAT => {
                if msqid < 0 {
                    return Err(Errno::EINVAL);
                }
                let s = msg::by_id(ns, msqid)?.stat(false)?;
                put(buf as *mut msqid_ds, msg_stat_to_c(&s))?;
                Ok(0)
            }
            IPC_SET => {
                let d: msqid_ds = get(buf as *const msqid_ds)?;
                if msqid < 0 {
                    return Err(Errno::EINVAL);
                }
                // The owner-only commands' one lookup and check (EPERM).
                ns.obtain_check(Kind::Msg, msqid, false, &creds())?;
                let q = msg::by_id(ns, msqid)?;
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
                ns.obtain_check(Kind::Msg, msqid, false, &creds())?;
                msg::remove_id(ns, msqid).map_err(owner_errno)?;
                Ok(0)
            }
            _ => Err(Errno::EINVAL),
        }
    }

    fn shmget(&self, ns: Option<&Arc<Ns>>, key: c_int, size: usize, flags: c_int) -> Result<c_int> {
        shm::shmget(user_ns(ns)?, key, size, flags)
    }

    unsafe fn shmat(
        &self,
        ns: Option<&Arc<Ns>>,
        id: c_int,
        addr: *const c_void,
        flags: c_int,
    ) -> Result<(*mut c_void, Option<usize>)> {
        shm::shmat(user_ns(ns)?, id, addr as usize, flags)
            .map(|(a, sz)| (a as *mut c_void, Some(sz as usize)))
    }

    unsafe fn shmdt(&self, addr: *const c_void, of_id: Option<(&Ns, c_int)>) -> Result<c_int> {
        shm::shmdt(addr as usize, of_id).map(|_| 0)
    }

    unsafe fn shmctl(
        &self,
        ns: Option<&Arc<Ns>>,
        id: c_int,
        cmd: c_int,
        buf: *mut c_void,
    ) -> Result<c_int> {
        let buf = buf.cast::<shmid_ds>();
        let ns = user_ns(ns)?;
        let cmd = cmd & !IPC_64;
        if id < 0 || cmd < 0 {
            return Err(Errno::EINVAL);
        }
        // IPC_STAT, the common call (PostgreSQL's at every attach), apart
        // from the other commands: their match compiles to a jump table in
        // the library's read-only data, one page fault more in a fork
        // child's first IPC_STAT (docs/perf.md).
        if cmd == cstructs::IPC_STAT {
            let s = shm::stat(ns, id)?;
            put(buf, shm_stat_to_c(&s))?;
            return Ok(0);
        }
        shmctl_other(ns, id, cmd, buf)
    }

    fn semget(&self, key: c_int, nsems: c_int, semflg: c_int) -> Result<c_int> {
        Ok(sem::get(Ns::default_ns()?, key, nsems, semflg, &[])?.id)
    }

    unsafe fn semtimedop(
        &self,
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
            |o, k, (ops, wait)| sem::semop_known(o, k, ops, wait, Errno::EAGAIN),
        )?;
        Ok(0)
    }

    unsafe fn semctl(
        &self,
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
                put(ptr.cast::<semid_ds>(), sem_stat_to_c(&s))?;
                return Ok(o.id);
            }
            SETVAL if !(0..=sem::SEMVMX).contains(&val) => return Err(Errno::ERANGE),
            IPC_SET => set_to = Some(get(ptr.cast_const().cast::<semid_ds>())?),
            IPC_RMID | IPC_STAT | GETVAL | GETPID | GETNCNT | GETZCNT | GETALL | SETALL
            | SETVAL => {}
            _ => return Err(Errno::EINVAL),
        }
        let o = match cmd {
            // The owner-only commands' one lookup and check (EPERM).
            IPC_RMID | IPC_SET => {
                ns.obtain_check(Kind::Sem, semid, false, &crate::os::creds::creds())?
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
                    core::ptr::copy_nonoverlapping(
                        ptr.cast::<u8>(),
                        v.as_mut_ptr().cast::<u8>(),
                        2 * n,
                    )
                };
                sem::setall(&o, &v).map(|_| 0)
            }
            SETVAL => sem::setval(&o, semnum, val).map(|_| 0),
            _ => Err(Errno::EINVAL),
        }
    }

    fn handle_ns(&self, resolve: &dyn Fn() -> Result<Arc<Ns>>) -> Result<Option<Arc<Ns>>> {
        resolve().map(Some)
    }

    fn queue_open(
        &self,
        ns: Option<Arc<Ns>>,
        key: c_int,
        capacity: u64,
        flags: c_int,
    ) -> Result<Box<dyn NativeQueue>> {
        let ns = match ns {
            Some(ns) => ns,
            None => Ns::default_ns()?.clone(),
        };
        let q = msg::get_sized(&ns, key, flags, capacity)?;
        Ok(Box::new(UserQueue { ns, q }))
    }

    fn queue_open_id(&self, ns: Option<Arc<Ns>>, id: c_int) -> Result<Box<dyn NativeQueue>> {
        let ns = match ns {
            Some(ns) => ns,
            None => Ns::default_ns()?.clone(),
        };
        let q = msg::by_id(&ns, id)?;
        Ok(Box::new(UserQueue { ns, q }))
    }
}

/// A native queue of ripc's engine, with its namespace.
#[derive(Debug)]
struct UserQueue {
    ns: Arc<Ns>,
    q: Queue,
}

impl NativeQueue for UserQueue {
    fn id(&self) -> c_int {
        self.q.id()
    }

    fn send(&self, mtype: c_long, text: &[u8], t: Timeout) -> Result<()> {
        let flags = if t == Timeout::Try { IPC_NOWAIT } else { 0 };
        self.q.send(&self.ns, mtype, text, flags, t.deadline())
    }

    fn recv(
        &self,
        mtype: c_long,
        out: &mut [u8],
        flags: c_int,
        t: Timeout,
    ) -> Result<(i64, usize)> {
        let f = if t == Timeout::Try { IPC_NOWAIT } else { 0 };
        self.q
            .recv(mtype, out, flags | f, t.deadline())
            .map_err(|e| match e {
                Errno::ENOMSG if t == Timeout::Try => Errno::EAGAIN,
                e => e,
            })
    }

    fn stat(&self) -> Result<msg::MsgStat> {
        self.q.stat(false)
    }

    fn remove(&self) -> Result<()> {
        self.q.remove(&self.ns)
    }
}

/// A C `msgbuf` (a `long` type, then the text) as a receive buffer.
struct CRecvBuf<'a> {
    msgp: *mut u8,
    cap: usize,
    /// `take` checked the type and the text writable.
    probed: bool,
    /// the thread's probe cache (see [`msg::with_queue_probed`])
    seen: &'a Seen,
}

impl msg::RecvBuf for CRecvBuf<'_> {
    fn cap(&self) -> usize {
        self.cap
    }

    fn take(&mut self, n: usize) -> Result<&mut [u8]> {
        if n > self.cap {
            return Err(Errno::EINVAL);
        }
        self.seen
            .writable(self.msgp as usize, n + core::mem::size_of::<c_long>())?;
        self.probed = true;
        // SAFETY: the type and `n` bytes of text at msgp were checked
        // writable just above (so msgp is not NULL); the slice lives only
        // for this call and nothing else in this thread uses that memory.
        Ok(unsafe {
            core::slice::from_raw_parts_mut(self.msgp.add(core::mem::size_of::<c_long>()), n)
        })
    }
}

fn msg_stat_to_c(s: &msg::MsgStat) -> msqid_ds {
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

fn fill_info(ns: &Ns, cmd: c_int, p: *mut seminfo) -> Result<c_int> {
    let l = ns.limits();
    // IPC_INFO needs only the highest index: from the index hint, at
    // constant cost; SEM_INFO's totals come from the index too (the sizes
    // recorded at creation, one word per index in use: `sem::usage`), the
    // sets walked only when the index is missing or stale.
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
    put(p, sem_stat_to_c(&sem::stat(o, need_read)?))
}

fn sem_stat_to_c(s: &sem::Stat) -> semid_ds {
    semid_ds {
        sem_perm: perm_to_c(&s.perm),
        sem_otime: s.otime,
        sem_ctime: s.ctime,
        sem_nsems: s.nsems as _,
        ..Default::default()
    }
}

/// `IPC_64`, which glibc adds to every `*ctl` command; ignored here.
const IPC_64: c_int = 0x0100;

fn shm_stat_to_c(s: &shm::ShmStat) -> shmid_ds {
    shmid_ds {
        shm_perm: perm_to_c(&s.perm),
        shm_segsz: s.segsz as usize,
        shm_atime: s.atime,
        shm_dtime: s.dtime,
        shm_ctime: s.ctime,
        shm_cpid: s.cpid,
        shm_lpid: s.lpid,
        shm_nattch: s.nattch as _,
        ..Default::default()
    }
}
