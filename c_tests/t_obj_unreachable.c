/* t_obj_unreachable.c — an object whose header was scribbled on so that
 * no id reaches it is still removed by `ripcrm -a`, payload and all
 * (red-team pass, docs/security.md; issue 13 item 5, "any object can be
 * removed whatever its contents"). User backend only: it scribbles on
 * ripc's object files as any member allowed to write them could.
 *
 * Each object's header gets one field rewritten: a queue's id (now that of
 * another index), a set's kind, a queue's state (neither live nor
 * removed), a segment's id. No call finds them any more (IPC_RMID and
 * ripcrm go by id), and before the fix `ripcrm -a` left their files (and
 * the segment's payload) in the namespace for ever, each holding its
 * index. A second numbered name of a live object (a member's hard
 * link) is taken away, the object left intact. A segment whose flags were scribbled and then removed left its
 * payload file behind. */
#include "ripc_sysv.h"
#include "tap.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

/* ObjHeader (src/ns/obj.rs): magic 8, kind 4, version 4, id 4, state 4,
 * ..., flags at 100. */
#define H_KIND 8
#define H_ID 16
#define H_STATE 20
#define H_FLAGS 100

static int poke(const char *kind, int id, size_t off, uint32_t v) {
    unsigned char *p = tap_map_object(kind, id);
    if (!p) return -1;
    memcpy(p + off, &v, 4);
    munmap(p, 4096);
    return 0;
}

/* The names in RIPC_DIR besides ripc.ns, ripc.seq and ripc.idx. */
static int leftovers(char *out, size_t n) {
    DIR *d = opendir(getenv("RIPC_DIR"));
    int count = 0;
    out[0] = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2]))) continue;
        if (!strcmp(e->d_name, "ripc.ns") || !strcmp(e->d_name, "ripc.seq") || !strcmp(e->d_name, "ripc.idx"))
            continue;
        count++;
        size_t l = strlen(out);
        snprintf(out + l, n - l, "%s%s", l ? " " : "", e->d_name);
    }
    if (d) closedir(d);
    return count;
}

int main(void) {
    if (backend_is_kernel()) {
        printf("1..0 # SKIP the kernel's objects have no header to scribble on\n");
        return 0;
    }
    key_t k = 0x7a1b0000 + (getpid() & 0xfff) * 8;
    int q1 = msgget(k, IPC_CREAT | IPC_EXCL | 0600);
    int s1 = semget(k + 1, 2, IPC_CREAT | IPC_EXCL | 0600);
    int q2 = msgget(k + 2, IPC_CREAT | IPC_EXCL | 0600);
    int m1 = shmget(k + 3, 4096, IPC_CREAT | IPC_EXCL | 0600);
    int m2 = shmget(k + 4, 4096, IPC_CREAT | IPC_EXCL | 0600);
    ok(q1 >= 0 && s1 >= 0 && q2 >= 0 && m1 >= 0 && m2 >= 0, "two queues, a set and two segments, keyed");
    char left[4096];

    /* A second numbered name (a member's hard link) of a live queue and
     * segment: the sweep takes the name away, never the object. */
    int qa = msgget(IPC_PRIVATE, IPC_CREAT | 0600), ma = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    char from[4096], to[4096], to2[4096];
    snprintf(from, sizeof from, "%s/msg.%d", getenv("RIPC_DIR"), qa % 32768);
    snprintf(to, sizeof to, "%s/msg.9000", getenv("RIPC_DIR"));
    int l1 = link(from, to);
    snprintf(from, sizeof from, "%s/shm.%d", getenv("RIPC_DIR"), ma % 32768);
    snprintf(to2, sizeof to2, "%s/shm.9000", getenv("RIPC_DIR"));
    int l2 = link(from, to2);
    ok(qa >= 0 && ma >= 0 && l1 == 0 && l2 == 0, "a queue and a segment, each with a second numbered name (9000)");
    ok(tap_tool("ripcs", "") == 0, "ripcs");
    ok(access(to, F_OK) != 0 && access(to2, F_OK) != 0, "the second names are gone");
    struct { long t; char d[8]; } msg = {1, "x"};
    void *at = shmat(ma, NULL, 0);
    ok(msgsnd(qa, &msg, 1, IPC_NOWAIT) == 0 && at != (void *)-1 && shmdt(at) == 0,
       "the queue and the segment work as before");
    ok(msgctl(qa, IPC_RMID, NULL) == 0 && shmctl(ma, IPC_RMID, NULL) == 0, "and are removed by their owner");

    /* A segment whose flags were scribbled, removed by its owner. */
    char ctl[4096], data[4096];
    struct stat st;
    snprintf(ctl, sizeof ctl, "%s/shm.%d", getenv("RIPC_DIR"), m1 % 32768);
    ok(stat(ctl, &st) == 0, "segment %d's control file", m1);
    snprintf(data, sizeof data, "%s/shm.data.%lu", getenv("RIPC_DIR"), (unsigned long)st.st_ino);
    ok(access(data, F_OK) == 0, "and its payload file %s", data);
    ok(poke("shm", m1, H_FLAGS, 0) == 0, "segment %d: its flags scribbled (payload apart: no)", m1);
    ok(shmctl(m1, IPC_RMID, NULL) == 0, "IPC_RMID of that segment (%s)", strerror(errno));
    ok(access(data, F_OK) != 0, "its payload file went with it");

    ok(poke("msg", q1, H_ID, (uint32_t)(q1 + 1)) == 0, "queue %d: its id rewritten to %d", q1, q1 + 1);
    ok(poke("sem", s1, H_KIND, 9) == 0, "set %d: its kind rewritten", s1);
    ok(poke("msg", q2, H_STATE, 7) == 0, "queue %d: its state rewritten", q2);
    ok(poke("shm", m2, H_ID, (uint32_t)(m2 + 1)) == 0, "segment %d: its id rewritten", m2);
    struct msqid_ds md;
    struct shmid_ds hd;
    ok(msgctl(q1, IPC_STAT, &md) == -1, "queue %d: IPC_STAT fails", q1);
    ok(semget(k + 1, 0, 0) == -1, "set %d: its key does not find it", s1);
    ok(msgctl(q2, IPC_STAT, &md) == -1, "queue %d: IPC_STAT fails", q2);
    ok(shmctl(m2, IPC_STAT, &hd) == -1, "segment %d: IPC_STAT fails", m2);
    int r = tap_tool("ripcrm", "-a");
    int n;
    ok(r == 0, "ripcrm -a (status %d)", r);
    n = leftovers(left, sizeof left);
    ok(n == 0, "ripcrm -a left nothing in the namespace (left: %s)", n ? left : "nothing");
    int again[5] = {msgget(k, IPC_CREAT | IPC_EXCL | 0600), semget(k + 1, 1, IPC_CREAT | IPC_EXCL | 0600),
                    msgget(k + 2, IPC_CREAT | IPC_EXCL | 0600), shmget(k + 3, 4096, IPC_CREAT | IPC_EXCL | 0600),
                    shmget(k + 4, 4096, IPC_CREAT | IPC_EXCL | 0600)};
    ok(again[0] >= 0 && again[1] >= 0 && again[2] >= 0 && again[3] >= 0 && again[4] >= 0,
       "the five keys take new objects");
    if (again[0] >= 0) msgctl(again[0], IPC_RMID, NULL);
    if (again[1] >= 0) semctl(again[1], 0, IPC_RMID);
    if (again[2] >= 0) msgctl(again[2], IPC_RMID, NULL);
    if (again[3] >= 0) shmctl(again[3], IPC_RMID, NULL);
    if (again[4] >= 0) shmctl(again[4], IPC_RMID, NULL);
    /* Whatever the outcome, leave the namespace clean for run1.sh's
     * check only through ripc: what is left is this test's failure. */
    return done_testing();
}
