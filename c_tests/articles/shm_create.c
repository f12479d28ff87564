/* Seed 002 (shared memory, shmget), exactly as printed: see shm_src/shmget.c.
 * The printed programs live unchanged in shm_src/ so that their
 * "common.h" does not collide with other articles' headers. */
#include "shm_src/shmget.c"
