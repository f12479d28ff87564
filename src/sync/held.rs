//! The object locks this thread holds, for a call that meets one of them.
//!
//! A lock word names a process, not a thread: a caller that finds its own
//! pid there waits, taking the holder for a sibling thread that will let
//! go. That is wrong in one case — a signal handler that interrupted its
//! own thread inside a locked section (a `msgsnd`, a multi-operation
//! `semop`, a move) and then calls the library on the same object. The
//! holder cannot run again until the handler returns, so the handler's
//! call waited for itself: a control call (`IPC_STAT`, `GETVAL`) for ever,
//! an `IPC_NOWAIT` call to its bound, an untimed call for ever. The
//! kernel performs each of them at once: its system calls are atomic with
//! respect to the caller's own signal handlers.
//!
//! So each thread keeps the addresses of the locks it holds (and the
//! fences it holds as a mover, which may turn back into holds), noted
//! before the compare-and-swap that makes the word its own (forgotten if
//! it fails) and forgotten after the release:
//! [`RobustLock`](super::RobustLock) asks [`holds`] when a word is a plain
//! hold by this process, and answers at once instead of waiting
//! (docs/bounded-time.md, "A signal handler's call on its own thread's
//! lock").
//!
//! A handler may run between any two instructions of [`note`] and
//! [`forget`], and itself notes and forgets (its calls end before it
//! returns, so it leaves the count as it found it): a note raises the
//! count before it fills the slot (a handler that runs between the two
//! takes the next slot, and may read this one's previous address: most
//! often the same lock, which is about to be held), a slot above the
//! count is nobody's.
//! Windows: a handler that runs between the compare-and-swap and its note
//! waits as before; one that runs between a release and its forgetting,
//! while a sibling thread took the lock meanwhile, answers at once rather
//! than waiting for the sibling (a bounded answer, never a shared lock).
//! More than [`SLOTS`] locks at a time are not noted (nothing holds more
//! than four).
//!
//! A mover also notes, for the length of its move, each lock of the
//! object it moves with [`MOVING`] set ([`Moving`]): a handler that
//! meets its own thread's fence there ([`moving`]) is answered as for its
//! own thread's lock instead of waiting for a move that only its
//! interrupted thread can finish (docs/bounded-time.md, "A handler
//! whose thread is moving the object").

use core::ptr::{addr_of_mut, read_volatile, write_volatile};
use core::sync::atomic::{compiler_fence, Ordering};

/// Locks one thread can have noted at a time.
pub const SLOTS: usize = 15;

/// In a noted address (locks are 16-byte aligned): not a hold, the mark
/// of a move this thread is making of the object the lock guards.
pub const MOVING: usize = 1;

/// One thread's list (128 bytes of thread-local storage).
#[allow(missing_debug_implementations)]
#[repr(C)]
pub struct Held {
    n: usize,
    at: [usize; SLOTS],
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod tls {
    use super::Held;

    // The list in the initial-exec TLS model, as `msg::last_ie` (a Rust
    // `thread_local!` in a shared library costs a `__tls_get_addr` call
    // per access, and this one is on every lock's uncontended path). A new
    // thread's block is zero: an empty list.
    core::arch::global_asm!(
        ".pushsection .tbss.ripc_held,\"awT\",@nobits",
        ".p2align 6",
        ".globl ripc_held",
        ".hidden ripc_held",
        ".type ripc_held,@object",
        ".size ripc_held,128",
        "ripc_held:",
        ".zero 128",
        ".popsection",
    );

    /// This thread's list.
    #[inline(always)]
    pub(super) fn list() -> *mut Held {
        let p: *mut Held;
        // SAFETY: computes the address of this thread's 128-byte TLS block
        // `ripc_held` (declared above): its offset from the thread pointer
        // (the GOT entry) plus the thread pointer, which the x86-64 TLS
        // ABI keeps at `fs:0`. Reads only.
        unsafe {
            core::arch::asm!(
                "mov {p}, qword ptr [rip + ripc_held@GOTTPOFF]",
                "add {p}, qword ptr fs:0",
                p = out(reg) p,
                options(nostack, readonly),
            );
        }
        p
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod tls {
    use super::{Held, SLOTS};

    thread_local! {
        static HELD: core::cell::UnsafeCell<Held> =
            const { core::cell::UnsafeCell::new(Held { n: 0, at: [0; SLOTS] }) };
    }

    /// This thread's list.
    #[inline(always)]
    pub(super) fn list() -> *mut Held {
        HELD.with(|h| h.get())
    }
}

/// Notes that this thread holds the lock at `addr`.
#[inline(always)]
pub fn note(addr: usize) {
    let h = tls::list();
    // SAFETY: `h` is this thread's own list (`tls::list`), touched by
    // this thread only (and by its signal handlers, which leave it as
    // they found it); the slot index is checked against SLOTS.
    unsafe {
        let n = read_volatile(addr_of_mut!((*h).n));
        if n < SLOTS {
            // The count first: a handler that runs between the two
            // stores takes the next slot, not this one.
            write_volatile(addr_of_mut!((*h).n), n + 1);
            compiler_fence(Ordering::SeqCst);
            write_volatile(addr_of_mut!((*h).at[n]), addr);
        }
    }
}

/// Forgets the lock at `addr` (released, or taken from this thread by a
/// fence). Nothing when it was not noted.
#[inline(always)]
pub fn forget(addr: usize) {
    let h = tls::list();
    // SAFETY: as in `note`; every index is below the count read, itself
    // at most SLOTS (only `note` raises it, never past SLOTS).
    unsafe {
        let n = read_volatile(addr_of_mut!((*h).n)).min(SLOTS);
        if n > 0 && read_volatile(addr_of_mut!((*h).at[n - 1])) == addr {
            // (With the slots below it that were cleared: a lock let go
            // before the one taken after it, as a queue's `slock`.)
            let mut top = n - 1;
            while top > 0 && read_volatile(addr_of_mut!((*h).at[top - 1])) == 0 {
                top -= 1;
            }
            write_volatile(addr_of_mut!((*h).n), top);
            return;
        }
        forget_below(h, n, addr);
    }
}

/// [`forget`] of a lock that is not the last noted: its slot cleared,
/// then the cleared slots at the top given back.
#[cold]
#[inline(never)]
unsafe fn forget_below(h: *mut Held, n: usize, addr: usize) {
    // SAFETY (for the block): the caller's `h` and `n` (`n <= SLOTS`).
    unsafe {
        for i in (0..n).rev() {
            if read_volatile(addr_of_mut!((*h).at[i])) == addr {
                write_volatile(addr_of_mut!((*h).at[i]), 0);
                break;
            }
        }
        let mut top = n;
        while top > 0 && read_volatile(addr_of_mut!((*h).at[top - 1])) == 0 {
            top -= 1;
        }
        if top != n {
            write_volatile(addr_of_mut!((*h).n), top);
        }
    }
}

/// Whether this thread holds the lock at `addr` (as noted).
pub fn holds(addr: usize) -> bool {
    let h = tls::list();
    // SAFETY: as in `forget`.
    unsafe {
        let n = read_volatile(addr_of_mut!((*h).n)).min(SLOTS);
        (0..n).any(|i| read_volatile(addr_of_mut!((*h).at[i])) == addr)
    }
}

/// Whether this thread is moving the object the lock at `addr` guards:
/// its move, marked by a [`Moving`], is on this thread's stack (a signal
/// handler that interrupted it is running).
#[inline]
pub fn moving(addr: usize) -> bool {
    holds(addr | MOVING)
}

/// The mark of a move this thread makes of the object whose locks are
/// at the addresses given, from before its first fence to the move's end
/// (the guard's drop). Async-signal-safe: notes and forgets only.
#[allow(missing_debug_implementations)]
pub struct Moving {
    at: [usize; 2],
}

impl Moving {
    /// Marks the locks at `a` and `b` (the same twice for an object of
    /// one lock) as this thread's move's.
    #[inline]
    pub fn new(a: usize, b: usize) -> Moving {
        note(a | MOVING);
        if b != a {
            note(b | MOVING);
        }
        Moving { at: [a, b] }
    }
}

impl Drop for Moving {
    #[inline]
    fn drop(&mut self) {
        let [a, b] = self.at;
        if b != a {
            forget(b | MOVING);
        }
        forget(a | MOVING);
    }
}

/// Empties the list: in a `fork` child, whose pid no lock word names (the
/// forking thread's list is inherited with its memory).
pub fn forget_all() {
    // SAFETY: as in `note`.
    unsafe { write_volatile(addr_of_mut!((*tls::list()).n), 0) };
}

/// How many locks this thread has noted (for tests: none after a call).
pub fn count() -> usize {
    // SAFETY: as in `note`.
    unsafe { read_volatile(addr_of_mut!((*tls::list()).n)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_forgotten_in_any_order() {
        forget_all();
        note(10);
        note(20);
        note(30);
        assert!(holds(20) && holds(10) && holds(30));
        forget(20);
        assert!(!holds(20) && holds(10) && holds(30));
        assert_eq!(count(), 3, "a cleared slot below the top stays counted");
        forget(30);
        assert_eq!(count(), 1, "the cleared slots at the top are given back");
        note(40);
        forget(10);
        forget(40);
        assert_eq!(count(), 0, "the first taken let go first");
        note(10);
        forget(99);
        assert_eq!(count(), 1);
        forget(10);
        assert_eq!(count(), 0);
        for i in 1..=SLOTS + 2 {
            note(i);
        }
        assert_eq!(count(), SLOTS, "locks beyond the slots are not noted");
        assert!(!holds(SLOTS + 1));
        forget_all();
        assert!(!holds(1));
    }

    #[test]
    fn a_moves_mark_is_no_hold_and_ends_with_its_guard() {
        forget_all();
        note(64);
        {
            let _m = Moving::new(64, 80);
            assert!(moving(64) && moving(80) && !moving(96));
            assert!(holds(64) && !holds(80), "a mark is not a hold");
            let _n = Moving::new(96, 96);
            assert!(moving(96));
            assert_eq!(count(), 4);
        }
        assert!(!moving(64) && !moving(80) && !moving(96));
        assert!(holds(64));
        forget(64);
        assert_eq!(count(), 0);
    }

    #[test]
    fn each_thread_has_its_own_list() {
        forget_all();
        note(7);
        let other = std::thread::spawn(|| (holds(7), count())).join().unwrap();
        assert_eq!(other, (false, 0));
        assert!(holds(7));
        forget(7);
    }
}
