/*
 * ripc_sysv.h — run legacy System V IPC code on ripc without editing it.
 *
 *     cc -include ripc_sysv.h prog.c -lripc
 *
 * Included first (or with -include), it maps ftok, msgget, msgsnd, msgrcv,
 * msgctl, shmget, shmat, shmdt, shmctl, semget, semop, semtimedop and semctl
 * to ripc_* functions with the same signatures, errno behaviour and
 * structures of the system headers. RIPC_BACKEND=kernel passes every call straight to
 * the kernel. Including it after the system headers works too.
 */
#ifndef RIPC_SYSV_H
#define RIPC_SYSV_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* struct msginfo, MSG_EXCEPT, semtimedop, … */
#endif
#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif
/* The ripc_* functions the names below map to: same prototypes as the
 * system calls (ripc.h, the native API, is not needed and not included). */
key_t ripc_ftok(const char *pathname, int proj_id);
int ripc_msgget(key_t key, int msgflg);
int ripc_msgsnd(int msqid, const void *msgp, size_t msgsz, int msgflg);
ssize_t ripc_msgrcv(int msqid, void *msgp, size_t msgsz, long msgtyp, int msgflg);
int ripc_msgctl(int msqid, int cmd, struct msqid_ds *buf);
int ripc_shmget(key_t key, size_t size, int shmflg);
void *ripc_shmat(int shmid, const void *shmaddr, int shmflg);
int ripc_shmdt(const void *shmaddr);
int ripc_shmctl(int shmid, int cmd, struct shmid_ds *buf);
int ripc_semget(key_t key, int nsems, int semflg);
int ripc_semop(int semid, struct sembuf *sops, size_t nsops);
int ripc_semtimedop(int semid, struct sembuf *sops, size_t nsops,
                    const struct timespec *timeout);
/* semctl's fourth argument, already read from the va_list: `val` for
 * SETVAL, `ptr` (buf or array) for the commands that take a pointer. */
int ripc_semctl_arg(int semid, int semnum, int cmd, int val, void *ptr);
#ifdef __cplusplus
}
#endif

/* The caller's `union semun` has this layout (the union semctl(2) shows). */
union ripc_semun {
    int val;
    struct semid_ds *buf;
    unsigned short *array;
    struct seminfo *__buf;
};

/* semctl is variadic: read the fourth argument only for the commands that
 * take one, as glibc does, then call the fixed-arity function. */
static inline int ripc_semctl(int semid, int semnum, int cmd, ...) {
    union ripc_semun arg;
    arg.buf = NULL;
    switch (cmd) {
    case SETVAL: case GETALL: case SETALL: case IPC_STAT: case IPC_SET:
#ifdef IPC_INFO
    case IPC_INFO:
#endif
#ifdef SEM_INFO
    case SEM_INFO: case SEM_STAT:
#endif
#ifdef SEM_STAT_ANY
    case SEM_STAT_ANY:
#endif
    {
        va_list ap;
        va_start(ap, cmd);
        arg = va_arg(ap, union ripc_semun);
        va_end(ap);
        break;
    }
    default:
        break;
    }
    return ripc_semctl_arg(semid, semnum, cmd, cmd == SETVAL ? arg.val : 0,
                           cmd == SETVAL ? NULL : (void *)arg.buf);
}

/* Define RIPC_SYSV_NO_RENAME to get the prototypes without the renaming
 * (a program that calls both the kernel and ripc, like bench/msg.c). */
#ifndef RIPC_SYSV_NO_RENAME
#define ftok ripc_ftok
#define msgget ripc_msgget
#define msgsnd ripc_msgsnd
#define msgrcv ripc_msgrcv
#define msgctl ripc_msgctl
#define shmget ripc_shmget
#define shmat ripc_shmat
#define shmdt ripc_shmdt
#define shmctl ripc_shmctl
#define semget ripc_semget
#define semop ripc_semop
#define semtimedop ripc_semtimedop
#define semctl ripc_semctl
#endif

#endif /* RIPC_SYSV_H */
