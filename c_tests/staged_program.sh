# staged_program.sh — sourced by c_tests/t_package.sh (`make install`) and
# .ci/cinstall.sh (`cargo cinstall`): an outside program built against a
# staged install with pkg-config and the staged files only, linked shared
# and static, and both run. Needs: t (the caller's TAP counter), $tmp,
# $S (the stage), $LIB (the multiarch libdir inside it), $major, $version.
cat > "$tmp/p.c" <<'C'
#include <ripc.h>
#include <stdio.h>
#include <string.h>
int main(void) {
    if (strcmp(ripc_version(), RIPC_VERSION_STRING) != 0) return 3;
    ripc_queue *q = ripc_queue_open(NULL, IPC_PRIVATE, 0, IPC_CREAT | 0600);
    char buf[16];
    long type = 0;
    if (!q || ripc_queue_send(q, 5, "packaged", 9, 0) != 0) return 1;
    int ok = ripc_queue_recv(q, 0, buf, sizeof buf, 0, 0, &type) == 9 && type == 5 && strcmp(buf, "packaged") == 0;
    ripc_queue_remove(q);
    ripc_queue_close(q);
    printf("%s\n", ripc_version());
    return ok ? 0 : 2;
}
C
pc() { PKG_CONFIG_LIBDIR=$S$LIB/pkgconfig PKG_CONFIG_SYSROOT_DIR=$S pkg-config "$@"; }
cflags=$(pc --cflags ripc); libs=$(pc --libs ripc); slibs=$(pc --static --libs ripc)
t $? "pkg-config --static --libs ripc: $slibs"
cc -std=c11 -Wall -Wextra -Werror $cflags "$tmp/p.c" -o "$tmp/p_shared" $libs
t $? "shared: cc -std=c11 -Wall -Wextra -Werror \$(pkg-config --cflags --libs ripc)"
readelf -d "$tmp/p_shared" | grep -q "NEEDED.*\[libripc.so.$major\]"; t $? "it needs libripc.so.$major"
out=$(LD_LIBRARY_PATH=$S$LIB "$tmp/p_shared"); t $? "and runs on the staged library"
[ "$out" = "$version" ]; t $? "ripc_version() is Cargo.toml's $version ($out)"
# Static: the archive named explicitly (-l: keeps the .so out), with
# ripc.pc's Libs.private, which must be everything libripc.a needs.
cc -std=c11 -Wall -Wextra -Werror $cflags "$tmp/p.c" -o "$tmp/p_static" \
  $(echo "$slibs" | sed 's/-lripc\b/-l:libripc.a/') 2> "$tmp/static.err"
t $? "static: libripc.a with \$(pkg-config --static --libs ripc) links"
[ -s "$tmp/static.err" ] && sed 's/^/# /' "$tmp/static.err" | head -20
readelf -d "$tmp/p_static" > "$tmp/static.dyn" && ! grep -q 'NEEDED.*libripc' "$tmp/static.dyn"
t $? "it does not need libripc.so"
out=$(env -u LD_LIBRARY_PATH "$tmp/p_static"); t $? "and runs"
[ "$out" = "$version" ]; t $? "with the same version ($out)"

