#pragma once
// Client of the Lambda Runtime API 2018-06-01, the plain HTTP/1.1 interface Lambda (and `mlfaas serve`) exposes
// on AWS_LAMBDA_RUNTIME_API. Synchronous on purpose: a runtime handles exactly one event at a time.
#include <memory>
#include <string>
#include <string_view>

namespace mlfaas::runtime {

struct Invocation {
  std::string request_id;
  long long deadline_ms = 0;  // epoch milliseconds
  std::string invoked_function_arn;
  std::string trace_id;
  std::string client_context;
  std::string cognito_identity;
  std::string payload;
};

struct ErrorReport {
  std::string error_type;     // e.g. "Runtime.HandlerError"; also sent as Lambda-Runtime-Function-Error-Type
  std::string error_message;
  std::string stack_trace;    // one frame per line; sent as a JSON array
};

// A response sent while it is produced (Lambda response streaming): POST /response with
// `Lambda-Runtime-Function-Response-Mode: streaming` and a chunked body, each write() one chunk on the wire at once;
// a failure after the first byte travels in the trailers `Lambda-Runtime-Function-Error-Type` and
// `Lambda-Runtime-Function-Error-Body` (base64 of the error JSON), as Lambda's own runtimes send them.
class StreamedResponse {
 public:
  virtual ~StreamedResponse() = default;
  // False once the platform has stopped reading (the caller went away): the handler should stop.
  virtual bool write(std::string_view bytes) = 0;
  // Ends the body (with the error trailers when `error` is given) and reads the platform's answer.
  virtual void finish(const ErrorReport* error = nullptr) = 0;
};

class RuntimeClient {
 public:
  // `address` is host:port as found in AWS_LAMBDA_RUNTIME_API.
  explicit RuntimeClient(const std::string& address);
  ~RuntimeClient();
  RuntimeClient(const RuntimeClient&) = delete;
  RuntimeClient& operator=(const RuntimeClient&) = delete;

  // Blocks until the platform hands over the next event.
  Invocation next();
  void post_response(const std::string& request_id, const std::string& body);
  void post_error(const std::string& request_id, const ErrorReport& error);
  void post_init_error(const ErrorReport& error);
  // Starts a streamed response: the request line and headers leave now, the body as it is written. One at a time;
  // finish() it before the next call on this client.
  std::unique_ptr<StreamedResponse> start_streamed_response(const std::string& request_id,
                                                            const std::string& content_type);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The body Lambda expects on /error endpoints: {"errorMessage", "errorType", "stackTrace": [...]}.
std::string error_body(const ErrorReport& error);

}  // namespace mlfaas::runtime
