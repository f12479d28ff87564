//! Signals without the async-signal-safety trap.
//!
//! A handler registered through ripc runs in ordinary thread context, so
//! it may allocate, print, lock and call ripc. The mechanism:
//!
//! 1. the real `sigaction` handler ([`on_signal`]) only copies the
//!    `siginfo_t` into a fixed 32-byte record and `write(2)`s it to a
//!    non-blocking self-pipe (one async-signal-safe system call; a write of
//!    at most `PIPE_BUF` bytes is atomic, so records never tear or mix);
//! 2. a dispatcher thread, started on first use with every signal blocked
//!    (so the kernel never picks it to run a handler, and a blocking call in
//!    an application thread is what gets interrupted), reads the records in
//!    order and calls the registered callback for each.
//!
//! Queued real-time signals are dequeued by the kernel in order, one
//! handler run each, so their records reach the callback in order with
//! their payloads, provided one thread at a time takes them (two threads
//! with the signal unblocked may run their handlers concurrently, and then
//! two records can swap, exactly as two raw handlers would race). If the pipe (1 MiB when the kernel allows) is ever full,
//! the record is counted in [`dropped`] instead of blocking the handler.
//!
//! Besides callbacks: [`send`] (`sigqueue` with a payload), [`wait`]
//! (`sigtimedwait`), [`block`]/[`unblock`] and [`signal_fd`] (a descriptor
//! for poll/epoll loops).

use crate::error::cvt;
use crate::error::{Errno, Result};
use core::sync::atomic::AtomicPtr;
use core::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use core::time::Duration;
use std::sync::{Arc, Mutex};

/// What a signal carried, in thread context.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SigInfo {
    /// The signal number.
    pub signo: i32,
    /// `si_code`: `SI_USER` (kill), `SI_QUEUE` (sigqueue), `SI_KERNEL`, ...
    pub code: i32,
    /// The sender's pid (for `kill`/`sigqueue`/`SIGCHLD`), else 0.
    pub pid: i32,
    /// The sender's real uid, where the kernel reports one.
    pub uid: u32,
    /// `si_status` for `SIGCHLD`, else 0.
    pub status: i32,
    /// The payload of `sigqueue` (`si_value`), else 0.
    pub value: isize,
}

/// A callback for one signal, called on the dispatcher thread.
pub type Callback = Arc<dyn Fn(&SigInfo) + Send + Sync>;

/// Signal numbers run from 1 to `SIG_SLOTS - 1` (64 on Linux).
pub(crate) const SIG_SLOTS: usize = 65;

/// The record the real handler writes: 32 bytes, always whole.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Record {
    signo: i32,
    code: i32,
    pid: i32,
    uid: u32,
    status: i32,
    _pad: i32,
    value: i64,
}
const REC: usize = core::mem::size_of::<Record>();
const _: () = assert!(REC == 32 && REC <= libc::PIPE_BUF);

static WRITE_FD: AtomicI32 = AtomicI32::new(-1);
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// One callback per signal number, as a leaked `Box<Callback>` (NULL: none).
///
/// Lock-free on purpose: a forked child inherits memory but not threads,
/// so a lock held by some parent thread at `fork` time would stay locked in
/// the child forever. For the same reason a replaced callback is not freed
/// (the dispatcher may be running it right now): re-registering leaks one
/// small box, which is the price of never blocking here.
static SLOTS: [AtomicPtr<Callback>; SIG_SLOTS] = [EMPTY_SLOT; SIG_SLOTS];
#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_SLOT: AtomicPtr<Callback> = AtomicPtr::new(core::ptr::null_mut());
/// The read end the current dispatcher owns (-1 before the first start).
static READ_FD: AtomicI32 = AtomicI32::new(-1);
/// Serialises the first start (never taken in a forked child's hook).
static START: Mutex<()> = Mutex::new(());

/// Publishes `cb` (or none) for `signo`; the previous box is leaked, see
/// [`SLOTS`].
fn set_slot(signo: i32, cb: Option<Callback>) {
    let new = cb.map_or(core::ptr::null_mut(), |c| Box::into_raw(Box::new(c)));
    SLOTS[signo as usize].swap(new, Ordering::AcqRel);
}

/// The real signal handler: async-signal-safe (one `write`, errno kept).
extern "C" fn on_signal(signo: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: __errno_location is async-signal-safe and valid.
    let saved = unsafe { *libc::__errno_location() };
    let mut r = Record {
        signo,
        ..Default::default()
    };
    if !info.is_null() {
        // SAFETY: the kernel passes a valid siginfo_t with SA_SIGINFO.
        let i = unsafe { &*info };
        let (pid, uid, status, value) = fields(signo, i);
        r.code = i.si_code;
        r.pid = pid;
        r.uid = uid;
        r.status = status;
        r.value = value as i64;
    }
    let fd = WRITE_FD.load(Ordering::Relaxed);
    // SAFETY: `r` is a live 32-byte record; write is async-signal-safe.
    let n = unsafe { libc::write(fd, (&r as *const Record).cast(), REC) };
    if n != REC as isize {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = saved };
}

/// The union fields of `si` that are meaningful for this signal and code:
/// the sender's pid/uid for signals sent by a process (`si_code <= 0`) and
/// for `SIGCHLD`, the exit status for `SIGCHLD`, the payload for
/// `sigqueue`, POSIX timers and message queues; zeros otherwise.
/// Async-signal-safe (plain reads).
fn fields(signo: i32, si: &libc::siginfo_t) -> (i32, u32, i32, isize) {
    let code = si.si_code;
    let sent = code <= 0 || signo == libc::SIGCHLD;
    let has_value = code == libc::SI_QUEUE || code == libc::SI_TIMER || code == libc::SI_MESGQ;
    // SAFETY: the accessors read integer fields of the siginfo union; which
    // ones are meaningful is decided above from signo and si_code.
    unsafe {
        (
            if sent { si.si_pid() } else { 0 },
            if sent { si.si_uid() } else { 0 },
            if signo == libc::SIGCHLD {
                si.si_status()
            } else {
                0
            },
            if has_value {
                si.si_value().sival_ptr as isize
            } else {
                0
            },
        )
    }
}

/// Records lost because the dispatcher's pipe was full (or not open).
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

fn check_signo(signo: i32) -> Result<()> {
    if signo <= 0 || signo as usize >= SIG_SLOTS {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// Creates the self-pipe, publishes its write end and starts the thread.
/// Returns the read end.
fn start_dispatcher() -> Result<i32> {
    let mut fds = [-1i32; 2];
    // SAFETY: `fds` is a writable array of two ints.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: a plain descriptor call; a failed resize keeps the default.
    unsafe { libc::fcntl(fds[1], libc::F_SETPIPE_SZ, 1 << 20) };
    // The handler must never block on a full pipe.
    if let Err(e) = crate::os::set_fl(fds[1], libc::O_NONBLOCK, true) {
        crate::os::close_fd(fds[0]);
        crate::os::close_fd(fds[1]);
        return Err(e);
    }
    let rd = fds[0];
    let spawned = crate::os::with_signals_blocked(|| {
        std::thread::Builder::new()
            .name("ripc-signals".into())
            .spawn(move || dispatch_loop(rd))
    });
    if spawned.is_err() {
        crate::os::close_fd(fds[0]);
        crate::os::close_fd(fds[1]);
        return Err(Errno::EAGAIN);
    }
    let old = WRITE_FD.swap(fds[1], Ordering::AcqRel);
    crate::os::close_fd(old);
    Ok(rd)
}

fn ensure_dispatcher() -> Result<()> {
    if READ_FD.load(Ordering::Acquire) >= 0 {
        return Ok(());
    }
    let _g = START.lock().map_err(|_| Errno::EIO)?;
    if READ_FD.load(Ordering::Acquire) < 0 {
        READ_FD.store(start_dispatcher()?, Ordering::Release);
        crate::os::proc::on_fork_child(after_fork);
    }
    Ok(())
}

/// In a forked child the dispatcher thread is gone and the pipe is shared
/// with the parent: give the child its own pipe and thread, so its
/// handlers keep working and never feed the parent's callbacks. Takes no
/// lock (see [`SLOTS`]).
fn after_fork() {
    let old_rd = READ_FD.load(Ordering::Acquire);
    if old_rd < 0 {
        return;
    }
    let old_wr = WRITE_FD.swap(-1, Ordering::AcqRel);
    crate::os::close_fd(old_rd);
    crate::os::close_fd(old_wr);
    READ_FD.store(start_dispatcher().unwrap_or(-1), Ordering::Release);
}

fn dispatch_loop(rd: i32) {
    let mut buf = [0u8; REC * 64];
    let mut have = 0usize;
    loop {
        // SAFETY: reading into the unused tail of a live buffer.
        let n = unsafe { libc::read(rd, buf[have..].as_mut_ptr().cast(), buf.len() - have) };
        if n == 0 {
            return; // write end closed (after fork in the child: old pipe)
        }
        if n < 0 {
            if Errno::last() == Errno::EINTR {
                continue;
            }
            return;
        }
        have += n as usize;
        let whole = have / REC * REC;
        for chunk in buf[..whole].chunks_exact(REC) {
            // SAFETY: `chunk` is REC bytes; Record is plain integers, any
            // bit pattern is valid; read_unaligned copes with alignment.
            let r: Record = unsafe { core::ptr::read_unaligned(chunk.as_ptr().cast()) };
            deliver(&r);
        }
        buf.copy_within(whole..have, 0);
        have -= whole;
    }
}

fn deliver(r: &Record) {
    if r.signo <= 0 || r.signo as usize >= SIG_SLOTS {
        return;
    }
    let p = SLOTS[r.signo as usize].load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: a non-null slot points to a Box<Callback> that is never
        // freed (see SLOTS), so the reference stays valid.
        let cb: &Callback = unsafe { &*p };
        let info = SigInfo {
            signo: r.signo,
            code: r.code,
            pid: r.pid,
            uid: r.uid,
            status: r.status,
            value: r.value as isize,
        };
        // A panicking callback must not kill the dispatcher.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(&info)));
    }
}

/// Installs `cb` for `signo`. The callback runs on ripc's dispatcher
/// thread, one signal at a time, in delivery order. With `restart`, system
/// calls interrupted by the signal are restarted (`SA_RESTART`); without,
/// a blocking call in the interrupted thread fails with `EINTR`.
/// `SIGKILL`, `SIGSTOP` and the fault signals (`SIGSEGV`, `SIGBUS`,
/// `SIGFPE`, `SIGILL`) give `EINVAL`.
pub fn handle(signo: i32, cb: Callback, restart: bool) -> Result<()> {
    check_signo(signo)?;
    // SIGKILL/SIGSTOP cannot be caught. A fault (SIGSEGV, SIGBUS, SIGFPE,
    // SIGILL) must be handled where it happens: returning from a handler
    // that only records it would re-run the faulting instruction forever.
    if matches!(
        signo,
        libc::SIGKILL | libc::SIGSTOP | libc::SIGSEGV | libc::SIGBUS | libc::SIGFPE | libc::SIGILL
    ) {
        return Err(Errno::EINVAL);
    }
    ensure_dispatcher()?;
    set_slot(signo, Some(cb));
    // SAFETY: sigaction is plain data, fully initialised here; the handler
    // is an extern "C" fn with the SA_SIGINFO signature.
    let r = unsafe {
        let mut sa: libc::sigaction = core::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO | if restart { libc::SA_RESTART } else { 0 };
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(signo, &sa, core::ptr::null_mut())
    };
    if r != 0 {
        let e = Errno::last();
        set_slot(signo, None);
        return Err(e);
    }
    Ok(())
}

/// Sets `signo`'s disposition to the default (`ignore == false`) or to
/// ignore, dropping any ripc callback for it.
pub fn reset(signo: i32, ignore: bool) -> Result<()> {
    check_signo(signo)?;
    // SAFETY: sigaction is plain data, fully initialised here.
    let r = unsafe {
        let mut sa: libc::sigaction = core::mem::zeroed();
        sa.sa_sigaction = if ignore { libc::SIG_IGN } else { libc::SIG_DFL };
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(signo, &sa, core::ptr::null_mut())
    };
    if r != 0 {
        return Err(Errno::last());
    }
    set_slot(signo, None);
    Ok(())
}

/// Sends `signo` with payload `value` to process `pid` (`sigqueue(3)`).
/// `signo == 0` only checks that `pid` exists. `EAGAIN` when the receiver's
/// queue of pending signals is full (`RLIMIT_SIGPENDING`).
pub fn send(pid: i32, signo: i32, value: isize) -> Result<()> {
    if signo != 0 {
        check_signo(signo)?;
    }
    let v = libc::sigval {
        sival_ptr: value as *mut libc::c_void,
    };
    // SAFETY: sigqueue takes its arguments by value.
    cvt(unsafe { libc::sigqueue(pid, signo, v) }).map(|_| ())
}

/// Sends `signo` without payload to `pid` (`kill(2)`: the receiver sees
/// `SI_USER`). `pid` may be 0 or negative (process groups), as for `kill`.
pub fn kill(pid: i32, signo: i32) -> Result<()> {
    if signo != 0 {
        check_signo(signo)?;
    }
    // SAFETY: kill takes its arguments by value.
    cvt(unsafe { libc::kill(pid, signo) }).map(|_| ())
}

/// Blocks the signals in `set` in the calling thread.
pub fn block(set: &libc::sigset_t) -> Result<()> {
    mask(libc::SIG_BLOCK, set)
}

/// Unblocks the signals in `set` in the calling thread.
pub fn unblock(set: &libc::sigset_t) -> Result<()> {
    mask(libc::SIG_UNBLOCK, set)
}

fn mask(how: i32, set: &libc::sigset_t) -> Result<()> {
    // SAFETY: `set` is a live sigset_t; the old-mask pointer may be NULL.
    let r = unsafe { libc::pthread_sigmask(how, set, core::ptr::null_mut()) };
    if r != 0 {
        return Err(Errno::from_raw(r));
    }
    Ok(())
}

/// Waits for one of the signals in `set` (which the caller has blocked)
/// and takes it off the pending queue (`sigtimedwait`). `None` waits
/// forever; on timeout `ETIMEDOUT`; `EINTR` when another signal's handler
/// ran.
pub fn wait(set: &libc::sigset_t, timeout: Option<Duration>) -> Result<SigInfo> {
    // SAFETY: plain data filled by sigtimedwait.
    let mut si: libc::siginfo_t = unsafe { core::mem::zeroed() };
    let ts = timeout.map(crate::os::timespec);
    let tsp = ts
        .as_ref()
        .map_or(core::ptr::null(), |t| t as *const libc::timespec);
    let args = [
        set as *const libc::sigset_t as libc::c_long,
        &mut si as *mut libc::siginfo_t as libc::c_long,
        tsp as libc::c_long,
        core::mem::size_of::<libc::c_ulong>() as libc::c_long,
        0,
        0,
    ];
    // SAFETY: live set, siginfo and (NULL or live) timespec; the kernel's
    // sigset is one word. A cancellation point, as glibc's sigtimedwait
    // (crate::os::cancel).
    let r = match unsafe { crate::os::cancel::syscall(libc::SYS_rt_sigtimedwait, args) } {
        Ok(r) => r as i32,
        Err(Errno::EAGAIN) => return Err(Errno::ETIMEDOUT),
        Err(e) => return Err(e),
    };
    // As glibc's sigtimedwait: tkill's SI_TKILL (raise) is reported as
    // SI_USER.
    if si.si_code == libc::SI_TKILL {
        si.si_code = libc::SI_USER;
    }
    let (pid, uid, status, value) = fields(r, &si);
    Ok(SigInfo {
        signo: r,
        code: si.si_code,
        pid,
        uid,
        status,
        value,
    })
}

/// Blocks `set` in the calling thread and returns a descriptor that becomes
/// readable while one of them is pending (`signalfd(2)`), close-on-exec;
/// non-blocking with `nonblock`. Read it with [`signal_fd_read`].
pub fn signal_fd(set: &libc::sigset_t, nonblock: bool) -> Result<i32> {
    block(set)?;
    let flags = libc::SFD_CLOEXEC | if nonblock { libc::SFD_NONBLOCK } else { 0 };
    // SAFETY: live set; -1 asks for a new descriptor.
    cvt(unsafe { libc::signalfd(-1, set, flags) })
}

/// Takes one signal from a [`signal_fd`] descriptor.
pub fn signal_fd_read(fd: i32) -> Result<SigInfo> {
    // SAFETY: plain data filled by read.
    let mut s: libc::signalfd_siginfo = unsafe { core::mem::zeroed() };
    let want = core::mem::size_of::<libc::signalfd_siginfo>();
    let args = [
        fd as libc::c_long,
        (&mut s as *mut libc::signalfd_siginfo) as libc::c_long,
        want as libc::c_long,
        0,
        0,
        0,
    ];
    // SAFETY: reading at most `want` bytes into `s`. A cancellation
    // point, as `read(2)` (crate::os::cancel).
    let n = unsafe { crate::os::cancel::syscall(libc::SYS_read, args) }?;
    if n as usize != want {
        return Err(Errno::EINVAL);
    }
    Ok(SigInfo {
        signo: s.ssi_signo as i32,
        code: s.ssi_code,
        pid: s.ssi_pid as i32,
        uid: s.ssi_uid,
        status: if s.ssi_signo as i32 == libc::SIGCHLD {
            s.ssi_status
        } else {
            0
        },
        value: s.ssi_ptr as isize,
    })
}

/// A set holding exactly `signos` (`EINVAL` for a bad number).
#[cfg(test)]
pub fn sigset_of(signos: &[i32]) -> Result<libc::sigset_t> {
    for &n in signos {
        check_signo(n)?;
    }
    crate::os::sigset(signos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Every payload arrives exactly once. (Order is only guaranteed when
    /// one thread takes the signals: the test harness has several threads
    /// with it unblocked, so handlers may run concurrently; the C test
    /// `t_signal_rt` checks order with a single receiving thread.)
    #[test]
    fn queued_payloads_reach_callback_exactly_once() {
        const N: usize = 200;
        #[allow(clippy::declare_interior_mutable_const)]
        const ZERO: AtomicUsize = AtomicUsize::new(0);
        static SEEN: [AtomicUsize; N] = [ZERO; N];
        static GOT: AtomicUsize = AtomicUsize::new(0);
        static BAD: AtomicUsize = AtomicUsize::new(0);
        let sig = libc::SIGRTMIN() + 3;
        handle(
            sig,
            Arc::new(|i: &SigInfo| {
                match SEEN.get(i.value as usize) {
                    Some(c) if i.code == libc::SI_QUEUE => {
                        c.fetch_add(1, Ordering::SeqCst);
                    }
                    _ => {
                        BAD.fetch_add(1, Ordering::SeqCst);
                    }
                }
                GOT.fetch_add(1, Ordering::SeqCst);
            }),
            true,
        )
        .unwrap();
        let me = std::process::id() as i32;
        for v in 0..N as isize {
            while let Err(e) = send(me, sig, v) {
                assert_eq!(e, Errno::EAGAIN);
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let t0 = std::time::Instant::now();
        while GOT.load(Ordering::SeqCst) < N && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(GOT.load(Ordering::SeqCst), N);
        assert_eq!(BAD.load(Ordering::SeqCst), 0);
        assert!(SEEN.iter().all(|c| c.load(Ordering::SeqCst) == 1));
        reset(sig, false).unwrap();
    }

    #[test]
    fn bad_numbers() {
        assert_eq!(
            handle(0, Arc::new(|_: &SigInfo| {}), false),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            handle(libc::SIGKILL, Arc::new(|_: &SigInfo| {}), false),
            Err(Errno::EINVAL)
        );
        assert_eq!(send(1, 99, 0), Err(Errno::EINVAL));
        assert!(sigset_of(&[0]).is_err());
    }
}
