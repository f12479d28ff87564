/* shm_server.c — seed 002's shared-memory server on ripc's native API.
 *
 * Creates a segment, prints its contents every half second while a client
 * writes into it, then detaches and removes it.
 *
 *     shm_server [key] [rounds]      (key in hex or decimal; default 0x73686d31)
 */
#define _DEFAULT_SOURCE /* usleep */
#include <ripc.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define SIZE 4096

int main(int argc, char **argv) {
    int key = argc > 1 ? (int)strtoul(argv[1], NULL, 0) : 0x73686d31;
    int rounds = argc > 2 ? atoi(argv[2]) : 10;

    /* 1. Create a new segment (fails if the key is taken). */
    struct ripc_shm *shm = ripc_shm_open(NULL, key, SIZE, IPC_CREAT | IPC_EXCL | 0664);
    if (shm == NULL) {
        perror("ripc_shm_open");
        return 1;
    }
    printf("server: segment id %d, key 0x%x\n", ripc_shm_id(shm), (unsigned)key);

    /* 2. Attach it. */
    size_t size = 0;
    char *mem = ripc_shm_attach(shm, 0, &size);
    if (mem == NULL) {
        perror("ripc_shm_attach");
        ripc_shm_remove(shm);
        ripc_shm_close(shm);
        return 1;
    }

    /* 3. Print what the client wrote. */
    for (int i = 0; i < rounds; i++) {
        printf("server:%s\n", mem);
        fflush(stdout);
        usleep(500 * 1000);
    }

    /* 4. How many attach it now, then detach, remove and close. */
    struct ripc_shm_info st;
    if (ripc_shm_stat(shm, &st) == 0)
        printf("server: %llu attached, %zu bytes\n", (unsigned long long)st.nattch, st.size);
    if (ripc_shm_detach(shm, mem) == -1)
        perror("ripc_shm_detach");
    if (ripc_shm_remove(shm) == -1)
        perror("ripc_shm_remove");
    ripc_shm_close(shm);
    return 0;
}
