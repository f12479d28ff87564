#!/bin/sh
# cinstall.sh — the library as cargo-c builds and installs it (issue 15):
# `cargo cinstall` into a staging directory with a multiarch libdir, then
# the outside program of c_tests/t_package.sh built against the stage with
# pkg-config, shared and static, and run. TAP; .ci/run runs it with prove.
#
# cargo-c is installed when missing, pinned: 0.10.24 is the newest that
# builds with the toolchain here (rustc 1.95; 0.10.26 needs 1.97), and
# --locked keeps its dependencies at the versions it was released with.
# From crates.io that took 1234 s (348 crates) on the shared 2-CPU
# machine under load (nice 10, load average 4-5); a new machine pays it
# once, later runs find `cargo cinstall` installed.
cd "$(dirname "$0")/.." || exit 1
CARGO_C_VERSION=0.10.24
n=0; fail=0
t() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
if ! cargo cinstall --version > /dev/null 2>&1; then
  # cargo-c builds the cargo crate, which links OpenSSL (found with
  # pkg-config): the Debian packages, when missing and apt can install.
  if ! pkg-config --exists openssl 2>/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq > /dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pkg-config libssl-dev > /dev/null 2>&1
  fi
  cargo install --quiet --locked cargo-c --version "$CARGO_C_VERSION" > "$tmp/install.out" 2>&1
  t $? "cargo install cargo-c $CARGO_C_VERSION"
  sed 's/^/# /' "$tmp/install.out" | tail -20
fi
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
major=${version%%.*}
arch=$(cc -print-multiarch 2>/dev/null); [ -n "$arch" ] || arch=x86_64-linux-gnu
S=$tmp/stage
LIB=/usr/lib/$arch
# The program's queue lives in a namespace of its own.
RIPC_DIR=$tmp/ns; export RIPC_DIR
cargo cinstall --release --prefix=/usr --libdir="$LIB" --destdir="$S" > "$tmp/cinstall.out" 2>&1
t $? "cargo cinstall --release --prefix=/usr --libdir=$LIB --destdir=…"
[ "$fail" = 0 ] || sed 's/^/# /' "$tmp/cinstall.out" | tail -20
for f in $LIB/libripc.so $LIB/libripc.so.$major $LIB/libripc.a $LIB/pkgconfig/ripc.pc; do
  [ -e "$S$f" ]; t $? "installed $f"
done
for h in ripc.h ripc_sysv.h; do
  [ -n "$(find "$S/usr/include" -name "$h")" ]; t $? "installed $h"
done
soname=$(readelf -d "$S$LIB/libripc.so" 2>/dev/null | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = "libripc.so.$major" ]; t $? "soname libripc.so.$major, as make install's ($soname)"
readelf -n "$S$LIB/libripc.so" | grep -q 'Build ID'; t $? "a build-id note, as make install's"
grep -qx "Version: $version" "$S$LIB/pkgconfig/ripc.pc"; t $? "ripc.pc: Version: $version"
. c_tests/staged_program.sh
echo "1..$n"
exit $fail
