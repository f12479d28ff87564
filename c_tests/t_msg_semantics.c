/* t_msg_semantics.c — System V message queue semantics (man 2 msgop,
 * msgctl), through the drop-in header, under both backends. */
#include "ripc_sysv.h"
#include "tap.h"
#include <ripc.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct msg {
    long mtype;
    char mtext[8192];
};

static int q_new(void) { return msgget(IPC_PRIVATE, IPC_CREAT | 0600); }

static int snd(int q, long type, const char *text, int flags) {
    struct msg m;
    m.mtype = type;
    size_t n = strlen(text);
    memcpy(m.mtext, text, n);
    return msgsnd(q, &m, n, flags);
}

/* receives into a static message; returns length or -1 */
static struct msg got;
static ssize_t rcv(int q, long type, size_t max, int flags) {
    memset(&got, 0, sizeof got);
    return msgrcv(q, &got, max, type, flags);
}

static void on_sig(int s) { (void)s; }

static void test_get(void) {
    char path[] = "/tmp/ripc-t-msg-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    key_t k = ftok(path, 'x');
    /* ftok must equal glibc's: compute it as glibc does */
    struct stat st;
    stat(path, &st);
    key_t expect = (key_t)((st.st_ino & 0xffff) | ((st.st_dev & 0xff) << 16) | ((unsigned)('x' & 0xff) << 24));
    ok(k == expect, "ftok gives glibc's key (%#x)", (unsigned)k);
    ok_errno(ftok("/nonexistent/ripc", 1) == -1, ENOENT, "ftok of a missing file: ENOENT");
    unlink(path);

    ok_errno(msgget(k, 0600) == -1, ENOENT, "msgget of a missing key without IPC_CREAT: ENOENT");
    int q = msgget(k, IPC_CREAT | IPC_EXCL | 0640);
    ok(q >= 0, "msgget IPC_CREAT|IPC_EXCL creates");
    ok(msgget(k, 0) == q, "msgget(key, 0) finds the same id");
    ok(msgget(k, IPC_CREAT | 0600) == q, "IPC_CREAT on an existing key returns it");
    ok_errno(msgget(k, IPC_CREAT | IPC_EXCL | 0600) == -1, EEXIST, "IPC_EXCL on an existing key: EEXIST");
    struct msqid_ds ds;
    ok(msgctl(q, IPC_STAT, &ds) == 0 && (ds.msg_perm.mode & 0777) == 0640 && ds.msg_perm.__key == k &&
           ds.msg_perm.uid == geteuid() && ds.msg_perm.cuid == geteuid() && ds.msg_perm.gid == getegid(),
       "IPC_STAT: mode, key, owner and creator");
    ok(ds.msg_qnum == 0 && ds.__msg_cbytes == 0 && ds.msg_qbytes == 16384 && ds.msg_lspid == 0 &&
           ds.msg_lrpid == 0 && ds.msg_stime == 0 && ds.msg_rtime == 0 && ds.msg_ctime > 0,
       "IPC_STAT of a new queue: empty, qbytes 16384, no pids or times");
    ok(msgctl(q, IPC_RMID, NULL) == 0, "IPC_RMID");
    ok_errno(msgget(k, 0) == -1, ENOENT, "the key finds nothing after IPC_RMID");
    int q2 = msgget(k, IPC_CREAT | 0600);
    ok(q2 >= 0 && q2 != q, "re-creating the key gives a different id (%d != %d)", q2, q);
    ok_errno(msgsnd(q, &(struct msg){.mtype = 1}, 0, 0) == -1, EINVAL, "the removed id is invalid: EINVAL");
    msgctl(q2, IPC_RMID, NULL);
    int a = q_new(), b = q_new();
    ok(a >= 0 && b >= 0 && a != b, "two IPC_PRIVATE queues are distinct");
    msgctl(a, IPC_RMID, NULL);
    msgctl(b, IPC_RMID, NULL);
}

static void test_types(void) {
    int q = q_new();
    snd(q, 5, "five", 0);
    snd(q, 2, "two", 0);
    snd(q, 7, "seven", 0);
    snd(q, 2, "two-b", 0);
    snd(q, 1, "one", 0);
    ok(rcv(q, 2, 100, IPC_NOWAIT) == 3 && got.mtype == 2 && !strcmp(got.mtext, "two"), "msgtyp > 0 takes the first of that type");
    ok(rcv(q, -6, 100, IPC_NOWAIT) == 3 && got.mtype == 1, "msgtyp < 0 takes the lowest type <= |msgtyp|");
    /* left: five(5) seven(7) two-b(2) */
    ok(rcv(q, 5, 100, IPC_NOWAIT | MSG_EXCEPT) == 5 && got.mtype == 7 && !strcmp(got.mtext, "seven"),
       "MSG_EXCEPT takes the first message not of that type");
    ok(rcv(q, 0, 100, IPC_NOWAIT) == 4 && got.mtype == 5, "msgtyp 0 takes the first message (FIFO)");
    ok_errno(rcv(q, 3, 100, IPC_NOWAIT) == -1, ENOMSG, "no message of the type with IPC_NOWAIT: ENOMSG");
    ok_errno(rcv(q, -1, 100, IPC_NOWAIT) == -1, ENOMSG, "msgtyp -1 with only type 2 left: ENOMSG");
    ok_errno(rcv(q, 2, 3, IPC_NOWAIT) == -1, E2BIG, "a message longer than msgsz: E2BIG");
    ok(rcv(q, 2, 3, IPC_NOWAIT | MSG_NOERROR) == 3 && !memcmp(got.mtext, "two", 3), "MSG_NOERROR truncates");
    ok_errno(rcv(q, 0, 100, IPC_NOWAIT) == -1, ENOMSG, "the truncated message was removed");
    ok(snd(q, 9, "", 0) == 0 && rcv(q, 0, 0, IPC_NOWAIT) == 0 && got.mtype == 9, "zero-length messages");
    ok_errno(snd(q, 0, "x", 0) == -1, EINVAL, "mtype 0: EINVAL");
    ok_errno(snd(q, -3, "x", 0) == -1, EINVAL, "negative mtype: EINVAL");
    struct msg m = {.mtype = 1};
    ok_errno(msgsnd(q, &m, 8193, 0) == -1, EINVAL, "msgsz above msgmax (8192): EINVAL");
    ok(msgsnd(q, &m, 8192, 0) == 0, "msgsz of exactly msgmax is fine");
    ok(rcv(q, 1, 8192, 0) == 8192, "and arrives whole");
    ok_errno(msgsnd(-1, &m, 1, 0) == -1, EINVAL, "negative id: EINVAL");
    ok_errno(msgsnd(q + 1, &m, 1, 0) == -1, EINVAL, "an id that does not exist: EINVAL");
    ok_errno(msgrcv(q, &m, (size_t)-1, 0, IPC_NOWAIT) == -1, EINVAL, "msgsz that is negative as a long: EINVAL");
    ok_errno(msgsnd(q, NULL, 1, 0) == -1, EFAULT, "NULL msgp: EFAULT");
    ok_errno(msgctl(q, 12345, NULL) == -1, EINVAL, "unknown msgctl command: EINVAL");
    msgctl(q, IPC_RMID, NULL);
}

static void test_limits_and_stat(void) {
    int q = q_new();
    struct msg m = {.mtype = 1};
    ok(msgsnd(q, &m, 8192, IPC_NOWAIT) == 0 && msgsnd(q, &m, 8192, IPC_NOWAIT) == 0, "two 8 KiB messages fill 16 KiB");
    ok_errno(msgsnd(q, &m, 1, IPC_NOWAIT) == -1, EAGAIN, "a full queue with IPC_NOWAIT: EAGAIN");
    struct msqid_ds ds;
    msgctl(q, IPC_STAT, &ds);
    ok(ds.msg_qnum == 2 && ds.__msg_cbytes == 16384 && ds.msg_lspid == getpid() && ds.msg_stime > 0,
       "IPC_STAT: qnum, cbytes, lspid, stime after sends");
    rcv(q, 0, 8192, 0);
    msgctl(q, IPC_STAT, &ds);
    ok(ds.msg_qnum == 1 && ds.__msg_cbytes == 8192 && ds.msg_lrpid == getpid() && ds.msg_rtime > 0,
       "IPC_STAT: lrpid and rtime after a receive");
    rcv(q, 0, 8192, 0);
    /* lower qbytes */
    ds.msg_qbytes = 100;
    ok(msgctl(q, IPC_SET, &ds) == 0, "IPC_SET lowers msg_qbytes");
    ok(msgsnd(q, &m, 100, IPC_NOWAIT) == 0, "100 bytes fit");
    ok_errno(msgsnd(q, &m, 1, IPC_NOWAIT) == -1, EAGAIN, "101st byte does not");
    rcv(q, 0, 8192, 0);
    /* message count limit: qnum < qbytes */
    ds.msg_qbytes = 3;
    msgctl(q, IPC_SET, &ds);
    int n = 0;
    while (msgsnd(q, &m, 0, IPC_NOWAIT) == 0 && n < 10) n++;
    ok(n == 3, "a queue holds at most msg_qbytes zero-length messages (%d)", n);
    while (rcv(q, 0, 10, IPC_NOWAIT) >= 0) {}
    ds.msg_qbytes = 16384;
    ds.msg_perm.mode = 0604;
    ok(msgctl(q, IPC_SET, &ds) == 0, "IPC_SET mode and qbytes back");
    msgctl(q, IPC_STAT, &ds);
    ok((ds.msg_perm.mode & 0777) == 0604 && ds.msg_qbytes == 16384, "IPC_SET took effect");

    struct msginfo mi;
    int maxidx = msgctl(0, IPC_INFO, (struct msqid_ds *)&mi);
    ok(maxidx >= 0 && mi.msgmax == 8192 && mi.msgmnb == 16384 && mi.msgmni > 0, "IPC_INFO reports the limits");
    maxidx = msgctl(0, MSG_INFO, (struct msqid_ds *)&mi);
    ok(maxidx >= 0 && mi.msgpool >= 1, "MSG_INFO counts queues in use (%d)", mi.msgpool);
    int found = 0;
    for (int i = 0; i <= maxidx; i++) {
        struct msqid_ds s2;
        int id = msgctl(i, MSG_STAT, &s2);
        if (id == q) found = 1;
    }
    ok(found, "MSG_STAT over 0..maxidx finds the queue by index");
    msgctl(q, IPC_RMID, NULL);
}

static void test_blocking(void) {
    int q = q_new();
    pid_t c = fork();
    if (c == 0) {
        usleep(100000);
        snd(q, 4, "late", 0);
        _exit(0);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ssize_t n = rcv(q, 4, 100, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    ok(n == 4 && ms >= 50 && ms < 2000, "a blocked receiver is woken by a send (%.1f ms)", ms);
    waitpid(c, NULL, 0);

    /* a blocked sender is woken by a receive */
    struct msg m = {.mtype = 1};
    msgsnd(q, &m, 8192, 0);
    msgsnd(q, &m, 8192, 0);
    c = fork();
    if (c == 0) {
        usleep(100000);
        msgrcv(q, &m, 8192, 0, 0);
        _exit(0);
    }
    ok(msgsnd(q, &m, 8192, 0) == 0, "a blocked sender is woken when a receive makes room");
    waitpid(c, NULL, 0);
    while (rcv(q, 0, 8192, IPC_NOWAIT) >= 0) {}

    /* EIDRM for a blocked receiver when the queue is removed */
    c = fork();
    if (c == 0) {
        errno = 0;
        ssize_t r = msgrcv(q, &m, 10, 0, 0);
        _exit(r == -1 && errno == EIDRM ? 0 : 1);
    }
    usleep(100000);
    msgctl(q, IPC_RMID, NULL);
    int st;
    waitpid(c, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "IPC_RMID wakes a blocked receiver with EIDRM");

    /* EINTR even with SA_RESTART */
    q = q_new();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sig;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    pid_t me = getpid();
    c = fork();
    if (c == 0) {
        /* Every 100 ms until killed (5 s at most): a signal that lands
         * before the receiver sleeps (on a loaded machine it may not have
         * got there in 100 ms; the user backend spins first, README,
         * Differences) runs the handler and the call waits on. */
        for (int i = 0; i < 50; i++) {
            usleep(100000);
            kill(me, SIGUSR1);
        }
        _exit(0);
    }
    errno = 0;
    alarm(10); /* a call that swallows the signals kills the test, never hangs it */
    n = rcv(q, 0, 10, 0);
    alarm(0);
    ok(n == -1 && errno == EINTR, "a signal interrupts msgrcv with EINTR even with SA_RESTART");
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    msgctl(q, IPC_RMID, NULL);
}

/* Permission checks run as nobody (root bypasses them). */
static void test_perms(void) {
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    int q2 = msgget(IPC_PRIVATE, IPC_CREAT | 0622); /* others may write, not read */
    pid_t c = fork();
    if (c == 0) {
        if (setgid(65534) || setuid(65534)) _exit(99);
        int bad = 0;
        struct msg m = {.mtype = 1};
        struct msqid_ds ds;
        errno = 0;
        if (!(msgsnd(q, &m, 1, IPC_NOWAIT) == -1 && errno == EACCES)) bad |= 1;
        errno = 0;
        if (!(msgrcv(q, &m, 1, 0, IPC_NOWAIT) == -1 && errno == EACCES)) bad |= 2;
        errno = 0;
        if (!(msgctl(q, IPC_STAT, &ds) == -1 && errno == EACCES)) bad |= 4;
        errno = 0;
        if (!(msgctl(q, IPC_RMID, NULL) == -1 && errno == EPERM)) bad |= 8;
        if (msgsnd(q2, &m, 1, IPC_NOWAIT) != 0) bad |= 16;
        errno = 0;
        if (!(msgrcv(q2, &m, 1, 0, IPC_NOWAIT) == -1 && errno == EACCES)) bad |= 32;
        errno = 0;
        if (!(msgctl(q2, IPC_SET, &ds) == -1 && (errno == EPERM || errno == EFAULT))) bad |= 64;
        _exit(bad);
    }
    int st;
    waitpid(c, &st, 0);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    ok(code == 0, "as nobody: EACCES for send/receive/stat without permission, EPERM for IPC_RMID (code %d)", code);
    struct msqid_ds ds;
    ok(msgctl(q2, IPC_STAT, &ds) == 0 && ds.msg_qnum == 1, "a write-only grant lets nobody send");
    msgctl(q, IPC_RMID, NULL);
    msgctl(q2, IPC_RMID, NULL);
}

/* The same checks in a fresh program (exec'ed as nobody), which has never
 * opened the queues: ripc must find them, then refuse as the kernel does. */
static int as_nobody(int q, int q2) {
    int bad = 0;
    struct msg m = {.mtype = 1};
    struct msqid_ds ds;
    errno = 0;
    if (!(msgsnd(q, &m, 1, IPC_NOWAIT) == -1 && errno == EACCES)) bad |= 1;
    errno = 0;
    if (!(msgrcv(q, &m, 1, 0, IPC_NOWAIT) == -1 && errno == EACCES)) bad |= 2;
    errno = 0;
    if (!(msgctl(q, IPC_STAT, &ds) == -1 && errno == EACCES)) bad |= 4;
    errno = 0;
    if (!(msgctl(q, IPC_RMID, NULL) == -1 && errno == EPERM)) bad |= 8;
    errno = 0;
    memset(&ds, 0, sizeof ds);
    if (!(msgctl(q, IPC_SET, &ds) == -1 && errno == EPERM)) bad |= 16;
    if (msgsnd(q2, &m, 1, IPC_NOWAIT) != 0) bad |= 32;
    errno = 0;
    if (!(msgrcv(q2, &m, 1, 0, IPC_NOWAIT) == -1 && errno == EACCES)) bad |= 64;
    return bad;
}

/* SELF is this program's file: by path, so that under valgrind (make
 * memcheck) the child runs the test rather than valgrind's tool. */
static void test_perms_exec(const char *self) {
    key_t k = (key_t)(0x52000000 | (getpid() & 0xffff));
    int q = msgget(k, IPC_CREAT | IPC_EXCL | 0600);
    int q2 = msgget(IPC_PRIVATE, IPC_CREAT | 0622);
    char a[16], b[16], kk[16], n[16];
    snprintf(a, sizeof a, "%d", q);
    snprintf(b, sizeof b, "%d", q2);
    snprintf(kk, sizeof kk, "%d", k);
    snprintf(n, sizeof n, "%d", tap_n);
    char *argv[] = {"t_msg_semantics", "--as-nobody", a, b, kk, n, NULL};
    int st = tap_exec_as_nobody(self, argv);
    tap_n += 1; /* its tap_same_libripc() */
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    ok(code == 0, "a fresh process as nobody: EACCES/EPERM as the kernel says (code %d)", code);
    msgctl(q, IPC_RMID, NULL);
    msgctl(q2, IPC_RMID, NULL);
}

/* ripc's limits are the namespace's and need no privilege (user backend). */
static void test_raised_limits(void) {
    if (backend_is_kernel()) {
        ok(1, "# SKIP namespace limits are ripc's (the kernel's need sysctl)");
        return;
    }
    long old_max = (long)ripc_limit_get(NULL, "msgmax"), old_mnb = (long)ripc_limit_get(NULL, "msgmnb");
    ok(old_max == 8192 && old_mnb == 16384, "default limits are the kernel's (8192, 16384)");
    ok(ripc_limit_set(NULL, "msgmax", 1 << 20) == 0 && ripc_limit_set(NULL, "msgmnb", 4 << 20) == 0,
       "raise msgmax to 1 MiB and msgmnb to 4 MiB without privilege");
    int q = q_new();
    static struct { long mtype; char mtext[1 << 20]; } big;
    big.mtype = 3;
    memset(big.mtext, 'z', sizeof big.mtext);
    ok(msgsnd(q, &big, sizeof big.mtext, IPC_NOWAIT) == 0, "a 1 MiB message goes into a new queue");
    struct msqid_ds ds;
    ok(msgctl(q, IPC_STAT, &ds) == 0 && ds.msg_qbytes == (4u << 20), "whose msg_qbytes is the new msgmnb");
    memset(big.mtext, 0, sizeof big.mtext);
    ok(msgrcv(q, &big, sizeof big.mtext, 3, 0) == (ssize_t)sizeof big.mtext && big.mtext[12345] == 'z', "and arrives whole");
    msgctl(q, IPC_RMID, NULL);
    ok_errno(ripc_limit_set(NULL, "msgmax", 0) == -1, EINVAL, "a zero limit: EINVAL");
    ok_errno(ripc_limit_set(NULL, "nosuch", 1) == -1, EINVAL, "an unknown limit: EINVAL");
    ripc_limit_set(NULL, "msgmax", (unsigned long)old_max);
    ripc_limit_set(NULL, "msgmnb", (unsigned long)old_mnb);
}

int main(int argc, char **argv) {
    if (argc == 6 && !strcmp(argv[1], "--as-nobody")) {
        tap_n = atoi(argv[5]);
        int bad = tap_same_libripc() ? 0 : 512;
        bad |= as_nobody(atoi(argv[2]), atoi(argv[3]));
        key_t k = (key_t)atoi(argv[4]);
        errno = 0;
        if (!(msgget(k, 0600) == -1 && errno == EACCES)) bad |= 128;
        errno = 0;
        if (!(msgget(k, IPC_CREAT | IPC_EXCL | 0600) == -1 && errno == EEXIST)) bad |= 256;
        if (bad) fprintf(stderr, "as nobody: failures %#x\n", bad);
        return bad ? 1 : 0;
    }
    char self[PATH_MAX];
    test_perms_exec(strchr(argv[0], '/') && realpath(argv[0], self) ? self : "/proc/self/exe");
    /* Each in a process of its own (tap_subtest): one that crashes or
     * hangs cannot take the others with it. */
    tap_subtest("msgget", test_get);
    tap_subtest("message types", test_types);
    tap_subtest("limits and IPC_STAT", test_limits_and_stat);
    tap_subtest("blocking", test_blocking);
    tap_subtest("permissions", test_perms);
    tap_subtest("raised limits", test_raised_limits);
    return done_testing();
}
