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
