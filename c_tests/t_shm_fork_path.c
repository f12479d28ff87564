/* t_shm_fork_path.c — the code a fork child runs lies in one 64 KiB
 * window of libripc (link/child-path.ld, passed by the Makefile), so that
 * a child of a process holding attachments maps it with one page fault
 * instead of ~10 (docs/perf.md, "PostgreSQL-style connections").
 *
 * A layout check, not a timing: the library has that section, it fits
 * one 64 KiB window, and the exported entry points of the path (shmctl for
 * IPC_STAT, semop) lie in it; the statics a fork writes lie on one page; a
 * build without the script (or with patterns that no longer match after a
 * rename) fails. Then the path itself: a child of a process
 * holding an attachment sees it counted (IPC_STAT) and takes a semaphore,
 * under both backends. */
#include "tap.h"
#include <ripc_sysv.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>

/* The library's address of an exported symbol, as an offset from the
 * library's load address, and the library's file name. */
static uintptr_t offset_of(const char *name, const char **file) {
    void *p = dlsym(RTLD_DEFAULT, name);
    Dl_info di;
    if (!p || !dladdr(p, &di) || !di.dli_fbase || !di.dli_fname) return (uintptr_t)-1;
    *file = di.dli_fname;
    return (uintptr_t)p - (uintptr_t)di.dli_fbase;
}

/* The address range [*lo, *hi) of the section called `want` in the ELF
 * file `path` (0 when found). */
static int section_range(const char *path, const char *want, uint64_t *lo, uint64_t *hi) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    off_t len = lseek(fd, 0, SEEK_END);
    const unsigned char *f =
        len > (off_t)sizeof(Elf64_Ehdr) ? mmap(NULL, (size_t)len, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    close(fd);
    if (f == MAP_FAILED) return -1;
    int rc = -1;
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)f;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_ident[EI_CLASS] == ELFCLASS64 &&
        eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) <= (uint64_t)len &&
        eh->e_shstrndx < eh->e_shnum) {
        const Elf64_Shdr *sh = (const Elf64_Shdr *)(f + eh->e_shoff);
        const Elf64_Shdr *names = &sh[eh->e_shstrndx];
        for (int i = 0; i < eh->e_shnum && names->sh_offset + names->sh_size <= (uint64_t)len; i++) {
            if (sh[i].sh_name >= names->sh_size) continue;
            const char *n = (const char *)f + names->sh_offset + sh[i].sh_name;
            if (strnlen(n, names->sh_size - sh[i].sh_name) < names->sh_size - sh[i].sh_name &&
                strcmp(n, want) == 0) {
                *lo = sh[i].sh_addr;
                *hi = sh[i].sh_addr + sh[i].sh_size;
                rc = 0;
                break;
            }
        }
    }
    munmap((void *)f, (size_t)len);
    return rc;
}

int main(void) {
    const char *f1 = NULL, *f2 = NULL;
    uintptr_t o_ctl = offset_of("ripc_shmctl", &f1);
    uintptr_t o_sem = offset_of("ripc_semop", &f2);
    ok(o_ctl != (uintptr_t)-1 && o_sem != (uintptr_t)-1 && strcmp(f1, f2) == 0,
       "ripc_shmctl and ripc_semop found in one library");
    uint64_t lo = 0, hi = 0;
    ok(f1 && section_range(f1, ".text.ripc_child", &lo, &hi) == 0,
       "libripc has the fork child's section (link/child-path.ld)");
    ok(hi > lo && hi - lo <= 0x10000 && lo % 0x10000 == 0,
       "that section fits one 64 KiB window and starts one (%#llx-%#llx)", (unsigned long long)lo,
       (unsigned long long)hi);
    ok(o_ctl >= lo && o_ctl < hi && o_sem >= lo && o_sem < hi,
       "ripc_shmctl (%#lx) and ripc_semop (%#lx) lie in it", (unsigned long)o_ctl,
       (unsigned long)o_sem);
    uint64_t dlo = 0, dhi = 0;
    int found = f1 && section_range(f1, ".data.ripc_fork", &dlo, &dhi) == 0;
    ok(found && dhi > dlo && dlo % 0x1000 == 0 && dhi - dlo <= 0x1000,
       "the statics a fork writes lie on one page of their own (%#llx-%#llx)",
       (unsigned long long)dlo, (unsigned long long)dhi);

    int id = shmget(IPC_PRIVATE, 1 << 20, IPC_CREAT | 0600);
    int sem = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    ok(id >= 0 && sem >= 0, "segment and set created");
    char *p = shmat(id, NULL, 0);
    ok(p != (void *)-1, "attached");
    struct sembuf v = {0, 1, 0};
    ok(semop(sem, &v, 1) == 0, "semaphore released once");
    int fails = 0;
    for (int i = 0; i < 50; i++) {
        pid_t k = fork();
        if (k == 0) {
            struct shmid_ds ds;
            struct sembuf pop = {0, -1, SEM_UNDO}, vop = {0, 1, SEM_UNDO};
            if (shmctl(id, IPC_STAT, &ds) != 0 || ds.shm_nattch != 2) _exit(2);
            if (semop(sem, &pop, 1) != 0 || semop(sem, &vop, 1) != 0) _exit(3);
            p[i] = 1;
            _exit(0);
        }
        int st = 0;
        if (k < 0 || waitpid(k, &st, 0) != k || !WIFEXITED(st) || WEXITSTATUS(st) != 0) fails++;
    }
    ok_eq(fails, 0, "50 fork children: each sees its inherited attachment counted and takes the lock");
    struct shmid_ds ds;
    ok(shmctl(id, IPC_STAT, &ds) == 0 && ds.shm_nattch == 1, "the children's attachments are gone");
    ok(shmdt(p) == 0 && shmctl(id, IPC_RMID, NULL) == 0 && semctl(sem, 0, IPC_RMID) == 0,
       "cleaned up");
    return done_testing();
}
