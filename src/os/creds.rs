//! The caller's credentials (effective ids, supplementary groups), cached:
//! every message or semaphore operation checks permissions.

use super::proc::{coarse_now, install_atfork, stamp};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// euid << 32 | egid, and when it was read ([`stamp`]; 0: never; reset in
/// the child of `fork`).
static CREDS: AtomicU64 = AtomicU64::new(0);
static CREDS_AT: AtomicU64 = AtomicU64::new(0);

/// How long looked-up credentials are reused: 10 ms.
const CREDS_TTL: u64 = 10_000_000;

/// The caller's effective uid and gid.
///
/// `geteuid`/`getegid` are system calls (~140 ns each here), and every
/// message or semaphore operation checks permissions, so the answer is
/// reused for 10 ms, and forgotten in the child of `fork`: a process that
/// changes its own ids (`setuid`, …) is seen with its new ids at most
/// 10 ms later, at once in a child that does so before its first ripc
/// call. Objects whose mode grants the access to everyone need no ids at
/// all (see `Perm::check_mine`).
pub fn creds() -> Creds {
    creds_at(&coarse_now())
}

/// [`creds`], given a [`coarse_now`] reading taken by the caller (so that
/// one clock read serves a whole call). The clock is the wall clock: a
/// step of it either way only makes the cache refresh early (a backward
/// step wraps to a huge age).
#[inline(always)]
pub fn creds_at(now: &libc::timespec) -> Creds {
    // The cache is only filled by `creds_refresh`, which first installs the
    // fork handler that empties it in a child.
    let now = stamp(now);
    let at = CREDS_AT.load(Ordering::Acquire);
    if at != 0 && now.wrapping_sub(at) < CREDS_TTL {
        let v = CREDS.load(Ordering::Relaxed);
        return Creds {
            euid: (v >> 32) as u32,
            egid: v as u32,
        };
    }
    creds_refresh(now)
}

#[cold]
fn creds_refresh(now: u64) -> Creds {
    install_atfork();
    // SAFETY: these getters cannot fail.
    let c = unsafe {
        Creds {
            euid: libc::geteuid(),
            egid: libc::getegid(),
        }
    };
    CREDS.store((c.euid as u64) << 32 | c.egid as u64, Ordering::Relaxed);
    CREDS_AT.store(now.max(1), Ordering::Release);
    c
}

/// The credentials IPC permission checks use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Creds {
    /// effective user id
    pub euid: u32,
    /// effective group id
    pub egid: u32,
}

/// How many supplementary groups are cached (more: asked each time).
const NGROUPS_CACHED: usize = 32;
/// The caller's supplementary groups, cached like [`CREDS`] (10 ms, reset
/// in a fork child), filled on first need: `GROUPS_N` of them in `GROUPS`
/// (stored before `GROUPS_N`, which is stored with release), or
/// `GROUPS_MANY` when they do not fit. `GROUPS_AT` is when (0: never).
static GROUPS: [AtomicU32; NGROUPS_CACHED] = [const { AtomicU32::new(0) }; NGROUPS_CACHED];
static GROUPS_N: AtomicU32 = AtomicU32::new(0);
static GROUPS_AT: AtomicU64 = AtomicU64::new(0);
const GROUPS_MANY: u32 = u32::MAX;

/// Whether `gid` is one of the caller's supplementary groups. One
/// `getgroups` per 10 ms at most (like [`creds`]), unless the caller has
/// more than [`NGROUPS_CACHED`] of them. Two threads refreshing at once
/// store the same list, or (across a `setgroups`) lists the 10 ms
/// staleness allows anyway.
fn in_supplementary(gid: u32) -> bool {
    let now = stamp(&coarse_now());
    let at = GROUPS_AT.load(Ordering::Acquire);
    if at == 0 || now.wrapping_sub(at) >= CREDS_TTL {
        groups_refresh(now);
    }
    let n = GROUPS_N.load(Ordering::Acquire);
    if n == GROUPS_MANY {
        return getgroups_all().contains(&gid);
    }
    GROUPS[..(n as usize).min(NGROUPS_CACHED)]
        .iter()
        .any(|g| g.load(Ordering::Relaxed) == gid)
}

#[cold]
fn groups_refresh(now: u64) {
    install_atfork();
    let mut buf = [0 as libc::gid_t; NGROUPS_CACHED];
    // SAFETY: getgroups writes at most `NGROUPS_CACHED` entries into `buf`
    // (EINVAL, -1, when there are more).
    let n = unsafe { libc::getgroups(NGROUPS_CACHED as libc::c_int, buf.as_mut_ptr()) };
    if n < 0 {
        GROUPS_N.store(GROUPS_MANY, Ordering::Release);
    } else {
        let n = (n as usize).min(NGROUPS_CACHED);
        for (slot, g) in GROUPS.iter().zip(&buf[..n]) {
            slot.store(*g, Ordering::Relaxed);
        }
        GROUPS_N.store(n as u32, Ordering::Release);
    }
    GROUPS_AT.store(now.max(1), Ordering::Release);
}

/// All the supplementary groups (the rare caller with more than
/// [`NGROUPS_CACHED`]).
fn getgroups_all() -> Vec<libc::gid_t> {
    // SAFETY: the first call with size 0 returns the count; the second
    // fills a buffer of that size (and fails, -1, if the list grew).
    unsafe {
        let n = libc::getgroups(0, core::ptr::null_mut());
        if n <= 0 {
            return Vec::new();
        }
        let mut v = vec![0 as libc::gid_t; n as usize];
        let n = libc::getgroups(n, v.as_mut_ptr());
        v.truncate(n.max(0) as usize);
        v
    }
}

impl Creds {
    /// True when the caller is in group `gid` (effective or supplementary;
    /// the supplementary list is cached, see [`in_supplementary`]).
    pub fn in_group(&self, gid: u32) -> bool {
        self.egid == gid || in_supplementary(gid)
    }

    /// True for root (which bypasses IPC permission checks, as
    /// CAP_IPC_OWNER does in the kernel).
    pub fn privileged(&self) -> bool {
        self.euid == 0
    }
}

/// Forgets the cached credentials (in the child of `fork`).
pub(crate) fn forget() {
    CREDS_AT.store(0, Ordering::Relaxed);
    GROUPS_AT.store(0, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_group_knows_every_supplementary_group() {
        let c = creds();
        assert!(c.in_group(c.egid));
        let all = getgroups_all();
        for g in &all {
            assert!(c.in_group(*g), "supplementary group {g}");
            assert!(c.in_group(*g), "supplementary group {g}, from the cache");
        }
        let stranger = (1..u32::MAX)
            .map(|g| u32::MAX - g)
            .find(|g| *g != c.egid && !all.contains(g))
            .expect("some group we are not in");
        assert!(!c.in_group(stranger));
    }
}
