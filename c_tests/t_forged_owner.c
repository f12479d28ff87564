/* t_forged_owner.c — a member who may only read a queue or a set cannot
 * make itself their owner (issue 12: "rewrote perm.uid/mode in the header
 * and then had owner rights (IPC_SET, IPC_RMID)"), both backends.
 *
 * Root makes a 0644 queue and set. A fresh process as uid 65534 (a
 * member of the test's namespace, granted read): under the user backend it
 * first rewrites the owner recorded in the object files' headers to
 * itself (it may write the files: receiving writes a queue's
 * bookkeeping) — then IPC_SET and IPC_RMID must still fail with EPERM, as
 * on the kernel: the object file's owner decides, and the file system
 * keeps that. Root then finds both objects intact. */
#include "ripc_sysv.h"
#include "tap.h"

#include <fcntl.h>
#include <sys/mman.h>

/* ObjHeader (src/ns/obj.rs): magic 8, kind 4, version 4, id 4, state 4,
 * ctl_len 8, data_len 8, lock 16, then perm: key, uid, gid, cuid, cgid,
 * mode (u32 each). */
#define PERM_UID 60

static int forge(const char *kind, int id) {
    unsigned char *p = tap_map_object(kind, id);
    if (!p) return -1;
    uint32_t me = (uint32_t)geteuid();
    /* The owner only: a forged creator would make the file look planted
     * (its recorded creator must own it), and nobody could open it. */
    memcpy(p + PERM_UID, &me, 4);
    munmap(p, 4096);
    return 0;
}

static int member(int q, int s, int n) {
    tap_n = n;
    tap_same_libripc();
    if (backend_is_kernel()) {
        ok(1, "# SKIP the kernel's objects have no file to rewrite");
    } else {
        ok(forge("msg", q) == 0 && forge("sem", s) == 0,
           "a reader rewrites the owner in both headers (it may write the files)");
    }
    struct msqid_ds ds;
    errno = 0;
    int r = msgctl(q, IPC_STAT, &ds);
    ok(r == 0, "IPC_STAT (read granted)");
    ds.msg_perm.mode = 0666;
    ok_errno(msgctl(q, IPC_SET, &ds) == -1, EPERM, "IPC_SET of the queue: EPERM");
    ok_errno(msgctl(q, IPC_RMID, NULL) == -1, EPERM, "IPC_RMID of the queue: EPERM");
    ok_errno(semctl(s, 0, IPC_RMID) == -1, EPERM, "IPC_RMID of the set: EPERM");
    return tap_failed ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "member") == 0) return member(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
    TAP_SKIP_UNLESS_ROOT();
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0644);
    int s = semget(IPC_PRIVATE, 1, IPC_CREAT | 0644);
    ok(q >= 0 && s >= 0, "root's 0644 queue and set");
    char sq[16], ss[16], sn[16];
    snprintf(sq, sizeof sq, "%d", q);
    snprintf(ss, sizeof ss, "%d", s);
    snprintf(sn, sizeof sn, "%d", tap_n);
    char *av[] = {"t_forged_owner", "member", sq, ss, sn, NULL};
    int st = tap_exec_as_nobody(NULL, av);
    tap_n += 6;
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the member's checks all passed (status %d)", st);
    struct msqid_ds ds;
    ok(msgctl(q, IPC_STAT, &ds) == 0 && (ds.msg_perm.mode & 0777) == 0644, "root's queue is still there, mode 0644");
    ok(msgctl(q, IPC_RMID, NULL) == 0 && semctl(s, 0, IPC_RMID) == 0, "root removes both");
    return done_testing();
}
