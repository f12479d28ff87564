/* tap.h — minimal TAP producer for the C suite (prove reads it). */
#ifndef RIPC_TAP_H
#define RIPC_TAP_H
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

static int tap_n, tap_failed;

static inline int tap_ok(int cond, const char *fmt, ...) {
    va_list ap;
    tap_n++;
    if (!cond) tap_failed++;
    printf("%sok %d - ", cond ? "" : "not ", tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    return cond;
}

/* ok(cond, "name") */
#define ok(cond, ...) tap_ok(!!(cond), __VA_ARGS__)
/* A call that must fail with errno E: ok_errno(call(...) == -1, EINVAL, "...") */
#define ok_errno(failed, E, ...)                                              \
    do {                                                                      \
        errno = 0;                                                            \
        int tap_f_ = !!(failed);                                              \
        int tap_e_ = errno;                                                   \
        if (!tap_ok(tap_f_ && tap_e_ == (E), __VA_ARGS__))                    \
            printf("#   expected errno %d (%s), got %s with errno %d (%s)\n",   \
                   (E), strerror(E), tap_f_ ? "failure" : "success", tap_e_,  \
                   strerror(tap_e_));                                         \
    } while (0)
#define diag(...) (printf("# "), printf(__VA_ARGS__), printf("\n"))

/* xorshift64: the tests' reproducible random numbers (state never 0). */
static inline uint64_t tap_xorshift(uint64_t *state) {
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

/* Seconds on the monotonic clock. */
static inline double tap_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs this program again as `NAME stranger ID N` under uid and gid
 * 65534: a fresh process that never opened object ID, its TAP tests
 * numbered from N + 1 (the count so far). Returns its wait status. */
static inline int tap_exec_stranger(const char *name, int id) {
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        char sid[16], sn[16];
        snprintf(sid, sizeof sid, "%d", id);
        snprintf(sn, sizeof sn, "%d", tap_n);
        if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(1);
        execl("/proc/self/exe", name, "stranger", sid, sn, (char *)NULL);
        _exit(127);
    }
    int st = -1;
    waitpid(c, &st, 0);
    return st;
}

static inline int done_testing(void) {
    printf("1..%d\n", tap_n);
    fflush(stdout);
    return tap_failed ? 1 : 0;
}

static inline int backend_is_kernel(void) {
    const char *b = getenv("RIPC_BACKEND");
    return b && strcmp(b, "kernel") == 0;
}
#endif
