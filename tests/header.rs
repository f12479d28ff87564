//! The checked-in `include/ripc.h` must equal what cbindgen generates now
//! from the sources and `cbindgen.toml`, with the version macros of
//! `Cargo.toml`'s version. `RIPC_WRITE_HEADER=1` (what `make header`
//! sets) writes it instead of comparing.

use std::path::Path;

/// The version macros, placed after the header's includes.
fn version_macros() -> String {
    let (major, minor, patch) = (
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
    );
    let n = |s: &str| s.parse::<u32>().expect("numeric version component");
    let number = n(major) * 10000 + n(minor) * 100 + n(patch);
    format!(
        "\n/* The version this header belongs to (Cargo.toml's); ripc_version() and\n   \
         ripc_version_number() give the library's at run time. */\n\
         #define RIPC_VERSION_MAJOR {major}\n\
         #define RIPC_VERSION_MINOR {minor}\n\
         #define RIPC_VERSION_PATCH {patch}\n\
         #define RIPC_VERSION_STRING \"{}\"\n\
         /* MAJOR * 10000 + MINOR * 100 + PATCH */\n\
         #define RIPC_VERSION_NUMBER {number}\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// What cbindgen makes of the sources (`src/ffi`) now.
fn generate() -> String {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable");
    let after = config.after_includes.take().unwrap_or_default();
    config.after_includes = Some(after + &version_macros());
    // The C API is `src/ffi` and nothing else: parsing from there leaves
    // the engines' public constants and `#[repr(C)]` types out.
    let b = cbindgen::Builder::new()
        .with_src(crate_dir.join("src/ffi/mod.rs"))
        .with_config(config)
        .generate()
        .unwrap_or_else(|e| panic!("cbindgen failed: {e}"));
    let mut out = Vec::new();
    b.write(&mut out);
    String::from_utf8(out).expect("cbindgen writes UTF-8")
}

#[test]
fn checked_in_header_is_fresh() {
    let fresh = generate();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/ripc.h");
    if std::env::var("RIPC_WRITE_HEADER").as_deref() == Ok("1") {
        std::fs::write(&path, &fresh).expect("include/ripc.h is writable");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        fresh == checked_in,
        "include/ripc.h is stale: run `make header` and commit it"
    );
}
