#pragma once
// Named tensors read from a model's weight file (safetensors or a torch.save state dict). Views point into
// memory owned by the WeightFile (usually the file's own mapping) and stay valid while it lives.
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace mlfaas {

enum class DType : uint8_t { F32, F16, BF16, F64, I64, I32, I16, I8, U8, Bool };

std::string_view dtype_name(DType dtype);  // safetensors spelling: "F32", "BF16", ...
size_t dtype_size(DType dtype);

struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const std::byte* data = nullptr;  // contiguous, row-major, little-endian
  size_t nbytes = 0;

  int64_t numel() const;
};

std::string shape_string(const std::vector<int64_t>& shape);  // "[2500, 64]"

class WeightFile {
 public:
  virtual ~WeightFile() = default;

  const std::string& path() const { return path_; }
  const std::vector<TensorView>& tensors() const { return tensors_; }
  const TensorView* find(std::string_view name) const;

  // The tensor as fp32 (F32, F16 and BF16 accepted). Throws FormatError naming this file when the tensor is
  // missing, has another dtype, or its shape differs from `expected_shape`.
  std::vector<float> f32(std::string_view name, std::initializer_list<int64_t> expected_shape) const;
  // Same, but converts into caller memory (exactly the expected element count).
  void f32_into(std::string_view name, std::initializer_list<int64_t> expected_shape, float* out) const;
  const TensorView& require(std::string_view name) const;

 protected:
  explicit WeightFile(std::string path) : path_(std::move(path)) {}
  void add(TensorView view);

  std::string path_;
  std::vector<TensorView> tensors_;
  std::unordered_map<std::string, size_t> index_;
};

// model.safetensors, memory-mapped; validates the header fully before any tensor is touched.
std::unique_ptr<WeightFile> open_safetensors(const std::string& path);
// A sharded checkpoint: model.safetensors.index.json ({"weight_map": {tensor: shard file}}) and its shards, which
// must lie inside the index's directory; one WeightFile with every tensor the index lists, each from its shard.
std::unique_ptr<WeightFile> open_safetensors_sharded(const std::string& index_path);
// pytorch_model.bin (torch.save zip of a pickled state dict), read through a restricted unpickler.
std::unique_ptr<WeightFile> open_pytorch_bin(const std::string& path);
// The same readers over bytes the caller keeps alive for the WeightFile's lifetime (fuzzing, embedded data);
// `name` stands for the file in error messages.
std::unique_ptr<WeightFile> open_safetensors_bytes(std::span<const std::byte> bytes, const std::string& name);
std::unique_ptr<WeightFile> open_pytorch_bin_bytes(std::span<const std::byte> bytes, const std::string& name);
// A model directory: model.safetensors if present, else model.safetensors.index.json and its shards, else
// pytorch_model.bin; or a path to any of these files.
std::unique_ptr<WeightFile> open_model_weights(const std::string& dir_or_file);

// fp16 / bf16 bit patterns to fp32 (exact).
float f16_to_f32(uint16_t bits);
inline float bf16_to_f32(uint16_t bits) {
  uint32_t u = static_cast<uint32_t>(bits) << 16;
  float f;
  __builtin_memcpy(&f, &u, sizeof f);
  return f;
}

}  // namespace mlfaas
