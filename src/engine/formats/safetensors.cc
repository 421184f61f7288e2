// safetensors: 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}, then the
// raw tensor bytes. The header is validated completely (offsets inside the file, sizes consistent with
// shape x dtype, no overflow) before any view is handed out, so no later read can leave the mapping.
#include <nlohmann/json.hpp>

#include <cstring>
#include <limits>

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

class SafetensorsFile final : public WeightFile {
 public:
  explicit SafetensorsFile(const std::string& path) : WeightFile(path), file_(path) {
    const size_t size = file_.size();
    if (size < 8) throw FormatError(path_, "truncated safetensors file (" + std::to_string(size) + " bytes, no header)");
    uint64_t header_len;
    std::memcpy(&header_len, file_.data(), 8);
    if (header_len > kMaxHeaderBytes) throw FormatError(path_, "safetensors header length " + std::to_string(header_len) + " is too large");
    if (header_len > size - 8) {
      throw FormatError(path_, "truncated safetensors file: header of " + std::to_string(header_len) +
                                   " bytes but only " + std::to_string(size - 8) + " bytes follow");
    }
    const char* hdr = reinterpret_cast<const char*>(file_.data() + 8);
    nlohmann::json header;
    try {
      header = nlohmann::json::parse(hdr, hdr + header_len);
    } catch (const nlohmann::json::parse_error& e) {
      throw FormatError(path_, std::string("bad safetensors header JSON: ") + e.what());
    }
    if (!header.is_object()) throw FormatError(path_, "bad safetensors header: not a JSON object");

    const std::byte* data_begin = file_.data() + 8 + header_len;
    const uint64_t data_size = size - 8 - header_len;
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
      TensorView v;
      v.name = name;
      if (!parse_dtype(dt->get<std::string>(), &v.dtype)) throw bad("unknown dtype '" + dt->get<std::string>() + "'");
      uint64_t numel = 1;
      for (const auto& d : *sh) {
        if (!d.is_number_unsigned() && !(d.is_number_integer() && d.get<int64_t>() >= 0)) throw bad("bad shape entry");
        uint64_t dim = d.get<uint64_t>();
        if (dim != 0 && numel > std::numeric_limits<uint64_t>::max() / dim) throw bad("shape overflows");
        numel *= dim;
        v.shape.push_back(static_cast<int64_t>(dim));
      }
      for (const auto& o : *off) {
        if (!o.is_number_unsigned() && !(o.is_number_integer() && o.get<int64_t>() >= 0)) throw bad("bad data_offsets");
      }
      uint64_t begin = (*off)[0].get<uint64_t>();
      uint64_t end = (*off)[1].get<uint64_t>();
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
      v.data = data_begin + begin;
      v.nbytes = end - begin;
      add(std::move(v));
    }
  }

 private:
  MappedFile file_;
};

}  // namespace

std::unique_ptr<WeightFile> open_safetensors(const std::string& path) {
  return std::make_unique<SafetensorsFile>(path);
}

}  // namespace mlfaas
