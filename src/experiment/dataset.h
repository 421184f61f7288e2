#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "experiment/spec.h"

namespace mlfaas::experiment {

// The texts of a dataset: one CSV column (RFC 4180 quoting, multi-line fields) or one JSONL field. Empty texts
// are skipped. Throws FormatError naming the file (missing file, unknown column, a line that is not JSON).
std::vector<std::string> load_texts(const Dataset& dataset);

// The items the batches are made of: load_texts' strings, except that a JSONL field may also hold an object,
// which is sent as it is (ARC's question {"stem", "choices"}, which the `llm` handler formats as the study did).
std::vector<nlohmann::json> load_items(const Dataset& dataset);

}  // namespace mlfaas::experiment
