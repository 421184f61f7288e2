#pragma once
// The compiled model format (.mlf): one little-endian file with everything `predict` needs (config, tokenizer,
// weights already in the kernels' packed layout), so that opening a model is one mmap and a few hundred pointer
// fix-ups: nothing is parsed, converted or repacked, and pages are read from the page cache only when a forward
// pass touches them (an embedding table costs only the rows a sentence uses).
//
//   [0, 128)            header: magic, format version, byte-order mark, entry count, where the table and the
//                       names are, the file's size and an FNV-1a 64 checksum of table + names
//   table               entry_count records of 64 bytes: name, dtype, up to 4 dims, byte offset and size
//   names               the entries' names, back to back
//   data                each entry's bytes at a 64-byte-aligned offset (the kernels' alignment)
//
// docs/FORMATS.md describes every field. The entries themselves are the network's own parameter names (see
// models/params.h); the format version changes whenever their meaning does, and a file of another version is
// refused, never reinterpreted.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/formats/mapped_file.h"

namespace mlfaas {

inline constexpr uint32_t kMlfVersion = 1;
inline constexpr size_t kMlfAlignment = 64;

// Q8_0 .. Q6_K are ggml's weight blocks (kernels/quant_blocks.h), blocks running along the last dimension: an entry
// of dims [rows, k] holds rows * (k / block elements) blocks, k a multiple of the block. Q8_0_X16 / Q4_0_X16 are
// the same blocks with 16 rows interleaved (quant_blocks.h, the decode kernels' layout): always 2-D [rows, k],
// rows padded to a multiple of 16, x16_weight_bytes() in all (kernels/qmatmul.h).
enum class MlfType : uint8_t {
  Bytes = 0, F32 = 1, I32 = 2, I8 = 3, U32 = 4, F16 = 5, BF16 = 6, Q8_0 = 7, Q4_0 = 8, Q4_K = 9, Q6_K = 10,
  Q8_0_X16 = 11, Q4_0_X16 = 12
};
std::string_view mlf_type_name(MlfType type);  // "bytes", "f32", ..., "q4_0", "q8_0_x16", "q4_0_x16"

struct MlfEntry {
  std::string_view name;
  MlfType type = MlfType::Bytes;
  std::vector<int64_t> dims;  // elements per dimension; a Bytes entry has one dim = its size
  const std::byte* data = nullptr;
  size_t size = 0;  // bytes

  template <typename T>
  const T* as() const {
    return reinterpret_cast<const T*>(data);
  }
  std::string_view text() const { return {reinterpret_cast<const char*>(data), size}; }
};

// Writes a compiled model: add entries (copied), then write() once.
class MlfWriter {
 public:
  void add(std::string name, MlfType type, std::vector<int64_t> dims, const void* data, size_t size);
  void add_text(std::string name, std::string_view text);
  void add_f32(std::string name, std::span<const float> values, std::vector<int64_t> dims = {});
  void add_i32(std::string name, std::span<const int32_t> values, std::vector<int64_t> dims = {});
  // Like add() without the copy: `data` must stay valid until write() returns (a compiled model's weights,
  // which may be most of the machine's memory).
  void add_view(std::string name, MlfType type, std::vector<int64_t> dims, const void* data, size_t size);
  bool has(std::string_view name) const;
  size_t entry_count() const { return entries_.size(); }
  // Writes the file atomically (a temporary next to `path`, renamed over it); throws FormatError naming `path`.
  // Returns the file's size in bytes.
  size_t write(const std::string& path) const;

 private:
  struct Pending {
    std::string name;
    MlfType type = MlfType::Bytes;
    std::vector<int64_t> dims;
    std::vector<std::byte> bytes;
    const std::byte* view = nullptr;  // add_view(): not copied
    size_t size = 0;
    const std::byte* data() const { return view ? view : bytes.data(); }
  };
  Pending& push(std::string name, MlfType type, std::vector<int64_t> dims, size_t size);
  std::vector<Pending> entries_;
  std::unordered_map<std::string, size_t> index_;
};

// A compiled model opened for reading: the header and every entry are validated when it is opened (sizes,
// bounds, alignment, checksum), so later lookups only need the name.
class MlfFile {
 public:
  // Throws FormatError naming `path`: not an .mlf file, another format version, other byte order, truncated,
  // corrupt table.
  static std::shared_ptr<const MlfFile> open(const std::string& path);
  // The same validation over bytes the caller keeps alive (fuzzing); `name` stands for the file in errors.
  static std::shared_ptr<const MlfFile> open_bytes(std::span<const std::byte> bytes, const std::string& name);

  const std::string& path() const { return path_; }
  size_t size() const { return bytes_.size(); }
  const std::vector<MlfEntry>& entries() const { return entries_; }
  const MlfEntry* find(std::string_view name) const;
  // The entry, checked to have `type` and, when given, these dims; FormatError naming the file otherwise.
  const MlfEntry& require(std::string_view name, MlfType type, std::initializer_list<int64_t> dims = {}) const;

  // The model family the file holds: its "meta/architecture" entry ("llama"), or "bert" for files without one
  // (every BERT-family .mlf, written before the entry existed).
  std::string_view architecture() const;

  // Whether the file starts with the .mlf magic (to route a path to this reader rather than another).
  static bool has_magic(std::span<const std::byte> head);

 private:
  MlfFile() = default;
  void parse();

  std::string path_;
  std::unique_ptr<MappedFile> mapping_;
  std::span<const std::byte> bytes_;
  std::vector<MlfEntry> entries_;
  std::unordered_map<std::string_view, size_t> index_;
};

// Whether `path` names a compiled model (a regular file starting with the .mlf magic).
bool is_mlf_file(const std::string& path);

}  // namespace mlfaas
