#include "loadtest/scenario.h"

#include <charconv>
#include <cmath>
#include <stdexcept>

namespace mlfaas::loadtest {

namespace {
double parse_number(std::string_view text, const char* what) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value))
    throw std::invalid_argument(std::string("invalid ") + what + " '" + std::string(text) + "'");
  return value;
}
}  // namespace

std::optional<Scenario> builtin_scenario(std::string_view name) {
  // Users ramp up at users / ramp-up seconds, as seed A's Locust runs did (3 users in 3 s, 50 in 25 s, 100 in 50 s).
  Scenario s;
  s.model = LoadModel::kClosed;
  if (name == "bursty") {
    s.users = 3, s.spawn_rate = 1.0, s.run_time_s = 120, s.wait_min_s = 5, s.wait_max_s = 10;
  } else if (name == "medium") {
    s.users = 50, s.spawn_rate = 2.0, s.run_time_s = 120, s.wait_min_s = 3, s.wait_max_s = 5;
  } else if (name == "heavy") {
    s.users = 100, s.spawn_rate = 2.0, s.run_time_s = 60, s.wait_min_s = 1, s.wait_max_s = 3;
  } else {
    return std::nullopt;
  }
  s.name = std::string(name);
  return s;
}

std::vector<std::string> builtin_scenario_names() { return {"bursty", "medium", "heavy"}; }

void Scenario::scale_time(double factor) {
  if (!(factor > 0)) throw std::invalid_argument("time scale must be positive");
  run_time_s *= factor;
  wait_min_s *= factor;
  wait_max_s *= factor;
  spawn_rate /= factor;  // same number of users over a proportionally shorter ramp
}

void Scenario::validate() const {
  if (!(run_time_s > 0)) throw std::invalid_argument("run time must be positive");
  if (model == LoadModel::kClosed) {
    if (users < 1) throw std::invalid_argument("users must be at least 1");
    if (!(spawn_rate > 0)) throw std::invalid_argument("spawn rate must be positive");
    if (wait_min_s < 0 || wait_max_s < wait_min_s)
      throw std::invalid_argument("wait must be MIN,MAX with 0 <= MIN <= MAX");
  } else {
    if (!(rate > 0)) throw std::invalid_argument("rate must be positive");
    if (connections < 1) throw std::invalid_argument("connections must be at least 1");
  }
}

double parse_duration(std::string_view text) {
  if (text.empty()) throw std::invalid_argument("empty duration");
  const std::string original(text);
  bool all_digits = text.find_first_not_of("0123456789.") == std::string_view::npos;
  if (all_digits) return parse_number(text, "duration");
  double total = 0;
  bool any = false;
  while (!text.empty()) {
    const size_t unit_at = text.find_first_not_of("0123456789.");
    if (unit_at == 0 || unit_at == std::string_view::npos)
      throw std::invalid_argument("invalid duration '" + original + "' (use e.g. 90s, 2m, 1h30m, 500ms)");
    const double value = parse_number(text.substr(0, unit_at), "duration");
    text.remove_prefix(unit_at);
    double unit;
    if (text.substr(0, 2) == "ms")
      unit = 0.001, text.remove_prefix(2);
    else if (text[0] == 'h')
      unit = 3600, text.remove_prefix(1);
    else if (text[0] == 'm')
      unit = 60, text.remove_prefix(1);
    else if (text[0] == 's')
      unit = 1, text.remove_prefix(1);
    else
      throw std::invalid_argument("invalid duration '" + original + "' (use e.g. 90s, 2m, 1h30m, 500ms)");
    total += value * unit;
    any = true;
  }
  if (!any) throw std::invalid_argument("invalid duration '" + original + "'");
  return total;
}

std::pair<double, double> parse_wait(std::string_view text) {
  const size_t comma = text.find(',');
  if (comma == std::string_view::npos) {
    const double v = parse_duration(text);
    return {v, v};
  }
  const double lo = parse_duration(text.substr(0, comma));
  const double hi = parse_duration(text.substr(comma + 1));
  if (hi < lo) throw std::invalid_argument("wait '" + std::string(text) + "': MAX is below MIN");
  return {lo, hi};
}

std::string format_locust_duration(double seconds) {
  const long whole = std::max(1L, std::lround(seconds));
  if (whole % 3600 == 0) return std::to_string(whole / 3600) + "h";
  if (whole % 60 == 0) return std::to_string(whole / 60) + "m";
  return std::to_string(whole) + "s";
}

}  // namespace mlfaas::loadtest
