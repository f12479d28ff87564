//! Anonymous pipes and named pipes (FIFOs): a thin, safe engine over the
//! kernel's pipe, with the helpers C programs keep rewriting: read-exact,
//! write-all, capacity, SIGPIPE-free writes, connecting a child process to
//! one end the way a shell's `|` does, and FIFO opens that can time out.
//!
//! The data path is exactly one `read(2)`/`write(2)` per call: a pipe is
//! already the fastest thing the kernel offers for a byte stream, so ripc
//! adds checks and conveniences, not a second buffer. Writes of at most
//! `PIPE_BUF` bytes are atomic (never interleaved with other writers'
//! data), as `pipe(7)` guarantees.

mod fifo;
mod sigpipe;
mod spawn;

pub use fifo::{fifo_create, fifo_open};

use crate::error::cvt;
use crate::error::{Errno, Result};
use crate::os::cancel;
use core::ffi::c_long;
use core::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// Which end of a pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The end data is read from (`fd[0]`).
    Read,
    /// The end data is written to (`fd[1]`).
    Write,
}

impl End {
    /// From the C constant: 0 = read, 1 = write, else `EINVAL`.
    pub fn from_c(v: i32) -> Result<End> {
        match v {
            0 => Ok(End::Read),
            1 => Ok(End::Write),
            _ => Err(Errno::EINVAL),
        }
    }
}

/// Options for a pipe or a FIFO opened through ripc.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// `O_NONBLOCK` on the descriptors: reads and writes fail with `EAGAIN`
    /// instead of waiting.
    pub nonblock: bool,
    /// Leave the descriptors inheritable across `exec` (default: close-on-exec).
    pub inherit: bool,
    /// A write to a pipe whose readers are gone fails with `EPIPE` without
    /// raising `SIGPIPE` (as `MSG_NOSIGNAL` does for sockets).
    pub nosigpipe: bool,
}

/// One pipe: a read end and/or a write end (a FIFO opened for reading has
/// only the first). Either end may be closed on its own; the handle closes
/// what is left when dropped.
///
/// The descriptors are atomics so that one thread may read while another
/// writes through a shared reference.
#[derive(Debug)]
pub struct Pipe {
    rd: AtomicI32,
    wr: AtomicI32,
    nosigpipe: AtomicBool,
}

/// One `write(2)` of `buf` to `fd`.
/// A cancellation point, as the kernel's `write(2)` ([`crate::os::cancel`]).
fn write_fd(fd: i32, buf: &[u8]) -> Result<usize> {
    let args = [
        fd as c_long,
        buf.as_ptr() as c_long,
        buf.len() as c_long,
        0,
        0,
        0,
    ];
    // SAFETY: `buf` is a valid readable slice of `buf.len()` bytes.
    unsafe { cancel::syscall(libc::SYS_write, args) }.map(|n| n as usize)
}

use crate::os::{close_fd, set_fl};

impl Pipe {
    /// Creates an anonymous pipe (`pipe2`).
    pub fn new(opts: Options) -> Result<Pipe> {
        let mut fds = [-1i32; 2];
        let mut flags = 0;
        if !opts.inherit {
            flags |= libc::O_CLOEXEC;
        }
        if opts.nonblock {
            flags |= libc::O_NONBLOCK;
        }
        // SAFETY: `fds` is a writable array of two ints, as pipe2 requires.
        cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), flags) })?;
        Ok(Pipe::from_fds(fds[0], fds[1], opts.nosigpipe))
    }

    /// Wraps descriptors this handle will own (-1 for an absent end).
    pub(crate) fn from_fds(rd: i32, wr: i32, nosigpipe: bool) -> Pipe {
        Pipe {
            rd: AtomicI32::new(rd),
            wr: AtomicI32::new(wr),
            nosigpipe: AtomicBool::new(nosigpipe),
        }
    }

    /// The descriptor of `end`, `EBADF` when that end is closed or absent.
    pub fn fd(&self, end: End) -> Result<i32> {
        let fd = match end {
            End::Read => self.rd.load(Ordering::Relaxed),
            End::Write => self.wr.load(Ordering::Relaxed),
        };
        if fd < 0 {
            Err(Errno::EBADF)
        } else {
            Ok(fd)
        }
    }

    /// Any open end's descriptor (for capacity calls).
    fn any_fd(&self) -> Result<i32> {
        self.fd(End::Read).or_else(|_| self.fd(End::Write))
    }

    /// Closes one end. `EBADF` when it was already closed.
    pub fn close(&self, end: End) -> Result<()> {
        self.take(end).map(close_fd)
    }

    /// Gives up ownership of one end's descriptor: the caller must close it.
    pub fn take(&self, end: End) -> Result<i32> {
        let slot = match end {
            End::Read => &self.rd,
            End::Write => &self.wr,
        };
        let fd = slot.swap(-1, Ordering::AcqRel);
        if fd < 0 {
            Err(Errno::EBADF)
        } else {
            Ok(fd)
        }
    }

    /// One `read(2)` from the read end: the bytes read, 0 at end of file
    /// (every writer closed). Blocks while the pipe is empty unless
    /// non-blocking (`EAGAIN`); a signal handler without `SA_RESTART` makes
    /// it fail with `EINTR` (never retried here).
    pub fn read(&self, buf: &mut [u8]) -> Result<usize> {
        let fd = self.fd(End::Read)?;
        let args = [
            fd as c_long,
            buf.as_mut_ptr() as c_long,
            buf.len() as c_long,
            0,
            0,
            0,
        ];
        // SAFETY: `buf` is a valid writable slice of `buf.len()` bytes. A
        // cancellation point, as the kernel's `read(2)`.
        unsafe { cancel::syscall(libc::SYS_read, args) }.map(|n| n as usize)
    }

    /// One `write(2)` to the write end: the bytes written (all of them when
    /// `buf.len() <= PIPE_BUF`, atomically). Blocks while the pipe is full
    /// unless non-blocking; `EPIPE` when every reader is gone (with
    /// `SIGPIPE` unless the pipe was made with `nosigpipe`).
    #[inline]
    pub fn write(&self, buf: &[u8]) -> Result<usize> {
        let fd = self.fd(End::Write)?;
        if self.nosigpipe.load(Ordering::Relaxed) {
            return sigpipe::without_sigpipe(|| {
                let r = write_fd(fd, buf);
                let raised = sigpipe::may_raise(&r, buf.len());
                (r, raised)
            });
        }
        write_fd(fd, buf)
    }

    /// Reads until `buf` is full or end of file: returns the bytes read
    /// (fewer than `buf.len()` only at end of file). `EINTR` is retried and,
    /// on a non-blocking pipe, `EAGAIN` waits for data with `poll`, so
    /// partial progress is never lost; other errors are returned.
    pub fn read_exact(&self, buf: &mut [u8]) -> Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            match self.read(&mut buf[done..]) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => wait_ready(self.fd(End::Read)?, libc::POLLIN)?,
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    /// Writes all of `buf` (retrying short writes, `EINTR`, and `EAGAIN` on
    /// a non-blocking pipe by waiting with `poll`). Returns `buf.len()`.
    /// Only writes of at most `PIPE_BUF` bytes are atomic as a whole. With
    /// `nosigpipe`, `SIGPIPE` is blocked once around the whole loop.
    pub fn write_all(&self, buf: &[u8]) -> Result<usize> {
        if self.nosigpipe.load(Ordering::Relaxed) {
            return sigpipe::without_sigpipe(|| {
                let mut raised = false;
                let r = self.write_all_loop(buf, &mut raised);
                (r, raised)
            });
        }
        self.write_all_loop(buf, &mut false)
    }

    /// The loop of [`Pipe::write_all`]; sets `*raised` when one of its
    /// writes may have raised `SIGPIPE` ([`sigpipe::may_raise`]). A short
    /// write counts only when no write follows it: if the readers left
    /// during it, the next write fails with `EPIPE` and raises it again.
    fn write_all_loop(&self, buf: &[u8], raised: &mut bool) -> Result<usize> {
        let mut done = 0;
        let mut short = false;
        let r = loop {
            if done == buf.len() {
                break Ok(done);
            }
            let fd = match self.fd(End::Write) {
                Ok(fd) => fd,
                Err(e) => break Err(e),
            };
            let r = write_fd(fd, &buf[done..]);
            short = matches!(r, Ok(n) if n < buf.len() - done);
            *raised |= matches!(r, Err(Errno::EPIPE));
            match r {
                Ok(n) => done += n,
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => {
                    if let Err(e) = wait_ready(fd, libc::POLLOUT) {
                        break Err(e);
                    }
                }
                Err(e) => break Err(e),
            }
        };
        *raised |= short;
        r
    }

    /// The pipe's buffer size in bytes (`F_GETPIPE_SZ`).
    pub fn capacity(&self) -> Result<usize> {
        let fd = self.any_fd()?;
        // SAFETY: fcntl F_GETPIPE_SZ takes no pointer argument.
        Ok(cvt(unsafe { libc::fcntl(fd, libc::F_GETPIPE_SZ) })? as usize)
    }

    /// Sets the buffer size (`F_SETPIPE_SZ`; the kernel rounds up to a power
    /// of two pages, caps unprivileged callers at
    /// `/proc/sys/fs/pipe-max-size`, and fails with `EBUSY` when the pipe
    /// holds more data than the new size). Returns the size now in effect.
    pub fn set_capacity(&self, bytes: usize) -> Result<usize> {
        let fd = self.any_fd()?;
        let n = i32::try_from(bytes).map_err(|_| Errno::EINVAL)?;
        // SAFETY: fcntl F_SETPIPE_SZ takes an int argument, no pointer.
        Ok(cvt(unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, n) })? as usize)
    }

    /// Bytes waiting to be read (`FIONREAD`).
    pub fn available(&self) -> Result<usize> {
        let fd = self.fd(End::Read)?;
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int to the pointer, which is live.
        cvt(unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n as *mut libc::c_int) })?;
        Ok(n.max(0) as usize)
    }

    /// Switches `O_NONBLOCK` on one end.
    pub fn set_nonblocking(&self, end: End, on: bool) -> Result<()> {
        set_fl(self.fd(end)?, libc::O_NONBLOCK, on)
    }

    /// Switches SIGPIPE suppression for writes on this handle.
    pub fn set_nosigpipe(&self, on: bool) {
        self.nosigpipe.store(on, Ordering::Relaxed);
    }

    /// Forks a child connected to `end` the way a shell's `|` connects a
    /// command. In the child, `end` is moved to descriptor `child_fd`
    /// (e.g. 0 for the read end, 1 for the write end) and the handle's
    /// descriptors are closed; with `child_fd < 0` the child instead keeps
    /// `end` open in the handle and only the other end is closed. In the
    /// parent, `end` is closed (the child owns it now) and the other end
    /// stays. Returns the child's pid in the parent, 0 in the child.
    pub fn fork_connected(&self, end: End, child_fd: i32) -> Result<i32> {
        spawn::fork_connected(self, end, child_fd)
    }

    /// Runs `argv[0]` (searched in `PATH`) with `end` as its descriptor
    /// `child_fd` (`posix_spawnp`), then closes `end` in the caller, as a
    /// shell does for `cmd | ...` or `... | cmd`. Returns the child's pid.
    pub fn spawn_connected(
        &self,
        end: End,
        child_fd: i32,
        argv: &[&core::ffi::CStr],
    ) -> Result<i32> {
        spawn::spawn_connected(self, end, child_fd, argv)
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        close_fd(self.rd.swap(-1, Ordering::AcqRel));
        close_fd(self.wr.swap(-1, Ordering::AcqRel));
    }
}

/// Waits until `fd` is ready for `events` (or has hung up / errored: the
/// next read or write reports what happened). `EINTR` is folded into
/// success; the caller retries its operation.
fn wait_ready(fd: i32, events: i16) -> Result<()> {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let args = [&mut p as *mut libc::pollfd as c_long, 1, -1, 0, 0, 0];
    // SAFETY: one live pollfd. A cancellation point, as `poll(2)`.
    match unsafe { cancel::syscall(libc::SYS_poll, args) } {
        Err(e) if e != Errno::EINTR => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_eof() {
        let p = Pipe::new(Options::default()).unwrap();
        assert_eq!(p.write(b"hello").unwrap(), 5);
        assert_eq!(p.available().unwrap(), 5);
        let mut b = [0u8; 16];
        assert_eq!(p.read(&mut b).unwrap(), 5);
        assert_eq!(&b[..5], b"hello");
        p.close(End::Write).unwrap();
        assert_eq!(p.read(&mut b).unwrap(), 0);
        assert_eq!(p.close(End::Write), Err(Errno::EBADF));
        assert_eq!(p.write(b"x"), Err(Errno::EBADF));
    }

    #[test]
    fn nonblocking_empty_and_full() {
        let p = Pipe::new(Options {
            nonblock: true,
            ..Default::default()
        })
        .unwrap();
        let mut b = [0u8; 8];
        assert_eq!(p.read(&mut b), Err(Errno::EAGAIN));
        let cap = p.set_capacity(4096).unwrap();
        assert_eq!(p.capacity().unwrap(), cap);
        let big = vec![7u8; cap];
        assert_eq!(p.write(&big).unwrap(), cap);
        assert_eq!(p.write(b"x"), Err(Errno::EAGAIN));
    }

    #[test]
    fn epipe_without_sigpipe() {
        let p = Pipe::new(Options {
            nosigpipe: true,
            ..Default::default()
        })
        .unwrap();
        p.close(End::Read).unwrap();
        assert_eq!(p.write(b"x"), Err(Errno::EPIPE));
        assert_eq!(p.write_all(b"xy"), Err(Errno::EPIPE));
    }

    #[test]
    fn exact_and_all_across_threads() {
        let p = std::sync::Arc::new(Pipe::new(Options::default()).unwrap());
        let q = p.clone();
        let data: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
        let d2 = data.clone();
        let t = std::thread::spawn(move || {
            q.write_all(&d2).unwrap();
            q.close(End::Write).unwrap();
        });
        let mut got = vec![0u8; data.len() + 10];
        assert_eq!(p.read_exact(&mut got).unwrap(), data.len());
        assert_eq!(&got[..data.len()], &data[..]);
        t.join().unwrap();
    }
}
