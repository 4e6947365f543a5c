// Makes libzmq (Debian's libzmq3-dev) visible to Swift.
// eventfd is not exported by Swift's Glibc module on Linux; the socket loop wakes its
// zmq_poll with an eventfd, so it is included here (NIO's CNIOLinux.h does the same).
#include <zmq.h>
#include <sys/eventfd.h>
