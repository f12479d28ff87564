/* t_conformance.c — the errors of the System V IPC man pages, as a table.
 *
 * For each call the drop-in renames (ftok msgget msgsnd msgrcv msgctl shmget
 * shmat shmdt shmctl semget semop semtimedop semctl), every error its man
 * page lists that user space can provoke, plus the success paths: one row
 * per (call, condition, expected errno), run under both backends
 * (c_tests/run1.sh sets RIPC_BACKEND). Built through the drop-in header.
 *
 * A row's `kerr` is what the kernel does (0: success); `uerr` is what ripc's
 * engine does when the README's "Differences from the kernel" table says it
 * deliberately differs (SAME otherwise), and `why` names that README row.
 * Rows marked NOBODY run in a child that dropped to uid/gid 65534 (root
 * bypasses every permission check); rows marked LIMITS run in a child whose
 * limits are lowered: a fresh kernel IPC namespace (unshare CLONE_NEWIPC,
 * then /proc/sys/kernel/{msgmni,shmmni,shmall,sem}) under the kernel
 * backend, ripc_limit_set in the test's own RIPC_DIR under the user one.
 *
 * Not provokable here, hence no row: ENOMEM (msgget, msgsnd, shmget, shmat
 * of a huge segment, semget, semop SEM_UNDO), ENFILE (shmget), EOVERFLOW
 * (32-bit only), ENOSYS (msgrcv MSG_COPY without CONFIG_CHECKPOINT_RESTORE),
 * EIDRM from msgctl/shmctl/semctl/shmat (only a race with IPC_RMID: once
 * removed, an id gives EINVAL — rows below), shmget EPERM for SHM_HUGETLB
 * (depends on hugetlb_shm_group and the pages reserved).
 */
#include "ripc_sysv.h"
#include <ripc.h> /* ripc_limit_get/ripc_limit_set */
#include "tap.h"
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SAME (-1000) /* uerr: ripc gives what the kernel gives */
/* ROOT_CAP: root with CAP_SYS_RESOURCE (skipped where root lacks it, as in
 * some containers); ROOT_NOCAP: root in a child that dropped it. */
enum who { ROOT, NOBODY, LIMITS, ROOT_CAP, ROOT_NOCAP };

struct row {
    const char *call;
    const char *cond;
    enum who who;
    long (*run)(void);
    int kerr;        /* the kernel: expected errno, 0 for success */
    int uerr;        /* ripc's engine, when the README documents a difference */
    const char *why; /* that README row */
    const char *bug; /* an undocumented difference (reported): TODO on the user backend */
};

/* The fixture: objects made by root before the rows run, removed after. */
static struct {
    char dir[64], file[96], sub[128], loop[128], longpath[PATH_MAX + 64], locked[128];
    key_t kq, ks, ks644, km, km644, kmissing;
    int q600, q622, q666, qnob, qstale, q600_idx;
    int s600, s644, s666, snob, sstale, s600_idx;
    int m600, m644, m666, mnob, mstale, m600_idx;
    void *none; /* a PROT_NONE page: an address nothing may read or write */
} F;

struct msgb {
    long mtype;
    char mtext[8200];
};
static struct msgb mb;

/* --- helpers ------------------------------------------------------------- */

/* Run `cleanup` after the call without losing its result or errno. */
#define RETURN(r, cleanup)                                                   \
    do {                                                                     \
        long r_ = (long)(r);                                                 \
        int e_ = errno;                                                      \
        cleanup;                                                             \
        errno = e_;                                                          \
        return r_;                                                           \
    } while (0)
/* A success whose result is wrong: -2, which passes no row. */
#define CHECK(cond) ((cond) ? 0L : (errno = 0, -2L))
#define SHMAT(p) ((p) == (void *)-1 ? -1L : 0L)

static int newq(int mode) { return msgget(IPC_PRIVATE, IPC_CREAT | mode); }
static void rmq(int q) { msgctl(q, IPC_RMID, NULL); }
static int newm(int n, int mode) { return semget(IPC_PRIVATE, n, IPC_CREAT | mode); }
static void rmm(int m) { semctl(m, 0, IPC_RMID); }
static void rms(int s) { shmctl(s, IPC_RMID, NULL); }
/* A call expected to fail that might create: remove what it made. */
static long shm_rm(int id) { RETURN(id, if (id >= 0) rms(id)); }
static long sem_rm(int id) { RETURN(id, if (id >= 0) rmm(id)); }
static int sendt(int q, long type, const char *text, int flags) {
    mb.mtype = type;
    size_t n = strlen(text);
    memcpy(mb.mtext, text, n);
    return msgsnd(q, &mb, n, flags);
}

union semun {
    int val;
    struct semid_ds *buf;
    unsigned short *array;
    struct seminfo *__buf;
};

/* A child that acts on the object `id` 100 ms from now while the caller
 * blocks: removes it ('q' queue, 'm' semaphore set) or signals the caller
 * ('s', SIGUSR1 with SA_RESTART, every 100 ms until reaped, so a caller
 * scheduled late still gets one while it waits). */
static pid_t later(char what, int id) {
    pid_t parent = getpid();
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        usleep(100000);
        if (what == 'q') rmq(id);
        if (what == 'm') rmm(id);
        while (what == 's') {
            kill(parent, SIGUSR1);
            usleep(100000);
        }
        _exit(0);
    }
    return c;
}
static void reap(pid_t c) {
    kill(c, SIGTERM); /* a signalling child stops; a removing child has exited */
    waitpid(c, NULL, 0);
}
static void on_usr1(int s) { (void)s; }

/* The index of an object, for MSG_STAT/SHM_STAT/SEM_STAT. */
static int msg_index(int id) {
    struct msginfo mi;
    struct msqid_ds ds;
    int max = msgctl(0, MSG_INFO, (struct msqid_ds *)&mi);
    for (int i = 0; i <= max; i++)
        if (msgctl(i, MSG_STAT_ANY, &ds) == id) return i;
    return -1;
}
static int shm_index(int id) {
    struct shm_info si;
    struct shmid_ds ds;
    int max = shmctl(0, SHM_INFO, (struct shmid_ds *)&si);
    for (int i = 0; i <= max; i++)
        if (shmctl(i, SHM_STAT_ANY, &ds) == id) return i;
    return -1;
}
static int sem_index(int id) {
    struct seminfo si;
    struct semid_ds ds;
    union semun a = {.__buf = &si};
    int max = semctl(0, 0, SEM_INFO, a);
    for (int i = 0; i <= max; i++) {
        a.buf = &ds;
        if (semctl(i, 0, SEM_STAT_ANY, a) == id) return i;
    }
    return -1;
}
#define UNUSED_INDEX 32767 /* IPCMNI - 1: no object has it here */

static long sop1(int m, unsigned short num, short op, short flg) {
    struct sembuf b = {num, op, flg};
    return semop(m, &b, 1);
}
static int setval(int m, int num, int v) {
    union semun a = {.val = v};
    return semctl(m, num, SETVAL, a);
}

/* --- ftok(3): errors of stat(2) ------------------------------------------ */

static long ftok_ok(void) {
    struct stat st;
    if (stat(F.file, &st) != 0) return -2;
    key_t want = (key_t)((st.st_ino & 0xffff) | ((st.st_dev & 0xff) << 16) | ((unsigned)'x' << 24));
    key_t k = ftok(F.file, 'x');
    return k == -1 ? -1 : CHECK(k == want);
}
static long ftok_same(void) { return CHECK(ftok(F.file, 7) == ftok(F.file, 7) && ftok(F.file, 7) != ftok(F.file, 8)); }
static long ftok_enoent(void) { return ftok("/nonexistent-ripc/x", 1); }
static long ftok_enotdir(void) { return ftok(F.sub, 1); }
static long ftok_enametoolong(void) { return ftok(F.longpath, 1); }
static long ftok_eloop(void) { return ftok(F.loop, 1); }
static long ftok_eacces(void) { return ftok(F.locked, 1); }
static long ftok_efault(void) { return ftok(F.none, 1); }

/* --- msgget(2) ----------------------------------------------------------- */

static long msgget_private(void) {
    int a = newq(0600), b = newq(0600);
    RETURN(a < 0 || b < 0 ? -1 : CHECK(a != b), (rmq(a), rmq(b)));
}
static long msgget_create_excl(void) {
    key_t k = F.kmissing;
    int q = msgget(k, IPC_CREAT | IPC_EXCL | 0600);
    if (q < 0) return -1;
    RETURN(CHECK(msgget(k, 0) == q && msgget(k, IPC_CREAT | 0600) == q), rmq(q));
}
static long msgget_open(void) { return CHECK(msgget(F.kq, 0) == F.q600); }
static long msgget_enoent(void) { return msgget(F.kmissing, 0600); }
static long msgget_eexist(void) { return msgget(F.kq, IPC_CREAT | IPC_EXCL | 0600); }
static long msgget_eacces(void) { return msgget(F.kq, 0600); }
static long msgget_eacces_read(void) { return msgget(F.kq, 0400); }
static long msgget_noaccess(void) {
    int r = msgget(F.kq, 0);
    return r < 0 ? -1 : CHECK(r == F.q600);
}
static long msgget_recreate(void) {
    key_t k = F.kmissing;
    int a = msgget(k, IPC_CREAT | 0600);
    rmq(a);
    int b = msgget(k, IPC_CREAT | 0600);
    RETURN(a < 0 || b < 0 ? -1 : CHECK(a != b), rmq(b));
}
/* Creates until failure (at most 100), then removes what it made. */
static long msgget_enospc(void) {
    int ids[100], n = 0, r = 0;
    while (n < 100 && (r = newq(0600)) >= 0) ids[n++] = r;
    RETURN(r, while (n > 0) rmq(ids[--n]));
}

/* --- msgsnd(2) ----------------------------------------------------------- */

static long msgsnd_ok(void) {
    int q = newq(0600);
    long r = sendt(q, 3, "abc", 0);
    struct msqid_ds ds;
    if (r == 0) r = CHECK(msgctl(q, IPC_STAT, &ds) == 0 && ds.msg_qnum == 1 && ds.__msg_cbytes == 3);
    RETURN(r, rmq(q));
}
static long msgsnd_max(void) {
    int q = newq(0600);
    mb.mtype = 1;
    RETURN(msgsnd(q, &mb, 8192, 0), rmq(q));
}
static long msgsnd_eacces(void) { return sendt(F.q600, 1, "x", IPC_NOWAIT); }
static long msgsnd_writeonly(void) { return sendt(F.q622, 1, "x", IPC_NOWAIT); }
static long msgsnd_eagain(void) {
    int q = newq(0600);
    mb.mtype = 1;
    msgsnd(q, &mb, 8192, 0);
    msgsnd(q, &mb, 8192, 0);
    RETURN(msgsnd(q, &mb, 1, IPC_NOWAIT), rmq(q));
}
static long msgsnd_eagain_count(void) { /* qnum may not exceed qbytes */
    int q = newq(0600);
    struct msqid_ds ds;
    msgctl(q, IPC_STAT, &ds);
    ds.msg_qbytes = 2;
    msgctl(q, IPC_SET, &ds);
    sendt(q, 1, "", IPC_NOWAIT);
    sendt(q, 1, "", IPC_NOWAIT);
    RETURN(sendt(q, 1, "", IPC_NOWAIT), rmq(q));
}
static long msgsnd_efault_null(void) { return msgsnd(F.q600, NULL, 1, IPC_NOWAIT); }
static long msgsnd_efault_none(void) { return msgsnd(F.q600, F.none, 1, IPC_NOWAIT); }
static long msgsnd_efault_first(void) { return msgsnd(-1, NULL, 1, IPC_NOWAIT); }
static long msgsnd_efault_text(void) { /* mtype readable, text not */
    char *page = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED || mprotect(page + 4096, 4096, PROT_NONE) != 0) return -2;
    char *p = page + 4096 - sizeof(long);
    *(long *)p = 1;
    int q = newq(0600);
    RETURN(msgsnd(q, p, 16, IPC_NOWAIT), (rmq(q), munmap(page, 2 * 4096)));
}
static long msgsnd_eidrm(void) {
    int q = newq(0600);
    mb.mtype = 1;
    msgsnd(q, &mb, 8192, 0);
    msgsnd(q, &mb, 8192, 0);
    pid_t c = later('q', q);
    RETURN(msgsnd(q, &mb, 8192, 0), waitpid(c, NULL, 0));
}
static long msgsnd_eintr(void) {
    int q = newq(0600);
    mb.mtype = 1;
    msgsnd(q, &mb, 8192, 0);
    msgsnd(q, &mb, 8192, 0);
    pid_t c = later('s', 0);
    RETURN(msgsnd(q, &mb, 8192, 0), (reap(c), rmq(q)));
}
static long msgsnd_einval_id(void) { return sendt(-1, 1, "x", IPC_NOWAIT); }
static long msgsnd_einval_stale(void) { return sendt(F.qstale, 1, "x", IPC_NOWAIT); }
static long msgsnd_einval_type0(void) { return sendt(F.q666, 0, "x", IPC_NOWAIT); }
static long msgsnd_einval_typeneg(void) { return sendt(F.q666, -5, "x", IPC_NOWAIT); }
static long msgsnd_einval_big(void) { mb.mtype = 1; return msgsnd(F.q666, &mb, 8193, IPC_NOWAIT); }
static long msgsnd_einval_neg(void) { mb.mtype = 1; return msgsnd(F.q666, &mb, (size_t)-1, IPC_NOWAIT); }
static long msgsnd_einval_before_eacces(void) { return sendt(F.q600, 0, "x", IPC_NOWAIT); }

/* --- msgrcv(2) ----------------------------------------------------------- */

static long msgrcv_ok(void) {
    int q = newq(0600);
    sendt(q, 5, "five", 0);
    sendt(q, 2, "two", 0);
    memset(&mb, 0, sizeof mb);
    long r = msgrcv(q, &mb, 100, 2, IPC_NOWAIT);
    if (r >= 0) r = CHECK(r == 3 && mb.mtype == 2 && !memcmp(mb.mtext, "two", 3));
    RETURN(r, rmq(q));
}
static long msgrcv_any(void) {
    int q = newq(0600);
    sendt(q, 5, "five", 0);
    sendt(q, 2, "two", 0);
    long r = msgrcv(q, &mb, 100, 0, IPC_NOWAIT);
    if (r >= 0) r = CHECK(r == 4 && mb.mtype == 5);
    RETURN(r, rmq(q));
}
static long msgrcv_lowest(void) {
    int q = newq(0600);
    sendt(q, 5, "five", 0);
    sendt(q, 3, "three", 0);
    sendt(q, 1, "one", 0);
    long r = msgrcv(q, &mb, 100, -4, IPC_NOWAIT);
    if (r >= 0) r = CHECK(mb.mtype == 1);
    RETURN(r, rmq(q));
}
static long msgrcv_except(void) {
    int q = newq(0600);
    sendt(q, 5, "five", 0);
    sendt(q, 3, "three", 0);
    long r = msgrcv(q, &mb, 100, 5, IPC_NOWAIT | MSG_EXCEPT);
    if (r >= 0) r = CHECK(mb.mtype == 3);
    RETURN(r, rmq(q));
}
static long msgrcv_noerror(void) {
    int q = newq(0600);
    sendt(q, 1, "abcdef", 0);
    memset(&mb, 0, sizeof mb);
    long r = msgrcv(q, &mb, 3, 0, IPC_NOWAIT | MSG_NOERROR);
    if (r >= 0) r = CHECK(r == 3 && !memcmp(mb.mtext, "abc", 3) && mb.mtext[3] == 0 &&
                          msgrcv(q, &mb, 100, 0, IPC_NOWAIT) == -1 && errno == ENOMSG);
    RETURN(r, rmq(q));
}
static long msgrcv_copy(void) {
    int q = newq(0600);
    sendt(q, 1, "first", 0);
    sendt(q, 2, "second", 0);
    memset(&mb, 0, sizeof mb);
    long r = msgrcv(q, &mb, 100, 1, IPC_NOWAIT | MSG_COPY);
    struct msqid_ds ds;
    if (r >= 0) r = CHECK(r == 6 && mb.mtype == 2 && !memcmp(mb.mtext, "second", 6) &&
                          msgctl(q, IPC_STAT, &ds) == 0 && ds.msg_qnum == 2);
    RETURN(r, rmq(q));
}
static long msgrcv_e2big(void) {
    int q = newq(0600);
    sendt(q, 1, "abcdef", 0);
    long r = msgrcv(q, &mb, 3, 0, IPC_NOWAIT);
    struct msqid_ds ds;
    if (r == -1 && errno == E2BIG && (msgctl(q, IPC_STAT, &ds) != 0 || ds.msg_qnum != 1)) r = -2; /* kept */
    RETURN(r, rmq(q));
}
static long msgrcv_eacces(void) { return msgrcv(F.q622, &mb, 10, 0, IPC_NOWAIT); }
static long msgrcv_eacces600(void) { return msgrcv(F.q600, &mb, 10, 0, IPC_NOWAIT); }
static long msgrcv_efault(void) {
    int q = newq(0600);
    sendt(q, 1, "abc", 0);
    RETURN(msgrcv(q, NULL, 10, 0, IPC_NOWAIT), rmq(q));
}
static long msgrcv_efault_none(void) {
    int q = newq(0600);
    sendt(q, 1, "abc", 0);
    RETURN(msgrcv(q, F.none, 10, 0, IPC_NOWAIT), rmq(q));
}
static long msgrcv_efault_kept(void) { /* what is left after the EFAULT */
    int q = newq(0600);
    sendt(q, 1, "abc", 0);
    msgrcv(q, NULL, 10, 0, IPC_NOWAIT);
    RETURN(msgrcv(q, &mb, 10, 0, IPC_NOWAIT), rmq(q));
}
static long msgrcv_efault_empty(void) { /* nothing to copy: the buffer is not looked at */
    int q = newq(0600);
    RETURN(msgrcv(q, NULL, 10, 0, IPC_NOWAIT), rmq(q));
}
static long msgrcv_eidrm(void) {
    int q = newq(0600);
    pid_t c = later('q', q);
    RETURN(msgrcv(q, &mb, 10, 0, 0), waitpid(c, NULL, 0));
}
static long msgrcv_eintr(void) {
    int q = newq(0600);
    pid_t c = later('s', 0);
    RETURN(msgrcv(q, &mb, 10, 0, 0), (reap(c), rmq(q)));
}
static long msgrcv_einval_id(void) { return msgrcv(-1, &mb, 10, 0, IPC_NOWAIT); }
static long msgrcv_einval_stale(void) { return msgrcv(F.qstale, &mb, 10, 0, IPC_NOWAIT); }
static long msgrcv_einval_neg(void) { return msgrcv(F.q600, &mb, (size_t)-1, 0, IPC_NOWAIT); }
static long msgrcv_einval_copy_wait(void) { return msgrcv(F.q666, &mb, 10, 0, MSG_COPY); }
static long msgrcv_einval_copy_except(void) { return msgrcv(F.q666, &mb, 10, 0, MSG_COPY | MSG_EXCEPT | IPC_NOWAIT); }
static long msgrcv_enomsg(void) { return msgrcv(F.q666, &mb, 10, 0, IPC_NOWAIT); }
static long msgrcv_enomsg_type(void) {
    int q = newq(0600);
    sendt(q, 2, "two", 0);
    long r = msgrcv(q, &mb, 10, 3, IPC_NOWAIT);
    if (r == -1 && errno == ENOMSG) {
        r = msgrcv(q, &mb, 10, -1, IPC_NOWAIT);
    }
    RETURN(r, rmq(q));
}
static long msgrcv_enomsg_copy(void) {
    int q = newq(0600);
    sendt(q, 1, "x", 0);
    RETURN(msgrcv(q, &mb, 10, 1, IPC_NOWAIT | MSG_COPY), rmq(q));
}

/* --- msgctl(2) ----------------------------------------------------------- */

static long msgctl_stat(void) {
    struct msqid_ds ds;
    long r = msgctl(F.q600, IPC_STAT, &ds);
    return r ? r : CHECK(ds.msg_perm.__key == F.kq && (ds.msg_perm.mode & 0777) == 0600 && ds.msg_qbytes == 16384 &&
                         ds.msg_perm.uid == 0 && ds.msg_perm.cuid == 0);
}
static long msgctl_set(void) {
    int q = newq(0600);
    struct msqid_ds ds;
    msgctl(q, IPC_STAT, &ds);
    ds.msg_perm.mode = 0640;
    ds.msg_qbytes = 1000;
    long r = msgctl(q, IPC_SET, &ds);
    if (r == 0) r = CHECK(msgctl(q, IPC_STAT, &ds) == 0 && (ds.msg_perm.mode & 0777) == 0640 && ds.msg_qbytes == 1000);
    RETURN(r, rmq(q));
}
static long msgctl_rmid(void) {
    int q = newq(0600);
    long r = msgctl(q, IPC_RMID, NULL);
    struct msqid_ds ds;
    return r ? r : CHECK(msgctl(q, IPC_STAT, &ds) == -1 && errno == EINVAL);
}
static long msgctl_info(void) {
    struct msginfo mi;
    long r = msgctl(0, IPC_INFO, (struct msqid_ds *)&mi);
    return r < 0 ? r : CHECK(mi.msgmax == 8192 && mi.msgmnb == 16384 && mi.msgmni > 0);
}
static long msgctl_msginfo(void) {
    struct msginfo mi;
    long r = msgctl(0, MSG_INFO, (struct msqid_ds *)&mi);
    return r < 0 ? r : CHECK(r >= F.q600_idx && mi.msgpool >= 4);
}
static long msgctl_msgstat(void) {
    struct msqid_ds ds;
    long r = msgctl(F.q600_idx, MSG_STAT, &ds);
    return r < 0 ? r : CHECK(r == F.q600 && ds.msg_perm.__key == F.kq);
}
static long msgctl_msgstat_any(void) {
    struct msqid_ds ds;
    long r = msgctl(F.q600_idx, MSG_STAT_ANY, &ds);
    return r < 0 ? r : CHECK(r == F.q600);
}
static long msgctl_eacces_stat(void) { struct msqid_ds ds; return msgctl(F.q600, IPC_STAT, &ds); }
static long msgctl_eacces_msgstat(void) { struct msqid_ds ds; return msgctl(F.q600_idx, MSG_STAT, &ds); }
static long msgctl_efault_stat(void) { return msgctl(F.q600, IPC_STAT, NULL); }
static long msgctl_efault_set(void) { return msgctl(F.q600, IPC_SET, NULL); }
static long msgctl_efault_info(void) { return msgctl(0, IPC_INFO, NULL); }
static long msgctl_efault_none(void) { return msgctl(F.q600, IPC_STAT, F.none); }
static long msgctl_einval_cmd(void) { struct msqid_ds ds; return msgctl(F.q600, 12345, &ds); }
static long msgctl_einval_id(void) { struct msqid_ds ds; return msgctl(-1, IPC_STAT, &ds); }
static long msgctl_einval_stale(void) { struct msqid_ds ds; return msgctl(F.qstale, IPC_STAT, &ds); }
static long msgctl_einval_stale_rmid(void) { return msgctl(F.qstale, IPC_RMID, NULL); }
static long msgctl_einval_index(void) { struct msqid_ds ds; return msgctl(UNUSED_INDEX, MSG_STAT, &ds); }
static long msgctl_einval_index_neg(void) { struct msqid_ds ds; return msgctl(-1, MSG_STAT, &ds); }
static long msgctl_eperm_set(void) {
    struct msqid_ds ds;
    memset(&ds, 0, sizeof ds);
    ds.msg_perm.mode = 0666;
    ds.msg_qbytes = 16384;
    return msgctl(F.q666, IPC_SET, &ds);
}
static long msgctl_eperm_rmid(void) { return msgctl(F.q666, IPC_RMID, NULL); }
static long msgctl_eperm_rmid600(void) { return msgctl(F.q600, IPC_RMID, NULL); }
static long msgctl_owner_set(void) { /* nobody owns qnob */
    struct msqid_ds ds;
    if (msgctl(F.qnob, IPC_STAT, &ds) != 0) return -1;
    ds.msg_perm.mode = 0640;
    ds.msg_qbytes = 8192;
    return msgctl(F.qnob, IPC_SET, &ds);
}
static long msgctl_eperm_qbytes(void) {
    struct msqid_ds ds;
    if (msgctl(F.qnob, IPC_STAT, &ds) != 0) return -1;
    ds.msg_qbytes = 16385;
    return msgctl(F.qnob, IPC_SET, &ds);
}
static long msgctl_root_qbytes(void) {
    int q = newq(0600);
    struct msqid_ds ds;
    msgctl(q, IPC_STAT, &ds);
    ds.msg_qbytes = 32768;
    RETURN(msgctl(q, IPC_SET, &ds), rmq(q));
}

/* --- shmget(2) ----------------------------------------------------------- */

static long shmget_private(void) {
    int a = shmget(IPC_PRIVATE, 4096, 0600), b = shmget(IPC_PRIVATE, 4096, 0600);
    RETURN(a < 0 || b < 0 ? -1 : CHECK(a != b), (rms(a), rms(b)));
}
static long shmget_create_excl(void) {
    int s = shmget(F.kmissing, 10000, IPC_CREAT | IPC_EXCL | 0600);
    if (s < 0) return -1;
    struct shmid_ds ds;
    RETURN(CHECK(shmget(F.kmissing, 0, 0) == s && shmget(F.kmissing, 5000, IPC_CREAT | 0600) == s &&
                 shmctl(s, IPC_STAT, &ds) == 0 && ds.shm_segsz == 10000),
           rms(s));
}
static long shmget_open(void) { return CHECK(shmget(F.ks, 4096, 0600) == F.s600); }
static long shmget_noaccess(void) {
    int r = shmget(F.ks, 0, 0);
    return r < 0 ? -1 : CHECK(r == F.s600);
}
static long shmget_eacces(void) { return shmget(F.ks, 4096, 0600); }
static long shmget_einval_before_eacces(void) { return shmget(F.ks644, 1 << 20, 0600); }
static long shmget_eexist(void) { return shmget(F.ks, 4096, IPC_CREAT | IPC_EXCL | 0600); }
static long shmget_einval_zero(void) { return shm_rm(shmget(IPC_PRIVATE, 0, 0600)); }
static long shmget_einval_huge(void) { return shm_rm(shmget(IPC_PRIVATE, (size_t)-1, 0600)); }
static long shmget_einval_larger(void) { return shmget(F.ks, 4097, 0600); }
static long shmget_enoent(void) { return shmget(F.kmissing, 4096, 0600); }
static long shmget_enospc(void) {
    int ids[100], n = 0, r = 0;
    while (n < 100 && (r = shmget(IPC_PRIVATE, 4096, 0600)) >= 0) ids[n++] = r;
    RETURN(r, while (n > 0) rms(ids[--n]));
}
static long shmget_enospc_all(void) { /* shmall 64 pages */
    int id = shmget(IPC_PRIVATE, 65 * 4096, 0600);
    RETURN(id, if (id >= 0) rms(id));
}

/* --- shmat(2) ------------------------------------------------------------ */

static long shmat_ok(void) {
    char *p = shmat(F.s666, NULL, 0);
    if (p == (void *)-1) return -1;
    p[0] = 'r';
    char *q = shmat(F.s666, NULL, SHM_RDONLY);
    long r = q == (void *)-1 ? -1 : CHECK(q != p && q[0] == 'r');
    RETURN(r, (shmdt(p), q != (void *)-1 ? shmdt(q) : 0));
}
static long shmat_addr(void) {
    char *hole = mmap(NULL, 8 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(hole, 8 * 4096);
    hole = (char *)(((uintptr_t)hole + SHMLBA - 1) & ~(uintptr_t)(SHMLBA - 1));
    char *p = shmat(F.s666, hole, 0);
    if (p == (void *)-1) return -1;
    char *q = shmat(F.s666, hole, SHM_REMAP);
    long r = CHECK(p == hole && q == hole);
    shmdt(hole);
    if (r == 0) {
        p = shmat(F.s666, hole + 123, SHM_RND);
        r = SHMAT(p);
        if (r == 0) r = CHECK(p == hole);
        if (p != (void *)-1) shmdt(p);
    }
    return r;
}
static long shmat_readonly(void) { char *p = shmat(F.s644, NULL, SHM_RDONLY); RETURN(SHMAT(p), p != (void *)-1 ? shmdt(p) : 0); }
static long shmat_eacces_rw(void) { char *p = shmat(F.s644, NULL, 0); RETURN(SHMAT(p), p != (void *)-1 ? shmdt(p) : 0); }
static long shmat_eacces_ro(void) { char *p = shmat(F.s600, NULL, SHM_RDONLY); RETURN(SHMAT(p), p != (void *)-1 ? shmdt(p) : 0); }
static long shmat_eacces_exec(void) { char *p = shmat(F.s666, NULL, SHM_EXEC); RETURN(SHMAT(p), p != (void *)-1 ? shmdt(p) : 0); }
static long shmat_rmid_attached(void) { /* Linux: attachable by id until destroyed */
    int s = shmget(IPC_PRIVATE, 4096, 0600);
    char *p = shmat(s, NULL, 0);
    rms(s);
    char *q = shmat(s, NULL, 0);
    RETURN(SHMAT(q), (shmdt(p), q != (void *)-1 ? shmdt(q) : 0));
}
static long shmat_einval_id(void) { return SHMAT(shmat(-1, NULL, 0)); }
static long shmat_einval_stale(void) { return SHMAT(shmat(F.sstale, NULL, 0)); }
static long shmat_einval_unaligned(void) {
    char *p = mmap(NULL, 2 * SHMLBA, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(p, 2 * SHMLBA);
    return SHMAT(shmat(F.s666, p + 123, 0));
}
static long shmat_einval_remap_null(void) { return SHMAT(shmat(F.s666, NULL, SHM_REMAP)); }
static long shmat_einval_overlap(void) {
    char *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    RETURN(SHMAT(shmat(F.s666, p, 0)), munmap(p, 4096));
}
static long shmat_enomem_addr(void) { /* beyond the user address space */
    void *p = shmat(F.s666, (void *)(uintptr_t)0xffff800000000000ULL, 0);
    RETURN(SHMAT(p), p != (void *)-1 ? shmdt(p) : 0);
}

/* --- shmdt(2) ------------------------------------------------------------ */

static long shmdt_ok(void) {
    char *p = shmat(F.s666, NULL, 0);
    if (p == (void *)-1) return -2;
    struct shmid_ds ds;
    long r = shmdt(p);
    return r ? r : CHECK(shmctl(F.s666, IPC_STAT, &ds) == 0 && ds.shm_nattch == 0);
}
static long shmdt_einval_none(void) {
    char *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    RETURN(shmdt(p), munmap(p, 4096));
}
static long shmdt_einval_null(void) { return shmdt(NULL); }
static long shmdt_einval_unaligned(void) {
    char *p = shmat(F.s666, NULL, 0);
    RETURN(shmdt(p + 1), shmdt(p));
}
static long shmdt_einval_inside(void) {
    int s = shmget(IPC_PRIVATE, 3 * 4096, 0600);
    char *p = shmat(s, NULL, 0);
    RETURN(shmdt(p + 4096), (shmdt(p), rms(s)));
}
static long shmdt_einval_twice(void) {
    char *p = shmat(F.s666, NULL, 0);
    shmdt(p);
    return shmdt(p);
}

/* --- shmctl(2) ----------------------------------------------------------- */

static long shmctl_stat(void) {
    struct shmid_ds ds;
    long r = shmctl(F.s600, IPC_STAT, &ds);
    return r ? r : CHECK(ds.shm_segsz == 4096 && ds.shm_perm.__key == F.ks && (ds.shm_perm.mode & 0777) == 0600 &&
                         ds.shm_cpid == getpid() && ds.shm_nattch == 0);
}
static long shmctl_set(void) {
    int s = shmget(IPC_PRIVATE, 4096, 0600);
    struct shmid_ds ds;
    shmctl(s, IPC_STAT, &ds);
    ds.shm_perm.mode = 0640;
    long r = shmctl(s, IPC_SET, &ds);
    if (r == 0) r = CHECK(shmctl(s, IPC_STAT, &ds) == 0 && (ds.shm_perm.mode & 0777) == 0640);
    RETURN(r, rms(s));
}
static long shmctl_rmid(void) {
    int s = shmget(IPC_PRIVATE, 4096, 0600);
    long r = shmctl(s, IPC_RMID, NULL);
    struct shmid_ds ds;
    return r ? r : CHECK(shmctl(s, IPC_STAT, &ds) == -1 && errno == EINVAL);
}
static long shmctl_rmid_attached(void) {
    int s = shmget(IPC_PRIVATE, 4096, 0600);
    char *p = shmat(s, NULL, 0);
    long r = shmctl(s, IPC_RMID, NULL);
    struct shmid_ds ds;
    if (r == 0) r = CHECK(shmctl(s, IPC_STAT, &ds) == 0 && (ds.shm_perm.mode & SHM_DEST) && ds.shm_nattch == 1);
    shmdt(p);
    if (r == 0) r = CHECK(shmctl(s, IPC_STAT, &ds) == -1 && errno == EINVAL);
    return r;
}
static long shmctl_info(void) {
    struct shminfo si;
    long r = shmctl(0, IPC_INFO, (struct shmid_ds *)&si);
    return r < 0 ? r : CHECK(si.shmmni > 0 && si.shmmax > 0 && si.shmmin == 1);
}
static long shmctl_shminfo(void) {
    struct shm_info si;
    long r = shmctl(0, SHM_INFO, (struct shmid_ds *)&si);
    return r < 0 ? r : CHECK(r >= F.s600_idx && si.used_ids >= 4);
}
static long shmctl_shmstat(void) {
    struct shmid_ds ds;
    long r = shmctl(F.s600_idx, SHM_STAT, &ds);
    return r < 0 ? r : CHECK(r == F.s600);
}
static long shmctl_shmstat_any(void) {
    struct shmid_ds ds;
    long r = shmctl(F.s600_idx, SHM_STAT_ANY, &ds);
    return r < 0 ? r : CHECK(r == F.s600);
}
static long shmctl_lock(void) {
    long r = shmctl(F.s666, SHM_LOCK, NULL);
    struct shmid_ds ds;
    if (r == 0) r = CHECK(shmctl(F.s666, IPC_STAT, &ds) == 0 && (ds.shm_perm.mode & SHM_LOCKED));
    if (r == 0) r = shmctl(F.s666, SHM_UNLOCK, NULL);
    if (r == 0) r = CHECK(shmctl(F.s666, IPC_STAT, &ds) == 0 && !(ds.shm_perm.mode & SHM_LOCKED));
    return r;
}
static long shmctl_eacces_stat(void) { struct shmid_ds ds; return shmctl(F.s600, IPC_STAT, &ds); }
static long shmctl_eacces_shmstat(void) { struct shmid_ds ds; return shmctl(F.s600_idx, SHM_STAT, &ds); }
static long shmctl_efault_stat(void) { return shmctl(F.s600, IPC_STAT, NULL); }
static long shmctl_efault_set(void) { return shmctl(F.s600, IPC_SET, NULL); }
static long shmctl_efault_info(void) { return shmctl(0, IPC_INFO, NULL); }
static long shmctl_efault_none(void) { return shmctl(F.s600, IPC_STAT, F.none); }
static long shmctl_einval_cmd(void) { struct shmid_ds ds; return shmctl(F.s600, 9999, &ds); }
static long shmctl_einval_id(void) { struct shmid_ds ds; return shmctl(-1, IPC_STAT, &ds); }
static long shmctl_einval_stale(void) { struct shmid_ds ds; return shmctl(F.sstale, IPC_STAT, &ds); }
static long shmctl_einval_stale_rmid(void) { return shmctl(F.sstale, IPC_RMID, NULL); }
static long shmctl_einval_index(void) { struct shmid_ds ds; return shmctl(UNUSED_INDEX, SHM_STAT, &ds); }
static long shmctl_eperm_set(void) {
    struct shmid_ds ds;
    memset(&ds, 0, sizeof ds);
    ds.shm_perm.mode = 0666;
    return shmctl(F.s666, IPC_SET, &ds);
}
static long shmctl_eperm_rmid(void) { return shmctl(F.s666, IPC_RMID, NULL); }
static long shmctl_eperm_lock(void) { return shmctl(F.s666, SHM_LOCK, NULL); }
static long shmctl_eperm_unlock(void) { return shmctl(F.s666, SHM_UNLOCK, NULL); }
static long shmctl_eperm_lock_nolimit(void) { /* the owner, with RLIMIT_MEMLOCK 0 */
    struct rlimit rl = {0, 0};
    if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0) return -2;
    return shmctl(F.snob, SHM_LOCK, NULL);
}
static long shmctl_enomem_lock(void) { /* the owner, over RLIMIT_MEMLOCK */
    struct rlimit rl = {4096, 4096};
    if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0) return -2;
    return shmctl(F.snob, SHM_LOCK, NULL);
}
static long shmctl_owner_set(void) {
    struct shmid_ds ds;
    if (shmctl(F.snob, IPC_STAT, &ds) != 0) return -1;
    ds.shm_perm.mode = 0640;
    return shmctl(F.snob, IPC_SET, &ds);
}

/* --- semget(2) ----------------------------------------------------------- */

static long semget_private(void) {
    int a = newm(1, 0600), b = newm(1, 0600);
    RETURN(a < 0 || b < 0 ? -1 : CHECK(a != b), (rmm(a), rmm(b)));
}
static long semget_create_excl(void) {
    int m = semget(F.kmissing, 3, IPC_CREAT | IPC_EXCL | 0600);
    if (m < 0) return -1;
    struct semid_ds ds;
    union semun a = {.buf = &ds};
    RETURN(CHECK(semget(F.kmissing, 0, 0) == m && semget(F.kmissing, 2, IPC_CREAT | 0600) == m &&
                 semctl(m, 0, IPC_STAT, a) == 0 && ds.sem_nsems == 3 && semctl(m, 2, GETVAL) == 0),
           rmm(m));
}
static long semget_open(void) { return CHECK(semget(F.km, 2, 0600) == F.m600); }
static long semget_noaccess(void) {
    int r = semget(F.km, 0, 0);
    return r < 0 ? -1 : CHECK(r == F.m600);
}
static long semget_eacces(void) { return semget(F.km, 2, 0600); }
static long semget_einval_before_eacces(void) { return semget(F.km644, 5, 0600); }
static long semget_eexist(void) { return semget(F.km, 2, IPC_CREAT | IPC_EXCL | 0600); }
static long semget_einval_neg(void) { return sem_rm(semget(IPC_PRIVATE, -1, IPC_CREAT | 0600)); }
static long semget_einval_semmsl(void) { return sem_rm(semget(IPC_PRIVATE, 32001, IPC_CREAT | 0600)); }
static long semget_einval_zero(void) { return sem_rm(semget(F.kmissing, 0, IPC_CREAT | 0600)); }
static long semget_einval_more(void) { return semget(F.km, 3, 0600); }
static long semget_enoent(void) { return semget(F.kmissing, 1, 0600); }
static long semget_enospc(void) {
    int ids[100], n = 0, r = 0;
    while (n < 100 && (r = newm(1, 0600)) >= 0) ids[n++] = r;
    RETURN(r, while (n > 0) rmm(ids[--n]));
}
static long semget_enospc_semmns(void) { /* semmns 64 */
    int m = newm(65, 0600);
    RETURN(m, if (m >= 0) rmm(m));
}

/* --- semop(2), semtimedop(2) --------------------------------------------- */

static long semop_ok(void) {
    int m = newm(2, 0600);
    struct sembuf v[2] = {{0, 2, 0}, {1, 1, 0}};
    long r = semop(m, v, 2);
    if (r == 0) r = CHECK(semctl(m, 0, GETVAL) == 2 && semctl(m, 1, GETVAL) == 1 && semctl(m, 0, GETPID) == getpid());
    if (r == 0) r = sop1(m, 0, -2, IPC_NOWAIT);
    if (r == 0) r = CHECK(semctl(m, 0, GETVAL) == 0);
    RETURN(r, rmm(m));
}
static long semop_zero(void) { /* wait-for-zero on a zero semaphore */
    int m = newm(1, 0600);
    RETURN(sop1(m, 0, 0, IPC_NOWAIT), rmm(m));
}
static long semop_atomic(void) { /* all or nothing */
    int m = newm(2, 0600);
    setval(m, 0, 1);
    struct sembuf v[2] = {{0, -1, IPC_NOWAIT}, {1, -1, IPC_NOWAIT}};
    long r = semop(m, v, 2);
    if (r == -1 && errno == EAGAIN && semctl(m, 0, GETVAL) != 1) r = -2;
    RETURN(r, rmm(m));
}
static long semop_blocked_v(void) { /* a V from another process wakes a P */
    int m = newm(1, 0600);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        usleep(50000);
        _exit(sop1(m, 0, 1, 0) == 0 ? 0 : 1);
    }
    RETURN(sop1(m, 0, -1, 0), (reap(c), rmm(m)));
}
static long semop_undo(void) { /* SEM_UNDO: a dead process's adjustment is undone */
    int m = newm(1, 0600);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) _exit(sop1(m, 0, 2, SEM_UNDO) == 0 ? 0 : 1);
    int st = 0;
    waitpid(c, &st, 0);
    long r = WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -2;
    if (r == 0) r = CHECK(semctl(m, 0, GETVAL) == 0 && semctl(m, 0, GETPID) == c);
    RETURN(r, rmm(m));
}
static long semop_readonly_zero(void) { return sop1(F.m644, 0, 0, IPC_NOWAIT); }
static long semop_e2big(void) {
    static struct sembuf v[501];
    for (int i = 0; i < 501; i++) v[i] = (struct sembuf){0, 1, 0};
    return semop(F.m666, v, 501);
}
static long semop_e2big_first(void) { /* before the id is looked up */
    static struct sembuf v[501];
    return semop(F.mstale, v, 501);
}
static long semop_eacces_alter(void) { return sop1(F.m644, 0, 1, IPC_NOWAIT); }
static long semop_eacces_read(void) { return sop1(F.m600, 0, 0, IPC_NOWAIT); }
static long semop_eagain(void) { return sop1(F.m666, 0, -1, IPC_NOWAIT); }
static long semop_eagain_zero(void) {
    int m = newm(1, 0600);
    setval(m, 0, 1);
    RETURN(sop1(m, 0, 0, IPC_NOWAIT), rmm(m));
}
static long semtimedop_eagain(void) {
    struct sembuf b = {0, -1, 0};
    struct timespec ts = {0, 20 * 1000 * 1000};
    return semtimedop(F.m666, &b, 1, &ts);
}
static long semtimedop_ok(void) {
    int m = newm(1, 0600);
    setval(m, 0, 1);
    struct sembuf b = {0, -1, 0};
    struct timespec ts = {1, 0};
    long r = semtimedop(m, &b, 1, &ts);
    if (r == 0) r = semtimedop(m, (struct sembuf[]){{0, 1, 0}}, 1, NULL);
    RETURN(r, rmm(m));
}
static long semop_efault(void) { return semop(F.m666, NULL, 1); }
static long semop_efault_none(void) { return semop(F.m666, F.none, 1); }
static long semop_efault_first(void) { return semop(F.mstale, NULL, 1); }
static long semtimedop_efault(void) {
    struct sembuf b = {0, -1, 0};
    return semtimedop(F.m666, &b, 1, F.none);
}
static long semop_efbig(void) { return sop1(F.m666, 2, 1, IPC_NOWAIT); }
static long semop_efbig_before_eacces(void) { return sop1(F.m600, 2, 1, IPC_NOWAIT); }
static long semop_einval_before_efbig(void) { return sop1(F.mstale, 2, 1, IPC_NOWAIT); }
static long semop_eidrm(void) {
    int m = newm(1, 0600);
    pid_t c = later('m', m);
    RETURN(sop1(m, 0, -1, 0), waitpid(c, NULL, 0));
}
static long semop_eintr(void) {
    int m = newm(1, 0600);
    pid_t c = later('s', 0);
    RETURN(sop1(m, 0, -1, 0), (reap(c), rmm(m)));
}
static long semtimedop_eintr(void) {
    int m = newm(1, 0600);
    struct sembuf b = {0, -1, 0};
    struct timespec ts = {5, 0};
    pid_t c = later('s', 0);
    RETURN(semtimedop(m, &b, 1, &ts), (reap(c), rmm(m)));
}
static long semop_einval_id(void) { return sop1(-1, 0, 1, IPC_NOWAIT); }
static long semop_einval_stale(void) { return sop1(F.mstale, 0, 1, IPC_NOWAIT); }
static long semop_einval_nsops(void) { struct sembuf b = {0, 1, 0}; return semop(F.m666, &b, 0); }
static long semtimedop_einval_nsec(void) {
    struct sembuf b = {0, -1, 0};
    struct timespec ts = {0, 1000000000L};
    return semtimedop(F.m666, &b, 1, &ts);
}
static long semtimedop_einval_neg(void) {
    struct sembuf b = {0, -1, 0};
    struct timespec ts = {-1, 0};
    return semtimedop(F.m666, &b, 1, &ts);
}
static long semop_erange(void) {
    int m = newm(1, 0600);
    setval(m, 0, 1);
    RETURN(sop1(m, 0, 32767, IPC_NOWAIT), rmm(m));
}
static long semop_max(void) {
    int m = newm(1, 0600);
    RETURN(sop1(m, 0, 32767, IPC_NOWAIT), rmm(m));
}
static long semop_e2big_limits(void) { /* semopm 4 */
    struct sembuf v[5] = {{0, 1, 0}, {0, 1, 0}, {0, 1, 0}, {0, 1, 0}, {0, 1, 0}};
    int m = newm(1, 0600);
    RETURN(semop(m, v, 5), rmm(m));
}

/* --- semctl(2) ----------------------------------------------------------- */

static long semctl_getset(void) {
    int m = newm(3, 0600);
    long r = setval(m, 1, 7);
    if (r == 0) r = CHECK(semctl(m, 1, GETVAL) == 7 && semctl(m, 0, GETVAL) == 0 && semctl(m, 1, GETPID) == getpid() &&
                          semctl(m, 1, GETNCNT) == 0 && semctl(m, 1, GETZCNT) == 0);
    RETURN(r, rmm(m));
}
static long semctl_all(void) {
    int m = newm(3, 0600);
    unsigned short in[3] = {1, 2, 32767}, out[3] = {9, 9, 9};
    union semun a = {.array = in};
    long r = semctl(m, 0, SETALL, a);
    a.array = out;
    if (r == 0) r = semctl(m, 0, GETALL, a);
    if (r == 0) r = CHECK(out[0] == 1 && out[1] == 2 && out[2] == 32767 && semctl(m, 2, GETVAL) == 32767);
    RETURN(r, rmm(m));
}
static long semctl_counts(void) { /* GETNCNT / GETZCNT see a blocked waiter */
    int m = newm(2, 0600);
    setval(m, 1, 1);
    fflush(stdout);
    pid_t c1 = fork();
    if (c1 == 0) _exit(sop1(m, 0, -1, 0) == 0 ? 0 : 1);
    pid_t c2 = fork();
    if (c2 == 0) _exit(sop1(m, 1, 0, 0) == 0 ? 0 : 1);
    long r = -2;
    for (int i = 0; i < 200 && r != 0; i++) {
        usleep(10000);
        if (semctl(m, 0, GETNCNT) == 1 && semctl(m, 1, GETZCNT) == 1) r = 0;
    }
    setval(m, 0, 1);
    setval(m, 1, 0);
    reap(c1);
    reap(c2);
    RETURN(r, rmm(m));
}
static long semctl_stat(void) {
    struct semid_ds ds;
    union semun a = {.buf = &ds};
    long r = semctl(F.m600, 0, IPC_STAT, a);
    return r ? r : CHECK(ds.sem_nsems == 2 && ds.sem_perm.__key == F.km && (ds.sem_perm.mode & 0777) == 0600 &&
                         ds.sem_perm.uid == 0 && ds.sem_ctime > 0);
}
static long semctl_set(void) {
    int m = newm(1, 0600);
    struct semid_ds ds;
    union semun a = {.buf = &ds};
    semctl(m, 0, IPC_STAT, a);
    ds.sem_perm.mode = 0640;
    long r = semctl(m, 0, IPC_SET, a);
    if (r == 0) r = CHECK(semctl(m, 0, IPC_STAT, a) == 0 && (ds.sem_perm.mode & 0777) == 0640);
    RETURN(r, rmm(m));
}
static long semctl_rmid(void) {
    int m = newm(1, 0600);
    long r = semctl(m, 0, IPC_RMID);
    return r ? r : CHECK(semctl(m, 0, GETVAL) == -1 && errno == EINVAL);
}
static long semctl_info(void) {
    struct seminfo si;
    union semun a = {.__buf = &si};
    long r = semctl(0, 0, IPC_INFO, a);
    return r < 0 ? r : CHECK(si.semmsl == 32000 && si.semopm == 500 && si.semvmx == 32767 && si.semmni > 0);
}
static long semctl_seminfo(void) {
    struct seminfo si;
    union semun a = {.__buf = &si};
    long r = semctl(0, 0, SEM_INFO, a);
    return r < 0 ? r : CHECK(r >= F.m600_idx && si.semusz >= 4);
}
static long semctl_semstat(void) {
    struct semid_ds ds;
    union semun a = {.buf = &ds};
    long r = semctl(F.m600_idx, 0, SEM_STAT, a);
    return r < 0 ? r : CHECK(r == F.m600 && ds.sem_nsems == 2);
}
static long semctl_semstat_any(void) {
    struct semid_ds ds;
    union semun a = {.buf = &ds};
    long r = semctl(F.m600_idx, 0, SEM_STAT_ANY, a);
    return r < 0 ? r : CHECK(r == F.m600);
}
static long semctl_nobody_read(void) { return CHECK(semctl(F.m644, 0, GETVAL) == 0 && semctl(F.m644, 0, GETNCNT) == 0); }
static long semctl_eacces_getval(void) { return semctl(F.m600, 0, GETVAL); }
static long semctl_eacces_getpid(void) { return semctl(F.m600, 0, GETPID); }
static long semctl_eacces_getncnt(void) { return semctl(F.m600, 0, GETNCNT); }
static long semctl_eacces_getzcnt(void) { return semctl(F.m600, 0, GETZCNT); }
static long semctl_eacces_getall(void) {
    unsigned short v[2];
    union semun a = {.array = v};
    return semctl(F.m600, 0, GETALL, a);
}
static long semctl_eacces_stat(void) {
    struct semid_ds ds;
    union semun a = {.buf = &ds};
    return semctl(F.m600, 0, IPC_STAT, a);
}
static long semctl_eacces_semstat(void) {
    struct semid_ds ds;
    union semun a = {.buf = &ds};
    return semctl(F.m600_idx, 0, SEM_STAT, a);
}
static long semctl_eacces_setval(void) { return setval(F.m644, 0, 1); }
static long semctl_eacces_setall(void) {
    unsigned short v[2] = {1, 1};
    union semun a = {.array = v};
    return semctl(F.m644, 0, SETALL, a);
}
static long semctl_efault_stat(void) { union semun a = {.buf = NULL}; return semctl(F.m600, 0, IPC_STAT, a); }
static long semctl_efault_set(void) { union semun a = {.buf = NULL}; return semctl(F.m600, 0, IPC_SET, a); }
static long semctl_efault_getall(void) { union semun a = {.array = NULL}; return semctl(F.m600, 0, GETALL, a); }
static long semctl_efault_setall(void) { union semun a = {.array = F.none}; return semctl(F.m666, 0, SETALL, a); }
static long semctl_efault_info(void) { union semun a = {.__buf = NULL}; return semctl(0, 0, IPC_INFO, a); }
static long semctl_einval_cmd(void) { union semun a = {.val = 0}; return semctl(F.m600, 0, 9999, a); }
static long semctl_einval_id(void) { return semctl(-1, 0, GETVAL); }
static long semctl_einval_stale(void) { return semctl(F.mstale, 0, GETVAL); }
static long semctl_einval_stale_rmid(void) { return semctl(F.mstale, 0, IPC_RMID); }
static long semctl_einval_index(void) {
    struct semid_ds ds;
    union semun a = {.buf = &ds};
    return semctl(UNUSED_INDEX, 0, SEM_STAT, a);
}
static long semctl_einval_semnum(void) { return semctl(F.m600, 2, GETVAL); }
static long semctl_einval_semnum_neg(void) { return semctl(F.m600, -1, GETVAL); }
static long semctl_einval_semnum_set(void) { return setval(F.m666, 2, 1); }
static long semctl_einval_semnum_ncnt(void) { return semctl(F.m600, 5, GETNCNT); }
static long semctl_eperm_set(void) {
    struct semid_ds ds;
    memset(&ds, 0, sizeof ds);
    ds.sem_perm.mode = 0666;
    union semun a = {.buf = &ds};
    return semctl(F.m666, 0, IPC_SET, a);
}
static long semctl_eperm_rmid(void) { return semctl(F.m666, 0, IPC_RMID); }
static long semctl_owner_set(void) {
    struct semid_ds ds;
    union semun a = {.buf = &ds};
    if (semctl(F.mnob, 0, IPC_STAT, a) != 0) return -1;
    ds.sem_perm.mode = 0640;
    return semctl(F.mnob, 0, IPC_SET, a);
}
static long semctl_erange_big(void) { return setval(F.m666, 1, 32768); }
static long semctl_erange_neg(void) { return setval(F.m666, 1, -1); }
static long semctl_erange_all(void) {
    unsigned short v[2] = {1, 32768};
    union semun a = {.array = v};
    return semctl(F.m666, 0, SETALL, a);
}
static long semctl_setval_wakes(void) { /* SETVAL wakes a blocked P */
    int m = newm(1, 0600);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) _exit(sop1(m, 0, -1, 0) == 0 ? 0 : 1);
    usleep(50000);
    long r = setval(m, 0, 1);
    int st = 0;
    waitpid(c, &st, 0);
    if (r == 0) r = CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    RETURN(r, rmm(m));
}

/* --- the table ------------------------------------------------------------ */

#define WHY_CLOSED "README: an object whose mode grants a user nothing is invisible to that user (its file cannot be opened)"
#define DIFF_EFAULT "README: msgrcv into an unwritable buffer - ripc keeps the message"
#define DIFF_QBYTES "README: raising msg_qbytes above the capacity - EPERM even for root"

static const struct row rows[] = {
    {"ftok", "an existing file: glibc's key", ROOT, ftok_ok, 0, SAME, NULL, NULL},
    {"ftok", "same file and proj_id: same key; another proj_id: another", ROOT, ftok_same, 0, SAME, NULL, NULL},
    {"ftok", "missing file", ROOT, ftok_enoent, ENOENT, SAME, NULL, NULL},
    {"ftok", "a path component is a regular file", ROOT, ftok_enotdir, ENOTDIR, SAME, NULL, NULL},
    {"ftok", "path longer than PATH_MAX", ROOT, ftok_enametoolong, ENAMETOOLONG, SAME, NULL, NULL},
    {"ftok", "a symlink loop", ROOT, ftok_eloop, ELOOP, SAME, NULL, NULL},
    {"ftok", "no search permission on a directory of the path", NOBODY, ftok_eacces, EACCES, SAME, NULL, NULL},
    {"ftok", "pathname unreadable", ROOT, ftok_efault, EFAULT, SAME, NULL, NULL},

    {"msgget", "IPC_PRIVATE twice: two queues", ROOT, msgget_private, 0, SAME, NULL, NULL},
    {"msgget", "IPC_CREAT|IPC_EXCL of a new key, then the key finds it", ROOT, msgget_create_excl, 0, SAME, NULL, NULL},
    {"msgget", "an existing key", ROOT, msgget_open, 0, SAME, NULL, NULL},
    {"msgget", "a removed key re-created: a new id", ROOT, msgget_recreate, 0, SAME, NULL, NULL},
    {"msgget", "missing key without IPC_CREAT", ROOT, msgget_enoent, ENOENT, SAME, NULL, NULL},
    {"msgget", "IPC_CREAT|IPC_EXCL of an existing key", ROOT, msgget_eexist, EEXIST, SAME, NULL, NULL},
    {"msgget", "IPC_CREAT|IPC_EXCL of an existing key without access", NOBODY, msgget_eexist, EEXIST, SAME, NULL, NULL},
    {"msgget", "asking rw of a 0600 queue", NOBODY, msgget_eacces, EACCES, SAME, NULL, NULL},
    {"msgget", "asking r of a 0600 queue", NOBODY, msgget_eacces_read, EACCES, SAME, NULL, NULL},
    {"msgget", "asking no access (msgflg 0) of a 0600 queue", NOBODY, msgget_noaccess, 0, EACCES, WHY_CLOSED, NULL},
    {"msgget", "msgmni queues exist (msgmni 8)", LIMITS, msgget_enospc, ENOSPC, SAME, NULL, NULL},

    {"msgsnd", "a message", ROOT, msgsnd_ok, 0, SAME, NULL, NULL},
    {"msgsnd", "msgsz == msgmax (8192)", ROOT, msgsnd_max, 0, SAME, NULL, NULL},
    {"msgsnd", "write-only grant (0622)", NOBODY, msgsnd_writeonly, 0, SAME, NULL, NULL},
    {"msgsnd", "no write permission (0600)", NOBODY, msgsnd_eacces, EACCES, SAME, NULL, NULL},
    {"msgsnd", "mtype 0 without write permission: EINVAL first", NOBODY, msgsnd_einval_before_eacces, EINVAL, SAME, NULL, NULL},
    {"msgsnd", "queue full (msg_qbytes) with IPC_NOWAIT", ROOT, msgsnd_eagain, EAGAIN, SAME, NULL, NULL},
    {"msgsnd", "msg_qbytes messages queued with IPC_NOWAIT", ROOT, msgsnd_eagain_count, EAGAIN, SAME, NULL, NULL},
    {"msgsnd", "msgp NULL", ROOT, msgsnd_efault_null, EFAULT, SAME, NULL, NULL},
    {"msgsnd", "msgp unreadable", ROOT, msgsnd_efault_none, EFAULT, SAME, NULL, NULL},
    {"msgsnd", "mtype readable, mtext unreadable", ROOT, msgsnd_efault_text, EFAULT, SAME, NULL, NULL},
    {"msgsnd", "msgp NULL and msqid -1: EFAULT first", ROOT, msgsnd_efault_first, EFAULT, SAME, NULL, NULL},
    {"msgsnd", "blocked on a full queue, queue removed", ROOT, msgsnd_eidrm, EIDRM, SAME, NULL, NULL},
    {"msgsnd", "blocked on a full queue, signal (SA_RESTART)", ROOT, msgsnd_eintr, EINTR, SAME, NULL, NULL},
    {"msgsnd", "msqid -1", ROOT, msgsnd_einval_id, EINVAL, SAME, NULL, NULL},
    {"msgsnd", "msqid of a removed queue", ROOT, msgsnd_einval_stale, EINVAL, SAME, NULL, NULL},
    {"msgsnd", "mtype 0", ROOT, msgsnd_einval_type0, EINVAL, SAME, NULL, NULL},
    {"msgsnd", "mtype < 0", ROOT, msgsnd_einval_typeneg, EINVAL, SAME, NULL, NULL},
    {"msgsnd", "msgsz > msgmax", ROOT, msgsnd_einval_big, EINVAL, SAME, NULL, NULL},
    {"msgsnd", "msgsz negative as a long", ROOT, msgsnd_einval_neg, EINVAL, SAME, NULL, NULL},

    {"msgrcv", "msgtyp > 0: the first of that type", ROOT, msgrcv_ok, 0, SAME, NULL, NULL},
    {"msgrcv", "msgtyp 0: the first message", ROOT, msgrcv_any, 0, SAME, NULL, NULL},
    {"msgrcv", "msgtyp < 0: the lowest type <= |msgtyp|", ROOT, msgrcv_lowest, 0, SAME, NULL, NULL},
    {"msgrcv", "MSG_EXCEPT: the first of another type", ROOT, msgrcv_except, 0, SAME, NULL, NULL},
    {"msgrcv", "MSG_NOERROR truncates and takes the message", ROOT, msgrcv_noerror, 0, SAME, NULL, NULL},
    {"msgrcv", "MSG_COPY|IPC_NOWAIT copies message #1, leaves it", ROOT, msgrcv_copy, 0, SAME, NULL, NULL},
    {"msgrcv", "message longer than msgsz: E2BIG, message kept", ROOT, msgrcv_e2big, E2BIG, SAME, NULL, NULL},
    {"msgrcv", "no read permission (0622)", NOBODY, msgrcv_eacces, EACCES, SAME, NULL, NULL},
    {"msgrcv", "no read permission (0600)", NOBODY, msgrcv_eacces600, EACCES, SAME, NULL, NULL},
    {"msgrcv", "msgp NULL, a message queued", ROOT, msgrcv_efault, EFAULT, SAME, NULL, NULL},
    {"msgrcv", "msgp unwritable, a message queued", ROOT, msgrcv_efault_none, EFAULT, SAME, NULL, NULL},
    {"msgrcv", "the next receive after that EFAULT", ROOT, msgrcv_efault_kept, ENOMSG, 0, DIFF_EFAULT, NULL},
    {"msgrcv", "msgp NULL, queue empty, IPC_NOWAIT: ENOMSG", ROOT, msgrcv_efault_empty, ENOMSG, SAME, NULL, NULL},
    {"msgrcv", "blocked, queue removed", ROOT, msgrcv_eidrm, EIDRM, SAME, NULL, NULL},
    {"msgrcv", "blocked, signal (SA_RESTART)", ROOT, msgrcv_eintr, EINTR, SAME, NULL, NULL},
    {"msgrcv", "msqid -1", ROOT, msgrcv_einval_id, EINVAL, SAME, NULL, NULL},
    {"msgrcv", "msqid of a removed queue", ROOT, msgrcv_einval_stale, EINVAL, SAME, NULL, NULL},
    {"msgrcv", "msgsz negative as a long", ROOT, msgrcv_einval_neg, EINVAL, SAME, NULL, NULL},
    {"msgrcv", "msgsz negative without read permission: EINVAL first", NOBODY, msgrcv_einval_neg, EINVAL, SAME, NULL, NULL},
    {"msgrcv", "MSG_COPY without IPC_NOWAIT", ROOT, msgrcv_einval_copy_wait, EINVAL, SAME, NULL, NULL},
    {"msgrcv", "MSG_COPY with MSG_EXCEPT", ROOT, msgrcv_einval_copy_except, EINVAL, SAME, NULL, NULL},
    {"msgrcv", "empty queue, IPC_NOWAIT", ROOT, msgrcv_enomsg, ENOMSG, SAME, NULL, NULL},
    {"msgrcv", "no message of the type (3, then -1), IPC_NOWAIT", ROOT, msgrcv_enomsg_type, ENOMSG, SAME, NULL, NULL},
    {"msgrcv", "MSG_COPY of a position past the end", ROOT, msgrcv_enomsg_copy, ENOMSG, SAME, NULL, NULL},

    {"msgctl", "IPC_STAT", ROOT, msgctl_stat, 0, SAME, NULL, NULL},
    {"msgctl", "IPC_SET mode and lower msg_qbytes", ROOT, msgctl_set, 0, SAME, NULL, NULL},
    {"msgctl", "IPC_RMID", ROOT, msgctl_rmid, 0, SAME, NULL, NULL},
    {"msgctl", "IPC_INFO", ROOT, msgctl_info, 0, SAME, NULL, NULL},
    {"msgctl", "MSG_INFO", ROOT, msgctl_msginfo, 0, SAME, NULL, NULL},
    {"msgctl", "MSG_STAT by index", ROOT, msgctl_msgstat, 0, SAME, NULL, NULL},
    {"msgctl", "MSG_STAT_ANY without read permission", NOBODY, msgctl_msgstat_any, 0, EACCES, WHY_CLOSED, NULL},
    {"msgctl", "IPC_SET by the owner (not the creator)", NOBODY, msgctl_owner_set, 0, SAME, NULL, NULL},
    {"msgctl", "IPC_STAT without read permission", NOBODY, msgctl_eacces_stat, EACCES, SAME, NULL, NULL},
    {"msgctl", "MSG_STAT without read permission", NOBODY, msgctl_eacces_msgstat, EACCES, SAME, NULL, NULL},
    {"msgctl", "IPC_STAT into NULL", ROOT, msgctl_efault_stat, EFAULT, SAME, NULL, NULL},
    {"msgctl", "IPC_STAT into an unwritable buffer", ROOT, msgctl_efault_none, EFAULT, SAME, NULL, NULL},
    {"msgctl", "IPC_SET from NULL", ROOT, msgctl_efault_set, EFAULT, SAME, NULL, NULL},
    {"msgctl", "IPC_SET from NULL by a stranger: EFAULT first", NOBODY, msgctl_efault_set, EFAULT, SAME, NULL, NULL},
    {"msgctl", "IPC_INFO into NULL", ROOT, msgctl_efault_info, EFAULT, SAME, NULL, NULL},
    {"msgctl", "unknown command", ROOT, msgctl_einval_cmd, EINVAL, SAME, NULL, NULL},
    {"msgctl", "msqid -1", ROOT, msgctl_einval_id, EINVAL, SAME, NULL, NULL},
    {"msgctl", "IPC_STAT of a removed queue", ROOT, msgctl_einval_stale, EINVAL, SAME, NULL, NULL},
    {"msgctl", "IPC_RMID of a removed queue", ROOT, msgctl_einval_stale_rmid, EINVAL, SAME, NULL, NULL},
    {"msgctl", "MSG_STAT of an unused index", ROOT, msgctl_einval_index, EINVAL, SAME, NULL, NULL},
    {"msgctl", "MSG_STAT of index -1", ROOT, msgctl_einval_index_neg, EINVAL, SAME, NULL, NULL},
    {"msgctl", "IPC_SET by a stranger", NOBODY, msgctl_eperm_set, EPERM, SAME, NULL, NULL},
    {"msgctl", "IPC_RMID by a stranger (0666)", NOBODY, msgctl_eperm_rmid, EPERM, SAME, NULL, NULL},
    {"msgctl", "IPC_RMID by a stranger (0600)", NOBODY, msgctl_eperm_rmid600, EPERM, SAME, NULL, NULL},
    {"msgctl", "the owner raises msg_qbytes above msgmnb", NOBODY, msgctl_eperm_qbytes, EPERM, SAME, NULL, NULL},
    {"msgctl", "root raises msg_qbytes above msgmnb", ROOT_CAP, msgctl_root_qbytes, 0, EPERM, DIFF_QBYTES, NULL},
    {"msgctl", "root raises msg_qbytes above msgmnb", ROOT_NOCAP, msgctl_root_qbytes, EPERM, SAME, NULL, NULL},

    {"shmget", "IPC_PRIVATE twice: two segments", ROOT, shmget_private, 0, SAME, NULL, NULL},
    {"shmget", "IPC_CREAT|IPC_EXCL of a new key, then size 0 and smaller find it", ROOT, shmget_create_excl, 0, SAME, NULL, NULL},
    {"shmget", "an existing key", ROOT, shmget_open, 0, SAME, NULL, NULL},
    {"shmget", "asking no access (shmflg 0) of a 0600 segment", NOBODY, shmget_noaccess, 0, EACCES, WHY_CLOSED, NULL},
    {"shmget", "asking rw of a 0600 segment", NOBODY, shmget_eacces, EACCES, SAME, NULL, NULL},
    {"shmget", "larger size, rw asked of a 0644 segment: EINVAL first", NOBODY, shmget_einval_before_eacces, EINVAL, SAME, NULL, NULL},
    {"shmget", "IPC_CREAT|IPC_EXCL of an existing key", ROOT, shmget_eexist, EEXIST, SAME, NULL, NULL},
    {"shmget", "IPC_CREAT|IPC_EXCL of an existing key without access", NOBODY, shmget_eexist, EEXIST, SAME, NULL, NULL},
    {"shmget", "size 0 (< SHMMIN)", ROOT, shmget_einval_zero, EINVAL, SAME, NULL, NULL},
    {"shmget", "size > SHMMAX", ROOT, shmget_einval_huge, EINVAL, SAME, NULL, NULL},
    {"shmget", "size larger than the existing segment", ROOT, shmget_einval_larger, EINVAL, SAME, NULL, NULL},
    {"shmget", "missing key without IPC_CREAT", ROOT, shmget_enoent, ENOENT, SAME, NULL, NULL},
    {"shmget", "shmmni segments exist (shmmni 8)", LIMITS, shmget_enospc, ENOSPC, SAME, NULL, NULL},
    {"shmget", "size over shmall (64 pages)", LIMITS, shmget_enospc_all, ENOSPC, SAME, NULL, NULL},

    {"shmat", "NULL address, then SHM_RDONLY: two views", ROOT, shmat_ok, 0, SAME, NULL, NULL},
    {"shmat", "at an address, SHM_REMAP over it, SHM_RND", ROOT, shmat_addr, 0, SAME, NULL, NULL},
    {"shmat", "SHM_RDONLY with read permission (0644)", NOBODY, shmat_readonly, 0, SAME, NULL, NULL},
    {"shmat", "a removed but attached segment, by id (Linux)", ROOT, shmat_rmid_attached, 0, SAME, NULL, NULL},
    {"shmat", "read-write without write permission (0644)", NOBODY, shmat_eacces_rw, EACCES, SAME, NULL, NULL},
    {"shmat", "SHM_RDONLY without read permission (0600)", NOBODY, shmat_eacces_ro, EACCES, SAME, NULL, NULL},
    {"shmat", "SHM_EXEC without execute permission (0666)", NOBODY, shmat_eacces_exec, EACCES, SAME, NULL, NULL},
    {"shmat", "shmid -1", ROOT, shmat_einval_id, EINVAL, SAME, NULL, NULL},
    {"shmat", "shmid of a destroyed segment", ROOT, shmat_einval_stale, EINVAL, SAME, NULL, NULL},
    {"shmat", "unaligned address without SHM_RND", ROOT, shmat_einval_unaligned, EINVAL, SAME, NULL, NULL},
    {"shmat", "SHM_REMAP with a NULL address", ROOT, shmat_einval_remap_null, EINVAL, SAME, NULL, NULL},
    {"shmat", "over an existing mapping without SHM_REMAP", ROOT, shmat_einval_overlap, EINVAL, SAME, NULL, NULL},
    {"shmat", "an address beyond the user address space", ROOT, shmat_enomem_addr, ENOMEM, SAME, NULL, NULL},

    {"shmdt", "an attachment", ROOT, shmdt_ok, 0, SAME, NULL, NULL},
    {"shmdt", "an address with no attachment", ROOT, shmdt_einval_none, EINVAL, SAME, NULL, NULL},
    {"shmdt", "NULL", ROOT, shmdt_einval_null, EINVAL, SAME, NULL, NULL},
    {"shmdt", "an unaligned address", ROOT, shmdt_einval_unaligned, EINVAL, SAME, NULL, NULL},
    {"shmdt", "inside an attachment, not its start", ROOT, shmdt_einval_inside, EINVAL, SAME, NULL, NULL},
    {"shmdt", "an attachment already detached", ROOT, shmdt_einval_twice, EINVAL, SAME, NULL, NULL},

    {"shmctl", "IPC_STAT", ROOT, shmctl_stat, 0, SAME, NULL, NULL},
    {"shmctl", "IPC_SET mode", ROOT, shmctl_set, 0, SAME, NULL, NULL},
    {"shmctl", "IPC_RMID", ROOT, shmctl_rmid, 0, SAME, NULL, NULL},
    {"shmctl", "IPC_RMID while attached: SHM_DEST, gone at the last shmdt", ROOT, shmctl_rmid_attached, 0, SAME, NULL, NULL},
    {"shmctl", "IPC_INFO", ROOT, shmctl_info, 0, SAME, NULL, NULL},
    {"shmctl", "SHM_INFO", ROOT, shmctl_shminfo, 0, SAME, NULL, NULL},
    {"shmctl", "SHM_STAT by index", ROOT, shmctl_shmstat, 0, SAME, NULL, NULL},
    {"shmctl", "SHM_STAT_ANY without read permission", NOBODY, shmctl_shmstat_any, 0, EACCES, WHY_CLOSED, NULL},
    {"shmctl", "SHM_LOCK then SHM_UNLOCK (root)", ROOT, shmctl_lock, 0, SAME, NULL, NULL},
    {"shmctl", "IPC_SET by the owner (not the creator)", NOBODY, shmctl_owner_set, 0, SAME, NULL, NULL},
    {"shmctl", "IPC_STAT without read permission", NOBODY, shmctl_eacces_stat, EACCES, SAME, NULL, NULL},
    {"shmctl", "SHM_STAT without read permission", NOBODY, shmctl_eacces_shmstat, EACCES, SAME, NULL, NULL},
    {"shmctl", "IPC_STAT into NULL", ROOT, shmctl_efault_stat, EFAULT, SAME, NULL, NULL},
    {"shmctl", "IPC_STAT into an unwritable buffer", ROOT, shmctl_efault_none, EFAULT, SAME, NULL, NULL},
    {"shmctl", "IPC_SET from NULL", ROOT, shmctl_efault_set, EFAULT, SAME, NULL, NULL},
    {"shmctl", "IPC_INFO into NULL", ROOT, shmctl_efault_info, EFAULT, SAME, NULL, NULL},
    {"shmctl", "unknown command", ROOT, shmctl_einval_cmd, EINVAL, SAME, NULL, NULL},
    {"shmctl", "shmid -1", ROOT, shmctl_einval_id, EINVAL, SAME, NULL, NULL},
    {"shmctl", "IPC_STAT of a destroyed segment", ROOT, shmctl_einval_stale, EINVAL, SAME, NULL, NULL},
    {"shmctl", "IPC_RMID of a destroyed segment", ROOT, shmctl_einval_stale_rmid, EINVAL, SAME, NULL, NULL},
    {"shmctl", "SHM_STAT of an unused index", ROOT, shmctl_einval_index, EINVAL, SAME, NULL, NULL},
    {"shmctl", "IPC_SET by a stranger", NOBODY, shmctl_eperm_set, EPERM, SAME, NULL, NULL},
    {"shmctl", "IPC_RMID by a stranger", NOBODY, shmctl_eperm_rmid, EPERM, SAME, NULL, NULL},
    {"shmctl", "SHM_LOCK by a stranger", NOBODY, shmctl_eperm_lock, EPERM, SAME, NULL, NULL},
    {"shmctl", "SHM_UNLOCK by a stranger", NOBODY, shmctl_eperm_unlock, EPERM, SAME, NULL, NULL},
    {"shmctl", "SHM_LOCK by the owner with RLIMIT_MEMLOCK 0", NOBODY, shmctl_eperm_lock_nolimit, EPERM, SAME, NULL, NULL},
    {"shmctl", "SHM_LOCK of 64 KiB by the owner with RLIMIT_MEMLOCK 4 KiB", NOBODY, shmctl_enomem_lock, ENOMEM, SAME, NULL, NULL},

    {"semget", "IPC_PRIVATE twice: two sets", ROOT, semget_private, 0, SAME, NULL, NULL},
    {"semget", "IPC_CREAT|IPC_EXCL of a new key, then nsems 0 and fewer find it", ROOT, semget_create_excl, 0, SAME, NULL, NULL},
    {"semget", "an existing key", ROOT, semget_open, 0, SAME, NULL, NULL},
    {"semget", "asking no access (semflg 0) of a 0600 set", NOBODY, semget_noaccess, 0, EACCES, WHY_CLOSED, NULL},
    {"semget", "asking rw of a 0600 set", NOBODY, semget_eacces, EACCES, SAME, NULL, NULL},
    {"semget", "more nsems, rw asked of a 0644 set: EINVAL first", NOBODY, semget_einval_before_eacces, EINVAL, SAME, NULL, NULL},
    {"semget", "IPC_CREAT|IPC_EXCL of an existing key", ROOT, semget_eexist, EEXIST, SAME, NULL, NULL},
    {"semget", "IPC_CREAT|IPC_EXCL of an existing key without access", NOBODY, semget_eexist, EEXIST, SAME, NULL, NULL},
    {"semget", "nsems < 0", ROOT, semget_einval_neg, EINVAL, SAME, NULL, NULL},
    {"semget", "nsems > SEMMSL", ROOT, semget_einval_semmsl, EINVAL, SAME, NULL, NULL},
    {"semget", "nsems 0 creating a set", ROOT, semget_einval_zero, EINVAL, SAME, NULL, NULL},
    {"semget", "more nsems than the existing set", ROOT, semget_einval_more, EINVAL, SAME, NULL, NULL},
    {"semget", "missing key without IPC_CREAT", ROOT, semget_enoent, ENOENT, SAME, NULL, NULL},
    {"semget", "semmni sets exist (semmni 8)", LIMITS, semget_enospc, ENOSPC, SAME, NULL, NULL},
    {"semget", "more semaphores than semmns (64)", LIMITS, semget_enospc_semmns, ENOSPC, SAME, NULL, NULL},

    {"semop", "V on two semaphores, then P with IPC_NOWAIT", ROOT, semop_ok, 0, SAME, NULL, NULL},
    {"semop", "wait-for-zero on 0", ROOT, semop_zero, 0, SAME, NULL, NULL},
    {"semop", "SEM_UNDO: undone when the process exits (GETPID: the last to operate)", ROOT, semop_undo, 0, SAME, NULL, NULL},
    {"semop", "a blocked P is woken by another process's V", ROOT, semop_blocked_v, 0, SAME, NULL, NULL},
    {"semop", "semval + sem_op == SEMVMX", ROOT, semop_max, 0, SAME, NULL, NULL},
    {"semop", "wait-for-zero with read permission only (0644)", NOBODY, semop_readonly_zero, 0, SAME, NULL, NULL},
    {"semop", "nsops > SEMOPM (500)", ROOT, semop_e2big, E2BIG, SAME, NULL, NULL},
    {"semop", "nsops > SEMOPM on a removed id: E2BIG first", ROOT, semop_e2big_first, E2BIG, SAME, NULL, NULL},
    {"semop", "nsops > semopm (4)", LIMITS, semop_e2big_limits, E2BIG, SAME, NULL, NULL},
    {"semop", "sem_op != 0 without write permission (0644)", NOBODY, semop_eacces_alter, EACCES, SAME, NULL, NULL},
    {"semop", "wait-for-zero without read permission (0600)", NOBODY, semop_eacces_read, EACCES, SAME, NULL, NULL},
    {"semop", "P on 0 with IPC_NOWAIT", ROOT, semop_eagain, EAGAIN, SAME, NULL, NULL},
    {"semop", "wait-for-zero on 1 with IPC_NOWAIT", ROOT, semop_eagain_zero, EAGAIN, SAME, NULL, NULL},
    {"semop", "two ops, the second would block: EAGAIN, nothing done", ROOT, semop_atomic, EAGAIN, SAME, NULL, NULL},
    {"semop", "sops NULL", ROOT, semop_efault, EFAULT, SAME, NULL, NULL},
    {"semop", "sops unreadable", ROOT, semop_efault_none, EFAULT, SAME, NULL, NULL},
    {"semop", "sops NULL on a removed id: EFAULT first", ROOT, semop_efault_first, EFAULT, SAME, NULL, NULL},
    {"semop", "sem_num >= nsems", ROOT, semop_efbig, EFBIG, SAME, NULL, NULL},
    {"semop", "sem_num >= nsems without permission: EFBIG first", NOBODY, semop_efbig_before_eacces, EFBIG, SAME, NULL, NULL},
    {"semop", "sem_num >= nsems on a removed id: EINVAL first", ROOT, semop_einval_before_efbig, EINVAL, SAME, NULL, NULL},
    {"semop", "blocked P, set removed", ROOT, semop_eidrm, EIDRM, SAME, NULL, NULL},
    {"semop", "blocked P, signal (SA_RESTART)", ROOT, semop_eintr, EINTR, SAME, NULL, NULL},
    {"semop", "semid -1", ROOT, semop_einval_id, EINVAL, SAME, NULL, NULL},
    {"semop", "semid of a removed set", ROOT, semop_einval_stale, EINVAL, SAME, NULL, NULL},
    {"semop", "nsops 0", ROOT, semop_einval_nsops, EINVAL, SAME, NULL, NULL},
    {"semop", "semval + sem_op > SEMVMX", ROOT, semop_erange, ERANGE, SAME, NULL, NULL},
    {"semtimedop", "P with a timeout, V with a NULL timeout", ROOT, semtimedop_ok, 0, SAME, NULL, NULL},
    {"semtimedop", "the timeout (20 ms) expires", ROOT, semtimedop_eagain, EAGAIN, SAME, NULL, NULL},
    {"semtimedop", "timeout unreadable", ROOT, semtimedop_efault, EFAULT, SAME, NULL, NULL},
    {"semtimedop", "blocked, signal (SA_RESTART)", ROOT, semtimedop_eintr, EINTR, SAME, NULL, NULL},
    {"semtimedop", "tv_nsec >= 1e9", ROOT, semtimedop_einval_nsec, EINVAL, SAME, NULL, NULL},
    {"semtimedop", "tv_sec < 0", ROOT, semtimedop_einval_neg, EINVAL, SAME, NULL, NULL},

    {"semctl", "SETVAL, GETVAL, GETPID, GETNCNT, GETZCNT", ROOT, semctl_getset, 0, SAME, NULL, NULL},
    {"semctl", "SETALL, GETALL", ROOT, semctl_all, 0, SAME, NULL, NULL},
    {"semctl", "GETNCNT and GETZCNT count blocked waiters", ROOT, semctl_counts, 0, SAME, NULL, NULL},
    {"semctl", "SETVAL wakes a blocked P", ROOT, semctl_setval_wakes, 0, SAME, NULL, NULL},
    {"semctl", "IPC_STAT", ROOT, semctl_stat, 0, SAME, NULL, NULL},
    {"semctl", "IPC_SET mode", ROOT, semctl_set, 0, SAME, NULL, NULL},
    {"semctl", "IPC_RMID (no fourth argument)", ROOT, semctl_rmid, 0, SAME, NULL, NULL},
    {"semctl", "IPC_INFO", ROOT, semctl_info, 0, SAME, NULL, NULL},
    {"semctl", "SEM_INFO", ROOT, semctl_seminfo, 0, SAME, NULL, NULL},
    {"semctl", "SEM_STAT by index", ROOT, semctl_semstat, 0, SAME, NULL, NULL},
    {"semctl", "SEM_STAT_ANY without read permission", NOBODY, semctl_semstat_any, 0, EACCES, WHY_CLOSED, NULL},
    {"semctl", "GETVAL, GETNCNT with read permission (0644)", NOBODY, semctl_nobody_read, 0, SAME, NULL, NULL},
    {"semctl", "IPC_SET by the owner (not the creator)", NOBODY, semctl_owner_set, 0, SAME, NULL, NULL},
    {"semctl", "GETVAL without read permission", NOBODY, semctl_eacces_getval, EACCES, SAME, NULL, NULL},
    {"semctl", "GETPID without read permission", NOBODY, semctl_eacces_getpid, EACCES, SAME, NULL, NULL},
    {"semctl", "GETNCNT without read permission", NOBODY, semctl_eacces_getncnt, EACCES, SAME, NULL, NULL},
    {"semctl", "GETZCNT without read permission", NOBODY, semctl_eacces_getzcnt, EACCES, SAME, NULL, NULL},
    {"semctl", "GETALL without read permission", NOBODY, semctl_eacces_getall, EACCES, SAME, NULL, NULL},
    {"semctl", "IPC_STAT without read permission", NOBODY, semctl_eacces_stat, EACCES, SAME, NULL, NULL},
    {"semctl", "SEM_STAT without read permission", NOBODY, semctl_eacces_semstat, EACCES, SAME, NULL, NULL},
    {"semctl", "SETVAL without write permission (0644)", NOBODY, semctl_eacces_setval, EACCES, SAME, NULL, NULL},
    {"semctl", "SETALL without write permission (0644)", NOBODY, semctl_eacces_setall, EACCES, SAME, NULL, NULL},
    {"semctl", "IPC_STAT into NULL", ROOT, semctl_efault_stat, EFAULT, SAME, NULL, NULL},
    {"semctl", "IPC_SET from NULL", ROOT, semctl_efault_set, EFAULT, SAME, NULL, NULL},
    {"semctl", "GETALL into NULL", ROOT, semctl_efault_getall, EFAULT, SAME, NULL, NULL},
    {"semctl", "SETALL from an unreadable array", ROOT, semctl_efault_setall, EFAULT, SAME, NULL, NULL},
    {"semctl", "IPC_INFO into NULL", ROOT, semctl_efault_info, EFAULT, SAME, NULL, NULL},
    {"semctl", "unknown command", ROOT, semctl_einval_cmd, EINVAL, SAME, NULL, NULL},
    {"semctl", "semid -1", ROOT, semctl_einval_id, EINVAL, SAME, NULL, NULL},
    {"semctl", "GETVAL of a removed set", ROOT, semctl_einval_stale, EINVAL, SAME, NULL, NULL},
    {"semctl", "IPC_RMID of a removed set", ROOT, semctl_einval_stale_rmid, EINVAL, SAME, NULL, NULL},
    {"semctl", "SEM_STAT of an unused index", ROOT, semctl_einval_index, EINVAL, SAME, NULL, NULL},
    {"semctl", "GETVAL of semnum >= nsems", ROOT, semctl_einval_semnum, EINVAL, SAME, NULL, NULL},
    {"semctl", "GETVAL of semnum -1", ROOT, semctl_einval_semnum_neg, EINVAL, SAME, NULL, NULL},
    {"semctl", "SETVAL of semnum >= nsems", ROOT, semctl_einval_semnum_set, EINVAL, SAME, NULL, NULL},
    {"semctl", "GETNCNT of semnum >= nsems", ROOT, semctl_einval_semnum_ncnt, EINVAL, SAME, NULL, NULL},
    {"semctl", "IPC_SET by a stranger", NOBODY, semctl_eperm_set, EPERM, SAME, NULL, NULL},
    {"semctl", "IPC_RMID by a stranger", NOBODY, semctl_eperm_rmid, EPERM, SAME, NULL, NULL},
    {"semctl", "SETVAL 32768 (> SEMVMX)", ROOT, semctl_erange_big, ERANGE, SAME, NULL, NULL},
    {"semctl", "SETVAL -1", ROOT, semctl_erange_neg, ERANGE, SAME, NULL, NULL},
    {"semctl", "SETALL with a value > SEMVMX", ROOT, semctl_erange_all, ERANGE, SAME, NULL, NULL},
};

/* --- running a row -------------------------------------------------------- */

static const char *ename(int e) {
    if (e == 0) return "success";
    const char *n = strerrorname_np(e);
    return n ? n : "?";
}

static int has_cap(int cap) {
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) != 0) return 0;
    return (d[cap / 32].effective >> (cap % 32)) & 1;
}
static int drop_cap(int cap) {
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) != 0) return -1;
    d[cap / 32].effective &= ~(1u << (cap % 32));
    return (int)syscall(SYS_capset, &h, d);
}

static int drop_to_nobody(void) {
    return setgroups(0, NULL) == 0 && setgid(65534) == 0 && setuid(65534) == 0 ? 0 : -1;
}

/* Lowered limits for LIMITS rows (in the child that runs them). */
static int lower_limits(void) {
    if (backend_is_kernel()) {
        if (unshare(CLONE_NEWIPC) != 0) return -1;
        static const struct { const char *f, *v; } s[] = {
            {"/proc/sys/kernel/msgmni", "8"},
            {"/proc/sys/kernel/shmmni", "8"},
            {"/proc/sys/kernel/shmall", "64"},
            {"/proc/sys/kernel/sem", "32000 64 4 8"},
        };
        for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
            FILE *f = fopen(s[i].f, "w");
            if (!f) return -1;
            fputs(s[i].v, f);
            if (fclose(f) != 0) return -1;
        }
        return 0;
    }
    return ripc_limit_set(NULL, "msgmni", 8) || ripc_limit_set(NULL, "shmmni", 8) || ripc_limit_set(NULL, "shmall", 64) ||
                   ripc_limit_set(NULL, "semmns", 64) || ripc_limit_set(NULL, "semopm", 4) || ripc_limit_set(NULL, "semmni", 8)
               ? -1
               : 0;
}
static const char *limit_names[] = {"msgmni", "shmmni", "shmall", "semmns", "semopm", "semmni"};
static int64_t saved_limits[6];

static void run_row(const struct row *w) {
    long r;
    int e;
    const char *as = w->who == NOBODY       ? " [uid 65534]"
                     : w->who == LIMITS     ? " [lowered limits]"
                     : w->who == ROOT_CAP   ? " [with CAP_SYS_RESOURCE]"
                     : w->who == ROOT_NOCAP ? " [without CAP_SYS_RESOURCE]"
                                            : "";
    if (w->who == ROOT_CAP && !has_cap(CAP_SYS_RESOURCE)) {
        tap_ok(1, "%s: %s%s # SKIP root lacks CAP_SYS_RESOURCE here", w->call, w->cond, as);
        return;
    }
    if (w->who == ROOT || w->who == ROOT_CAP) {
        errno = 0;
        r = w->run();
        e = errno;
    } else {
        int fd[2];
        if (pipe(fd) != 0) abort();
        fflush(stdout);
        pid_t c = fork();
        if (c == 0) {
            close(fd[0]);
            long res[2] = {-2, 0};
            int ready = w->who == NOBODY ? drop_to_nobody() : w->who == LIMITS ? lower_limits() : drop_cap(CAP_SYS_RESOURCE);
            if (ready != 0 && w->who == LIMITS && backend_is_kernel() && errno == EPERM) res[0] = -3;
            if (ready == 0) {
                errno = 0;
                res[0] = w->run();
                res[1] = errno;
            }
            (void)!write(fd[1], res, sizeof res);
            _exit(0);
        }
        close(fd[1]);
        long res[2] = {-2, 0};
        if (read(fd[0], res, sizeof res) != (ssize_t)sizeof res) res[0] = -2;
        close(fd[0]);
        waitpid(c, NULL, 0);
        if (w->who == LIMITS && !backend_is_kernel())
            for (int i = 0; i < 6; i++) ripc_limit_set(NULL, limit_names[i], (uint64_t)saved_limits[i]);
        r = res[0];
        e = (int)res[1];
        if (r == -3) {
            tap_ok(1, "%s: %s%s # SKIP no private kernel IPC namespace here (unshare: EPERM)", w->call, w->cond, as);
            return;
        }
    }
    int user = !backend_is_kernel();
    int want = user && w->uerr != SAME ? w->uerr : w->kerr;
    int pass = want == 0 ? r >= 0 : (r == -1 && e == want);
    char todo[300] = "";
    if (user && w->bug) snprintf(todo, sizeof todo, " # TODO %s", w->bug);
    if (w->uerr != SAME)
        tap_ok(pass, "%s: %s%s -> kernel %s, ripc %s (%s)%s", w->call, w->cond, as, ename(w->kerr), ename(w->uerr),
               w->why, todo);
    else
        tap_ok(pass, "%s: %s%s -> %s%s", w->call, w->cond, as, ename(w->kerr), todo);
    if (!pass && todo[0]) tap_failed--; /* a TODO row's failure does not fail the test */
    if (!pass)
        diag("  got %s (returned %ld, errno %s)", r >= 0 ? "success" : r == -1 ? "failure" : "a wrong result", r,
             ename(e));
}

/* --- fixture -------------------------------------------------------------- */

static void make_fixture(void) {
    int pid = getpid() & 0xfffff;
    snprintf(F.dir, sizeof F.dir, "/tmp/ripc-conf-%d", (int)getpid());
    mkdir(F.dir, 0755);
    snprintf(F.file, sizeof F.file, "%s/key", F.dir);
    close(open(F.file, O_CREAT | O_WRONLY, 0644));
    snprintf(F.sub, sizeof F.sub, "%s/x", F.file);
    snprintf(F.loop, sizeof F.loop, "%s/loop", F.dir);
    (void)!symlink(F.loop, F.loop);
    char locked_dir[96];
    snprintf(locked_dir, sizeof locked_dir, "%s/locked", F.dir);
    mkdir(locked_dir, 0700);
    snprintf(F.locked, sizeof F.locked, "%s/key", locked_dir);
    close(open(F.locked, O_CREAT | O_WRONLY, 0644));
    memset(F.longpath, 'a', PATH_MAX + 10);
    F.longpath[0] = '/';
    F.none = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    F.kq = (key_t)(0x43100000 | pid);
    F.ks = (key_t)(0x43200000 | pid);
    F.km = (key_t)(0x43300000 | pid);
    F.kmissing = (key_t)(0x43400000 | pid);
    F.ks644 = (key_t)(0x43500000 | pid);
    F.km644 = (key_t)(0x43600000 | pid);

    F.q600 = msgget(F.kq, IPC_CREAT | IPC_EXCL | 0600);
    F.q622 = newq(0622);
    F.q666 = newq(0666);
    F.qnob = newq(0600);
    F.qstale = newq(0600);
    rmq(F.qstale);
    struct msqid_ds qd;
    msgctl(F.qnob, IPC_STAT, &qd);
    qd.msg_perm.uid = 65534;
    qd.msg_perm.gid = 65534;
    msgctl(F.qnob, IPC_SET, &qd);
    F.q600_idx = msg_index(F.q600);

    F.s600 = shmget(F.ks, 4096, IPC_CREAT | IPC_EXCL | 0600);
    F.s644 = shmget(F.ks644, 4096, IPC_CREAT | IPC_EXCL | 0644);
    F.s666 = shmget(IPC_PRIVATE, 4096, 0666);
    F.snob = shmget(IPC_PRIVATE, 65536, 0600);
    F.sstale = shmget(IPC_PRIVATE, 4096, 0600);
    rms(F.sstale);
    struct shmid_ds sd;
    shmctl(F.snob, IPC_STAT, &sd);
    sd.shm_perm.uid = 65534;
    sd.shm_perm.gid = 65534;
    shmctl(F.snob, IPC_SET, &sd);
    F.s600_idx = shm_index(F.s600);

    F.m600 = semget(F.km, 2, IPC_CREAT | IPC_EXCL | 0600);
    F.m644 = semget(F.km644, 2, IPC_CREAT | IPC_EXCL | 0644);
    F.m666 = newm(2, 0666);
    F.mnob = newm(1, 0600);
    F.mstale = newm(1, 0600);
    rmm(F.mstale);
    struct semid_ds md;
    union semun a = {.buf = &md};
    semctl(F.mnob, 0, IPC_STAT, a);
    md.sem_perm.uid = 65534;
    md.sem_perm.gid = 65534;
    semctl(F.mnob, 0, IPC_SET, a);
    F.m600_idx = sem_index(F.m600);

    if (!backend_is_kernel())
        for (int i = 0; i < 6; i++) saved_limits[i] = ripc_limit_get(NULL, limit_names[i]);
}

static int remove_fixture(void) {
    int bad = 0;
    int q[] = {F.q600, F.q622, F.q666, F.qnob}, s[] = {F.s600, F.s644, F.s666, F.snob}, m[] = {F.m600, F.m644, F.m666, F.mnob};
    for (int i = 0; i < 4; i++) {
        bad |= msgctl(q[i], IPC_RMID, NULL) != 0;
        bad |= shmctl(s[i], IPC_RMID, NULL) != 0;
        bad |= semctl(m[i], 0, IPC_RMID) != 0;
    }
    char p[160];
    unlink(F.locked);
    snprintf(p, sizeof p, "%s/locked", F.dir);
    rmdir(p);
    unlink(F.loop);
    unlink(F.file);
    rmdir(F.dir);
    return bad;
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);

    alarm(120); /* a row that hangs fails the test instead of the suite */
    make_fixture();
    int fixture_ok = F.q600 >= 0 && F.q622 >= 0 && F.q666 >= 0 && F.qnob >= 0 && F.q600_idx >= 0 && F.s600 >= 0 &&
                     F.s644 >= 0 && F.s666 >= 0 && F.snob >= 0 && F.s600_idx >= 0 && F.m600 >= 0 && F.m644 >= 0 &&
                     F.m666 >= 0 && F.mnob >= 0 && F.m600_idx >= 0 && F.none != MAP_FAILED;
    ok(fixture_ok, "fixture: queues, segments and sets of modes 0600/0622/0644/0666, one of each owned by uid 65534");
    if (!fixture_ok)
        diag("queues %d %d %d %d idx %d; segments %d %d %d %d idx %d; sets %d %d %d %d idx %d", F.q600, F.q622,
             F.q666, F.qnob, F.q600_idx, F.s600, F.s644, F.s666, F.snob, F.s600_idx, F.m600, F.m644, F.m666, F.mnob,
             F.m600_idx);
    else
        for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) run_row(&rows[i]);
    ok(remove_fixture() == 0, "fixture removed (IPC_RMID of every object)");
    return done_testing();
}
