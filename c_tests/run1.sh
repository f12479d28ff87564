#!/bin/sh
# run1.sh BACKEND TEST — runs one C test (binary or .sh script) with
# RIPC_BACKEND=BACKEND in a fresh namespace directory of its own, then
# fails the test if it left objects behind in that namespace.
#
# The namespace is shared on purpose (ripcmk --namespace DIR --group
# nogroup: mode 3770, group 65534), so that the permission tests' children,
# which run as uid/gid 65534, are members of it, root being the victim. A
# user who may not give a directory that group gets a private namespace.
backend=$1; t=$2
RIPC_TOOLS=${RIPC_TOOLS:-$(pwd)/target/release}
dir=$(mktemp -d /dev/shm/ripc-test.XXXXXX) || exit 1
if ! "$RIPC_TOOLS/ripcmk" --namespace "$dir" --group 65534 >/dev/null 2>&1 &&
   ! "$RIPC_TOOLS/ripcmk" --namespace "$dir" >/dev/null; then
  rm -rf "$dir"; exit 1
fi
RIPC_DIR=$dir RIPC_BACKEND=$backend
RIPC_BUILD=${RIPC_BUILD:-$(pwd)/build}
export RIPC_DIR RIPC_BACKEND RIPC_BUILD RIPC_TOOLS
# The test's TAP goes through a file, so that when the test fails its
# diagnostics ("# " lines, which prove does not show) can be repeated on
# stderr, which prove does show: a failure in CI then says what it saw.
out=$(mktemp "$dir.out.XXXXXX") || { rm -rf "$dir"; exit 1; }
case $t in
  *.sh) sh "$t" >"$out" ;;
  *) $t >"$out" ;;  # unquoted: a wrapper may come first (make memcheck: "valgrind … test")
esac
rc=$?
cat "$out"
if [ $rc -ne 0 ] || grep -v '# TODO' "$out" | grep -q '^not ok'; then
  { echo "# ---- $t (RIPC_BACKEND=$backend) failed (exit $rc); its output:"
    grep -e '^not ok' -e '^#' "$out" | tail -n 60
    echo "# ----"; } >&2
fi
rm -f "$out"
left=$(ls -A "$dir" | grep -v -e '^ripc\.ns$' -e '^ripc\.seq$' -e '^ripc\.idx$')
if [ -n "$left" ]; then
  echo "# $t left objects in its namespace: $left" >&2
  [ $rc -eq 0 ] && rc=1
fi
rm -rf "$dir"
exit $rc
