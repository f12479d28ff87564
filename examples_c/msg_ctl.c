/* msg_ctl.c — show or remove a queue (what `ipcs -q -i ID` and
 * `ipcrm -q ID` do), on ripc's native API.
 *
 *   msg_ctl stat ID
 *   msg_ctl rm ID
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ripc.h>

int main(int argc, char *argv[]) {
    if (argc != 3 || (strcmp(argv[1], "stat") && strcmp(argv[1], "rm"))) {
        fprintf(stderr, "usage: %s stat|rm ID\n", argv[0]);
        return 2;
    }
    ripc_queue *q = ripc_queue_open_id(NULL, atoi(argv[2]));
    if (!q) {
        perror("open queue");
        return 1;
    }
    int rc = 0;
    if (!strcmp(argv[1], "stat")) {
        ripc_queue_info st;
        if (ripc_queue_stat(q, &st) == -1) {
            perror("stat");
            rc = 1;
        } else {
            printf("queue %d: key 0x%08x mode %03o owner %u messages %llu bytes %llu/%llu "
                   "last send pid %d last recv pid %d\n",
                   st.id, (unsigned)st.key, st.mode & 0777, st.uid, (unsigned long long)st.messages,
                   (unsigned long long)st.bytes, (unsigned long long)st.capacity, st.last_send_pid,
                   st.last_recv_pid);
        }
    } else if (ripc_queue_remove(q) == -1) {
        perror("remove");
        rc = 1;
    } else {
        printf("queue %s removed\n", argv[2]);
    }
    ripc_queue_close(q);
    return rc;
}
