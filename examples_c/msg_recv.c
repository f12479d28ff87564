/* msg_recv.c — seed 000's recvmessage.c on ripc's native API.
 *
 *   msg_recv -i ID -t TYPE [-w TIMEOUT_MS]
 * Without -w it does not wait (IPC_NOWAIT, as the article's program).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <ripc.h>

int main(int argc, char *argv[]) {
    const struct option long_options[] = {
        {"id", 1, NULL, 'i'}, {"type", 1, NULL, 't'}, {"wait", 1, NULL, 'w'}, {NULL, 0, NULL, 0}};
    int id = -1, timeout_ms = 0, opt;
    long type = -1;
    while ((opt = getopt_long(argc, argv, "i:t:w:", long_options, NULL)) != -1) {
        switch (opt) {
        case 'i': id = atoi(optarg); break;
        case 't': type = atol(optarg); break;
        case 'w': timeout_ms = atoi(optarg); break;
        default: break;
        }
    }
    if (id == -1 || type == -1) {
        fprintf(stderr, "usage: %s -i ID -t TYPE [-w TIMEOUT_MS]\n", argv[0]);
        return 2;
    }
    ripc_queue *q = ripc_queue_open_id(NULL, id);
    if (!q) {
        perror("open queue");
        return 1;
    }
    char text[1024];
    long got_type = 0;
    ptrdiff_t n = ripc_queue_recv(q, type, text, sizeof text - 1, 0, timeout_ms, &got_type);
    if (n == -1) {
        perror("fail to recv message.");
        ripc_queue_close(q);
        return 1;
    }
    text[n] = '\0';
    printf("received message type : %ld, text: %s.\n", got_type, text);
    ripc_queue_close(q);
    return 0;
}
