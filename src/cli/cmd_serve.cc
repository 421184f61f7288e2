#include <unistd.h>

#include <filesystem>

#include "cli/commands.h"
#include "platform/serve.h"

namespace mlfaas::cli {

namespace {
// The bootstrap built with this mlfaas sits next to it in the build directory.
std::string default_bootstrap() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "bootstrap";
  return (self.parent_path() / "bootstrap").string();
}
}  // namespace

void register_serve(CLI::App& app) {
  auto opts = std::make_shared<platform::ServeOptions>();
  auto idle_s = std::make_shared<double>(300);
  auto retry_ms = std::make_shared<int>(1000);
  auto* cmd = app.add_subcommand("serve", "Run a SAM template's functions locally, the way AWS Lambda does");
  cmd->add_option("--template,-t", opts->template_path, "AWS SAM template")->capture_default_str();
  cmd->add_option("--port,-p", opts->port, "port of the Invoke API, SNS and API routes (0: any free port)")
      ->capture_default_str()->check(CLI::Range(0, 65535));
  cmd->add_option("--host", opts->host, "address to bind")->capture_default_str();
  cmd->add_flag("--allow-remote", opts->allow_remote, "allow a non-loopback --host");
  cmd->add_option("--account-concurrency", opts->platform.account_concurrency, "account concurrency limit")
      ->capture_default_str()->check(CLI::Range(1, 1'000'000));
  cmd->add_option("--idle-timeout", *idle_s, "seconds before an idle instance is reclaimed")
      ->capture_default_str()->check(CLI::Range(0.01, 86400.0));
  auto queue_mb = std::make_shared<size_t>(opts->platform.async_queue_bytes >> 20);
  cmd->add_option("--async-queue-mb", *queue_mb,
                  "payload MB of asynchronous events a function may have waiting (beyond: 429 / dropped)")
      ->capture_default_str()->check(CLI::Range(1, 1'000'000));
  cmd->add_option("--instance-memory-mb", opts->platform.instance_memory_mb,
                  "most MemorySize all live instances may add up to (default: MemAvailable or the cgroup limit)")
      ->check(CLI::Range(1, 1'000'000'000));
  cmd->add_option("--async-retry-delay-ms", *retry_ms,
                  "wait before retrying a failed asynchronous event (doubled for the second retry)")
      ->capture_default_str()->check(CLI::Range(0, 3'600'000));
  cmd->add_option("--bootstrap", opts->platform.bootstrap_path,
                  "runtime to run for functions whose CodeUri has no bootstrap (default: next to mlfaas)");
  cmd->add_option("--log-dir", opts->platform.log_dir, "directory of the per-function log files")
      ->capture_default_str();
  cmd->add_flag("!--no-freeze", opts->platform.freeze_idle, "do not freeze idle instances");
  auto freeze_ms = std::make_shared<int>(50);
  cmd->add_option("--freeze-after-ms", *freeze_ms, "freeze an instance once idle this long (0: at once)")
      ->capture_default_str()->check(CLI::Range(0, 3'600'000));
  auto network = std::make_shared<std::string>("isolated");
  cmd->add_option("--instance-network", *network,
                  "isolated: each instance in its own network namespace, no network (default); host: instances "
                  "share the host's network, and any local process can reach their Runtime API (docs/SECURITY.md)")
      ->capture_default_str()->check(CLI::IsMember({"isolated", "host"}));
  cmd->add_option("--port-file", opts->port_file, "write the bound port to this file once listening");
  cmd->add_option("--access-key-id", opts->credentials.access_key_id,
                  "require SigV4-signed Invoke API / SNS calls with this access key (needed with --allow-remote)")
      ->envname("MLFAAS_ACCESS_KEY_ID");
  cmd->add_option("--secret-access-key", opts->credentials.secret_access_key, "the matching secret key")
      ->envname("MLFAAS_SECRET_ACCESS_KEY");
  auto& mon = opts->monitoring;
  cmd->add_option("--state-dir", mon.state_dir,
                  "directory of the metrics database (metrics.db), unpacked PackageType: Image functions (images/) and "
                  "what the AWS APIs make: functions, topics, S3 objects (aws/)")
      ->capture_default_str();
  cmd->add_option("--web-dir", mon.web_dir, "assets of / and /dashboard (default: web/ next to mlfaas)");
  cmd->add_option("--smtp-url", mon.smtp.url, "mail server for alarm e-mails: smtp://HOST:PORT or smtps://HOST:PORT")
      ->capture_default_str()->envname("MLFAAS_SMTP_URL");
  cmd->add_option("--smtp-from", mon.smtp.from, "sender address of alarm e-mails")->capture_default_str();
  cmd->add_option("--smtp-user", mon.smtp.username, "SMTP AUTH user")->envname("MLFAAS_SMTP_USER");
  cmd->add_option("--smtp-password", mon.smtp.password, "SMTP AUTH password")->envname("MLFAAS_SMTP_PASSWORD");
  cmd->add_flag("--smtp-starttls", mon.smtp.starttls, "require STARTTLS on smtp://");
  cmd->add_flag("!--smtp-no-verify", mon.smtp.verify_tls, "do not verify the mail server's TLS certificate");
  cmd->callback([opts, idle_s, retry_ms, freeze_ms, network, queue_mb] {
    opts->platform.instance_network =
        *network == "host" ? platform::InstanceNetwork::Host : platform::InstanceNetwork::Isolated;
    opts->platform.async_queue_bytes = *queue_mb << 20;
    opts->platform.freeze_delay = std::chrono::milliseconds(*freeze_ms);
    if (opts->platform.bootstrap_path.empty()) opts->platform.bootstrap_path = default_bootstrap();
    opts->platform.idle_timeout = std::chrono::milliseconds(static_cast<long long>(*idle_s * 1000));
    opts->platform.async_retry_delay = std::chrono::milliseconds(*retry_ms);
    opts->platform.image_dir = (std::filesystem::path(opts->monitoring.state_dir) / "images").string();
    try {
      int code = platform::serve(*opts);
      if (code != 0) throw CliExit(code, "");
    } catch (const platform::TemplateError& e) {
      throw CliExit(2, e.what());
    } catch (const platform::UsageError& e) {
      throw CliExit(2, std::string("serve: ") + e.what());
    }
  });
}

}  // namespace mlfaas::cli
