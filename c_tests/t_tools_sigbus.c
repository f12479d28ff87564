/* t_tools_sigbus.c — root's `ripcs` survives a member that keeps cutting
 * its own object files short (red-team pass, docs/security.md), both
 * backends.
 *
 * A member (uid 65534) makes 5 queues and 5 sets, then truncates each
 * object file to 0 and back to its size, over and over: it owns them, so
 * the file system lets it. Root lists the namespace with `ripcs -a` 80
 * times meanwhile. The tools read objects through mappings, checked
 * against the file's size first, but a file cut short after the check
 * raises SIGBUS at the next read: `ripcs -a` died so in 3 of 40 runs. The
 * library installs no SIGBUS handler (a library must not take a process's
 * signal disposition; documented in docs/security.md), but a tool owns its
 * process: it starts again (`restart_on_sigbus`). On the kernel there is
 * nothing to truncate, and `ipcs` never dies. */
#include "ripc_sysv.h"
#include "tap.h"

#include <spawn.h>
#include <sys/stat.h>

#define N 10

extern char **environ;

static volatile sig_atomic_t stop;
static void on_term(int s) {
    (void)s;
    stop = 1;
}

static int member(int wfd) {
    if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) return 2;
    int fds[N], ids[N];
    off_t sz[N];
    for (int i = 0; i < N; i++) {
        int id = i % 2 ? msgget(IPC_PRIVATE, IPC_CREAT | 0600) : semget(IPC_PRIVATE, 4, IPC_CREAT | 0600);
        if (id < 0) return 3;
        ids[i] = id;
        fds[i] = -1;
        if (backend_is_kernel()) continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s.%d", getenv("RIPC_DIR"), i % 2 ? "msg" : "sem", id % 32768);
        struct stat st;
        fds[i] = open(p, O_RDWR);
        if (fds[i] < 0 || fstat(fds[i], &st) != 0) return 4;
        sz[i] = st.st_size;
    }
    signal(SIGTERM, on_term);
    if (write(wfd, ids, sizeof ids) != (ssize_t)sizeof ids) return 5;
    double end = tap_now() + 60; /* told to stop long before */
    while (!stop && tap_now() < end) {
        if (backend_is_kernel()) {
            usleep(1000);
            continue;
        }
        for (int i = 0; i < N; i++)
            if (ftruncate(fds[i], 0) != 0 || ftruncate(fds[i], sz[i]) != 0) return 6;
    }
    return 0;
}

int main(void) {
    TAP_SKIP_UNLESS_ROOT();
    int rfd = -1;
    pid_t m = tap_fork_piped(member, 90, &rfd);
    ok(m > 0, "the member's process");
    int ids[N];
    ok(m > 0 && read(rfd, ids, sizeof ids) == (ssize_t)sizeof ids,
       "the member made %d objects and keeps truncating their files", N);
    const char *tools = getenv("RIPC_TOOLS");
    char path[4096];
    snprintf(path, sizeof path, "%s/ripcs", tools ? tools : "target/release");
    int died = 0, failed = 0, runs = 80;
    /* The tool's complaints, kept for the diagnostics of a failed run. */
    char errs[] = "/tmp/t_tools_sigbus.XXXXXX";
    int efd = mkstemp(errs);
    if (efd >= 0) close(efd);
    for (int i = 0; i < runs; i++) {
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 2, efd >= 0 ? errs : "/dev/null",
                                         O_WRONLY | O_TRUNC, 0);
        char *av[] = {"ripcs", "-a", NULL};
        pid_t p;
        int st = 0;
        if (posix_spawn(&p, path, &fa, NULL, av, environ) != 0 || waitpid(p, &st, 0) != p) {
            failed++;
        } else if (WIFSIGNALED(st)) {
            died++;
            if (died == 1) diag("ripcs -a killed by %s", strsignal(WTERMSIG(st)));
        } else if (WEXITSTATUS(st) != 0) {
            failed++;
            char line[512] = "";
            FILE *f = efd >= 0 ? fopen(errs, "r") : NULL;
            if (f) {
                if (!fgets(line, sizeof line, f)) line[0] = 0;
                fclose(f);
            }
            diag("ripcs -a exited %d: %s", WEXITSTATUS(st), line);
        }
        posix_spawn_file_actions_destroy(&fa);
    }
    if (efd >= 0) unlink(errs);
    ok(died == 0, "ripcs -a, %d runs: none killed by a signal (%d were)", runs, died);
    ok(failed == 0, "and none failed (%d did)", failed);
    /* Stopped between two rounds: every file has its size back. */
    int st = -1;
    if (m > 0) {
        kill(m, SIGTERM);
        waitpid(m, &st, 0);
    }
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the member stops (status 0x%x)", st);
    /* Cut to 0 bytes and back, a file is all zeros: no object any more,
     * which the tools' listing swept (user backend); the rest root
     * removes. */
    int removed = 0;
    for (int i = 0; i < N; i++) {
        int r = i % 2 ? msgctl(ids[i], IPC_RMID, NULL) : semctl(ids[i], 0, IPC_RMID);
        removed += r == 0 || (errno == EINVAL && !backend_is_kernel());
    }
    ok(removed == N, "the member's objects are removed or were swept (%d of %d)", removed, N);
    return done_testing();
}
