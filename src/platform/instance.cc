// One function instance: a `bootstrap` process in its own cgroup, talking to its own Runtime API endpoint on
// a loopback port. Cold start = spawn until the first `next` (Init Duration); between invocations the
// instance waits in `next`, frozen; it is reclaimed after the idle timeout.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "platform/platform.h"
#include "common/codec.h"

namespace mlfaas::platform {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

constexpr std::string_view kRuntimePrefix = "/2018-06-01/runtime/";
// Lambda's limit on a synchronous response; the Runtime API refuses larger ones.
constexpr size_t kMaxResponse = 6 * 1024 * 1024;
// Lambda gives INIT 10 seconds.
constexpr auto kInitLimit = std::chrono::seconds(10);

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

std::string exit_description(int status) {
  if (WIFSIGNALED(status)) {
    std::string name = sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "unknown";
    static const std::map<std::string, std::string> go_names = {
        {"KILL", "killed"}, {"ABRT", "aborted"}, {"SEGV", "segmentation fault"}, {"TERM", "terminated"},
        {"BUS", "bus error"}, {"ILL", "illegal instruction"}, {"FPE", "floating point exception"}};
    auto it = go_names.find(name);
    std::string text = "signal: " + (it != go_names.end() ? it->second : "SIG" + name);
    if (WCOREDUMP(status)) text += " (core dumped)";
    return text;
  }
  return "exit status " + std::to_string(WEXITSTATUS(status));
}

// A streamed answer to an API Gateway / function URL event starts with this prelude (awslambda.HttpResponseStream).
constexpr const char* kHttpIntegrationType = "application/vnd.awslambda.http-integration-response";

// A streamed HTTP answer read whole: the prelude's status and headers plus the body, as a proxy response.
std::string proxy_from_http_integration(const std::string& payload) {
  auto end = payload.find(std::string_view("\0\0\0\0\0\0\0\0", 8));
  if (end == std::string::npos) return payload;
  json prelude = json::parse(payload.substr(0, end), nullptr, false);
  if (!prelude.is_object()) return payload;
  json proxy = {{"statusCode", prelude.value("statusCode", 200)}, {"body", payload.substr(end + 8)},
                {"isBase64Encoded", false}};
  if (prelude.contains("headers")) proxy["headers"] = prelude["headers"];
  return proxy.dump(-1, ' ', false, json::error_handler_t::replace);
}

Response runtime_error_response(http::status status, const std::string& type, const std::string& message) {
  return make_response(status, json{{"errorType", type}, {"errorMessage", message}}.dump());
}

std::string date_path() {
  std::string iso = lambda::iso8601_now();  // 2024-05-01T...
  return iso.substr(0, 4) + "/" + iso.substr(5, 2) + "/" + iso.substr(8, 2);
}

}  // namespace

std::string lambda_error(const std::string& error_type, const std::string& message) {
  return json{{"errorType", error_type}, {"errorMessage", message}}.dump(-1, ' ', false,
                                                                          json::error_handler_t::replace);
}

Instance::Instance(Platform& platform, Function& fn)
    : platform_(platform), fn_(fn), id_(lambda::random_hex(32)), timeout_timer_(platform.io()),
      idle_timer_(platform.io()), freeze_timer_(platform.io()), output_(platform.io()) {
  log_stream_ = date_path() + "/[$LATEST]" + id_;
}

Instance::~Instance() {
  if (pid_ > 0 && !reaped_) {
    ::kill(-pid_, SIGKILL);
    if (cgroup_) cgroup_->thaw();
  }
}

std::vector<std::string> Instance::environment() const {
  const auto& spec = fn_.spec;
  const auto& tpl = platform_.tpl();
  std::map<std::string, std::string> env;
  // Lambda's defined runtime environment variables; user variables cannot replace the reserved ones.
  // An image's own Env comes first: the function's variables, then Lambda's reserved ones, replace it.
  if (fn_.image)
    for (const auto& kv : fn_.image->env)
      if (auto eq = kv.find('='); eq != std::string::npos && eq > 0) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  for (const auto& [k, v] : spec.environment) env[k] = v;
  std::string bootstrap_dir = fn_.bootstrap.substr(0, fn_.bootstrap.rfind('/'));
  std::string task_root = spec.code_dir;
  if (fn_.image) {
    // Lambda's paths for an image; without a root of its own the instance sees them under the unpacked root.
    const std::string root = platform_.sandbox().private_namespaces() ? "" : fn_.image->rootfs;
    task_root = root + "/var/task";
    bootstrap_dir = root + "/var/runtime";
  }
  std::map<std::string, std::string> reserved = {
      {"AWS_LAMBDA_RUNTIME_API", runtime_address_},
      {"_HANDLER", spec.handler},
      {"LAMBDA_TASK_ROOT", task_root},
      {"LAMBDA_RUNTIME_DIR", bootstrap_dir.empty() ? "." : bootstrap_dir},
      {"AWS_LAMBDA_FUNCTION_NAME", spec.name},
      {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", std::to_string(spec.memory_mb)},
      {"AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"},
      {"AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"},
      {"AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/" + spec.name},
      {"AWS_LAMBDA_LOG_STREAM_NAME", log_stream_},
      {"AWS_REGION", tpl.region},
      {"AWS_DEFAULT_REGION", tpl.region},
      {"TZ", ":UTC"},
  };
  for (const auto& [k, v] : reserved) env[k] = v;
  env.emplace("PATH", "/usr/local/bin:/usr/bin:/bin");
  env.emplace("LANG", "C.UTF-8");
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

void Instance::spawn(InvocationPtr first) {
  queued_ = std::move(first);
  std::weak_ptr<Instance> weak = weak_from_this();
  HttpServerOptions opts;
  opts.body_limit = kMaxResponse;
  opts.idle_timeout = std::chrono::seconds(0);
  opts.body_observer = [weak](const Request& header) -> std::function<bool(std::string_view)> {
    if (auto self = weak.lock()) return self->stream_observer(header);
    return {};
  };
  InstanceJail jail = fn_.image ? make_image_jail(platform_.sandbox(), platform_.sandbox().make_endpoint(),
                                                  fn_.image->rootfs, fn_.image_workdir, fn_.spec.ephemeral_mb)
                                : make_jail(platform_.sandbox(), platform_.sandbox().make_endpoint(), fn_.spec.code_dir,
                                            fn_.bootstrap, fn_.spec.ephemeral_mb, fn_.spec.environment);
  runtime_address_ = jail.endpoint.address;
  // Closed in the parent once the child holds the namespace (or on the way out, if the spawn fails).
  struct NetnsFd {
    int fd;
    ~NetnsFd() { if (fd >= 0) ::close(fd); }
  } netns{jail.endpoint.netns_fd};
  api_ = std::make_unique<HttpServer>(
      platform_.io(), jail.endpoint.listening_fd, opts,
      [weak](Request&& req, ExchangePtr ex) {
        if (auto self = weak.lock()) self->on_runtime_request(std::move(req), std::move(ex));
        else ex->respond(runtime_error_response(http::status::gone, "InstanceGone", "instance stopped"));
      },
      [weak](const Request& header) {
        if (auto self = weak.lock()) return self->on_runtime_too_large(header);
        return runtime_error_response(http::status::payload_too_large, "RequestTooLarge", "too large");
      });

  auto& cg = platform_.cgroups();
  auto cpus = platform_.cpus_for_next_instance(fn_.shape.visible_cpus);
  if (cg.mode() != CgroupMode::None) {
    cgroup_ = cg.create(id_, fn_.shape, cpus);
    oom_kills_at_start_ = cgroup_->oom_kills();
  }

  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<std::string> env_strings = environment();
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string exe = fn_.bootstrap;
  std::vector<std::string> arg_strings = {exe};
  std::string workdir = fn_.spec.code_dir;
  if (fn_.image) {
    // In its own root the entrypoint is the image's path; otherwise the same file under the unpacked root.
    const std::string root = jail.image_root.empty() ? fn_.image->rootfs : "";
    arg_strings = fn_.image_argv;
    exe = root + arg_strings.front();
    arg_strings.front() = exe;
    workdir = fn_.image->rootfs + fn_.image_workdir;
  }
  std::vector<char*> argv;
  for (auto& a : arg_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<const char*> procs;
  if (cgroup_)
    for (const auto& f : cgroup_->procs_files()) procs.push_back(f.c_str());
  cpu_set_t affinity;
  CPU_ZERO(&affinity);
  for (int c : cpus) CPU_SET(c, &affinity);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  spawned_ = Clock::now();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    for (const char* f : procs) {
      int fd = ::open(f, O_WRONLY | O_CLOEXEC);
      if (fd < 0 || ::write(fd, "0", 1) != 1) {
        static const char msg[] = "mlfaas: cannot join the instance's cgroup\n";
        ::write(fds[1], msg, sizeof msg - 1);
        ::_exit(126);
      }
      ::close(fd);
    }
    // The cpuset limits the CPUs already; affinity gives the same view where cgroups are not usable.
    ::sched_setaffinity(0, sizeof affinity, &affinity);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null >= 0) ::dup2(null, 0);
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    if (::chdir(workdir.c_str()) != 0) ::chdir("/");
    // Last, so that the steps above still had their descriptors (docs/PLATFORM.md, "Instance operation").
    const char* step = "";
    if (int err = enter_sandbox(jail, &step); err != 0) {
      static const char msg[] = "mlfaas: cannot enter the instance's sandbox: ";
      ::write(2, msg, sizeof msg - 1);
      ::write(2, step, std::strlen(step));
      ::write(2, ": errno ", 8);
      char digits[8];
      int n = 0;
      for (int e = err; e > 0 && n < 8; e /= 10) digits[n++] = char('0' + e % 10);
      while (n > 0) ::write(2, &digits[--n], 1);
      ::write(2, "\n", 1);
      ::_exit(126);
    }
    ::execve(exe.c_str(), argv.data(), envp.data());
    const char* err = std::strerror(errno);
    ::write(2, "fork/exec ", 10);
    ::write(2, exe.c_str(), exe.size());
    ::write(2, ": ", 2);
    ::write(2, err, std::strlen(err));
    ::write(2, "\n", 1);
    ::_exit(127);
  }
  pid_ = pid;
  ::close(fds[1]);
  ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
  output_.assign(fds[0]);
  read_output();

  // A runtime that never calls `next` within Lambda's INIT limit is stopped.
  timeout_timer_.expires_after(kInitLimit);
  timeout_timer_.async_wait([weak](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->state_ != State::Starting) return;
    self->kill_reason_ = "init-timeout";
    self->init_ms_ = ms_between(self->spawned_, Clock::now());
    self->emit(fmt::format("INIT_REPORT Init Duration: {:.2f} ms\tPhase: init\tStatus: timeout", self->init_ms_));
    if (self->queued_)
      self->fail_init_or_queue("Sandbox.Timedout", fmt::format("RequestId: {} Error: INIT phase timed out after "
                                                                "10.00 seconds", self->queued_->request_id));
    self->stop("INIT did not finish within 10 s");
  });
}

void Instance::assign(InvocationPtr inv) {
  if (state_ == State::Idle) return deliver(std::move(inv));
  queued_ = std::move(inv);
}

// ------------------------------------------------------------------ Runtime API

void Instance::on_runtime_request(Request&& req, ExchangePtr ex) {
  std::string_view target(req.target().data(), req.target().size());
  if (!target.starts_with(kRuntimePrefix))
    return ex->respond(runtime_error_response(http::status::not_found, "NotFound", "unknown path"));
  std::string_view rest = target.substr(kRuntimePrefix.size());

  // Only the instance reaches this endpoint (its own network namespace), but a runtime with a bug, or code that
  // runs in the function, can still call out of turn: what the instance's state does not allow is refused
  // without touching the state, as Lambda's Runtime API does (403 InvalidStateTransition, 400 InvalidRequestID).
  if (rest == "invocation/next" && req.method() == http::verb::get) {
    if (pending_next_ || current_ || state_ == State::Dead)
      return ex->respond(runtime_error_response(http::status::forbidden, "InvalidStateTransition",
                                                pending_next_ ? "a next request is already waiting"
                                                : current_    ? "an invocation is in progress: post its response first"
                                                              : "the instance is stopping"));
    return on_next(std::move(ex));
  }

  if (rest == "init/error" && req.method() == http::verb::post) {
    if (state_ != State::Starting)
      return ex->respond(runtime_error_response(http::status::forbidden, "InvalidStateTransition",
                                                "init/error is only allowed during INIT"));
    ex->respond(make_response(http::status::accepted, R"({"status":"OK"})"));
    std::string type(req["Lambda-Runtime-Function-Error-Type"]);
    if (type.empty()) type = "Runtime.Unknown";
    init_ms_ = ms_between(spawned_, Clock::now());
    emit(fmt::format("INIT_REPORT Init Duration: {:.2f} ms\tPhase: init\tStatus: error\tError Type: {}", init_ms_, type));
    fail_init_or_queue(type, req.body());
    return stop("init error");
  }

  if (rest.starts_with("invocation/") && req.method() == http::verb::post) {
    std::string_view tail = rest.substr(11);
    auto slash = tail.find('/');
    std::string id(tail.substr(0, slash));
    std::string_view what = slash == std::string_view::npos ? "" : tail.substr(slash + 1);
    if (!current_ || current_->request_id != id)
      return ex->respond(runtime_error_response(http::status::bad_request, "InvalidRequestID",
                                                "no invocation " + id + " is running on this instance"));
    if (what == "response") {
      ex->respond(make_response(http::status::accepted, R"({"status":"OK"})"));
      InvocationResult r;
      r.payload = std::move(req.body());
      // A streamed response that failed after its first byte says so in its trailers.
      if (std::string type(req["Lambda-Runtime-Function-Error-Type"]); !type.empty()) {
        r.function_error = true;
        r.error_type = type;
        auto body = lambda::base64_decode(std::string(req["Lambda-Runtime-Function-Error-Body"]));
        r.payload = body && !body->empty() ? *body : lambda_error(type, "the streamed response failed");
        return complete(std::move(r), "\tStatus: error\tError Type: " + type);
      }
      if (req[http::field::content_type] == kHttpIntegrationType) r.payload = proxy_from_http_integration(r.payload);
      return complete(std::move(r), "");
    }
    if (what == "error") {
      ex->respond(make_response(http::status::accepted, R"({"status":"OK"})"));
      InvocationResult r;
      r.function_error = true;
      r.error_type = std::string(req["Lambda-Runtime-Function-Error-Type"]);
      r.payload = std::move(req.body());
      if (r.error_type.empty()) {
        try {
          r.error_type = json::parse(r.payload).value("errorType", "Unhandled");
        } catch (const std::exception&) {
          r.error_type = "Unhandled";
        }
      }
      return complete(std::move(r), "\tStatus: error\tError Type: " + r.error_type);
    }
  }
  ex->respond(runtime_error_response(http::status::not_found, "NotFound", "unknown path"));
}

// The body of a streamed response goes to the invocation's caller as it arrives when the caller streams;
// otherwise it is read whole and answered as a buffered response.
std::function<bool(std::string_view)> Instance::stream_observer(const Request& header) {
  if (header.method() != http::verb::post || header["Lambda-Runtime-Function-Response-Mode"] != "streaming" ||
      !current_ || !current_->on_stream)
    return {};
  std::string_view target(header.target().data(), header.target().size());
  if (target != std::string(kRuntimePrefix) + "invocation/" + current_->request_id + "/response") return {};
  bool http_integration = header[http::field::content_type] == kHttpIntegrationType;
  // The HTTP integration prelude (status and headers, 8 NUL bytes) is not part of what the caller reads.
  std::weak_ptr<Instance> weak = weak_from_this();
  return [weak, inv = current_, skipping = http_integration, held = std::string()](std::string_view bytes) mutable {
    if (skipping) {
      held.append(bytes);
      auto end = held.find(std::string_view("\0\0\0\0\0\0\0\0", 8));
      if (end == std::string::npos) return true;
      skipping = false;
      if (inv->on_stream_head) inv->on_stream_head(held.substr(0, end));
      bytes = std::string_view(held).substr(end + 8);
    }
    if (bytes.empty() || inv->on_stream(bytes)) return true;
    auto self = weak.lock();
    if (self && self->current_ == inv) {
      InvocationResult r;
      r.function_error = true;
      r.error_type = "Client.Disconnected";
      r.payload = lambda_error(r.error_type, "the caller closed the stream");
      self->complete(std::move(r), "\tStatus: error\tError Type: Client.Disconnected");
    }
    return false;
  };
}

Response Instance::on_runtime_too_large(const Request& header) {
  if (current_ && header.method() == http::verb::post) {
    // The answer cannot be returned: the invocation fails as it does on Lambda.
    InvocationResult r;
    r.function_error = true;
    r.error_type = "Function.ResponseSizeTooLarge";
    r.payload = lambda_error(r.error_type, fmt::format("Response payload size exceeded maximum allowed payload "
                                                       "size ({} bytes).", kMaxResponse));
    complete(std::move(r), "\tStatus: error\tError Type: Function.ResponseSizeTooLarge");
  }
  return runtime_error_response(http::status::payload_too_large, "RequestEntityTooLarge",
                                "the response is larger than 6 MB");
}

void Instance::on_next(ExchangePtr ex) {
  pending_next_ = std::move(ex);
  if (state_ == State::Starting) {
    timeout_timer_.cancel();
    init_ms_ = ms_between(spawned_, Clock::now());
    state_ = State::Idle;
    if (queued_) return deliver(std::exchange(queued_, nullptr));
    return become_idle();
  }
  if (state_ == State::Draining) {
    state_ = State::Idle;
    if (queued_) return deliver(std::exchange(queued_, nullptr));
    return become_idle();
  }
}

void Instance::deliver(InvocationPtr inv) {
  freeze_timer_.cancel();
  thaw();
  idle_timer_.cancel();
  state_ = State::Busy;
  current_ = std::move(inv);
  current_->delivered = Clock::now();
  current_->cold = !served_any_;
  current_->init_ms = current_->cold ? init_ms_ : 0;
  if (current_->cold) ++fn_.stats.cold_starts;
  served_any_ = true;
  emit(fmt::format("START RequestId: {} Version: $LATEST", current_->request_id));

  auto deadline = lambda::epoch_ms_now() + fn_.spec.timeout_s * 1000LL;
  Response res = make_response(http::status::ok, current_->payload);
  res.set("Lambda-Runtime-Aws-Request-Id", current_->request_id);
  res.set("Lambda-Runtime-Deadline-Ms", std::to_string(deadline));
  res.set("Lambda-Runtime-Invoked-Function-Arn", fn_.spec.arn);
  res.set("Lambda-Runtime-Trace-Id", current_->trace_id.empty()
                                         ? "Root=1-" + lambda::random_hex(8) + "-" + lambda::random_hex(24) +
                                               ";Parent=" + lambda::random_hex(16) + ";Sampled=0"
                                         : current_->trace_id);
  if (!current_->client_context.empty()) res.set("Lambda-Runtime-Client-Context", current_->client_context);
  std::exchange(pending_next_, nullptr)->respond(std::move(res));

  std::weak_ptr<Instance> weak = weak_from_this();
  timeout_timer_.expires_after(std::chrono::seconds(fn_.spec.timeout_s));
  timeout_timer_.async_wait([weak](const boost::system::error_code& ec) {
    if (auto self = weak.lock(); self && !ec) self->on_timeout();
  });
}

void Instance::complete(InvocationResult result, const std::string& status_suffix) {
  if (!current_) return;
  timeout_timer_.cancel();
  drain_output();
  auto inv = current_;  // still current while END and REPORT are written, so they join its log
  double duration = ms_between(inv->delivered, Clock::now());
  // Since 2025 Lambda bills INIT too: billed = ceil(init + duration) on a cold start.
  double billed = std::ceil(duration + (inv->cold ? inv->init_ms : 0));
  emit(fmt::format("END RequestId: {}", inv->request_id));
  const std::string memory_used = max_memory_used_mb();
  std::string report = fmt::format(
      "REPORT RequestId: {}\tDuration: {:.2f} ms\tBilled Duration: {:.0f} ms\tMemory Size: {} MB\tMax Memory Used: {} MB",
      inv->request_id, duration, billed, fn_.spec.memory_mb, memory_used);
  if (inv->cold) report += fmt::format("\tInit Duration: {:.2f} ms", inv->init_ms);
  report += status_suffix;
  emit(report);
  current_ = nullptr;
  inv->log.swap(result.log);
  if (state_ == State::Busy) state_ = State::Draining;
  last_used_ = Clock::now();

  double cost = invocation_cost_usd(fn_.spec.memory_mb, billed, fn_.spec.architecture);
  fn_.stats.cost_usd += cost;
  fn_.stats.billed_ms += billed;
  result.duration_ms = duration;
  result.billed_ms = billed;
  result.max_memory_mb = std::atoi(memory_used.c_str());
  result.cost_usd = cost;
  if (platform_.console().terminal()) {
    std::string outcome = result.timed_out ? "TIMEOUT" : result.function_error ? "ERROR " + result.error_type : "OK";
    platform_.console().line(fmt::format("{} {:<20} {:<28} {:<10} {:>9.2f} ms  {}  {}/{} MB  ${:.9f}",
                                         lambda::iso8601_now().substr(11, 12), fn_.spec.name, inv->source, outcome,
                                         duration, inv->cold ? fmt::format("cold (init {:.1f} ms)", inv->init_ms)
                                                             : std::string("warm"),
                                         memory_used, fn_.spec.memory_mb, cost));
  }
  platform_.finished(fn_, inv, std::move(result));
}

void Instance::on_timeout() {
  if (!current_) return;
  double limit = fn_.spec.timeout_s;
  emit(fmt::format("{} {} Task timed out after {:.2f} seconds", lambda::iso8601_now(), current_->request_id, limit));
  InvocationResult r;
  r.function_error = true;
  r.timed_out = true;
  r.error_type = "Sandbox.Timedout";
  r.payload = lambda_error(r.error_type, fmt::format("RequestId: {} Error: Task timed out after {:.2f} seconds",
                                                     current_->request_id, limit));
  kill_reason_ = "timeout";
  // Lambda resets the sandbox after a timeout: the next invocation gets a fresh instance.
  stop("timeout");
  complete(std::move(r), "\tStatus: timeout");
}

void Instance::retire() {
  retiring_ = true;
  if (state_ == State::Idle) stop("configuration changed");
}

void Instance::become_idle() {
  last_used_ = Clock::now();
  if (platform_.shutting_down()) return stop("shutdown");
  if (retiring_) return stop("configuration changed");
  std::weak_ptr<Instance> weak = weak_from_this();
  if (platform_.options().freeze_delay.count() == 0) {
    freeze();
  } else {
    freeze_timer_.expires_after(platform_.options().freeze_delay);
    freeze_timer_.async_wait([weak](const boost::system::error_code& ec) {
      if (auto self = weak.lock(); self && !ec && self->state_ == State::Idle) self->freeze();
    });
  }
  idle_timer_.expires_after(platform_.options().idle_timeout);
  idle_timer_.async_wait([weak](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->state_ != State::Idle) return;
    self->platform_.console().detail(fmt::format("mlfaas: {}: instance {} reclaimed after being idle",
                                                 self->fn_.spec.name, self->id_));
    self->stop("idle");
  });
}

void Instance::freeze() {
  if (!platform_.options().freeze_idle || frozen_by_cgroup_ || frozen_by_signal_) return;
  if (cgroup_ && cgroup_->freeze()) frozen_by_cgroup_ = true;
  else if (::kill(-pid_, SIGSTOP) == 0) frozen_by_signal_ = true;
}

void Instance::thaw() {
  if (frozen_by_cgroup_ && cgroup_) cgroup_->thaw();
  if (frozen_by_signal_) ::kill(-pid_, SIGCONT);
  frozen_by_cgroup_ = frozen_by_signal_ = false;
}

void Instance::stop(const std::string& why) {
  if (state_ == State::Dead) return;
  state_ = State::Dead;
  timeout_timer_.cancel();
  idle_timer_.cancel();
  freeze_timer_.cancel();
  if (api_) api_->close();
  if (pid_ > 0 && !reaped_) {
    ::kill(-pid_, SIGKILL);
    // A frozen task only dies once thawed.
    thaw();
    if (cgroup_) cgroup_->thaw();
  }
  if (queued_) platform_.requeue(fn_, std::exchange(queued_, nullptr));
}

void Instance::fail_init_or_queue(const std::string& error_type, const std::string& message) {
  if (!queued_) return;
  auto inv = std::exchange(queued_, nullptr);
  InvocationResult r;
  r.function_error = true;
  r.error_type = error_type;
  r.payload = message.empty() || message.front() != '{' ? lambda_error(error_type, message) : message;
  current_ = inv;  // so that the lines below join its log
  emit(fmt::format("START RequestId: {} Version: $LATEST", inv->request_id));
  emit(fmt::format("END RequestId: {}", inv->request_id));
  const std::string memory_used = max_memory_used_mb();
  emit(fmt::format("REPORT RequestId: {}\tDuration: {:.2f} ms\tBilled Duration: {:.0f} ms\tMemory Size: {} MB\t"
                   "Max Memory Used: {} MB\tStatus: error\tError Type: {}",
                   inv->request_id, init_ms_, std::ceil(init_ms_), fn_.spec.memory_mb, memory_used, error_type));
  current_ = nullptr;
  inv->log.swap(r.log);
  r.duration_ms = init_ms_;
  r.billed_ms = std::ceil(init_ms_);
  r.max_memory_mb = std::atoi(memory_used.c_str());
  r.cost_usd = invocation_cost_usd(fn_.spec.memory_mb, r.billed_ms, fn_.spec.architecture);
  platform_.finished(fn_, inv, std::move(r));
}

void Instance::on_exit(int wait_status) {
  reaped_ = true;
  drain_output();
  bool oom = cgroup_ && cgroup_->oom_kills() > oom_kills_at_start_;
  std::string how = exit_description(wait_status);
  bool expected = state_ == State::Dead && current_ == nullptr;  // we stopped it (idle, timeout, shutdown)
  if (current_) {
    std::string type = oom ? "Runtime.OutOfMemory" : "Runtime.ExitError";
    std::string message = fmt::format("RequestId: {} Error: Runtime exited with error: {}", current_->request_id, how);
    emit(message);
    emit(type);
    InvocationResult r;
    r.function_error = true;
    r.error_type = type;
    r.payload = lambda_error(type, message);
    state_ = State::Dead;
    complete(std::move(r), "\tStatus: error\tError Type: " + type);
  } else if (queued_ && state_ == State::Starting) {
    std::string type = oom ? "Runtime.OutOfMemory"
                       : WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 127 ? "Runtime.InvalidEntrypoint"
                                                                                   : "Runtime.ExitError";
    init_ms_ = ms_between(spawned_, Clock::now());
    emit(fmt::format("INIT_REPORT Init Duration: {:.2f} ms\tPhase: init\tStatus: error\tError Type: {}", init_ms_, type));
    fail_init_or_queue(type, fmt::format("RequestId: {} Error: Runtime exited with error: {}", queued_->request_id, how));
  } else if (!expected && state_ != State::Dead) {
    platform_.console().line(fmt::format("mlfaas: {}: instance {} exited while idle ({})", fn_.spec.name, id_, how));
  }
  if (state_ != State::Dead) stop("exited");
  if (queued_) platform_.requeue(fn_, std::exchange(queued_, nullptr));
  if (api_) api_->close();
  pending_next_.reset();
  boost::system::error_code ec;
  output_.close(ec);
  if (cgroup_) cgroup_->remove();
  platform_.instance_gone(fn_, this);
}

std::string Instance::max_memory_used_mb() {
  // The function's own pages (anonymous + the file pages it maps), whatever cgroup the page cache is charged to;
  // kept as a high-water mark, since a process of the instance may have exited meanwhile (cgroups.h).
  if (pid_ > 0 && !reaped_)
    if (auto bytes = process_tree_peak_bytes(pid_, platform_.sandbox().private_namespaces()))
      peak_memory_bytes_ = std::max(peak_memory_bytes_, *bytes);
  long long bytes = peak_memory_bytes_;
  // Nothing left to read (INIT crashed before the first reading), or an OOM kill (Lambda then shows the whole
  // size): the cgroup's charge at its peak.
  if (cgroup_ && (bytes <= 0 || cgroup_->oom_kills() > oom_kills_at_start_))
    if (auto peak = cgroup_->peak_bytes()) bytes = std::max(bytes, *peak);
  if (bytes <= 0) return "-";
  return std::to_string((bytes + 1048575) / 1048576);  // whole MB, rounded up: a live process uses > 0
}

// ------------------------------------------------------------------ function output

void Instance::read_output() {
  std::weak_ptr<Instance> weak = weak_from_this();
  output_.async_read_some(asio::buffer(output_buf_), [weak](const boost::system::error_code& ec, size_t n) {
    auto self = weak.lock();
    if (!self) return;
    if (n > 0) self->handle_output(self->output_buf_.data(), n);
    if (!ec) self->read_output();
  });
}

void Instance::drain_output() {
  // The runtime writes its lines before it posts the answer: read what is already in the pipe so that they
  // land between START and END.
  if (!output_.is_open()) return;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(output_.native_handle(), buf, sizeof buf);
    if (n <= 0) break;
    handle_output(buf, size_t(n));
  }
  if (!partial_line_.empty()) emit(std::exchange(partial_line_, std::string()));
}

void Instance::handle_output(const char* data, size_t n) {
  partial_line_.append(data, n);
  size_t start = 0;
  for (size_t nl; (nl = partial_line_.find('\n', start)) != std::string::npos; start = nl + 1)
    emit(partial_line_.substr(start, nl - start));
  partial_line_.erase(0, start);
  // A line longer than CloudWatch's event limit (256 KB) is cut rather than buffered without bound.
  if (partial_line_.size() > 256 * 1024) emit(std::exchange(partial_line_, std::string()));
}

void Instance::emit(const std::string& line) {
  fn_.log.write(log_stream_, line);
  if (current_) {
    current_->log += line;
    current_->log += '\n';
  }
}

}  // namespace mlfaas::platform
