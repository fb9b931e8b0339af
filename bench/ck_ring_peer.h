// SPDX-License-Identifier: BSL-1.0
// ConcurrencyKit's ck_ring MPMC (Debian libck-dev) behind three C functions, for the C++ benchmark.
// ck_ring.h is C only (it returns `false` from a void* function, which C++ rejects), so the ring
// lives in ck_ring_peer.c; bench_mpmc_queue is built with -flto -O3 on both sides (CMake
// INTERPROCEDURAL_OPTIMIZATION), so these calls inline as they would in a C program.
#ifndef LFKIT_BENCH_CK_RING_PEER_H
#define LFKIT_BENCH_CK_RING_PEER_H
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct lfkit_ck_ring;
/// A ring holding at least `capacity` values: ck_ring's size is a power of two and a ring of size
/// n holds n-1, so the size is the smallest power of two above `capacity` (2048 for 1024).
/// Returns NULL if memory runs out.
struct lfkit_ck_ring* lfkit_ck_ring_create(unsigned capacity);
void lfkit_ck_ring_destroy(struct lfkit_ck_ring* r);
/// ck_ring_enqueue_mpmc: false when full.
bool lfkit_ck_ring_push(struct lfkit_ck_ring* r, uint64_t v);
/// ck_ring_dequeue_mpmc: false when empty.
bool lfkit_ck_ring_pop(struct lfkit_ck_ring* r, uint64_t* v);

#ifdef __cplusplus
}
#endif
#endif
