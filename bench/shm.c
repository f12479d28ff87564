/* bench/shm.c — ripc's shared memory (native API, user backend) against
 * the kernel's System V shared memory (raw system calls), in one run.
 *
 *   cycle:  create + attach + detach + remove of a 4 KiB segment
 *   attach: attach + detach of an existing segment
 *   touch:  first-touch bandwidth of a fresh 64 MiB segment (memset)
 *
 * Each figure is the median of several rounds; ratios are ripc / kernel
 * for times (lower is better) and ripc / kernel for bandwidth. */
#include <ripc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>

#include "bench.h"
#include <unistd.h>

#define ROUNDS 9
#define CYCLES 300
#define BIG (64UL << 20)


/* kernel System V shared memory by raw system call (no libc wrappers, so
 * nothing here can be routed to ripc). */
static int k_get(size_t size) { return (int)syscall(SYS_shmget, IPC_PRIVATE, size, 0600); }
static void *k_at(int id) { return (void *)syscall(SYS_shmat, id, NULL, 0); }
static int k_dt(void *p) { return (int)syscall(SYS_shmdt, p); }
static int k_rm(int id) { return (int)syscall(SYS_shmctl, id, IPC_RMID, NULL); }

static double ripc_cycle(void) {
    double t = now();
    for (int i = 0; i < CYCLES; i++) {
        struct ripc_shm *s = ripc_shm_open(NULL, IPC_PRIVATE, 4096, 0600);
        if (!s) die("ripc_shm_open");
        char *p = ripc_shm_attach(s, 0, NULL);
        if (!p) die("ripc_shm_attach");
        p[0] = 1;
        if (ripc_shm_detach(s, p) || ripc_shm_remove(s)) die("ripc detach/remove");
        ripc_shm_close(s);
    }
    return (now() - t) / CYCLES;
}

static double kernel_cycle(void) {
    double t = now();
    for (int i = 0; i < CYCLES; i++) {
        int id = k_get(4096);
        if (id < 0) die("shmget");
        char *p = k_at(id);
        if (p == (void *)-1) die("shmat");
        p[0] = 1;
        if (k_dt(p) || k_rm(id)) die("shmdt/shmctl");
    }
    return (now() - t) / CYCLES;
}

static double ripc_attach(struct ripc_shm *s) {
    double t = now();
    for (int i = 0; i < CYCLES; i++) {
        char *p = ripc_shm_attach(s, 0, NULL);
        if (!p) die("ripc_shm_attach");
        p[0] = 1;
        if (ripc_shm_detach(s, p)) die("ripc_shm_detach");
    }
    return (now() - t) / CYCLES;
}

static double kernel_attach(int id) {
    double t = now();
    for (int i = 0; i < CYCLES; i++) {
        char *p = k_at(id);
        if (p == (void *)-1) die("shmat");
        p[0] = 1;
        if (k_dt(p)) die("shmdt");
    }
    return (now() - t) / CYCLES;
}

/* Seconds to memset a fresh 64 MiB segment (page faults included). */
static double ripc_touch(void) {
    struct ripc_shm *s = ripc_shm_open(NULL, IPC_PRIVATE, BIG, 0600);
    if (!s) die("ripc_shm_open 64 MiB");
    char *p = ripc_shm_attach(s, 0, NULL);
    if (!p) die("ripc_shm_attach 64 MiB");
    double t = now();
    memset(p, 0x5a, BIG);
    t = now() - t;
    ripc_shm_detach(s, p);
    ripc_shm_remove(s);
    ripc_shm_close(s);
    return t;
}

static double kernel_touch(void) {
    int id = k_get(BIG);
    if (id < 0) die("shmget 64 MiB");
    char *p = k_at(id);
    if (p == (void *)-1) die("shmat 64 MiB");
    double t = now();
    memset(p, 0x5a, BIG);
    t = now() - t;
    k_dt(p);
    k_rm(id);
    return t;
}

int main(void) {
    /* ripc's engine in a private namespace of our own. */
    setenv("RIPC_BACKEND", "user", 1);
    char dir[] = "/dev/shm/ripc-bench.XXXXXX";
    if (!mkdtemp(dir)) die("mkdtemp");
    setenv("RIPC_DIR", dir, 1);

    double rc[ROUNDS], kc[ROUNDS], ra[ROUNDS], ka[ROUNDS], rt[ROUNDS], kt[ROUNDS];
    struct ripc_shm *s = ripc_shm_open(NULL, IPC_PRIVATE, 4096, 0600);
    int kid = k_get(4096);
    if (!s || kid < 0) die("setup");
    for (int r = 0; r < ROUNDS; r++) { /* interleaved, so noise hits both */
        rc[r] = ripc_cycle();
        kc[r] = kernel_cycle();
        ra[r] = ripc_attach(s);
        ka[r] = kernel_attach(kid);
    }
    ripc_shm_remove(s);
    ripc_shm_close(s);
    k_rm(kid);
    for (int r = 0; r < ROUNDS; r++) {
        rt[r] = ripc_touch();
        kt[r] = kernel_touch();
    }
    double mrc = median(rc, ROUNDS), mkc = median(kc, ROUNDS);
    double mra = median(ra, ROUNDS), mka = median(ka, ROUNDS);
    double mrt = median(rt, ROUNDS), mkt = median(kt, ROUNDS);
    double mib = (double)(BIG >> 20);
    printf("shm cycle (get+at+dt+rmid, 4 KiB): ripc %.2f us  kernel %.2f us  ratio %.2fx\n",
           mrc * 1e6, mkc * 1e6, mrc / mkc);
    printf("shm attach (at+dt, existing):      ripc %.2f us  kernel %.2f us  ratio %.2fx\n",
           mra * 1e6, mka * 1e6, mra / mka);
    printf("shm first touch 64 MiB:            ripc %.0f MiB/s  kernel %.0f MiB/s  ratio %.2f\n",
           mib / mrt, mib / mkt, mkt / mrt);

    char ns[sizeof dir + 16];
    snprintf(ns, sizeof ns, "%s/ripc.ns", dir);
    unlink(ns);
    rmdir(dir);
    return 0;
}
