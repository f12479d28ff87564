//! The library's version, from `Cargo.toml` (the one source of it): the
//! header's `RIPC_VERSION_*` macros are generated from the same
//! `CARGO_PKG_VERSION*` values by `tests/header.rs` (`make header`), so a program can compare the
//! version it was compiled against with the one it runs on.

use core::ffi::{c_char, c_int};

/// `CARGO_PKG_VERSION`, NUL-terminated for C.
static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// A decimal `u32` from a version component (digits only, as Cargo
/// requires of major, minor and patch).
const fn parse(s: &str) -> u32 {
    let b = s.as_bytes();
    let mut i = 0;
    let mut v = 0u32;
    while i < b.len() {
        assert!(b[i].is_ascii_digit(), "version component is not a number");
        v = v * 10 + (b[i] - b'0') as u32;
        i += 1;
    }
    v
}

const MAJOR: u32 = parse(env!("CARGO_PKG_VERSION_MAJOR"));
const MINOR: u32 = parse(env!("CARGO_PKG_VERSION_MINOR"));
const PATCH: u32 = parse(env!("CARGO_PKG_VERSION_PATCH"));
const _: () = assert!(MINOR < 100 && PATCH < 100 && MAJOR < 20000);
const NUMBER: c_int = (MAJOR * 10000 + MINOR * 100 + PATCH) as c_int;

/// The version of the library this program runs on, as
/// `"MAJOR.MINOR.PATCH"` (the same form as `RIPC_VERSION_STRING`, the one
/// it was compiled against). A static string: never NULL, never freed.
#[no_mangle]
pub extern "C" fn ripc_version() -> *const c_char {
    VERSION.as_ptr().cast()
}

/// The version of the library this program runs on, as
/// `MAJOR * 10000 + MINOR * 100 + PATCH` (the same form as
/// `RIPC_VERSION_NUMBER`, the one it was compiled against).
#[no_mangle]
pub extern "C" fn ripc_version_number() -> c_int {
    NUMBER
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_matches_cargo() {
        // SAFETY: ripc_version returns a static NUL-terminated string.
        let s = unsafe { core::ffi::CStr::from_ptr(ripc_version()) };
        assert_eq!(s.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
        let want = format!("{MAJOR}.{MINOR}.{PATCH}");
        assert!(env!("CARGO_PKG_VERSION").starts_with(&want));
        assert_eq!(
            ripc_version_number() as u32,
            MAJOR * 10000 + MINOR * 100 + PATCH
        );
    }
}
