// SPDX-License-Identifier: BSL-1.0
// lfkit/baseline/locked_snapshot.hpp — the lock-based baseline for lfkit::snapshot.
//
// Part of lfkit (header-only, C++20). Depends only on the C++ standard library.
//
// lfkit::baseline::locked_snapshot<T, Mutex = std::shared_mutex> has the API of lfkit::snapshot
// (load / store / emplace / exchange / update / compare_exchange / version / retired_count) and is what an engineer
// writes without lfkit: a std::shared_ptr<const T> behind a lock.
//   * load() takes the lock (shared for std::shared_mutex, exclusive for std::mutex), copies the
//     shared_ptr (one atomic increment), and unlocks. The guard holds the shared_ptr, not the lock,
//     so guards may outlive any number of updates and a thread may hold a guard while it writes —
//     the same semantics as lfkit::snapshot, which lets the tests run one suite on both.
//   * The last guard to go destroys its version: ~T may run in a reader (unlike lfkit::snapshot).
//   * update(f) runs f under the exclusive lock, so f is called exactly once.
// Progress and signal-safety: every operation is blocking (a lock; the writer allocates), and
// none is async-signal-safe — a handler that loads while its thread holds the lock deadlocks.
//   lfkit::baseline::locked_snapshot<cfg> s(cfg{...});  auto g = s.load();  use(g->port);
//   lfkit::baseline::mutex_snapshot<cfg> m(cfg{...});   // the std::mutex variant
#ifndef LFKIT_BASELINE_LOCKED_SNAPSHOT_HPP
#define LFKIT_BASELINE_LOCKED_SNAPSHOT_HPP

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <type_traits>
#include <utility>

namespace lfkit::baseline {

/// A snapshot cell as a shared_ptr<const T> behind a Mutex (std::shared_mutex or std::mutex).
template <class T, class Mutex = std::shared_mutex>
class locked_snapshot {
  struct versioned {
    template <class... Args>
    explicit versioned(std::uint64_t v, Args&&... args)
        : value(std::forward<Args>(args)...), version(v) {}
    T value;
    std::uint64_t version;
  };

 public:
  using value_type = T;

  /// Read guard: owns a reference to one version (a shared_ptr); the value stays alive and
  /// unchanged while it lives. Move-only, like lfkit::snapshot's guard. Accessors are wait-free;
  /// reset()/destruction may run ~T (the last reference) and are not async-signal-safe.
  ///   auto g = s.load(); use(g->port);
  class guard {
   public:
    guard() noexcept = default;
    guard(guard&&) noexcept = default;
    guard& operator=(guard&&) noexcept = default;
    guard(const guard&) = delete;
    guard& operator=(const guard&) = delete;
    const T& operator*() const noexcept { return p_->value; }
    const T* operator->() const noexcept { return &p_->value; }
    const T* get() const noexcept { return p_ ? &p_->value : nullptr; }
    explicit operator bool() const noexcept { return p_ != nullptr; }
    std::uint64_t version() const noexcept { return p_->version; }
    void reset() noexcept { p_.reset(); }

   private:
    friend class locked_snapshot;
    explicit guard(std::shared_ptr<const versioned> p) noexcept : p_(std::move(p)) {}
    std::shared_ptr<const versioned> p_;
  };

  /// Constructors: blocking (allocate). `locked_snapshot<cfg> s(cfg{...});`
  locked_snapshot()
    requires std::default_initializable<T>
      : cur_(make(0)) {}
  explicit locked_snapshot(T value) : cur_(make(0, std::move(value))) {}
  template <class... Args>
  explicit locked_snapshot(std::in_place_t, Args&&... args)
      : cur_(make(0, std::forward<Args>(args)...)) {}
  locked_snapshot(const locked_snapshot&) = delete;
  locked_snapshot& operator=(const locked_snapshot&) = delete;

  /// Returns a guard on the current version. Blocking (takes the lock briefly; one atomic
  /// increment). Not async-signal-safe.  `auto g = s.load();`
  [[nodiscard]] guard load() const {
    if constexpr (requires(Mutex& m) { m.lock_shared(); }) {
      std::shared_lock lk(m_);
      return guard(cur_);
    } else {
      std::lock_guard lk(m_);
      return guard(cur_);
    }
  }
  /// Publishes value. Blocking (allocation + exclusive lock). Not async-signal-safe.
  ///   s.store(cfg{...});
  void store(T value) { (void)swap_in(make(0, std::move(value))); }
  /// Constructs and publishes in place. Blocking, as store().  `s.emplace(args...);`
  template <class... Args>
  void emplace(Args&&... args) {
    (void)swap_in(make(0, std::forward<Args>(args)...));
  }
  /// Publishes value; returns a guard on the version it replaced. Blocking; not async-signal-safe.
  ///   auto old = s.exchange(cfg{...});
  [[nodiscard]] guard exchange(T value) { return guard(swap_in(make(0, std::move(value)))); }
  /// Replaces the value with f(current) under the exclusive lock (f runs once). Returns the new
  /// version number. Blocking; not async-signal-safe.
  ///   s.update([](const cfg& c) { auto n = c; ++n.generation; return n; });
  template <class F>
    requires std::is_invocable_v<F&, const T&>
  std::uint64_t update(F f) {
    std::unique_lock lk(m_);
    auto next = make(cur_->version + 1, std::invoke(f, std::as_const(cur_->value)));
    const std::uint64_t v = next->version;
    auto old = std::exchange(cur_, std::move(next));
    lk.unlock();  // ~T of the old version (if unreferenced) runs outside the lock
    return v;
  }
  /// Publishes desired if the current version is still the one `expected` holds; otherwise points
  /// `expected` at the current version. Blocking (exclusive lock); not async-signal-safe.
  ///   auto cur = s.load(); while (!s.compare_exchange(cur, next_of(*cur))) {}
  bool compare_exchange(guard& expected, T desired) {
    auto next = make(0, std::move(desired));
    std::unique_lock lk(m_);
    if (cur_ != expected.p_) {
      expected = guard(cur_);
      return false;
    }
    next->version = cur_->version + 1;
    auto old = std::exchange(cur_, std::shared_ptr<const versioned>(std::move(next)));
    lk.unlock();  // ~T of the old version (if unreferenced) runs outside the lock
    return true;
  }
  /// Latest published version number. Blocking; not async-signal-safe.  `auto v = s.version();`
  [[nodiscard]] std::uint64_t version() const { return load().version(); }
  /// Always 0: versions are freed by reference counting as soon as the last guard goes.
  /// Wait-free.  `assert(s.retired_count() == 0);`
  [[nodiscard]] std::size_t retired_count() const noexcept { return 0; }

 private:
  template <class... Args>
  static std::shared_ptr<versioned> make(std::uint64_t v, Args&&... args) {
    return std::make_shared<versioned>(v, std::forward<Args>(args)...);
  }
  std::shared_ptr<const versioned> swap_in(std::shared_ptr<versioned> next) {
    std::unique_lock lk(m_);
    next->version = cur_->version + 1;  // assigned under the lock, before anyone can see it
    return std::exchange(cur_, std::shared_ptr<const versioned>(std::move(next)));
  }

  mutable Mutex m_;
  std::shared_ptr<const versioned> cur_;
};

/// The std::mutex variant (readers exclude each other too).
template <class T>
using mutex_snapshot = locked_snapshot<T, std::mutex>;

}  // namespace lfkit::baseline

#endif  // LFKIT_BASELINE_LOCKED_SNAPSHOT_HPP
