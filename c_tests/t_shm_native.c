/* t_shm_native.c — the native handle API (ripc_shm_*), under both
 * backends. */
#include <ripc.h>
#include "tap.h"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    int key = 0x54000000 | (getpid() & 0xffffff);
    errno = 0;
    ok(ripc_shm_open(NULL, key, 100, 0600) == NULL && errno == ENOENT, "open of a missing key -> ENOENT");
    errno = 0;
    ok(ripc_shm_open(NULL, IPC_PRIVATE, 0, 0600) == NULL && errno == EINVAL, "size 0 -> EINVAL");
    struct ripc_shm *h = ripc_shm_open(NULL, key, 5000, IPC_CREAT | IPC_EXCL | 0600);
    ok(h != NULL, "create");
    errno = 0;
    ok(ripc_shm_open(NULL, key, 5000, IPC_CREAT | IPC_EXCL | 0600) == NULL && errno == EEXIST, "IPC_EXCL -> EEXIST");
    struct ripc_shm *h2 = ripc_shm_open(NULL, key, 0, 0);
    ok(h2 != NULL && ripc_shm_id(h2) == ripc_shm_id(h), "open the existing key");
    struct ripc_shm *h3 = ripc_shm_open_id(NULL, ripc_shm_id(h));
    ok(h3 != NULL && ripc_shm_id(h3) == ripc_shm_id(h), "open by id");
    errno = 0;
    ok(ripc_shm_open_id(NULL, ripc_shm_id(h) + 3 * 32768) == NULL && errno == EINVAL, "open a stale id -> EINVAL");

    size_t sz = 0;
    char *p = ripc_shm_attach(h, 0, &sz);
    ok(p != NULL && sz == 5000, "attach: address and size (%zu)", sz);
    char *q = ripc_shm_attach(h2, SHM_RDONLY, NULL);
    ok(q != NULL && q != p, "attach read-only, no size wanted");
    strcpy(p, "hello");
    ok(q != NULL && strcmp(q, "hello") == 0, "both views show the same bytes");

    struct ripc_shm_info st;
    ok(ripc_shm_stat(h, &st) == 0, "stat");
    ok(st.size == 5000 && st.nattch == 2 && st.key == key && (st.mode & 0777) == 0600, "size, nattch, key, mode");
    ok(st.cpid == getpid() && st.lpid == getpid() && st.uid == geteuid(), "cpid, lpid, uid");

    errno = 0;
    ok(ripc_shm_detach(h, p + 4096) == -1 && errno == EINVAL, "detach of no attachment -> EINVAL");
    errno = 0;
    ok(ripc_shm_attach(h, 0x12345678, NULL) == NULL && errno == EINVAL, "attach with unknown flags -> EINVAL");
    errno = 0;
    ok(ripc_shm_stat(NULL, &st) == -1 && errno == EFAULT, "NULL handle -> EFAULT");
    errno = 0;
    ok(ripc_shm_stat(h, NULL) == -1 && errno == EFAULT, "NULL status -> EFAULT");
    errno = 0;
    ok(ripc_shm_stat(h, (struct ripc_shm_info *)1) == -1 && errno == EFAULT, "(void*)1 status -> EFAULT");

    /* A read-only view faults on write. */
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        q[0] = 'X';
        _exit(0);
    }
    int ws = 0;
    waitpid(c, &ws, 0);
    ok(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGSEGV, "writing a SHM_RDONLY attachment raises SIGSEGV");

    ok(ripc_shm_remove(h) == 0, "remove while attached");
    errno = 0;
    ok(ripc_shm_open(NULL, key, 0, 0) == NULL && errno == ENOENT, "the key no longer finds it");
    ok(ripc_shm_stat(h, &st) == 0 && (st.mode & SHM_DEST) && st.nattch == 2, "SHM_DEST, still attached");
    ok(strcmp(p, "hello") == 0, "still usable");
    ok(ripc_shm_detach(h2, q) == 0 && ripc_shm_detach(h, p) == 0, "detach both");
    errno = 0;
    ok(ripc_shm_stat(h, &st) == -1 && errno == EINVAL, "destroyed at the last detach");
    ok(ripc_shm_close(h) == 0 && ripc_shm_close(h2) == 0 && ripc_shm_close(h3) == 0, "close the handles");
    ok(ripc_shm_close(NULL) == 0, "close(NULL) is a no-op");
    return done_testing();
}
