// SPDX-License-Identifier: BSL-1.0
/* scripts/line_probe.c — how long one cache line takes to go to another CPU and back.
 *
 * Every queue workload in which the threads share counters or slots pays for moving cache lines
 * between CPUs; on one machine a round trip is ~100 ns, on another (a VM whose vCPUs sit on
 * different dies) ~500 ns, and that alone can reorder designs in the mixed-role workloads
 * (queue_pairwise, queue_5050). scripts/bench runs this before the benchmarks and keeps the
 * result in machine.json ("cache_line_round_trip"); summary.md quotes it beside the machine.
 *
 * Two threads pinned to CPUs a and b hand one counter, alone on its line, back and forth: a waits
 * for an even value and stores it + 1, b waits for odd and stores + 1. A round trip is two such
 * handoffs. Pairs: the first allowed CPU with the second, the middle and the last allowed CPU
 * (on a multi-socket or multi-die machine these usually differ). Per pair: a warm-up, then the
 * median of 5 samples of 100000 round trips (or the count given).
 * A sample's time includes starting its two threads (tens of us: noise at the default count). Both threads spin, so run it on a quiet machine.
 *
 *   cc -O2 -pthread scripts/line_probe.c -o line_probe && ./line_probe
 *   {"round_trip_ns": [{"cpus": [0, 1], "ns": 478.2}], "samples": 5, "round_trips": 100000}
 *
 *   ./line_probe 500                           # 500 round trips per sample (tests: fast)
 *
 * A waiting thread yields every 4096 spins, so a loaded machine (the other thread descheduled)
 * slows the probe down instead of stalling it. With one allowed CPU it prints an empty list.
 * Exit status 0; 1 if a thread cannot be pinned or created; 2 for a bad argument (each prints
 * {"error": "..."}).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { kDefaultRoundTrips = 100000, kSamples = 5, kSpinsPerYield = 4096 };

/* The handed-off counter, alone on its line (128: also clear of an adjacent-line prefetcher). */
static alignas(128) _Atomic long g_turn;
static alignas(128) char g_pad[128];

struct player {
  int cpu;
  long parity; /* 0: waits for even values, 1: for odd */
  long handoffs;
  int pinned;
};

static void* play(void* arg) {
  struct player* p = arg;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(p->cpu, &set);
  p->pinned = pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
  for (long i = 0; i < p->handoffs; ++i) {
    long v;
    unsigned spins = 0;
    /* relaxed: a spin on one word; the handoff carries no other data. */
    while (((v = atomic_load_explicit(&g_turn, memory_order_relaxed)) & 1) != p->parity) {
      if (++spins % kSpinsPerYield == 0) sched_yield();
    }
    atomic_store_explicit(&g_turn, v + 1, memory_order_relaxed);
  }
  return NULL;
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ns per round trip for `trips` round trips between CPUs a and b; < 0 on failure. */
static double sample(int a, int b, long trips) {
  struct player pa = {a, 0, trips, 0}, pb = {b, 1, trips, 0};
  pthread_t ta, tb;
  atomic_store(&g_turn, 0);
  const double t0 = now_ns();
  if (pthread_create(&ta, NULL, play, &pa) != 0) return -1;
  if (pthread_create(&tb, NULL, play, &pb) != 0) {
    /* ta cannot finish alone; the process exits with the error below. */
    return -1;
  }
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  const double t1 = now_ns();
  if (!pa.pinned || !pb.pinned) return -2;
  return (t1 - t0) / (double)trips;
}

static int cmp_double(const void* x, const void* y) {
  const double a = *(const double*)x, b = *(const double*)y;
  return (a > b) - (a < b);
}

int main(int argc, char** argv) {
  (void)g_pad;
  long trips = kDefaultRoundTrips;
  if (argc > 1) {
    char* end = NULL;
    trips = strtol(argv[1], &end, 10);
    if (argc > 2 || *argv[1] == '\0' || *end != '\0' || trips < 1 || trips > 100000000) {
      printf("{\"error\": \"round trips must be an integer in 1..100000000, got '%s'\"}\n",
             argc > 2 ? argv[2] : argv[1]);
      return 2;
    }
  }
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) {
    printf("{\"error\": \"sched_getaffinity failed\"}\n");
    return 1;
  }
  int cpus[CPU_SETSIZE], n = 0;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &allowed)) cpus[n++] = c;
  int partners[3], np = 0;
  const int want[3] = {1, n / 2, n - 1};
  for (int i = 0; i < 3 && n >= 2; ++i) {
    const int k = want[i] < 1 ? 1 : want[i];
    int dup = 0;
    for (int j = 0; j < np; ++j) dup |= partners[j] == cpus[k];
    if (!dup) partners[np++] = cpus[k];
  }
  printf("{\"round_trip_ns\": [");
  for (int i = 0; i < np; ++i) {
    double s[kSamples];
    if (sample(cpus[0], partners[i], trips / 10 + 1) < 0) { /* warm-up */
      printf("], \"error\": \"cannot run or pin two threads on CPUs %d and %d\"}\n", cpus[0],
             partners[i]);
      return 1;
    }
    for (int k = 0; k < kSamples; ++k) s[k] = sample(cpus[0], partners[i], trips);
    qsort(s, kSamples, sizeof s[0], cmp_double);
    printf("%s{\"cpus\": [%d, %d], \"ns\": %.1f}", i ? ", " : "", cpus[0], partners[i],
           s[kSamples / 2]);
  }
  printf("], \"samples\": %d, \"round_trips\": %ld}\n", kSamples, trips);
  return 0;
}
