// The public port's request parsing on arbitrary bytes: the parser with the server's limits decides to answer by
// itself (400/413/431), wait for more or hand a request on; a complete request then goes through SigV4
// verification, which reads every header and the query string. Never a crash, whatever arrives.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "platform/http_server.h"
#include "platform/sigv4.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mlfaas::platform::HttpServerOptions options;
  options.body_limit = 64 * 1024;  // small, so that the fuzzer reaches the limit
  mlfaas::platform::Request req;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  int status = mlfaas::platform::classify_request_bytes(bytes, options, &req);
  if (status != 0 && status != -1 && status != 400 && status != 413 && status != 431) __builtin_trap();
  if (status == 0) mlfaas::platform::verify_sigv4(req, {"AKIDFUZZ", "secret"});
  return 0;
}
