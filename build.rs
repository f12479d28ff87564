//! Compiles the one C file of the library, src/ffi/cancel.c (the
//! cancellation points of ripc's blocking calls: docs/pipes-signals.md),
//! into a static archive linked into the crate; no build dependency (the
//! compiler is `$CC`, else `cc`; the archiver `$AR`, else `ar`).
//!
//! Cargo's `links` key (see Cargo.toml) requires this script too. It
//! reruns when the Makefile's linker script changes, so that the C
//! library is linked again with it.
use std::path::PathBuf;
use std::process::Command;

fn run(c: &mut Command) {
    let st = c
        .status()
        .unwrap_or_else(|e| panic!("build.rs: cannot run {c:?}: {e}"));
    assert!(st.success(), "build.rs: {c:?} failed: {st}");
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=link/child-path.ld");
    println!("cargo:rerun-if-changed=src/ffi/cancel.c");
    println!("cargo:rerun-if-env-changed=CC");
    println!("cargo:rerun-if-env-changed=AR");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let ar = std::env::var("AR").unwrap_or_else(|_| "ar".into());
    let obj = out.join("ripc_cancel.o");
    let lib = out.join("libripc_cancel.a");
    run(Command::new(&cc)
        .args([
            "-std=c11", "-O2", "-g", "-fPIC", "-Wall", "-Wextra", "-Werror",
        ])
        // A cancellation may unwind from any instruction of the shim's
        // asynchronous window.
        .arg("-fasynchronous-unwind-tables")
        .arg("-c")
        .arg("src/ffi/cancel.c")
        .arg("-o")
        .arg(&obj));
    let _ = std::fs::remove_file(&lib);
    run(Command::new(&ar).arg("crs").arg(&lib).arg(&obj));
    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=static=ripc_cancel");
}
