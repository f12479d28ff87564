/* bench/sem.c — System V semaphores, ripc (user backend, through the
 * drop-in API and the native handle) against the kernel (raw semop system
 * call) in the same run: an uncontended P+V pair in one process, a
 * two-process ping-pong on two semaphores, and the CPU an idle waiter
 * burns. Medians of several batches, printed with ratios. < 30 s. */
#include "ripc_sysv.h"
#include <ripc.h> /* the native handle API */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "bench.h"
#include <unistd.h>

#define BATCHES 9

typedef int (*semop_fn)(int, struct sembuf *, size_t);

static int k_semop(int id, struct sembuf *b, size_t n) { return (int)syscall(SYS_semop, id, b, n); }
static int k_semget(void) { return (int)syscall(SYS_semget, IPC_PRIVATE, 2, IPC_CREAT | 0600); }
static void k_rmid(int id) { syscall(SYS_semctl, id, 0, IPC_RMID, 0); }

static double now_ns(void) { return now() * 1e9; }

/* ns per uncontended P+V pair */
static double pv(semop_fn f, int id, int iters) {
    struct sembuf p = {0, -1, 0}, v = {0, 1, 0};
    double r[BATCHES];
    if (f(id, &v, 1)) die("semop V");
    for (int b = 0; b < BATCHES; b++) {
        double t0 = now_ns();
        for (int i = 0; i < iters; i++)
            if (f(id, &p, 1) || f(id, &v, 1)) die("semop");
        r[b] = (now_ns() - t0) / iters;
    }
    return median(r, BATCHES);
}

static double pv_native(int iters) {
    struct ripc_semset *s = ripc_semset_open(NULL, IPC_PRIVATE, 1, IPC_CREAT | 0600);
    if (!s) die("ripc_semset_open");
    struct ripc_sembuf p = {0, -1, 0}, v = {0, 1, 0};
    double r[BATCHES];
    if (ripc_semset_op(s, &v, 1, -1)) die("ripc_semset_op");
    for (int b = 0; b < BATCHES; b++) {
        double t0 = now_ns();
        for (int i = 0; i < iters; i++)
            if (ripc_semset_op(s, &p, 1, -1) || ripc_semset_op(s, &v, 1, -1)) die("ripc_semset_op");
        r[b] = (now_ns() - t0) / iters;
    }
    ripc_semset_remove(s);
    ripc_semset_close(s);
    return median(r, BATCHES);
}

/* ns per round trip: parent V(0) P(1), child P(0) V(1). Kernel and ripc
 * batches alternate, so both see the same load on a shared machine. */
static pid_t ponger(semop_fn f, int id, int rounds) {
    struct sembuf p0 = {0, -1, 0}, v1 = {1, 1, 0};
    pid_t c = fork();
    if (c < 0) die("fork");
    if (c == 0) {
        for (int i = 0; i < rounds * BATCHES; i++)
            if (f(id, &p0, 1) || f(id, &v1, 1)) _exit(1);
        _exit(0);
    }
    return c;
}

static double ping_batch(semop_fn f, int id, int rounds) {
    struct sembuf v0 = {0, 1, 0}, p1 = {1, -1, 0};
    double t0 = now_ns();
    for (int i = 0; i < rounds; i++)
        if (f(id, &v0, 1) || f(id, &p1, 1)) die("semop");
    return (now_ns() - t0) / rounds;
}

static void pingpong(int kid, int rid, int rounds, double *k, double *r) {
    double kr[BATCHES], rr[BATCHES];
    pid_t kc = ponger(k_semop, kid, rounds), rc = ponger(ripc_semop, rid, rounds);
    for (int b = 0; b < BATCHES; b++) {
        kr[b] = ping_batch(k_semop, kid, rounds);
        rr[b] = ping_batch(ripc_semop, rid, rounds);
    }
    waitpid(kc, NULL, 0);
    waitpid(rc, NULL, 0);
    *k = median(kr, BATCHES);
    *r = median(rr, BATCHES);
}

static long cpu_ticks(pid_t p) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)p);
    FILE *fp = fopen(path, "r");
    if (!fp) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = 0;
    char *s = strrchr(buf, ')');
    long ut = 0, st = 0;
    if (!s || sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &ut, &st) != 2) return -1;
    return ut + st;
}

/* CPU ms a waiter blocked for 2 s uses */
static double idle_cpu_ms(semop_fn f, int id) {
    struct sembuf p = {1, -1, 0}, v = {1, 1, 0};
    pid_t c = fork();
    if (c == 0) _exit(f(id, &p, 1) ? 1 : 0);
    usleep(100000);
    long a = cpu_ticks(c);
    sleep(2);
    long b = cpu_ticks(c);
    f(id, &v, 1);
    int st;
    waitpid(c, &st, 0);
    return (b - a) * 1000.0 / sysconf(_SC_CLK_TCK);
}

int main(void) {
    setenv("RIPC_BACKEND", "user", 1);
    int rid = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600); /* ripc (drop-in) */
    int kid = k_semget();                                /* kernel */
    if (rid < 0) die("ripc semget");
    if (kid < 0) die("kernel semget");

    double k_pv = pv(k_semop, kid, 100000);
    double r_pv = pv(ripc_semop, rid, 300000);
    double n_pv = pv_native(300000);
    printf("sem P+V uncontended:   kernel %8.1f ns   ripc semop %7.1f ns (%5.1fx faster)   ripc native %7.1f ns (%5.1fx faster)\n",
           k_pv, r_pv, k_pv / r_pv, n_pv, k_pv / n_pv);

    struct sembuf z0 = {0, -1, 0};
    k_semop(kid, &z0, 1);
    ripc_semop(rid, &z0, 1);
    double k_pp, r_pp;
    pingpong(kid, rid, 3000, &k_pp, &r_pp);
    printf("sem ping-pong 2 procs: kernel %8.1f ns   ripc semop %7.1f ns (%5.2f of the kernel's round trip)\n",
           k_pp, r_pp, r_pp / k_pp);

    double k_idle = idle_cpu_ms(k_semop, kid);
    double r_idle = idle_cpu_ms(ripc_semop, rid);
    printf("sem idle waiter CPU over 2 s: kernel %.0f ms   ripc %.0f ms\n", k_idle, r_idle);

    k_rmid(kid);
    semctl(rid, 0, IPC_RMID);
    return 0;
}
