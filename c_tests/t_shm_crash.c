/* t_shm_crash.c — shared memory creators and removers killed with SIGKILL
 * at random instants, 200 times (issue 14: the create path moves its two
 * private files to their public names with renameat2 instead of link +
 * unlink). The children create keyed and IPC_PRIVATE segments, attach,
 * touch, detach and remove them. Afterwards: every segment listed under
 * one of our keys is the one shmget(key, 0) finds; under the user backend,
 * after one `ripcs` (which heals what the killed left), no .new.* file is
 * left, every payload name shm.data.<inode> belongs to a control file
 * still named (none orphaned), every key can be created again, and
 * `ripcrm -a` leaves only ripc.ns, ripc.seq and ripc.idx. Under the kernel
 * backend the killed children's segments are removed by creator pid. */
#include "ripc_sysv.h"
#include "tap.h"
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NKEYS 8
#define ROUNDS 200

static key_t base;

static void churn(uint64_t seed) {
    for (;;) {
        int i = (int)(tap_xorshift(&seed) % NKEYS);
        int priv = (int)(tap_xorshift(&seed) & 1);
        int id = shmget(priv ? IPC_PRIVATE : base + i, 4096 * (1 + i % 3), IPC_CREAT | 0640);
        if (id < 0) continue;
        char *p = shmat(id, NULL, 0);
        if (p != (void *)-1) {
            p[0] = 1;
            shmdt(p);
        }
        if (priv || (tap_xorshift(&seed) & 1)) shmctl(id, IPC_RMID, NULL);
    }
}

static int ours(key_t k) { return k >= base && k < base + NKEYS; }

static pid_t kids[ROUNDS];

static int kid(pid_t p) {
    for (int i = 0; i < ROUNDS; i++)
        if (kids[i] == p) return 1;
    return 0;
}

/* Segments listed under our keys that their key does not find; *listed
 * gets how many of ours are listed. */
static int liars(int *listed) {
    struct shm_info si;
    int max = shmctl(0, SHM_INFO, (struct shmid_ds *)(void *)&si), bad = 0;
    *listed = 0;
    for (int i = 0; i <= max; i++) {
        struct shmid_ds ds;
        int id = shmctl(i, SHM_STAT, &ds);
        if (id < 0 || !ours(ds.shm_perm.__key)) continue;
        ++*listed;
        int got = shmget(ds.shm_perm.__key, 0, 0);
        if (got != id) {
            bad++;
            diag("key %#x: listed as id %d (mode %#o, nattch %lu), shmget(key, 0) gives %d (%s)",
                 (unsigned)ds.shm_perm.__key, id, (unsigned)ds.shm_perm.mode, (unsigned long)ds.shm_nattch, got,
                 got < 0 ? strerror(errno) : "");
        }
    }
    return bad;
}

/* Removes the segments our children made (kernel backend: nobody else
 * heals them). */
static void remove_kids(void) {
    struct shm_info si;
    int max = shmctl(0, SHM_INFO, (struct shmid_ds *)(void *)&si);
    for (int i = 0; i <= max; i++) {
        struct shmid_ds ds;
        int id = shmctl(i, SHM_STAT, &ds);
        if (id >= 0 && (kid(ds.shm_cpid) || ours(ds.shm_perm.__key))) shmctl(id, IPC_RMID, NULL);
    }
}

/* Payload names shm.data.<ino> with no control file of that inode named
 * shm.<n> or shm.key.*; *payloads gets how many payload names there are. */
static int orphan_payloads(const char *dir, int *payloads) {
    unsigned long long inos[4096];
    int n = 0, bad = 0;
    *payloads = 0;
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *s = e->d_name;
        if (strncmp(s, "shm.", 4) != 0 || strncmp(s, "shm.data.", 9) == 0) continue;
        char path[600];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, s);
        if (lstat(path, &st) == 0 && n < 4096) inos[n++] = (unsigned long long)st.st_ino;
    }
    rewinddir(d);
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "shm.data.", 9) != 0) continue;
        ++*payloads;
        unsigned long long ino = strtoull(e->d_name + 9, NULL, 10);
        int found = 0;
        for (int i = 0; i < n; i++) found |= inos[i] == ino;
        if (!found) {
            bad++;
            diag("orphaned payload %s", e->d_name);
        }
    }
    closedir(d);
    return bad;
}

int main(void) {
    int kernel = backend_is_kernel();
    const char *dir = getenv("RIPC_DIR");
    base = (key_t)(0x53430000 | ((getpid() & 0xff) << 9));
    uint64_t seed = 0x2545f4914f6cdd1dull ^ (uint64_t)getpid();
    /* Open the namespace before forking: children start creating at once. */
    int warm = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    shmctl(warm, IPC_RMID, NULL);
    int killed = 0;
    for (int r = 0; r < ROUNDS; r++) {
        uint64_t s = tap_xorshift(&seed);
        pid_t c = fork();
        if (c == 0) churn(s | 1);
        kids[r] = c;
        usleep((useconds_t)(100 + s % 1500));
        if (kill(c, SIGKILL) == 0) killed++;
        waitpid(c, NULL, 0);
    }
    ok(killed == ROUNDS, "%d shm creators/removers killed with SIGKILL at random instants", killed);
    int n0;
    int b0 = liars(&n0);
    ok(b0 == 0, "before any tool runs: each of the %d segments listed under our keys is the one its key finds (%d not)",
       n0, b0);
    if (!kernel) {
        int r = tap_tool("ripcs", "");
        ok(r == 0, "ripcs runs (and heals) afterwards (status %#x)", r);
        int t = tap_count_names(dir, ".new.", 0);
        ok(t == 0, "no .new.* file left (%d)", t);
        int np, o = orphan_payloads(dir, &np);
        ok(o == 0, "each of the %d payload names belongs to a named control file (%d orphaned)", np, o);
    } else {
        ok(1, "# SKIP kernel backend: nothing to heal");
        ok(1, "# SKIP kernel backend: no namespace files");
        ok(1, "# SKIP kernel backend: no namespace files");
    }
    int n1;
    int b1 = liars(&n1);
    ok(b1 == 0, "each of the %d segments listed under our keys is the one shmget(key, 0) finds (%d not)", n1, b1);
    int failed = 0;
    for (int i = 0; i < NKEYS; i++) {
        int id = shmget(base + i, 4096, IPC_CREAT | 0600);
        if (id < 0) failed++;
        else shmctl(id, IPC_RMID, NULL);
        id = shmget(base + i, 4096, IPC_CREAT | IPC_EXCL | 0600);
        if (id < 0) failed++;
        else shmctl(id, IPC_RMID, NULL);
    }
    ok(failed == 0, "every key can be created and removed again, twice (%d failed)", failed);
    if (kernel || !dir) {
        remove_kids();
        ok(1, "# SKIP kernel backend: ripcrm -a would remove everyone's objects");
        ok(1, "# SKIP kernel backend: no namespace files");
    } else {
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
