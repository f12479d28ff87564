//! The native API's handles: checked, never dereferenced.
//!
//! A `ripc_queue *` (and every other handle type) given to C is not the
//! address of the Rust object: it is a *name* in a region of address
//! space this module reserves (`PROT_NONE`, never readable, so no other
//! object of the process can live there), which encodes a slot of a
//! process-wide table and the slot's generation:
//!
//! ```text
//! handle = base + (gen mod 2^GEN_BITS) << (IDX_BITS + 3) | index << 3
//! ```
//!
//! Each slot (16 bytes, in a static table) holds one state word —
//! generation, kind, an "open" bit and a count of calls in progress — and
//! the pointer to the object. Every call checks its handle with a
//! subtraction, a comparison, an alignment test and one load of the slot
//! word compared with what the handle says, then counts itself in with one
//! compare-and-swap and out with one atomic subtraction: no system call,
//! no lock. So:
//! - NULL gives `EFAULT` (as before; the close calls accept NULL);
//! - any other pointer that is not an open handle of that kind gives
//!   `EBADF`, whatever it points to: an address outside the region (a
//!   garbage pointer, a `FILE *`, a kernel address) is never touched; one
//!   inside decodes to a slot whose word does not match (a closed handle:
//!   not open, or its slot reused since with another generation; a handle
//!   of another kind);
//! - a closed handle stays recognised until its slot has been given out
//!   `2^GEN_BITS` (256) times since: slots are handed out round robin over
//!   the table's 65536 (a program that keeps opening and closing one
//!   handle meets its old value again after 16.7 million opens, as a
//!   descriptor number is reused at once);
//! - a handle closed by one thread while another is inside a call with it
//!   is closed at once (later calls: `EBADF`, a second close: `EBADF`);
//!   the object is freed when the last call in progress returns (a call
//!   blocked for ever keeps it until it returns: closing does not
//!   interrupt it, `*_remove` does). Never a use after free;
//! - a forked child inherits the table (its own copy): its handles work
//!   and close independently of the parent's. A call another thread of
//!   the parent was inside at the fork stays counted in the child's copy,
//!   so closing that handle in the child frees nothing: a leak in the
//!   child, never a crash;
//! - at most 65536 handles are open at once (`EMFILE` beyond).
//!
//! The region is 2^(GEN_BITS + IDX_BITS + 3) bytes (128 MiB) of reserved
//! address space, no memory; the table is 1 MiB of zeroed static storage,
//! touched a page (256 slots) at a time as slots are first used.

use crate::error::{Errno, Result};
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// Bits of a handle's slot index.
const IDX_BITS: u32 = 16;
/// Bits of the generation a handle carries.
const GEN_BITS: u32 = 8;
/// Slots in the table.
const NSLOTS: usize = 1 << IDX_BITS;
/// Bytes of reserved address space: every (generation, index) pair, 8
/// bytes apart.
const SPAN: usize = 1 << (GEN_BITS + IDX_BITS + 3);

// The slot word.
const REFS: u64 = (1 << 24) - 1;
const KIND_SHIFT: u32 = 24;
const KIND: u64 = 0xf << KIND_SHIFT;
const OPEN: u64 = 1 << 28;
const GEN_SHIFT: u32 = 32;
const GEN_SEEN: u64 = ((1 << GEN_BITS) - 1) << GEN_SHIFT;

/// A type the C API hands out as a handle; `KIND` tells the types apart
/// (1–15, one per type).
pub(crate) trait Handle: Sized + Send + Sync + 'static {
    /// This type's kind in the slot word.
    const KIND: u64;
}

struct Slot {
    /// generation (high 32 bits), open bit, kind, calls in progress
    state: AtomicU64,
    /// the object (`Box::into_raw`), while the slot is taken
    obj: AtomicPtr<()>,
}

#[allow(clippy::declare_interior_mutable_const)]
const FREE: Slot = Slot {
    state: AtomicU64::new(0),
    obj: AtomicPtr::new(core::ptr::null_mut()),
};

static SLOTS: [Slot; NSLOTS] = [FREE; NSLOTS];

/// Start of the reserved region; 0 until the first handle is made (then
/// every handle fails the check: the decoded slot is free, not open).
static BASE: AtomicUsize = AtomicUsize::new(0);

/// Where the round robin of free slots goes on.
static NEXT: AtomicU32 = AtomicU32::new(0);

/// The reserved region's start, reserving it on first use.
#[cold]
fn reserve() -> Result<usize> {
    let b = BASE.load(Ordering::Acquire);
    if b != 0 {
        return Ok(b);
    }
    // SAFETY: a fresh anonymous mapping of address space only: no access,
    // no memory (MAP_NORESERVE), at an address the kernel chooses.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            SPAN,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(Errno::ENOMEM);
    }
    match BASE.compare_exchange(0, p as usize, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => Ok(p as usize),
        Err(won) => {
            // SAFETY: unmapping the region this call mapped, unused.
            unsafe { libc::munmap(p, SPAN) };
            Ok(won)
        }
    }
}

/// Makes a handle of `v`: `EMFILE` when every slot is taken.
pub(crate) fn new<T: Handle>(v: T) -> Result<*mut T> {
    let base = reserve()?;
    let mut i = NEXT.fetch_add(1, Ordering::Relaxed) as usize;
    for _ in 0..NSLOTS {
        i %= NSLOTS;
        let slot = &SLOTS[i];
        let s = slot.state.load(Ordering::Relaxed);
        if s & (OPEN | KIND | REFS) == 0 {
            let g = (s >> GEN_SHIFT).wrapping_add(1) << GEN_SHIFT;
            // Taken, not open yet, by one call (this one): no check
            // passes, no other `new` takes it.
            let taken = g | (T::KIND << KIND_SHIFT) | 1;
            if slot
                .state
                .compare_exchange(s, taken, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                slot.obj
                    .store(Box::into_raw(Box::new(v)).cast(), Ordering::Relaxed);
                // Published: the object before the word that opens it.
                slot.state.store(taken - 1 + OPEN, Ordering::Release);
                let gen = (g & GEN_SEEN) >> GEN_SHIFT;
                return Ok((base + ((gen as usize) << (IDX_BITS + 3) | i << 3)) as *mut T);
            }
        }
        i += 1;
    }
    Err(Errno::EMFILE)
}

/// The slot `p` names and the word an open handle of `T` has there
/// (under [`GEN_SEEN`], `OPEN` and `KIND`); `EFAULT` for NULL, `EBADF`
/// for an address that is no handle at all.
#[inline(always)]
fn decode<T: Handle>(p: *const T) -> Result<(&'static Slot, u64)> {
    let off = (p as usize).wrapping_sub(BASE.load(Ordering::Relaxed));
    // Outside the region or not 8-aligned: one test (SPAN is a power of 2).
    if off & (!(SPAN - 1) | 7) != 0 {
        return Err(not_handle(p.is_null()));
    }
    let want = ((off >> (IDX_BITS + 3)) as u64) << GEN_SHIFT | OPEN | T::KIND << KIND_SHIFT;
    Ok((&SLOTS[(off >> 3) & (NSLOTS - 1)], want))
}

#[cold]
fn not_handle(null: bool) -> Errno {
    if null {
        Errno::EFAULT
    } else {
        Errno::EBADF
    }
}

/// An open handle's object, for the length of one call (counted in the
/// slot: a close meanwhile frees it only when this is dropped).
pub(crate) struct Guard<T: Handle> {
    slot: &'static Slot,
    obj: &'static T,
}

impl<T: Handle> core::ops::Deref for Guard<T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        self.obj
    }
}

impl<T: Handle> Drop for Guard<T> {
    #[inline(always)]
    fn drop(&mut self) {
        leave::<T>(self.slot);
    }
}

/// Leaves a slot a call was counted in; the last to leave a closed
/// handle frees its object and the slot.
#[inline(always)]
fn leave<T: Handle>(slot: &Slot) {
    let s = slot.state.fetch_sub(1, Ordering::Release);
    if s & (OPEN | REFS) == 1 {
        free::<T>(slot, s - 1);
    }
}

#[cold]
fn free<T: Handle>(slot: &Slot, s: u64) {
    // Every use of the object happened before its user's release above.
    core::sync::atomic::fence(Ordering::Acquire);
    let p = slot.obj.swap(core::ptr::null_mut(), Ordering::Relaxed);
    // The slot is free again (its generation kept: the next `new` moves it
    // on) once the object is gone.
    if !p.is_null() {
        // SAFETY: `p` came from Box::into_raw of a Box<T> in `new` (the
        // kind in the word was T's), and only the last user of a closed
        // handle gets here, once: no one else holds it.
        drop(unsafe { Box::from_raw(p.cast::<T>()) });
    }
    slot.state.store(s & !(KIND | REFS), Ordering::Release);
}

/// The object of open handle `p` of type `T`, for one call: `EFAULT` for
/// NULL, `EBADF` for anything else that is not an open handle of `T`.
#[inline(always)]
pub(crate) fn get<T: Handle>(p: *const T) -> Result<Guard<T>> {
    let (slot, want) = decode(p)?;
    let mut s = slot.state.load(Ordering::Relaxed);
    loop {
        // (The count cannot overflow: 2^24 - 1 calls in progress at once
        // would need as many threads.)
        if (s ^ want) & (GEN_SEEN | OPEN | KIND) != 0 {
            // (NULL decodes to slot 0 before the first handle is made.)
            return Err(not_handle(p.is_null()));
        }
        match slot
            .state
            .compare_exchange_weak(s, s + 1, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => break,
            Err(now) => s = now,
        }
    }
    let obj = slot.obj.load(Ordering::Relaxed).cast::<T>();
    // SAFETY: the handle is open and counted in (above, with Acquire: the
    // store of `obj` before the Release that opened it is seen); the
    // object is freed only after the count drops to zero, which this
    // guard's drop does last.
    Ok(Guard {
        slot,
        obj: unsafe { &*obj },
    })
}

/// Closes handle `p` of type `T`: NULL does nothing; `EBADF` for anything
/// but an open handle of `T` (a second close included). The object is
/// freed now, or by the last call still in progress with it.
pub(crate) fn close<T: Handle>(p: *mut T) -> Result<()> {
    if p.is_null() {
        return Ok(());
    }
    let (slot, want) = decode(p.cast_const())?;
    let mut s = slot.state.load(Ordering::Relaxed);
    loop {
        if (s ^ want) & (GEN_SEEN | OPEN | KIND) != 0 {
            // (NULL decodes to slot 0 before the first handle is made.)
            return Err(not_handle(p.is_null()));
        }
        // Closed, and counted in as a user: leaving frees it if no other
        // call is in progress.
        match slot.state.compare_exchange_weak(
            s,
            (s & !OPEN) + 1,
            Ordering::Acquire,
            Ordering::Relaxed,
        ) {
            Ok(_) => break,
            Err(now) => s = now,
        }
    }
    leave::<T>(slot);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct A(u32);
    impl Handle for A {
        const KIND: u64 = 14;
    }
    struct B;
    impl Handle for B {
        const KIND: u64 = 15;
    }

    #[test]
    fn checks_and_frees_once() {
        let a = new(A(7)).unwrap();
        assert_eq!(get(a).unwrap().0, 7);
        assert_eq!(get(a.cast::<B>()).err(), Some(Errno::EBADF));
        assert_eq!(get(a.wrapping_byte_add(1)).err(), Some(Errno::EBADF));
        assert_eq!(get(core::ptr::null::<A>()).err(), Some(Errno::EFAULT));
        let x = 5u64;
        assert_eq!(
            get((&x as *const u64).cast::<A>()).err(),
            Some(Errno::EBADF)
        );
        let g = get(a).unwrap();
        close(a).unwrap();
        // Closed: refused, but the call in progress still has it.
        assert_eq!(get(a).err(), Some(Errno::EBADF));
        assert_eq!(close(a).err(), Some(Errno::EBADF));
        assert_eq!(g.0, 7);
        drop(g);
        assert_eq!(get(a).err(), Some(Errno::EBADF));
        close::<A>(core::ptr::null_mut()).unwrap();
    }
}
