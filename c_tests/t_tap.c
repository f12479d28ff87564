/* t_tap.c — the test harness's own promise (tap.h): a subtest that
 * crashes or hangs cannot take its neighbours with it, and the numbering
 * carries on after it. A small suite with a crashing and a hanging
 * subtest runs in a child whose TAP output is captured and checked. */
#define TAP_SUBTEST_SECONDS 2 /* the hanging subtest is killed after 2 s */
#include "tap.h"

static void passes(void) {
    ok(1, "a check that passes");
    ok(1, "another");
}

static void crashes(void) {
    ok(1, "a check before the crash");
    raise(SIGSEGV);
}

static void hangs(void) {
    for (;;) pause();
}

static void fails(void) {
    ok(0, "a check that fails");
}

/* The inner suite: its TAP goes to `fd`. */
static void inner(int fd) {
    if (dup2(fd, STDOUT_FILENO) < 0) _exit(97);
    tap_n = tap_failed = 0;
    tap_subtest("first", passes);
    tap_subtest("crash", crashes);
    tap_subtest("after the crash", passes);
    tap_subtest("hang", hangs);
    tap_subtest("failing", fails);
    tap_subtest("last", passes);
    _exit(done_testing());
}

static char out[16384];

static int has(const char *line) { return strstr(out, line) != NULL; }

int main(void) {
    int fd[2];
    if (pipe(fd) != 0) return 1;
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        close(fd[0]);
        inner(fd[1]);
    }
    close(fd[1]);
    size_t n = 0;
    ssize_t r;
    while (n < sizeof out - 1 && (r = read(fd[0], out + n, sizeof out - 1 - n)) > 0) n += (size_t)r;
    out[n] = 0;
    close(fd[0]);
    int st = 0;
    waitpid(c, &st, 0);
    ok(has("\nok 1 - a check that passes\n") && has("\nok 2 - another\n"), "the first subtest's checks, numbered 1-2");
    ok(has("\nok 3 - a check before the crash\n"), "the crashing subtest's check before the crash, numbered 3");
    ok(has("\nnot ok 4 - subtest crash ended by signal 11"), "the crash is one failed test, numbered 4");
    ok(has("\nok 5 - a check that passes\n") && has("\nok 6 - another\n"), "the subtest after the crash runs, numbered 5-6");
    ok(has("\nnot ok 7 - subtest hang ended by signal 14"), "the hanging subtest is killed (SIGALRM) and fails, numbered 7");
    ok(has("\nnot ok 8 - a check that fails\n#   at "), "a failing check inside a subtest shows, with where it is");
    ok(has("\nok 9 - a check that passes\n") && has("\n1..10\n"), "the last subtest runs; the plan counts every test (1..10)");
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 1, "the inner suite fails (status %#x)", st);
    if (tap_failed) {
        printf("# inner suite's output:\n");
        for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n")) printf("#   %s\n", l);
    }
    return done_testing();
}
