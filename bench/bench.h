/* bench.h — what every benchmark here needs: a monotonic clock, the
 * median of repeated runs, and a way to give up. */
#ifndef RIPC_BENCH_H
#define RIPC_BENCH_H
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Seconds on the monotonic clock. */
static inline double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int bench_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0..n) (sorts v). */
static inline double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, bench_cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static inline void die(const char *what) {
    perror(what);
    exit(1);
}

/* The private namespace a benchmark runs ripc's user engine in: a fresh
 * directory under /dev/shm, made by bench_private_ns() before the first
 * ripc call and removed by bench_remove_ns(), which names on stderr any
 * object left behind (the namespace's own files are expected). */
static inline char *bench_ns_dir(void) {
    static char dir[] = "/dev/shm/ripc-bench.XXXXXX";
    return dir;
}

static inline const char *bench_private_ns(void) {
    unsetenv("RIPC_BACKEND");
    if (!mkdtemp(bench_ns_dir())) die("mkdtemp");
    setenv("RIPC_DIR", bench_ns_dir(), 1);
    return bench_ns_dir();
}

static inline void bench_remove_ns(void) {
    const char *dir = bench_ns_dir();
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[64 + 300];
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            if (strcmp(e->d_name, "ripc.ns") && strcmp(e->d_name, "ripc.seq") && strcmp(e->d_name, "ripc.idx"))
                fprintf(stderr, "bench: left behind: %s\n", e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

#endif
