// SPDX-License-Identifier: BSL-1.0
// lfkit/baseline/mutex_queue.hpp — BASELINE: the lfkit::mpmc_queue API over std::mutex and two
// std::condition_variable (the classic bounded blocking queue, like Python's queue.Queue).
//
// Part of lfkit (header-only, C++20); standard library and lfkit/detail/deadline.hpp. This is the
// comparison point for lfkit::mpmc_queue in the benchmarks and the stress program, not something to prefer: EVERY
// operation, the try_ ones included, takes the mutex, so every operation is blocking and NOT
// async-signal-safe — a signal handler that calls any of them while its own thread holds the mutex
// deadlocks that thread forever.
//
//   lfkit::baseline::mutex_queue<int> q(1024);
//   q.push(1);  int v;  q.pop(v);  q.close();
//
// Semantics are those of lfkit::mpmc_queue: exact capacity (std::invalid_argument naming the
// value for 0), try_ operations fail only when full/empty/closed (never spuriously: they wait for
// the mutex instead), a failed push leaves its argument untouched, close() wakes every waiter,
// pushes then fail and pops drain before reporting closed. Linearizable FIFO (every operation is a
// critical section). T must be nothrow-move-constructible, as for lfkit::mpmc_queue, so that the
// two are interchangeable in tests; elements live in a ring of `capacity` slots allocated once.
//
//   operation                          progress   async-signal-safe
//   every operation                    blocking   no (deadlocks if the handler interrupted the
//                                                 thread holding the mutex)
//   capacity                           wait-free  yes
#ifndef LFKIT_BASELINE_MUTEX_QUEUE_HPP
#define LFKIT_BASELINE_MUTEX_QUEUE_HPP

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <iterator>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "lfkit/detail/deadline.hpp"

namespace lfkit::baseline {

/// Bounded blocking FIFO over std::mutex + two condition variables, with lfkit::mpmc_queue's API.
template <class T>
class mutex_queue {
  static_assert(std::is_nothrow_move_constructible_v<T> && std::is_nothrow_destructible_v<T>,
                "lfkit::baseline::mutex_queue<T>: T must be nothrow move constructible and "
                "destructible (the same requirement as lfkit::mpmc_queue)");

 public:
  using value_type = T;
  using size_type = std::size_t;

  /// Throws std::invalid_argument naming `capacity` if it is 0 or too large; allocates.
  explicit mutex_queue(std::size_t capacity) : cap_(checked(capacity)) {
    buf_ = static_cast<T*>(::operator new(cap_ * sizeof(T), std::align_val_t{alignof(T)}));
  }
  mutex_queue(const mutex_queue&) = delete;
  mutex_queue& operator=(const mutex_queue&) = delete;
  ~mutex_queue() {
    while (count_ != 0) pop_front_locked();
    ::operator delete(buf_, std::align_val_t{alignof(T)});
  }

  [[nodiscard]] std::size_t capacity() const noexcept { return cap_; }

  // ---- non-blocking (they still take the mutex) ------------------------------------------------
  bool try_push(const T& v) { return try_emplace(v); }
  bool try_push(T&& v) { return try_emplace(std::move(v)); }
  /// Constructs in place under the lock; if the constructor throws, the queue is unchanged.
  template <class... Args>
  bool try_emplace(Args&&... args) {
    {
      std::lock_guard<std::mutex> lk(m_);
      if (closed_ || count_ == cap_) return false;
      emplace_back_locked(std::forward<Args>(args)...);
    }
    not_empty_.notify_one();
    return true;
  }
  bool try_pop(T& out) {
    {
      std::lock_guard<std::mutex> lk(m_);
      if (count_ == 0) return false;
      out = std::move(buf_[head_]);
      pop_front_locked();
    }
    not_full_.notify_one();
    return true;
  }
  std::optional<T> try_pop() {
    std::optional<T> r;
    {
      std::lock_guard<std::mutex> lk(m_);
      if (count_ == 0) return r;
      r.emplace(std::move(buf_[head_]));
      pop_front_locked();
    }
    not_full_.notify_one();
    return r;
  }
  template <class InputIt>
  std::size_t try_push_n(InputIt first, std::size_t n) {
    std::size_t done = 0;
    // Notifies after the lock is released, also when constructing an element throws midway: the
    // elements pushed before the throw must not sit unannounced while consumers sleep.
    notify_on_exit wake{not_empty_, done};
    std::lock_guard<std::mutex> lk(m_);
    for (; done < n && !closed_ && count_ < cap_; ++done, ++first) emplace_back_locked(*first);
    return done;
  }
  template <class OutputIt>
  std::size_t try_pop_n(OutputIt out, std::size_t n) {
    std::size_t done = 0;
    notify_on_exit wake{not_full_, done};  // as in try_push_n, for the space freed before a throw
    std::lock_guard<std::mutex> lk(m_);
    for (; done < n && count_ != 0; ++done, ++out) {
      *out = std::move(buf_[head_]);
      pop_front_locked();
    }
    return done;
  }

  // ---- blocking -------------------------------------------------------------------------------
  bool push(T&& v) { return push_until_impl(std::move(v)); }
  bool push(const T& v) {
    T copy(v);
    return push(std::move(copy));
  }
  bool pop(T& out) { return pop_until_impl(out); }

  // Deadlines as lfkit::mpmc_queue's (detail/deadline.hpp): huge means none, NaN/negative now.
  template <class Rep, class Period>
  bool try_push_for(T&& v, const std::chrono::duration<Rep, Period>& d) {
    return push_until_impl(std::move(v), detail::deadline_after(d));
  }
  template <class Clock, class Duration>
  bool try_push_until(T&& v, const std::chrono::time_point<Clock, Duration>& tp) {
    return push_until_impl(std::move(v), detail::deadline_at(tp));
  }
  template <class Rep, class Period>
  bool try_pop_for(T& out, const std::chrono::duration<Rep, Period>& d) {
    return pop_until_impl(out, detail::deadline_after(d));
  }
  template <class Clock, class Duration>
  bool try_pop_until(T& out, const std::chrono::time_point<Clock, Duration>& tp) {
    return pop_until_impl(out, detail::deadline_at(tp));
  }

  // ---- close / observe ------------------------------------------------------------------------
  void close() {
    {
      std::lock_guard<std::mutex> lk(m_);
      closed_ = true;
    }
    not_empty_.notify_all();
    not_full_.notify_all();
  }
  [[nodiscard]] bool is_closed() const {
    std::lock_guard<std::mutex> lk(m_);
    return closed_;
  }
  [[nodiscard]] std::size_t size_approx() const {
    std::lock_guard<std::mutex> lk(m_);
    return count_;
  }
  [[nodiscard]] bool empty_approx() const { return size_approx() == 0; }

 private:
  /// Runs notify_all() on `cv` at scope exit if `count` is non-zero (normal return or exception).
  struct notify_on_exit {
    std::condition_variable& cv;
    const std::size_t& count;
    ~notify_on_exit() {
      if (count != 0) cv.notify_all();
    }
  };

  static std::size_t checked(std::size_t capacity) {
    if (capacity == 0) {
      throw std::invalid_argument(
          "lfkit::baseline::mutex_queue: capacity 0 is invalid (must be at least 1)");
    }
    if (capacity >
        static_cast<std::size_t>(std::numeric_limits<std::ptrdiff_t>::max()) / sizeof(T)) {
      throw std::invalid_argument("lfkit::baseline::mutex_queue: capacity " +
                                  std::to_string(capacity) + " is too large");
    }
    return capacity;
  }

  template <class... Args>
  void emplace_back_locked(Args&&... args) {
    std::size_t i = head_ + count_;
    if (i >= cap_) i -= cap_;
    ::new (static_cast<void*>(buf_ + i)) T(std::forward<Args>(args)...);  // may throw: unchanged
    ++count_;
  }
  void pop_front_locked() noexcept {
    std::destroy_at(buf_ + head_);
    if (++head_ == cap_) head_ = 0;
    --count_;
  }

  bool push_until_impl(T&& v, const detail::deadline& dl = detail::deadline::none()) {
    {
      std::unique_lock<std::mutex> lk(m_);
      auto ready = [&] { return closed_ || count_ < cap_; };
      if (!dl.has) {
        not_full_.wait(lk, ready);
      } else if (!not_full_.wait_until(lk, dl.at, ready)) {
        return false;
      }
      if (closed_) return false;
      emplace_back_locked(std::move(v));
    }
    not_empty_.notify_one();
    return true;
  }
  bool pop_until_impl(T& out, const detail::deadline& dl = detail::deadline::none()) {
    {
      std::unique_lock<std::mutex> lk(m_);
      auto ready = [&] { return closed_ || count_ != 0; };
      if (!dl.has) {
        not_empty_.wait(lk, ready);
      } else if (!not_empty_.wait_until(lk, dl.at, ready)) {
        return false;
      }
      if (count_ == 0) return false;  // closed and drained
      out = std::move(buf_[head_]);
      pop_front_locked();
    }
    not_full_.notify_one();
    return true;
  }

  mutable std::mutex m_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  T* buf_ = nullptr;
  const std::size_t cap_;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
  bool closed_ = false;
};

}  // namespace lfkit::baseline

#endif  // LFKIT_BASELINE_MUTEX_QUEUE_HPP
