/* t_msg_fullfs.c — a full file system gives msgsnd ENOMEM, never SIGBUS
 * (issue "trust model": object files are sparse, so a queue's storage is
 * reserved page by page as senders first use it).
 *
 * The test runs itself again in a private mount namespace (unshare -m)
 * with a tmpfs of 44 KiB as its namespace (28 KiB before a queue's totals
 * took two pages of the namespace: its page of the tally in ripc.ns and
 * of its id in ripc.idx; 36 KiB before MSG_INFO's group records took two
 * more: the dirty words in ripc.ns, the dirty bytes in ripc.idx; the same
 * room for messages), fills it with
 * 1000-byte
 * messages until msgsnd fails, and checks: the failure is ENOMEM, no
 * signal, every message sent is received intact, and the queue works
 * again once emptied. User backend only (the kernel's queues are not on
 * a file system). */
#include "ripc_sysv.h"
#include "tap.h"

#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct m1k {
    long mtype;
    char text[1000];
};

static int child(const char *dir) {
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    ok(q >= 0, "a queue in a 44 KiB tmpfs (%s)", dir);
    if (q < 0) return done_testing();
    struct m1k m = {1, {0}};
    int sent = 0, r = 0, e = 0;
    for (int i = 0; i < 16; i++) {
        memset(m.text, 'a' + i, sizeof m.text);
        r = msgsnd(q, &m, sizeof m.text, IPC_NOWAIT);
        e = errno;
        if (r != 0) break;
        sent++;
    }
    ok(r == -1 && e == ENOMEM, "msgsnd on the full tmpfs: ENOMEM after %d messages (got %d, errno %d)", sent, r, e);
    int intact = 1;
    for (int i = 0; i < sent; i++) {
        if (msgrcv(q, &m, sizeof m.text, 0, IPC_NOWAIT) != (ssize_t)sizeof m.text || m.text[0] != 'a' + i ||
            m.text[999] != 'a' + i)
            intact = 0;
    }
    ok(intact, "every message sent before it is received intact, in order");
    memset(m.text, 'z', sizeof m.text);
    ok(msgsnd(q, &m, sizeof m.text, IPC_NOWAIT) == 0 && msgrcv(q, &m, sizeof m.text, 0, IPC_NOWAIT) > 0,
       "once emptied, the queue works again");
    ok(msgctl(q, IPC_RMID, NULL) == 0, "removed");
    return done_testing();
}

int main(int argc, char **argv) {
    const char *b = getenv("RIPC_BACKEND");
    if (b && strcmp(b, "kernel") == 0) {
        printf("1..0 # SKIP kernel queues are not on a file system\n");
        return 0;
    }
    if (argc > 1) return child(argv[1]);
    fflush(stdout);
    char dir[] = "/tmp/ripc-fullfs.XXXXXX";
    if (!mkdtemp(dir)) {
        printf("1..0 # SKIP mkdtemp\n");
        return 0;
    }
    pid_t c = fork();
    if (c == 0) {
        if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
            mount("tmpfs", dir, "tmpfs", 0, "size=44k,mode=0700") != 0)
            _exit(77);
        char ns[64];
        snprintf(ns, sizeof ns, "%s/ns", dir);
        if (mkdir(ns, 0700) != 0 || setenv("RIPC_DIR", ns, 1) != 0) _exit(78);
        execl("/proc/self/exe", argv[0], ns, (char *)NULL);
        _exit(127);
    }
    int st = -1;
    waitpid(c, &st, 0);
    rmdir(dir);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
        printf("1..0 # SKIP no private mount namespace here (unshare/mount)\n");
        return 0;
    }
    /* The child printed its own TAP; its status is the verdict. */
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        printf("not ok - the child in the full tmpfs ended with status %d (signal %d)\n", st,
               WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        return 1;
    }
    return 0;
}
