// pytorch_model.bin read through the restricted unpickler must give exactly the tensors of the same folder's
// model.safetensors (both written by save_pretrained from one state dict).
#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "engine/error.h"
#include "engine/formats/weights.h"

using namespace mlfaas;

namespace {

const std::string kModels = std::string(MLFAAS_TEST_DATA) + "/models/";

bool same_bytes(const TensorView& a, const TensorView& b) {
  return a.dtype == b.dtype && a.shape == b.shape && a.nbytes == b.nbytes &&
         std::memcmp(a.data, b.data, a.nbytes) == 0;
}

void expect_matches_safetensors(const std::string& dir, const std::map<std::string, std::string>& tied) {
  auto bin = open_pytorch_bin(dir + "/pytorch_model.bin");
  auto st = open_safetensors(dir + "/model.safetensors");
  ASSERT_EQ(bin->tensors().size(), st->tensors().size() + tied.size());
  for (const TensorView& t : st->tensors()) {
    const TensorView* b = bin->find(t.name);
    ASSERT_NE(b, nullptr) << t.name;
    EXPECT_TRUE(same_bytes(*b, t)) << t.name << " differs: " << shape_string(b->shape) << " vs " << shape_string(t.shape);
  }
  for (const auto& [key, tied_to] : tied) {
    const TensorView* b = bin->find(key);
    ASSERT_NE(b, nullptr) << key;
    EXPECT_TRUE(same_bytes(*b, st->require(tied_to))) << key << " differs from " << tied_to;
  }
}

}  // namespace

TEST(PytorchBin, ClassifierEqualsSafetensors) { expect_matches_safetensors(kModels + "bert-tiny-cls", {}); }

TEST(PytorchBin, MaskedLmEqualsSafetensorsIncludingTiedTensors) {
  expect_matches_safetensors(kModels + "bert-tiny-mlm",
                             {{"cls.predictions.decoder.weight", "bert.embeddings.word_embeddings.weight"},
                              {"cls.predictions.decoder.bias", "cls.predictions.bias"}});
}

TEST(PytorchBin, TiedTensorsShareTheFileBytes) {
  // Stored uncompressed, both keys of one storage point at the same place in the mapping: no copy was made.
  auto bin = open_pytorch_bin(kModels + "bert-tiny-mlm/pytorch_model.bin");
  EXPECT_EQ(bin->require("cls.predictions.decoder.weight").data,
            bin->require("bert.embeddings.word_embeddings.weight").data);
  EXPECT_EQ(bin->require("cls.predictions.decoder.bias").data, bin->require("cls.predictions.bias").data);
}

TEST(PytorchBin, ConvertsToF32WithShapeCheck) {
  auto bin = open_pytorch_bin(kModels + "bert-tiny-cls/pytorch_model.bin");
  auto st = open_safetensors(kModels + "bert-tiny-cls/model.safetensors");
  EXPECT_EQ(bin->f32("classifier.weight", {4, 64}), st->f32("classifier.weight", {4, 64}));
}

TEST(PytorchBin, ModelDirectoryPrefersSafetensorsAndBinPathSelectsBin) {
  auto dir = open_model_weights(kModels + "bert-tiny-mlm");
  EXPECT_EQ(dir->find("cls.predictions.decoder.weight"), nullptr);  // safetensors omits tied keys
  auto bin = open_model_weights(kModels + "bert-tiny-mlm/pytorch_model.bin");
  EXPECT_NE(bin->find("cls.predictions.decoder.weight"), nullptr);
}
