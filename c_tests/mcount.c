/* mcount.c — an LD_PRELOAD interposer that counts, per thread, the calls
 * of the C library's allocator (malloc, calloc, realloc, free and the
 * aligned forms) and forwards them to glibc's own entry points
 * (__libc_malloc …: dlsym(RTLD_NEXT) would itself call calloc). Used by
 * t_first_call_alloc, which reads its thread's count with
 * mcount_here() (found with dlsym: the test runs without it too). */
#include <errno.h>
#include <stddef.h>

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);
extern void *__libc_memalign(size_t align, size_t n);

/* Initial-exec: a preloaded library's TLS is static; reading it calls
 * nothing (and so allocates nothing). */
static __thread long here __attribute__((tls_model("initial-exec")));

long mcount_here(void);
long mcount_here(void) { return here; }

void *malloc(size_t n);
void *calloc(size_t n, size_t m);
void *realloc(void *p, size_t n);
void free(void *p);
void *memalign(size_t align, size_t n);
void *aligned_alloc(size_t align, size_t n);
int posix_memalign(void **out, size_t align, size_t n);

void *malloc(size_t n) { here++; return __libc_malloc(n); }
void *calloc(size_t n, size_t m) { here++; return __libc_calloc(n, m); }
void *realloc(void *p, size_t n) { here++; return __libc_realloc(p, n); }
void free(void *p) { if (p) here++; __libc_free(p); }
void *memalign(size_t align, size_t n) { here++; return __libc_memalign(align, n); }
void *aligned_alloc(size_t align, size_t n) { here++; return __libc_memalign(align, n); }
int posix_memalign(void **out, size_t align, size_t n) {
    void *p;
    here++;
    if (align < sizeof(void *) || (align & (align - 1)) != 0) return EINVAL;
    p = __libc_memalign(align, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
