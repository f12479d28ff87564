/* Seed 002, 1.5 "命名管道的使用": common.h of the FIFO chat (renamed
 * fifo_common.h here so it cannot clash with other articles' common.h). */
#include <stdio.h>
#include <unistd.h>
#include <string.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <fcntl.h>
#define PIPE_NAME "fifo"   
