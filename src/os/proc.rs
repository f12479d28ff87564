//! Who we are (pid, process start time) without a system call on the fast
//! path, and whether another process is still alive.
//!
//! A pid alone does not name a process for long: `pid_max` is 32768 on many
//! machines, and a crash-test loop recycles pids within seconds. A process
//! is therefore named by `(pid, start time)`, the start time being field 22
//! of `/proc/<pid>/stat` (clock ticks since boot).

use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use once_cell::sync::OnceCell;

static PID: AtomicI32 = AtomicI32::new(0);
static START: AtomicU64 = AtomicU64::new(0);
static ATFORK: OnceCell<()> = OnceCell::new();

extern "C" fn reset_after_fork() {
    PID.store(0, Ordering::Relaxed);
    START.store(0, Ordering::Relaxed);
    super::creds::forget();
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
pub fn my_pid() -> i32 {
    let p = PID.load(Ordering::Relaxed);
    if p != 0 {
        return p;
    }
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
pub fn my_start() -> u64 {
    let s = START.load(Ordering::Relaxed);
    if s != 0 {
        return s;
    }
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
        let _ = my_start();
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

/// Reads the whole of a small `/proc` file (`path` NUL-terminated) into
/// `buf` with one `read` (`std::fs::read_to_string` makes a `statx` and
/// up to six reads for a `stat` line): the text, or the errno. A file
/// that fills `buf` is an error (`EFBIG`): `/proc/<pid>/stat` is a few
/// hundred bytes.
fn read_small<'a>(path: &str, buf: &'a mut [u8]) -> Result<&'a str, i32> {
    // SAFETY: `path` ends with a NUL (the callers' literal); open returns a
    // descriptor we close below.
    let fd = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO));
    }
    let mut n = 0usize;
    let r = loop {
        // SAFETY: reading into the unused tail of `buf`, which we own.
        let r = unsafe { libc::read(fd, buf[n..].as_mut_ptr().cast(), buf.len() - n) };
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
    // SAFETY: closing the descriptor opened above, once.
    unsafe { libc::close(fd) };
    r?;
    std::str::from_utf8(&buf[..n]).map_err(|_| libc::EIO)
}

/// The start time of process `pid` (see [`Start`]).
pub fn start_time(pid: i32) -> Start {
    if pid <= 0 {
        return Start::Gone;
    }
    let mut buf = [0u8; 1024];
    let stat = match read_small(&format!("/proc/{pid}/stat\0"), &mut buf) {
        Ok(s) => s,
        Err(e) if e == libc::ENOENT || e == libc::ESRCH => return Start::Gone,
        Err(_) => return Start::Unknown,
    };
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
    // SAFETY: kill with signal 0 only checks existence and permission.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0
            || crate::error::Errno::last() != crate::error::Errno::ESRCH)
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
/// lock word) is not the holder. When it cannot be told (no file here, or
/// another user's maps file we may not read, as init's unless we are
/// root), yes.
pub fn maps_file_at(pid: i32, addr: usize) -> bool {
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
    let Ok(theirs) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
        return true;
    };
    let held = map_lines(&theirs).any(|m| m.dev == here.dev && m.ino == here.ino);
    held
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
    if !pid_exists(pid) {
        return Liveness::Dead;
    }
    match start_time(pid) {
        Start::Gone => Liveness::Dead,
        Start::Unknown => Liveness::Unknown,
        Start::Known(s) if start == 0 || s == start => Liveness::Alive,
        Start::Known(_) => Liveness::Dead,
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
#[inline]
pub fn coarse_now() -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills the timespec; CLOCK_REALTIME_COARSE is
    // always available on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
    ts
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
