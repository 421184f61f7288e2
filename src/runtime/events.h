#pragma once
// Unwraps the events Lambda delivers (API Gateway HTTP API v2 and REST v1 proxy events, SNS notifications,
// direct JSON) into handler inputs, and wraps the answers back the way each caller expects them.
#include <string>

#include "runtime/handler.h"

namespace mlfaas::runtime {

enum class EventKind { HttpApiV2, RestApiV1, Sns, Direct };
const char* event_kind_name(EventKind kind);

struct EventOutcome {
  std::string response;  // the body to POST to /response
  EventKind kind = EventKind::Direct;
  int status_code = 200;  // 400 for a bad request (also for direct and SNS events)
  size_t batch_size = 0;
  std::string bad_request;  // "error: details" when status_code is 400
};

// Runs `handler` on every input the event holds. A BadRequest becomes a 400 answer; any other exception
// propagates (the runtime reports it on /error). `ctx` gains the SNS message's ExperimentId/MessageId.
EventOutcome process_event(Handler& handler, const std::string& payload, Context& ctx);

// The headers seed A's API answers with (CORS for POST and OPTIONS).
nlohmann::json cors_headers();

}  // namespace mlfaas::runtime
