/* t_ipcset_owner.c — IPC_SET of the owner gives the object away (issue
 * "trust model", item 7), both backends.
 *
 * Root makes a 0600 queue, set and segment and gives them (IPC_SET) to
 * uid/gid 65534. A fresh process running as 65534 — one that never saw
 * the objects, so it inherited no mapping — must then use all three as
 * their owner (send and receive, semop, attach read-write) and remove
 * them. Before, the object file stayed root's 0600 and the new owner got
 * EACCES. Then, as 65534 (not root), giving an object of its own to
 * another uid: the kernel allows it; ripc refuses (EPERM) — a file cannot
 * be given away without privilege (README, Differences).
 *
 * Then a key's slots (issue 13, item 4): 20 times (more than ripc's 16
 * key slots) root makes a keyed queue, set and segment at the same keys,
 * gives them to 65534, and a fresh process as 65534 removes them; each
 * time the keys must take new objects. Before, a removal by an owner that
 * was not the creator left the key's name behind, and the key answered
 * ENOSPC once its slots were full. */
#include "ripc_sysv.h"
#include "tap.h"

static int owner_side(int q, int s, int m, int n) {
    tap_n = n;
    tap_same_libripc();
    ok(geteuid() == 65534, "a fresh process as uid 65534");
    struct {
        long t;
        char b[8];
    } msg = {1, "mine"};
    ok(msgsnd(q, &msg, sizeof msg.b, IPC_NOWAIT) == 0 && msgrcv(q, &msg, sizeof msg.b, 0, IPC_NOWAIT) > 0,
       "the new owner sends and receives on the queue given to it");
    struct sembuf v = {0, 1, 0};
    ok(semop(s, &v, 1) == 0 && semctl(s, 0, GETVAL) == 1, "... operates the set");
    char *p = shmat(m, NULL, 0);
    ok(p != (char *)-1, "... attaches the segment read-write");
    if (p != (char *)-1) {
        strcpy(p, "given");
        shmdt(p);
    }
    ok(msgctl(q, IPC_RMID, NULL) == 0 && semctl(s, 0, IPC_RMID) == 0 && shmctl(m, IPC_RMID, NULL) == 0,
       "... and removes all three");
    /* Its own queue, given to yet another user. */
    int mine = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    struct msqid_ds ds;
    ok(mine >= 0 && msgctl(mine, IPC_STAT, &ds) == 0, "a queue of its own");
    ds.msg_perm.uid = 65533;
    int r = msgctl(mine, IPC_SET, &ds);
    int e = errno;
    if (backend_is_kernel())
        ok(r == 0, "the kernel lets a non-root owner give it to uid 65533");
    else
        ok(r == -1 && e == EPERM, "ripc: a non-root owner cannot give it away (EPERM, got %d errno %d)", r, e);
    if (r == 0) {
        /* Now 65533's: we may not remove it; root will. */
        printf("# given away: %d\n", mine);
    } else {
        ok(msgctl(mine, IPC_RMID, NULL) == 0, "... and removes it");
    }
    return tap_failed ? 1 : 0;
}

/* Gives queue q, set s and segment m to uid/gid 65534 (IPC_SET); 0 when
 * all three took. */
static int give(int q, int s, int m) {
    struct msqid_ds qd;
    struct semid_ds sd;
    struct shmid_ds md;
    union semun {
        int val;
        struct semid_ds *buf;
    } arg = {.buf = &sd};
    if (msgctl(q, IPC_STAT, &qd) != 0 || semctl(s, 0, IPC_STAT, arg) != 0 || shmctl(m, IPC_STAT, &md) != 0) return -1;
    qd.msg_perm.uid = sd.sem_perm.uid = md.shm_perm.uid = 65534;
    qd.msg_perm.gid = sd.sem_perm.gid = md.shm_perm.gid = 65534;
    if (msgctl(q, IPC_SET, &qd) != 0 || semctl(s, 0, IPC_SET, arg) != 0 || shmctl(m, IPC_SET, &md) != 0) return -1;
    return 0;
}

/* As 65534: removes the queue, set and segment given to it. */
static int remover(int q, int s, int m) {
    /* Its check of the library is an exit status, not a TAP line. */
    if (!freopen("/dev/null", "w", stdout) || !tap_same_libripc()) return 4;
    if (msgctl(q, IPC_RMID, NULL) != 0) return 1;
    if (semctl(s, 0, IPC_RMID) != 0) return 2;
    if (shmctl(m, IPC_RMID, NULL) != 0) return 3;
    return 0;
}

static void key_slots(const char *self) {
    key_t k = (key_t)(0x4f570000 | ((getpid() & 0xff) << 4));
    int made = 0, removed = 0, rounds = 20;
    for (int r = 0; r < rounds; r++) {
        int q = msgget(k, IPC_CREAT | IPC_EXCL | 0600);
        int s = semget(k + 1, 1, IPC_CREAT | IPC_EXCL | 0600);
        int m = shmget(k + 2, 4096, IPC_CREAT | IPC_EXCL | 0600);
        if (q < 0 || s < 0 || m < 0) {
            diag("round %d: the keys take no new objects (%d %d %d): %s", r, q, s, m, strerror(errno));
            if (q >= 0) msgctl(q, IPC_RMID, NULL);
            if (s >= 0) semctl(s, 0, IPC_RMID);
            if (m >= 0) shmctl(m, IPC_RMID, NULL);
            break;
        }
        made++;
        give(q, s, m);
        char sq[16], ss[16], sm[16];
        snprintf(sq, sizeof sq, "%d", q);
        snprintf(ss, sizeof ss, "%d", s);
        snprintf(sm, sizeof sm, "%d", m);
        char *av[] = {(char *)self, "remove", sq, ss, sm, NULL};
        int st = tap_exec_as_nobody(NULL, av);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
            removed++;
        } else {
            diag("round %d: the new owner's removal failed (status %d)", r, st);
            msgctl(q, IPC_RMID, NULL);
            semctl(s, 0, IPC_RMID);
            shmctl(m, IPC_RMID, NULL);
            break;
        }
    }
    ok(made == rounds && removed == rounds,
       "%d times: keyed objects given to 65534 and removed by it, the keys take new ones each time (%d made, %d "
       "removed)",
       rounds, made, removed);
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "remove") == 0) return remover(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
    if (argc == 6 && strcmp(argv[1], "owner") == 0)
        return owner_side(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    if (geteuid() != 0) {
        printf("1..0 # SKIP needs root to give objects to uid 65534\n");
        return 0;
    }
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    int s = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    int m = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    ok(q >= 0 && s >= 0 && m >= 0, "root's 0600 queue, set and segment");
    ok(give(q, s, m) == 0, "root gives them to uid/gid 65534 (IPC_SET)");
    char sq[16], ss[16], sm[16], sn[16];
    snprintf(sq, sizeof sq, "%d", q);
    snprintf(ss, sizeof ss, "%d", s);
    snprintf(sm, sizeof sm, "%d", m);
    snprintf(sn, sizeof sn, "%d", tap_n);
    char *av[] = {argv[0], "owner", sq, ss, sm, sn, NULL};
    int st = tap_exec_as_nobody(NULL, av);
    /* The child printed its tests: count them, then carry on after. */
    int before = tap_n;
    tap_n = before + 8 + (backend_is_kernel() ? 0 : 1);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the new owner's checks all passed (status %d)", st);
    /* Whatever it left (a failed run, the kernel's given-away queue). */
    struct msqid_ds ds;
    for (int i = 0; i < 64; i++) {
        int id = msgctl(i, MSG_STAT_ANY, &ds);
        if (id >= 0 && (ds.msg_perm.uid == 65534 || ds.msg_perm.uid == 65533)) msgctl(id, IPC_RMID, NULL);
    }
    msgctl(q, IPC_RMID, NULL);
    semctl(s, 0, IPC_RMID);
    shmctl(m, IPC_RMID, NULL);
    key_slots(argv[0]);
    return done_testing();
}
