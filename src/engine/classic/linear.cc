// LogisticRegression and LinearSVC: sklearn's decision_function (X @ coef_.T + intercept_, the sparse product
// accumulated over x's stored entries in column order, as scipy's csr_matvecs does) and predict's argmax.
#include <nlohmann/json.hpp>

#include "engine/classic/estimators.h"

namespace mlfaas::classic {
namespace {

class Linear final : public Estimator {
 public:
  Linear(const ModelFiles& files, size_t n_features, Kind kind) : kind_(kind), n_features_(n_features) {
    classes = files.classes();
    // Two classes keep one coefficient row (the positive class); more keep one row per class.
    const int64_t rows = classes.size() == 2 ? 1 : static_cast<int64_t>(classes.size());
    coef_ = files.f64("coef", {rows, static_cast<int64_t>(n_features)});
    intercept_ = files.f64("intercept", {rows});
  }
  Kind kind() const override { return kind_; }

  Prediction predict_row(const SparseRow& row) const override {
    const size_t rows = static_cast<size_t>(coef_.shape()[0]);
    Prediction p;
    double best = 0;
    for (size_t c = 0; c < rows; ++c) {
      const double* w = coef_.data() + c * n_features_;
      double score = 0.0;
      for (size_t e = 0; e < row.columns.size(); ++e) score += row.counts[e] * w[row.columns[e]];
      score += intercept_[c];
      if (rows == 1) {
        p.index = score > 0 ? 1 : 0;
      } else if (c == 0 || score > best) {  // numpy argmax: the first maximum
        best = score;
        p.index = static_cast<int>(c);
      }
    }
    p.label = classes[static_cast<size_t>(p.index)];
    return p;
  }

 private:
  Kind kind_;
  size_t n_features_;
  F64Array coef_, intercept_;
};

}  // namespace

std::unique_ptr<Estimator> make_linear(const ModelFiles& files, size_t n_features, Kind kind) {
  return std::make_unique<Linear>(files, n_features, kind);
}

}  // namespace mlfaas::classic
