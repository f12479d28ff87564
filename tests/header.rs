//! The checked-in `include/ripc.h` must equal what cbindgen generates now.

#[test]
fn checked_in_header_is_fresh() {
    let fresh = include_str!(concat!(env!("OUT_DIR"), "/ripc.h"));
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/include/ripc.h");
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        fresh == checked_in,
        "include/ripc.h is stale: run `make header` and commit it"
    );
}
