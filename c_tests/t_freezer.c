/* t_freezer.c — a lock holder stopped by the cgroup freezer delays no
 * IPC_NOWAIT call and no untimed queue call (docs/bounded-time.md, "The
 * cgroup freezer"), under both backends.
 *
 * The freezer's tasks do not show state T in /proc (v2: S, v1: D), so
 * before, ripc took a frozen holder for a runnable one: IPC_NOWAIT calls
 * waited the lock's 10 ms bound, and untimed msgsnd/msgrcv waited until
 * the cgroup was thawed.
 *
 * A cgroup is made under a writable freezer (a v2 child under the unified
 * mount, else a v1 freezer cgroup; RIPC_TEST_FREEZER=v1 or v2 picks one),
 * or the test is skipped. 20 trials: three peers are started and moved
 * into it — a sender looping msgsnd of numbered messages (type 1, at most
 * 100 unreceived, meanwhile a type 3 message to itself and back), a
 * receiver polling msgrcv(type 1, IPC_NOWAIT), and a semaphore peer
 * looping two-operation semops (it takes the set's lock) — and the cgroup
 * is frozen at a random moment (any of them may hold a lock). Once the
 * cgroup says frozen:
 *  - this process's IPC_NOWAIT msgsnd (type 4), msgrcv (type 5, never
 *    sent) and two-operation semop (that would block) each return (0,
 *    EAGAIN, ENOMSG) within 250 ms the first time: a frozen holder of
 *    the queue's or set's lock is watched for 2 ms and the object moved
 *    away from it (docs/bounded-time.md, "IPC_NOWAIT beside a stopped
 *    holder"; before 2026-12-07 the call ended at the first look); made
 *    again, each within 8 ms beyond what a 1 ms nanosleep overruns at that
 *    moment: the frozen peers hold no lock of the copy, and nothing is
 *    waited for (late calls are repeated, twice at most, against the same
 *    frozen peers and fail only when late each time);
 *  - an untimed msgsnd and msgrcv (type 2) each return within 1 s (the
 *    fence moves the queue away from a frozen holder). A guardian process
 *    thaws the cgroup when they have not returned after 3 s, so that the
 *    old code fails by the overrun instead of hanging.
 * Then the cgroup is thawed, the peers keep working a little and stop:
 * every numbered message was received exactly once and intact, the
 * type 4 messages sent are all there, the semaphores are back at 0, the
 * queue is empty; at the end the cgroup is removed (the guardian removes
 * it even when this process dies).
 */
#include "ripc_sysv.h"
#include "tap.h"
#include "numbered.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TRIALS 20
#define CALL_MAX 1.0  /* seconds an untimed call may take beside frozen peers */
#define THAW_AFTER 3  /* seconds after which the guardian thaws the cgroup */
#define NOWAIT_LATE 0.008 /* an IPC_NOWAIT call's time beyond a nanosleep's lateness */
#define NOWAIT_FIRST 0.25 /* the first ones' (they may move the queue and the set) */
struct shared {
    struct num_shared num; /* the sender's and the receiver's */
    volatile int stop_sem;
    volatile int sem_err; /* the semaphore peer's errno when it gave up */
};

static struct shared *sh;
static uint64_t rng = 0x8f1bbcdcca62c1d6ull;
static char cg[4096];    /* the test's cgroup directory */
static int cg_v2;        /* unified (cgroup.freeze) or v1 (freezer.state) */
static int guard_fd = -1; /* the guardian's pipe */
static pid_t guard = -1;

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* How late a plain 1 ms nanosleep returns right now (the scheduling
 * latency a bounded call's time is judged beside). */
#define nap_over() tap_nap_over(0.001)

/* --- the cgroup ------------------------------------------------------ */

static int write_file(const char *dir, const char *name, const char *text) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

static int read_file(const char *dir, const char *name, char *buf, size_t len) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    if (n < 0) return -1;
    buf[n] = 0;
    return 0;
}

static void freeze(int on) {
    if (cg_v2) write_file(cg, "cgroup.freeze", on ? "1" : "0");
    else write_file(cg, "freezer.state", on ? "FROZEN" : "THAWED");
}

static int is_frozen(void) {
    char b[512];
    if (cg_v2) return read_file(cg, "cgroup.events", b, sizeof b) == 0 && strstr(b, "frozen 1\n");
    return read_file(cg, "freezer.state", b, sizeof b) == 0 && strncmp(b, "FROZEN", 6) == 0;
}

/* Waits (up to 2 s) until the cgroup's freezer says `on`. */
static int wait_frozen(int on) {
    for (int i = 0; i < 400; i++) {
        if (is_frozen() == on) return 1;
        sleep_us(5000);
    }
    return 0;
}

static int move_in(pid_t p) {
    char b[32];
    snprintf(b, sizeof b, "%d", (int)p);
    return write_file(cg, "cgroup.procs", b);
}

/* A mountinfo field with \040-style escapes undone, in place. */
static void unescape(char *s) {
    char *o = s;
    for (; *s; s++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
            s[3] <= '7') {
            *o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 3;
        } else {
            *o++ = *s;
        }
    }
    *o = 0;
}

/* The mount point of the v2 hierarchy (want_v2) or of v1's freezer. */
static int mount_of(int want_v2, char *at, size_t len) {
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (!f) return 0;
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        char *dash = strstr(line, " - ");
        if (!dash) continue;
        char fstype[64] = "", src[256] = "", opts[1024] = "", root[1024] = "", point[2048] = "";
        if (sscanf(dash + 3, "%63s %255s %1023s", fstype, src, opts) < 2) continue;
        if (sscanf(line, "%*s %*s %*s %1023s %2047s", root, point) != 2) continue;
        int v2 = strcmp(fstype, "cgroup2") == 0;
        int v1f = strcmp(fstype, "cgroup") == 0 && (strstr(opts, ",freezer") || strncmp(opts, "freezer", 7) == 0);
        if ((want_v2 && v2) || (!want_v2 && v1f)) {
            unescape(point);
            snprintf(at, len, "%s", point);
            found = 1;
        }
    }
    fclose(f);
    return found;
}

/* Whether the cgroup takes a process and freezes it (a container may let
 * us make a cgroup but not move into it): a sleeping child is moved in,
 * frozen, thawed and killed. 0 with the reason in `why`. */
static int try_cgroup(char *why, size_t len) {
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        alarm(10);
        for (;;) pause();
    }
    int okay = 0;
    if (c < 0) snprintf(why, len, "fork: %s", strerror(errno));
    else if (move_in(c) != 0) snprintf(why, len, "%s takes no process (%s)", cg, strerror(errno));
    else {
        freeze(1);
        okay = wait_frozen(1);
        if (!okay) snprintf(why, len, "%s did not freeze a process within 2 s", cg);
        freeze(0);
        wait_frozen(0);
    }
    if (c > 0) {
        kill(c, SIGKILL);
        waitpid(c, NULL, 0);
    }
    /* Empty again before the caller may remove it. */
    for (int i = 0; i < 400; i++) {
        char b[64];
        if (read_file(cg, "cgroup.procs", b, sizeof b) != 0 || !b[0]) break;
        sleep_us(5000);
    }
    return okay;
}

/* Makes the test's cgroup under the first writable freezer: 1, or 0 with
 * the reason in `why`. */
static int make_cgroup(char *why, size_t len) {
    const char *pick = getenv("RIPC_TEST_FREEZER");
    char at[2048];
    snprintf(why, len, "no cgroup freezer mounted");
    for (int v2 = 1; v2 >= 0; v2--) {
        if (pick && strcmp(pick, v2 ? "v2" : "v1") != 0) continue;
        if (!mount_of(v2, at, sizeof at)) continue;
        snprintf(cg, sizeof cg, "%s/ripc-t_freezer-%d", at, (int)getpid());
        if (mkdir(cg, 0755) != 0) {
            snprintf(why, len, "%s not writable (%s)", at, strerror(errno));
            continue;
        }
        cg_v2 = v2;
        char b[64];
        if (read_file(cg, v2 ? "cgroup.freeze" : "freezer.state", b, sizeof b) != 0)
            snprintf(why, len, "%s has no freezer", cg);
        else if (try_cgroup(why, len))
            return 1;
        rmdir(cg);
    }
    return 0;
}

/* The guardian (not in the cgroup): thaws the cgroup when armed ('a') and
 * not disarmed ('d') within THAW_AFTER seconds; when its pipe closes
 * (this process finished or died) it thaws the cgroup, kills what is in
 * it and removes it. */
static void guardian(int fd) {
    int armed = 0;
    signal(SIGALRM, SIG_DFL);
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, armed ? THAW_AFTER * 1000 : -1);
        if (r == 0) {
            freeze(0);
            armed = 0;
            continue;
        }
        char c;
        if (r < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (read(fd, &c, 1) != 1) break;
        armed = c == 'a';
    }
    freeze(0);
    for (int i = 0; i < 400; i++) {
        char b[4096];
        if (read_file(cg, "cgroup.procs", b, sizeof b) != 0) break;
        if (!b[0] && rmdir(cg) == 0) break;
        for (char *s = b; *s;) {
            long p = strtol(s, &s, 10);
            if (p > 0) kill((pid_t)p, SIGKILL);
            while (*s == '\n') s++;
        }
        freeze(0);
        sleep_us(5000);
    }
    _exit(0);
}

static void tell_guardian(char c) {
    if (write(guard_fd, &c, 1) != 1) diag("guardian: %s", strerror(errno));
}

/* --- the peers -------------------------------------------------------- */

static void sender(int q, int s) {
    (void)s;
    num_sender(&sh->num, q);
}

static void receiver(int q, int s) {
    (void)s;
    num_receiver(&sh->num, q);
}

/* Up and down on semaphores 0 and 1 together (two operations: the set's
 * lock), until stop_sem; an error other than EINTR ends it (sem_err). */
static void sem_peer(int q, int s) {
    (void)q;
    struct sembuf up[2] = {{0, 1, 0}, {1, 1, 0}}, down[2] = {{0, -1, 0}, {1, -1, 0}};
    while (!sh->stop_sem) {
        if (semop(s, up, 2) != 0) {
            if (errno == EINTR) continue;
            sh->sem_err = errno;
            _exit(1);
        }
        while (semop(s, down, 2) != 0) {
            if (errno != EINTR) {
                sh->sem_err = errno;
                _exit(2);
            }
        }
    }
    _exit(0);
}

static pid_t spawn(void (*fn)(int, int), int q, int s) {
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        tap_peer_start(100);
        close(guard_fd);
        fn(q, s);
    }
    return c;
}

static int reap(pid_t c) {
    int st = 0;
    while (waitpid(c, &st, 0) < 0 && errno == EINTR) {
    }
    return st;
}

/* --- the trials ------------------------------------------------------- */

static int q = -1, s = -1;
static long type4; /* type 4 messages sent and not received */

/* This process's IPC_NOWAIT calls beside the frozen peers: the longest,
 * in seconds (beyond a nanosleep's lateness); *wrong counts outcomes
 * other than success/EAGAIN/ENOMSG. */
static double nowait_calls(int *wrong) {
    struct num_msg m = {4, 0, 0, {0}};
    struct sembuf take[2] = {{2, -1, IPC_NOWAIT}, {3, -1, IPC_NOWAIT}};
    double worst = 0;
    for (int k = 0; k < 3; k++) {
        double t0 = tap_now();
        int r, e;
        if (k == 0) {
            r = msgsnd(q, &m, NUM_TEXT, IPC_NOWAIT);
            e = errno;
            if (r == 0) type4++;
            else if (e != EAGAIN) ++*wrong;
        } else if (k == 1) {
            r = (int)msgrcv(q, &m, NUM_TEXT, 5, IPC_NOWAIT);
            e = errno;
            if (r >= 0 || e != ENOMSG) ++*wrong;
        } else {
            r = semop(s, take, 2);
            e = errno;
            if (r == 0 || e != EAGAIN) ++*wrong;
        }
        double t = tap_now() - t0 - nap_over();
        if (t > worst) worst = t;
    }
    return worst;
}

static double untimed(int send) {
    struct num_msg m = {2, 0, 0, {0}};
    double t0 = tap_now();
    long r = send ? msgsnd(q, &m, NUM_TEXT, 0)
                  : (long)msgrcv(q, &m, NUM_TEXT, 2, 0);
    double t = tap_now() - t0;
    return r >= 0 ? t : 1e9;
}

static void trials(void) {
    double worst_nw = 0, worst_call = 0, worst_first = 0;
    int slow_first = 0;
    int late_nw = 0, slow = 0, wrong = 0, unfrozen = 0, stuck = 0, lost = 0, dup_or_bad = 0;
    for (int t = 0; t < TRIALS; t++) {
        memset((void *)sh, 0, sizeof *sh);
        pid_t p[3] = {spawn(sender, q, s), spawn(receiver, q, s), spawn(sem_peer, q, s)};
        int moved = 1;
        for (int i = 0; i < 3; i++) moved &= p[i] > 0 && move_in(p[i]) == 0;
        if (!moved) {
            ok(0, "trial %d: peers started and moved into %s (%s)", t, cg, strerror(errno));
            for (int i = 0; i < 3; i++)
                if (p[i] > 0) kill(p[i], SIGKILL), reap(p[i]);
            break;
        }
        sleep_us(2000 + (long)(tap_xorshift(&rng) % 20000));
        freeze(1);
        if (!wait_frozen(1)) unfrozen++;
        /* The first calls may move the queue and the set. */
        double first = nowait_calls(&wrong);
        if (first > worst_first) worst_first = first;
        if (first > NOWAIT_FIRST) {
            slow_first++;
            diag("trial %d: the first IPC_NOWAIT calls took %.1f ms", t, first * 1e3);
        }
        double nw = nowait_calls(&wrong);
        /* Late: again (twice at most) against the same frozen peers. A
         * lateness of ours comes back every time (the old code: the 10 ms
         * bound); a hiccup of a loaded machine does not. */
        for (int k = 0; k < 2 && nw > NOWAIT_LATE; k++) {
            double again = nowait_calls(&wrong);
            diag("trial %d: the IPC_NOWAIT calls took %.1f ms beyond a nap's lateness; again: %.1f ms", t,
                 nw * 1e3, again * 1e3);
            if (again < nw) nw = again;
        }
        if (nw > NOWAIT_LATE) late_nw++;
        if (nw > worst_nw) worst_nw = nw;
        tell_guardian('a');
        double a = untimed(1);
        double b = untimed(0);
        tell_guardian('d');
        double w = a > b ? a : b;
        if (w > worst_call) worst_call = w;
        if (w > CALL_MAX) {
            slow++;
            diag("trial %d: untimed msgsnd %.3f s, msgrcv %.3f s beside frozen peers", t, a, b);
        }
        freeze(0);
        wait_frozen(0);
        sleep_us(5000); /* they keep working */
        sh->num.stop_send = 1;
        sh->stop_sem = 1;
        int sst = reap(p[0]);
        sh->num.stop_recv = 1;
        int rst = reap(p[1]);
        int mst = reap(p[2]);
        int sts[3] = {sst, rst, mst};
        for (int i = 0; i < 3; i++) {
            if (!WIFEXITED(sts[i]) || WEXITSTATUS(sts[i]) != 0) {
                stuck++;
                diag("trial %d: peer %d ended with status %#x%s%s", t, i, sts[i], i == 2 ? ", " : "",
                     i == 2 ? strerror(sh->sem_err) : "");
            }
        }
        uint32_t sent = sh->num.sent, missing, beyond;
        num_account(&sh->num, q, &missing, &beyond);
        if (sh->num.bad) dup_or_bad++;
        if (missing || beyond) {
            lost++;
            diag("trial %d: %u sent, %u missing, %u beyond", t, sent, missing, beyond);
        }
    }
    diag("worst IPC_NOWAIT call beside frozen peers: %.2f ms beyond a 1 ms nap's lateness; worst untimed call: %.1f ms",
         worst_nw * 1e3, worst_call * 1e3);
    ok(unfrozen == 0, "the cgroup froze within 2 s each time (%d not)", unfrozen);
    diag("worst first IPC_NOWAIT calls beside frozen peers: %.1f ms", worst_first * 1e3);
    ok(slow_first == 0,
       "the first IPC_NOWAIT msgsnd, msgrcv and two-operation semop beside frozen peers return "
       "within %.0f ms (%d trials not)",
       NOWAIT_FIRST * 1e3, slow_first);
    ok(late_nw == 0,
       "IPC_NOWAIT msgsnd, msgrcv and two-operation semop return within %.0f ms beside frozen peers (%d late three times)",
       NOWAIT_LATE * 1e3, late_nw);
    ok(wrong == 0, "... each succeeded or failed with EAGAIN/ENOMSG (%d others)", wrong);
    ok(slow == 0, "untimed msgsnd and msgrcv return within %.0f s beside frozen peers (%d slow)", CALL_MAX, slow);
    ok(stuck == 0, "the peers keep working once thawed (%d not)", stuck);
    ok(dup_or_bad == 0 && lost == 0, "every message sent received exactly once, intact (%d trials not)",
       dup_or_bad + lost);
    struct num_msg m;
    long got4 = 0;
    while (msgrcv(q, &m, NUM_TEXT, 4, IPC_NOWAIT) >= 0) got4++;
    ok_eq(got4, type4, "every IPC_NOWAIT message sent is there");
    num_all_taken(q);
    unsigned short v[4] = {9, 9, 9, 9};
    ok(semctl(s, 0, GETALL, v) == 0 && !v[0] && !v[1] && !v[2] && !v[3],
       "the semaphores are back at 0 (%u %u %u %u)", v[0], v[1], v[2], v[3]);
}

int main(void) {
    char why[4200];
    if (geteuid() != 0) {
        printf("1..0 # SKIP needs root to make a cgroup\n");
        return 0;
    }
    if (!make_cgroup(why, sizeof why)) {
        printf("1..0 # SKIP no writable cgroup freezer: %s\n", why);
        return 0;
    }
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int fd[2];
    if (sh == MAP_FAILED || pipe(fd) != 0) {
        rmdir(cg);
        return 1;
    }
    fflush(stdout);
    guard = fork();
    if (guard == 0) {
        close(fd[1]);
        guardian(fd[0]);
    }
    close(fd[0]);
    guard_fd = fd[1];
    diag("cgroup %s (%s)", cg, cg_v2 ? "v2" : "v1 freezer");
    q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    s = semget(IPC_PRIVATE, 4, IPC_CREAT | 0600);
    ok(q >= 0 && s >= 0 && guard > 0, "a queue, a set of 4 and the guardian");
    if (q >= 0 && s >= 0 && guard > 0) trials();
    close(guard_fd);
    if (guard > 0) reap(guard);
    struct stat st;
    ok(stat(cg, &st) != 0 && errno == ENOENT, "the cgroup is removed");
    ok(q >= 0 && msgctl(q, IPC_RMID, NULL) == 0, "the queue removed");
    ok(s >= 0 && semctl(s, 0, IPC_RMID) == 0, "the set removed");
    return done_testing();
}
