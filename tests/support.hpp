// SPDX-License-Identifier: BSL-1.0
// tests/support.hpp — what lfkit's tests share: a lifetime-counting element type, eventually(),
// scoped_handler, and the gate (an atomic policy that stops a thread at an exact step, with a guard that never
// lets a failed check hang or std::terminate the test).
//
// Catch2 v2 assertions are not thread-safe and throw on failure: worker threads and atomic hooks
// (which run inside noexcept atomic operations) record what they saw; the main thread asserts.
#ifndef LFKIT_TESTS_SUPPORT_HPP
#define LFKIT_TESTS_SUPPORT_HPP

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <functional>
#include <ostream>
#include <thread>
#include <utility>
#include <vector>

#include <cerrno>
#include <cstddef>

#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "perturbed_atomic.hpp"  // lfkit::stress::hooked_atomic

namespace lfkit_test {

/// Counts live objects and catches double destruction or use of a destroyed object.
struct tracked {
  static inline std::atomic<long> live{0};
  static inline std::atomic<long> errors{0};
  static constexpr std::uint32_t alive_magic = 0xA11FE;
  static constexpr std::uint32_t dead_magic = 0xDEAD;
  std::uint32_t magic = alive_magic;
  int value = 0;

  explicit tracked(int v = 0) : value(v) { live.fetch_add(1); }
  tracked(const tracked& o) : value(o.value) {
    check(o);
    live.fetch_add(1);
  }
  tracked(tracked&& o) noexcept : value(o.value) {
    check(o);
    live.fetch_add(1);
  }
  tracked& operator=(const tracked& o) {
    check(o);
    check(*this);
    value = o.value;
    return *this;
  }
  tracked& operator=(tracked&& o) noexcept {
    check(o);
    check(*this);
    value = o.value;
    return *this;
  }
  ~tracked() {
    check(*this);
    magic = dead_magic;
    live.fetch_sub(1);
  }
  [[nodiscard]] bool alive() const noexcept { return magic == alive_magic; }
  static void check(const tracked& t) noexcept {
    if (!t.alive()) errors.fetch_add(1);
  }
};

/// Waits (up to 5 s, polling every millisecond) until `pred` holds; returns whether it did.
template <class Pred>
bool eventually(Pred pred) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// ---- the gate ---------------------------------------------------------------------------------
// gated_atomic stops a *held* thread right before each of its release stores — between claiming a
// slot and publishing (producer) or releasing (consumer) it — until the gate opens: a thread
// preempted, stopped, or interrupted by a signal mid-operation. Optionally, the main thread's
// n-th load of a given memory order opens the gate and waits until the held store has landed ("the holder
// finishes while this thread looks"), then runs `then` (another operation at that instant).
// A thread held at its read-modify-writes instead (gate::hold(f, atomic_op::rmw)) stops before each
// RMW whose order is exactly release, not at stores: e.g. right after a publishing CAS (acq_rel),
// before the release RMW that completes it. g_gate_sleeps counts the sleeps of any thread on a
// gated_atomic word (atomic_hooks::wait): a test sees that a thread is blocked, e.g. on a lock the
// held thread owns, without timing it. From its first held step on, a held thread's steps (that
// one included) are traced: gate_trace(i) tells which path the held operation took once resumed,
// e.g. a CAS that failed and the RMW that undid what preceded it. Held threads given a number
// (hold(f, at, n), n >= 1) can also be let through one by one while the gate stays closed:
// let_through(n) lets every held thread numbered n or less past all its held steps from then on.

inline std::atomic<bool> g_gate_open{true};
inline std::atomic<int> g_gate_waiting{0};  // held threads stopped at the gate now
inline std::atomic<int> g_gate_stores{0};   // held release steps (stores or RMWs) completed
inline std::atomic<int> g_gate_sleeps{0};   // atomic_hooks<gated_atomic>::wait calls
inline std::atomic<int> g_gate_let{0};      // numbered held threads up to this one pass

/// One traced step of a held thread: what it was (load, store, rmw, ...) and its memory order.
struct gate_step {
  lfkit::stress::atomic_op op = lfkit::stress::atomic_op::load;
  std::memory_order order = std::memory_order_relaxed;
  bool operator==(const gate_step&) const = default;
  friend std::ostream& operator<<(std::ostream& os, const gate_step& s) {
    static constexpr const char* ops[] = {"load", "store", "rmw", "wait", "notify"};
    static constexpr const char* orders[] = {"relaxed", "consume", "acquire",
                                             "release", "acq_rel", "seq_cst"};
    return os << ops[static_cast<int>(s.op)] << '/' << orders[static_cast<int>(s.order)];
  }
};
inline constexpr int gate_trace_max = 16;
/// Steps held threads took since their first held step (all of them; the first gate_trace_max are
/// kept in g_gate_trace, encoded as op << 8 | order).
inline std::atomic<int> g_gate_traced{0};
inline std::atomic<int> g_gate_trace[gate_trace_max] = {};
inline thread_local bool t_tracing = false;  // this held thread passed its first held step
/// The i-th step traced (from 0); precondition: i < min(g_gate_traced, gate_trace_max).
inline gate_step gate_trace(int i) noexcept {
  const int code = g_gate_trace[i].load();
  return {static_cast<lfkit::stress::atomic_op>(code >> 8),
          static_cast<std::memory_order>(code & 0xff)};
}
inline thread_local bool t_held = false;
inline thread_local int t_hold_no = 0;  // this held thread's number; 0: only open() lets it pass
/// The kind of release step a held thread stops at: store, or rmw.
inline thread_local lfkit::stress::atomic_op t_held_at = lfkit::stress::atomic_op::store;
inline thread_local int t_open_at_load = 0;  // 0: off; else the load (from 1) that opens
inline thread_local std::memory_order t_open_order = std::memory_order_acquire;  // loads counted
inline thread_local int t_counted_loads = 0;
inline thread_local void (*t_then)() = nullptr;  // must not throw (runs inside an atomic load)

/// If set, runs (once: it is cleared first) before the calling thread's next relaxed load on a
/// gated_atomic structure: another operation at exactly that instant, as a signal handler would.
inline thread_local void (*t_at_relaxed_load)() noexcept = nullptr;

struct gate_hook {
  static void before(lfkit::stress::atomic_op op, std::memory_order o) noexcept {
    if (op == lfkit::stress::atomic_op::load && o == std::memory_order_relaxed &&
        t_at_relaxed_load != nullptr) {
      auto f = t_at_relaxed_load;
      t_at_relaxed_load = nullptr;
      f();
    }
    if (op == lfkit::stress::atomic_op::load && o == t_open_order && t_open_at_load > 0 &&
        ++t_counted_loads == t_open_at_load) {
      const int before_stores = g_gate_stores.load();
      g_gate_open.store(true);
      while (g_gate_stores.load() == before_stores) std::this_thread::yield();
      if (t_then != nullptr) {
        const int armed = t_open_at_load;
        t_open_at_load = 0;  // the nested operation's loads are not counted
        t_then();
        t_open_at_load = armed;
      }
    }
    if (op == t_held_at && o == std::memory_order_release && t_held) {
      g_gate_waiting.fetch_add(1);
      while (!g_gate_open.load() && (t_hold_no == 0 || g_gate_let.load() < t_hold_no)) {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
      g_gate_waiting.fetch_sub(1);
    }
  }
  static void after(lfkit::stress::atomic_op op, std::memory_order o) noexcept {
    if (op == t_held_at && o == std::memory_order_release && t_held) {
      g_gate_stores.fetch_add(1);
      t_tracing = true;
    }
    if (t_tracing) {
      const int i = g_gate_traced.fetch_add(1);
      if (i < gate_trace_max)
        g_gate_trace[i].store(static_cast<int>(op) << 8 | static_cast<int>(o));
    }
  }
};

/// The gated atomic policy (Atom = lfkit_test::gated_atomic).
template <class T>
class gated_atomic : public lfkit::stress::hooked_atomic<T, gate_hook> {
 public:
  using lfkit::stress::hooked_atomic<T, gate_hook>::hooked_atomic;
};

/// Pause hints and yields of the calling thread's operations on gated_atomic structures (its
/// atomic_hooks count them): a test resets them, runs one call, and checks a documented bound.
inline thread_local unsigned t_pauses = 0;
inline thread_local unsigned t_yields = 0;
/// If set, the calling thread's next yield on a gated_atomic structure runs it (once, then it is
/// cleared) after yielding: another thread's step at exactly that instant of a wait.
inline thread_local void (*t_on_yield)() = nullptr;

/// One gated scenario: closes the gate; hold() runs a function on a thread stopped at its release
/// stores, spawn() on an ordinary thread. The destructor — also when a REQUIRE failed — disarms
/// the caller's load hook, opens the gate and joins every thread, so a failure neither hangs nor
/// calls std::terminate (threads blocked on the held one finish once it does).
class gate {
 public:
  gate() noexcept {
    g_gate_stores.store(0);
    g_gate_traced.store(0);
    g_gate_let.store(0);
    g_gate_open.store(false);
  }
  ~gate() {
    disarm();
    g_gate_open.store(true);
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  gate(const gate&) = delete;
  gate& operator=(const gate&) = delete;

  /// Runs `f` on a held thread, stopped before each of its release steps of kind `at` (store or
  /// rmw); returns once it is stopped at the gate (false: it never got there). A thread numbered
  /// n >= 1 also passes once let_through(n) (or a higher number) was called.
  template <class F>
  bool hold(F f, lfkit::stress::atomic_op at = lfkit::stress::atomic_op::store, int n = 0) {
    const int before = g_gate_waiting.load();
    threads_.emplace_back([f = std::move(f), at, n]() mutable {
      t_held_at = at;
      t_hold_no = n;
      t_held = true;
      f();
    });
    return eventually([&] { return g_gate_waiting.load() > before; });
  }
  /// Runs `f` on an ordinary thread owned by the gate.
  template <class F>
  void spawn(F f) {
    threads_.emplace_back(std::move(f));
  }
  /// The calling thread's `n`-th load (from 1) with memory order `order` opens the gate, waits
  /// for the held store, then runs `then` (if any).
  static void open_at_load(std::memory_order order, int n, void (*then)() = nullptr) noexcept {
    t_counted_loads = 0;
    t_then = then;
    t_open_order = order;
    t_open_at_load = n;
  }
  /// Disarms open_at_load; returns the loads counted.
  static int disarm() noexcept {
    t_open_at_load = 0;
    t_then = nullptr;
    return t_counted_loads;
  }
  void open() noexcept { g_gate_open.store(true); }
  /// Lets the held threads numbered 1..n pass their held steps, now and later; the others stay.
  static void let_through(int n) noexcept { g_gate_let.store(n); }
  /// Opens the gate and joins every thread.
  void finish() {
    open();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  std::vector<std::thread> threads_;
};

/// Installs `fn` for `sig` (SA_RESTART or not) and restores the previous action on destruction,
/// also when a REQUIRE failed in between. The caller checks installed().
class scoped_handler {
 public:
  scoped_handler(int sig, void (*fn)(int), bool restart) noexcept : sig_(sig) {
    struct sigaction sa{};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = restart ? SA_RESTART : 0;
    sa.sa_handler = fn;
    installed_ = sigaction(sig_, &sa, &old_) == 0;
  }
  ~scoped_handler() {
    if (installed_) sigaction(sig_, &old_, nullptr);
  }
  scoped_handler(const scoped_handler&) = delete;
  scoped_handler& operator=(const scoped_handler&) = delete;
  [[nodiscard]] bool installed() const noexcept { return installed_; }

 private:
  int sig_;
  bool installed_ = false;
  struct sigaction old_{};
};

/// The errno sentinel of the errno_kept_* checks: no system call sets it.
inline constexpr int errno_sentinel = 4242;

namespace detail {
inline std::function<void()>* g_errno_wake = nullptr;  // the wake to run in the handler
inline volatile sig_atomic_t g_errno_after = 0;        // errno right after it, in the handler
extern "C" inline void errno_wake_handler(int) {
  const int saved = errno;
  errno = errno_sentinel;
  (*g_errno_wake)();
  g_errno_after = errno;
  errno = saved;
}
}  // namespace detail

/// Runs `wake` inside a SIGUSR2 handler on the calling thread, with errno set to errno_sentinel on
/// entry, and returns errno as `wake` left it.
inline int errno_after_wake_in_handler(std::function<void()> wake) {
  detail::g_errno_wake = &wake;
  detail::g_errno_after = 0;
  scoped_handler h(SIGUSR2, detail::errno_wake_handler, true);
  if (!h.installed()) return -1;
  raise(SIGUSR2);  // delivered before raise() returns
  detail::g_errno_wake = nullptr;
  return detail::g_errno_after;
}

/// What errno_after_waking() saw.
struct waking_result {
  bool slept = false;    ///< the sleeper had not returned before the wake
  int errno_after = -1;  ///< errno as `wake` left it (set to errno_sentinel just before)
};

/// Runs `sleep` on a thread, gives it 30 ms to fall asleep, then runs `wake` with errno set to
/// errno_sentinel, in ordinary code or (in_handler) inside a signal handler, and joins the sleeper
/// (so `wake` woke it: its wake path ran).
inline waking_result errno_after_waking(const std::function<void()>& sleep,
                                        const std::function<void()>& wake, bool in_handler) {
  waking_result r;
  std::atomic<bool> returned{false};
  std::thread sleeper([&] {
    sleep();
    returned.store(true);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(30));  // asleep in the kernel by now
  r.slept = !returned.load();
  if (in_handler) {
    r.errno_after = errno_after_wake_in_handler(wake);
  } else {
    errno = errno_sentinel;
    wake();
    r.errno_after = errno;
  }
  sleeper.join();
  return r;
}

/// Makes system call `nr` fail with `err` on the calling thread only (a seccomp filter without
/// TSYNC: other threads are unaffected), for the calls whose second argument, its low 32 bits
/// masked with arg1_mask, equals arg1_value (mask 0: every call), e.g. only futex's FUTEX_WAKE.
/// Sets no_new_privs first, as an unprivileged filter needs. Returns false if either prctl failed
/// (seccomp not permitted here). Irreversible: for a forked child.
inline bool fail_syscall_on_this_thread(std::uint32_t nr, int err, std::uint32_t arg1_mask = 0,
                                        std::uint32_t arg1_value = 0) noexcept {
  const std::uint32_t fail =
      SECCOMP_RET_ERRNO | (static_cast<std::uint32_t>(err) & SECCOMP_RET_DATA);
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 4),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),  // low half
      BPF_STMT(BPF_ALU | BPF_AND | BPF_K, arg1_mask),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arg1_value, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, fail),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

/// errno_kept_by_failing_wake()'s verdicts.
enum class errno_verdict { kept, clobbered, wake_not_reached, no_seccomp, child_failed };

/// Whether `wake` keeps errno when its futex wake system call *fails*. (A successful futex call
/// leaves errno alone, so a wake that wakes a sleeper cannot tell a saved-and-restored errno from
/// an untouched one.) In a forked child: `sleep` runs on a thread until it is asleep in the kernel;
/// then a seccomp filter on the calling thread only (not the sleeper's) makes every FUTEX_WAKE fail
/// with ENOTRECOVERABLE, and `wake` runs inside a signal handler with errno set to
/// errno_sentinel. kept: errno was still the sentinel and the sleeper was not woken (so the wake
/// system call was made, and failed); clobbered: errno changed; wake_not_reached: the sleeper
/// returned anyway (it was not asleep yet, or `wake` made no system call). Linux only; not under
/// TSan (fork with threads, seccomp).
inline errno_verdict errno_kept_by_failing_wake(const std::function<void()>& sleep,
                                                std::function<void()> wake) {
  const pid_t pid = fork();
  if (pid < 0) return errno_verdict::child_failed;
  if (pid == 0) {
    std::atomic<bool> returned{false};
    std::thread sleeper([&] {
      sleep();
      returned.store(true);
    });
    sleeper.detach();  // _exit ends it
    timespec nap{0, 100000000};
    nanosleep(&nap, nullptr);  // the sleeper is asleep in the kernel by now
    if (returned.load()) _exit(static_cast<int>(errno_verdict::wake_not_reached));
    // Only FUTEX_WAKE fails: futex's op, its command without the flags (low 7 bits).
    if (!fail_syscall_on_this_thread(SYS_futex, ENOTRECOVERABLE, 0x7f, FUTEX_WAKE)) {
      _exit(static_cast<int>(errno_verdict::no_seccomp));
    }
    const int after = errno_after_wake_in_handler(std::move(wake));
    nanosleep(&nap, nullptr);  // a woken sleeper would have returned by now
    if (after != errno_sentinel) _exit(static_cast<int>(errno_verdict::clobbered));
    if (returned.load()) _exit(static_cast<int>(errno_verdict::wake_not_reached));
    _exit(static_cast<int>(errno_verdict::kept));
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return errno_verdict::child_failed;
  return static_cast<errno_verdict>(WEXITSTATUS(status));
}

}  // namespace lfkit_test

template <>
struct lfkit::atomic_hooks<lfkit_test::gated_atomic>
    : lfkit::basic_atomic_hooks<lfkit_test::gated_atomic> {
  static void pause() noexcept {
    ++lfkit_test::t_pauses;
    basic_atomic_hooks::pause();
  }
  static void yield() noexcept {
    ++lfkit_test::t_yields;
    basic_atomic_hooks::yield();
    if (auto* f = std::exchange(lfkit_test::t_on_yield, nullptr)) f();
  }
  static void wait(lfkit_test::gated_atomic<std::uint32_t>& word, std::uint32_t expected,
                   const lfkit::detail::deadline& dl) noexcept {
    lfkit_test::g_gate_sleeps.fetch_add(1);
    basic_atomic_hooks::wait(word, expected, dl);
  }
};

#endif  // LFKIT_TESTS_SUPPORT_HPP
