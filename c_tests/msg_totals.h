/* msg_totals.h — the system-wide totals msgctl(0, MSG_INFO) reports
 * (messages, bytes, and msgpool: the queues in use), for the tests that
 * check them against the sum of the queues' IPC_STAT (t_msg_info,
 * t_msg_info_scribble). Include after ripc_sysv.h (or <sys/msg.h>). */
#ifndef RIPC_MSG_TOTALS_H
#define RIPC_MSG_TOTALS_H

#include <string.h>

static int info(long *msgs, long *bytes, int *pool) {
    struct msginfo mi;
    memset(&mi, 0, sizeof mi);
    int r = msgctl(0, MSG_INFO, (struct msqid_ds *)(void *)&mi);
    *msgs = mi.msgmap;
    *bytes = mi.msgtql;
    *pool = mi.msgpool;
    return r;
}

#endif
