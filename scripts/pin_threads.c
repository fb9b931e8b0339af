// SPDX-License-Identifier: BSL-1.0
/* scripts/pin_threads.c — LD_PRELOAD shim used by `scripts/bench --pin`.
 *
 * Pins every thread of a benchmark process to ONE CPU, without changing the benchmark binaries:
 *  - the main thread (Google Benchmark's thread 0) to the first CPU the process may use;
 *  - each thread created with pthread_create to the allowed CPU that currently has the fewest live
 *    pinned threads (lowest CPU number on ties), chosen in the creating thread so that the mapping
 *    is deterministic: with N CPUs, a benchmark's threads 0..N-1 get distinct CPUs, and beyond N
 *    (oversubscription) threads share CPUs evenly and are never migrated.
 * "Allowed CPUs" is the affinity mask the process starts with, so `taskset -c LIST` (scripts/bench
 * --cpus LIST) chooses the CPUs. This removes migrations; it does not reserve the CPUs: other
 * processes, interrupts and (in a VM) the host's scheduling of vCPUs still interfere.
 * LFKIT_PIN_VERBOSE=1 prints each assignment on stderr.
 * Built by scripts/bench: cc -O2 -shared -fPIC pin_threads.c -o lfkit_pin_threads.so -ldl -pthread
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef int (*create_fn)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);

static create_fn real_create;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int ncpu;
static int cpus[CPU_SETSIZE];
static int live[CPU_SETSIZE];
static int verbose;

static void pin_self(int cpu) {
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(cpu, &s);
  pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}

__attribute__((constructor)) static void pin_init(void) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) == 0)
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &allowed)) cpus[ncpu++] = c;
  verbose = getenv("LFKIT_PIN_VERBOSE") != NULL;
  real_create = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
  if (ncpu > 0) {
    live[0] = 1;
    pin_self(cpus[0]);
    if (verbose)
      fprintf(stderr, "pin_threads: main thread -> cpu %d (%d cpus allowed)\n", cpus[0], ncpu);
  }
}

struct start_args {
  void* (*fn)(void*);
  void* arg;
  int slot;
};

static void release_slot(void* p) {
  int slot = (int)(intptr_t)p;
  pthread_mutex_lock(&mu);
  --live[slot];
  pthread_mutex_unlock(&mu);
}

static void* start(void* p) {
  struct start_args a = *(struct start_args*)p;
  free(p);
  pin_self(cpus[a.slot]);
  void* r;
  pthread_cleanup_push(release_slot, (void*)(intptr_t)a.slot);
  r = a.fn(a.arg);
  pthread_cleanup_pop(1);
  return r;
}

int pthread_create(pthread_t* t, const pthread_attr_t* attr, void* (*fn)(void*), void* arg) {
  if (!real_create) real_create = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
  if (ncpu == 0) return real_create(t, attr, fn, arg);
  struct start_args* a = malloc(sizeof *a);
  if (!a) return real_create(t, attr, fn, arg);
  pthread_mutex_lock(&mu);
  int best = 0;
  for (int i = 1; i < ncpu; ++i)
    if (live[i] < live[best]) best = i;
  ++live[best];
  pthread_mutex_unlock(&mu);
  a->fn = fn;
  a->arg = arg;
  a->slot = best;
  if (verbose) fprintf(stderr, "pin_threads: new thread -> cpu %d\n", cpus[best]);
  int rc = real_create(t, attr, start, a);
  if (rc != 0) {
    release_slot((void*)(intptr_t)best);
    free(a);
  }
  return rc;
}
