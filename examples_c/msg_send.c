/* msg_send.c — seed 000's sendmessage.c on ripc's native API.
 *
 *   msg_send -i ID -t TYPE -m "text" [-w TIMEOUT_MS]
 * Without -w it does not wait (IPC_NOWAIT, as the article's program).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ripc.h>

int main(int argc, char *argv[]) {
    const struct option long_options[] = {
        {"id", 1, NULL, 'i'}, {"type", 1, NULL, 't'}, {"message", 1, NULL, 'm'},
        {"wait", 1, NULL, 'w'}, {NULL, 0, NULL, 0}};
    int id = -1, timeout_ms = 0, opt;
    long type = -1;
    const char *message = NULL;
    while ((opt = getopt_long(argc, argv, "i:t:m:w:", long_options, NULL)) != -1) {
        switch (opt) {
        case 'i': id = atoi(optarg); break;
        case 't': type = atol(optarg); break;
        case 'm': message = optarg; break;
        case 'w': timeout_ms = atoi(optarg); break;
        default: break;
        }
    }
    if (id == -1 || type == -1 || message == NULL) {
        fprintf(stderr, "usage: %s -i ID -t TYPE -m TEXT [-w TIMEOUT_MS]\n", argv[0]);
        return 2;
    }
    ripc_queue *q = ripc_queue_open_id(NULL, id);
    if (!q) {
        perror("open queue");
        return 1;
    }
    /* the article sends the terminating NUL too */
    if (ripc_queue_send(q, type, message, strlen(message) + 1, timeout_ms) == -1) {
        perror("fail to send message.");
        ripc_queue_close(q);
        return 1;
    }
    ripc_queue_close(q);
    return 0;
}
