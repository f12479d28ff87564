/* shm_client.c — seed 002's shared-memory client on ripc's native API.
 *
 * Opens the server's segment and appends 'A', 'B', … every half second.
 *
 *     shm_client [key] [letters]     (default key 0x73686d31, 10 letters)
 */
#define _DEFAULT_SOURCE /* usleep */
#include <errno.h>
#include <ripc.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int key = argc > 1 ? (int)strtoul(argv[1], NULL, 0) : 0x73686d31;
    int letters = argc > 2 ? atoi(argv[2]) : 10;
    if (letters > 26) letters = 26;

    /* 1. Open the existing segment (give the server a moment to make it). */
    struct ripc_shm *shm = NULL;
    for (int tries = 0; tries < 40 && shm == NULL; tries++) {
        shm = ripc_shm_open(NULL, key, 0, 0);
        if (shm == NULL && errno == ENOENT)
            usleep(50 * 1000);
        else
            break;
    }
    if (shm == NULL) {
        perror("ripc_shm_open");
        return 1;
    }

    /* 2. Attach it. */
    char *mem = ripc_shm_attach(shm, 0, NULL);
    if (mem == NULL) {
        perror("ripc_shm_attach");
        ripc_shm_close(shm);
        return 1;
    }

    /* 3. Append a letter every half second. */
    for (int i = 0; i < letters; i++) {
        mem[i] = (char)('A' + i);
        mem[i + 1] = '\0';
        usleep(500 * 1000);
    }

    /* 4. Detach and close (the server removes the segment). */
    if (ripc_shm_detach(shm, mem) == -1)
        perror("ripc_shm_detach");
    ripc_shm_close(shm);
    return 0;
}
