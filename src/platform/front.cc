#include "platform/front.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <boost/asio/post.hpp>

#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "platform/aws/lambda_api.h"
#include "platform/aws/logs_api.h"
#include "platform/aws/s3_api.h"
#include "platform/aws/sns_api.h"
#include "platform/aws/protocol.h"
#include "platform/event_stream.h"
#include "platform/metrics/metrics_store.h"
#include "platform/monitoring.h"
#include "platform/openai.h"
#include "platform/web/web_api.h"
#include "common/codec.h"
#include "common/json_limits.h"

namespace mlfaas::platform {

namespace asio = boost::asio;
using nlohmann::json;

using aws::dump;
using aws::parse_form;
using aws::sns_error;
using aws::xml_escape;

namespace {

constexpr size_t kSyncPayloadLimit = 6 * 1024 * 1024;   // Lambda: 6 MB request for RequestResponse
constexpr size_t kAsyncPayloadLimit = 1024 * 1024;      // Lambda: 1 MB for Event invocations
// CreateFunction / UpdateFunctionCode requests: Lambda refuses bodies over this many bytes (a 50 MB zip in base64
// and JSON); a smaller body whose zip is over 50 MB gets the same exception from the Lambda API.
constexpr size_t kCodeUploadLimit = 70'167'211;
// One S3 PutObject or UploadPart here (AWS allows 5 GB; the AWS CLI sends 8 MB parts above 8 MB).
constexpr size_t kS3BodyLimit = 128u << 20;
constexpr const char* kInvokePrefix = "/2015-03-31/functions/";
constexpr const char* kStreamInvokePrefix = "/2021-11-15/functions/";
constexpr const char* kStreamInvokeSuffix = "/response-streaming-invocations";

Response gateway_message(http::status status, const std::string& message) {
  Response res = make_response(status, dump(json{{"message", message}}));
  res.set("apigw-requestid", lambda::random_hex(16));
  return res;
}

void add_cors(Response& res) {
  res.set("Access-Control-Allow-Origin", "*");
  res.set("Access-Control-Allow-Headers", "Content-Type");
  res.set("Access-Control-Allow-Methods", "OPTIONS,POST");
}

bool is_code_upload(const Request& header) {
  std::string target(header.target());
  std::string path = target.substr(0, target.find('?'));
  if (path.size() > 1 && path.back() == '/') path.pop_back();
  return (header.method() == http::verb::post && path == "/2015-03-31/functions") ||
         (header.method() == http::verb::put && path.starts_with("/2015-03-31/functions/") && path.ends_with("/code"));
}

std::string http_date_clf() { return lambda::utc_strftime(std::time(nullptr), "%d/%b/%Y:%H:%M:%S +0000"); }

// What an Invoke path names: a function name, `name:qualifier`, a partial ARN `account:function:name[:qualifier]`
// or a full ARN `arn:aws:lambda:region:account:function:name[:qualifier]`.
struct FunctionRef {
  std::string name;
  std::string qualifier;
  std::string region, account;  // empty where the reference does not say
  bool well_formed = true;
};

FunctionRef parse_function_ref(const std::string& ref) {
  std::vector<std::string> parts;
  std::stringstream ss(ref);
  for (std::string part; std::getline(ss, part, ':');) parts.push_back(part);
  if (!ref.empty() && ref.back() == ':') parts.push_back("");
  FunctionRef out;
  size_t at = 0;
  if (parts.size() >= 7 && parts[0] == "arn" && parts[2] == "lambda" && parts[5] == "function") {
    out.region = parts[3];
    out.account = parts[4];
    at = 6;
  } else if (parts.size() >= 3 && parts[1] == "function") {
    out.account = parts[0];
    at = 2;
  }
  if (at >= parts.size() || parts.size() - at > 2 || parts[at].empty()) {
    out.well_formed = false;
    return out;
  }
  out.name = parts[at];
  if (parts.size() - at == 2) {
    out.qualifier = parts[at + 1];
    if (out.qualifier.empty()) out.well_formed = false;
  }
  return out;
}

}  // namespace

boost::asio::ip::address resolve_host(const std::string& host) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (!ec) return address;
  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  auto results = resolver.resolve(host, "", ec);
  if (ec || results.empty()) throw std::runtime_error("--host " + host + ": cannot resolve: " + ec.message());
  // A name may resolve to several addresses (localhost: 127.0.0.1 and ::1): prefer IPv4, as the AWS CLI's
  // --endpoint-url http://localhost:PORT tries it first.
  for (const auto& r : results)
    if (r.endpoint().address().is_v4()) return r.endpoint().address();
  return results.begin()->endpoint().address();
}

bool match_route_path(const std::string& pattern, const std::string& path, std::map<std::string, std::string>& params) {
  auto split = [](const std::string& p) {
    std::vector<std::string> parts;
    size_t start = 1;
    while (start <= p.size()) {
      size_t slash = p.find('/', start);
      parts.push_back(p.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    return parts;
  };
  auto pat = split(pattern), got = split(path);
  for (size_t i = 0; i < pat.size(); ++i) {
    const std::string& seg = pat[i];
    bool param = seg.size() > 2 && seg.front() == '{' && seg.back() == '}';
    if (param && seg.ends_with("+}")) {  // greedy: the rest of the path
      if (i >= got.size()) return false;
      std::string rest;
      for (size_t k = i; k < got.size(); ++k) rest += (k > i ? "/" : "") + got[k];
      params[seg.substr(1, seg.size() - 3)] = rest;
      return true;
    }
    if (i >= got.size()) return false;
    if (param) {
      if (got[i].empty()) return false;
      params[seg.substr(1, seg.size() - 2)] = url_decode(got[i], false);
    } else if (seg != got[i]) {
      return false;
    }
  }
  return pat.size() == got.size();
}

Front::Front(Platform& platform, const std::string& host, unsigned short port, Credentials credentials,
             Monitoring* monitoring, AwsApis apis)
    : platform_(platform), credentials_(std::move(credentials)), monitoring_(monitoring), apis_(apis) {
  HttpServerOptions opts;
  opts.body_limit = std::max({kSyncPayloadLimit, kCodeUploadLimit, kS3BodyLimit});
  opts.body_limit_for = [this](const Request& header) {
    std::string target(header.target());
    if (apis_.lambda && is_code_upload(header)) return kCodeUploadLimit;
    if (apis_.s3 && aws::S3Api::handles(header)) return kS3BodyLimit;
    return kSyncPayloadLimit;
  };
  auto address = resolve_host(host);
  server_ = std::make_unique<HttpServer>(
      platform.io(), asio::ip::tcp::endpoint(address, port), opts,
      [this](Request&& req, ExchangePtr ex) { on_request(std::move(req), std::move(ex)); },
      [this](const Request& header) { return on_too_large(header); });
  host_header_ = fmt::format("{}:{}", host, server_->port());
}

Front::~Front() { queries_.join(); }

Response Front::on_too_large(const Request& header) {
  std::string target(header.target());
  if (apis_.lambda && is_code_upload(header))
    return aws::rest_json_error(http::status::payload_too_large, "RequestEntityTooLargeException",
                                fmt::format("Request must be smaller than {} bytes for the {} operation",
                                            kCodeUploadLimit,
                                            header.method() == http::verb::post ? "CreateFunction"
                                                                                : "UpdateFunctionCode"));
  if (apis_.s3 && aws::S3Api::handles(header))
    return make_response(http::status::payload_too_large,
                         fmt::format("<Error><Code>EntityTooLarge</Code><Message>Your proposed upload exceeds the "
                                     "maximum allowed size ({} bytes here)</Message></Error>", kS3BodyLimit),
                         "application/xml");
  if (target.starts_with(kInvokePrefix))
    return aws::rest_json_error(http::status::payload_too_large, "RequestTooLargeException",
                     fmt::format("Request must be smaller than {} bytes for the InvokeFunction operation",
                                 kSyncPayloadLimit));
  Response res = make_response(http::status::bad_request,
                               dump(json{{"error", "Request too large"},
                                         {"details", fmt::format("the body exceeds Lambda's payload limit of {} bytes",
                                                                 kSyncPayloadLimit)}}));
  add_cors(res);
  return res;
}

void Front::on_request(Request&& req, ExchangePtr ex) {
  std::string target(req.target());
  std::string path = target.substr(0, target.find('?'));
  if (platform_.shutting_down())
    return ex->respond(gateway_message(http::status::service_unavailable, "Service Unavailable"));

  if (apis_.s3 && aws::S3Api::handles(req)) {
    if (std::string why = signature_problem(req); !why.empty())
      return ex->respond(make_response(http::status::forbidden,
                                       "<Error><Code>SignatureDoesNotMatch</Code><Message>" + xml_escape(why) +
                                           "</Message></Error>", "application/xml"));
    return ex->respond(apis_.s3->handle(std::move(req)));
  }
  const bool stream_invoke = path.starts_with(kStreamInvokePrefix) && path.ends_with(kStreamInvokeSuffix);
  if ((path.starts_with(kInvokePrefix) && path.ends_with("/invocations")) || stream_invoke) {
    if (req.method() != http::verb::post)
      return ex->respond(aws::rest_json_error(http::status::method_not_allowed, "MethodNotAllowed", "use POST"));
    const size_t prefix = std::strlen(stream_invoke ? kStreamInvokePrefix : kInvokePrefix);
    const size_t suffix = std::strlen(stream_invoke ? kStreamInvokeSuffix : "/invocations");
    std::string name = url_decode(path.substr(prefix, path.size() - prefix - suffix), false);
    if (!credentials_.empty()) {
      std::string why = verify_sigv4(req, credentials_);
      if (why == "unknown access key id")
        return ex->respond(aws::rest_json_error(http::status::forbidden, "UnrecognizedClientException",
                                     "The security token included in the request is invalid."));
      if (!why.empty())
        return ex->respond(aws::rest_json_error(http::status::forbidden, "InvalidSignatureException",
                                     "The request signature we calculated does not match the signature you "
                                     "provided (" + why + ")."));
    }
    if (stream_invoke) return invoke_stream_api(name, std::move(req), std::move(ex));
    return invoke_api(name, std::move(req), std::move(ex));
  }
  if (apis_.lambda && aws::LambdaApi::handles(path)) {
    if (std::string why = signature_problem(req); !why.empty())
      return ex->respond(why == "unknown access key id"
                             ? aws::rest_json_error(http::status::forbidden, "UnrecognizedClientException",
                                                    "The security token included in the request is invalid.")
                             : aws::rest_json_error(http::status::forbidden, "InvalidSignatureException",
                                                    "The request signature we calculated does not match the "
                                                    "signature you provided (" + why + ")."));
    return apis_.lambda->handle(std::move(req), std::move(ex));
  }
  if (apis_.logs && path == "/" && aws::LogsApi::handles(req)) {
    if (std::string why = signature_problem(req); !why.empty())
      return ex->respond(aws::json11_error(http::status::bad_request,
                                           why == "unknown access key id" ? "UnrecognizedClientException"
                                                                          : "InvalidSignatureException",
                                           "The request signature does not match (" + why + ")"));
    // Reading log files may take a while: off the event loop, like the metrics queries.
    auto& io = platform_.io();
    auto* logs = apis_.logs;
    boost::asio::post(queries_, [&io, logs, ex, req = std::move(req)] {
      Response res = logs->handle(req);
      boost::asio::post(io, [ex, res = std::move(res)]() mutable { ex->respond(std::move(res)); });
    });
    return;
  }
  if (path == "/_mlfaas/health" && req.method() == http::verb::get) {
    return ex->respond(make_response(http::status::ok,
                                     dump(json{{"status", "ok"}, {"in_flight", platform_.in_flight()}})));
  }
  if (path == "/" && req.method() == http::verb::post &&
      std::string(req[http::field::content_type]).starts_with("application/x-www-form-urlencoded")) {
    if (!credentials_.empty()) {
      std::string why = verify_sigv4(req, credentials_);
      if (!why.empty())
        return ex->respond(sns_error(http::status::forbidden,
                                     why == "unknown access key id" ? "InvalidClientTokenId" : "SignatureDoesNotMatch",
                                     "The request signature does not match (" + why + ")"));
    }
    if (apis_.sns) return apis_.sns->handle(std::move(req), std::move(ex));
  }
  if (path == "/v1/completions" || path == "/v1/chat/completions") {
    bool served = false;
    for (auto& f : platform_.functions()) served = served || f->spec.openai_compatible;
    if (served && req.method() == http::verb::post)
      return openai_api(path == "/v1/chat/completions", std::move(req), std::move(ex));
    if (served && req.method() == http::verb::options) {
      Response res = make_response(http::status::no_content, "", "");
      add_cors(res);
      res.set("Access-Control-Allow-Headers", "Content-Type, Authorization");
      return ex->respond(std::move(res));
    }
  }
  std::string query = target.find('?') == std::string::npos ? "" : target.substr(target.find('?') + 1);
  bool is_get = req.method() == http::verb::get || req.method() == http::verb::head;
  if (!is_get || !monitoring_) {
    if (api_route(std::move(req), ex)) return;
  } else {
    Request copy = req;  // api_route consumes the request; the monitoring pages need only its header
    if (api_route(std::move(req), ex)) return;
    if (monitoring_route(copy, path, query, ex)) return;
  }
  ex->respond(gateway_message(http::status::not_found, "Not Found"));
}

std::string Front::signature_problem(const Request& req) const {
  return credentials_.empty() ? "" : verify_sigv4(req, credentials_);
}

// ------------------------------------------------------------------ metrics, dashboard API, web page

namespace {

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string query_value(const std::string& query, const std::string& key) {
  for (const auto& [k, v] : parse_form(query))
    if (k == key) return v;
  return "";
}

}  // namespace

bool Front::monitoring_route(const Request& req, const std::string& path, const std::string& query, ExchangePtr ex) {
  auto& io = platform_.io();
  auto answer_later = [this, &io, ex](std::function<Response()> build) {
    boost::asio::post(queries_, [&io, ex, build = std::move(build)] {
      Response res;
      try {
        res = build();
      } catch (const std::exception& e) {
        res = make_response(http::status::internal_server_error, dump(json{{"message", e.what()}}));
      }
      boost::asio::post(io, [ex, res = std::move(res)]() mutable { ex->respond(std::move(res)); });
    });
  };
  if (path == "/metrics") {
    Monitoring* m = monitoring_;
    answer_later([m] {
      m->store().flush();
      return make_response(http::status::ok, metrics::render_prometheus(m->store()),
                           "text/plain; version=0.0.4; charset=utf-8");
    });
    return true;
  }
  std::vector<web::FunctionInfo> functions;
  for (auto& f : platform_.functions())
    functions.push_back({f->spec.name, f->spec.memory_mb, f->spec.timeout_s, f->spec.handler});
  if (path == "/api/info") {
    std::vector<web::RouteInfo> routes;
    for (auto& f : platform_.functions())
      for (const auto& r : f->spec.routes) routes.push_back({r.method, r.path, f->spec.name});
    ex->respond(make_response(http::status::ok, web::info_json(functions, routes)));
    return true;
  }
  if (path == "/api/dashboard") {
    int window_s = 300;
    std::string w = query_value(query, "window");
    if (!w.empty()) {
      try {
        window_s = std::stoi(w);
      } catch (const std::exception&) {
        ex->respond(make_response(http::status::bad_request,
                                  dump(json{{"error", "Invalid window"}, {"details", "window must be seconds"}})));
        return true;
      }
    }
    Monitoring* m = monitoring_;
    answer_later([m, functions, window_s] {
      m->store().flush();
      return make_response(http::status::ok,
                           web::dashboard_json(m->store(), functions, m->alarm_status(), unix_ms(), window_s));
    });
    return true;
  }
  auto asset = web::find_asset(monitoring_->web_dir(), path);
  if (!asset) {
    if (path == "/" || path == "/dashboard") {
      ex->respond(make_response(http::status::not_found,
                                "the web assets are not built (" + monitoring_->web_dir() +
                                    "): install Node.js and npm (tools/setup.sh) and rebuild\n",
                                "text/plain; charset=utf-8"));
      return true;
    }
    return false;
  }
  std::ifstream in(asset->path, std::ios::binary);
  if (!in) return false;
  std::ostringstream body;
  body << in.rdbuf();
  Response res = make_response(http::status::ok, body.str(), asset->content_type);
  res.set(http::field::cache_control, "no-cache");
  if (req.method() == http::verb::head) res.body().clear(), res.prepare_payload();
  ex->respond(std::move(res));
  return true;
}

// ------------------------------------------------------------------ Invoke API

void Front::invoke_api(const std::string& ref_text, Request&& req, ExchangePtr ex) {
  const auto& tpl = platform_.tpl();
  FunctionRef ref = parse_function_ref(ref_text);
  if (!ref.well_formed)
    return ex->respond(aws::rest_json_error(http::status::bad_request, "ValidationException",
                                 "1 validation error detected: Value '" + ref_text +
                                     "' at 'functionName' failed to satisfy constraint: Member must satisfy "
                                     "regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?"
                                     "([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?"
                                     "([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"));
  std::string target(req.target());
  std::string query_qualifier;
  if (auto q = target.find('?'); q != std::string::npos)
    for (const auto& [k, v] : parse_form(target.substr(q + 1)))
      if (k == "Qualifier") query_qualifier = v;
  if (!ref.qualifier.empty() && !query_qualifier.empty() && ref.qualifier != query_qualifier)
    return ex->respond(aws::rest_json_error(http::status::bad_request, "InvalidParameterValueException",
                                 "The derived qualifier from the function name does not match the specified "
                                 "qualifier."));
  std::string qualifier = ref.qualifier.empty() ? query_qualifier : ref.qualifier;
  std::string arn = fmt::format("arn:aws:lambda:{}:{}:function:{}", ref.region.empty() ? tpl.region : ref.region,
                                ref.account.empty() ? tpl.account_id : ref.account, ref.name);
  if (!qualifier.empty()) arn += ":" + qualifier;
  // A function of another region or account, or a version or alias that serve never published, does not
  // exist here: AWS answers 404 for those. Only the unpublished version, $LATEST, can be named.
  Function* fn = platform_.function(ref.name);
  if (!fn || (!ref.region.empty() && ref.region != tpl.region) ||
      (!ref.account.empty() && ref.account != tpl.account_id) || (!qualifier.empty() && qualifier != "$LATEST"))
    return ex->respond(aws::rest_json_error(http::status::not_found, "ResourceNotFoundException", "Function not found: " + arn));
  std::string type(req["X-Amz-Invocation-Type"]);
  if (type.empty()) type = "RequestResponse";
  if (type != "RequestResponse" && type != "Event" && type != "DryRun")
    return ex->respond(aws::rest_json_error(http::status::bad_request, "InvalidParameterValueException",
                                 "X-Amz-Invocation-Type must be RequestResponse, Event or DryRun"));
  std::string payload = std::move(req.body());
  if (payload.empty()) payload = "{}";
  if (!lambda::is_valid_utf8(payload) || !json::accept(payload))
    return ex->respond(aws::rest_json_error(http::status::bad_request, "InvalidRequestContentException",
                                 "Could not parse request body into json: the payload is not valid JSON"));
  if (common::json_nesting_depth(payload) > common::kMaxJsonDepth)
    return ex->respond(aws::rest_json_error(http::status::bad_request, "InvalidRequestContentException",
                                 fmt::format("Could not parse request body into json: nesting deeper than {} levels",
                                             common::kMaxJsonDepth)));
  if (type == "DryRun") {
    Response res = make_response(http::status::no_content, "", "");
    res.set("x-amzn-RequestId", lambda::random_uuid());
    return ex->respond(std::move(res));
  }

  auto inv = std::make_shared<Invocation>();
  inv->request_id = lambda::random_uuid();
  inv->payload = std::move(payload);
  inv->source = type == "Event" ? "invoke (Event)" : "invoke";
  inv->trace_id = std::string(req["X-Amzn-Trace-Id"]);
  if (auto cc = req["X-Amz-Client-Context"]; !cc.empty()) {
    auto decoded = lambda::base64_decode(std::string(cc));
    // It travels on as a header line of the Runtime API: never let it carry a line break.
    if (decoded && decoded->find_first_of("\r\n") == std::string::npos) inv->client_context = *decoded;
  }

  if (type == "Event") {
    if (inv->payload.size() > kAsyncPayloadLimit)
      return ex->respond(aws::rest_json_error(http::status::payload_too_large, "RequestTooLargeException",
                                   fmt::format("Request must be smaller than {} bytes for an Event invocation",
                                               kAsyncPayloadLimit)));
    inv->async = true;
    std::string id = inv->request_id;
    if (platform_.invoke(*fn, inv) == Platform::Admission::Throttled)
      return ex->respond(aws::rest_json_error(http::status::too_many_requests, "TooManyRequestsException", "Rate Exceeded.",
                                   {{"Reason", "EventQueueFull"}}));
    Response res = make_response(http::status::accepted, "", "");
    res.set("x-amzn-RequestId", id);
    return ex->respond(std::move(res));
  }

  bool tail = std::string(req["X-Amz-Log-Type"]) == "Tail";
  std::string id = inv->request_id;
  inv->on_done = [ex, tail, id](const InvocationResult& r) {
    Response res = make_response(http::status::ok, r.payload);
    res.set("x-amzn-RequestId", id);
    res.set("X-Amz-Executed-Version", "$LATEST");
    if (r.function_error) res.set("X-Amz-Function-Error", "Unhandled");
    if (tail) {
      std::string_view log(r.log);
      if (log.size() > 4096) log = log.substr(log.size() - 4096);
      res.set("X-Amz-Log-Result", lambda::base64_encode(log));
    }
    ex->respond(std::move(res));
  };
  if (platform_.invoke(*fn, inv) == Platform::Admission::Throttled)
    ex->respond(aws::rest_json_error(http::status::too_many_requests, "TooManyRequestsException", "Rate Exceeded.",
                          {{"Reason", platform_.throttle_reason(*fn)}}));
}

namespace {
class GoneWriter final : public ResponseWriter {
 public:
  void write(std::string) override {}
  void end() override {}
  bool client_gone() const override { return true; }
};
}  // namespace

// InvokeWithResponseStream: 200 with an event stream of PayloadChunk events, as the function's streamed bytes
// arrive (a function that answers buffered gives one chunk), then InvokeComplete with ErrorCode / ErrorDetails /
// LogResult. Errors before the stream starts (unknown function, bad payload, throttling) are the Invoke API's.
void Front::invoke_stream_api(const std::string& name, Request&& req, ExchangePtr ex) {
  Function* fn = platform_.function(name);
  if (!fn)
    return ex->respond(aws::rest_json_error(http::status::not_found, "ResourceNotFoundException",
                                 fmt::format("Function not found: arn:aws:lambda:{}:{}:function:{}",
                                             platform_.tpl().region, platform_.tpl().account_id, name)));
  std::string type(req["X-Amz-Invocation-Type"]);
  if (!type.empty() && type != "RequestResponse" && type != "DryRun")
    return ex->respond(aws::rest_json_error(http::status::bad_request, "InvalidParameterValueException",
                                 "X-Amz-Invocation-Type must be RequestResponse or DryRun"));
  std::string payload = std::move(req.body());
  if (payload.empty()) payload = "{}";
  if (!lambda::is_valid_utf8(payload) || !json::accept(payload))
    return ex->respond(aws::rest_json_error(http::status::bad_request, "InvalidRequestContentException",
                                 "Could not parse request body into json: the payload is not valid JSON"));
  auto inv = std::make_shared<Invocation>();
  inv->request_id = lambda::random_uuid();
  inv->payload = std::move(payload);
  inv->source = "invoke (stream)";
  inv->trace_id = std::string(req["X-Amzn-Trace-Id"]);
  if (type == "DryRun") {
    Response res = make_response(http::status::no_content, "", "");
    res.set("x-amzn-RequestId", inv->request_id);
    return ex->respond(std::move(res));
  }

  // The stream's head is sent on the first bytes or at the end, whichever comes first: a throttled invocation
  // still gets its 429.
  struct Stream {
    ExchangePtr ex;
    std::string request_id;
    std::shared_ptr<ResponseWriter> writer;
    ResponseWriter& get() {
      if (!writer) {
        Response head = make_response(http::status::ok, "", "application/vnd.amazon.eventstream");
        head.set("x-amzn-RequestId", request_id);
        head.set("X-Amz-Executed-Version", "$LATEST");
        writer = ex->respond_streaming(std::move(head));
        if (!writer) writer = std::make_shared<GoneWriter>();  // the exchange cannot stream: nobody to write to
      }
      return *writer;
    }
  };
  auto stream = std::make_shared<Stream>(Stream{ex, inv->request_id, nullptr});
  bool tail = std::string(req["X-Amz-Log-Type"]) == "Tail";
  inv->on_stream = [stream](std::string_view bytes) {
    ResponseWriter& w = stream->get();
    w.write(event_stream_event("PayloadChunk", "application/octet-stream", bytes));
    return !w.client_gone();
  };
  inv->on_done = [stream, tail](const InvocationResult& r) {
    ResponseWriter& w = stream->get();
    json complete = json::object();
    if (r.function_error) {
      complete["ErrorCode"] = r.error_type.empty() ? "Unhandled" : r.error_type;
      complete["ErrorDetails"] = r.payload;
    } else if (!r.payload.empty()) {
      w.write(event_stream_event("PayloadChunk", "application/octet-stream", r.payload));
    }
    if (tail) {
      std::string_view log(r.log);
      if (log.size() > 4096) log = log.substr(log.size() - 4096);
      complete["LogResult"] = lambda::base64_encode(log);
    }
    w.write(event_stream_event("InvokeComplete", "application/json", dump(complete)));
    w.end();
  };
  if (platform_.invoke(*fn, inv) == Platform::Admission::Throttled && !stream->writer)
    ex->respond(aws::rest_json_error(http::status::too_many_requests, "TooManyRequestsException", "Rate Exceeded.",
                          {{"Reason", platform_.throttle_reason(*fn)}}));
}

// ------------------------------------------------------------------ API Gateway routes

bool Front::api_route(Request&& req, ExchangePtr ex) {
  std::string target(req.target());
  auto q = target.find('?');
  std::string path = target.substr(0, q), query = q == std::string::npos ? "" : target.substr(q + 1);
  std::string method(req.method_string());

  // Exact paths win over templated ones, templated ones over $default (API Gateway's precedence).
  Function* fn = nullptr;
  const Route* route = nullptr;
  std::map<std::string, std::string> params;
  bool path_known = false;
  for (int pass = 0; pass < 3 && !route; ++pass)
    for (auto& f : platform_.functions())
      for (const auto& r : f->spec.routes) {
        std::map<std::string, std::string> p;
        bool hit = pass == 0 ? r.path == path
                 : pass == 1 ? r.path != "$default" && r.path.find('{') != std::string::npos && match_route_path(r.path, path, p)
                             : r.path == "$default";
        if (!hit) continue;
        path_known = true;
        if ((r.method == "ANY" || r.method == method) && !route) {
          fn = f.get();
          route = &r;
          params = p;
        }
      }
  if (method == "OPTIONS" && path_known && (!route || route->method == "ANY")) {
    Response res = make_response(http::status::no_content, "", "");
    add_cors(res);
    res.set("Access-Control-Max-Age", "600");
    ex->respond(std::move(res));
    return true;
  }
  if (!route) return false;

  std::string body = std::move(req.body());
  bool binary = !lambda::is_valid_utf8(body);
  std::string encoded_body = binary ? lambda::base64_encode(body) : body;
  json headers = json::object();
  for (const auto& field : req) {
    std::string name(field.name_string());
    for (auto& c : name) c = char(std::tolower(uint8_t(c)));
    std::string value(field.value());
    if (!lambda::is_valid_utf8(value)) continue;
    headers[name] = headers.contains(name) ? headers[name].get<std::string>() + "," + value : value;
  }
  json query_params = json::object();
  for (const auto& [k, v] : parse_form(query)) query_params[k] = v;
  std::string request_id = lambda::random_hex(16);
  std::string route_key = route->path == "$default" ? "$default" : route->method + " " + route->path;
  json event;
  if (route->api_type == "HttpApi") {
    event = {{"version", "2.0"},
             {"routeKey", route_key},
             {"rawPath", path},
             {"rawQueryString", query},
             {"headers", headers},
             {"requestContext",
              {{"accountId", platform_.tpl().account_id},
               {"apiId", "local"},
               {"domainName", host_header_},
               {"domainPrefix", "local"},
               {"http",
                {{"method", method},
                 {"path", path},
                 {"protocol", "HTTP/1.1"},
                 {"sourceIp", "127.0.0.1"},
                 {"userAgent", headers.value("user-agent", "")}}},
               {"requestId", request_id},
               {"routeKey", route_key},
               {"stage", "$default"},
               {"time", http_date_clf()},
               {"timeEpoch", lambda::epoch_ms_now()}}},
             {"isBase64Encoded", binary}};
    if (!query_params.empty()) event["queryStringParameters"] = query_params;
    if (!params.empty()) event["pathParameters"] = params;
    if (!body.empty()) event["body"] = encoded_body;
  } else {
    json multi = json::object();
    for (auto& [k, v] : headers.items()) multi[k] = json::array({v});
    event = {{"resource", route->path},
             {"path", path},
             {"httpMethod", method},
             {"headers", headers},
             {"multiValueHeaders", multi},
             {"queryStringParameters", query_params.empty() ? json(nullptr) : query_params},
             {"pathParameters", params.empty() ? json(nullptr) : json(params)},
             {"stageVariables", nullptr},
             {"requestContext",
              {{"resourcePath", route->path},
               {"httpMethod", method},
               {"path", "/Prod" + path},
               {"stage", "Prod"},
               {"requestId", request_id},
               {"accountId", platform_.tpl().account_id},
               {"apiId", "local"},
               {"identity", {{"sourceIp", "127.0.0.1"}, {"userAgent", headers.value("user-agent", "")}}},
               {"protocol", "HTTP/1.1"},
               {"requestTimeEpoch", lambda::epoch_ms_now()}}},
             {"body", body.empty() ? json(nullptr) : json(encoded_body)},
             {"isBase64Encoded", binary}};
  }

  auto inv = std::make_shared<Invocation>();
  inv->request_id = lambda::random_uuid();
  inv->payload = dump(event);
  inv->source = method + " " + path;
  bool v2 = route->api_type == "HttpApi";
  inv->on_done = [ex, v2](const InvocationResult& r) {
    if (r.timed_out) return ex->respond(gateway_message(http::status::gateway_timeout, "Endpoint request timed out"));
    if (r.function_error) return ex->respond(gateway_message(http::status::bad_gateway, "Internal server error"));
    json answer;
    try {
      answer = json::parse(r.payload);
    } catch (const std::exception&) {
      if (!v2) return ex->respond(gateway_message(http::status::bad_gateway, "Internal server error"));
      return ex->respond(make_response(http::status::ok, r.payload));
    }
    // Payload 2.0 lets a function return any JSON (API Gateway wraps it in a 200); 1.0 needs a proxy response.
    if (!answer.is_object() || !answer.contains("statusCode")) {
      if (!v2) return ex->respond(gateway_message(http::status::bad_gateway, "Internal server error"));
      return ex->respond(make_response(http::status::ok, r.payload));
    }
    int status = answer["statusCode"].is_number_integer() ? answer["statusCode"].get<int>() : 0;
    if (status < 100 || status > 599) return ex->respond(gateway_message(http::status::bad_gateway, "Internal server error"));
    std::string out_body;
    if (answer.contains("body") && answer["body"].is_string()) out_body = answer["body"].get<std::string>();
    else if (answer.contains("body") && !answer["body"].is_null()) out_body = dump(answer["body"]);
    if (answer.value("isBase64Encoded", false)) {
      auto decoded = lambda::base64_decode(out_body);
      if (!decoded) return ex->respond(gateway_message(http::status::bad_gateway, "Internal server error"));
      out_body = *decoded;
    }
    Response res = make_response(http::status(status), std::move(out_body), "");
    if (answer.contains("headers") && answer["headers"].is_object())
      for (auto& [k, v] : answer["headers"].items())
        res.set(k, v.is_string() ? v.get<std::string>() : dump(v));
    if (answer.contains("multiValueHeaders") && answer["multiValueHeaders"].is_object())
      for (auto& [k, vs] : answer["multiValueHeaders"].items())
        if (vs.is_array())
          for (auto& v : vs) res.insert(k, v.is_string() ? v.get<std::string>() : dump(v));
    if (answer.contains("cookies") && answer["cookies"].is_array())
      for (auto& c : answer["cookies"])
        if (c.is_string()) res.insert(http::field::set_cookie, c.get<std::string>());
    if (res[http::field::content_type].empty()) res.set(http::field::content_type, "application/json");
    res.set("apigw-requestid", lambda::random_hex(16));
    ex->respond(std::move(res));
  };
  if (fn->spec.response_stream) stream_route_answer(*inv, ex);
  if (platform_.invoke(*fn, inv) == Platform::Admission::Throttled && !ex->answered())
    ex->respond(gateway_message(http::status::too_many_requests, "Too Many Requests"));
  return true;
}

// A RESPONSE_STREAM function's route: a streamed answer goes out chunked as it arrives, with the status and
// headers of its HTTP integration prelude (200 application/octet-stream without one); an answer the function
// did not stream takes the buffered path.
void Front::stream_route_answer(Invocation& inv, ExchangePtr ex) {
  struct Stream {
    ExchangePtr ex;
    std::shared_ptr<ResponseWriter> writer;
    void start(int status, const json& headers) {
      if (writer) return;
      Response head = make_response(http::status(status), "", "");
      for (auto& [k, v] : headers.items()) head.set(k, v.is_string() ? v.get<std::string>() : dump(v));
      if (head[http::field::content_type].empty()) head.set(http::field::content_type, "application/octet-stream");
      head.set("apigw-requestid", lambda::random_hex(16));
      writer = ex->respond_streaming(std::move(head));
      if (!writer) writer = std::make_shared<GoneWriter>();
    }
  };
  auto stream = std::make_shared<Stream>(Stream{std::move(ex), nullptr});
  inv.on_stream_head = [stream](const std::string& prelude) {
    json p = json::parse(prelude, nullptr, false);
    int status = p.is_object() && p.contains("statusCode") && p["statusCode"].is_number_integer()
                     ? p["statusCode"].get<int>() : 200;
    if (status < 100 || status > 599) status = 502;
    stream->start(status, p.is_object() && p.contains("headers") && p["headers"].is_object() ? p["headers"]
                                                                                            : json::object());
  };
  inv.on_stream = [stream](std::string_view bytes) {
    stream->start(200, json::object());
    stream->writer->write(std::string(bytes));
    return !stream->writer->client_gone();
  };
  inv.on_done = [stream, buffered = std::move(inv.on_done)](const InvocationResult& r) {
    if (!stream->writer) return buffered(r);
    stream->writer->end();  // a failure after the first byte cannot change the status any more
  };
}

// ------------------------------------------------------------------ OpenAI-compatible routes

// POST /v1/completions and /v1/chat/completions: one invocation of the `llm` function named by `model` (or the
// template's first OpenAICompatible function), answered in OpenAI's shapes; with "stream": true the function
// streams {"text"} lines (stream_format ndjson) that leave as Server-Sent Events as they arrive.
void Front::openai_api(bool chat, Request&& req, ExchangePtr ex) {
  auto respond_error = [ex](const OpenAIError& e) {
    Response res = make_response(http::status(e.status), openai_error_body(e));
    add_cors(res);
    ex->respond(std::move(res));
  };
  OpenAIRequest request;
  try {
    request = parse_openai_request(req.body(), chat);
  } catch (const OpenAIError& e) {
    return respond_error(e);
  }
  Function* fn = nullptr;
  for (auto& f : platform_.functions()) {
    if (!f->spec.openai_compatible) continue;
    if (request.model.empty() || request.model == f->spec.name) {
      fn = f.get();
      break;
    }
  }
  if (!fn)
    return respond_error({404, "The model '" + request.model + "' does not exist", "invalid_request_error", "model",
                          "model_not_found"});

  OpenAIAnswerId who{std::string(chat ? "chatcmpl-" : "cmpl-") + lambda::random_hex(24),
                     std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count(),
                     fn->spec.name};
  auto inv = std::make_shared<Invocation>();
  inv->request_id = lambda::random_uuid();
  inv->payload = dump(request.llm_event);
  inv->source = std::string("POST ") + (chat ? "/v1/chat/completions" : "/v1/completions");
  auto failed = [](const InvocationResult& r) -> OpenAIError {
    if (r.timed_out) return {504, "the model's function timed out", "server_error", "", "timeout"};
    return {500, "the model's function failed: " + (r.error_type.empty() ? std::string("Unhandled") : r.error_type),
            "server_error", "", ""};
  };

  if (!request.stream) {
    inv->on_done = [chat, who, respond_error, failed, ex](const InvocationResult& r) {
      if (r.function_error || r.timed_out) return respond_error(failed(r));
      json answer = json::parse(r.payload, nullptr, false);
      OpenAIError e = openai_error_from_llm(answer);
      if (e.status) return respond_error(e);
      if (!answer.is_object() || !answer.contains("generated_text"))
        return respond_error({500, "the model's function gave no generated_text", "server_error", "", ""});
      Response res = make_response(http::status::ok, dump(openai_answer(chat, who, answer)));
      add_cors(res);
      ex->respond(std::move(res));
    };
  } else {
    struct Stream {
      ExchangePtr ex;
      std::shared_ptr<ResponseWriter> writer;
      std::string partial;  // a line of the function's ndjson not complete yet
      json tail;            // its last line: finish_reason, usage
      bool first = true;
      void start() {
        if (writer) return;
        Response head = make_response(http::status::ok, "", "text/event-stream");
        head.set(http::field::cache_control, "no-cache");
        add_cors(head);
        writer = ex->respond_streaming(std::move(head));
        if (!writer) writer = std::make_shared<GoneWriter>();
      }
      void event(const json& j) { writer->write("data: " + dump(j) + "\n\n"); }
    };
    auto stream = std::make_shared<Stream>();
    stream->ex = ex;
    inv->on_stream = [stream, chat, who](std::string_view bytes) {
      stream->start();
      stream->partial.append(bytes);
      size_t start = 0;
      for (size_t nl; (nl = stream->partial.find('\n', start)) != std::string::npos; start = nl + 1) {
        json line = json::parse(std::string_view(stream->partial).substr(start, nl - start), nullptr, false);
        if (!line.is_object()) continue;
        if (line.contains("text") && line["text"].is_string()) {
          stream->event(openai_chunk(chat, who, line["text"].get<std::string>(), nullptr, stream->first));
          stream->first = false;
        } else {
          stream->tail = std::move(line);
        }
      }
      stream->partial.erase(0, start);
      return !stream->writer->client_gone();
    };
    bool include_usage = request.include_usage;
    inv->on_done = [stream, chat, who, include_usage, respond_error, failed](const InvocationResult& r) {
      if (!stream->writer) {  // nothing streamed: an error before the first token
        if (r.function_error || r.timed_out) return respond_error(failed(r));
        OpenAIError e = openai_error_from_llm(json::parse(r.payload, nullptr, false));
        if (e.status) return respond_error(e);
        stream->start();
      }
      if (r.function_error || r.timed_out) {
        // The status has left already: OpenAI's streams carry a late error as an event.
        OpenAIError e = failed(r);
        stream->event(json::parse(openai_error_body(e)));
      } else {
        json finish = stream->tail.value("finish_reason", json("stop"));
        stream->event(openai_chunk(chat, who, "", finish, stream->first));
        if (include_usage) {
          json usage = stream->tail.value("usage", json::object());
          int p = usage.value("prompt_tokens", 0), c = usage.value("completion_tokens", 0);
          json last = openai_chunk(chat, who, "", finish, false);
          last["choices"] = json::array();
          last["usage"] = {{"prompt_tokens", p}, {"completion_tokens", c}, {"total_tokens", p + c}};
          stream->event(last);
        }
      }
      stream->writer->write("data: [DONE]\n\n");
      stream->writer->end();
    };
  }
  if (platform_.invoke(*fn, inv) == Platform::Admission::Throttled && !ex->answered())
    respond_error({429, "Rate limit reached for " + fn->spec.name + ": " + platform_.throttle_reason(*fn),
                   "requests", "", "rate_limit_exceeded"});
}

}  // namespace mlfaas::platform
