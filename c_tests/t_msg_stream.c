/* t_msg_stream.c — the one-sender, one-receiver stream (msgtyp 0) and what
 * may join it, under both backends: the guarantees any fast path for that
 * shape must keep (docs/msg.md, "A lock-free one-sender, one-receiver
 * path"). Messages carry a sequence number, a check word and the number
 * of their sender; their length follows from the sequence number (64
 * bytes, every seventh 1000, so both chunk sizes stream).
 *
 * 1. typed receivers arriving mid-stream: a sender child streams types
 *    1, 2, 3 in turn, an untyped receiver child takes them; 300 times the
 *    parent pauses the receiver (a handshake, between two of its
 *    receives) and takes one message with IPC_NOWAIT as msgtyp 2, 3, -2,
 *    2 | MSG_EXCEPT or 0: it must be the first such message in FIFO order
 *    among those sent so far (the receiver's own seqs strictly increase,
 *    so everything after its last is still queued), ENOMSG only when none
 *    was sent. At the end every message was taken exactly once.
 * 2. a second sender joining: while the child streams, a forked sender
 *    sends bursts of its own, and the parent sends too; the receiver sees
 *    each sender's numbers in order, every message once; msg_lspid,
 *    msg_lrpid, msg_stime, msg_rtime name the last ones.
 * 3. killed mid-stream: 150 rounds, the sender or the receiver or both
 *    SIGKILLed at a random moment and started again; the receiver's
 *    numbers strictly increase throughout, none twice; a number missing is
 *    the one right after a killed receiver's last (it may have taken it),
 *    the sender's number in flight at its death may or may not arrive;
 *    IPC_STAT's msg_qnum and msg_cbytes equal what the final drain takes.
 * 4. the stream's sender (sending as fast as it can) stopped (SIGSTOP) at
 *    random moments, 20 trials of 10 stops: while it is stopped (inside
 *    its lock or not), an IPC_NOWAIT msgrcv and msgsnd by the parent
 *    return within 250 ms, an untimed msgsnd (a second sender) within 1 s
 *    (times printed); it is continued, or at the last stop of every third
 *    trial killed; every message is taken exactly once. Also: after both
 *    were killed mid-stream (30 times), IPC_STAT's counts equal a drain.
 * 5. fork, IPC_SET and IPC_RMID mid-stream: the streaming sender forks
 *    and its child sends 3000 of its own while the parent goes on (both
 *    in order, the child's all received); msg_qbytes set to 2048 while
 *    the stream runs holds from when the queue first fits in it (300
 *    IPC_STAT samples); IPC_RMID while both stream makes their calls
 *    return (EIDRM or EINVAL) within 2 s.
 */
#include "ripc_sysv.h"
#include "tap.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXSEQ 2000000
#define INFLIGHT 60 /* a sender's unreceived messages: 12.3 KiB at most, under 16 KiB */
#define END_TYPE 9
#define NWHO 3

struct smsg {
    long mtype;
    uint32_t seq, check, who, pad0;
    char pad[1000];
};

#define SMALL_TEXT 64
#define BIG_TEXT 1000

struct shared {
    _Atomic uint32_t attempt[NWHO]; /* the number a sender is sending */
    _Atomic uint32_t sent[NWHO];    /* the last one msgsnd returned for */
    _Atomic uint32_t taken;         /* messages taken, all receivers */
    _Atomic uint32_t last[NWHO];    /* the receiver child's last, per sender */
    _Atomic int pause_req, paused, stop_send, rmid;
    _Atomic int bad;
    char why[160];
    _Atomic uint8_t got[NWHO][MAXSEQ + 2];
};

static struct shared *sh;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static uint32_t check_of(uint32_t seq, uint32_t who) {
    return (seq * 2654435761u) ^ (who * 0x5bd1e995u) ^ 0xa5a5a5a5u;
}

static size_t len_of(uint32_t seq) {
    return seq % 7 == 0 ? BIG_TEXT : SMALL_TEXT;
}

static long type_of(uint32_t seq) {
    return 1 + seq % 3;
}

static void fail(const char *fmt, uint32_t a, uint32_t b) {
    int was = 0;
    if (atomic_compare_exchange_strong(&sh->bad, &was, 1)) snprintf(sh->why, sizeof sh->why, fmt, a, b);
}

/* Checks a received message (not the end marker) and records it: its
 * length, check word, type, and that it was not received before. */
static int note(const struct smsg *m, ssize_t n, int typed) {
    uint32_t w = m->who, s = m->seq;
    if (w >= NWHO || s == 0 || s > MAXSEQ || m->check != check_of(s, w) ||
        (size_t)n != len_of(s)) {
        fail("damaged message: seq %u, who %u", s, w);
        return -1;
    }
    if (typed && m->mtype != type_of(s)) {
        fail("seq %u has type %u", s, (uint32_t)m->mtype);
        return -1;
    }
    if (atomic_exchange(&sh->got[w][s], 1)) {
        fail("seq %u of sender %u received twice", s, w);
        return -1;
    }
    atomic_fetch_add(&sh->taken, 1);
    return 0;
}

static void fill(struct smsg *m, uint32_t seq, uint32_t who, int typed) {
    m->mtype = typed ? type_of(seq) : 1;
    m->seq = seq;
    m->check = check_of(seq, who);
    m->who = who;
}

/* Sends numbers from attempt[who] + 1 on, `count` of them at most, at
 * most INFLIGHT past the receiver child's last (no bound when `limit` is
 * 0), until stop_send. A failed msgsnd ends the process: 0 once the test
 * removed the queue (rmid), else 2. */
static void send_loop(int q, uint32_t who, int typed, int limit, uint32_t count) {
    struct smsg m;
    memset(&m, 0, sizeof m);
    for (uint32_t seq = sh->attempt[who] + 1; !sh->stop_send && seq <= MAXSEQ && count > 0; seq++, count--) {
        /* Flow control: wait for the receiver to catch up, unless the
         * queue is being removed (the receiver then leaves with EIDRM and
         * never catches up; msgsnd tells this sender the same). */
        while (limit && !sh->stop_send && !sh->rmid && seq - 1 - sh->last[who] >= INFLIGHT)
            sleep_us(20);
        fill(&m, seq, who, typed);
        sh->attempt[who] = seq;
        while (msgsnd(q, &m, len_of(seq), 0) != 0) {
            if (errno == EINTR) continue;
            _exit(sh->rmid && (errno == EIDRM || errno == EINVAL) ? 0 : 2);
        }
        sh->sent[who] = seq;
    }
}

/* A sender child: send_loop until stop_send. */
static void sender(int q, uint32_t who, int typed, int limit) {
    tap_peer_start(100);
    send_loop(q, who, typed, limit, MAXSEQ);
    _exit(0);
}

/* A sender child that forks mid-stream: 2000 messages, then its child
 * (which inherits the process's state, the queue's cache and mapping
 * included) sends 3000 of its own as sender 1 while it goes on. */
static void forking_sender(int q) {
    tap_peer_start(100);
    send_loop(q, 0, 0, 1, 2000);
    fflush(stdout);
    pid_t g = fork();
    if (g == 0) {
        send_loop(q, 1, 0, 1, 3000);
        _exit(0);
    }
    send_loop(q, 0, 0, 1, MAXSEQ);
    int st = 0;
    while (g > 0 && waitpid(g, &st, 0) < 0 && errno == EINTR) {
    }
    _exit(g > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 3);
}

/* The receiver child: msgtyp 0, blocking, until the end marker; each
 * sender's numbers must strictly increase. Pauses between receives while
 * pause_req is set. */
static void receiver(int q, int typed) {
    tap_peer_start(100);
    struct smsg m;
    for (;;) {
        if (sh->pause_req) {
            sh->paused = 1;
            while (sh->pause_req) sleep_us(20);
            sh->paused = 0;
        }
        ssize_t n = msgrcv(q, &m, sizeof m - sizeof m.mtype, 0, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (sh->rmid && (errno == EIDRM || errno == EINVAL)) _exit(0);
            fail("receiver: msgrcv errno %u%u", (uint32_t)errno, 0);
            _exit(1);
        }
        if (m.mtype == END_TYPE) _exit(0);
        if (note(&m, n, typed) != 0) _exit(1);
        if (m.seq <= sh->last[m.who]) {
            fail("seq %u after %u: out of order", m.seq, sh->last[m.who]);
            _exit(1);
        }
        sh->last[m.who] = m.seq;
    }
}

static pid_t spawn_sender(int q, uint32_t who, int typed, int limit) {
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) sender(q, who, typed, limit);
    return c;
}

static pid_t spawn_receiver(int q, int typed) {
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) receiver(q, typed);
    return c;
}

static int reap(pid_t c) {
    int st = 0;
    while (waitpid(c, &st, 0) < 0 && errno == EINTR) {
    }
    return st;
}

static int exited_0(int st) {
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static int send_end(int q) {
    struct smsg m = {.mtype = END_TYPE};
    return msgsnd(q, &m, SMALL_TEXT, 0);
}

static void reset(void) {
    memset((void *)sh, 0, sizeof *sh);
}

/* Every number up to sent[who] received once, none beyond. */
static int all_once(uint32_t who, uint32_t *missing, uint32_t *beyond) {
    *missing = *beyond = 0;
    for (uint32_t i = 1; i <= sh->sent[who]; i++) *missing += !sh->got[who][i];
    for (uint32_t i = sh->sent[who] + 1; i <= MAXSEQ; i++) *beyond += sh->got[who][i];
    return *missing == 0 && *beyond == 0;
}

static void empty_queue(int q) {
    struct msqid_ds ds = {0};
    ok(msgctl(q, IPC_STAT, &ds) == 0 && ds.msg_qnum == 0 && ds.msg_cbytes == 0,
       "the queue is empty: msg_qnum %lu, msg_cbytes %lu", (unsigned long)ds.msg_qnum,
       (unsigned long)ds.msg_cbytes);
    if (!backend_is_kernel()) {
        struct msginfo mi = {0};
        int r = msgctl(0, MSG_INFO, (struct msqid_ds *)&mi);
        ok(r >= 0 && mi.msgmap == 0 && mi.msgtql == 0, "MSG_INFO counts nothing: %d messages, %d bytes",
           mi.msgmap, mi.msgtql);
    }
}

static int wait_paused(int want) {
    double t0 = tap_now();
    while (sh->paused != want) {
        if (tap_now() - t0 > 10) return 0;
        sleep_us(20);
    }
    return 1;
}

/* Part 1. */
static int is_candidate(long mode, long type) {
    switch (mode) {
    case 0: return 1;
    case 2: return type == 2;
    case 3: return type == 3;
    case -2: return type <= 2;
    default: return type != 2; /* 2 | MSG_EXCEPT */
    }
}

static void typed_mid_stream(void) {
    reset();
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    ok(q >= 0, "a queue");
    pid_t s = spawn_sender(q, 0, 1, 1), r = spawn_receiver(q, 1);
    int wrong = 0, nomsg = 0, got = 0, stuck = 0;
    static const long modes[] = {2, 3, -2, 1002, 0};
    for (int i = 0; i < 300 && !sh->bad; i++) {
        sleep_us((long)(tap_xorshift(&rng) % 2000));
        sh->pause_req = 1;
        if (!wait_paused(1)) {
            stuck++;
            break;
        }
        long mode = modes[tap_xorshift(&rng) % 5];
        uint32_t s0 = sh->sent[0], from = sh->last[0] + 1;
        struct smsg m;
        ssize_t n = msgrcv(q, &m, sizeof m - sizeof m.mtype, mode == 1002 ? 2 : mode,
                           IPC_NOWAIT | (mode == 1002 ? MSG_EXCEPT : 0));
        /* The first candidate among those queued and sent by s0: by
         * number, or by type then number for msgtyp -2. */
        uint32_t want = 0;
        for (uint32_t x = from; x <= s0; x++) {
            if (sh->got[0][x] || !is_candidate(mode, type_of(x))) continue;
            if (want == 0 || (mode == -2 && type_of(x) < type_of(want))) want = x;
            if (mode != -2 || type_of(x) == 1) break;
        }
        if (n < 0) {
            nomsg++;
            if (errno != ENOMSG || want != 0) {
                wrong++;
                diag("msgtyp %ld: errno %d, expected seq %u (sent %u)", mode, errno, want, s0);
            }
        } else if (note(&m, n, 1) != 0 || !is_candidate(mode, m.mtype) || m.seq < from ||
                   (want != 0 && m.seq != want &&
                    !(mode == -2 && m.seq > s0 && m.mtype < type_of(want)))) {
            wrong++;
            diag("msgtyp %ld: got seq %u type %ld, expected seq %u (after %u, sent %u)", mode, m.seq,
                 m.mtype, want, from - 1, s0);
        } else {
            got++;
        }
        sh->pause_req = 0;
        if (!wait_paused(0)) {
            stuck++;
            break;
        }
    }
    sh->pause_req = 0;
    sh->stop_send = 1;
    int sst = reap(s);
    ok(send_end(q) == 0, "the end marker sent");
    int rst = reap(r);
    diag("%d typed receives took a message, %d found none; %u sent", got, nomsg, sh->sent[0]);
    ok(stuck == 0, "the receiver paused and went on each time");
    ok(!sh->bad, "no message damaged, repeated or out of order%s%s", sh->bad ? ": " : "", sh->why);
    ok(wrong == 0, "each typed receive mid-stream took the first matching message in FIFO order (%d not)",
       wrong);
    ok(got > 100, "typed receives took messages mid-stream (%d)", got);
    ok(exited_0(sst) && exited_0(rst), "sender and receiver ended well (%#x, %#x)", sst, rst);
    uint32_t missing, beyond;
    int once = all_once(0, &missing, &beyond);
    ok(once, "every message taken exactly once (%u missing, %u beyond)",
       missing, beyond);
    empty_queue(q);
    ok(msgctl(q, IPC_RMID, NULL) == 0, "removed");
}

/* Part 2. */
static void second_sender(void) {
    reset();
    time_t t_start = time(NULL);
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    ok(q >= 0, "a queue");
    pid_t r = spawn_receiver(q, 0), s = spawn_sender(q, 0, 0, 1);
    int joined = 0, bad_b = 0;
    struct smsg m;
    memset(&m, 0, sizeof m);
    for (int i = 0; i < 40; i++) {
        sleep_us((long)(tap_xorshift(&rng) % 3000));
        /* A second sender: a burst of its own numbers. */
        fflush(stdout);
        pid_t b = fork();
        if (b == 0) {
            tap_peer_start(100);
            int k = 1 + (int)(tap_xorshift(&rng) % 50);
            struct smsg x;
            memset(&x, 0, sizeof x);
            for (int j = 0; j < k; j++) {
                uint32_t seq = sh->attempt[1] + 1;
                fill(&x, seq, 1, 0);
                sh->attempt[1] = seq;
                if (msgsnd(q, &x, len_of(seq), 0) != 0) _exit(2);
                sh->sent[1] = seq;
            }
            _exit(0);
        }
        bad_b += !exited_0(reap(b));
        joined++;
        /* And this process, a third. */
        uint32_t seq = sh->attempt[2] + 1;
        fill(&m, seq, 2, 0);
        sh->attempt[2] = seq;
        if (msgsnd(q, &m, len_of(seq), 0) != 0) bad_b++;
        else sh->sent[2] = seq;
    }
    sh->stop_send = 1;
    int sst = reap(s);
    ok(send_end(q) == 0, "the end marker sent (by this process, the last sender)");
    int rst = reap(r);
    ok(bad_b == 0, "%d bursts of a second sender and as many sends of a third joined the stream",
       joined);
    ok(!sh->bad, "each sender's numbers arrived in order, none damaged or twice%s%s",
       sh->bad ? ": " : "", sh->why);
    ok(exited_0(sst) && exited_0(rst), "sender and receiver ended well (%#x, %#x)", sst, rst);
    for (uint32_t w = 0; w < NWHO; w++) {
        uint32_t missing, beyond;
        int once = all_once(w, &missing, &beyond);
        ok(once && sh->sent[w] > 0,
           "sender %u: all %u messages taken exactly once (%u missing, %u beyond)", w, sh->sent[w],
           missing, beyond);
    }
    struct msqid_ds ds = {0};
    ok(msgctl(q, IPC_STAT, &ds) == 0, "IPC_STAT");
    ok(ds.msg_lspid == getpid() && ds.msg_lrpid == r,
       "msg_lspid is the last sender (%d, this process %d), msg_lrpid the receiver (%d, %d)",
       (int)ds.msg_lspid, (int)getpid(), (int)ds.msg_lrpid, (int)r);
    time_t now = time(NULL);
    ok(ds.msg_stime >= t_start && ds.msg_stime <= now && ds.msg_rtime >= t_start && ds.msg_rtime <= now,
       "msg_stime and msg_rtime are within the test's run");
    empty_queue(q);
    ok(msgctl(q, IPC_RMID, NULL) == 0, "removed");
}

/* Part 3. */
#define ROUNDS 150

static void killed_mid_stream(void) {
    reset();
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    ok(q >= 0, "a queue");
    static uint32_t inflight_at[ROUNDS], last_at[ROUNDS];
    int nin = 0, nlast = 0, bad_exit = 0, skilled = 0;
    pid_t s = spawn_sender(q, 0, 0, 1), r = spawn_receiver(q, 0);
    for (int i = 0; i < ROUNDS; i++) {
        /* The sender under way first (a fresh one makes its first call
         * late on a loaded machine: at load 9-13 a run once sent 60
         * messages in 150 rounds, and the kills then mostly hit a sender
         * that had not started): its next number attempted, or 200 ms. */
        uint32_t at = sh->attempt[0];
        for (double t0 = tap_now(); sh->attempt[0] == at && tap_now() - t0 < 0.2;) sleep_us(100);
        sleep_us((long)(tap_xorshift(&rng) % 3000));
        int which = (int)(tap_xorshift(&rng) % 3); /* 0 sender, 1 receiver, 2 both */
        if (which != 1) kill(s, SIGKILL);
        if (which != 0) kill(r, SIGKILL);
        if (which != 1) {
            skilled++;
            int st = reap(s);
            bad_exit += !(WIFSIGNALED(st) || exited_0(st));
            /* Its number in flight may or may not have been sent. */
            if (sh->attempt[0] != sh->sent[0]) inflight_at[nin++] = sh->attempt[0];
            sh->sent[0] = sh->attempt[0];
        }
        if (which != 0) {
            int st = reap(r);
            bad_exit += !(WIFSIGNALED(st) || exited_0(st));
            /* It may have taken the next message without noting it. */
            last_at[nlast++] = sh->last[0];
        }
        if (sh->bad) break;
        if (which != 1) s = spawn_sender(q, 0, 0, 1);
        if (which != 0) r = spawn_receiver(q, 0);
    }
    kill(s, SIGKILL);
    reap(s);
    if (sh->attempt[0] != sh->sent[0]) inflight_at[nin++] = sh->attempt[0];
    ok(send_end(q) == 0, "the end marker sent");
    int rst = reap(r);
    ok(exited_0(rst), "the last receiver took everything up to the end marker (%#x)", rst);
    ok(bad_exit == 0, "every killed child died by the signal or ended well");
    ok(!sh->bad, "the receivers' numbers strictly increased, none damaged or twice%s%s",
       sh->bad ? ": " : "", sh->why);
    /* What is missing: a number in flight at a sender's death, or the one
     * right after a killed receiver's last. */
    uint32_t top = sh->attempt[0], missing = 0, unexplained = 0, beyond = 0;
    for (uint32_t x = 1; x <= top; x++) {
        if (sh->got[0][x]) continue;
        int inflight = 0;
        for (int k = 0; k < nin; k++) inflight |= inflight_at[k] == x;
        if (inflight) continue;
        missing++;
        int explained = 0;
        for (int k = 0; k < nlast && !explained; k++) {
            if (last_at[k] >= x) continue;
            explained = 1;
            for (uint32_t y = last_at[k] + 1; y < x; y++)
                if (sh->got[0][y]) explained = 0;
        }
        if (!explained) {
            unexplained++;
            diag("seq %u missing", x);
        }
    }
    for (uint32_t x = top + 1; x <= MAXSEQ; x++) beyond += sh->got[0][x];
    diag("%u sent, %d senders killed (%d inside msgsnd or before noting it), %d receivers killed, "
         "%u messages taken by a killed receiver",
         top, skilled, nin, nlast, missing);
    ok(unexplained == 0 && beyond == 0 && missing <= (uint32_t)nlast,
       "no message lost but one a killed receiver may have taken (%u unexplained, %u beyond, %u <= %d)",
       unexplained, beyond, missing, nlast);
    ok(top >= ROUNDS, "the stream moved (%u messages in %d rounds)", top, ROUNDS);
    empty_queue(q);
    ok(msgctl(q, IPC_RMID, NULL) == 0, "removed");
}

/* Part 3 too: sender and receiver both killed mid-stream, then IPC_STAT
 * against what a drain takes, 30 times. */
static void counts_after_kill(void) {
    reset();
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    ok(q >= 0, "a queue");
    int exact = 0;
    for (int i = 0; i < 30; i++) {
        pid_t s = spawn_sender(q, 0, 0, 1), r = spawn_receiver(q, 0);
        sleep_us(500 + (long)(tap_xorshift(&rng) % 3000));
        kill(s, SIGKILL);
        kill(r, SIGKILL);
        reap(s);
        reap(r);
        sh->sent[0] = sh->attempt[0]; /* sent or not: the next sender goes on after it */
        struct msqid_ds ds = {0};
        if (msgctl(q, IPC_STAT, &ds) != 0) break;
        unsigned long n = 0, bytes = 0;
        struct smsg m;
        ssize_t k;
        while ((k = msgrcv(q, &m, sizeof m - sizeof m.mtype, 0, IPC_NOWAIT)) >= 0) {
            n++;
            bytes += (unsigned long)k;
            if (m.seq <= sh->last[0]) fail("drain: seq %u after %u", m.seq, sh->last[0]);
            sh->last[0] = m.seq;
            note(&m, k, 0);
        }
        if (n == ds.msg_qnum && bytes == ds.msg_cbytes) exact++;
        else
            diag("round %d: msg_qnum %lu, msg_cbytes %lu, drained %lu messages, %lu bytes", i,
                 (unsigned long)ds.msg_qnum, (unsigned long)ds.msg_cbytes, n, bytes);
    }
    ok(exact == 30, "after sender and receiver were killed mid-stream, msg_qnum and msg_cbytes "
                    "equal what a drain takes (%d of 30)",
       exact);
    ok(!sh->bad, "drains in order, nothing twice%s%s", sh->bad ? ": " : "", sh->why);
    empty_queue(q);
    ok(msgctl(q, IPC_RMID, NULL) == 0, "removed");
}

/* Part 4. */
#define STOP_TRIALS 20
#define STOPS 10 /* per trial; the last one continued or killed */
#define NOWAIT_MAX 0.25
#define CALL_MAX 1.0

static void stopped_sender(void) {
    reset();
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    ok(q >= 0, "a queue");
    static double tr[STOP_TRIALS * STOPS], tn[STOP_TRIALS * STOPS], ts[STOP_TRIALS * STOPS];
    int slow = 0, killed = 0, bad_call = 0, n = 0, nin = 0;
    uint32_t inflight[STOP_TRIALS];
    pid_t r = spawn_receiver(q, 0);
    for (int t = 0; t < STOP_TRIALS; t++) {
        sh->stop_send = 0;
        /* No bound on what it keeps unreceived: it sends as fast as it
         * can, or waits inside msgsnd for room. */
        pid_t s = spawn_sender(q, 0, 0, 0);
        for (int j = 0; j < STOPS; j++, n++) {
            sleep_us(200 + (long)(tap_xorshift(&rng) % 3000));
            kill(s, SIGSTOP);
            int st;
            waitpid(s, &st, WUNTRACED);
            struct smsg m;
            double t0 = tap_now();
            ssize_t k = msgrcv(q, &m, sizeof m - sizeof m.mtype, 0, IPC_NOWAIT);
            tr[n] = tap_now() - t0;
            if (k >= 0) note(&m, k, 0);
            else if (errno != ENOMSG) bad_call++;
            uint32_t seq = sh->attempt[2] + 1;
            fill(&m, seq, 2, 0);
            sh->attempt[2] = seq;
            t0 = tap_now();
            int e = msgsnd(q, &m, len_of(seq), IPC_NOWAIT);
            tn[n] = tap_now() - t0;
            if (e == 0) sh->sent[2] = seq;
            else if (errno != EAGAIN) bad_call++;
            else sh->attempt[2] = seq - 1; /* not sent: the next send takes its number */
            seq = sh->attempt[2] + 1;
            fill(&m, seq, 2, 0);
            sh->attempt[2] = seq;
            t0 = tap_now();
            e = msgsnd(q, &m, len_of(seq), 0);
            ts[n] = tap_now() - t0;
            if (e == 0) sh->sent[2] = seq;
            else bad_call++;
            if (tr[n] > NOWAIT_MAX || tn[n] > NOWAIT_MAX || ts[n] > CALL_MAX) {
                slow++;
                diag("trial %d, stop %d: msgrcv IPC_NOWAIT %.1f ms, msgsnd IPC_NOWAIT %.1f ms, "
                     "msgsnd %.1f ms",
                     t, j, tr[n] * 1e3, tn[n] * 1e3, ts[n] * 1e3);
            }
            if (j < STOPS - 1 || t % 3 != 2) kill(s, SIGCONT);
        }
        if (t % 3 == 2) {
            kill(s, SIGKILL);
            killed++;
            reap(s);
            /* A number in flight may or may not have been sent. */
            if (sh->attempt[0] != sh->sent[0]) inflight[nin++] = sh->attempt[0];
            sh->sent[0] = sh->attempt[0];
        } else {
            sleep_us(1000);
            sh->stop_send = 1;
            bad_call += !exited_0(reap(s));
        }
    }
    ok(send_end(q) == 0, "the end marker sent");
    int rst = reap(r);
    double mr = tap_median(tr, n), mn = tap_median(tn, n), ms = tap_median(ts, n);
    diag("beside a stopped sender: msgrcv IPC_NOWAIT median %.2f ms (max %.2f), msgsnd IPC_NOWAIT "
         "%.2f ms (max %.2f), msgsnd %.2f ms (max %.2f)",
         mr * 1e3, tr[n - 1] * 1e3, mn * 1e3, tn[n - 1] * 1e3, ms * 1e3, ts[n - 1] * 1e3);
    ok(slow == 0, "IPC_NOWAIT calls within %.0f ms, an untimed msgsnd within %.0f s, beside the "
                  "stopped sender (%d slow)",
       NOWAIT_MAX * 1e3, CALL_MAX, slow);
    ok(bad_call == 0, "no call failed otherwise; each continued sender ended well");
    ok(exited_0(rst), "the receiver took everything up to the end marker (%#x)", rst);
    ok(!sh->bad, "nothing damaged, twice or out of order%s%s", sh->bad ? ": " : "", sh->why);
    uint32_t missing[2], beyond[2];
    all_once(0, &missing[0], &beyond[0]);
    all_once(2, &missing[1], &beyond[1]);
    for (int k = 0; k < nin; k++) missing[0] -= !sh->got[0][inflight[k]];
    ok(missing[0] + beyond[0] + missing[1] + beyond[1] == 0,
       "every message sent taken exactly once (stream %u missing, %u beyond; this process's %u, %u)",
       missing[0], beyond[0], missing[1], beyond[1]);
    ok(killed == STOP_TRIALS / 3, "%d stopped senders killed", killed);
    empty_queue(q);
    ok(msgctl(q, IPC_RMID, NULL) == 0, "removed");
}

/* Part 5. */
static int wait_for(_Atomic uint32_t *v, uint32_t want, double secs) {
    double t0 = tap_now();
    while (*v < want) {
        if (tap_now() - t0 > secs) return 0;
        sleep_us(100);
    }
    return 1;
}

static void fork_set_rmid(void) {
    reset();
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    ok(q >= 0, "a queue");
    pid_t r = spawn_receiver(q, 0);
    fflush(stdout);
    pid_t s = fork();
    if (s == 0) forking_sender(q);
    int forked = wait_for(&sh->last[1], 3000, 30) && wait_for(&sh->sent[0], 4000, 30);
    ok(forked, "the stream's forked child sent its 3000, all received, while its parent went on (%u)",
       sh->sent[0]);
    /* IPC_SET mid-stream: a smaller msg_qbytes holds from when the queue
     * first fits in it. */
    struct msqid_ds ds = {0};
    int set = msgctl(q, IPC_STAT, &ds) == 0;
    unsigned long old_qbytes = ds.msg_qbytes;
    ds.msg_qbytes = 2048;
    set = set && msgctl(q, IPC_SET, &ds) == 0;
    ok(set, "IPC_SET msg_qbytes 2048 mid-stream");
    int fitted = 0, over = 0, samples = 0;
    uint32_t from = sh->sent[0];
    double t0 = tap_now();
    while (samples < 300 && tap_now() - t0 < 10) {
        struct msqid_ds st = {0};
        if (msgctl(q, IPC_STAT, &st) != 0) break;
        samples++;
        if (st.msg_qbytes != 2048) over++;
        if (st.msg_cbytes <= 2048) fitted = 1;
        else if (fitted) {
            over++;
            diag("msg_cbytes %lu over msg_qbytes %lu", (unsigned long)st.msg_cbytes,
                 (unsigned long)st.msg_qbytes);
        }
        sleep_us(200);
    }
    ok(samples == 300 && fitted && over == 0,
       "once the queue fitted in the new msg_qbytes it stayed there (%d samples, %d over)", samples,
       over);
    ok(sh->sent[0] > from, "the stream went on under the smaller limit (%u messages)", sh->sent[0] - from);
    ds.msg_qbytes = old_qbytes;
    ok(msgctl(q, IPC_SET, &ds) == 0, "msg_qbytes back to %lu", old_qbytes);
    /* IPC_RMID mid-stream: sender and receiver return from their calls. */
    sleep_us(2000);
    sh->rmid = 1;
    t0 = tap_now();
    ok(msgctl(q, IPC_RMID, NULL) == 0, "IPC_RMID mid-stream");
    int sst = -1, rst = -1;
    while ((sst < 0 || rst < 0) && tap_now() - t0 < 10) {
        if (sst < 0 && waitpid(s, &sst, WNOHANG) != s) sst = -1;
        if (rst < 0 && waitpid(r, &rst, WNOHANG) != r) rst = -1;
        sleep_us(500);
    }
    double took = tap_now() - t0;
    if (sst < 0) kill(s, SIGKILL), reap(s);
    if (rst < 0) kill(r, SIGKILL), reap(r);
    ok(sst >= 0 && rst >= 0 && took < 2, "sender and receiver returned from their calls %.0f ms after IPC_RMID",
       took * 1e3);
    ok(exited_0(sst) && exited_0(rst), "with EIDRM or EINVAL, and the forked sender ended well (%#x, %#x)",
       sst, rst);
    ok(!sh->bad, "each sender's numbers in order, none damaged or twice%s%s", sh->bad ? ": " : "",
       sh->why);
    uint32_t missing, beyond;
    int once = all_once(1, &missing, &beyond);
    ok(once && sh->sent[1] == 3000,
       "the forked sender's %u messages all taken exactly once (%u missing, %u beyond)", sh->sent[1],
       missing, beyond);
    beyond = 0;
    for (uint32_t x = sh->attempt[0] + 1; x <= MAXSEQ; x++) beyond += sh->got[0][x];
    ok(beyond == 0, "nothing received that was not sent");
}

int main(void) {
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) return 1;
    rng ^= (uint64_t)getpid() << 20;
    diag("seed %llu", (unsigned long long)rng);
    tap_subtest("typed receivers arriving mid-stream", typed_mid_stream);
    tap_subtest("a second sender joining the stream", second_sender);
    tap_subtest("sender and receiver killed mid-stream", killed_mid_stream);
    tap_subtest("counts after both were killed mid-stream", counts_after_kill);
    tap_subtest("the stream's sender stopped", stopped_sender);
    tap_subtest("fork, IPC_SET and IPC_RMID mid-stream", fork_set_rmid);
    return done_testing();
}
