/* t_msg_info.c — MSG_INFO's totals are exact, both backends (issue 14):
 * msgmap (messages in all queues) and msgtql (bytes in all queues) equal
 * what the queues hold, as the kernel keeps them,
 * - after sends and receives (any type, typed, MSG_EXCEPT, lowest type,
 *   empty and long messages) across several queues, checked every few
 *   operations against the test's own count and against the sum of
 *   IPC_STAT over the queues;
 * - after IPC_RMID of a non-empty queue, and for a new queue made at the
 *   index it freed;
 * - after a process that may not write the namespace's ripc.ns (uid
 *   65534, a member of the test's namespace) sends and receives;
 * - after senders and receivers are SIGKILLed at random instants, over
 *   and over (3 s): once each queue was looked at (IPC_STAT, which
 *   repairs a queue a dead holder left), MSG_INFO agrees with it, and
 *   after every message is received, both are 0 — no drift;
 * - the same over 300 queues (five groups of 64 indexes, whose totals
 *   ripc keeps sealed per group and recounts only where something
 *   changed: docs/msg.md, "Constant MSG_INFO"), MSG_INFO called between
 *   the operations so that records are stored and then made stale by
 *   sends, receives, removals and new queues at freed indexes; then
 *   streams to many queues SIGKILLed mid-stream, MSG_INFO called while
 *   they run.
 * The kernel's side runs in a private IPC namespace (unshare -i), so that
 * nobody else's queues count. */
#include "ripc_sysv.h"
#include "tap.h"
#include "msg_totals.h"

#include <sched.h>
#include <signal.h>
#include <sys/wait.h>

#define NQ 6
#define NQ_MANY 300
#define KILL_SECONDS 3.0

static struct msgb {
    long t;
    char b[700];
} m;

static int q[NQ_MANY];
static int nqs = NQ; /* queues in use in q[] */
static long want_m, want_b;


/* The sum of IPC_STAT over the test's queues (-1 when one fails). */
static int stat_sum(long *msgs, long *bytes) {
    *msgs = *bytes = 0;
    for (int i = 0; i < nqs; i++) {
        struct msqid_ds ds;
        if (q[i] < 0) continue;
        if (msgctl(q[i], IPC_STAT, &ds) != 0) return -1;
        *msgs += (long)ds.msg_qnum;
        *bytes += (long)ds.__msg_cbytes;
    }
    return 0;
}

static int nq(void) {
    int n = 0;
    for (int i = 0; i < nqs; i++) n += q[i] >= 0;
    return n;
}

/* MSG_INFO against IPC_STAT's sum (first: it repairs) and, when `own`,
 * against want_m/want_b. Quiet when right; one failing ok() otherwise. */
static int check(int own, const char *when) {
    long sm, sb, im, ib;
    int pool;
    int s = stat_sum(&sm, &sb);
    int r = info(&im, &ib, &pool);
    int good = s == 0 && r >= 0 && im == sm && ib == sb && pool == nq() && (!own || (im == want_m && ib == want_b));
    if (!good)
        return ok(0, "%s: MSG_INFO %ld msgs %ld bytes %d queues, IPC_STAT sum %ld / %ld, expected %ld / %ld / %d",
                  when, im, ib, pool, sm, sb, want_m, want_b, nq());
    return 1;
}

static void make_queues(void) {
    for (int i = 0; i < nqs; i++) q[i] = msgget(IPC_PRIVATE, IPC_CREAT | 0666);
    ok(nq() == nqs, "%d queues made", nqs);
    want_m = want_b = 0;
}

static void remove_queues(void) {
    for (int i = 0; i < nqs; i++)
        if (q[i] >= 0) msgctl(q[i], IPC_RMID, NULL), q[i] = -1;
}

/* One random operation on a random queue, with IPC_NOWAIT; the change in
 * messages and bytes it made goes to *dm, *db. */
static void one_op(uint64_t *seed, long *dm, long *db) {
    int i = (int)(tap_xorshift(seed) % (uint64_t)nqs);
    *dm = *db = 0;
    if (q[i] < 0) return;
    if (tap_xorshift(seed) % 2) {
        size_t len = (size_t)(tap_xorshift(seed) % 4 == 0 ? tap_xorshift(seed) % 700 : tap_xorshift(seed) % 64);
        m.t = 1 + (long)(tap_xorshift(seed) % 3);
        if (msgsnd(q[i], &m, len, IPC_NOWAIT) == 0) *dm = 1, *db = (long)len;
    } else {
        static const long types[] = {0, 0, 1, 2, 3, -2, -3};
        long t = types[tap_xorshift(seed) % 7];
        int fl = IPC_NOWAIT | MSG_NOERROR | (t > 0 && tap_xorshift(seed) % 3 == 0 ? MSG_EXCEPT : 0);
        /* The whole message's length: MSG_NOERROR never cuts (buffer 700). */
        ssize_t n = msgrcv(q[i], &m, sizeof m.b, t, fl);
        if (n >= 0) *dm = -1, *db = -n;
    }
}

/* A child making random operations until it is killed. */
static pid_t busy_child(uint64_t s) {
    pid_t c = fork();
    if (c == 0) {
        for (;;) {
            long dm, db;
            one_op(&s, &dm, &db);
        }
    }
    return c;
}

static void sends_and_receives(void) {
    make_queues();
    check(1, "empty queues");
    uint64_t seed = 0x5eed1234;
    int bad = 0;
    for (int k = 1; k <= 600 && !bad; k++) {
        long dm, db;
        one_op(&seed, &dm, &db);
        want_m += dm;
        want_b += db;
        if (k % 15 == 0 && !check(1, "after sends and receives")) bad = 1;
    }
    ok(!bad, "600 sends and receives over %d queues: MSG_INFO exact throughout (%ld messages, %ld bytes at the end)", NQ,
       want_m, want_b);

    /* IPC_RMID of a non-empty queue. */
    struct msqid_ds ds;
    m.t = 1;
    msgsnd(q[0], &m, 33, IPC_NOWAIT);
    want_m++, want_b += 33;
    msgctl(q[0], IPC_STAT, &ds);
    long gone_m = (long)ds.msg_qnum, gone_b = (long)ds.__msg_cbytes;
    ok(msgctl(q[0], IPC_RMID, NULL) == 0, "a queue holding %ld messages (%ld bytes) removed", gone_m, gone_b);
    q[0] = -1;
    want_m -= gone_m, want_b -= gone_b;
    ok(check(1, "after IPC_RMID"), "MSG_INFO exact after IPC_RMID of a non-empty queue (%ld / %ld)", want_m, want_b);
    q[0] = msgget(IPC_PRIVATE, IPC_CREAT | 0666);
    ok(check(1, "a new queue"), "a new queue (index %d) counts as empty", q[0] % 32768);
    msgsnd(q[0], &m, 5, IPC_NOWAIT);
    want_m++, want_b += 5;
    ok(check(1, "a new queue"), "its first message counts");
    remove_queues();
}

/* The stranger: as uid 65534, sends 2 messages of type 1 (7 and 100
 * bytes) to the queue and receives the first of type 1 (7 bytes). */
static int stranger(int id) {
    m.t = 1;
    if (msgsnd(id, &m, 7, IPC_NOWAIT) || msgsnd(id, &m, 100, IPC_NOWAIT)) return errno == EACCES ? 2 : 1;
    return msgrcv(id, &m, sizeof m.b, 1, IPC_NOWAIT) == 7 ? 0 : 1;
}

static void a_member(void) {
    make_queues();
    m.t = 2;
    msgsnd(q[1], &m, 50, IPC_NOWAIT);
    msgsnd(q[2], &m, 60, IPC_NOWAIT);
    want_m = 2, want_b = 110;
    check(1, "before the stranger");
    char sid[16];
    snprintf(sid, sizeof sid, "%d", q[1]);
    char *argv[] = {"t_msg_info", "stranger", sid, NULL};
    int st = tap_exec_as_nobody(NULL, argv);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 2) {
        ok(1, "# SKIP uid 65534 may not use the test's namespace");
    } else {
        ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "uid 65534 sent two messages and received one (status %#x)", st);
        want_m += 1, want_b += 100;
        ok(check(1, "after the stranger"), "MSG_INFO exact after a process that may not write ripc.ns used a queue");
        m.t = 3;
        msgsnd(q[1], &m, 9, IPC_NOWAIT);
        msgrcv(q[2], &m, sizeof m.b, 0, IPC_NOWAIT);
        want_m += 0, want_b += 9 - 60;
        ok(check(1, "after the stranger, then root"), "and after root used it again");
    }
    remove_queues();
}

static void killed(void) {
    make_queues();
    uint64_t seed = 0xdead5eed;
    /* Some messages to start with, so receivers have work. */
    for (int i = 0; i < 40; i++) {
        long dm, db;
        one_op(&seed, &dm, &db);
    }
    double end = tap_now() + KILL_SECONDS;
    int rounds = 0, bad = 0;
    while (tap_now() < end && !bad) {
        pid_t c = busy_child(tap_xorshift(&seed));
        if (c < 0) break;
        usleep((useconds_t)(tap_xorshift(&seed) % 3000));
        kill(c, SIGKILL);
        waitpid(c, NULL, 0);
        rounds++;
        if (rounds % 5 == 0 && !check(0, "after a kill")) bad = 1;
    }
    ok(!bad && rounds > 0, "%d senders/receivers killed at random: MSG_INFO agrees with IPC_STAT after each 5th",
       rounds);
    long sm, sb, im, ib, dm = 0, db = 0;
    int pool;
    stat_sum(&sm, &sb);
    info(&im, &ib, &pool);
    for (int i = 0; i < nqs; i++) {
        ssize_t n;
        while ((n = msgrcv(q[i], &m, sizeof m.b, 0, IPC_NOWAIT | MSG_NOERROR)) >= 0) dm++, db += n;
    }
    ok(im == sm && ib == sb && dm == sm && db == sb,
       "what the queues held (%ld messages, %ld bytes) is what MSG_INFO said (%ld / %ld) and IPC_STAT (%ld / %ld)", dm,
       db, im, ib, sm, sb);
    want_m = want_b = 0;
    ok(check(1, "drained"), "all received: MSG_INFO 0 messages, 0 bytes (no drift)");
    remove_queues();
    info(&im, &ib, &pool);
    ok(im == 0 && ib == 0 && pool == 0, "all removed: MSG_INFO %ld / %ld, %d queues", im, ib, pool);
}

/* Many queues: records stored between operations (the unchecked
 * MSG_INFO calls) must never outlive a change; a queue removed and one
 * created at its index between two calls included. */
static void many_groups(void) {
    nqs = NQ_MANY;
    make_queues();
    uint64_t seed = 0x6a09e667;
    int bad = 0, k = 0, removed = 0;
    double end = tap_now() + 20;
    for (k = 1; k <= 3000 && !bad && tap_now() < end; k++) {
        long dm, db, im, ib;
        int pool;
        one_op(&seed, &dm, &db);
        want_m += dm;
        want_b += db;
        if (k % 7 == 0) info(&im, &ib, &pool);
        if (k % 250 == 0) {
            /* A queue removed (whatever it holds), a new one made: the
             * lowest free index, the one just freed. */
            int i = (int)(tap_xorshift(&seed) % NQ_MANY);
            struct msqid_ds ds;
            if (msgctl(q[i], IPC_STAT, &ds) == 0 && msgctl(q[i], IPC_RMID, NULL) == 0) {
                want_m -= (long)ds.msg_qnum, want_b -= (long)ds.__msg_cbytes;
                q[i] = msgget(IPC_PRIVATE, IPC_CREAT | 0666);
                removed++;
            }
            if (!check(1, "after a removal and a new queue")) bad = 1;
        }
        if (k % 100 == 0 && !check(1, "many queues")) bad = 1;
    }
    ok(!bad && removed > 0, "%d operations over %d queues, %d removed and made again, MSG_INFO called between: exact",
       k - 1, NQ_MANY, removed);

    /* Streams over all the queues, SIGKILLed mid-stream; MSG_INFO while
     * they run, then once the queues were looked at (IPC_STAT repairs). */
    int rounds = 0;
    bad = 0;
    end = tap_now() + 1.5;
    while (tap_now() < end && !bad) {
        pid_t c = busy_child(tap_xorshift(&seed));
        if (c < 0) break;
        long im, ib;
        int pool;
        for (int i = 0, n = (int)(tap_xorshift(&seed) % 4); i < n; i++) {
            usleep((useconds_t)(tap_xorshift(&seed) % 1500));
            info(&im, &ib, &pool);
        }
        kill(c, SIGKILL);
        waitpid(c, NULL, 0);
        rounds++;
        info(&im, &ib, &pool);
        if (!check(0, "after a killed stream")) bad = 1;
        info(&im, &ib, &pool);
        if (!check(0, "again")) bad = 1;
    }
    ok(!bad && rounds > 0, "%d streams over %d queues killed at random: MSG_INFO equals the sum of IPC_STAT after each",
       rounds, NQ_MANY);
    remove_queues();
    nqs = NQ;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "stranger") == 0) return stranger(atoi(argv[2]));
    setvbuf(stdout, NULL, _IONBF, 0);
    /* The kernel's queues of this test alone (root may make a namespace). */
    int own = unshare(CLONE_NEWIPC) == 0;
    if (backend_is_kernel() && !own) {
        printf("1..0 # SKIP no private IPC namespace (unshare -i): other queues would count\n");
        return 0;
    }
    for (int i = 0; i < NQ_MANY; i++) q[i] = -1;
    tap_subtest("sends_and_receives", sends_and_receives);
    tap_subtest("a_member", a_member);
    tap_subtest("killed", killed);
    tap_subtest("many_groups", many_groups);
    return done_testing();
}
