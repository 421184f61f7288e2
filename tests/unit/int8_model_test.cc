// int8 models end to end on the tiny fixtures: every architecture loads and runs at int8, the logits stay near fp32
// (and are not fp32's: the int8 path really ran), a batch equals single runs, a 2-thread model gives what a 1-thread
// one does (the GEMM-level split is tested on shapes big enough to split in int8_gemm_test), and every kernel level
// this CPU supports gives the portable level's logits.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "engine/kernels/isa.h"
#include "engine/model.h"

namespace mlfaas {
namespace {

std::vector<std::vector<int32_t>> sample_sequences(int vocab) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> id(1000, vocab - 1);
  std::vector<std::vector<int32_t>> out;
  for (int len : {2, 7, 19, 33}) {
    std::vector<int32_t> s(len);
    for (auto& x : s) x = id(rng);
    out.push_back(s);
  }
  return out;
}

class Int8Model : public ::testing::TestWithParam<std::string> {};

TEST_P(Int8Model, NearFp32ThreadIndependentAndBatchable) {
  const std::string dir = std::string(MLFAAS_TEST_DATA) + "/models/" + GetParam();
  ModelOptions fp32, int8, int8_2t;
  int8.precision = int8_2t.precision = "int8";
  int8_2t.threads = 2;
  auto ref = Model::load(dir, fp32);
  auto q1 = Model::load(dir, int8);
  auto q2 = Model::load(dir, int8_2t);
  EXPECT_EQ(q1->precision(), "int8");
  const auto seqs = sample_sequences(ref->config().vocab_size);
  std::vector<TokenIds> batch;
  double max_diff = 0;
  std::vector<std::vector<float>> singles;
  for (const auto& s : seqs) {
    const TokenIds t{s, {}};
    batch.push_back(t);
    const auto a = ref->classify(t);
    const auto b = q1->classify(t);
    EXPECT_EQ(b, q2->classify(t)) << "2 threads differ from 1";
    for (size_t i = 0; i < a.size(); ++i) max_diff = std::max(max_diff, std::fabs(double(a[i]) - b[i]));
    singles.push_back(b);
  }
  // Loose: these random-weight fixtures are 32 wide, so few terms average the quantization noise out.
  EXPECT_LT(max_diff, 0.5);
  EXPECT_GT(max_diff, 1e-6);
  const auto batched = q1->classify_batch(batch);
  ASSERT_EQ(batched.size(), singles.size());
  for (size_t i = 0; i < singles.size(); ++i) {
    for (size_t j = 0; j < singles[i].size(); ++j) EXPECT_NEAR(batched[i][j], singles[i][j], 1e-5);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Int8Model,
                         ::testing::Values("bert-tiny-cls", "mobilebert-tiny-cls", "mobilebert-tiny-cls-layernorm"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) c = c == '-' ? '_' : c;
                           return n;
                         });

class Int8ModelAtIsa : public ::testing::TestWithParam<Isa> {};

TEST_P(Int8ModelAtIsa, MatchesPortableLevel) {
  // The int8 GEMMs are exact at every level and their epilogues round as the scalar one does, so only the fp32
  // parts (attention, norms, heads) may differ, by float rounding (~1e-6 here). Anything more moves a row's
  // quantization range in the next layer and shows up far above this bound (an FMA-contracted epilogue: 0.14).
  const std::string level(isa_name(GetParam()));
  for (const char* name : {"bert-tiny-cls", "mobilebert-tiny-cls"}) {
    const std::string dir = std::string(MLFAAS_TEST_DATA) + "/models/" + name;
    auto portable = Model::load(dir, ModelOptions{.threads = 1, .isa = "portable", .precision = "int8"});
    auto at_level = Model::load(dir, ModelOptions{.threads = 1, .isa = level, .precision = "int8"});
    ASSERT_EQ(at_level->isa(), GetParam());
    for (const auto& s : sample_sequences(portable->config().vocab_size)) {
      const TokenIds t{s, {}};
      const auto want = portable->classify(t);
      const auto got = at_level->classify(t);
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < want.size(); ++i) {
        EXPECT_NEAR(got[i], want[i], 1e-4) << name << " at " << level << ", length " << s.size();
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Supported, Int8ModelAtIsa, ::testing::ValuesIn(supported_isas()),
                         [](const auto& info) { return std::string(isa_name(info.param)); });

TEST(Int8ModelOptions, UnknownPrecisionIsRefused) {
  ModelOptions o;
  o.precision = "int4";
  EXPECT_THROW(Model::load(std::string(MLFAAS_TEST_DATA) + "/models/bert-tiny-cls", o), std::invalid_argument);
}

TEST(Int8ModelOptions, MaskedLmAndBaseModelsRunAtInt8) {
  ModelOptions o;
  o.precision = "int8";
  auto mlm = Model::load(std::string(MLFAAS_TEST_DATA) + "/models/bert-tiny-mlm", o);
  const std::vector<int32_t> ids = {2, 1500, 4, 1600, 3};
  const std::vector<int> pos = {2};
  const auto logits = mlm->masked_lm_logits({ids, {}}, pos);
  ASSERT_EQ(static_cast<int>(logits.size()), mlm->config().vocab_size);
  for (float x : logits) ASSERT_TRUE(std::isfinite(x));
  auto base = Model::load(std::string(MLFAAS_TEST_DATA) + "/models/bert-tiny-base", o);
  std::vector<float> hidden, pooled;
  base->hidden_states({ids, {}}, &hidden, &pooled);
  EXPECT_EQ(hidden.size(), ids.size() * base->config().hidden_size);
}

}  // namespace
}  // namespace mlfaas
