/* A slower disk for measurements: preloaded into a process (LD_PRELOAD), it makes every
 * fsync and fdatasync wait SLOW_FSYNC_US microseconds before doing the real one, as on a
 * cloud block volume where a durable write costs milliseconds. Nothing else changes: the
 * data is still synced, and the caller blocks in the system call as it would on that disk. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>

static long delay_us(void) {
    static long cached = -1;
    if (cached < 0) {
        const char *value = getenv("SLOW_FSYNC_US");
        cached = value ? atol(value) : 0;
    }
    return cached;
}

static void wait_like_a_slow_disk(void) {
    long us = delay_us();
    struct timespec left = {us / 1000000, (us % 1000000) * 1000};
    while (us > 0 && nanosleep(&left, &left) == -1 && errno == EINTR) {
    }
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    wait_like_a_slow_disk();
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    wait_like_a_slow_disk();
    return real(fd);
}
