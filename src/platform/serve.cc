#include "platform/serve.h"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cmath>
#include <fstream>

#include <fmt/format.h>

#include "platform/aws/function_store.h"
#include "platform/aws/lambda_api.h"
#include "platform/aws/logs_api.h"
#include "platform/aws/s3_api.h"
#include "platform/aws/sns_api.h"
#include "platform/front.h"

namespace mlfaas::platform {

namespace asio = boost::asio;

namespace {

std::string describe_function(const Function& f) {
  const auto& s = f.spec;
  std::string routes;
  for (const auto& r : s.routes) routes += (routes.empty() ? "" : ", ") + r.method + " " + r.path;
  std::string topics;
  for (const auto& arn : s.sns_topic_arns) topics += (topics.empty() ? "" : ", ") + arn.substr(arn.rfind(':') + 1);
  return fmt::format("  {:<22} handler {:<10} {:>5} MB  {:.2f} vCPU  {} visible CPU{}  timeout {} s  reserved {}{}{}",
                     s.name, s.handler, s.memory_mb, f.shape.vcpus, f.shape.visible_cpus,
                     f.shape.visible_cpus == 1 ? "" : "s", s.timeout_s,
                     s.reserved_concurrency ? std::to_string(*s.reserved_concurrency) : "-",
                     routes.empty() ? "" : "  routes: " + routes, topics.empty() ? "" : "  sns: " + topics) +
         (f.image ? "  image " + f.image->manifest_digest.substr(0, 19) + " (" + f.spec.image_uri + ")" : "");
}

void print_summary(Platform& platform) {
  auto& console = platform.console();
  double total = 0;
  for (auto& f : platform.functions()) {
    const auto& st = f->stats;
    if (st.invocations == 0 && st.throttles == 0) continue;
    console.line(fmt::format("  {:<22} {} invocations, {} errors, {} throttles, {} cold starts, {:.0f} billed ms, ${:.8f}",
                             f->spec.name, st.invocations, st.errors, st.throttles, st.cold_starts, st.billed_ms,
                             st.cost_usd));
    total += st.cost_usd;
  }
  console.line(fmt::format("mlfaas serve: stopped; total cost ${:.8f}", total));
}

}  // namespace

int serve(const ServeOptions& options) {
  asio::ip::address address;
  try {
    address = resolve_host(options.host);
  } catch (const std::exception& e) {
    throw UsageError(e.what());
  }
  if (!address.is_loopback() && !options.allow_remote)
    throw UsageError("--host " + options.host + " is not a loopback address: the Invoke API would be open "
                             "to the network; pass --allow-remote to do that on purpose");
  if (!address.is_loopback() && options.credentials.empty())
    throw UsageError("--allow-remote needs credentials that callers must sign with: --access-key-id and "
                             "--secret-access-key (or MLFAAS_ACCESS_KEY_ID / MLFAAS_SECRET_ACCESS_KEY)");

  Template tpl = load_template(options.template_path);
  Console console;
  for (const auto& w : tpl.warnings) console.line("mlfaas: warning: " + options.template_path + ": " + w);

  auto cgroups = Cgroups::detect();
  asio::io_context io(1);
  // Declared before the platform and the front, so it outlives everything that records into it.
  Monitoring monitoring(tpl, options.monitoring, console);
  Platform platform(io, std::move(tpl), options.platform, *cgroups, console);
  platform.set_metrics(&monitoring.store());
  // Functions, topics and objects made through the AWS APIs live under the state directory, beside metrics.db.
  const std::string aws_state = options.monitoring.state_dir + "/aws";
  aws::FunctionStore function_store(aws_state + "/lambda");
  aws::LambdaApi lambda_api(platform, function_store);
  AwsApis apis;
  apis.lambda = &lambda_api;
  aws::LogsApi logs_api(options.platform.log_dir, platform.tpl().region, platform.tpl().account_id);
  apis.logs = &logs_api;
  aws::SnsApi sns_api(platform, aws_state + "/sns.json", &monitoring);
  apis.sns = &sns_api;
  aws::S3Api s3_api(aws_state + "/s3", options.host, platform.tpl().region);
  apis.s3 = &s3_api;
  lambda_api.s3_reader = [&s3_api](const std::string& bucket, const std::string& key) {
    return s3_api.read_for_lambda(bucket, key);
  };
  Front front(platform, options.host, static_cast<unsigned short>(options.port), options.credentials, &monitoring,
              apis);

  std::string url = fmt::format("http://{}:{}", options.host, front.port());
  lambda_api.public_base_url = url;
  console.line(fmt::format("mlfaas serve: listening on {}", url));
  if (!options.credentials.empty())
    console.line("  auth       Invoke API and SNS require AWS SigV4 signatures with access key " +
                 options.credentials.access_key_id + " (API routes stay public, as on API Gateway)");
  console.line(fmt::format("  template   {}", options.template_path));
  console.line(fmt::format("  aws apis   Lambda, CloudWatch Logs, SNS, S3 (what they make is kept in {}/)", aws_state));
  console.line(fmt::format("  resources  {}", cgroups->describe()));
  if (cgroups->mode() == CgroupMode::None)
    console.line("mlfaas: warning: running unenforced (no CPU quota, memory limit or freezer): " + cgroups->warning());
  console.line(fmt::format("  instances  {}", platform.sandbox().describe()));
  if (!platform.sandbox().warning().empty())
    console.line("mlfaas: warning: instances are not isolated: " + platform.sandbox().warning());
  int host_cpus = int(cgroups->host_cpus().size());
  for (auto& f : platform.functions()) {
    console.line(describe_function(*f));
    if (f->shape.quota_capped)
      console.line(fmt::format("mlfaas: note: {} MB would get {:.2f} vCPU on Lambda; this host has {} CPU(s), so "
                               "{} gets {:.2f}",
                               f->spec.memory_mb, std::min(6.0, f->spec.memory_mb / 1769.0), host_cpus,
                               f->spec.name, f->shape.vcpus));
    if (f->bootstrap.empty() || ::access(f->bootstrap.c_str(), X_OK) != 0)
      console.line(fmt::format("mlfaas: warning: {}: no bootstrap executable ('{}')", f->spec.name, f->bootstrap));
  }
  console.line(fmt::format("  account concurrency {}, idle timeout {} s, logs in {}/", options.platform.account_concurrency,
                           options.platform.idle_timeout.count() / 1000.0, options.platform.log_dir));
  console.line(fmt::format("  limits     instances' MemorySize up to {} MB in all, {} MB of queued events per function",
                           platform.instance_memory_budget_mb(), options.platform.async_queue_bytes >> 20));
  for (auto& f : platform.functions())
    if (platform.instance_memory_budget_mb() && size_t(f->spec.memory_mb) > platform.instance_memory_budget_mb())
      console.line(fmt::format("mlfaas: warning: {} needs {} MB, more than the {} MB instances may use: it cannot run",
                               f->spec.name, f->spec.memory_mb, platform.instance_memory_budget_mb()));
  console.line(fmt::format("  metrics    {} (GET {}/metrics), {} alarm(s); mail via {}", monitoring.database_path(),
                           url, monitoring.alarm_count(), options.monitoring.smtp.url));
  console.line(fmt::format("  web        {}/ (try the model), {}/dashboard", url, url));
  if (!platform.functions().empty()) {
    // AWS CLI v2 reads --payload as base64 unless told otherwise; v1 reads it raw and refuses the option.
    std::string invoke = fmt::format("aws lambda invoke --endpoint-url {} --function-name {}", url,
                                     platform.functions().front()->spec.name);
    std::string payload = "--payload '{\"sentence\": \"I am happy\"}' out.json";
    console.line(fmt::format("  try (AWS CLI v2): {} --cli-binary-format raw-in-base64-out {}", invoke, payload));
    console.line(fmt::format("  try (AWS CLI v1): {} {}", invoke, payload));
  }
  if (!options.port_file.empty()) {
    std::ofstream pf(options.port_file);
    pf << front.port() << "\n";
  }

  asio::signal_set stop_signals(io, SIGINT, SIGTERM);
  stop_signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    console.line(fmt::format("mlfaas serve: {} received, draining {} in-flight invocation(s)",
                             sig == SIGINT ? "SIGINT" : "SIGTERM", platform.in_flight()));
    front.close();
    // Once drained, give the last answers a moment to leave their sockets before the loop stops.
    platform.shutdown([&] {
      auto grace = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(200));
      grace->async_wait([grace, &io](const boost::system::error_code&) { io.stop(); });
    });
    // A second signal stops at once.
    stop_signals.async_wait([&](const boost::system::error_code& ec2, int) {
      if (!ec2) io.stop();
    });
  });
  ::signal(SIGPIPE, SIG_IGN);
  io.run();
  platform.set_metrics(nullptr);
  print_summary(platform);
  return 0;
}

}  // namespace mlfaas::platform
