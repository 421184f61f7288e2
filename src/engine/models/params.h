#pragma once
// Where a network's parameters come from. One constructor per architecture serves both sources:
//
//  - a Hugging Face weight file: tensors are converted to fp32 into the runner's weight arena and linears are
//    packed (or quantized) there by the build callbacks; with a recorder attached, every parameter the network
//    keeps is also written into a compiled model (.mlf) under the name the network asked for it by;
//  - a compiled model: the same calls return views into its mapping, checked against the shapes the network
//    expects, and build callbacks never run, so nothing is converted or repacked.
//
// Entry names in a compiled model: "t/<name>" fp32 tensors (base-model names without their prefix, heads as
// is), "f/<name>" answers to has() (the build's choices replay identically), "l/<key>.<part>" packed linears.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/formats/mlf.h"
#include "engine/formats/weights.h"
#include "engine/kernels/gemm.h"

namespace mlfaas::models {

// A lookup table (word embeddings) kept in its checkpoint's 16-bit float type when it has one, else fp32: a
// sentence reads a handful of rows, converted exactly as they are read, so 16-bit storage halves the table in
// memory and in a compiled model at no cost in accuracy or time.
class EmbeddingTable {
 public:
  enum class Type : uint8_t { F32, F16, BF16 };
  EmbeddingTable() = default;
  EmbeddingTable(Type type, const void* data, int64_t rows, int64_t cols)
      : type_(type), data_(data), rows_(rows), cols_(cols) {}
  Type type() const { return type_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  size_t bytes() const { return static_cast<size_t>(rows_ * cols_) * (type_ == Type::F32 ? 4 : 2); }
  const void* data() const { return data_; }
  // out[0, cols) = row r as fp32 (r in range: the caller validates ids).
  void row(int64_t r, float* out) const;
  std::vector<float> to_f32() const;  // the whole table

 private:
  Type type_ = Type::F32;
  const void* data_ = nullptr;
  int64_t rows_ = 0, cols_ = 0;
};

class ParamSource {
 public:
  // From a weight file whose base-model tensors are stored under `prefix` ("bert.", "mobilebert." or "").
  ParamSource(const WeightFile& file, std::string prefix, WeightArena& arena, MlfWriter* recorder = nullptr);
  // From a compiled model whose fp32 linears `kernel` will run (their panel width is checked against it).
  ParamSource(const MlfFile& compiled, const GemmKernel& kernel);

  bool compiled() const { return compiled_ != nullptr; }

  // An fp32 tensor the network keeps: a base-model tensor (name without prefix) or a head's (name as stored).
  std::span<const float> tensor(const std::string& name, std::initializer_list<int64_t> shape);
  std::span<const float> head(const std::string& name, std::initializer_list<int64_t> shape);
  // A base-model lookup table [rows, cols], 16-bit when the checkpoint stores it so (F16/BF16), else fp32.
  EmbeddingTable embedding(const std::string& name, int64_t rows, int64_t cols);
  bool has(const std::string& name);
  bool has_head(const std::string& name);

  // A temporary fp32 copy for a build callback to pack (never called for a compiled model).
  std::vector<float> read(const std::string& name, std::initializer_list<int64_t> shape) const;
  std::vector<float> read_head(const std::string& name, std::initializer_list<int64_t> shape) const;

  // A linear layer the network knows by `key`: `build` packs it from the weight file (and it is recorded), or
  // it is mapped from the compiled model, where it must have `out` x `in`.
  PackedLinear linear(const std::string& key, int out, int in, const std::function<PackedLinear()>& build);

 private:
  std::span<const float> fetch(const std::string& stored_name, const std::string& key,
                               std::initializer_list<int64_t> shape);
  bool flag(const std::string& key, bool answer_from_file);

  const WeightFile* file_ = nullptr;
  std::string prefix_;
  WeightArena* arena_ = nullptr;
  MlfWriter* recorder_ = nullptr;
  const MlfFile* compiled_ = nullptr;
  const GemmKernel* kernel_ = nullptr;
};

}  // namespace mlfaas::models
