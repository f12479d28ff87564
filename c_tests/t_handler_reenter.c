/* t_handler_reenter.c — a signal handler's calls on an object whose lock
 * its own interrupted thread holds return, under both backends (the
 * kernel the oracle: its system calls are atomic with respect to the
 * caller's own handlers, so every call there is performed at once).
 *
 * A child loops on one object: msgsnd + msgrcv of type 1 on a queue, or a
 * two-operation semop P then V on semaphores 0 and 2 of a set (every
 * other round with SEM_UNDO). A SIGPROF timer (the child's CPU time, so it
 * fires while the loop runs, 100-900 us apart at random, re-armed by the
 * handler) interrupts it anywhere, often inside the object's lock under
 * the user backend (every queue operation takes one). The handler calls
 * on the same object:
 *
 *  - queue: IPC_STAT (must succeed); msgsnd of type 2 with IPC_NOWAIT,
 *    then msgrcv of type 2 with IPC_NOWAIT (the second fails with ENOMSG
 *    only when its own thread holds the receivers' lock: a landing); an
 *    untimed msgsnd of type 3.
 *  - set: GETVAL and IPC_STAT (must succeed: GETVAL of semaphore 1, which
 *    only the handler changes, must equal the handler's own count);
 *    IPC_NOWAIT V and P of semaphore 1 (EAGAIN only when its own thread
 *    holds the set's lock: a landing), an untimed V, a 50 ms timed P.
 *
 * Before (the library of dfd517a): a handler that landed inside its own
 * thread's lock waited for itself — IPC_STAT and GETVAL for ever — and
 * the child hung. Now each call returns within CALL_MAX; where the user
 * backend cannot perform a call without the lock its interrupted thread
 * holds, it answers as that call's timeout would (EAGAIN; ENOMSG for
 * msgrcv), or EDEADLK for an untimed call (README, "Deliberate
 * differences"); the kernel performs them all. Exact counts at the end:
 * every type-2 and type-3 message sent is received once (the rest
 * drained), msg_qnum 0; semaphore 1 holds what the handler's successful
 * calls left, semaphores 0 and 2 their initial 1.
 *
 * Third part: the loop cycles over 8 sets, then 8 queues (each call misses
 * the thread's one-entry cache and looks the object up in the
 * namespace's, under a mutex); the handler calls GETVAL and IPC_STAT on
 * them. Before, a handler that landed inside that mutex waited for it for
 * ever, and one that landed inside `malloc` in a queue's look-up (which
 * allocated) corrupted the heap.
 *
 * Same-semaphore part: the loop's P and V (SEM_UNDO, one operation or
 * two, which the user backend makes without the set's lock: a claim of
 * the word) are on semaphore 0, and so are the handler's: GETVAL (its own
 * net count, plus 0 or 1), IPC_NOWAIT V and P, an untimed V, a 50 ms
 * timed P. Before, a handler that landed inside its thread's claim and
 * made an untimed call retried for ever (the claim cannot end before the
 * handler returns); now it answers as the handler's calls on its own
 * thread's lock do (EDEADLK untimed, EAGAIN otherwise). Exact at the
 * end: semaphore 0 holds 1 plus what the handler's calls left.
 *
 * Segment part: the loop attaches a segment, writes it and detaches it
 * (the process's attach table is held through most of each call under the
 * user backend); the handler calls IPC_STAT (must succeed, nattch 0-2),
 * then attaches, writes and detaches the segment itself. Before, a handler
 * that landed inside its own thread's attach table waited for it for
 * ever; now IPC_STAT goes on without it, and shmat and shmdt, which must
 * change the table, answer EDEADLK there (README, "Deliberate
 * differences"; the kernel performs them). nattch 0 at the end.
 *
 * Last part: the handler removes the queue, then the set, then the segment
 * (IPC_RMID) at a random moment of the loop: the removal succeeds in
 * CALL_MAX, the loop then ends with EIDRM or EINVAL, and nothing is left
 * in the namespace.
 *
 * Each child is bounded (20 s, then SIGKILLed and counted as hung, its
 * stack printed).
 */
#include "ripc_sysv.h"
#include "tap.h"

#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define RUN_SECS 1.5
#define CALL_MAX 0.5
#define CHILD_MAX 20.0

struct msg {
    long mtype;
    char text[64];
};

struct report {
    long rounds, signals, landed, deadlk, bad, stat_bad, val_bad;
    long sent2, got2, sent3, got3;
    int val1;         /* semaphore 1 as the handler's calls left it */
    double worst;     /* the slowest handler call, s */
    int rmid_rc, rmid_errno, end_errno;
    double rmid_took;
};

static struct report *rep;
static int obj_id, is_set, is_shm, same_sem, do_rmid;
/* Fourth part: the loop cycles over ROT sets (each call a miss of the
 * thread's one-entry cache, so a look-up in the process-wide cache). */
#define ROT 8
static int rot_ids[ROT], rotating;
static uint64_t seed = 0x9e3779b97f4a7c15ULL;

static void arm(long us) {
    struct itimerval it = {{0, 0}, {0, us}};
    setitimer(ITIMER_PROF, &it, NULL);
}

static double took_since(double t0) {
    double d = tap_now() - t0;
    if (d > rep->worst) rep->worst = d;
    return d;
}

static void on_queue(void) {
    struct msqid_ds ds;
    struct msg m = {2, "handler"};
    double t0 = tap_now();
    if (msgctl(obj_id, IPC_STAT, &ds) != 0) rep->stat_bad++;
    took_since(t0);
    t0 = tap_now();
    if (msgsnd(obj_id, &m, sizeof m.text, IPC_NOWAIT) == 0) {
        rep->sent2++;
        took_since(t0);
        t0 = tap_now();
        if (msgrcv(obj_id, &m, sizeof m.text, 2, IPC_NOWAIT) >= 0) rep->got2++;
        else if (errno == ENOMSG) rep->landed++;
        else rep->bad++;
    } else if (errno == EAGAIN) {
        rep->landed++;
    } else {
        rep->bad++;
    }
    took_since(t0);
    m.mtype = 3;
    t0 = tap_now();
    if (msgsnd(obj_id, &m, sizeof m.text, 0) == 0) rep->sent3++;
    else if (errno == EDEADLK) rep->deadlk++;
    else rep->bad++;
    took_since(t0);
}

/* The handler's operations on semaphore `num`, whose value only the
 * handler's own calls change net (rep->val1 counts them): IPC_NOWAIT V and
 * P (EAGAIN only when its own thread holds the set's lock or the word's
 * claim: a landing), an untimed V (EDEADLK there), a 50 ms timed P. */
static void sem_calls(unsigned short num) {
    struct sembuf up = {num, 1, IPC_NOWAIT}, down = {num, -1, IPC_NOWAIT};
    double t0 = tap_now();
    if (semop(obj_id, &up, 1) == 0) rep->val1++;
    else if (errno == EAGAIN) rep->landed++;
    else rep->bad++;
    took_since(t0);
    t0 = tap_now();
    if (rep->val1 > 0) {
        if (semop(obj_id, &down, 1) == 0) rep->val1--;
        else if (errno == EAGAIN) rep->landed++;
        else rep->bad++;
    }
    took_since(t0);
    struct sembuf up_wait = {num, 1, 0};
    t0 = tap_now();
    if (semop(obj_id, &up_wait, 1) == 0) rep->val1++;
    else if (errno == EDEADLK) rep->deadlk++;
    else rep->bad++;
    took_since(t0);
    struct sembuf down_timed = {num, -1, 0};
    struct timespec ms50 = {0, 50 * 1000 * 1000};
    t0 = tap_now();
    if (rep->val1 > 0) {
        if (semtimedop(obj_id, &down_timed, 1, &ms50) == 0) rep->val1--;
        else if (errno == EAGAIN) rep->landed++;
        else rep->bad++;
    }
    took_since(t0);
}

static void on_set(void) {
    struct semid_ds ds;
    union semun { int val; struct semid_ds *buf; } arg = {.buf = &ds};
    double t0 = tap_now();
    int v = semctl(obj_id, 1, GETVAL);
    if (v != rep->val1) rep->val_bad++;
    if (semctl(obj_id, 0, IPC_STAT, arg) != 0) rep->stat_bad++;
    took_since(t0);
    sem_calls(1);
}

/* Semaphore 0, which the loop's P and V use too: its value is the
 * handler's net count plus 1, or plus 0 while the loop holds it. */
static void on_same(void) {
    double t0 = tap_now();
    int v = semctl(obj_id, 0, GETVAL);
    if (v < rep->val1 || v > rep->val1 + 1) rep->val_bad++;
    took_since(t0);
    sem_calls(0);
}

static void on_segment(void) {
    struct shmid_ds ds;
    double t0 = tap_now();
    if (shmctl(obj_id, IPC_STAT, &ds) != 0 || ds.shm_nattch > 2 || ds.shm_segsz != 4096) rep->stat_bad++;
    took_since(t0);
    t0 = tap_now();
    char *p = shmat(obj_id, NULL, 0);
    if (p != (char *)-1) {
        p[1]++;
        if (shmdt(p) == 0) rep->sent2++;
        else if (errno == EDEADLK) rep->deadlk++;
        else rep->bad++;
    } else if (errno == EDEADLK) {
        rep->deadlk++;
    } else {
        rep->bad++;
    }
    took_since(t0);
}

static void on_rotation(void) {
    struct semid_ds ds;
    union semun { int val; struct semid_ds *buf; } arg = {.buf = &ds};
    int id = rot_ids[rep->signals % ROT];
    double t0 = tap_now();
    if (!is_set) {
        struct msqid_ds qs;
        if (msgctl(id, IPC_STAT, &qs) != 0 || qs.msg_qnum > 1) rep->stat_bad++;
        took_since(t0);
        return;
    }
    int v = semctl(id, 0, GETVAL); /* 0 inside the loop's P and V on it */
    if (v != 0 && v != 1) rep->val_bad++;
    if (semctl(id, 0, IPC_STAT, arg) != 0) rep->stat_bad++;
    took_since(t0);
}

static void handler(int sig) {
    (void)sig;
    int e = errno;
    rep->signals++;
    if (rotating) {
        on_rotation(); /* (a periodic timer: see loop) */
        errno = e;
        return;
    }
    if (do_rmid) {
        double t0 = tap_now();
        rep->rmid_rc = is_shm   ? shmctl(obj_id, IPC_RMID, NULL)
                       : is_set ? semctl(obj_id, 0, IPC_RMID)
                                : msgctl(obj_id, IPC_RMID, NULL);
        rep->rmid_errno = errno;
        rep->rmid_took = took_since(t0);
        errno = e;
        return; /* one removal; the timer is not re-armed */
    }
    if (is_shm) on_segment();
    else if (same_sem) on_same();
    else if (is_set) on_set();
    else on_queue();
    arm(100 + (long)(tap_xorshift(&seed) % 800));
    errno = e;
}

/* The child's loop until RUN_SECS have passed (or the object is gone). */
static void loop(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigaction(SIGPROF, &sa, NULL);
    seed ^= (uint64_t)getpid() << 17;
    if (rotating) {
        /* As often as the timer goes (a tick), for twice as long: a
         * landing inside the allocator is what this part looks for. */
        struct itimerval it = {{0, 1000}, {0, 1000}};
        setitimer(ITIMER_PROF, &it, NULL);
    } else {
        arm(do_rmid ? 20000 + (long)(tap_xorshift(&seed) % 300000) : 300);
    }
    double end = tap_now() + RUN_SECS * (rotating ? 2 : 1);
    struct msg m = {1, "loop"};
    struct sembuf p[2] = {{0, -1, 0}, {2, -1, 0}}, v[2] = {{0, 1, 0}, {2, 1, 0}};
    /* Removal part: on past RUN_SECS until the handler's removal, and
     * after a removal that succeeded until a call of the loop fails (a
     * removal that lands after the loop's last call of a round, once
     * RUN_SECS have passed — under load the CPU-time timer lags the
     * wall clock — must still be seen by the loop: it ran out of time,
     * wrongly reported as "ended with Success"). A loop whose calls
     * keep succeeding on a removed object is bounded by CHILD_MAX and
     * reported hung. */
    while (tap_now() < end || (do_rmid && rep->rmid_rc != -1)) {
        int r;
        if (rotating && !is_set) {
            int id = rot_ids[rep->rounds % ROT];
            while ((r = msgsnd(id, &m, sizeof m.text, 0)) != 0 && errno == EINTR) {
            }
            if (r == 0)
                while ((r = (int)msgrcv(id, &m, sizeof m.text, 1, 0)) < 0 && errno == EINTR) {
                }
            r = r < 0 ? -1 : 0;
        } else if (rotating) {
            struct sembuf down = {0, -1, 0}, up = {0, 1, 0};
            int id = rot_ids[rep->rounds % ROT];
            while ((r = semop(id, &down, 1)) != 0 && errno == EINTR) {
            }
            if (r == 0)
                while ((r = semop(id, &up, 1)) != 0 && errno == EINTR) {
                }
        } else if (is_shm) {
            char *a = shmat(obj_id, NULL, 0);
            r = a == (char *)-1 ? -1 : 0;
            if (r == 0) {
                a[0]++;
                r = shmdt(a);
            }
        } else if (same_sem) {
            /* P and V of semaphore 0 with SEM_UNDO, alone or with 2. */
            struct sembuf p1[2] = {{0, -1, SEM_UNDO}, {2, -1, SEM_UNDO}}, v1[2] = {{0, 1, SEM_UNDO}, {2, 1, SEM_UNDO}};
            size_t k = (rep->rounds & 1) + 1;
            while ((r = semop(obj_id, p1, k)) != 0 && errno == EINTR) {
            }
            if (r == 0)
                while ((r = semop(obj_id, v1, k)) != 0 && errno == EINTR) {
                }
        } else if (is_set) {
            short f = (rep->rounds & 1) ? SEM_UNDO : 0;
            p[0].sem_flg = p[1].sem_flg = v[0].sem_flg = v[1].sem_flg = f;
            while ((r = semop(obj_id, p, 2)) != 0 && errno == EINTR) {
            }
            if (r == 0)
                while ((r = semop(obj_id, v, 2)) != 0 && errno == EINTR) {
                }
        } else {
            while ((r = msgsnd(obj_id, &m, sizeof m.text, 0)) != 0 && errno == EINTR) {
            }
            if (r == 0)
                while ((r = (int)msgrcv(obj_id, &m, sizeof m.text, 1, 0)) < 0 && errno == EINTR) {
                }
            r = r < 0 ? -1 : 0;
        }
        if (r != 0) {
            rep->end_errno = errno;
            break;
        }
        rep->rounds++;
    }
    arm(0);
    if (do_rmid) return;
    if (is_set || is_shm) return;
    /* What the handler could not receive, received now. */
    struct msg d;
    while (msgrcv(obj_id, &d, sizeof d.text, 2, IPC_NOWAIT) >= 0) rep->got2++;
    while (msgrcv(obj_id, &d, sizeof d.text, 3, IPC_NOWAIT) >= 0) rep->got3++;
}

/* Runs loop() in a child, bounded by CHILD_MAX: 0 when it ended by itself. */
static int run_child(const char *what) {
    memset(rep, 0, sizeof *rep);
    rep->rmid_rc = -2;
    return tap_run_bounded(loop, CHILD_MAX, what);
}

static int kernel;

static void check_common(const char *what, int rc) {
    ok(rc == 0, "%s: the loop ended by itself (%s)", what, rc == -1 ? "hung" : rc ? "crashed" : "ok");
    diag("%s: %ld rounds, %ld signals, %ld calls answered busy, %ld EDEADLK, worst call %.2f ms", what,
         rep->rounds, rep->signals, rep->landed, rep->deadlk, rep->worst * 1e3);
    ok(rep->worst <= CALL_MAX, "%s: every handler call returned within %.1f s (worst %.2f ms)", what, CALL_MAX,
       rep->worst * 1e3);
    ok_eq(rep->bad, 0, "%s: no handler call failed otherwise", what);
    ok_eq(rep->stat_bad, 0, "%s: every IPC_STAT / GETVAL succeeded", what);
    if (kernel) {
        ok_eq(rep->landed + rep->deadlk, 0, "%s: the kernel performed every call", what);
    } else {
        ok(rep->end_errno == 0, "%s: the loop's calls all succeeded (%s)", what, strerror(rep->end_errno));
    }
}

static void queue_part(void) {
    is_set = 0;
    do_rmid = 0;
    obj_id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    if (!ok(obj_id >= 0, "msgget")) return;
    int rc = run_child("queue");
    check_common("queue", rc);
    if (!kernel && rc == 0)
        ok(rep->landed > 0, "queue: some handler calls met their own thread's lock (%ld)", rep->landed);
    ok_eq(rep->got2, rep->sent2, "queue: each type-2 message received once");
    ok_eq(rep->got3, rep->sent3, "queue: each type-3 message received once");
    struct msqid_ds ds;
    ok(msgctl(obj_id, IPC_STAT, &ds) == 0 && ds.msg_qnum == 0, "queue: empty at the end");
    msgctl(obj_id, IPC_RMID, NULL);
}

static void set_part(void) {
    is_set = 1;
    do_rmid = 0;
    obj_id = semget(IPC_PRIVATE, 3, IPC_CREAT | 0600);
    if (!ok(obj_id >= 0, "semget")) return;
    unsigned short init[3] = {1, 0, 1};
    union semun { int val; unsigned short *array; } arg = {.array = init};
    semctl(obj_id, 0, SETALL, arg);
    int rc = run_child("set");
    check_common("set", rc);
    ok_eq(rep->val_bad, 0, "set: GETVAL in the handler always read the handler's own count");
    ok_eq(semctl(obj_id, 1, GETVAL), rep->val1, "set: semaphore 1 as the handler's calls left it");
    ok_eq(semctl(obj_id, 0, GETVAL), 1, "set: semaphore 0 back to 1");
    ok_eq(semctl(obj_id, 2, GETVAL), 1, "set: semaphore 2 back to 1");
    semctl(obj_id, 0, IPC_RMID);
}

static void same_part(void) {
    is_set = 1;
    same_sem = 1;
    do_rmid = 0;
    obj_id = semget(IPC_PRIVATE, 3, IPC_CREAT | 0600);
    if (ok(obj_id >= 0, "semget")) {
        unsigned short init[3] = {1, 0, 1};
        union semun { int val; unsigned short *array; } arg = {.array = init};
        semctl(obj_id, 0, SETALL, arg);
        int rc = run_child("same semaphore");
        check_common("same semaphore", rc);
        ok_eq(rep->val_bad, 0, "same semaphore: GETVAL in the handler always read its own count plus 0 or 1");
        ok_eq(semctl(obj_id, 0, GETVAL), 1 + rep->val1, "same semaphore: semaphore 0 holds 1 and what the handler left");
        ok_eq(semctl(obj_id, 2, GETVAL), 1, "same semaphore: semaphore 2 back to 1");
        semctl(obj_id, 0, IPC_RMID);
    }
    same_sem = 0;
    is_set = 0;
}

static void segment_part(void) {
    is_set = 0;
    is_shm = 1;
    do_rmid = 0;
    obj_id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    if (ok(obj_id >= 0, "shmget")) {
        int rc = run_child("segment");
        check_common("segment", rc);
        diag("segment: %ld attachments made and ended by the handler", rep->sent2);
        if (!kernel && rc == 0)
            ok(rep->deadlk > 0, "segment: some handler calls met their own thread's attach table (%ld)",
               rep->deadlk);
        struct shmid_ds ds;
        memset(&ds, 0, sizeof ds);
        int rc_stat = shmctl(obj_id, IPC_STAT, &ds);
        ok(rc_stat == 0 && ds.shm_nattch == 0, "segment: nattch 0 at the end (%lu)", (unsigned long)ds.shm_nattch);
        shmctl(obj_id, IPC_RMID, NULL);
    }
    is_shm = 0;
}

static void rmid_part(void) {
    const char *dir = getenv("RIPC_DIR");
    static const char *const prefix[3] = {"msg.", "sem.", "shm."};
    for (int k = 0; k < 3; k++) {
        const char *what = k == 2 ? "segment, IPC_RMID" : k ? "set, IPC_RMID" : "queue, IPC_RMID";
        is_set = k == 1;
        is_shm = k == 2;
        do_rmid = 1;
        obj_id = k == 2 ? shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600)
                 : k    ? semget(IPC_PRIVATE, 3, IPC_CREAT | 0600)
                        : msgget(IPC_PRIVATE, IPC_CREAT | 0600);
        if (!ok(obj_id >= 0, "%s: made", what)) continue;
        if (k == 1) {
            unsigned short init[3] = {1, 0, 1};
            union semun { int val; unsigned short *array; } arg = {.array = init};
            semctl(obj_id, 0, SETALL, arg);
        }
        int rc = run_child(what);
        ok(rc == 0, "%s: the loop ended by itself (%s)", what, rc == -1 ? "hung" : rc ? "crashed" : "ok");
        ok(rep->rmid_rc == 0, "%s: removed by the handler (rc %d, %s) in %.2f ms", what, rep->rmid_rc,
           strerror(rep->rmid_errno), rep->rmid_took * 1e3);
        ok(rep->rmid_took <= CALL_MAX, "%s: within %.1f s", what, CALL_MAX);
        ok(rep->end_errno == EIDRM || rep->end_errno == EINVAL, "%s: the loop then ended (%s)", what,
           strerror(rep->end_errno));
        if (rep->rmid_rc != 0) {
            if (k == 2) shmctl(obj_id, IPC_RMID, NULL);
            else if (k) semctl(obj_id, 0, IPC_RMID);
            else msgctl(obj_id, IPC_RMID, NULL);
        }
        if (!kernel && dir)
            ok_eq(tap_count_names(dir, prefix[k], 0), 0, "%s: nothing left in the namespace", what);
    }
    is_set = is_shm = 0;
}

/* The handler's GETVAL and IPC_STAT beside a loop over ROT sets, and its
 * IPC_STAT beside a loop over ROT queues: before, a handler that
 * interrupted its thread inside the namespace's cache (a std mutex) waited
 * for it for ever (sets), and one that interrupted `malloc` in a queue
 * call's look-up corrupted the heap (the child aborted in malloc). */
static void rotation_part(int sets) {
    const char *what = sets ? "rotation over sets" : "rotation over queues";
    rotating = 1;
    is_set = sets;
    do_rmid = 0;
    int made = 1;
    for (int i = 0; i < ROT; i++) {
        rot_ids[i] = sets ? semget(IPC_PRIVATE, 1, IPC_CREAT | 0600) : msgget(IPC_PRIVATE, IPC_CREAT | 0600);
        made &= rot_ids[i] >= 0 && (!sets || semctl(rot_ids[i], 0, SETVAL, 1) == 0);
    }
    if (ok(made, "%s: %d made", what, ROT)) {
        int rc = run_child(what);
        check_common(what, rc);
        ok_eq(rep->val_bad, 0, "%s: every GETVAL in the handler read 0 or 1", what);
    }
    for (int i = 0; i < ROT; i++) sets ? semctl(rot_ids[i], 0, IPC_RMID) : msgctl(rot_ids[i], IPC_RMID, NULL);
    rotating = 0;
}

int main(void) {
    kernel = backend_is_kernel();
    rep = tap_shared_map(sizeof *rep);
    if (!rep) {
        printf("1..0 # SKIP no shared mapping\n");
        return 0;
    }
    queue_part();
    set_part();
    rotation_part(1);
    rotation_part(0);
    same_part();
    segment_part();
    for (int i = 0; i < 3; i++) rmid_part();
    return done_testing();
}
