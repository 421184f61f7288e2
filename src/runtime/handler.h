#pragma once
// A handler turns one request payload (already unwrapped from its API Gateway / SNS envelope) into a JSON
// answer. `_HANDLER` picks one by name from the registry; its constructor is the INIT phase (model loading).
#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mlfaas::runtime {

// Lambda response streaming, offered to a handler for one invocation: bytes written leave for the caller at once
// and replace the handler's return value as the answer. The first write() (an empty one included) commits the
// invocation to streaming, so a handler validates its request first: a BadRequest after that point reaches the
// caller as a stream error, not as a 400.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  // False once the caller has gone away: the handler should stop working for it.
  virtual bool write(std::string_view bytes) = 0;
  virtual bool started() const = 0;
};

// What the runtime knows about the current function and invocation.
struct Context {
  std::string function_name;
  std::string function_instance_id;
  int memory_mb = 0;
  std::string request_id;
  long long deadline_ms = 0;
  bool cold_start = false;
  std::string experiment_id;  // seed B's SNS messages carry these
  std::string message_id;
  // Set where the answer can be streamed (a synchronous invocation); null for SNS and other asynchronous events.
  ResponseStream* stream = nullptr;
  // The event came through API Gateway / a function URL: a streamed answer starts with Lambda's HTTP prelude.
  bool http_integration = false;
};

// A handler's own figures for the invocation just run (tokens, tokens/s), added to the EMF and ML_ON_FAAS lines.
struct ExtraMetric {
  std::string name;  // EMF metric name, e.g. "GeneratedTokens"
  std::string unit;  // CloudWatch unit: "Count", "Count/Second", "Milliseconds"
  double value = 0;
};

// The caller's fault: answered as a 400 proxy response {"error", "details"}, never reported as a function error.
struct BadRequest : std::runtime_error {
  BadRequest(std::string error, std::string details)
      : std::runtime_error(error + ": " + details), error(std::move(error)), details(std::move(details)) {}
  std::string error;
  std::string details;
};

class Handler {
 public:
  virtual ~Handler() = default;
  virtual nlohmann::json handle(const nlohmann::json& input, const Context& ctx) = 0;
  // How many items `input` holds (batch size in the EMF and ML_ON_FAAS lines).
  virtual size_t batch_size(const nlohmann::json& input) const;
  // Name of the model this handler serves, for logs ("" when none).
  virtual std::string model_name() const { return ""; }
  // Figures of the last handle() call; empty for handlers that have none.
  virtual std::vector<ExtraMetric> last_metrics() const { return {}; }
};

struct HandlerSetup {
  std::string task_root;   // LAMBDA_TASK_ROOT
  std::string model_path;  // MODEL_PATH, or "" to use the handler's default under task_root
};

using HandlerFactory = std::function<std::unique_ptr<Handler>(const HandlerSetup&)>;

class HandlerRegistry {
 public:
  void add(const std::string& name, std::string description, HandlerFactory factory);
  // nullptr when no handler has that name.
  const HandlerFactory* find(const std::string& name) const;
  std::vector<std::pair<std::string, std::string>> list() const;  // name, description

  // Every handler compiled into this bootstrap.
  static const HandlerRegistry& builtin();

 private:
  struct Entry {
    std::string description;
    HandlerFactory factory;
  };
  std::map<std::string, Entry> entries_;
};

void register_diagnostic_handlers(HandlerRegistry& registry);
#ifdef MLFAAS_HAVE_EMOTION
void register_emotion_handler(HandlerRegistry& registry);
void register_classic_handlers(HandlerRegistry& registry);  // kmeans, gmm, pca, logreg, svm, random-forest
void register_llm_handler(HandlerRegistry& registry);
void register_fill_mask_handler(HandlerRegistry& registry);
#endif

// Where a handler's model lives: MODEL_PATH if set, else (for handlers that run compiled models, compiled_ok)
// `task_root/model.mlf`, else `task_root/model` (the packaged layout of `mlfaas package`), else
// `task_root/models/<handler>` (the repository layout, for `mlfaas serve` on a checkout).
std::string resolve_model_dir(const HandlerSetup& setup, const std::string& handler_name, bool compiled_ok = false);

}  // namespace mlfaas::runtime
