//! The layout of a segment's control area, declared once, and its checked
//! access ([`ctl`], [`slot`]).

use super::*;

pub(super) const SHM_MAGIC: u64 = u64::from_le_bytes(*b"RIPCSHM1");
pub(super) const SLOTS_OFF: usize = 64;
pub(super) const SLOT_LEN: usize = 16;
pub(super) const CTL_LEN: usize = SLOTS_OFF + NSLOTS * SLOT_LEN;

#[repr(C)]
#[derive(Debug)]
pub(super) struct ShmCtl {
    pub(super) magic: AtomicU64,
    pub(super) segsz: AtomicU64,
    pub(super) atime: AtomicI64,
    pub(super) dtime: AtomicI64,
    pub(super) lpid: AtomicI32,
    pub(super) nslots: AtomicU32,
    pub(super) destroyed: AtomicU32,
    /// slots ever used: scans stop here (untrusted: clamped to NSLOTS)
    pub(super) hiwater: AtomicU32,
    /// when (seconds) a full sweep last checked every attacher in `/proc`
    /// (see [`sweep`]; 0 in segments made before it was kept)
    pub(super) verified: AtomicI64,
}

const _: () = assert!(core::mem::size_of::<ShmCtl>() <= SLOTS_OFF);

#[repr(C)]
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) pid: AtomicI32,
    pub(super) count: AtomicU32,
    pub(super) start: AtomicU64,
}

const _: () = assert!(core::mem::size_of::<Slot>() == SLOT_LEN);

// SAFETY: `#[repr(C)]`, atomics only.
unsafe impl crate::ns::Shared for ShmCtl {}

// SAFETY: as above.
unsafe impl crate::ns::Shared for Slot {}

/// The version of this layout ([`ShmCtl`] at 0, [`Slot`]s from
/// `SLOTS_OFF`), kept in the object header and checked on open: another
/// version is a corrupt segment.
pub const LAYOUT_VERSION: u32 = 1;

pub(super) fn ctl(obj: &Obj) -> Result<&ShmCtl> {
    obj.check_layout(LAYOUT_VERSION)?;
    let c: &ShmCtl = obj.at(0)?;
    if c.magic.load(Ordering::Acquire) != SHM_MAGIC
        || !obj.data_apart()
        || c.nslots.load(Ordering::Relaxed) as usize != NSLOTS
        || obj.ctl_len() < CTL_LEN
        || c.segsz.load(Ordering::Relaxed) > obj.data_range().1
        || c.segsz.load(Ordering::Relaxed) < SHMMIN
    {
        return Err(Errno::EIO);
    }
    // A file cut short under the mapping would turn the next access into
    // SIGBUS: refuse it (the payload, a file of its own, is checked by
    // `shmat`, the one call that maps it).
    let st = obj.stat()?;
    if (st.st_size as u64) < obj.data_range().0 {
        return Err(Errno::EIO);
    }
    Ok(c)
}

pub(super) fn slot(obj: &Obj, i: usize) -> Result<&Slot> {
    if i >= NSLOTS {
        return Err(Errno::EIO);
    }
    obj.at(SLOTS_OFF + i * SLOT_LEN)
}

/// Slots in use so far (only those are scanned, so a new segment's table
/// costs one page, not the three its 512 slots span).
pub(super) fn hiwater(obj: &Obj) -> usize {
    obj.at::<ShmCtl>(0)
        .map(|c| (c.hiwater.load(Ordering::Relaxed) as usize).min(NSLOTS))
        .unwrap_or(NSLOTS)
}
