#pragma once
// What a load test does: seed A's built-in scenarios (closed model), explicit closed-model settings, or an
// open model at a fixed arrival rate, plus the parsers for the command-line spellings of durations and waits.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mlfaas::loadtest {

enum class LoadModel { kClosed, kOpen };

struct Scenario {
  std::string name;  // "bursty", "medium", "heavy" or "custom"
  LoadModel model = LoadModel::kClosed;
  // Closed model (Locust): `users` users started at `spawn_rate` per second, each sending one request, then
  // waiting uniform [wait_min_s, wait_max_s] after every response.
  int users = 1;
  double spawn_rate = 1.0;
  double wait_min_s = 0.0;
  double wait_max_s = 0.0;
  // Open model (wrk2): requests intended at a fixed rate over `connections` keep-alive connections.
  double rate = 0.0;
  int connections = 0;
  double run_time_s = 0.0;

  double ramp_up_s() const { return model == LoadModel::kClosed && spawn_rate > 0 ? users / spawn_rate : 0.0; }
  // Multiplies every duration (ramp-up, run time, waits) by factor: the same shape, faster, for tests.
  void scale_time(double factor);
  // Throws std::invalid_argument naming the offending setting.
  void validate() const;
};

// Seed A's table III: bursty, medium, heavy. Returns nullopt for an unknown name.
std::optional<Scenario> builtin_scenario(std::string_view name);
std::vector<std::string> builtin_scenario_names();

// Locust's --run-time spelling: "90", "90s", "2m", "1h30m", plus "500ms"; returns seconds.
double parse_duration(std::string_view text);
// "MIN,MAX" in seconds (a single number means a constant wait).
std::pair<double, double> parse_wait(std::string_view text);
// Seconds as Locust's -t wants them, e.g. 120 -> "2m", 90 -> "90s", 0.5 -> "1s" (Locust has whole seconds).
std::string format_locust_duration(double seconds);

}  // namespace mlfaas::loadtest
