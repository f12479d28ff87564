/* t_sem_sleepers.c — more sleepers than a set's sleeper slots (ripc: 64),
 * with small stacks: 64 threads churn through the slots (semtimedop with
 * 1 ms timeouts) while a thread with a 64 KiB stack does a blocking semop
 * that must wait for a slot, then complete once released. Then 64 threads
 * hold every slot for 4 s while a thread with a 16 KiB stack waits for one
 * (ripc retried by recursion, one frame per 50 ms tick: a stack overflow)
 * and completes once a slot and a unit are released; with every slot held,
 * a timed wait still ends by its deadline and a signal still gives EINTR.
 * Nothing may crash (each part runs in a child: a SIGSEGV fails it). Both
 * backends (the kernel has no slot limit). */
#pragma GCC diagnostic ignored "-Wcomment" /* the header comment names sys headers with a glob */
#include "ripc_sysv.h"
#include "tap.h"
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#define FILLERS 64
#define SMALL_STACK (64 * 1024)
#define TINY_STACK (16 * 1024)

static int id;
static atomic_int stop;
static atomic_long churns;

static void *churner(void *arg) {
    (void)arg;
    struct sembuf p = {0, -1, 0};
    struct timespec ts = {0, 1000000};
    while (!atomic_load(&stop)) {
        if (semtimedop(id, &p, 1, &ts) == 0 || errno != EAGAIN) return (void *)1;
        atomic_fetch_add(&churns, 1);
    }
    return NULL;
}

static void *holder(void *arg) {
    (void)arg;
    struct sembuf p = {0, -1, 0};
    /* Sleeps until granted a unit or IPC_RMID (EIDRM). */
    return semop(id, &p, 1) == 0 || errno == EIDRM ? NULL : (void *)1;
}

struct small {
    int timed_ms; /* 0: blocking semop */
    int ret, err;
    double took;
    atomic_int done;
};

static void *small_fn(void *arg) {
    struct small *s = arg;
    struct sembuf p = {1, -1, 0};
    double t0 = tap_now();
    errno = 0;
    if (s->timed_ms) {
        struct timespec ts = {s->timed_ms / 1000, (long)(s->timed_ms % 1000) * 1000000};
        s->ret = semtimedop(id, &p, 1, &ts);
    } else {
        s->ret = semop(id, &p, 1);
    }
    s->err = errno;
    s->took = tap_now() - t0;
    atomic_store(&s->done, 1);
    return NULL;
}

static int start_sized(pthread_t *t, void *(*f)(void *), void *arg, size_t stack) {
    long min = sysconf(_SC_THREAD_STACK_MIN);
    if (min > 0 && stack < (size_t)min) stack = (size_t)min;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, stack);
    int r = pthread_create(t, &a, f, arg);
    pthread_attr_destroy(&a);
    return r;
}

static int start(pthread_t *t, void *(*f)(void *), void *arg) {
    return start_sized(t, f, arg, SMALL_STACK);
}

static int wait_done(struct small *s, double secs) {
    double t0 = tap_now();
    while (!atomic_load(&s->done) && tap_now() - t0 < secs) usleep(1000);
    return atomic_load(&s->done);
}

static void on_usr1(int sig) { (void)sig; }

/* Part 1 (in a child): churners + a small-stack blocking semop. Exit
 * status: 0 done, 1 not completed, 2 setup. */
static int part_churn(void) {
    pthread_t t[FILLERS], st;
    for (int i = 0; i < FILLERS; i++)
        if (start(&t[i], churner, NULL)) return 2;
    while (atomic_load(&churns) < FILLERS) usleep(1000);
    struct small s = {0};
    if (start(&st, small_fn, &s)) return 2;
    sleep(3); /* the small thread competes for slots all along */
    atomic_store(&stop, 1);
    for (int i = 0; i < FILLERS; i++) pthread_join(t[i], NULL);
    struct sembuf v = {1, 1, 0};
    if (semop(id, &v, 1) != 0) return 2;
    if (!wait_done(&s, 5)) return 1;
    pthread_join(st, NULL);
    return s.ret == 0 ? 0 : 1;
}

/* Part 2 (in a child): every slot held for 4 s while a 16 KiB-stack thread
 * waits for one. Exit status: 0 done, 1 not completed, 2 setup. */
static int part_tiny(void) {
    pthread_t t[FILLERS], st;
    for (int i = 0; i < FILLERS; i++)
        if (start(&t[i], holder, NULL)) return 2;
    double t0 = tap_now();
    while (semctl(id, 0, GETNCNT) < FILLERS && tap_now() - t0 < 5) usleep(1000);
    struct small s = {0};
    if (start_sized(&st, small_fn, &s, TINY_STACK)) return 2;
    sleep(4);
    struct sembuf v0 = {0, 1, 0}, v1 = {1, 1, 0};
    if (semop(id, &v0, 1) != 0) return 2; /* one holder goes: a free slot */
    usleep(200 * 1000);
    if (semop(id, &v1, 1) != 0) return 2;
    int rc = wait_done(&s, 5) && s.ret == 0 ? 0 : 1;
    if (atomic_load(&s.done)) pthread_join(st, NULL);
    struct sembuf vall = {0, FILLERS - 1, 0};
    semop(id, &vall, 1); /* the other holders go */
    for (int i = 0; i < FILLERS; i++) pthread_join(t[i], NULL);
    return rc;
}

/* Part 3 (in a child): every slot held; a timed wait, then a signal.
 * Exit status: 0 fine, 1 timed wait wrong, 3 EINTR wrong, 2 setup. */
static int part_full(void) {
    pthread_t t[FILLERS], st;
    for (int i = 0; i < FILLERS; i++)
        if (start(&t[i], holder, NULL)) return 2;
    double t0 = tap_now();
    while (semctl(id, 0, GETNCNT) < FILLERS && tap_now() - t0 < 5) usleep(1000);
    int rc = 0;
    struct small s = {.timed_ms = 300};
    if (start(&st, small_fn, &s)) return 2;
    if (!wait_done(&s, 5)) return 1;
    pthread_join(st, NULL);
    printf("# timed wait: ret %d errno %d after %.3f s\n", s.ret, s.err, s.took);
    if (!(s.ret == -1 && s.err == EAGAIN && s.took >= 0.29 && s.took < 2.0)) rc = 1;

    struct sigaction sa = {0};
    sa.sa_handler = on_usr1; /* no SA_RESTART: EINTR expected anyway */
    sigaction(SIGUSR1, &sa, NULL);
    struct small s2 = {0};
    if (start(&st, small_fn, &s2)) return 2;
    usleep(300 * 1000);
    /* A signal whose handler runs before the call has gone to sleep is
     * lost to it, on the kernel too (the call then sleeps on): on a loaded
     * machine the thread may not have reached its sleep after 300 ms, so
     * the signal is repeated every 50 ms until the call returns. A call
     * that swallows signals while it sleeps still never returns. */
    int sent = 0;
    double t1 = tap_now();
    while (!atomic_load(&s2.done) && tap_now() - t1 < 5) {
        pthread_kill(st, SIGUSR1);
        sent++;
        usleep(50 * 1000);
    }
    if (!atomic_load(&s2.done)) {
        printf("# blocking wait: no return after %d signals\n", sent);
        rc = 3;
    } else {
        pthread_join(st, NULL);
        printf("# blocking wait, signalled %d time(s): ret %d errno %d\n", sent, s2.ret, s2.err);
        if (!(s2.ret == -1 && s2.err == EINTR)) rc = 3;
    }
    fflush(stdout);
    semctl(id, 0, IPC_RMID); /* wakes the holders with EIDRM */
    for (int i = 0; i < FILLERS; i++) pthread_join(t[i], NULL);
    return rc;
}

static int run_child(int (*f)(void)) {
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        alarm(30);
        int r = f();
        fflush(stdout);
        _exit(r);
    }
    int st = 0;
    waitpid(c, &st, 0);
    if (WIFSIGNALED(st)) diag("child killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    return st;
}

int main(void) {
    id = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
    ok(id >= 0, "semget");
    int st = run_child(part_churn);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
       "a 64 KiB-stack thread competing 3 s with %d churning sleepers for the slots gets one and completes (status 0x%x)",
       FILLERS, st);
    st = run_child(part_tiny);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
       "a 16 KiB-stack thread waits 4 s for a slot, then completes when released (status 0x%x)", st);
    int left = semctl(id, 0, GETVAL);
    ok(left == 0, "every unit taken (%d left)", left);
    st = run_child(part_full);
    ok(WIFEXITED(st) && WEXITSTATUS(st) != 1 && !WIFSIGNALED(st),
       "all slots held: a timed wait ends by its deadline (status 0x%x)", st);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "all slots held: a signal gives EINTR (status 0x%x)", st);
    semctl(id, 0, IPC_RMID); /* part 2 removed it already; harmless */
    return done_testing();
}
