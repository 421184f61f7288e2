// pytorch_model.bin read through the restricted unpickler must give exactly the tensors of the same folder's
// model.safetensors (both written by save_pretrained from one state dict).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "engine/error.h"
#include "engine/formats/weights.h"
#include "format_fixtures.h"

using namespace mlfaas;

namespace {

using fixtures::kModels;
using fixtures::Pickle;
using fixtures::TempDir;

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

TEST(PytorchBin, StoredStoragesAreUsedInPlace) {
  // Zero copy: every tensor lies inside one span no larger than the file (the mapping); copies would be scattered
  // over the heap.
  const std::string path = kModels + "bert-tiny-cls/pytorch_model.bin";
  auto bin = open_pytorch_bin(path);
  const std::byte* lo = bin->tensors().front().data;
  const std::byte* hi = lo;
  for (const TensorView& t : bin->tensors()) {
    lo = std::min(lo, t.data);
    hi = std::max(hi, t.data + t.nbytes);
  }
  EXPECT_LE(static_cast<size_t>(hi - lo), fixtures::read_file(path).size());
}

namespace {

std::string floats(std::initializer_list<float> v) { return fixtures::raw(std::vector<float>(v)); }

}  // namespace

TEST(PytorchBin, StridedTensorIsCopiedRowMajor) {
  // A saved transpose: storage [[1,2,3],[4,5,6]], tensor = its transpose, sizes (3,2), strides (1,3).
  TempDir tmp;
  Pickle p;
  p.proto(2).empty_dict().mark().unicode("t").tensor("FloatStorage", "0", 6, 0, {3, 2}, {1, 3}).setitems().stop();
  auto path = fixtures::write_zip(tmp / "t.bin", fixtures::torch_archive(p.bytes(), floats({1, 2, 3, 4, 5, 6})));
  auto w = open_pytorch_bin(path);
  EXPECT_EQ(w->f32("t", {3, 2}), (std::vector<float>{1, 4, 2, 5, 3, 6}));
}

TEST(PytorchBin, StorageOffsetAndSharedStorage) {
  // Two tensors slicing one storage, as torch.save writes views of one buffer.
  TempDir tmp;
  Pickle p;
  p.proto(2).empty_dict().mark();
  p.unicode("head").tensor("FloatStorage", "0", 6, 0, {2}, {1});
  p.unicode("tail").tensor("FloatStorage", "0", 6, 2, {2, 2}, {2, 1});
  p.setitems().stop();
  auto path = fixtures::write_zip(tmp / "t.bin", fixtures::torch_archive(p.bytes(), floats({1, 2, 3, 4, 5, 6})));
  auto w = open_pytorch_bin(path);
  EXPECT_EQ(w->f32("head", {2}), (std::vector<float>{1, 2}));
  EXPECT_EQ(w->f32("tail", {2, 2}), (std::vector<float>{3, 4, 5, 6}));
  EXPECT_EQ(w->require("tail").data, w->require("head").data + 8);
}

TEST(PytorchBin, CompressedStorageAndOtherPrefixAndByteOrder) {
  // torch never compresses storages, but a re-zipped file might be: it is read into memory instead of mapped.
  TempDir tmp;
  std::vector<float> values(256);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 4) - 1.5f;
  Pickle p;
  p.proto(2).empty_dict().mark().unicode("w").tensor("FloatStorage", "0", 256, 0, {16, 16}, {16, 1}).setitems().stop();
  auto entries = fixtures::torch_archive(p.bytes(), fixtures::raw(values), "pytorch_model/");
  entries[1].compress = true;
  entries.push_back({"pytorch_model/byteorder", "little"});
  const std::string path = fixtures::write_zip(tmp / "t.bin", entries);
  {
    int err = 0;
    zip_t* z = zip_open(path.c_str(), ZIP_RDONLY, &err);
    ASSERT_NE(z, nullptr);
    zip_stat_t st;
    ASSERT_EQ(zip_stat(z, "pytorch_model/data/0", 0, &st), 0);
    EXPECT_EQ(st.comp_method, ZIP_CM_DEFLATE);  // the test really exercises the copying path
    zip_discard(z);
  }
  auto w = open_pytorch_bin(path);
  EXPECT_EQ(w->f32("w", {16, 16}), values);
}

TEST(PytorchBin, StorageTypesMapToDtypes) {
  TempDir tmp;
  Pickle p;
  p.proto(2).empty_dict().mark();
  p.unicode("h").tensor("HalfStorage", "0", 2, 0, {2}, {1});
  p.unicode("b").tensor("BFloat16Storage", "1", 2, 0, {2}, {1});
  p.unicode("l").tensor("LongStorage", "2", 1, 0, {1}, {1});
  p.setitems().stop();
  std::vector<fixtures::ZipEntry> entries = {
      {"a/data.pkl", p.bytes()},
      {"a/data/0", fixtures::raw(std::vector<uint16_t>{0x3c00, 0xc000})},  // f16 1, -2
      {"a/data/1", fixtures::raw(std::vector<uint16_t>{0x3f80, 0x4040})},  // bf16 1, 3
      {"a/data/2", fixtures::raw(std::vector<int64_t>{7})},
  };
  auto w = open_pytorch_bin(fixtures::write_zip(tmp / "t.bin", entries));
  EXPECT_EQ(w->require("h").dtype, DType::F16);
  EXPECT_EQ(w->require("b").dtype, DType::BF16);
  EXPECT_EQ(w->require("l").dtype, DType::I64);
  EXPECT_EQ(w->f32("h", {2}), (std::vector<float>{1, -2}));
  EXPECT_EQ(w->f32("b", {2}), (std::vector<float>{1, 3}));
}

TEST(PytorchBin, OrderedDictWithMetadataParameterAndProtocol4Opcodes) {
  // torch.save(model.state_dict()): an OrderedDict whose _metadata arrives through BUILD; nn.Parameter through
  // _rebuild_parameter; newer picklers use FRAME, STACK_GLOBAL and MEMOIZE.
  TempDir tmp;
  Pickle p;
  p.proto(4).frame(0).stack_global("collections", "OrderedDict").memoize().empty_tuple().reduce().memoize();
  p.mark();
  p.unicode("p").global("torch._utils", "_rebuild_parameter");
  p.tensor("FloatStorage", "0", 3, 0, {3}, {1}).newfalse().global("collections", "OrderedDict").empty_tuple().reduce();
  p.tuple3().reduce();
  p.setitems();
  p.empty_dict().short_unicode("_metadata").binget(0).empty_tuple().reduce();
  p.short_unicode("").empty_dict().short_unicode("version").integer(1).setitem().setitem();
  p.setitem().build().stop();
  auto w = open_pytorch_bin(fixtures::write_zip(tmp / "t.bin", fixtures::torch_archive(p.bytes(), floats({1, 2, 3}))));
  ASSERT_EQ(w->tensors().size(), 1u);
  EXPECT_EQ(w->f32("p", {3}), (std::vector<float>{1, 2, 3}));
}

TEST(PytorchBin, InMemoryEntryPointMatchesFile) {
  const std::string bytes = fixtures::read_file(kModels + "bert-tiny-cls/pytorch_model.bin");
  auto mem = open_pytorch_bin_bytes(std::as_bytes(std::span(bytes.data(), bytes.size())), "mem.bin");
  auto file = open_pytorch_bin(kModels + "bert-tiny-cls/pytorch_model.bin");
  ASSERT_EQ(mem->tensors().size(), file->tensors().size());
  for (const TensorView& t : file->tensors()) EXPECT_TRUE(same_bytes(mem->require(t.name), t)) << t.name;
}
