// SPDX-License-Identifier: BSL-1.0
// tests/model/model_prelude.hpp — include this first in a model test, then the lfkit structure
// headers, then "model_epilogue.hpp" (which includes Relacy and the adapter).
//
// The structures send every fence, spin hint, yield, sleep and wake through
// lfkit::atomic_hooks<Atom>. Where a structure still calls std::atomic_thread_fence,
// detail::cpu_relax, sched_yield or the asymmetric fence pair directly, the macros below redirect
// that call (in the structure headers included after this one only) to the same step in the model,
// so Relacy sees it: a direct fence that Relacy did not see would otherwise make a correct protocol
// look broken. They expand to nothing new once the structures go through the hooks.
#ifndef LFKIT_TESTS_MODEL_PRELUDE_HPP
#define LFKIT_TESTS_MODEL_PRELUDE_HPP

#include <sched.h>

#include <atomic>
#include <thread>

#include "lfkit/detail/atomic_hooks.hpp"
#include "lfkit/detail/backoff.hpp"
#include "lfkit/detail/platform.hpp"

namespace lfkit::model::shim {
void fence(std::memory_order o) noexcept;
void pause() noexcept;
int yield() noexcept;  // as sched_yield
void seq_cst_fence() noexcept;
}  // namespace lfkit::model::shim

#define atomic_thread_fence(o) atomic_signal_fence(o), ::lfkit::model::shim::fence(o)
#define cpu_relax() cpu_relax(), ::lfkit::model::shim::pause()
#define sched_yield() ::lfkit::model::shim::yield()
#define asymmetric_light_fence() asymmetric_light_fence(), ::lfkit::model::shim::seq_cst_fence()
#define asymmetric_heavy_fence() asymmetric_heavy_fence(), ::lfkit::model::shim::seq_cst_fence()

#endif  // LFKIT_TESTS_MODEL_PRELUDE_HPP
