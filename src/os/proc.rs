//! Who we are (pid, process start time) without a system call on the fast
//! path, and whether another process is still alive.
//!
//! A pid alone does not name a process for long: `pid_max` is 32768 on many
//! machines, and a crash-test loop recycles pids within seconds. A process
//! is therefore named by `(pid, start time)`, the start time being field 22
//! of `/proc/<pid>/stat` (clock ticks since boot).

use super::name::StackName;
use core::ffi::CStr;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use once_cell::sync::OnceCell;

static PID: AtomicI32 = AtomicI32::new(0);
static START: AtomicU64 = AtomicU64::new(0);
static ATFORK: OnceCell<()> = OnceCell::new();

/// Nanoseconds per clock tick (`USER_HZ`, the unit of a start time), read
/// when the library is loaded; 0 when `/proc`'s conversion is not a plain
/// division (a tick that does not divide a second).
static TICK_NS: AtomicU64 = AtomicU64::new(0);

extern "C" fn reset_after_fork() {
    PID.store(0, Ordering::Relaxed);
    START.store(0, Ordering::Relaxed); // read from /proc when first needed
    super::creds::forget();
    // No lock word names the child: the forking thread's noted locks are
    // its parent's.
    crate::sync::held::forget_all();
    for slot in &FORK_HOOKS {
        let f = slot.load(Ordering::Acquire);
        if f != 0 {
            // SAFETY: `on_fork_child` stores nothing but `fn()` pointers
            // (as usize) in these slots.
            let hook = unsafe { core::mem::transmute::<usize, fn()>(f) };
            hook();
        }
    }
}

/// The fork hooks, as `fn()` pointers (0: free). Atomics, not a mutex: a
/// `fork` while another thread registers a hook must not leave the child
/// waiting for a lock that nobody in it will ever release.
static FORK_HOOKS: [AtomicUsize; 8] = [const { AtomicUsize::new(0) }; 8];

/// Registers `hook` to run in the child after `fork` (after the pid caches
/// are reset). Engines use it to keep per-process tables true (a handful
/// of hooks: 8 slots).
pub fn on_fork_child(hook: fn()) {
    install_atfork();
    let h = hook as usize;
    for slot in &FORK_HOOKS {
        match slot.compare_exchange(0, h, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            Err(v) if v == h => return,
            Err(_) => {}
        }
    }
    debug_assert!(false, "more fork hooks than slots");
}

pub(crate) fn install_atfork() {
    ATFORK.get_or_init(|| {
        // SAFETY: registering a plain extern "C" fn with no prepare/parent
        // handlers; pthread_atfork has no other preconditions.
        unsafe {
            libc::pthread_atfork(None, None, Some(reset_after_fork));
        }
    });
}

/// This process's pid, cached (reset in the child of `fork`).
#[inline]
pub fn my_pid() -> i32 {
    let p = PID.load(Ordering::Relaxed);
    if p != 0 {
        return p;
    }
    my_pid_first()
}

/// [`my_pid`] when it is not cached yet.
#[cold]
#[inline(never)]
fn my_pid_first() -> i32 {
    install_atfork();
    // SAFETY: getpid has no preconditions.
    let p = unsafe { libc::getpid() };
    PID.store(p, Ordering::Relaxed);
    p
}

/// This process's start time (see the module doc), cached; 0 when it
/// cannot be read (no descriptor left, no `/proc`): "unknown", which
/// other processes treat as such (they then check the pid alone, and
/// never take that for evidence of death). Not cached while unknown.
#[inline]
pub fn my_start() -> u64 {
    let s = START.load(Ordering::Relaxed);
    if s != 0 {
        return s;
    }
    my_start_first()
}

/// [`my_start`] when it is not cached (yet).
#[cold]
#[inline(never)]
fn my_start_first() -> u64 {
    match start_time(my_pid()) {
        Start::Known(s) => {
            START.store(s, Ordering::Relaxed);
            s
        }
        Start::Gone | Start::Unknown => 0,
    }
}

/// Reads this process's start time while the library is being loaded,
/// before the program can have used up its descriptors (a lock holder
/// whose start time is unknown is harder to tell from a scribble).
#[used]
#[link_section = ".init_array"]
static READ_START_AT_LOAD: extern "C" fn() = {
    extern "C" fn read_start() {
        // SAFETY: sysconf has no preconditions (glibc answers from the
        // auxiliary vector, without a system call).
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if hz > 0 && 1_000_000_000 % hz as u64 == 0 {
            TICK_NS.store(1_000_000_000 / hz as u64, Ordering::Relaxed);
        }
        let _ = my_start();
        find_vdso_clock();
    }
    read_start
};

/// What `/proc/<pid>/stat` says of a process's start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// running (or stopped), started at this tick (never 0)
    Known(u64),
    /// no such process, or a zombie: positively gone
    Gone,
    /// the file could not be read (no descriptor left, no memory, no
    /// `/proc`): nothing is known
    Unknown,
}

/// The path `/proc/<pid>/<tail>` built on the stack ([`StackName`]: no
/// allocation, so that the first look at a process's start time — in a
/// fork child's first call, or in a signal handler that interrupted
/// `malloc` — runs no allocator and touches no heap page; a fork child
/// took ~3 page faults more for the `format!` it was). 64 bytes: the
/// longest, `/proc/<pid>/task/<tid>/cgroup`, is 41.
pub(crate) fn proc_path(pid: i32, tail: &[u8]) -> StackName<64> {
    StackName::new()
        .push(b"/proc/")
        .num(pid.max(0) as u64)
        .push(b"/")
        .push(tail)
}

/// [`read_small`] of a stack-built path (`EINVAL` for one that did not
/// fit its buffer).
pub(crate) fn read_at<'a, const N: usize>(
    path: &StackName<N>,
    buf: &'a mut [MaybeUninit<u8>],
) -> Result<&'a str, i32> {
    read_small(path.as_cstr().map_err(|_| libc::EINVAL)?, buf)
}

/// A buffer for [`read_small`], left uninitialised (a zeroed one is a
/// `memset` of its length, in a fork child a page fault or two).
pub(crate) fn small_buf<const N: usize>() -> [MaybeUninit<u8>; N] {
    [MaybeUninit::uninit(); N]
}

/// Reads the whole of a small `/proc` file (`path` NUL-terminated) into
/// `buf` with one `read` (`std::fs::read_to_string` makes a `statx` and
/// up to six reads for a `stat` line): the text, or the errno. A file
/// that fills `buf` is an error (`EFBIG`): `/proc/<pid>/stat` is a few
/// hundred bytes.
///
/// Raw system calls: glibc's `open`/`read`/`close` are cancellation
/// points, and a cancellation must never act inside ripc (this runs in
/// the middle of any call that meets a busy lock: [`super::cancel`]).
pub(crate) fn read_small<'a>(path: &CStr, buf: &'a mut [MaybeUninit<u8>]) -> Result<&'a str, i32> {
    // SAFETY: `path` is NUL-terminated (a `CStr`); open returns a
    // descriptor we close below.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    } as i32;
    if fd < 0 {
        return Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO));
    }
    let mut n = 0usize;
    let r = loop {
        // SAFETY: the kernel writes at most `buf.len() - n` bytes into the
        // unused tail of `buf`, which we own (uninitialised bytes may be
        // written through a raw pointer).
        let r = unsafe {
            libc::syscall(
                libc::SYS_read,
                fd,
                buf[n..].as_mut_ptr().cast::<u8>(),
                buf.len() - n,
            )
        };
        if r < 0 {
            let e = std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO);
            if e == libc::EINTR {
                continue;
            }
            break Err(e);
        }
        if r == 0 {
            break Ok(());
        }
        n += r as usize;
        if n == buf.len() {
            break Err(libc::EFBIG);
        }
    };
    super::close_fd(fd);
    r?;
    // SAFETY: the first `n` bytes were written by `read` (the sum of what
    // each call returned), so they are initialised.
    let text = unsafe { core::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
    std::str::from_utf8(text).map_err(|_| libc::EIO)
}

/// The start time of process `pid` (see [`Start`]).
pub fn start_time(pid: i32) -> Start {
    start_and_stopped(pid).0
}

/// The start time of process `pid`, and whether it is stopped (state `T`,
/// stopped by a signal, or `t`, stopped by a tracer), from one read of
/// `/proc/<pid>/stat`.
pub fn start_and_stopped(pid: i32) -> (Start, bool) {
    let (start, state) = start_and_state(pid);
    (start, matches!(state, Some(b'T' | b't')))
}

/// The start time of process `pid` and its state letter (field 3), from
/// one read of `/proc/<pid>/stat`.
fn start_and_state(pid: i32) -> (Start, Option<u8>) {
    if pid <= 0 {
        return (Start::Gone, None);
    }
    let mut buf = small_buf::<1024>();
    match read_at(&proc_path(pid, b"stat"), &mut buf) {
        Ok(stat) => (parse_start(stat), state_of(stat).map(|s| s.as_bytes()[0])),
        Err(e) if e == libc::ENOENT || e == libc::ESRCH => (Start::Gone, None),
        Err(_) => (Start::Unknown, None),
    }
}

/// The state field of a `/proc/<pid>/stat` line (field 3, after the
/// command name in parentheses).
pub(crate) fn state_of(stat: &str) -> Option<&str> {
    stat.rfind(')')
        .and_then(|i| stat[i + 1..].split_ascii_whitespace().next())
}

/// Whether a `/proc/<pid>/stat` line says the process is stopped.
#[cfg(test)]
fn parse_stopped(stat: &str) -> bool {
    matches!(state_of(stat), Some("T" | "t"))
}

/// The effective uid of process `pid` (the second `Uid:` field of
/// `/proc/<pid>/status`), `None` when it cannot be read.
pub fn euid_of(pid: i32) -> Option<u32> {
    if pid <= 0 {
        return None;
    }
    let mut buf = small_buf::<4096>();
    let status = read_at(&proc_path(pid, b"status"), &mut buf).ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_ascii_whitespace().nth(2)?.parse().ok()
}

/// The start time a `/proc/<pid>/stat` line says (see [`Start`]).
fn parse_start(stat: &str) -> Start {
    // comm (field 2) may contain spaces and parentheses: split after the
    // last ')'. Field 22 is then the 20th field of the rest.
    let parse = || -> Option<(u64, bool)> {
        let rest = &stat[stat.rfind(')')? + 1..];
        let st: u64 = rest.split_ascii_whitespace().nth(19)?.parse().ok()?;
        // A zombie has exited: it holds nothing.
        let state = rest.split_ascii_whitespace().next()?;
        Some((st.max(1), state == "Z" || state == "X"))
    };
    match parse() {
        Some((_, true)) => Start::Gone,
        Some((s, false)) => Start::Known(s),
        None => Start::Unknown,
    }
}

/// The start time of `pid` when known, else 0 (for tests).
#[cfg(test)]
pub fn start_time_of(pid: i32) -> u64 {
    match start_time(pid) {
        Start::Known(s) => s,
        _ => 0,
    }
}

/// True unless `kill(pid, 0)` says there is no such process: the cheap
/// check (a zombie, or a recycled pid, still counts as existing).
pub fn pid_exists(pid: i32) -> bool {
    pid > 0 && kill0(pid) != -(libc::ESRCH as i64)
}

/// `kill(pid, 0)`: 0 or minus the error number. A system call made here,
/// not through the C library, on the architectures this is written for:
/// a liveness check is often the one failing call of a fork child (the
/// sweep of an `IPC_STAT` meets the previous child's slot), and through
/// libc it ran `kill`'s, `__errno_location`'s and the errno reader's code
/// pages and wrote errno's: page faults there.
fn kill0(pid: i32) -> i64 {
    // SAFETY: the kill system call with signal 0 checks existence and
    // permission and has no other effect.
    unsafe { super::raw_syscall(libc::SYS_kill, [pid as core::ffi::c_long, 0, 0, 0, 0, 0]) }
}

/// One line of a `/proc/<pid>/maps` file: `[start, end)` maps the file
/// `dev`/`ino` (both as the kernel prints them).
#[derive(Debug, Clone, Copy)]
pub struct MapLine<'a> {
    /// first address
    pub start: u64,
    /// one past the last address
    pub end: u64,
    /// device, `major:minor` in hex
    pub dev: &'a str,
    /// inode, decimal (`0`: no file)
    pub ino: &'a str,
}

/// The well-formed lines of a `/proc/<pid>/maps` text.
pub fn map_lines(text: &str) -> impl Iterator<Item = MapLine<'_>> {
    text.lines().filter_map(|l| {
        let mut f = l.split_ascii_whitespace();
        let (range, _perms, off, dev, ino) =
            (f.next()?, f.next()?, f.next()?, f.next()?, f.next()?);
        let hex = |s: &str| u64::from_str_radix(s, 16).ok();
        let (a, b) = range.split_once('-')?;
        hex(off)?; // a well-formed line has a hex offset (unused here)
        Some(MapLine {
            start: hex(a)?,
            end: hex(b)?,
            dev,
            ino,
        })
    })
}

/// Whether process `pid` maps the file that this process maps at `addr`
/// (same device and inode). A holder of a lock that lies in a file mapping
/// necessarily maps that file, so a live process that does not (a kernel
/// thread, init, an unrelated program whose pid was scribbled into the
/// lock word) is not the holder. When their maps cannot be read (another
/// user's process; init, unless we are root — in a sandbox even then),
/// no when the process is positively no member of this process's
/// namespaces (it holds no liveness mark: [`crate::ns::unmarked_everywhere`]).
/// When it cannot be told (no file here, or a marked process whose maps
/// we may not read), yes.
pub fn maps_file_at(pid: i32, addr: usize) -> bool {
    if !is_process(pid) {
        return false;
    }
    let Ok(mine) = std::fs::read_to_string("/proc/self/maps") else {
        return true;
    };
    let a = addr as u64;
    let Some(here) = map_lines(&mine).find(|m| m.start <= a && a < m.end) else {
        return true;
    };
    if here.ino == "0" {
        return true;
    }
    let theirs = match std::fs::read_to_string(format!("/proc/{pid}/maps")) {
        Ok(t) => t,
        // Another user's process, or init: one that is no member of this
        // process's namespaces holds no lock of theirs.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM)) => {
            return !crate::ns::unmarked_everywhere(pid)
        }
        // No descriptor left, no memory: nothing is known.
        Err(_) => return true,
    };
    let held = map_lines(&theirs).any(|m| m.dev == here.dev && m.ino == here.ino);
    held
}

/// False when the kernel says `pid` names no process: no such task, or a
/// thread that does not lead its thread group (`kill(tid, 0)` succeeds for
/// any thread, and `/proc/<tid>` can be read though `ls /proc` does not
/// list it). A holder records its process id, never a thread's, so a
/// word naming a thread was scribbled on — here init's threads have the
/// small ids a scribble writes (`pidfd_open`, Linux 5.3: `EINVAL` for
/// such a thread, `ENOENT` since 6.9). True when it cannot be told (an older kernel, no
/// descriptor left).
pub fn is_process(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: pidfd_open takes a pid and flags by value; the descriptor it
    // returns is closed at once.
    let fd = unsafe {
        super::raw_syscall(
            libc::SYS_pidfd_open,
            [pid as core::ffi::c_long, 0, 0, 0, 0, 0],
        )
    };
    if fd >= 0 {
        // SAFETY: closing the descriptor just opened.
        unsafe { super::raw_syscall(libc::SYS_close, [fd as core::ffi::c_long, 0, 0, 0, 0, 0]) };
        return true;
    }
    // EINVAL before Linux 6.9, ENOENT since (PIDFD_THREAD): a thread
    // that does not lead its group.
    ![libc::EINVAL, libc::ENOENT, libc::ESRCH].contains(&(-fd as i32))
}

/// Whether a process is alive, as far as can be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// it exists (with the recorded start time, when one was given)
    Alive,
    /// positively gone: no such pid, a zombie, or another process now
    /// has the pid (a different start time)
    Dead,
    /// it exists, but its start time could not be read (the pid may have
    /// been reused; nothing says so): never to be taken for dead
    Unknown,
}

/// The liveness of the process named by `(pid, start)`. `start == 0`
/// means "unknown": then only the pid is checked. Errs toward safety:
/// [`Liveness::Dead`] only on positive evidence.
pub fn liveness(pid: i32, start: u64) -> Liveness {
    liveness_and_stopped(pid, start).0
}

/// [`liveness`], and whether the process is stopped: state `T` or `t`
/// (see [`start_and_stopped`]), or, when it sleeps (`S`, `D`: how a task
/// of the cgroup freezer shows), every thread held by a cgroup that
/// reports itself frozen ([`super::cgroup::process_frozen`]; a running
/// process costs nothing more than the `stat` read). False unless it is
/// positively alive.
pub fn liveness_and_stopped(pid: i32, start: u64) -> (Liveness, bool) {
    if !pid_exists(pid) {
        return (Liveness::Dead, false);
    }
    match start_and_state(pid) {
        (Start::Gone, _) => (Liveness::Dead, false),
        (Start::Unknown, _) => (Liveness::Unknown, false),
        (Start::Known(s), state) if start == 0 || s == start => {
            let stopped = match state {
                Some(b'T' | b't') => true,
                Some(b'S' | b'D') => super::cgroup::process_frozen(pid),
                _ => false,
            };
            (Liveness::Alive, stopped)
        }
        (Start::Known(_), _) => (Liveness::Dead, false),
    }
}

/// False only when the process named by `(pid, start)` is positively
/// gone (see [`liveness`]): whoever frees what a process holds after
/// `!alive(..)` never frees what a live one holds.
pub fn alive(pid: i32, start: u64) -> bool {
    liveness(pid, start) != Liveness::Dead
}

/// The coarse wall clock: the vDSO reads it without a system call or a
/// time-stamp-counter read (~5 ns here), with a resolution of a few ms.
/// One read serves both the credentials' freshness ([`super::creds::creds_at`]) and the
/// seconds an engine records (`sem_otime`, …).
///
/// The vDSO's function is called directly when it was found at load
/// ([`VDSO_CLOCK`]): glibc's `clock_gettime` wrapper around it (its clock
/// checks, an indirect call, the errno convention) cost 2.2 ns of the
/// 7.4 a read took on the development VM (a C loop, 2026-12-07), once
/// per `semop` on a set that does not grant the access to everyone.
#[inline]
pub fn coarse_now() -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let f = VDSO_CLOCK.load(Ordering::Relaxed);
    if f != 0 {
        // SAFETY: `f` is the vDSO's `clock_gettime` (found by
        // `find_vdso_clock` under its documented name), whose C signature
        // this is; the vDSO stays mapped for the life of the process. It
        // fills the timespec and returns 0, or a negative errno and leaves
        // it to the wrapper below.
        let f: VdsoClock = unsafe { core::mem::transmute::<usize, VdsoClock>(f) };
        // SAFETY: see above; `ts` is a valid, writable timespec.
        if unsafe { f(libc::CLOCK_REALTIME_COARSE, &mut ts) } == 0 {
            return ts;
        }
    }
    // SAFETY: clock_gettime fills the timespec; CLOCK_REALTIME_COARSE is
    // always available on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
    ts
}

/// The vDSO's `clock_gettime`.
type VdsoClock = unsafe extern "C" fn(libc::clockid_t, *mut libc::timespec) -> libc::c_int;

/// The vDSO's `clock_gettime` as an address (0: not found, or not looked
/// for yet: glibc's `clock_gettime` is used). Set once, while the library
/// is loaded ([`READ_START_AT_LOAD`]): `dlopen` is not async-signal-safe,
/// and a first `semop` may be a signal handler's.
static VDSO_CLOCK: AtomicUsize = AtomicUsize::new(0);

/// Finds the vDSO's `clock_gettime` (its name per architecture, as the
/// kernel's `vdso(7)` gives it) among the objects already loaded: the vDSO
/// is one of them, `linux-vdso.so.1`, when glibc uses it (not under
/// valgrind, which hides it: glibc's function is used then).
fn find_vdso_clock() {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    const NAME: Option<&CStr> = Some(c"__vdso_clock_gettime");
    #[cfg(all(target_os = "linux", target_arch = "aarch64"))]
    const NAME: Option<&CStr> = Some(c"__kernel_clock_gettime");
    #[cfg(not(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    )))]
    const NAME: Option<&CStr> = None;
    let Some(name) = NAME else { return };
    // SAFETY: dlopen of an object already loaded (RTLD_NOLOAD: nothing is
    // loaded, NULL when it is not there) and dlsym of a NUL-terminated
    // name in it; the handle is kept (the vDSO is never unloaded).
    let f = unsafe {
        let h = libc::dlopen(
            c"linux-vdso.so.1".as_ptr(),
            libc::RTLD_NOW | libc::RTLD_NOLOAD,
        );
        if h.is_null() {
            // Not left for the program's next dlerror() to report.
            libc::dlerror();
            return;
        }
        let f = libc::dlsym(h, name.as_ptr());
        if f.is_null() {
            libc::dlerror();
        }
        f
    };
    VDSO_CLOCK.store(f as usize, Ordering::Relaxed);
}

/// A [`coarse_now`] reading in nanoseconds (never 0).
pub(crate) fn stamp(ts: &libc::timespec) -> u64 {
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
        .max(1)
}

/// Whether this process may run on more than one CPU (its affinity mask,
/// re-read at most every 100 ms: `taskset -p` can change it at any time).
pub fn many_cpus() -> bool {
    static AT: AtomicU64 = AtomicU64::new(0);
    static MANY: AtomicU32 = AtomicU32::new(1);
    let now = stamp(&coarse_now());
    let at = AT.load(Ordering::Relaxed);
    if at == 0 || now.wrapping_sub(at) >= 100_000_000 {
        // SAFETY: sched_getaffinity fills a zeroed cpu_set_t of the size
        // given; CPU_COUNT only reads it.
        let n = unsafe {
            let mut set: libc::cpu_set_t = core::mem::zeroed();
            if libc::sched_getaffinity(0, core::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
                libc::CPU_COUNT(&set)
            } else {
                2
            }
        };
        MANY.store((n > 1) as u32, Ordering::Relaxed);
        AT.store(now, Ordering::Relaxed);
    }
    MANY.load(Ordering::Relaxed) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stack-built paths say what `format!` said (a negative pid, a
    /// bug, reads as 0), a path too long for the buffer is refused, and a
    /// reading through them is this process's own.
    #[test]
    fn proc_paths_are_built_on_the_stack_as_format_built_them() {
        for pid in [0, 1, 7, 10, 12345, 4_194_304, i32::MAX] {
            assert_eq!(
                proc_path(pid, b"stat").as_str(),
                format!("/proc/{pid}/stat")
            );
        }
        assert_eq!(proc_path(-1, b"stat").as_str(), "/proc/0/stat");
        let p = proc_path(42, b"task/").num(43).push(b"/cgroup");
        assert_eq!(p.as_str(), "/proc/42/task/43/cgroup");
        assert_eq!(
            p.as_cstr().map(CStr::to_bytes),
            Ok(&b"/proc/42/task/43/cgroup"[..])
        );
        let long = proc_path(1, "x".repeat(80).as_bytes());
        assert_eq!(long.as_cstr(), Err(crate::error::Errno::EINVAL));
        let mut buf = small_buf::<1024>();
        assert_eq!(read_at(&long, &mut buf), Err(libc::EINVAL));
        let mine = read_at(&proc_path(my_pid(), b"stat"), &mut buf)
            .map(|t| t.split_ascii_whitespace().next().map(str::to_owned));
        assert_eq!(mine, Ok(Some(my_pid().to_string())));
        assert!(matches!(start_time(my_pid()), Start::Known(s) if s == my_start()));
    }

    /// A thread of this process is no process (what a lock word naming a
    /// thread id means: a scribble); this process, init, are.
    #[test]
    fn a_thread_that_does_not_lead_its_group_is_no_process() {
        assert!(is_process(my_pid()) && is_process(1));
        assert!(!is_process(0x3fff_fff0) && !is_process(0) && !is_process(-3));
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            // SAFETY: gettid has no preconditions.
            tx.send(unsafe { libc::gettid() }).unwrap();
            let _ = done_rx.recv();
        });
        let tid = rx.recv().unwrap();
        assert!(pid_exists(tid), "kill(tid, 0) succeeds for a thread");
        assert!(!is_process(tid), "thread {tid} is not a process");
        drop(done_tx);
        t.join().unwrap();
    }

    #[test]
    fn kill0_is_kills() {
        assert_eq!(kill0(my_pid()), 0);
        assert_eq!(kill0(0x3fff_fff0), -(libc::ESRCH as i64));
        assert!(pid_exists(my_pid()) && pid_exists(1));
        assert!(!pid_exists(0x3fff_fff0) && !pid_exists(0) && !pid_exists(-5));
        // A child that exited and was reaped is gone; a zombie is not.
        // SAFETY: the child leaves at once with _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: leaving the child.
            unsafe { libc::_exit(0) };
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(pid_exists(pid), "a zombie still exists");
        let mut st = 0;
        // SAFETY: reaping our child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut st, 0) }, pid);
        assert!(!pid_exists(pid));
    }

    #[test]
    fn the_state_field_says_stopped() {
        let line = |st: &str| {
            format!("42 (a) b) {st} 1 42 42 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 1 0 777 0")
        };
        for (st, stopped) in [
            ("T", true),
            ("t", true),
            ("S", false),
            ("R", false),
            ("D", false),
        ] {
            assert_eq!(parse_stopped(&line(st)), stopped, "{st}");
            assert_eq!(parse_start(&line(st)), Start::Known(777), "{st}");
        }
        assert!(!parse_stopped("garbage"));
        assert!(!start_and_stopped(my_pid()).1, "this process runs");
    }

    /// A child of `fork` does not keep its parent's start time: what it
    /// records as its own is what `/proc` says of it. (A shortcut that
    /// took it from boot-clock readings around `fork` was removed: it gave
    /// live children start times `/proc` contradicted, and others then
    /// took them for dead; CHANGELOG.) The child only makes system calls
    /// (no allocation: the test harness has threads).
    #[test]
    fn a_fork_child_records_its_own_start_time() {
        let parent = my_start();
        assert_ne!(parent, 0);
        for _ in 0..50 {
            // SAFETY: the child only reads atomics, makes system calls
            // into stack buffers and leaves with _exit.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0);
            if pid == 0 {
                let mine = my_start();
                let mut buf = small_buf::<1024>();
                let path = CStr::from_bytes_with_nul(b"/proc/self/stat\0").unwrap();
                let code = match read_small(path, &mut buf).map(parse_start) {
                    Ok(Start::Known(s)) if s == mine => 0,
                    _ => 1,
                };
                // SAFETY: leaving the child without running anything else.
                unsafe { libc::_exit(code) };
            }
            let mut st = 0;
            // SAFETY: waiting for our own child.
            assert_eq!(unsafe { libc::waitpid(pid, &mut st, 0) }, pid);
            assert!(libc::WIFEXITED(st));
            assert_eq!(
                libc::WEXITSTATUS(st),
                0,
                "a child's start time differs from /proc's"
            );
        }
    }

    #[test]
    fn self_is_alive_with_its_start() {
        assert!(alive(my_pid(), my_start()));
        assert!(!alive(my_pid(), my_start() + 12345));
        assert!(!alive(-1, 0));
        assert_eq!(liveness(my_pid(), my_start()), Liveness::Alive);
        assert_eq!(start_time(0x3fff_fff0), Start::Gone);
        assert_eq!(liveness(0x3fff_fff0, 0), Liveness::Dead);
    }
}
