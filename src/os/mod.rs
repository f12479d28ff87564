//! Operating-system helpers that are not synchronisation: a raw system
//! call, descriptors and signal masks (here), who this process is and whether another one is
//! alive ([`proc`]) or held by the cgroup freezer ([`cgroup`]), the caller's credentials, and whether a C caller's
//! pointer may be read or written ([`probe`]), and `membarrier(2)`. The pipe and signal engines
//! both use them, so neither borrows from the other (no loop between
//! rooms); the engines, `ns` and `sync` build on them; nothing here uses
//! anything above it.

// The allocator is the global one only in the C libraries' build (the
// `sigsafe-alloc` feature); its unit tests run in every build.
#[cfg_attr(not(feature = "sigsafe-alloc"), allow(dead_code))]
pub mod alloc;
pub mod cancel;
pub mod cgroup;
pub mod creds;
pub(crate) mod dir;
mod fd;
pub(crate) mod membarrier;
pub(crate) mod name;
pub mod probe;
pub mod proc;
mod sigmask;
pub(crate) mod thread_exit;

pub(crate) use fd::{close_fd, set_fl};
pub(crate) use sigmask::{sigset, with_signals_blocked};

use core::ffi::c_long;

/// `d` as the kernel's relative `timespec` (seconds saturated at
/// `time_t`'s range), for the waits that take one (futex, nanosleep,
/// sigtimedwait).
#[inline]
pub(crate) fn timespec(d: core::time::Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    }
}

/// The system call `nr` with six arguments, made here rather than through
/// the C library (no cancellation point, no errno written, none of the C
/// library's code run): the result, or minus the error number (-4095..=-1).
///
/// # Safety
/// As `libc::syscall` with these arguments.
#[inline(always)]
pub(crate) unsafe fn raw_syscall(nr: c_long, args: [c_long; 6]) -> c_long {
    let [a, b, c, d, e, f] = args;
    #[cfg(target_arch = "x86_64")]
    {
        let r: c_long;
        // SAFETY: the caller's promise for the call itself; the syscall
        // instruction takes the number in rax and the arguments in rdi,
        // rsi, rdx, r10, r8, r9, returns in rax and clobbers rcx and r11
        // (x86-64 Linux ABI); memory may be read and written (no
        // `nomem`/`readonly`), the stack is not touched.
        unsafe {
            core::arch::asm!(
                "syscall",
                inlateout("rax") nr => r,
                in("rdi") a,
                in("rsi") b,
                in("rdx") c,
                in("r10") d,
                in("r8") e,
                in("r9") f,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        r
    }
    #[cfg(target_arch = "aarch64")]
    {
        let r: c_long;
        // SAFETY: as above; `svc 0` takes the number in x8 and the
        // arguments in x0..x5, and returns in x0 (aarch64 Linux ABI).
        unsafe {
            core::arch::asm!(
                "svc 0",
                in("x8") nr,
                inlateout("x0") a => r,
                in("x1") b,
                in("x2") c,
                in("x3") d,
                in("x4") e,
                in("x5") f,
                options(nostack),
            );
        }
        r
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        // SAFETY: the caller's promise.
        let r = unsafe { libc::syscall(nr, a, b, c, d, e, f) };
        if r == -1 {
            -(crate::error::Errno::last() as c_long)
        } else {
            r
        }
    }
}
