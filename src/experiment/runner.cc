#include "experiment/runner.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "experiment/dataset.h"
#include "experiment/log_parser.h"

namespace mlfaas::experiment {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kTopicName = "experiment-batches";

std::string topic_arn() { return std::string("arn:aws:sns:us-east-1:123456789012:") + kTopicName; }

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

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += char(c);
    else out += '%', out += hex[c >> 4], out += hex[c & 15];
  }
  return out;
}

// One HTTP/1.1 POST to the platform on loopback; returns the status code and the body.
std::pair<int, std::string> http_post(int port, const std::string& path, const std::string& content_type,
                                      const std::string& body) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  struct Closer { int fd; ~Closer() { ::close(fd); } } closer{fd};
  timeval tv{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw std::runtime_error("cannot connect to mlfaas serve on port " + std::to_string(port));
  std::string request = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                        "\r\nContent-Type: " + content_type + "\r\nContent-Length: " + std::to_string(body.size()) +
                        "\r\nConnection: close\r\n\r\n" + body;
  for (size_t sent = 0; sent < request.size();) {
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) throw std::runtime_error("sending to mlfaas serve failed");
    sent += size_t(n);
  }
  std::string response;
  char buf[8192];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    response.append(buf, size_t(n));
  }
  int status = 0;
  if (std::sscanf(response.c_str(), "HTTP/1.%*d %d", &status) != 1)
    throw std::runtime_error("mlfaas serve sent no HTTP answer");
  size_t header_end = response.find("\r\n\r\n");
  return {status, header_end == std::string::npos ? "" : response.substr(header_end + 4)};
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
      std::string tpl = (dir / "template.yaml").string(), logs = (dir / "logs").string(), pf = port_file.string();
      std::vector<const char*> argv = {binary.c_str(), "serve", "--template", tpl.c_str(), "--port", "0",
                                       "--port-file", pf.c_str(), "--log-dir", logs.c_str(),
                                       "--idle-timeout", "3600", nullptr};
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

std::vector<InvocationRecord> parse_logs(const fs::path& log_dir) {
  LogParser parser;
  if (fs::is_directory(log_dir)) {
    for (const auto& entry : fs::directory_iterator(log_dir)) {
      if (entry.path().extension() != ".log") continue;
      std::ifstream in(entry.path());
      parser.add_serve_log(in);
    }
  }
  return parser.records();
}

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

}  // namespace

std::string configuration_template(const Configuration& config, const std::string& model_dir, int timeout_s,
                                   const FunctionSpec* custom) {
  std::ostringstream t;
  t << "AWSTemplateFormatVersion: \"2010-09-09\"\n"
       "Transform: AWS::Serverless-2016-10-31\n"
       "Description: mlfaas experiment configuration "
    << config.id()
    << "\n"
       "Resources:\n"
       "  Batches:\n"
       "    Type: AWS::SNS::Topic\n"
       "    Properties:\n"
       "      TopicName: "
    << kTopicName
    << "\n"
       "  Function:\n"
       "    Type: AWS::Serverless::Function\n"
       "    Properties:\n"
       "      FunctionName: "
    << config.function << "\n      CodeUri: .\n      Handler: " << (custom ? custom->handler : config.function)
    << "\n      Runtime: provided.al2023\n      Architectures: [x86_64]\n      MemorySize: " << config.memory_mb
    << "\n      Timeout: " << timeout_s << "\n      ReservedConcurrentExecutions: " << config.max_concurrency
    << "\n      Environment:\n        Variables:\n          MODEL_PATH: " << json(model_dir).dump();
  if (custom)
    for (const auto& [name, value] : custom->environment) t << "\n          " << name << ": " << json(value).dump();
  t << "\n      Events:\n        Batch:\n          Type: SNS\n          Properties:\n            Topic: !Ref Batches\n";
  return t.str();
}

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

  // Every model must be there before anything starts: a run of 20 minutes should not fail in its last config.
  std::map<std::string, std::vector<json>> items_of;  // dataset path + column/field -> its items
  auto dataset_key = [](const Dataset& d) { return d.path + "\n" + d.column + "\n" + d.field; };
  for (const auto& config : configs) {
    const FunctionSpec* custom = custom_function(spec, config);
    fs::path model = custom ? fs::path(custom->model) : fs::path(model_path(spec, config)) / "model.json";
    if (!fs::exists(model))
      throw std::runtime_error(model.string() + ": model missing; " +
                               (custom ? (custom->build.empty() ? std::string("see the spec's model")
                                                                : "write it with `" + custom->build + "`")
                                       : std::string("build the models with `tools/setup.sh train && "
                                                     "/usr/bin/python3 tools/train_classic.py` (or set models_dir "
                                                     "in the spec)")));
    const Dataset& d = dataset_of(spec, config);
    if (!items_of.count(dataset_key(d))) items_of[dataset_key(d)] = load_items(d);
  }

  fs::create_directories(fs::path(run_dir) / "results");
  fs::copy_file(options.spec_path, fs::path(run_dir) / "spec.yaml", fs::copy_options::overwrite_existing);
  std::string binary = options.mlfaas_binary.empty() ? self_executable() : options.mlfaas_binary;

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
    progress.show(int(ci), config.id() + ": starting");
    fs::path dir = fs::path(run_dir) / "configs" / config.id();
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::string model_dir = fs::absolute(model_path(spec, config)).string();
    write_file_atomically(dir / "template.yaml", configuration_template(config, model_dir, spec.timeout_s,
                                                                        custom_function(spec, config)));
    const std::vector<json>& texts = items_of.at(dataset_key(dataset_of(spec, config)));

    std::string experiment_id = spec.name + "-" + config.id();
    ServeProcess serve(binary, fs::absolute(dir));
    size_t cursor = (ci * 7919) % texts.size();  // configurations start at different rows, deterministically
    for (int m = 0; m < spec.messages; ++m) {
      json batch = json::array();
      for (int k = 0; k < config.batch; ++k) batch.push_back(texts[cursor++ % texts.size()]);
      json message = {{"ExperimentId", experiment_id}, {"MessageId", std::to_string(m + 1)}, {"Batch", batch}};
      std::string body = "Action=Publish&Version=2010-03-31&TopicArn=" + url_encode(topic_arn()) +
                         "&Message=" + url_encode(message.dump(-1, ' ', false, json::error_handler_t::replace));
      auto [status, answer] = http_post(serve.port(), "/", "application/x-www-form-urlencoded; charset=utf-8", body);
      if (status != 200)
        throw std::runtime_error(config.id() + ": SNS Publish answered " + std::to_string(status) + ": " +
                                 answer.substr(0, 300));
    }

    // Done when every message has its "Processing completed" and REPORT; SNS retries failed ones twice.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(spec.wait_s);
    std::vector<InvocationRecord> records;
    for (;;) {
      records = parse_logs(dir / "logs");
      std::set<std::string> completed, attempted;
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
                                   " message(s) failed three times; see " + (dir / "logs").string());
        break;
      }
      if (!serve.alive())
        throw std::runtime_error(config.id() + ": mlfaas serve exited: " +
                                 ServeProcess::last_line((dir / "serve.out").string()));
      if (std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error(config.id() + ": only " + std::to_string(completed.size()) + " of " +
                                 std::to_string(spec.messages) + " messages processed within wait_s = " +
                                 std::to_string(spec.wait_s) + " s");
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    serve.stop();
    records = parse_logs(dir / "logs");

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
