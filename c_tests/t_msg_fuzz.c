/* t_msg_fuzz.c — bad arguments to the message-queue calls, with the kernel
 * as the oracle: every case runs once against a kernel queue through the
 * raw system call (syscall(SYS_msgsnd, ...), never through ripc) and once
 * against a ripc queue through ripc_msg* (the user engine, or the kernel
 * again under RIPC_BACKEND=kernel), and the two must agree: both fail with
 * the same errno, or both succeed with the same result.
 *
 * Known, deliberate difference (not asserted either way): the kernel's
 * msgrcv takes the message off the queue before it fails with EFAULT;
 * ripc checks the buffer (the bytes it would copy) first and leaves the
 * message there.
 */
#include <ripc.h>
#define RIPC_SYSV_NO_RENAME /* ripc_msg* prototypes, with the kernel calls still reachable */
#include "ripc_sysv.h"
#include "tap.h"

#include <limits.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MSG_COPY
#define MSG_COPY 040000
#endif

static long PAGE;
static int kq, rq;                   /* live queues: kernel's, ripc's */
static int kstale, rstale;           /* ids of removed queues */
static char *gone;                   /* an unmapped page */
static char *ro;                     /* a read-only page */
static char *edge;                   /* a writable page followed by an unmapped one */

struct mb {
    long mtype;
    char mtext[16384];
};
static struct mb kbuf, rbuf;

static long k_snd(int id, const void *p, size_t sz, int fl) { return syscall(SYS_msgsnd, id, p, sz, fl); }
static long k_rcv(int id, void *p, size_t sz, long t, int fl) { return syscall(SYS_msgrcv, id, p, sz, t, fl); }
static long k_ctl(int id, int cmd, void *b) { return syscall(SYS_msgctl, id, cmd, b); }

static const char *ename(int e) { return e ? strerror(e) : "no error"; }

/* Compares a kernel result with ripc's. `expect` is the errno the man page
 * leads us to expect (0: success); the kernel's answer wins when they
 * differ, and that is reported. */
static void same(const char *name, int expect, long kr, int ke, long rr, int re) {
    if (kr >= 0) ke = 0;
    if (rr >= 0) re = 0;
    int agree = (kr < 0) == (rr < 0) && ke == re && (kr < 0 || kr == rr);
    if (!tap_ok(agree, "%s: kernel %ld/%s, ripc %ld/%s", name, kr, ename(ke), rr, ename(re)))
        diag("  ripc disagrees with the kernel");
    if (ke != expect) diag("  (expected %s from the man page; the kernel says %s)", ename(expect), ename(ke));
}

#define VS(name, expect, kcall, rcall)                                                             \
    do {                                                                                           \
        errno = 0;                                                                                 \
        long kr_ = (long)(kcall);                                                                  \
        int ke_ = errno;                                                                           \
        errno = 0;                                                                                 \
        long rr_ = (long)(rcall);                                                                  \
        int re_ = errno;                                                                           \
        same(name, expect, kr_, ke_, rr_, re_);                                                    \
    } while (0)

static long qnum_k(void) {
    struct msqid_ds ds;
    return k_ctl(kq, IPC_STAT, &ds) == 0 ? (long)ds.msg_qnum : -1;
}
static long qnum_r(void) {
    struct msqid_ds ds;
    return ripc_msgctl(rq, IPC_STAT, &ds) == 0 ? (long)ds.msg_qnum : -1;
}

/* One message of `len` bytes in each queue. */
static void put_one(size_t len) {
    struct mb m = {.mtype = 3};
    memset(m.mtext, 'q', len);
    if (k_snd(kq, &m, len, IPC_NOWAIT) != 0) diag("setup: kernel msgsnd: %s", strerror(errno));
    if (ripc_msgsnd(rq, &m, len, IPC_NOWAIT) != 0) diag("setup: ripc msgsnd: %s", strerror(errno));
}

static void drain(void) {
    while (k_rcv(kq, &kbuf, sizeof kbuf.mtext, 0, IPC_NOWAIT | MSG_NOERROR) >= 0) {
    }
    while (ripc_msgrcv(rq, &rbuf, sizeof rbuf.mtext, 0, IPC_NOWAIT | MSG_NOERROR) >= 0) {
    }
}

/* mmap exactly at `at` (never replacing anything), NULL on failure. */
static char *map_at(char *at, int pages, int prot) {
    void *p = mmap(at, (size_t)pages * (size_t)PAGE, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED || p != at) return NULL;
    return p;
}

/* True when the page at `p` is mapped (msync fails with ENOMEM if not). */
static int mapped(void *p) { return msync(p, (size_t)PAGE, MS_ASYNC) == 0 || errno != ENOMEM; }

static long read_long(const char *path, long dflt) {
    FILE *f = fopen(path, "r");
    long v = dflt;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1) v = dflt;
        fclose(f);
    }
    return v;
}

static void test_msgsnd(long msgmax) {
    struct mb m = {.mtype = 1};
    memcpy(m.mtext, "hello", 5);
    char name[128];

    /* Bad message pointers. */
    struct {
        const char *n;
        const void *p;
    } bad[] = {
        {"NULL", NULL},
        {"(void*)1", (void *)1},
        {"(void*)-1", (void *)-1},
        {"an unmapped page", gone},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(name, sizeof name, "msgsnd msgp %s", bad[i].n);
        VS(name, EFAULT, k_snd(kq, bad[i].p, 5, IPC_NOWAIT), ripc_msgsnd(rq, bad[i].p, 5, IPC_NOWAIT));
        snprintf(name, sizeof name, "msgsnd msgp %s, msgsz 0", bad[i].n);
        VS(name, EFAULT, k_snd(kq, bad[i].p, 0, IPC_NOWAIT), ripc_msgsnd(rq, bad[i].p, 0, IPC_NOWAIT));
    }
    /* mtype readable, text running into an unmapped page. */
    long one = 1;
    char *p = edge + PAGE - sizeof(long) - 4;
    memcpy(p, &one, sizeof one);
    VS("msgsnd text runs into an unmapped page", EFAULT, k_snd(kq, p, 100, IPC_NOWAIT),
       ripc_msgsnd(rq, p, 100, IPC_NOWAIT));
    VS("msgsnd text ends exactly at the unmapped page", 0, k_snd(kq, p, 4, IPC_NOWAIT),
       ripc_msgsnd(rq, p, 4, IPC_NOWAIT));
    drain();
    /* The kernel reads mtype before it looks at anything else. */
    VS("msgsnd NULL msgp with msgsz SIZE_MAX (EFAULT first)", EFAULT, k_snd(kq, NULL, SIZE_MAX, 0),
       ripc_msgsnd(rq, NULL, SIZE_MAX, 0));
    VS("msgsnd NULL msgp with id -1 (EFAULT first)", EFAULT, k_snd(-1, NULL, 5, 0), ripc_msgsnd(-1, NULL, 5, 0));

    /* Sizes. */
    VS("msgsnd msgsz SIZE_MAX", EINVAL, k_snd(kq, &m, SIZE_MAX, IPC_NOWAIT), ripc_msgsnd(rq, &m, SIZE_MAX, IPC_NOWAIT));
    VS("msgsnd msgsz (size_t)LONG_MAX + 1", EINVAL, k_snd(kq, &m, (size_t)LONG_MAX + 1, IPC_NOWAIT),
       ripc_msgsnd(rq, &m, (size_t)LONG_MAX + 1, IPC_NOWAIT));
    snprintf(name, sizeof name, "msgsnd msgsz msgmax+1 (%ld)", msgmax + 1);
    VS(name, EINVAL, k_snd(kq, &m, (size_t)msgmax + 1, IPC_NOWAIT), ripc_msgsnd(rq, &m, (size_t)msgmax + 1, IPC_NOWAIT));
    VS("msgsnd msgsz 8192 (the kernel's default msgmax)", 0, k_snd(kq, &m, 8192, IPC_NOWAIT),
       ripc_msgsnd(rq, &m, 8192, IPC_NOWAIT));
    drain();

    /* Types. */
    long types[] = {0, -1, LONG_MIN};
    for (size_t i = 0; i < 3; i++) {
        m.mtype = types[i];
        snprintf(name, sizeof name, "msgsnd mtype %ld", types[i]);
        VS(name, EINVAL, k_snd(kq, &m, 5, IPC_NOWAIT), ripc_msgsnd(rq, &m, 5, IPC_NOWAIT));
    }
    m.mtype = LONG_MAX;
    VS("msgsnd mtype LONG_MAX", 0, k_snd(kq, &m, 5, IPC_NOWAIT), ripc_msgsnd(rq, &m, 5, IPC_NOWAIT));
    m.mtype = 1;
    VS("msgsnd msgflg -1 (all bits: IPC_NOWAIT and unknown ones)", 0, k_snd(kq, &m, 5, -1), ripc_msgsnd(rq, &m, 5, -1));
    drain();

    /* Ids. */
    struct {
        const char *n;
        int k, r;
    } ids[] = {
        {"-1", -1, -1},
        {"INT_MIN", INT_MIN, INT_MIN},
        {"INT_MAX", INT_MAX, INT_MAX},
        {"of a removed queue", kstale, rstale},
        {"of a live queue + 32768", kq + 32768, rq + 32768},
        {"of a live queue - 32768", kq - 32768, rq - 32768},
    };
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        snprintf(name, sizeof name, "msgsnd id %s", ids[i].n);
        VS(name, EINVAL, k_snd(ids[i].k, &m, 5, IPC_NOWAIT), ripc_msgsnd(ids[i].r, &m, 5, IPC_NOWAIT));
    }
    /* Full queue. */
    int k = 0;
    while (k_snd(kq, &m, 4000, IPC_NOWAIT) == 0 && k < 100) k++;
    k = 0;
    while (ripc_msgsnd(rq, &m, 4000, IPC_NOWAIT) == 0 && k < 100) k++;
    VS("msgsnd IPC_NOWAIT on a full queue", EAGAIN, k_snd(kq, &m, 4000, IPC_NOWAIT), ripc_msgsnd(rq, &m, 4000, IPC_NOWAIT));
    drain();
}

static void test_msgrcv(void) {
    char name[160];
    struct {
        const char *n;
        void *p;
    } bad[] = {
        {"NULL", NULL},
        {"(void*)1", (void *)1},
        {"(void*)-1", (void *)-1},
        {"an unmapped page", gone},
        {"a read-only page", ro},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        put_one(5);
        snprintf(name, sizeof name, "msgrcv msgp %s, a message waiting", bad[i].n);
        VS(name, EFAULT, k_rcv(kq, bad[i].p, 100, 0, IPC_NOWAIT), ripc_msgrcv(rq, bad[i].p, 100, 0, IPC_NOWAIT));
        long kn = qnum_k(), rn = qnum_r();
        diag("  afterwards: kernel queue holds %ld (the kernel took it), ripc queue holds %ld (ripc kept it)", kn, rn);
        drain();
    }
    /* An empty queue: nothing to copy, so no buffer check. */
    VS("msgrcv NULL msgp on an empty queue", ENOMSG, k_rcv(kq, NULL, 100, 0, IPC_NOWAIT),
       ripc_msgrcv(rq, NULL, 100, 0, IPC_NOWAIT));
    VS("msgrcv unmapped msgp, no message of that type", ENOMSG, k_rcv(kq, gone, 100, 9, IPC_NOWAIT),
       ripc_msgrcv(rq, gone, 100, 9, IPC_NOWAIT));

    /* A buffer smaller than msgsz, the message fits in it. */
    put_one(10);
    char *p = edge + PAGE - sizeof(long) - 16;
    VS("msgrcv buffer shorter than msgsz (message fits)", 0, k_rcv(kq, p, 4096, 0, IPC_NOWAIT),
       ripc_msgrcv(rq, p, 4096, 0, IPC_NOWAIT));
    drain();
    put_one(10);
    p = edge + PAGE - sizeof(long) - 4;
    VS("msgrcv message runs past the buffer into an unmapped page", EFAULT, k_rcv(kq, p, 4096, 0, IPC_NOWAIT),
       ripc_msgrcv(rq, p, 4096, 0, IPC_NOWAIT));
    diag("  afterwards: kernel queue holds %ld, ripc queue holds %ld", qnum_k(), qnum_r());
    drain();

    /* Sizes. */
    put_one(5);
    VS("msgrcv msgsz SIZE_MAX", EINVAL, k_rcv(kq, &kbuf, SIZE_MAX, 0, IPC_NOWAIT), ripc_msgrcv(rq, &rbuf, SIZE_MAX, 0, IPC_NOWAIT));
    VS("msgrcv msgsz (size_t)LONG_MAX + 1", EINVAL, k_rcv(kq, &kbuf, (size_t)LONG_MAX + 1, 0, IPC_NOWAIT),
       ripc_msgrcv(rq, &rbuf, (size_t)LONG_MAX + 1, 0, IPC_NOWAIT));
    VS("msgrcv NULL msgp, msgsz SIZE_MAX (EINVAL first)", EINVAL, k_rcv(kq, NULL, SIZE_MAX, 0, IPC_NOWAIT),
       ripc_msgrcv(rq, NULL, SIZE_MAX, 0, IPC_NOWAIT));
    VS("msgrcv msgsz 4 < message (E2BIG)", E2BIG, k_rcv(kq, &kbuf, 4, 0, IPC_NOWAIT), ripc_msgrcv(rq, &rbuf, 4, 0, IPC_NOWAIT));
    ok(qnum_k() == 1 && qnum_r() == 1, "msgrcv E2BIG leaves the message in both queues");
    VS("msgrcv msgsz 4 with MSG_NOERROR truncates", 4, k_rcv(kq, &kbuf, 4, 0, IPC_NOWAIT | MSG_NOERROR),
       ripc_msgrcv(rq, &rbuf, 4, 0, IPC_NOWAIT | MSG_NOERROR));
    put_one(5);
    VS("msgrcv msgsz 0 < message (E2BIG)", E2BIG, k_rcv(kq, &kbuf, 0, 0, IPC_NOWAIT), ripc_msgrcv(rq, &rbuf, 0, 0, IPC_NOWAIT));
    VS("msgrcv msgsz 16384 > msgmax is fine", 5, k_rcv(kq, &kbuf, 16384, 0, IPC_NOWAIT),
       ripc_msgrcv(rq, &rbuf, 16384, 0, IPC_NOWAIT));
    drain();

    /* Ids (a valid buffer, and a NULL one: the id is checked first). */
    struct {
        const char *n;
        int k, r;
    } ids[] = {
        {"-1", -1, -1},
        {"INT_MIN", INT_MIN, INT_MIN},
        {"INT_MAX", INT_MAX, INT_MAX},
        {"of a removed queue", kstale, rstale},
        {"of a live queue + 32768", kq + 32768, rq + 32768},
    };
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        snprintf(name, sizeof name, "msgrcv id %s", ids[i].n);
        VS(name, EINVAL, k_rcv(ids[i].k, &kbuf, 100, 0, IPC_NOWAIT), ripc_msgrcv(ids[i].r, &rbuf, 100, 0, IPC_NOWAIT));
        snprintf(name, sizeof name, "msgrcv id %s, NULL msgp", ids[i].n);
        VS(name, EINVAL, k_rcv(ids[i].k, NULL, 100, 0, IPC_NOWAIT), ripc_msgrcv(ids[i].r, NULL, 100, 0, IPC_NOWAIT));
    }

    /* Types and flags on an empty queue. */
    long typs[] = {0, 1, -1, LONG_MIN, LONG_MAX};
    for (size_t i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "msgrcv msgtyp %ld on an empty queue", typs[i]);
        VS(name, ENOMSG, k_rcv(kq, &kbuf, 100, typs[i], IPC_NOWAIT), ripc_msgrcv(rq, &rbuf, 100, typs[i], IPC_NOWAIT));
    }
    VS("msgrcv MSG_COPY without IPC_NOWAIT", EINVAL, k_rcv(kq, &kbuf, 100, 0, MSG_COPY),
       ripc_msgrcv(rq, &rbuf, 100, 0, MSG_COPY));
    VS("msgrcv MSG_COPY|MSG_EXCEPT|IPC_NOWAIT", EINVAL, k_rcv(kq, &kbuf, 100, 0, MSG_COPY | MSG_EXCEPT | IPC_NOWAIT),
       ripc_msgrcv(rq, &rbuf, 100, 0, MSG_COPY | MSG_EXCEPT | IPC_NOWAIT));
    /* LONG_MIN as a type: its absolute value does not fit a long. */
    put_one(5);
    VS("msgrcv msgtyp LONG_MIN with a message", 5, k_rcv(kq, &kbuf, 100, LONG_MIN, IPC_NOWAIT),
       ripc_msgrcv(rq, &rbuf, 100, LONG_MIN, IPC_NOWAIT));
    put_one(5);
    VS("msgrcv msgtyp -LONG_MAX with a message", 5, k_rcv(kq, &kbuf, 100, -LONG_MAX, IPC_NOWAIT),
       ripc_msgrcv(rq, &rbuf, 100, -LONG_MAX, IPC_NOWAIT));
    drain();
}

static void test_msgctl(void) {
    char name[160];
    struct msqid_ds ds;
    struct msginfo mi;
    int cmds[] = {-1, 4, 99, 12345, INT_MAX, INT_MIN, IPC_STAT | 0x100};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        snprintf(name, sizeof name, "msgctl cmd %d", cmds[i]);
        VS(name, EINVAL, k_ctl(kq, cmds[i], &ds), ripc_msgctl(rq, cmds[i], &ds));
    }
    struct {
        const char *n;
        void *p;
    } bad[] = {
        {"NULL", NULL},
        {"(void*)1", (void *)1},
        {"(void*)-1", (void *)-1},
        {"an unmapped page", gone},
        {"a read-only page", ro},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(name, sizeof name, "msgctl IPC_STAT buf %s", bad[i].n);
        VS(name, EFAULT, k_ctl(kq, IPC_STAT, bad[i].p), ripc_msgctl(rq, IPC_STAT, bad[i].p));
        snprintf(name, sizeof name, "msgctl MSG_INFO buf %s", bad[i].n);
        VS(name, EFAULT, k_ctl(0, MSG_INFO, bad[i].p), ripc_msgctl(0, MSG_INFO, bad[i].p));
        snprintf(name, sizeof name, "msgctl IPC_INFO buf %s", bad[i].n);
        VS(name, EFAULT, k_ctl(0, IPC_INFO, bad[i].p), ripc_msgctl(0, IPC_INFO, bad[i].p));
        if (bad[i].p != ro) {
            snprintf(name, sizeof name, "msgctl IPC_SET buf %s", bad[i].n);
            VS(name, EFAULT, k_ctl(kq, IPC_SET, bad[i].p), ripc_msgctl(rq, IPC_SET, bad[i].p));
        }
    }
    /* A msqid_ds running into an unmapped page. */
    void *p = edge + PAGE - 16;
    VS("msgctl IPC_STAT buf runs into an unmapped page", EFAULT, k_ctl(kq, IPC_STAT, p), ripc_msgctl(rq, IPC_STAT, p));
    struct {
        const char *n;
        int k, r;
    } ids[] = {
        {"-1", -1, -1},
        {"INT_MAX", INT_MAX, INT_MAX},
        {"of a removed queue", kstale, rstale},
        {"of a live queue + 32768", kq + 32768, rq + 32768},
    };
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        snprintf(name, sizeof name, "msgctl IPC_STAT id %s", ids[i].n);
        VS(name, EINVAL, k_ctl(ids[i].k, IPC_STAT, &ds), ripc_msgctl(ids[i].r, IPC_STAT, &ds));
        snprintf(name, sizeof name, "msgctl IPC_RMID id %s", ids[i].n);
        VS(name, EINVAL, k_ctl(ids[i].k, IPC_RMID, NULL), ripc_msgctl(ids[i].r, IPC_RMID, NULL));
        if (ripc_msgctl(rq, IPC_STAT, &ds) == 0) {
            snprintf(name, sizeof name, "msgctl IPC_SET id %s", ids[i].n);
            VS(name, EINVAL, k_ctl(ids[i].k, IPC_SET, &ds), ripc_msgctl(ids[i].r, IPC_SET, &ds));
        }
    }
    VS("msgctl MSG_STAT index -1", EINVAL, k_ctl(-1, MSG_STAT, &ds), ripc_msgctl(-1, MSG_STAT, &ds));
    VS("msgctl MSG_STAT index 32767 (unused)", EINVAL, k_ctl(32767, MSG_STAT, &ds), ripc_msgctl(32767, MSG_STAT, &ds));
    VS("msgctl MSG_STAT index 1000000", EINVAL, k_ctl(1000000, MSG_STAT, &ds), ripc_msgctl(1000000, MSG_STAT, &ds));
    (void)mi;
}

static void test_msgget(void) {
    /* Two keys: under RIPC_BACKEND=kernel both queues live in the kernel. */
    int key = 0x52490000 | (getpid() & 0x7fff), rkey = key | 0x8000;
    VS("msgget of a missing key without IPC_CREAT", ENOENT, syscall(SYS_msgget, key, 0600), ripc_msgget(rkey, 0600));
    long k = syscall(SYS_msgget, key, IPC_CREAT | IPC_EXCL | 0600);
    int r = ripc_msgget(rkey, IPC_CREAT | IPC_EXCL | 0600);
    ok(k >= 0 && r >= 0, "msgget IPC_CREAT|IPC_EXCL of a new key");
    VS("msgget IPC_CREAT|IPC_EXCL of an existing key", EEXIST, syscall(SYS_msgget, key, IPC_CREAT | IPC_EXCL | 0600),
       ripc_msgget(rkey, IPC_CREAT | IPC_EXCL | 0600));
    if (k >= 0) k_ctl((int)k, IPC_RMID, NULL);
    if (r >= 0) ripc_msgctl(r, IPC_RMID, NULL);
    errno = 0;
    int fk = ftok("/nonexistent/ripc", 1);
    int fe = errno;
    errno = 0;
    int rk = ripc_ftok("/nonexistent/ripc", 1);
    int re = errno;
    ok(fk == rk && fe == re, "ftok of a missing file: libc %d/%s, ripc %d/%s", fk, ename(fe), rk, ename(re));
    errno = 0;
    rk = ripc_ftok(NULL, 1);
    re = errno;
    ok(rk == -1 && re == EFAULT, "ripc_ftok(NULL): %d/%s", rk, ename(re));
    ok(ripc_ftok("/", 'x') == ftok("/", 'x'), "ripc_ftok(\"/\") matches libc's ftok");
}

static void test_native(void) {
    char buf[64];
    long t;
    ripc_queue_info info;
    errno = 0;
    ok_errno(ripc_queue_send(NULL, 1, "x", 1, 0) == -1, EFAULT, "ripc_queue_send(NULL handle)");
    ok_errno(ripc_queue_recv(NULL, 0, buf, sizeof buf, 0, 0, &t) == -1, EFAULT, "ripc_queue_recv(NULL handle)");
    ok_errno(ripc_queue_stat(NULL, &info) == -1, EFAULT, "ripc_queue_stat(NULL handle)");
    ok_errno(ripc_queue_remove(NULL) == -1, EFAULT, "ripc_queue_remove(NULL handle)");
    ok_errno(ripc_queue_id(NULL) == -1, EFAULT, "ripc_queue_id(NULL handle)");
    ripc_queue_close(NULL);
    ok(1, "ripc_queue_close(NULL) is a no-op");
    ok_errno(ripc_queue_open_id(NULL, -1) == NULL, EINVAL, "ripc_queue_open_id(NULL, -1)");
    ok_errno(ripc_queue_open_id(NULL, rstale) == NULL, EINVAL, "ripc_queue_open_id(NULL, a removed queue)");
    ok_errno(ripc_queue_open_id(NULL, rq + 32768) == NULL, EINVAL, "ripc_queue_open_id(NULL, live id + 32768)");

    ripc_queue *q = ripc_queue_open(NULL, 0, 0, IPC_CREAT | 0600);
    if (!ok(q != NULL, "ripc_queue_open(IPC_PRIVATE)")) return;
    ok_errno(ripc_queue_send(q, 1, NULL, 10, 0) == -1, EFAULT, "ripc_queue_send NULL data, len 10");
    ok_errno(ripc_queue_send(q, 1, (void *)1, 10, 0) == -1, EFAULT, "ripc_queue_send (void*)1 data");
    ok_errno(ripc_queue_send(q, 1, gone, 10, 0) == -1, EFAULT, "ripc_queue_send unmapped data");
    ok_errno(ripc_queue_send(q, 0, "x", 1, 0) == -1, EINVAL, "ripc_queue_send type 0");
    ok_errno(ripc_queue_send(q, -5, "x", 1, 0) == -1, EINVAL, "ripc_queue_send type -5");
    static char big[1 << 17];
    ok_errno(ripc_queue_send(q, 1, big, sizeof big, 0) == -1, EINVAL, "ripc_queue_send len 128 KiB > msgmax");
    errno = 0;
    int r = ripc_queue_send(q, 1, big, SIZE_MAX, 0);
    ok(r == -1 && (errno == EINVAL || errno == EFAULT), "ripc_queue_send len SIZE_MAX: %s", ename(errno));
    ok(ripc_queue_send(q, 1, NULL, 0, 0) == 0, "ripc_queue_send NULL data, len 0 sends an empty message");
    ok_errno(ripc_queue_recv(q, 0, NULL, 10, 0, 0, &t) == -1, EFAULT, "ripc_queue_recv NULL buf, cap 10");
    ok_errno(ripc_queue_recv(q, 0, gone, 10, 0, 0, &t) == -1, EFAULT, "ripc_queue_recv unmapped buf");
    ok_errno(ripc_queue_recv(q, 0, ro, 10, 0, 0, &t) == -1, EFAULT, "ripc_queue_recv read-only buf");
    ok_errno(ripc_queue_recv(q, 0, buf, SIZE_MAX, 0, 0, &t) == -1, EINVAL, "ripc_queue_recv cap SIZE_MAX");
    ok_errno(ripc_queue_recv(q, 0, buf, sizeof buf, 0, 0, (long *)1) == -1, EFAULT, "ripc_queue_recv type_out (long*)1");
    ok_errno(ripc_queue_recv(q, 0, buf, sizeof buf, 0, 0, (long *)ro) == -1, EFAULT, "ripc_queue_recv read-only type_out");
    ok_errno(ripc_queue_stat(q, NULL) == -1, EFAULT, "ripc_queue_stat NULL info");
    ok_errno(ripc_queue_stat(q, (struct ripc_queue_info *)1) == -1, EFAULT, "ripc_queue_stat (void*)1 info");
    ok_errno(ripc_queue_stat(q, (struct ripc_queue_info *)gone) == -1, EFAULT, "ripc_queue_stat unmapped info");
    ok_errno(ripc_queue_stat(q, (struct ripc_queue_info *)ro) == -1, EFAULT, "ripc_queue_stat read-only info");
    ok(ripc_queue_stat(q, &info) == 0 && info.messages == 1, "the empty message is still there (%llu)",
       (unsigned long long)info.messages);
    t = 0;
    ok(ripc_queue_recv(q, 0, NULL, 0, 0, 0, &t) == 0 && t == 1, "ripc_queue_recv NULL buf, cap 0 takes it");
    ok_errno(ripc_queue_recv(q, 0, buf, sizeof buf, 0, 0, NULL) == -1, EAGAIN, "ripc_queue_recv timeout 0 on an empty queue: EAGAIN (the one zero-timeout errno)");
    ok(ripc_queue_remove(q) == 0, "ripc_queue_remove");
    ok_errno(ripc_queue_send(q, 1, "x", 1, 0) == -1, EINVAL, "ripc_queue_send on a removed queue");
    ripc_queue_close(q);
}

int main(void) {
    PAGE = sysconf(_SC_PAGESIZE);
    /* Fixed addresses far from where the kernel places mappings, so that no
     * later mmap (ours, malloc's or the library's) reuses the holes. */
    char *base = (char *)0x100000000000ul;
    gone = map_at(base, 2, PROT_READ | PROT_WRITE);
    ro = map_at(base + 16 * PAGE, 1, PROT_READ);
    edge = map_at(base + 32 * PAGE, 2, PROT_READ | PROT_WRITE);
    if (!gone || !ro || !edge) {
        ok(0, "test mappings at fixed addresses");
        return done_testing();
    }
    munmap(gone, 2 * (size_t)PAGE);
    munmap(edge + PAGE, (size_t)PAGE);
    ok(!mapped(gone) && mapped(ro) && mapped(edge) && !mapped(edge + PAGE),
       "test pages: %p unmapped, %p read-only, %p writable then unmapped", (void *)gone, (void *)ro, (void *)edge);

    long kmax = read_long("/proc/sys/kernel/msgmax", 8192);
    long rmax = backend_is_kernel() ? kmax : (long)ripc_limit_get(NULL, "msgmax");
    diag("backend %s; msgmax kernel %ld, ripc %ld", backend_is_kernel() ? "kernel" : "user", kmax, rmax);

    kstale = (int)syscall(SYS_msgget, IPC_PRIVATE, IPC_CREAT | 0600);
    rstale = ripc_msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    ok(kstale >= 0 && rstale >= 0 && k_ctl(kstale, IPC_RMID, NULL) == 0 && ripc_msgctl(rstale, IPC_RMID, NULL) == 0,
       "a queue of each, created and removed (stale ids %d, %d)", kstale, rstale);
    kq = (int)syscall(SYS_msgget, IPC_PRIVATE, IPC_CREAT | 0600);
    rq = ripc_msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    if (!ok(kq >= 0 && rq >= 0, "live queues: kernel %d, ripc %d", kq, rq)) {
        if (kq >= 0) k_ctl(kq, IPC_RMID, NULL);
        if (rq >= 0) ripc_msgctl(rq, IPC_RMID, NULL);
        return done_testing();
    }

    test_msgsnd(kmax > rmax ? kmax : rmax);
    test_msgrcv();
    test_msgctl();
    test_msgget();
    test_native();

    ok(!mapped(gone) && !mapped(edge + PAGE), "the unmapped test pages stayed unmapped");
    ok(k_ctl(kq, IPC_RMID, NULL) == 0, "kernel queue removed");
    ok(ripc_msgctl(rq, IPC_RMID, NULL) == 0, "ripc queue removed");
    return done_testing();
}
