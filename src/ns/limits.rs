//! Per-namespace limits: the kernel's defaults unless configured, raised
//! without privilege (environment at namespace creation, or
//! [`super::Ns::set_limit`] at any time).

use crate::error::{Errno, Result};

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

/// Limit `i` from its raw value (the control file's), clamped into
/// 1..=cap: a zero or out-of-range value (a scribbled file) takes the
/// default.
pub fn clamp(i: usize, raw: u64) -> u64 {
    let (_, def, cap) = TABLE[i];
    if raw == 0 || raw > cap {
        def
    } else {
        raw
    }
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

    /// The defaults, overridden by `RIPC_MSGMAX` … `RIPC_SEMMNI` when set.
    /// A value above the limit's hard cap is taken as the cap (stored
    /// as is, [`clamp`] would turn it into the default); 0 or an
    /// unparsable value gives the default.
    pub fn from_env() -> [u64; 10] {
        let mut v = [0u64; 10];
        for (i, (name, def, cap)) in TABLE.iter().enumerate() {
            v[i] = std::env::var(format!("RIPC_{}", name.to_ascii_uppercase()))
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .filter(|&x| x != 0)
                .map_or(*def, |x| x.min(*cap));
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
