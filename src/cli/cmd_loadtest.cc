// mlfaas loadtest --host URL (--scenario NAME | --users N ... | --rate RPS ...) [outputs]
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "engine/error.h"
#include "loadtest/html_report.h"
#include "loadtest/locust_csv.h"
#include "loadtest/locustfile.h"
#include "loadtest/runner.h"
#include "loadtest/summary.h"

namespace mlfaas::cli {
namespace {

namespace lt = mlfaas::loadtest;

struct LoadtestOptions {
  std::string host;
  std::string path = "/sentimentAnalysisONNX";
  std::string scenario;
  std::optional<int> users;
  std::optional<double> spawn_rate;
  std::string run_time;
  std::string wait;
  std::optional<double> rate;
  std::optional<int> connections;
  double time_scale = 1.0;
  int threads = 1;
  std::string timeout = "30s";
  std::string sentences_file;
  std::string field = "sentence";
  std::string csv_prefix;
  std::string html_file;
  std::string locustfile;
  bool insecure = false;
  std::string ca_file;
};

std::atomic<bool> g_interrupted{false};

extern "C" void on_interrupt(int) {
  g_interrupted.store(true);
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C ends the process at once
}

lt::Scenario build_scenario(const LoadtestOptions& o) {
  lt::Scenario s;
  if (o.rate) {
    if (!o.scenario.empty() || o.users || o.spawn_rate || !o.wait.empty())
      throw CliExit(
          2, "loadtest: --rate (open model) cannot be combined with --scenario, --users, --spawn-rate or --wait");
    if (o.run_time.empty()) throw CliExit(2, "loadtest: --rate needs --run-time");
    s.name = "open";
    s.model = lt::LoadModel::kOpen;
    s.rate = *o.rate;
    s.connections = o.connections.value_or(50);
  } else {
    if (o.connections) throw CliExit(2, "loadtest: --connections applies to the open model (--rate) only");
    if (!o.scenario.empty()) {
      auto builtin = lt::builtin_scenario(o.scenario);
      if (!builtin)
        throw CliExit(2, "loadtest: unknown scenario '" + o.scenario + "' (expected bursty, medium or heavy)");
      s = *builtin;
    } else {
      if (!o.users || o.run_time.empty())
        throw CliExit(2,
                      "loadtest: give --scenario NAME, or --users N and --run-time T (closed model), or --rate RPS and "
                      "--run-time T (open model)");
      s.name = "custom";
      s.spawn_rate = 1.0;  // Locust's default
    }
    if (o.users) s.users = *o.users;
    if (o.spawn_rate) s.spawn_rate = *o.spawn_rate;
    if (!o.wait.empty()) std::tie(s.wait_min_s, s.wait_max_s) = lt::parse_wait(o.wait);
  }
  if (!o.run_time.empty()) s.run_time_s = lt::parse_duration(o.run_time);
  if (o.time_scale != 1.0) s.scale_time(o.time_scale);
  s.validate();
  return s;
}

void run(const LoadtestOptions& o) {
  lt::Scenario scenario;
  std::vector<std::string> sentences;
  double timeout_s = 0;
  try {
    scenario = build_scenario(o);
    timeout_s = lt::parse_duration(o.timeout);
    if (!(timeout_s > 0)) throw std::invalid_argument("--timeout must be positive");
  } catch (const std::invalid_argument& e) {
    throw CliExit(2, std::string("loadtest: ") + e.what());
  }
  sentences = o.sentences_file.empty() ? lt::default_sentences() : lt::load_sentences(o.sentences_file);

  if (!o.locustfile.empty()) {
    lt::LocustfileSpec spec{scenario, o.path, o.field, sentences, o.host};
    std::ofstream out(o.locustfile, std::ios::binary);
    out << lt::locustfile(spec);
    if (!out.flush()) throw CliExit(1, "loadtest: cannot write " + o.locustfile);
    std::printf("wrote %s; run it with:\n  %s\n", o.locustfile.c_str(), lt::locust_command(spec, o.locustfile).c_str());
    return;
  }
  if (o.host.empty()) throw CliExit(2, "loadtest: --host URL is required");

  lt::RunOptions run_options;
  try {
    run_options.target = lt::parse_target(o.host);
  } catch (const std::invalid_argument& e) {
    throw CliExit(2, std::string("loadtest: ") + e.what());
  }
  run_options.scenario = scenario;
  run_options.url = o.host;
  run_options.request_name = o.path;
  run_options.requests = lt::build_requests(run_options.target, o.path, o.field, sentences);
  run_options.threads = o.threads;
  run_options.timeout_s = timeout_s;
  run_options.tls.verify = !o.insecure;
  run_options.tls.ca_file = o.ca_file;
  run_options.stop_requested = &g_interrupted;
  const bool live = isatty(STDERR_FILENO);
  if (live)
    run_options.on_second = [](const lt::RunResult& so_far) {
      std::fprintf(stderr, "\r%s\033[K", lt::progress_line(so_far).c_str());
      std::fflush(stderr);
    };

  std::printf("%s %s%s: %s\n", "POST", o.host.c_str(), o.path.c_str(), lt::describe_scenario(scenario).c_str());
  std::fflush(stdout);
  std::signal(SIGPIPE, SIG_IGN);
  g_interrupted.store(false);
  auto previous = std::signal(SIGINT, on_interrupt);
  lt::RunResult result;
  try {
    result = lt::run_load_test(run_options);
  } catch (const std::invalid_argument& e) {
    std::signal(SIGINT, previous);
    throw CliExit(2, std::string("loadtest: ") + e.what());
  }
  std::signal(SIGINT, previous);
  if (live) std::fprintf(stderr, "\r\033[K");
  if (g_interrupted.load()) std::printf("interrupted after %.1f s; results so far:\n", result.duration_s);

  std::printf("\n%s", lt::summary_table(result).c_str());
  const std::string failures = lt::failure_summary(result);
  if (!failures.empty()) std::printf("\n%s", failures.c_str());
  try {
    if (!o.csv_prefix.empty()) lt::write_locust_csv_files(result, o.csv_prefix);
    if (!o.html_file.empty()) lt::write_html_report(result, o.html_file);
  } catch (const std::runtime_error& e) {
    throw CliExit(1, std::string("loadtest: ") + e.what());
  }
  if (!o.csv_prefix.empty())
    std::printf("\nCSV: %s_stats.csv, %s_stats_history.csv, %s_failures.csv\n", o.csv_prefix.c_str(),
                o.csv_prefix.c_str(), o.csv_prefix.c_str());
  if (!o.html_file.empty()) std::printf("HTML report: %s\n", o.html_file.c_str());
  std::fflush(stdout);
  if (result.total.failures > 0)
    throw CliExit(1, "loadtest: " + std::to_string(result.total.failures) + " of " +
                         std::to_string(result.total.requests) + " requests failed");
  if (g_interrupted.load()) throw CliExit(130, "");
}

}  // namespace

void register_loadtest(CLI::App& app) {
  auto opts = std::make_shared<LoadtestOptions>();
  auto* cmd = app.add_subcommand("loadtest", "Load-test an HTTP endpoint (seed A's scenarios, closed or open model)");
  cmd->add_option("--host", opts->host,
                  "Base URL, e.g. http://127.0.0.1:8080 or https://ID.execute-api.REGION.amazonaws.com/prod");
  cmd->add_option("--path", opts->path, "Request path")->capture_default_str();
  cmd->add_option("--scenario", opts->scenario, "Built-in scenario: bursty, medium or heavy (seed A)");
  cmd->add_option("--users", opts->users, "Closed model: number of users");
  cmd->add_option("--spawn-rate", opts->spawn_rate, "Closed model: users started per second");
  cmd->add_option("--run-time", opts->run_time, "Duration, e.g. 90s, 2m, 1h30m, 500ms");
  cmd->add_option("--wait", opts->wait, "Closed model: wait MIN,MAX seconds (uniform) after each response");
  cmd->add_option("--rate", opts->rate, "Open model: requests per second, latency from intended send times");
  cmd->add_option("--connections", opts->connections, "Open model: keep-alive connections (default 50)");
  cmd->add_option("--threads", opts->threads, "Worker threads")->capture_default_str()->check(CLI::Range(1, 256));
  cmd->add_option("--timeout", opts->timeout, "Per-request timeout")->capture_default_str();
  cmd->add_option("--time-scale", opts->time_scale, "Multiply every duration of the scenario (ramp, run, waits) by F")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--sentences", opts->sentences_file, "One sentence per line (default: seed A's ten)");
  cmd->add_option("--field", opts->field, "JSON body field (seed A's API: sentence; its Locust file: text)")
      ->capture_default_str();
  cmd->add_option("--csv", opts->csv_prefix,
                  "Write Locust's PREFIX_stats.csv, PREFIX_stats_history.csv, PREFIX_failures.csv");
  cmd->add_option("--html", opts->html_file, "Write a self-contained HTML report");
  cmd->add_flag("--insecure", opts->insecure, "https: do not verify the server's certificate");
  cmd->add_option("--ca-file", opts->ca_file, "https: also trust the certificates in this PEM file");
  cmd->add_option("--emit-locustfile", opts->locustfile, "Write the equivalent Locust file and exit");
  cmd->callback([opts] { run(*opts); });
}

}  // namespace mlfaas::cli
