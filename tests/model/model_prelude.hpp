// SPDX-License-Identifier: BSL-1.0
// tests/model/model_prelude.hpp — include this first in a model test, then the lfkit structure
// headers, then "model_epilogue.hpp" (which includes Relacy and the adapter).
//
// Relacy defines macros (memory_order_*, new, delete, malloc) that break the standard library
// and lfkit's headers, so those are included before Relacy. The structures send every fence, spin
// hint, yield, sleep and wake through lfkit::atomic_hooks<Atom>, which the adapter specialises for
// relacy_atomic: nothing in a structure header has to be redirected.
#ifndef LFKIT_TESTS_MODEL_PRELUDE_HPP
#define LFKIT_TESTS_MODEL_PRELUDE_HPP

#include <atomic>
#include <thread>

#include "lfkit/detail/atomic_hooks.hpp"
#include "lfkit/detail/backoff.hpp"
#include "lfkit/detail/platform.hpp"

#endif  // LFKIT_TESTS_MODEL_PRELUDE_HPP
