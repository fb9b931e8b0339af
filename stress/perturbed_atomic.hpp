// SPDX-License-Identifier: BSL-1.0
// stress/perturbed_atomic.hpp — the instrumented atomic policy for stress and schedule tests.
//
// Every lfkit structure takes its atomics from a template template parameter
// `template <class> class Atom = std::atomic` (folly's `Atom` idea). Production code never names it.
// Stress builds substitute lfkit::stress::perturbed_atomic, which wraps std::atomic<T> and, before
// and after every atomic step, may (by a seeded per-thread random draw):
//   * do nothing (the common case),
//   * spin for a short random time (widens race windows),
//   * sched_yield() (hands the core to another thread mid-operation),
//   * nanosleep() for a few microseconds (a short preemption),
//   * raise a signal at the calling thread (an interrupt at an exact atomic step; the handler then
//     runs *between* two atomic steps of the interrupted operation — under TSan too, where
//     asynchronous signals are otherwise deferred to the next runtime call).
//
// The interface contract for structures: use only the member functions below (no operators, no
// implicit conversions), so that every access goes through a hook; every other synchronising step
// (fences, waits, wakes) goes through lfkit::atomic_hooks, specialised at the end of this file to
// perturb those too.
//
// Async-signal-safety: the hooks keep their random state in a constant-initialised thread_local
// (static TLS: a plain %fs-relative access, no allocation) and use only async-signal-safe calls.
#ifndef LFKIT_STRESS_PERTURBED_ATOMIC_HPP
#define LFKIT_STRESS_PERTURBED_ATOMIC_HPP

#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <atomic>
#include <csignal>
#include <cstdint>

#include "lfkit/detail/atomic_hooks.hpp"

namespace lfkit::stress {

/// Probabilities are per atomic step, in units of 1/65536 (0 disables the action).
struct perturbation_config {
  std::atomic<std::uint32_t> spin{0};
  std::atomic<std::uint32_t> yield{0};
  std::atomic<std::uint32_t> sleep{0};
  std::atomic<std::uint32_t> raise_signal{0};
  std::atomic<int> signal_number{SIGUSR1};
  std::atomic<std::uint32_t> max_spin_iterations{256};
  std::atomic<std::uint32_t> sleep_ns{20000};
  std::atomic<std::uint64_t> seed{1};
  /// Steps that went through a hook; counts are for the report, relaxed everywhere.
  std::atomic<std::uint64_t> steps{0};
  std::atomic<std::uint64_t> signals_raised{0};
};

inline perturbation_config g_perturbation;

namespace detail {
/// Per-thread xorshift state; 0 means "not seeded yet". Constant-initialised, so a signal handler
/// can touch it on any thread. A handler that interrupts the update below only perturbs the random
/// stream, which is harmless.
inline thread_local std::uint64_t t_rng_state = 0;
inline std::atomic<std::uint64_t> g_thread_seq{0};

inline std::uint64_t next_random() noexcept {
  std::uint64_t x = t_rng_state;
  if (x == 0) {
    // relaxed: a thread counter that only needs uniqueness, pairs with nothing.
    std::uint64_t id = g_thread_seq.fetch_add(1, std::memory_order_relaxed) + 1;
    // relaxed: the seed is set before worker threads start (thread creation orders it).
    x = g_perturbation.seed.load(std::memory_order_relaxed) * 0x9E3779B97F4A7C15ull ^ (id << 17);
    if (x == 0) x = 0x2545F4914F6CDD1Dull;
  }
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  t_rng_state = x;
  return x;
}

/// Deterministic interrupts (raise_signal_at_step()): hooks counted on this thread since it was
/// armed, the hook number that raises the signal (0: disarmed), and whether it was raised.
inline thread_local std::uint64_t t_step_count = 0;
inline thread_local std::uint64_t t_raise_at_step = 0;
inline thread_local bool t_raised_at_step = false;

/// The hook run around every atomic step. All loads are relaxed: the configuration is a set of
/// independent knobs, written before workers start or between phases; no data is published by it.
inline void perturb() noexcept {
  if (t_raise_at_step != 0 && ++t_step_count == t_raise_at_step) {
    t_raise_at_step = 0;  // once: the handler's own steps are not counted
    t_raised_at_step = true;
    pthread_kill(pthread_self(), g_perturbation.signal_number.load(std::memory_order_relaxed));
    return;
  }
  auto& c = g_perturbation;
  const std::uint32_t p_spin = c.spin.load(std::memory_order_relaxed);
  const std::uint32_t p_yield = c.yield.load(std::memory_order_relaxed);
  const std::uint32_t p_sleep = c.sleep.load(std::memory_order_relaxed);
  const std::uint32_t p_sig = c.raise_signal.load(std::memory_order_relaxed);
  if ((p_spin | p_yield | p_sleep | p_sig) == 0) return;
  c.steps.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
  const std::uint64_t r = next_random();
  const std::uint32_t draw = static_cast<std::uint32_t>(r & 0xFFFF);
  std::uint32_t edge = p_sig;
  if (draw < edge) {
    c.signals_raised.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
    pthread_kill(pthread_self(), c.signal_number.load(std::memory_order_relaxed));
    return;
  }
  if (draw < (edge += p_sleep)) {
    timespec ts{0, static_cast<long>(c.sleep_ns.load(std::memory_order_relaxed))};
    nanosleep(&ts, nullptr);
    return;
  }
  if (draw < (edge += p_yield)) {
    sched_yield();
    return;
  }
  if (draw < (edge += p_spin)) {
    const std::uint32_t max = c.max_spin_iterations.load(std::memory_order_relaxed);
    const std::uint32_t n = max == 0 ? 0 : static_cast<std::uint32_t>((r >> 16) % max);
    for (std::uint32_t i = 0; i < n; ++i) std::atomic_signal_fence(std::memory_order_seq_cst);
  }
}

struct hook_guard {
  hook_guard() noexcept { perturb(); }
  ~hook_guard() { perturb(); }
  hook_guard(const hook_guard&) = delete;
  hook_guard& operator=(const hook_guard&) = delete;
};
}  // namespace detail

/// The atomic step a hooked_atomic is about to take (or took).
enum class atomic_op { load, store, rmw, wait, notify };

/// Which member function a step on the value is (finer than atomic_op, whose rmw it splits): what
/// a hook's typed members (before_typed, observe) are told, as a template argument.
enum class atomic_fn {
  load,
  store,
  exchange,
  compare_exchange,  // weak or strong
  fetch_add,
  fetch_sub,
  fetch_or,
  fetch_and
};

/// Drop-in for std::atomic<T> (the member-function subset lfkit uses) that calls a Hook around
/// every step. Same memory orders, same size and lock-freedom as std::atomic<T> (so its address
/// may go to futex(2)). The one hooked atomic from which perturbed_atomic, the tests' gated
/// atomic and their threshold probe are made.
///
/// The Hook (all members static and noexcept; `order` is the step's, a compare-exchange's success
/// order; `word` is this hooked_atomic's address, that of the std::atomic<T> it holds):
///   before(atomic_op, order)          required: before every step (waits and notifies too)
///   after(atomic_op, order)           required: after every step
///   template <atomic_fn F, class U>   optional: before a load, store or RMW, after before();
///   before_typed(word, order)         F the member function, U = T
///   template <atomic_fn F, class U>   optional: after a load, store or RMW, before after();
///   observe(word, order, U value)     `value` the one read (load), stored (store), or found
///                                     (RMW: the value before; a compare-exchange's equals the
///                                     expected one iff it succeeded)
/// The optional members are found by a requires-expression: a hook that declares neither costs
/// nothing. F and U are template arguments, so a hook may static_assert on the steps it meets
/// (instantiated only for the member functions a structure calls). A typed member whose
/// declaration does not match is silently not called: a hook that relies on one should check
/// that it ran.
template <class T, class Hook>
class hooked_atomic {
 public:
  static constexpr bool is_always_lock_free = std::atomic<T>::is_always_lock_free;
  using value_type = T;

  constexpr hooked_atomic() noexcept : a_() {}
  constexpr hooked_atomic(T v) noexcept : a_(v) {}  // NOLINT: mirrors std::atomic
  hooked_atomic(const hooked_atomic&) = delete;
  hooked_atomic& operator=(const hooked_atomic&) = delete;

  bool is_lock_free() const noexcept { return a_.is_lock_free(); }

  T load(std::memory_order o = std::memory_order_seq_cst) const noexcept {
    return hooked<atomic_fn::load>(o, [&] { return a_.load(o); });
  }
  void store(T v, std::memory_order o = std::memory_order_seq_cst) noexcept {
    hooked<atomic_fn::store>(o, [&] {
      a_.store(v, o);
      return v;
    });
  }
  T exchange(T v, std::memory_order o = std::memory_order_seq_cst) noexcept {
    return hooked<atomic_fn::exchange>(o, [&] { return a_.exchange(v, o); });
  }
  bool compare_exchange_weak(T& e, T d, std::memory_order s, std::memory_order f) noexcept {
    return hooked_cas(e, s, [&] { return a_.compare_exchange_weak(e, d, s, f); });
  }
  bool compare_exchange_weak(T& e, T d, std::memory_order o = std::memory_order_seq_cst) noexcept {
    return hooked_cas(e, o, [&] { return a_.compare_exchange_weak(e, d, o); });
  }
  bool compare_exchange_strong(T& e, T d, std::memory_order s, std::memory_order f) noexcept {
    return hooked_cas(e, s, [&] { return a_.compare_exchange_strong(e, d, s, f); });
  }
  bool compare_exchange_strong(T& e, T d,
                               std::memory_order o = std::memory_order_seq_cst) noexcept {
    return hooked_cas(e, o, [&] { return a_.compare_exchange_strong(e, d, o); });
  }
  T fetch_add(T v, std::memory_order o = std::memory_order_seq_cst) noexcept
    requires requires(std::atomic<T>& a) { a.fetch_add(v); }
  {
    return hooked<atomic_fn::fetch_add>(o, [&] { return a_.fetch_add(v, o); });
  }
  T fetch_sub(T v, std::memory_order o = std::memory_order_seq_cst) noexcept
    requires requires(std::atomic<T>& a) { a.fetch_sub(v); }
  {
    return hooked<atomic_fn::fetch_sub>(o, [&] { return a_.fetch_sub(v, o); });
  }
  T fetch_or(T v, std::memory_order o = std::memory_order_seq_cst) noexcept
    requires requires(std::atomic<T>& a) { a.fetch_or(v); }
  {
    return hooked<atomic_fn::fetch_or>(o, [&] { return a_.fetch_or(v, o); });
  }
  T fetch_and(T v, std::memory_order o = std::memory_order_seq_cst) noexcept
    requires requires(std::atomic<T>& a) { a.fetch_and(v); }
  {
    return hooked<atomic_fn::fetch_and>(o, [&] { return a_.fetch_and(v, o); });
  }
  void wait(T old, std::memory_order o = std::memory_order_seq_cst) const noexcept {
    step g(atomic_op::wait, o);
    a_.wait(old, o);
  }
  void notify_one() noexcept {
    step g(atomic_op::notify, std::memory_order_seq_cst);
    a_.notify_one();
  }
  void notify_all() noexcept {
    step g(atomic_op::notify, std::memory_order_seq_cst);
    a_.notify_all();
  }

 private:
  /// Hook::before / Hook::after around a step's lifetime.
  struct step {
    atomic_op op;
    std::memory_order order;
    step(atomic_op p, std::memory_order o) noexcept : op(p), order(o) { Hook::before(p, o); }
    ~step() { Hook::after(op, order); }
    step(const step&) = delete;
    step& operator=(const step&) = delete;
  };

  /// Runs `run` (the step F itself, returning the value the hook observes) inside every hook of
  /// the class comment, in its order: before, before_typed, run, observe, after.
  template <atomic_fn F, class Run>
  T hooked(std::memory_order o, Run run) const noexcept {
    constexpr atomic_op op = F == atomic_fn::load    ? atomic_op::load
                             : F == atomic_fn::store ? atomic_op::store
                                                     : atomic_op::rmw;
    const void* const word = this;
    const step g(op, o);
    if constexpr (requires { Hook::template before_typed<F, T>(word, o); }) {
      Hook::template before_typed<F, T>(word, o);
    }
    const T v = run();
    if constexpr (requires { Hook::template observe<F, T>(word, o, v); }) {
      Hook::template observe<F, T>(word, o, v);
    }
    return v;
  }

  /// hooked() for a compare-exchange `cas` that updates `e`: observes the value it found (e
  /// afterwards), returns whether it succeeded.
  template <class Cas>
  bool hooked_cas(const T& e, std::memory_order s, Cas cas) noexcept {
    bool ok = false;
    hooked<atomic_fn::compare_exchange>(s, [&] {
      ok = cas();
      return e;
    });
    return ok;
  }

  std::atomic<T> a_;
};

namespace detail {
/// perturb() around every step.
struct perturb_hook {
  static void before(atomic_op, std::memory_order) noexcept { perturb(); }
  static void after(atomic_op, std::memory_order) noexcept { perturb(); }
};
}  // namespace detail

/// std::atomic<T> that perturbs the schedule around every step (see the file comment).
template <class T>
class perturbed_atomic : public hooked_atomic<T, detail::perturb_hook> {
 public:
  using hooked_atomic<T, detail::perturb_hook>::hooked_atomic;
};

/// Raises the configured signal (g_perturbation.signal_number) at the calling thread at its k-th
/// hook from now (k >= 1; each atomic step has a hook before and one after it), once: an interrupt
/// at an exact step. Sweep k = 1, 2, ... until signal_raised_at_step() stays false to cover every
/// step of an operation. Thread-local; k = 0 disarms (keeping signal_raised_at_step()).
inline void raise_signal_at_step(std::uint64_t k) noexcept {
  detail::t_raise_at_step = 0;
  if (k == 0) return;
  detail::t_step_count = 0;
  detail::t_raised_at_step = false;
  detail::t_raise_at_step = k;
}
/// Whether the signal armed by raise_signal_at_step() has been raised on this thread.
inline bool signal_raised_at_step() noexcept { return detail::t_raised_at_step; }

/// Turns schedule perturbation on (yields and spins around every atomic step of perturbed_atomic)
/// for a scope, e.g. one test, and switches every kind of perturbation off again when the scope
/// ends, also on failure.
class perturbation_scope {
 public:
  perturbation_scope(std::uint32_t yield, std::uint32_t spin) {
    g_perturbation.yield.store(yield);
    g_perturbation.spin.store(spin);
  }
  ~perturbation_scope() {
    g_perturbation.yield.store(0);
    g_perturbation.spin.store(0);
    g_perturbation.sleep.store(0);
    g_perturbation.raise_signal.store(0);
  }
  perturbation_scope(const perturbation_scope&) = delete;
  perturbation_scope& operator=(const perturbation_scope&) = delete;
};

}  // namespace lfkit::stress

/// The non-member steps (fences, the asymmetric fence pair, sleeping and waking) perturbed as the
/// atomic steps are, so that stress runs see every synchronising step; everything else (and the
/// step itself) is the std::atomic default.
template <>
struct lfkit::atomic_hooks<lfkit::stress::perturbed_atomic>
    : lfkit::basic_atomic_hooks<lfkit::stress::perturbed_atomic> {
 private:
  using base = lfkit::basic_atomic_hooks<lfkit::stress::perturbed_atomic>;
  using guard = lfkit::stress::detail::hook_guard;

 public:
  static void thread_fence(std::memory_order order) noexcept {
    guard g;
    base::thread_fence(order);
  }
  static void light_fence() noexcept {
    guard g;
    base::light_fence();
  }
  static void heavy_fence() noexcept {
    guard g;
    base::heavy_fence();
  }
  static void wait(lfkit::stress::perturbed_atomic<std::uint32_t>& word, std::uint32_t expected,
                   const lfkit::detail::deadline& dl) noexcept {
    guard g;
    base::wait(word, expected, dl);
  }
  static void wake_one(lfkit::stress::perturbed_atomic<std::uint32_t>& word) noexcept {
    guard g;
    base::wake_one(word);
  }
  static void wake_all(lfkit::stress::perturbed_atomic<std::uint32_t>& word) noexcept {
    guard g;
    base::wake_all(word);
  }
};

#endif  // LFKIT_STRESS_PERTURBED_ATOMIC_HPP
