// `mlfaas experiment run SPEC.yaml [--out RUN_DIR] [--target local|aws ...]`, `mlfaas experiment report RUN_DIR` and
// `mlfaas experiment parse-logs` (REPORT/ML_ON_FAAS lines from serve logs or CloudWatch JSON into the CSV).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "common/error.h"
#include "experiment/log_parser.h"
#include "experiment/report.h"
#include "experiment/runner.h"

namespace mlfaas::cli {
namespace {

struct ParseLogsOptions {
  std::vector<std::string> files;  // format detected
  std::vector<std::string> cloudwatch;
  std::vector<std::string> serve_logs;
  std::string out;
};

void parse_logs(const ParseLogsOptions& opt) {
  experiment::LogParser parser;
  try {
    for (const auto& path : opt.files) parser.add_file(path);
    for (const auto& path : opt.cloudwatch) parser.add_file(path, experiment::LogFormat::kCloudWatchJson);
    for (const auto& path : opt.serve_logs) parser.add_file(path, experiment::LogFormat::kServe);
  } catch (const FormatError& e) {
    throw CliExit(2, e.what());
  }
  std::ofstream file;
  if (!opt.out.empty()) {
    file.open(opt.out, std::ios::trunc);
    if (!file) throw CliExit(1, opt.out + ": cannot write");
  }
  std::ostream& out = opt.out.empty() ? std::cout : file;
  experiment::write_csv_header(out);
  for (const auto& r : parser.records()) experiment::write_csv_row(out, r);
}

}  // namespace

void register_experiment(CLI::App& app) {
  auto* cmd = app.add_subcommand("experiment", "Seed B's experiments: memory x concurrency x batch grids, locally or on AWS");
  cmd->require_subcommand(1);

  auto run_opt = std::make_shared<experiment::RunOptions>();
  auto* run = cmd->add_subcommand("run", "Run every configuration of SPEC.yaml (resumable) and write the CSV and report");
  run->add_option("spec", run_opt->spec_path, "experiment spec (YAML, see docs/EXPERIMENT.md)")->required();
  run->add_option("--out", run_opt->run_dir, "run directory (default runs/<name>); finished configurations are skipped");
  run->add_option("--mlfaas", run_opt->mlfaas_binary, "the mlfaas binary that runs `serve` (default: this one)");
  run->add_option("--target", run_opt->target, "local: a child `mlfaas serve` per configuration; aws: the AWS APIs")
      ->check(CLI::IsMember({"local", "aws"}))
      ->capture_default_str();
  run->add_option("--endpoint-url", run_opt->endpoint_url, "aws: send every call here (moto_server, mlfaas serve)");
  run->add_option("--region", run_opt->region, "aws: region (default: AWS_REGION, AWS_DEFAULT_REGION, ~/.aws/config)");
  run->add_option("--profile", run_opt->profile, "aws: credentials profile (~/.aws/credentials; default AWS_PROFILE)");
  run->add_option("--role-arn", run_opt->role_arn, "aws: the functions' execution role (default: the spec's aws.role_arn)");
  run->add_flag("--deploy-only", run_opt->deploy_only, "aws: deploy every configuration, invoke nothing, keep them");
  run->add_flag("--keep", run_opt->keep, "aws: leave the functions and topics in place afterwards");
  run->add_flag("--yes", run_opt->yes, "aws: do not ask before spending money");
  run->add_option("--estimate-from", run_opt->estimate_from,
                  "aws: a local run's invocations.csv; the plan predicts the bill from its billed durations");
  run->callback([run_opt] {
    run_opt->progress = ::isatty(STDERR_FILENO);
    run_opt->package = package_handler;
    auto t0 = std::chrono::steady_clock::now();
    auto summary = experiment::run_experiment(*run_opt);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (run_opt->deploy_only) {
      std::printf("%d configurations deployed in %.1f s (kept: delete them with the AWS CLI or rerun without "
                  "--deploy-only)\n", summary.configurations, s);
      return;
    }
    std::string dir = summary.csv_path.substr(0, summary.csv_path.rfind('/'));
    std::string report = experiment::write_report(dir);
    std::printf("%d configurations (%d done before), %d new invocations in %.1f s\nCSV: %s\nreport: %s\n",
                summary.configurations, summary.skipped, summary.invocations, s, summary.csv_path.c_str(),
                report.c_str());
  });

  auto run_dir = std::make_shared<std::string>();
  auto* report = cmd->add_subcommand("report", "Re-render RUN_DIR/report.html from RUN_DIR/results");
  report->add_option("run_dir", *run_dir, "run directory of `mlfaas experiment run`")->required();
  report->callback([run_dir] {
    experiment::merge_results(*run_dir);
    std::printf("%s\n", experiment::write_report(*run_dir).c_str());
  });

  auto logs_opt = std::make_shared<ParseLogsOptions>();
  auto* logs = cmd->add_subcommand("parse-logs", "REPORT + ML_ON_FAAS log lines to one CSV row per invocation");
  logs->add_option("files", logs_opt->files,
                   "log files, format detected: `mlfaas serve` logs, `aws logs filter-log-events` JSON, or its "
                   "`--query 'events[].message' --output text` (seed B's 5_get_logs.sh files)");
  logs->add_option("--cloudwatch", logs_opt->cloudwatch, "JSON printed by `aws logs filter-log-events` (repeatable)");
  logs->add_option("--serve-log", logs_opt->serve_logs, "a log file of `mlfaas serve` (<log-dir>/<function>.log)");
  logs->add_option("--out", logs_opt->out, "CSV file (default: stdout)");
  logs->callback([logs_opt] {
    if (logs_opt->files.empty() && logs_opt->cloudwatch.empty() && logs_opt->serve_logs.empty())
      throw CliExit(2, "experiment parse-logs: give log FILEs");
    parse_logs(*logs_opt);
  });
}

}  // namespace mlfaas::cli
