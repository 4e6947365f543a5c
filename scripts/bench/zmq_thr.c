/*
 * libzmq's own PUSH/PULL throughput, the reference for `thaw bench transport`.
 * Mirrors libzmq's perf/local_thr.c and perf/remote_thr.c in one program:
 *
 *   zmq_thr local  <bind-endpoint>    <size> <count>   PULL: receive, print one JSON line
 *   zmq_thr remote <connect-endpoint> <size> <count>   PUSH: send
 *
 * As in local_thr.c, the clock starts at the first message and stops at the last, so process
 * start-up and connection set-up are not measured. Built by `thaw bench transport` with
 * `cc -O2 -o <out> zmq_thr.c -lzmq -ldl`.
 *
 * remote keeps its connection open until its stdin closes (the benchmark closes it once local has every
 * message): over ipc, a PULL that is still behind can lose what it has not read when the PUSH peer
 * disconnects. With scripts/bench/malloc_count.c preloaded, both sides add the process's heap
 * allocations during their loop to the JSON line ("allocations"), as Thaw's peers do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <dlfcn.h>
#include <zmq.h>

/* The preloaded allocation counter, or NULL when malloc_count.so is not preloaded. */
typedef unsigned long long (*counter_fn)(void);
static counter_fn allocation_counter(void) {
    return (counter_fn)dlsym(RTLD_DEFAULT, "thaw_malloc_count");
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *what) {
    fprintf(stderr, "zmq_thr: %s: %s\n", what, zmq_strerror(zmq_errno()));
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: zmq_thr local|remote <endpoint> <size> <count>\n");
        return 64;
    }
    const int local = strcmp(argv[1], "local") == 0;
    const char *endpoint = argv[2];
    const size_t size = (size_t)atol(argv[3]);
    const long count = atol(argv[4]);

    void *context = zmq_ctx_new();
    void *socket = zmq_socket(context, local ? ZMQ_PULL : ZMQ_PUSH);
    if (!socket) return fail("zmq_socket");
    zmq_msg_t message;
    if (local) {
        int timeout = 30000;
        zmq_setsockopt(socket, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
        if (zmq_bind(socket, endpoint) != 0) return fail("zmq_bind");
        char resolved[256];
        size_t length = sizeof resolved;
        zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, resolved, &length);
        printf("{\"endpoint\":\"%s\"}\n", resolved);
        fflush(NULL);
        zmq_msg_init(&message);
        if (zmq_msg_recv(&message, socket, 0) < 0) return fail("zmq_msg_recv");
        const counter_fn counter = allocation_counter();
        const unsigned long long before = counter ? counter() : 0;
        const double start = now_seconds();
        for (long i = 1; i < count; i++) {
            if (zmq_msg_recv(&message, socket, 0) < 0) return fail("zmq_msg_recv");
            if (zmq_msg_size(&message) != size) {
                fprintf(stderr, "zmq_thr: wrong message size\n");
                return 1;
            }
        }
        const double elapsed = now_seconds() - start;
        const unsigned long long allocations = counter ? counter() - before : 0;
        zmq_msg_close(&message);
        if (counter)
            printf("{\"messages\":%ld,\"seconds\":%.9f,\"allocations\":%llu}\n", count, elapsed, allocations);
        else
            printf("{\"messages\":%ld,\"seconds\":%.9f}\n", count, elapsed);
    } else {
        int linger = 30000;
        zmq_setsockopt(socket, ZMQ_LINGER, &linger, sizeof linger);
        if (zmq_connect(socket, endpoint) != 0) return fail("zmq_connect");
        const counter_fn counter = allocation_counter();
        const unsigned long long before = counter ? counter() : 0;
        for (long i = 0; i < count; i++) {
            /* remote_thr.c sends a fresh zmq_msg_init_size message each time. */
            if (zmq_msg_init_size(&message, size) != 0) return fail("zmq_msg_init_size");
            if (zmq_msg_send(&message, socket, 0) < 0) return fail("zmq_msg_send");
        }
        if (counter) {
            printf("{\"messages\":%ld,\"allocations\":%llu}\n", count, counter() - before);
            fflush(NULL);
        }
        /* Stay connected until the benchmark says local has everything (stdin closed). */
        while (getchar() != EOF) {}
    }
    zmq_close(socket);
    zmq_ctx_term(context);
    return 0;
}
