//! Per-namespace limits: the machine's IPC sysctls (`/proc/sys/kernel/
//! msgmax`, `msgmnb`, `msgmni`, `shmmax`, `shmall`, `shmmni`, `sem`) as the
//! kernel applies them, unless set for the namespace — without privilege:
//! the environment at namespace creation, or [`super::Ns::set_limit`] by
//! the namespace's owner at any time.

use crate::error::{Errno, Result};
use core::sync::atomic::{AtomicU64, Ordering};

/// One namespace's limits, as the kernel names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// largest message, bytes (kernel default 8192)
    pub msgmax: u64,
    /// default (and largest without privilege) bytes in a queue (16384)
    pub msgmnb: u64,
    /// queues in the namespace (32000)
    pub msgmni: u64,
    /// largest segment, bytes
    pub shmmax: u64,
    /// total shared memory, pages
    pub shmall: u64,
    /// segments in the namespace (4096)
    pub shmmni: u64,
    /// semaphores per set (32000)
    pub semmsl: u64,
    /// semaphores in the namespace (1024000000)
    pub semmns: u64,
    /// operations per semop (500)
    pub semopm: u64,
    /// sets in the namespace (32000)
    pub semmni: u64,
}

/// Names, defaults and hard caps, in the order the control file stores them.
pub const TABLE: [(&str, u64, u64); 10] = [
    ("msgmax", 8192, 1 << 26),
    ("msgmnb", 16384, 1 << 30),
    ("msgmni", 32000, 32768),
    ("shmmax", 0x7fff_ffff_ffff_f000, 0x7fff_ffff_ffff_f000),
    (
        "shmall",
        0x7fff_ffff_ffff_f000 >> 12,
        0x7fff_ffff_ffff_f000 >> 12,
    ),
    ("shmmni", 4096, 32768),
    ("semmsl", 32000, 32000),
    ("semmns", 1_024_000_000, 1_024_000_000),
    ("semopm", 500, 32000),
    ("semmni", 32000, 32768),
];

/// Indexes into [`TABLE`] (and the control file) of the limits the hot
/// paths read one at a time (see [`super::Ns::limit`]).
pub const MSGMAX: usize = 0;
/// See [`MSGMAX`].
pub const MSGMNB: usize = 1;
/// See [`MSGMAX`].
pub const SEMOPM: usize = 8;

/// Limit `i` from its raw value (the control file's): 0 means "not set:
/// the machine's" ([`system`]); an out-of-range value (a scribbled file)
/// takes the default. Inline: `msgsnd` asks for `msgmax` on every call.
#[inline(always)]
pub fn clamp(i: usize, raw: u64) -> u64 {
    if raw == 0 {
        return system(i);
    }
    let (_, def, cap) = TABLE[i];
    if raw > cap {
        def
    } else {
        raw
    }
}

/// Where the kernel keeps each limit: a file of /proc/sys/kernel, and the
/// field in it (`sem` holds four: semmsl semmns semopm semmni).
const SYSCTL: [(&str, usize); 10] = [
    ("msgmax", 0),
    ("msgmnb", 0),
    ("msgmni", 0),
    ("shmmax", 0),
    ("shmall", 0),
    ("shmmni", 0),
    ("sem", 0),
    ("sem", 1),
    ("sem", 2),
    ("sem", 3),
];

/// The machine's value of limit `i` (its IPC sysctl, as the kernel would
/// apply it now), within 1..=the limit's cap; the default when it cannot
/// be read. Read at most once a second per limit: the hot paths ask for
/// `msgmax` and `semopm` on every call.
#[inline(always)]
pub fn system(i: usize) -> u64 {
    // time(): the coarse clock's seconds, one load in the vDSO (~1 ns
    // against ~5.5 for clock_gettime(CLOCK_REALTIME_COARSE)).
    // SAFETY: time(2) with a NULL argument writes nothing.
    let now = unsafe { libc::time(core::ptr::null_mut()) } as u64 + 1;
    if let (Some(at), Some(val)) = (SYSTEM_AT.get(i), SYSTEM_VAL.get(i)) {
        if at.load(Ordering::Relaxed) == now {
            let v = val.load(Ordering::Relaxed);
            if v != 0 {
                return v;
            }
        }
    }
    system_refresh(i, now)
}

/// The machine's limits as last read ([`system`]), and the second each
/// was read in (time() + 1; 0: never).
static SYSTEM_VAL: [AtomicU64; 10] = [const { AtomicU64::new(0) }; 10];
static SYSTEM_AT: [AtomicU64; 10] = [const { AtomicU64::new(0) }; 10];

/// [`system`] when its value is older than this second: the sysctl read.
#[cold]
#[inline(never)]
fn system_refresh(i: usize, now: u64) -> u64 {
    let (_, def, cap) = TABLE[i];
    let v = read_sysctl(i).map_or(def, |v| v.clamp(1, cap));
    SYSTEM_VAL[i].store(v, Ordering::Relaxed);
    SYSTEM_AT[i].store(now, Ordering::Relaxed);
    v
}

fn read_sysctl(i: usize) -> Option<u64> {
    let (file, field) = SYSCTL[i];
    let text = std::fs::read_to_string(format!("/proc/sys/kernel/{file}")).ok()?;
    let v: i128 = text.split_ascii_whitespace().nth(field)?.parse().ok()?;
    // Negative or zero values (shmmax can be set to -1: no limit) mean
    // "as large as allowed".
    Some(if v <= 0 {
        u64::MAX
    } else {
        v.min(u64::MAX as i128) as u64
    })
}

impl Limits {
    /// From raw values (the control file's), each through [`clamp`].
    pub fn from_raw(v: &[u64; 10]) -> Limits {
        let f = |i: usize| clamp(i, v[i]);
        Limits {
            msgmax: f(0),
            msgmnb: f(1),
            msgmni: f(2),
            shmmax: f(3),
            shmall: f(4),
            shmmni: f(5),
            semmsl: f(6),
            semmns: f(7),
            semopm: f(8),
            semmni: f(9),
        }
    }

    /// What a new namespace's limits file records: `RIPC_MSGMAX` …
    /// `RIPC_SEMMNI` when set (a value above the limit's hard cap is taken
    /// as the cap), else 0: the machine's IPC sysctls, as the kernel
    /// applies them at the time of each use ([`system`]). 0 or an
    /// unparsable value is "not set".
    pub fn from_env() -> [u64; 10] {
        let mut v = [0u64; 10];
        for (i, (name, _, cap)) in TABLE.iter().enumerate() {
            v[i] = std::env::var(format!("RIPC_{}", name.to_ascii_uppercase()))
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .filter(|&x| x != 0)
                .map_or(0, |x| x.min(*cap));
        }
        v
    }

    /// Index of a limit by name (case-insensitive), `EINVAL` if unknown.
    pub fn index(name: &str) -> Result<usize> {
        TABLE
            .iter()
            .position(|(n, _, _)| n.eq_ignore_ascii_case(name))
            .ok_or(Errno::EINVAL)
    }
}
