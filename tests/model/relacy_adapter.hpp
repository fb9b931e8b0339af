// SPDX-License-Identifier: BSL-1.0
// tests/model/relacy_adapter.hpp — runs lfkit structures under the Relacy model checker.
//
// Include order (each model test): lfkit headers (through tests/model/model_prelude.hpp), then this
// header. It includes relacy/relacy.hpp (which must come after every standard header the structures
// use: it defines `new`, `delete`, `malloc`, `free` and the six `memory_order_*` names as macros),
// removes those macros again, and defines:
//
//   lfkit::model::relacy_atomic<T>   the atomic policy: wraps rl::atomic<T>, maps std::memory_order
//                                    to rl::memory_order, passes the caller's location (for Relacy's
//                                    history) as the debug info; wait/notify_* are modelled too.
//   lfkit::atomic_hooks<relacy_atomic>  fences as Relacy fences (the asymmetric light/heavy pair as
//                                    seq_cst fences), pause/yield as rl::yield (so a spin loop is a
//                                    yield, and an endless one a Relacy livelock), wait() as a park
//                                    on the word's Relacy futex wait set ("sleep until woken"; an
//                                    untimed wait never returns spuriously, so a lost wake-up is a
//                                    Relacy DEADLOCK), wake_one/wake_all as unparks.
//   lfkit::model::run<Test>(name, params)  runs one rl::test_suite and returns Relacy's verdict.
//
// Relacy runs every test thread as a fiber of one OS thread: thread_local data, pthread keys and the
// rseq CPU number are shared by all of them. atomic_hooks<relacy_atomic>::model_checked is true and
// model_thread_index() gives the Relacy thread's index, for structures that need a per-thread path.
#ifndef LFKIT_TESTS_MODEL_RELACY_ADAPTER_HPP
#define LFKIT_TESTS_MODEL_RELACY_ADAPTER_HPP

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <source_location>
#include <string>
#include <type_traits>

#include "lfkit/detail/atomic_hooks.hpp"
#include "lfkit/detail/deadline.hpp"

#include <relacy/relacy.hpp>

#undef memory_order_relaxed
#undef memory_order_consume
#undef memory_order_acquire
#undef memory_order_release
#undef memory_order_acq_rel
#undef memory_order_seq_cst
#undef new
#undef delete
#undef malloc
#undef free

namespace lfkit::model {

/// std::memory_order -> Relacy's order.
constexpr rl::memory_order to_rl(std::memory_order o) noexcept {
  switch (o) {
    case std::memory_order_relaxed: return rl::mo_relaxed;
    case std::memory_order_consume: return rl::mo_consume;
    case std::memory_order_acquire: return rl::mo_acquire;
    case std::memory_order_release: return rl::mo_release;
    case std::memory_order_acq_rel: return rl::mo_acq_rel;
    case std::memory_order_seq_cst: return rl::mo_seq_cst;
  }
  return rl::mo_seq_cst;
}

/// The failure order std::atomic derives for the one-order compare_exchange.
constexpr std::memory_order failure_order(std::memory_order o) noexcept {
  if (o == std::memory_order_acq_rel) return std::memory_order_acquire;
  if (o == std::memory_order_release) return std::memory_order_relaxed;
  return o;
}

/// Relacy accepts only a failure order no stronger than the success order (the C++11 rule; in a
/// release build it silently runs such a failure as the success order). C++17 allows a stronger
/// failure order: it is run as the strongest one Relacy accepts, plus, on failure, a fence of the
/// asked order (slightly stronger than an ordered load: it also orders this thread's earlier
/// relaxed loads).
constexpr std::memory_order failure_within(std::memory_order s, std::memory_order f) noexcept {
  const bool acq = s == std::memory_order_acquire || s == std::memory_order_acq_rel ||
                   s == std::memory_order_seq_cst;
  if (f == std::memory_order_seq_cst && s != std::memory_order_seq_cst)
    return acq ? std::memory_order_acquire : std::memory_order_relaxed;
  if (f == std::memory_order_acquire && !acq) return std::memory_order_relaxed;
  return f;
}

using where = std::source_location;

/// Relacy's debug info for a caller's location (shown in Relacy's execution history).
inline rl::debug_info info(const where& w) noexcept {
  return rl::debug_info(w.function_name(), w.file_name(), w.line());
}

template <class T>
class relacy_atomic;

/// Parks the current Relacy thread on `a` if it still holds `expected` (checked with preemption
/// disabled, after a seq_cst fence: the futex's own check). Untimed: never wakes spuriously, so a
/// missing wake is a deadlock. Timed: Relacy may also time it out.
template <class T>
void park_if(rl::atomic<T>& a, T expected, bool timed, const where& w) {
  rl::context& c = rl::ctx();
  c.sched();
  c.atomic_thread_fence_seq_cst();
  T v;
  {
    rl::preemption_disabler pd(c);
    v = a.load(rl::mo_relaxed, info(w));
  }
  if (v != expected) return;
  (void)a.wait(c, timed, false, info(w));
}

template <class T>
unsigned unpark(rl::atomic<T>& a, unsigned count, const where& w) {
  rl::context& c = rl::ctx();
  c.sched();
  c.atomic_thread_fence_seq_cst();
  return static_cast<unsigned>(a.wake(c, count, info(w)));
}

/// The atomic policy. Same member functions as std::atomic<T> (those lfkit uses), each taking a
/// defaulted std::source_location last so that Relacy's history names the structure's line.
template <class T>
class relacy_atomic {
 public:
  using value_type = T;
  static constexpr bool is_always_lock_free = true;

  relacy_atomic() : a_(T{}) {}
  relacy_atomic(T v) : a_(v) {}  // NOLINT: implicit, as std::atomic's
  relacy_atomic(const relacy_atomic&) = delete;
  relacy_atomic& operator=(const relacy_atomic&) = delete;

  bool is_lock_free() const noexcept { return true; }

  T load(std::memory_order o = std::memory_order_seq_cst, where w = where::current()) const {
    return a_.load(to_rl(o), info(w));
  }
  void store(T v, std::memory_order o = std::memory_order_seq_cst, where w = where::current()) {
    a_.store(v, to_rl(o), info(w));
  }
  T exchange(T v, std::memory_order o = std::memory_order_seq_cst, where w = where::current()) {
    return a_.exchange(v, to_rl(o), info(w));
  }
  bool compare_exchange_strong(T& e, T d, std::memory_order s, std::memory_order f,
                               where w = where::current()) {
    const std::memory_order f2 = failure_within(s, f);
    const bool ok = a_.compare_exchange_strong(e, d, to_rl(s), info(w), to_rl(f2), info(w));
    if (!ok && f2 != f) rl::atomic_thread_fence(to_rl(f), info(w));
    return ok;
  }
  bool compare_exchange_weak(T& e, T d, std::memory_order s, std::memory_order f,
                             where w = where::current()) {
    const std::memory_order f2 = failure_within(s, f);
    const bool ok = a_.compare_exchange_weak(e, d, to_rl(s), info(w), to_rl(f2), info(w));
    if (!ok && f2 != f) rl::atomic_thread_fence(to_rl(f), info(w));
    return ok;
  }
  bool compare_exchange_strong(T& e, T d, std::memory_order o = std::memory_order_seq_cst,
                               where w = where::current()) {
    return compare_exchange_strong(e, d, o, failure_order(o), w);
  }
  bool compare_exchange_weak(T& e, T d, std::memory_order o = std::memory_order_seq_cst,
                             where w = where::current()) {
    return compare_exchange_weak(e, d, o, failure_order(o), w);
  }

  template <class D>
  T fetch_add(D d, std::memory_order o = std::memory_order_seq_cst, where w = where::current())
    requires std::is_integral_v<T>
  {
    return a_.fetch_add(static_cast<T>(d), to_rl(o), info(w));
  }
  template <class D>
  T fetch_sub(D d, std::memory_order o = std::memory_order_seq_cst, where w = where::current())
    requires std::is_integral_v<T>
  {
    return a_.fetch_sub(static_cast<T>(d), to_rl(o), info(w));
  }
  T fetch_or(T d, std::memory_order o = std::memory_order_seq_cst, where w = where::current())
    requires std::is_integral_v<T>
  {
    return a_.fetch_or(d, to_rl(o), info(w));
  }
  T fetch_and(T d, std::memory_order o = std::memory_order_seq_cst, where w = where::current())
    requires std::is_integral_v<T>
  {
    return a_.fetch_and(d, to_rl(o), info(w));
  }
  T fetch_xor(T d, std::memory_order o = std::memory_order_seq_cst, where w = where::current())
    requires std::is_integral_v<T>
  {
    return a_.fetch_xor(d, to_rl(o), info(w));
  }

  /// C++20 atomic wait: sleeps until the value differs from `old` (the portable sleep path).
  void wait(T old, std::memory_order o = std::memory_order_seq_cst,
            where w = where::current()) const {
    while (a_.load(to_rl(o), info(w)) == old) park_if(a_, old, false, w);
  }
  void notify_one(where w = where::current()) { (void)unpark(a_, 1, w); }
  void notify_all(where w = where::current()) { (void)unpark(a_, ~0u >> 1, w); }

  /// The Relacy atomic (for the hooks).
  rl::atomic<T>& raw() const noexcept { return a_; }

 private:
  mutable rl::atomic<T> a_;
};

}  // namespace lfkit::model

/// The hooks under Relacy. See the file comment.
template <>
struct lfkit::atomic_hooks<lfkit::model::relacy_atomic> {
  using where = lfkit::model::where;
  static void thread_fence(std::memory_order o, where w = where::current()) noexcept {
    rl::atomic_thread_fence(lfkit::model::to_rl(o), lfkit::model::info(w));
  }
  // The asymmetric pair: both sides modelled as seq_cst fences (what membarrier provides).
  static void light_fence(where w = where::current()) noexcept {
    rl::atomic_thread_fence(rl::mo_seq_cst, lfkit::model::info(w));
  }
  static void heavy_fence(where w = where::current()) noexcept {
    rl::atomic_thread_fence(rl::mo_seq_cst, lfkit::model::info(w));
  }
  static void prepare_heavy_fence() noexcept {}
  // A spin hint is a yield to Relacy: it deprioritises the spinner, and a spin that never ends
  // exceeds the execution depth limit and is reported as a livelock.
  static void pause(where w = where::current()) noexcept { rl::yield(1, lfkit::model::info(w)); }
  static void yield(where w = where::current()) noexcept { rl::yield(1, lfkit::model::info(w)); }

  static constexpr bool futex_compatible = false;    // not a real futex word
  static constexpr bool wake_is_signal_safe = true;  // models the Linux futex path
  static constexpr bool model_checked = true;
  /// The Relacy thread's index (Relacy threads share one OS thread: no thread_local).
  static unsigned model_thread_index() noexcept { return rl::thread_index(); }

  static void wait(lfkit::model::relacy_atomic<std::uint32_t>& word, std::uint32_t expected,
                   const lfkit::detail::deadline& dl, where w = where::current()) noexcept {
    lfkit::model::park_if(word.raw(), expected, dl.has, w);
  }
  static void wake_one(lfkit::model::relacy_atomic<std::uint32_t>& word,
                       where w = where::current()) noexcept {
    (void)lfkit::model::unpark(word.raw(), 1, w);
  }
  static void wake_all(lfkit::model::relacy_atomic<std::uint32_t>& word,
                       where w = where::current()) noexcept {
    (void)lfkit::model::unpark(word.raw(), ~0u >> 1, w);
  }
};

namespace lfkit::model {

/// Search settings for one test.
struct search {
  rl::scheduler_type_e type = rl::sched_random;
  unsigned long iterations = 20000;  // random scheduler only
  unsigned context_bound = 2;        // context-bound scheduler only
  unsigned depth = 4000;             // execution depth limit (steps) before "livelock"
};

inline const char* scheduler_name(rl::scheduler_type_e t) {
  return t == rl::sched_full ? "full" : t == rl::sched_bound ? "context-bound" : "random";
}

/// Runs `Test` and returns Relacy's result. Prints one line; on failure Relacy prints the
/// execution history. LFKIT_MODEL_ITER_SCALE (environment, default 1) scales random iterations.
template <class Test>
rl::test_result_e run(const char* name, const search& s) {
  rl::test_params p;
  p.search_type = s.type;
  double scale = 1.0;
  if (const char* e = std::getenv("LFKIT_MODEL_ITER_SCALE")) scale = std::atof(e);
  if (!(scale > 0)) scale = 1.0;
  p.iteration_count = static_cast<rl::iteration_t>(static_cast<double>(s.iterations) * scale);
  if (p.iteration_count == 0) p.iteration_count = 1;
  p.context_bound = s.context_bound;
  p.execution_depth_limit = s.depth;
  static std::ostream sink(nullptr);  // discards (a stream without a buffer)
  const bool verbose = std::getenv("LFKIT_MODEL_VERBOSE") != nullptr;
  p.output_stream = verbose ? &std::cout : &sink;
  p.progress_stream = &sink;
  rl::simulate<Test>(p);
  std::printf("%-44s %-13s iterations %-9llu %s\n", name, scheduler_name(s.type),
              static_cast<unsigned long long>(p.stop_iteration),
              rl::test_result_str(p.test_result));
  std::fflush(stdout);
  return p.test_result;
}

/// A test suite's collected verdict: expected passes must pass, expected bugs must be found.
class suite {
 public:
  explicit suite(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      if (std::strcmp(argv[i], "--list") == 0) list_ = true;
      else filter_ = argv[i];
    }
  }
  /// A correct scenario: Relacy must find nothing.
  template <class Test>
  void pass(const char* name, const search& s) {
    if (!selected(name)) return;
    const rl::test_result_e r = run<Test>(name, s);
    if (r != rl::test_result_success) {
      ++failures_;
      std::printf("  FAILED: %s: expected no bug, Relacy reports %s\n", name,
                  rl::test_result_str(r));
    }
  }
  /// A deliberately broken variant: Relacy must find the bug (any failure kind, or the one given).
  template <class Test>
  void caught(const char* name, const search& s, rl::test_result_e want = rl::test_result_success) {
    if (!selected(name)) return;
    const rl::test_result_e r = run<Test>(name, s);
    if (r == rl::test_result_success || (want != rl::test_result_success && r != want)) {
      ++failures_;
      std::printf("  FAILED: %s: the planted bug was NOT caught (%s)\n", name,
                  rl::test_result_str(r));
    }
  }
  int finish() const {
    if (list_) return 0;
    std::printf("%s: %d failure(s)\n", failures_ == 0 ? "OK" : "FAILED", failures_);
    return failures_ == 0 ? 0 : 1;
  }

 private:
  bool selected(const char* name) const {
    if (list_) {
      std::printf("%s\n", name);
      return false;
    }
    return filter_.empty() || std::string(name).find(filter_) != std::string::npos;
  }
  bool list_ = false;
  std::string filter_;
  int failures_ = 0;
};

}  // namespace lfkit::model

#endif  // LFKIT_TESTS_MODEL_RELACY_ADAPTER_HPP
