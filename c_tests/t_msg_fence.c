/* t_msg_fence.c — a stopped lock holder delays no untimed queue call
 * (docs/bounded-time.md, "Fencing a stopped holder"), under both backends.
 *
 * 24 trials, alternately:
 *  - a sender child loops msgsnd of numbered messages (type 1) while a
 *    drainer child receives them; the sender is SIGSTOPped at a random
 *    moment (it may hold slock);
 *  - a sender child loops msgsnd while a receiver child loops msgrcv; the
 *    receiver is SIGSTOPped at a random moment (it may hold rlock).
 * The sender keeps at most 100 messages unreceived, so the queue never
 * fills (meanwhile it sends itself a type 3 message and takes it back);
 * the receiver polls with IPC_NOWAIT without sleeping: both are inside
 * the queue's locks much of the time, where the stop lands. While the child stays stopped, this process's *untimed* msgsnd
 * (type 2) and msgrcv (type 2) must each return within 1 s (the kernel never blocks
 * them; ripc before: until the stopped process was continued, for ever
 * here). In every other pair of trials an IPC_NOWAIT msgrcv and msgsnd
 * (type 2; the stopped child's side first, a type 2 message queued before
 * the stop) come first: performed, as the kernel performs them, within
 * 250 ms (ripc before: EAGAIN / ENOMSG when the stop landed inside a
 * lock; docs/bounded-time.md, "IPC_NOWAIT beside a stopped holder"). Then the stopped child is continued and keeps working, or (one
 * trial in three) SIGKILLed. At the end of each trial every numbered
 * message sent was received exactly once (the receivers record each in
 * shared memory; a receiver killed may have taken one it did not record:
 * at most one missing then; a sender killed inside msgsnd may have sent
 * one more than it recorded), none twice, each intact; after all trials
 * msg_qnum and msg_cbytes are 0, MSG_INFO counts nothing (user backend:
 * the namespace is this test's), and the queue is removed (run1.sh checks
 * that no file is left).
 */
#include "ripc_sysv.h"
#include "tap.h"
#include "numbered.h"

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define TRIALS 24
#define CALL_MAX 1.0 /* seconds an untimed call may take beside the stopped child */
#define NOWAIT_MAX 0.25 /* seconds an IPC_NOWAIT call may take there */

static struct num_shared *sh;
static uint64_t rng = 0x2545f4914f6cdd1dull;

static void child_start(void) {
    tap_peer_start(100);
}

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static void sender(int q) {
    child_start();
    num_sender(sh, q);
}

static void receiver(int q) {
    child_start();
    num_receiver(sh, q);
}

static pid_t spawn(void (*fn)(int), int q) {
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) fn(q);
    return c;
}

static int reap(pid_t c) {
    int st = 0;
    while (waitpid(c, &st, 0) < 0 && errno == EINTR) {
    }
    return st;
}

static int call_errno;     /* the errno of the last timed call that failed */
static double call_failed; /* and the time it took */

/* The time msgsnd of a type `type` message takes (flags `fl`), 1e9 when it
 * fails. */
static double timed_send(int q, long type, int fl) {
    struct num_msg m = {type, 0, 0, {0}};
    double t0 = tap_now();
    int r = msgsnd(q, &m, NUM_TEXT, fl);
    double t = tap_now() - t0;
    if (r != 0) call_errno = errno, call_failed = t;
    return r == 0 ? t : 1e9;
}

static double timed_recv(int q, long type, int fl) {
    struct num_msg m;
    double t0 = tap_now();
    ssize_t r = msgrcv(q, &m, NUM_TEXT, type, fl);
    double t = tap_now() - t0;
    if (r < 0) call_errno = errno, call_failed = t;
    return r >= 0 ? t : 1e9;
}

static int q = -1;

static void trials(void) {
    double worst = 0, nworst = 0;
    int nbad = 0, nowait_trials = 0;
    int slow = 0, lost = 0, extra = 0, dup_or_bad = 0, stuck = 0, killed = 0;
    for (int t = 0; t < TRIALS; t++) {
        memset((void *)sh, 0, sizeof *sh);
        int stop_receiver = t % 2 == 1;
        int kill_it = t % 3 == 2;
        pid_t s = spawn(sender, q);
        pid_t r = spawn(receiver, q);
        if (s < 0 || r < 0) {
            ok(0, "fork");
            break;
        }
        pid_t victim = stop_receiver ? r : s;
        /* Every other pair of trials, IPC_NOWAIT calls first (below): a
         * type 2 message is queued for them before the stop. */
        int nowait_first = (t / 2) % 2 == 0;
        if (nowait_first && timed_send(q, 2, 0) >= 1e9) ok(0, "msgsnd type 2");
        sleep_us(2000 + tap_xorshift(&rng) % 20000);
        kill(victim, SIGSTOP);
        int st;
        waitpid(victim, &st, WUNTRACED);
        /* IPC_NOWAIT calls with the other child stopped too (it may hold
         * the queue's other lock, or wait for the first child inside
         * it): every lock they need is free or held by a stopped process.
         * The stopped child's own side first (it needs the lock the child
         * may hold: a msgrcv beside a stopped receiver, a msgsnd beside a
         * stopped sender), then the other side's. The kernel performs both
         * at once (the queue is never full, and a type 2 message is
         * there), so they must succeed, within NOWAIT_MAX: the first moves
         * the queue away from a stopped holder of its lock. (A lock held
         * by a *running* process — preempted, or itself waiting for the
         * stopped one inside the queue's other lock — is still waited for
         * NOWAIT_BOUND only, then EAGAIN / ENOMSG: docs/bounded-time.md,
         * "IPC_NOWAIT beside a stopped holder".) */
        double a, b;
        int left = 0; /* type 2 messages left for after the trial */
        if (nowait_first) {
            pid_t other = stop_receiver ? s : r;
            kill(other, SIGSTOP);
            waitpid(other, &st, WUNTRACED);
            const char *first = stop_receiver ? "msgrcv" : "msgsnd";
            const char *second = stop_receiver ? "msgsnd" : "msgrcv";
            double na = stop_receiver ? timed_recv(q, 2, IPC_NOWAIT) : timed_send(q, 2, IPC_NOWAIT);
            double nb = na >= 1e9                 ? 0
                        : stop_receiver ? timed_send(q, 2, IPC_NOWAIT)
                                        : timed_recv(q, 2, IPC_NOWAIT);
            left = 1 + (na >= 1e9 ? 0 : stop_receiver ? -1 : 1) +
                   (na >= 1e9 || nb >= 1e9 ? 0 : stop_receiver ? 1 : -1);
            kill(other, SIGCONT);
            double nw = na > nb ? na : nb;
            if (nw < 1e9 && nw > nworst) nworst = nw;
            if (nw > NOWAIT_MAX) {
                nbad++;
                diag("trial %d (%s stopped): IPC_NOWAIT %s %s, %s %s (%s after %.3f s)", t,
                     stop_receiver ? "receiver" : "sender", first,
                     na < 1e9 ? "performed" : "failed", second,
                     na >= 1e9 ? "not tried" : nb < 1e9 ? "performed" : "failed",
                     strerror(call_errno), call_failed);
            }
            nowait_trials++;
        }
        a = timed_send(q, 2, 0);
        b = timed_recv(q, 2, 0);
        double w = a > b ? a : b;
        if (w > worst) worst = w;
        if (w > CALL_MAX) {
            slow++;
            diag("trial %d (%s stopped): msgsnd %.3f s, msgrcv %.3f s", t,
                 stop_receiver ? "receiver" : "sender", a, b);
        }
        if (kill_it) {
            kill(victim, SIGKILL);
            killed++;
        } else {
            kill(victim, SIGCONT);
            sleep_us(5000); /* it keeps working */
        }
        /* The type 2 messages the IPC_NOWAIT calls left (the one queued
         * before the stop, give or take theirs). */
        for (; left > 0; left--)
            if (timed_recv(q, 2, 0) >= 1e9) ok(0, "msgrcv type 2: %s", strerror(call_errno));
        sh->stop_send = 1;
        int sst = reap(s);
        sh->stop_recv = 1;
        int rst = reap(r);
        int s_ok = (kill_it && victim == s) ? WIFSIGNALED(sst) : (WIFEXITED(sst) && WEXITSTATUS(sst) == 0);
        int r_ok = (kill_it && victim == r) ? WIFSIGNALED(rst) : (WIFEXITED(rst) && WEXITSTATUS(rst) == 0);
        if (!s_ok || !r_ok) {
            stuck++;
            diag("trial %d: sender status %#x, receiver status %#x", t, sst, rst);
        }
        /* What is left of type 1 (a receiver killed, or the last ones). */
        uint32_t sent = sh->sent, missing, beyond;
        num_account(sh, q, &missing, &beyond);
        if (sh->bad) dup_or_bad++;
        /* A receiver killed may have taken one message it did not note; a
         * sender killed inside msgsnd may have sent the next one. */
        uint32_t may_miss = kill_it && victim == r ? 1 : 0;
        uint32_t may_add = kill_it && victim == s ? 1 : 0;
        if (missing > may_miss || beyond > may_add) {
            lost += missing > may_miss;
            extra += beyond > may_add;
            diag("trial %d (%s %s): %u sent, %u missing, %u beyond", t,
                 stop_receiver ? "receiver" : "sender", kill_it ? "killed" : "continued", sent,
                 missing, beyond);
        }
    }
    diag("worst untimed call beside a stopped holder: %.1f ms", worst * 1e3);
    ok(slow == 0, "untimed msgsnd and msgrcv return within %.0f s beside a stopped holder (%d slow)",
       CALL_MAX, slow);
    diag("worst IPC_NOWAIT call beside a stopped holder: %.1f ms", nworst * 1e3);
    ok(nbad == 0,
       "IPC_NOWAIT msgsnd and msgrcv beside a stopped holder performed, as on the kernel, "
       "within %.0f ms (%d of %d trials not)",
       NOWAIT_MAX * 1e3, nbad, nowait_trials);
    ok(stuck == 0, "the stopped child keeps working once continued, or dies when killed (%d not)",
       stuck);
    ok(dup_or_bad == 0, "no message received twice or damaged (%d trials)", dup_or_bad);
    ok(lost == 0 && extra == 0, "every message sent received exactly once (%d lost, %d extra)",
       lost, extra);
    ok(killed == TRIALS / 3, "%d trials killed the stopped child", killed);
    num_all_taken(q);
}

int main(void) {
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) return 1;
    q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    ok(q >= 0, "a queue");
    if (q < 0) return done_testing();
    /* A call that waits for the stopped child (before: for ever) fails
     * the part after TAP_SUBTEST_SECONDS; the children die with it. */
    tap_subtest("stopped lock holders", trials);
    ok(msgctl(q, IPC_RMID, NULL) == 0, "removed");
    return done_testing();
}
