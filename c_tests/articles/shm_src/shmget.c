#include <stdio.h>    
#include <sys/types.h>    
#include <sys/ipc.h>    
#include <sys/shm.h>    
#define PATH "/home/ljj/Linux_code/test_2022_2_15/System_V_IPC/shm"// 任意已存在的路径    
#define PROJ_ID 3// 任意数字    
#define SIZE 4096// 共享内存大小
int main()    
{    
  // 1、ftok获得唯一的key键值    
  key_t key = ftok(PATH, PROJ_ID);    
  if(key == -1)    
  {    
    perror("ftok error\n");    
  }    
  else    
  {    
    printf("key:%d\n", key);                                                                                          
  }    
  // 2、shmget申请共享一块全新的共享内存    
  int shmid = shmget(key, SIZE, 0664|IPC_CREAT|IPC_EXCL);    
  if(shmid == -1)    
  {   
    perror("shmget error\n");
  }
  else 
  {
    printf("shmid:%d\n", shmid);
  }
  return 0;
}      
