// The shipped emotion model (models/emotion) run by the engine reproduces the training framework's (torch's)
// probabilities on 200 EmoContext test rows, and the tokenizer reproduces its input ids from the text.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

#include "engine/model.h"
#include "engine/tokenizer/wordpiece.h"

using namespace mlfaas;

TEST(EmotionModel, ReproducesTorchProbabilities) {
  const std::string dir = std::string(MLFAAS_TEST_DATA) + "/../../models/emotion";
  auto model = Model::load(dir);
  auto tok = WordPieceTokenizer::from_model_dir(dir);
  ASSERT_EQ(model->config().labels, (std::vector<std::string>{"others", "happy", "sad", "angry"}));
  std::ifstream in(std::string(MLFAAS_TEST_DATA) + "/emotion/expected_probs.jsonl");
  std::string line;
  int rows = 0, label_mismatch = 0;
  double max_dp = 0;
  Encoding enc;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    tok.encode(j["text"].get<std::string>(), 128, &enc);
    ASSERT_EQ(enc.input_ids, j["input_ids"].get<std::vector<int32_t>>()) << "row " << j["id"];
    auto logits = model->classify({enc.input_ids, enc.token_type_ids});
    float mx = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    std::vector<double> p(logits.size());
    for (size_t k = 0; k < p.size(); ++k) sum += p[k] = std::exp(double(logits[k]) - mx);
    auto want = j["probabilities"].get<std::vector<double>>();
    size_t best = 0, want_best = 0;
    for (size_t k = 0; k < p.size(); ++k) {
      p[k] /= sum;
      max_dp = std::max(max_dp, std::abs(p[k] - want[k]));
      if (p[k] > p[best]) best = k;
      if (want[k] > want[want_best]) want_best = k;
    }
    label_mismatch += best != want_best;
    ++rows;
  }
  std::printf("[ emotion  ] %d rows, max |dp| vs torch = %.3g, label mismatches %d\n", rows, max_dp, label_mismatch);
  EXPECT_EQ(rows, 200);
  EXPECT_LE(max_dp, 1e-4);
  EXPECT_EQ(label_mismatch, 0);
}
