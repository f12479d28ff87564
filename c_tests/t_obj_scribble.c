/* t_obj_scribble.c — random scribbling on each kind's object file gives
 * errors, never a crash or a call past its bound, and `ripcrm -a` then
 * leaves nothing (red-team pass, docs/security.md). User backend only: it
 * writes ripc's object files as any member allowed to write them could.
 *
 * For each kind, trials in children of their own (reproducible seeds): an
 * object with some state (messages; a SEM_UNDO value and a sleeper; an
 * attachment) gets 1 to 20 random words (0, -1, small numbers, INT_MAX,
 * a live pid, powers of two, random) written at random offsets of its
 * header and control area (the magic kept: else it is merely refused),
 * then every call of the kind runs with IPC_NOWAIT or a 30 ms timeout,
 * the status and info calls, IPC_SET, SETVAL/SETALL, SHM_LOCK, shmat with
 * a fork, and IPC_RMID. Then three victims loop on such calls while a
 * word is scribbled every 0.5 ms. A trial fails on a signal, on its 10 s
 * alarm, or when one call took over 1.5 s. Before its fix the scribbler
 * left objects no id could reach (t_obj_unreachable). */
#include "ripc_sysv.h"
#include "tap.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

static uint64_t st;
static uint64_t rnd(void) {
    uint64_t x = st;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return st = x;
}
static const char *kind;
static volatile int stage;
/* A trial's alarm: says where it hung (async-signal-safe), ends it. */
static void onalrm(int s) {
    (void)s;
    char b[64] = "# hung at stage ";
    size_t n = strlen(b);
    int v = stage;
    char d[12];
    int k = 0;
    do d[k++] = (char)('0' + v % 10); while ((v /= 10) > 0 && k < 11);
    while (k > 0) b[n++] = d[--k];
    b[n++] = '\n';
    ssize_t w = write(1, b, n);
    (void)w;
    _exit(99);
}


static uint64_t val(void) {
    switch (rnd() % 10) {
    case 0: return 0;
    case 1: return ~0ull;
    case 2: return 1;
    case 3: return rnd() % 64;
    case 4: return 0x7fffffff;
    case 5: return 0x80000000ull;
    case 6: return (uint64_t)getppid();
    case 7: return rnd() % 70000;
    case 8: return 1ull << (rnd() % 64);
    default: return rnd();
    }
}

struct msgb { long t; char d[8200]; };

static void scribble(int id, int words) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s.%d", getenv("RIPC_DIR"), kind, id % 32768);
    int fd = open(p, O_RDWR);
    if (fd < 0) { return; }
    struct stat s;
    fstat(fd, &s);
    size_t len = s.st_size > (1 << 20) ? (1 << 20) : s.st_size;
    unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return;
    for (int i = 0; i < words; i++) {
        size_t lim = (rnd() % 3 == 0) ? len : (len < 8192 ? len : 8192);
        size_t off = (rnd() % (lim / 4)) * 4;
        if (off < 8) off = 8; /* keep magic: else trivially EIO */
        uint64_t v = val();
        int w = rnd() % 2 ? 4 : 8;
        if (off + w > len) continue;
        /* only touch pages already backed */
        memcpy(m + off, &v, w);
    }
    munmap(m, len);
}

static void ops(int id) {
    struct timespec ts = {0, 30 * 1000000};
    if (!strcmp(kind, "msg")) {
        struct msgb b;
        struct msqid_ds ds;
        for (int i = 0; i < 6; i++) {
            b.t = 1 + i % 3;
            memset(b.d, i, 100);
            msgsnd(id, &b, 1 + (rnd() % 8000), IPC_NOWAIT);
            msgrcv(id, &b, sizeof b.d, (long)(rnd() % 5) - 2, IPC_NOWAIT | (rnd() % 2 ? MSG_NOERROR : 0));
        }
        msgctl(id, IPC_STAT, &ds);
        ds.msg_qbytes = 1000;
        msgctl(id, IPC_SET, &ds);
        msgctl(0, MSG_STAT, &ds);
        struct msginfo mi;
        msgctl(0, MSG_INFO, (struct msqid_ds *)&mi);
        for (int i = 0; i < 20; i++) msgrcv(id, &b, sizeof b.d, 0, IPC_NOWAIT | MSG_NOERROR);
        msgctl(id, IPC_RMID, NULL);
    } else if (!strcmp(kind, "sem")) {
        unsigned short v[8];
        struct semid_ds ds;
        for (int i = 0; i < 6; i++) {
            struct sembuf sb[2] = {{(unsigned short)(rnd() % 9), (short)((int)(rnd() % 5) - 2), 0},
                                   {(unsigned short)(rnd() % 8), 1, SEM_UNDO}};
            sb[0].sem_flg = (rnd() % 2 ? IPC_NOWAIT : 0) | (rnd() % 2 ? SEM_UNDO : 0);
            stage = 10 + i;
            semtimedop(id, sb, 1 + rnd() % 2, &ts);
            sb[0].sem_flg |= IPC_NOWAIT;
            sb[1].sem_flg |= IPC_NOWAIT;
            stage = 20 + i;
            semop(id, sb, 1 + rnd() % 2);
            if (!(sb[0].sem_flg & IPC_NOWAIT)) {}
        }
        stage = 30;
        semctl(id, 0, GETALL, v);
        stage = 31;
        semctl(id, rnd() % 8, SETVAL, (int)(rnd() % 5));
        for (int i = 0; i < 8; i++) v[i] = rnd() % 4;
        stage = 32;
        semctl(id, 0, SETALL, v);
        stage = 33;
        semctl(id, 1, GETNCNT);
        semctl(id, 1, GETZCNT);
        semctl(id, 1, GETPID);
        semctl(id, 0, IPC_STAT, &ds);
        semctl(0, SEM_STAT, 0, &ds);
        struct seminfo si;
        semctl(0, 0, SEM_INFO, &si);
        stage = 34;
        semctl(id, 0, IPC_RMID);
        stage = 35;
    } else {
        struct shmid_ds ds;
        for (int i = 0; i < 3; i++) {
            void *a = shmat(id, NULL, rnd() % 2 ? SHM_RDONLY : 0);
            if (a != (void *)-1) {
                volatile char c = *(char *)a;
                (void)c;
                if (fork() == 0) { shmdt(a); _exit(0); }
                wait(NULL);
                shmdt(a);
            }
        }
        shmctl(id, IPC_STAT, &ds);
        shmctl(id, SHM_LOCK, NULL);
        shmctl(id, SHM_UNLOCK, NULL);
        shmctl(0, SHM_STAT, &ds);
        struct shm_info si;
        shmctl(0, SHM_INFO, (struct shmid_ds *)&si);
        shmctl(id, IPC_RMID, NULL);
    }
}

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

static void victim_loop(int id, uint64_t seed) {
    st = seed;
    double end = now() + 3, worst = 0;
    int wstage = 0;
    struct timespec ts = {0, 20 * 1000000};
    while (now() < end) {
        double t0 = now();
        int op = rnd() % 6;
        stage = 100 + op;
        if (!strcmp(kind, "msg")) {
            struct msgb b; struct msqid_ds ds;
            b.t = 1 + rnd() % 3;
            switch (op) {
            case 0: case 1: msgsnd(id, &b, rnd() % 3000, IPC_NOWAIT); break;
            case 2: case 3: msgrcv(id, &b, sizeof b.d, (long)(rnd() % 5) - 2, IPC_NOWAIT | MSG_NOERROR); break;
            case 4: msgctl(id, IPC_STAT, &ds); break;
            default: { struct msginfo mi; msgctl(0, MSG_INFO, (struct msqid_ds *)&mi); }
            }
        } else if (!strcmp(kind, "sem")) {
            struct sembuf sb[2] = {{(unsigned short)(rnd() % 8), (short)((int)(rnd() % 5) - 2), 0},
                                   {(unsigned short)(rnd() % 8), 1, 0}};
            sb[0].sem_flg = (rnd() % 2 ? SEM_UNDO : 0);
            unsigned short v[8]; struct semid_ds ds;
            switch (op) {
            case 0: case 1: semtimedop(id, sb, 1 + rnd() % 2, &ts); break;
            case 2: sb[0].sem_flg |= IPC_NOWAIT; sb[1].sem_flg |= IPC_NOWAIT; semop(id, sb, 1 + rnd() % 2); break;
            case 3: semctl(id, 0, GETALL, v); break;
            case 4: semctl(id, rnd() % 8, SETVAL, (int)(rnd() % 3)); break;
            default: semctl(id, 0, IPC_STAT, &ds);
            }
        } else {
            struct shmid_ds ds;
            switch (op) {
            case 0: case 1: case 2: { void *a = shmat(id, NULL, 0); if (a != (void *)-1) shmdt(a); break; }
            case 3: shmctl(id, IPC_STAT, &ds); break;
            default: { struct shm_info si; shmctl(0, SHM_INFO, (struct shmid_ds *)&si); }
            }
        }
        double d = now() - t0;
        if (d > worst) { worst = d; wstage = stage; }
    }
    if (worst > 3) { printf("# victim: one call took %.3f s (stage %d)\n", worst, wstage); fflush(stdout); _exit(7); }
    _exit(0);
}

static int conc(int trials) {
    int bad = 0;
    for (int t = 0; t < trials; t++) {
        int id;
        if (!strcmp(kind, "msg")) id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
        else if (!strcmp(kind, "sem")) id = semget(IPC_PRIVATE, 8, IPC_CREAT | 0600);
        else id = shmget(IPC_PRIVATE, 3 * 4096, IPC_CREAT | 0600);
        pid_t v[3];
        for (int i = 0; i < 3; i++) {
            fflush(stdout);
            if ((v[i] = fork()) == 0) { signal(SIGALRM, onalrm); alarm(20); victim_loop(id, 1000 + t * 7 + i); }
        }
        double end = now() + 3;
        st = 99 + t;
        while (now() < end) { usleep(500); scribble(id, 1); }
        for (int i = 0; i < 3; i++) {
            int s; waitpid(v[i], &s, 0);
            if (!WIFEXITED(s) || WEXITSTATUS(s) != 0) {
                bad++;
                diag("%s: concurrent trial %d, victim %d: %s %d", kind, t, i, WIFSIGNALED(s) ? "signal" : "exit",
                     WIFSIGNALED(s) ? WTERMSIG(s) : WEXITSTATUS(s));
            }
        }
        if (!strcmp(kind, "msg")) msgctl(id, IPC_RMID, NULL);
        else if (!strcmp(kind, "sem")) semctl(id, 0, IPC_RMID);
        else shmctl(id, IPC_RMID, NULL);
    }
    return bad;
}

static int static_trials(int trials) {
    int bad = 0;
    for (int t = 0; t < trials; t++) {
        st = 0x9e3779b97f4a7c15ull ^ ((uint64_t)kind[0] << 32) ^ (uint64_t)(t + 1);
        int words = 1 + t % 20;
        fflush(stdout);
        pid_t c = fork();
        if (c == 0) {
            signal(SIGALRM, onalrm);
            alarm(10);
            int id;
            if (!strcmp(kind, "msg")) {
                id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
                struct msgb b = {1, {0}};
                for (int i = 0; i < 5; i++) msgsnd(id, &b, 300 + i * 700, IPC_NOWAIT);
                msgrcv(id, &b, sizeof b.d, 0, IPC_NOWAIT);
            } else if (!strcmp(kind, "sem")) {
                id = semget(IPC_PRIVATE, 8, IPC_CREAT | 0600);
                struct sembuf sb = {1, 1, SEM_UNDO};
                semop(id, &sb, 1);
                struct sembuf sb2 = {2, 2, 0};
                semop(id, &sb2, 1);
                /* a sleeper (ended by its alarm if nothing wakes it) */
                if (fork() == 0) {
                    signal(SIGALRM, SIG_DFL);
                    alarm(3);
                    struct sembuf w = {3, -1, 0};
                    semop(id, &w, 1);
                    _exit(0);
                }
                usleep(20000);
            } else {
                id = shmget(IPC_PRIVATE, 3 * 4096, IPC_CREAT | 0600);
                void *a = shmat(id, NULL, 0);
                if (a != (void *)-1) memset(a, 1, 100);
            }
            if (id < 0) _exit(60);
            stage = 1;
            scribble(id, words);
            stage = 2;
            ops(id);
            _exit(0);
        }
        int s;
        waitpid(c, &s, 0);
        if (!WIFEXITED(s) || WEXITSTATUS(s) != 0) {
            bad++;
            diag("%s trial %d (%d words): %s %d", kind, t, words, WIFSIGNALED(s) ? "signal" : "exit",
                 WIFSIGNALED(s) ? WTERMSIG(s) : WEXITSTATUS(s));
        }
        while (waitpid(-1, NULL, WNOHANG) > 0) {
        }
    }
    return bad;
}

int main(void) {
    if (backend_is_kernel()) {
        printf("1..0 # SKIP the kernel's objects cannot be scribbled on\n");
        return 0;
    }
    const char *kinds[3] = {"msg", "sem", "shm"};
    for (int k = 0; k < 3; k++) {
        kind = kinds[k];
        int bad = static_trials(30);
        ok(bad == 0, "%s: 30 scribbled objects, every call answered in time (%d failed)", kind, bad);
        bad = conc(2);
        ok(bad == 0, "%s: three processes using an object scribbled on meanwhile, 2 x 3 s (%d failed)", kind, bad);
    }
    ok(tap_tool("ripcrm", "-a") == 0, "ripcrm -a");
    DIR *d = opendir(getenv("RIPC_DIR"));
    int left = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.' && strncmp(e->d_name, "ripc.", 5) != 0) {
            left++;
            diag("left: %s", e->d_name);
        }
    if (d) closedir(d);
    ok(left == 0, "ripcrm -a left nothing (%d names)", left);
    return done_testing();
}
