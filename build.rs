//! Links the shared library with its soname and generates the C header
//! with cbindgen.
//!
//! The version has one source, `Cargo.toml`: the soname's major
//! (`libripc.so.MAJOR`), the header's `RIPC_VERSION_*` macros, `ripc_version()`
//! (src/ffi/version.rs) and, through the Makefile, `ripc.pc` all derive
//! from `CARGO_PKG_VERSION*`.
//!
//! The header is generated into `$OUT_DIR/ripc.h` whenever this script
//! runs (when `src`, `cbindgen.toml` or the version change), for the
//! staleness test (`tests/header.rs`), which compares it with the
//! checked-in `include/ripc.h`. Only `RIPC_WRITE_HEADER=1` (what
//! `make header` sets) writes `include/ripc.h` itself: a build never
//! rewrites a file of the source tree.

use std::path::PathBuf;

/// The soname: `libripc.so.MAJOR`. The 0.x series keeps `libripc.so.0`
/// (a 0.x minor may change the API, but an ABI break bumps to 1.0 and
/// `libripc.so.1`; see the README, "ABI and API stability").
fn soname() -> String {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
    format!("libripc.so.{major}")
}

/// The version macros, placed after the header's includes.
fn version_macros() -> String {
    let v = |k: &str| std::env::var(k).expect("cargo sets the version");
    let (major, minor, patch) = (
        v("CARGO_PKG_VERSION_MAJOR"),
        v("CARGO_PKG_VERSION_MINOR"),
        v("CARGO_PKG_VERSION_PATCH"),
    );
    let n = |s: &str| s.parse::<u32>().expect("numeric version component");
    let number = n(&major) * 10000 + n(&minor) * 100 + n(&patch);
    format!(
        "\n/* The version this header belongs to (Cargo.toml's); ripc_version() and\n   \
         ripc_version_number() give the library's at run time. */\n\
         #define RIPC_VERSION_MAJOR {major}\n\
         #define RIPC_VERSION_MINOR {minor}\n\
         #define RIPC_VERSION_PATCH {patch}\n\
         #define RIPC_VERSION_STRING \"{}\"\n\
         /* MAJOR * 10000 + MINOR * 100 + PATCH */\n\
         #define RIPC_VERSION_NUMBER {number}\n",
        v("CARGO_PKG_VERSION")
    )
}

fn main() {
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("ripc.h");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{}", soname());
    // A GNU build-id note, whatever the linker's default (lld has none): the
    // C suite checks that a process it re-executes as another user loads
    // this very library (c_tests/tap.h, tap_same_libripc).
    println!("cargo:rustc-cdylib-link-arg=-Wl,--build-id");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=Cargo.toml");
    println!("cargo:rerun-if-env-changed=RIPC_WRITE_HEADER");
    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable");
    let after = config.after_includes.take().unwrap_or_default();
    config.after_includes = Some(after + &version_macros());
    match cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
    {
        Ok(b) => {
            b.write_to_file(&out);
            if std::env::var("RIPC_WRITE_HEADER").as_deref() == Ok("1") {
                b.write_to_file(crate_dir.join("include/ripc.h"));
            }
        }
        Err(e) => panic!("cbindgen failed: {e}"),
    }
}
