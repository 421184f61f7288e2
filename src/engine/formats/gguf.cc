// GGUF (ggml-org/llama.cpp docs/gguf.md, reader ggml/src/gguf.cpp), little-endian:
//   "GGUF", u32 version, u64 n_tensors, u64 n_kv,
//   n_kv x (string key, u32 type, value)            value: scalar, string (u64 length + bytes) or
//                                                   array (u32 element type, u64 count, elements),
//   n_tensors x (string name, u32 n_dims, n_dims x u64 dims, u32 ggml type, u64 offset),
//   padding to general.alignment (default 32), then the data section; offsets are relative to it.
// Nothing is copied at parse time: metadata values keep a pointer to their bytes and are decoded by the getters,
// which is safe because every value was walked (and every length checked against the bytes left) here first.
#include "engine/formats/gguf.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "engine/error.h"
#include "engine/formats/mapped_file.h"

namespace mlfaas {

struct GgufFile::Value {
  GgufType type = GgufType::U8;
  GgufType elem = GgufType::U8;  // element type of an Array
  uint64_t count = 1;            // elements of an Array
  const std::byte* data = nullptr;  // the value's bytes (for an Array, its first element)
};

namespace {

constexpr uint32_t kMaxGgufType = static_cast<uint32_t>(GgufType::F64);
constexpr uint32_t kMaxDims = 4;  // ggml's GGML_MAX_DIMS

size_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::Bool: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::U64: case GgufType::I64: case GgufType::F64: return 8;
    case GgufType::String: case GgufType::Array: return 0;
  }
  return 0;
}

const char* gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::U8: return "u8";
    case GgufType::I8: return "i8";
    case GgufType::U16: return "u16";
    case GgufType::I16: return "i16";
    case GgufType::U32: return "u32";
    case GgufType::I32: return "i32";
    case GgufType::F32: return "f32";
    case GgufType::Bool: return "bool";
    case GgufType::String: return "string";
    case GgufType::Array: return "array";
    case GgufType::U64: return "u64";
    case GgufType::I64: return "i64";
    case GgufType::F64: return "f64";
  }
  return "?";
}

bool is_integer(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::U16: case GgufType::I16: case GgufType::U32:
    case GgufType::I32: case GgufType::U64: case GgufType::I64:
      return true;
    default:
      return false;
  }
}

// ggml's names for the tensor types this engine does not read, so a refusal can say what the file holds
// (ggml/include/ggml.h; ids 4, 5, 31-33 and 36-38 were removed from ggml and have no name).
const char* ggml_type_name(uint32_t id) {
  static const char* const kNames[] = {
      "F32",    "F16",   "Q4_0",  "Q4_1",   "",       "",       "Q5_0",  "Q5_1",  "Q8_0",   "Q8_1",
      "Q2_K",   "Q3_K",  "Q4_K",  "Q5_K",   "Q6_K",   "Q8_K",   "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S",
      "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "I8",     "I16",    "I32",   "I64",   "F64",    "IQ1_M",
      "BF16",   "",      "",      "",       "TQ1_0",  "TQ2_0",  "",      "",      "",       "MXFP4"};
  if (id >= std::size(kNames) || kNames[id][0] == '\0') return nullptr;
  return kNames[id];
}

template <typename T>
T load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

std::string printable_magic(std::span<const std::byte> b) {
  std::string s;
  for (size_t i = 0; i < 4; ++i) {
    const auto c = static_cast<unsigned char>(b[i]);
    s += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  return s;
}

// Reads forward through the bytes; every read first checks that the bytes are there.
class Reader {
 public:
  Reader(std::span<const std::byte> bytes, const std::string& path) : bytes_(bytes), path_(path) {}

  size_t pos() const { return pos_; }
  size_t left() const { return bytes_.size() - pos_; }
  const std::byte* here() const { return bytes_.data() + pos_; }

  void need(uint64_t n, const std::string& what) const {
    if (n > left()) {
      throw FormatError(path_, "truncated GGUF file: " + what + " needs " + std::to_string(n) + " bytes at offset " +
                                   std::to_string(pos_) + " but " + std::to_string(left()) + " remain");
    }
  }
  template <typename T>
  T read(const std::string& what) {
    need(sizeof(T), what);
    T v = load<T>(here());
    pos_ += sizeof(T);
    return v;
  }
  void skip(uint64_t n, const std::string& what) {
    need(n, what);
    pos_ += n;
  }
  std::string_view string(const std::string& what) {
    const uint64_t len = read<uint64_t>(what + " (length)");
    if (len > left()) {
      throw FormatError(path_, what + " has length " + std::to_string(len) + " but only " + std::to_string(left()) +
                                   " bytes remain in the file");
    }
    std::string_view s(reinterpret_cast<const char*>(here()), len);
    pos_ += len;
    return s;
  }

 private:
  std::span<const std::byte> bytes_;
  const std::string& path_;
  size_t pos_ = 0;
};

// "[4096, 32000]" in ggml order.
std::string dims_string(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

}  // namespace

int64_t GgufTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

GgufFile::~GgufFile() = default;

std::unique_ptr<GgufFile> GgufFile::open(const std::string& path) {
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->path_ = path;
  file->mapping_ = std::make_unique<MappedFile>(path);
  file->parse(file->mapping_->bytes());
  return file;
}

std::unique_ptr<GgufFile> GgufFile::open_bytes(std::span<const std::byte> bytes, const std::string& name) {
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->path_ = name;
  file->parse(bytes);
  return file;
}

void GgufFile::parse(std::span<const std::byte> bytes) {
  Reader in(bytes, path_);
  if (bytes.size() < 4) throw FormatError(path_, "not a GGUF file (" + std::to_string(bytes.size()) + " bytes)");
  if (std::memcmp(bytes.data(), "GGUF", 4) != 0) {
    throw FormatError(path_, "not a GGUF file (magic '" + printable_magic(bytes) + "', expected 'GGUF')");
  }
  in.skip(4, "magic");
  version_ = in.read<uint32_t>("the version");
  if ((version_ & 0xffffu) == 0 && version_ != 0) {
    const uint32_t swapped = __builtin_bswap32(version_);
    if (swapped >= 1 && swapped <= 3) {
      throw FormatError(path_, "big-endian GGUF file (version reads as " + std::to_string(version_) +
                                   ", byte-swapped " + std::to_string(swapped) + "); only little-endian files are supported");
    }
  }
  if (version_ == 1) {
    throw FormatError(path_, "GGUF version 1 is not supported (only versions 2 and 3; re-convert the model with a current llama.cpp)");
  }
  if (version_ != 2 && version_ != 3) {
    throw FormatError(path_, "unsupported GGUF version " + std::to_string(version_) + " (only versions 2 and 3)");
  }
  const uint64_t n_tensors = in.read<uint64_t>("the tensor count");
  const uint64_t n_kv = in.read<uint64_t>("the metadata count");
  // Smallest possible entries: a key/name length, a type, and one byte of value or the offset; the counts are
  // bounded by the bytes that are there before anything is reserved for them.
  constexpr uint64_t kMinKvBytes = 8 + 4 + 1, kMinTensorBytes = 8 + 4 + 8 + 4 + 8;
  if (n_kv > in.left() / kMinKvBytes) {
    throw FormatError(path_, "metadata count " + std::to_string(n_kv) + " cannot fit in the " +
                                 std::to_string(in.left()) + " bytes that follow the header");
  }
  if (n_tensors > in.left() / kMinTensorBytes) {
    throw FormatError(path_, "tensor count " + std::to_string(n_tensors) + " cannot fit in the " +
                                 std::to_string(in.left()) + " bytes that follow the header");
  }

  // ---- metadata ----
  // Counts were bounded by the bytes that follow, but a large file could still ask for gigabytes here.
  constexpr uint64_t kMaxReserve = 1 << 16;
  key_order_.reserve(std::min(n_kv, kMaxReserve));
  for (uint64_t i = 0; i < n_kv; ++i) {
    const std::string index = "metadata entry " + std::to_string(i);
    std::string key(in.string(index + " key"));
    if (key.empty()) throw FormatError(path_, index + " has an empty key");
    const std::string what = "metadata key '" + key + "'";
    if (kv_.count(key)) throw FormatError(path_, what + " appears twice");
    auto value = std::make_unique<Value>();
    const uint32_t type_id = in.read<uint32_t>(what + " type");
    if (type_id > kMaxGgufType) throw FormatError(path_, what + " has invalid value type " + std::to_string(type_id));
    value->type = static_cast<GgufType>(type_id);
    GgufType elem = value->type;
    uint64_t count = 1;
    if (value->type == GgufType::Array) {
      const uint32_t elem_id = in.read<uint32_t>(what + " array element type");
      if (elem_id > kMaxGgufType) {
        throw FormatError(path_, what + " is an array of invalid value type " + std::to_string(elem_id));
      }
      elem = static_cast<GgufType>(elem_id);
      if (elem == GgufType::Array) throw FormatError(path_, what + " is an array of arrays, which is not supported");
      count = in.read<uint64_t>(what + " array length");
      value->elem = elem;
      value->count = count;
    }
    value->data = in.here();
    if (elem == GgufType::String) {
      if (count > in.left() / 8) {
        throw FormatError(path_, what + " claims " + std::to_string(count) + " strings but only " +
                                     std::to_string(in.left()) + " bytes remain");
      }
      if (value->type != GgufType::Array) {
        in.string(what);
      } else {
        // Token lists run to 10^5 strings: the label is built only for an error.
        for (uint64_t k = 0; k < count; ++k) {
          const size_t len_at = in.pos();
          if (in.left() < 8 || load<uint64_t>(in.here()) > in.left() - 8) {
            in.string(what + " element " + std::to_string(k));  // throws with the details
          }
          in.skip(8 + load<uint64_t>(bytes.data() + len_at), what);
        }
      }
    } else {
      const size_t size = scalar_size(elem);
      if (count > in.left() / size) {
        throw FormatError(path_, what + " claims " + std::to_string(count) + " " + gguf_type_name(elem) +
                                     " values but only " + std::to_string(in.left()) + " bytes remain");
      }
      if (elem == GgufType::Bool) {
        for (uint64_t k = 0; k < count; ++k) {
          const auto b = static_cast<uint8_t>(in.here()[k]);
          if (b > 1) throw FormatError(path_, what + " holds a bool of value " + std::to_string(b) + " (must be 0 or 1)");
        }
      }
      in.skip(count * size, what);
    }
    key_order_.push_back(key);
    kv_.emplace(std::move(key), std::move(value));
  }

  if (auto it = kv_.find("general.alignment"); it != kv_.end()) {
    const Value* a = it->second.get();
    if (a->type != GgufType::U32) {
      throw FormatError(path_, std::string("metadata key 'general.alignment' is ") + gguf_type_name(a->type) + ", expected u32");
    }
    const uint32_t align = load<uint32_t>(a->data);
    if (align == 0 || (align & (align - 1)) != 0) {
      throw FormatError(path_, "general.alignment " + std::to_string(align) + " is not a power of two");
    }
    alignment_ = align;
  }

  // ---- tensor descriptors ----
  struct Pending {
    uint64_t offset;
    size_t index;
  };
  std::vector<Pending> pending;
  tensors_.reserve(std::min(n_tensors, kMaxReserve));
  pending.reserve(std::min(n_tensors, kMaxReserve));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensor t;
    t.name = std::string(in.string("tensor " + std::to_string(i) + " name"));
    const std::string what = "tensor '" + t.name + "'";
    if (tensor_index_.count(t.name)) throw FormatError(path_, what + " appears twice");
    const uint32_t n_dims = in.read<uint32_t>(what + " dimension count");
    if (n_dims == 0 || n_dims > kMaxDims) {
      throw FormatError(path_, what + " has " + std::to_string(n_dims) + " dimensions (1 to 4 supported)");
    }
    uint64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const auto dim = in.read<int64_t>(what + " dimensions");
      if (dim <= 0) throw FormatError(path_, what + " dimension " + std::to_string(d) + " is " + std::to_string(dim));
      if (numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / static_cast<uint64_t>(dim)) {
        throw FormatError(path_, what + " has too many elements (dimensions overflow)");
      }
      numel *= static_cast<uint64_t>(dim);
      t.dims.push_back(dim);
    }
    const uint32_t type_id = in.read<uint32_t>(what + " type");
    if (!quant_type_known(type_id)) {
      const char* ggml_name = ggml_type_name(type_id);
      throw FormatError(path_, what + " has type " + std::to_string(type_id) +
                                   (ggml_name ? std::string(" (") + ggml_name + ")" : std::string(" (not a ggml type)")) +
                                   ", which this engine does not read (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K)");
    }
    t.type = static_cast<QuantType>(type_id);
    const auto block_elems = static_cast<uint64_t>(quant_block_elems(t.type));
    const auto block_bytes = static_cast<uint64_t>(quant_block_bytes(t.type));
    if (static_cast<uint64_t>(t.dims[0]) % block_elems != 0) {
      throw FormatError(path_, what + " of type " + quant_type_name(t.type) + " has rows of " +
                                   std::to_string(t.dims[0]) + " elements, not a multiple of the block size " +
                                   std::to_string(block_elems));
    }
    const uint64_t blocks = numel / block_elems;
    if (blocks > std::numeric_limits<size_t>::max() / block_bytes) {
      throw FormatError(path_, what + " is too large (its byte size overflows)");
    }
    t.nbytes = blocks * block_bytes;
    pending.push_back({in.read<uint64_t>(what + " offset"), tensors_.size()});
    tensor_index_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
  }

  // ---- data section ----
  if (tensors_.empty()) return;
  const uint64_t data_start = (in.pos() + alignment_ - 1) / alignment_ * alignment_;
  if (data_start > bytes.size()) {
    throw FormatError(path_, "truncated GGUF file: the data section would start at byte " + std::to_string(data_start) +
                                 " but the file has " + std::to_string(bytes.size()));
  }
  const uint64_t data_size = bytes.size() - data_start;
  for (const Pending& p : pending) {
    GgufTensor& t = tensors_[p.index];
    if (p.offset % alignment_ != 0) {
      throw FormatError(path_, "tensor '" + t.name + "' offset " + std::to_string(p.offset) +
                                   " is not a multiple of the alignment " + std::to_string(alignment_));
    }
    if (p.offset > data_size || t.nbytes > data_size - p.offset) {
      throw FormatError(path_, "tensor '" + t.name + "' data [" + std::to_string(p.offset) + ", " +
                                   (p.offset > data_size ? std::string("...") : std::to_string(p.offset + t.nbytes)) +
                                   ") lies outside the file (data section is " + std::to_string(data_size) + " bytes)");
    }
    t.data = bytes.data() + data_start + p.offset;
  }
  // Writers lay tensors out one after another; two sharing bytes means a corrupt or crafted file.
  std::sort(pending.begin(), pending.end(), [](const Pending& a, const Pending& b) { return a.offset < b.offset; });
  for (size_t k = 1; k < pending.size(); ++k) {
    const GgufTensor& prev = tensors_[pending[k - 1].index];
    if (pending[k].offset < pending[k - 1].offset + prev.nbytes) {
      throw FormatError(path_, "tensors '" + prev.name + "' and '" + tensors_[pending[k].index].name +
                                   "' overlap in the data section");
    }
  }
}

// ---- metadata getters ----

bool GgufFile::has(std::string_view key) const { return kv_.count(std::string(key)) != 0; }

std::optional<GgufType> GgufFile::type(std::string_view key) const {
  auto it = kv_.find(std::string(key));
  if (it == kv_.end()) return std::nullopt;
  return it->second->type;
}

std::vector<std::string> GgufFile::keys() const { return key_order_; }

namespace {

std::string type_description(const GgufFile::Value& v) {
  if (v.type == GgufType::Array) return std::string("an array of ") + gguf_type_name(v.elem);
  return gguf_type_name(v.type);
}

// Integer element `p` of type `t` as int64; false when it does not fit (a u64 above INT64_MAX).
bool integer_at(GgufType t, const std::byte* p, int64_t* out) {
  switch (t) {
    case GgufType::U8: *out = load<uint8_t>(p); return true;
    case GgufType::I8: *out = load<int8_t>(p); return true;
    case GgufType::U16: *out = load<uint16_t>(p); return true;
    case GgufType::I16: *out = load<int16_t>(p); return true;
    case GgufType::U32: *out = load<uint32_t>(p); return true;
    case GgufType::I32: *out = load<int32_t>(p); return true;
    case GgufType::I64: *out = load<int64_t>(p); return true;
    case GgufType::U64: {
      const auto u = load<uint64_t>(p);
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
      *out = static_cast<int64_t>(u);
      return true;
    }
    default: return false;
  }
}

double number_at(GgufType t, const std::byte* p) {
  if (t == GgufType::F32) return load<float>(p);
  if (t == GgufType::F64) return load<double>(p);
  if (t == GgufType::U64) return static_cast<double>(load<uint64_t>(p));
  int64_t v = 0;
  integer_at(t, p, &v);
  return static_cast<double>(v);
}

bool is_number(GgufType t) { return is_integer(t) || t == GgufType::F32 || t == GgufType::F64; }

}  // namespace

namespace {

const GgufFile::Value* lookup(const std::unordered_map<std::string, std::unique_ptr<GgufFile::Value>>& kv,
                              std::string_view key) {
  auto it = kv.find(std::string(key));
  return it == kv.end() ? nullptr : it->second.get();
}

FormatError wrong_type(const std::string& path, std::string_view key, const GgufFile::Value& v, const char* expected) {
  return FormatError(path, "metadata key '" + std::string(key) + "' is " + type_description(v) + ", expected " + expected);
}

}  // namespace

std::optional<int64_t> GgufFile::get_int(std::string_view key) const {
  const Value* found = lookup(kv_, key);
  if (found == nullptr) return std::nullopt;
  const Value& v = *found;
  if (!is_integer(v.type)) throw wrong_type(path_, key, v, "an integer");
  int64_t out = 0;
  if (!integer_at(v.type, v.data, &out)) {
    throw FormatError(path_, "metadata key '" + std::string(key) + "' value " + std::to_string(load<uint64_t>(v.data)) +
                                 " does not fit in 64-bit signed");
  }
  return out;
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
  const Value* found = lookup(kv_, key);
  if (found == nullptr) return std::nullopt;
  const Value& v = *found;
  if (!is_number(v.type)) throw wrong_type(path_, key, v, "a number");
  return number_at(v.type, v.data);
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
  const Value* found = lookup(kv_, key);
  if (found == nullptr) return std::nullopt;
  const Value& v = *found;
  if (v.type != GgufType::Bool) throw wrong_type(path_, key, v, "bool");
  return load<uint8_t>(v.data) != 0;
}

std::optional<std::string> GgufFile::get_string(std::string_view key) const {
  const Value* found = lookup(kv_, key);
  if (found == nullptr) return std::nullopt;
  const Value& v = *found;
  if (v.type != GgufType::String) throw wrong_type(path_, key, v, "string");
  const auto len = load<uint64_t>(v.data);
  return std::string(reinterpret_cast<const char*>(v.data + 8), len);
}

std::optional<std::vector<std::string>> GgufFile::get_string_array(std::string_view key) const {
  const Value* found = lookup(kv_, key);
  if (found == nullptr) return std::nullopt;
  const Value& v = *found;
  if (v.type != GgufType::Array || v.elem != GgufType::String) throw wrong_type(path_, key, v, "an array of string");
  std::vector<std::string> out;
  out.reserve(v.count);
  const std::byte* p = v.data;
  for (uint64_t k = 0; k < v.count; ++k) {
    const auto len = load<uint64_t>(p);
    out.emplace_back(reinterpret_cast<const char*>(p + 8), len);
    p += 8 + len;
  }
  return out;
}

std::optional<std::vector<float>> GgufFile::get_float_array(std::string_view key) const {
  const Value* found = lookup(kv_, key);
  if (found == nullptr) return std::nullopt;
  const Value& v = *found;
  if (v.type != GgufType::Array || !is_number(v.elem)) throw wrong_type(path_, key, v, "an array of numbers");
  std::vector<float> out(v.count);
  const size_t size = scalar_size(v.elem);
  for (uint64_t k = 0; k < v.count; ++k) out[k] = static_cast<float>(number_at(v.elem, v.data + k * size));
  return out;
}

std::optional<std::vector<int64_t>> GgufFile::get_int_array(std::string_view key) const {
  const Value* found = lookup(kv_, key);
  if (found == nullptr) return std::nullopt;
  const Value& v = *found;
  if (v.type != GgufType::Array || !is_integer(v.elem)) throw wrong_type(path_, key, v, "an array of integers");
  std::vector<int64_t> out(v.count);
  const size_t size = scalar_size(v.elem);
  for (uint64_t k = 0; k < v.count; ++k) {
    if (!integer_at(v.elem, v.data + k * size, &out[k])) {
      throw FormatError(path_, "metadata key '" + std::string(key) + "' element " + std::to_string(k) +
                                   " does not fit in 64-bit signed");
    }
  }
  return out;
}

int64_t GgufFile::require_int(std::string_view key) const {
  auto v = get_int(key);
  if (!v) throw FormatError(path_, "missing metadata key " + std::string(key));
  return *v;
}

std::string GgufFile::require_string(std::string_view key) const {
  auto v = get_string(key);
  if (!v) throw FormatError(path_, "missing metadata key " + std::string(key));
  return *v;
}

// ---- tensors ----

const GgufTensor* GgufFile::find(std::string_view name) const {
  auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const GgufTensor& GgufFile::require(std::string_view name, std::initializer_list<int64_t> dims) const {
  const GgufTensor* t = find(name);
  if (t == nullptr) throw FormatError(path_, "missing tensor " + std::string(name));
  std::vector<int64_t> want(dims);
  if (t->dims != want) {
    throw FormatError(path_, "tensor " + t->name + " has shape " + dims_string(t->dims) + ", expected " +
                                 dims_string(want));
  }
  return *t;
}

}  // namespace mlfaas
