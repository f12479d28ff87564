/* Seed 002, 1.4 "匿名管道的使用": the child writes "hello Linux" ten times
 * into a pipe (one per second), the parent reads and prints until end of
 * file. As printed, except one missing '{' after `else if(len == 0)`
 * (the printed text does not compile without it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/wait.h>
int main()
{
  int fd[2] = {0};
  // 1、创建管道
  if(pipe(fd) == -1)
  {
    perror("pipe error\n");
    return 1;
  }
  //2、fork创建子进程
  pid_t id = fork();
  if(id == 0)// child -> write
  {
    close(fd[0]);
    const char* str = "hello Linux";
    size_t i = 0;
  for(i = 0; i < 10; ++i)
    {
      write(fd[1], str, strlen(str));
      sleep(1);
    }
    close(fd[1]);
  }
  else if(id > 0)// father -> read 
  {
    close(fd[1]);
    char buf[64] = {0};
    while(1)
    {
      ssize_t len = read(fd[0], buf, sizeof(buf) - 1);
      if(len > 0)                                                                                                     
      {
        buf[len] = 0;// 要按照C语言字符串的格式输出,最后一个位置置为0
        printf("recevie:%s\n", buf);
      }
      else if(len == 0)
      {
        printf("********** read end **********\n");
        break;
      }
      else 
      {
        perror("read error\n");
        break;
      }
    }
    close(fd[0]);
  }
  else 
  {
    perror("fork error/n");
    return 2;
  }
  return 0;
}      
