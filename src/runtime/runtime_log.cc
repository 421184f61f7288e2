#include "runtime/runtime_log.h"

#include <sched.h>
#include <unistd.h>

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
  log_line(line.dump(-1, ' ', false, json::error_handler_t::replace));
}

void log_ml_on_faas(const Context& ctx, size_t batch_size, const std::string& log_message) {
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
  log_line("ML_ON_FAAS - " + line.dump(-1, ' ', false, json::error_handler_t::replace));
}

int visible_cpu_count() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? int(n) : 1;
}

}  // namespace mlfaas::runtime
