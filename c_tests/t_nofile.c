/* t_nofile.c — a full descriptor table never breaks mutual exclusion
 * (issue "never hang, never crash", item 2: liveness errs toward safety),
 * both backends.
 *
 * A holder takes a SEM_UNDO mutex (value 1 -> 0) and stays alive; a
 * waiter asks for it with a 300 ms timeout. It must time out: the mutex
 * is held by a live process. Three placements of an exhausted descriptor
 * table (RLIMIT_NOFILE filled to the last descriptor before the first
 * ripc call of that process): the waiter's, the holder's, both. Before,
 * an unreadable /proc/<pid>/stat meant "dead" (the waiter was granted the
 * mutex after ~50 ms), and a holder that could not read its own start
 * time recorded 1, which others took for a recycled pid.
 *
 * Then (user backend) the same for the locks themselves: a live process
 * that maps the files holds a queue's senders' lock and a set's lock (it
 * writes its pid and start time into the lock words, as the library
 * does), and a waiter whose table is full asks: IPC_NOWAIT msgsnd and
 * semop (of two operations, which take the set's lock: one without
 * SEM_UNDO needs none) must give EAGAIN, a 300 ms semtimedop must time
 * out (its wait
 * passes the 200 ms stall check, which cannot read the holder's map
 * either). Before, the unreadable /proc/<pid>/stat meant "dead", and the
 * waiter took the lock from its live holder (issue 13: a queue lock was
 * taken from a live, stopped holder in 6 of 20 trials). Once the holder is
 * killed, a waiter with a full table takes both locks over (kill(pid, 0)
 * needs no descriptor). */
#include "ripc_sysv.h"
#include "tap.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/resource.h>
#include <time.h>

/* Opens /dev/null until the table is full (RLIMIT_NOFILE lowered to 32
 * first, so that this is quick). */
static void exhaust(void) {
    struct rlimit rl = {32, 32};
    setrlimit(RLIMIT_NOFILE, &rl);
    while (open("/dev/null", O_RDONLY) >= 0) {
    }
}

/* One round: returns 1 when the waiter was (rightly) refused. */
static int round_(int s, int holder_full, int waiter_full) {
    int ready[2];
    if (pipe(ready) != 0) return 0;
    fflush(stdout);
    pid_t h = fork();
    if (h == 0) {
        alarm(20);
        if (holder_full) exhaust();
        struct sembuf p = {0, -1, SEM_UNDO};
        if (semop(s, &p, 1) != 0) _exit(1);
        char c = 1;
        if (write(ready[1], &c, 1) != 1) _exit(2);
        pause(); /* holds the mutex, alive, until killed */
        _exit(0);
    }
    char c;
    close(ready[1]);
    int got = read(ready[0], &c, 1) == 1;
    close(ready[0]);
    if (!got) {
        kill(h, SIGKILL);
        waitpid(h, NULL, 0);
        return 0;
    }
    pid_t w = fork();
    if (w == 0) {
        alarm(20);
        if (waiter_full) exhaust();
        struct sembuf p = {0, -1, SEM_UNDO};
        struct timespec to = {0, 300 * 1000000};
        int r = semtimedop(s, &p, 1, &to);
        _exit(r == -1 && errno == EAGAIN ? 0 : 3);
    }
    int st = -1;
    waitpid(w, &st, 0);
    kill(h, SIGKILL);
    waitpid(h, NULL, 0);
    /* The holder's undo gives the value back once it is gone. */
    struct sembuf p = {0, -1, IPC_NOWAIT}, v = {0, 1, 0};
    int back = 0;
    for (int i = 0; i < 200 && !back; i++) {
        back = semop(s, &p, 1) == 0;
        if (!back) {
            struct timespec ts = {0, 10 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    if (back) semop(s, &v, 1);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 && back;
}

/* The lock words (src/sync/lock.rs: u32 pid, u32 pad, u64 start time): a
 * queue's senders' lock at the start of its control area (after the
 * 256-byte object header), a set's lock in the object header at 40. */
#define Q_SLOCK 256
#define OBJ_LOCK 40

/* Takes the lock at `off` of `p` as this (live) process, as the library
 * would: 0 when it was free and is now ours. */
static int take(unsigned char *p, size_t off) {
    uint32_t free_word = 0;
    if (!__atomic_compare_exchange_n((uint32_t *)(p + off), &free_word, (uint32_t)getpid(), 0, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED))
        return -1;
    __atomic_store_n((uint64_t *)(p + off + 8), (uint64_t)tap_start_time(0), __ATOMIC_RELAXED);
    return 0;
}

struct qmsg {
    long mtype;
    char text[8];
};

/* In a child whose descriptor table is full: the calls on queue q and set
 * s while a live process holds their locks (`held`), or after it died.
 * Exits 0 when each answered as it must. */
static void locked_out(int q, int s, int held) {
    alarm(20);
    setvbuf(stdout, NULL, _IOLBF, 0); /* its lines survive an _exit */
    exhaust();
    struct qmsg m = {1, "x"};
    /* Two operations: the path that takes the set's lock (one operation
     * without SEM_UNDO is a compare-and-swap that needs no lock). */
    struct sembuf v[2] = {{0, 1, IPC_NOWAIT}, {0, 1, IPC_NOWAIT}};
    double t0 = tap_now();
    int r = msgsnd(q, &m, sizeof m.text, IPC_NOWAIT);
    int e = errno;
    printf("# %s, waiter's table full: msgsnd(IPC_NOWAIT) %d errno %d in %.1f ms\n", held ? "held" : "holder dead", r,
           e, (tap_now() - t0) * 1e3);
    if (held ? !(r == -1 && e == EAGAIN) : r != 0) _exit(1);
    t0 = tap_now();
    r = semop(s, v, 2);
    e = errno;
    printf("# %s, waiter's table full: semop(V, V, IPC_NOWAIT) %d errno %d in %.1f ms\n", held ? "held" : "holder dead",
           r, e, (tap_now() - t0) * 1e3);
    if (held ? !(r == -1 && e == EAGAIN) : r != 0) _exit(2);
    if (held) {
        struct timespec to = {0, 300 * 1000000};
        v[0].sem_flg = v[1].sem_flg = 0;
        t0 = tap_now();
        r = semtimedop(s, v, 2, &to);
        e = errno;
        double dt = tap_now() - t0;
        printf("# held, waiter's table full: semtimedop(V, V, 300 ms) %d errno %d in %.1f ms\n", r, e, dt * 1e3);
        if (!(r == -1 && e == EAGAIN) || dt < 0.29) _exit(3);
    }
    fflush(stdout);
    _exit(0);
}

static void locks(void) {
    if (backend_is_kernel()) {
        ok(1, "# SKIP the kernel's locks are not in files");
        return;
    }
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    int s = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    ok(q >= 0 && s >= 0, "a queue and a set");
    int ready[2];
    if (q < 0 || s < 0 || pipe(ready) != 0) return;
    fflush(stdout);
    pid_t h = fork();
    if (h == 0) {
        /* A live holder that maps both files (as a real one does). */
        alarm(30);
        unsigned char *qm = tap_map_object("msg", q), *sm = tap_map_object("sem", s);
        char c = qm && sm && take(qm, Q_SLOCK) == 0 && take(sm, OBJ_LOCK) == 0;
        if (write(ready[1], &c, 1) != 1) _exit(2);
        pause();
        _exit(0);
    }
    close(ready[1]);
    char c = 0;
    if (read(ready[0], &c, 1) != 1) c = 0;
    close(ready[0]);
    ok(c == 1, "a live process that maps them holds the queue's senders' lock and the set's lock");
    int st = -1;
    fflush(stdout);
    pid_t w = fork();
    if (w == 0) locked_out(q, s, 1);
    waitpid(w, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
       "waiter's descriptor table full: the live holder keeps both locks (EAGAIN, a timed call times out; status %d)", st);
    kill(h, SIGKILL);
    waitpid(h, NULL, 0);
    fflush(stdout);
    w = fork();
    if (w == 0) locked_out(q, s, 0);
    st = -1;
    waitpid(w, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
       "once the holder is dead, a waiter with a full table takes both locks over (status %d)", st);
    ok(msgctl(q, IPC_RMID, NULL) == 0 && semctl(s, 0, IPC_RMID) == 0, "removed");
}

int main(void) {
    int s = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    ok(s >= 0 && semctl(s, 0, SETVAL, 1) == 0, "a mutex (value 1)");
    ok(round_(s, 0, 1), "waiter's descriptor table full: a live holder keeps the mutex (waiter times out), released at its death");
    ok(round_(s, 1, 0), "holder's descriptor table full: likewise");
    ok(round_(s, 1, 1), "both full: likewise");
    ok(semctl(s, 0, IPC_RMID) == 0, "removed");
    locks();
    return done_testing();
}
