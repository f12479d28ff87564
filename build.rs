//! Nothing to build: this script exists because Cargo's `links` key
//! (see Cargo.toml) requires one.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
}
