// SPDX-License-Identifier: BSL-1.0
// lfkit/detail/queue_api.hpp — the public operations lfkit::mpmc_queue and lfkit::lockfree_queue
// share, written once over a few primitives each queue provides.
//
// Part of lfkit (header-only, C++20). Standard library and lfkit/detail/{deadline,wait_loop}.hpp.
//
// A queue derives publicly from queue_api<itself, T> and befriends it (CRTP: no data, no virtual
// call; every wrapper inlines into the caller, so each queue's code is what it was when it wrote
// them out itself). It provides, privately:
//   status push_attempt(Source& src, wait_kind) noexcept  one push, no wake. src.build(p)
//       constructs the element at p; a queue that builds before its push can still fail
//       (lockfree_queue: a close() racing its enqueue) calls src.undo(p), which gives the element
//       back (moved into the caller's object it came from) and destroys it. mpmc_queue builds
//       only after its claim and never calls undo (no code for it).
//   status pop_attempt(Sink& sink, wait_kind) noexcept    one pop, no wake; sink(T&&) takes it
//   wait_side<Atom> push_side() / pop_side() noexcept      each side's wait_loop and sleep word
//   static constexpr bool claims_runs                      if true, also push_run(It&, n) and
//       pop_run(It&, n): bulk ops that claim runs of slots (called only when nothing can throw)
// (status: detail::queue_status.) Here: the try_, blocking, timed and bulk wrappers; where a
// throwing T operation or iterator runs (before the queue's claim, or after its release: nothing
// is lost or left held on a throw); the wakes of the other side after a success.
//
// Progress and async-signal-safety are stated per method below; "the try_ guarantee" is the
// queue's (its preface's table):
//   mpmc_queue      a lock-free claim, then a bounded busy-slot wait; a try_ op may also fail
//                   *busy*: the slot is held by a thread that has not finished
//   lockfree_queue  lock-free, never waits for another thread; fails only full/empty/closed
// "Async-signal-safe" always assumes the T operations used are, and the preface's (*) condition
// (atomic_hooks<Atom>::wake_is_signal_safe).
#ifndef LFKIT_DETAIL_QUEUE_API_HPP
#define LFKIT_DETAIL_QUEUE_API_HPP

#include <chrono>
#include <cstddef>
#include <iterator>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "lfkit/detail/deadline.hpp"
#include "lfkit/detail/wait_loop.hpp"

namespace lfkit::detail {

/// One queue side as queue_api sees it: its blocking loop and its sleep word.
template <template <class> class Atom>
struct wait_side {
  wait_loop<Atom>& loop;
  sleep_word<Atom>& sleepers;
};

/// How a push puts its element into a slot: build(T*) constructs it there; undo(T*) takes it back
/// (into the caller's object it was moved from, if any) and destroys it. Both noexcept.
template <class Build, class Undo>
struct element_source {
  Build build;
  Undo undo;
};
template <class Build, class Undo>
element_source<Build, Undo> make_source(Build b, Undo u) noexcept {
  return {b, u};
}

/// Wakes `word`'s sleepers at scope exit if `done` > 0: a bulk call wakes once, also when it
/// leaves by an exception after some elements went through.
template <class Word>
struct wake_on_exit {
  Word& word;
  const std::size_t& done;
  wake_on_exit(Word& w, const std::size_t& d) noexcept : word(w), done(d) {}
  wake_on_exit(const wake_on_exit&) = delete;
  wake_on_exit& operator=(const wake_on_exit&) = delete;
  ~wake_on_exit() {
    if (done > 0) word.notify();
  }
};

/// The shared public operations of lfkit's bounded queues (see the file comment).
template <class Derived, class T>
class queue_api {
 public:
  using value_type = T;
  using size_type = std::size_t;

  // ---- non-blocking ------------------------------------------------------------------------

  /// Pushes a copy of `v` if there is room; false if full, closed or (mpmc_queue) busy, `v`
  /// untouched. A copy constructor that may throw runs first, outside the queue (a throw leaves
  /// the queue unchanged). Progress: the try_ guarantee; async-signal-safe if T's copy
  /// constructor is.
  ///
  ///   std::string s = "x";  if (!q.try_push(s)) { /* full or closed */ }
  bool try_push(const T& v) {
    return with_args([&](auto&& src) noexcept { return push_now(src); }, v);
  }

  /// Pushes `v` by moving it if there is room (false as try_push(const T&)); on failure `v` holds
  /// its value (moved back if a close() raced a lockfree_queue push after the move into its
  /// slot). Progress: the try_ guarantee; async-signal-safe if T's move operations are.
  ///
  ///   auto p = std::make_unique<int>(1);  if (q.try_push(std::move(p))) { /* p is null now */ }
  bool try_push(T&& v) noexcept { return push_now(move_from(v)); }

  /// Constructs an element from `args` and pushes it if there is room. A constructor that may
  /// throw runs first, on the caller's side (a throw leaves the queue unchanged); a noexcept one
  /// builds in the slot once the push has its place. An element built and then not pushed is
  /// destroyed, so rvalue arguments may have been moved from: with a throwing constructor on any
  /// failure; with a noexcept one only when a lockfree_queue push fails on close (it builds
  /// before its enqueue reads the mark; mpmc_queue builds only once the push cannot fail). To get
  /// the value back, use try_push(T&&). Progress: the try_ guarantee; async-signal-safe if the
  /// constructor is.
  ///
  ///   q.try_emplace(3, 'a');   // a std::string "aaa"
  template <class... Args>
  bool try_emplace(Args&&... args) noexcept(std::is_nothrow_constructible_v<T, Args...>) {
    return with_args([&](auto&& src) noexcept { return push_now(src); },
                     std::forward<Args>(args)...);
  }

  /// Pops the oldest element into `out` (move-assigned); false if empty (closed or not) or
  /// (mpmc_queue) busy.
  /// A move assignment that may throw runs after the slot is released, from a temporary (a throw
  /// then loses that element; the queue stays consistent). Progress: the try_ guarantee;
  /// async-signal-safe if T's move operations are.
  ///
  ///   int v;  while (q.try_pop(v)) use(v);
  bool try_pop(T& out) noexcept(std::is_nothrow_move_assignable_v<T>) {
    return into(out, [&](auto&& sink) noexcept { return pop_now(sink); });
  }

  /// Pops the oldest element, or std::nullopt (as try_pop(T&)); T need not be default-
  /// constructible. Progress: the try_ guarantee; async-signal-safe if T's move constructor is.
  ///
  ///   if (auto v = q.try_pop()) use(*v);
  std::optional<T> try_pop() noexcept {
    std::optional<T> r;
    pop_now([&](T&& v) noexcept { r.emplace(std::move(v)); });
    return r;
  }

  /// Pushes up to `n` elements from `first` (copied; std::make_move_iterator moves), in order;
  /// returns k, the number pushed (the first k of the range); stops at the first failure (full,
  /// closed, busy). mpmc_queue claims runs of free slots with one CAS each. If `*first`, `++first`
  /// or T's construction from `*first` may throw, one element at a time, each built on the
  /// caller's side first when its constructor may throw (an exception propagates after the earlier
  /// ones were pushed; a built element whose push fails is destroyed). Element k is untouched,
  /// except that a close() racing a lockfree_queue push of a move iterator's element leaves it
  /// moved from (there is no general way to move it back through an iterator). Wakes consumers
  /// once per call (or run), also when it leaves by an exception. Progress: the try_ guarantee
  /// per element; async-signal-safe if the iterator operations and T's construction are.
  ///
  ///   int xs[4] = {1, 2, 3, 4};  std::size_t k = q.try_push_n(xs, 4);
  template <class InputIt>
  std::size_t try_push_n(InputIt first, std::size_t n) {
    using ref = std::iter_reference_t<InputIt>;
    if constexpr (Derived::claims_runs && std::is_nothrow_constructible_v<T, ref> &&
                  noexcept(*first) && noexcept(++first)) {
      return derived().push_run(first, n);
    } else {
      std::size_t done = 0;
      wake_on_exit wake{derived().pop_side().sleepers, done};
      for (; done < n; ++done, ++first) {
        ref r = *first;  // may throw: nothing claimed yet
        if (!with_args([&](auto&& src) noexcept { return push_quiet(src); }, std::forward<ref>(r)))
          break;
      }
      return done;
    }
  }

  /// Pops up to `n` elements into `out` (assigned in FIFO order); returns how many.
  /// mpmc_queue claims runs of ready slots with one CAS each. If assigning to `*out` may throw,
  /// each element is moved out and its slot released first (an element whose assignment throws is
  /// lost). Wakes producers once per call (or run), also when it leaves by an exception. Progress:
  /// the try_ guarantee per element; async-signal-safe if the assignments are.
  ///
  ///   int buf[64];  std::size_t k = q.try_pop_n(buf, 64);
  template <class OutputIt>
  std::size_t try_pop_n(OutputIt out, std::size_t n) {
    if constexpr (Derived::claims_runs && noexcept(*out = std::declval<T&&>()) && noexcept(++out)) {
      return derived().pop_run(out, n);
    } else {
      std::size_t done = 0;
      wake_on_exit wake{derived().push_side().sleepers, done};
      for (; done < n; ++done, ++out) {
        if (!into(*out, [&](auto&& sink) noexcept { return pop_quiet(sink); })) break;
      }
      return done;
    }
  }

  // ---- blocking and timed (detail::wait_loop): not async-signal-safe ------------------------

  /// Pushes `v`, sleeping while full; false only if closed (then `v` holds its value). Progress:
  /// blocking (mpmc_queue: also waits for a stalled slot holder); not async-signal-safe.
  ///
  ///   while (auto job = next_job()) if (!q.push(std::move(*job))) break;   // closed: stop
  bool push(T&& v) { return push_wait(move_from(v), deadline::none()); }

  /// Pushes a copy of `v`, sleeping while full; false only if closed. A throwing copy runs first.
  /// Progress: blocking; not async-signal-safe.
  ///
  ///   const std::string greeting = "hi";  q.push(greeting);
  bool push(const T& v) {
    return with_args([&](auto&& src) { return push_wait(src, deadline::none()); }, v);
  }

  /// Pops the oldest element into `out`, sleeping while empty; false only when closed and
  /// drained. Progress: blocking; not async-signal-safe.
  ///
  ///   int v;  while (q.pop(v)) use(v);   // ends after close() once everything is consumed
  bool pop(T& out) { return pop_wait(out, deadline::none()); }

  /// push(T&&) giving up after `timeout`: false if it stayed full, or closed (`v` holds its
  /// value). Zero, negative or NaN: one try_ op; beyond ~95 years: no deadline (deadline.hpp).
  /// Progress: blocking until the deadline; not async-signal-safe.
  ///
  ///   if (!q.try_push_for(std::move(x), std::chrono::milliseconds(5))) drop(x);
  template <class Rep, class Period>
  bool try_push_for(T&& v, const std::chrono::duration<Rep, Period>& timeout) {
    return push_wait(move_from(v), deadline_after(timeout));
  }

  /// push(T&&) giving up at `deadline` (any clock, read once). Blocking until the deadline.
  ///
  ///   q.try_push_until(std::move(x), std::chrono::steady_clock::now() + 5ms);
  template <class Clock, class Duration>
  bool try_push_until(T&& v, const std::chrono::time_point<Clock, Duration>& deadline) {
    return push_wait(move_from(v), deadline_at(deadline));
  }

  /// pop() giving up after `timeout` (as try_push_for). Blocking until the deadline.
  ///
  ///   int v;  if (q.try_pop_for(v, std::chrono::milliseconds(100))) use(v); else idle();
  template <class Rep, class Period>
  bool try_pop_for(T& out, const std::chrono::duration<Rep, Period>& timeout) {
    return pop_wait(out, deadline_after(timeout));
  }

  /// pop() giving up at `deadline` (any clock, read once). Blocking until the deadline.
  ///
  ///   int v;  if (q.try_pop_until(v, next_tick)) use(v);
  template <class Clock, class Duration>
  bool try_pop_until(T& out, const std::chrono::time_point<Clock, Duration>& deadline) {
    return pop_wait(out, deadline_at(deadline));
  }

  /// size_approx() == 0. Wait-free, async-signal-safe.
  ///
  ///   if (q.empty_approx()) idle();
  [[nodiscard]] bool empty_approx() const noexcept {
    return static_cast<const Derived&>(*this).size_approx() == 0;
  }

 protected:
  queue_api() = default;

  /// `capacity` if it is in [1, Derived::max_capacity()], else std::invalid_argument naming it.
  static std::size_t checked_capacity(const char* queue, std::size_t capacity) {
    if (capacity == 0 || capacity > Derived::max_capacity()) {
      throw std::invalid_argument(std::string(queue) + ": capacity " + std::to_string(capacity) +
                                  " is invalid (must be 1 to max_capacity() = " +
                                  std::to_string(Derived::max_capacity()) + ")");
    }
    return capacity;
  }

  /// One try_ push / pop; on success wakes the other side.
  template <class Source>
  bool push_now(Source&& src) noexcept {
    if (!push_quiet(src)) return false;
    derived().pop_side().sleepers.notify();
    return true;
  }
  template <class Sink>
  bool pop_now(Sink&& sink) noexcept {
    if (!pop_quiet(sink)) return false;
    derived().push_side().sleepers.notify();
    return true;
  }

  /// Builds from `v` by moving; undo moves it back.
  static auto move_from(T& v) noexcept {
    return make_source([&v](T* p) noexcept { ::new (static_cast<void*>(p)) T(std::move(v)); },
                       [&v](T* p) noexcept {
                         if constexpr (std::is_nothrow_move_assignable_v<T>) {
                           v = std::move(*p);
                         } else {
                           std::destroy_at(std::addressof(v));
                           ::new (static_cast<void*>(std::addressof(v))) T(std::move(*p));
                         }
                         std::destroy_at(p);
                       });
  }

 private:
  Derived& derived() noexcept { return static_cast<Derived&>(*this); }

  template <class Source>
  bool push_quiet(Source& src) noexcept {
    return derived().push_attempt(src, wait_kind::try_op) == queue_status::ok;
  }
  template <class Sink>
  bool pop_quiet(Sink& sink) noexcept {
    return derived().pop_attempt(sink, wait_kind::try_op) == queue_status::ok;
  }

  /// `push(source)` with a source building T from `args`: in the slot if that cannot throw, else
  /// from a temporary built first, outside the queue.
  template <class Push, class... Args>
  static bool with_args(Push&& push, Args&&... args) {
    if constexpr (std::is_nothrow_constructible_v<T, Args...>) {
      auto src = make_source(
          [&](T* p) noexcept { ::new (static_cast<void*>(p)) T(std::forward<Args>(args)...); },
          [](T* p) noexcept { std::destroy_at(p); });
      return push(src);
    } else {
      T tmp(std::forward<Args>(args)...);
      auto src = move_from(tmp);
      return push(src);
    }
  }

  /// `pop(sink)` delivering into `out`; a move assignment that may throw runs after the slot is
  /// released, from a temporary.
  template <class Out, class Pop>
  static bool into(Out&& out, Pop&& pop) {
    if constexpr (noexcept(std::forward<Out>(out) = std::declval<T&&>())) {
      auto sink = [&out](T&& v) noexcept { std::forward<Out>(out) = std::move(v); };
      return pop(sink);
    } else {
      std::optional<T> tmp;
      auto sink = [&tmp](T&& v) noexcept { tmp.emplace(std::move(v)); };
      if (!pop(sink)) return false;
      std::forward<Out>(out) = std::move(*tmp);
      return true;
    }
  }

  template <class Source>
  bool push_wait(Source&& src, const deadline& dl) {
    Derived& q = derived();
    const auto own = q.push_side();
    return own.loop.run(
        own.sleepers, q.pop_side().sleepers,
        [&](wait_kind k) noexcept { return q.push_attempt(src, k); }, dl);
  }
  bool pop_wait(T& out, const deadline& dl) {
    Derived& q = derived();
    const auto own = q.pop_side();
    return into(out, [&](auto&& sink) {
      return own.loop.run(
          own.sleepers, q.push_side().sleepers,
          [&](wait_kind k) noexcept { return q.pop_attempt(sink, k); }, dl);
    });
  }
};

}  // namespace lfkit::detail

#endif  // LFKIT_DETAIL_QUEUE_API_HPP
