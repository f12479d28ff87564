//! A thread-local word in the initial-exec TLS model, for the few words
//! read on every call (the engines' per-thread caches). Rust's
//! `thread_local!` in a shared library uses the general-dynamic model, a
//! call of `__tls_get_addr` per access (11 instructions and a call), and
//! stable Rust has no way to ask for another model; [`ie_tls_word`]
//! declares the word in assembly and reads it at a fixed offset from the
//! thread pointer (two loads). Initial-exec in a shared library takes 8
//! bytes of the static TLS block per word (glibc keeps room for it even
//! for a `dlopen`ed library); a new thread's word is zero until its first
//! call stores it; a `fork` child's thread has its parent thread's word.
//! x86-64 Linux only: elsewhere the callers keep `thread_local!`.

/// `ie_tls_word!(module, "symbol", Type)`: a module with `get()`, this
/// thread's word as a `*const Type` (null until set), and `set(p)`.
macro_rules! ie_tls_word {
    ($(#[$attr:meta])* $m:ident, $sym:literal, $t:ty) => {
        $(#[$attr])*
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        mod $m {
            #[allow(unused_imports)]
            use super::*;

            core::arch::global_asm!(
                concat!(".pushsection .tbss.", $sym, ",\"awT\",@nobits"),
                ".p2align 3",
                concat!(".globl ", $sym),
                concat!(".hidden ", $sym),
                concat!(".type ", $sym, ",@object"),
                concat!(".size ", $sym, ",8"),
                concat!($sym, ":"),
                ".zero 8",
                ".popsection",
            );

            /// This thread's word (null until [`set`]).
            #[inline(always)]
            pub(super) fn get() -> *const $t {
                let p: *const $t;
                // SAFETY: reads this thread's 8-byte TLS word (declared
                // above, 8-aligned) at its offset from the thread pointer
                // (`fs`), which the GOT entry holds; no other effect.
                unsafe {
                    core::arch::asm!(
                        concat!("mov {p}, qword ptr [rip + ", $sym, "@GOTTPOFF]"),
                        "mov {p}, qword ptr fs:[{p}]",
                        p = out(reg) p,
                        options(nostack, preserves_flags, readonly),
                    );
                }
                p
            }

            /// Stores `p` in this thread's word.
            #[inline(never)]
            pub(super) fn set(p: *const $t) {
                // SAFETY: writes this thread's own TLS word (see `get`),
                // which nothing else refers to.
                unsafe {
                    core::arch::asm!(
                        concat!("mov {t}, qword ptr [rip + ", $sym, "@GOTTPOFF]"),
                        "mov qword ptr fs:[{t}], {p}",
                        t = out(reg) _,
                        p = in(reg) p,
                        options(nostack, preserves_flags),
                    );
                }
            }
        }
    };
}
pub(crate) use ie_tls_word;
