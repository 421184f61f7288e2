#include <nlohmann/json.hpp>

#include <cstring>

#include "engine/classic/estimators.h"
#include "engine/error.h"

namespace mlfaas::classic {

ModelFiles::ModelFiles(std::string json_path, const nlohmann::json& meta, std::unique_ptr<WeightFile> tensors)
    : json_path_(std::move(json_path)), meta_(meta), tensors_(std::move(tensors)) {}

FormatError ModelFiles::json_error(const std::string& problem) const { return FormatError(json_path_, problem); }
FormatError ModelFiles::tensor_error(const std::string& problem) const {
  return FormatError(tensors_->path(), problem);
}

static void check_shape(const ModelFiles& files, const TensorView& t, std::vector<int64_t>& shape) {
  bool ok = t.shape.size() == shape.size();
  for (size_t i = 0; ok && i < shape.size(); ++i) ok = shape[i] < 0 || shape[i] == t.shape[i];
  if (!ok) {
    std::string want = "[";
    for (size_t i = 0; i < shape.size(); ++i) want += (i ? ", " : "") + (shape[i] < 0 ? std::string("*") : std::to_string(shape[i]));
    throw files.tensor_error("tensor '" + t.name + "' has shape " + shape_string(t.shape) + ", expected " + want + "]");
  }
  shape = t.shape;
}

template <typename T>
MappedArray<T> ModelFiles::mapped(const std::string& name, std::vector<int64_t> shape, DType want) const {
  const TensorView* t = tensors_->find(name);
  if (!t) throw tensor_error("missing tensor '" + name + "'");
  if (t->dtype != want) {
    throw tensor_error("tensor '" + name + "' is " + std::string(dtype_name(t->dtype)) + ", expected " + std::string(dtype_name(want)));
  }
  check_shape(*this, *t, shape);
  MappedArray<T> a;
  a.shape_ = shape;
  a.size_ = static_cast<size_t>(t->numel());
  if (reinterpret_cast<uintptr_t>(t->data) % alignof(T) == 0) {
    a.data_ = reinterpret_cast<const T*>(t->data);
  } else {
    a.owned_.resize(a.size_);
    std::memcpy(a.owned_.data(), t->data, a.size_ * sizeof(T));
    a.data_ = a.owned_.data();
  }
  return a;
}

F64Array ModelFiles::f64(const std::string& name, std::vector<int64_t> shape) const {
  return mapped<double>(name, std::move(shape), DType::F64);
}

I32Array ModelFiles::i32(const std::string& name, std::vector<int64_t> shape) const {
  return mapped<int32_t>(name, std::move(shape), DType::I32);
}

DType ModelFiles::dtype(const std::string& name) const {
  const TensorView* t = tensors_->find(name);
  if (!t) throw tensor_error("missing tensor '" + name + "'");
  return t->dtype;
}

std::vector<int64_t> ModelFiles::ints(const std::string& name, std::vector<int64_t> shape,
                                      std::vector<int64_t>* actual_shape) const {
  const TensorView* t = tensors_->find(name);
  if (!t) throw tensor_error("missing tensor '" + name + "'");
  check_shape(*this, *t, shape);
  const size_t n = static_cast<size_t>(t->numel());
  std::vector<int64_t> out(n);
  if (t->dtype == DType::I64) {
    std::memcpy(out.data(), t->data, n * sizeof(int64_t));
  } else if (t->dtype == DType::I32) {
    for (size_t i = 0; i < n; ++i) {
      int32_t v;
      std::memcpy(&v, t->data + i * sizeof v, sizeof v);
      out[i] = v;
    }
  } else {
    throw tensor_error("tensor '" + name + "' is " + std::string(dtype_name(t->dtype)) + ", expected I32 or I64");
  }
  if (actual_shape) *actual_shape = shape;
  return out;
}

std::vector<std::string> ModelFiles::classes() const {
  auto it = meta_.find("classes");
  if (it == meta_.end() || !it->is_array() || it->size() < 2) throw json_error("'classes' must list at least two class labels");
  std::vector<std::string> out;
  for (const auto& c : *it) {
    if (!c.is_string()) throw json_error("'classes' must be strings");
    out.push_back(c.get<std::string>());
  }
  return out;
}

double numpy_sum(const double* a, size_t n) {
  if (n < 8) {
    double res = 0.;
    for (size_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= 128) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    size_t i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (int j = 0; j < 8; ++j) r[j] += a[i + j];
    }
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  size_t n2 = n / 2;
  n2 -= n2 % 8;
  return numpy_sum(a, n2) + numpy_sum(a + n2, n - n2);
}

}  // namespace mlfaas::classic
