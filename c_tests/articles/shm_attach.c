/* Seed 002 (shared memory, shmat), exactly as printed: see shm_src/shmat.c.
 * The printed programs live unchanged in shm_src/ so that their
 * "common.h" does not collide with other articles' headers. */
#include "shm_src/shmat.c"
