#pragma once
// The local Lambda: functions, their instances (bootstrap processes, each with a private Runtime API endpoint),
// admission against reserved and account concurrency, the asynchronous event queue with retries, and the
// START/END/REPORT accounting. Single-threaded: everything runs on one io_context.
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "platform/cgroups.h"
#include "platform/sandbox.h"
#include "platform/http_server.h"
#include "platform/logs.h"
#include "platform/oci_image.h"
#include "platform/template.h"

namespace mlfaas::metrics {
class MetricsStore;
}

namespace mlfaas::platform {

using Clock = std::chrono::steady_clock;

struct PlatformOptions {
  int account_concurrency = 1000;
  std::chrono::milliseconds idle_timeout{300'000};
  std::string bootstrap_path;  // used when a function's CodeUri has no bootstrap of its own
  std::string log_dir = ".mlfaas/logs";
  std::chrono::milliseconds async_retry_delay{1000};  // Lambda waits ~1 min, then ~2 min; doubled each retry
  bool freeze_idle = true;
  // Idle instances are frozen once idle this long: a steady stream of invocations then skips a freeze/thaw
  // pair each time (the v1 freezer costs ~0.1-2 ms per pair), while idle instances still stop running.
  std::chrono::milliseconds freeze_delay{50};
  size_t async_queue_limit = 100'000;
  InstanceNetwork instance_network = InstanceNetwork::Isolated;
  // Bytes of event payloads a function may have waiting (Event invokes and SNS deliveries); beyond it, Event
  // invokes get 429 TooManyRequestsException and SNS deliveries are dropped (logged). 32 events of Lambda's
  // maximum 1 MB async payload, or thousands of ordinary ones.
  size_t async_queue_bytes = 32u << 20;
  // The sum of MemorySize over live instances never exceeds this (0: what the host can give at start, the
  // smaller of MemAvailable and serve's cgroup memory limit). Beyond it, idle instances are reclaimed; failing
  // that, synchronous invocations are throttled and events wait.
  size_t instance_memory_mb = 0;
  // PackageType: Image functions are unpacked under here, one directory per function (reused while the image's
  // manifest is the same).
  std::string image_dir = ".mlfaas/images";
};

struct InvocationResult {
  bool function_error = false;  // the caller sees X-Amz-Function-Error: Unhandled
  bool timed_out = false;
  std::string error_type;
  std::string payload;  // the function's answer, or Lambda's error object
  std::string log;      // START ... REPORT, for X-Amz-Log-Result
  // The REPORT line's figures, for the metrics store.
  double duration_ms = 0;
  double billed_ms = 0;
  int max_memory_mb = 0;
  double cost_usd = 0;
};

struct Invocation {
  std::string request_id;
  std::string payload;
  bool async = false;
  int attempt = 1;
  std::string trace_id;
  std::string client_context;
  std::string source;  // for the console: "invoke", "POST /path", "sns:Topic"
  std::function<void(const InvocationResult&)> on_done;
  // Set by callers that can stream (InvokeWithResponseStream): the bytes of a streamed response as they arrive;
  // false when the caller has gone, which ends the invocation at once (the function's connection is cut, so its
  // next write fails and it stops working). on_done still follows, with an empty payload when all was streamed.
  std::function<bool(std::string_view)> on_stream;
  // With on_stream, for a streamed HTTP integration answer: its prelude (the JSON {"statusCode", "headers"}),
  // before any of its bytes.
  std::function<void(const std::string& prelude)> on_stream_head;

  // Whether admission counted it against the unreserved pool: a function's reservation may change while it runs.
  bool unreserved = false;

  Clock::time_point delivered;
  std::string log;
  bool cold = false;
  double init_ms = 0;
};
using InvocationPtr = std::shared_ptr<Invocation>;

// Lambda's error object for failures the platform itself reports: {"errorType", "errorMessage"}.
std::string lambda_error(const std::string& error_type, const std::string& message);

class Platform;
class Function;

class Instance : public std::enable_shared_from_this<Instance> {
 public:
  enum class State { Starting, Idle, Busy, Draining, Dead };

  Instance(Platform& platform, Function& function);
  ~Instance();
  // Starts the bootstrap process with `first` waiting for its first `next`. Throws on failure.
  void spawn(InvocationPtr first);
  // Hands `inv` over now (Idle) or when the runtime next asks for work (Draining).
  void assign(InvocationPtr inv);
  void stop(const std::string& why);  // kills the process; state becomes Dead
  // The function's configuration or code changed: stop now if idle, else once the current invocation is done;
  // never picked for new work meanwhile.
  void retire();
  bool retiring() const { return retiring_; }
  void on_exit(int wait_status);

  State state() const { return state_; }
  bool has_queued() const { return queued_ != nullptr; }
  pid_t pid() const { return pid_; }
  const std::string& id() const { return id_; }
  Clock::time_point last_used() const { return last_used_; }

 private:
  void on_runtime_request(Request&& req, ExchangePtr ex);
  std::function<bool(std::string_view)> stream_observer(const Request& header);
  Response on_runtime_too_large(const Request& header);
  void on_next(ExchangePtr ex);
  void deliver(InvocationPtr inv);
  void complete(InvocationResult result, const std::string& status_suffix);
  void on_timeout();
  void become_idle();
  void freeze();
  void thaw();
  void read_output();
  void drain_output();
  void handle_output(const char* data, size_t n);
  void emit(const std::string& line);
  void fail_init_or_queue(const std::string& error_type, const std::string& message);
  std::string max_memory_used_mb();
  std::vector<std::string> environment() const;

  Platform& platform_;
  Function& fn_;
  std::string id_;
  std::string log_stream_;
  State state_ = State::Starting;
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::unique_ptr<InstanceCgroup> cgroup_;
  std::unique_ptr<HttpServer> api_;
  std::string runtime_address_;  // AWS_LAMBDA_RUNTIME_API, as the instance sees it
  ExchangePtr pending_next_;
  InvocationPtr current_;
  InvocationPtr queued_;
  bool served_any_ = false;
  bool frozen_by_cgroup_ = false;
  bool frozen_by_signal_ = false;
  long long oom_kills_at_start_ = 0;
  long long peak_memory_bytes_ = 0;  // max_memory_used_mb's high-water mark
  Clock::time_point spawned_;
  Clock::time_point last_used_;
  double init_ms_ = 0;
  std::string init_log_;
  boost::asio::steady_timer timeout_timer_;
  boost::asio::steady_timer idle_timer_;
  boost::asio::steady_timer freeze_timer_;
  boost::asio::posix::stream_descriptor output_;
  std::array<char, 16384> output_buf_{};
  std::string partial_line_;
  std::string kill_reason_;
  bool retiring_ = false;
};

struct FunctionStats {
  long long invocations = 0, errors = 0, throttles = 0, cold_starts = 0;
  double cost_usd = 0;
  double billed_ms = 0;
};

class Function {
 public:
  Function(Platform& platform, FunctionSpec spec, ResourceShape shape, const std::string& log_dir, Console& console);
  FunctionSpec spec;
  ResourceShape shape;
  LogSink log;
  std::string bootstrap;  // executable to run, as this machine sees it
  // PackageType: Image: the unpacked image, and what an instance executes: the entrypoint and its arguments and
  // the working directory, as paths inside the image's root.
  std::optional<ImageConfig> image;
  std::vector<std::string> image_argv;
  std::string image_workdir;
  std::list<std::shared_ptr<Instance>> instances;
  std::deque<InvocationPtr> async_queue;
  size_t async_queue_bytes = 0;  // payload bytes in async_queue
  int in_flight = 0;
  FunctionStats stats;

 private:
  void load_image(Platform& platform);  // throws TemplateError naming ImageUri
};

class Platform {
 public:
  Platform(boost::asio::io_context& io, Template tpl, PlatformOptions options, Cgroups& cgroups, Console& console);
  ~Platform();

  enum class Admission { Started, Queued, Throttled };
  // Synchronous invocations run now or are throttled; asynchronous ones are queued when over the limits.
  Admission invoke(Function& fn, InvocationPtr inv);
  // By name, `name:qualifier`, or a full or partial ARN.
  Function* function(const std::string& name_or_arn);
  // Functions made through the Lambda API (src/platform/aws). add_function throws std::invalid_argument when the
  // name is taken or a reservation does not fit the account; remove_function stops its instances and drops its
  // queued events (the object lives on until serve stops, as instances and timers may still point at it).
  Function& add_function(FunctionSpec spec);
  void remove_function(Function& fn);
  // New configuration or code: instances started before it finish what they run, then stop.
  void reconfigure(Function& fn, FunctionSpec spec);
  // PutFunctionConcurrency / DeleteFunctionConcurrency (nullopt). Throws std::invalid_argument when the account's
  // unreserved pool would fall below min_unreserved().
  void set_reserved_concurrency(Function& fn, std::optional<int> reserved);
  int min_unreserved() const { return std::min(100, options_.account_concurrency / 10); }
  int unreserved_pool() const { return unreserved_pool_; }
  std::vector<Function*> subscribers(const std::string& topic_arn);
  const Template& tpl() const { return tpl_; }
  const PlatformOptions& options() const { return options_; }
  boost::asio::io_context& io() { return io_; }
  Cgroups& cgroups() { return cgroups_; }
  const Sandbox& sandbox() const { return sandbox_; }
  Console& console() { return console_; }
  std::vector<std::unique_ptr<Function>>& functions() { return functions_; }
  std::string throttle_reason(const Function& fn) const;
  // Every invocation, throttle and concurrency change is queued to `store` from now on (nullptr: none).
  void set_metrics(metrics::MetricsStore* store);

  // Called by instances.
  void finished(Function& fn, InvocationPtr inv, InvocationResult result);
  void requeue(Function& fn, InvocationPtr inv);  // an instance died before starting `inv`
  void instance_gone(Function& fn, Instance* inst);
  std::vector<int> cpus_for_next_instance(int count);

  // Graceful shutdown: no new work, in-flight invocations finish (up to their deadline), instances stop.
  void shutdown(std::function<void()> done);
  bool shutting_down() const { return shutting_down_; }
  int in_flight() const { return account_in_flight_; }
  size_t instance_memory_budget_mb() const { return memory_budget_mb_; }

 private:
  bool can_admit(const Function& fn) const;
  // Whether the host's memory allows `fn` one more running invocation (reclaiming idle instances if needed).
  bool memory_allows(Function& fn);
  void enqueue_async(Function& fn, InvocationPtr inv, bool front);
  InvocationPtr dequeue_async(Function& fn);
  void start(Function& fn, InvocationPtr inv);
  void pump_queues();
  void reap_children();
  void wait_signal();
  void maybe_finish_shutdown();
  void record_throttle(const Function& fn);
  void record_concurrency(const Function& fn);
  void sample_concurrency();

  boost::asio::io_context& io_;
  Template tpl_;
  PlatformOptions options_;
  Cgroups& cgroups_;
  Sandbox sandbox_;
  Console& console_;
  std::vector<std::unique_ptr<Function>> functions_;
  std::vector<std::unique_ptr<Function>> removed_functions_;  // kept alive for instances and timers still on them
  int account_in_flight_ = 0;
  int unreserved_in_flight_ = 0;
  int unreserved_pool_ = 0;
  unsigned next_cpu_ = 0;
  boost::asio::signal_set sigchld_;
  bool shutting_down_ = false;
  std::function<void()> shutdown_done_;
  std::unique_ptr<boost::asio::steady_timer> shutdown_timer_;
  metrics::MetricsStore* metrics_ = nullptr;
  boost::asio::steady_timer concurrency_timer_;
  size_t memory_budget_mb_ = 0;
  bool memory_full_logged_ = false;
  boost::asio::steady_timer memory_retry_timer_;  // events held back by memory: try again soon
  bool memory_retry_pending_ = false;
};

// What the host can give instances, in MB: the smaller of MemAvailable and this process's cgroup memory limit.
size_t host_memory_available_mb();

}  // namespace mlfaas::platform
