#include "platform/web/web_api.h"

#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cctype>
#include <cmath>
#include <cstring>

#include "platform/metrics/metrics_store.h"

namespace mlfaas::web {
namespace {

using nlohmann::ordered_json;


}  // namespace

std::string info_json(const std::vector<FunctionInfo>& functions, const std::vector<RouteInfo>& routes) {
  ordered_json j;
  j["functions"] = ordered_json::array();
  for (const auto& f : functions) {
    j["functions"].push_back({{"name", f.name}, {"memory_mb", f.memory_mb}, {"timeout_s", f.timeout_s}, {"handler", f.handler}});
  }
  j["routes"] = ordered_json::array();
  for (const auto& r : routes) j["routes"].push_back({{"method", r.method}, {"path", r.path}, {"function", r.function}});
  return j.dump();
}

std::string dashboard_json(const metrics::MetricsStore& store, const std::vector<FunctionInfo>& functions,
                           const std::vector<alarm::AlarmStatus>& alarms, int64_t now_ms, int window_s,
                           size_t recent_limit) {
  window_s = std::clamp(window_s, 10, 24 * 3600);
  const int64_t since = now_ms - int64_t{window_s} * 1000;
  const auto resolution = std::chrono::seconds(window_s <= 900 ? 1 : 10);
  ordered_json j;
  j["now"] = now_ms;
  j["window_s"] = window_s;
  j["resolution_s"] = resolution.count();
  j["functions"] = ordered_json::array();
  for (const auto& f : functions) {
    auto series = store.series(f.name, resolution, since, now_ms);
    metrics::Totals t = store.totals(f.name, since);
    std::vector<double> d = store.durations(f.name, since);
    std::sort(d.begin(), d.end());
    auto pct = [&d](double p) { return metrics::nearest_rank_percentile(d, p); };
    int64_t conc = 0;
    ordered_json s = ordered_json::array();
    for (const auto& b : series) {
      conc = std::max(conc, b.concurrency_max);
      s.push_back({{"t", b.start_ms}, {"invocations", b.invocations}, {"errors", b.errors}, {"throttles", b.throttles},
                   {"cold_starts", b.cold_starts}, {"p50", b.duration_p50}, {"p90", b.duration_p90},
                   {"p99", b.duration_p99}, {"max", b.duration_max}, {"avg", b.duration_avg},
                   {"init_avg", b.init_avg}, {"concurrency", b.concurrency_max}, {"cost_usd", b.cost_usd}});
    }
    j["functions"].push_back(
        {{"name", f.name}, {"memory_mb", f.memory_mb}, {"timeout_s", f.timeout_s},
         {"totals", {{"invocations", t.invocations}, {"errors", t.errors}, {"throttles", t.throttles},
                     {"cold_starts", t.cold_starts}, {"billed_ms", t.billed_ms}, {"cost_usd", t.cost_usd},
                     {"duration_p50_ms", pct(50)}, {"duration_p90_ms", pct(90)}, {"duration_p99_ms", pct(99)},
                     {"duration_max_ms", d.empty() ? 0.0 : d.back()}, {"concurrency_max", conc}}},
         {"series", s}});
  }
  j["alarms"] = ordered_json::array();
  for (const auto& a : alarms) {
    j["alarms"].push_back({{"name", a.name}, {"state", alarm::state_name(a.state)}, {"reason", a.reason},
                           {"since", a.since_ms}});
  }
  j["recent"] = ordered_json::array();
  for (const auto& r : store.recent("", recent_limit)) {
    ordered_json row = {{"ts", r.ts_ms}, {"function", r.function}, {"request_id", r.request_id},
                        {"duration_ms", r.duration_ms}, {"billed_ms", r.billed_ms}, {"memory_mb", r.memory_mb},
                        {"max_memory_mb", r.max_memory_mb}, {"init_ms", nullptr}, {"cost_usd", r.cost_usd},
                        {"error", r.error}, {"error_type", r.error_type}};
    if (r.init_ms) row["init_ms"] = *r.init_ms;
    j["recent"].push_back(std::move(row));
  }
  return j.dump();
}

std::optional<Asset> find_asset(const std::string& web_dir, const std::string& url_path) {
  std::string p = url_path.substr(0, url_path.find_first_of("?#"));
  if (p == "/" || p.empty()) p = "/index.html";
  else if (p == "/dashboard" || p == "/dashboard/") p = "/dashboard.html";
  if (p.find("..") != std::string::npos || p.find('\\') != std::string::npos || p.find('\0') != std::string::npos ||
      p.find("//") != std::string::npos || p[0] != '/') {
    return std::nullopt;
  }
  for (char c : p) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '.' || c == '-' || c == '_')) return std::nullopt;
  }
  static const std::pair<const char*, const char*> kTypes[] = {
      {".html", "text/html; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"}, {".svg", "image/svg+xml"}, {".png", "image/png"},
      {".json", "application/json"}};
  std::string type;
  for (const auto& [ext, t] : kTypes) {
    if (p.size() > std::strlen(ext) && p.compare(p.size() - std::strlen(ext), std::string::npos, ext) == 0) type = t;
  }
  if (type.empty()) return std::nullopt;
  std::string file = web_dir + p;
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return Asset{file, type};
}

std::string default_web_dir() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "web";
  std::string exe(buf, static_cast<size_t>(n));
  return exe.substr(0, exe.rfind('/')) + "/web";
}

}  // namespace mlfaas::web
