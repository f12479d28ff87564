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
  // 2、shmget得到已存在共享内存对象的标识符ID
  int shmid = shmget(key, SIZE, 0);
  if(shmid == -1)
  {
    perror("shmget error\n");
  }
  // 3、shmat把进程和共享内存挂接 
  printf("attach begin\n");
  sleep(10);
  void* shmaddr = shmat(shmid, NULL, 0);
  if(shmaddr == (void*)-1)
  {
    perror("shmat error\n");
  }
  // do something about IPC
  sleep(5);
  printf("attach end\n");
  return 0;
}     
