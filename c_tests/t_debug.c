/* t_debug.c — RIPC_DEBUG reports what ripc does behind the caller's back
 * (issue 15, item 6), user backend: a lock taken over from a dead holder
 * and the repair that follows, a refused namespace; and nothing at all
 * without RIPC_DEBUG. */
#include "ripc_sysv.h"
#include "tap.h"

#include <fcntl.h>
#include <sys/mman.h>

/* Runs `what` in a child whose standard error goes to a pipe; returns
 * what it wrote (static buffer). */
static const char *stderr_of(void (*what)(int), int arg, int debug) {
    static char out[8192];
    int p[2];
    if (pipe(p) != 0) return "";
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        if (debug) setenv("RIPC_DEBUG", "1", 1); else unsetenv("RIPC_DEBUG");
        what(arg);
        _exit(0);
    }
    close(p[1]);
    ssize_t n = 0, r;
    while ((r = read(p[0], out + n, sizeof out - 1 - n)) > 0) n += r;
    close(p[0]);
    waitpid(c, NULL, 0);
    out[n] = 0;
    return out;
}

/* A queue whose senders' lock names a pid that cannot exist (a holder
 * that died), then a send through it. */
static void dead_holder_send(int q) {
    char path[600];
    snprintf(path, sizeof path, "%s/msg.%d", getenv("RIPC_DIR"), q % 32768);
    int fd = open(path, O_RDWR);
    unsigned char *m = fd >= 0 ? mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
    if (m == MAP_FAILED) _exit(1);
    uint32_t dead = 0x3ffffff0;
    memcpy(m + 256, &dead, 4); /* the queue's senders' lock word */
    struct {
        long t;
        char b[8];
    } msg = {1, "x"};
    if (msgsnd(q, &msg, sizeof msg.b, IPC_NOWAIT) != 0) _exit(2);
    msgrcv(q, &msg, sizeof msg.b, 0, IPC_NOWAIT);
}

/* A fresh process (the namespace is opened once per process) on a
 * namespace it must refuse: /tmp is writable by others. */
static void refused_ns(int unused) {
    (void)unused;
    setenv("RIPC_DIR", "/tmp", 1);
    execl("/proc/self/exe", "t_debug", "refused", (char *)NULL);
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "refused") == 0) {
        return msgget(IPC_PRIVATE, IPC_CREAT | 0600) == -1 ? 0 : 1;
    }
    if (backend_is_kernel()) {
        printf("1..0 # SKIP reports of ripc's own engine\n");
        return 0;
    }
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    ok(q >= 0, "a queue");
    const char *e = stderr_of(dead_holder_send, q, 1);
    ok(strstr(e, "taken over from pid 1073741808 (gone)") != NULL, "a takeover from a dead holder is reported");
    ok(strstr(e, "repaired after a lock holder died") != NULL, "... and the repair");
    if (!strstr(e, "taken over")) diag("stderr: %s", e);
    e = stderr_of(dead_holder_send, q, 0);
    ok(e[0] == 0, "without RIPC_DEBUG: nothing on stderr (%zu bytes)", strlen(e));
    e = stderr_of(refused_ns, 0, 1);
    ok(strstr(e, "/tmp") != NULL && strstr(e, "ripc[") != NULL, "a refused namespace is reported with its path");
    ok(msgctl(q, IPC_RMID, NULL) == 0, "removed");
    return done_testing();
}
