#!/bin/sh
# t_install.sh — `make install` into a temporary prefix (with DESTDIR), then
# build a program with only the installed files and pkg-config, and run it.
n=0; fail=0
t() { n=$((n+1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make -s install PREFIX=/opt/ripc DESTDIR="$tmp" >/dev/null 2>&1
t $? "make install PREFIX=/opt/ripc DESTDIR=…"
P=$tmp/opt/ripc
for f in lib/libripc.so lib/libripc.so.0 lib/libripc.a include/ripc.h include/ripc_sysv.h lib/pkgconfig/ripc.pc; do
  [ -e "$P/$f" ]; t $? "installed $f"
done
soname=$(readelf -d "$P/lib/libripc.so" 2>/dev/null | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = "libripc.so.0" ]; t $? "soname is libripc.so.0 ($soname)"
cat > "$tmp/p.c" <<'C'
#include <sys/msg.h>
#include <stdio.h>
#include <string.h>
int main(void) {
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    struct { long t; char s[16]; } m = {7, "installed"};
    if (q < 0 || msgsnd(q, &m, 10, 0) < 0) return 1;
    memset(&m, 0, sizeof m);
    if (msgrcv(q, &m, 16, 7, 0) != 10) return 2;
    msgctl(q, IPC_RMID, NULL);
    return strcmp(m.s, "installed") != 0;
}
C
if command -v pkg-config >/dev/null; then
  flags=$(PKG_CONFIG_PATH=$P/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$tmp pkg-config --cflags --libs ripc)
else
  flags="-I$P/include -L$P/lib -lripc"
fi
cc -std=c11 -Wall -Werror -include ripc_sysv.h "$tmp/p.c" -o "$tmp/p" $flags
t $? "a SysV program builds with -include ripc_sysv.h and pkg-config ($flags)"
LD_LIBRARY_PATH=$P/lib "$tmp/p"; t $? "and runs on the installed library"
nm "$tmp/p" | grep -qE ' U (msgget|msgsnd|msgrcv|msgctl)(@|$)'; [ $? -ne 0 ]
t $? "it references no libc SysV symbol (nm)"
# The native header on its own: C99, C11 (strict ISO, pedantic) and C++.
printf '#include <ripc.h>\nint main(void) { return ripc_queue_id(NULL) == -1 ? 0 : 1; }\n' > "$tmp/h.c"
for std in c99 c11; do
  cc -std=$std -Wall -Wextra -Werror -pedantic -I"$P/include" -c "$tmp/h.c" -o "$tmp/h.o"
  t $? "ripc.h compiles with -std=$std -Wall -Wextra -Werror -pedantic"
done
if command -v c++ >/dev/null; then
  c++ -std=c++11 -Wall -Wextra -Werror -pedantic -I"$P/include" -x c++ -c "$tmp/h.c" -o "$tmp/h.o"
  t $? "ripc.h compiles as C++11 (extern \"C\", -pedantic)"
fi
echo "1..$n"
exit $fail
