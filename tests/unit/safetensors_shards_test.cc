// Sharded safetensors (model.safetensors.index.json): tiny-llama's model.safetensors split into two shards at test
// time reads back tensor for tensor equal to the unsharded file, through open_model_weights on the directory; an
// index that lists a tensor its shard lacks, or names a shard outside the directory, is a FormatError.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>

#include "engine/error.h"
#include "engine/formats/weights.h"
#include "format_fixtures.h"

using namespace mlfaas;
using fixtures::TempDir;

namespace {

const std::string kTinyLlama = std::string(MLFAAS_TEST_DATA) + "/llama/tiny-llama/model.safetensors";

// The given tensors of `source` as one safetensors file.
std::string shard_bytes(const WeightFile& source, const std::vector<std::string>& names) {
  nlohmann::json header = nlohmann::json::object();
  std::string data;
  for (const std::string& name : names) {
    const TensorView& t = source.require(name);
    header[name] = {{"dtype", std::string(dtype_name(t.dtype))},
                    {"shape", t.shape},
                    {"data_offsets", {data.size(), data.size() + t.nbytes}}};
    data.append(reinterpret_cast<const char*>(t.data), t.nbytes);
  }
  return fixtures::safetensors(header.dump(), data);
}

struct Split {
  std::vector<std::string> first, second;
};

Split split_in_two(const WeightFile& source) {
  Split s;
  for (size_t i = 0; i < source.tensors().size(); ++i) {
    (i % 2 ? s.second : s.first).push_back(source.tensors()[i].name);
  }
  return s;
}

std::string index_json(const Split& s, const std::string& first_file, const std::string& second_file) {
  nlohmann::json map = nlohmann::json::object();
  for (const auto& n : s.first) map[n] = first_file;
  for (const auto& n : s.second) map[n] = second_file;
  return nlohmann::json{{"metadata", {{"total_size", 1255000}}}, {"weight_map", map}}.dump(1);
}

void expect_error(const std::string& path, const std::string& file, const std::string& needle) {
  try {
    open_model_weights(path);
    ADD_FAILURE() << "accepted, expected " << needle;
  } catch (const FormatError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(file + ": ", 0), 0u) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(SafetensorsShards, TwoShardsEqualTheUnshardedFile) {
  auto whole = open_safetensors(kTinyLlama);
  const Split split = split_in_two(*whole);
  ASSERT_GT(split.first.size(), 10u);
  TempDir dir;
  fixtures::write_file(dir / "model-00001-of-00002.safetensors", shard_bytes(*whole, split.first));
  fixtures::write_file(dir / "model-00002-of-00002.safetensors", shard_bytes(*whole, split.second));
  const std::string index = fixtures::write_file(
      dir / "model.safetensors.index.json", index_json(split, "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"));

  for (const std::string& path : {dir / "", index}) {
    auto sharded = open_model_weights(path);
    EXPECT_TRUE(std::filesystem::equivalent(sharded->path(), index)) << sharded->path();
    ASSERT_EQ(sharded->tensors().size(), whole->tensors().size());
    for (const TensorView& want : whole->tensors()) {
      const TensorView* got = sharded->find(want.name);
      ASSERT_NE(got, nullptr) << want.name;
      EXPECT_EQ(got->dtype, want.dtype) << want.name;
      EXPECT_EQ(got->shape, want.shape) << want.name;
      ASSERT_EQ(got->nbytes, want.nbytes) << want.name;
      EXPECT_EQ(std::memcmp(got->data, want.data, want.nbytes), 0) << want.name;
    }
    EXPECT_EQ(sharded->f32("model.norm.weight", {64}), whole->f32("model.norm.weight", {64}));
  }
}

TEST(SafetensorsShards, ShardsInASubdirectory) {
  auto whole = open_safetensors(kTinyLlama);
  const Split split = split_in_two(*whole);
  TempDir dir;
  std::filesystem::create_directory(dir / "shards");
  fixtures::write_file(dir / "shards/a.safetensors", shard_bytes(*whole, split.first));
  fixtures::write_file(dir / "shards/b.safetensors", shard_bytes(*whole, split.second));
  fixtures::write_file(dir / "model.safetensors.index.json", index_json(split, "shards/a.safetensors", "shards/b.safetensors"));
  EXPECT_EQ(open_model_weights(dir / "")->tensors().size(), whole->tensors().size());
}

TEST(SafetensorsShards, BadIndexesAreFormatErrors) {
  auto whole = open_safetensors(kTinyLlama);
  const Split split = split_in_two(*whole);
  TempDir dir;
  std::filesystem::create_directory(dir / "m");
  fixtures::write_file(dir / "m/a.safetensors", shard_bytes(*whole, split.first));
  fixtures::write_file(dir / "outside.safetensors", shard_bytes(*whole, split.second));
  const std::string index = dir / "m/model.safetensors.index.json";
  auto with_index = [&](const std::string& json, const std::string& needle) {
    fixtures::write_file(index, json);
    expect_error(dir / "m", index, needle);
  };
  // The second half listed in shard a, which holds only the first half.
  with_index(index_json(split, "a.safetensors", "a.safetensors"), "is listed in shard 'a.safetensors' but missing there");
  with_index(index_json(split, "a.safetensors", "../outside.safetensors"),
             "bad index: shard '../outside.safetensors' is not a file inside the model directory");
  with_index(index_json(split, "a.safetensors", "sub/../../outside.safetensors"), "is not a file inside the model directory");
  with_index(index_json(split, "a.safetensors", dir / "outside.safetensors"), "is not a file inside the model directory");
  with_index(index_json(split, "a.safetensors", ""), "is not a file inside the model directory");
  with_index("{\"weight_map\": [1]}", "bad index: no \"weight_map\" object");
  with_index("{\"metadata\": {}}", "bad index: no \"weight_map\" object");
  with_index("[]", "bad index: not a JSON object");
  with_index("{\"weight_map\": {", "bad index JSON");
  with_index("{\"weight_map\": {\"x\": 3}}", "the shard of tensor 'x' is not a string");
  // A missing shard is reported by the shard's own reader, naming the shard.
  fixtures::write_file(index, index_json(split, "a.safetensors", "b.safetensors"));
  expect_error(dir / "m", dir / "m/b.safetensors", "file not found");
}
