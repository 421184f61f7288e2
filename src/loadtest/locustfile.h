#pragma once
// --emit-locustfile: the Locust file that runs the same scenario, for cross-checking against real Locust.
#include <string>
#include <vector>

#include "loadtest/scenario.h"

namespace mlfaas::loadtest {

struct LocustfileSpec {
  Scenario scenario;
  std::string path;   // the request path, e.g. /sentimentAnalysisONNX
  std::string field;  // body field: "sentence" (seed A's API) or "text" (seed A's own Locust file)
  std::vector<std::string> sentences;
  std::string host;  // --host as given, shown in the command line comment
};

std::string locustfile(const LocustfileSpec& spec);

// The headless Locust command equivalent to the scenario, e.g. "locust -f F --headless -u 100 -r 2 -t 1m ...".
std::string locust_command(const LocustfileSpec& spec, const std::string& locustfile_path);

}  // namespace mlfaas::loadtest
