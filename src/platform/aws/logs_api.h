#pragma once
// CloudWatch Logs (json-1.1, X-Amz-Target Logs_20140328.*) over the files serve writes (src/platform/logs.h):
// DescribeLogGroups, DescribeLogStreams, GetLogEvents and FilterLogEvents. Each <log-dir>/<function>.log is the
// group /aws/lambda/<function>; its lines' second column names the stream, one per instance as Lambda names them
// (YYYY/MM/DD/[$LATEST]<32 hex>). Requests only read files, so they may run off the event loop: lines are
// flushed as they are written and a line is only taken once complete.
#include <string>

#include "platform/http_server.h"

namespace mlfaas::platform::aws {

class LogsApi {
 public:
  LogsApi(std::string log_dir, std::string region, std::string account_id);
  static bool handles(const Request& req);  // POST with X-Amz-Target: Logs_20140328.*
  Response handle(const Request& req) const;

 private:
  std::string log_dir_, region_, account_id_;
};

// Whether `message` matches a CloudWatch Logs filter pattern of terms: all plain terms and "quoted phrases" must
// occur, any `?term` may (one of them must, when there are some), no `-term` may. Empty matches everything.
// Throws std::invalid_argument for the JSON ({...}) and space-delimited ([...]) forms, not served here.
bool matches_filter(const std::string& pattern, const std::string& message);

}  // namespace mlfaas::platform::aws
