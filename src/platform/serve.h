#pragma once
// `mlfaas serve`: loads a SAM template and runs its functions on this machine the way Lambda would.
#include <stdexcept>
#include <string>

#include "platform/monitoring.h"
#include "platform/platform.h"
#include "platform/sigv4.h"

namespace mlfaas::platform {

struct ServeOptions {
  std::string template_path = "template.yaml";
  std::string host = "127.0.0.1";
  int port = 3000;  // 0: any free port (printed in the banner and written to port_file)
  bool allow_remote = false;
  std::string port_file;
  Credentials credentials;  // required with a non-loopback host; optional (but enforced) on loopback
  PlatformOptions platform;
  MonitoringOptions monitoring;  // metrics database, alarms, notifications, web assets
};

// Options that cannot work together (e.g. a non-loopback host without --allow-remote).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Runs until SIGINT/SIGTERM, then drains and stops. Returns the process exit code. Throws TemplateError for
// an invalid template and std::runtime_error for other start-up failures.
int serve(const ServeOptions& options);

}  // namespace mlfaas::platform
