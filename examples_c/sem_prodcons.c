/* sem_prodcons.c — producer and consumer around a ring in shared memory,
 * guarded by ripc's counting semaphores (free slots, used slots) and a
 * process-shared mutex: the pattern the IPC articles recommend.
 *
 *     cc sem_prodcons.c -lripc && ./a.out
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <ripc.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define SLOTS 8
#define ITEMS 100000

struct ring {
    unsigned head, tail;
    unsigned data[SLOTS];
};

int main(void) {
    struct ring *r = mmap(NULL, sizeof *r, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (r == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    struct ripc_sem *free_slots = ripc_sem_open(NULL, IPC_PRIVATE, SLOTS, IPC_CREAT | 0600);
    struct ripc_sem *used_slots = ripc_sem_open(NULL, IPC_PRIVATE, 0, IPC_CREAT | 0600);
    struct ripc_mutex *lock = ripc_mutex_open(NULL, IPC_PRIVATE, IPC_CREAT | 0600);
    if (!free_slots || !used_slots || !lock) {
        perror("ripc_sem_open/ripc_mutex_open");
        return 1;
    }

    pid_t producer = fork();
    if (producer < 0) {
        perror("fork");
        return 1;
    }
    if (producer == 0) {
        for (unsigned i = 1; i <= ITEMS; i++) {
            if (ripc_sem_wait(free_slots, 5000) != 0) { perror("producer: ripc_sem_wait"); _exit(1); }
            if (ripc_mutex_lock(lock, 5000) != 0) { perror("producer: ripc_mutex_lock"); _exit(1); }
            r->data[r->head] = i;
            r->head = (r->head + 1) % SLOTS;
            ripc_mutex_unlock(lock);
            ripc_sem_post(used_slots);
        }
        _exit(0);
    }

    unsigned long long sum = 0;
    for (int i = 0; i < ITEMS; i++) {
        if (ripc_sem_wait(used_slots, 5000) != 0) { perror("consumer: ripc_sem_wait"); return 1; }
        if (ripc_mutex_lock(lock, 5000) != 0) { perror("consumer: ripc_mutex_lock"); return 1; }
        sum += r->data[r->tail];
        r->tail = (r->tail + 1) % SLOTS;
        ripc_mutex_unlock(lock);
        ripc_sem_post(free_slots);
    }
    int status;
    waitpid(producer, &status, 0);
    unsigned long long want = (unsigned long long)ITEMS * (ITEMS + 1) / 2;
    printf("consumed %d items through a %d-slot ring, checksum %llu (%s)\n", ITEMS, SLOTS, sum,
           sum == want ? "correct" : "WRONG");

    ripc_sem_remove(free_slots);
    ripc_sem_remove(used_slots);
    ripc_mutex_remove(lock);
    ripc_sem_close(free_slots);
    ripc_sem_close(used_slots);
    ripc_mutex_close(lock);
    return sum == want && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
