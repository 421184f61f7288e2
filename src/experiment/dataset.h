#pragma once
#include <string>
#include <vector>

#include "experiment/spec.h"

namespace mlfaas::experiment {

// The texts of a dataset: one CSV column (RFC 4180 quoting, multi-line fields) or one JSONL field. Empty texts
// are skipped. Throws FormatError naming the file (missing file, unknown column, a line that is not JSON).
std::vector<std::string> load_texts(const Dataset& dataset);

}  // namespace mlfaas::experiment
