// stress/main.cpp — lfkit_stress: runs the registered interrupt-injection scenarios.
//
//   lfkit_stress --list
//   lfkit_stress --all --seconds 2 --threads 4 --signal-rate 20000 --seed 42
//   lfkit_stress --structure 'counter*' --freeze-us 20000 --json report.json
//   lfkit_stress --all --minutes 30          # a soak: the time is shared among the scenarios
//
// Prints a table (one row per scenario) and the seed; exits 1 if any invariant was violated (or a
// deliberately broken demo went uncaught), 2 on bad usage.
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "perturbed_atomic.hpp"
#include "stress.hpp"

namespace ls = lfkit::stress;

namespace {

[[noreturn]] void usage(const char* error) {
  if (error != nullptr) std::fprintf(stderr, "lfkit_stress: %s\n", error);
  std::fprintf(stderr,
               "usage: lfkit_stress [--all | --structure NAME|PREFIX*] [--threads N] [--seconds S | --minutes M]\n"
               "                    [--seed N] [--signal-rate PER_SECOND] [--freeze-us US] [--freeze-every S]\n"
               "                    [--perturb 0-3] [--json FILE] [--quiet] [--list]\n");
  std::exit(2);
}

bool matches(const std::string& pattern, const std::string& name) {
  if (pattern == "all") return true;
  if (!pattern.empty() && pattern.back() == '*') return name.rfind(pattern.substr(0, pattern.size() - 1), 0) == 0;
  return pattern == name;
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
  p.signal_number.store(ls::interrupt_signal);
}

std::uint64_t parse_u64(const char* s, const char* what) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0') usage((std::string("bad ") + what + ": " + s).c_str());
  return v;
}

double parse_double(const char* s, const char* what) {
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (end == s || *end != '\0' || v < 0) usage((std::string("bad ") + what + ": " + s).c_str());
  return v;
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
    else if (a == "--threads") opts.threads = static_cast<unsigned>(parse_u64(value(), "--threads"));
    else if (a == "--seconds") opts.seconds = parse_double(value(), "--seconds");
    else if (a == "--minutes") minutes = parse_double(value(), "--minutes");
    else if (a == "--seed") opts.seed = parse_u64(value(), "--seed");
    else if (a == "--signal-rate") opts.signal_rate = parse_double(value(), "--signal-rate");
    else if (a == "--freeze-us") opts.freeze_us = static_cast<unsigned>(parse_u64(value(), "--freeze-us"));
    else if (a == "--freeze-every") opts.freeze_every_s = parse_double(value(), "--freeze-every");
    else if (a == "--perturb") opts.perturb = static_cast<unsigned>(parse_u64(value(), "--perturb"));
    else if (a == "--json") opts.json_path = value();
    else if (a == "--quiet") opts.quiet = true;
    else if (a == "--list") list = true;
    else if (a == "--help" || a == "-h") usage(nullptr);
    else usage(("unknown option " + a).c_str());
  }
  if (opts.threads == 0 || opts.threads > 256) usage("--threads must be between 1 and 256");
  if (opts.perturb > 3) usage("--perturb must be 0, 1, 2 or 3");

  std::vector<ls::scenario> selected;
  for (const auto& s : ls::registry()) {
    if (list) std::printf("%-28s %s\n", s.name, s.description);
    else if (matches(opts.structure, s.name)) selected.push_back(s);
  }
  if (list) return 0;
  if (selected.empty()) usage(("no scenario matches '" + opts.structure + "' (see --list)").c_str());
  if (minutes > 0) opts.seconds = minutes * 60.0 / static_cast<double>(selected.size());

  std::printf("lfkit_stress: seed %" PRIu64 " (rerun with --seed %" PRIu64 "), %zu scenario(s), %u threads, "
              "%.1f s each, %.0f signals/s, freeze %u us, perturb %u\n",
              opts.seed, opts.seed, selected.size(), opts.threads, opts.seconds, opts.signal_rate,
              opts.freeze_us, opts.perturb);
  std::fflush(stdout);
  ls::install_handlers();
  ls::g_perturbation.seed.store(opts.seed);
  apply_perturbation(opts.perturb);

  std::vector<ls::result_row> rows;
  for (std::size_t i = 0; i < selected.size(); ++i) {
    if (!opts.quiet) {
      std::fprintf(stderr, "[%zu/%zu] %s ...\n", i + 1, selected.size(), selected[i].name);
    }
    ls::reset_signal_counters();
    ls::result_row row = selected[i].run(opts);
    row.scenario = selected[i].name;
    if (!opts.quiet) {
      std::fprintf(stderr, "[%zu/%zu] %s: %s (%" PRIu64 " ops, %" PRIu64 " signals handled, %" PRIu64 " violations)\n",
                   i + 1, selected.size(), row.scenario.c_str(), row.passed() ? "ok" : "FAILED", row.ops,
                   row.signals_handled, row.violations);
    }
    rows.push_back(row);
  }

  std::printf("\n%-26s %-34s %3s %12s %9s %9s %9s %8s %6s %8s %6s  %s\n", "scenario", "structure", "thr", "ops",
              "sig.sent", "sig.hand", "h.ops", "h.skip", "frz", "frz.prog", "viol", "verdict");
  int failed = 0;
  for (const auto& r : rows) {
    char prog[16] = "-";
    if (r.freeze_progress_pct >= 0) std::snprintf(prog, sizeof prog, "%.0f%%", r.freeze_progress_pct);
    const char* verdict = r.passed() ? (r.expect_violations ? "ok (caught)" : "ok") : "FAILED";
    if (!r.passed()) ++failed;
    std::printf("%-26s %-34s %3u %12" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %8" PRIu64 " %6" PRIu64
                " %8s %6" PRIu64 "  %s\n",
                r.scenario.c_str(), r.structure.c_str(), r.threads, r.ops, r.signals_sent, r.signals_handled,
                r.handler_ops, r.handler_ops_skipped, r.freezes, prog, r.violations, verdict);
  }
  std::printf("\n");
  for (const auto& r : rows) {
    if (!r.detail.empty()) std::printf("  %s: %s\n", r.scenario.c_str(), r.detail.c_str());
  }

  if (!opts.json_path.empty()) {
    std::ofstream out(opts.json_path);
    out << "{\n  \"seed\": " << opts.seed << ",\n  \"threads\": " << opts.threads << ",\n  \"seconds\": "
        << opts.seconds << ",\n  \"signal_rate\": " << opts.signal_rate << ",\n  \"freeze_us\": " << opts.freeze_us
        << ",\n  \"perturb\": " << opts.perturb << ",\n  \"scenarios\": [\n";
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const auto& r = rows[i];
      out << "    {\"scenario\": \"" << json_escape(r.scenario) << "\", \"structure\": \"" << json_escape(r.structure)
          << "\", \"threads\": " << r.threads << ", \"ops\": " << r.ops << ", \"signals_sent\": " << r.signals_sent
          << ", \"signals_handled\": " << r.signals_handled << ", \"handler_ops\": " << r.handler_ops
          << ", \"handler_ops_skipped\": " << r.handler_ops_skipped << ", \"freezes\": " << r.freezes
          << ", \"freeze_progress_pct\": " << r.freeze_progress_pct << ", \"violations\": " << r.violations
          << ", \"expect_violations\": " << (r.expect_violations ? "true" : "false")
          << ", \"passed\": " << (r.passed() ? "true" : "false") << ", \"elapsed_s\": " << r.elapsed_s
          << ", \"detail\": \"" << json_escape(r.detail) << "\"}" << (i + 1 < rows.size() ? "," : "") << "\n";
    }
    out << "  ]\n}\n";
  }

  std::printf("%zu passed, %d failed\n", rows.size() - static_cast<std::size_t>(failed), failed);
  if (failed > 0) std::printf("lfkit_stress: FAILED; reproduce with --seed %" PRIu64 "\n", opts.seed);
  return failed > 0 ? 1 : 0;
}
