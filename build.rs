//! Nothing to build: this script exists because Cargo's `links` key
//! (see Cargo.toml) requires one. It reruns when the Makefile's linker
//! script changes, so that the C library is linked again with it.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=link/child-path.ld");
}
