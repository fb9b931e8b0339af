// SPDX-License-Identifier: BSL-1.0
// tests/model/model_epilogue.hpp — include after the lfkit structure headers (see model_prelude.hpp):
// ends the redirection macros, includes Relacy and the adapter, defines the redirected steps.
#ifndef LFKIT_TESTS_MODEL_EPILOGUE_HPP
#define LFKIT_TESTS_MODEL_EPILOGUE_HPP

#undef atomic_thread_fence
#undef cpu_relax
#undef sched_yield
#undef asymmetric_light_fence
#undef asymmetric_heavy_fence

#include "relacy_adapter.hpp"

namespace lfkit::model::shim {
inline void fence(std::memory_order o) noexcept { rl::atomic_thread_fence(to_rl(o), RL_INFO); }
inline void pause() noexcept { rl::yield(1, RL_INFO); }
inline int yield() noexcept {
  rl::yield(1, RL_INFO);
  return 0;
}
inline void seq_cst_fence() noexcept { rl::atomic_thread_fence(rl::mo_seq_cst, RL_INFO); }
}  // namespace lfkit::model::shim

#endif  // LFKIT_TESTS_MODEL_EPILOGUE_HPP
