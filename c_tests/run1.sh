#!/bin/sh
# run1.sh BACKEND TEST — runs one C test (binary or .sh script) with
# RIPC_BACKEND=BACKEND in a fresh namespace directory of its own, then
# fails the test if it left objects behind in that namespace.
backend=$1; t=$2
dir=$(mktemp -d /dev/shm/ripc-test.XXXXXX) || exit 1
chmod 1777 "$dir"
RIPC_DIR=$dir RIPC_BACKEND=$backend
RIPC_BUILD=${RIPC_BUILD:-$(pwd)/build}
export RIPC_DIR RIPC_BACKEND RIPC_BUILD
case $t in
  *.sh) sh "$t" ;;
  *) $t ;;  # unquoted: a wrapper may come first (make memcheck: "valgrind … test")
esac
rc=$?
left=$(ls -A "$dir" | grep -v -e '^ripc\.ns$' -e '^ripc\.idx$')
if [ -n "$left" ]; then
  echo "# $t left objects in its namespace: $left" >&2
  [ $rc -eq 0 ] && rc=1
fi
rm -rf "$dir"
exit $rc
