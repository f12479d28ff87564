/* t_api.c — the native API's common shapes: namespaces per handle
 * (ripc_ns_open/close, NULL = the default one), open / open_id / stat /
 * remove / close for every handle family with int returns, one timeout
 * meaning (0: try once, EAGAIN), a queue's capacity chosen at creation,
 * zero-filled reserved fields.
 *
 * Under RIPC_BACKEND=kernel, queues and segments are the kernel's whatever
 * namespace is given (ripc(7)); sets, mutexes and semaphores are ripc's
 * engine under both backends and honour it. */
#include "tap.h"
#include <ripc.h>
#include <sys/ipc.h>
#include <sys/stat.h>

static char dir_b[64];

static int all_zero(const uint64_t *r, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (r[i]) return 0;
    return 1;
}

static void two_namespaces(ripc_ns *b, int kernel) {
    key_t key = 0x7a9100 + (getpid() & 0xff);

    /* sets (ripc's engine under both backends) */
    ripc_semset *sa = ripc_semset_open(NULL, key, 3, IPC_CREAT | IPC_EXCL | 0600);
    ok(sa != NULL, "a set of 3 with key 0x%x in the default namespace", (unsigned)key);
    ok_errno(ripc_semset_open(b, key, 0, 0600) == NULL, ENOENT, "the key finds nothing in the other namespace");
    ripc_semset *sb = ripc_semset_open(b, key, 2, IPC_CREAT | IPC_EXCL | 0600);
    ok(sb != NULL, "the same key makes a set of 2 there (IPC_EXCL succeeds)");
    ok_eq(ripc_semset_nsems(sa), 3, "the default namespace's set keeps 3");
    ok_eq(ripc_semset_nsems(sb), 2, "the other's has 2");
    ripc_semset *sb2 = ripc_semset_open_id(b, ripc_semset_id(sb));
    ok(sb2 && ripc_semset_nsems(sb2) == 2, "open_id in the other namespace finds its set");
    ripc_semset *x = ripc_semset_open_id(b, ripc_semset_id(sa));
    ok(x == NULL || ripc_semset_nsems(x) == 2, "the default namespace's id never opens its set of 3 there");
    ripc_semset_close(x);
    ok_eq(ripc_semset_close(sb2), 0, "ripc_semset_close returns 0");

    /* a mutex and a semaphore, by key, in the other namespace only */
    ripc_mutex *m = ripc_mutex_open(b, key + 1, IPC_CREAT | IPC_EXCL | 0600);
    ok(m != NULL, "a mutex in the other namespace");
    ok_errno(ripc_mutex_open(NULL, key + 1, 0600) == NULL, ENOENT, "not in the default one");
    ripc_sem *s = ripc_sem_open(b, key + 2, 4, IPC_CREAT | IPC_EXCL | 0600);
    ok(s != NULL && ripc_sem_value(s) == 4, "a semaphore of 4 in the other namespace");
    ok_errno(ripc_sem_open(NULL, key + 2, 0, 0600) == NULL, ENOENT, "not in the default one");

    /* queues and segments: kernel objects under the kernel backend */
    ripc_queue *qa = ripc_queue_open(NULL, key, 0, IPC_CREAT | IPC_EXCL | 0600);
    ok(qa != NULL, "a queue with the key in the default namespace");
    ripc_queue *qb = ripc_queue_open(b, key, 0, IPC_CREAT | IPC_EXCL | 0600);
    int e = errno;
    if (kernel) {
        ok(qb == NULL && e == EEXIST, "kernel backend: the namespace does not apply to queues (EEXIST)");
    } else {
        ok(qb != NULL && ripc_queue_id(qb) >= 0, "another queue with the same key in the other namespace");
        ok(ripc_queue_send(qa, 1, "a", 1, 0) == 0, "send to the default namespace's");
        char c;
        ok_errno(ripc_queue_recv(qb, 0, &c, 1, 0, 0, NULL) == -1, EAGAIN, "the other's is empty");
    }
    ripc_shm *ha = ripc_shm_open(NULL, key, 4096, IPC_CREAT | IPC_EXCL | 0600);
    ok(ha != NULL, "a segment with the key in the default namespace");
    ripc_shm *hb = ripc_shm_open(b, key, 8192, IPC_CREAT | IPC_EXCL | 0600);
    e = errno;
    if (kernel) {
        ok(hb == NULL && e == EEXIST, "kernel backend: the namespace does not apply to segments (EEXIST)");
    } else {
        ok(hb != NULL, "another segment with the same key in the other namespace");
        size_t za = 0, zb = 0;
        char *pa = ripc_shm_attach(ha, 0, &za), *pb = ripc_shm_attach(hb, 0, &zb);
        ok(pa && pb && za == 4096 && zb == 8192, "each attaches its own (%zu, %zu bytes)", za, zb);
        if (pa && pb) {
            pa[0] = 'A';
            pb[0] = 'B';
            ok(pa[0] == 'A', "apart");
            ok_errno(ripc_shm_detach(hb, pa) == -1, EINVAL, "detach through the other handle: EINVAL");
            ok(ripc_shm_detach(ha, pa) == 0 && ripc_shm_detach(hb, pb) == 0, "detach each");
        }
    }

    ok(ripc_semset_remove(sa) == 0 && ripc_semset_remove(sb) == 0, "remove both sets");
    ok(ripc_mutex_remove(m) == 0 && ripc_sem_remove(s) == 0, "remove the mutex and the semaphore");
    ok(ripc_queue_remove(qa) == 0 && (!qb || ripc_queue_remove(qb) == 0), "remove the queues");
    ok(ripc_shm_remove(ha) == 0 && (!hb || ripc_shm_remove(hb) == 0), "remove the segments");
    ok(ripc_semset_close(sa) == 0 && ripc_semset_close(sb) == 0 && ripc_mutex_close(m) == 0 &&
           ripc_sem_close(s) == 0 && ripc_queue_close(qa) == 0 && ripc_queue_close(qb) == 0 &&
           ripc_shm_close(ha) == 0 && ripc_shm_close(hb) == 0,
       "every close returns 0");
}

static void capacity(int kernel) {
    ripc_queue *q = ripc_queue_open(NULL, IPC_PRIVATE, 100, IPC_CREAT | 0600);
    ok(q != NULL, "a queue of 100 bytes");
    ripc_queue_info info;
    memset(&info, 0xff, sizeof info);
    ok(ripc_queue_stat(q, &info) == 0 && info.capacity == 100, "its capacity is 100 (%llu)",
       (unsigned long long)info.capacity);
    ok(all_zero(info.reserved, sizeof info.reserved / sizeof info.reserved[0]), "reserved fields are zero");
    char text[60] = {0};
    ok(ripc_queue_send(q, 1, text, 60, 0) == 0, "60 bytes fit");
    ok_errno(ripc_queue_send(q, 1, text, 60, 0) == -1, EAGAIN, "60 more do not: timeout 0 gives EAGAIN");
    double t0 = tap_now();
    ok_errno(ripc_queue_send(q, 1, text, 60, 50) == -1, ETIMEDOUT, "timeout 50 ms: ETIMEDOUT");
    ok(tap_now() - t0 >= 0.04, "... after about 50 ms");
    ok(ripc_queue_recv(q, 0, text, sizeof text, 0, 0, NULL) == 60, "take it back");
    ok_errno(ripc_queue_recv(q, 0, text, sizeof text, 0, 0, NULL) == -1, EAGAIN, "empty, timeout 0: EAGAIN");
    t0 = tap_now();
    ok_errno(ripc_queue_recv(q, 0, text, sizeof text, 0, 50, NULL) == -1, ETIMEDOUT, "empty, 50 ms: ETIMEDOUT");
    ok(tap_now() - t0 >= 0.04, "... after about 50 ms");
    ok(ripc_queue_remove(q) == 0, "remove");
    ok_eq(ripc_queue_close(q), 0, "ripc_queue_close returns 0");
    ok_eq(ripc_queue_close(NULL), 0, "ripc_queue_close(NULL) returns 0");

    /* an existing queue keeps its own capacity */
    key_t key = 0x7a9200 + (getpid() & 0xff);
    ripc_queue *a = ripc_queue_open(NULL, key, 200, IPC_CREAT | IPC_EXCL | 0600);
    ripc_queue *b = ripc_queue_open(NULL, key, 500, IPC_CREAT | 0600);
    ok(a && b && ripc_queue_id(a) == ripc_queue_id(b), "a second open of the key finds the queue");
    ok(b && ripc_queue_stat(b, &info) == 0 && info.capacity == 200, "with the capacity it was created with (%llu)",
       (unsigned long long)info.capacity);
    ok(a && ripc_queue_remove(a) == 0, "remove");
    ripc_queue_close(a);
    ripc_queue_close(b);
    if (!kernel) {
        ok_errno(ripc_queue_open(NULL, IPC_PRIVATE, (uint64_t)1 << 40, IPC_CREAT | 0600) == NULL, EINVAL,
                 "a capacity above the hard cap: EINVAL");
    }
}

static void timeouts_and_ids(void) {
    ripc_semset *set = ripc_semset_open(NULL, IPC_PRIVATE, 2, IPC_CREAT | 0600);
    struct ripc_sembuf take = {0, -1, 0};
    ok(set && ripc_semset_op(set, &take, 1, 0) == -1 && errno == EAGAIN, "semset, timeout 0: EAGAIN");
    double t0 = tap_now();
    ok_errno(ripc_semset_op(set, &take, 1, 50) == -1, ETIMEDOUT, "semset, 50 ms: ETIMEDOUT");
    ok(tap_now() - t0 >= 0.04, "... after about 50 ms");
    ok_errno(ripc_mutex_open_id(NULL, ripc_semset_id(set)) == NULL, EINVAL, "a set of 2 is no mutex: EINVAL");
    ok_errno(ripc_sem_open_id(NULL, ripc_semset_id(set)) == NULL, EINVAL, "nor a semaphore");

    ripc_mutex *m = ripc_mutex_open(NULL, IPC_PRIVATE, IPC_CREAT | 0600);
    ok(m && ripc_mutex_lock(m, 0) == 0, "a free mutex, timeout 0: locked");
    ok_errno(ripc_mutex_lock(m, 0) == -1, EAGAIN, "held, timeout 0: EAGAIN");
    ok_errno(ripc_mutex_lock(m, 30) == -1, ETIMEDOUT, "held, 30 ms: ETIMEDOUT");
    ripc_mutex *m2 = ripc_mutex_open_id(NULL, ripc_mutex_id(m));
    ok(m2 != NULL && ripc_mutex_id(m2) == ripc_mutex_id(m), "ripc_mutex_open_id");
    ok(m2 && ripc_mutex_unlock(m2) == 0, "unlocked through the second handle");
    ripc_semset_info si;
    memset(&si, 0xff, sizeof si);
    ok(ripc_mutex_stat(m, &si) == 0 && si.nsems == 1 && si.id == ripc_mutex_id(m) && (si.mode & 0777) == 0600,
       "ripc_mutex_stat");
    ok(all_zero(si.reserved, sizeof si.reserved / sizeof si.reserved[0]), "reserved fields are zero");

    ripc_sem *s = ripc_sem_open(NULL, IPC_PRIVATE, 0, IPC_CREAT | 0600);
    ok_errno(ripc_sem_wait(s, 0) == -1, EAGAIN, "semaphore at 0, timeout 0: EAGAIN");
    ok_errno(ripc_sem_wait(s, 30) == -1, ETIMEDOUT, "30 ms: ETIMEDOUT");
    ripc_sem *s2 = ripc_sem_open_id(NULL, ripc_sem_id(s));
    ok(s2 && ripc_sem_post(s2) == 0 && ripc_sem_value(s) == 1, "ripc_sem_open_id: the same semaphore");
    ok(ripc_sem_stat(s, &si) == 0 && si.nsems == 1 && si.otime > 0, "ripc_sem_stat");

    ok_errno(ripc_mutex_open(NULL, 0x7a9300 + (getpid() & 0xff), 0600) == NULL, ENOENT,
             "a mutex's missing key without IPC_CREAT: ENOENT");

    ripc_shm *h = ripc_shm_open(NULL, IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    ripc_shm_info hi;
    memset(&hi, 0xff, sizeof hi);
    ok(h && ripc_shm_stat(h, &hi) == 0 && hi.size == 4096, "ripc_shm_stat into a ripc_shm_info");
    ok(all_zero(hi.reserved, sizeof hi.reserved / sizeof hi.reserved[0]), "reserved fields are zero");

    ok(ripc_semset_remove(set) == 0 && ripc_mutex_remove(m) == 0 && ripc_sem_remove(s) == 0 &&
           ripc_shm_remove(h) == 0,
       "remove all");
    ok(ripc_semset_close(set) == 0 && ripc_mutex_close(m) == 0 && ripc_mutex_close(m2) == 0 &&
           ripc_sem_close(s) == 0 && ripc_sem_close(s2) == 0 && ripc_shm_close(h) == 0,
       "close all: 0");
    ok(ripc_semset_close(NULL) == 0 && ripc_mutex_close(NULL) == 0 && ripc_sem_close(NULL) == 0 &&
           ripc_shm_close(NULL) == 0 && ripc_ns_close(NULL) == 0,
       "close(NULL): 0 for every family");
}

int main(void) {
    int kernel = backend_is_kernel();
    strcpy(dir_b, "/dev/shm/ripc-t_api.XXXXXX");
    if (!mkdtemp(dir_b)) return 1;

    ripc_ns *b = ripc_ns_open(dir_b);
    ok(b != NULL, "ripc_ns_open(%s)", dir_b);
    char path[256];
    ok(b && ripc_ns_path(b, path, sizeof path) == (ptrdiff_t)strlen(dir_b) && strcmp(path, dir_b) == 0,
       "ripc_ns_path names it");
    ok_errno(ripc_ns_path(b, path, 4) == -1, ERANGE, "ripc_ns_path into a short buffer: ERANGE");
    ripc_ns *d = ripc_ns_open(NULL);
    const char *env = getenv("RIPC_DIR");
    ok(d && ripc_ns_path(d, path, sizeof path) > 0 && env && strcmp(path, env) == 0,
       "ripc_ns_open(NULL) is the default namespace (RIPC_DIR)");
    ok_eq(ripc_ns_close(d), 0, "ripc_ns_close returns 0");
    if (b) two_namespaces(b, kernel);
    capacity(kernel);
    timeouts_and_ids();

    ok_eq(ripc_ns_close(b), 0, "ripc_ns_close");
    tap_remove_dir(dir_b);
    struct stat st;
    ok(stat(dir_b, &st) == -1, "the second namespace is gone");
    return done_testing();
}
