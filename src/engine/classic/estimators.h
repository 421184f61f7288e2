#pragma once
// Internal to src/engine/classic: one Estimator per model kind, built from model.json + model.safetensors.
#include <nlohmann/json_fwd.hpp>

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/classic/count_vectorizer.h"
#include "engine/classic/model.h"
#include "engine/error.h"
#include "engine/formats/weights.h"

namespace mlfaas::classic {

// An array read from the safetensors file: used in place from the file's mapping when it is aligned (a
// 144 MB GMM then costs no copy and only the pages touched), copied otherwise.
template <typename T>
class MappedArray {
 public:
  MappedArray() = default;
  // Moving keeps an owned copy's buffer (and so data()) in place; copying would not, so it is not allowed.
  MappedArray(MappedArray&&) noexcept = default;
  MappedArray& operator=(MappedArray&&) noexcept = default;
  MappedArray(const MappedArray&) = delete;
  MappedArray& operator=(const MappedArray&) = delete;

  const T* data() const { return data_; }
  size_t size() const { return size_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  T operator[](size_t i) const { return data_[i]; }

 private:
  friend class ModelFiles;
  const T* data_ = nullptr;
  size_t size_ = 0;
  std::vector<int64_t> shape_;
  std::vector<T> owned_;
};
using F64Array = MappedArray<double>;
using I32Array = MappedArray<int32_t>;

// model.json + its tensors; every accessor throws FormatError naming the file that is wrong.
class ModelFiles {
 public:
  ModelFiles(std::string json_path, const nlohmann::json& meta, std::unique_ptr<WeightFile> tensors);
  const std::string& json_path() const { return json_path_; }
  const nlohmann::json& meta() const { return meta_; }
  const std::string& tensors_path() const { return tensors_->path(); }

  // The named F64 tensor; `shape` entries of -1 accept any size and report it back through the result.
  F64Array f64(const std::string& name, std::vector<int64_t> shape) const;
  I32Array i32(const std::string& name, std::vector<int64_t> shape) const;
  // The dtype of a tensor that exists (FormatError when it does not).
  DType dtype(const std::string& name) const;
  // An I32 or I64 tensor as int64 values.
  std::vector<int64_t> ints(const std::string& name, std::vector<int64_t> shape,
                            std::vector<int64_t>* actual_shape = nullptr) const;
  std::vector<std::string> classes() const;  // "classes" of model.json
  FormatError json_error(const std::string& problem) const;
  FormatError tensor_error(const std::string& problem) const;
  // Keeps the mapping alive for the F64Arrays that point into it.
  std::shared_ptr<WeightFile> mapping() const { return tensors_; }

 private:
  template <typename T>
  MappedArray<T> mapped(const std::string& name, std::vector<int64_t> shape, DType want) const;

  std::string json_path_;
  const nlohmann::json& meta_;
  std::shared_ptr<WeightFile> tensors_;
};

class Estimator {
 public:
  virtual ~Estimator() = default;
  virtual Kind kind() const = 0;
  virtual Prediction predict_row(const SparseRow& row) const = 0;
  // A batch; estimators whose parameters outgrow the cache override it to visit them once per batch.
  virtual std::vector<Prediction> predict_rows(std::span<const SparseRow> rows) const {
    std::vector<Prediction> out;
    out.reserve(rows.size());
    for (const auto& r : rows) out.push_back(predict_row(r));
    return out;
  }

  CountVectorizer vectorizer;
  std::vector<std::string> classes;
  std::shared_ptr<WeightFile> mapping;
};

std::unique_ptr<Estimator> make_kmeans(const ModelFiles& files, size_t n_features);
std::unique_ptr<Estimator> make_gmm(const ModelFiles& files, size_t n_features);
std::unique_ptr<Estimator> make_pca(const ModelFiles& files, size_t n_features);
std::unique_ptr<Estimator> make_linear(const ModelFiles& files, size_t n_features, Kind kind);
std::unique_ptr<Estimator> make_forest(const ModelFiles& files, size_t n_features);

// numpy's float64 add.reduce over a contiguous run (pairwise, 8-way unrolled below 128 elements), so that
// sums sklearn takes with np.sum come out bit-identical.
double numpy_sum(const double* values, size_t n);

}  // namespace mlfaas::classic
