#!/bin/sh
# bench/boost.sh MODEFILE — whether build/bench/matrix gets its Boost
# column. Boost.Interprocess is header-only: when a C++ compiler cannot find
# <boost/interprocess/ipc/message_queue.hpp>, libboost-dev is installed with
# apt-get if we are root and apt-get exists; otherwise a note says the column
# is skipped. Writes "boost" or "none" to MODEFILE, only when that changes
# (so the matrix is rebuilt only then).
mode_file=$1
cxx=${CXX:-g++}
have_boost() {
  command -v "$cxx" >/dev/null 2>&1 &&
    echo '#include <boost/interprocess/ipc/message_queue.hpp>' | "$cxx" -x c++ -fsyntax-only - >/dev/null 2>&1
}
if ! have_boost && command -v "$cxx" >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing libboost-dev (Boost.Interprocess, the placement matrix's Boost column)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq libboost-dev >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq libboost-dev >/dev/null 2>&1; } ||
    echo "note: apt-get install libboost-dev failed"
fi
if have_boost; then
  mode=boost
else
  mode=none
  echo "note: Boost.Interprocess not available ($cxx or libboost-dev missing): the matrix skips its Boost column"
fi
[ "$(cat "$mode_file" 2>/dev/null)" = "$mode" ] || echo "$mode" > "$mode_file"
