/* t_ns_crash.c — issue 12: creators and removers killed with SIGKILL at
 * random instants, 200 times, leave nothing that lies. Afterwards (at
 * once, and under the user backend again after one `ripcs`, which heals
 * what the killed left: temporary files, objects named by their key but
 * never numbered, removed objects' names), every queue and set listed
 * under one of our keys is the one msgget/semget(key, 0) finds, no key
 * answers ENOSPC, no .new.* file is left, and `ripcrm -a` leaves the
 * namespace holding only ripc.ns, ripc.seq and ripc.idx. Under the kernel backend
 * the same accounting holds (its creates are atomic) and our objects are
 * removed by key. */
#include "ripc_sysv.h"
#include "tap.h"
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define NKEYS 8
#define ROUNDS 200

static key_t base;

union semun_ {
    int val;
    struct semid_ds *buf;
    unsigned short *array;
    struct seminfo *__buf;
};

static void churn(uint64_t seed) {
    for (;;) {
        int i = (int)(tap_xorshift(&seed) % NKEYS);
        int q = msgget(base + i, IPC_CREAT | 0600);
        if (q >= 0 && (tap_xorshift(&seed) & 1)) msgctl(q, IPC_RMID, NULL);
        int s = semget(base + 0x100 + i, 2, IPC_CREAT | 0600);
        if (s >= 0 && (tap_xorshift(&seed) & 1)) semctl(s, 0, IPC_RMID);
    }
}

static int ours_msg(key_t k) { return k >= base && k < base + NKEYS; }
static int ours_sem(key_t k) { return k >= base + 0x100 && k < base + 0x100 + NKEYS; }

/* Listed objects of ours that their key does not find; *listed gets how
 * many of ours are listed. */
static int msg_liars(int *listed) {
    struct msginfo mi;
    int max = msgctl(0, MSG_INFO, (struct msqid_ds *)(void *)&mi), bad = 0;
    *listed = 0;
    for (int i = 0; i <= max; i++) {
        struct msqid_ds ds;
        int id = msgctl(i, MSG_STAT, &ds);
        if (id < 0 || !ours_msg(ds.msg_perm.__key)) continue;
        ++*listed;
        if (msgget(ds.msg_perm.__key, 0) != id) bad++;
    }
    return bad;
}

static int sem_liars(int *listed) {
    struct seminfo si;
    union semun_ u = {.__buf = &si};
    int max = semctl(0, 0, SEM_INFO, u), bad = 0;
    *listed = 0;
    for (int i = 0; i <= max; i++) {
        struct semid_ds ds;
        union semun_ a = {.buf = &ds};
        int id = semctl(i, 0, SEM_STAT, a);
        if (id < 0 || !ours_sem(ds.sem_perm.__key)) continue;
        ++*listed;
        if (semget(ds.sem_perm.__key, 0, 0) != id) bad++;
    }
    return bad;
}

int main(void) {
    int kernel = backend_is_kernel();
    const char *dir = getenv("RIPC_DIR");
    base = (key_t)(0x4e430000 | ((getpid() & 0xff) << 9));
    uint64_t seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
    /* Open the namespace before forking: children start creating at once. */
    int warm = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    msgctl(warm, IPC_RMID, NULL);
    int killed = 0;
    for (int r = 0; r < ROUNDS; r++) {
        uint64_t s = tap_xorshift(&seed);
        pid_t c = fork();
        if (c == 0) churn(s | 1);
        usleep((useconds_t)(100 + s % 1500));
        if (kill(c, SIGKILL) == 0) killed++;
        waitpid(c, NULL, 0);
    }
    ok(killed == ROUNDS, "%d creators/removers killed with SIGKILL at random instants", killed);
    /* The library alone: no tool has run yet. */
    int nq0, ns0;
    int bq0 = msg_liars(&nq0), bs0 = sem_liars(&ns0);
    ok(bq0 == 0 && bs0 == 0,
       "before any tool runs: each of the %d queues and %d sets listed under our keys is the one its key finds "
       "(%d, %d not)",
       nq0, ns0, bq0, bs0);
    if (!kernel) {
        int r = tap_tool("ripcs", "");
        ok(r == 0, "ripcs runs (and heals) afterwards (status %#x)", r);
        if (getenv("T_NS_CRASH_LS")) tap_ls(dir);
    } else {
        ok(1, "# SKIP kernel backend: nothing to heal");
    }
    int nq, ns;
    int bq = msg_liars(&nq), bs = sem_liars(&ns);
    ok(bq == 0, "each of the %d queues listed under our keys is the one msgget(key, 0) finds (%d not)", nq, bq);
    ok(bs == 0, "each of the %d sets listed under our keys is the one semget(key, 0) finds (%d not)", ns, bs);
    int enospc = 0;
    for (int i = 0; i < NKEYS; i++) {
        int q = msgget(base + i, IPC_CREAT | 0600);
        if (q < 0 && errno == ENOSPC) enospc++;
        if (q >= 0) msgctl(q, IPC_RMID, NULL);
        int s = semget(base + 0x100 + i, 2, IPC_CREAT | 0600);
        if (s < 0 && errno == ENOSPC) enospc++;
        if (s >= 0) semctl(s, 0, IPC_RMID);
        /* and again: a removed object's names must not pile up */
        q = msgget(base + i, IPC_CREAT | 0600);
        if (q < 0 && errno == ENOSPC) enospc++;
        if (q >= 0) msgctl(q, IPC_RMID, NULL);
    }
    ok(enospc == 0, "every key can be created and removed again, none answers ENOSPC (%d did)", enospc);
    if (kernel || !dir) {
        ok(1, "# SKIP kernel backend: no namespace files");
        ok(1, "# SKIP kernel backend: ripcrm -a would remove everyone's objects");
        ok(1, "# SKIP kernel backend: no namespace files");
    } else {
        int t = tap_count_names(dir, ".new.", 0);
        ok(t == 0, "no .new.* file left (%d)", t);
        int r = tap_tool("ripcrm", "-a");
        ok(r == 0, "ripcrm -a (status %#x)", r);
        int o = tap_count_names(dir, "", 1);
        ok(o == 0, "then the namespace holds only ripc.ns, ripc.seq and ripc.idx (%d other names)", o);
        if (o != 0) {
            tap_ls(dir);
        }
    }
    return done_testing();
}
