/* bench/scale.c — kernel scale (DESIGN principle 7): what creating and
 * removing one object costs with 10, 1000 and 4000 objects already in the
 * namespace, ripc beside the kernel, in the same run.
 *
 *   (a) per kind (queues, 1-semaphore sets, 4 KiB segments), at 10, 1000
 *       and 4000 objects present: create BATCH more, then remove them,
 *       one by one; µs per create and per remove (median of REPS batches)
 *   (b) while filling 0 → 4000: the median create of the last quarter
 *       against that of the first (target <= 1.5x), and <= 20 us per
 *       create and remove at 4000 (ripc)
 *   (c) IPC_INFO (the highest index in use) and MSG_INFO / SEM_INFO /
 *       SHM_INFO (totals over every object) at 10 and 4000 objects; sets'
 *       also at 32000 (in (d))
 *   (d) 32000 semaphore sets created, then removed, one by one (target
 *       < 10 s)
 *   (e) shmget + shmat + shmdt + IPC_RMID of a 4 KiB segment (target <= 2x
 *       the kernel)
 *
 * ripc: ripc_msgget … with RIPC_BACKEND unset (the user engine) in a fresh
 * private namespace (mkdtemp under /dev/shm, mode 0700, removed at the
 * end; semmni raised with RIPC_SEMMNI only if the default is below 32000).
 * Kernel: msgget … from libc. The kernel side runs in a private IPC
 * namespace when the process may make one (unshare(CLONE_NEWIPC): root),
 * so that other users of the machine's IPC ids cannot make it fail and
 * whatever it leaves dies with the process; every object is removed
 * anyway. Kernel limits bound it: 4000 + BATCH segments need shmmni >=
 * 4050 (default 4096); 32000 sets need semmni >= 32000 (default). */
#include <ripc.h>
#define RIPC_SYSV_NO_RENAME /* ripc_* prototypes, the kernel's calls still reachable */
#include "ripc_sysv.h"
#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#define REPS 5
#define BATCH 50
#define FILL 4000
#define MANY 32000

enum kind { QUEUE, SET, SEG };
static const char *kname[] = {"queues", "sets", "segments"};

/* One implementation: create one object of a kind, remove it, IPC_INFO. */
struct impl {
    const char *name;
    int (*create)(enum kind);
    int (*rm)(enum kind, int);
    int (*info)(enum kind, int full);
};

static int k_create(enum kind k) {
    switch (k) {
    case QUEUE: return msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    case SET: return semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    default: return shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    }
}
static int k_rm(enum kind k, int id) {
    switch (k) {
    case QUEUE: return msgctl(id, IPC_RMID, NULL);
    case SET: return semctl(id, 0, IPC_RMID);
    default: return shmctl(id, IPC_RMID, NULL);
    }
}
/* IPC_INFO, or (full) MSG_INFO / SEM_INFO / SHM_INFO. */
static int k_info(enum kind k, int full) {
    struct msginfo mi;
    struct seminfo si;
    union {
        struct shminfo i; /* IPC_INFO's */
        struct shm_info s; /* SHM_INFO's */
    } hi;
    switch (k) {
    case QUEUE: return msgctl(0, full ? MSG_INFO : IPC_INFO, (struct msqid_ds *)(void *)&mi);
    case SET: return semctl(0, 0, full ? SEM_INFO : IPC_INFO, &si);
    default: return shmctl(0, full ? SHM_INFO : IPC_INFO, (struct shmid_ds *)(void *)&hi);
    }
}
static int r_create(enum kind k) {
    switch (k) {
    case QUEUE: return ripc_msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    case SET: return ripc_semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    default: return ripc_shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    }
}
static int r_rm(enum kind k, int id) {
    switch (k) {
    case QUEUE: return ripc_msgctl(id, IPC_RMID, NULL);
    case SET: return ripc_semctl(id, 0, IPC_RMID);
    default: return ripc_shmctl(id, IPC_RMID, NULL);
    }
}
static int r_info(enum kind k, int full) {
    struct msginfo mi;
    struct seminfo si;
    union {
        struct shminfo i;
        struct shm_info s;
    } hi;
    switch (k) {
    case QUEUE: return ripc_msgctl(0, full ? MSG_INFO : IPC_INFO, (struct msqid_ds *)(void *)&mi);
    case SET: return ripc_semctl(0, 0, full ? SEM_INFO : IPC_INFO, &si);
    default: return ripc_shmctl(0, full ? SHM_INFO : IPC_INFO, (struct shmid_ds *)(void *)&hi);
    }
}

static const struct impl KERNEL = {"kernel", k_create, k_rm, k_info};
static const struct impl RIPC = {"ripc", r_create, r_rm, r_info};

static char dir[] = "/dev/shm/ripc-scale.XXXXXX";
static int held[MANY]; /* ids of the objects filling the namespace */
static int nheld;

static void fail(const struct impl *im, const char *what, enum kind k) {
    fprintf(stderr, "scale: %s %s of %s at %d objects: %s\n", im->name, what, kname[k], nheld,
            strerror(errno));
    exit(1);
}

/* Creates objects until `n` are held; returns the seconds each took in
 * t[] (indexed from the first one held) when t is not NULL. */
static void fill(const struct impl *im, enum kind k, int n, double *t) {
    while (nheld < n) {
        double t0 = now();
        int id = im->create(k);
        if (id < 0) fail(im, "create", k);
        if (t) t[nheld] = now() - t0;
        held[nheld++] = id;
    }
}

static void drain(const struct impl *im, enum kind k) {
    while (nheld > 0)
        if (im->rm(k, held[--nheld]) != 0) fail(im, "remove", k);
}

/* µs per create and per remove of BATCH objects with nheld present
 * (median of REPS batches). */
static void batch(const struct impl *im, enum kind k, double *cr, double *rm) {
    double c[REPS], r[REPS];
    int ids[BATCH];
    for (int rep = 0; rep < REPS; rep++) {
        double t0 = now();
        for (int i = 0; i < BATCH; i++)
            if ((ids[i] = im->create(k)) < 0) fail(im, "create", k);
        double t1 = now();
        for (int i = BATCH - 1; i >= 0; i--)
            if (im->rm(k, ids[i]) != 0) fail(im, "remove", k);
        double t2 = now();
        c[rep] = (t1 - t0) / BATCH * 1e6;
        r[rep] = (t2 - t1) / BATCH * 1e6;
    }
    *cr = median(c, REPS);
    *rm = median(r, REPS);
}

/* µs per IPC_INFO (full = 0) or MSG_INFO/SEM_INFO/SHM_INFO (1), median
 * of REPS rounds of n calls. */
static double info_us(const struct impl *im, enum kind k, int full, int n) {
    double v[REPS];
    for (int rep = 0; rep < REPS; rep++) {
        double t0 = now();
        for (int i = 0; i < n; i++)
            if (im->info(k, full) < 0) fail(im, "*_INFO", k);
        v[rep] = (now() - t0) / n * 1e6;
    }
    return median(v, REPS);
}

static const char *verdict(int ok) { return ok ? "met" : "NOT met"; }

/* (a), (b), (c) for one kind. */
static void per_kind(enum kind k) {
    static const int at[] = {10, 1000, FILL};
    double cr[2][3], rm[2][3], quarter[2], info[2][2][2]; /* [impl][10 or FILL][IPC_INFO or full] */
    static double t[FILL];
    const struct impl *im[2] = {&KERNEL, &RIPC};
    for (int w = 0; w < 2; w++) {
        for (int s = 0; s < 3; s++) {
            fill(im[w], k, at[s], s == 2 ? t : NULL);
            batch(im[w], k, &cr[w][s], &rm[w][s]);
            if (s != 1)
                for (int full = 0; full < 2; full++)
                    info[w][s / 2][full] = info_us(im[w], k, full, full ? 3 : 100);
        }
        /* t[] holds only creates 1000..4000 (0..1000 were timed by the
         * earlier fills' untimed path): time the first quarter again. */
        quarter[w] = median(t + 3 * FILL / 4, FILL / 4);
        drain(im[w], k);
        fill(im[w], k, FILL / 4, t);
        quarter[w] /= median(t, FILL / 4);
        drain(im[w], k);
    }
    for (int s = 0; s < 3; s++)
        printf("%-8s %4d present  create: kernel %6.2f us ripc %6.2f us (%.2fx)   remove: kernel %6.2f us "
               "ripc %6.2f us (%.2fx)\n",
               kname[k], at[s], cr[0][s], cr[1][s], cr[1][s] / cr[0][s], rm[0][s], rm[1][s], rm[1][s] / rm[0][s]);
    printf("%-8s last quarter of %d creates / first quarter (medians): kernel %.2fx ripc %.2fx (target <= 1.5x: %s)\n",
           kname[k], FILL, quarter[0], quarter[1], verdict(quarter[1] <= 1.5));
    printf("%-8s at %d: ripc create %.2f us, remove %.2f us (target <= 20 us: %s)\n", kname[k], FILL, cr[1][2],
           rm[1][2], verdict(cr[1][2] <= 20 && rm[1][2] <= 20));
    static const char *full[] = {"MSG_INFO", "SEM_INFO", "SHM_INFO"};
    for (int f = 0; f < 2; f++)
        printf("%-8s %-8s at 10 / %d: kernel %.2f / %.2f us   ripc %.2f / %.2f us\n", kname[k],
               f ? full[k] : "IPC_INFO", FILL, info[0][0][f], info[0][1][f], info[1][0][f], info[1][1][f]);
    fflush(stdout);
}

/* (d): seconds to create MANY sets then remove them, one by one. */
static void many_sets(const struct impl *im, double *cr, double *rm, double info[3]) {
    double t0 = now();
    fill(im, SET, MANY, NULL);
    double t1 = now();
    /* (c) at MANY: the first SEM_INFO after the fill (ripc recounts what
     * changed since the last one), then IPC_INFO and SEM_INFO as in (c). */
    if (im->info(SET, 1) < 0) fail(im, "SEM_INFO", SET);
    info[0] = (now() - t1) * 1e6;
    info[1] = info_us(im, SET, 0, 100);
    info[2] = info_us(im, SET, 1, 3);
    double t2 = now();
    drain(im, SET);
    *cr = t1 - t0;
    *rm = now() - t2;
}

/* (e): µs per shmget + shmat + shmdt + IPC_RMID of a 4 KiB segment. */
#define CYCLES 300
static double cycle(int ripc) {
    double v[REPS];
    for (int rep = 0; rep < REPS; rep++) {
        double t0 = now();
        for (int i = 0; i < CYCLES; i++) {
            int id = ripc ? ripc_shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600)
                          : shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
            if (id < 0) die("shmget");
            char *p = ripc ? ripc_shmat(id, NULL, 0) : shmat(id, NULL, 0);
            if (p == (void *)-1) die("shmat");
            p[0] = 1;
            if ((ripc ? ripc_shmdt(p) : shmdt(p)) != 0) die("shmdt");
            if ((ripc ? ripc_shmctl(id, IPC_RMID, NULL) : shmctl(id, IPC_RMID, NULL)) != 0) die("shmctl");
        }
        v[rep] = (now() - t0) / CYCLES * 1e6;
    }
    return median(v, REPS);
}

static void cleanup(void) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2]))) continue;
            if (strcmp(e->d_name, "ripc.ns") && strcmp(e->d_name, "ripc.seq") && strcmp(e->d_name, "ripc.idx"))
                fprintf(stderr, "scale: left behind: %s\n", e->d_name);
            char p[sizeof dir + 300];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* The kernel's /proc/sys/kernel/<name>, its field `nth` (kernel.sem is
 * "semmsl semmns semopm semmni"); -1 when unreadable. */
static long sysctl_long(const char *name, int nth) {
    char p[128];
    snprintf(p, sizeof p, "/proc/sys/kernel/%s", name);
    FILE *f = fopen(p, "r");
    long v = -1;
    if (f) {
        for (int i = 0; i <= nth; i++)
            if (fscanf(f, "%ld", &v) != 1) v = -1;
        fclose(f);
    }
    return v;
}

int main(void) {
    double t_start = now();
    /* Before the first ripc call: the user engine, a fresh namespace. */
    unsetenv("RIPC_BACKEND");
    if (!mkdtemp(dir)) die("mkdtemp");
    if (chmod(dir, 0700)) die("chmod");
    setenv("RIPC_DIR", dir, 1);
    atexit(cleanup);
    const char *own = unshare(CLONE_NEWIPC) == 0 ? "a private IPC namespace" : "the machine's IPC namespace";
    long semmni = sysctl_long("sem", 3), shmmni = sysctl_long("shmmni", 0), msgmni = sysctl_long("msgmni", 0);
    /* ripc's namespace follows the sysctls: raise what falls short. */
    if (semmni < MANY) setenv("RIPC_SEMMNI", "32000", 1);
    if (shmmni < FILL + BATCH) setenv("RIPC_SHMMNI", "4096", 1);
    if (msgmni < FILL + BATCH) setenv("RIPC_MSGMNI", "4096", 1);
    printf("# scale: create/remove cost with many objects present; ripc (RIPC_DIR=%s) vs kernel (%s; "
           "msgmni %ld semmni %ld shmmni %ld), median of %d batches of %d\n",
           dir, own, msgmni, semmni, shmmni, REPS, BATCH);
    fflush(stdout);
    int kernel_ok[3] = {msgmni >= FILL + BATCH, semmni >= FILL + BATCH, shmmni >= FILL + BATCH};
    for (enum kind k = QUEUE; k <= SEG; k++) {
        if (!kernel_ok[k]) {
            printf("%-8s skipped: the kernel's limit is below %d\n", kname[k], FILL + BATCH);
            continue;
        }
        per_kind(k);
    }
    double kc = 0, kr = 0, rc, rr, ki[3] = {0, 0, 0}, ri[3];
    int kmany = semmni >= MANY;
    if (kmany) many_sets(&KERNEL, &kc, &kr, ki);
    many_sets(&RIPC, &rc, &rr, ri);
    printf("sets     IPC_INFO / SEM_INFO at %d: kernel %.2f / %.2f us   ripc %.2f / %.2f us (the first SEM_INFO "
           "after the fill: kernel %.2f us ripc %.2f us)\n",
           MANY, ki[1], ki[2], ri[1], ri[2], ki[0], ri[0]);
    if (kmany)
        printf("%d sets one by one: kernel create %.2f s remove %.2f s   ripc create %.2f s remove %.2f s "
               "(target < 10 s: %s)\n",
               MANY, kc, kr, rc, rr, verdict(rc + rr < 10));
    else
        printf("%d sets one by one: ripc create %.2f s remove %.2f s (target < 10 s: %s; kernel semmni %ld)\n",
               MANY, rc, rr, verdict(rc + rr < 10), semmni);
    double k = cycle(0), u = cycle(1);
    printf("shm cycle 4 KiB (get+at+dt+rmid): kernel %.2f us ripc %.2f us ratio %.2f (target <= 2x: %s)\n", k, u,
           u / k, verdict(u / k <= 2));
    printf("# scale: %.1f s\n", now() - t_start);
    return 0;
}
