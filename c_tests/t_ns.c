/* t_ns.c — the namespace: concurrent creators of one key, and (user
 * backend) symlinks and planted files in the shared directory. */
#include "ripc_sysv.h"
#include "tap.h"
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define N 8

/* N processes race msgget(key, flags) after a common start signal; their
 * results (id or -errno) land in out[]. */
static void race(key_t key, int flags, int *out) {
    int *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    volatile int *go = shared;
    int *res = shared + 1;
    pid_t kids[N];
    for (int i = 0; i < N; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            while (!*go) {}
            int r = msgget(key, flags);
            res[i] = r >= 0 ? r : -errno;
            _exit(0);
        }
    }
    usleep(20000);
    *go = 1;
    for (int i = 0; i < N; i++) waitpid(kids[i], NULL, 0);
    memcpy(out, res, sizeof(int) * N);
    munmap(shared, 4096);
}

static void test_races(void) {
    int bad_excl = 0, bad_same = 0;
    for (int round = 0; round < 10; round++) {
        key_t k = (key_t)(0x4e530000 | ((getpid() & 0xff) << 8) | round);
        int r[N];
        race(k, IPC_CREAT | IPC_EXCL | 0600, r);
        int wins = 0, id = -1;
        for (int i = 0; i < N; i++) {
            if (r[i] >= 0) wins++, id = r[i];
            else if (r[i] != -EEXIST) {
                bad_excl++;
                diag("round %d: exclusive racer %d failed with %s", round, i, strerror(-r[i]));
            }
        }
        if (wins != 1) {
            bad_excl++;
            diag("round %d: %d exclusive racers won", round, wins);
        }
        msgctl(id, IPC_RMID, NULL);
        race(k + 0x80, IPC_CREAT | 0600, r);
        for (int i = 1; i < N; i++)
            if (r[i] < 0 || r[i] != r[0]) {
                bad_same++;
                diag("round %d: racer %d got %d (%s), racer 0 got %d", round, i, r[i],
                     r[i] < 0 ? strerror(-r[i]) : "an id", r[0]);
            }
        msgctl(r[0], IPC_RMID, NULL);
    }
    ok(bad_excl == 0, "%d racing IPC_CREAT|IPC_EXCL: exactly one wins, the others get EEXIST (10 rounds)", N);
    ok(bad_same == 0, "%d racing IPC_CREAT: all end up on one queue (10 rounds)", N);
}

static const char *dir;

static void path(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", dir, name); }

/* As uid 65534 ("nobody"), copies the file `src` to a new file `dst`
 * (mode 0666), then writes `n` bytes of `patch` at offset `at` over the
 * copy (none when `patch` is NULL). 0 on success. */
static int plant_copy(const char *src, const char *dst, const void *patch, size_t n, off_t at) {
    pid_t c = fork();
    if (c == 0) {
        if (setgid(65534) || setuid(65534)) _exit(1);
        int in = open(src, O_RDONLY), out = open(dst, O_RDWR | O_CREAT | O_EXCL, 0666);
        if (in < 0 || out < 0) _exit(3);
        char buf[65536];
        ssize_t r;
        while ((r = read(in, buf, sizeof buf)) > 0)
            if (write(out, buf, (size_t)r) != r) _exit(2);
        if (patch && pwrite(out, patch, n, at) != (ssize_t)n) _exit(4);
        _exit(0);
    }
    int st;
    if (c < 0 || waitpid(c, &st, 0) != c) return -1;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void test_planted(void) {
    char victim[] = "/tmp/ripc-victim-XXXXXX", p[512], q[512];
    int fd = mkstemp(victim);
    ok(fd >= 0 && write(fd, "precious", 8) == 8, "a victim file outside the namespace");
    close(fd);

    /* A symlink at a key's name. */
    key_t k = (key_t)0x4e53aa01;
    snprintf(p, sizeof p, "%s/msg.key.%08x", dir, (unsigned)k);
    ok(symlink(victim, p) == 0, "a symlink planted at msg.key.%08x", (unsigned)k);
    int q1 = msgget(k, IPC_CREAT | 0600);
    struct stat st;
    stat(victim, &st);
    ok(st.st_size == 8, "msgget(IPC_CREAT) does not write through it (victim untouched)");
    ok(q1 == -1 && errno == EACCES, "and refuses the key (EACCES), rather than follow the link");
    unlink(p);

    /* A symlink at the next numbered name: creation passes it by. */
    path(p, sizeof p, "msg.0");
    ok(symlink(victim, p) == 0, "a symlink planted at msg.0");
    int q2 = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    stat(victim, &st);
    ok(q2 >= 0 && q2 % 32768 != 0 && st.st_size == 8, "a new queue takes another index; victim untouched");
    struct { long t; char s[8]; } m = {1, "x"};
    ok(msgsnd(q2, &m, 1, 0) == 0, "and works");
    ok_errno(msgsnd(q2 - q2 % 32768, &m, 1, 0) == -1, EACCES, "the id behind the symlink is refused (EACCES)");
    msgctl(q2, IPC_RMID, NULL);
    unlink(p);

    /* A copy of a real queue file, planted by another user at a key. */
    int real = msgget(IPC_PRIVATE, IPC_CREAT | 0666);
    char src[512];
    snprintf(src, sizeof src, "%s/msg.%d", dir, real % 32768);
    key_t k2 = (key_t)0x4e53aa02;
    snprintf(q, sizeof q, "%s/msg.key.%08x", dir, (unsigned)k2);
    ok(plant_copy(src, q, NULL, 0, 0) == 0, "nobody plants a copy of root's queue file at msg.key.%08x", (unsigned)k2);
    errno = 0;
    int q3 = msgget(k2, 0);
    ok(q3 == -1, "root's msgget(key, 0) does not adopt it (errno %d)", errno);
    int q4 = msgget(k2, IPC_CREAT | 0600);
    ok(q4 == -1 || q4 != real, "nor hands out the copied queue's id under that key");
    if (q4 >= 0) msgctl(q4, IPC_RMID, NULL);
    unlink(q);
    msgctl(real, IPC_RMID, NULL);
    unlink(victim);

    /* A copy of a real segment file planted by another user at a free
     * index, marked removed (header: id at 16, state at 20; 2 = removed):
     * a removed object is adopted by id or index only with the same checks
     * as a live one (the recorded creator owns the file). */
    int seg = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0666);
    int idx2 = (seg % 32768 + 1000) % 32768;
    char ssrc[512], sdst[512];
    snprintf(ssrc, sizeof ssrc, "%s/shm.%d", dir, seg % 32768);
    snprintf(sdst, sizeof sdst, "%s/shm.%d", dir, idx2);
    int32_t id_state[2] = {idx2, 2};
    ok(seg >= 0 && plant_copy(ssrc, sdst, id_state, sizeof id_state, 16) == 0,
       "nobody plants a removed-looking copy of root's segment at shm.%d", idx2);
    struct shmid_ds sds;
    errno = 0;
    int sr = shmctl(idx2, SHM_STAT, &sds), se = errno;
    ok(sr == -1, "root's SHM_STAT of that index refuses it (errno %d)", se);
    errno = 0;
    void *pa = shmat(idx2, NULL, 0);
    se = errno;
    ok(pa == (void *)-1, "root's shmat of that id refuses it (errno %d)", se);
    if (pa != (void *)-1) shmdt(pa);
    unlink(sdst);
    shmctl(seg, IPC_RMID, NULL);
}

int main(void) {
    tap_subtest("creation races", test_races);
    dir = getenv("RIPC_DIR");
    if (backend_is_kernel() || !dir) {
        ok(1, "# SKIP planted files: namespace files exist only under the user backend");
    } else {
        tap_subtest("planted files", test_planted);
    }
    return done_testing();
}
