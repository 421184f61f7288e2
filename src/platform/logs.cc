#include "platform/logs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>

#include "common/codec.h"

namespace mlfaas::platform {

double invocation_cost_usd(int memory_mb, double billed_ms, const std::string& architecture) {
  const double per_gb_second = architecture == "arm64" ? 0.0000133334 : 0.0000166667;
  const double per_request = 0.20 / 1e6;
  return memory_mb / 1024.0 * billed_ms / 1000.0 * per_gb_second + per_request;
}

Console::Console() : terminal_(::isatty(STDOUT_FILENO) == 1) {}

void Console::line(const std::string& text) {
  std::fprintf(stdout, "%s\n", text.c_str());
  std::fflush(stdout);
}

void Console::detail(const std::string& text) {
  if (!terminal_) line(text);
}

LogSink::LogSink(const std::string& dir, const std::string& function_name, Console& console)
    : function_name_(function_name), console_(console) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  path_ = dir + "/" + function_name + ".log";
  // Only the platform writes here (functions' output comes through pipes); no other user reads callers' data.
  int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd >= 0) ::fchmod(fd, 0640);
  file_ = fd >= 0 ? ::fdopen(fd, "a") : nullptr;
  if (!file_ && fd >= 0) ::close(fd);
  if (!file_) throw std::runtime_error(path_ + ": cannot open the function's log file");
}

LogSink::~LogSink() {
  if (file_) std::fclose(file_);
}

void LogSink::write(const std::string& log_stream, const std::string& message) {
  std::fprintf(file_, "%s\t%s\t%s\n", lambda::iso8601_now().c_str(), log_stream.c_str(), message.c_str());
  std::fflush(file_);
  console_.detail(function_name_ + " | " + message);
}

}  // namespace mlfaas::platform
