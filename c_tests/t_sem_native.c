/* t_sem_native.c — the native API: ripc_semset_* handles, the
 * process-shared mutex (released when its holder is killed) and the
 * counting semaphore, timeouts, and an idle waiter that really sleeps.
 * Always ripc's own engine, whatever RIPC_BACKEND says. */
#include "ripc.h"
#include "tap.h"
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* utime + stime of a process, in clock ticks. */
static long cpu_ticks(pid_t p) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)p);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *s = strrchr(buf, ')');
    long ut = 0, st = 0;
    if (!s || sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &ut, &st) != 2) return -1;
    return ut + st;
}

int main(void) {
    struct ripc_semset *s = ripc_semset_open(NULL, IPC_PRIVATE, 2, IPC_CREAT | 0600);
    ok(s != NULL, "ripc_semset_open: a private set of 2");
    ok(ripc_semset_nsems(s) == 2, "nsems 2");
    ok(ripc_semset_set(s, 1, 5) == 0 && ripc_semset_get(s, 1) == 5, "set then get");
    struct ripc_sembuf ops[2] = {{1, -2, 0}, {0, 1, 0}};
    ok(ripc_semset_op(s, ops, 2, -1) == 0, "two operations at once");
    ok(ripc_semset_get(s, 1) == 3 && ripc_semset_get(s, 0) == 1, "both applied");
    struct ripc_sembuf take = {0, -2, 0};
    ok_errno(ripc_semset_op(s, &take, 1, 0) == -1, EAGAIN, "timeout 0 when it would block: EAGAIN");
    double t0 = tap_now();
    ok_errno(ripc_semset_op(s, &take, 1, 100) == -1, ETIMEDOUT, "timeout 100 ms: ETIMEDOUT");
    ok(tap_now() - t0 > 0.08, "... after about 100 ms");
    ok_errno(ripc_semset_op(s, &take, 0, 0) == -1, EINVAL, "no operations: EINVAL");
    ok_errno(ripc_semset_op(s, NULL, 1, 0) == -1, EFAULT, "NULL operations: EFAULT");
    ok_errno(ripc_semset_op(NULL, &take, 1, 0) == -1, EFAULT, "NULL handle: EFAULT");
    struct ripc_sembuf far = {2, 1, 0};
    ok_errno(ripc_semset_op(s, &far, 1, 0) == -1, EFBIG, "semaphore 2 of 2: EFBIG");
    ok_errno(ripc_semset_set(s, 0, 40000) == -1, ERANGE, "set 40000: ERANGE");
    struct ripc_semset_info info;
    ok(ripc_semset_stat(s, &info) == 0 && info.nsems == 2 && (info.mode & 0777) == 0600 && info.otime > 0, "stat");
    struct ripc_semset *s2 = ripc_semset_open_id(NULL, ripc_semset_id(s));
    ok(s2 && ripc_semset_get(s2, 1) == 3, "ripc_semset_open_id opens the same set");
    ripc_semset_close(s2);
    ok(ripc_semset_remove(s) == 0, "remove");
    ok_errno(ripc_semset_get(s, 0) == -1, EIDRM, "a removed set's handle: EIDRM");
    ok(ripc_semset_close(s) == 0 && ripc_semset_close(NULL) == 0, "close (NULL ignored)");

    struct ripc_mutex *m = ripc_mutex_open(NULL, IPC_PRIVATE, IPC_CREAT | 0600);
    ok(m != NULL, "ripc_mutex_open");
    ok(ripc_mutex_lock(m, -1) == 0, "lock");
    ok_errno(ripc_mutex_lock(m, 0) == -1, EAGAIN, "lock again with timeout 0: EAGAIN");
    ok(ripc_mutex_unlock(m) == 0, "unlock");
    ok_errno(ripc_mutex_unlock(m) == -1, EPERM, "unlock an unlocked mutex: EPERM");
    int p[2];
    char c;
    if (pipe(p)) return 1;
    pid_t h = fork();
    if (h == 0) {
        if (ripc_mutex_lock(m, -1)) _exit(1);
        if (write(p[1], "l", 1) != 1) _exit(2);
        for (;;) pause();
    }
    ok(read(p[0], &c, 1) == 1, "a child locks it");
    ok_errno(ripc_mutex_lock(m, 50) == -1, ETIMEDOUT, "it is held");
    kill(h, SIGKILL);
    int st;
    waitpid(h, &st, 0);
    ok(ripc_mutex_lock(m, 2000) == 0, "the holder is killed: the mutex is ours");
    ok(ripc_mutex_unlock(m) == 0, "unlock");
    ok(ripc_mutex_remove(m) == 0 && ripc_mutex_close(m) == 0, "remove, close");

    struct ripc_sem *cs = ripc_sem_open(NULL, IPC_PRIVATE, 2, IPC_CREAT | 0600);
    ok(cs != NULL && ripc_sem_value(cs) == 2, "ripc_sem_open with 2");
    ok(ripc_sem_wait(cs, 0) == 0 && ripc_sem_wait(cs, 0) == 0, "two waits");
    ok_errno(ripc_sem_wait(cs, 0) == -1, EAGAIN, "a third would block: EAGAIN");
    pid_t w = fork();
    if (w == 0) _exit(ripc_sem_wait(cs, -1) == 0 ? 0 : 1);
    usleep(50000);
    long before = cpu_ticks(w);
    sleep(1);
    long after = cpu_ticks(w);
    ok(before >= 0 && after - before <= 2, "an idle waiter sleeps (%ld ticks of CPU in 1 s)", after - before);
    ok(ripc_sem_post(cs) == 0, "post");
    waitpid(w, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the waiter got it");
    ok(ripc_sem_value(cs) == 0, "value 0");
    ok(ripc_sem_remove(cs) == 0 && ripc_sem_close(cs) == 0, "remove, close");
    return done_testing();
}
