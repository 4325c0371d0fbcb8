/* The round trip of one cache line between two CPUs: one thread on each, pinned, passing a counter back and
 * forth through a shared atomic. Prints the median round trip in nanoseconds over blocks of 1,000.
 *
 *     cc -O2 -pthread pingpong.c -o pingpong && ./pingpong 0.3 0 1     # seconds, first CPU, second CPU
 *
 * Two CPUs that share a last-level cache pass a line in tens of nanoseconds; CPUs on different dies (AMD's
 * CCDs, or sockets) take several times longer. bench_placement.py compiles and runs it. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static _Atomic long flag __attribute__((aligned(128)));
static _Atomic int stop;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *answer(void *cpu) {
    if (pin(*(int *)cpu)) {
        fprintf(stderr, "cannot run on CPU %d\n", *(int *)cpu);
        exit(2);
    }
    for (long expected = 1; !atomic_load(&stop); expected += 2) {
        while (atomic_load(&flag) != expected)
            if (atomic_load(&stop)) return NULL;
        atomic_store(&flag, expected + 1);
    }
    return NULL;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: pingpong SECONDS CPU CPU\n");
        return 2;
    }
    double seconds = atof(argv[1]);
    int first = atoi(argv[2]), second = atoi(argv[3]);
    if (pin(first)) {
        fprintf(stderr, "cannot run on CPU %d\n", first);
        return 2;
    }
    pthread_t other;
    pthread_create(&other, NULL, answer, &second);
    static double blocks[1 << 20];
    int count = 0;
    long value = 0;
    for (double end = now() + seconds; now() < end && count < (1 << 20);) {
        double started = now();
        for (int i = 0; i < 1000; i++, value += 2) {
            atomic_store(&flag, value + 1);
            while (atomic_load(&flag) != value + 2) {
            }
        }
        blocks[count++] = (now() - started) / 1000 * 1e9;
    }
    atomic_store(&stop, 1);
    pthread_join(other, NULL);
    qsort(blocks, count, sizeof blocks[0], by_value);
    printf("%.0f\n", blocks[count / 2]);
    return 0;
}
