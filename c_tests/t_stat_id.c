/* t_stat_id.c — MSG_STAT, SEM_STAT, SHM_STAT and their _ANY forms accept
 * a full id as well as an index: the kernel uses the id's index part
 * (ipc_obtain_object_idr), so ripc must too. Both backends. */
#include "ripc_sysv.h"
#include "tap.h"


int main(void) {
    /* Remove and re-create once, so that the id's sequence part is not 0. */
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    msgctl(q, IPC_RMID, NULL);
    q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    int s = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    semctl(s, 0, IPC_RMID);
    s = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    int m = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    shmctl(m, IPC_RMID, NULL);
    m = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    ok(q >= 0 && s >= 0 && m >= 0, "a queue, a set and a segment");
    ok(q >= 32768 && s >= 32768 && m >= 32768, "their ids (%d %d %d) carry a sequence part", q, s, m);
    struct msqid_ds md;
    struct semid_ds sd;
    struct shmid_ds hd;
    union semun {
        int val;
        struct semid_ds *buf;
    } arg = {.buf = &sd};
    ok(msgctl(q % 32768, MSG_STAT, &md) == q, "MSG_STAT by index gives the id");
    ok(msgctl(q, MSG_STAT, &md) == q, "MSG_STAT by full id %d gives the id", q);
    ok(msgctl(q, MSG_STAT_ANY, &md) == q, "MSG_STAT_ANY by full id");
    ok(semctl(s, 0, SEM_STAT, arg) == s, "SEM_STAT by full id %d gives the id", s);
    ok(semctl(s, 0, SEM_STAT_ANY, arg) == s, "SEM_STAT_ANY by full id");
    ok(shmctl(m, SHM_STAT, &hd) == m, "SHM_STAT by full id %d gives the id", m);
    ok(shmctl(m, SHM_STAT_ANY, &hd) == m, "SHM_STAT_ANY by full id");
    ok_errno(msgctl(-1, MSG_STAT, &md) == -1, EINVAL, "MSG_STAT of -1: EINVAL");
    ok(msgctl(q, IPC_RMID, NULL) == 0 && semctl(s, 0, IPC_RMID) == 0 && shmctl(m, IPC_RMID, NULL) == 0, "removed");
    return done_testing();
}
