/* t_key_alias.c — a member cannot make another key find an object it may
 * write (red-team pass, docs/security.md), both backends.
 *
 * Root makes a 0644 queue, set and segment under key K1: a member (uid
 * 65534) is granted read only, but may write the object files (their
 * bookkeeping), so the file system lets it hard-link them. Under the user
 * backend the member links each object file to the name of another key,
 * K2. On the kernel a key names at most one object, the one created with
 * it: root's `*get(K2, 0)` then answers ENOENT and `*get(K2, IPC_CREAT |
 * 0600)` makes a new, private object. Before the fix ripc took the link
 * for K2's object: root's "private" object was the 0644 one the member
 * reads (and its IPC_STAT showed root as the owner, so the usual check of
 * a squatted key could not tell). */
#include "ripc_sysv.h"
#include "tap.h"

#include <sys/stat.h>

#define K1 0x7a1a0001
#define K2 0x7a1a0002

static const char *kinds[3] = {"msg", "sem", "shm"};

static void key_path(char *b, size_t n, const char *kind, int key) {
    snprintf(b, n, "%s/%s.key.%08x", getenv("RIPC_DIR"), kind, (unsigned)key);
}

static int member(int ids[3], int n) {
    tap_n = n;
    tap_same_libripc();
    for (int k = 0; k < 3; k++) {
        if (backend_is_kernel()) {
            ok(1, "# SKIP the kernel's objects have no file to link");
            continue;
        }
        char from[600], to[600];
        snprintf(from, sizeof from, "%s/%s.%d", getenv("RIPC_DIR"), kinds[k], ids[k] % 32768);
        key_path(to, sizeof to, kinds[k], K2);
        ok(link(from, to) == 0, "the member links root's %s file to key %#x's name (%s)", kinds[k], K2,
           strerror(errno));
    }
    /* Another member looking K2 up finds nothing either. */
    ok_errno(msgget(K2, 0) == -1, ENOENT, "msgget(K2, 0) as the member: ENOENT");
    ok_errno(semget(K2, 0, 0) == -1, ENOENT, "semget(K2, 0, 0) as the member: ENOENT");
    ok_errno(shmget(K2, 0, 0) == -1, ENOENT, "shmget(K2, 0, 0) as the member: ENOENT");
    return tap_failed ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc == 6 && strcmp(argv[1], "member") == 0) {
        int ids[3] = {atoi(argv[2]), atoi(argv[3]), atoi(argv[4])};
        return member(ids, atoi(argv[5]));
    }
    TAP_SKIP_UNLESS_ROOT();
    int ids[3];
    ids[0] = msgget(K1, IPC_CREAT | IPC_EXCL | 0644);
    ids[1] = semget(K1, 1, IPC_CREAT | IPC_EXCL | 0644);
    ids[2] = shmget(K1, 4096, IPC_CREAT | IPC_EXCL | 0644);
    ok(ids[0] >= 0 && ids[1] >= 0 && ids[2] >= 0, "root's 0644 queue, set and segment under key %#x", K1);
    char a[3][16], sn[16];
    for (int k = 0; k < 3; k++) snprintf(a[k], sizeof a[k], "%d", ids[k]);
    snprintf(sn, sizeof sn, "%d", tap_n);
    char *av[] = {"t_key_alias", "member", a[0], a[1], a[2], sn, NULL};
    int st = tap_exec_as_nobody(NULL, av);
    tap_n += 7;
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the member's steps all passed (status %d)", st);

    ok_errno(msgget(K2, 0) == -1, ENOENT, "msgget(K2, 0): ENOENT, as on the kernel");
    ok_errno(semget(K2, 0, 0) == -1, ENOENT, "semget(K2, 0, 0): ENOENT");
    ok_errno(shmget(K2, 0, 0) == -1, ENOENT, "shmget(K2, 0, 0): ENOENT");

    int q2 = msgget(K2, IPC_CREAT | 0600), s2 = semget(K2, 1, IPC_CREAT | 0600),
        m2 = shmget(K2, 4096, IPC_CREAT | 0600);
    struct msqid_ds qd;
    struct semid_ds sd;
    struct shmid_ds md;
    ok(q2 >= 0 && q2 != ids[0] && msgctl(q2, IPC_STAT, &qd) == 0 && (qd.msg_perm.mode & 0777) == 0600 &&
           qd.msg_perm.__key == K2,
       "msgget(K2, IPC_CREAT | 0600) makes a new private queue (id %d, root's K1 queue %d)", q2, ids[0]);
    ok(s2 >= 0 && s2 != ids[1] && semctl(s2, 0, IPC_STAT, &sd) == 0 && (sd.sem_perm.mode & 0777) == 0600 &&
           sd.sem_perm.__key == K2,
       "semget(K2, 1, IPC_CREAT | 0600) makes a new private set (id %d, root's K1 set %d)", s2, ids[1]);
    ok(m2 >= 0 && m2 != ids[2] && shmctl(m2, IPC_STAT, &md) == 0 && (md.shm_perm.mode & 0777) == 0600 &&
           md.shm_perm.__key == K2,
       "shmget(K2, 4096, IPC_CREAT | 0600) makes a new private segment (id %d, root's K1 segment %d)", m2,
       ids[2]);
    ok(msgget(K1, 0) == ids[0] && semget(K1, 0, 0) == ids[1] && shmget(K1, 0, 0) == ids[2],
       "key %#x still finds root's first objects", K1);

    if (q2 >= 0 && q2 != ids[0]) msgctl(q2, IPC_RMID, NULL);
    if (s2 >= 0 && s2 != ids[1]) semctl(s2, 0, IPC_RMID);
    if (m2 >= 0 && m2 != ids[2]) shmctl(m2, IPC_RMID, NULL);
    ok(msgctl(ids[0], IPC_RMID, NULL) == 0 && semctl(ids[1], 0, IPC_RMID) == 0 &&
           shmctl(ids[2], IPC_RMID, NULL) == 0,
       "root removes its objects");
    if (!backend_is_kernel()) {
        /* The member's links, if still there (root may remove them). */
        for (int k = 0; k < 3; k++) {
            char p[600];
            key_path(p, sizeof p, kinds[k], K2);
            unlink(p);
        }
    }
    return done_testing();
}
