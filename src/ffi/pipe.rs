//! The native pipe and FIFO API: `ripc_pipe_*` and `ripc_fifo_*`.
//!
//! A `ripc_pipe` handle holds a read end and/or a write end: an anonymous
//! pipe has both until one is closed, a FIFO opened with
//! `ripc_fifo_open` has the one it was opened for. Every call is one
//! system call on the data path (`read(2)`/`write(2)`), with argument
//! checks in front.

use crate::error::{Errno, Result};
use crate::ffi::{cstr, readable, writable};
use crate::ffi_boundary;
use crate::pipe::{fifo_create, fifo_open, End, Options, Pipe};
use core::ffi::{c_char, c_int, c_void};
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;

/// The read end of a pipe (`fd[0]` of `pipe(2)`).
pub const RIPC_PIPE_READ: c_int = 0;
/// The write end of a pipe (`fd[1]` of `pipe(2)`).
pub const RIPC_PIPE_WRITE: c_int = 1;
/// Flag: `O_NONBLOCK`: reads and writes fail with `EAGAIN` instead of
/// waiting (for `ripc_fifo_open`, also the kernel's non-blocking open).
pub const RIPC_PIPE_NONBLOCK: c_int = 1;
/// Flag: keep the descriptors across `exec` (default: close-on-exec).
pub const RIPC_PIPE_INHERIT: c_int = 2;
/// Flag: a write to a pipe without readers fails with `EPIPE` and raises
/// no `SIGPIPE` (the process-wide disposition is left alone).
pub const RIPC_PIPE_NOSIGPIPE: c_int = 4;
/// Flag for `ripc_fifo_create`: an existing FIFO at the path is fine.
pub const RIPC_FIFO_EXIST_OK: c_int = 8;
/// Writes of at most this many bytes are atomic: never split, never
/// interleaved with another writer's data (`PIPE_BUF`, `pipe(7)`).
pub const RIPC_PIPE_BUF: c_int = 4096;

const _: () = assert!(RIPC_PIPE_BUF as usize == libc::PIPE_BUF);

const PIPE_FLAGS: c_int = RIPC_PIPE_NONBLOCK | RIPC_PIPE_INHERIT | RIPC_PIPE_NOSIGPIPE;

/// An anonymous pipe or an open FIFO (opaque). Free with `ripc_pipe_free`.
///
/// Thread safety: any number of threads may use one handle at once (as
/// with a descriptor, a read or write racing `ripc_pipe_close` of its end
/// fails with `EBADF` or runs on the descriptor as it was); a call with a closed handle fails with `EBADF`; a
/// close while another thread is inside a call with the handle closes it
/// at once and frees it when that call returns.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct ripc_pipe {
    inner: Pipe,
    /// The buffer range the last read found writable.
    read_seen: LastBuf,
    /// The buffer range the last write found readable.
    write_seen: LastBuf,
}

/// The last buffer range (whole pages) a call on one handle found usable
/// in one direction, packed in one word so that threads sharing the
/// handle never see half of an update: the first page's number in the
/// high [`LastBuf::PAGE_BITS`] bits, the count of pages in the low
/// [`LastBuf::LEN_BITS`] (0: nothing remembered).
///
/// A call whose buffer lies inside it skips the per-thread probe cache
/// ([`crate::os::probe`]), whose thread-local look-up (`__tls_get_addr`
/// in the shared library) cost more than the rest of the check: a loop
/// that reuses its buffer, the usual case, pays a load and two
/// comparisons. Anything else goes through [`readable`] / [`writable`]
/// as before (the per-thread cache, then a probe) and is remembered here.
/// Mappings belong to the process, not to a thread, so what one thread
/// found usable holds for the others. As with the per-thread cache, a
/// buffer unmapped after it was found usable is not noticed until a
/// different buffer replaces it here; the system call then fails with
/// `EFAULT` itself (the kernel checks every address it copies), so
/// nothing in this process ever touches the bad address.
#[derive(Debug, Default)]
struct LastBuf(AtomicU64);

/// The full check of a buffer: [`readable`] or [`writable`].
type BufCheck = fn(*mut c_void, usize) -> Result<()>;

impl LastBuf {
    const PAGE: u64 = 4096;
    const LEN_BITS: u32 = 20;
    const PAGE_BITS: u32 = 64 - Self::LEN_BITS;

    /// `Ok` when the `len > 0` bytes at `addr` lie in the range
    /// remembered, else the check `slow` (`readable` or `writable`),
    /// whose success is remembered.
    #[inline(always)]
    fn check(&self, addr: usize, len: usize, slow: BufCheck) -> Result<()> {
        let v = self.0.load(Ordering::Relaxed);
        let start = (v >> Self::LEN_BITS) * Self::PAGE;
        let span = (v & ((1 << Self::LEN_BITS) - 1)) * Self::PAGE;
        // Inside [start, start + span) without an addition that could wrap.
        let off = (addr as u64).wrapping_sub(start);
        if off < span && len as u64 <= span - off {
            return Ok(());
        }
        self.miss(addr, len, slow)
    }

    #[inline(never)]
    fn miss(&self, addr: usize, len: usize, slow: BufCheck) -> Result<()> {
        slow(addr as *mut c_void, len)?;
        let first = addr as u64 / Self::PAGE;
        // `slow` passed: addr + len does not wrap.
        let pages = (addr as u64 + len as u64).div_ceil(Self::PAGE) - first;
        if first >> Self::PAGE_BITS == 0 && pages >> Self::LEN_BITS == 0 {
            self.0
                .store(first << Self::LEN_BITS | pages, Ordering::Relaxed);
        }
        Ok(())
    }
}

fn options(flags: c_int) -> Result<Options> {
    if flags & !PIPE_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    Ok(Options {
        nonblock: flags & RIPC_PIPE_NONBLOCK != 0,
        inherit: flags & RIPC_PIPE_INHERIT != 0,
        nosigpipe: flags & RIPC_PIPE_NOSIGPIPE != 0,
    })
}

/// The strings of a NULL-terminated `argv` (at most 4096).
fn argv_strings<'a>(argv: *const *const c_char) -> Result<Vec<&'a core::ffi::CStr>> {
    if argv.is_null() {
        return Err(Errno::EFAULT);
    }
    let mut args = Vec::new();
    loop {
        if args.len() == 4096 {
            return Err(Errno::E2BIG);
        }
        let slot = argv.wrapping_add(args.len());
        readable(slot.cast(), core::mem::size_of::<*const c_char>())?;
        // SAFETY: the caller promises a NULL-terminated array; we stop at
        // the first NULL, and this slot was just found readable.
        let a = unsafe { *slot };
        if a.is_null() {
            return Ok(args);
        }
        args.push(cstr(a)?);
    }
}

impl super::handle::Handle for ripc_pipe {
    const KIND: u64 = 2;
}

fn boxed(inner: Pipe) -> Result<*mut ripc_pipe> {
    super::handle::new(ripc_pipe {
        inner,
        read_seen: LastBuf::default(),
        write_seen: LastBuf::default(),
    })
}

fn writable_c(p: *mut c_void, len: usize) -> Result<()> {
    writable(p, len)
}

fn readable_c(p: *mut c_void, len: usize) -> Result<()> {
    readable(p, len)
}

/// The caller's buffer for a read on `p` (`EFAULT` unless writable).
#[inline(always)]
fn read_buf<'a>(p: &ripc_pipe, buf: *mut c_void, len: usize) -> Result<&'a mut [u8]> {
    if len == 0 {
        return Ok(&mut []);
    }
    if len > isize::MAX as usize {
        return Err(Errno::EINVAL);
    }
    p.read_seen.check(buf as usize, len, writable_c)?;
    // SAFETY: non-null (the probe rejects the low page, and only ranges it
    // passed are remembered) and found writable for `len` bytes (now or
    // by an earlier call, see `LastBuf`: only the system call touches
    // it); the C caller owns the buffer for the duration of the call.
    Ok(unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), len) })
}

/// The caller's buffer for a write on `p` (`EFAULT` unless readable).
#[inline(always)]
fn write_buf<'a>(p: &ripc_pipe, buf: *const c_void, len: usize) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if len > isize::MAX as usize {
        return Err(Errno::EINVAL);
    }
    p.write_seen.check(buf as usize, len, readable_c)?;
    // SAFETY: found readable for `len` bytes (above, now or by an earlier
    // call: only the system call touches it), owned by the caller for the
    // duration of the call.
    Ok(unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), len) })
}

/// Creates an anonymous pipe. `flags`: 0 or an OR of `RIPC_PIPE_NONBLOCK`,
/// `RIPC_PIPE_INHERIT`, `RIPC_PIPE_NOSIGPIPE`. The descriptors are
/// close-on-exec unless `RIPC_PIPE_INHERIT`. Returns NULL with errno
/// (`EINVAL` for an unknown flag, `EMFILE`, `ENFILE`) on failure.
#[no_mangle]
pub extern "C" fn ripc_pipe_new(flags: c_int) -> *mut ripc_pipe {
    ffi_boundary!({ boxed(Pipe::new(options(flags)?)?) })
}

/// Closes whatever ends are still open and frees the handle. NULL is
/// accepted (does nothing). Returns 0 (-1 with `EBADF` when `p` is not an
/// open handle, e.g. freed already).
#[no_mangle]
pub extern "C" fn ripc_pipe_free(p: *mut ripc_pipe) -> c_int {
    ffi_boundary!({
        super::handle::close(p)?;
        Ok(0)
    })
}

/// Closes one end (`RIPC_PIPE_READ` or `RIPC_PIPE_WRITE`). Closing the
/// last write end makes readers see end of file; closing the last read end
/// makes writers get `EPIPE`. `EBADF` when that end is already closed.
#[no_mangle]
pub extern "C-unwind" fn ripc_pipe_close(p: *mut ripc_pipe, end: c_int) -> c_int {
    ffi_boundary!(cancellation_point, {
        let p = super::handle::get(p)?;
        p.inner.close(End::from_c(end)?)?;
        Ok(0)
    })
}

/// The file descriptor of one end, for `poll`/`epoll`/`dup2` (still owned
/// by the handle: do not close it). `EBADF` when that end is closed.
#[no_mangle]
pub extern "C" fn ripc_pipe_fd(p: *const ripc_pipe, end: c_int) -> c_int {
    ffi_boundary!({
        let p = super::handle::get(p)?;
        p.inner.fd(End::from_c(end)?)
    })
}

/// One `read(2)` of at most `len` bytes from the read end. Returns the
/// bytes read, 0 at end of file (every write end closed), -1 with errno:
/// `EAGAIN` (non-blocking, empty), `EINTR` (a handler without
/// `SA_RESTART` ran; never retried), `EBADF` (read end closed), `EFAULT`.
/// Blocks while the pipe is empty and some writer is open.
#[no_mangle]
pub extern "C-unwind" fn ripc_pipe_read(
    p: *const ripc_pipe,
    buf: *mut c_void,
    len: usize,
) -> libc::ssize_t {
    ffi_boundary!(cancellation_point, {
        let p = super::handle::get(p)?;
        Ok(p.inner.read(read_buf(&p, buf, len)?)? as libc::ssize_t)
    })
}

/// One `write(2)` of `len` bytes to the write end. A write of at most
/// `RIPC_PIPE_BUF` bytes is atomic: all or nothing, never interleaved with
/// other writers. Returns the bytes written, or -1 with errno: `EAGAIN`
/// (non-blocking, full), `EPIPE` (no reader left; also `SIGPIPE` unless
/// the handle has `RIPC_PIPE_NOSIGPIPE`), `EINTR`, `EBADF`, `EFAULT`.
/// Blocks while the pipe is full.
#[no_mangle]
pub extern "C-unwind" fn ripc_pipe_write(
    p: *const ripc_pipe,
    buf: *const c_void,
    len: usize,
) -> libc::ssize_t {
    ffi_boundary!(cancellation_point, {
        let p = super::handle::get(p)?;
        Ok(p.inner.write(write_buf(&p, buf, len)?)? as libc::ssize_t)
    })
}

/// Reads exactly `len` bytes unless end of file comes first: returns the
/// bytes read (less than `len` only at end of file). `EINTR` is retried
/// and a non-blocking pipe is waited on with `poll`, so bytes already read
/// are never lost; -1 with errno on any other error.
#[no_mangle]
pub extern "C-unwind" fn ripc_pipe_read_exact(
    p: *const ripc_pipe,
    buf: *mut c_void,
    len: usize,
) -> libc::ssize_t {
    ffi_boundary!(cancellation_point, {
        let p = super::handle::get(p)?;
        Ok(p.inner.read_exact(read_buf(&p, buf, len)?)? as libc::ssize_t)
    })
}

/// Writes all `len` bytes (retrying short writes and `EINTR`, waiting with
/// `poll` on a non-blocking pipe). Returns `len`, or -1 with errno (e.g.
/// `EPIPE`; some bytes may have been written before it).
#[no_mangle]
pub extern "C-unwind" fn ripc_pipe_write_all(
    p: *const ripc_pipe,
    buf: *const c_void,
    len: usize,
) -> libc::ssize_t {
    ffi_boundary!(cancellation_point, {
        let p = super::handle::get(p)?;
        Ok(p.inner.write_all(write_buf(&p, buf, len)?)? as libc::ssize_t)
    })
}

/// The pipe's buffer size in bytes (`F_GETPIPE_SZ`; 65536 by default on
/// Linux).
#[no_mangle]
pub extern "C" fn ripc_pipe_capacity(p: *const ripc_pipe) -> c_int {
    ffi_boundary!({
        let p = super::handle::get(p)?;
        Ok(p.inner.capacity()? as c_int)
    })
}

/// Sets the buffer size (`F_SETPIPE_SZ`): the kernel rounds up to a power
/// of two pages; `EPERM` above `/proc/sys/fs/pipe-max-size` without
/// privilege; `EBUSY` when the pipe holds more than the new size. Returns
/// the size now in effect.
#[no_mangle]
pub extern "C" fn ripc_pipe_set_capacity(p: *const ripc_pipe, bytes: usize) -> c_int {
    ffi_boundary!({
        let p = super::handle::get(p)?;
        Ok(p.inner.set_capacity(bytes)? as c_int)
    })
}

/// Bytes waiting in the pipe, readable without blocking (`FIONREAD`).
#[no_mangle]
pub extern "C" fn ripc_pipe_available(p: *const ripc_pipe) -> c_int {
    ffi_boundary!({
        let p = super::handle::get(p)?;
        Ok(p.inner.available()?.min(c_int::MAX as usize) as c_int)
    })
}

/// Turns non-blocking mode on (`on != 0`) or off for one end.
#[no_mangle]
pub extern "C" fn ripc_pipe_set_nonblocking(p: *const ripc_pipe, end: c_int, on: c_int) -> c_int {
    ffi_boundary!({
        let p = super::handle::get(p)?;
        p.inner.set_nonblocking(End::from_c(end)?, on != 0)?;
        Ok(0)
    })
}

/// Turns `SIGPIPE` suppression on (`on != 0`) or off for this handle's
/// writes (see `RIPC_PIPE_NOSIGPIPE`).
#[no_mangle]
pub extern "C" fn ripc_pipe_set_nosigpipe(p: *const ripc_pipe, on: c_int) -> c_int {
    ffi_boundary!({
        let p = super::handle::get(p)?;
        p.inner.set_nosigpipe(on != 0);
        Ok(0)
    })
}

/// Forks a child connected to end `end` the way a shell's `|` does.
///
/// With `child_fd >= 0` the child gets `end` as descriptor `child_fd`
/// (0 to read the pipe on stdin, 1 to write it on stdout) and the handle's
/// own descriptors are closed in the child. With `child_fd < 0` the child
/// keeps `end` open in its copy of the handle and only the other end is
/// closed (the article's pipe+fork pattern). In the parent, `end` is closed
/// and the other end stays open. Returns the child's pid in the parent, 0
/// in the child, -1 with errno on failure (nothing closed).
#[no_mangle]
pub extern "C" fn ripc_pipe_fork(p: *mut ripc_pipe, end: c_int, child_fd: c_int) -> libc::pid_t {
    ffi_boundary!({
        let p = super::handle::get(p)?;
        p.inner.fork_connected(End::from_c(end)?, child_fd)
    })
}

/// Runs a program with end `end` as its descriptor `child_fd`
/// (`posix_spawnp`: `argv[0]` is searched in `PATH`; `argv` ends with
/// NULL), then closes `end` in the caller. The child keeps no other
/// descriptor of this pipe. Example, `producer | wc -c`:
/// `ripc_pipe_spawn(p, RIPC_PIPE_READ, 0, (const char *[]){"wc", "-c", NULL})`
/// then write to `p` and close its write end. Returns the child's pid.
#[no_mangle]
pub extern "C" fn ripc_pipe_spawn(
    p: *mut ripc_pipe,
    end: c_int,
    child_fd: c_int,
    argv: *const *const c_char,
) -> libc::pid_t {
    ffi_boundary!({
        let p = super::handle::get(p)?;
        let args = argv_strings(argv)?;
        p.inner.spawn_connected(End::from_c(end)?, child_fd, &args)
    })
}

/// Creates a named pipe at `path` with permission bits `mode` (the umask
/// applies, as for `mkfifo(3)`). `flags`: 0 or `RIPC_FIFO_EXIST_OK` (an
/// existing FIFO is success; anything else there is still `EEXIST`).
#[no_mangle]
pub extern "C" fn ripc_fifo_create(path: *const c_char, mode: libc::mode_t, flags: c_int) -> c_int {
    ffi_boundary!({
        if flags & !RIPC_FIFO_EXIST_OK != 0 || mode & !0o7777 != 0 {
            return Err(Errno::EINVAL);
        }
        fifo_create(cstr(path)?, mode, flags & RIPC_FIFO_EXIST_OK != 0)?;
        Ok(0)
    })
}

/// Opens the FIFO at `path` for reading (`end == RIPC_PIPE_READ`) or
/// writing (`RIPC_PIPE_WRITE`). Opening waits until the other side opens
/// too, as `open(2)` on a FIFO does:
/// - `timeout_ms < 0`: wait as long as it takes (`EINTR` if a handler runs);
/// - `timeout_ms >= 0`: wait at most that long, then fail with `ETIMEDOUT`;
/// - `flags & RIPC_PIPE_NONBLOCK`: never wait (the kernel's `O_NONBLOCK`
///   open: a reader succeeds at once, a writer without reader gets `ENXIO`)
///   and the handle's reads and writes are non-blocking; `timeout_ms` is
///   ignored.
///
/// Other flags: `RIPC_PIPE_INHERIT`, `RIPC_PIPE_NOSIGPIPE`. A path that is
/// not a FIFO gives `EINVAL`. Returns a handle with one end, or NULL.
#[no_mangle]
pub extern "C-unwind" fn ripc_fifo_open(
    path: *const c_char,
    end: c_int,
    flags: c_int,
    timeout_ms: c_int,
) -> *mut ripc_pipe {
    ffi_boundary!(cancellation_point, {
        let path = cstr(path)?;
        let end = End::from_c(end)?;
        let timeout = (timeout_ms >= 0).then(|| Duration::from_millis(timeout_ms as u64));
        boxed(fifo_open(path, end, options(flags)?, timeout)?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fails(_: *mut c_void, _: usize) -> Result<()> {
        Err(Errno::EFAULT)
    }

    #[test]
    fn last_buf_remembers_whole_pages_and_nothing_else() {
        let seen = LastBuf::default();
        // Nothing remembered: the slow check decides.
        assert_eq!(seen.check(0x10_0010, 100, fails), Err(Errno::EFAULT));
        assert_eq!(seen.0.load(Ordering::Relaxed), 0);
        seen.check(0x10_0010, 100, readable_ok).unwrap();
        // The page 0x100000..0x101000 is remembered, only it.
        seen.check(0x10_0000, 4096, fails).unwrap();
        seen.check(0x10_0fff, 1, fails).unwrap();
        assert_eq!(seen.check(0x10_0fff, 2, fails), Err(Errno::EFAULT));
        assert_eq!(seen.check(0xf_ffff, 2, fails), Err(Errno::EFAULT));
        // A length that would wrap past the end is no hit.
        assert_eq!(seen.check(0x10_0010, usize::MAX, fails), Err(Errno::EFAULT));
        // A failed check leaves the remembered range as it was.
        assert_eq!(seen.check(0x20_0000, 1, fails), Err(Errno::EFAULT));
        seen.check(0x10_0000, 1, fails).unwrap();
        // A new range replaces it, across pages.
        seen.check(0x20_0ff0, 0x20, readable_ok).unwrap();
        seen.check(0x20_0000, 0x2000, fails).unwrap();
        assert_eq!(seen.check(0x10_0000, 1, fails), Err(Errno::EFAULT));
        // A range too long to pack is checked, not remembered.
        let huge = 4096 << LastBuf::LEN_BITS;
        seen.check(0x40_0000, huge, readable_ok).unwrap();
        seen.check(0x20_0000, 1, fails).unwrap();
        assert_eq!(seen.check(0x40_0000, 1, fails), Err(Errno::EFAULT));
    }

    fn readable_ok(_: *mut c_void, _: usize) -> Result<()> {
        Ok(())
    }
}
