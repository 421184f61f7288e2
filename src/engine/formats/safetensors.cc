// safetensors: 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}, then the
// raw tensor bytes. The header is validated completely (offsets inside the file, sizes consistent with
// shape x dtype, no overflow) before any view is handed out, so no later read can leave the mapping.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <unordered_set>

#include "engine/error.h"
#include "engine/formats/mapped_file.h"
#include "engine/formats/weights.h"

namespace mlfaas {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // the reference implementation's limit

bool parse_dtype(const std::string& s, DType* out) {
  static const std::pair<const char*, DType> kNames[] = {
      {"F32", DType::F32}, {"F16", DType::F16}, {"BF16", DType::BF16}, {"F64", DType::F64},
      {"I64", DType::I64}, {"I32", DType::I32}, {"I16", DType::I16},   {"I8", DType::I8},
      {"U8", DType::U8},   {"BOOL", DType::Bool}};
  for (const auto& [name, dt] : kNames) {
    if (s == name) {
      *out = dt;
      return true;
    }
  }
  return false;
}

// "[json.exception.parse_error.101] parse error at ..." -> "parse error at ..."
std::string json_error_text(const nlohmann::json::exception& e) {
  std::string what = e.what();
  if (!what.empty() && what[0] == '[') {
    if (size_t close = what.find("] "); close != std::string::npos) what.erase(0, close + 2);
  }
  return what;
}

constexpr size_t kMaxRank = 64;  // no real tensor comes near; bounds work on hostile headers

class SafetensorsFile final : public WeightFile {
 public:
  SafetensorsFile(const std::string& path, std::span<const std::byte> bytes, std::unique_ptr<MappedFile> mapping)
      : WeightFile(path), mapping_(std::move(mapping)) {
    parse(bytes);
  }

 private:
  void parse(std::span<const std::byte> bytes) {
    const size_t size = bytes.size();
    if (size < 8) throw FormatError(path_, "truncated safetensors file (" + std::to_string(size) + " bytes, no header)");
    uint64_t header_len;
    std::memcpy(&header_len, bytes.data(), 8);
    if (header_len > kMaxHeaderBytes) throw FormatError(path_, "safetensors header length " + std::to_string(header_len) + " is too large");
    if (header_len > size - 8) {
      throw FormatError(path_, "truncated safetensors file: header of " + std::to_string(header_len) +
                                   " bytes but only " + std::to_string(size - 8) + " bytes follow");
    }
    const char* hdr = reinterpret_cast<const char*>(bytes.data() + 8);
    nlohmann::json header;
    // JSON objects keep the last of repeated keys; a repeated tensor name is ambiguous, so it is refused.
    std::unordered_set<std::string> names;
    auto refuse_duplicates = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
      if (depth == 1 && event == nlohmann::json::parse_event_t::key && !names.insert(parsed.get<std::string>()).second) {
        throw FormatError(path_, "bad safetensors header: tensor '" + parsed.get<std::string>() + "' appears twice");
      }
      return true;
    };
    try {
      header = nlohmann::json::parse(hdr, hdr + header_len, refuse_duplicates);
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number like 1e5649
      throw FormatError(path_, "bad safetensors header JSON: " + json_error_text(e));
    }
    if (!header.is_object()) throw FormatError(path_, "bad safetensors header: not a JSON object");
    if (auto m = header.find("__metadata__"); m != header.end() && !m->is_object()) {
      throw FormatError(path_, "bad safetensors header: __metadata__ is not an object");
    }

    const std::byte* data_begin = bytes.data() + 8 + header_len;
    const uint64_t data_size = size - 8 - header_len;
    struct Span {
      uint64_t begin, end;
      const std::string* name;
    };
    std::vector<Span> spans;
    for (auto it = header.begin(); it != header.end(); ++it) {
      if (it.key() == "__metadata__") continue;
      const std::string& name = it.key();
      const nlohmann::json& e = it.value();
      auto bad = [&](const std::string& what) { return FormatError(path_, "tensor '" + name + "': " + what); };
      if (!e.is_object()) throw bad("header entry is not an object");
      auto dt = e.find("dtype");
      auto sh = e.find("shape");
      auto off = e.find("data_offsets");
      if (dt == e.end() || !dt->is_string()) throw bad("missing dtype");
      if (sh == e.end() || !sh->is_array()) throw bad("missing shape");
      if (off == e.end() || !off->is_array() || off->size() != 2) throw bad("missing data_offsets");
      if (sh->size() > kMaxRank) throw bad("shape has " + std::to_string(sh->size()) + " dimensions (at most 64 supported)");
      TensorView v;
      v.name = name;
      if (!parse_dtype(dt->get<std::string>(), &v.dtype)) throw bad("unknown dtype '" + dt->get<std::string>() + "'");
      uint64_t numel = 1;
      for (const auto& d : *sh) {
        if (!is_count(d)) throw bad("shape entry " + d.dump() + " is not a non-negative integer");
        const uint64_t dim = d.get<uint64_t>();
        if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) throw bad("shape overflows");
        if (dim != 0 && numel > std::numeric_limits<uint64_t>::max() / dim) throw bad("shape overflows");
        numel *= dim;
        v.shape.push_back(static_cast<int64_t>(dim));
      }
      for (const auto& o : *off) {
        if (!is_count(o)) throw bad("data_offsets entry " + o.dump() + " is not a non-negative integer");
      }
      const uint64_t begin = (*off)[0].get<uint64_t>();
      const uint64_t end = (*off)[1].get<uint64_t>();
      if (begin > end) throw bad("data_offsets begin after end");
      if (end > data_size) {
        throw bad("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                  ") point outside the file (data section is " + std::to_string(data_size) + " bytes)");
      }
      const uint64_t elem = dtype_size(v.dtype);
      if (numel > std::numeric_limits<uint64_t>::max() / elem || numel * elem != end - begin) {
        throw bad("byte size " + std::to_string(end - begin) + " does not match shape " + shape_string(v.shape) +
                  " x " + std::string(dtype_name(v.dtype)));
      }
      if (begin != end) spans.push_back({begin, end, &name});
      v.data = data_begin + begin;
      v.nbytes = end - begin;
      add(std::move(v));
    }
    // Writers lay tensors out back to back; two tensors sharing bytes means a corrupt or crafted header.
    std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
    for (size_t k = 1; k < spans.size(); ++k) {
      if (spans[k].begin < spans[k - 1].end) {
        throw FormatError(path_, "bad safetensors header: tensors '" + *spans[k - 1].name + "' and '" + *spans[k].name +
                                     "' overlap in the data section");
      }
    }
  }

  static bool is_count(const nlohmann::json& j) {
    return j.is_number_unsigned() || (j.is_number_integer() && j.get<int64_t>() >= 0);
  }

  std::unique_ptr<MappedFile> mapping_;  // null when reading caller-owned bytes
};

// Hugging Face's sharded checkpoints: model.safetensors.index.json maps each tensor name to the shard file that
// holds it ({"metadata": {...}, "weight_map": {"name": "model-00001-of-00002.safetensors", ...}}). The shards are
// opened (and so validated and mapped) once each; the views handed out are the shards' own.
class ShardedSafetensors final : public WeightFile {
 public:
  explicit ShardedSafetensors(const std::string& index_path) : WeightFile(index_path) {
    const std::string text = read_text_file(index_path);
    nlohmann::json index;
    try {
      index = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(path_, "bad index JSON: " + json_error_text(e));
    }
    if (!index.is_object()) throw FormatError(path_, "bad index: not a JSON object");
    auto map = index.find("weight_map");
    if (map == index.end() || !map->is_object()) throw FormatError(path_, "bad index: no \"weight_map\" object");
    const size_t slash = index_path.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "" : index_path.substr(0, slash + 1);
    std::unordered_map<std::string, size_t> shard_of_file;
    for (auto it = map->begin(); it != map->end(); ++it) {
      const std::string& name = it.key();
      if (!it.value().is_string()) throw FormatError(path_, "bad index: the shard of tensor '" + name + "' is not a string");
      const std::string file = it.value().get<std::string>();
      check_shard_name(file);
      auto [slot, added] = shard_of_file.emplace(file, shards_.size());
      if (added) shards_.push_back(open_safetensors(dir + file));
      const TensorView* view = shards_[slot->second]->find(name);
      if (view == nullptr) {
        throw FormatError(path_, "tensor '" + name + "' is listed in shard '" + file + "' but missing there");
      }
      add(*view);
    }
  }

 private:
  // A shard is a file of the model's directory or below it: nothing absolute and no "..".
  void check_shard_name(const std::string& file) const {
    bool escapes = file.empty() || file[0] == '/';
    size_t begin = 0;
    while (!escapes && begin <= file.size()) {
      const size_t end = std::min(file.find('/', begin), file.size());
      if (file.compare(begin, end - begin, "..") == 0) escapes = true;
      begin = end + 1;
    }
    if (escapes) throw FormatError(path_, "bad index: shard '" + file + "' is not a file inside the model directory");
  }

  std::vector<std::unique_ptr<WeightFile>> shards_;
};

}  // namespace

std::unique_ptr<WeightFile> open_safetensors_sharded(const std::string& index_path) {
  return std::make_unique<ShardedSafetensors>(index_path);
}

std::unique_ptr<WeightFile> open_safetensors(const std::string& path) {
  auto mapping = std::make_unique<MappedFile>(path);
  const auto bytes = mapping->bytes();
  return std::make_unique<SafetensorsFile>(path, bytes, std::move(mapping));
}

std::unique_ptr<WeightFile> open_safetensors_bytes(std::span<const std::byte> bytes, const std::string& name) {
  return std::make_unique<SafetensorsFile>(name, bytes, nullptr);
}

}  // namespace mlfaas
