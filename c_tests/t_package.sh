#!/bin/sh
# t_package.sh — what a distribution package gets from `make install`:
# a staged install (DESTDIR) with a multiarch LIBDIR, then an outside C
# program built against it with pkg-config only, linked shared and static,
# and both run; stripped binaries (and STRIP= keeping debug information),
# man pages clean under mandoc -T lint, bash completions, the ldconfig
# note, and uninstall. Everything happens in a temporary directory.
n=0; fail=0
t() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
skip() { n=$((n+1)); echo "ok $n # SKIP $1"; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
major=${version%%.*}
arch=$(cc -print-multiarch 2>/dev/null); [ -n "$arch" ] || arch=x86_64-linux-gnu
S=$tmp/stage
LIB=/usr/lib/$arch
make -s install DESTDIR="$S" PREFIX=/usr LIBDIR=$LIB > "$tmp/install.out" 2>&1
t $? "make install DESTDIR=… PREFIX=/usr LIBDIR=$LIB"
# (Nothing else either, but cargo's progress lines: sources newer than the
# build — an edit during the suite — make the install rebuild first.)
! grep -v -e '^ *Compiling ' -e '^ *Finished ' -e '^ *Blocking waiting' "$tmp/install.out" | grep -q .
t $? "a staged install prints no ldconfig note"
grep -q . "$tmp/install.out" && sed 's/^/# install: /' "$tmp/install.out" | head -n 20
for f in $LIB/libripc.so $LIB/libripc.so.$major $LIB/libripc.so.$version $LIB/libripc.a \
         $LIB/pkgconfig/ripc.pc /usr/include/ripc.h /usr/include/ripc_sysv.h \
         /usr/bin/ripcs /usr/bin/ripcrm /usr/bin/ripcmk \
         /usr/share/man/man7/ripc.7 /usr/share/man/man3/ripc_ns.3 /usr/share/man/man3/ripc_queue.3 /usr/share/man/man3/ripc_shm.3 \
         /usr/share/man/man3/ripc_semset.3 /usr/share/man/man3/ripc_pipe.3 /usr/share/man/man3/ripc_signal.3 \
         /usr/share/man/man1/ripcs.1 /usr/share/man/man1/ripcrm.1 /usr/share/man/man1/ripcmk.1 \
         /usr/share/bash-completion/completions/ripcs /usr/share/bash-completion/completions/ripcrm \
         /usr/share/bash-completion/completions/ripcmk; do
  [ -e "$S$f" ]; t $? "installed $f"
done
[ ! -e "$S/usr/lib/libripc.so" ]; t $? "nothing in /usr/lib itself"
soname=$(readelf -d "$S$LIB/libripc.so" 2>/dev/null | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = "libripc.so.$major" ]; t $? "soname libripc.so.$major, from Cargo.toml's $version ($soname)"
grep -qx "libdir=\${prefix}/lib/$arch" "$S$LIB/pkgconfig/ripc.pc"; t $? "ripc.pc: libdir=\${prefix}/lib/$arch"
grep -qx "Version: $version" "$S$LIB/pkgconfig/ripc.pc"; t $? "ripc.pc: Version: $version"

# Stripped: no DWARF left in the library and the tools, the build-id kept.
for f in $LIB/libripc.so.$version /usr/bin/ripcs; do
  ! readelf -S "$S$f" | grep -q '\.debug_info'; t $? "$f is stripped"
done
readelf -n "$S$LIB/libripc.so.$version" | grep -q 'Build ID'; t $? "the library keeps its build-id"
nm -D --defined-only "$S$LIB/libripc.so.$version" | grep -q ' T ripc_version$'; t $? "and exports ripc_version"
make -s install DESTDIR="$tmp/dbg" PREFIX=/usr STRIP= > /dev/null 2>&1
readelf -S "$tmp/dbg/usr/lib/libripc.so.$version" | grep -q '\.debug_info'
t $? "make install STRIP= keeps debug information"
rm -rf "$tmp/dbg"

# An outside program, with pkg-config and the staged files only.
. c_tests/staged_program.sh

# Man pages: clean under mandoc's lint (warnings and above), and render.
if command -v mandoc >/dev/null; then
  mandoc -T lint -W warning "$S"/usr/share/man/man*/* > "$tmp/lint" 2>&1
  t $? "mandoc -T lint: no warnings"
  sed 's/^/# /' "$tmp/lint" | head -20
else
  skip "mandoc missing (make deps installs it)"
fi
if command -v man >/dev/null; then
  MANWIDTH=80 man -l "$S/usr/share/man/man7/ripc.7" 2>/dev/null | grep -q 'RIPC_BACKEND'
  t $? "man -l ripc.7 renders (and documents RIPC_BACKEND)"
fi
# Completions: valid bash, each registers its tool.
if command -v bash >/dev/null; then
  for c in ripcs ripcrm ripcmk; do
    bash -c ". '$S/usr/share/bash-completion/completions/$c' && complete -p $c" > /dev/null 2>&1
    t $? "bash completion for $c loads"
  done
  bash -c ". '$S/usr/share/bash-completion/completions/ripcs'; COMP_WORDS=(ripcs --js); COMP_CWORD=1; _ripcs; echo \"\${COMPREPLY[*]}\"" > "$tmp/c" 2>&1
  [ "$(cat "$tmp/c")" = "--json" ]; t $? "ripcs --js<TAB> completes to --json"
fi

# No DESTDIR: the note says how the loader will find the library.
make -s install PREFIX="$tmp/p" > "$tmp/out" 2>&1
t $? "make install PREFIX=<a private directory>"
grep -q "not in the loader's search path" "$tmp/out"; t $? "prints a note: rpath or LD_LIBRARY_PATH"
make -s uninstall PREFIX="$tmp/p" > /dev/null 2>&1
t $? "make uninstall"
left=$(find "$tmp/p" -type f -o -type l); [ -z "$left" ]; t $? "removes every file it installed ($left)"
make -s uninstall DESTDIR="$S" PREFIX=/usr LIBDIR=$LIB > /dev/null 2>&1
left=$(find "$S" -type f -o -type l); [ -z "$left" ]; t $? "and from the staged multiarch install ($left)"
echo "1..$n"
exit $fail
