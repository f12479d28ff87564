/* msg_bound.c — what this machine allows a message stream between two
 * processes, whatever the queue's design: the one-way rate of an ideal
 * single-producer, single-consumer ring in shared memory (records of
 * header + payload, written and read in order, control words published
 * with plain release stores, never an atomic read-modify-write), and of the
 * same ring when each side also takes and releases a lock of its own per
 * message (the least a queue with several senders and receivers does).
 * Both rings hold at most 16 KiB of messages, as a default System V queue.
 * Printed against the kernel's queue in the same run, with the time one
 * cache line takes to pass between the two processes (docs/msg.md). */
#include "bench.h"
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <unistd.h>

#define CAP 16384 /* bytes of messages in flight, like msg_qbytes */
#define RING (256 * 1024)
#define RUNS 5

struct ctl {
    _Alignas(64) _Atomic uint64_t tail; /* written by the producer */
    _Alignas(64) _Atomic uint64_t head; /* written by the consumer */
    _Alignas(64) atomic_int plock;
    _Alignas(64) atomic_int clock;
    _Alignas(64) _Atomic long bounce;
};

static struct ctl *c;
static char *ring;

static void lock(atomic_int *l) {
    int z = 0;
    while (!atomic_compare_exchange_weak(l, &z, 1)) z = 0;
}

static void unlock(atomic_int *l) { atomic_exchange(l, 0); }

/* Nanoseconds for one cache line to pass from one process to the other. */
static double handover(void) {
    const long n = 200000;
    atomic_store(&c->bounce, 0);
    pid_t p = fork();
    if (p < 0) die("fork");
    if (p == 0) {
        for (long i = 1; i < n; i += 2) {
            while (atomic_load(&c->bounce) != i) {}
            atomic_store(&c->bounce, i + 1);
        }
        _exit(0);
    }
    double t0 = now();
    for (long i = 0; i < n; i += 2) {
        atomic_store(&c->bounce, i + 1);
        while (atomic_load(&c->bounce) != i + 2) {}
    }
    double t = now() - t0;
    waitpid(p, NULL, 0);
    return t / (double)n * 1e9;
}

/* Messages per second through the ring: `size`-byte messages, `locks`
 * when each side takes its lock per message. */
static double ring_rate(size_t size, long n, int locks) {
    size_t rec = (size + 16 + 63) & ~(size_t)63;
    uint64_t span = RING / rec * rec;
    atomic_store(&c->head, 0);
    atomic_store(&c->tail, 0);
    static char src[8192], dst[8192];
    memset(src, 7, sizeof src);
    pid_t p = fork();
    if (p < 0) die("fork");
    if (p == 0) {
        uint64_t head = 0, tail = 0;
        for (long got = 0; got < n;) {
            while (head == tail) tail = atomic_load_explicit(&c->tail, memory_order_acquire);
            if (locks) lock(&c->clock);
            char *r = ring + head % span;
            uint64_t len;
            memcpy(&len, r, sizeof len);
            memcpy(dst, r + 16, len < sizeof dst ? len : sizeof dst);
            head += rec;
            got++;
            atomic_store_explicit(&c->head, head, memory_order_release);
            if (locks) unlock(&c->clock);
        }
        _exit(dst[0] == 7 ? 0 : 1);
    }
    double t0 = now();
    uint64_t tail = 0, head = 0;
    for (long i = 0; i < n; i++) {
        while (tail + rec - head > CAP) head = atomic_load_explicit(&c->head, memory_order_acquire);
        if (locks) lock(&c->plock);
        char *r = ring + tail % span;
        uint64_t len = size;
        memcpy(r, &len, sizeof len);
        memcpy(r + 16, src, size);
        tail += rec;
        atomic_store_explicit(&c->tail, tail, memory_order_release);
        if (locks) unlock(&c->plock);
    }
    int st;
    waitpid(p, &st, 0);
    double t = now() - t0;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) die("ring consumer");
    return (double)n / t;
}

/* Messages per second through a kernel queue. */
static double kernel_rate(size_t size, long n) {
    int q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    if (q < 0) die("msgget");
    static struct {
        long mtype;
        char mtext[8192];
    } m;
    m.mtype = 1;
    pid_t p = fork();
    if (p < 0) die("fork");
    if (p == 0) {
        for (long i = 0; i < n; i++)
            if (msgsnd(q, &m, size, 0) != 0) _exit(1);
        _exit(0);
    }
    double t0 = now();
    for (long i = 0; i < n; i++)
        if (msgrcv(q, &m, sizeof m.mtext, 0, 0) != (ssize_t)size) die("msgrcv");
    double t = now() - t0;
    waitpid(p, NULL, 0);
    msgctl(q, IPC_RMID, NULL);
    return (double)n / t;
}

int main(void) {
    c = mmap(NULL, sizeof *c, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ring = mmap(NULL, RING, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (c == MAP_FAILED || ring == MAP_FAILED) die("mmap");
    printf("# msg bound: an ideal SPSC ring between 2 processes (16 KiB in flight), without and with a lock\n"
           "# per message on each side, against the kernel's queue; median of %d runs, M msg/s\n",
           RUNS);
    const size_t sizes[] = {64, 1024};
    for (unsigned s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        size_t size = sizes[s];
        long n = size == 64 ? 1000000 : 400000;
        double k[RUNS], r[RUNS], l[RUNS];
        double h0 = handover();
        for (int i = 0; i < RUNS; i++) {
            k[i] = kernel_rate(size, n / 4) / 1e6;
            r[i] = ring_rate(size, n, 0) / 1e6;
            l[i] = ring_rate(size, n, 1) / 1e6;
        }
        double h1 = handover();
        double km = median(k, RUNS), rm = median(r, RUNS), lm = median(l, RUNS);
        printf("bound %5zuB   kernel %5.2f   ring %6.2f (%5.1fx)   ring+locks %6.2f (%5.1fx)   [hand-over %.0f/%.0f ns]\n",
               size, km, rm, rm / km, lm, lm / km, h0, h1);
    }
    return 0;
}
