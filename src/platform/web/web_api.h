#pragma once
// What `mlfaas serve` answers under /api/ for the web page and dashboard, and the static assets it serves
// (built from web/ into <binary dir>/web). Kept apart from the HTTP server so it is testable without one.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "platform/alarm/monitor.h"

namespace mlfaas::metrics {
class MetricsStore;
}

namespace mlfaas::web {

struct FunctionInfo {
  std::string name;
  int memory_mb = 0;
  int timeout_s = 0;
  std::string handler;
};

struct RouteInfo {
  std::string method;  // POST, GET, ANY
  std::string path;
  std::string function;
};

// GET /api/info
std::string info_json(const std::vector<FunctionInfo>& functions, const std::vector<RouteInfo>& routes);

// GET /api/dashboard?window=SECONDS: per function totals and per-second series over the window, alarm states and
// the last invocations with their REPORT fields and cost.
std::string dashboard_json(const metrics::MetricsStore& store, const std::vector<FunctionInfo>& functions,
                           const std::vector<alarm::AlarmStatus>& alarms, int64_t now_ms, int window_s,
                           size_t recent_limit = 20);

struct Asset {
  std::string path;          // file on disk
  std::string content_type;
};

// Maps a URL path ("/", "/dashboard", "/app.css", ...) to a file under web_dir. Refuses anything that could
// leave the directory ("..", NUL, backslashes); nullopt when there is no such asset.
std::optional<Asset> find_asset(const std::string& web_dir, const std::string& url_path);

// <directory of the running executable>/web, where the build puts the assets.
std::string default_web_dir();

}  // namespace mlfaas::web
