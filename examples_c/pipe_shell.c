/* pipe_shell — what a shell does for `ls / | wc -l`: one anonymous pipe,
 * the first command's stdout on its write end, the second's stdin on its
 * read end, then wait for both.
 *
 *     cc pipe_shell.c -lripc -o pipe_shell && ./pipe_shell
 */
#include <ripc.h>
#include <stdio.h>
#include <sys/wait.h>

int main(void) {
    struct ripc_pipe *p = ripc_pipe_new(0);
    if (p == NULL) {
        perror("ripc_pipe_new");
        return 1;
    }
    const char *left[] = {"ls", "/", NULL};
    const char *right[] = {"wc", "-l", NULL};
    /* Each spawn closes the end it handed over, as the shell does; after
     * both, this process holds nothing and wc sees EOF when ls exits. */
    pid_t a = ripc_pipe_spawn(p, RIPC_PIPE_WRITE, 1, left);
    if (a == -1) {
        perror("spawn ls");
        return 1;
    }
    pid_t b = ripc_pipe_spawn(p, RIPC_PIPE_READ, 0, right);
    if (b == -1) {
        perror("spawn wc");
        return 1;
    }
    ripc_pipe_free(p);
    int sa, sb;
    waitpid(a, &sa, 0);
    waitpid(b, &sb, 0);
    return WIFEXITED(sa) && WEXITSTATUS(sa) == 0 && WIFEXITED(sb) && WEXITSTATUS(sb) == 0 ? 0 : 1;
}
