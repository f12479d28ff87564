/* t_handle_fuzz.c — a bad handle given to the native API is an error,
 * never a crash (issue 13, docs/security.md "Red-team pass"), both
 * backends.
 *
 * Every entry point that takes a handle (ripc_ns, ripc_pipe, ripc_queue,
 * ripc_semset, ripc_mutex, ripc_sem, ripc_shm) is called with NULL
 * (EFAULT; the close calls return 0), garbage addresses mapped and
 * unmapped (a heap block, a stack variable, a PROT_NONE page, a read-only
 * page, a kernel address, small integers, random words), a handle closed
 * before, a handle closed twice, a handle of each other kind and a
 * misaligned handle: -1 (or NULL) with EBADF. Before, each dereferenced
 * what it was given: SIGSEGV, or a use after free. Each case runs in a
 * child of its own, so a crash is one failed test, not the end of the
 * run. Then: a handle closed by one thread while another is blocked in a
 * call with it (the call returns, the handle is EBADF at once), and
 * handles used and closed in a forked child and its parent. */
#include <ripc.h>
#include "tap.h"

#include <pthread.h>
#include <sys/mman.h>

enum { K_NS, K_PIPE, K_QUEUE, K_SEMSET, K_MUTEX, K_SEM, K_SHM, NKINDS };
static const char *kind_name[NKINDS] = {"ripc_ns", "ripc_pipe", "ripc_queue", "ripc_semset",
                                        "ripc_mutex", "ripc_sem", "ripc_shm"};

/* A call on a handle: returns the call's result as a long (a pointer
 * result: 0 when NULL, 1 otherwise). */
typedef long (*call_fn)(void *h);
#define P(x) ((x) ? 1L : 0L)

static char buf[64];
static const char *true_argv[] = {"/bin/true", NULL};

static long ns_close(void *h) { return ripc_ns_close(h); }
static long ns_limit_get(void *h) { return ripc_limit_get(h, "msgmax"); }
static long ns_limit_set(void *h) { return ripc_limit_set(h, "msgmax", 8192); }
static long ns_path(void *h) { return ripc_ns_path(h, buf, sizeof buf); }
static long ns_queue_open(void *h) { return P(ripc_queue_open(h, IPC_PRIVATE, 0, IPC_CREAT | 0600)); }
static long ns_queue_open_id(void *h) { return P(ripc_queue_open_id(h, 0)); }
static long ns_semset_open(void *h) { return P(ripc_semset_open(h, IPC_PRIVATE, 1, IPC_CREAT | 0600)); }
static long ns_semset_open_id(void *h) { return P(ripc_semset_open_id(h, 0)); }
static long ns_mutex_open(void *h) { return P(ripc_mutex_open(h, IPC_PRIVATE, IPC_CREAT | 0600)); }
static long ns_mutex_open_id(void *h) { return P(ripc_mutex_open_id(h, 0)); }
static long ns_sem_open(void *h) { return P(ripc_sem_open(h, IPC_PRIVATE, 0, IPC_CREAT | 0600)); }
static long ns_sem_open_id(void *h) { return P(ripc_sem_open_id(h, 0)); }
static long ns_shm_open(void *h) { return P(ripc_shm_open(h, IPC_PRIVATE, 4096, IPC_CREAT | 0600)); }
static long ns_shm_open_id(void *h) { return P(ripc_shm_open_id(h, 0)); }

static long pipe_free(void *h) { return ripc_pipe_free(h); }
static long pipe_close(void *h) { return ripc_pipe_close(h, RIPC_PIPE_READ); }
static long pipe_fd(void *h) { return ripc_pipe_fd(h, RIPC_PIPE_WRITE); }
static long pipe_read(void *h) { return ripc_pipe_read(h, buf, sizeof buf); }
static long pipe_write(void *h) { return ripc_pipe_write(h, "x", 1); }
static long pipe_read_exact(void *h) { return ripc_pipe_read_exact(h, buf, 1); }
static long pipe_write_all(void *h) { return ripc_pipe_write_all(h, "x", 1); }
static long pipe_capacity(void *h) { return ripc_pipe_capacity(h); }
static long pipe_set_capacity(void *h) { return ripc_pipe_set_capacity(h, 8192); }
static long pipe_available(void *h) { return ripc_pipe_available(h); }
static long pipe_set_nonblocking(void *h) { return ripc_pipe_set_nonblocking(h, RIPC_PIPE_READ, 1); }
static long pipe_set_nosigpipe(void *h) { return ripc_pipe_set_nosigpipe(h, 1); }
static long pipe_fork(void *h) {
    pid_t p = ripc_pipe_fork(h, RIPC_PIPE_READ, 0);
    if (p == 0) _exit(0);
    return p;
}
static long pipe_spawn(void *h) { return ripc_pipe_spawn(h, RIPC_PIPE_READ, 0, true_argv); }

static long queue_id(void *h) { return ripc_queue_id(h); }
static long queue_send(void *h) { return ripc_queue_send(h, 1, "x", 1, 0); }
static long queue_recv(void *h) { return ripc_queue_recv(h, 0, buf, sizeof buf, 0, 0, NULL); }
static long queue_stat(void *h) {
    struct ripc_queue_info i;
    return ripc_queue_stat(h, &i);
}
static long queue_remove(void *h) { return ripc_queue_remove(h); }
static long queue_close(void *h) { return ripc_queue_close(h); }

static long semset_id(void *h) { return ripc_semset_id(h); }
static long semset_op(void *h) {
    struct ripc_sembuf op = {0, 1, 0};
    return ripc_semset_op(h, &op, 1, 0);
}
static long semset_get(void *h) { return ripc_semset_get(h, 0); }
static long semset_set(void *h) { return ripc_semset_set(h, 0, 1); }
static long semset_nsems(void *h) { return ripc_semset_nsems(h); }
static long semset_stat(void *h) {
    struct ripc_semset_info i;
    return ripc_semset_stat(h, &i);
}
static long semset_remove(void *h) { return ripc_semset_remove(h); }
static long semset_close(void *h) { return ripc_semset_close(h); }

static long mutex_lock(void *h) { return ripc_mutex_lock(h, 0); }
static long mutex_unlock(void *h) { return ripc_mutex_unlock(h); }
static long mutex_id(void *h) { return ripc_mutex_id(h); }
static long mutex_stat(void *h) {
    struct ripc_semset_info i;
    return ripc_mutex_stat(h, &i);
}
static long mutex_remove(void *h) { return ripc_mutex_remove(h); }
static long mutex_close(void *h) { return ripc_mutex_close(h); }

static long sem_wait_(void *h) { return ripc_sem_wait(h, 0); }
static long sem_post_(void *h) { return ripc_sem_post(h); }
static long sem_value(void *h) { return ripc_sem_value(h); }
static long sem_id(void *h) { return ripc_sem_id(h); }
static long sem_stat(void *h) {
    struct ripc_semset_info i;
    return ripc_sem_stat(h, &i);
}
static long sem_remove(void *h) { return ripc_sem_remove(h); }
static long sem_close_(void *h) { return ripc_sem_close(h); }

static long shm_id(void *h) { return ripc_shm_id(h); }
static long shm_attach(void *h) { return P(ripc_shm_attach(h, 0, NULL)); }
static long shm_detach(void *h) { return ripc_shm_detach(h, buf); }
static long shm_stat(void *h) {
    struct ripc_shm_info i;
    return ripc_shm_stat(h, &i);
}
static long shm_remove(void *h) { return ripc_shm_remove(h); }
static long shm_close(void *h) { return ripc_shm_close(h); }

/* How a call reports failure, and what NULL means to it. */
enum { FAIL_NEG, FAIL_NULL };
enum { NULL_EFAULT, NULL_OK /* close: does nothing */, NULL_DEFAULT /* the default namespace */ };

static const struct entry {
    int kind;
    const char *name;
    call_fn call;
    int fail;
    int on_null;
} entries[] = {
    {K_NS, "ripc_ns_close", ns_close, FAIL_NEG, NULL_OK},
    {K_NS, "ripc_limit_get", ns_limit_get, FAIL_NEG, NULL_DEFAULT},
    {K_NS, "ripc_limit_set", ns_limit_set, FAIL_NEG, NULL_DEFAULT},
    {K_NS, "ripc_ns_path", ns_path, FAIL_NEG, NULL_DEFAULT},
    {K_NS, "ripc_queue_open", ns_queue_open, FAIL_NULL, NULL_DEFAULT},
    {K_NS, "ripc_queue_open_id", ns_queue_open_id, FAIL_NULL, NULL_DEFAULT},
    {K_NS, "ripc_semset_open", ns_semset_open, FAIL_NULL, NULL_DEFAULT},
    {K_NS, "ripc_semset_open_id", ns_semset_open_id, FAIL_NULL, NULL_DEFAULT},
    {K_NS, "ripc_mutex_open", ns_mutex_open, FAIL_NULL, NULL_DEFAULT},
    {K_NS, "ripc_mutex_open_id", ns_mutex_open_id, FAIL_NULL, NULL_DEFAULT},
    {K_NS, "ripc_sem_open", ns_sem_open, FAIL_NULL, NULL_DEFAULT},
    {K_NS, "ripc_sem_open_id", ns_sem_open_id, FAIL_NULL, NULL_DEFAULT},
    {K_NS, "ripc_shm_open", ns_shm_open, FAIL_NULL, NULL_DEFAULT},
    {K_NS, "ripc_shm_open_id", ns_shm_open_id, FAIL_NULL, NULL_DEFAULT},
    {K_PIPE, "ripc_pipe_free", pipe_free, FAIL_NEG, NULL_OK},
    {K_PIPE, "ripc_pipe_close", pipe_close, FAIL_NEG, NULL_EFAULT},
    {K_PIPE, "ripc_pipe_fd", pipe_fd, FAIL_NEG, NULL_EFAULT},
    {K_PIPE, "ripc_pipe_read", pipe_read, FAIL_NEG, NULL_EFAULT},
    {K_PIPE, "ripc_pipe_write", pipe_write, FAIL_NEG, NULL_EFAULT},
    {K_PIPE, "ripc_pipe_read_exact", pipe_read_exact, FAIL_NEG, NULL_EFAULT},
    {K_PIPE, "ripc_pipe_write_all", pipe_write_all, FAIL_NEG, NULL_EFAULT},
    {K_PIPE, "ripc_pipe_capacity", pipe_capacity, FAIL_NEG, NULL_EFAULT},
    {K_PIPE, "ripc_pipe_set_capacity", pipe_set_capacity, FAIL_NEG, NULL_EFAULT},
    {K_PIPE, "ripc_pipe_available", pipe_available, FAIL_NEG, NULL_EFAULT},
    {K_PIPE, "ripc_pipe_set_nonblocking", pipe_set_nonblocking, FAIL_NEG, NULL_EFAULT},
    {K_PIPE, "ripc_pipe_set_nosigpipe", pipe_set_nosigpipe, FAIL_NEG, NULL_EFAULT},
    {K_PIPE, "ripc_pipe_fork", pipe_fork, FAIL_NEG, NULL_EFAULT},
    {K_PIPE, "ripc_pipe_spawn", pipe_spawn, FAIL_NEG, NULL_EFAULT},
    {K_QUEUE, "ripc_queue_id", queue_id, FAIL_NEG, NULL_EFAULT},
    {K_QUEUE, "ripc_queue_send", queue_send, FAIL_NEG, NULL_EFAULT},
    {K_QUEUE, "ripc_queue_recv", queue_recv, FAIL_NEG, NULL_EFAULT},
    {K_QUEUE, "ripc_queue_stat", queue_stat, FAIL_NEG, NULL_EFAULT},
    {K_QUEUE, "ripc_queue_remove", queue_remove, FAIL_NEG, NULL_EFAULT},
    {K_QUEUE, "ripc_queue_close", queue_close, FAIL_NEG, NULL_OK},
    {K_SEMSET, "ripc_semset_id", semset_id, FAIL_NEG, NULL_EFAULT},
    {K_SEMSET, "ripc_semset_op", semset_op, FAIL_NEG, NULL_EFAULT},
    {K_SEMSET, "ripc_semset_get", semset_get, FAIL_NEG, NULL_EFAULT},
    {K_SEMSET, "ripc_semset_set", semset_set, FAIL_NEG, NULL_EFAULT},
    {K_SEMSET, "ripc_semset_nsems", semset_nsems, FAIL_NEG, NULL_EFAULT},
    {K_SEMSET, "ripc_semset_stat", semset_stat, FAIL_NEG, NULL_EFAULT},
    {K_SEMSET, "ripc_semset_remove", semset_remove, FAIL_NEG, NULL_EFAULT},
    {K_SEMSET, "ripc_semset_close", semset_close, FAIL_NEG, NULL_OK},
    {K_MUTEX, "ripc_mutex_lock", mutex_lock, FAIL_NEG, NULL_EFAULT},
    {K_MUTEX, "ripc_mutex_unlock", mutex_unlock, FAIL_NEG, NULL_EFAULT},
    {K_MUTEX, "ripc_mutex_id", mutex_id, FAIL_NEG, NULL_EFAULT},
    {K_MUTEX, "ripc_mutex_stat", mutex_stat, FAIL_NEG, NULL_EFAULT},
    {K_MUTEX, "ripc_mutex_remove", mutex_remove, FAIL_NEG, NULL_EFAULT},
    {K_MUTEX, "ripc_mutex_close", mutex_close, FAIL_NEG, NULL_OK},
    {K_SEM, "ripc_sem_wait", sem_wait_, FAIL_NEG, NULL_EFAULT},
    {K_SEM, "ripc_sem_post", sem_post_, FAIL_NEG, NULL_EFAULT},
    {K_SEM, "ripc_sem_value", sem_value, FAIL_NEG, NULL_EFAULT},
    {K_SEM, "ripc_sem_id", sem_id, FAIL_NEG, NULL_EFAULT},
    {K_SEM, "ripc_sem_stat", sem_stat, FAIL_NEG, NULL_EFAULT},
    {K_SEM, "ripc_sem_remove", sem_remove, FAIL_NEG, NULL_EFAULT},
    {K_SEM, "ripc_sem_close", sem_close_, FAIL_NEG, NULL_OK},
    {K_SHM, "ripc_shm_id", shm_id, FAIL_NEG, NULL_EFAULT},
    {K_SHM, "ripc_shm_attach", shm_attach, FAIL_NULL, NULL_EFAULT},
    {K_SHM, "ripc_shm_detach", shm_detach, FAIL_NEG, NULL_EFAULT},
    {K_SHM, "ripc_shm_stat", shm_stat, FAIL_NEG, NULL_EFAULT},
    {K_SHM, "ripc_shm_remove", shm_remove, FAIL_NEG, NULL_EFAULT},
    {K_SHM, "ripc_shm_close", shm_close, FAIL_NEG, NULL_OK},
};
#define NENTRIES (sizeof entries / sizeof entries[0])

/* Per kind: an open handle (for the wrong-kind cases), one closed once,
 * one closed twice. */
static void *live[NKINDS], *closed[NKINDS], *closed2[NKINDS];
static int close_kind(int k, void *h) {
    switch (k) {
    case K_NS: return ripc_ns_close(h);
    case K_PIPE: return ripc_pipe_free(h);
    case K_QUEUE: return ripc_queue_close(h);
    case K_SEMSET: return ripc_semset_close(h);
    case K_MUTEX: return ripc_mutex_close(h);
    case K_SEM: return ripc_sem_close(h);
    default: return ripc_shm_close(h);
    }
}
static void *open_kind(int k) {
    switch (k) {
    case K_NS: return ripc_ns_open(NULL);
    case K_PIPE: return ripc_pipe_new(0);
    case K_QUEUE: return ripc_queue_open(NULL, IPC_PRIVATE, 0, IPC_CREAT | 0600);
    case K_SEMSET: return ripc_semset_open(NULL, IPC_PRIVATE, 1, IPC_CREAT | 0600);
    case K_MUTEX: return ripc_mutex_open(NULL, IPC_PRIVATE, IPC_CREAT | 0600);
    case K_SEM: return ripc_sem_open(NULL, IPC_PRIVATE, 0, IPC_CREAT | 0600);
    default: return ripc_shm_open(NULL, IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    }
}
static void remove_kind(int k, void *h) {
    switch (k) {
    case K_QUEUE: ripc_queue_remove(h); break;
    case K_SEMSET: ripc_semset_remove(h); break;
    case K_MUTEX: ripc_mutex_remove(h); break;
    case K_SEM: ripc_sem_remove(h); break;
    case K_SHM: ripc_shm_remove(h); break;
    default: break;
    }
}

/* The case a child runs (see run). */
static const struct entry *cur;
static void *cur_h;
static int cur_want;

static int child(int wfd) {
    errno = 0;
    long r = cur->call(cur_h);
    int out[2] = {errno, (int)r};
    (void)!write(wfd, out, sizeof out);
    int failed = cur->fail == FAIL_NULL ? r == 0 : r == -1;
    return cur_want == 0 ? !(r == 0) : !(failed && out[0] == cur_want);
}

/* Runs e->call(h) in a child: 0 when it failed with `want` (or succeeded,
 * for want 0), 1 another result, 2 a signal. */
static int run(const struct entry *e, void *h, int want, int *sig, int *err, long *res) {
    cur = e;
    cur_h = h;
    cur_want = want;
    int rfd = -1;
    pid_t c = tap_fork_piped(child, 10, &rfd);
    if (c < 0) return 1;
    int out[2] = {0, 0};
    (void)!read(rfd, out, sizeof out);
    close(rfd);
    *err = out[0];
    *res = out[1];
    int st = 0;
    waitpid(c, &st, 0);
    *sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    return WIFSIGNALED(st) ? 2 : WEXITSTATUS(st) != 0;
}

static int failures;
static void expect(const struct entry *e, void *h, const char *what, int want) {
    int sig = 0, err = 0;
    long res = 0;
    int r = run(e, h, want, &sig, &err, &res);
    if (r != 0) {
        failures++;
        if (r == 2)
            diag("%s(%s): killed by %s", e->name, what, strsignal(sig));
        else
            diag("%s(%s): returned %ld, errno %s (want %s)", e->name, what, res, strerror(err),
                 want ? strerror(want) : "success");
    }
}

/* A thread blocked in a receive while the main thread closes the handle. */
static void *blocked_recv(void *q) {
    long t;
    errno = 0;
    long r = ripc_queue_recv(q, 0, buf, sizeof buf, 0, 300, &t);
    return (void *)(intptr_t)(r == -1 ? errno : 0);
}

static void close_while_blocked(void) {
    ripc_queue *q = ripc_queue_open(NULL, IPC_PRIVATE, 0, IPC_CREAT | 0600);
    ok(q != NULL, "a queue");
    int id = ripc_queue_id(q);
    pthread_t th;
    pthread_create(&th, NULL, blocked_recv, q);
    usleep(50 * 1000);
    ok_eq(ripc_queue_close(q), 0, "closing a handle another thread is blocked with");
    ok_errno(ripc_queue_id(q) == -1, EBADF, "then the handle is EBADF at once");
    ok_errno(ripc_queue_close(q) == -1, EBADF, "and a second close is EBADF");
    void *r;
    pthread_join(th, &r);
    /* ETIMEDOUT when it was inside the call (nearly always), EBADF if a
     * loaded machine ran the close first. */
    int e = (int)(intptr_t)r;
    ok(e == ETIMEDOUT || e == EBADF, "the blocked call returned as it would have (%s)", strerror(e));
    ripc_queue *again = ripc_queue_open_id(NULL, id);
    ok(again != NULL && ripc_queue_remove(again) == 0 && ripc_queue_close(again) == 0,
       "the queue itself was left alone, removed by a new handle");
}

/* Threads using one handle while another thread closes it, many times:
 * every call returns 0 or EBADF, none crashes (no use after free). */
static ripc_semset *race_set;
static volatile int race_stop;
static void *race_user(void *arg) {
    (void)arg;
    long bad = 0;
    while (!race_stop) {
        ripc_semset *s = race_set;
        errno = 0;
        int r = ripc_semset_get(s, 0);
        if (r == -1 && errno != EBADF) bad++;
    }
    return (void *)bad;
}
static void close_race(void) {
    int id = -1;
    race_set = ripc_semset_open(NULL, IPC_PRIVATE, 1, IPC_CREAT | 0600);
    id = ripc_semset_id(race_set);
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, race_user, NULL);
    int rounds = 0, closes_ok = 0;
    double t0 = tap_now();
    while (tap_now() - t0 < 0.5) {
        ripc_semset *s = race_set;
        ripc_semset *n = ripc_semset_open_id(NULL, id);
        if (!n) break;
        race_set = n;
        closes_ok += ripc_semset_close(s) == 0;
        rounds++;
    }
    race_stop = 1;
    long bad = 0;
    for (int i = 0; i < 2; i++) {
        void *r;
        pthread_join(th[i], &r);
        bad += (long)r;
    }
    ok(rounds > 10 && closes_ok == rounds && bad == 0,
       "%d handles closed while two threads used them: every close 0, every call 0 or EBADF (%ld other)",
       rounds, bad);
    ripc_semset_remove(race_set);
    ripc_semset_close(race_set);
}

/* A forked child inherits the handles: it uses and closes its copies,
 * the parent's still work. */
static void fork_inherit(void) {
    ripc_semset *s = ripc_semset_open(NULL, IPC_PRIVATE, 1, IPC_CREAT | 0600);
    ripc_pipe *p = ripc_pipe_new(0);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        struct ripc_sembuf op = {0, 1, 0};
        int ok1 = ripc_semset_op(s, &op, 1, 0) == 0;
        int ok2 = ripc_semset_close(s) == 0 && ripc_semset_close(s) == -1 && errno == EBADF;
        int ok3 = ripc_pipe_write(p, "y", 1) == 1 && ripc_pipe_free(p) == 0;
        _exit(ok1 && ok2 && ok3 ? 0 : 1);
    }
    int st = 0;
    waitpid(c, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a child uses, closes and closes again (EBADF) its inherited handles");
    char b = 0;
    ok(ripc_semset_get(s, 0) == 1 && ripc_pipe_read(p, &b, 1) == 1 && b == 'y',
       "the parent's handles still work (the child's operation and byte are there)");
    ripc_semset_remove(s);
    ok(ripc_semset_close(s) == 0 && ripc_pipe_free(p) == 0, "and close once");
}

int main(void) {
    long pagesz = sysconf(_SC_PAGESIZE);
    char *pages = mmap(NULL, 3 * pagesz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ok(pages != MAP_FAILED && mprotect(pages + pagesz, pagesz, PROT_NONE) == 0 &&
           mprotect(pages + 2 * pagesz, pagesz, PROT_READ) == 0,
       "a page, a PROT_NONE page and a read-only page");
    memset(pages, 0xa5, pagesz);
    char *heap = malloc(256);
    memset(heap, 0xff, 256);
    int on_stack = 42;

    /* Before the first handle is made (the region is not reserved yet). */
    {
        const struct entry *qid = NULL;
        for (size_t i = 0; i < NENTRIES; i++)
            if (!strcmp(entries[i].name, "ripc_queue_id")) qid = &entries[i];
        int before = failures;
        expect(qid, NULL, "NULL", EFAULT);
        expect(qid, (void *)8, "(void *)8", EBADF);
        ok(failures == before, "before any handle exists: NULL is EFAULT, (void *)8 EBADF");
    }

    int opened = 1;
    for (int k = 0; k < NKINDS; k++) {
        live[k] = open_kind(k);
        closed[k] = open_kind(k);
        closed2[k] = open_kind(k);
        opened &= live[k] && closed[k] && closed2[k];
        remove_kind(k, closed[k]);
        remove_kind(k, closed2[k]);
        opened &= close_kind(k, closed[k]) == 0 && close_kind(k, closed2[k]) == 0;
    }
    ok(opened, "three handles of each kind, two of them removed and closed");
    /* (In a child: a crash is a failure, not the end of the run.) */
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        int again = 1;
        for (int k = 0; k < NKINDS; k++) {
            errno = 0;
            again &= close_kind(k, closed2[k]) == -1 && errno == EBADF;
        }
        _exit(!again);
    }
    int st = 0;
    waitpid(c, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a second close of each kind: -1, EBADF (status %#x)", st);

    struct {
        const char *what;
        void *h;
    } garbage[] = {
        {"(void *)1", (void *)1},
        {"(void *)8", (void *)8},
        {"(void *)4096", (void *)4096},
        {"a kernel address", (void *)0xffffffffff600000ull},
        {"-8", (void *)(intptr_t)-8},
        {"a heap block of 0xff", heap},
        {"a stack variable", &on_stack},
        {"a page of 0xa5", pages},
        {"a PROT_NONE page", pages + pagesz},
        {"a read-only page", pages + 2 * pagesz},
        {"a function", (void *)close_race},
    };
    uint64_t rs = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
    for (size_t i = 0; i < NENTRIES; i++) {
        const struct entry *e = &entries[i];
        int before = failures;
        if (e->on_null == NULL_EFAULT) expect(e, NULL, "NULL", EFAULT);
        if (e->on_null == NULL_OK) expect(e, NULL, "NULL", 0);
        for (size_t g = 0; g < sizeof garbage / sizeof garbage[0]; g++) expect(e, garbage[g].h, garbage[g].what, EBADF);
        for (int r = 0; r < 4; r++) {
            /* random words: anywhere, and 8-aligned user-space addresses */
            uintptr_t w = (uintptr_t)tap_xorshift(&rs);
            if (r & 1) w = (w & 0x00007ffffffffff8ull);
            expect(e, (void *)w, "a random word", EBADF);
        }
        expect(e, closed[e->kind], "a closed handle", EBADF);
        expect(e, closed2[e->kind], "a handle closed twice", EBADF);
        expect(e, (char *)live[e->kind] + 1, "a live handle + 1", EBADF);
        expect(e, (char *)live[e->kind] + 4, "a live handle + 4", EBADF);
        for (int k = 0; k < NKINDS; k++)
            if (k != e->kind) expect(e, live[k], kind_name[k], EBADF);
        ok(failures == before, "%s: NULL, 11 garbage pointers, 4 random words, closed, twice closed, misaligned and "
           "6 wrong-kind handles: an error, no crash", e->name);
    }
    for (int k = 0; k < NKINDS; k++) {
        remove_kind(k, live[k]);
        close_kind(k, live[k]);
    }
    tap_subtest("close while blocked", close_while_blocked);
    tap_subtest("close race", close_race);
    tap_subtest("fork", fork_inherit);
    free(heap);
    return done_testing();
}
