// SPDX-License-Identifier: BSL-1.0
// See ck_ring_peer.h. Values travel as pointer-sized integers (ck_ring's MPMC ring holds void*).
#include "ck_ring_peer.h"

#include <ck_ring.h>
#include <stdlib.h>

struct lfkit_ck_ring {
  ck_ring_t ring;  // its head and tail are padded to CK_MD_CACHELINE inside ck_ring_t
  ck_ring_buffer_t* buffer;
};

struct lfkit_ck_ring* lfkit_ck_ring_create(unsigned capacity) {
  unsigned size = 2;
  while (size - 1 < capacity) size *= 2;
  struct lfkit_ck_ring* r = aligned_alloc(128, (sizeof *r + 127) / 128 * 128);
  if (r == NULL) return NULL;
  r->buffer = aligned_alloc(128, ((size_t)size * sizeof(ck_ring_buffer_t) + 127) / 128 * 128);
  if (r->buffer == NULL) {
    free(r);
    return NULL;
  }
  ck_ring_init(&r->ring, size);
  return r;
}

void lfkit_ck_ring_destroy(struct lfkit_ck_ring* r) {
  if (r == NULL) return;
  free(r->buffer);
  free(r);
}

bool lfkit_ck_ring_push(struct lfkit_ck_ring* r, uint64_t v) {
  return ck_ring_enqueue_mpmc(&r->ring, r->buffer, (const void*)(uintptr_t)v);
}

bool lfkit_ck_ring_pop(struct lfkit_ck_ring* r, uint64_t* v) {
  void* p = NULL;
  if (!ck_ring_dequeue_mpmc(&r->ring, r->buffer, &p)) return false;
  *v = (uint64_t)(uintptr_t)p;
  return true;
}
