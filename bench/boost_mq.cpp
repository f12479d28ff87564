// boost_mq.cpp — the Boost.Interprocess column of bench/matrix.c: its
// `message_queue` (a mutex and two condition variables in shared memory,
// priorities, fixed-size slots) behind the C interface of boost_mq.h.
// Built with g++ by `make bench` when libboost-dev is installed.
#include "boost_mq.h"

#include <boost/interprocess/ipc/message_queue.hpp>

namespace bip = boost::interprocess;

extern "C" void *bmq_create(const char *name, size_t max_msgs, size_t max_size) {
    try {
        bip::message_queue::remove(name);
        return new bip::message_queue(bip::create_only, name, max_msgs, max_size);
    } catch (...) {
        return nullptr;
    }
}

extern "C" int bmq_send(void *q, const void *buf, size_t n) {
    try {
        static_cast<bip::message_queue *>(q)->send(buf, n, 0);
        return 0;
    } catch (...) {
        return -1;
    }
}

extern "C" long bmq_receive(void *q, void *buf, size_t cap) {
    try {
        bip::message_queue::size_type got = 0;
        unsigned int prio = 0;
        static_cast<bip::message_queue *>(q)->receive(buf, cap, got, prio);
        return static_cast<long>(got);
    } catch (...) {
        return -1;
    }
}

extern "C" void bmq_destroy(void *q, const char *name) {
    try {
        delete static_cast<bip::message_queue *>(q);
        bip::message_queue::remove(name);
    } catch (...) {
    }
}
