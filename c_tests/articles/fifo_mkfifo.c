/* Seed 002, 1.5 "命名管道的创建 — mkfifo", method 2: create "fifo" in the
 * current directory with mode 0664. As printed. */
#include <stdio.h>
#include <sys/types.h>
#include <sys/stat.h>
int main()    
{    
  umask(0);    
  int ret = mkfifo("fifo", 0664);    
  if(ret == -1)    
  {    
    perror("mkfifo error");    
    return 1;    
  }    
  printf("ret = %d\n", ret);                                                                                          
  return 0;    
}  
