#include "platform/platform.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "platform/metrics/metrics_store.h"

namespace mlfaas::platform {

namespace fs = std::filesystem;

Function::Function(Platform& platform, FunctionSpec s, ResourceShape sh, const std::string& log_dir,
                   Console& console)
    : spec(std::move(s)), shape(sh), log(log_dir, spec.name, console) {
  if (spec.package_type == "Image") {
    load_image(platform);
    return;
  }
  // A CodeUri holding its own bootstrap (a packaged function) runs that; otherwise the one built with mlfaas.
  fs::path own = fs::path(spec.code_dir) / "bootstrap";
  bootstrap = ::access(own.c_str(), X_OK) == 0 ? own.string() : platform.options().bootstrap_path;
}

void Function::load_image(Platform& platform) {
  const std::string where = "Resources." + spec.logical_id + ".Properties.ImageUri";
  try {
    image = unpack_image(spec.image_uri, (fs::path(platform.options().image_dir) / spec.name).string());
  } catch (const ImageError& e) {
    throw TemplateError(where + ": " + e.what());
  }
  const std::string want = spec.architecture == "arm64" ? "arm64" : "amd64";
  if (image->architecture != want)
    throw TemplateError(where + ": the image is for " + image->architecture + ", the function's Architectures say " +
                        spec.architecture);
  if (image->architecture != host_architecture())
    throw TemplateError(where + ": the image is for " + image->architecture + "; this machine runs " +
                        host_architecture() + " images only");
  // As Lambda runs an image: ImageConfig's EntryPoint and Command replace the image's own; Command's first word
  // is the handler (_HANDLER).
  image_argv = spec.image_entrypoint.empty() ? image->entrypoint : spec.image_entrypoint;
  const auto& command = spec.image_command.empty() ? image->cmd : spec.image_command;
  image_argv.insert(image_argv.end(), command.begin(), command.end());
  if (spec.handler.empty() && !command.empty()) spec.handler = command.front();
  image_workdir = !spec.image_working_dir.empty() ? spec.image_working_dir
                  : !image->working_dir.empty()   ? image->working_dir
                                                  : "/";
  if (image_argv.empty() || !image_argv.front().starts_with("/") || !image_workdir.starts_with("/"))
    throw TemplateError(where + ": the entrypoint ('" + (image_argv.empty() ? "" : image_argv.front()) +
                        "') and working directory ('" + image_workdir + "') must be absolute paths in the image");
  bootstrap = image->rootfs + image_argv.front();
}

Platform::Platform(boost::asio::io_context& io, Template tpl, PlatformOptions options, Cgroups& cgroups,
                   Console& console)
    : io_(io), tpl_(std::move(tpl)), options_(std::move(options)), cgroups_(cgroups),
      sandbox_(options_.instance_network), console_(console),
      sigchld_(io, SIGCHLD), concurrency_timer_(io), memory_retry_timer_(io) {
  int reserved_total = 0;
  int host_cpus = int(cgroups_.host_cpus().size());
  for (const auto& spec : tpl_.functions) {
    if (spec.reserved_concurrency) reserved_total += *spec.reserved_concurrency;
    functions_.push_back(std::make_unique<Function>(*this, spec, lambda_shape(spec.memory_mb, host_cpus),
                                                    options_.log_dir, console_));
  }
  if (reserved_total > options_.account_concurrency)
    throw TemplateError(fmt::format("ReservedConcurrentExecutions add up to {}, above the account limit {} "
                                    "(--account-concurrency)", reserved_total, options_.account_concurrency));
  unreserved_pool_ = options_.account_concurrency - reserved_total;
  for (const auto& f : functions_)
    if (f->image && !sandbox_.private_namespaces()) {
      console_.line("mlfaas: warning: PackageType: Image functions run without a root of their own (that needs "
                    "root): their entrypoint runs from the unpacked image under " + options_.image_dir +
                    "/ as this server's user, with this host's files (dynamic loader, libraries) visible and "
                    "writable where the user can write; the image's read-only root and private /tmp are not enforced");
      break;
    }
  memory_budget_mb_ = options_.instance_memory_mb ? options_.instance_memory_mb : host_memory_available_mb();
  wait_signal();
}

size_t host_memory_available_mb() {
  size_t mb = 0;
  std::ifstream meminfo("/proc/meminfo");
  for (std::string key; meminfo >> key;) {
    size_t kb = 0;
    meminfo >> kb;
    meminfo.ignore(64, '\n');
    if (key == "MemAvailable:") mb = kb / 1024;
  }
  // serve's own cgroup limit (v2, then v1) when it is tighter, as in a container.
  for (const char* path : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::ifstream in(path);
    unsigned long long bytes = 0;
    if (in >> bytes && bytes > 0 && bytes < (1ull << 60)) {
      size_t limit_mb = size_t(bytes >> 20);
      if (mb == 0 || limit_mb < mb) mb = limit_mb;
    }
  }
  return mb;
}

Platform::~Platform() = default;

namespace {
int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

void Platform::set_metrics(metrics::MetricsStore* store) {
  metrics_ = store;
  concurrency_timer_.cancel();
  if (metrics_) sample_concurrency();
}

void Platform::record_throttle(const Function& fn) {
  if (metrics_) metrics_->record_throttle(fn.spec.name, unix_ms_now());
}

void Platform::record_concurrency(const Function& fn) {
  if (metrics_) metrics_->record_concurrency(fn.spec.name, unix_ms_now(), fn.in_flight);
}

void Platform::sample_concurrency() {
  // Changes are recorded as they happen; a sample every second also gives quiet seconds their (zero) value, as
  // CloudWatch's ConcurrentExecutions has a datapoint per period while a function is in use.
  for (auto& f : functions_)
    if (f->in_flight > 0 || f->stats.invocations > 0) record_concurrency(*f);
  concurrency_timer_.expires_after(std::chrono::seconds(1));
  concurrency_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec && metrics_ && !shutting_down_) sample_concurrency();
  });
}

Function* Platform::function(const std::string& name_or_arn) {
  std::string name = name_or_arn;
  if (auto pos = name.find("function:"); pos != std::string::npos) name = name.substr(pos + 9);
  if (auto colon = name.find(':'); colon != std::string::npos) name = name.substr(0, colon);
  for (auto& f : functions_)
    if (f->spec.name == name) return f.get();
  return nullptr;
}

Function& Platform::add_function(FunctionSpec spec) {
  if (function(spec.name)) throw std::invalid_argument("Function already exist: " + spec.name);
  std::optional<int> reserved = std::exchange(spec.reserved_concurrency, std::nullopt);
  int host_cpus = int(cgroups_.host_cpus().size());
  ResourceShape shape = lambda_shape(spec.memory_mb, host_cpus);
  functions_.push_back(std::make_unique<Function>(*this, std::move(spec), shape, options_.log_dir, console_));
  Function& fn = *functions_.back();
  if (reserved) {
    try {
      set_reserved_concurrency(fn, reserved);
    } catch (...) {
      functions_.pop_back();
      throw;
    }
  }
  return fn;
}

void Platform::remove_function(Function& fn) {
  for (auto& inst : std::list<std::shared_ptr<Instance>>(fn.instances)) inst->retire();
  if (!fn.async_queue.empty())
    console_.line(fmt::format("mlfaas: {}: deleted; {} queued event(s) dropped", fn.spec.name, fn.async_queue.size()));
  fn.async_queue.clear();
  fn.async_queue_bytes = 0;
  if (fn.spec.reserved_concurrency) unreserved_pool_ += *fn.spec.reserved_concurrency;
  for (auto it = functions_.begin(); it != functions_.end(); ++it)
    if (it->get() == &fn) {
      removed_functions_.push_back(std::move(*it));
      functions_.erase(it);
      break;
    }
  pump_queues();
}

void Platform::reconfigure(Function& fn, FunctionSpec spec) {
  spec.reserved_concurrency = fn.spec.reserved_concurrency;  // changed only by set_reserved_concurrency
  fn.spec = std::move(spec);
  fn.shape = lambda_shape(fn.spec.memory_mb, int(cgroups_.host_cpus().size()));
  if (fn.spec.package_type != "Image") {  // an image's entrypoint stays what load_image made it
    fs::path own = fs::path(fn.spec.code_dir) / "bootstrap";
    fn.bootstrap = ::access(own.c_str(), X_OK) == 0 ? own.string() : options_.bootstrap_path;
  }
  for (auto& inst : std::list<std::shared_ptr<Instance>>(fn.instances)) inst->retire();
}

void Platform::set_reserved_concurrency(Function& fn, std::optional<int> reserved) {
  int old = fn.spec.reserved_concurrency.value_or(0);
  int pool = unreserved_pool_ + old - reserved.value_or(0);
  if (reserved && pool < min_unreserved())
    throw std::invalid_argument(fmt::format(
        "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below "
        "its minimum value of [{}].", min_unreserved()));
  unreserved_pool_ = pool;
  fn.spec.reserved_concurrency = reserved;
  pump_queues();
}

std::vector<Function*> Platform::subscribers(const std::string& topic_arn) {
  std::vector<Function*> out;
  for (auto& f : functions_)
    for (const auto& arn : f->spec.sns_topic_arns)
      if (arn == topic_arn) out.push_back(f.get());
  return out;
}

bool Platform::can_admit(const Function& fn) const {
  if (fn.spec.reserved_concurrency) return fn.in_flight < *fn.spec.reserved_concurrency;
  return unreserved_in_flight_ < unreserved_pool_;
}

std::string Platform::throttle_reason(const Function& fn) const {
  return fn.spec.reserved_concurrency ? "ReservedFunctionConcurrentInvocationLimitExceeded"
                                      : "ConcurrentInvocationLimitExceeded";
}

bool Platform::memory_allows(Function& fn) {
  for (auto& inst : fn.instances)  // a warm instance costs no more memory
    if (!inst->retiring() && (inst->state() == Instance::State::Idle ||
                              (inst->state() == Instance::State::Draining && !inst->has_queued())))
      return true;
  if (memory_budget_mb_ == 0) return true;  // unknown: nothing to enforce
  auto in_use = [this] {
    size_t mb = 0;
    for (auto& f : functions_)
      for (auto& inst : f->instances)
        if (inst->state() != Instance::State::Dead) mb += size_t(f->spec.memory_mb);
    return mb;
  };
  size_t used = in_use();
  while (used + size_t(fn.spec.memory_mb) > memory_budget_mb_) {
    // Reclaim the least recently used idle instance of any function, as Lambda recycles idle sandboxes.
    std::shared_ptr<Instance> lru;
    for (auto& f : functions_)
      for (auto& inst : f->instances)
        if (inst->state() == Instance::State::Idle && (!lru || inst->last_used() < lru->last_used())) lru = inst;
    if (!lru) {
      if (!memory_full_logged_) {
        memory_full_logged_ = true;
        console_.line(fmt::format("mlfaas: instances use {} MB of the {} MB this host can give (--instance-memory-mb):"
                                  " {} waits (events) or is throttled (synchronous calls); said once",
                                  used, memory_budget_mb_, fn.spec.name));
      }
      return false;
    }
    lru->stop("reclaimed for memory");
    used = in_use();
  }
  return true;
}

void Platform::enqueue_async(Function& fn, InvocationPtr inv, bool front) {
  fn.async_queue_bytes += inv->payload.size();
  if (front) fn.async_queue.push_front(std::move(inv));
  else fn.async_queue.push_back(std::move(inv));
}

InvocationPtr Platform::dequeue_async(Function& fn) {
  auto inv = std::move(fn.async_queue.front());
  fn.async_queue.pop_front();
  fn.async_queue_bytes -= std::min(fn.async_queue_bytes, inv->payload.size());
  return inv;
}

Platform::Admission Platform::invoke(Function& fn, InvocationPtr inv) {
  if (inv->async) {
    if (fn.async_queue.size() >= options_.async_queue_limit ||
        fn.async_queue_bytes + inv->payload.size() > options_.async_queue_bytes) {
      ++fn.stats.throttles;
      record_throttle(fn);
      return Admission::Throttled;
    }
    // Lambda counts an event it cannot run now as a throttle, then keeps it and retries.
    if (!can_admit(fn)) record_throttle(fn);
    enqueue_async(fn, std::move(inv), false);
    pump_queues();
    return Admission::Queued;
  }
  if (shutting_down_ || !can_admit(fn) || !memory_allows(fn)) {
    ++fn.stats.throttles;
    record_throttle(fn);
    return Admission::Throttled;
  }
  start(fn, std::move(inv));
  return Admission::Started;
}

void Platform::start(Function& fn, InvocationPtr inv) {
  ++fn.in_flight;
  ++account_in_flight_;
  inv->unreserved = !fn.spec.reserved_concurrency;
  if (inv->unreserved) ++unreserved_in_flight_;
  ++fn.stats.invocations;
  record_concurrency(fn);

  // Warm reuse: the most recently used idle instance (its caches are the warmest), else one that has answered
  // and is about to ask for more work, else a cold start.
  std::shared_ptr<Instance> pick;
  for (auto& inst : fn.instances)
    if (inst->state() == Instance::State::Idle && !inst->retiring() &&
        (!pick || inst->last_used() > pick->last_used()))
      pick = inst;
  if (!pick)
    for (auto& inst : fn.instances)
      if (inst->state() == Instance::State::Draining && !inst->has_queued() && !inst->retiring()) {
        pick = inst;
        break;
      }
  if (pick) {
    pick->assign(std::move(inv));
    return;
  }
  auto inst = std::make_shared<Instance>(*this, fn);
  fn.instances.push_back(inst);
  try {
    inst->spawn(inv);
  } catch (const std::exception& e) {
    fn.instances.remove(inst);
    InvocationResult r;
    r.function_error = true;
    r.error_type = "Runtime.InvalidEntrypoint";
    r.payload = lambda_error(r.error_type, "RequestId: " + inv->request_id + " Error: " + e.what());
    console_.line(fmt::format("mlfaas: {}: cannot start an instance: {}", fn.spec.name, e.what()));
    finished(fn, inv, r);
  }
}

void Platform::finished(Function& fn, InvocationPtr inv, InvocationResult result) {
  --fn.in_flight;
  --account_in_flight_;
  if (inv->unreserved) --unreserved_in_flight_;
  if (result.function_error) ++fn.stats.errors;
  if (metrics_) {
    metrics::InvocationRecord r;
    r.ts_ms = unix_ms_now();
    r.function = fn.spec.name;
    r.request_id = inv->request_id;
    r.duration_ms = result.duration_ms;
    r.billed_ms = static_cast<int64_t>(result.billed_ms);
    if (inv->cold) r.init_ms = inv->init_ms;
    r.memory_mb = fn.spec.memory_mb;
    r.max_memory_mb = result.max_memory_mb;
    r.error = result.function_error;
    r.error_type = result.function_error ? (result.error_type.empty() ? "Unhandled" : result.error_type) : "";
    r.cost_usd = result.cost_usd;
    metrics_->record_invocation(std::move(r));
    record_concurrency(fn);
  }

  if (inv->async && result.function_error && inv->attempt < 3 && !shutting_down_) {
    // Lambda retries a failed asynchronous event twice, waiting longer each time.
    auto delay = options_.async_retry_delay * (1 << (inv->attempt - 1));
    ++inv->attempt;
    auto timer = std::make_shared<boost::asio::steady_timer>(io_, delay);
    timer->async_wait([this, &fn, inv, timer](const boost::system::error_code& ec) {
      if (ec || shutting_down_) return;
      inv->log.clear();
      enqueue_async(fn, inv, true);
      pump_queues();
    });
  } else if (inv->on_done) {
    inv->on_done(result);
  }
  pump_queues();
  maybe_finish_shutdown();
}

void Platform::requeue(Function& fn, InvocationPtr inv) {
  // It never started: undo its admission and run it like a new one, first in line.
  --fn.in_flight;
  --account_in_flight_;
  if (inv->unreserved) --unreserved_in_flight_;
  --fn.stats.invocations;
  if (inv->async) {
    enqueue_async(fn, std::move(inv), true);
    pump_queues();
  } else {
    start(fn, std::move(inv));
  }
}

void Platform::pump_queues() {
  if (shutting_down_) return;
  bool progress = true, held_by_memory = false;
  while (progress) {
    progress = false;
    for (auto& f : functions_)
      if (!f->async_queue.empty() && can_admit(*f)) {
        if (!memory_allows(*f)) {
          held_by_memory = true;
          continue;
        }
        start(*f, dequeue_async(*f));
        progress = true;
      }
  }
  // Memory frees when instances go idle or exit, which does not always pass through here: look again soon.
  if (held_by_memory && !memory_retry_pending_) {
    memory_retry_pending_ = true;
    memory_retry_timer_.expires_after(std::chrono::milliseconds(100));
    memory_retry_timer_.async_wait([this](const boost::system::error_code& ec) {
      memory_retry_pending_ = false;
      if (!ec) pump_queues();
    });
  }
}

void Platform::instance_gone(Function& fn, Instance* inst) {
  // Deferred: the instance may still be on the call stack.
  boost::asio::post(io_, [this, &fn, inst] {
    fn.instances.remove_if([inst](const std::shared_ptr<Instance>& p) { return p.get() == inst; });
    maybe_finish_shutdown();
  });
}

std::vector<int> Platform::cpus_for_next_instance(int count) {
  // Rotate the starting CPU so that instances with fewer visible CPUs than the host spread over all of them.
  const auto& host = cgroups_.host_cpus();
  std::vector<int> cpus;
  for (int i = 0; i < count && i < int(host.size()); ++i) cpus.push_back(host[(next_cpu_ + i) % host.size()]);
  next_cpu_ = (next_cpu_ + 1) % host.size();
  return cpus;
}

void Platform::wait_signal() {
  sigchld_.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;
    reap_children();
    wait_signal();
  });
}

void Platform::reap_children() {
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    for (auto* list : {&functions_, &removed_functions_})
      for (auto& f : *list)
      for (auto& inst : f->instances)
        if (inst->pid() == pid) {
          auto keep = inst;  // on_exit may remove it from the list
          keep->on_exit(status);
          goto next;
        }
  next:;
  }
}

void Platform::shutdown(std::function<void()> done) {
  if (shutting_down_) return;
  shutting_down_ = true;
  shutdown_done_ = std::move(done);
  size_t dropped = 0;
  for (auto& f : functions_) {
    dropped += f->async_queue.size();
    f->async_queue.clear();
    f->async_queue_bytes = 0;
  }
  if (dropped) console_.line(fmt::format("mlfaas: dropping {} queued asynchronous event(s)", dropped));
  // In-flight invocations end by themselves or at their timeout; this is only a backstop.
  int longest = 1;
  for (auto* list : {&functions_, &removed_functions_})
    for (auto& f : *list) longest = std::max(longest, f->spec.timeout_s);
  shutdown_timer_ = std::make_unique<boost::asio::steady_timer>(io_, std::chrono::seconds(longest + 2));
  shutdown_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    for (auto* list : {&functions_, &removed_functions_})
      for (auto& f : *list)
      for (auto& inst : std::list<std::shared_ptr<Instance>>(f->instances)) inst->stop("shutdown");
    if (shutdown_done_) std::exchange(shutdown_done_, nullptr)();
  });
  maybe_finish_shutdown();
}

void Platform::maybe_finish_shutdown() {
  if (!shutting_down_ || !shutdown_done_) return;
  if (account_in_flight_ > 0) return;
  bool stopping = false;
  for (auto* list : {&functions_, &removed_functions_})
    for (auto& f : *list)
    for (auto& inst : std::list<std::shared_ptr<Instance>>(f->instances)) {
      if (inst->state() != Instance::State::Dead) inst->stop("shutdown");
      stopping = true;
    }
  if (stopping) return;  // instance_gone() calls back here once they are reaped
  shutdown_timer_->cancel();
  std::exchange(shutdown_done_, nullptr)();
}

}  // namespace mlfaas::platform
