// Every tiny HF fixture model reproduces transformers' outputs (expected.jsonl) within the README's 1e-4.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

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

// The same fixtures read from pytorch_model.bin (a copy of the directory without model.safetensors).
class PytorchBin : public ::testing::TestWithParam<const char*> {};

TEST_P(PytorchBin, MatchesTransformers) {
  const std::string src = fixture_dir(GetParam());
  try {
    open_pytorch_bin(src + "/pytorch_model.bin");
  } catch (const FormatError& e) {
    if (std::string(e.what()).find("not available in this build yet") != std::string::npos) {
      GTEST_SKIP() << "pytorch_model.bin reader not in this build yet";
    }
    throw;
  }
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
