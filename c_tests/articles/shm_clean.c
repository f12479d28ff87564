/* Seed 002 (shared memory, clean), exactly as printed: see shm_src/clean.c.
 * The printed programs live unchanged in shm_src/ so that their
 * "common.h" does not collide with other articles' headers. */
#include "shm_src/clean.c"
