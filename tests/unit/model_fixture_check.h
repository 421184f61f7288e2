#pragma once
// Runs a model fixture (tests/data/models/NAME: an HF model directory plus expected.jsonl written by transformers)
// through the engine and measures the largest absolute difference from HF's outputs. Shared by the model and
// kernel tests.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "engine/model.h"

namespace mlfaas::testing {

inline std::string fixture_dir(const std::string& name) { return std::string(MLFAAS_TEST_DATA) + "/models/" + name; }

inline std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  }
  return rows;
}

struct FixtureResult {
  double max_diff = 0;
  int rows = 0;
  int label_mismatches = 0;  // argmax / top-5 id disagreements
};

inline std::vector<int> top_k(const float* v, int n, int k) {
  std::vector<int> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int a, int b) { return v[a] > v[b]; });
  idx.resize(k);
  return idx;
}

inline void diff_into(const std::vector<float>& got, const nlohmann::json& want, double* max_diff) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    *max_diff = std::max(*max_diff, std::fabs(static_cast<double>(got[i]) - want[i].get<double>()));
  }
}

inline std::vector<float> flatten(const nlohmann::json& rows) {
  std::vector<float> out;
  for (const auto& r : rows) {
    for (const auto& v : r) out.push_back(v.get<float>());
  }
  return out;
}

// Runs every row of the fixture's expected.jsonl on `model`.
inline FixtureResult check_fixture(Model& model, const std::string& name) {
  FixtureResult res;
  for (const auto& row : read_jsonl(fixture_dir(name) + "/expected.jsonl")) {
    const auto ids = row.at("input_ids").get<std::vector<int32_t>>();
    const auto types = row.at("token_type_ids").get<std::vector<int32_t>>();
    const TokenIds seq{ids, types};
    ++res.rows;
    switch (model.task()) {
      case ModelTask::Classification: {
        const std::vector<float> logits = model.classify(seq);
        diff_into(logits, row.at("logits"), &res.max_diff);
        const auto& labels = model.config().labels;
        const int best = top_k(logits.data(), static_cast<int>(logits.size()), 1)[0];
        if (labels[best] != row.at("predicted_label").get<std::string>()) ++res.label_mismatches;
        break;
      }
      case ModelTask::Base: {
        std::vector<float> hidden, pooled;
        model.hidden_states(seq, &hidden, &pooled);
        std::vector<float> want_hidden = flatten(row.at("last_hidden_state"));
        EXPECT_EQ(hidden.size(), want_hidden.size());
        for (size_t i = 0; i < std::min(hidden.size(), want_hidden.size()); ++i) {
          res.max_diff = std::max(res.max_diff, std::fabs(static_cast<double>(hidden[i]) - want_hidden[i]));
        }
        diff_into(pooled, row.at("pooler_output"), &res.max_diff);
        break;
      }
      case ModelTask::MaskedLM: {
        const auto positions = row.at("mask_positions").get<std::vector<int>>();
        const std::vector<float> logits = model.masked_lm_logits(seq, positions);
        diff_into(logits, nlohmann::json(flatten(row.at("mask_logits"))), &res.max_diff);
        const int V = model.config().vocab_size;
        for (size_t m = 0; m < positions.size(); ++m) {
          const auto want = row.at("top5_ids")[m].get<std::vector<int>>();
          if (top_k(logits.data() + m * V, V, 5) != want) ++res.label_mismatches;
        }
        break;
      }
    }
  }
  return res;
}

}  // namespace mlfaas::testing
