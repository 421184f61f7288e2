#pragma once
// Function logs as CloudWatch Logs would hold them: one file per function (<log-dir>/<function>.log, each line
// "timestamp<TAB>log stream<TAB>message"), mirrored on the console. On a terminal the console shows one
// summary line per invocation instead of every line.
#include <cstdio>
#include <string>

namespace mlfaas::platform {

// AWS Lambda's published prices (us-east-1): per GB-second by architecture, plus $0.20 per million requests.
double invocation_cost_usd(int memory_mb, double billed_ms, const std::string& architecture);

class Console {
 public:
  Console();
  bool terminal() const { return terminal_; }
  void line(const std::string& text);   // always shown
  void detail(const std::string& text); // shown only when stdout is not a terminal

 private:
  bool terminal_;
};

class LogSink {
 public:
  LogSink(const std::string& dir, const std::string& function_name, Console& console);
  ~LogSink();
  LogSink(const LogSink&) = delete;
  LogSink& operator=(const LogSink&) = delete;
  void write(const std::string& log_stream, const std::string& message);
  const std::string& path() const { return path_; }

 private:
  std::string function_name_;
  std::string path_;
  std::FILE* file_ = nullptr;
  Console& console_;
};

}  // namespace mlfaas::platform
