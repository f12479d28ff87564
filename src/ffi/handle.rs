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
//! word compared with what the handle says. It marks itself inside with
//! a plain store in its thread's *hazard word* and out with another (see
//! "Calls in progress" below): no system call, no lock, no atomic
//! read-modify-write. So:
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
//!   the parent was inside at the fork stays inside in the child's copy
//!   (its hazard word, or its count), so closing that handle in the child
//!   frees nothing: a leak in the child, never a crash;
//! - at most 65536 handles are open at once (`EMFILE` beyond).
//!
//! The region is 2^(GEN_BITS + IDX_BITS + 3) bytes (128 MiB) of reserved
//! address space, no memory; the table is 1 MiB of zeroed static storage,
//! touched a page (256 slots) at a time as slots are first used.
//!
//! # Calls in progress
//!
//! A close must not free an object a call of another thread is using.
//! Calls are many and closes few, so the calls pay nothing that waits on
//! other CPUs and the close pays for finding them:
//!
//! - Each thread owns a *record* (a cache line) from a registry of
//!   records, taken at its first call and given back by a thread-local
//!   destructor when it exits, for the next thread to reuse: the registry
//!   is as long as the most threads that ever made calls at once. (A
//!   thread whose first call comes from a `pthread_key_create`
//!   destructor, after the thread-local ones ran, registers one that
//!   never runs: a key destructor of this module's gives its record back
//!   instead. Without it such a thread kept its record for ever — one
//!   more record, and every close's barrier, per such thread.) A
//!   record holds the thread's hazard word: the address of the slot the
//!   thread is inside, or 0. (Taking it may allocate and registers the
//!   destructor: a thread's first call is no more async-signal-safe than
//!   the rest of ripc; later ones never allocate here.)
//! - A call stores its slot in the hazard word, then loads the slot word
//!   and checks it (HAZARD_1); it leaves by storing 0 (release: its uses
//!   of the object come before), then loads the slot word again and, if
//!   the handle was closed meanwhile, tries to free the object
//!   ([`reclaim`], HAZARD_2). Plain stores and loads, ordered only
//!   against the compiler.
//! - The other way in is the count in the slot word (a compare-and-swap
//!   in, an atomic subtraction out), taken by a call whose hazard word is
//!   already in use (a signal handler that calls into ripc while the
//!   thread it interrupted is inside a call; a call left by `longjmp`
//!   out of a handler), by a thread whose record is gone (calls from
//!   thread-local or key destructors after this module's) and by every
//!   call when the kernel refuses `membarrier` at the first handle (older
//!   than 4.14, a seccomp filter). Close counts itself in the same way while it
//!   works.
//! - Close clears the open bit (one compare-and-swap: exactly once; from
//!   then on no call gets in), then issues
//!   `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)` (HAZARD_1), counts
//!   itself out and tries to free the object ([`reclaim`]). The barrier is
//!   skipped when no other thread holds a record (a single-threaded
//!   program pays for nothing but its own close).
//! - [`reclaim`] frees the object only when the slot is closed, no count
//!   is left in it and no hazard word names it; who frees is decided by
//!   one compare-and-swap on the slot word (once, whoever gets there).
//!
//! Memory ordering:
//!
//! - HAZARD_1 (a call getting in against the close): a call stores its
//!   hazard word, then loads the slot word; the close stores the cleared
//!   open bit, then `membarrier` makes every thread of the process that
//!   is running execute a full barrier (one that is not running passed
//!   one in the scheduler). A call whose load saw the handle still open
//!   executed that barrier after its load, so after its store: when
//!   `membarrier` returns, its hazard word is visible to every CPU, and
//!   any load of it after that sees the slot named there or a later
//!   value. A call whose load came after its barrier sees the handle
//!   closed and does not use the object. Skipping the barrier when no
//!   other thread holds a record: a thread takes its record with a
//!   compare-and-swap and a full fence before it stores its first hazard
//!   word, and close reads the records' `taken` flags after its
//!   compare-and-swap and a full fence: either close sees the record
//!   taken (and issues the barrier) or the new thread's first load of the
//!   slot word sees it closed.
//! - HAZARD_2 (the last one out frees): every party that gives up its
//!   hold on a closed slot — a call clearing its hazard word and then
//!   seeing the open bit clear, a count taken out, the close itself after
//!   its barrier — runs [`reclaim`], which begins with a full fence, then
//!   loads the slot word and scans the hazard words. Of those fences, the
//!   last in their single total order is followed by loads that see every
//!   other such party's release (a fence-to-fence guarantee). A call that
//!   left while the handle was still open (its load saw it open) is seen
//!   left by any load after the close's barrier, by HAZARD_1's argument
//!   applied to its clearing store (with the barrier skipped, every
//!   hazard word is the closing thread's own); and every [`reclaim`] that
//!   frees has first seen the close's own count taken out, which comes
//!   after that barrier. So the last one out sees no count and no hazard word and
//!   frees; and no one frees while a call is inside, since that call's
//!   hazard word (or count) is visible to every such [`reclaim`].
//! - The compare-and-swap that claims the free expects the exact slot word
//!   it checked, whose generation is a 32-bit counter: the slot would have
//!   to be reused 2^32 times between a [`reclaim`]'s load and its
//!   compare-and-swap to fool it.
//!
//! If `membarrier` fails at a close after it worked at the first handle
//! (a seccomp filter installed since), that close cannot know whether a
//! call of another thread is getting in: the handle is closed, its object
//! is never freed (a leak, never a use after free).

use crate::error::{Errno, Result};
use core::cell::Cell;
use core::sync::atomic::{
    compiler_fence, fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize,
    Ordering,
};

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
    /// generation (high 32 bits), open bit, kind, calls counted in
    state: AtomicU64,
    /// the object (`Box::into_raw` of a [`Boxed`]), while the slot is taken
    obj: AtomicPtr<()>,
}

/// What a slot points to: the object after the function that frees it,
/// so that whoever frees it need not know its type (a [`reclaim`] runs
/// from any call that was inside the slot, with whatever handle).
#[repr(C)]
struct Boxed<T> {
    free: unsafe fn(*mut ()),
    v: T,
}

/// # Safety
/// `p` is a `Box::into_raw` of a `Boxed<T>`, not used after.
unsafe fn free_boxed<T>(p: *mut ()) {
    // SAFETY: the caller's contract.
    drop(unsafe { Box::from_raw(p.cast::<Boxed<T>>()) });
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

/// A thread's hazard record; see "Calls in progress".
#[repr(align(64))]
struct Record {
    /// the address of the slot this thread is inside, or 0
    hazard: AtomicUsize,
    /// owned by a thread
    taken: AtomicBool,
    /// the next record of the registry (set before it is published)
    next: AtomicPtr<Record>,
}

/// The registry: a list records are pushed on and never leave.
static RECORDS: AtomicPtr<Record> = AtomicPtr::new(core::ptr::null_mut());

/// The record of a thread that has none: its hazard word is never 0, so
/// every call takes the counted way in.
static NO_RECORD: Record = Record {
    hazard: AtomicUsize::new(1),
    taken: AtomicBool::new(false),
    next: AtomicPtr::new(core::ptr::null_mut()),
};

thread_local! {
    /// This thread's record: null before its first call, [`NO_RECORD`]
    /// once it has none (gone at exit, or none to be had).
    /// No destructor (whose registration would allocate:
    /// `os::thread_exit`): the record is given back by [`give_back_mine`]
    /// when the thread exits — also a thread whose first call comes from
    /// another key's destructor (glibc runs the key's destructor in its
    /// next round), which kept its record for ever when this was a Rust
    /// thread-local destructor registered too late to run.
    static MINE: Cell<*const Record> = const { Cell::new(core::ptr::null()) };
}

/// Gives this thread's record back, if it has one, as the thread exits
/// (armed when the record is taken: `os::thread_exit`, slot `Handle`);
/// its later calls (from other destructors) are counted.
fn give_back_mine() {
    let r = MINE.with(|m| m.replace(&NO_RECORD));
    if r.is_null() || core::ptr::eq(r, &NO_RECORD) {
        return;
    }
    // SAFETY: records are never freed.
    let r = unsafe { &*r };
    let h = r.hazard.load(Ordering::Relaxed);
    if h != 0 {
        // A call left without returning (`longjmp`): it is out now.
        // SAFETY: a hazard word holds 0 or the address of a slot of
        // SLOTS (static).
        leave_hazard(r, unsafe { &*(h as *const Slot) });
    }
    r.taken.store(false, Ordering::Release);
}

// Whether calls use hazard words (`membarrier` registered) or counts.
const MODE_UNKNOWN: u8 = 0;
const MODE_HAZARD: u8 = 1;
const MODE_COUNT: u8 = 2;
static MODE: AtomicU8 = AtomicU8::new(MODE_UNKNOWN);

use crate::os::membarrier::{membarrier, Cmd};

/// The way calls get in, found out at the first handle (or first call).
#[cold]
fn mode() -> u8 {
    let m = MODE.load(Ordering::Acquire);
    if m != MODE_UNKNOWN {
        return m;
    }
    let m = if membarrier(Cmd::RegisterPrivate) {
        MODE_HAZARD
    } else {
        MODE_COUNT
    };
    // (Two first calls at once find the same; either store stands.)
    MODE.store(m, Ordering::Release);
    m
}

/// This thread's record, or [`NO_RECORD`].
#[inline(always)]
fn record() -> &'static Record {
    let r = MINE.with(Cell::get);
    if r.is_null() {
        return take_record();
    }
    // SAFETY: MINE holds null, &NO_RECORD, or a record of the registry,
    // which is never freed.
    unsafe { &*r }
}

#[cold]
fn take_record() -> &'static Record {
    use crate::os::thread_exit::{arm, Slot};
    // Given back when the thread exits ([`give_back_mine`]).
    if mode() != MODE_HAZARD || !arm(Slot::Handle, give_back_mine) {
        // No hazard words, or this thread is exiting: counts. (Before
        // the first handle the mode is unknown: it is found out here.)
        MINE.with(|m| m.set(&NO_RECORD));
        return &NO_RECORD;
    }
    let mut p = RECORDS.load(Ordering::Acquire);
    let r = loop {
        if p.is_null() {
            let r: &'static Record = Box::leak(Box::new(Record {
                hazard: AtomicUsize::new(0),
                taken: AtomicBool::new(true),
                next: AtomicPtr::new(core::ptr::null_mut()),
            }));
            let mut head = RECORDS.load(Ordering::Relaxed);
            loop {
                r.next.store(head, Ordering::Relaxed);
                match RECORDS.compare_exchange_weak(
                    head,
                    r as *const Record as *mut Record,
                    Ordering::Release,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break,
                    Err(now) => head = now,
                }
            }
            break r;
        }
        // SAFETY: records are never freed.
        let r = unsafe { &*p };
        if !r.taken.load(Ordering::Relaxed)
            && r.taken
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            break r;
        }
        p = r.next.load(Ordering::Acquire);
    };
    // HAZARD_1: taken before any hazard word of this thread is stored.
    fence(Ordering::SeqCst);
    MINE.with(|m| m.set(r));
    r
}

/// Whether a record other than `mine` is taken (HAZARD_1).
fn others_hold_records(mine: *const Record) -> bool {
    let mut p = RECORDS.load(Ordering::Acquire);
    while !p.is_null() {
        // SAFETY: records are never freed.
        let r = unsafe { &*p };
        if !core::ptr::eq(r, mine) && r.taken.load(Ordering::Relaxed) {
            return true;
        }
        p = r.next.load(Ordering::Acquire);
    }
    false
}

/// Whether a hazard word names `slot` (HAZARD_2).
fn named(slot: &Slot) -> bool {
    let a = slot as *const Slot as usize;
    let mut p = RECORDS.load(Ordering::Acquire);
    while !p.is_null() {
        // SAFETY: records are never freed.
        let r = unsafe { &*p };
        if r.hazard.load(Ordering::Acquire) == a {
            return true;
        }
        p = r.next.load(Ordering::Acquire);
    }
    false
}

/// The reserved region's start, reserving it on first use.
#[cold]
fn reserve() -> Result<usize> {
    let b = BASE.load(Ordering::Acquire);
    if b != 0 {
        return Ok(b);
    }
    // Found out before the first handle exists.
    mode();
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
                let b = Box::new(Boxed {
                    free: free_boxed::<T>,
                    v,
                });
                slot.obj.store(Box::into_raw(b).cast(), Ordering::Relaxed);
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

/// An open handle's object, for the length of one call (inside the slot
/// by this thread's hazard word or by the count: a close meanwhile frees
/// it only after this is dropped).
pub(crate) struct Guard<T: Handle> {
    slot: &'static Slot,
    /// the hazard word's record; None: counted in
    rec: Option<&'static Record>,
    obj: &'static T,
    /// Dropped by the thread that made it (whose hazard word it clears).
    _here: core::marker::PhantomData<*const ()>,
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
        match self.rec {
            Some(r) => leave_hazard(r, self.slot),
            None => leave_count(self.slot),
        }
    }
}

/// Clears a hazard word that named `slot`; if the handle was closed,
/// maybe this thread was the last inside (HAZARD_2).
#[inline(always)]
fn leave_hazard(rec: &Record, slot: &Slot) {
    // The uses of the object come before (Release).
    rec.hazard.store(0, Ordering::Release);
    // HAZARD_1/HAZARD_2: the load below stays after the store (the
    // close's `membarrier` supplies the CPU's barrier).
    compiler_fence(Ordering::SeqCst);
    if slot.state.load(Ordering::Relaxed) & OPEN == 0 {
        reclaim(slot);
    }
}

/// Takes one count out of a slot; the last count out of a closed handle
/// tries to free it (HAZARD_2).
#[inline(always)]
fn leave_count(slot: &Slot) {
    let s = slot.state.fetch_sub(1, Ordering::Release);
    if s & (OPEN | REFS) == 1 {
        reclaim(slot);
    }
}

/// Frees a closed slot's object if no one is inside any more (no count,
/// no hazard word naming it); whoever claims it first frees it, once.
#[cold]
fn reclaim(slot: &Slot) {
    // HAZARD_2: after this party's release, before its loads.
    fence(Ordering::SeqCst);
    let s = slot.state.load(Ordering::Acquire);
    // Closed, of some kind (not free, not being made), no count: the
    // close and the counted calls are out.
    if s & (OPEN | REFS) != 0 || s & KIND == 0 || named(slot) {
        return;
    }
    // Claimed: counted in once more (no other `reclaim` matches now, no
    // `new` takes it), then freed.
    if slot
        .state
        .compare_exchange(s, s + 1, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        return;
    }
    let p = slot.obj.swap(core::ptr::null_mut(), Ordering::Relaxed);
    if !p.is_null() {
        // SAFETY: `p` is a `Box::into_raw` of a `Boxed<T>` made by `new`,
        // whose first field (repr(C)) is `free_boxed::<T>`; only the
        // winner of the claim above gets here, once, and no one is inside
        // (HAZARD_2).
        unsafe {
            let free = p.cast::<unsafe fn(*mut ())>().read();
            free(p);
        }
    }
    // The slot is free again (its generation kept: the next `new` moves it
    // on) once the object is gone.
    slot.state.store(s & !(KIND | REFS), Ordering::Release);
}

/// The object of open handle `p` of type `T`, for one call: `EFAULT` for
/// NULL, `EBADF` for anything else that is not an open handle of `T`.
#[inline(always)]
pub(crate) fn get<T: Handle>(p: *const T) -> Result<Guard<T>> {
    let (slot, want) = decode(p)?;
    let rec = record();
    if rec.hazard.load(Ordering::Relaxed) != 0 {
        // (A call of this thread is inside already, or no record.)
        return get_counted(p, slot, want);
    }
    // (A signal handler run between the load above and the store below
    // uses the word and gives it back 0 before this resumes.)
    rec.hazard
        .store(slot as *const Slot as usize, Ordering::Relaxed);
    // HAZARD_1: the load stays after the store (the close's `membarrier`
    // supplies the CPU's barrier).
    compiler_fence(Ordering::SeqCst);
    let s = slot.state.load(Ordering::Acquire);
    if (s ^ want) & (GEN_SEEN | OPEN | KIND) != 0 {
        // A close may have seen this word: out as any call (HAZARD_2).
        leave_hazard(rec, slot);
        // (NULL decodes to slot 0 before the first handle is made.)
        return Err(not_handle(p.is_null()));
    }
    Ok(Guard {
        slot,
        rec: Some(rec),
        obj: object(slot),
        _here: core::marker::PhantomData,
    })
}

/// [`get`] by the count in the slot word.
#[inline(never)]
fn get_counted<T: Handle>(p: *const T, slot: &'static Slot, want: u64) -> Result<Guard<T>> {
    let mut s = slot.state.load(Ordering::Relaxed);
    loop {
        // (The count cannot overflow: 2^24 - 1 calls in progress at once
        // would need as many threads.)
        if (s ^ want) & (GEN_SEEN | OPEN | KIND) != 0 {
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
    Ok(Guard {
        slot,
        rec: None,
        obj: object(slot),
        _here: core::marker::PhantomData,
    })
}

/// The object of a slot a call is inside, open with `T`'s kind.
#[inline(always)]
fn object<T: Handle>(slot: &Slot) -> &'static T {
    let b = slot.obj.load(Ordering::Relaxed).cast::<Boxed<T>>();
    // SAFETY: the caller saw the slot open with T's kind (Acquire: the
    // store of `obj` before the Release that opened it is seen) while
    // inside it, by its hazard word or its count; the object is freed
    // only once no one is inside (HAZARD_2), after the guard that ends
    // this use is dropped.
    unsafe { &(*b).v }
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
        // Closed, and counted in while the close works.
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
    if !barrier() {
        // Cannot tell whether a call is getting in: never freed (the
        // close's count stays).
        return Ok(());
    }
    leave_count(slot);
    Ok(())
}

/// HAZARD_1 for a close that has just cleared an open bit: false when the
/// barrier is needed and the kernel refuses it.
fn barrier() -> bool {
    // After the compare-and-swap that closed, before the `taken` loads.
    fence(Ordering::SeqCst);
    if !others_hold_records(MINE.with(Cell::get)) {
        return true;
    }
    membarrier(Cmd::Private)
        // (Registration is kept across fork; in case it is not:)
        || (membarrier(Cmd::RegisterPrivate)
            && membarrier(Cmd::Private))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU8 as Flag;
    use std::sync::{mpsc, Arc};
    use std::time::{Duration, Instant};

    struct A(u32);
    impl Handle for A {
        const KIND: u64 = 14;
    }
    struct B;
    impl Handle for B {
        const KIND: u64 = 15;
    }

    /// An object whose drops are counted.
    struct D {
        v: u32,
        drops: Arc<AtomicUsize>,
    }
    impl Handle for D {
        const KIND: u64 = 13;
    }
    impl Drop for D {
        fn drop(&mut self) {
            self.drops.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counted(v: u32) -> (*mut D, Arc<AtomicUsize>) {
        let drops = Arc::new(AtomicUsize::new(0));
        let p = new(D {
            v,
            drops: drops.clone(),
        })
        .unwrap();
        (p, drops)
    }

    /// This thread's calls get in by the count from now on, as a thread
    /// without a record does.
    fn count_only_here() {
        let r = MINE.with(|m| m.replace(&NO_RECORD));
        if !r.is_null() && !core::ptr::eq(r, &NO_RECORD) {
            // (Not given back a second time at exit: MINE is NO_RECORD.)
            // SAFETY: records are never freed.
            unsafe { &*r }.taken.store(false, Ordering::Release);
        }
    }

    fn hazards() -> bool {
        mode() == MODE_HAZARD
    }

    fn records() -> usize {
        let mut n = 0;
        let mut p = RECORDS.load(Ordering::Acquire);
        while !p.is_null() {
            n += 1;
            // SAFETY: records are never freed.
            p = unsafe { &*p }.next.load(Ordering::Acquire);
        }
        n
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

    /// Closed by this thread while another is inside a call with it: the
    /// close returns at once, the object lives until that call is out.
    fn close_while_another_thread_is_inside(by_count: bool) {
        let (p, drops) = counted(11);
        let pa = p as usize;
        let (inside, is_inside) = mpsc::channel();
        let (go, may_go) = mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            if by_count {
                count_only_here();
            }
            let g = get(pa as *const D).unwrap();
            assert_eq!(g.rec.is_some(), hazards() && !by_count);
            inside.send(()).unwrap();
            may_go.recv().unwrap();
            // Still there, untouched.
            let v = g.v;
            drop(g);
            v
        });
        is_inside.recv().unwrap();
        close(p).unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 0, "freed under a call");
        assert_eq!(get(p).err(), Some(Errno::EBADF));
        assert_eq!(close(p).err(), Some(Errno::EBADF));
        go.send(()).unwrap();
        assert_eq!(t.join().unwrap(), 11);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn close_while_another_thread_is_inside_by_its_hazard_word() {
        close_while_another_thread_is_inside(false);
    }

    #[test]
    fn close_while_another_thread_is_inside_by_the_count() {
        close_while_another_thread_is_inside(true);
    }

    /// A call inside a call on one thread (a signal handler's) gets in by
    /// the count; closed meanwhile, the object is freed once, by whichever
    /// leaves last.
    #[test]
    fn nested_calls_on_one_thread_free_once() {
        for outer_first in [true, false] {
            let (p, drops) = counted(3);
            let outer = get(p).unwrap();
            let inner = get(p).unwrap();
            assert_eq!(outer.rec.is_some(), hazards());
            assert!(inner.rec.is_none());
            close(p).unwrap();
            assert_eq!(get(p).err(), Some(Errno::EBADF));
            let (first, last) = if outer_first {
                (outer, inner)
            } else {
                (inner, outer)
            };
            drop(first);
            assert_eq!(drops.load(Ordering::SeqCst), 0, "freed under a call");
            assert_eq!(last.v, 3);
            drop(last);
            assert_eq!(drops.load(Ordering::SeqCst), 1);
        }
    }

    /// A call a thread never came back from (`longjmp` out of a handler)
    /// is out when the thread exits: a close meanwhile frees then.
    #[test]
    fn a_thread_that_exits_inside_a_call_lets_go_of_it() {
        let (p, drops) = counted(5);
        let pa = p as usize;
        let (inside, is_inside) = mpsc::channel();
        let (go, may_go) = mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            std::mem::forget(get(pa as *const D).unwrap());
            inside.send(()).unwrap();
            may_go.recv().unwrap();
        });
        is_inside.recv().unwrap();
        close(p).unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 0, "freed under a call");
        go.send(()).unwrap();
        t.join().unwrap();
        // (By the count, the call never leaves: a leak, as before.)
        assert_eq!(drops.load(Ordering::SeqCst), usize::from(hazards()));
    }

    /// Threads that come and go reuse the records of those that went.
    #[test]
    fn exited_threads_give_their_records_back() {
        let (p, drops) = counted(1);
        let pa = p as usize;
        let before = records();
        for _ in 0..64 {
            std::thread::spawn(move || assert_eq!(get(pa as *const D).unwrap().v, 1))
                .join()
                .unwrap();
        }
        // (Other tests' threads may take a few meanwhile.)
        assert!(
            records() < before + 24,
            "{} records after {before}",
            records()
        );
        close(p).unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    /// A thread whose first call comes from a `pthread_key_create`
    /// destructor (run after the thread-local destructors, so one
    /// registered then never runs) must not keep a record for ever:
    /// threads that do so one after another reuse records.
    #[test]
    fn first_call_from_a_pthread_key_destructor_keeps_no_record() {
        use std::sync::OnceLock;
        static P: AtomicUsize = AtomicUsize::new(0);
        static KEY: OnceLock<libc::pthread_key_t> = OnceLock::new();
        extern "C" fn at_exit(_: *mut libc::c_void) {
            if let Ok(g) = get(P.load(Ordering::SeqCst) as *const D) {
                assert_eq!(g.v, 9);
            }
        }
        let (p, drops) = counted(9);
        P.store(p as usize, Ordering::SeqCst);
        let key = *KEY.get_or_init(|| {
            let mut k: libc::pthread_key_t = 0;
            // SAFETY: a fresh key with a destructor that never panics
            // across the boundary (the assertion aborts the test).
            assert_eq!(
                unsafe { libc::pthread_key_create(&mut k, Some(at_exit)) },
                0
            );
            k
        });
        let before = records();
        for _ in 0..64 {
            std::thread::spawn(move || {
                // SAFETY: a non-null value makes the destructor run.
                unsafe { libc::pthread_setspecific(key, 1 as *const libc::c_void) };
            })
            .join()
            .unwrap();
        }
        // (Other tests' threads may take a few meanwhile.)
        assert!(
            records() < before + 24,
            "{} records after {before}",
            records()
        );
        close(p).unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    /// Threads get in (by hazard word, by count, nested), close and make
    /// handles at once for a while: a call never sees its object freed,
    /// each object is freed exactly once, every refusal is `EBADF`.
    #[test]
    fn calls_and_closes_at_once() {
        const HANDLES: usize = 8;
        const IDS: usize = 1 << 20;
        struct S {
            id: usize,
            live: Arc<Vec<Flag>>,
        }
        impl Handle for S {
            const KIND: u64 = 12;
        }
        impl Drop for S {
            fn drop(&mut self) {
                assert_eq!(self.live[self.id].swap(2, Ordering::SeqCst), 1);
            }
        }
        let live: Arc<Vec<Flag>> = Arc::new((0..IDS).map(|_| Flag::new(0)).collect());
        let ids = Arc::new(AtomicUsize::new(0));
        let make = {
            let (live, ids) = (live.clone(), ids.clone());
            move || -> Option<usize> {
                let id = ids.fetch_add(1, Ordering::SeqCst);
                if id >= IDS {
                    return None;
                }
                live[id].store(1, Ordering::SeqCst);
                Some(
                    new(S {
                        id,
                        live: live.clone(),
                    })
                    .unwrap() as usize,
                )
            }
        };
        let table: Arc<Vec<AtomicUsize>> = Arc::new(
            (0..HANDLES)
                .map(|_| AtomicUsize::new(make().unwrap()))
                .collect(),
        );
        let end = Instant::now() + Duration::from_millis(1500);
        let mut threads = Vec::new();
        for u in 0..3usize {
            let (table, live) = (table.clone(), live.clone());
            threads.push(std::thread::spawn(move || {
                if u == 2 {
                    count_only_here();
                }
                let (mut n, mut inside) = (0usize, 0usize);
                while Instant::now() < end {
                    n += 1;
                    let p = table[n % HANDLES].load(Ordering::SeqCst) as *const S;
                    match get(p) {
                        Ok(g) => {
                            inside += 1;
                            let id = g.id;
                            assert_eq!(live[id].load(Ordering::SeqCst), 1);
                            if n % 3 == 0 {
                                // A call inside a call (by the count).
                                if let Ok(g2) = get(p) {
                                    assert_eq!(g2.id, id);
                                }
                            }
                            if n % 16 == 0 {
                                std::thread::yield_now();
                            } else {
                                for _ in 0..n % 64 {
                                    core::hint::spin_loop();
                                }
                            }
                            assert_eq!(live[id].load(Ordering::SeqCst), 1, "freed under a call");
                            drop(g);
                        }
                        Err(e) => assert_eq!(e, Errno::EBADF),
                    }
                }
                inside
            }));
        }
        for c in 0..2usize {
            let (table, make) = (table.clone(), make.clone());
            threads.push(std::thread::spawn(move || {
                let mut closed = 0;
                let mut n = c;
                while Instant::now() < end {
                    n += 1;
                    let e = &table[n % HANDLES];
                    let p = e.load(Ordering::SeqCst);
                    match close(p as *mut S) {
                        Ok(()) => {
                            closed += 1;
                            // Closed exactly once: this thread alone replaces it.
                            let Some(q) = make() else { break };
                            assert_eq!(e.swap(q, Ordering::SeqCst), p);
                        }
                        Err(err) => assert_eq!(err, Errno::EBADF),
                    }
                    if n % 8 == 0 {
                        std::thread::yield_now();
                    }
                }
                closed
            }));
        }
        let counts: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        for e in table.iter() {
            // (EBADF: closed by a closer that ran out of ids.)
            let _ = close(e.load(Ordering::SeqCst) as *mut S);
        }
        let made = ids.load(Ordering::SeqCst).min(IDS);
        assert!(counts[3] + counts[4] > 100, "closes: {counts:?}");
        assert!(
            counts[..3].iter().all(|&n| n > 100),
            "calls inside: {counts:?}"
        );
        for (id, l) in live.iter().enumerate().take(made) {
            assert_eq!(
                l.load(Ordering::SeqCst),
                2,
                "object {id} of {made} not freed"
            );
        }
    }
}
