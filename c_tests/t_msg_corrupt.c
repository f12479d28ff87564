/* t_msg_corrupt.c — a queue's object file scribbled on by someone else
 * (shared memory is untrusted input: every offset, length and count read
 * from a mapping is checked; a corrupt object gives an error, never a
 * crash, see README "How it works" and docs/msg.md). User backend
 * only: the kernel's queues are out of reach.
 *
 * Each iteration makes a fresh queue with messages (and holes in its free
 * lists), overwrites parts of its control area in $RIPC_DIR/msg.<idx>
 * (counters, list heads, descriptors, chunk links) with random bytes, 0xFF
 * runs, huge or plausible-but-wrong values — never truncating the file,
 * which is a documented SIGBUS case — then a forked child runs msgsnd,
 * msgrcv (IPC_NOWAIT, typed, MSG_NOERROR, MSG_COPY, small buffers),
 * IPC_STAT and finally IPC_RMID. The child must exit normally (no signal,
 * no hang: alarm), every failure must carry an errno in {EIO, EINVAL,
 * EIDRM, E2BIG, ENOMSG, EAGAIN, ENOSPC}, and no receive may write past the
 * buffer it was given. A second part scribbles concurrently with the calls.
 *
 * RIPC_SEED=n reproduces a run.
 */
#include "ripc_sysv.h"
#include "tap.h"

#include <dirent.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef MSG_COPY
#define MSG_COPY 040000
#endif

/* The engine's layout (src/msg/layout.rs), offsets from the start of the
 * control area, which follows the 256-byte object header. */
#define HDR 256
#define Q_SLOCK 0   /* senders' lock, then their list ends and counters */
#define Q_RLOCK 128 /* receivers' lock, then theirs */
#define Q_NDESC 256
#define Q_NCHUNK 260
#define Q_LEN 320   /* QHead */
#define DESC_OFF 320
#define DESC_SZ 24

/* tail, free lists and fresh marks (descriptors, small and big chunks),
 * sent and seen-taken counters, lspid; the sent word; dummy, returned
 * lists, lrpid; the taken word and counters, the receivers' pending
 * chains; the dirty mark */
static const int head_u32[] = {16, 20, 24, 28, 32, 36, 40, 44, 48, 52, 56, 60, 64,
                               144, 148, 152, 156, 160, 192, 196, 200,
                               216, 220, 224, 228, 232, 272};
/* rtime, qbytes, stime */
static const int head_u64[] = {168, 264, 280};

static uint64_t rng_state;
static uint64_t rnd(void) { return tap_xorshift(&rng_state); }

static const char *dir;

/* The one msg.<idx> file in RIPC_DIR (found by listing it), -1 if none. */
static int find_file(char *path, size_t n) {
    DIR *d = opendir(dir);
    int found = 0;
    struct dirent *e;
    if (!d) return -1;
    while ((e = readdir(d)) != NULL) {
        const char *s = e->d_name;
        if (strncmp(s, "msg.", 4) == 0 && s[4] >= '0' && s[4] <= '9') {
            snprintf(path, n, "%s/%s", dir, s);
            found++;
        }
    }
    closedir(d);
    return found == 1 ? 0 : -1;
}

/* Removes whatever msg.* files are left (after a failed iteration). */
static int leftovers(int unlink_them) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    char p[4096];
    if (!d) return 0;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "msg.", 4) == 0) {
            n++;
            if (unlink_them) {
                snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
                unlink(p);
            }
        }
    }
    closedir(d);
    return n;
}

struct geo {
    uint32_t ndesc, nchunk;
    long link_off, chunk_off;
};

static uint64_t edge_value(const struct geo *g) {
    switch (rnd() % 14) {
    case 0: return 0xffffffffu;
    case 1: return 0xfffffffeu;
    case 2: return 0x7fffffffu;
    case 3: return 0x80000000u;
    case 4: return 0;
    case 5: return 1;
    case 6: return g->ndesc - 1;
    case 7: return g->ndesc;
    case 8: return g->nchunk - 1;
    case 9: return g->nchunk;
    case 10: return rnd() % 64;          /* a plausible, wrong index */
    case 11: return rnd() % 300;
    case 12: return ~0ull;
    default: return rnd();
    }
}

static void put(int fd, long off, const void *p, size_t n) {
    if (pwrite(fd, p, n, HDR + off) != (ssize_t)n) perror("pwrite");
}

static void put_u32(int fd, long off, uint32_t v) { put(fd, off, &v, 4); }
static void put_u64(int fd, long off, uint64_t v) { put(fd, off, &v, 8); }

static const char *kind_name[] = {
    "random bytes in the queue head",
    "0xFF runs over head, descriptors, links",
    "huge/edge values in head counters and list ends",
    "bad descriptor fields (type, length, chunk, next)",
    "bad chunk links (cycles, aliases, out of range)",
    "random bytes anywhere in the control area",
    "all of the above at once",
};
#define NKINDS 7

static void corrupt(int fd, const struct geo *g, int kind) {
    unsigned char buf[64];
    switch (kind) {
    case 0: {
        size_t n = 1 + rnd() % 32;
        long off = (long)(rnd() % Q_LEN);
        for (size_t i = 0; i < n; i++) buf[i] = (unsigned char)rnd();
        if (off + (long)n > Q_LEN) n = (size_t)(Q_LEN - off);
        put(fd, off, buf, n);
        break;
    }
    case 1: {
        size_t n = 1 + rnd() % 64;
        long off;
        switch (rnd() % 3) {
        case 0: off = (long)(rnd() % Q_LEN); break;
        case 1: off = DESC_OFF + (long)(rnd() % (48 * DESC_SZ)); break;
        default: off = g->link_off + (long)(rnd() % 1200); break;
        }
        memset(buf, 0xff, n);
        put(fd, off, buf, n);
        break;
    }
    case 2: {
        int k = 1 + (int)(rnd() % 4);
        for (int i = 0; i < k; i++) {
            if (rnd() % 3 == 0)
                put_u64(fd, head_u64[rnd() % (sizeof head_u64 / sizeof *head_u64)], edge_value(g));
            else
                put_u32(fd, head_u32[rnd() % (sizeof head_u32 / sizeof *head_u32)], (uint32_t)edge_value(g));
        }
        break;
    }
    case 3: {
        int k = 1 + (int)(rnd() % 4);
        for (int i = 0; i < k; i++) {
            long d = DESC_OFF + (long)(rnd() % 48) * DESC_SZ;
            switch (rnd() % 4) {
            case 0: {
                static const int64_t t[] = {0, -1, INT64_MIN, INT64_MAX, 2, 5, 1000};
                put_u64(fd, d, (uint64_t)t[rnd() % 7]);
                break;
            }
            case 1: put_u32(fd, d + 8, (uint32_t)(rnd() % 2 ? edge_value(g) : rnd() % 9000)); break;
            case 2: put_u32(fd, d + 12, (uint32_t)edge_value(g)); break;
            default: put_u32(fd, d + 16, (uint32_t)edge_value(g)); break;
            }
        }
        break;
    }
    case 4: {
        int k = 1 + (int)(rnd() % 6);
        for (int i = 0; i < k; i++) put_u32(fd, g->link_off + (long)(rnd() % 300) * 4, (uint32_t)edge_value(g));
        break;
    }
    case 5: {
        int k = 1 + (int)(rnd() % 8);
        for (int i = 0; i < k; i++) {
            size_t n = 1 + rnd() % 16;
            long off = i == 0 ? (long)(rnd() % 2048) : (long)(rnd() % (uint64_t)g->chunk_off);
            for (size_t j = 0; j < n; j++) buf[j] = (unsigned char)rnd();
            put(fd, off, buf, n);
        }
        break;
    }
    default:
        for (int k = 0; k < 5; k++)
            if (rnd() % 2) corrupt(fd, g, k);
        corrupt(fd, g, (int)(rnd() % 5));
        break;
    }
}

/* Makes one of the queue's locks (or both) look held by process `pid`
 * (lock word: pid, pad, owner start time 0): one that died, so that the
 * next call repairs the corrupted structure (src/msg/list.rs: repair), or
 * a live stranger that does not map the queue (an exec'ed sleep), which
 * cannot be the holder and must not wedge the queue either. */
static pid_t dead_pid, stranger_pid;
static void plant_owner(int fd, pid_t pid) {
    uint32_t w[4] = {(uint32_t)pid, 0, 0, 0};
    int which = (int)(rnd() % 3);
    if (which != 1 && pwrite(fd, w, sizeof w, HDR + Q_SLOCK) != (ssize_t)sizeof w) perror("pwrite slock");
    if (which != 0 && pwrite(fd, w, sizeof w, HDR + Q_RLOCK) != (ssize_t)sizeof w) perror("pwrite rlock");
}

/* What the children's calls returned, over all iterations (shared). */
struct counts {
    _Atomic long ok, eio, einval, eidrm, e2big, enomsg, eagain, enospc;
};
static struct counts *cnt;

static int allowed(int e) {
    switch (e) {
    case EIO: cnt->eio++; break;
    case EINVAL: cnt->einval++; break;
    case EIDRM: cnt->eidrm++; break;
    case E2BIG: cnt->e2big++; break;
    case ENOMSG: cnt->enomsg++; break;
    case EAGAIN: cnt->eagain++; break;
    case ENOSPC: cnt->enospc++; break;
    default: break;
    }
    return e == EIO || e == EINVAL || e == EIDRM || e == E2BIG || e == ENOMSG || e == EAGAIN || e == ENOSPC;
}

/* The calls a child makes on the (corrupted) queue. Exits 10 on a bad
 * errno, 11 on a receive that overran its buffer or returned nonsense. */
#define GUARD 64
static void bad_errno(const char *what) {
    int e = errno;
    printf("# child: %s failed with errno %d (%s)\n", what, e, strerror(e));
    fflush(stdout);
    _exit(10);
}

/* Where a child is (for the report of a hung one). */
static volatile sig_atomic_t cur_op = -1, cur_which = -1;
static volatile double cur_t0; /* when operation cur_op began */

/* A hung child's SIGALRM: says which call hung, then stops so that the
 * parent can take its stacks (and kill it). */
static void on_hang(int sig) {
    (void)sig;
    char b[128];
    int n = snprintf(b, sizeof b, "# child: hung in operation %d (kind %d), begun %.3f s ago\n", (int)cur_op,
                     (int)cur_which, tap_now() - cur_t0);
    if (n > 0 && write(1, b, (size_t)n) < 0) _exit(13);
    kill(getpid(), SIGSTOP);
    _exit(14);
}

/* A control call may wait up to 1 s for a lock, then go on without it
 * (README, the stopped-holder row): a scribble that names a live process
 * whose memory map cannot be read (init: an edge value of 1) is waited
 * for that long, as an honest holder would be. The child's alarm, which
 * catches a call that never returns, is lengthened by 2 s per such call. */
static void allow_ctl_bound(void) {
    unsigned left = alarm(0);
    alarm(left + 2);
}

/* nops calls, or fewer once `secs` have passed (each call is bounded,
 * not the sum: a queue whose lock stays named by init costs 1 s per
 * control call). */
static void run_ops(int qid, int nops, double secs) {
    static unsigned char mem[sizeof(long) + 9000 + GUARD];
    double end = tap_now() + secs;
    for (int op = 0; op < nops && tap_now() < end; op++) {
        int which = (int)(rnd() % 7);
        cur_op = op;
        cur_which = which;
        cur_t0 = tap_now();
        if (which == 0) {
            size_t len = rnd() % 4 == 0 ? 0 : rnd() % 3000;
            long typ = 1 + (long)(rnd() % 5);
            memcpy(mem, &typ, sizeof typ);
            memset(mem + sizeof(long), 'm', len);
            if (msgsnd(qid, mem, len, IPC_NOWAIT) != 0) {
                if (!allowed(errno)) bad_errno("msgsnd");
            } else {
                cnt->ok++;
            }
        } else if (which == 5) {
            struct msqid_ds ds;
            allow_ctl_bound();
            if (msgctl(qid, IPC_STAT, &ds) != 0) {
                if (!allowed(errno)) bad_errno("msgctl(IPC_STAT)");
            } else {
                cnt->ok++;
            }
        } else {
            size_t cap = rnd() % 3 == 0 ? rnd() % 40 : 8192;
            long typ = 0;
            int fl = IPC_NOWAIT;
            switch (which) {
            case 1: break;
            case 2: typ = 1 + (long)(rnd() % 5); break;
            case 3: typ = -(long)(1 + rnd() % 5); break;
            case 4: typ = 1 + (long)(rnd() % 5); fl |= MSG_EXCEPT; break;
            default: typ = (long)(rnd() % 6); fl |= MSG_COPY; break;
            }
            if (rnd() % 2) fl |= MSG_NOERROR;
            memset(mem, 0xA5, sizeof mem);
            ssize_t n = msgrcv(qid, mem, cap, typ, fl);
            if (n < 0 && !allowed(errno)) bad_errno("msgrcv");
            if (n >= 0) cnt->ok++;
            for (size_t i = sizeof(long) + cap; i < sizeof(long) + cap + GUARD; i++)
                if (mem[i] != 0xA5) {
                    printf("# child: msgrcv(cap %zu) wrote past the buffer at +%zu\n", cap, i);
                    fflush(stdout);
                    _exit(11);
                }
            if (n > (ssize_t)cap) {
                printf("# child: msgrcv(cap %zu) returned %zd\n", cap, n);
                fflush(stdout);
                _exit(11);
            }
        }
    }
}

/* A fresh queue with messages and holes in its free lists. */
static int make_queue(void) {
    static unsigned char mem[sizeof(long) + 2100];
    int qid = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    if (qid < 0) return -1;
    int k = 1 + (int)(rnd() % 40);
    for (int i = 0; i < k; i++) {
        size_t len = rnd() % 3 == 0 ? rnd() % 8 : rnd() % 2000;
        long typ = 1 + (long)(rnd() % 5);
        memcpy(mem, &typ, sizeof typ);
        memset(mem + sizeof(long), 'a' + i % 26, len);
        if (msgsnd(qid, mem, len, IPC_NOWAIT) != 0) break;
    }
    int r = (int)(rnd() % (unsigned)(k / 2 + 1));
    for (int i = 0; i < r; i++) msgrcv(qid, mem, 2100, (long)(rnd() % 6), IPC_NOWAIT);
    return qid;
}

static int read_geo(int fd, struct geo *g) {
    uint32_t v[2];
    if (pread(fd, v, 8, HDR + Q_NDESC) != 8) return -1;
    g->ndesc = v[0];
    g->nchunk = v[1];
    if (g->ndesc == 0 || g->ndesc > (1u << 24) || g->nchunk == 0) return -1;
    g->link_off = DESC_OFF + (long)g->ndesc * DESC_SZ;
    g->chunk_off = (g->link_off + (long)g->nchunk * 4 + 63) / 64 * 64;
    return 0;
}

/* A fresh queue (make_queue) with its file open for scribbling and its
 * geometry read: 0, or -1 with everything undone. */
static int open_fresh_queue(int *qid, int *fd, struct geo *g) {
    char path[4096];
    *qid = make_queue();
    *fd = -1;
    if (*qid >= 0 && find_file(path, sizeof path) == 0 && (*fd = open(path, O_RDWR)) >= 0 && read_geo(*fd, g) == 0)
        return 0;
    if (*fd >= 0) close(*fd);
    if (*qid >= 0) msgctl(*qid, IPC_RMID, NULL);
    leftovers(1);
    return -1;
}

struct tally {
    int iters, crashed, hung, bad_errno, overrun, rmid_failed, left, other;
};

/* The queue's two lock words (pid word, fence word, owner start time)
 * and what the pids they name are, as TAP comments. */
static void show_locks(void) {
    char path[4096];
    int fd = find_file(path, sizeof path) == 0 ? open(path, O_RDONLY) : -1;
    if (fd < 0) return;
    for (int i = 0; i < 2; i++) {
        uint32_t w[4];
        if (pread(fd, w, sizeof w, HDR + (i ? Q_RLOCK : Q_SLOCK)) != (ssize_t)sizeof w) break;
        uint64_t start;
        memcpy(&start, &w[2], 8);
        diag("%s lock: word %#x fenced %#x start %llu", i ? "receivers'" : "senders'", w[0], w[1],
             (unsigned long long)start);
        int pids[2] = {(int)(w[0] & ((1u << 30) - 1)), (int)(w[1] & ((1u << 30) - 1))};
        for (int k = 0; k < 2; k++) {
            if (pids[k] <= 0 || pids[k] > 4194304) continue;
            char cmd[200];
            snprintf(cmd, sizeof cmd, "ps -o pid=,stat=,lstart=,comm= -p %d | sed 's/^/#   pid /'; "
                                      "grep -c . /proc/%d/maps 2>/dev/null | sed 's/^/#   maps lines /'",
                     pids[k], pids[k]);
            if (system(cmd) != 0) diag("  pid %d: no such process", pids[k]);
        }
    }
    close(fd);
}

/* Waits for child p. One that stopped itself (on_hang) has its stacks
 * printed, is killed, and reads as killed by SIGALRM (hung). */
static int wait_child(pid_t p) {
    int status = 0;
    while (waitpid(p, &status, WUNTRACED) < 0 && errno == EINTR) {
    }
    if (WIFSTOPPED(status)) {
        tap_backtrace((int)p, "hung child");
        show_locks();
        kill(p, SIGKILL);
        while (waitpid(p, &status, 0) < 0 && errno == EINTR) {
        }
        return SIGALRM; /* as WIFSIGNALED with WTERMSIG SIGALRM */
    }
    return status;
}

static void judge(struct tally *t, int status, int kind, uint64_t seed) {
    t->iters++;
    if (WIFSIGNALED(status)) {
        if (WTERMSIG(status) == SIGALRM) {
            if (t->hung++ < 3) diag("kind %d seed %llu: child hung", kind, (unsigned long long)seed);
        } else if (t->crashed++ < 3) {
            diag("kind %d seed %llu: child killed by signal %d", kind, (unsigned long long)seed,
                 WTERMSIG(status));
        }
        return;
    }
    switch (WEXITSTATUS(status)) {
    case 0: return;
    case 10: t->bad_errno++; break;
    case 11: t->overrun++; break;
    case 12: t->rmid_failed++; break;
    default: t->other++; break;
    }
    if (t->bad_errno + t->overrun + t->rmid_failed + t->other < 4)
        diag("kind %d seed %llu: child exit %d", kind, (unsigned long long)seed, WEXITSTATUS(status));
}

static void cleanup_iteration(struct tally *t, int qid) {
    if (leftovers(0) == 0) return;
    t->left++;
    if (msgctl(qid, IPC_RMID, NULL) != 0 || leftovers(0) != 0) leftovers(1);
}

int main(void) {
    if (backend_is_kernel()) {
        ok(1, "corrupted object files # SKIP kernel backend");
        return done_testing();
    }
    dir = getenv("RIPC_DIR");
    if (!dir) {
        ok(0, "RIPC_DIR is set (run through c_tests/run1.sh)");
        return done_testing();
    }
    const char *s = getenv("RIPC_SEED");
    uint64_t seed0 = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 24);
    diag("seed %llu (RIPC_SEED)", (unsigned long long)seed0);
    const int per_kind = 60;
    cnt = mmap(NULL, sizeof *cnt, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (cnt == MAP_FAILED) return 1;
    alarm(300); /* a wedged queue fails the test (SIGALRM) instead of hanging the suite */
    dead_pid = fork();
    if (dead_pid == 0) _exit(0);
    waitpid(dead_pid, NULL, 0);
    stranger_pid = fork();
    if (stranger_pid == 0) {
        execlp("sleep", "sleep", "600", (char *)NULL);
        _exit(127);
    }

    for (int kind = 0; kind < NKINDS; kind++) {
        struct tally t = {0};
        int setup_fail = 0, repaired = 0, strangers = 0;
        for (int it = 0; it < per_kind; it++) {
            uint64_t seed = seed0 * 1000003u + (uint64_t)kind * 1000 + (uint64_t)it + 1;
            rng_state = seed;
            int qid, fd;
            struct geo g;
            if (open_fresh_queue(&qid, &fd, &g) != 0) {
                setup_fail++;
                continue;
            }
            corrupt(fd, &g, kind);
            if (it % 3 == 0) {
                plant_owner(fd, dead_pid);
                repaired++;
            } else if (it % 3 == 1 && stranger_pid > 0) {
                plant_owner(fd, stranger_pid);
                strangers++;
            }
            close(fd);
            fflush(stdout);
            pid_t p = fork();
            if (p == 0) {
                signal(SIGALRM, on_hang);
                alarm(5);
                run_ops(qid, 80, 30);
                allow_ctl_bound();
                if (msgctl(qid, IPC_RMID, NULL) != 0) {
                    printf("# child: IPC_RMID failed: %s\n", strerror(errno));
                    fflush(stdout);
                    _exit(12);
                }
                _exit(0);
            }
            int status = wait_child(p);
            judge(&t, status, kind, seed);
            cleanup_iteration(&t, qid);
        }
        ok(setup_fail == 0 && t.iters == per_kind && t.crashed == 0 && t.hung == 0 && t.bad_errno == 0 &&
               t.overrun == 0 && t.rmid_failed == 0 && t.other == 0 && t.left == 0,
           "%s: %d runs (%d with a dead lock owner, %d a live stranger), %d crashed, %d hung, %d bad errno, "
           "%d overran, %d IPC_RMID failed, %d left files",
           kind_name[kind], t.iters, repaired, strangers, t.crashed, t.hung, t.bad_errno, t.overrun, t.rmid_failed, t.left);
    }

    /* Part 2: a scribbler rewrites the control area while a child calls. */
    struct tally t = {0};
    int scribbler_bad = 0;
    for (int it = 0; it < 12; it++) {
        uint64_t seed = seed0 * 7777777u + (uint64_t)it + 1;
        rng_state = seed;
        int qid, fd;
        struct geo g;
        if (open_fresh_queue(&qid, &fd, &g) != 0) {
            t.other++;
            continue;
        }
        fflush(stdout);
        pid_t sc = fork();
        if (sc == 0) {
            rng_state ^= 0x5DEECE66Dull;
            for (int i = 0; i < 400; i++) {
                corrupt(fd, &g, (int)(rnd() % NKINDS));
                usleep(200);
            }
            _exit(0);
        }
        close(fd);
        pid_t p = fork();
        if (p == 0) {
            signal(SIGALRM, on_hang);
            alarm(10);
            run_ops(qid, 3000, 6);
            allow_ctl_bound();
            if (msgctl(qid, IPC_RMID, NULL) != 0) _exit(12);
            _exit(0);
        }
        int sst = 0;
        int status = wait_child(p);
        waitpid(sc, &sst, 0);
        if (!WIFEXITED(sst) || WEXITSTATUS(sst) != 0) scribbler_bad++;
        judge(&t, status, 100, seed);
        cleanup_iteration(&t, qid);
    }
    ok(scribbler_bad == 0 && t.crashed == 0 && t.hung == 0 && t.bad_errno == 0 && t.overrun == 0 &&
           t.rmid_failed == 0 && t.other == 0 && t.left == 0,
       "concurrent scribbling: %d runs, %d crashed, %d hung, %d bad errno, %d overran, %d IPC_RMID failed, "
       "%d left files",
       t.iters, t.crashed, t.hung, t.bad_errno, t.overrun, t.rmid_failed, t.left);
    diag("calls: %ld succeeded; failed with EIO %ld, EINVAL %ld, EIDRM %ld, E2BIG %ld, ENOMSG %ld, EAGAIN %ld, "
         "ENOSPC %ld",
         (long)cnt->ok, (long)cnt->eio, (long)cnt->einval, (long)cnt->eidrm, (long)cnt->e2big, (long)cnt->enomsg,
         (long)cnt->eagain, (long)cnt->enospc);
    ok(leftovers(0) == 0, "no msg.* files left in RIPC_DIR");
    if (stranger_pid > 0) {
        kill(stranger_pid, SIGKILL);
        waitpid(stranger_pid, NULL, 0);
    }
    return done_testing();
}
