/* numbered.h — numbered, self-checking messages through one queue, for
 * the tests that stop or freeze the peers moving them (t_msg_fence,
 * t_freezer): a sender that keeps at most NUM_INFLIGHT unreceived (the
 * queue never fills, so the test's own msgsnd never waits for room;
 * meanwhile it sends itself a type 3 message and takes it back, so that
 * it keeps taking both of the queue's locks), a receiver polling type 1
 * with IPC_NOWAIT without sleeping (it keeps taking the receive lock), and
 * the accounting at the end of a trial. The state lives in shared memory
 * (struct num_shared), zeroed before each trial. Include after tap.h. */
#ifndef RIPC_NUMBERED_H
#define RIPC_NUMBERED_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define NUM_MAXSEQ 200000
#define NUM_INFLIGHT 100 /* 6400 bytes of text: a default queue holds 16384 */

struct num_shared {
    volatile int stop_send;  /* the sender ends its loop */
    volatile int stop_recv;  /* the receiver ends once the queue has no type 1 */
    volatile uint32_t sent;  /* the last sequence number msgsnd returned for */
    volatile uint32_t recvd; /* messages the receiver took */
    volatile int bad;        /* a receiver saw a damaged or repeated message */
    volatile uint8_t got[NUM_MAXSEQ + 2];
};

struct num_msg {
    long mtype;
    uint32_t seq, check;
    char pad[56];
};

#define NUM_TEXT (sizeof(struct num_msg) - sizeof(long))

static inline uint32_t num_check_of(uint32_t seq) {
    return seq * 2654435761u ^ 0x5bd1e995u;
}

/* Records a received type 1 message (a damaged or repeated one: bad). */
static inline void num_note(struct num_shared *sh, const struct num_msg *m) {
    if (m->seq == 0 || m->seq > NUM_MAXSEQ || m->check != num_check_of(m->seq) || sh->got[m->seq]) {
        sh->bad = 1;
        return;
    }
    sh->got[m->seq] = 1;
    sh->recvd++;
}

/* The sender's loop, until stop_send: exits 0, or 1 (type 3) or 2 (a
 * numbered send) with the error on stderr. */
static inline void num_sender(struct num_shared *sh, int q) {
    struct num_msg m = {1, 0, 0, {0}};
    for (uint32_t seq = 1; !sh->stop_send && seq <= NUM_MAXSEQ; seq++) {
        while (seq - 1 - sh->recvd >= NUM_INFLIGHT && !sh->stop_send) {
            struct num_msg x = {3, 0, 0, {0}};
            if (msgsnd(q, &x, NUM_TEXT, 0) != 0 || msgrcv(q, &x, NUM_TEXT, 3, 0) < 0) {
                fprintf(stderr, "# sender: type 3: %s\n", strerror(errno));
                _exit(1);
            }
        }
        if (sh->stop_send) break;
        m.seq = seq;
        m.check = num_check_of(seq);
        while (msgsnd(q, &m, NUM_TEXT, 0) != 0) {
            if (errno != EINTR) {
                fprintf(stderr, "# sender: msgsnd: %s\n", strerror(errno));
                _exit(2);
            }
        }
        sh->sent = seq;
    }
    _exit(0);
}

/* The receiver's loop: exits 0 once stop_recv is set and no type 1 is
 * left, 1 (with the error on stderr) when msgrcv fails otherwise. */
static inline void num_receiver(struct num_shared *sh, int q) {
    struct num_msg m;
    for (;;) {
        if (msgrcv(q, &m, NUM_TEXT, 1, IPC_NOWAIT) < 0) {
            if (errno != ENOMSG && errno != EINTR) {
                fprintf(stderr, "# receiver: msgrcv: %s\n", strerror(errno));
                _exit(1);
            }
            if (sh->stop_recv) _exit(0);
            continue; /* busy: it keeps taking the lock */
        }
        num_note(sh, &m);
    }
}

/* After a trial (both peers gone): takes what is left of types 1 (noted)
 * and 3, then counts the numbers sent but not received (*missing) and
 * those received beyond the last one sent (*beyond). */
static inline void num_account(struct num_shared *sh, int q, uint32_t *missing, uint32_t *beyond) {
    struct num_msg m;
    while (msgrcv(q, &m, NUM_TEXT, 1, IPC_NOWAIT) >= 0) num_note(sh, &m);
    while (msgrcv(q, &m, NUM_TEXT, 3, IPC_NOWAIT) >= 0) {
    }
    uint32_t sent = sh->sent;
    *missing = *beyond = 0;
    for (uint32_t i = 1; i <= sent; i++) *missing += !sh->got[i];
    for (uint32_t i = sent + 1; i <= NUM_MAXSEQ; i++) *beyond += sh->got[i];
}

/* At the end (every message taken): the queue is empty, and (user
 * backend, whose namespace is the test's own) MSG_INFO counts no message.
 * Two TAP lines. */
static inline void num_all_taken(int q) {
    struct msqid_ds ds = {0};
    ok(msgctl(q, IPC_STAT, &ds) == 0 && ds.msg_qnum == 0 && ds.msg_cbytes == 0,
       "the queue is empty: msg_qnum %lu, msg_cbytes %lu", (unsigned long)ds.msg_qnum,
       (unsigned long)ds.msg_cbytes);
    struct msginfo mi = {0};
    int max = backend_is_kernel() ? 0 : msgctl(0, MSG_INFO, (struct msqid_ds *)&mi);
    if (backend_is_kernel()) mi.msgmap = mi.msgtql = 0; /* system-wide: not ours */
    ok(max >= 0 && mi.msgmap == 0 && mi.msgtql == 0, "MSG_INFO counts no message (%d, %d)%s", mi.msgmap,
       mi.msgtql, backend_is_kernel() ? " # SKIP kernel backend: MSG_INFO is system-wide" : "");
}

#endif
