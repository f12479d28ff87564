/* tap.h — minimal TAP producer for the C suite (prove reads it). */
#ifndef RIPC_TAP_H
#define RIPC_TAP_H
#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/mman.h>
#include <sys/prctl.h>

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

/* Where a failed check is: printed under its "not ok" line. */
static inline int tap_at(int cond, const char *file, int line, const char *expr) {
    if (!cond) printf("#   at %s:%d: %s\n", file, line, expr);
    return cond;
}

/* ok(cond, "name"): a failure prints the file, the line and the
 * condition. */
#define ok(cond, ...) tap_at(tap_ok(!!(cond), __VA_ARGS__), __FILE__, __LINE__, #cond)

/* ok_eq(a, b, "name"): integers compared; a failure prints both values,
 * the file and the line. */
#define ok_eq(a, b, ...)                                                              \
    do {                                                                              \
        long long tap_a_ = (long long)(a), tap_b_ = (long long)(b);                   \
        if (!tap_at(tap_ok(tap_a_ == tap_b_, __VA_ARGS__), __FILE__, __LINE__, #a " == " #b)) \
            printf("#   got %lld, expected %lld\n", tap_a_, tap_b_);                  \
    } while (0)
/* A call that must fail with errno E: ok_errno(call(...) == -1, EINVAL, "...") */
#define ok_errno(failed, E, ...)                                              \
    do {                                                                      \
        errno = 0;                                                            \
        int tap_f_ = !!(failed);                                              \
        int tap_e_ = errno;                                                   \
        if (!tap_at(tap_ok(tap_f_ && tap_e_ == (E), __VA_ARGS__), __FILE__,   \
                    __LINE__, #failed))                                       \
            printf("#   expected errno %d (%s), got %s with errno %d (%s)\n",   \
                   (E), strerror(E), tap_f_ ? "failure" : "success", tap_e_,  \
                   strerror(tap_e_));                                         \
    } while (0)
#define diag(...) (printf("# "), printf(__VA_ARGS__), printf("\n"))

/* Sleeps `us` microseconds. */
static inline void tap_sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* Waits for child `c` (through EINTR): its status. */
static inline int tap_reap(pid_t c) {
    int st = 0;
    while (waitpid(c, &st, 0) < 0 && errno == EINTR) {
    }
    return st;
}

/* tap_subtest("name", fn): runs fn() in a child process of its own, so
 * that a subtest that crashes (a signal), hangs (killed after
 * TAP_SUBTEST_SECONDS) or corrupts this process's state cannot take its
 * neighbours with it. The child's TAP lines are relayed as they come and
 * counted, so numbering carries on after it whatever happened; a child
 * that did not end normally adds one "not ok" saying how it ended. Each
 * subtest must clean up after itself (objects it made), as it would
 * anyway. Returns 1 when the subtest ran to its end without a failure. */
#ifndef TAP_SUBTEST_SECONDS
#define TAP_SUBTEST_SECONDS 120
#endif
static inline int tap_subtest(const char *name, void (*fn)(void)) {
    int fd[2];
    fflush(stdout);
    fflush(stderr);
    if (pipe(fd) != 0) return tap_ok(0, "subtest %s: pipe: %s", name, strerror(errno));
    pid_t c = fork();
    if (c < 0) {
        close(fd[0]);
        close(fd[1]);
        return tap_ok(0, "subtest %s: fork: %s", name, strerror(errno));
    }
    if (c == 0) {
        close(fd[0]);
        if (dup2(fd[1], STDOUT_FILENO) < 0) _exit(98);
        close(fd[1]);
        alarm(TAP_SUBTEST_SECONDS);
        printf("# subtest %s\n", name);
        int failed_before = tap_failed;
        fn();
        fflush(stdout);
        _exit(tap_failed > failed_before ? 1 : 0);
    }
    close(fd[1]);
    /* Relay the child's lines, counting its tests. */
    FILE *in = fdopen(fd[0], "r");
    char line[4096];
    int n = 0, bad = 0, at_start = 1;
    while (in && fgets(line, sizeof line, in)) {
        if (at_start) {
            if (strncmp(line, "ok ", 3) == 0) n++;
            else if (strncmp(line, "not ok ", 7) == 0) n++, bad++;
        }
        at_start = strchr(line, '\n') != NULL;
        fputs(line, stdout);
    }
    fflush(stdout);
    if (in) fclose(in);
    else close(fd[0]);
    int st = tap_reap(c);
    tap_n += n;
    tap_failed += bad;
    if (WIFSIGNALED(st))
        return tap_ok(0, "subtest %s ended by signal %d (%s) after %d test(s)", name, WTERMSIG(st),
                      strsignal(WTERMSIG(st)), n);
    if (!WIFEXITED(st) || (WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 1))
        return tap_ok(0, "subtest %s exited with status %d after %d test(s)", name, WEXITSTATUS(st), n);
    return bad == 0 && WEXITSTATUS(st) == 0;
}

/* xorshift64: the tests' reproducible random numbers (state never 0). */
static inline uint64_t tap_xorshift(uint64_t *state) {
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

/* The median of the n values in v (sorted in place; the upper middle
 * one when n is even). */
static inline double tap_median(double *v, int n) {
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double x = v[j];
            v[j] = v[j - 1];
            v[j - 1] = x;
        }
    return n > 0 ? v[n / 2] : 0;
}

/* Seconds on the monotonic clock. */
static inline double tap_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* How late a plain nanosleep of `secs` returns right now (seconds, >= 0):
 * the scheduling latency of this moment ("+- scheduling"), which a timed
 * call's overrun or a wake-up's delay is judged beside. On a quiet
 * machine well under a millisecond; beside busy loops tens of ms. */
static inline double tap_nap_over(double secs) {
    struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
    double t0 = tap_now();
    nanosleep(&ts, NULL);
    double over = tap_now() - t0 - secs;
    return over > 0 ? over : 0;
}

/* The libripc.so this process runs (the object that holds ripc_ftok): the
 * file name the loader gave it and its GNU build-id in hex ("" if none;
 * the Makefile links with --build-id). 0, or -1 when no libripc is loaded. */
struct tap_lib {
    const void *sym;
    char path[4096];
    char build_id[2 * 64 + 1];
};

static int tap_lib_cb(struct dl_phdr_info *info, size_t size, void *data) {
    struct tap_lib *l = data;
    uintptr_t a = (uintptr_t)l->sym;
    int inside = 0;
    (void)size;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[i];
        uintptr_t lo = (uintptr_t)(info->dlpi_addr + p->p_vaddr);
        if (p->p_type == PT_LOAD && a >= lo && a - lo < p->p_memsz) inside = 1;
    }
    if (!inside) return 0;
    snprintf(l->path, sizeof l->path, "%s", info->dlpi_name);
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[i];
        if (p->p_type != PT_NOTE) continue;
        size_t align = p->p_align == 8 ? 8 : 4;
        const char *n = (const char *)(uintptr_t)(info->dlpi_addr + p->p_vaddr), *end = n + p->p_memsz;
        while ((size_t)(end - n) >= sizeof(ElfW(Nhdr))) {
            const ElfW(Nhdr) *h = (const void *)n;
            const char *name = n + sizeof *h;
            const unsigned char *desc = (const unsigned char *)name + ((h->n_namesz + align - 1) & ~(align - 1));
            if (h->n_type == NT_GNU_BUILD_ID && h->n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
                for (size_t j = 0; j < h->n_descsz && 2 * j + 2 < sizeof l->build_id; j++)
                    snprintf(l->build_id + 2 * j, 3, "%02x", desc[j]);
                return 1;
            }
            n = (const char *)desc + ((h->n_descsz + align - 1) & ~(align - 1));
        }
    }
    return 1;
}

static inline int tap_libripc(struct tap_lib *l) {
    memset(l, 0, sizeof *l);
    l->sym = dlsym(RTLD_DEFAULT, "ripc_ftok");
    return l->sym && dl_iterate_phdr(tap_lib_cb, l) ? 0 : -1;
}

/* Runs this program again, as uid and gid 65534 without supplementary
 * groups (a fresh unprivileged process), with arguments ARGV (ARGV[0] is
 * its name); SELF is this program's file (NULL: /proc/self/exe). Returns
 * its wait status.
 *
 * The checkout may be anywhere — a 0700 directory, /root, a path with
 * spaces — so uid 65534 may be unable to reach the build tree: exec'ing
 * the binary by its path fails, and the loader, unable to follow the
 * rpath into target/release, silently falls back to the system path (no
 * libripc.so.0, or an older installed one). So neither file is reached by
 * path. The child, still root, opens both: this binary, and the
 * libripc.so.0 this process actually loaded (tap_libripc). Once
 * unprivileged it executes the binary as /proc/self/fd/E, with
 * LD_PRELOAD=/proc/self/fd/L: an open descriptor is reachable whatever
 * the directories' modes, and the loader maps preloaded objects first, so
 * the binary's DT_NEEDED libripc.so.0 is satisfied by that object's soname
 * before any search path is tried. No copies, nothing to clean up.
 * TAP_LIBRIPC_BUILD_ID carries this process's build-id: the new process
 * must call tap_same_libripc(), a TAP test that fails loudly (both ids)
 * if it runs any other libripc. */
/* (tap_execv_as is its second half, in an already forked child.) */

/* In an already forked child: executes `self` (NULL: this program) with
 * argv as uid/gid (no supplementary groups), pinned to this process's
 * libripc as tap_exec_as_nobody() describes. Returns only on failure
 * (exit status 126: setup, 1: the ids, 127: the exec), by _exit. */
static inline void tap_execv_as(uid_t uid, gid_t gid, const char *self, char *const argv[]) {
    struct tap_lib l;
    if (tap_libripc(&l) != 0 || !l.build_id[0]) {
        fprintf(stderr, "# no libripc with a build-id in this process: cannot pin the child to it\n");
        _exit(126);
    }
    char fdpath[64], pre[64];
    int exe = open(self ? self : "/proc/self/exe", O_RDONLY | O_CLOEXEC);
    int lib = open(l.path, O_RDONLY); /* no O_CLOEXEC: the loader opens it */
    if (exe < 0 || lib < 0) {
        fprintf(stderr, "# cannot open %s or %s: %s\n", self ? self : "/proc/self/exe", l.path, strerror(errno));
        _exit(126);
    }
    snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", exe);
    snprintf(pre, sizeof pre, "/proc/self/fd/%d", lib);
    if (setenv("LD_PRELOAD", pre, 1) || setenv("TAP_LIBRIPC_BUILD_ID", l.build_id, 1) ||
        setenv("TAP_LIBRIPC_PATH", l.path, 1))
        _exit(126);
    if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0) _exit(1);
    execv(fdpath, argv);
    fprintf(stderr, "# exec %s as uid %d: %s\n", fdpath, (int)uid, strerror(errno));
    _exit(127);
}

static inline int tap_exec_as_nobody(const char *self, char *const argv[]) {
    struct tap_lib l;
    if (tap_libripc(&l) != 0 || !l.build_id[0]) {
        diag("no libripc with a build-id in this process (%s): cannot pin the stranger to it",
             l.path[0] ? l.path : "not loaded");
        return -1;
    }
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) tap_execv_as(65534, 65534, self, argv);
    int st = -1;
    if (c < 0 || waitpid(c, &st, 0) != c) return -1;
    return st;
}

/* In a process started by tap_exec_as_nobody(): one TAP test, that the
 * libripc it runs is its parent's (the same GNU build-id). */
static inline int tap_same_libripc(void) {
    const char *want = getenv("TAP_LIBRIPC_BUILD_ID"), *from = getenv("TAP_LIBRIPC_PATH");
    struct tap_lib l;
    int found = tap_libripc(&l) == 0;
    int same = found && want && want[0] && strcmp(l.build_id, want) == 0;
    if (!ok(same, "the stranger runs the build's libripc (build-id %s)", want ? want : "not passed"))
        diag("the stranger's libripc: build-id %s, %s; the parent's: build-id %s, %s",
             found && l.build_id[0] ? l.build_id : "none", found ? l.path : "no libripc loaded",
             want ? want : "not passed", from ? from : "?");
    return same;
}

/* Runs this program again as `NAME stranger ID N` under uid and gid
 * 65534 (tap_exec_as_nobody): a fresh process that never opened object
 * ID, its TAP tests numbered from N + 1 (the count so far), the first of
 * them tap_same_libripc(). Returns its wait status. */
static inline int tap_exec_stranger(const char *name, int id) {
    char sid[16], sn[16];
    snprintf(sid, sizeof sid, "%d", id);
    snprintf(sn, sizeof sn, "%d", tap_n);
    char *argv[] = {(char *)name, "stranger", sid, sn, NULL};
    return tap_exec_as_nobody(NULL, argv);
}

/* Fills the file system under RIPC_TEST_MNT (see tap_in_private_tmpfs)
 * to the last byte with a plain file `filler`; returns its descriptor
 * (open, so the space stays taken until it is closed and unlinked). */
static inline int tap_fill_tmpfs(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/filler", getenv("RIPC_TEST_MNT"));
    int f = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    static char page[4096];
    long wrote = 0;
    while (f >= 0 && wrote < (1L << 30)) {
        ssize_t w = write(f, page, sizeof page);
        if (w <= 0) break;
        wrote += w;
    }
    while (f >= 0 && write(f, page, 1) == 1) wrote++;
    diag("filler file: %ld bytes", wrote);
    return f;
}

/* Writes VAL to /proc/sys/kernel/FILE (an IPC sysctl, in a private IPC
 * namespace); 0 when done. */
static inline int tap_sysctl(const char *file, const char *val) {
    char p[128];
    snprintf(p, sizeof p, "/proc/sys/kernel/%s", file);
    int fd = open(p, O_WRONLY);
    if (fd < 0) return -1;
    ssize_t n = write(fd, val, strlen(val));
    close(fd);
    return n == (ssize_t)strlen(val) ? 0 : -1;
}

/* Runs this program again as `NAME full N FD` in a private mount
 * namespace (unshare -m, root only) with a tmpfs of SIZE (mount option,
 * e.g. "512k") at a fresh directory, RIPC_DIR=<it>/ns and
 * RIPC_TEST_MNT=<it>: the child numbers its TAP tests from N + 1 and
 * writes {tap_n, tap_failed} to descriptor FD before it exits. Then one
 * more test here: the child ended normally (SIGBUS named). A TAP skip when
 * the mount namespace or the tmpfs cannot be had. Used by the tests of a
 * full file system. */
static inline void tap_in_private_tmpfs(const char *name, const char *size) {
    char mnt[] = "/tmp/ripc-tmpfs.XXXXXX";
    int fd[2], setup[2];
    if (!mkdtemp(mnt) || pipe(fd) != 0 || pipe2(setup, O_CLOEXEC) != 0) {
        printf("ok %d - full tmpfs # SKIP no temporary directory or pipe\n", ++tap_n);
        return;
    }
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        char opts[64];
        snprintf(opts, sizeof opts, "size=%s", size);
        close(fd[0]);
        close(setup[0]);
        if (unshare(CLONE_NEWNS) != 0 || mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
            mount("tmpfs", mnt, "tmpfs", 0, opts) != 0) {
            int e = errno;
            (void)!write(setup[1], &e, sizeof e);
            _exit(1);
        }
        char ns[4096], sn[16], sfd[16];
        snprintf(ns, sizeof ns, "%s/ns", mnt);
        snprintf(sn, sizeof sn, "%d", tap_n);
        snprintf(sfd, sizeof sfd, "%d", fd[1]);
        setenv("RIPC_DIR", ns, 1);
        setenv("RIPC_TEST_MNT", mnt, 1);
        execl("/proc/self/exe", name, "full", sn, sfd, (char *)NULL);
        int e = errno;
        (void)!write(setup[1], &e, sizeof e);
        _exit(1);
    }
    close(fd[1]);
    close(setup[1]);
    int e = 0;
    int could_not = read(setup[0], &e, sizeof e) == sizeof e;
    close(setup[0]);
    int res[2] = {-1, 0};
    int got = !could_not && read(fd[0], res, sizeof res) == sizeof res;
    close(fd[0]);
    int st = 0;
    waitpid(c, &st, 0);
    rmdir(mnt);
    if (could_not) {
        printf("ok %d - full tmpfs # SKIP no private mount namespace or tmpfs here (%s)\n", ++tap_n, strerror(e));
        return;
    }
    if (got) {
        tap_n = res[0];
        tap_failed += res[1];
    }
    ok(got && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the full-tmpfs process ended normally (status 0x%x%s)", st,
       WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS ? ", SIGBUS" : "");
}

/* The state letter (field 3: 'R', 'S', 'T', ...) of the stat file at
 * `path` (/proc/<pid>/stat, /proc/self/task/<tid>/stat); '?' if unreadable. */
static inline char tap_stat_state(const char *path) {
    char buf[512];
    FILE *f = fopen(path, "r");
    if (!f) return '?';
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *e = strrchr(buf, ')');
    return e && e[1] == ' ' ? e[2] : '?';
}

/* A process's start time, field 22 of /proc/<pid>/stat (`pid` 0 for this
 * one), as ripc records it beside a lock's owner; 0 if unreadable. */
static inline unsigned long long tap_start_time(pid_t pid) {
    char b[1024];
    if (pid) snprintf(b, sizeof b, "/proc/%d/stat", (int)pid);
    else snprintf(b, sizeof b, "/proc/self/stat");
    int fd = open(b, O_RDONLY);
    if (fd < 0) return 0;
    ssize_t n = read(fd, b, sizeof b - 1);
    close(fd);
    if (n <= 0) return 0;
    b[n] = 0;
    char *p = strrchr(b, ')');
    if (!p) return 0;
    unsigned long long v = 0;
    int field = 2;
    for (p++; *p && field < 22; p++)
        if (*p == ' ') field++;
    sscanf(p, "%llu", &v);
    return v;
}

/* Removes a namespace directory a test made (its own files, then it). */
static inline void tap_remove_dir(const char *d) {
    DIR *dh = opendir(d);
    if (!dh) return;
    struct dirent *e;
    while ((e = readdir(dh)) != NULL) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlinkat(dirfd(dh), e->d_name, 0);
    }
    closedir(dh);
    rmdir(d);
}

/* Names in directory dir that start with prefix; with others, every name
 * but the namespace's own files (ripc.ns, ripc.seq, ripc.idx). -1 when
 * the directory cannot be read. */
static inline int tap_count_names(const char *dir, const char *prefix, int others) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *s = e->d_name;
        if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0) continue;
        if (others) {
            if (strcmp(s, "ripc.ns") != 0 && strcmp(s, "ripc.seq") != 0 && strcmp(s, "ripc.idx") != 0) n++;
        } else if (strncmp(s, prefix, strlen(prefix)) == 0) {
            n++;
        }
    }
    closedir(d);
    return n;
}

/* Seconds until the shared counter *n moves from `before` (looked at
 * every 200 µs), give_up at most: how long a call a child makes took to
 * get through, when the child counts its calls. */
static inline double tap_until_moved(volatile int *n, int before, double give_up) {
    double t0 = tap_now();
    struct timespec ts = {0, 200 * 1000};
    while (*n == before && tap_now() - t0 < give_up) nanosleep(&ts, NULL);
    return tap_now() - t0;
}

/* Runs the tool `name` (ripcs, ripcrm, ...) of RIPC_TOOLS (else
 * target/release) with `args`, its output discarded; system()'s status. */
static inline int tap_tool(const char *name, const char *args) {
    const char *t = getenv("RIPC_TOOLS");
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "'%s/%s' %s >/dev/null", t ? t : "target/release", name, args);
    fflush(stdout);
    return system(cmd);
}

/* Lists directory dir as TAP comments (diagnostics of a failed check). */
static inline void tap_ls(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -la '%s' | sed 's/^/# /'", dir);
    if (system(cmd) != 0) diag("ls failed");
}

/* The stacks of process pid's threads as TAP comments, prefixed with
 * `tag` (a hung child's diagnostics), when gdb is installed; quiet
 * otherwise. The process may be stopped. */
static inline void tap_backtrace(int pid, const char *tag) {
    char cmd[400];
    snprintf(cmd, sizeof cmd,
             "command -v gdb >/dev/null 2>&1 && gdb -q -batch -p %d -ex 'thread apply all bt 16' "
             "2>/dev/null | grep -E '^#' | sed 's/^/# %s /'",
             pid, tag);
    fflush(stdout);
    if (system(cmd) != 0) diag("%s: no stack (gdb missing or failed)", tag);
}

/* A zeroed page-rounded shared anonymous mapping of n bytes (a test's
 * state shared with its children), or NULL. */
static inline void *tap_shared_map(size_t n) {
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

#ifdef SEM_UNDO /* tests that include <sys/sem.h> or ripc_sysv.h */
/* A fresh set of nsems semaphores (IPC_PRIVATE, 0600), used once without
 * the lock — a V and a P on semaphore `warm` (docs/sem.md, "The
 * lock-free operation") — as two TAP lines: its id, or -1. */
static inline int tap_warm_set(int nsems, unsigned short warm) {
    int id = semget(IPC_PRIVATE, nsems, IPC_CREAT | 0600);
    ok(id >= 0, "a set of %d semaphores", nsems);
    if (id < 0) return -1;
    struct sembuf w[2] = {{warm, 1, 0}, {warm, -1, 0}};
    ok(semop(id, &w[0], 1) == 0 && semop(id, &w[1], 1) == 0, "warm-up");
    return id;
}
#endif

/* The *_STAT_ANY commands (Linux 4.17), for a libc that predates them. */
#ifndef MSG_STAT_ANY
#define MSG_STAT_ANY 13
#endif
#ifndef SEM_STAT_ANY
#define SEM_STAT_ANY 20
#endif
#ifndef SHM_STAT_ANY
#define SHM_STAT_ANY 15
#endif

/* The first page of the object file `kind`.`id % 32768` in RIPC_DIR (the
 * user backend), mapped read-write and shared, for tests that scribble on
 * or forge an object's header as a hostile member would; NULL when it
 * cannot be mapped. Unmap with munmap(p, 4096). */
static inline unsigned char *tap_map_object(const char *kind, int id) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s.%d", getenv("RIPC_DIR"), kind, id % 32768);
    int fd = open(path, O_RDWR);
    if (fd < 0) return NULL;
    unsigned char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    return p == MAP_FAILED ? NULL : p;
}

/* Forks a child that runs fn(W) under an alarm of `alarm_s` seconds and
 * exits with its result, W the write end of a pipe whose read end goes
 * to *rfd (the child's first words to its parent: ids, "ready"). Returns
 * the child's pid (-1 when no pipe or no fork). */
static inline pid_t tap_fork_piped(int (*fn)(int), unsigned alarm_s, int *rfd) {
    int fd[2];
    if (pipe(fd) != 0) return -1;
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        close(fd[0]);
        alarm(alarm_s);
        _exit(fn(fd[1]));
    }
    close(fd[1]);
    if (c < 0) {
        close(fd[0]);
        return -1;
    }
    *rfd = fd[0];
    return c;
}

/* Runs fn() in a child of fork and waits for it at most max_s seconds:
 * 0 when it ended by itself with status 0, -1 when it hung (its stack
 * printed under `what`, then killed), -2 when it failed or died (a signal
 * said in a diag line). */
static inline int tap_run_bounded(void (*fn)(void), double max_s, const char *what) {
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        fn();
        _exit(0);
    }
    if (c < 0) return -2;
    double t0 = tap_now();
    int st = 0;
    while (waitpid(c, &st, WNOHANG) == 0) {
        if (tap_now() - t0 > max_s) {
            printf("# %s: the child hung (%.0f s); its stack:\n", what, max_s);
            tap_backtrace(c, what);
            kill(c, SIGKILL);
            tap_reap(c);
            return -1;
        }
        tap_sleep_us(2000);
    }
    if (WIFSIGNALED(st)) printf("# %s: the child died of signal %d (%s)\n", what, WTERMSIG(st), strsignal(WTERMSIG(st)));
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -2;
}

/* A peer process's start (in the child of fork): bounded by alarm, killed
 * with the process that made it (a stopped peer ignores its alarm until
 * continued), and off the subtest's output pipe (a peer left stopped must
 * not keep the relay from seeing the subtest end). */
static inline void tap_peer_start(unsigned secs) {
    alarm(secs);
    /* A peer its test stops (SIGSTOP) must not die of the SIGHUP the
     * kernel sends every member of a process group that becomes orphaned
     * while one of them is stopped (POSIX; the test run in the background
     * by a shell that then exits): t_sem_fence_attack's workers did, and
     * a worker that is never killed, dead, reads as values off its
     * counts. Ignored, the SIGCONT that follows it only ends the stop. */
    signal(SIGHUP, SIG_IGN);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
        dup2(null, STDOUT_FILENO);
        close(null);
    }
}

/* In main: skips the whole test (TAP "1..0 # SKIP") unless it runs as
 * root, which the tests that run a second user (setuid) need. */
#define TAP_SKIP_UNLESS_ROOT()                                          \
    do {                                                                \
        if (geteuid() != 0) {                                           \
            printf("1..0 # SKIP needs root to run a second user\n");   \
            return 0;                                                   \
        }                                                               \
    } while (0)

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
