/* sem_bank.c — the bank story of the semaphore article, with ripc's
 * native semaphore-set API.
 *
 * The bank holds 100. A borrows 80 (P 80). B asks for 50: not enough left,
 * so B waits. A returns 30 (V 30): now there are 50, and B gets them.
 *
 *     cc sem_bank.c -lripc && ./a.out
 */
#include <ripc.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void move(struct ripc_semset *bank, const char *who, int amount) {
    struct ripc_sembuf op = {0, (short)amount, 0};
    printf("%s %s %d ...\n", who, amount < 0 ? "asks for" : "returns", amount < 0 ? -amount : amount);
    fflush(stdout);
    if (ripc_semset_op(bank, &op, 1, 10000) != 0) { /* wait at most 10 s */
        perror("ripc_semset_op");
        exit(1);
    }
    printf("%s %s %d; the bank now holds %d\n", who, amount < 0 ? "got" : "returned",
           amount < 0 ? -amount : amount, ripc_semset_get(bank, 0));
    fflush(stdout);
}

int main(void) {
    struct ripc_semset *bank = ripc_semset_open(NULL, IPC_PRIVATE, 1, IPC_CREAT | 0600);
    if (!bank) {
        perror("ripc_semset_open");
        return 1;
    }
    if (ripc_semset_set(bank, 0, 100) != 0) {
        perror("ripc_semset_set");
        return 1;
    }
    printf("the bank holds %d\n", ripc_semset_get(bank, 0));

    move(bank, "A", -80);

    pid_t b = fork();
    if (b < 0) {
        perror("fork");
        return 1;
    }
    if (b == 0) {
        move(bank, "B", -50);
        _exit(0);
    }
    sleep(1); /* B is waiting now */
    printf("B is still waiting (the bank holds %d)\n", ripc_semset_get(bank, 0));
    move(bank, "A", 30);
    waitpid(b, NULL, 0);
    printf("in the end the bank holds %d\n", ripc_semset_get(bank, 0));

    if (ripc_semset_remove(bank) != 0) perror("ripc_semset_remove");
    ripc_semset_close(bank);
    return 0;
}
