//! Generates the C header with cbindgen.
//!
//! The header is written to `$OUT_DIR/ripc.h` on every build; with
//! `RIPC_WRITE_HEADER=1` (what `make header` sets) it is also written to
//! `include/ripc.h`, the checked-in copy. A test (`tests/header.rs`) fails
//! when the checked-in copy differs from a fresh one.

use std::path::PathBuf;

fn main() {
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("ripc.h");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libripc.so.0");
    // A GNU build-id note, whatever the linker's default (lld has none): the
    // C suite checks that a process it re-executes as another user loads
    // this very library (c_tests/tap.h, tap_same_libripc).
    println!("cargo:rustc-cdylib-link-arg=-Wl,--build-id");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=RIPC_WRITE_HEADER");
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable");
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
