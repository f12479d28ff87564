/* t_first_call_alloc.c — no call of the library allocates from the C
 * library: not a thread's first call, not a fork child's, not any later
 * one (both backends; the kernel's calls allocate nothing in the caller).
 *
 * Why: a signal handler that interrupted its own thread inside malloc or
 * free and then calls the library (the tutorials' SIGINT handler calling
 * msgctl(IPC_RMID) in a program that allocates) corrupts the heap if the
 * library calls malloc. The library's own allocations are
 * async-signal-safe (src/os/alloc.rs); what was left was glibc's calloc in
 * __cxa_thread_atexit_impl, made by a thread's first call that filled a
 * Rust thread-local with a destructor (a cached queue or set, the undo
 * record, the wake list, the pending queue's buffers, a handle's hazard
 * record). The loading thread registered those at load; every other
 * thread (and a fork child of one) made the calloc at its first such
 * call. Now one pthread key's destructor does that work
 * (src/os/thread_exit.rs), and a key below 32 is set without allocating.
 *
 * How: the test re-executes itself with LD_PRELOAD of
 * build/c_tests/libmcount.so (c_tests/mcount.c), which counts each
 * thread's malloc/calloc/realloc/free/memalign calls. Fresh threads (and
 * the child of a fresh thread's fork) make their first calls of each kind
 * — gets by key, msgsnd/msgrcv, semop with and without SEM_UNDO, a V that
 * wakes a sleeper, a semop and a msgrcv that sleep until woken,
 * shmat/shmdt, IPC_STAT, private creates and IPC_RMID, a native handle's
 * first call — and every call must count 0. The counter
 * is checked first: a fresh thread's malloc + free counts 2. With the
 * library of main at 162aa6b this failed: 1 calloc at a thread's first
 * msgsnd, at its first SEM_UNDO semop (and its first wake) and at a
 * handle's first call; a fork child of a fresh thread likewise. */

#include "ripc_sysv.h"
#include <ripc.h>
#include "tap.h"

#include <limits.h>
#include <pthread.h>
#include <sys/syscall.h>

static long (*mc)(void);

#define MAXSTEPS 128
struct step {
    char name[48];
    long n;
    int ok;
};
struct steps {
    int n;
    struct step s[MAXSTEPS];
};

/* In the threads: results recorded here, reported by the main thread
 * (printing allocates). In a fork child: a shared mapping. */
static struct steps *rec;

static void record(const char *name, long n, int okay) {
    if (rec->n >= MAXSTEPS) return;
    struct step *s = &rec->s[rec->n++];
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof s->name; i++) s->name[i] = name[i];
    s->name[i] = 0;
    s->n = n;
    s->ok = okay;
}

/* One call, its allocations counted. */
#define STEP(name, expr)                    \
    do {                                    \
        long b_ = mc();                     \
        int r_ = (expr);                    \
        long a_ = mc();                     \
        record(name, a_ - b_, r_);          \
    } while (0)

static key_t qkey, skey, gkey;
static int qid, sid, gid;
static struct ripc_pipe *pipe_h;

struct msgb {
    long mtype;
    char mtext[16];
};

static int msg_calls(const char *tag) {
    char nm[48];
    struct msgb m = {1, "hello"};
    struct msqid_ds ds;
    int q = -1, p = -1;
    (void)tag;
#define N(s) (snprintf(nm, sizeof nm, "%s %s", tag, s), nm)
    STEP(N("msgget(key)"), (q = msgget(qkey, 0)) == qid);
    STEP(N("first msgsnd"), msgsnd(q, &m, 6, 0) == 0);
    STEP(N("first msgrcv"), msgrcv(q, &m, sizeof m.mtext, 0, 0) == 6);
    STEP(N("msgsnd"), msgsnd(q, &m, 6, 0) == 0);
    STEP(N("msgrcv"), msgrcv(q, &m, sizeof m.mtext, 0, 0) == 6);
    STEP(N("msgctl(IPC_STAT)"), msgctl(q, IPC_STAT, &ds) == 0);
    STEP(N("msgget(IPC_PRIVATE)"), (p = msgget(IPC_PRIVATE, 0600)) >= 0);
    STEP(N("msgsnd (new queue)"), msgsnd(p, &m, 6, 0) == 0);
    STEP(N("msgctl(IPC_RMID)"), msgctl(p, IPC_RMID, NULL) == 0);
    return 0;
}

static int sem_calls(const char *tag) {
    char nm[48];
    struct sembuf v = {0, 1, SEM_UNDO}, pp = {0, -1, SEM_UNDO};
    struct sembuf v2 = {0, 1, 0}, p2 = {0, -1, 0};
    int s = -1, n = -1;
    STEP(N("semget(key)"), (s = semget(skey, 0, 0)) == sid);
    STEP(N("first semop V SEM_UNDO"), semop(s, &v, 1) == 0);
    STEP(N("first semop P SEM_UNDO"), semop(s, &pp, 1) == 0);
    STEP(N("semop V"), semop(s, &v2, 1) == 0);
    STEP(N("semop P"), semop(s, &p2, 1) == 0);
    STEP(N("semctl(GETVAL)"), semctl(s, 0, GETVAL) == 0);
    STEP(N("semget(IPC_PRIVATE)"), (n = semget(IPC_PRIVATE, 2, 0600)) >= 0);
    STEP(N("semop V SEM_UNDO (new set)"), semop(n, &v, 1) == 0);
    STEP(N("semctl(IPC_RMID)"), semctl(n, 0, IPC_RMID) == 0);
    return 0;
}

static int shm_calls(const char *tag) {
    char nm[48];
    struct shmid_ds ds;
    int g = -1, n = -1;
    char *a = NULL;
    STEP(N("shmget(key)"), (g = shmget(gkey, 0, 0)) == gid);
    STEP(N("first shmat"), (a = shmat(g, NULL, 0)) != (void *)-1);
    if (a != (void *)-1) {
        a[0] = 'x';
        STEP(N("shmdt"), shmdt(a) == 0);
    }
    STEP(N("shmctl(IPC_STAT)"), shmctl(g, IPC_STAT, &ds) == 0);
    STEP(N("shmget(IPC_PRIVATE)"), (n = shmget(IPC_PRIVATE, 4096, 0600)) >= 0);
    STEP(N("shmctl(IPC_RMID)"), shmctl(n, IPC_RMID, NULL) == 0);
    return 0;
}

static int handle_calls(const char *tag) {
    char nm[48], c = 0;
    STEP(N("first handle call (pipe write)"), ripc_pipe_write(pipe_h, "y", 1) == 1);
    STEP(N("handle call (pipe read)"), ripc_pipe_read(pipe_h, &c, 1) == 1 && c == 'y');
    return 0;
}
#undef N

static void *t_msg(void *a) { (void)a; msg_calls("thread"); return NULL; }
static void *t_sem(void *a) { (void)a; sem_calls("thread"); return NULL; }
static void *t_shm(void *a) { (void)a; shm_calls("thread"); return NULL; }
static void *t_handle(void *a) { (void)a; handle_calls("thread"); return NULL; }

static void *t_counter(void *a) {
    (void)a;
    long b = mc();
    void *volatile p = malloc(24);
    free(p);
    record("counter: malloc + free", mc() - b, 1);
    return NULL;
}

/* A sleeper on semaphore 1, woken by a fresh thread's first call; its
 * own first call is one that sleeps. */
static void *t_sleeper(void *a) {
    (void)a;
    struct sembuf p = {1, -1, 0};
    STEP("thread first semop, sleeping until granted", semop(sid, &p, 1) == 0);
    return NULL;
}

/* A fresh thread's first call is a msgrcv that sleeps until a message
 * comes (type 7, sent by the main thread). */
static volatile pid_t msg_sleeper_tid;
static void *t_msg_sleeper(void *a) {
    (void)a;
    struct msgb m;
    msg_sleeper_tid = (pid_t)syscall(SYS_gettid);
    STEP("thread first msgrcv, sleeping until a message", msgrcv(qid, &m, sizeof m.mtext, 7, 0) == 2);
    return NULL;
}

static void *t_waker(void *a) {
    (void)a;
    struct sembuf v = {1, 1, 0};
    STEP("thread first semop V waking a sleeper", semop(sid, &v, 1) == 0);
    return NULL;
}

/* A fresh thread forks; its child (the copy of a thread that never called
 * the library) makes its first calls. */
static struct steps *child_rec;
static void *t_fork(void *a) {
    (void)a;
    pid_t c = fork();
    if (c == 0) {
        rec = child_rec;
        msg_calls("fork child");
        sem_calls("fork child");
        shm_calls("fork child");
        _exit(0);
    }
    if (c > 0) tap_reap(c);
    return NULL;
}

static void run(void *(*fn)(void *)) {
    pthread_t t;
    if (pthread_create(&t, NULL, fn, NULL) == 0) pthread_join(t, NULL);
}

static void report(struct steps *s) {
    for (int i = 0; i < s->n; i++) {
        ok(s->s[i].ok, "%s succeeds", s->s[i].name);
        if (strncmp(s->s[i].name, "counter", 7) == 0)
            ok_eq(s->s[i].n, 2, "%s: counted", s->s[i].name);
        else
            ok_eq(s->s[i].n, 0, "%s: no C-library allocation", s->s[i].name);
    }
    s->n = 0;
}

int main(int argc, char **argv) {
    (void)argc;
    if (!getenv("RIPC_MCOUNT_ON")) {
        /* Re-executed with the counter preloaded (first, before any
         * LD_PRELOAD given: e.g. another libripc to compare with). */
        const char *b = getenv("RIPC_BUILD");
        const char *old = getenv("LD_PRELOAD");
        char lib[4096], pre[8192];
        snprintf(lib, sizeof lib, "%s/c_tests/libmcount.so", b ? b : "build");
        /* LD_PRELOAD splits its list at spaces and colons, with no way to
         * quote one: a checkout whose path has either (.ci/run's second
         * pass: "my checkout") goes through a symbolic link in a fresh
         * directory of its own, which the re-executed test removes as
         * soon as the counter is loaded. */
        if (strpbrk(lib, " :\t")) {
            const char *t = getenv("TMPDIR");
            char dir[512], link[600];
            snprintf(dir, sizeof dir, "%s/ripc-mcount.XXXXXX", t && *t && !strpbrk(t, " :\t") ? t : "/tmp");
            if (!mkdtemp(dir)) {
                printf("Bail out! mkdtemp %s: %s\n", dir, strerror(errno));
                return 1;
            }
            snprintf(link, sizeof link, "%s/libmcount.so", dir);
            char abs[PATH_MAX];
            if (!realpath(lib, abs) || symlink(abs, link) != 0) {
                printf("Bail out! link %s to %s: %s\n", link, lib, strerror(errno));
                rmdir(dir);
                return 1;
            }
            setenv("RIPC_MCOUNT_LINK", link, 1);
            snprintf(lib, sizeof lib, "%s", link);
        }
        snprintf(pre, sizeof pre, "%s%s%s", lib, old ? ":" : "", old ? old : "");
        setenv("LD_PRELOAD", pre, 1);
        setenv("RIPC_MCOUNT_ON", "1", 1);
        execv("/proc/self/exe", argv);
        printf("Bail out! exec: %s\n", strerror(errno));
        return 1;
    }
    const char *link = getenv("RIPC_MCOUNT_LINK");
    if (link) {
        /* Loaded (or not): the link and its directory go at once. */
        char dir[600];
        snprintf(dir, sizeof dir, "%s", link);
        char *slash = strrchr(dir, '/');
        unlink(link);
        if (slash) {
            *slash = 0;
            rmdir(dir);
        }
        unsetenv("RIPC_MCOUNT_LINK");
    }
    mc = (long (*)(void))dlsym(RTLD_DEFAULT, "mcount_here");
    if (!mc) {
        printf("Bail out! libmcount.so not preloaded (%s)\n", getenv("LD_PRELOAD"));
        return 1;
    }
    static struct steps main_rec;
    rec = &main_rec;
    child_rec = tap_shared_map(sizeof *child_rec);
    ok(child_rec != NULL, "shared map");

    /* The objects, made by the main thread (which loaded the library). */
    int base = 0x7a100000 | ((getpid() & 0xffff) << 4);
    qkey = base + 1;
    skey = base + 2;
    gkey = base + 3;
    qid = msgget(qkey, IPC_CREAT | IPC_EXCL | 0600);
    sid = semget(skey, 2, IPC_CREAT | IPC_EXCL | 0600);
    gid = shmget(gkey, 4096, IPC_CREAT | IPC_EXCL | 0600);
    ok(qid >= 0 && sid >= 0 && gid >= 0, "queue, set, segment made");
    pipe_h = ripc_pipe_new(0);
    ok(pipe_h != NULL, "a pipe handle");

    run(t_counter);
    run(t_msg);
    run(t_sem);
    run(t_shm);
    if (pipe_h) run(t_handle);

    /* A V whose grant wakes a sleeper (the wake queued for after the
     * lock) as a fresh thread's first call. (Bounded: 5 s for the
     * sleeper to sleep; the V is made whatever happened.) */
    pthread_t sl;
    if (pthread_create(&sl, NULL, t_sleeper, NULL) == 0) {
        for (int i = 0; i < 5000 && semctl(sid, 1, GETNCNT) != 1; i++) tap_sleep_us(1000);
        ok(semctl(sid, 1, GETNCNT) == 1, "the semop sleeper sleeps");
        run(t_waker);
        pthread_join(sl, NULL);
    }
    /* A msgrcv sleeper, woken by the main thread's msgsnd. */
    if (pthread_create(&sl, NULL, t_msg_sleeper, NULL) == 0) {
        struct msgb m = {7, "z"};
        char path[64];
        char st = 0;
        for (int i = 0; i < 5000 && st != 'S'; i++) {
            tap_sleep_us(1000);
            if (!msg_sleeper_tid) continue;
            snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)msg_sleeper_tid);
            st = tap_stat_state(path);
        }
        ok(st == 'S', "the msgrcv sleeper sleeps");
        ok(msgsnd(qid, &m, 2, 0) == 0, "message for the msgrcv sleeper");
        pthread_join(sl, NULL);
    }
    report(rec);

    if (child_rec) {
        run(t_fork);
        ok(child_rec->n > 0, "the fork child made its calls");
        report(child_rec);
    }

    if (pipe_h) ripc_pipe_free(pipe_h);
    ok(msgctl(qid, IPC_RMID, NULL) == 0, "queue removed");
    ok(semctl(sid, 0, IPC_RMID) == 0, "set removed");
    ok(shmctl(gid, IPC_RMID, NULL) == 0, "segment removed");
    printf("1..%d\n", tap_n);
    return tap_failed != 0;
}
