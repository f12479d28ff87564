/* sem_peer.h — a set-lock holder stopped at a random moment, for the
 * tests of what a stopped holder may delay (t_sem_fence,
 * t_sem_fence_sleep, t_fence_stranger; docs/bounded-time.md, "Sets"),
 * and the stopping of any such peer (peer_stopped, sem_peer_end).
 *
 * The peer is a forked child looping two SEM_UNDO semops of SEM_PEER_N
 * operations each (+1 on each of the set's semaphores SEM_PEER_FIRST ..
 * SEM_PEER_FIRST + SEM_PEER_N - 1, then -1 on each): a multi-operation
 * call holds the set's lock for most of its time, so a SIGSTOP lands
 * inside the lock most often, and freezes semaphore SEM_PEER_FIRST when
 * it lands in the middle of the call's changes. Its words (`struct
 * sem_peer`) live in memory shared with the test (MAP_SHARED). When the
 * peer ends — killed (its adjustments undone once) or told to stop
 * after a completed pair — its semaphores are all 0 again.
 */
#ifndef SEM_PEER_H
#define SEM_PEER_H

#include "tap.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <unistd.h>

#define SEM_PEER_FIRST 2
#define SEM_PEER_N 32

struct sem_peer {
    volatile int stop;   /* the test asks the peer to end */
    volatile int rounds; /* the peer's completed pairs */
};

/* One SEM_UNDO semop of `delta` on each of the peer's semaphores. */
static inline int sem_peer_op(int sid, int delta) {
    struct sembuf ops[SEM_PEER_N];
    for (int i = 0; i < SEM_PEER_N; i++) {
        ops[i].sem_num = (unsigned short)(SEM_PEER_FIRST + i);
        ops[i].sem_op = (short)delta;
        ops[i].sem_flg = SEM_UNDO;
    }
    return semop(sid, ops, SEM_PEER_N);
}

/* The peer's loop (in the forked child): until w->stop; exit 0, or 1 when
 * a semop fails (other than EINTR). */
static inline void sem_peer_loop(struct sem_peer *w, int sid) {
    tap_peer_start(100);
    while (!w->stop) {
        if (sem_peer_op(sid, 1) != 0 || sem_peer_op(sid, -1) != 0) {
            if (errno == EINTR) continue;
            fprintf(stderr, "# peer: semop: %s\n", strerror(errno));
            _exit(1);
        }
        w->rounds++;
    }
    _exit(0);
}

/* A peer running `loop(w, id)` in a forked child (a loop that counts its
 * rounds in w->rounds until w->stop, then exits), let make 3 rounds, then
 * SIGSTOPped 1 ms to 1 ms + max_us later (a moment drawn from *rng): its
 * pid, < 0 when fork failed. Clears *w first. */
static inline pid_t peer_stopped(struct sem_peer *w, void (*loop)(struct sem_peer *, int), int id,
                                 uint64_t *rng, long max_us) {
    w->stop = 0;
    w->rounds = 0;
    fflush(stdout);
    pid_t p = fork();
    if (p == 0) loop(w, id);
    if (p < 0) return p;
    double t0 = tap_now();
    while (w->rounds < 3 && tap_now() - t0 < 10) tap_sleep_us(500);
    tap_sleep_us(1000 + (long)(tap_xorshift(rng) % (uint64_t)max_us));
    kill(p, SIGSTOP);
    int st;
    waitpid(p, &st, WUNTRACED);
    return p;
}

/* The set's peer (sem_peer_loop) on set `sid`, stopped as peer_stopped
 * says. */
static inline pid_t sem_peer_stopped(struct sem_peer *w, int sid, uint64_t *rng, long max_us) {
    return peer_stopped(w, sem_peer_loop, sid, rng, max_us);
}

/* The stopped peer SIGKILLed (kill_it) or continued and let work 5 ms,
 * then told to stop and reaped: whether it ended as it should (killed,
 * or exiting 0); its wait status in *pst (when pst is not NULL). */
static inline int sem_peer_end(struct sem_peer *w, pid_t p, int kill_it, int *pst) {
    if (kill_it) {
        kill(p, SIGKILL);
    } else {
        kill(p, SIGCONT);
        tap_sleep_us(5000); /* it keeps working */
    }
    w->stop = 1;
    int st = tap_reap(p);
    if (pst) *pst = st;
    return kill_it ? WIFSIGNALED(st) : (WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

#endif
