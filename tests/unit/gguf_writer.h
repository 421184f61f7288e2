#pragma once
// A GGUF writer for tests: valid files with F32/F16/Q8_0/Q4_0 tensors (quantized as ggml's reference quantizers
// do), and, through the raw hooks, the malformed ones a reader must refuse. Little-endian hosts only, as the
// reader.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace fixtures {

// fp32 -> fp16 bits, round to nearest even (what ggml's GGML_FP32_TO_FP16 gives on F16C hardware).
inline uint16_t f32_to_f16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const int32_t exp = static_cast<int32_t>((x >> 23) & 0xff) - 127 + 15;
  uint32_t mant = x & 0x7fffffu;
  if (((x >> 23) & 0xff) == 0xff) return static_cast<uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0));
  if (exp >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
  if (exp <= 0) {
    if (exp < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000u;
    const int shift = 14 - exp;
    uint32_t half = mant >> shift;
    const uint32_t rest = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rest > mid || (rest == mid && (half & 1))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = static_cast<uint32_t>(exp) << 10 | mant >> 13;
  const uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1))) ++half;  // may carry into the exponent: still right
  return static_cast<uint16_t>(sign | half);
}

inline void put_u8(std::string& s, uint8_t v) { s += static_cast<char>(v); }
inline void put_u16(std::string& s, uint16_t v) { s.append(reinterpret_cast<const char*>(&v), 2); }
inline void put_u32(std::string& s, uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }
inline void put_u64(std::string& s, uint64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); }
inline void put_f32(std::string& s, float v) { s.append(reinterpret_cast<const char*>(&v), 4); }
inline void put_str(std::string& s, const std::string& v) {
  put_u64(s, v.size());
  s += v;
}

// ggml's quantize_row_q8_0_ref: per block of 32, d = max|x| / 127, q = round(x / d).
inline std::string quantize_q8_0(const std::vector<float>& x) {
  std::string out;
  for (size_t b = 0; b + 32 <= x.size(); b += 32) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b + j]));
    const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
    put_u16(out, f32_to_f16(d));
    for (int j = 0; j < 32; ++j) put_u8(out, static_cast<uint8_t>(static_cast<int8_t>(std::round(x[b + j] * id))));
  }
  return out;
}

// ggml's quantize_row_q4_0_ref: d = (the value of largest magnitude) / -8, q = min(15, (int)(x / d + 8.5));
// byte j = q[j] | q[j + 16] << 4.
inline std::string quantize_q4_0(const std::vector<float>& x) {
  std::string out;
  for (size_t b = 0; b + 32 <= x.size(); b += 32) {
    float amax = 0, max = 0;
    for (int j = 0; j < 32; ++j) {
      if (std::fabs(x[b + j]) > amax) {
        amax = std::fabs(x[b + j]);
        max = x[b + j];
      }
    }
    const float d = max / -8.0f, id = d != 0 ? 1.0f / d : 0.0f;
    put_u16(out, f32_to_f16(d));
    auto q = [&](int j) { return std::min(15, static_cast<int>(static_cast<int8_t>(x[b + j] * id + 8.5f))); };
    for (int j = 0; j < 16; ++j) put_u8(out, static_cast<uint8_t>(q(j) | q(j + 16) << 4));
  }
  return out;
}

class GgufWriter {
 public:
  uint32_t version = 3;
  uint64_t alignment = 32;                  // used for padding; written only through kv_u32("general.alignment")
  std::optional<uint64_t> n_kv_override;      // lie about the counts
  std::optional<uint64_t> n_tensors_override;

  // A metadata entry from its type id and already-encoded value bytes.
  GgufWriter& kv_raw(const std::string& key, uint32_t type, const std::string& value) {
    std::string e;
    put_str(e, key);
    put_u32(e, type);
    kv_ += e + value;
    ++n_kv_;
    return *this;
  }
  // An entry's bytes exactly as given (key included), for entries the typed hooks cannot express.
  GgufWriter& kv_bytes(const std::string& raw) {
    kv_ += raw;
    ++n_kv_;
    return *this;
  }
  GgufWriter& kv_u32(const std::string& key, uint32_t v) {
    std::string b;
    put_u32(b, v);
    return kv_raw(key, 4, b);
  }
  GgufWriter& kv_i32(const std::string& key, int32_t v) { return kv_u32_as(key, 5, static_cast<uint32_t>(v)); }
  GgufWriter& kv_u64(const std::string& key, uint64_t v) {
    std::string b;
    put_u64(b, v);
    return kv_raw(key, 10, b);
  }
  GgufWriter& kv_f32(const std::string& key, float v) {
    std::string b;
    put_f32(b, v);
    return kv_raw(key, 6, b);
  }
  GgufWriter& kv_bool(const std::string& key, bool v) { return kv_raw(key, 7, std::string(1, v ? '\1' : '\0')); }
  GgufWriter& kv_str(const std::string& key, const std::string& v) {
    std::string b;
    put_str(b, v);
    return kv_raw(key, 8, b);
  }
  GgufWriter& kv_str_array(const std::string& key, const std::vector<std::string>& v) {
    std::string b;
    put_u32(b, 8);
    put_u64(b, v.size());
    for (const auto& s : v) put_str(b, s);
    return kv_raw(key, 9, b);
  }
  GgufWriter& kv_f32_array(const std::string& key, const std::vector<float>& v) {
    std::string b;
    put_u32(b, 6);
    put_u64(b, v.size());
    for (float f : v) put_f32(b, f);
    return kv_raw(key, 9, b);
  }
  GgufWriter& kv_i32_array(const std::string& key, const std::vector<int32_t>& v) {
    std::string b;
    put_u32(b, 5);
    put_u64(b, v.size());
    for (int32_t i : v) put_u32(b, static_cast<uint32_t>(i));
    return kv_raw(key, 9, b);
  }

  // A tensor (dims in ggml order) with its encoded bytes; `offset` overrides the next aligned position.
  GgufWriter& tensor(const std::string& name, std::vector<int64_t> dims, uint32_t type, const std::string& data,
                     std::optional<uint64_t> offset = std::nullopt) {
    const uint64_t at = offset ? *offset : next_offset_;
    tensors_.push_back({name, std::move(dims), type, at, data});
    if (!offset) next_offset_ = pad(at + data.size());
    return *this;
  }
  GgufWriter& tensor_f32(const std::string& name, std::vector<int64_t> dims, const std::vector<float>& values) {
    return tensor(name, std::move(dims), 0, std::string(reinterpret_cast<const char*>(values.data()), values.size() * 4));
  }

  std::string bytes() const {
    std::string s = "GGUF";
    put_u32(s, version);
    put_u64(s, n_tensors_override ? *n_tensors_override : tensors_.size());
    put_u64(s, n_kv_override ? *n_kv_override : n_kv_);
    s += kv_;
    for (const Tensor& t : tensors_) {
      put_str(s, t.name);
      put_u32(s, static_cast<uint32_t>(t.dims.size()));
      for (int64_t d : t.dims) put_u64(s, static_cast<uint64_t>(d));
      put_u32(s, t.type);
      put_u64(s, t.offset);
    }
    s.resize(pad(s.size()), '\0');
    const size_t data_start = s.size();
    for (const Tensor& t : tensors_) {
      if (t.offset > (1u << 24)) continue;  // a far-away offset under test: its data is simply not there
      if (s.size() < data_start + t.offset + t.data.size()) s.resize(data_start + t.offset + t.data.size(), '\0');
      std::memcpy(s.data() + data_start + t.offset, t.data.data(), t.data.size());
    }
    return s;
  }

 private:
  struct Tensor {
    std::string name;
    std::vector<int64_t> dims;
    uint32_t type;
    uint64_t offset;
    std::string data;
  };
  GgufWriter& kv_u32_as(const std::string& key, uint32_t type, uint32_t v) {
    std::string b;
    put_u32(b, v);
    return kv_raw(key, type, b);
  }
  uint64_t pad(uint64_t n) const { return (n + alignment - 1) / alignment * alignment; }

  std::string kv_;
  uint64_t n_kv_ = 0;
  std::vector<Tensor> tensors_;
  uint64_t next_offset_ = 0;
};

}  // namespace fixtures
