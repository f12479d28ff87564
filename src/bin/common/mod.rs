//! Code shared by `ripcs`, `ripcrm` and `ripcmk`: option parsing as GNU
//! `getopt_long` does it, util-linux's number and size parsers, its message
//! conventions (`prog: message`), and the listing of a namespace's objects
//! through the System V calls (`*_INFO` for the highest index, then
//! `*_STAT_ANY` — or `*_STAT` on kernels without it — for every index).
#![allow(dead_code)]

pub mod sysv_calls;

use core::ffi::{c_char, c_int, c_void};
use ripc::error::Errno;
use ripc::ffi::cstructs::*;
use std::collections::HashMap;
use std::io::Write;

mod getopt;
mod listing;
mod number;
mod output;

pub use getopt::*;
pub use listing::*;
pub use number::*;
pub use output::*;

// ---------------------------------------------------------------------------
// the namespace

/// Under the user backend, the namespace the library uses, checked as the
/// library checks it (see `ripc::ns::trust`): a directory that is refused,
/// or a `RIPC_DIR` that does not exist, ends the tool with a message that
/// names the path, the problem and the fix (exit status 1). `None` under
/// the kernel backend.
pub fn check_namespace(prog: &str) -> Option<&'static ripc::ns::Ns> {
    use ripc::ns::{Ns, Problem};
    if ripc::sysv::is_kernel() {
        return None;
    }
    let (dir, default) = Ns::default_path();
    if !default && std::fs::symlink_metadata(&dir).is_err() {
        errx(prog, &Problem::Missing.message(&dir));
    }
    match Ns::default_ns_explained() {
        Ok(ns) => Some(ns),
        Err((d, p)) => errx(prog, &p.message(&d)),
    }
}

// ---------------------------------------------------------------------------
// SIGBUS: an object file cut short under the tool

static RETRY_ARGV: std::sync::atomic::AtomicPtr<*const c_char> =
    std::sync::atomic::AtomicPtr::new(core::ptr::null_mut());
static RETRY_ENVP: std::sync::atomic::AtomicPtr<*const c_char> =
    std::sync::atomic::AtomicPtr::new(core::ptr::null_mut());
static GIVE_UP: std::sync::atomic::AtomicPtr<u8> =
    std::sync::atomic::AtomicPtr::new(core::ptr::null_mut());
static GIVE_UP_LEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many times a tool starts again after a SIGBUS. Each start is a
/// new draw against a member that keeps truncating: with 8, a quiet
/// machine saw `ripcs -a` give up in 1 of 80 runs of `t_tools_sigbus`
/// (about 6 starts in 10 faulted); 64 starts cost at most 64 listings.
const SIGBUS_RETRIES: u32 = 64;

/// The environment variable counting those starts.
const SIGBUS_ENV: &str = "RIPC_TOOL_SIGBUS_RETRY";

/// A member allowed to write an object file (its own, or one it was
/// granted anything on) can truncate it while a tool reads it through a
/// mapping: the tool then gets SIGBUS (the library installs no handler:
/// the signal disposition is its caller's; see docs/security.md). Root's
/// `ripcs -a` died so 3 times in 40 while a member kept cutting its files
/// short (`c_tests/t_tools_sigbus`). A tool owns its process, so it
/// handles it: the handler starts the tool again from the beginning
/// (`execve` of `/proc/self/exe` with the same arguments: async-signal-
/// safe; a listing prints nothing before its end, and `ripcrm -a` carries
/// on with what is left), up to [`SIGBUS_RETRIES`] times, then says why
/// and exits with status 1. Everything the handler needs is built here.
pub fn restart_on_sigbus(prog: &str) {
    use std::ffi::CString;
    let n: u32 = std::env::var(SIGBUS_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let msg = format!(
        "{prog}: a namespace file was cut short while it was read (SIGBUS): a member allowed to write an object file keeps truncating it; gave up after {n} new starts\n"
    );
    let msg: &'static mut [u8] = Box::leak(msg.into_bytes().into_boxed_slice());
    GIVE_UP_LEN.store(msg.len(), std::sync::atomic::Ordering::Relaxed);
    GIVE_UP.store(msg.as_mut_ptr(), std::sync::atomic::Ordering::Relaxed);
    if n < SIGBUS_RETRIES {
        let leak = |v: Vec<CString>| -> *mut *const c_char {
            let mut p: Vec<*const c_char> = v
                .into_iter()
                .map(|c| c.into_raw() as *const c_char)
                .collect();
            p.push(core::ptr::null());
            Box::leak(p.into_boxed_slice()).as_mut_ptr()
        };
        use std::os::unix::ffi::OsStrExt;
        let argv: Vec<CString> = std::env::args_os()
            .filter_map(|a| CString::new(a.as_bytes()).ok())
            .collect();
        let mut envp: Vec<CString> = std::env::vars_os()
            .filter(|(k, _)| k.as_bytes() != SIGBUS_ENV.as_bytes())
            .filter_map(|(k, v)| {
                let mut b = k.as_bytes().to_vec();
                b.push(b'=');
                b.extend_from_slice(v.as_bytes());
                CString::new(b).ok()
            })
            .collect();
        if let Ok(c) = CString::new(format!("{SIGBUS_ENV}={}", n + 1)) {
            envp.push(c);
        }
        RETRY_ENVP.store(leak(envp), std::sync::atomic::Ordering::Relaxed);
        RETRY_ARGV.store(leak(argv), std::sync::atomic::Ordering::Relaxed);
    }
    // SAFETY: installing a handler for SIGBUS with a zeroed (then filled)
    // sigaction; the handler only makes async-signal-safe calls.
    unsafe {
        let mut sa: libc::sigaction = core::mem::zeroed();
        sa.sa_sigaction = on_sigbus as extern "C" fn(c_int) as usize;
        // Not blocked while handled: the mask survives execve, and a
        // blocked SIGBUS would kill the new start at once.
        sa.sa_flags = libc::SA_NODEFER;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGBUS, &sa, core::ptr::null_mut());
    }
}

extern "C" fn on_sigbus(_sig: c_int) {
    let argv = RETRY_ARGV.load(std::sync::atomic::Ordering::Relaxed);
    let envp = RETRY_ENVP.load(std::sync::atomic::Ordering::Relaxed);
    // SAFETY: execve, write and _exit are async-signal-safe; the argument
    // and environment arrays were built (NULL-terminated) and leaked by
    // `restart_on_sigbus`, the message likewise.
    unsafe {
        if !argv.is_null() && !envp.is_null() {
            libc::execve(
                c"/proc/self/exe".as_ptr(),
                argv as *const *const c_char,
                envp as *const *const c_char,
            );
        }
        let m = GIVE_UP.load(std::sync::atomic::Ordering::Relaxed);
        if !m.is_null() {
            let _ = libc::write(
                2,
                m as *const c_void,
                GIVE_UP_LEN.load(std::sync::atomic::Ordering::Relaxed),
            );
        }
        libc::_exit(1);
    }
}

/// True when `args` only ask for help or the version (no namespace needed).
pub fn only_help(args: &[String]) -> bool {
    !args.is_empty()
        && args
            .iter()
            .all(|a| matches!(a.as_str(), "-h" | "--help" | "-V" | "--version"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("1K"), Ok(1024));
        assert_eq!(parse_size("1kib"), Ok(1024));
        assert_eq!(parse_size("2KB"), Ok(2000));
        assert_eq!(parse_size("1.5K"), Ok(1536));
        assert_eq!(parse_size("1.05K"), Ok(1024 + 51));
        assert_eq!(parse_size("0x10"), Ok(16));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("1x"), Err(libc::EINVAL));
        assert_eq!(parse_size("-1"), Err(libc::EINVAL));
        assert_eq!(parse_size("1.5"), Err(libc::EINVAL));
        assert_eq!(parse_size("99999999999Y"), Err(libc::ERANGE));
    }

    #[test]
    fn humans() {
        assert_eq!(human(0), "0B");
        assert_eq!(human(1), "1B");
        assert_eq!(human(4096), "4K");
        assert_eq!(human(10000), "9.8K");
        assert_eq!(human(16384), "16K");
        assert_eq!(human(18446744073692774399), "16E");
    }

    #[test]
    fn numbers() {
        assert_eq!(c_strtoul("0x1ff", 0), (0x1ff, 5, false));
        assert_eq!(c_strtoul("0777", 0), (0o777, 4, false));
        assert_eq!(c_strtoul("8a", 8), (0, 0, false));
        assert_eq!(c_strtoimax("-12"), (-12, 3, false));
        assert_eq!(c_strtoimax(" 7x"), (7, 2, false));
        assert!(c_strtoimax("99999999999999999999").2);
    }

    #[test]
    fn getopt_permutes_and_clusters() {
        let longs = [LongOpt {
            name: "all",
            has_arg: HasArg::Opt,
            val: 'a',
        }];
        let args = ["x", "-vq", "5", "--all=shm", "-ashm", "--", "-q"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut g = Getopt::new(args, "q:va::", &longs);
        let mut got = Vec::new();
        while let Some(p) = g.next_opt() {
            got.push(p);
        }
        assert_eq!(
            got,
            vec![
                Parsed::Opt('v', None),
                Parsed::Opt('q', Some("5".into())),
                Parsed::Opt('a', Some("shm".into())),
                Parsed::Opt('a', Some("shm".into())),
            ]
        );
        assert_eq!(g.operands, vec!["x".to_string(), "-q".to_string()]);
    }
}
