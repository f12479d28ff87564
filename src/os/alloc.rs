//! The library's own memory allocator: async-signal-safe and fork-safe,
//! so that a signal handler may call the library whatever its thread was
//! doing — inside the C library's `malloc` included.
//!
//! Why: the library's calls allocate now and then (an object's first use
//! in a process, a look-up by key: its file names and lists; an
//! `IPC_RMID`: 4-6 blocks; a create). With the C library's `malloc`, a
//! handler that interrupted its own thread inside `malloc` or `free` and
//! then called, say, `msgctl(IPC_RMID)` — the tutorials' cleanup handler —
//! corrupted the heap: glibc's per-thread cache is not reentrant (the
//! program of `c_tests/t_handler_malloc.c` aborted within 10-35 handler
//! runs). The kernel's calls allocate nothing in the caller. So the C
//! libraries (`make lib`, cargo-c: the `sigsafe-alloc` feature) make this
//! the global allocator of libripc's Rust code; a Rust program that
//! depends on the crate keeps its own allocator (the feature is off).
//!
//! How: no lock anywhere, so that a handler interrupting any instruction
//! of an allocation of its own thread, a `fork` child of a thread that was
//! inside one, or a thread stopped inside one never makes another wait.
//! - Blocks of up to 4 KiB come in 28 size classes (16-byte steps to 128,
//!   then four per power of two), carved from chunks of a region reserved
//!   once per process (256 MiB of address space, `PROT_NONE`, taken from
//!   in chunks made readable and writable as needed with `mprotect`;
//!   16 MiB or 1 MiB under an `RLIMIT_AS` below 16 times that, or when the
//!   reservation is refused). Each class keeps a free list,
//!   a Treiber stack whose head is one `u64`: the index of the first free
//!   block (16-byte units from the region's start, plus one) and a 32-bit
//!   tag bumped by every change, so that a pop whose head was popped and
//!   pushed back meanwhile (by another thread, or by a handler on its own
//!   thread) fails its compare-and-swap instead of linking a block in use
//!   (ABA would need 2^32 changes between a load and its swap). A free
//!   block's first 4 bytes hold the next block's index. A pop reads that
//!   word of a block another thread may just have popped and be writing:
//!   the region is never unmapped, so the read is of mapped memory, and
//!   its value is used only if the swap shows the block still at the head.
//! - A refill takes a new chunk from the region (one `fetch_add`, one
//!   `mprotect`), keeps its first block and splices the rest onto the list
//!   with one swap. Chunks are never given back: the library's heap stays
//!   at its peak (a few hundred KiB for thousands of objects).
//! - Larger blocks (and any alignment above a page) are mappings of their
//!   own (`mmap`, `munmap`, `mremap` to grow): a system call each, for the
//!   rare big lists (a namespace's listing of 32000 names).
//! - When the region is full or could not be reserved, small blocks are
//!   mappings of a page each; `dealloc` tells them apart by address.
//!
//! What stays outside it: the C library's own allocations made on the
//! library's behalf — the first use of a thread-local with a destructor in
//! a thread registers it with `__cxa_thread_atexit_impl`, which calls
//! `calloc` (once per thread and key: a thread whose first call of the
//! library is made in a handler); `opendir` in the tools and in the rare
//! directory walks (a heal, a listing without index).

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::null_mut;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

const PAGE: usize = 4096;
/// The block granularity and the unit of a block's index.
const UNIT: usize = 16;
/// The largest block carved from the region.
const MAX_SMALL: usize = 4096;

/// The size classes, in bytes (all multiples of [`UNIT`]; the powers of
/// two among them serve alignments above 16).
const CLASSES: [usize; 28] = [
    16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 896, 1024,
    1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096,
];

/// The region's sizes, tried in turn (the largest one that `RLIMIT_AS`
/// leaves room for 16 times over: the region must not eat a limited
/// program's address space).
const RESERVE: [usize; 3] = [1 << 28, 1 << 24, 1 << 20];

/// The region: its start, with the index into [`RESERVE`] of its size in
/// the low bits (the start is page-aligned); 0 before the first
/// allocation, [`NO_REGION`] when no reservation could be made.
static REGION: AtomicUsize = AtomicUsize::new(0);
const NO_REGION: usize = 4;
/// Bytes of the region handed out to chunks (may pass the region's size:
/// then it is full).
static BRK: AtomicUsize = AtomicUsize::new(0);

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: AtomicU64 = AtomicU64::new(0);
/// Each class's free list: tag << 32 | index of the first block (0: empty).
static HEADS: [AtomicU64; CLASSES.len()] = [EMPTY; CLASSES.len()];

/// The allocator (a unit: its state is the process's, above).
#[derive(Debug, Clone, Copy, Default)]
pub struct SigSafe;

/// The class serving `size` bytes at `align`, if a small block does.
#[inline]
fn class_for(size: usize, align: usize) -> Option<usize> {
    if size > MAX_SMALL || align > PAGE {
        return None;
    }
    let first = CLASSES.iter().position(|&c| c >= size)?;
    (first..CLASSES.len()).find(|&c| CLASSES[c] % align == 0)
}

#[inline]
fn page_round(n: usize) -> usize {
    n.checked_add(PAGE - 1)
        .map_or(usize::MAX & !(PAGE - 1), |v| v & !(PAGE - 1))
}

/// The region's start and size, reserving it on first use; `None` when no
/// reservation could be made.
fn region() -> Option<(usize, usize)> {
    let r = REGION.load(Ordering::Acquire);
    match r {
        0 => reserve(),
        NO_REGION => None,
        _ => Some((r & !(PAGE - 1), RESERVE[r & (PAGE - 1)])),
    }
}

#[cold]
fn reserve() -> Option<(usize, usize)> {
    // SAFETY: getrlimit writes the struct it is given.
    let room = unsafe {
        let mut r: libc::rlimit = core::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_AS, &mut r) == 0 && r.rlim_cur != libc::RLIM_INFINITY {
            (r.rlim_cur / 16) as usize
        } else {
            usize::MAX
        }
    };
    for (i, &len) in RESERVE.iter().enumerate() {
        if len > room && i + 1 < RESERVE.len() {
            continue;
        }
        // SAFETY: a new private anonymous mapping with no access: touches
        // no existing memory.
        let p = unsafe {
            libc::mmap(
                null_mut(),
                len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            continue;
        }
        let mine = p as usize | i;
        return match REGION.compare_exchange(0, mine, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => Some((p as usize, len)),
            Err(theirs) => {
                // Another thread, or a handler that interrupted this one,
                // reserved first: theirs is the process's.
                // SAFETY: our own reservation, never published.
                unsafe { libc::munmap(p, len) };
                region_of(theirs)
            }
        };
    }
    match REGION.compare_exchange(0, NO_REGION, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => None,
        Err(theirs) => region_of(theirs),
    }
}

fn region_of(r: usize) -> Option<(usize, usize)> {
    (r != NO_REGION && r != 0).then(|| (r & !(PAGE - 1), RESERVE[r & (PAGE - 1)]))
}

/// Whether `p` is a block of the region.
#[inline]
fn in_region(p: usize) -> Option<usize> {
    let (base, len) = region_of(REGION.load(Ordering::Acquire))?;
    (p >= base && p < base + len).then_some(base)
}

/// The next-index word of the free block at `p`.
///
/// # Safety
/// `p` lies in the region's part handed out to chunks (mapped readable and
/// writable for good), and is `UNIT`-aligned.
#[inline]
unsafe fn next_word<'a>(p: usize) -> &'a AtomicU32 {
    // SAFETY: per the contract, 4 aligned bytes of memory that stays mapped
    // for the process's life; accessed atomically by the allocator.
    unsafe { &*(p as *const AtomicU32) }
}

#[inline]
fn index_of(base: usize, p: usize) -> u32 {
    ((p - base) / UNIT + 1) as u32
}

#[inline]
fn bumped(h: u64, index: u32) -> u64 {
    ((h >> 32).wrapping_add(1) << 32) | index as u64
}

/// Pushes the chain `first..=last` (linked through their next words) onto
/// class `c`'s list.
///
/// # Safety
/// The chain's blocks are free blocks of the region of class `c`, owned by
/// the caller.
unsafe fn push_chain(c: usize, base: usize, first: usize, last: usize) {
    let head = &HEADS[c];
    let mut h = head.load(Ordering::Relaxed);
    loop {
        // SAFETY: `last` is a block of the region (the caller's contract).
        unsafe { next_word(last) }.store(h as u32, Ordering::Relaxed);
        match head.compare_exchange_weak(
            h,
            bumped(h, index_of(base, first)),
            Ordering::Release,
            Ordering::Relaxed,
        ) {
            Ok(_) => return,
            Err(now) => h = now,
        }
    }
}

/// A block of class `c` from its list, or from a new chunk; `None` when
/// the region is full or missing.
fn pop(c: usize) -> Option<usize> {
    let (base, len) = region()?;
    let head = &HEADS[c];
    let mut h = head.load(Ordering::Acquire);
    loop {
        let i = h as u32;
        if i == 0 {
            return refill(c, base, len);
        }
        let p = base + (i as usize - 1) * UNIT;
        // SAFETY: an index on a list names a block carved from a chunk
        // (mapped for good). The block may have been popped since `h` was
        // read, and its word be anything: then the swap below fails.
        let next = unsafe { next_word(p) }.load(Ordering::Relaxed);
        match head.compare_exchange_weak(h, bumped(h, next), Ordering::Acquire, Ordering::Acquire) {
            Ok(_) => return Some(p),
            Err(now) => h = now,
        }
    }
}

/// Bytes of a new chunk for blocks of `size` bytes: 32 blocks, at least a
/// page, at most 64 KiB (a multiple of every power-of-two class).
#[inline]
fn chunk_len(size: usize) -> usize {
    page_round(size * 32).clamp(PAGE, 64 * 1024)
}

#[cold]
fn refill(c: usize, base: usize, len: usize) -> Option<usize> {
    let size = CLASSES[c];
    let chunk = chunk_len(size);
    let off = BRK.fetch_add(chunk, Ordering::Relaxed);
    if off.checked_add(chunk)? > len {
        return None;
    }
    let start = base + off;
    // SAFETY: `start..start + chunk` lies in the region (checked above),
    // reserved by this allocator and handed to this call alone by the
    // `fetch_add`.
    if unsafe { libc::mprotect(start as *mut _, chunk, libc::PROT_READ | libc::PROT_WRITE) } != 0 {
        return None;
    }
    let n = chunk / size;
    if n > 1 {
        for k in 1..n - 1 {
            let p = start + k * size;
            // SAFETY: block `k` of the new chunk, mapped just now, this
            // call's alone.
            unsafe { next_word(p) }.store(index_of(base, p + size), Ordering::Relaxed);
        }
        // SAFETY: blocks 1..n of the new chunk, linked above, free and
        // this call's alone, of class `c`.
        unsafe { push_chain(c, base, start + size, start + (n - 1) * size) };
    }
    Some(start)
}

/// A mapping of its own for `size` bytes at `align`.
fn map_big(size: usize, align: usize) -> *mut u8 {
    let len = page_round(size);
    let extra = if align > PAGE { align } else { 0 };
    let Some(total) = len.checked_add(extra) else {
        return null_mut();
    };
    // SAFETY: a new private anonymous mapping: touches no existing memory.
    let p = unsafe {
        libc::mmap(
            null_mut(),
            total,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return null_mut();
    }
    let p = p as usize;
    if extra == 0 {
        return p as *mut u8;
    }
    let a = (p + align - 1) & !(align - 1);
    // SAFETY: the parts of the mapping just made before `a` and after
    // `a + len` (whole pages: `a`, `p` and `len` are page multiples).
    unsafe {
        if a > p {
            libc::munmap(p as *mut _, a - p);
        }
        if p + total > a + len {
            libc::munmap((a + len) as *mut _, p + total - (a + len));
        }
    }
    a as *mut u8
}

/// The length of the mapping that holds a block of `layout` outside the
/// region.
#[inline]
fn big_len(layout: Layout) -> usize {
    match class_for(layout.size(), layout.align()) {
        Some(_) => PAGE,
        None => page_round(layout.size()),
    }
}

// SAFETY: `alloc` returns blocks of at least the layout's size at its
// alignment (class sizes are multiples of 16, and a class is chosen whose
// size is a multiple of an alignment above 16; chunks start on a page and
// power-of-two classes tile it; mappings are page-aligned or trimmed to
// the alignment), each handed to one caller until `dealloc`; `dealloc`
// takes back exactly what `alloc` gave for that layout.
unsafe impl GlobalAlloc for SigSafe {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match class_for(layout.size(), layout.align()) {
            Some(c) => pop(c).map_or_else(|| map_big(PAGE, PAGE), |p| p as *mut u8),
            None => map_big(layout.size(), layout.align()),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let p = ptr as usize;
        match (in_region(p), class_for(layout.size(), layout.align())) {
            (Some(base), Some(c)) => {
                // SAFETY: a block of class `c` this allocator gave for
                // `layout`, now the allocator's again (the caller's
                // contract).
                unsafe { push_chain(c, base, p, p) }
            }
            _ => {
                // SAFETY: a mapping of its own made for this layout
                // (`map_big`, or `mremap` in `realloc`), of that length.
                unsafe { libc::munmap(ptr as *mut _, big_len(layout)) };
            }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = ptr as usize;
        let old = class_for(layout.size(), layout.align());
        let new = class_for(new_size, layout.align());
        let ours = in_region(p).is_some();
        if ours && old.is_some() && old == new {
            return ptr;
        }
        if !ours && old.is_none() && new.is_none() && layout.align() <= PAGE {
            // SAFETY: a mapping of its own of `page_round(layout.size())`
            // bytes (the caller's contract), moved or grown as a whole.
            let q = unsafe {
                libc::mremap(
                    ptr as *mut _,
                    page_round(layout.size()),
                    page_round(new_size),
                    libc::MREMAP_MAYMOVE,
                )
            };
            if q != libc::MAP_FAILED {
                return q as *mut u8;
            }
            return null_mut();
        }
        // SAFETY: `new_size` is not 0 and, rounded to the alignment, does
        // not overflow (the caller's contract for `realloc`).
        let to = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: as `alloc`'s contract (a non-zero size).
        let q = unsafe { self.alloc(to) };
        if !q.is_null() {
            // SAFETY: both blocks hold at least the bytes copied, and are
            // distinct (the new one was free until now).
            unsafe { core::ptr::copy_nonoverlapping(ptr, q, layout.size().min(new_size)) };
            // SAFETY: the old block, given for `layout` (the caller's
            // contract), no longer used.
            unsafe { self.dealloc(ptr, layout) };
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn every_class_serves_its_sizes_and_alignments() {
        for size in 1..=MAX_SMALL {
            for align in [1, 2, 8, 16, 32, 64, 256, 4096] {
                let c = class_for(size, align).unwrap();
                assert!(
                    CLASSES[c] >= size && CLASSES[c] % align == 0,
                    "{size} {align}"
                );
                if c > 0 && CLASSES[c - 1] >= size {
                    assert!(
                        CLASSES[c - 1] % align != 0,
                        "{size} {align}: a smaller class fits"
                    );
                }
            }
        }
        assert_eq!(class_for(MAX_SMALL + 1, 8), None);
        assert_eq!(class_for(8, 8192), None);
    }

    #[test]
    fn blocks_are_aligned_distinct_and_reused() {
        let a = SigSafe;
        let mut seen = HashSet::new();
        let mut live = Vec::new();
        for (i, &(size, align)) in [
            (1, 1),
            (24, 8),
            (2500, 16),
            (100, 32),
            (4000, 64),
            (4096, 4096),
            (5000, 8),
            (9000, 8192),
        ]
        .iter()
        .cycle()
        .take(800)
        .enumerate()
        {
            let l = layout(size, align);
            // SAFETY: a non-zero size.
            let p = unsafe { a.alloc(l) };
            assert!(!p.is_null());
            assert_eq!(p as usize % align, 0, "{size} at {align}");
            assert!(seen.insert(p as usize), "a block handed out twice");
            // SAFETY: the block holds `size` bytes.
            unsafe { core::ptr::write_bytes(p, i as u8, size) };
            live.push((p, l, i as u8));
        }
        for &(p, l, v) in &live {
            // SAFETY: each block, still ours, holds `l.size()` bytes.
            let s = unsafe { core::slice::from_raw_parts(p, l.size()) };
            assert!(s.iter().all(|&b| b == v), "a block changed under its owner");
        }
        let small: Vec<usize> = live
            .iter()
            .filter(|(_, l, _)| l.size() == 2500)
            .map(|(p, _, _)| *p as usize)
            .collect();
        for (p, l, _) in live {
            // SAFETY: given by `alloc` for `l`, not used after.
            unsafe { a.dealloc(p, l) };
        }
        // Freed blocks come back (the region is not grown for them; no
        // other test uses this class).
        let again: Vec<usize> = (0..small.len())
            // SAFETY: a non-zero size.
            .map(|_| unsafe { a.alloc(layout(2500, 16)) } as usize)
            .collect();
        assert!(
            again.iter().all(|p| small.contains(p)),
            "freed blocks are reused first"
        );
        for p in again {
            // SAFETY: given by `alloc` for that layout.
            unsafe { a.dealloc(p as *mut u8, layout(2500, 16)) };
        }
    }

    #[test]
    fn realloc_keeps_the_bytes_across_classes_and_mappings() {
        let a = SigSafe;
        let l = layout(10, 8);
        // SAFETY: a non-zero size.
        let mut p = unsafe { a.alloc(l) };
        // SAFETY: 10 bytes of the block.
        unsafe { core::ptr::copy_nonoverlapping(b"0123456789".as_ptr(), p, 10) };
        let mut cur = l;
        for n in [12, 100, 3000, 4096, 6000, 200_000, 70_000, 5000, 64, 10] {
            // SAFETY: `p` was given for `cur`; `n` is not 0.
            p = unsafe { a.realloc(p, cur, n) };
            assert!(!p.is_null());
            cur = layout(n, 8);
            // SAFETY: the block holds at least 10 bytes.
            assert_eq!(
                unsafe { core::slice::from_raw_parts(p, 10) },
                b"0123456789",
                "at {n}"
            );
        }
        // SAFETY: given for `cur`.
        unsafe { a.dealloc(p, cur) };
    }

    /// Threads, and a signal handler on each of them, allocate and free at
    /// once: a handler interrupts pops and pushes of its own thread at any
    /// instruction. No block is handed to two owners, none changes under
    /// its owner.
    #[test]
    fn threads_and_their_handlers_never_share_a_block() {
        static BAD: AtomicUsize = AtomicUsize::new(0);
        static HANDLED: AtomicUsize = AtomicUsize::new(0);

        fn churn(tag: u8, rounds: usize, seed: &mut u64) {
            let a = SigSafe;
            let mut mine: [(usize, usize); 8] = [(0, 0); 8];
            for _ in 0..rounds {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                let slot = (*seed % 8) as usize;
                let (p, n) = mine[slot];
                if p != 0 {
                    // SAFETY: our block of `n` bytes.
                    let s = unsafe { core::slice::from_raw_parts(p as *const u8, n) };
                    if s.iter().any(|&b| b != tag) {
                        BAD.fetch_add(1, Ordering::Relaxed);
                    }
                    // SAFETY: given for this layout.
                    unsafe { a.dealloc(p as *mut u8, layout(n, 8)) };
                }
                let n = 1 + (*seed >> 20) as usize % 300;
                // SAFETY: a non-zero size.
                let q = unsafe { a.alloc(layout(n, 8)) };
                // SAFETY: the block holds `n` bytes.
                unsafe { core::ptr::write_bytes(q, tag, n) };
                mine[slot] = (q as usize, n);
            }
            for (p, n) in mine {
                if p != 0 {
                    // SAFETY: given for this layout.
                    unsafe { a.dealloc(p as *mut u8, layout(n, 8)) };
                }
            }
        }

        extern "C" fn on_signal(_: libc::c_int) {
            let mut seed =
                0x9e37_79b9_7f4a_7c15u64 ^ HANDLED.fetch_add(1, Ordering::Relaxed) as u64;
            churn(0xEE, 16, &mut seed);
        }

        // SAFETY: installs a handler that only allocates from this
        // allocator (async-signal-safe) and counts; SIGUSR2 is used by
        // nothing else in the crate, and is sent below to this test's
        // workers alone (other tests' threads never get it).
        unsafe {
            let mut sa: libc::sigaction = core::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigaction(libc::SIGUSR2, &sa, null_mut());
        }
        use std::os::unix::thread::JoinHandleExt;
        let workers: Vec<_> = (0..4u8)
            .map(|t| {
                std::thread::spawn(move || {
                    let mut seed = 0x1234_5678_9abc_def1u64.wrapping_mul(t as u64 + 1);
                    let t0 = std::time::Instant::now();
                    while t0.elapsed().as_millis() < 1500 {
                        churn(t + 1, 200, &mut seed);
                    }
                })
            })
            .collect();
        let ids: Vec<libc::pthread_t> = workers.iter().map(|w| w.as_pthread_t()).collect();
        let t0 = std::time::Instant::now();
        let mut k = 0u64;
        while t0.elapsed().as_millis() < 1400 {
            for &id in &ids {
                // SAFETY: a live worker (each runs 1500 ms, joined below).
                unsafe { libc::pthread_kill(id, libc::SIGUSR2) };
            }
            k += 1;
            std::thread::sleep(std::time::Duration::from_micros(50 + k % 150));
        }
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(
            BAD.load(Ordering::Relaxed),
            0,
            "a block changed under its owner"
        );
        assert!(
            HANDLED.load(Ordering::Relaxed) > 50,
            "the handler ran ({})",
            HANDLED.load(Ordering::Relaxed)
        );
    }
}
