// mlfaas metrics [--db PATH] [--function F] [--since 10m] [--json]: a summary of what `mlfaas serve` recorded.
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "cli/commands.h"
#include "platform/metrics/metrics_store.h"

namespace mlfaas::cli {
namespace {

// "90s", "10m", "2h", "1d" -> milliseconds; throws CliExit(2) otherwise.
int64_t parse_duration_ms(const std::string& s) {
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  std::string unit = end ? std::string(end) : "";
  double mult = unit == "ms" ? 1 : unit == "s" || unit.empty() ? 1e3 : unit == "m" ? 6e4 : unit == "h" ? 3.6e6 : unit == "d" ? 8.64e7 : -1;
  if (end == s.c_str() || mult < 0 || !(v >= 0)) throw CliExit(2, "metrics: --since '" + s + "' is not a duration like 90s, 10m, 2h or 1d");
  return static_cast<int64_t>(v * mult);
}


}  // namespace

void register_metrics(CLI::App& app) {
  auto* cmd = app.add_subcommand("metrics", "Summarise the metrics `mlfaas serve` recorded (Invocations, Errors, ...)");
  auto db = std::make_shared<std::string>(".mlfaas/metrics.db");
  auto function = std::make_shared<std::string>();
  auto since = std::make_shared<std::string>("10m");
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--db", *db, "Metrics database written by serve")->capture_default_str();
  cmd->add_option("--function", *function, "Only this function");
  cmd->add_option("--since", *since, "Window: 90s, 10m, 2h, 1d")->capture_default_str();
  cmd->add_flag("--json", *json, "One JSON object per function");
  cmd->callback([=] {
    struct stat st {};
    if (::stat(db->c_str(), &st) != 0) {
      throw CliExit(2, "metrics: " + *db + ": no metrics database (start `mlfaas serve` first, or pass --db)");
    }
    const int64_t window = parse_duration_ms(*since);
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
    metrics::MetricsStore store(*db);
    std::vector<std::string> fns = store.functions();
    if (!function->empty()) {
      if (std::find(fns.begin(), fns.end(), *function) == fns.end()) {
        throw CliExit(2, "metrics: no function '" + *function + "' in " + *db);
      }
      fns = {*function};
    }
    if (!*json) {
      std::printf("%-20s %8s %6s %9s %5s %9s %9s %9s %9s %9s %10s %12s\n", "function", "invokes", "errors", "throttles",
                  "cold", "avg ms", "p50 ms", "p90 ms", "p99 ms", "max ms", "billed ms", "cost USD");
    }
    for (const auto& f : fns) {
      metrics::Totals t = store.totals(f, now - window);
      std::vector<double> d = store.durations(f, now - window);
      std::sort(d.begin(), d.end());
      auto pct = [&d](double p) { return metrics::nearest_rank_percentile(d, p); };
      double avg = t.invocations > 0 ? t.duration_sum_ms / double(t.invocations) : 0;
      if (*json) {
        nlohmann::ordered_json j = {{"function", f}, {"since_ms", window}, {"invocations", t.invocations},
                                    {"errors", t.errors}, {"throttles", t.throttles}, {"cold_starts", t.cold_starts},
                                    {"duration_avg_ms", avg}, {"duration_p50_ms", pct(50)},
                                    {"duration_p90_ms", pct(90)}, {"duration_p99_ms", pct(99)},
                                    {"duration_max_ms", d.empty() ? 0.0 : d.back()}, {"billed_ms", t.billed_ms},
                                    {"cost_usd", t.cost_usd}};
        std::printf("%s\n", j.dump().c_str());
      } else {
        std::printf("%-20s %8lld %6lld %9lld %5lld %9.2f %9.2f %9.2f %9.2f %9.2f %10lld %12.8f\n", f.c_str(),
                    static_cast<long long>(t.invocations), static_cast<long long>(t.errors),
                    static_cast<long long>(t.throttles), static_cast<long long>(t.cold_starts), avg, pct(50),
                    pct(90), pct(99), d.empty() ? 0.0 : d.back(), static_cast<long long>(t.billed_ms), t.cost_usd);
      }
    }
    if (fns.empty() && !*json) std::printf("(no invocations recorded)\n");
  });
}

}  // namespace mlfaas::cli
