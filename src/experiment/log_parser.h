#pragma once
// Turns Lambda function logs into one record per invocation: the platform's REPORT line (duration, billed
// duration, memory, max memory used, init duration) joined by request id with the runtime's ML_ON_FAAS lines
// (experiment, message, batch size, cold start, instance, visible CPUs) and its EMF line (processing ms).
// The same parser reads `mlfaas serve` log files and real CloudWatch output (`aws logs filter-log-events`).
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

namespace mlfaas::experiment {

struct InvocationRecord {
  std::string experiment;      // ML_ON_FAAS experimentId
  std::string function;        // ML_ON_FAAS functionName (the runner writes its configuration's name)
  int memory_mb = 0;           // REPORT Memory Size
  int max_concurrency = 0;     // 0: unknown (not in the logs; the runner knows it)
  int batch_size = 0;
  std::string start;           // ISO 8601 of "Processing started" (or of the REPORT line)
  bool cold_start = false;
  double init_ms = 0;          // REPORT Init Duration (cold starts)
  double processing_ms = -1;   // handler time: EMF ProcessingMs, else ML_ON_FAAS started -> completed
  double duration_ms = 0;      // REPORT Duration
  double billed_ms = 0;        // REPORT Billed Duration
  int max_memory_mb = 0;       // REPORT Max Memory Used
  double cost_usd = 0;         // billed GB-s at x86_64's price + the request charge
  std::string instance_id;     // ML_ON_FAAS functionInstanceId (else the log stream)
  int cpu_count = 0;           // ML_ON_FAAS cpuCount
  std::string request_id;
  std::string message_id;
  std::string status = "ok";   // ok, or what REPORT/the runtime said (error, timeout)
  // Text generation (the `llm` handler's EMF / "Processing completed" fields; 0 for other handlers), summed
  // over a batch's answers; the time to first token is the first answer's.
  int prompt_tokens = 0;
  int generated_tokens = 0;
  double tokens_per_second = 0;  // decode: tokens after each answer's first over the decode time
  double first_token_ms = 0;
};

class LogParser {
 public:
  // One log event: its stream (identifies the instance) and its message (a single line, trailing newline ok).
  void add(const std::string& log_stream, const std::string& message, const std::string& timestamp = "");
  // `<log-dir>/<function>.log` of mlfaas serve: "timestamp<TAB>log stream<TAB>message" lines.
  void add_serve_log(std::istream& in);
  // The JSON `aws logs filter-log-events` prints: {"events": [{"logStreamName", "timestamp", "message"}...]}.
  // Throws std::runtime_error when it is not that shape.
  void add_cloudwatch_json(const std::string& json_text);

  // Invocations that have a REPORT line, in the order their REPORT lines came.
  std::vector<InvocationRecord> records() const;

 private:
  struct Partial {
    InvocationRecord record;
    bool reported = false;
    double started_epoch_ms = -1, completed_epoch_ms = -1;
  };
  Partial& at(const std::string& request_id);
  std::map<std::string, Partial> by_request_;
  std::vector<std::string> report_order_;
};

// AWS's x86_64 price: $0.0000166667 per GB-s of billed duration + $0.20 per million requests.
double invocation_cost_usd(int memory_mb, double billed_ms);

// Milliseconds since the epoch of "2024-01-02T03:04:05.678Z" (-1 when it is not that shape).
double parse_iso8601_ms(const std::string& text);

// The CSV of the runner and the report: header + one row per record.
void write_csv_header(std::ostream& out);
void write_csv_row(std::ostream& out, const InvocationRecord& r);
// Reads rows written by write_csv_row (the header is checked). Throws FormatError naming `path`.
std::vector<InvocationRecord> read_csv(const std::string& path);

}  // namespace mlfaas::experiment
