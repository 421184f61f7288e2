#pragma once
// Locust's CSV files (--csv PREFIX), with its exact file names, columns and value formats (locust/stats.py,
// StatsCSV and StatsCSVFileWriter, 2.x), so tools written for Locust read ours unchanged.
#include <string>

#include "loadtest/run_stats.h"

namespace mlfaas::loadtest {

std::string locust_stats_csv(const RunResult& result);          // PREFIX_stats.csv
std::string locust_stats_history_csv(const RunResult& result);  // PREFIX_stats_history.csv
std::string locust_failures_csv(const RunResult& result);       // PREFIX_failures.csv
std::string locust_exceptions_csv();                            // PREFIX_exceptions.csv (always empty here)

// Writes the four files; throws std::runtime_error naming a file that cannot be written.
void write_locust_csv_files(const RunResult& result, const std::string& prefix);

// A float the way Python's repr() prints it (shortest round trip, "12.0" not "12").
std::string python_float(double value);
// One CSV field quoted the way Python's csv module does by default (QUOTE_MINIMAL).
std::string csv_field(const std::string& value);

}  // namespace mlfaas::loadtest
