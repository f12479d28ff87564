/* t_key_pending.c — a member cannot jam a key by naming someone else's
 * live process as the creator of a file it leaves at the key's name
 * (red-team pass, docs/security.md), both backends.
 *
 * A member (uid 65534) makes a queue with key K, then (user backend)
 * records init (pid 1, with its start time) as its creator and unlinks
 * its numbered name, as if a creator were between its key name and its
 * number. ripc waits for such a creator (about 2 s, then EAGAIN) and heals
 * the key name only once the creator is positively dead: init never is,
 * so every msgget(K, IPC_CREAT) by anyone took 2 s and failed with EAGAIN
 * for ever, and neither `ripcs` nor `ripcrm -a` removed the name. Init's
 * effective uid is not the file's owner, so it cannot be its creator: the
 * name is healed at once. On the kernel the member's queue is simply
 * there (root gets it). */
#include "ripc_sysv.h"
#include "tap.h"

/* ObjHeader (src/ns/obj.rs): cpid at 96, cstart at 104. */
#define H_CPID 96
#define H_CSTART 104

static int member(key_t k, int n) {
    tap_n = n;
    tap_same_libripc();
    int q = msgget(k, IPC_CREAT | IPC_EXCL | 0600);
    ok(q >= 0, "the member makes a queue with key %#x (%s)", (unsigned)k, strerror(errno));
    if (backend_is_kernel()) {
        ok(1, "# SKIP the kernel's objects have no file to rewrite");
        return tap_failed ? 1 : 0;
    }
    unsigned char *p = tap_map_object("msg", q);
    char num[600];
    snprintf(num, sizeof num, "%s/msg.%d", getenv("RIPC_DIR"), q % 32768);
    int32_t one = 1;
    uint64_t start = tap_start_time(1);
    if (p) {
        memcpy(p + H_CPID, &one, 4);
        memcpy(p + H_CSTART, &start, 8);
    }
    ok(p && start && unlink(num) == 0, "and leaves only its key name, naming init as a creator still at work");
    return tap_failed ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "member") == 0) return member((key_t)strtol(argv[2], NULL, 0), atoi(argv[3]));
    TAP_SKIP_UNLESS_ROOT();
    key_t k = 0x7a1c0000 + (getpid() & 0xffff);
    char sk[32], sn[16];
    snprintf(sk, sizeof sk, "%d", (int)k);
    snprintf(sn, sizeof sn, "%d", tap_n);
    char *av[] = {"t_key_pending", "member", sk, sn, NULL};
    int st = tap_exec_as_nobody(NULL, av);
    tap_n += 3;
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the member's steps all passed (status %d)", st);
    double t0 = tap_now();
    int q = msgget(k, IPC_CREAT | 0600);
    double took = tap_now() - t0;
    ok(q >= 0 && took < 1, "root's msgget(K, IPC_CREAT | 0600) answers %d in %.2f s (%s)", q, took,
       q < 0 ? strerror(errno) : "ok");
    ok(q < 0 || msgctl(q, IPC_RMID, NULL) == 0, "root removes it");
    /* What a failure above left: root's tools (or rm) clean up. (Not
     * under the kernel backend: there `ripcrm -a` removes every object of
     * the machine, other tests' too.) */
    if (!backend_is_kernel()) {
        int r = tap_tool("ripcrm", "-a");
        char name[600];
        snprintf(name, sizeof name, "%s/msg.key.%08x", getenv("RIPC_DIR"), (unsigned)k);
        ok(r == 0 && access(name, F_OK) != 0, "ripcrm -a leaves no key name");
        unlink(name);
    }
    return done_testing();
}
