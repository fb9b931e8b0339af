// SPDX-License-Identifier: BSL-1.0
// stress/main.cpp — lfkit_stress: runs the registered interrupt-injection scenarios.
//
//   lfkit_stress --list
//   lfkit_stress --all --seconds 2 --threads 4 --signal-rate 20000 --seed 42
//   lfkit_stress --structure 'queue_*,snapshot_lfkit' --freeze-us 20000 --json report.json
//   lfkit_stress --all --minutes 30          # a soak: the time is shared among the scenarios
//
// Prints progress on stderr, a table (one row per scenario) and the seed; exits 1 if any invariant
// was violated (or a deliberately broken demo went uncaught), 2 on bad usage, 3 if workers hung.
// With --json FILE, a failing or hung run also keeps its report as FILE.failed-<time>-<pid>.json.
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "perturbed_atomic.hpp"
#include "stress.hpp"

namespace ls = lfkit::stress;

namespace {

[[noreturn]] void usage(const char* error) {
  if (error != nullptr) std::fprintf(stderr, "lfkit_stress: %s\n", error);
  std::fprintf(
      stderr,
      "usage: lfkit_stress [--all | --structure NAME|GLOB[,...]] [--threads N] [--seconds S | "
      "--minutes M]\n"
      "                    [--seed N] [--signal-rate PER_SECOND] [--freeze-us US] [--freeze-every "
      "S]\n"
      "                    [--symmetric] [--perturb 0-3] [--json FILE] [--quiet] [--strict-demos]\n"
      "                    [--list]\n"
      "  --structure   scenario names or globs, comma-separated (see --list); default all\n"
      "  --signal-rate interrupt signals per second sent to the workers (default 20000; a\n"
      "                worker whose last one is still being handled is skipped)\n"
      "  --freeze-us   freeze a worker this long in a signal handler every --freeze-every s\n"
      "                (default 0.1) and measure the others' progress meanwhile\n"
      "  --symmetric   queue workers both push and pop (try_ ops only), so a frozen one does not\n"
      "                cut the others' supply (for freeze measurements)\n"
      "  --perturb     1..3: lfkit structures use perturbed_atomic (spins, yields, sleeps,\n"
      "                signals raised at atomic steps)\n"
      "  --strict-demos judge the deliberately broken demos like any structure (they then fail)\n");
  std::exit(2);
}

bool glob(const char* p, const char* s) {
  if (*p == '\0') return *s == '\0';
  if (*p == '*') return glob(p + 1, s) || (*s != '\0' && glob(p, s + 1));
  return *s != '\0' && *p == *s && glob(p + 1, s + 1);
}

bool matches(const std::string& patterns, const std::string& name) {
  std::size_t start = 0;
  while (start <= patterns.size()) {
    std::size_t end = patterns.find(',', start);
    if (end == std::string::npos) end = patterns.size();
    const std::string p = patterns.substr(start, end - start);
    if (p == "all" || glob(p.c_str(), name.c_str())) return true;
    start = end + 1;
  }
  return false;
}

std::string pct(double v) {
  if (v < 0) return "-";
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.0f%%", v);
  return buf;
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

void apply_perturbation(unsigned level) {
  auto& p = ls::g_perturbation;
  // Per atomic step, in 1/65536: level 1 spins now and then, 2 also yields, 3 also sleeps and
  // raises signals at exact atomic steps.
  p.spin.store(level >= 1 ? 2048 : 0);
  p.yield.store(level >= 2 ? 256 : 0);
  p.sleep.store(level >= 3 ? 8 : 0);
  p.raise_signal.store(level >= 3 ? 16 : 0);
  // Not the injector's interrupt signal: its handler accounts for the injector's signals only.
  p.signal_number.store(ls::perturb_signal());
}

std::uint64_t parse_u64(const char* s, const char* what) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0')
    usage((std::string("bad ") + what + ": " + s).c_str());
  return v;
}

double parse_double(const char* s, const char* what) {
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (end == s || *end != '\0' || v < 0) usage((std::string("bad ") + what + ": " + s).c_str());
  return v;
}

/// Writes the report as JSON to `path`; false (and a message) if it could not.
bool write_json(const std::string& path, const ls::options& opts,
                const std::vector<ls::result_row>& rows, int failed) {
  std::ofstream out(path);
  out << "{\n  \"seed\": " << opts.seed << ",\n  \"threads\": " << opts.threads
      << ",\n  \"seconds\": " << opts.seconds << ",\n  \"signal_rate\": " << opts.signal_rate
      << ",\n  \"freeze_us\": " << opts.freeze_us
      << ",\n  \"freeze_every_s\": " << opts.freeze_every_s
      << ",\n  \"symmetric\": " << (opts.symmetric ? "true" : "false")
      << ",\n  \"perturb\": " << opts.perturb
      << ",\n  \"passed\": " << (failed == 0 ? "true" : "false") << ",\n  \"scenarios\": [\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    out << "    {\"scenario\": \"" << json_escape(r.scenario) << "\", \"structure\": \""
        << json_escape(r.structure) << "\", \"threads\": " << r.threads << ", \"ops\": " << r.ops
        << ", \"signals_sent\": " << r.signals_sent
        << ", \"signals_handled\": " << r.signals_handled
        << ", \"perturbed_signals\": " << r.perturbed_signals
        << ", \"perturbed_handled\": " << r.perturbed_handled << ", \"signal_error\": \""
        << json_escape(r.signal_error) << "\""
        << ", \"handler_ops\": " << r.handler_ops
        << ", \"handler_ops_failed\": " << r.handler_ops_failed
        << ", \"handler_ops_skipped\": " << r.handler_ops_skipped << ", \"freezes\": " << r.freezes
        << ", \"freezes_measured\": " << r.freeze.measured
        << ", \"freeze_progress_pct\": " << r.freeze.mean_pct
        << ", \"freeze_progress_median_pct\": " << r.freeze.median_pct
        << ", \"freeze_progress_worst_pct\": " << r.freeze.worst_pct
        << ", \"freezes_below_10pct_pct\": " << r.freeze.below10_pct
        << ", \"control_windows\": " << r.freeze.control_measured
        << ", \"control_progress_pct\": " << r.freeze.control_mean_pct
        << ", \"control_below_10pct_pct\": " << r.freeze.control_below10_pct
        << ", \"checks\": " << r.checks << ", \"violations\": " << r.violations
        << ", \"expect_violations\": " << (r.expect_violations ? "true" : "false")
        << ", \"passed\": " << (r.passed() ? "true" : "false") << ", \"elapsed_s\": " << r.elapsed_s
        << ", \"detail\": \"" << json_escape(r.detail) << "\"}" << (i + 1 < rows.size() ? "," : "")
        << "\n";
  }
  out << "  ]\n}\n";
  if (!out) std::fprintf(stderr, "lfkit_stress: could not write %s\n", path.c_str());
  return static_cast<bool>(out);
}

/// Where a failing run keeps its report: FILE.json -> FILE.failed-YYYYmmdd-HHMMSS-PID.json.
std::string failed_copy_path(const std::string& json_path) {
  std::string base = json_path;
  if (base.size() > 5 && base.compare(base.size() - 5, 5, ".json") == 0)
    base.resize(base.size() - 5);
  char stamp[32] = "unknown-time";
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  if (localtime_r(&t, &tm) != nullptr) std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  return base + ".failed-" + stamp + "-" + std::to_string(static_cast<long>(getpid())) + ".json";
}

// What a hang report needs (ls::hung() calls on_hang before it exits): set by main.
const ls::options* g_opts = nullptr;
const std::vector<ls::result_row>* g_rows = nullptr;
const char* g_running = nullptr;  // the scenario that is running

// Workers did not finish: say which scenario, and keep the report of the ones before it with a
// row for this one.
void on_hang() {
  std::printf(
      "lfkit_stress: scenario %s hung (workers did not finish within 10 s of the "
      "deadline)\n",
      g_running != nullptr ? g_running : "?");
  if (g_opts == nullptr || g_rows == nullptr || g_opts->json_path.empty()) return;
  std::vector<ls::result_row> rows = *g_rows;
  ls::result_row hung_row;
  hung_row.scenario = g_running != nullptr ? g_running : "?";
  hung_row.violations = 1;
  hung_row.detail = "HUNG: workers did not finish within 10 s of the deadline (exit status 3)";
  hung_row.threads = g_opts->threads;
  rows.push_back(hung_row);
  write_json(g_opts->json_path, *g_opts, rows, 1);  // not a stale report of an earlier run
  const std::string kept = failed_copy_path(g_opts->json_path);
  if (write_json(kept, *g_opts, rows, 1)) std::printf("report kept in %s\n", kept.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  ls::options opts;
  opts.seed = std::random_device{}();
  double minutes = 0;
  bool list = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage((a + " needs a value").c_str());
      return argv[++i];
    };
    if (a == "--all") opts.structure = "all";
    else if (a == "--structure") opts.structure = value();
    else if (a == "--threads")
      opts.threads = static_cast<unsigned>(parse_u64(value(), "--threads"));
    else if (a == "--seconds") opts.seconds = parse_double(value(), "--seconds");
    else if (a == "--minutes") minutes = parse_double(value(), "--minutes");
    else if (a == "--seed") opts.seed = parse_u64(value(), "--seed");
    else if (a == "--signal-rate") opts.signal_rate = parse_double(value(), "--signal-rate");
    else if (a == "--freeze-us")
      opts.freeze_us = static_cast<unsigned>(parse_u64(value(), "--freeze-us"));
    else if (a == "--freeze-every") opts.freeze_every_s = parse_double(value(), "--freeze-every");
    else if (a == "--perturb")
      opts.perturb = static_cast<unsigned>(parse_u64(value(), "--perturb"));
    else if (a == "--json") opts.json_path = value();
    else if (a == "--quiet") opts.quiet = true;
    else if (a == "--symmetric") opts.symmetric = true;
    else if (a == "--strict-demos") opts.strict_demos = true;
    else if (a == "--list") list = true;
    else if (a == "--help" || a == "-h") usage(nullptr);
    else usage(("unknown option " + a).c_str());
  }
  if (opts.threads == 0 || opts.threads > 256) usage("--threads must be between 1 and 256");
  if (opts.perturb > 3) usage("--perturb must be 0, 1, 2 or 3");

  std::vector<ls::scenario> selected;
  for (const auto& s : ls::registry()) {
    if (list) std::printf("%-40s %s\n", s.name, s.description);
    else if (matches(opts.structure, s.name)) selected.push_back(s);
  }
  if (list) return 0;
  if (selected.empty())
    usage(("no scenario matches '" + opts.structure + "' (see --list)").c_str());
  if (minutes > 0) opts.seconds = minutes * 60.0 / static_cast<double>(selected.size());

  std::printf("lfkit_stress: seed %" PRIu64 " (rerun with --seed %" PRIu64
              "), %zu scenario(s), %u threads, "
              "%.1f s each, %.0f signals/s, freeze %u us, perturb %u\n",
              opts.seed, opts.seed, selected.size(), opts.threads, opts.seconds, opts.signal_rate,
              opts.freeze_us, opts.perturb);
  std::fflush(stdout);
  ls::install_handlers();
  ls::g_perturbation.seed.store(opts.seed);
  apply_perturbation(opts.perturb);

  std::vector<ls::result_row> rows;
  g_opts = &opts;
  g_rows = &rows;
  ls::g_on_hang = &on_hang;
  for (std::size_t i = 0; i < selected.size(); ++i) {
    g_running = selected[i].name;
    if (!opts.quiet) {
      std::fprintf(stderr, "[%zu/%zu] %s ...\n", i + 1, selected.size(), selected[i].name);
    }
    ls::reset_signal_counters();
    ls::result_row row = selected[i].run(opts);
    // A deliberately broken demo that was not caught yet (its window is a few instructions wide and
    // the machine may be busy) runs again, up to 5 attempts in all; it fails only if none catches it.
    for (int attempt = 2;
         row.expect_violations && !opts.strict_demos && row.violations == 0 && attempt <= 5;
         ++attempt) {
      if (!opts.quiet) std::fprintf(stderr, "    not caught yet; attempt %d\n", attempt);
      ls::reset_signal_counters();
      row = selected[i].run(opts);
      row.detail += row.violations > 0 ? " (caught on attempt " + std::to_string(attempt) + ")"
                                       : " (attempt " + std::to_string(attempt) + ": NOT caught)";
    }
    row.scenario = selected[i].name;
    row.strict = opts.strict_demos;
    if (!opts.quiet) {
      std::fprintf(stderr,
                   "[%zu/%zu] %s: %s (%" PRIu64 " ops, %" PRIu64 " signals handled, %" PRIu64
                   " violations)\n",
                   i + 1, selected.size(), row.scenario.c_str(), row.passed() ? "ok" : "FAILED",
                   row.ops, row.signals_handled, row.violations);
      if (!row.passed()) std::fprintf(stderr, "    %s\n", row.detail.c_str());
      if (!row.signal_error.empty())
        std::fprintf(stderr, "    signal accounting: %s\n", row.signal_error.c_str());
    }
    rows.push_back(row);
  }

  std::printf("\n%-39s %-39s %3s %11s %8s %8s %8s %7s %7s %5s %6s %6s %5s %6s %5s  %s\n",
              "scenario", "structure", "thr", "ops", "sig.sent", "sig.hand", "h.ops", "h.fail",
              "h.skip", "frz", "frz.med", "frz.min", "<10%", "ctl<10", "viol", "verdict");
  int failed = 0;
  for (const auto& r : rows) {
    const char* verdict =
        r.passed() ? (r.expect_violations && !r.strict ? "ok (caught)" : "ok") : "FAILED";
    if (!r.passed()) ++failed;
    std::printf("%-39s %-39s %3u %11" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %7" PRIu64
                " %7" PRIu64 " %5" PRIu64 " %6s %6s %5s %6s %5" PRIu64 "  %s\n",
                r.scenario.c_str(), r.structure.c_str(), r.threads, r.ops, r.signals_sent,
                r.signals_handled, r.handler_ops, r.handler_ops_failed, r.handler_ops_skipped,
                r.freezes, pct(r.freeze.median_pct).c_str(), pct(r.freeze.worst_pct).c_str(),
                pct(r.freeze.below10_pct).c_str(), pct(r.freeze.control_below10_pct).c_str(),
                r.violations, verdict);
  }
  std::printf(
      "\ncolumns: ops = operations by workers; sig.sent/sig.hand = interrupt signals sent/handled; "
      "h.ops =\n"
      "structure operations done inside handlers; h.fail = handler try_ ops that returned false "
      "(full, empty,\n"
      "busy); h.skip = handler operations not attempted because they would deadlock (baselines); "
      "frz = freezes;\n"
      "frz.med/frz.min = the other threads' throughput during a freeze as %% of just before "
      "(median, "
      "worst);\n"
      "<10%% = share of freezes during which that throughput fell below 10%%; ctl<10 = the same "
      "share for\n"
      "control windows measured the same way without a freeze (the machine's noise floor); viol = "
      "invariant\n"
      "violations.\n\n");
  for (const auto& r : rows) {
    if (!r.detail.empty()) std::printf("  %s: %s\n", r.scenario.c_str(), r.detail.c_str());
    if (!r.signal_error.empty()) {
      std::printf("  %s: FAILED signal accounting: %s\n", r.scenario.c_str(),
                  r.signal_error.c_str());
    }
  }
  std::printf("\n");

  if (!opts.json_path.empty()) {
    write_json(opts.json_path, opts, rows, failed);
    // A failing run's report is kept under a name of its own: a rerun (or the next ctest run)
    // rewrites --json's file, and the evidence of a rare failure went with it.
    if (failed > 0) {
      const std::string kept = failed_copy_path(opts.json_path);
      if (write_json(kept, opts, rows, failed)) std::printf("report kept in %s\n", kept.c_str());
    }
  }

  std::printf("%zu passed, %d failed\n", rows.size() - static_cast<std::size_t>(failed), failed);
  if (failed > 0)
    std::printf("lfkit_stress: FAILED; reproduce with --seed %" PRIu64 "\n", opts.seed);
  return failed > 0 ? 1 : 0;
}
