/* t_ns_trust.c — issue 12: a namespace no other user can hijack, crash or
 * starve. Root is the victim; the hostile users are real unprivileged
 * processes (uid/gid 65534, "nobody", a member of the suite's shared
 * namespace, and a stranger uid that is in no group of it).
 *
 * Every check of a namespace directory runs in a fresh process (this
 * program exec'd again as `t_ns_trust probe MODE`), since a process opens
 * its namespace once. The namespace concept is the user backend's: under
 * RIPC_BACKEND=kernel every test is skipped. */
#include "ripc_sysv.h"
#include "tap.h"
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <ripc.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* probe mode: exit 0 when the call worked, its errno when it failed. */
static int probe(const char *mode) {
    if (strcmp(mode, "msgget") == 0) {
        int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
        if (q < 0) return errno;
        msgctl(q, IPC_RMID, NULL);
        return 0;
    }
    if (strcmp(mode, "limit") == 0) {
        long v = ripc_limit_get(NULL, "msgmax");
        if (v <= 0) return 100;
        return ripc_limit_set(NULL, "msgmax", 9000) == 0 ? 0 : errno;
    }
    if (strcmp(mode, "write-ns") == 0 || strcmp(mode, "trunc-ns") == 0 || strcmp(mode, "unlink-ns") == 0) {
        char p[600];
        snprintf(p, sizeof p, "%s/ripc.ns", getenv("RIPC_DIR"));
        if (mode[0] == 'w') {
            int fd = open(p, O_RDWR);
            if (fd >= 0) return close(fd), 0;
        } else if (mode[0] == 't') {
            if (truncate(p, 0) == 0) return 0;
        } else if (unlink(p) == 0) {
            return 0;
        }
        return errno;
    }
    if (strcmp(mode, "rmkey") == 0) {
        int q = msgget((key_t)strtol(getenv("T_KEY"), NULL, 0), 0);
        if (q < 0) return errno;
        return msgctl(q, IPC_RMID, NULL) == 0 ? 0 : errno;
    }
    return 99;
}

/* Runs `probe MODE` as uid/gid (no supplementary groups unless root),
 * with RIPC_DIR=dir (unset when NULL: the default namespace, with
 * XDG_RUNTIME_DIR unset). Returns the probe's exit status, or 200 + the
 * signal that killed it. */
static int run_probe(const char *dir, uid_t uid, gid_t gid, const char *mode) {
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        if (dir)
            setenv("RIPC_DIR", dir, 1);
        else
            unsetenv("RIPC_DIR");
        unsetenv("XDG_RUNTIME_DIR");
        char *av[] = {"t_ns_trust", "probe", (char *)mode, NULL};
        if (uid != 0) tap_execv_as(uid, gid, NULL, av); /* from any checkout: see tap.h */
        execv("/proc/self/exe", av);
        _exit(97);
    }
    int st = 0;
    waitpid(c, &st, 0);
    if (WIFSIGNALED(st)) return 200 + WTERMSIG(st);
    return WEXITSTATUS(st);
}

/* Runs `fn(arg)` as uid/gid in a child; its exit status (200 + signal). */
static int as_user(uid_t uid, gid_t gid, int (*fn)(const char *), const char *arg) {
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0) _exit(98);
        _exit(fn(arg));
    }
    int st = 0;
    waitpid(c, &st, 0);
    return WIFSIGNALED(st) ? 200 + WTERMSIG(st) : WEXITSTATUS(st);
}

static int mkdir_0700(const char *p) { return mkdir(p, 0700) == 0 ? 0 : errno; }
static int mkdir_0777(const char *p) { return mkdir(p, 0777) == 0 && chmod(p, 0777) == 0 ? 0 : errno; }
static int plant_empty(const char *p) {
    int fd = open(p, O_RDWR | O_CREAT | O_EXCL, 0666);
    return fd >= 0 ? (close(fd), 0) : errno;
}

static int refused(int r) { return r == EPERM || r == EACCES; }

static void test_dirs(void) {
    char base[] = "/dev/shm/ripc-trust.XXXXXX", p[300], q[300];
    ok(mkdtemp(base) != NULL && chmod(base, 0711) == 0, "a scratch directory %s", base);

    /* A namespace directory made by another user, before the victim. */
    snprintf(p, sizeof p, "%s/byother", base);
    chmod(base, 0777);
    ok(as_user(65534, 65534, mkdir_0700, p) == 0, "nobody makes %s (0700)", p);
    int r = run_probe(p, 0, 0, "msgget");
    ok(refused(r), "root's msgget in a namespace directory owned by nobody is refused (EPERM/EACCES; got %d)", r);
    chmod(p, 0755);
    r = run_probe(p, 0, 0, "msgget");
    ok(refused(r), "also when nobody opens it to all (0755; got %d)", r);
    chmod(p, 0700);
    rmdir(p);

    /* The default namespace: a user's own, never one another user made. */
    uid_t victim = (uid_t)(61000 + getpid() % 4000);
    snprintf(q, sizeof q, "/dev/shm/ripc-%u", (unsigned)victim);
    ok(as_user(65534, 65534, mkdir_0777, q) == 0, "nobody makes the default path of uid %u first (%s, 0777)",
       (unsigned)victim, q);
    r = run_probe(NULL, victim, victim, "msgget");
    ok(refused(r), "uid %u's default namespace is refused, not taken over (got %d)", (unsigned)victim, r);
    chmod(q, 0700);
    r = run_probe(NULL, victim, victim, "msgget");
    ok(refused(r), "also when it is 0700 (owner nobody; got %d)", r);
    rmdir(q);
    r = run_probe(NULL, victim, victim, "msgget");
    struct stat st = {0};
    int ls = lstat(q, &st);
    ok(r == 0 && ls == 0 && S_ISDIR(st.st_mode) && st.st_uid == victim && (st.st_mode & 07777) == 0700,
       "with no squatter, uid %u's default namespace is %s, its own, mode 0700 (got %d, mode %o)", (unsigned)victim, q,
       r, (unsigned)(st.st_mode & 07777));
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", q);
    if (system(cmd) != 0) diag("could not remove %s", q);

    /* Symlinks, world- and group-writable directories. */
    snprintf(p, sizeof p, "%s/real", base);
    snprintf(q, sizeof q, "%s/link", base);
    ok(mkdir(p, 0700) == 0 && symlink(p, q) == 0, "a private directory and a symlink to it");
    r = run_probe(q, 0, 0, "msgget");
    ok(refused(r), "a symlinked RIPC_DIR is refused, even to a directory of the caller's (got %d)", r);
    r = run_probe(p, 0, 0, "msgget");
    ok(r == 0, "the directory itself is accepted (got %d)", r);
    chmod(p, 0777);
    r = run_probe(p, 0, 0, "msgget");
    ok(r == EPERM, "an o+w directory (0777) is refused: EPERM (got %d)", r);
    chmod(p, 01777);
    r = run_probe(p, 0, 0, "msgget");
    ok(r == EPERM, "an o+w directory is refused with the sticky bit too (1777): EPERM (got %d)", r);
    chmod(p, 0770);
    r = run_probe(p, 0, 0, "msgget");
    ok(r == EPERM, "a group-writable directory without the sticky bit (0770) is refused: EPERM (got %d)", r);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    ok(system(cmd) == 0, "scratch directory removed");
}

/* The suite's namespace is shared on purpose (run1.sh: group 65534, mode
 * 3770, owned by root). Members may use it, not change its limits or its
 * control file; strangers get nothing. */
static void test_shared(const char *dir) {
    struct stat st;
    int shared = stat(dir, &st) == 0 && st.st_uid == 0 && st.st_gid == 65534 && (st.st_mode & 07777) == 03770;
    if (!shared) {
        for (int i = 0; i < 7; i++) ok(1, "# SKIP RIPC_DIR is not the suite's shared namespace (root:65534, 3770)");
        return;
    }
    int r = run_probe(dir, 65534, 65534, "msgget");
    ok(r == 0, "a member (uid/gid 65534) uses the shared namespace (got %d)", r);
    r = run_probe(dir, 65534, 65534, "limit");
    ok(r == EPERM, "a member's ripc_limit_set: EPERM, the limits are the owner's (got %d)", r);
    r = run_probe(dir, 65534, 65534, "write-ns");
    ok(r == EACCES, "a member cannot open ripc.ns read-write: EACCES (got %d)", r);
    r = run_probe(dir, 65534, 65534, "trunc-ns");
    ok(r == EACCES, "a member cannot truncate ripc.ns: EACCES (got %d)", r);
    r = run_probe(dir, 65534, 65534, "unlink-ns");
    ok(r == EPERM || r == EACCES, "a member cannot unlink ripc.ns (sticky directory; got %d)", r);
    uid_t stranger = (uid_t)(61000 + getpid() % 4000);
    r = run_probe(dir, stranger, stranger, "msgget");
    ok(refused(r), "a user outside the group gets nothing (got %d)", r);
    long before = ripc_limit_get(NULL, "msgmax");
    ok(before > 0 && ripc_limit_set(NULL, "msgmax", (uint64_t)before) == 0, "the owner (root) still sets limits");
}

/* Empty files planted at numbered names by a member: no SIGBUS for the
 * victim's creates, MSG_INFO/SEM_INFO, ripcs or ripcrm -a. */
static int victim_calls(const char *unused) {
    (void)unused;
    key_t k = (key_t)(0x4e540000 | (getpid() & 0xffff));
    int q = msgget(k, IPC_CREAT | 0600);
    int s = semget(k, 1, IPC_CREAT | 0600);
    struct msginfo mi;
    struct seminfo si;
    int a = msgctl(0, MSG_INFO, (struct msqid_ds *)(void *)&mi);
    union semun { int val; struct semid_ds *buf; unsigned short *array; struct seminfo *__buf; } u = {.__buf = &si};
    int b = semctl(0, 0, SEM_INFO, u);
    if (q >= 0) msgctl(q, IPC_RMID, NULL);
    if (s >= 0) semctl(s, 0, IPC_RMID);
    return (q >= 0 && s >= 0 && a >= 0 && b >= 0) ? 0 : 1;
}

static void test_planted(const char *dir) {
    char m[600], s[600], cmd[900];
    snprintf(m, sizeof m, "%s/msg.0", dir);
    snprintf(s, sizeof s, "%s/sem.0", dir);
    int p1 = as_user(65534, 65534, plant_empty, m), p2 = as_user(65534, 65534, plant_empty, s);
    ok(p1 == 0 && p2 == 0, "a member plants empty files msg.0 and sem.0 (%d %d)", p1, p2);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) _exit(victim_calls(NULL));
    int st = 0;
    waitpid(c, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
       "root's msgget/semget(IPC_CREAT), MSG_INFO and SEM_INFO work, no SIGBUS (status %#x)", st);
    const char *tools = getenv("RIPC_TOOLS");
    char tdir[400];
    snprintf(tdir, sizeof tdir, "%s", tools ? tools : "target/release");
    snprintf(cmd, sizeof cmd, "'%s/ripcs' >/dev/null 2>&1", tdir);
    int r = system(cmd);
    ok(WIFEXITED(r), "ripcs is not killed by a signal (status %#x)", r);
    snprintf(cmd, sizeof cmd, "'%s/ripcrm' -a >/dev/null 2>&1", tdir);
    r = system(cmd);
    ok(WIFEXITED(r), "ripcrm -a is not killed by a signal (status %#x)", r);
    unlink(m);
    unlink(s);
}

/* Removed objects' names must not pile up in a key's slots: root creates
 * key K (mode 0666) and gives it to nobody (IPC_SET uid 65534); nobody
 * removes it but may not unlink root's files in the sticky directory, so
 * each removal leaves its name behind. Before, the 17th create of K failed
 * with ENOSPC for ever and ripcs healed nothing. */
static int count_key_names(const char *dir, key_t k) {
    char prefix[64];
    snprintf(prefix, sizeof prefix, "msg.key.%08x", (unsigned)k);
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) n++;
    if (d) closedir(d);
    return n;
}

static void test_key_slots(const char *dir) {
    key_t k = (key_t)(0x4e4b0000 | (getpid() & 0xffff));
    char ks[32];
    snprintf(ks, sizeof ks, "%d", (int)k);
    setenv("T_KEY", ks, 1);
    int made = 0, removed = 0, err = 0;
    for (int i = 0; i < 20; i++) {
        int q = msgget(k, IPC_CREAT | 0666);
        if (q < 0) {
            err = errno;
            break;
        }
        made++;
        struct msqid_ds ds;
        msgctl(q, IPC_STAT, &ds);
        ds.msg_perm.uid = 65534;
        msgctl(q, IPC_SET, &ds);
        if (run_probe(dir, 65534, 65534, "rmkey") == 0) removed++;
    }
    ok(made == 20 && removed == 20,
       "20 times: root creates key %#x, gives it to nobody, nobody removes it (%d made, %d removed, error %s)",
       (unsigned)k, made, removed, err ? strerror(err) : "none");
    const char *tools = getenv("RIPC_TOOLS");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "'%s/ripcs' >/dev/null", tools ? tools : "target/release");
    int r = system(cmd);
    int left = count_key_names(dir, k);
    ok(r == 0 && left == 0, "after ripcs no name of the removed objects is left under the key (%d)", left);
    int q = msgget(k, IPC_CREAT | IPC_EXCL | 0600);
    ok(q >= 0, "and the key is free for a new queue");
    if (q >= 0) msgctl(q, IPC_RMID, NULL);
    unsetenv("T_KEY");
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "probe") == 0) return probe(argv[2]);
    const char *dir = getenv("RIPC_DIR");
    if (backend_is_kernel() || !dir) {
        ok(1, "# SKIP kernel backend: namespace directories are the user backend's");
        return done_testing();
    }
    if (geteuid() != 0) {
        ok(1, "# SKIP needs root (the victim) to run other users' processes");
        return done_testing();
    }
    test_dirs();
    test_shared(dir);
    test_planted(dir);
    test_key_slots(dir);
    return done_testing();
}
