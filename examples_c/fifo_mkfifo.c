/* fifo_mkfifo — seed 002's mkfifo program on the ripc API: create a named
 * pipe with mode 0664 (umask cleared, as in the article). Running it twice
 * fails with EEXIST, like the article's; --exist-ok accepts an existing
 * FIFO (but never a file of another type).
 *
 *     ./fifo_mkfifo [--exist-ok] [PATH]      (default: fifo)
 */
#include <ripc.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int main(int argc, char **argv) {
    int flags = 0;
    const char *path = "fifo";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--exist-ok") == 0)
            flags |= RIPC_FIFO_EXIST_OK;
        else
            path = argv[i];
    }
    umask(0);
    if (ripc_fifo_create(path, 0664, flags) == -1) {
        perror("ripc_fifo_create");
        return 1;
    }
    struct stat st;
    if (stat(path, &st) == -1) {
        perror("stat");
        return 1;
    }
    printf("%s: FIFO, mode %o, size %lld\n", path, (unsigned)(st.st_mode & 07777), (long long)st.st_size);
    return 0;
}
