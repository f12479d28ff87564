/* t_msg_threads.c — each thread's own cached queue (both backends).
 *
 * The drop-in's msgsnd/msgrcv keep the thread's last queue in a
 * thread-local, which the library reaches through a word of its own in
 * the initial-exec TLS model (src/msg/mod.rs, `last_ie`: a word every
 * thread has at the same offset from its thread pointer). A word shared
 * by the threads, or one a new thread inherits from an exited one, would
 * hand a thread another thread's cache: messages on the wrong queue, or
 * two threads in one cache at once.
 *
 * 1. Four threads, each with a queue of its own, send and receive
 *    messages tagged with the thread and a sequence number, alternating
 *    with a second queue of their own (so the cache is replaced on every
 *    call); each receive must return the thread's own message, in order,
 *    and every queue ends empty.
 * 2. 200 short-lived threads, one after another and two at a time, each
 *    using a queue of its own once; a thread created after another exited
 *    must not see that thread's cache (its message lands in its own
 *    queue). */
#include "ripc_sysv.h"
#include "tap.h"

#include <pthread.h>
#include <stdatomic.h>

#define THREADS 4
#define ROUNDS 20000

struct msg {
    long mtype;
    int who, seq, pad[13];
};

struct arg {
    int who, qa, qb, bad, done;
};

static void *pair_loop(void *p) {
    struct arg *a = p;
    double t0 = tap_now();
    for (int i = 0; i < ROUNDS && tap_now() - t0 < 20; i++) {
        int q = (i & 1) ? a->qb : a->qa;
        struct msg m = {1 + a->who, a->who, i, {0}}, r = {0, -1, -1, {0}};
        if (msgsnd(q, &m, sizeof m - sizeof m.mtype, IPC_NOWAIT) != 0 ||
            msgrcv(q, &r, sizeof r - sizeof r.mtype, 0, IPC_NOWAIT) != (ssize_t)(sizeof r - sizeof r.mtype) ||
            r.mtype != 1 + a->who || r.who != a->who || r.seq != i)
            a->bad++;
        a->done++;
    }
    return NULL;
}

static int qnum(int q) {
    struct msqid_ds ds;
    return msgctl(q, IPC_STAT, &ds) == 0 ? (int)ds.msg_qnum : -1;
}

static void *once(void *p) {
    struct arg *a = p;
    struct msg m = {1, a->who, 0, {0}}, r = {0, -1, -1, {0}};
    if (msgsnd(a->qa, &m, sizeof m - sizeof m.mtype, IPC_NOWAIT) != 0 ||
        msgrcv(a->qa, &r, sizeof r - sizeof r.mtype, 0, IPC_NOWAIT) < 0 || r.who != a->who)
        a->bad++;
    /* Left in the queue for the main thread to find there. */
    if (msgsnd(a->qa, &m, sizeof m - sizeof m.mtype, IPC_NOWAIT) != 0) a->bad++;
    a->done = 1;
    return NULL;
}

int main(void) {
    struct arg a[THREADS];
    pthread_t th[THREADS];
    int made = 1;
    for (int i = 0; i < THREADS; i++) {
        a[i] = (struct arg){i, msgget(IPC_PRIVATE, IPC_CREAT | 0600), msgget(IPC_PRIVATE, IPC_CREAT | 0600), 0, 0};
        made &= a[i].qa >= 0 && a[i].qb >= 0;
    }
    ok(made, "a pair of queues per thread");
    for (int i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, pair_loop, &a[i]);
    int bad = 0, done = 0, left = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        bad += a[i].bad;
        done += a[i].done;
        left += qnum(a[i].qa) + qnum(a[i].qb);
    }
    diag("%d send + receive pairs in all", done);
    ok(bad == 0, "each thread received its own messages, in order (%d wrong)", bad);
    ok(done >= THREADS * 1000, "the threads made progress (%d pairs)", done);
    ok(left == 0, "every queue ends empty (%d left)", left);
    for (int i = 0; i < THREADS; i++) {
        msgctl(a[i].qa, IPC_RMID, NULL);
        msgctl(a[i].qb, IPC_RMID, NULL);
    }

    /* Short-lived threads: two at a time, 200 in all. */
    int wrong = 0, misplaced = 0;
    for (int i = 0; i < 200; i += 2) {
        struct arg b[2];
        pthread_t t[2];
        for (int k = 0; k < 2; k++) {
            b[k] = (struct arg){i + k, msgget(IPC_PRIVATE, IPC_CREAT | 0600), -1, 0, 0};
            pthread_create(&t[k], NULL, once, &b[k]);
        }
        for (int k = 0; k < 2; k++) {
            pthread_join(t[k], NULL);
            struct msg r = {0, -1, -1, {0}};
            wrong += b[k].bad + !b[k].done;
            if (msgrcv(b[k].qa, &r, sizeof r - sizeof r.mtype, 0, IPC_NOWAIT) < 0 || r.who != i + k ||
                qnum(b[k].qa) != 0)
                misplaced++;
            msgctl(b[k].qa, IPC_RMID, NULL);
        }
    }
    ok(wrong == 0, "200 short-lived threads each used their own queue (%d wrong)", wrong);
    ok(misplaced == 0, "each left its message in its own queue (%d misplaced)", misplaced);
    return done_testing();
}
