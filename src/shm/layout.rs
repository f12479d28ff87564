//! The layout of a segment's control area, declared once, and its checked
//! access through the object's region ([`area`], [`ctl()`], [`slots_used`]).

use super::*;
use core::mem::{offset_of, size_of};

pub(super) const SHM_MAGIC: u64 = u64::from_le_bytes(*b"RIPCSHM1");

/// The segment's header, at offset 0 of the control area.
#[repr(C)]
#[derive(Debug)]
pub(super) struct ShmCtl {
    /// [`SHM_MAGIC`], stored last at creation (**release**)
    pub(super) magic: AtomicU64,
    /// `shm_segsz`
    pub(super) segsz: AtomicU64,
    /// `shm_atime`
    pub(super) atime: AtomicI64,
    /// `shm_dtime`
    pub(super) dtime: AtomicI64,
    /// `shm_lpid`
    pub(super) lpid: AtomicI32,
    /// [`NSLOTS`] (checked on open)
    pub(super) nslots: AtomicU32,
    /// 1 once destroyed ([`destroy`]): no call may use it any more
    pub(super) destroyed: AtomicU32,
    /// slots ever used: scans stop here (untrusted: clamped to NSLOTS)
    pub(super) hiwater: AtomicU32,
    /// when (seconds) a full sweep last checked every attacher in `/proc`
    /// (see [`sweep()`]; 0 in segments made before it was kept)
    pub(super) verified: AtomicI64,
    /// room to grow without moving the slots (zero)
    pub(super) _reserved: AtomicU64,
}

/// One process's attachments: an owner record ([`crate::sync::owner`]:
/// pid, 0 when free, and start time, 0 when made by a parent at `fork`
/// before the child's start time was known) and how many attachments it
/// holds.
#[repr(C)]
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) pid: AtomicI32,
    pub(super) count: AtomicU32,
    pub(super) start: AtomicU64,
}

impl Slot {
    /// Whose attachments the slot counts.
    #[inline]
    pub(super) fn owner(&self) -> OwnerRef<'_> {
        OwnerRef::new(&self.pid, &self.start)
    }
}

/// The whole control area: the header, then the attach table.
#[repr(C)]
#[derive(Debug)]
pub(super) struct ShmArea {
    pub(super) hdr: ShmCtl,
    pub(super) slots: [Slot; NSLOTS],
}

/// Bytes of the control area.
pub(super) const CTL_LEN: usize = size_of::<ShmArea>();

// The layout as segments made by every earlier build have it (version 1).
const _: () = {
    assert!(size_of::<ShmCtl>() == 64);
    assert!(offset_of!(ShmCtl, magic) == 0);
    assert!(offset_of!(ShmCtl, segsz) == 8);
    assert!(offset_of!(ShmCtl, atime) == 16);
    assert!(offset_of!(ShmCtl, dtime) == 24);
    assert!(offset_of!(ShmCtl, lpid) == 32);
    assert!(offset_of!(ShmCtl, nslots) == 36);
    assert!(offset_of!(ShmCtl, destroyed) == 40);
    assert!(offset_of!(ShmCtl, hiwater) == 44);
    assert!(offset_of!(ShmCtl, verified) == 48);
    assert!(size_of::<Slot>() == 16);
    assert!(offset_of!(Slot, pid) == 0);
    assert!(offset_of!(Slot, count) == 4);
    assert!(offset_of!(Slot, start) == 8);
    assert!(offset_of!(ShmArea, slots) == 64);
    assert!(CTL_LEN == 64 + NSLOTS * 16);
    // The header and the first slots lie in the page the namespace
    // reserves at creation (see `add_slot`).
    assert!(crate::ns::HEADER_LEN + size_of::<ShmCtl>() <= crate::ns::CREATE_RESERVE as usize);
};

// SAFETY: `#[repr(C)]`, atomics only.
unsafe impl Shared for ShmCtl {}
// SAFETY: as above.
unsafe impl Shared for Slot {}
// SAFETY: `#[repr(C)]`, made of `Shared` types only.
unsafe impl Shared for ShmArea {}

/// Where slot `i` starts in the control area.
pub(super) const fn slot_off(i: usize) -> usize {
    offset_of!(ShmArea, slots) + i * size_of::<Slot>()
}

/// The version of this layout ([`ShmArea`]), kept in the object header and
/// checked on open: another version is a corrupt segment.
pub const LAYOUT_VERSION: u32 = 1;

/// The control area of `obj`, through its region (`EIO` when the mapping
/// is too short to hold it). Unchecked: see [`ctl()`].
#[inline]
pub(super) fn area(obj: &Obj) -> Result<&ShmArea> {
    obj.region().at(0)
}

pub(super) fn ctl(obj: &Obj) -> Result<&ShmCtl> {
    // A file cut short under the mapping would turn the next access into
    // SIGBUS: refuse it (the payload, a file of its own, is checked by
    // `shmat`, the one call that maps it) — first, before any read of the
    // mapping: a file cut to nothing has lost the header's page too.
    let st = obj.stat()?;
    if (st.st_size as u64) < obj.data_range().0 {
        return Err(Errno::EIO);
    }
    obj.check_layout(LAYOUT_VERSION)?;
    let c = &area(obj)?.hdr;
    if c.magic.load(Ordering::Acquire) != SHM_MAGIC
        || !obj.data_apart()
        || c.nslots.load(Ordering::Relaxed) as usize != NSLOTS
        || obj.ctl_len() < CTL_LEN
        || c.segsz.load(Ordering::Relaxed) > obj.data_range().1
        || c.segsz.load(Ordering::Relaxed) < SHMMIN
    {
        return Err(Errno::EIO);
    }
    Ok(c)
}

/// The slots in use so far: `[0, hiwater)` (only those are scanned, so a
/// new segment's table costs one page, not the three its 512 slots span).
pub(super) fn slots_used(obj: &Obj) -> Result<&[Slot]> {
    let a = area(obj)?;
    let hw = (a.hdr.hiwater.load(Ordering::Relaxed) as usize).min(NSLOTS);
    Ok(&a.slots[..hw])
}
