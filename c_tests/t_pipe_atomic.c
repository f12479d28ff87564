/* t_pipe_atomic — writes of at most RIPC_PIPE_BUF bytes are atomic: four
 * writers each send whole PIPE_BUF records through one pipe, and the reader
 * finds every record intact (one writer's bytes, never interleaved). */
#include "tap.h"
#include <ripc.h>
#include <sys/wait.h>
#include <unistd.h>

enum { WRITERS = 4, RECORDS = 400 };

int main(void) {
    struct ripc_pipe *p = ripc_pipe_new(0);
    pid_t kids[WRITERS];
    for (int w = 0; w < WRITERS; w++) {
        kids[w] = fork();
        if (kids[w] == 0) {
            ripc_pipe_close(p, RIPC_PIPE_READ);
            static char rec[RIPC_PIPE_BUF];
            memset(rec, 'A' + w, sizeof rec);
            for (int i = 0; i < RECORDS; i++)
                if (ripc_pipe_write(p, rec, sizeof rec) != (ssize_t)sizeof rec) _exit(1);
            _exit(0);
        }
    }
    ripc_pipe_close(p, RIPC_PIPE_WRITE);
    static char rec[RIPC_PIPE_BUF];
    int count[WRITERS] = {0}, torn = 0, total = 0;
    ssize_t n;
    while ((n = ripc_pipe_read_exact(p, rec, sizeof rec)) == (ssize_t)sizeof rec) {
        int w = rec[0] - 'A';
        int same = w >= 0 && w < WRITERS;
        for (size_t i = 1; same && i < sizeof rec; i++) same = rec[i] == rec[0];
        if (!same) torn++;
        else count[w]++;
        total++;
    }
    ok(n == 0, "stream ends on a record boundary");
    ok(total == WRITERS * RECORDS, "%d records received", total);
    ok(torn == 0, "no record interleaved with another writer's bytes");
    int all = 1;
    for (int w = 0; w < WRITERS; w++) all &= count[w] == RECORDS;
    ok(all, "each writer's %d records arrived", RECORDS);
    int good = 1;
    for (int w = 0; w < WRITERS; w++) {
        int st;
        waitpid(kids[w], &st, 0);
        good &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    ok(good, "every write of PIPE_BUF bytes was written whole");
    ripc_pipe_free(p);
    return done_testing();
}
