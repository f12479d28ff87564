/* Cancellation points for ripc's blocking system calls (glibc).
 *
 * glibc (2.34 to 2.40) makes a system call a cancellation point by
 * switching the thread to asynchronous cancellation around it: a
 * pthread_cancel sends SIGCANCEL only to a thread in that mode, and the
 * signal's handler unwinds the thread at once, from inside the call. Done
 * from Rust, that unwind would cross Rust frames, which may not unwind
 * (the process aborts: "FATAL: exception not rethrown"), and would skip
 * what the Rust code must undo (a sleeper's mark, a handle's hazard word).
 *
 * ripc_cancel_syscall makes the same system call the same way, but stops
 * the unwind in its own frame, as a pthread_cleanup_push buffer does
 * (glibc's unwinder longjmps to the innermost registered buffer): the
 * call then returns -ECANCELED, and so does every later call of the
 * thread, without a system call (the thread stays marked as
 * exiting in glibc, so no second cancellation comes; ripc_cancel_caught()
 * says so). The Rust caller undoes what it did, as for any error,
 * returns to its outermost C entry point, and there, with no
 * Rust frame left to unwind through but that one (extern "C-unwind",
 * nothing to drop), calls pthread_exit(PTHREAD_CANCELED): what the
 * cancellation itself would have done (__do_cancel), so the caller's
 * cleanup handlers run and pthread_join returns PTHREAD_CANCELED.
 * See docs/pipes-signals.md, "pthread_cancel".
 *
 * Compiled by build.rs into the library. Uses only public glibc ABI: the
 * functions the non-exception pthread_cleanup_push macros call. */

#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

/* The thread met a cancellation inside one of ripc's calls. */
static __thread int caught __attribute__((tls_model("initial-exec")));

int ripc_cancel_caught(void)
{
    return caught;
}

/* The system call itself, -errno on failure. Inline on x86_64 (build.rs
 * compiles this file with asynchronous unwind tables: a cancellation may
 * unwind from any instruction of the asynchronous window). */
static inline long raw(long nr, long a, long b, long c, long d, long e, long f)
{
#if defined(__x86_64__)
    long r;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "0"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return r;
#else
    long r = syscall(nr, a, b, c, d, e, f);
    return r == -1 ? -errno : r;
#endif
}

/* The result of the system call, or minus the error number (the kernel's
 * convention: -4095..-1; errno is left alone). */
long ripc_cancel_syscall(long nr, long a, long b, long c, long d, long e, long f)
{
    /* Called only in a process with more than one thread: with one, the
     * Rust caller makes the plain system call itself (crate::os::cancel::
     * syscall: no other thread to cancel this one while it waits, and a
     * cancellation it asked for itself was acted on by the C entry point's
     * pthread_testcancel). */
    if (__builtin_expect(caught, 0))
        return -ECANCELED;
    __pthread_unwind_buf_t buf;
    /* Written before a longjmp can come back here, read after it. */
    volatile int old = PTHREAD_CANCEL_DEFERRED;
    if (__builtin_expect(__sigsetjmp_cancel(buf.__cancel_jmp_buf, 0), 0)) {
        /* A cancellation acted: glibc's unwind stopped here. */
        __pthread_unregister_cancel(&buf);
        pthread_setcanceltype(old, NULL);
        caught = 1;
        return -ECANCELED;
    }
    __pthread_register_cancel(&buf);
    /* Acts at once on a pending cancellation (unless disabled); the old
     * type is stored first. */
    pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, (int *)&old);
    long r = raw(nr, a, b, c, d, e, f);
    pthread_setcanceltype(old, NULL);
    __pthread_unregister_cancel(&buf);
    return r;
}
