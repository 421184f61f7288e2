#pragma once
// CloudWatch alarm evaluation, as documented in "Configuring how CloudWatch alarms treat missing data":
// datapoints per Period are computed from raw samples with the alarm's Statistic; each evaluation looks at an
// evaluation range of the most recent periods (a few more than EvaluationPeriods), and decides OK / ALARM /
// INSUFFICIENT_DATA from the M-of-N rule (DatapointsToAlarm of EvaluationPeriods) and TreatMissingData.
#include <optional>
#include <string>
#include <vector>

namespace mlfaas::alarm {

enum class State { Ok, Alarm, InsufficientData };
enum class Comparison { GreaterThanOrEqual, GreaterThan, LessThan, LessThanOrEqual };
enum class MissingData { Missing, NotBreaching, Breaching, Ignore };

const char* state_name(State s);  // "OK", "ALARM", "INSUFFICIENT_DATA"

// Statistic of one period's samples: SampleCount, Average, Sum, Minimum, Maximum, or a percentile pNN[.N].
struct Statistic {
  enum class Kind { SampleCount, Average, Sum, Minimum, Maximum, Percentile } kind = Kind::Average;
  double percentile = 0;  // 0..100 for Percentile
  // Parses a CloudWatch Statistic ("Average") or ExtendedStatistic ("p99", "p99.9"); throws
  // std::invalid_argument naming the value otherwise.
  static Statistic parse(const std::string& text);
  std::string name() const;
  // nullopt for an empty period (a missing datapoint). Percentiles use the nearest-rank method.
  std::optional<double> apply(std::vector<double> samples) const;
};

struct AlarmRule {
  std::string name;
  Statistic statistic;
  int period_s = 300;
  int evaluation_periods = 1;   // N
  int datapoints_to_alarm = 1;  // M (defaults to N when absent in a template)
  double threshold = 0;
  Comparison comparison = Comparison::GreaterThan;
  MissingData missing = MissingData::Missing;
  // Percentile alarms with too few samples (fewer than 10/(1-p) for p >= 0.5) are skipped when true
  // (EvaluateLowSampleCountPercentile = ignore): the state is kept for that evaluation.
  bool ignore_low_sample_percentiles = false;

  // How many of the most recent periods an evaluation retrieves (CloudWatch documents 5 for N = 3).
  int evaluation_range() const { return evaluation_periods + 2; }
  bool breaches(double value) const;
};

Comparison parse_comparison(const std::string& text);  // "GreaterThanThreshold", ... ; throws invalid_argument
MissingData parse_missing_data(const std::string& text);  // "missing", "notBreaching", "breaching", "ignore"

// One evaluation. `datapoints` are the evaluation range, oldest first, nullopt = missing (its size may be smaller
// than evaluation_range() right after start-up). Returns the new state; `current` matters only when the rule keeps
// the current state (TreatMissingData = ignore with nothing to decide on).
State evaluate(const AlarmRule& rule, const std::vector<std::optional<double>>& datapoints, State current);

}  // namespace mlfaas::alarm
