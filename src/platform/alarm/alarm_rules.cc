#include "platform/alarm/alarm_rules.h"

#include "platform/metrics/metrics_store.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

namespace mlfaas::alarm {

const char* state_name(State s) {
  switch (s) {
    case State::Ok: return "OK";
    case State::Alarm: return "ALARM";
    case State::InsufficientData: return "INSUFFICIENT_DATA";
  }
  return "?";
}

Statistic Statistic::parse(const std::string& t) {
  Statistic s;
  if (t == "SampleCount") s.kind = Kind::SampleCount;
  else if (t == "Average") s.kind = Kind::Average;
  else if (t == "Sum") s.kind = Kind::Sum;
  else if (t == "Minimum") s.kind = Kind::Minimum;
  else if (t == "Maximum") s.kind = Kind::Maximum;
  else if (t.size() >= 2 && (t[0] == 'p' || t[0] == 'P')) {
    char* end = nullptr;
    double p = std::strtod(t.c_str() + 1, &end);
    if (end == t.c_str() + 1 || *end != '\0' || !(p >= 0 && p <= 100)) {
      throw std::invalid_argument("statistic '" + t + "' is not a percentile p0..p100");
    }
    s.kind = Kind::Percentile;
    s.percentile = p;
  } else {
    throw std::invalid_argument("unknown statistic '" + t +
                                "' (expected SampleCount, Average, Sum, Minimum, Maximum or pNN)");
  }
  return s;
}

std::string Statistic::name() const {
  switch (kind) {
    case Kind::SampleCount: return "SampleCount";
    case Kind::Average: return "Average";
    case Kind::Sum: return "Sum";
    case Kind::Minimum: return "Minimum";
    case Kind::Maximum: return "Maximum";
    case Kind::Percentile: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "p%g", percentile);
      return buf;
    }
  }
  return "?";
}

std::optional<double> Statistic::apply(std::vector<double> v) const {
  if (v.empty()) return std::nullopt;
  switch (kind) {
    case Kind::SampleCount: return static_cast<double>(v.size());
    case Kind::Sum: {
      double s = 0;
      for (double x : v) s += x;
      return s;
    }
    case Kind::Average: {
      double s = 0;
      for (double x : v) s += x;
      return s / static_cast<double>(v.size());
    }
    case Kind::Minimum: return *std::min_element(v.begin(), v.end());
    case Kind::Maximum: return *std::max_element(v.begin(), v.end());
    case Kind::Percentile: {
std::sort(v.begin(), v.end());
      return metrics::nearest_rank_percentile(v, percentile);
    }
  }
  return std::nullopt;
}

bool AlarmRule::breaches(double v) const {
  switch (comparison) {
    case Comparison::GreaterThanOrEqual: return v >= threshold;
    case Comparison::GreaterThan: return v > threshold;
    case Comparison::LessThan: return v < threshold;
    case Comparison::LessThanOrEqual: return v <= threshold;
  }
  return false;
}

Comparison parse_comparison(const std::string& t) {
  if (t == "GreaterThanOrEqualToThreshold") return Comparison::GreaterThanOrEqual;
  if (t == "GreaterThanThreshold") return Comparison::GreaterThan;
  if (t == "LessThanThreshold") return Comparison::LessThan;
  if (t == "LessThanOrEqualToThreshold") return Comparison::LessThanOrEqual;
  throw std::invalid_argument("unsupported ComparisonOperator '" + t +
                              "' (expected GreaterThanOrEqualToThreshold, GreaterThanThreshold, LessThanThreshold or "
                              "LessThanOrEqualToThreshold)");
}

MissingData parse_missing_data(const std::string& t) {
  if (t == "missing") return MissingData::Missing;
  if (t == "notBreaching") return MissingData::NotBreaching;
  if (t == "breaching") return MissingData::Breaching;
  if (t == "ignore") return MissingData::Ignore;
  throw std::invalid_argument("unknown TreatMissingData '" + t + "' (expected missing, notBreaching, breaching or ignore)");
}

State evaluate(const AlarmRule& rule, const std::vector<std::optional<double>>& datapoints, State current) {
  const int n = std::max(1, rule.evaluation_periods);
  const int m = std::clamp(rule.datapoints_to_alarm, 1, n);
  const int range = static_cast<int>(datapoints.size());

  // Real datapoints in the range, newest first, with their position counted from the newest period (0).
  struct Real {
    bool breaching;
    int age;
  };
  std::vector<Real> real;
  for (int i = range - 1; i >= 0; --i) {
    if (datapoints[i].has_value()) real.push_back({rule.breaches(*datapoints[i]), range - 1 - i});
  }

  // Enough real datapoints: the most recent N of them decide; missing-data treatment is not consulted.
  if (static_cast<int>(real.size()) >= n) {
    int breaching = 0;
    for (int i = 0; i < n; ++i) breaching += real[i].breaching;
    return breaching >= m ? State::Alarm : State::Ok;
  }

  // Too few: every real datapoint in the range counts, and missing ones are filled in only as often as needed.
  const int fill = n - static_cast<int>(real.size());
  int breaching = 0, not_breaching = 0;
  for (const Real& r : real) (r.breaching ? breaching : not_breaching) += 1;
  switch (rule.missing) {
    case MissingData::Breaching:
      return breaching + fill >= m ? State::Alarm : State::Ok;
    case MissingData::NotBreaching:
      return breaching >= m ? State::Alarm : State::Ok;
    case MissingData::Ignore:
      if (breaching >= m) return State::Alarm;
      if (not_breaching > 0) return State::Ok;
      return current;
    case MissingData::Missing:
      if (real.empty()) return State::InsufficientData;
      if (breaching >= m) return State::Alarm;
      if (not_breaching > 0) return State::Ok;
      // Only breaching datapoints, fewer than M. CloudWatch's table: ALARM when they are all older than the last
      // N periods (the evaluated window is then led by a breaching point with no non-breaching one after it),
      // INSUFFICIENT_DATA while the recent periods still hold them.
      return real.front().age >= n ? State::Alarm : State::InsufficientData;
  }
  return current;
}

}  // namespace mlfaas::alarm
