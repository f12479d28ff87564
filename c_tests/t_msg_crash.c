/* t_msg_crash.c — message queues survive processes killed at any
 * instruction (no committed message lost or duplicated: README "How it
 * works", docs/msg.md), under both backends.
 *
 * Phase A (strict accounting): NS sender children send "slot,seq;pad"
 * messages of type slot+1, logging attempt=seq before each msgsnd and
 * sent=seq after it in a shared log. The parent is the only receiver (never
 * killed; a periodic timer interrupts its blocking msgrcv with EINTR) and
 * SIGKILLs / restarts senders at random moments. Every seq <= sent must
 * arrive exactly once and in order per type; a seq that was in flight when
 * its sender died may arrive or not; nothing else may arrive.
 *
 * Phase B (no wedge): receiver children (blocking, non-blocking, typed) and
 * sender children are SIGKILLed at random. Afterwards the queue works, its
 * IPC_STAT agrees with a final drain, nothing is duplicated and each killed
 * receiver lost at most the one message it was taking.
 *
 * Phase C (dead owner under signals): a lock holder is SIGKILLed and the
 * parent, getting a signal every 1 ms, recovers the lock before the
 * control call's 1 s bound (0.9 s, plus this moment's scheduling latency:
 * 0.28 and 0.59 s were seen under load 10-11); a wait that signals keep
 * from looking at the owner lasts that whole bound.
 *
 * RIPC_SEED=n reproduces a run; RIPC_CRASH_SECS=s changes the phase length.
 */
#include "ripc_sysv.h"
#include "tap.h"

#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NS 3                 /* sender slots */
#define NR 3                 /* receiver slots (phase B) */
#define MAXTXT 1024
#define MAXSEQ (1L << 22)    /* a sender stops here (never reached in practice) */
#define RLOG (1L << 21)      /* entries per receiver log */

struct msgb {
    long mtype;
    char mtext[MAXTXT];
};

struct slot {
    _Atomic long attempt, sent;
};

struct rlog {
    _Atomic long count;
    long e[RLOG]; /* (type << 40) | seq */
};

struct shared {
    struct slot s[NS];
    _Atomic int ids[2]; /* queues the watchdog removes */
};

static struct shared *sh;
static uint64_t rng_state;

static uint64_t rnd(void) { return tap_xorshift(&rng_state); }

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Message text: "slot,seq;" then pad bytes derived from (slot, seq). */
static size_t make_text(char *t, int slot, long seq) {
    int n = snprintf(t, MAXTXT, "%d,%ld;", slot, seq);
    size_t pad = (size_t)((seq * 7919 + slot * 31) % 700);
    for (size_t i = 0; i < pad; i++) t[n + i] = (char)('a' + (seq + (long)i) % 26);
    return (size_t)n + pad;
}

/* Parses and verifies a received message; returns seq, or -1 if foreign. */
static long check_text(const struct msgb *m, ssize_t len) {
    int slot;
    long seq;
    int off = 0;
    char tmp[64];
    if (len <= 0 || len > MAXTXT) return -1;
    size_t c = (size_t)len < sizeof tmp - 1 ? (size_t)len : sizeof tmp - 1;
    memcpy(tmp, m->mtext, c);
    tmp[c] = 0;
    if (sscanf(tmp, "%d,%ld;%n", &slot, &seq, &off) != 2 || off == 0) return -1;
    if (slot < 0 || slot >= NS || m->mtype != slot + 1 || seq < 0 || seq >= MAXSEQ) return -1;
    char want[MAXTXT];
    size_t wl = make_text(want, slot, seq);
    if ((size_t)len != wl || memcmp(want, m->mtext, wl) != 0) return -1;
    return seq;
}

/* ---- sender child ---- */
static void sender(int qid, int slot, long seq) {
    struct msgb m;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    m.mtype = slot + 1;
    for (; seq < MAXSEQ; seq++) {
        size_t len = make_text(m.mtext, slot, seq);
        atomic_store(&sh->s[slot].attempt, seq);
        while (msgsnd(qid, &m, len, 0) != 0) {
            if (errno != EINTR) _exit(3);
        }
        atomic_store(&sh->s[slot].sent, seq);
    }
    pause();
    _exit(0);
}

struct sstate {
    pid_t pid;
    int kills;
    unsigned char *maybe; /* bitmap over seq */
};

static void set_bit(unsigned char *b, long i) { b[i >> 3] |= (unsigned char)(1u << (i & 7)); }
static int get_bit(const unsigned char *b, long i) { return (b[i >> 3] >> (i & 7)) & 1; }

static pid_t start_sender(int qid, int slot) {
    long seq = atomic_load(&sh->s[slot].attempt) + 1;
    pid_t p = fork();
    if (p == 0) sender(qid, slot, seq);
    return p;
}

static void reap(pid_t p) {
    while (waitpid(p, NULL, 0) < 0 && errno == EINTR) {
    }
}

/* Kills a sender and records its in-flight seq (if any) as "maybe". */
static void kill_sender(struct sstate *st, int slot) {
    if (st->pid <= 0) return;
    kill(st->pid, SIGKILL);
    reap(st->pid);
    st->pid = 0;
    st->kills++;
    long a = atomic_load(&sh->s[slot].attempt), s = atomic_load(&sh->s[slot].sent);
    if (a > s && a >= 0) set_bit(st->maybe, a);
}

static volatile sig_atomic_t ticks;
static void on_tick(int sig) {
    (void)sig;
    ticks++;
}

static void init_slots(void) {
    for (int i = 0; i < NS; i++) {
        atomic_store(&sh->s[i].attempt, -1);
        atomic_store(&sh->s[i].sent, -1);
    }
}

static int drain_stat(int qid, long *qnum, long *cbytes) {
    struct msqid_ds ds;
    if (msgctl(qid, IPC_STAT, &ds) != 0) return -1;
    *qnum = (long)ds.msg_qnum;
    *cbytes = (long)ds.__msg_cbytes;
    return 0;
}

/* ---- Phase A ---- */
static void phase_a(double secs) {
    int qid = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    if (!ok(qid >= 0, "A: msgget(IPC_PRIVATE)")) return;
    atomic_store(&sh->ids[0], qid);
    init_slots();
    struct sstate st[NS];
    long last[NS], nrecv[NS];
    for (int i = 0; i < NS; i++) {
        st[i].kills = 0;
        st[i].maybe = calloc(MAXSEQ / 8, 1);
        st[i].pid = start_sender(qid, i);
        last[i] = -1;
        nrecv[i] = 0;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_tick;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL); /* no SA_RESTART: msgrcv gets EINTR */
    /* A tick every 1-20 ms (chosen by the seed) interrupts the blocking
     * msgrcv: a receive interrupted after it took its message must still
     * return it (EINTR there would lose it: a gap). */
    const char *tk = getenv("RIPC_TICK_US");
    long tick = tk ? atol(tk) : 1000 + (long)(rnd() % 19001);
    diag("A: timer tick %ld us (RIPC_TICK_US)", tick);
    struct itimerval it = {{0, tick}, {0, tick}};
    setitimer(ITIMER_REAL, &it, NULL);

    struct msgb m;
    long foreign = 0, disorder = 0, eintr = 0, other_err = 0, total = 0;
    double end = tap_now() + secs, next_kill = tap_now() + 0.001 * (double)(rnd() % 15);
    int nkills = 0, nstarts = 0;
    for (;;) {
        double t = tap_now();
        /* At least secs, and on until 21 kills (a loaded machine is
         * slow to fork), secs + 20 at most. */
        if (t >= end && (nkills > 20 || t >= end + 20)) break;
        if (t >= next_kill) {
            int k = (int)(rnd() % NS);
            if (st[k].pid > 0) {
                kill_sender(&st[k], k);
                nkills++;
                if (rnd() % 2) {
                    st[k].pid = start_sender(qid, k);
                    nstarts++;
                }
            } else {
                st[k].pid = start_sender(qid, k);
                nstarts++;
            }
            next_kill = t + 0.0005 + 0.001 * (double)(rnd() % 15);
        }
        /* Alternate blocking and non-blocking receives. */
        int fl = (rnd() % 4 == 0) ? IPC_NOWAIT : 0;
        ssize_t n = msgrcv(qid, &m, MAXTXT, 0, fl);
        if (n < 0) {
            if (errno == EINTR) eintr++;
            else if (errno == ENOMSG) sched_yield();
            else other_err++;
            continue;
        }
        total++;
        long seq = check_text(&m, n);
        if (seq < 0) {
            if (foreign++ < 5) diag("A: foreign message type %ld len %zd", m.mtype, n);
            continue;
        }
        int k = (int)m.mtype - 1;
        nrecv[k]++;
        /* Everything between the last seq and this one must be "maybe". */
        int bad = seq <= last[k] || seq > atomic_load(&sh->s[k].attempt);
        for (long g = last[k] + 1; !bad && g < seq; g++)
            if (!get_bit(st[k].maybe, g)) bad = 1;
        if (bad && disorder++ < 5)
            diag("A: type %d: got seq %ld after %ld (attempt %ld sent %ld)", k + 1, seq, last[k],
                 atomic_load(&sh->s[k].attempt), atomic_load(&sh->s[k].sent));
        if (seq > last[k]) last[k] = seq;
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    for (int k = 0; k < NS; k++) kill_sender(&st[k], k);
    /* Final drain. */
    ssize_t n;
    while ((n = msgrcv(qid, &m, MAXTXT, 0, IPC_NOWAIT)) >= 0 || errno == EINTR) {
        if (n < 0) continue;
        total++;
        long seq = check_text(&m, n);
        if (seq < 0) {
            foreign++;
            continue;
        }
        int k = (int)m.mtype - 1;
        nrecv[k]++;
        int bad = seq <= last[k];
        for (long g = last[k] + 1; !bad && g < seq; g++)
            if (!get_bit(st[k].maybe, g)) bad = 1;
        if (bad && disorder++ < 5) diag("A: drain: type %d seq %ld after %ld", k + 1, seq, last[k]);
        if (seq > last[k]) last[k] = seq;
    }
    int drain_errno = errno;
    long missing = 0;
    for (int k = 0; k < NS; k++) {
        long sent = atomic_load(&sh->s[k].sent);
        for (long g = last[k] + 1; g <= sent; g++)
            if (!get_bit(st[k].maybe, g)) {
                if (missing++ < 5) diag("A: type %d: seq %ld sent but never received (last %ld)", k + 1, g, last[k]);
            }
        diag("A: type %d: sent %ld received %ld kills %d", k + 1, sent + 1, nrecv[k], st[k].kills);
    }
    diag("A: %ld messages, %d kills, %d starts, %ld EINTR", total, nkills, nstarts, eintr);
    ok(drain_errno == ENOMSG, "A: final drain ends with ENOMSG (errno %d)", drain_errno);
    ok(other_err == 0, "A: receiver saw no errors other than EINTR/ENOMSG (%ld)", other_err);
    ok(foreign == 0, "A: no foreign or corrupted data (%ld)", foreign);
    ok(disorder == 0, "A: per type in order, no duplicates, no gaps (%ld violations)", disorder);
    ok(missing == 0, "A: every message a sender completed arrived (%ld missing)", missing);
    ok(nkills > 20, "A: senders were killed (%d)", nkills);
    long qnum = -1, cbytes = -1;
    int sok = drain_stat(qid, &qnum, &cbytes) == 0;
    ok(sok && qnum == 0 && cbytes == 0,
       "A: IPC_STAT after drain: qnum %ld cbytes %ld", qnum, cbytes);
    ok(msgctl(qid, IPC_RMID, NULL) == 0, "A: IPC_RMID");
    atomic_store(&sh->ids[0], -1);
    for (int i = 0; i < NS; i++) free(st[i].maybe);
}

/* ---- Phase B ---- */
static struct rlog *rl[NR];

static void receiver(int qid, int r) {
    struct msgb m;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    rng_state ^= (uint64_t)getpid() * 0x9E3779B97F4A7C15ull;
    for (;;) {
        long typ = 0;
        int fl = 0;
        switch (r) {
        case 0: break;                            /* blocking, any type */
        case 1: fl = IPC_NOWAIT; break;           /* polling, any type */
        default:                                  /* mixed typed receives */
            switch (rnd() % 4) {
            case 0: typ = (long)(rnd() % NS) + 1; break;
            case 1: typ = -(long)((rnd() % NS) + 1); break;
            case 2: typ = (long)(rnd() % NS) + 1; fl = MSG_EXCEPT; break;
            default: fl = IPC_NOWAIT; break;
            }
        }
        ssize_t n = msgrcv(qid, &m, MAXTXT, typ, fl);
        if (n < 0) {
            if (errno == ENOMSG) {
                sched_yield();
                continue;
            }
            if (errno == EINTR) continue;
            _exit(4);
        }
        long seq = check_text(&m, n);
        long c = atomic_load(&rl[r]->count);
        if (c >= RLOG) _exit(5);
        rl[r]->e[c] = seq < 0 ? -1 : ((long)m.mtype << 40) | seq;
        atomic_store(&rl[r]->count, c + 1);
    }
}

static void phase_b(double secs) {
    int qid = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    if (!ok(qid >= 0, "B: msgget(IPC_PRIVATE)")) return;
    atomic_store(&sh->ids[1], qid);
    init_slots();
    struct sstate st[NS];
    pid_t rp[NR];
    int rkills = 0, skills = 0;
    for (int r = 0; r < NR; r++) {
        rl[r] = mmap(NULL, sizeof(struct rlog), PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (rl[r] == MAP_FAILED) {
            ok(0, "B: mmap receiver log");
            return;
        }
        atomic_store(&rl[r]->count, 0);
    }
    for (int i = 0; i < NS; i++) {
        st[i].kills = 0;
        st[i].maybe = calloc(MAXSEQ / 8, 1);
        st[i].pid = start_sender(qid, i);
    }
    for (int r = 0; r < NR; r++) {
        rp[r] = fork();
        if (rp[r] == 0) receiver(qid, r);
    }
    double end = tap_now() + secs;
    /* At least secs, and on until both kinds were killed more than 10
     * times (a loaded machine is slow to fork), secs + 20 at most. */
    while (tap_now() < end || ((rkills <= 10 || skills <= 10) && tap_now() < end + 20)) {
        sleep_us(500 + (long)(rnd() % 8000));
        int who = (int)(rnd() % (NS + NR));
        if (who < NS) {
            if (st[who].pid > 0) {
                kill_sender(&st[who], who);
                skills++;
            }
            if (rnd() % 3) st[who].pid = start_sender(qid, who);
        } else {
            int r = who - NS;
            if (rp[r] > 0) {
                kill(rp[r], SIGKILL);
                reap(rp[r]);
                rp[r] = 0;
                rkills++;
            }
            if (rnd() % 3) {
                rp[r] = fork();
                if (rp[r] == 0) receiver(qid, r);
            }
        }
    }
    for (int k = 0; k < NS; k++) kill_sender(&st[k], k);
    for (int r = 0; r < NR; r++)
        if (rp[r] > 0) {
            kill(rp[r], SIGKILL);
            reap(rp[r]);
            rkills++;
        }
    /* Receivers that exited by themselves (not killed) would be a bug. */
    long qnum = -1, cbytes = -1;
    int st_ok = drain_stat(qid, &qnum, &cbytes) == 0;
    ok(st_ok, "B: IPC_STAT after the storm");
    /* Everything seen: receiver logs plus a final drain. */
    unsigned char *seen[NS];
    for (int k = 0; k < NS; k++) seen[k] = calloc(MAXSEQ / 8, 1);
    long dup = 0, foreign = 0, disorder = 0, logged = 0;
    for (int r = 0; r < NR; r++) {
        long c = atomic_load(&rl[r]->count);
        long lastr[NS];
        for (int k = 0; k < NS; k++) lastr[k] = -1;
        for (long i = 0; i < c; i++) {
            long e = rl[r]->e[i];
            if (e < 0) {
                foreign++;
                continue;
            }
            int k = (int)(e >> 40) - 1;
            long seq = e & ((1L << 40) - 1);
            if (k < 0 || k >= NS || seq >= MAXSEQ) {
                foreign++;
                continue;
            }
            if (get_bit(seen[k], seq) && dup++ < 5) diag("B: type %d seq %ld received twice", k + 1, seq);
            set_bit(seen[k], seq);
            if (seq <= lastr[k]) disorder++;
            lastr[k] = seq;
            logged++;
        }
    }
    struct msgb m;
    ssize_t n;
    long drained = 0, dbytes = 0;
    while ((n = msgrcv(qid, &m, MAXTXT, 0, IPC_NOWAIT)) >= 0) {
        drained++;
        dbytes += n;
        long seq = check_text(&m, n);
        if (seq < 0) {
            foreign++;
            continue;
        }
        int k = (int)m.mtype - 1;
        if (get_bit(seen[k], seq) && dup++ < 5) diag("B: type %d seq %ld received twice (drain)", k + 1, seq);
        set_bit(seen[k], seq);
    }
    int drain_errno = errno;
    long missing = 0, sent_total = 0;
    for (int k = 0; k < NS; k++) {
        long sent = atomic_load(&sh->s[k].sent);
        sent_total += sent + 1;
        for (long g = 0; g <= sent; g++)
            if (!get_bit(seen[k], g) && !get_bit(st[k].maybe, g)) {
                if (missing < 3) diag("B: type %d seq %ld missing (taken by a killed receiver?)", k + 1, g);
                missing++;
            }
        /* Nothing beyond the last attempt. */
        long a = atomic_load(&sh->s[k].attempt);
        for (long g = a + 1; g < MAXSEQ && g < a + 1000; g++)
            if (get_bit(seen[k], g)) foreign++;
    }
    diag("B: %ld sent, %ld logged by receivers, %ld drained; %d sender kills, %d receiver kills",
         sent_total, logged, drained, skills, rkills);
    ok(drain_errno == ENOMSG, "B: final drain ends with ENOMSG (errno %d)", drain_errno);
    ok(st_ok && qnum == drained && cbytes == dbytes,
       "B: IPC_STAT agrees with the drain (qnum %ld/%ld, cbytes %ld/%ld)", qnum, drained, cbytes, dbytes);
    ok(foreign == 0, "B: no foreign or corrupted data (%ld)", foreign);
    ok(dup == 0, "B: no message received twice (%ld)", dup);
    ok(disorder == 0, "B: each receiver saw each type in order (%ld)", disorder);
    ok(missing <= rkills, "B: lost %ld messages <= %d receiver kills", missing, rkills);
    ok(rkills > 10 && skills > 10, "B: receivers (%d) and senders (%d) were killed", rkills, skills);
    /* The queue still works: a blocking receive gets a message sent by a
     * child within 1 s. */
    double t0 = tap_now();
    pid_t p = fork();
    if (p == 0) {
        struct msgb s = {.mtype = 7};
        strcpy(s.mtext, "alive");
        sleep_us(20000);
        _exit(msgsnd(qid, &s, 5, 0) == 0 ? 0 : 1);
    }
    alarm(2);
    n = msgrcv(qid, &m, MAXTXT, 7, 0);
    alarm(0);
    double dt = tap_now() - t0;
    int status = 0;
    waitpid(p, &status, 0);
    ok(n == 5 && memcmp(m.mtext, "alive", 5) == 0 && dt < 1.0 && WIFEXITED(status) &&
           WEXITSTATUS(status) == 0,
       "B: queue still works: send + blocking receive in %.3f s", dt);
    st_ok = drain_stat(qid, &qnum, &cbytes) == 0;
    ok(st_ok && qnum == 0 && cbytes == 0,
       "B: IPC_STAT after the check: qnum %ld cbytes %ld", qnum, cbytes);
    ok(msgctl(qid, IPC_RMID, NULL) == 0, "B: IPC_RMID");
    atomic_store(&sh->ids[1], -1);
    for (int k = 0; k < NS; k++) {
        free(seen[k]);
        free(st[k].maybe);
    }
    for (int r = 0; r < NR; r++) munmap(rl[r], sizeof(struct rlog));
}

/* ---- Phase C: dead lock owner, recovered by a process that gets signals
 * more often than the lock's liveness check (10 ms). ---- */
static volatile sig_atomic_t c_ticks, c_limit;
static void on_c_tick(int sig) {
    (void)sig;
    if (++c_ticks >= c_limit) {
        struct itimerval off = {{0, 0}, {0, 0}};
        setitimer(ITIMER_REAL, &off, NULL);
    }
}

static void phase_c(void) {
    int qid = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    if (!ok(qid >= 0, "C: msgget(IPC_PRIVATE)")) return;
    atomic_store(&sh->ids[0], qid);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_c_tick;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    int dead_owner = 0, starved = 0, errs = 0;
    double worst = 0;
    int rounds = 0;
    for (int i = 0; i < 40 && dead_owner < 4; i++, rounds++) {
        pid_t p = fork();
        if (p == 0) {
            /* Holds one of the queue's locks most of the time: 8 KiB in, 8 KiB out. */
            static struct msgb m;
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            m.mtype = 1;
            memset(m.mtext, 'x', sizeof m.mtext);
            for (;;) {
                msgsnd(qid, &m, sizeof m.mtext, IPC_NOWAIT);
                msgrcv(qid, &m, sizeof m.mtext, 0, IPC_NOWAIT);
            }
        }
        sleep_us(1000 + (long)(rnd() % 3000));
        kill(p, SIGKILL);
        reap(p);
        /* Whether it died holding a lock: the queue's lock words (user
         * backend: the senders' lock at 256, the receivers' at 384 of the
         * object file) name it. */
        int held = 0;
        unsigned char *obj = backend_is_kernel() ? NULL : tap_map_object("msg", qid);
        if (obj) {
            uint32_t ws = __atomic_load_n((uint32_t *)(obj + 256), __ATOMIC_SEQ_CST);
            uint32_t wr = __atomic_load_n((uint32_t *)(obj + 384), __ATOMIC_SEQ_CST);
            held = (int)(ws & 0x3fffffff) == p || (int)(wr & 0x3fffffff) == p;
            munmap(obj, 4096);
        }
        /* A 1 ms timer for at most 1.2 s while we take the lock (turned
         * off as soon as the call returns). */
        c_ticks = 0;
        c_limit = 1200;
        struct itimerval it = {{0, 1000}, {0, 1000}};
        double t0 = tap_now();
        setitimer(ITIMER_REAL, &it, NULL);
        struct msqid_ds ds;
        int r;
        do {
            r = msgctl(qid, IPC_STAT, &ds);
        } while (r != 0 && errno == EINTR);
        double dt = tap_now() - t0;
        struct itimerval off = {{0, 0}, {0, 0}};
        setitimer(ITIMER_REAL, &off, NULL);
        if (r != 0) errs++;
        if (held) dead_owner++;
        if (dt > 0.9 && dt > 0.9 + tap_nap_over(0.01)) {
            starved++;
            diag("C: round %d: IPC_STAT took %.3f s", i, dt);
        }
        if (dt > worst) worst = dt;
        if (getenv("RIPC_DEBUG_C")) diag("C: round %d: IPC_STAT %.6f s r=%d", i, dt, r);
        /* Empty the queue for the next round. */
        struct msgb m;
        while (msgrcv(qid, &m, sizeof m.mtext, 0, IPC_NOWAIT) >= 0) {
        }
    }
    diag("C: %d of %d kills left the lock with a dead owner; worst IPC_STAT %.3f s", dead_owner, rounds, worst);
    ok(errs == 0, "C: IPC_STAT after killing a lock holder succeeds (%d errors)", errs);
    if (!backend_is_kernel())
        ok(dead_owner > 0, "C: some kills left a lock with a dead owner (%d of %d)", dead_owner, rounds);
    ok(starved == 0, "C: dead lock owner recovered despite 1 ms signals (%d of %d took > 0.9 s)",
       starved, dead_owner);
    ok(msgctl(qid, IPC_RMID, NULL) == 0, "C: IPC_RMID");
    atomic_store(&sh->ids[0], -1);
}

/* Kills the test (after removing its queues) if it hangs. */
static pid_t watchdog(int secs) {
    pid_t parent = getpid();
    pid_t p = fork();
    if (p == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        sleep((unsigned)secs);
        printf("not ok - watchdog: test hung for %d s, killing it\n", secs);
        fflush(stdout);
        kill(parent, SIGKILL);
        for (int i = 0; i < 2; i++) {
            int id = atomic_load(&sh->ids[i]);
            if (id >= 0) msgctl(id, IPC_RMID, NULL);
        }
        _exit(0);
    }
    return p;
}

static void on_alarm_exit(int sig) {
    (void)sig;
}

int main(void) {
    const char *s = getenv("RIPC_SEED");
    uint64_t seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    rng_state = seed ? seed : 1;
    const char *cs = getenv("RIPC_CRASH_SECS");
    double secs = cs ? atof(cs) : 2.0;
    diag("seed %llu (RIPC_SEED), backend %s, %.1f s per phase", (unsigned long long)seed,
         backend_is_kernel() ? "kernel" : "user", secs);
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) return 1;
    atomic_store(&sh->ids[0], -1);
    atomic_store(&sh->ids[1], -1);
    pid_t wd = watchdog((int)(secs * 2 + 25));
    double t0 = tap_now();
    phase_a(secs);
    diag("phase A took %.2f s", tap_now() - t0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm_exit;
    sigaction(SIGALRM, &sa, NULL);
    t0 = tap_now();
    phase_b(secs);
    diag("phase B took %.2f s", tap_now() - t0);
    t0 = tap_now();
    phase_c();
    diag("phase C took %.2f s", tap_now() - t0);
    kill(wd, SIGKILL);
    reap(wd);
    return done_testing();
}
