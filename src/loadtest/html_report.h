#pragma once
// The HTML report: one self-contained file (inline CSS, charts as inline SVG drawn here, no script), so it
// opens offline and can be attached or archived as is.
#include <string>

#include "loadtest/run_stats.h"

namespace mlfaas::loadtest {

std::string html_report(const RunResult& result);
void write_html_report(const RunResult& result, const std::string& path);

}  // namespace mlfaas::loadtest
