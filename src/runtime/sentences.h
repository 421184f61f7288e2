#pragma once
// The request contract of seed A's API and seed B's SNS messages, shared by every text handler:
// {"sentence": s} or {"text": s} (one input), {"batch": [...]} or seed B's {"Batch": [...]} (many), where each
// batch item is a string or an object with "sentence"/"text". Violations throw BadRequest naming the field.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace mlfaas::runtime {

struct SentenceInput {
  std::vector<std::string> sentences;
  bool is_batch = false;
};

// Batches above this are refused: one Lambda invocation must finish within its timeout.
constexpr size_t kMaxBatch = 10000;

SentenceInput extract_sentences(const nlohmann::json& input);

}  // namespace mlfaas::runtime
