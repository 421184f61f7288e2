// `bootstrap`: the Lambda custom runtime (provided.al2023). INIT: pick the handler named by _HANDLER and let it
// load its model; then loop forever: next event -> handler -> response (or error). The same binary runs on
// AWS Lambda and under `mlfaas serve`.
#include <cxxabi.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <typeinfo>

#include "common/codec.h"
#include "runtime/events.h"
#include "runtime/handler.h"
#include "runtime/runtime_client.h"
#include "runtime/runtime_log.h"

using namespace mlfaas::runtime;

namespace {

std::string env(const char* name, const std::string& fallback = "") {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

double since_ms(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Like Python's errorType: the exception's class name.
std::string type_name(const std::exception& e) {
  int status = 0;
  char* demangled = abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status);
  std::string name = status == 0 && demangled ? demangled : typeid(e).name();
  std::free(demangled);
  return name;
}

// The invocation's ResponseStream: opens the streamed POST on the first write. For API Gateway / function URL
// events the body starts with Lambda's HTTP integration prelude (the status and headers as JSON, then 8 NUL
// bytes), as awslambda.HttpResponseStream writes it; the platform answers the HTTP caller from it.
class InvocationStream final : public ResponseStream {
 public:
  InvocationStream(RuntimeClient& client, std::string request_id, const Context& ctx)
      : client_(client), request_id_(std::move(request_id)), ctx_(ctx) {}

  bool write(std::string_view bytes) override {
    if (!response_) {
      if (ctx_.http_integration) {
        response_ = client_.start_streamed_response(request_id_, "application/vnd.awslambda.http-integration-response");
        nlohmann::json headers = cors_headers();
        headers["Content-Type"] = "text/plain; charset=utf-8";
        std::string prelude = nlohmann::json{{"statusCode", 200}, {"headers", headers}}.dump();
        prelude.append(8, '\0');
        response_->write(prelude);
      } else {
        response_ = client_.start_streamed_response(request_id_, "text/plain; charset=utf-8");
      }
    }
    return response_->write(bytes);
  }

  bool started() const override { return response_ != nullptr; }
  void finish(const ErrorReport* error = nullptr) { response_->finish(error); }

 private:
  RuntimeClient& client_;
  std::string request_id_;
  const Context& ctx_;
  std::unique_ptr<StreamedResponse> response_;
};

int list_handlers() {
  for (const auto& [name, description] : HandlerRegistry::builtin().list())
    std::printf("%-10s %s\n", name.c_str(), description.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--list-handlers") == 0) return list_handlers();
  // A container image passes its Cmd (the handler, as in AWS's base images) as the entrypoint's argument.
  if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
    std::fprintf(stderr,
                 "usage: bootstrap [--list-handlers | HANDLER]\n"
                 "A Lambda custom runtime: configured by AWS_LAMBDA_RUNTIME_API, _HANDLER (or HANDLER, as an "
                 "image's Cmd gives it), MODEL_PATH and LAMBDA_TASK_ROOT.\n");
    return 2;
  }
  auto init_t0 = std::chrono::steady_clock::now();
  std::string api = env("AWS_LAMBDA_RUNTIME_API");
  if (api.empty()) {
    std::fprintf(stderr, "bootstrap: AWS_LAMBDA_RUNTIME_API is not set (this program runs inside Lambda or "
                         "`mlfaas serve`)\n");
    return 2;
  }

  Context ctx;
  ctx.function_name = env("AWS_LAMBDA_FUNCTION_NAME", "local");
  ctx.memory_mb = std::atoi(env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "0").c_str());
  ctx.function_instance_id = mlfaas::lambda::random_uuid();
  std::string handler_name = argc == 2 ? argv[1] : env("_HANDLER");

  ctx.cold_start = true;  // INIT only ever happens on a cold start
  try {
    RuntimeClient client(api);
    log_ml_on_faas(ctx, 0, "Initialization started");

    std::unique_ptr<Handler> handler;
    try {
      const HandlerFactory* factory = HandlerRegistry::builtin().find(handler_name);
      if (!factory) {
        std::string known;
        for (const auto& [name, _] : HandlerRegistry::builtin().list()) known += (known.empty() ? "" : ", ") + name;
        client.post_init_error({"Runtime.HandlerNotFound",
                                "unknown handler '" + handler_name + "' (this bootstrap has: " + known + ")", ""});
        return 1;
      }
      handler = (*factory)(HandlerSetup{env("LAMBDA_TASK_ROOT", "."), env("MODEL_PATH")});
    } catch (const std::exception& e) {
      log_line(std::string("INIT failed: ") + e.what());
      client.post_init_error({"Runtime.InitError", e.what(), type_name(e)});
      return 1;
    }
    double init_ms = since_ms(init_t0);
    log_ml_on_faas(ctx, 0, "Initialization completed");

    bool cold = true;
    for (;;) {
      Invocation inv = client.next();
      auto t0 = std::chrono::steady_clock::now();
      ctx.request_id = inv.request_id;
      ctx.deadline_ms = inv.deadline_ms;
      ctx.cold_start = cold;
      ctx.experiment_id.clear();
      ctx.message_id.clear();
      ctx.http_integration = false;
      InvocationStream stream(client, inv.request_id, ctx);
      ctx.stream = &stream;
      cold = false;
      // The X-Ray SDKs read the trace header from the environment, as Lambda's own runtimes arrange.
      if (!inv.trace_id.empty()) setenv("_X_AMZN_TRACE_ID", inv.trace_id.c_str(), 1);
      else unsetenv("_X_AMZN_TRACE_ID");

      log_ml_on_faas(ctx, 0, "Processing started");
      try {
        EventOutcome out = process_event(*handler, inv.payload, ctx);
        if (out.status_code == 400) log_line("Bad request: " + out.bad_request);
        InvocationMetrics m{init_ms, since_ms(t0), out.batch_size, handler->model_name(),
                            event_kind_name(out.kind), out.status_code, handler->last_metrics()};
        log_ml_on_faas(ctx, out.batch_size, "Processing completed", m.extra);
        log_emf(ctx, m);
        if (!stream.started()) {
          client.post_response(inv.request_id, out.response);
        } else if (out.status_code == 400) {
          ErrorReport error{"BadRequest", out.bad_request, ""};
          stream.finish(&error);
        } else {
          stream.finish();
        }
      } catch (const std::exception& e) {
        log_line(std::string("Handler error: ") + e.what());
        ErrorReport error{type_name(e), e.what(), ""};
        if (stream.started()) stream.finish(&error);
        else client.post_error(inv.request_id, error);
      }
      ctx.stream = nullptr;
    }
  } catch (const std::exception& e) {
    // The Runtime API itself is gone or broken: nothing to report to, so exit and let the platform see it.
    std::fprintf(stderr, "bootstrap: %s\n", e.what());
    return 1;
  }
}
