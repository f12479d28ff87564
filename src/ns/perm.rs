//! The kernel's `ipcperms` and owner checks, over the perm block every
//! object carries.

use crate::error::{Errno, Result};
use crate::os::creds::Creds;
use core::sync::atomic::{AtomicI32, AtomicU32, Ordering};

/// Permission block of an object, as it lies in shared memory.
#[repr(C)]
#[derive(Debug)]
pub struct PermShared {
    /// key the object was created with (`IPC_PRIVATE` = 0)
    pub key: AtomicI32,
    /// owner uid
    pub uid: AtomicU32,
    /// owner gid
    pub gid: AtomicU32,
    /// creator uid
    pub cuid: AtomicU32,
    /// creator gid
    pub cgid: AtomicU32,
    /// low 9 bits: rwx for owner, group, other (x unused); kind-specific
    /// flags above (SHM_DEST, SHM_LOCKED)
    pub mode: AtomicU32,
    /// sequence number (the high part of the id)
    pub seq: AtomicU32,
    _pad: AtomicU32,
}

// SAFETY: `#[repr(C)]`, atomics only.
unsafe impl crate::ns::Shared for PermShared {}

/// A consistent copy of a [`PermShared`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Perm {
    /// key
    pub key: i32,
    /// owner uid
    pub uid: u32,
    /// owner gid
    pub gid: u32,
    /// creator uid
    pub cuid: u32,
    /// creator gid
    pub cgid: u32,
    /// mode bits (see [`PermShared::mode`])
    pub mode: u32,
    /// sequence number
    pub seq: u32,
}

/// What an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Only that the object exists (e.g. `IPC_STAT` needs read, this is for
    /// calls like `msgget(key, 0)` that ask for nothing).
    None,
    /// read permission
    Read,
    /// write permission
    Write,
    /// both
    ReadWrite,
}

impl Access {
    fn bits(self) -> u32 {
        match self {
            Access::None => 0,
            Access::Read => 4,
            Access::Write => 2,
            Access::ReadWrite => 6,
        }
    }

    /// The access a `*get` call's flag word asks for (its low mode bits,
    /// as the kernel's `ipcperms(…, flg)`).
    pub fn from_get_flags(flags: i32) -> u32 {
        (flags as u32) & 0o777
    }
}

impl PermShared {
    /// Reads the block.
    pub fn load(&self) -> Perm {
        Perm {
            key: self.key.load(Ordering::Relaxed),
            uid: self.uid.load(Ordering::Relaxed),
            gid: self.gid.load(Ordering::Relaxed),
            cuid: self.cuid.load(Ordering::Relaxed),
            cgid: self.cgid.load(Ordering::Relaxed),
            mode: self.mode.load(Ordering::Relaxed),
            seq: self.seq.load(Ordering::Relaxed),
        }
    }

    /// [`Perm::check_mine_secs`] on the block as it stands, loading only
    /// what the decision needs (see [`PermShared::check_mine`]). The
    /// caller settles a pending `IPC_SET` first
    /// ([`crate::ns::Obj::check_mine_secs`]).
    #[inline(always)]
    pub fn check_mine_secs(&self, want: u32) -> Result<i64> {
        match self.check_mine_at(want)? {
            Some(secs) => Ok(secs),
            // SAFETY: time(2) with a NULL argument writes nothing.
            None => Ok(unsafe { libc::time(core::ptr::null_mut()) }),
        }
    }

    /// [`Perm::check_mine`] on the block as it stands, loading only what
    /// the decision needs: the mode; the owner, creator and groups only
    /// when the mode does not grant `want` to all and the caller is not
    /// privileged. The caller settles a pending `IPC_SET` first
    /// ([`crate::ns::Obj::settled_perm`]).
    #[inline(always)]
    pub fn check_mine(&self, want: Access) -> Result<()> {
        self.check_mine_at(want.bits()).map(|_| ())
    }

    /// The check of [`PermShared::check_mine`] for `want` as rwx bits:
    /// `None` when the mode grants it to everyone (no clock, no
    /// credentials read), else the seconds of the coarse clock read that
    /// kept the credentials fresh.
    #[inline(always)]
    fn check_mine_at(&self, want: u32) -> Result<Option<i64>> {
        let mode = self.mode.load(Ordering::Relaxed);
        if granted_to_all(mode, want) {
            return Ok(None);
        }
        let now = crate::os::proc::coarse_now();
        let creds = crate::os::creds::creds_at(&now);
        if !creds.privileged() {
            self.load().check_bits(&creds, want)?;
        }
        Ok(Some(now.tv_sec))
    }

    /// Writes the block (creation).
    pub fn store(&self, p: &Perm) {
        self.key.store(p.key, Ordering::Relaxed);
        self.uid.store(p.uid, Ordering::Relaxed);
        self.gid.store(p.gid, Ordering::Relaxed);
        self.cuid.store(p.cuid, Ordering::Relaxed);
        self.cgid.store(p.cgid, Ordering::Relaxed);
        self.mode.store(p.mode, Ordering::Relaxed);
        self.seq.store(p.seq, Ordering::Relaxed);
    }
}

/// Whether owner, group and others are all granted `want` (rwx bits) by
/// `mode`.
#[inline(always)]
fn granted_to_all(mode: u32, want: u32) -> bool {
    let requested = (want >> 6 | want >> 3 | want) & 0o7;
    let everyone = (mode >> 6) & (mode >> 3) & mode & 0o7;
    requested & !everyone == 0
}

/// An object whose file the caller may not even open is not the caller's:
/// for the owner-only commands (`IPC_SET`, `IPC_RMID`) of every kind that
/// is `EPERM`, as the kernel says, not the open's `EACCES`.
pub fn owner_errno(e: Errno) -> Errno {
    if e == Errno::EACCES {
        Errno::EPERM
    } else {
        e
    }
}

impl Perm {
    /// The kernel's `ipcperms`: `EACCES` unless `creds` may access the
    /// object as `want` (given as rwx bits, as in a `*get` flag word).
    /// Root is tested first: it needs no group look-up.
    pub fn check_bits(&self, creds: &Creds, want: u32) -> Result<()> {
        if creds.privileged() {
            return Ok(());
        }
        let requested = (want >> 6 | want >> 3 | want) & 0o7;
        let granted = if creds.euid == self.uid || creds.euid == self.cuid {
            self.mode >> 6
        } else if creds.in_group(self.gid) || creds.in_group(self.cgid) {
            self.mode >> 3
        } else {
            self.mode
        };
        if requested & !granted & 0o7 != 0 {
            return Err(Errno::EACCES);
        }
        Ok(())
    }

    /// [`Perm::check_bits`] for an [`Access`].
    pub fn check(&self, creds: &Creds, want: Access) -> Result<()> {
        self.check_bits(creds, want.bits())
    }

    /// [`Perm::check`] for the calling process. When every class (owner,
    /// group, other) grants `want`, the answer cannot depend on who asks,
    /// and neither the clock nor the credentials are read.
    pub fn check_mine(&self, want: Access) -> Result<()> {
        let want = want.bits();
        if self.granted_to_all(want) {
            return Ok(());
        }
        self.check_bits(&crate::os::creds::creds(), want)
    }

    /// [`Perm::check_mine`] for `want` given as rwx bits (as
    /// [`Perm::check_bits`]), returning the wall clock's seconds for the
    /// caller's time stamp (`sem_otime`) from the one clock read the call
    /// needs: the coarse clock when the credentials are looked at (their
    /// cache is timed, see [`crate::os::creds::creds_at`]), else `time()`
    /// (one load in the vDSO, ~1 ns against ~4.5 for the coarse clock).
    /// Both give the seconds the kernel stamps with
    /// (`ktime_get_real_seconds`).
    #[inline]
    pub fn check_mine_secs(&self, want: u32) -> Result<i64> {
        if self.granted_to_all(want) {
            // SAFETY: time(2) with a NULL argument writes nothing.
            return Ok(unsafe { libc::time(core::ptr::null_mut()) });
        }
        let now = crate::os::proc::coarse_now();
        self.check_bits(&crate::os::creds::creds_at(&now), want)?;
        Ok(now.tv_sec)
    }

    /// Whether owner, group and others are all granted `want` (rwx bits).
    #[inline]
    fn granted_to_all(&self, want: u32) -> bool {
        granted_to_all(self.mode, want)
    }

    /// `EPERM` unless `creds` is the owner, the creator or privileged (the
    /// rule for `IPC_SET` and `IPC_RMID`).
    pub fn check_owner(&self, creds: &Creds) -> Result<()> {
        if creds.euid == self.uid || creds.euid == self.cuid || creds.privileged() {
            Ok(())
        } else {
            Err(Errno::EPERM)
        }
    }
}
