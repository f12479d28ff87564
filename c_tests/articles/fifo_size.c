/* Seed 002, 1.6 "写入管道的数据是在内存中还是磁盘中?": write into a FIFO
 * forever without reading; the FIFO file's size stays 0. As printed. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
int main()    
{    
  umask(0);    
  // 1、创建命名管道 - “fifo”    
  if(mkfifo("fifo", 0664) == -1)    
  {    
    perror("mkfifo error\n");    
    return 1;    
  }    
  // 2、打开管道    
  int fd = open("fifo", O_WRONLY);    
  open("fifo", O_RDONLY);    
  // 3、一直给管道写入数据,但是不读取    
  const char* str = "hello Linux";    
  while(1)    
  {    
    write(fd, str, strlen(str));    
  }    
  return 0;    
} 
