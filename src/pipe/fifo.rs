//! Named pipes: create with a mode, open with a timeout.
//!
//! Opening a FIFO blocks until the other side opens it too (`fifo(7)`).
//! ripc keeps that meaning and adds a timeout: the blocking `open(2)` runs
//! on a short-lived helper thread (all signals blocked) while the caller
//! waits at most the timeout. On timeout the caller wakes the helper by
//! opening the other side itself, non-blocking (a reader blocked in `open`
//! already counts as a reader, and any reader lets a blocked writer in),
//! until the helper answers, then closes both descriptors and fails with
//! `ETIMEDOUT`. So `open` succeeds
//! exactly when a real peer arrived, as the kernel's blocking open does;
//! the only blur is a peer arriving in the same instant as the timeout,
//! which sees a peer that leaves at once (end of file or `EPIPE`).

use super::{End, Options, Pipe};
use crate::error::{Errno, Result};
use crate::os::close_fd;
use core::ffi::CStr;
use core::time::Duration;
use std::ffi::CString;
use std::sync::mpsc;

/// Creates a FIFO at `path` with permission bits `mode` (minus the umask,
/// as `mkfifo(3)`). An existing FIFO is accepted when `exist_ok`; an
/// existing file of another type always gives `EEXIST`.
pub fn fifo_create(path: &CStr, mode: u32, exist_ok: bool) -> Result<()> {
    // SAFETY: `path` is a NUL-terminated string.
    if unsafe { libc::mkfifo(path.as_ptr(), mode as libc::mode_t) } == 0 {
        return Ok(());
    }
    let e = Errno::last();
    if e == Errno::EEXIST && exist_ok {
        // SAFETY: `st` is plain data filled by lstat.
        let mut st: libc::stat = unsafe { core::mem::zeroed() };
        // SAFETY: live path and stat buffer.
        if unsafe { libc::lstat(path.as_ptr(), &mut st) } == 0
            && st.st_mode & libc::S_IFMT == libc::S_IFIFO
        {
            return Ok(());
        }
    }
    Err(e)
}

fn open_flags(end: End, opts: Options) -> i32 {
    let mut f = match end {
        End::Read => libc::O_RDONLY,
        End::Write => libc::O_WRONLY,
    };
    if !opts.inherit {
        f |= libc::O_CLOEXEC;
    }
    f
}

/// `open(2)` as ripc's own work: no cancellation point (a raw system
/// call: [`crate::os::cancel`]). For the non-blocking opens, the timed
/// open's helper thread and its wake-up peers; `ripc_fifo_open` is a
/// cancellation point at its entry.
fn raw_open(path: &CStr, flags: i32) -> Result<i32> {
    // SAFETY: `path` is NUL-terminated; no mode argument is needed since
    // O_CREAT is never passed.
    crate::error::cvt(unsafe {
        libc::syscall(libc::SYS_openat, libc::AT_FDCWD, path.as_ptr(), flags)
    } as i32)
}

/// The caller's blocking `open(2)` (no timeout): a cancellation point, as
/// the kernel's ([`crate::os::cancel`]).
fn cancellable_open(path: &CStr, flags: i32) -> Result<i32> {
    let args = [
        libc::AT_FDCWD as libc::c_long,
        path.as_ptr() as libc::c_long,
        flags as libc::c_long,
        0,
        0,
        0,
    ];
    // SAFETY: as `raw_open`.
    unsafe { crate::os::cancel::syscall(libc::SYS_openat, args) }.map(|fd| fd as i32)
}

/// Refuses anything but a FIFO: the kernel would open a regular file just
/// as well; ripc says `EINVAL`.
fn check_fifo(fd: i32) -> Result<()> {
    let st = crate::ns::fstat(fd)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFIFO {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

fn wrap(fd: i32, end: End, opts: Options) -> Result<Pipe> {
    if let Err(e) = check_fifo(fd) {
        close_fd(fd);
        return Err(e);
    }
    Ok(match end {
        End::Read => Pipe::from_fds(fd, -1, opts.nosigpipe),
        End::Write => Pipe::from_fds(-1, fd, opts.nosigpipe),
    })
}

/// Opens the FIFO at `path` for one direction.
///
/// - `opts.nonblock`: the kernel's `O_NONBLOCK` open: a reader succeeds at
///   once, a writer fails with `ENXIO` when there is no reader; the handle's
///   reads and writes are non-blocking. `timeout` is ignored.
/// - else with `timeout == None`: the kernel's blocking open in the calling
///   thread (waits for the other side; `EINTR` when a handler runs).
/// - else: waits for the other side at most `timeout`, then `ETIMEDOUT`.
pub fn fifo_open(path: &CStr, end: End, opts: Options, timeout: Option<Duration>) -> Result<Pipe> {
    let flags = open_flags(end, opts);
    if opts.nonblock {
        let fd = raw_open(path, flags | libc::O_NONBLOCK)?;
        return wrap(fd, end, opts);
    }
    let Some(timeout) = timeout else {
        let fd = cancellable_open(path, flags)?;
        return wrap(fd, end, opts);
    };
    if end == End::Write {
        if let Some(fd) = open_writer_at_once(path, flags)? {
            return wrap(fd, end, opts);
        }
    }
    let fd = open_with_timeout(path, end, flags, timeout)?;
    wrap(fd, end, opts)
}

/// A timed writer's open when a reader is already there: the kernel's
/// blocking open would return at once, and so does a non-blocking one,
/// which fails with `ENXIO` instead of waiting when there is none
/// (`None`: wait for one on the helper thread). The descriptor is then
/// made blocking again: two system calls instead of a helper thread's
/// start (tens of microseconds, see docs/pipes-signals.md). Errors other
/// than `ENXIO` are the ones the blocking open gives (a missing path, no
/// permission, ...).
fn open_writer_at_once(path: &CStr, flags: i32) -> Result<Option<i32>> {
    match raw_open(path, flags | libc::O_NONBLOCK) {
        Ok(fd) => {
            // F_SETFL sets O_NONBLOCK, O_APPEND, O_ASYNC, O_DIRECT and
            // O_NOATIME; only O_NONBLOCK was asked for, so 0 clears it
            // (the access mode and O_CLOEXEC are not touched).
            // SAFETY: fcntl F_SETFL takes an int argument, no pointer.
            if let Err(e) = crate::error::cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, 0) }) {
                close_fd(fd);
                return Err(e);
            }
            Ok(Some(fd))
        }
        Err(Errno::ENXIO) => Ok(None),
        Err(e) => Err(e),
    }
}

use crate::os::with_signals_blocked;

fn open_with_timeout(path: &CStr, end: End, flags: i32, timeout: Duration) -> Result<i32> {
    let owned: CString = path.to_owned();
    let (tx, rx) = mpsc::channel::<Result<i32>>();
    let helper_path = owned.clone();
    with_signals_blocked(|| {
        std::thread::Builder::new()
            .name("ripc-fifo-open".into())
            .spawn(move || {
                let r = loop {
                    match raw_open(&helper_path, flags) {
                        Err(Errno::EINTR) => continue,
                        r => break r,
                    }
                };
                if let Err(mpsc::SendError(Ok(fd))) = tx.send(r) {
                    // The caller gave up and left: nobody owns this fd.
                    close_fd(fd);
                }
            })
            .map_err(|_| Errno::EAGAIN)
    })?;
    match rx.recv_timeout(timeout) {
        Ok(r) => return r,
        Err(mpsc::RecvTimeoutError::Disconnected) => return Err(Errno::EIO),
        Err(mpsc::RecvTimeoutError::Timeout) => {}
    }
    // A peer that arrived just now still wins.
    if let Ok(r) = rx.try_recv() {
        return r;
    }
    // Wake the helper by becoming its peer, non-blocking, until it
    // answers. One look is not enough: a helper not yet inside its `open`
    // when the peer came and went (a thread started late on a loaded
    // machine; for a reader the peer's open even fails with `ENXIO` then)
    // would block afterwards and stay behind as a phantom reader or writer
    // that a real peer's open meets and that leaves at once.
    let peer_flags = match end {
        End::Read => libc::O_WRONLY,
        End::Write => libc::O_RDONLY,
    } | libc::O_NONBLOCK
        | libc::O_CLOEXEC;
    let give_up = std::time::Instant::now() + WAKE_HELPER_FOR;
    loop {
        let peer = raw_open(&owned, peer_flags);
        let answer = rx.recv_timeout(Duration::from_millis(2));
        if let Ok(fd) = peer {
            close_fd(fd);
        }
        match answer {
            Ok(Ok(fd)) => close_fd(fd),
            Ok(Err(_)) | Err(mpsc::RecvTimeoutError::Disconnected) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // `ENXIO`: no reader yet, so the reading helper is not in
                // its `open` yet; an open peer: the helper should answer.
                // Any other error (no permission for the other direction,
                // the path gone) a retry does not mend; nor does more time
                // for a helper that gets no CPU in `WAKE_HELPER_FOR`. Then
                // dropping `rx` makes the helper close its descriptor
                // whenever its open returns.
                let retry = matches!(peer, Ok(_) | Err(Errno::ENXIO) | Err(Errno::EINTR));
                if retry && std::time::Instant::now() < give_up {
                    continue;
                }
            }
        }
        break;
    }
    Err(Errno::ETIMEDOUT)
}

/// How long a timed-out open keeps waking its helper thread.
const WAKE_HELPER_FOR: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests of this module one at a time: `helpers_left` counts the
    /// process's helper threads.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The process's FIFO helper threads still alive after up to 3 s (a
    /// helper that answered exits within microseconds; one blocked in its
    /// `open` stays).
    fn helpers_left() -> usize {
        let t0 = std::time::Instant::now();
        loop {
            let n = std::fs::read_dir("/proc/self/task")
                .unwrap()
                .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
                .filter(|c| c.trim_end() == "ripc-fifo-open")
                .count();
            if n == 0 || t0.elapsed() > Duration::from_secs(3) {
                return n;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// `ENXIO` for a non-blocking writer: no reader. Another test of the
    /// crate that forks while this one holds a reader gives the child a
    /// copy of it for as long as that child lives; so it is asked again
    /// for up to 3 s.
    fn no_reader(p: &CStr) -> Option<Errno> {
        let nb = Options {
            nonblock: true,
            ..Default::default()
        };
        let t0 = std::time::Instant::now();
        loop {
            let e = fifo_open(p, End::Write, nb, None).err();
            if e == Some(Errno::ENXIO) || t0.elapsed() > Duration::from_secs(3) {
                return e;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn tmp(name: &str) -> CString {
        let p = std::env::temp_dir().join(format!("ripc-fifo-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        CString::new(p.to_str().unwrap()).unwrap()
    }

    #[test]
    fn create_exist_ok_and_timeout() {
        crate::ns::testing::alone(
            "create_exist_ok_and_timeout",
            create_exist_ok_and_timeout_alone,
        );
    }

    fn create_exist_ok_and_timeout_alone() {
        // (No `serial()`: alone in a child, whose copy of that lock may
        // be held by a thread the child does not have.)
        let p = tmp("a");
        fifo_create(&p, 0o600, false).unwrap();
        assert_eq!(fifo_create(&p, 0o600, false), Err(Errno::EEXIST));
        fifo_create(&p, 0o600, true).unwrap();
        let t0 = std::time::Instant::now();
        let r = fifo_open(
            &p,
            End::Read,
            Options::default(),
            Some(Duration::from_millis(100)),
        );
        assert_eq!(r.err(), Some(Errno::ETIMEDOUT));
        assert!(t0.elapsed() >= Duration::from_millis(100));
        let r = fifo_open(
            &p,
            End::Write,
            Options::default(),
            Some(Duration::from_millis(50)),
        );
        assert_eq!(r.err(), Some(Errno::ETIMEDOUT));
        let nb = Options {
            nonblock: true,
            ..Default::default()
        };
        assert_eq!(no_reader(&p), Some(Errno::ENXIO));
        let r = fifo_open(&p, End::Read, nb, None).unwrap();
        let w = fifo_open(
            &p,
            End::Write,
            Options::default(),
            Some(Duration::from_secs(5)),
        )
        .unwrap();
        w.write(b"hi").unwrap();
        let mut b = [0u8; 4];
        assert_eq!(r.read(&mut b).unwrap(), 2);
        std::fs::remove_file(p.to_str().unwrap()).unwrap();
    }

    /// A timed-out open leaves no helper behind blocked in its `open`:
    /// with a zero timeout the helper is usually not in its `open` yet when
    /// the caller gives up (a reader's wake-up peer then fails with
    /// `ENXIO`); a helper left blocked would be a phantom reader that lets a
    /// non-blocking writer in, or a phantom writer that keeps a reader from
    /// its end of file, until a real peer came and met it.
    #[test]
    fn timed_out_open_leaves_no_phantom() {
        crate::ns::testing::alone("timed_out_open_leaves_no_phantom", timed_out_open_alone);
    }

    fn timed_out_open_alone() {
        // (No `serial()`: alone in a child, whose copy of that lock may
        // be held by a thread the child does not have.)
        let p = tmp("c");
        fifo_create(&p, 0o600, false).unwrap();
        for end in [End::Read, End::Write, End::Read] {
            for _ in 0..20 {
                // (Alone: no other test's forked child holds a copy of
                // one of this test's descriptors, a peer after all.)
                let r = fifo_open(&p, end, Options::default(), Some(Duration::ZERO));
                assert_eq!(r.err(), Some(Errno::ETIMEDOUT));
                assert_eq!(helpers_left(), 0, "a helper was left in its open");
            }
        }
        assert_eq!(no_reader(&p), Some(Errno::ENXIO));
        std::fs::remove_file(p.to_str().unwrap()).unwrap();
    }

    /// A timed writer finds a reader already there at once, as the
    /// kernel's blocking open does, even with a zero timeout (the helper
    /// thread it used to start could not answer within that: ETIMEDOUT),
    /// and its handle blocks as a blocking open's does.
    #[test]
    fn timed_writer_with_a_reader_opens_at_once_blocking() {
        let _one = serial();
        let p = tmp("d");
        fifo_create(&p, 0o600, false).unwrap();
        let nb = Options {
            nonblock: true,
            ..Default::default()
        };
        let r = fifo_open(&p, End::Read, nb, None).unwrap();
        for _ in 0..20 {
            let w = fifo_open(&p, End::Write, Options::default(), Some(Duration::ZERO));
            assert!(w.is_ok(), "{:?}", w.err());
        }
        let w = fifo_open(&p, End::Write, Options::default(), Some(Duration::ZERO)).unwrap();
        let fd = w.fd(End::Write).unwrap();
        // SAFETY: F_GETFL/F_GETFD take no argument.
        let (fl, fdfl) = unsafe {
            (
                libc::fcntl(fd, libc::F_GETFL),
                libc::fcntl(fd, libc::F_GETFD),
            )
        };
        assert_eq!(fl & libc::O_NONBLOCK, 0, "the writer is blocking");
        assert_eq!(fl & libc::O_ACCMODE, libc::O_WRONLY);
        assert_ne!(fdfl & libc::FD_CLOEXEC, 0, "close-on-exec kept");
        w.write(b"x").unwrap();
        let mut b = [0u8; 2];
        assert_eq!(r.read(&mut b).unwrap(), 1);
        // (Without a reader it still waits, then times out:
        // create_exist_ok_and_timeout.)
        drop(w);
        drop(r);
        std::fs::remove_file(p.to_str().unwrap()).unwrap();
    }

    #[test]
    fn timed_open_meets_peer() {
        let _one = serial();
        let p = tmp("b");
        fifo_create(&p, 0o600, false).unwrap();
        let p2 = p.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let w = fifo_open(&p2, End::Write, Options::default(), None).unwrap();
            w.write_all(b"ping").unwrap();
        });
        let r = fifo_open(
            &p,
            End::Read,
            Options::default(),
            Some(Duration::from_secs(5)),
        )
        .unwrap();
        let mut b = [0u8; 8];
        assert_eq!(r.read_exact(&mut b).unwrap(), 4);
        t.join().unwrap();
        std::fs::remove_file(p.to_str().unwrap()).unwrap();
    }
}
