// SPDX-License-Identifier: BSL-1.0
// Unit tests for lfkit/detail/platform.hpp (the asymmetric fence) and for the atomic policy hooks
// (lfkit/detail/atomic_hooks.hpp) as the stress policy specialises them.
#include <catch2/catch.hpp>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <thread>

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lfkit/detail/atomic_hooks.hpp"
#include "lfkit/detail/platform.hpp"
#include "perturbed_atomic.hpp"

TEST_CASE("atomic_hooks<perturbed_atomic>: fences, waits and wakes are perturbed steps",
          "[platform][hooks]") {
  // Stress runs must see every synchronising step, not only atomic member calls: each hook below
  // runs perturb() before and after the std default (2 steps each while perturbation is on).
  using hooks = lfkit::atomic_hooks<lfkit::stress::perturbed_atomic>;
  using lfkit::stress::g_perturbation;
  lfkit::stress::perturbed_atomic<std::uint32_t> word{0};
  hooks::prepare_heavy_fence();
  const lfkit::stress::perturbation_scope on(0, 1);  // a spin of 0-1 iterations: changes nothing
  const std::uint64_t s0 = g_perturbation.steps.load();
  hooks::thread_fence(std::memory_order_seq_cst);
  CHECK(g_perturbation.steps.load() - s0 == 2);
  hooks::light_fence();
  hooks::heavy_fence();
  CHECK(g_perturbation.steps.load() - s0 == 6);
  hooks::wait(word, 1, lfkit::detail::deadline::none());  // word != 1: returns at once
  hooks::wake_one(word);
  hooks::wake_all(word);
  CHECK(g_perturbation.steps.load() - s0 == 12);
  hooks::pause();  // not a synchronising step: forwarded unperturbed
  hooks::yield();
  CHECK(g_perturbation.steps.load() - s0 == 12);
  // The std::atomic defaults are untouched.
  CHECK(lfkit::atomic_hooks<std::atomic>::futex_compatible == (LFKIT_USE_FUTEX != 0));
}

// Store buffering (Dekker): x = 1; fence; r1 = y  ||  y = 1; fence; r2 = x. Without fences x86
// lets both loads read 0 (each store still sits in its core's store buffer). With a light fence on
// one side and a heavy fence on the other, r1 == r2 == 0 must never happen.
TEST_CASE("asymmetric fence: the store-buffering outcome never happens", "[platform]") {
  lfkit::detail::asymmetric_fence_prepare();
  constexpr int rounds = 20000;
  std::atomic<int> x{0}, y{0};
  std::atomic<int> round{-1};
  std::atomic<int> done{0};
  int r1 = 0, r2 = 0;
  int forbidden = 0;
  std::thread light([&] {
    for (int i = 0; i < rounds; ++i) {
      while (round.load(std::memory_order_acquire) != i) {
      }
      x.store(1,
              std::memory_order_relaxed);  // relaxed: ordered by the fence, the point of the test
      lfkit::detail::asymmetric_light_fence();
      r1 = y.load(std::memory_order_relaxed);  // relaxed: as above
      done.fetch_add(1, std::memory_order_acq_rel);
    }
  });
  for (int i = 0; i < rounds; ++i) {
    x.store(0, std::memory_order_relaxed);  // relaxed: published by the release store of round
    y.store(0, std::memory_order_relaxed);
    round.store(i, std::memory_order_release);
    y.store(1, std::memory_order_relaxed);  // relaxed: ordered by the fence
    lfkit::detail::asymmetric_heavy_fence();
    r2 = x.load(std::memory_order_relaxed);  // relaxed: as above
    while (done.load(std::memory_order_acquire) != i + 1) {
    }
    if (r1 == 0 && r2 == 0) ++forbidden;
  }
  light.join();
  CHECK(forbidden == 0);
}

#if !LFKIT_TSAN
// A seccomp filter installed after registration makes every membarrier call fail with EPERM. The
// heavy fence must not degrade to an ordinary fence (light sides rely on it): it aborts.
TEST_CASE("asymmetric fence: a membarrier that fails after registration aborts", "[platform]") {
  lfkit::detail::asymmetric_fence_prepare();
  if (lfkit::detail::g_membarrier_state.value.load() !=
      static_cast<int>(lfkit::detail::membarrier_state::available)) {
    WARN("skipped: membarrier is not available here (the fallback fences are used instead)");
    return;
  }
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::signal(SIGABRT, SIG_DFL);  // not Catch2's fatal-signal reporter, inherited from the parent
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_membarrier, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {static_cast<unsigned short>(sizeof filter / sizeof filter[0]),
                              filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
      _exit(3);  // could not install the filter
    }
    const int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) {  // the abort message is expected; keep the log clean
      dup2(devnull, 1);
      dup2(devnull, 2);
    }
    lfkit::detail::asymmetric_heavy_fence();
    _exit(0);  // reached only if the failure was ignored
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
    WARN("skipped: seccomp filters are not permitted here");
    return;
  }
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
}
#endif
