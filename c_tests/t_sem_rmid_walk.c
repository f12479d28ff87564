/* t_sem_rmid_walk.c — IPC_RMID wakes every sleeper, wherever its slot
 * lies. ripc's removal walks the set's sleeper slots; when the file holds
 * only the pages its creation reserved (one fstatat), it reads the slots
 * in those pages alone, without SEEK_DATA (docs/sem.md, "Creating and
 * removing a set: system calls"). So, under the user backend, with small
 * slots (semopm 1: the first slots lie in the file's first, reserved
 * page) and with the default ones (every slot past the first page): one
 * sleeper, then three, each asleep for long enough to be in its futex
 * wait, then IPC_RMID; each must fail with EIDRM within 2 s (a sleeper the
 * walk passed over would sleep on). Both backends (the kernel has no
 * slots: the same calls, the same answers). */
#include "ripc_sysv.h"
#include <ripc.h> /* ripc_limit_get/ripc_limit_set */
#include "tap.h"
#include <sys/wait.h>
#include <unistd.h>

/* Forks `n` sleepers on semaphore 0 of a new set, waits until they sleep
 * (and 300 ms more), removes the set; true when each failed with EIDRM
 * within 2 s of the removal. */
static int removal_wakes(int n) {
    int id = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    if (id < 0) return 0;
    pid_t c[8];
    for (int i = 0; i < n; i++) {
        c[i] = fork();
        if (c[i] == 0) {
            struct sembuf p = {0, -1, 0};
            int r = semop(id, &p, 1);
            _exit(r == -1 && errno == EIDRM ? 0 : 1);
        }
    }
    double t0 = tap_now();
    while (semctl(id, 0, GETNCNT) < n && tap_now() - t0 < 5) usleep(1000);
    usleep(300 * 1000);
    double t1 = tap_now();
    int good = semctl(id, 0, IPC_RMID) == 0;
    for (int i = 0; i < n; i++) {
        int st = -1;
        while (tap_now() - t1 < 2 && waitpid(c[i], &st, WNOHANG) == 0) usleep(1000);
        if (st == -1) {
            printf("# sleeper %d of %d not back 2 s after IPC_RMID\n", i + 1, n);
            kill(c[i], SIGKILL);
            waitpid(c[i], &st, 0);
            good = 0;
        } else if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
            good = 0;
        }
    }
    return good;
}

int main(void) {
    int user = !backend_is_kernel();
    int64_t semopm = user ? ripc_limit_get(NULL, "semopm") : 0;
    if (user && semopm <= 0) {
        printf("1..0 # SKIP semopm unreadable\n");
        return 0;
    }
    for (int small = 1; small >= 0; small--) {
        if (user) ok(ripc_limit_set(NULL, "semopm", small ? 1 : (uint64_t)semopm) == 0, "semopm set to %lld",
              small ? 1LL : (long long)semopm);
        const char *what = small ? "one-operation slots, the first in the first page" : "default slots";
        ok(removal_wakes(1), "IPC_RMID wakes a lone sleeper with EIDRM (%s)", what);
        ok(removal_wakes(3), "IPC_RMID wakes three sleepers with EIDRM (%s)", what);
    }
    return done_testing();
}
