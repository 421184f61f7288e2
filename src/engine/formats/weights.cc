#include "engine/formats/weights.h"

#include <sys/stat.h>

#include <cstring>

#include "engine/error.h"

namespace mlfaas {

std::string_view dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::F64: return "F64";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::I16: return "I16";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::Bool: return "BOOL";
  }
  return "?";
}

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::F64: case DType::I64: return 8;
    case DType::F32: case DType::I32: return 4;
    case DType::F16: case DType::BF16: case DType::I16: return 2;
    case DType::I8: case DType::U8: case DType::Bool: return 1;
  }
  return 0;
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

const TensorView* WeightFile::find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorView& WeightFile::require(std::string_view name) const {
  const TensorView* t = find(name);
  if (t == nullptr) throw FormatError(path_, "missing tensor '" + std::string(name) + "'");
  return *t;
}

void WeightFile::add(TensorView view) {
  std::string key = view.name;
  if (!index_.emplace(key, tensors_.size()).second) throw FormatError(path_, "duplicate tensor '" + key + "'");
  tensors_.push_back(std::move(view));
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (mant & 0x3ffu) << 13;
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

void WeightFile::f32_into(std::string_view name, std::initializer_list<int64_t> expected_shape, float* out) const {
  const TensorView& t = require(name);
  std::vector<int64_t> want(expected_shape);
  if (t.shape != want) {
    throw FormatError(path_, "tensor '" + t.name + "' has shape " + shape_string(t.shape) + ", expected " +
                                 shape_string(want));
  }
  const int64_t n = t.numel();
  switch (t.dtype) {
    case DType::F32:
      std::memcpy(out, t.data, static_cast<size_t>(n) * 4);
      break;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, t.data + i * 2, 2);
        out[i] = f16_to_f32(h);
      }
      break;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, t.data + i * 2, 2);
        out[i] = bf16_to_f32(h);
      }
      break;
    default:
      throw FormatError(path_, "tensor '" + t.name + "' has dtype " + std::string(dtype_name(t.dtype)) +
                                   ", expected F32, F16 or BF16");
  }
}

std::vector<float> WeightFile::f32(std::string_view name, std::initializer_list<int64_t> expected_shape) const {
  int64_t n = 1;
  for (int64_t d : expected_shape) n *= d;
  std::vector<float> out(static_cast<size_t>(n));
  f32_into(name, expected_shape, out.data());
  return out;
}

std::unique_ptr<WeightFile> open_model_weights(const std::string& dir_or_file) {
  struct stat st {};
  if (::stat(dir_or_file.c_str(), &st) != 0) throw FormatError(dir_or_file, "file not found");
  if (S_ISDIR(st.st_mode)) {
    std::string st_path = dir_or_file + "/model.safetensors";
    std::string index_path = dir_or_file + "/model.safetensors.index.json";
    std::string bin_path = dir_or_file + "/pytorch_model.bin";
    struct stat s2 {};
    if (::stat(st_path.c_str(), &s2) == 0) return open_safetensors(st_path);
    if (::stat(index_path.c_str(), &s2) == 0) return open_safetensors_sharded(index_path);
    if (::stat(bin_path.c_str(), &s2) == 0) return open_pytorch_bin(bin_path);
    throw FormatError(dir_or_file, "no model.safetensors or pytorch_model.bin in this directory");
  }
  const std::string& p = dir_or_file;
  if (p.size() >= 11 && p.compare(p.size() - 11, 11, ".index.json") == 0) return open_safetensors_sharded(p);
  if (p.size() >= 4 && p.compare(p.size() - 4, 4, ".bin") == 0) return open_pytorch_bin(p);
  return open_safetensors(p);
}

}  // namespace mlfaas
