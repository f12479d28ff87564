/* msg_create.c — seed 000's first program on ripc's native API: derive a
 * key from a file with ftok, create (or open) the queue, print both.
 *
 *   msg_create [keyfile]     (default: ./messagequeuekey, created if missing)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <unistd.h>
#include <ripc.h>

int main(int argc, char *argv[]) {
    const char *path = argc > 1 ? argv[1] : "messagequeuekey";
    int fd = open(path, O_CREAT | O_RDONLY, 0644); /* `touch messagequeuekey` */
    if (fd < 0) {
        perror("open key file");
        return 1;
    }
    close(fd);
    int key = ripc_ftok(path, 1024);
    if (key == -1) {
        perror("ftok error");
        return 1;
    }
    printf("Message Queue key: %d.\n", key);
    ripc_queue *q = ripc_queue_open(NULL, key, 0, IPC_CREAT | 0777);
    if (!q) {
        perror("msgget error");
        return 1;
    }
    printf("Message queue id: %d.\n", ripc_queue_id(q));
    ripc_queue_close(q);
    return 0;
}
