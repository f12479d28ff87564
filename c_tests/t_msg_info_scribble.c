/* t_msg_info_scribble.c — constant MSG_INFO (docs/msg.md, "Constant
 * `MSG_INFO`") against a hostile member and killed recounters, both
 * backends (the member's part: the userspace engine only).
 *
 * - A member of the namespace (uid/gid 65534, which run1.sh's namespaces
 *   share) writes random bytes over the queues' words in ripc.idx (ids,
 *   marks) and their groups' dirty bytes, which it may write, for 3 s,
 *   (after sending to three queues it may use: each then marked in the
 *   hint, which it unmarks at random), while root streams messages over
 *   150 queues (three groups of 64
 *   indexes) and three root processes call MSG_INFO in a loop: no call
 *   crashes or hangs (each under alarm). docs/msg.md promises skewed
 *   figures at worst while the words are wrong; once the scribbling has
 *   stopped and root has used every queue (a send and a receive each),
 *   MSG_INFO equals the sum of IPC_STAT, twice (a recount, then the
 *   records it stored).
 * - Targeted, quiet: the member sends to a queue (marking it), undoes
 *   the mark and its group's dirty byte, sends again; once root has used
 *   that queue, MSG_INFO is exact.
 * - A process calling MSG_INFO while a stream changes the queues is
 *   SIGKILLed at random instants, over and over (2 s; many of the kills
 *   land mid-recount): afterwards, quiet, MSG_INFO equals the sum of
 *   IPC_STAT with nothing used in between (a killed recounter leaves no
 *   record that counts).
 * - Eight processes call MSG_INFO at once while two streams run (2 s;
 *   each figure between 0 and what was ever sent); then, the streams
 *   stopped, all eight at once again: each equals the sum of IPC_STAT.
 * The kernel's side runs in a private IPC namespace (unshare -i). */
#include "ripc_sysv.h"
#include "tap.h"
#include "msg_totals.h"

#include <sched.h>
#include <signal.h>
#include <sys/wait.h>

#define NQ 150

static int q[NQ];

static struct msgb {
    long t;
    char b[256];
} m;

#define BAIL_OUT(...) (printf("Bail out! "), printf(__VA_ARGS__), printf("\n"), exit(1))


static int stat_sum(long *msgs, long *bytes) {
    *msgs = *bytes = 0;
    for (int i = 0; i < NQ; i++) {
        struct msqid_ds ds;
        if (msgctl(q[i], IPC_STAT, &ds) != 0) return -1;
        *msgs += (long)ds.msg_qnum;
        *bytes += (long)ds.__msg_cbytes;
    }
    return 0;
}

/* MSG_INFO (first) against the sum of IPC_STAT, quiet: 1 when equal. */
static int exact(const char *what) {
    long im, ib, sm, sb;
    int pool;
    int r = info(&im, &ib, &pool);
    int s = stat_sum(&sm, &sb);
    if (r < 0 || s != 0 || im != sm || ib != sb || pool != NQ) {
        diag("%s: MSG_INFO %ld msgs %ld bytes %d queues (rc %d), IPC_STAT sum %ld / %ld (rc %d)", what, im, ib, pool,
             r, sm, sb, s);
        return 0;
    }
    return 1;
}

/* A stream of sends and receives over all the queues until `end`
 * (IPC_NOWAIT, sizes 1-256); exits 0. */
static void stream(double end, uint64_t seed) {
    uint64_t x = seed | 1;
    while (tap_now() < end) {
        uint64_t r = tap_xorshift(&x);
        int qi = (int)(r % NQ);
        m.t = 1 + (long)(r >> 20) % 3;
        if ((r >> 8) % 5 < 3)
            (void)msgsnd(q[qi], &m, 1 + (r >> 12) % sizeof m.b, IPC_NOWAIT);
        else
            (void)msgrcv(q[qi], &m, sizeof m.b, 0, IPC_NOWAIT);
    }
    _exit(0);
}

/* MSG_INFO in a loop until `end`, each call under alarm (a hang is
 * SIGALRM); exits 2 on a failed call or a figure out of range. */
static void infos(double end) {
    long calls = 0;
    while (tap_now() < end || calls == 0) {
        long im, ib;
        int pool;
        alarm(20);
        if (info(&im, &ib, &pool) < 0 || im < 0 || ib < 0 || pool < 0 || pool > 32768) _exit(2);
        alarm(0);
        calls++;
    }
    _exit(0);
}

static pid_t spawn(void (*fn)(double, uint64_t), double end, uint64_t seed) {
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) fn(end, seed);
    return c;
}

static void infos2(double end, uint64_t seed) {
    (void)seed;
    infos(end);
}

/* Waits for every child in `c`; the number that did not exit 0. */
static int reap(const pid_t *c, int n, const char *what) {
    int bad = 0;
    for (int i = 0; i < n; i++) {
        int st;
        if (c[i] < 0 || waitpid(c[i], &st, 0) != c[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            diag("%s %d: %s %d", what, i, c[i] >= 0 && WIFSIGNALED(st) ? "signal" : "status",
                 c[i] >= 0 && WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
            bad++;
        }
    }
    return bad;
}

/* The member: random bytes over the queues' words and dirty bytes of
 * ripc.idx for `secs` seconds (offsets: src/ns/index.rs — the words from
 * byte 12288, 8 per index; the dirty bytes from 2^20, one per group). */
static int scribble(double secs, int nshared, char **ids) {
    /* First, as a member that may not write ripc.ns, messages to the
     * queues it may use (each marked in the hint: then unmarked below). */
    for (int i = 0; i < nshared; i++)
        for (int k = 0; k < 5; k++) {
            m.t = 2;
            if (msgsnd(atoi(ids[i]), &m, 100, IPC_NOWAIT) != 0) {
                fprintf(stderr, "# the member's msgsnd: %s\n", strerror(errno));
                return 4;
            }
        }
    char path[4096];
    snprintf(path, sizeof path, "%s/ripc.idx", getenv("RIPC_DIR"));
    int fd = open(path, O_RDWR);
    if (fd < 0) {
        fprintf(stderr, "# the member cannot open %s: %s\n", path, strerror(errno));
        return 3;
    }
    uint64_t x = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull | 1;
    double end = tap_now() + secs;
    long writes = 0;
    while (tap_now() < end) {
        uint64_t r = tap_xorshift(&x), v = tap_xorshift(&x);
        int idx = (int)(r % (NQ + 20));
        off_t word = 12288 + (off_t)idx * 8;
        uint32_t h[2];
        switch ((r >> 16) % 6) {
        case 0: /* a random word */
            (void)!pwrite(fd, &v, 8, word);
            break;
        case 1: /* a word with a plausible mirror: another id, unmarked */
            h[0] = (uint32_t)v;
            h[1] = ~h[0];
            (void)!pwrite(fd, h, 8, word);
            break;
        case 2: /* the word as it is, unmarked */
            if (pread(fd, h, 8, word) == 8) {
                h[1] = ~h[0];
                (void)!pwrite(fd, h, 8, word);
            }
            break;
        case 3: /* a random byte of a word */
            (void)!pwrite(fd, &v, 1, word + (off_t)(v >> 40) % 8);
            break;
        default: /* a dirty byte cleared (mostly) or set */
        {
            unsigned char b = (v & 7) ? 0 : (unsigned char)(v >> 8);
            (void)!pwrite(fd, &b, 1, (1 << 20) + (off_t)(r >> 24) % 4);
        }
        }
        writes++;
    }
    printf("# the member wrote %ld times\n", writes);
    return 0;
}

/* The member, targeted: a message to queue `id` (which marks it in the
 * hint and sets its group's dirty byte), then the mark and the dirty
 * byte undone, then another message from the same process (which marks a
 * queue once). */
static int unmark(int id) {
    char path[4096];
    snprintf(path, sizeof path, "%s/ripc.idx", getenv("RIPC_DIR"));
    int fd = open(path, O_RDWR);
    m.t = 3;
    if (fd < 0 || msgsnd(id, &m, 100, IPC_NOWAIT) != 0) return 3;
    uint32_t h[2];
    off_t word = 12288 + (off_t)(id & 0x7fff) * 8;
    if (pread(fd, h, 8, word) != 8) return 3;
    h[1] = ~h[0];
    unsigned char z = 0;
    if (pwrite(fd, h, 8, word) != 8 || pwrite(fd, &z, 1, (1 << 20) + (off_t)(id & 0x7fff) / 64) != 1) return 3;
    if (msgsnd(id, &m, 100, IPC_NOWAIT) != 0) return 3;
    return 0;
}

static void targeted_unmark(void) {
    if (backend_is_kernel()) {
        ok(1, "# SKIP the kernel has no ripc.idx");
        return;
    }
    /* Quiet, records stored. */
    ok(exact("before the member"), "quiet: MSG_INFO exact");
    char a[16];
    snprintf(a, sizeof a, "%d", q[1]);
    char *argv[] = {"t_msg_info_scribble", "unmark", a, NULL};
    int st = tap_exec_as_nobody(NULL, argv);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the member sent twice to a queue, undoing its mark and dirty byte between");
    long im, ib, sm, sb;
    int pool;
    info(&im, &ib, &pool);
    stat_sum(&sm, &sb);
    diag("then MSG_INFO %ld / %ld, IPC_STAT sum %ld / %ld (docs/msg.md: a member's scribble may skew it)", im, ib, sm,
         sb);
    m.t = 1;
    ok(msgsnd(q[1], &m, 10, IPC_NOWAIT) == 0 && msgrcv(q[1], &m, sizeof m.b, 1, IPC_NOWAIT) == 10,
       "root used that queue");
    ok(exact("after root used the unmarked queue"), "then MSG_INFO is exact");
}

static void hostile_member(void) {
    if (backend_is_kernel()) {
        ok(1, "# SKIP the kernel has no ripc.idx");
        return;
    }
    double end = tap_now() + 3.0;
    pid_t c[5];
    c[0] = spawn(stream, end, 11);
    for (int i = 1; i < 4; i++) c[i] = spawn(infos2, end, 0);
    fflush(stdout);
    c[4] = fork();
    if (c[4] == 0) {
        char a[3][16];
        for (int i = 0; i < 3; i++) snprintf(a[i], sizeof a[i], "%d", q[i]);
        char *argv[] = {"t_msg_info_scribble", "scribble", "3", a[0], a[1], a[2], NULL};
        int st = tap_exec_as_nobody(NULL, argv);
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 126);
    }
    int bad = reap(c, 4, "stream or MSG_INFO caller");
    int sbad = reap(c + 4, 1, "member");
    ok(!bad, "3 s of a member scribbling ripc.idx under a stream: every MSG_INFO of 3 callers returned (no crash, "
             "no hang, no figure out of range)");
    ok(!sbad, "the member could send to the queues it may use and write ripc.idx");
    {
        long im, ib, sm, sb;
        int pool;
        info(&im, &ib, &pool);
        stat_sum(&sm, &sb);
        diag("before root uses the queues: MSG_INFO %ld / %ld, IPC_STAT sum %ld / %ld", im, ib, sm, sb);
    }
    /* Every queue used once by root (receives make room if full). */
    int used = 1;
    for (int i = 0; i < NQ; i++) {
        m.t = 1;
        int sent = 0;
        for (int k = 0; k < 100 && !(sent = msgsnd(q[i], &m, 10, IPC_NOWAIT) == 0); k++)
            (void)msgrcv(q[i], &m, sizeof m.b, 0, IPC_NOWAIT);
        used &= sent && msgrcv(q[i], &m, sizeof m.b, 0, IPC_NOWAIT) >= 0;
    }
    ok(used, "root sent and received once on each queue");
    ok(exact("after the scribbling, each queue used"), "then MSG_INFO is exact (a recount)");
    ok(exact("again"), "and again (its records)");
}

static void killed_recounters(void) {
    double end = tap_now() + 2.0;
    pid_t s = spawn(stream, end + 1.0, 23);
    uint64_t x = 77;
    int rounds = 0, killed = 0;
    while (tap_now() < end) {
        fflush(stdout);
        pid_t c = fork();
        if (c == 0) infos(tap_now() + 5.0);
        tap_nap_over((double)(tap_xorshift(&x) % 3000) / 1e6);
        kill(c, SIGKILL);
        int st;
        waitpid(c, &st, 0);
        killed += WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
        rounds++;
    }
    kill(s, SIGKILL);
    waitpid(s, NULL, 0);
    ok(killed > 10, "%d MSG_INFO callers SIGKILLed at random under a stream (%d rounds)", killed, rounds);
    /* (The stream was killed too: IPC_STAT repairs a queue it held.) */
    long sm, sb;
    stat_sum(&sm, &sb);
    (void)sm;
    (void)sb;
    ok(exact("after killed recounters"), "then, quiet, MSG_INFO equals the sum of IPC_STAT");
}

/* Each of 8 processes: MSG_INFO until `end` (figures within range), then
 * waits for a byte on `go`, then one call compared with `want`. */
static int go[2];
static long want_m, want_b;
static long sent_max;

static void concurrent_one(double end) {
    long calls = 0;
    while (tap_now() < end || calls == 0) {
        long im, ib;
        int pool;
        alarm(20);
        if (info(&im, &ib, &pool) < 0 || im < 0 || ib < 0 || im > sent_max) _exit(2);
        alarm(0);
        calls++;
    }
    char b;
    close(go[1]);
    if (read(go[0], &b, 1) != 1) _exit(4);
    long im, ib;
    int pool;
    alarm(20);
    if (info(&im, &ib, &pool) < 0) _exit(2);
    int wfd = atoi(getenv("T_RESULT_FD"));
    long r[2] = {im, ib};
    if (write(wfd, r, sizeof r) != sizeof r) _exit(5);
    _exit(0);
}

static void concurrent(void) {
    long sm, sb;
    stat_sum(&sm, &sb);
    sent_max = sm + 3L * 2 * 1000 * 1000; /* more than two streams can send in 2 s */
    int res[2];
    if (pipe(go) != 0 || pipe(res) != 0) BAIL_OUT("pipe");
    char fd[16];
    snprintf(fd, sizeof fd, "%d", res[1]);
    setenv("T_RESULT_FD", fd, 1);
    double end = tap_now() + 2.0;
    pid_t s[2] = {spawn(stream, end, 31), spawn(stream, end, 37)};
    pid_t c[8];
    for (int i = 0; i < 8; i++) {
        fflush(stdout);
        c[i] = fork();
        if (c[i] == 0) concurrent_one(end);
    }
    int sbad = reap(s, 2, "stream");
    int bad = 0;
    stat_sum(&want_m, &want_b);
    close(go[0]);
    close(res[1]);
    char bytes[8] = {0};
    if (write(go[1], bytes, 8) != 8) BAIL_OUT("write");
    close(go[1]);
    int agree = 0;
    long r[2];
    while (read(res[0], r, sizeof r) == sizeof r) {
        if (r[0] == want_m && r[1] == want_b)
            agree++;
        else
            diag("a caller's MSG_INFO %ld / %ld, IPC_STAT sum %ld / %ld", r[0], r[1], want_m, want_b);
    }
    close(res[0]);
    bad += reap(c, 8, "MSG_INFO caller");
    ok(!sbad && !bad, "8 processes called MSG_INFO at once under two streams for 2 s: every call returned, in range");
    ok(agree == 8, "then, quiet, all 8 at once: %d of 8 equal the sum of IPC_STAT (%ld / %ld)", agree, want_m,
       want_b);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "unmark") == 0) return unmark(atoi(argv[2]));
    if (argc >= 3 && strcmp(argv[1], "scribble") == 0) return scribble(atof(argv[2]), argc - 3, argv + 3);
    setvbuf(stdout, NULL, _IONBF, 0);
    int own = unshare(CLONE_NEWIPC) == 0;
    if (backend_is_kernel() && !own) {
        printf("1..0 # SKIP no private IPC namespace (unshare -i): other queues would count\n");
        return 0;
    }
    memset(m.b, 'x', sizeof m.b);
    for (int i = 0; i < NQ; i++) {
        q[i] = msgget(IPC_PRIVATE, IPC_CREAT | (i < 3 ? 0666 : 0600));
        if (q[i] < 0) BAIL_OUT("msgget: %s", strerror(errno));
    }
    ok(exact("fresh"), "150 empty queues: MSG_INFO exact");
    tap_subtest("targeted_unmark", targeted_unmark);
    tap_subtest("hostile_member", hostile_member);
    tap_subtest("killed_recounters", killed_recounters);
    tap_subtest("concurrent", concurrent);
    for (int i = 0; i < NQ; i++) msgctl(q[i], IPC_RMID, NULL);
    return done_testing();
}
