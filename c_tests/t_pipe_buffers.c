/* t_pipe_buffers — the buffer checks of ripc_pipe_read/write: what a
 * handle remembers of the buffers it found usable, and what it does not.
 * (Not in make memcheck: a probe of an unmapped page is a bad address
 * handed to a system call on purpose, which valgrind reports.) */
#include "tap.h"
#include <ripc.h>
#include <sys/mman.h>
#include <unistd.h>

/* Each handle remembers the last buffer a read found writable and the last
 * a write found readable (skipping the per-thread probe cache on a hit).
 * On an empty (or full) non-blocking pipe the kernel answers EAGAIN before
 * it looks at the buffer, so EFAULT there shows that ripc still checked
 * it: a buffer written from is not thereby writable, and a range that
 * reaches past what was remembered is checked again. */
int main(void) {
    struct ripc_pipe *q = ripc_pipe_new(RIPC_PIPE_NONBLOCK);
    static const char text[] = "read-only bytes";
    ok(ripc_pipe_write(q, text, sizeof text) == (ssize_t)sizeof text, "write from read-only memory");
    char got[sizeof text];
    ok(ripc_pipe_read(q, got, sizeof got) == (ssize_t)sizeof text, "and read it back");
    ok_errno(ripc_pipe_read(q, (void *)text, sizeof text) == -1, EFAULT,
             "read into the read-only buffer just written from: EFAULT, not EAGAIN");
    long pg = sysconf(_SC_PAGESIZE);
    char *m = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ok(m != MAP_FAILED && munmap(m + pg, pg) == 0, "a page with an unmapped page after it");
    ok_errno(ripc_pipe_read(q, m, pg) == -1, EAGAIN, "read into the mapped page: EAGAIN (empty)");
    ok_errno(ripc_pipe_read(q, m + pg / 2, pg) == -1, EFAULT,
             "read reaching into the unmapped page: EFAULT, not EAGAIN");
    ok_errno(ripc_pipe_read(q, m + 8, 100) == -1, EAGAIN, "inside the page again: EAGAIN");
    ok(ripc_pipe_set_capacity(q, 4096) == 4096, "capacity 4096");
    while (ripc_pipe_write(q, m, pg) > 0) {
    }
    ok_errno(ripc_pipe_write(q, m, 1) == -1, EAGAIN, "full pipe, mapped buffer: EAGAIN");
    ok_errno(ripc_pipe_write(q, m + pg - 1, 2) == -1, EFAULT,
             "write from a range reaching into the unmapped page: EFAULT, not EAGAIN");
    munmap(m, pg);
    ripc_pipe_free(q);
    return done_testing();
}

