/* boost_mq.h — Boost.Interprocess `message_queue` behind a C interface, for
 * bench/matrix.c. bench/boost_mq.cpp (built with a C++ compiler, only when
 * the Boost headers are installed) implements it; no exception crosses it. */
#ifndef RIPC_BENCH_BOOST_MQ_H
#define RIPC_BENCH_BOOST_MQ_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
/* Creates the queue `name` (removing a stale one first): NULL on failure. */
void *bmq_create(const char *name, size_t max_msgs, size_t max_size);
/* Blocking send / receive: 0 / the message's length, -1 on failure. */
int bmq_send(void *q, const void *buf, size_t n);
long bmq_receive(void *q, void *buf, size_t cap);
/* Drops this process's handle and removes the name. */
void bmq_destroy(void *q, const char *name);
#ifdef __cplusplus
}
#endif
#endif
