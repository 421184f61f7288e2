#include "runtime/runtime_log.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <sstream>

#include "common/codec.h"

namespace mlfaas::runtime {

using nlohmann::json;

void log_line(const std::string& line) {
  std::string out = line;
  out += '\n';
  const char* p = out.data();
  size_t left = out.size();
  while (left > 0) {
    ssize_t n = ::write(STDOUT_FILENO, p, left);
    if (n <= 0) return;  // nowhere to log to: never fail the invocation over it
    p += n;
    left -= size_t(n);
  }
}

void log_emf(const Context& ctx, const InvocationMetrics& m) {
  json metrics = json::array({json{{"Name", "ProcessingMs"}, {"Unit", "Milliseconds"}},
                              json{{"Name", "BatchSize"}, {"Unit", "Count"}}});
  if (ctx.cold_start) metrics.push_back({{"Name", "InitMs"}, {"Unit", "Milliseconds"}});
  for (const auto& e : m.extra) metrics.push_back({{"Name", e.name}, {"Unit", e.unit}});
  json line = {
      {"_aws",
       {{"Timestamp", lambda::epoch_ms_now()},
        {"CloudWatchMetrics",
         json::array({{{"Namespace", "mlfaas"}, {"Dimensions", json::array({json::array({"FunctionName"})})},
                       {"Metrics", metrics}}})}}},
      {"FunctionName", ctx.function_name},
      {"ProcessingMs", m.processing_ms},
      {"BatchSize", m.batch_size},
      {"Model", m.model},
      {"EventSource", m.event_kind},
      {"StatusCode", m.status_code},
      {"ColdStart", ctx.cold_start},
      {"RequestId", ctx.request_id},
      {"FunctionInstanceId", ctx.function_instance_id},
  };
  if (ctx.cold_start) line["InitMs"] = m.init_ms;
  for (const auto& e : m.extra) line[e.name] = e.value;
  log_line(line.dump(-1, ' ', false, json::error_handler_t::replace));
}

void log_ml_on_faas(const Context& ctx, size_t batch_size, const std::string& log_message,
                    const std::vector<ExtraMetric>& extra) {
  auto or_null = [](const std::string& s) { return s.empty() ? json(nullptr) : json(s); };
  json line = {
      {"timeStamp", lambda::iso8601_now()},
      {"functionName", ctx.function_name},
      {"functionInstanceId", ctx.function_instance_id},
      {"experimentId", or_null(ctx.experiment_id)},
      {"messageId", or_null(ctx.message_id)},
      {"batchSize", batch_size},
      {"isColdStart", ctx.cold_start},
      {"lambdaRequestId", or_null(ctx.request_id)},
      {"lambdaMemorySize", ctx.memory_mb},
      {"cpuCount", visible_cpu_count()},
      {"logMessage", log_message},
  };
  for (const auto& e : extra) {
    std::string key = e.name;
    if (!key.empty()) key[0] = char(std::tolower(static_cast<unsigned char>(key[0])));
    line[key] = e.value;
  }
  log_line("ML_ON_FAAS - " + line.dump(-1, ' ', false, json::error_handler_t::replace));
}

int visible_cpu_count() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? int(n) : 1;
}

namespace {

// The quota of the cgroup named in /proc/self/cgroup, in CPUs; 0 when there is none or it cannot be read.
double cgroup_cpu_quota() {
  std::ifstream cgroups("/proc/self/cgroup");
  std::string line;
  while (std::getline(cgroups, line)) {
    // "hierarchy-id:controllers:path"; v2 has "0::path".
    const size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    double quota = 0, period = 0;
    if (controllers.empty()) {
      std::ifstream max("/sys/fs/cgroup" + path + "/cpu.max");
      std::string q;
      if (max >> q >> period && q != "max") quota = std::atof(q.c_str());
    } else {
      std::stringstream names(controllers);
      bool cpu = false;
      for (std::string n; std::getline(names, n, ',');) cpu = cpu || n == "cpu";
      if (!cpu) continue;
      for (const char* mount : {"/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpu"}) {
        std::ifstream q(std::string(mount) + path + "/cpu.cfs_quota_us"), p(std::string(mount) + path + "/cpu.cfs_period_us");
        if (q >> quota && p >> period) break;
        quota = period = 0;
      }
    }
    if (quota > 0 && period > 0) return quota / period;
  }
  return 0;
}

}  // namespace

int usable_cpu_count() {
  const int visible = visible_cpu_count();
  const double quota = cgroup_cpu_quota();
  if (quota <= 0) return visible;
  return std::max(1, std::min(visible, static_cast<int>(std::ceil(quota - 1e-6))));
}

}  // namespace mlfaas::runtime
