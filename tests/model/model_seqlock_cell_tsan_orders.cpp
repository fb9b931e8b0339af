// SPDX-License-Identifier: BSL-1.0
// tests/model/model_seqlock_cell_tsan_orders.cpp — the seqlock scenarios again, with the ordering
// a ThreadSanitizer build uses (LFKIT_TSAN: release data stores and acquire data loads instead of
// the two fences), so that variant of the protocol is model-checked too.
#define LFKIT_TSAN 1
#include "model_seqlock_cell.cpp"
