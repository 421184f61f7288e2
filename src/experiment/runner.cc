#include "experiment/runner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "experiment/aws_client.h"
#include "experiment/dataset.h"
#include "experiment/log_parser.h"

namespace mlfaas::experiment {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {


std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file_atomically(const fs::path& path, const std::string& data) {
  fs::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << data;
    if (!out) throw std::runtime_error(path.string() + ": cannot write");
  }
  fs::rename(tmp, path);
}

class ServeProcess {
 public:
  ServeProcess(const std::string& binary, const fs::path& dir) : dir_(dir) {
    fs::path port_file = dir / "port";
    fs::remove(port_file);
    std::string out_path = (dir / "serve.out").string();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::setpgid(0, 0);  // a terminal's Ctrl-C reaches the runner, which stops serve itself
      int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (out >= 0) ::dup2(out, 1), ::dup2(out, 2);
      int null = ::open("/dev/null", O_RDONLY);
      if (null >= 0) ::dup2(null, 0);
      std::string tpl = (dir / "template.yaml").string(), logs = (dir / "logs").string(), pf = port_file.string(),
                  state = (dir / "state").string();
      std::vector<const char*> argv = {binary.c_str(), "serve", "--template", tpl.c_str(), "--port", "0",
                                       "--port-file", pf.c_str(), "--log-dir", logs.c_str(),
                                       "--idle-timeout", "3600", "--state-dir", state.c_str(), nullptr};
      ::execv(binary.c_str(), const_cast<char* const*>(argv.data()));
      std::fprintf(stderr, "cannot run %s\n", binary.c_str());
      ::_exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      std::string port = read_file(port_file);
      if (!port.empty() && port.back() == '\n') port_ = std::atoi(port.c_str());
      else if (!port.empty() && std::all_of(port.begin(), port.end(), ::isdigit)) port_ = std::atoi(port.c_str());
      if (port_ > 0) return;
      if (!alive()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    stop();
    throw std::runtime_error("mlfaas serve did not start (see " + out_path + "): " + last_line(out_path));
  }
  ~ServeProcess() { stop(); }

  int port() const { return port_; }
  std::string last_words() const { return last_line((dir_ / "serve.out").string()); }
  bool alive() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) { pid_ = -1; return false; }
    return true;
  }
  // SIGTERM lets in-flight invocations finish and the logs reach their files; SIGKILL only as a last resort.
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 300; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) { pid_ = -1; return; }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  static std::string last_line(const std::string& path) {
    std::ifstream in(path);
    std::string line, last;
    while (std::getline(in, line))
      if (!line.empty()) last = line;
    return last;
  }

 private:
  fs::path dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

class Progress {
 public:
  Progress(bool enabled, int total) : enabled_(enabled), total_(total) {}
  void show(int done, const std::string& what) {
    if (!enabled_) return;
    constexpr int width = 30;
    int filled = total_ ? done * width / total_ : width;
    std::fprintf(stderr, "\r\033[K[%s%s] %d/%d %s", std::string(size_t(filled), '#').c_str(),
                 std::string(size_t(width - filled), '.').c_str(), done, total_, what.c_str());
    std::fflush(stderr);
  }
  void finish() {
    if (enabled_) std::fprintf(stderr, "\n");
  }

 private:
  bool enabled_;
  int total_;
};

std::string self_executable() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "mlfaas" : p.string();
}

// What the INIT_REPORT lines of a configuration say about instances that could not start.
struct InitFailures {
  std::string fatal;    // the first failed INIT (Status: error: Runtime.OutOfMemory, Runtime.InitError, ...)
  int timeouts = 0;     // INITs over the time limit: on a loaded host a retry may start in time, so they only
  std::string timeout;  // explain a wait_s that passed
  void add(const std::string& message) {
    if (!message.starts_with("INIT_REPORT")) return;
    bool error = message.find("Status: error") != std::string::npos;
    if (!error && message.find("Status: timeout") == std::string::npos) return;
    std::string line = message;
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    for (auto& c : line)
      if (c == '\t') c = ' ';
    if (error && fatal.empty()) {
      auto type = line.find("Error Type: ");
      fatal = "INIT failed with " + (type == std::string::npos ? std::string("an error") : line.substr(type + 12)) +
              " (" + line + ")";
    }
    if (!error && timeout.empty()) timeout = line;
    timeouts += !error;
  }
};

// One configuration on its platform: where its messages go and where its log events come from.
class ConfigurationRun {
 public:
  virtual ~ConfigurationRun() = default;
  virtual void publish(const std::string& message) = 0;
  // Every log event of the configuration so far, into `parser`; failed INITs into `init`.
  virtual void collect(LogParser& parser, InitFailures& init) = 0;
  // Non-empty when the platform went away.
  virtual std::string gone() { return ""; }
  // Called once every message is accounted for, before the last collect (logs flushed).
  virtual void finish() {}
  virtual std::chrono::milliseconds poll_interval() const { return std::chrono::milliseconds(200); }
};

std::string base64(const std::string& bytes) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    unsigned v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    out += a[v >> 18], out += a[(v >> 12) & 63], out += a[(v >> 6) & 63], out += a[v & 63];
  }
  if (i < bytes.size()) {
    unsigned v = uint8_t(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= uint8_t(bytes[i + 1]) << 8;
    out += a[v >> 18], out += a[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? a[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// Lambda takes a zip of up to 50 MB in the request; larger ones go through S3.
constexpr size_t kDirectUploadLimit = 50u * 1000 * 1000;

// Deploys configurations through the AWS APIs and removes what it created.
class AwsDeployer {
 public:
  AwsDeployer(AwsClient& client, const Spec& spec, const RunOptions& options, std::string role_arn,
              std::string bucket, fs::path scratch)
      : client_(client), spec_(spec), options_(options), role_arn_(std::move(role_arn)), bucket_(std::move(bucket)),
        scratch_(std::move(scratch)) {}
  ~AwsDeployer() {
    if (options_.keep || keep_all_) return;
    for (auto it = created_.rbegin(); it != created_.rend(); ++it) {
      try {
        remove(*it);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "experiment: could not delete %s: %s\n", it->function.c_str(), e.what());
      }
    }
    for (const auto& key : uploaded_) {
      try {
        client_.s3_delete_object(bucket_, key);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "experiment: could not delete s3://%s/%s: %s\n", bucket_.c_str(), key.c_str(),
                     e.what());
      }
    }
  }

  struct Deployed {
    std::string function, function_arn, topic_arn;
  };
  void keep_all() { keep_all_ = true; }

  // Function + reserved concurrency + topic + permission + subscription of `config`, ready to be invoked.
  Deployed deploy(const Configuration& config) {
    Deployed d;
    d.function = function_name(spec_, config);
    const FunctionSpec* custom = custom_function(spec_, config);
    json code = this->code(config);
    json body = {{"FunctionName", d.function},
                 {"Role", role_arn_},
                 {"MemorySize", config.memory_mb},
                 {"Timeout", spec_.timeout_s},
                 {"Architectures", {spec_.aws.architecture}},
                 {"Description", "mlfaas experiment " + spec_.name + " " + config.id()},
                 {"Environment", {{"Variables", {{"MLFAAS_EXPERIMENT", spec_.name + "-" + config.id()}}}}},
                 {"Code", code}};
    if (custom)
      for (const auto& [name, value] : custom->environment) body["Environment"]["Variables"][name] = value;
    std::string handler = custom ? custom->handler : config.function;
    if (!code.contains("ImageUri")) {
      body["Runtime"] = "provided.al2023";
      body["Handler"] = handler;
      body["PackageType"] = "Zip";
    } else {
      body["PackageType"] = "Image";
      body["ImageConfig"] = {{"Command", {handler}}};
    }
    // What was deployed, without the code: RUN_DIR/configs/<id>/function.json.
    json record = body;
    record.erase("Code");
    fs::path record_dir = scratch_.parent_path() / "configs" / config.id();
    fs::create_directories(record_dir);
    write_file_atomically(record_dir / "function.json", record.dump(2) + "\n");
    json answer;
    try {
      answer = client_.lambda("POST", "/2015-03-31/functions", body);
    } catch (const AwsError& e) {
      if (e.code != "ResourceConflictException") throw;
      // Left by an earlier run (--keep, or interrupted): brought to this configuration.
      wait_ready(d.function);
      // An image's code is its ImageUri, set again only when the spec names one (a local layout is unpacked
      // once, at CreateFunction).
      if (!code.contains("ImageUri") || !spec_.aws.image_uri.empty()) {
        client_.lambda("PUT", "/2015-03-31/functions/" + d.function + "/code", code);
        wait_ready(d.function);
      }
      json config_update = body;
      for (const char* k : {"FunctionName", "Code", "Architectures", "PackageType"}) config_update.erase(k);
      answer = client_.lambda("PUT", "/2015-03-31/functions/" + d.function + "/configuration", config_update);
    }
    created_.push_back(d);
    d.function_arn = answer.value("FunctionArn", "");
    created_.back().function_arn = d.function_arn;
    client_.lambda("PUT", "/2017-10-31/functions/" + d.function + "/concurrency",
                   {{"ReservedConcurrentExecutions", config.max_concurrency}});
    d.topic_arn = xml_text(client_.sns("CreateTopic", {{"Name", d.function}}), "TopicArn");
    if (d.topic_arn.empty()) throw std::runtime_error(config.id() + ": SNS CreateTopic answered no TopicArn");
    created_.back().topic_arn = d.topic_arn;
    try {
      client_.lambda("POST", "/2015-03-31/functions/" + d.function + "/policy",
                     {{"StatementId", "sns-" + d.function},
                      {"Action", "lambda:InvokeFunction"},
                      {"Principal", "sns.amazonaws.com"},
                      {"SourceArn", d.topic_arn}});
    } catch (const AwsError& e) {
      if (e.code != "ResourceConflictException") throw;  // the statement is there from an earlier run
    }
    client_.sns("Subscribe", {{"TopicArn", d.topic_arn}, {"Protocol", "lambda"}, {"Endpoint", d.function_arn}});
    wait_ready(d.function);
    return d;
  }

  void remove(const Deployed& d) {
    if (!d.topic_arn.empty()) client_.sns("DeleteTopic", {{"TopicArn", d.topic_arn}});  // and its subscriptions
    try {
      client_.lambda("DELETE", "/2015-03-31/functions/" + d.function);
    } catch (const AwsError& e) {
      if (e.code != "ResourceNotFoundException") throw;
    }
  }
  // Removes `d` now (a finished configuration) unless --keep.
  void done(const std::string& function) {
    if (options_.keep) return;
    auto it = std::find_if(created_.begin(), created_.end(), [&](const Deployed& d) { return d.function == function; });
    if (it == created_.end()) return;
    Deployed d = *it;
    created_.erase(it);
    remove(d);
  }

  static std::string function_name(const Spec& spec, const Configuration& config) {
    return spec.name + "-" + config.id();
  }

 private:
  // Lambda refuses updates and invocations while a function is Pending or an update is InProgress.
  void wait_ready(const std::string& function) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
    for (;;) {
      json c = client_.lambda("GET", "/2015-03-31/functions/" + function + "/configuration");
      std::string state = c.value("State", "Active"), update = c.value("LastUpdateStatus", "Successful");
      if (state == "Failed" || update == "Failed")
        throw std::runtime_error(function + ": Lambda could not deploy it: " +
                                 c.value("StateReason", c.value("LastUpdateStatusReason", std::string("no reason"))));
      if (state == "Active" && update != "InProgress") return;
      if (std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error(function + ": still " + state + "/" + update + " after 5 minutes");
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }

  // The Code of CreateFunction for `config`'s function: the image, the zip inline, or the zip in S3 (uploaded
  // once per function).
  json code(const Configuration& config) {
    if (!spec_.aws.image_uri.empty()) return {{"ImageUri", spec_.aws.image_uri}};
    const std::string& function = config.function;
    if (auto it = code_.find(function); it != code_.end()) return it->second;
    if (!options_.package) throw std::runtime_error("experiment: no packager for the functions' code");
    const FunctionSpec* custom = custom_function(spec_, config);
    const fs::path package = options_.package(custom ? custom->handler : function,
                                              fs::absolute(model_path(spec_, config)).string(),
                                              (scratch_ / function).string());
    if (package.extension() == ".oci") {
      // Over the zip limit (a 1.1B model): an image. serve runs a local OCI layout; AWS needs it in ECR.
      if (options_.target != "local")
        throw std::runtime_error(function + ": its package unzips past Lambda's 250 MB zip limit, so it must be a "
                                 "container image: push " + package.string() + " to ECR (skopeo copy oci:" +
                                 package.string() + ":latest docker://ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG; "
                                 "docs/DEPLOY.md) and name it in the spec (aws: {image_uri: ...})");
      return code_[function] = {{"ImageUri", "oci:" + fs::absolute(package).string() + ":latest"}};
    }
    const fs::path& zip = package;
    std::string bytes = read_file(zip);
    json c;
    // With a bucket the zip goes up once and every configuration's CreateFunction names it; inline it would
    // travel (base64, a third larger) once per configuration.
    if (bucket_.empty() && bytes.size() <= kDirectUploadLimit) {
      c = {{"ZipFile", base64(bytes)}};
    } else {
      if (bucket_.empty())
        throw std::runtime_error(zip.string() + " is " + std::to_string(bytes.size() >> 20) +
                                 " MiB, over Lambda's 50 MB direct upload: name an S3 bucket (aws: {bucket: ...} "
                                 "in the spec)");
      std::string key = "mlfaas-experiments/" + spec_.name + "/" + function + ".zip";
      client_.s3_create_bucket(bucket_);
      client_.s3_put_object(bucket_, key, bytes);
      uploaded_.push_back(key);
      c = {{"S3Bucket", bucket_}, {"S3Key", key}};
    }
    return code_[function] = c;
  }

  AwsClient& client_;
  const Spec& spec_;
  const RunOptions& options_;
  std::string role_arn_;
  std::string bucket_;  // for packages over the direct upload limit
  fs::path scratch_;
  std::map<std::string, json> code_;
  std::vector<Deployed> created_;
  std::vector<std::string> uploaded_;
  bool keep_all_ = false;
};

// A configuration deployed through the AWS APIs: SNS Publish in, CloudWatch Logs FilterLogEvents out.
class AwsRun : public ConfigurationRun {
 public:
  // `serve`: the local platform's process when the endpoint is a child `mlfaas serve` (else null).
  AwsRun(AwsClient& client, AwsDeployer::Deployed deployed, bool local, ServeProcess* serve)
      : client_(client), deployed_(std::move(deployed)), local_(local), serve_(serve),
        since_ms_(std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch()).count() - 60'000) {}
  void publish(const std::string& message) override {
    client_.sns("Publish", {{"TopicArn", deployed_.topic_arn}, {"Message", message}});
  }
  // Every event since the configuration started, all pages. CloudWatch Logs is eventually consistent: events
  // show up seconds after they were written, so a message counts as done only once its REPORT is read.
  void collect(LogParser& parser, InitFailures& init) override {
    json events = json::array();
    std::string token;
    do {
      json request = {{"logGroupName", "/aws/lambda/" + deployed_.function}, {"startTime", since_ms_}};
      if (!token.empty()) request["nextToken"] = token;
      json page;
      try {
        page = client_.logs("FilterLogEvents", request);
      } catch (const AwsError& e) {
        if (e.code == "ResourceNotFoundException") return;  // the log group comes with the first instance
        throw;
      }
      for (auto& e : page.value("events", json::array())) {
        init.add(e.value("message", ""));
        events.push_back(std::move(e));
      }
      token = page.value("nextToken", "");
    } while (!token.empty());
    parser.add_cloudwatch_json(json{{"events", events}}.dump());
  }
  std::chrono::milliseconds poll_interval() const override {
    return std::chrono::milliseconds(local_ ? 200 : 3000);  // FilterLogEvents allows a few calls a second
  }
  std::string gone() override {
    return !serve_ || serve_->alive() ? "" : "mlfaas serve exited: " + serve_->last_words();
  }

 private:
  AwsClient& client_;
  AwsDeployer::Deployed deployed_;
  bool local_;
  ServeProcess* serve_;
  long long since_ms_;
};

// x86_64 and arm64 Lambda prices (us-east-1): GB-s of billed duration, requests; SNS publishes.
constexpr double kRequestUsd = 0.20 / 1e6, kSnsPublishUsd = 0.50 / 1e6;
double gb_second_usd(const std::string& architecture) {
  return architecture == "arm64" ? 0.0000133334 : 0.0000166667;
}

// The plan and its bill before anything is spent on AWS; asks on a terminal unless --yes.
void confirm_plan(const Spec& spec, const std::vector<Configuration>& configs, const RunOptions& options,
                  const std::string& region) {
  std::map<std::string, std::pair<double, int>> measured;  // function/memory/batch -> billed ms sum, count
  if (!options.estimate_from.empty())
    for (const auto& r : read_csv(options.estimate_from)) {
      auto& m = measured[r.function + "/" + std::to_string(r.memory_mb) + "/" + std::to_string(r.batch_size)];
      m.first += r.billed_ms, ++m.second;
    }
  double worst = 0, estimate = 0;
  int estimated = 0;
  long long invocations = 0;
  double gbs = gb_second_usd(spec.aws.architecture);
  for (const auto& c : configs) {
    invocations += spec.messages;
    double per_ms = c.memory_mb / 1024.0 * gbs / 1000.0;
    worst += spec.messages * (spec.timeout_s * 1000.0 * per_ms + kRequestUsd + kSnsPublishUsd);
    auto it = measured.find(c.function + "/" + std::to_string(c.memory_mb) + "/" + std::to_string(c.batch));
    if (it != measured.end() && it->second.second > 0) {
      estimate += spec.messages * (it->second.first / it->second.second * per_ms + kRequestUsd + kSnsPublishUsd);
      ++estimated;
    }
  }
  std::set<std::string> functions;
  for (const auto& c : configs) functions.insert(c.function);
  std::fprintf(stderr,
               "Plan for AWS (%s, %s): %zu configurations (%zu functions x memory x concurrency x batch), one "
               "Lambda function and SNS topic each, %lld invocations (%d messages each)%s.\n",
               region.c_str(), spec.aws.architecture.c_str(), configs.size(), functions.size(), invocations,
               spec.messages, options.deploy_only ? "; --deploy-only: nothing is invoked" : "");
  std::fprintf(stderr, "  bill at most $%.4f (every invocation running to its Timeout of %d s)\n", worst,
               spec.timeout_s);
  if (estimated > 0)
    std::fprintf(stderr, "  bill predicted from %s: $%.4f (%d of %zu configurations measured)\n",
                 options.estimate_from.c_str(), estimate, estimated, configs.size());
  std::fprintf(stderr, "  plus CloudWatch Logs ingestion ($0.50/GB, a few KB per invocation)%s\n",
               options.keep ? "" : "; functions and topics are deleted afterwards (log groups stay)");
  if (options.yes) return;
  if (!::isatty(STDIN_FILENO))
    throw std::runtime_error("experiment: this spends money on AWS and there is no terminal to ask: rerun with --yes");
  std::fprintf(stderr, "Go ahead? [y/N] ");
  std::string answer;
  std::getline(std::cin, answer);
  if (answer != "y" && answer != "Y" && answer != "yes") throw std::runtime_error("experiment: not confirmed; nothing done");
}

}  // namespace

int merge_results(const std::string& run_dir) {
  fs::path results = fs::path(run_dir) / "results";
  std::vector<fs::path> files;
  if (fs::is_directory(results))
    for (const auto& e : fs::directory_iterator(results))
      if (e.path().extension() == ".csv") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::ostringstream out;
  write_csv_header(out);
  int rows = 0;
  for (const auto& f : files)
    for (const auto& r : read_csv(f.string())) write_csv_row(out, r), ++rows;
  write_file_atomically(fs::path(run_dir) / "invocations.csv", out.str());
  return rows;
}

RunSummary run_experiment(const RunOptions& options) {
  Spec spec = load_spec(options.spec_path);
  auto configs = configurations(spec);
  std::string run_dir = options.run_dir.empty() ? "runs/" + spec.name : options.run_dir;
  bool aws = options.target == "aws";
  if (!aws && options.target != "local")
    throw std::runtime_error("experiment: --target must be local or aws, got '" + options.target + "'");
  if (!aws && (options.deploy_only || !options.endpoint_url.empty()))
    throw std::runtime_error("experiment: --deploy-only and --endpoint-url go with --target aws (local starts its "
                             "own serve, which ends with the run)");

  // Every model must be there before anything starts: a run of 20 minutes should not fail in its last config.
  std::map<std::string, std::vector<json>> items_of;  // dataset path + column/field -> its items
  auto dataset_key = [](const Dataset& d) { return d.path + "\n" + d.column + "\n" + d.field; };
  for (const auto& config : configs) {
    const FunctionSpec* custom = custom_function(spec, config);
    fs::path model = custom ? fs::path(custom->model) : fs::path(model_path(spec, config)) / "model.json";
    if (!fs::exists(model) && !(aws && !spec.aws.image_uri.empty()))
      throw std::runtime_error(model.string() + ": model missing; " +
                               (custom ? (custom->build.empty() ? std::string("see the spec's model")
                                                                : "write it with `" + custom->build + "`")
                                       : std::string("build the models with `tools/setup.sh train && "
                                                     "/usr/bin/python3 tools/train_classic.py` (or set models_dir "
                                                     "in the spec)")));
    const Dataset& d = dataset_of(spec, config);
    if (!items_of.count(dataset_key(d))) items_of[dataset_key(d)] = load_items(d);
  }

  // Local: one child `mlfaas serve` (functions and topics made through its APIs, state and logs in
  // RUN_DIR/serve), then exactly the calls that go to AWS.
  std::string binary = options.mlfaas_binary.empty() ? self_executable() : options.mlfaas_binary;
  std::unique_ptr<ServeProcess> serve;
  std::string endpoint_url = options.endpoint_url;
  if (!aws) {
    fs::path dir = fs::absolute(fs::path(run_dir) / "serve");
    fs::remove_all(dir);
    fs::create_directories(dir);
    write_file_atomically(dir / "template.yaml", "AWSTemplateFormatVersion: \"2010-09-09\"\nResources: {}\n");
    serve = std::make_unique<ServeProcess>(binary, dir);
    endpoint_url = "http://127.0.0.1:" + std::to_string(serve->port());
  }

  // The AWS side: client, plan and confirmation, deployer (which deletes what it created when it goes).
  bool free_endpoint = is_local_endpoint(endpoint_url);
  std::string region = resolve_region(options.region, options.profile);
  if (region.empty() && free_endpoint) region = "us-east-1";
  if (region.empty())
    throw std::runtime_error("experiment: no AWS region: give --region, set AWS_REGION or a region in ~/.aws/config");
  sigv4::Credentials credentials = resolve_credentials(options.profile);
  if (credentials.empty() && free_endpoint) credentials = {"mlfaas", "mlfaas", ""};
  if (credentials.empty())
    throw std::runtime_error("experiment: no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                             "or give --profile (~/.aws/credentials)");
  std::string role = !options.role_arn.empty() ? options.role_arn : spec.aws.role_arn;
  if (role.empty() && !aws) role = "arn:aws:iam::123456789012:role/mlfaas-experiment";
  if (role.empty())
    throw std::runtime_error("experiment: the functions need an execution role: give --role-arn or aws: {role_arn: "
                             "...} in the spec (a role Lambda can assume, with AWSLambdaBasicExecutionRole)");
  std::string bucket = spec.aws.bucket.empty() && !aws ? "mlfaas-experiments" : spec.aws.bucket;
  if (!free_endpoint) confirm_plan(spec, configs, options, region);
  AwsClient client(AwsSettings{endpoint_url, region, options.profile}, credentials);
  fs::path scratch = fs::absolute(fs::path(run_dir) / "packages");
  fs::create_directories(scratch);
  AwsDeployer deployer(client, spec, options, role, bucket, scratch);

  if (options.deploy_only) {
    RunSummary summary;
    summary.configurations = int(configs.size());
    Progress progress(options.progress, summary.configurations);
    for (size_t ci = 0; ci < configs.size(); ++ci) {
      progress.show(int(ci), configs[ci].id() + ": deploying");
      deployer.deploy(configs[ci]);
    }
    progress.finish();
    deployer.keep_all();  // deployed to stay
    return summary;
  }

  fs::create_directories(fs::path(run_dir) / "results");
  fs::copy_file(options.spec_path, fs::path(run_dir) / "spec.yaml", fs::copy_options::overwrite_existing);

  RunSummary summary;
  summary.configurations = int(configs.size());
  Progress progress(options.progress, summary.configurations);
  for (size_t ci = 0; ci < configs.size(); ++ci) {
    const Configuration& config = configs[ci];
    fs::path result = fs::path(run_dir) / "results" / (config.id() + ".csv");
    if (fs::exists(result)) {
      ++summary.skipped;
      progress.show(int(ci + 1), config.id() + " (done before)");
      continue;
    }
    progress.show(int(ci), config.id() + ": deploying");
    const std::vector<json>& texts = items_of.at(dataset_key(dataset_of(spec, config)));
    auto deployed = deployer.deploy(config);
    std::string logs_where = "CloudWatch Logs /aws/lambda/" + deployed.function +
                             (serve ? " (" + (fs::path(run_dir) / "serve" / "logs").string() + ")" : "");
    auto run = std::make_unique<AwsRun>(client, deployed, free_endpoint, serve.get());

    std::string experiment_id = spec.name + "-" + config.id();
    size_t cursor = (ci * 7919) % texts.size();  // configurations start at different rows, deterministically
    for (int m = 0; m < spec.messages; ++m) {
      json batch = json::array();
      for (int k = 0; k < config.batch; ++k) batch.push_back(texts[cursor++ % texts.size()]);
      json message = {{"ExperimentId", experiment_id}, {"MessageId", std::to_string(m + 1)}, {"Batch", batch}};
      try {
        run->publish(message.dump(-1, ' ', false, json::error_handler_t::replace));
      } catch (const std::exception& e) {
        throw std::runtime_error(config.id() + ": SNS Publish failed: " + e.what());
      }
    }

    // Done when every message has its "Processing completed" and REPORT; SNS retries failed ones twice.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(spec.wait_s);
    auto collect = [&](InitFailures& init) {
      LogParser parser;
      run->collect(parser, init);
      return parser.records();
    };
    for (;;) {
      InitFailures init;
      auto records = collect(init);
      if (!init.fatal.empty()) throw std::runtime_error(config.id() + ": " + init.fatal);
      std::set<std::string> completed;
      std::map<std::string, int> failures;
      for (const auto& r : records) {
        if (r.experiment != experiment_id) continue;
        if (r.status == "ok") completed.insert(r.message_id);
        else ++failures[r.message_id];
      }
      int given_up = 0;
      for (const auto& [id, n] : failures)
        if (n >= 3 && !completed.count(id)) ++given_up;
      progress.show(int(ci), config.id() + ": " + std::to_string(completed.size()) + "/" +
                                 std::to_string(spec.messages) + " messages");
      if (int(completed.size()) + given_up >= spec.messages) {
        if (given_up > 0)
          throw std::runtime_error(config.id() + ": " + std::to_string(given_up) +
                                   " message(s) failed three times; see " + logs_where);
        break;
      }
      if (std::string why = run->gone(); !why.empty()) throw std::runtime_error(config.id() + ": " + why);
      if (std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error(config.id() + ": only " + std::to_string(completed.size()) + " of " +
                                 std::to_string(spec.messages) + " messages processed within wait_s = " +
                                 std::to_string(spec.wait_s) + " s" +
                                 (init.timeouts ? "; " + std::to_string(init.timeouts) + " INIT(s) timed out (" +
                                                      init.timeout + ")"
                                                : "") +
                                 "; see " + logs_where);
      std::this_thread::sleep_for(run->poll_interval());
    }
    run->finish();
    InitFailures ignored;
    auto records = collect(ignored);
    deployer.done(AwsDeployer::function_name(spec, config));

    std::ostringstream csv;
    write_csv_header(csv);
    int rows = 0;
    for (auto& r : records) {
      if (r.experiment != experiment_id) continue;
      r.function = config.function;
      r.max_concurrency = config.max_concurrency;
      if (r.batch_size < 0) r.batch_size = config.batch;
      write_csv_row(csv, r);
      ++rows;
    }
    write_file_atomically(result, csv.str());
    summary.invocations += rows;
    progress.show(int(ci + 1), config.id() + ": done");
  }
  progress.finish();
  summary.csv_path = (fs::path(run_dir) / "invocations.csv").string();
  merge_results(run_dir);
  return summary;
}

}  // namespace mlfaas::experiment
