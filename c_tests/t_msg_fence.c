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
 * here). Then the stopped child is continued and keeps working, or (one
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

static double timed_send(int q, long type) {
    struct num_msg m = {type, 0, 0, {0}};
    double t0 = tap_now();
    int r = msgsnd(q, &m, NUM_TEXT, 0);
    double t = tap_now() - t0;
    return r == 0 ? t : 1e9;
}

static double timed_recv(int q, long type) {
    struct num_msg m;
    double t0 = tap_now();
    ssize_t r = msgrcv(q, &m, NUM_TEXT, type, 0);
    double t = tap_now() - t0;
    return r >= 0 ? t : 1e9;
}

static int q = -1;

static void trials(void) {
    double worst = 0;
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
        sleep_us(2000 + tap_xorshift(&rng) % 20000);
        kill(victim, SIGSTOP);
        int st;
        waitpid(victim, &st, WUNTRACED);
        double a = timed_send(q, 2);
        double b = timed_recv(q, 2);
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
