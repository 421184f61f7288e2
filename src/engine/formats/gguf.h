#pragma once
// GGUF v2/v3 (llama.cpp's model file): typed metadata key/values and tensor descriptors, over a read-only
// mapping. Tensor data is used in place. Every count, length, type id and offset is checked against the bytes
// that are there before it is trusted (gguf.cpp's checks and ours: type in range, row length a multiple of the
// block size, data aligned and inside the file, no overlapping tensors, no duplicate names or keys); any
// problem is a FormatError naming the file and, where there is one, the key or tensor.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/kernels/quant_blocks.h"

namespace mlfaas {

class MappedFile;

enum class GgufType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7, String = 8, Array = 9, U64 = 10, I64 = 11,
  F64 = 12,
};

struct GgufTensor {
  std::string name;
  QuantType type = QuantType::F32;
  // ggml's order: dims[0] is the row length (contiguous), dims[1] the number of rows, ... (reverse of numpy's).
  std::vector<int64_t> dims;
  const std::byte* data = nullptr;
  size_t nbytes = 0;
  int64_t numel() const;
};

class GgufFile {
 public:
  static std::unique_ptr<GgufFile> open(const std::string& path);
  // Over bytes the caller keeps alive (fuzzing); `name` stands for the file in messages.
  static std::unique_ptr<GgufFile> open_bytes(std::span<const std::byte> bytes, const std::string& name);
  ~GgufFile();

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  size_t alignment() const { return alignment_; }

  // Metadata. has()/type() never throw. The get_* return nullopt when the key is absent and throw FormatError
  // (naming file and key) when it holds another type; integers of any width/sign convert when the value fits.
  bool has(std::string_view key) const;
  std::optional<GgufType> type(std::string_view key) const;
  std::optional<int64_t> get_int(std::string_view key) const;
  std::optional<double> get_float(std::string_view key) const;  // F32/F64 (and integers)
  std::optional<bool> get_bool(std::string_view key) const;
  std::optional<std::string> get_string(std::string_view key) const;
  std::optional<std::vector<std::string>> get_string_array(std::string_view key) const;
  std::optional<std::vector<float>> get_float_array(std::string_view key) const;
  std::optional<std::vector<int64_t>> get_int_array(std::string_view key) const;
  // The same, throwing FormatError "missing metadata key K" when absent.
  int64_t require_int(std::string_view key) const;
  std::string require_string(std::string_view key) const;
  std::vector<std::string> keys() const;  // in file order

  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufTensor* find(std::string_view name) const;
  // Throws FormatError "missing tensor NAME" / "tensor NAME has shape [..], expected [..]" (dims in ggml order).
  const GgufTensor& require(std::string_view name, std::initializer_list<int64_t> dims) const;

  struct Value;  // parsed metadata value (gguf.cc)

 private:
  GgufFile() = default;
  void parse(std::span<const std::byte> bytes);

  std::string path_;
  std::unique_ptr<MappedFile> mapping_;
  uint32_t version_ = 0;
  size_t alignment_ = 32;
  std::vector<std::string> key_order_;
  std::unordered_map<std::string, std::unique_ptr<Value>> kv_;
  std::vector<GgufTensor> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

}  // namespace mlfaas
