/* sem_bank.c — the semaphore section of seed 000, written the way the
 * article teaches it: semget, semctl(SETVAL) with a union semun, and semop
 * with struct sembuf for P and V. The bank holds 100; A borrows 80; B asks
 * for 50 and waits; A returns 30; then B gets its 50.
 * Built unchanged with `-include ripc_sysv.h`; exits 0 when the story
 * happened in that order. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <unistd.h>

union semun {
  int val;
  struct semid_ds *buf;
  unsigned short *array;
  struct seminfo *__buf;
};

int sem_p(int semid, int n)
{
  struct sembuf sops;
  sops.sem_num = 0;
  sops.sem_op = -n;
  sops.sem_flg = 0;
  return semop(semid, &sops, 1);
}

int sem_v(int semid, int n)
{
  struct sembuf sops;
  sops.sem_num = 0;
  sops.sem_op = n;
  sops.sem_flg = 0;
  return semop(semid, &sops, 1);
}

int main()
{
  int semid = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
  if (semid == -1) {
    perror("semget");
    exit(1);
  }
  union semun args;
  args.val = 100;
  if (semctl(semid, 0, SETVAL, args) == -1) {
    perror("semctl SETVAL");
    exit(1);
  }
  printf("bank: %d\n", semctl(semid, 0, GETVAL));

  sem_p(semid, 80);
  printf("A borrowed 80, bank: %d\n", semctl(semid, 0, GETVAL));

  int fd[2];
  pipe(fd);
  fflush(stdout);
  pid_t b = fork();
  if (b == 0) {
    sem_p(semid, 50);
    write(fd[1], "B", 1);
    exit(0);
  }
  while (semctl(semid, 0, GETNCNT) != 1)
    usleep(1000);
  printf("B asked for 50 and waits, bank: %d\n", semctl(semid, 0, GETVAL));
  int bad = semctl(semid, 0, GETVAL) != 20;

  sem_v(semid, 30);
  printf("A returned 30\n");
  char c;
  read(fd[0], &c, 1);
  waitpid(b, NULL, 0);
  printf("B got 50, bank: %d\n", semctl(semid, 0, GETVAL));
  bad |= semctl(semid, 0, GETVAL) != 0;

  semctl(semid, 0, IPC_RMID);
  return bad;
}
