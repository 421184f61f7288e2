// Every tiny HF fixture model reproduces transformers' outputs (expected.jsonl) within the README's 1e-4.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "engine/error.h"
#include "engine/formats/weights.h"
#include "model_fixture_check.h"

namespace mlfaas {
namespace {

using testing::check_fixture;
using testing::fixture_dir;

constexpr double kTolerance = 1e-4;

class Fixture : public ::testing::TestWithParam<const char*> {};

TEST_P(Fixture, MatchesTransformers) {
  auto model = Model::load(fixture_dir(GetParam()));
  const auto res = check_fixture(*model, GetParam());
  std::printf("[ fixture  ] %-30s isa=%-8s rows=%d max|diff|=%.3g mismatches=%d\n", GetParam(),
              std::string(isa_name(model->isa())).c_str(), res.rows, res.max_diff, res.label_mismatches);
  EXPECT_GT(res.rows, 30);
  EXPECT_LE(res.max_diff, kTolerance);
  EXPECT_EQ(res.label_mismatches, 0);
}

INSTANTIATE_TEST_SUITE_P(Models, Fixture,
                         ::testing::Values("bert-tiny-cls", "bert-tiny-cls-f16", "bert-tiny-cls-bf16", "bert-tiny-base",
                                           "bert-tiny-mlm", "mobilebert-tiny-cls", "mobilebert-tiny-cls-layernorm"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

// Padding-free batches: all rows of a fixture in one call (more tokens than one encoder pass holds, so it is split
// into groups) give HF's logits too, and the same as one at a time.
class Batched : public ::testing::TestWithParam<const char*> {};

TEST_P(Batched, MatchesTransformersAndSingleRuns) {
  for (const int threads : {1, 2}) {
    ModelOptions opt;
    opt.threads = threads;
    auto model = Model::load(fixture_dir(GetParam()), opt);
    const auto rows = testing::read_jsonl(fixture_dir(GetParam()) + "/expected.jsonl");
    std::vector<std::vector<int32_t>> ids, types;
    size_t tokens = 0;
    for (const auto& row : rows) {
      ids.push_back(row.at("input_ids").get<std::vector<int32_t>>());
      types.push_back(row.at("token_type_ids").get<std::vector<int32_t>>());
      tokens += ids.back().size();
    }
    ASSERT_GT(tokens, 512u) << "the batch should need more than one encoder pass";
    std::vector<TokenIds> batch;
    for (size_t i = 0; i < ids.size(); ++i) batch.push_back({ids[i], i % 2 ? std::span<const int32_t>() : types[i]});
    const auto logits = model->classify_batch(batch);
    ASSERT_EQ(logits.size(), rows.size());
    double worst = 0, worst_vs_single = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto want = rows[i].at("logits").get<std::vector<double>>();
      const auto single = model->classify(batch[i]);
      ASSERT_EQ(logits[i].size(), want.size());
      for (size_t j = 0; j < want.size(); ++j) {
        worst = std::max(worst, std::fabs(logits[i][j] - want[j]));
        worst_vs_single = std::max(worst_vs_single, static_cast<double>(std::fabs(logits[i][j] - single[j])));
      }
    }
    std::printf("[ batch    ] %-30s threads=%d rows=%zu tokens=%zu max|diff| vs HF=%.3g vs single=%.3g\n", GetParam(),
                threads, rows.size(), tokens, worst, worst_vs_single);
    EXPECT_LE(worst, kTolerance);
    EXPECT_LE(worst_vs_single, 1e-5);
  }
}

INSTANTIATE_TEST_SUITE_P(Models, Batched, ::testing::Values("bert-tiny-cls", "mobilebert-tiny-cls",
                                                             "mobilebert-tiny-cls-layernorm"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

TEST(ModelErrors, BadInputsAreInputErrors) {
  auto model = Model::load(fixture_dir("mobilebert-tiny-cls"));
  const std::vector<int32_t> ok = {12, 40, 13}, bad_id = {12, 2500, 13}, negative = {12, -1, 13}, empty;
  const std::vector<int32_t> bad_types = {0, 2, 0}, short_types = {0, 0};
  std::vector<int32_t> too_long(129, 40);
  EXPECT_NO_THROW(model->classify({ok, {}}));
  EXPECT_THROW(model->classify({bad_id, {}}), InputError);
  EXPECT_THROW(model->classify({negative, {}}), InputError);
  EXPECT_THROW(model->classify({empty, {}}), InputError);
  EXPECT_THROW(model->classify({too_long, {}}), InputError);
  EXPECT_THROW(model->classify({ok, bad_types}), InputError);
  EXPECT_THROW(model->classify({ok, short_types}), InputError);
  std::vector<TokenIds> batch = {{ok, {}}, {bad_id, {}}};
  EXPECT_THROW(model->classify_batch(batch), InputError);
  std::vector<float> hidden;
  EXPECT_THROW(model->masked_lm_logits({ok, {}}, std::vector<int>{1}), InputError);  // not a masked LM
  auto mlm = Model::load(fixture_dir("bert-tiny-mlm"));
  EXPECT_THROW(mlm->masked_lm_logits({ok, {}}, std::vector<int>{3}), InputError);  // position past the end
  EXPECT_THROW(mlm->classify({ok, {}}), InputError);                                 // no classifier
}

TEST(ModelErrors, BrokenModelDirectoriesAreFormatErrors) {
  namespace fs = std::filesystem;
  const std::string dir = std::string(MLFAAS_BINARY_DIR) + "/test-broken-model";
  fs::remove_all(dir);
  fs::create_directories(dir);
  EXPECT_THROW(Model::load(dir + "/nope"), FormatError);
  EXPECT_THROW(Model::load(dir), FormatError);  // no config.json
  fs::copy_file(fixture_dir("bert-tiny-cls") + "/config.json", dir + "/config.json");
  EXPECT_THROW(Model::load(dir), FormatError);  // no weights
  // Weights of another architecture: a missing tensor, named in the message.
  fs::copy_file(fixture_dir("mobilebert-tiny-cls") + "/model.safetensors", dir + "/model.safetensors");
  try {
    Model::load(dir);
    ADD_FAILURE() << "loaded MobileBERT weights as BERT";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("missing tensor"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("model.safetensors"), std::string::npos) << e.what();
  }
  // Right names, wrong shape: a config with a hidden size that does not match its tensors.
  fs::remove(dir + "/model.safetensors");
  fs::copy_file(fixture_dir("bert-tiny-cls") + "/model.safetensors", dir + "/model.safetensors");
  std::string config;
  {
    std::ifstream in(dir + "/config.json");
    config.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string key = "\"intermediate_size\": 256";
  const auto at = config.find(key);
  ASSERT_NE(at, std::string::npos);
  config.replace(at, key.size(), "\"intermediate_size\": 128");
  {
    std::ofstream out(dir + "/config.json", std::ios::trunc);
    out << config;
  }
  try {
    Model::load(dir);
    ADD_FAILURE() << "loaded tensors of the wrong shape";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("shape"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

// The same fixtures read from pytorch_model.bin (a copy of the directory without model.safetensors).
class PytorchBin : public ::testing::TestWithParam<const char*> {};

TEST_P(PytorchBin, MatchesTransformers) {
  const std::string src = fixture_dir(GetParam());
  const std::string dir = std::string(MLFAAS_BINARY_DIR) + "/test-bin-" + GetParam();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  for (const char* f : {"config.json", "vocab.txt", "pytorch_model.bin"}) {
    std::filesystem::copy_file(src + "/" + f, dir + "/" + f);
  }
  auto model = Model::load(dir);
  const auto res = check_fixture(*model, GetParam());
  std::printf("[ fixture  ] %-30s (pytorch_model.bin) rows=%d max|diff|=%.3g mismatches=%d\n", GetParam(), res.rows,
              res.max_diff, res.label_mismatches);
  EXPECT_LE(res.max_diff, kTolerance);
  EXPECT_EQ(res.label_mismatches, 0);
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Models, PytorchBin, ::testing::Values("bert-tiny-cls", "bert-tiny-mlm"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace mlfaas
