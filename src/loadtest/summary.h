#pragma once
// The terminal output: a one-line description of the scenario, the final table (seed A's table IV columns
// plus requests/s), failures grouped by cause, and the live progress line.
#include <string>

#include "loadtest/run_stats.h"

namespace mlfaas::loadtest {

std::string describe_scenario(const Scenario& scenario);
std::string summary_table(const RunResult& result);
std::string failure_summary(const RunResult& result);  // empty when nothing failed
std::string progress_line(const RunResult& so_far);

}  // namespace mlfaas::loadtest
