#pragma once
// Turns Lambda function logs into one record per invocation: the platform's REPORT line (duration, billed
// duration, memory, max memory used, init duration) joined by request id with the runtime's ML_ON_FAAS lines
// (experiment, message, batch size, cold start, instance, visible CPUs, the function's own initialisation) and
// its EMF line (processing ms, init ms). The same parser reads `mlfaas serve` log files, real CloudWatch output
// (`aws logs filter-log-events` JSON) and seed B's own files (its 5_get_logs.sh: `--query 'events[].message'
// --output text`), whose wrapper writes every ML_ON_FAAS value as a string and a "YYYY-MM-DD HH:MM:SS.mmm" time.
//
// A value that is in the logs but cannot be read (batchSize "ten", Duration "x ms") is an error naming the file
// and line; a value that is not in the logs at all is "unknown" (kUnknown, an empty CSV field), never a zero.
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mlfaas::experiment {

constexpr int kUnknown = -1;  // int fields and *_ms fields below that the logs did not carry

struct InvocationRecord {
  std::string experiment;      // ML_ON_FAAS experimentId
  std::string function;        // ML_ON_FAAS functionName (the runner writes its configuration's name)
  int memory_mb = 0;           // REPORT Memory Size
  int max_concurrency = 0;     // 0: unknown (not in the logs; the runner knows it)
  int batch_size = kUnknown;   // ML_ON_FAAS batchSize
  std::string start;           // ISO 8601 of "Processing started" (or of the REPORT line)
  bool cold_start = false;
  double init_ms = 0;          // REPORT Init Duration (the platform's INIT phase; 0 when warm)
  // The function's own initialisation (loading the model): EMF InitMs, else ML_ON_FAAS "Initialization started"
  // -> "completed" of this invocation (seed B initialises lazily in the first invocation) or, for lines without
  // a request id (INIT), of this cold invocation's instance. kUnknown when warm or not logged.
  double model_init_ms = kUnknown;
  double processing_ms = kUnknown;  // handler time: EMF ProcessingMs, else ML_ON_FAAS started -> completed
  double duration_ms = 0;      // REPORT Duration
  double billed_ms = 0;        // REPORT Billed Duration
  int max_memory_mb = 0;       // REPORT Max Memory Used
  double cost_usd = 0;         // billed GB-s at x86_64's price + the request charge
  std::string instance_id;     // ML_ON_FAAS functionInstanceId (else the log stream)
  int cpu_count = kUnknown;    // ML_ON_FAAS cpuCount
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

enum class LogFormat {
  kServe,           // `<log-dir>/<function>.log` of mlfaas serve: "timestamp<TAB>log stream<TAB>message" lines
  kCloudWatchJson,  // {"events": [{"logStreamName", "timestamp", "message"}...]} of filter-log-events/get-log-events
  kMessageText,     // one message per line, as `--query 'events[].message' --output text` prints (seed B's files)
};
const char* log_format_name(LogFormat format);
// Which of the three `text` is; throws std::runtime_error when it is none of them.
LogFormat detect_log_format(const std::string& text);

class LogParser {
 public:
  // One log event: its stream (identifies the instance) and its message (a single line, trailing newline ok).
  // Throws std::runtime_error naming the field when a value in a REPORT/ML_ON_FAAS/EMF line cannot be read.
  void add(const std::string& log_stream, const std::string& message, const std::string& timestamp = "");
  // The three formats; errors (std::runtime_error) start with "line N: " / "event N: ".
  void add_serve_log(std::istream& in);
  void add_cloudwatch_json(const std::string& json_text);  // also when it is not that shape
  void add_message_text(std::istream& in);
  // A file in any of the formats, detected unless `format` is given. Throws FormatError naming the file.
  void add_file(const std::string& path, std::optional<LogFormat> format = std::nullopt);

  // Invocations that have a REPORT line, in the order their REPORT lines came.
  std::vector<InvocationRecord> records() const;

 private:
  struct Partial {
    InvocationRecord record;
    bool reported = false;
    bool batch_from_completed = false;
    double started_epoch_ms = -1, completed_epoch_ms = -1;
    double init_started_epoch_ms = -1, init_completed_epoch_ms = -1;
  };
  struct InstanceInit {
    double started_epoch_ms = -1, completed_epoch_ms = -1;
  };
  void add_ml_on_faas(const std::string& json_text);
  Partial& at(const std::string& request_id);
  std::map<std::string, Partial> by_request_;
  std::map<std::string, InstanceInit> init_by_instance_;  // INIT lines that carry no request id (our bootstrap)
  std::vector<std::string> report_order_;
};

// AWS's x86_64 price: $0.0000166667 per GB-s of billed duration + $0.20 per million requests.
constexpr double kUsdPerGbSecond = 0.0000166667;
constexpr double kUsdPerRequest = 0.20 / 1e6;
double invocation_cost_usd(int memory_mb, double billed_ms);  // with the request fee
double compute_cost_usd(int memory_mb, double billed_ms);     // billed ms x price only (seed B's plots)

// Milliseconds since the epoch of "2024-01-02T03:04:05.678Z" or "2024-01-02 03:04:05.678" (UTC; the
// fraction and the Z optional), -1 when it is not that shape.
double parse_iso8601_ms(const std::string& text);

// The CSV of the runner and the report: header + one row per record. Unknown values are empty fields.
void write_csv_header(std::ostream& out);
void write_csv_row(std::ostream& out, const InvocationRecord& r);
// Reads rows written by write_csv_row (the header is checked). Throws FormatError naming `path`.
std::vector<InvocationRecord> read_csv(const std::string& path);

}  // namespace mlfaas::experiment
