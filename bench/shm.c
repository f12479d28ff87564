/* bench/shm.c — ripc's shared memory (native API, user backend) against
 * the kernel's System V shared memory (raw system calls), in one run.
 *
 *   cycle:  create + attach + detach + remove of a 4 KiB segment
 *   attach: attach + detach of an existing segment
 *   touch:  first-touch bandwidth of a fresh 64 MiB segment (memset)
 *   stat:   shmctl(IPC_STAT) of a segment 16 other processes attach
 *   fork:   fork() (the call, in the parent) of a process holding one
 *           1 MiB attachment; the child _exits at once, the parent reaps it
 *   fill:   creating 4000 segments of 4 KiB one by one: the median create
 *           of the first and of the last quarter (constant cost: <= 1.5x)
 *           (with them: SHM_INFO and MSG_INFO at 10 and at 4000 objects)
 *   info:   MSG_INFO with 10 and with 4000 queues, each holding one 64-byte
 *           message (constant cost: the same at both; the totals printed
 *           beside, which must be the same for both sides)
 *   floor:  (only when named in RIPC_BENCH_ROWS) the system calls alone of
 *           a cycle, without the library: the sequence ripc makes today
 *           (two files per segment), and that of one file per segment
 *           with every control area in one namespace file mapped once
 *           (with the index kept as today, and with it in that mapping),
 *           beside the kernel's cycle: what a layout can reach at best
 *           (docs/shm.md, "Performance")
 *
 * Each figure is the median of several rounds; ratios are ripc / kernel
 * for times (lower is better) and ripc / kernel for bandwidth. */
#include <ripc.h>
#define RIPC_SYSV_NO_RENAME /* ripc_* prototypes; the kernel's by syscall */
#include "ripc_sysv.h"
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "bench.h"
#include <unistd.h>

#define ROUNDS 9
#define CYCLES 300
#define BIG (64UL << 20)
#define ATTACHERS 16
#define FORKS 100
#define FILL 4000


/* kernel System V shared memory by raw system call (no libc wrappers, so
 * nothing here can be routed to ripc). */
static int k_get(size_t size) { return (int)syscall(SYS_shmget, IPC_PRIVATE, size, 0600); }
static void *k_at(int id) { return (void *)syscall(SYS_shmat, id, NULL, 0); }
static int k_dt(void *p) { return (int)syscall(SYS_shmdt, p); }
static int k_rm(int id) { return (int)syscall(SYS_shmctl, id, IPC_RMID, NULL); }
static int k_ctl(int id, int cmd, void *buf) { return (int)syscall(SYS_shmctl, id, cmd, buf); }
static int k_msgget(void) { return (int)syscall(SYS_msgget, IPC_PRIVATE, IPC_CREAT | 0600); }
static int k_msgctl(int id, int cmd, void *buf) { return (int)syscall(SYS_msgctl, id, cmd, buf); }
static int k_msgsnd(int id, const void *m, size_t n) { return (int)syscall(SYS_msgsnd, id, m, n, IPC_NOWAIT); }

/* One side of the comparison: shmget/shmat/shmdt/shmctl/msgget/msgctl. */
struct side {
    const char *name;
    int (*get)(size_t);
    void *(*at)(int);
    int (*dt)(void *);
    int (*ctl)(int, int, void *);
    int (*msgget)(void);
    int (*msgctl)(int, int, void *);
    int (*msgsnd)(int, const void *, size_t);
};
static int r_get(size_t size) { return ripc_shmget(IPC_PRIVATE, size, IPC_CREAT | 0600); }
static void *r_at(int id) { return ripc_shmat(id, NULL, 0); }
static int r_dt(void *p) { return ripc_shmdt(p); }
static int r_ctl(int id, int cmd, void *buf) { return ripc_shmctl(id, cmd, buf); }
static int r_msgget(void) { return ripc_msgget(IPC_PRIVATE, IPC_CREAT | 0600); }
static int r_msgctl(int id, int cmd, void *buf) { return ripc_msgctl(id, cmd, buf); }
static int r_msgsnd(int id, const void *m, size_t n) { return ripc_msgsnd(id, m, n, IPC_NOWAIT); }
static const struct side KERNEL = {"kernel", k_get, k_at, k_dt, k_ctl, k_msgget, k_msgctl, k_msgsnd};
static const struct side RIPC = {"ripc", r_get, r_at, r_dt, r_ctl, r_msgget, r_msgctl, r_msgsnd};

static double ripc_cycle(void) {
    double t = now();
    for (int i = 0; i < CYCLES; i++) {
        struct ripc_shm *s = ripc_shm_open(NULL, IPC_PRIVATE, 4096, 0600);
        if (!s) die("ripc_shm_open");
        char *p = ripc_shm_attach(s, 0, NULL);
        if (!p) die("ripc_shm_attach");
        p[0] = 1;
        if (ripc_shm_detach(s, p) || ripc_shm_remove(s)) die("ripc detach/remove");
        ripc_shm_close(s);
    }
    return (now() - t) / CYCLES;
}

static double kernel_cycle(void) {
    double t = now();
    for (int i = 0; i < CYCLES; i++) {
        int id = k_get(4096);
        if (id < 0) die("shmget");
        char *p = k_at(id);
        if (p == (void *)-1) die("shmat");
        p[0] = 1;
        if (k_dt(p) || k_rm(id)) die("shmdt/shmctl");
    }
    return (now() - t) / CYCLES;
}

static double ripc_attach(struct ripc_shm *s) {
    double t = now();
    for (int i = 0; i < CYCLES; i++) {
        char *p = ripc_shm_attach(s, 0, NULL);
        if (!p) die("ripc_shm_attach");
        p[0] = 1;
        if (ripc_shm_detach(s, p)) die("ripc_shm_detach");
    }
    return (now() - t) / CYCLES;
}

static double kernel_attach(int id) {
    double t = now();
    for (int i = 0; i < CYCLES; i++) {
        char *p = k_at(id);
        if (p == (void *)-1) die("shmat");
        p[0] = 1;
        if (k_dt(p)) die("shmdt");
    }
    return (now() - t) / CYCLES;
}

/* Seconds to memset a fresh 64 MiB segment (page faults included). */
static double ripc_touch(void) {
    struct ripc_shm *s = ripc_shm_open(NULL, IPC_PRIVATE, BIG, 0600);
    if (!s) die("ripc_shm_open 64 MiB");
    char *p = ripc_shm_attach(s, 0, NULL);
    if (!p) die("ripc_shm_attach 64 MiB");
    double t = now();
    memset(p, 0x5a, BIG);
    t = now() - t;
    ripc_shm_detach(s, p);
    ripc_shm_remove(s);
    ripc_shm_close(s);
    return t;
}

static double kernel_touch(void) {
    int id = k_get(BIG);
    if (id < 0) die("shmget 64 MiB");
    char *p = k_at(id);
    if (p == (void *)-1) die("shmat 64 MiB");
    double t = now();
    memset(p, 0x5a, BIG);
    t = now() - t;
    k_dt(p);
    k_rm(id);
    return t;
}

/* µs per IPC_STAT of a segment that ATTACHERS other processes attach
 * (median of ROUNDS rounds of CYCLES calls). */
static double stat_us(const struct side *sd) {
    int id = sd->get(4096);
    if (id < 0) die("stat: shmget");
    int go[2];
    if (pipe(go)) die("pipe");
    pid_t kids[ATTACHERS];
    for (int i = 0; i < ATTACHERS; i++) {
        int ready[2];
        if (pipe(ready)) die("pipe");
        kids[i] = fork();
        if (kids[i] < 0) die("fork");
        if (kids[i] == 0) {
            close(go[1]);
            char *p = sd->at(id);
            char b = p == (void *)-1 ? 0 : 1;
            (void)!write(ready[1], &b, 1);
            (void)!read(go[0], &b, 1); /* EOF: the parent is done */
            _exit(0);
        }
        char b = 0;
        (void)!read(ready[0], &b, 1);
        if (b != 1) die("stat: child shmat");
        close(ready[0]);
        close(ready[1]);
    }
    struct shmid_ds ds;
    if (sd->ctl(id, IPC_STAT, &ds) || ds.shm_nattch != ATTACHERS) {
        fprintf(stderr, "stat: %s nattch %lu, not %d\n", sd->name, (unsigned long)ds.shm_nattch, ATTACHERS);
        exit(1);
    }
    double v[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        double t = now();
        for (int i = 0; i < CYCLES; i++)
            if (sd->ctl(id, IPC_STAT, &ds)) die("IPC_STAT");
        v[r] = (now() - t) / CYCLES * 1e6;
    }
    close(go[1]);
    close(go[0]);
    for (int i = 0; i < ATTACHERS; i++) waitpid(kids[i], NULL, 0);
    sd->ctl(id, IPC_RMID, NULL);
    return median(v, ROUNDS);
}

/* µs per fork() call (in the parent) of a process holding one 1 MiB
 * attachment, the child exiting at once: the mean of FORKS (the reaping
 * is not timed). The caller alternates the sides and takes medians. */
static double fork_us(const struct side *sd) {
    int id = sd->get(1 << 20);
    if (id < 0) die("fork: shmget");
    char *p = sd->at(id);
    if (p == (void *)-1) die("fork: shmat");
    memset(p, 1, 1 << 20);
    double sum = 0;
    for (int i = 0; i < FORKS; i++) {
        double t = now();
        pid_t k = fork();
        if (k == 0) _exit(0);
        sum += now() - t;
        if (k < 0) die("fork");
        waitpid(k, NULL, 0);
    }
    sd->dt(p);
    sd->ctl(id, IPC_RMID, NULL);
    return sum / FORKS * 1e6;
}

/* µs per call of SHM_INFO (shm) or MSG_INFO (!shm), median of ROUNDS
 * rounds of n calls. */
static double info_us(const struct side *sd, int shm, int n) {
    double v[ROUNDS];
    struct shm_info si;
    struct msginfo mi;
    for (int r = 0; r < ROUNDS; r++) {
        double t = now();
        for (int i = 0; i < n; i++)
            if ((shm ? sd->ctl(0, SHM_INFO, &si) : sd->msgctl(0, MSG_INFO, &mi)) < 0) die("*_INFO");
        v[r] = (now() - t) / n * 1e6;
    }
    return median(v, ROUNDS);
}

static int fill_ids[FILL], fill_q[FILL];
static double fill_t[FILL];

/* Creates FILL segments and FILL queues; out: median µs per create of the
 * first and last quarter of the segments, and SHM_INFO / MSG_INFO at 10
 * and at FILL objects. Removes them all. */
static void fill(const struct side *sd, double *first, double *last, double info[2][2]) {
    for (int i = 0; i < FILL; i++) {
        double t = now();
        if ((fill_ids[i] = sd->get(4096)) < 0) die("fill: shmget");
        fill_t[i] = (now() - t) * 1e6;
        if ((fill_q[i] = sd->msgget()) < 0) die("fill: msgget");
        if (i == 9) {
            info[0][0] = info_us(sd, 1, 30);
            info[0][1] = info_us(sd, 0, 30);
        }
    }
    info[1][0] = info_us(sd, 1, 30);
    info[1][1] = info_us(sd, 0, 30);
    *first = median(fill_t, FILL / 4);
    *last = median(fill_t + 3 * FILL / 4, FILL / 4);
    for (int i = 0; i < FILL; i++)
        if (sd->ctl(fill_ids[i], IPC_RMID, NULL) || sd->msgctl(fill_q[i], IPC_RMID, NULL)) die("fill: remove");
}

/* Creates FILL queues, each holding one 64-byte message; out: µs per
 * MSG_INFO at 10 and at FILL queues, and the totals MSG_INFO reported at
 * FILL (messages, bytes). Removes them all. */
static void msg_info_row(const struct side *sd, double us[2], int tot[2]) {
    struct {
        long t;
        char b[64];
    } m = {1, {0}};
    struct msginfo mi;
    for (int i = 0; i < FILL; i++) {
        if ((fill_q[i] = sd->msgget()) < 0) die("info: msgget");
        if (sd->msgsnd(fill_q[i], &m, sizeof m.b)) die("info: msgsnd");
        if (i == 9) us[0] = info_us(sd, 0, 30);
    }
    us[1] = info_us(sd, 0, 30);
    if (sd->msgctl(0, MSG_INFO, &mi) < 0) die("info: MSG_INFO");
    tot[0] = mi.msgmap;
    tot[1] = mi.msgtql;
    for (int i = 0; i < FILL; i++)
        if (sd->msgctl(fill_q[i], IPC_RMID, NULL)) die("info: remove");
}

/* The "floor" row: a model of the system calls of one cycle (create,
 * attach, touch, detach, remove of a 4 KiB segment), made directly in a
 * scratch directory, nothing else. `two` is what `strace` shows ripc make
 * today (33 calls: temporary control and payload files, reserved, the
 * control file mapped, the sequence counter, the payload and the number
 * moved to their names, the index bit under its byte lock and the size,
 * the attach's and the removal's checks, the unlinks); `one` is a layout
 * with the payload file as the numbered name and the control area a slot
 * of one namespace file mapped once (`idx`: sequence counter and index
 * kept as today; without, they live in that mapping: 10 calls). */
struct floor_ns {
    int dir, seq, idx;
    char *slots;
    long n;
};

static void floor_mark(struct floor_ns *f) {
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 4096, .l_len = 1};
    char b = 0;
    (void)!fcntl(f->idx, F_OFD_SETLK, &fl);
    (void)!pread(f->idx, &b, 1, 4096);
    b ^= 1;
    (void)!pwrite(f->idx, &b, 1, 4096);
    fl.l_type = F_UNLCK;
    (void)!fcntl(f->idx, F_OFD_SETLK, &fl);
}

static void floor_seq(struct floor_ns *f) {
    int v = 0;
    (void)!pread(f->seq, &v, 4, 8);
    v++;
    (void)!pwrite(f->seq, &v, 4, 8);
}

static int floor_tmp(struct floor_ns *f, char *name) {
    snprintf(name, 64, ".new.floor.%ld", f->n++);
    int fd = openat(f->dir, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) die("floor: openat");
    return fd;
}

static void floor_move(struct floor_ns *f, const char *from, const char *to) {
    if (syscall(SYS_renameat2, f->dir, from, f->dir, to, 1 /* RENAME_NOREPLACE */)) die("floor: renameat2");
}

/* shmat (the name checked, the payload mapped, the kept descriptor
 * closed), the touch, shmdt (unmapped, the name checked again). */
static void floor_attach(struct floor_ns *f, int p) {
    struct stat st;
    (void)!fstatat(f->dir, "shm.0", &st, AT_SYMLINK_NOFOLLOW);
    char *pm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, p, 0);
    if (pm == MAP_FAILED) die("floor: mmap");
    close(p);
    pm[0] = 1;
    munmap(pm, 4096);
    (void)!fstatat(f->dir, "shm.0", &st, AT_SYMLINK_NOFOLLOW);
}

static double floor_two(struct floor_ns *f) {
    double t = now();
    for (int i = 0; i < CYCLES; i++) {
        char tc[64], tp[64], data[64], map[4096];
        struct stat st;
        int c = floor_tmp(f, tc), p = floor_tmp(f, tp);
        (void)!fallocate(c, 0, 0, 4096);
        (void)!ftruncate(c, 12288);
        if (fstat(c, &st)) die("floor: fstat");
        char *cm = mmap(NULL, 12288, PROT_READ | PROT_WRITE, MAP_SHARED, c, 0);
        if (cm == MAP_FAILED) die("floor: mmap");
        cm[0] = 1;
        floor_seq(f);
        (void)!fallocate(p, 0, 0, 4096);
        snprintf(data, sizeof data, "shm.data.%lu", (unsigned long)st.st_ino);
        floor_move(f, tp, data);
        (void)!pread(f->idx, map, sizeof map, 4096);
        floor_move(f, tc, "shm.0");
        floor_mark(f);
        close(c);
        (void)!pwrite(f->idx, &st.st_ino, 8, 12288);
        (void)!fstat(p, &st);
        floor_attach(f, p);
        for (int k = 0; k < 2; k++) (void)!fstatat(f->dir, "shm.0", &st, AT_SYMLINK_NOFOLLOW);
        unlinkat(f->dir, data, 0);
        unlinkat(f->dir, "shm.0", 0);
        floor_mark(f);
        munmap(cm, 12288);
    }
    return (now() - t) / CYCLES;
}

static double floor_one(struct floor_ns *f, int idx) {
    double t = now();
    for (int i = 0; i < CYCLES; i++) {
        char tp[64], map[4096];
        struct stat st;
        int p = floor_tmp(f, tp);
        (void)!fallocate(p, 0, 0, 4096);
        if (fstat(p, &st)) die("floor: fstat");
        f->slots[(i % 64) * 64] = 1; /* the segment's control slot */
        if (idx) {
            floor_seq(f);
            (void)!pread(f->idx, map, sizeof map, 4096);
        }
        floor_move(f, tp, "shm.0");
        if (idx) {
            floor_mark(f);
            (void)!pwrite(f->idx, &st.st_ino, 8, 12288);
        }
        floor_attach(f, p);
        unlinkat(f->dir, "shm.0", 0);
        if (idx) floor_mark(f);
    }
    return (now() - t) / CYCLES;
}

static void floor_row(void) {
    char dir[] = "/dev/shm/ripc-floor.XXXXXX";
    if (!mkdtemp(dir)) die("mkdtemp");
    struct floor_ns f = {.n = 0};
    f.dir = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    f.seq = openat(f.dir, "seq", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    f.idx = openat(f.dir, "idx", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    int sl = openat(f.dir, "slots", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (f.dir < 0 || f.seq < 0 || f.idx < 0 || sl < 0 || ftruncate(f.seq, 16) || ftruncate(f.idx, 12288 + 8) ||
        ftruncate(sl, 1 << 20))
        die("floor: setup");
    f.slots = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, sl, 0);
    if (f.slots == MAP_FAILED) die("floor: mmap");
    double two[ROUNDS], one[ROUNDS], bare[ROUNDS], k[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) { /* interleaved */
        two[r] = floor_two(&f);
        one[r] = floor_one(&f, 1);
        bare[r] = floor_one(&f, 0);
        k[r] = kernel_cycle();
    }
    double mk = median(k, ROUNDS), m2 = median(two, ROUNDS), m1 = median(one, ROUNDS), m0 = median(bare, ROUNDS);
    printf("shm cycle, system calls alone:     two files (today, 33 calls) %.2f us %.2fx; one file + shared "
           "control slots: %.2f us %.2fx (22 calls), %.2f us %.2fx (index in the mapping, 10 calls); kernel %.2f us\n",
           m2 * 1e6, m2 / mk, m1 * 1e6, m1 / mk, m0 * 1e6, m0 / mk, mk * 1e6);
    munmap(f.slots, 1 << 20);
    close(sl);
    close(f.seq);
    close(f.idx);
    static const char *names[] = {"seq", "idx", "slots"};
    for (int i = 0; i < 3; i++) unlinkat(f.dir, names[i], 0);
    close(f.dir);
    if (rmdir(dir)) fprintf(stderr, "shm: %s not empty\n", dir);
}

int main(void) {
    /* ripc's engine in a private namespace of our own; the kernel's in a
     * private IPC namespace when we may make one (root), so that 4000
     * segments and queues meet nobody else's. */
    setenv("RIPC_BACKEND", "user", 1);
    (void)!unshare(CLONE_NEWIPC);
    char dir[] = "/dev/shm/ripc-bench.XXXXXX";
    if (!mkdtemp(dir)) die("mkdtemp");
    setenv("RIPC_DIR", dir, 1);

    /* RIPC_BENCH_ROWS=stat,fork,... runs only those rows (cycle attach
     * touch stat fork fill); all by default. */
    const char *rows = getenv("RIPC_BENCH_ROWS");
#define ROW(name) (!rows || strstr(rows, name))
    double rc[ROUNDS], kc[ROUNDS], ra[ROUNDS], ka[ROUNDS], rt[ROUNDS], kt[ROUNDS];
    struct ripc_shm *s = ripc_shm_open(NULL, IPC_PRIVATE, 4096, 0600);
    int kid = k_get(4096);
    if (!s || kid < 0) die("setup");
    for (int r = 0; r < ROUNDS && (ROW("cycle") || ROW("attach")); r++) { /* interleaved, so noise hits both */
        rc[r] = ripc_cycle();
        kc[r] = kernel_cycle();
        ra[r] = ripc_attach(s);
        ka[r] = kernel_attach(kid);
    }
    ripc_shm_remove(s);
    ripc_shm_close(s);
    k_rm(kid);
    for (int r = 0; r < ROUNDS && ROW("touch"); r++) {
        rt[r] = ripc_touch();
        kt[r] = kernel_touch();
    }
    double mrc = median(rc, ROUNDS), mkc = median(kc, ROUNDS);
    double mra = median(ra, ROUNDS), mka = median(ka, ROUNDS);
    double mrt = median(rt, ROUNDS), mkt = median(kt, ROUNDS);
    double mib = (double)(BIG >> 20);
    if (ROW("cycle"))
        printf("shm cycle (get+at+dt+rmid, 4 KiB): ripc %.2f us  kernel %.2f us  ratio %.2fx (target <= 2x)\n",
               mrc * 1e6, mkc * 1e6, mrc / mkc);
    if (ROW("attach"))
        printf("shm attach (at+dt, existing):      ripc %.2f us  kernel %.2f us  ratio %.2fx\n", mra * 1e6,
               mka * 1e6, mra / mka);
    if (ROW("touch"))
        printf("shm first touch 64 MiB:            ripc %.0f MiB/s  kernel %.0f MiB/s  ratio %.2f\n", mib / mrt,
               mib / mkt, mkt / mrt);
    fflush(stdout);

    double ks = ROW("stat") ? stat_us(&KERNEL) : 0, rs = ROW("stat") ? stat_us(&RIPC) : 0;
    if (ROW("stat")) printf("shm IPC_STAT, %d attachers:        ripc %.2f us  kernel %.2f us  ratio %.2fx (target <= 10 us)\n",
           ATTACHERS, rs, ks, rs / ks);
    fflush(stdout);
    double kf[3 * ROUNDS], rf[3 * ROUNDS];
    for (int i = 0; i < 3 * ROUNDS && ROW("fork"); i++) { /* interleaved */
        kf[i] = fork_us(&KERNEL);
        rf[i] = fork_us(&RIPC);
    }
    double mkf = median(kf, 3 * ROUNDS), mrf = median(rf, 3 * ROUNDS);
    if (ROW("fork")) printf("fork, one 1 MiB attachment:        ripc %.2f us  kernel %.2f us  ratio %.2fx (target <= 1.1x)\n",
           mrf, mkf, mrf / mkf);
    fflush(stdout);
    double kq[2], rq[2], ki[2][2], ri[2][2];
    if (ROW("fill")) {
    fill(&KERNEL, &kq[0], &kq[1], ki);
    fill(&RIPC, &rq[0], &rq[1], ri);
    printf("shm create, %d segments:         ripc %.2f -> %.2f us (%.2fx)  kernel %.2f -> %.2f us (%.2fx) "
           "(first -> last quarter; target <= 20 us, <= 1.5x)\n",
           FILL, rq[0], rq[1], rq[1] / rq[0], kq[0], kq[1], kq[1] / kq[0]);
    printf("SHM_INFO at 10 / %d segments:    ripc %.2f / %.2f us  kernel %.2f / %.2f us\n", FILL, ri[0][0],
           ri[1][0], ki[0][0], ki[1][0]);
    printf("MSG_INFO at 10 / %d queues:      ripc %.2f / %.2f us  kernel %.2f / %.2f us\n", FILL, ri[0][1],
           ri[1][1], ki[0][1], ki[1][1]);
    }

    if (ROW("info")) {
        double kus[2], rus[2];
        int kt[2], rt[2];
        msg_info_row(&KERNEL, kus, kt);
        msg_info_row(&RIPC, rus, rt);
        printf("MSG_INFO at 10 / %d queues (1 msg each): ripc %.2f / %.2f us  kernel %.2f / %.2f us  "
               "(totals: ripc %d msgs %d bytes, kernel %d / %d)\n",
               FILL, rus[0], rus[1], kus[0], kus[1], rt[0], rt[1], kt[0], kt[1]);
    }

    if (rows && strstr(rows, "floor")) floor_row();

    static const char *own[] = {"ripc.ns", "ripc.seq", "ripc.idx"};
    for (int i = 0; i < 3; i++) {
        char ns[sizeof dir + 16];
        snprintf(ns, sizeof ns, "%s/%s", dir, own[i]);
        unlink(ns);
    }
    if (rmdir(dir)) fprintf(stderr, "shm: %s not empty\n", dir);
    return 0;
}
