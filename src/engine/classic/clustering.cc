// KMeans, GaussianMixture and PCA, each following the arithmetic of scikit-learn 1.2's own predict path.
#include <nlohmann/json.hpp>

#include <cfloat>
#include <cmath>
#include <numbers>

#include "engine/classic/estimators.h"

namespace mlfaas::classic {
namespace {

class KMeans final : public Estimator {
 public:
  KMeans(const ModelFiles& files, size_t n_features)
      : centers_(files.f64("cluster_centers", {-1, static_cast<int64_t>(n_features)})),
        norms_(files.f64("center_squared_norms", {centers_.shape()[0]})),
        n_features_(n_features) {
    if (centers_.shape()[0] < 1) throw files.tensor_error("cluster_centers has no rows");
  }
  Kind kind() const override { return Kind::KMeans; }

  // _kmeans_lloyd's sparse E-step: argmin_j ||c_j||^2 - 2 x.c_j, the dot product over x's stored entries in
  // column order, strict '<' so the first of equal distances wins.
  Prediction predict_row(const SparseRow& row) const override {
    double best = DBL_MAX;
    int label = 0;
    const auto k = static_cast<int>(centers_.shape()[0]);
    for (int j = 0; j < k; ++j) {
      const double* c = centers_.data() + static_cast<size_t>(j) * n_features_;
      double dot = 0.0;
      for (size_t e = 0; e < row.columns.size(); ++e) dot += c[row.columns[e]] * row.counts[e];
      const double sq = norms_[j] - 2 * dot;
      if (sq < best) {
        best = sq;
        label = j;
      }
    }
    Prediction p;
    p.index = label;
    return p;
  }

 private:
  F64Array centers_, norms_;
  size_t n_features_;
};

class GaussianMixture final : public Estimator {
 public:
  GaussianMixture(const ModelFiles& files, size_t n_features) : d_(n_features) {
    const auto d = static_cast<int64_t>(n_features);
    auto cov = files.meta().find("covariance_type");
    if (cov == files.meta().end() || *cov != "full") throw files.json_error("gmm: only covariance_type \"full\" is supported");
    weights_ = files.f64("weights", {-1});
    k_ = static_cast<size_t>(weights_.shape()[0]);
    if (k_ < 1) throw files.tensor_error("weights is empty");
    means_ = files.f64("means", {static_cast<int64_t>(k_), d});
    prec_chol_ = files.f64("precisions_cholesky", {static_cast<int64_t>(k_), d, d});
    // _estimate_log_gaussian_prob: log det of each precision Cholesky factor, and mu . P_k (subtracted from
    // x . P_k exactly as sklearn does, rather than forming x - mu).
    mu_prec_.assign(k_ * d_, 0.0);
    log_det_.assign(k_, 0.0);
    log_weights_.assign(k_, 0.0);
    for (size_t k = 0; k < k_; ++k) {
      const double* p = prec_chol_.data() + k * d_ * d_;
      const double* mu = means_.data() + k * d_;
      double* out = mu_prec_.data() + k * d_;
      for (size_t i = 0; i < d_; ++i) {
        if (!(p[i * d_ + i] > 0)) throw files.tensor_error("precisions_cholesky has a non-positive diagonal entry");
        log_det_[k] += std::log(p[i * d_ + i]);
        if (mu[i] != 0.0) {
          for (size_t j = 0; j < d_; ++j) out[j] += mu[i] * p[i * d_ + j];
        }
      }
      if (!(weights_[k] > 0)) throw files.tensor_error("weights has a non-positive entry");
      log_weights_[k] = std::log(weights_[k]);
    }
  }
  Kind kind() const override { return Kind::GaussianMixture; }

  Prediction predict_row(const SparseRow& row) const override {
    std::vector<double> y(d_), weighted(k_);
    const double log_2pi_d = static_cast<double>(d_) * std::log(2 * std::numbers::pi);
    for (size_t k = 0; k < k_; ++k) {
      const double* p = prec_chol_.data() + k * d_ * d_;
      std::fill(y.begin(), y.end(), 0.0);
      for (size_t e = 0; e < row.columns.size(); ++e) {
        const double x = row.counts[e];
        const double* prow = p + static_cast<size_t>(row.columns[e]) * d_;
        for (size_t j = 0; j < d_; ++j) y[j] += x * prow[j];
      }
      const double* mp = mu_prec_.data() + k * d_;
      for (size_t j = 0; j < d_; ++j) {
        const double v = y[j] - mp[j];
        y[j] = v * v;
      }
      const double log_prob = -0.5 * (log_2pi_d + numpy_sum(y.data(), d_)) + log_det_[k];
      weighted[k] = log_prob + log_weights_[k];
    }
    Prediction p;
    p.index = 0;
    for (size_t k = 1; k < k_; ++k) {
      if (weighted[k] > weighted[p.index]) p.index = static_cast<int>(k);
    }
    // scipy.special.logsumexp
    double amax = weighted[p.index];
    if (!std::isfinite(amax)) amax = 0;
    for (size_t k = 0; k < k_; ++k) y[k] = std::exp(weighted[k] - amax);
    p.score = std::log(numpy_sum(y.data(), k_)) + amax;
    return p;
  }

 private:
  size_t d_, k_ = 0;
  F64Array weights_, means_, prec_chol_;
  std::vector<double> mu_prec_, log_det_, log_weights_;
};

class PCA final : public Estimator {
 public:
  PCA(const ModelFiles& files, size_t n_features) : d_(n_features) {
    const auto d = static_cast<int64_t>(n_features);
    components_ = files.f64("components", {-1, d});
    n_components_ = static_cast<size_t>(components_.shape()[0]);
    if (n_components_ < 1) throw files.tensor_error("components is empty");
    mean_ = files.f64("mean", {d});
    auto whiten = files.meta().find("whiten");
    whiten_ = whiten != files.meta().end() && whiten->is_boolean() && whiten->get<bool>();
    if (whiten_) {
      explained_variance_ = files.f64("explained_variance", {static_cast<int64_t>(n_components_)});
    }
  }
  Kind kind() const override { return Kind::PCA; }

  // (x - mean_) . components_^T over every feature, as sklearn's dense transform computes it, summed from the
  // first feature up without building the centred row (36,736 doubles per text with the full vocabulary): the
  // features between two of the row's terms contribute -mean * component.
  Prediction predict_row(const SparseRow& row) const override {
    Prediction p;
    p.projection.resize(n_components_);
    const double* mean = mean_.data();
    for (size_t c = 0; c < n_components_; ++c) {
      const double* comp = components_.data() + c * d_;
      double acc = 0.0;
      size_t i = 0;
      for (size_t e = 0; e <= row.columns.size(); ++e) {
        size_t next = e < row.columns.size() ? static_cast<size_t>(row.columns[e]) : d_;
        for (; i < next; ++i) acc += -mean[i] * comp[i];
        if (e < row.columns.size()) acc += (row.counts[e] - mean[i]) * comp[i], ++i;
      }
      if (whiten_) acc /= std::sqrt(explained_variance_[c]);
      p.projection[c] = acc;
    }
    return p;
  }

 private:
  size_t d_, n_components_ = 0;
  bool whiten_ = false;
  F64Array components_, mean_, explained_variance_;
};

}  // namespace

std::unique_ptr<Estimator> make_kmeans(const ModelFiles& files, size_t n_features) {
  return std::make_unique<KMeans>(files, n_features);
}
std::unique_ptr<Estimator> make_gmm(const ModelFiles& files, size_t n_features) {
  return std::make_unique<GaussianMixture>(files, n_features);
}
std::unique_ptr<Estimator> make_pca(const ModelFiles& files, size_t n_features) {
  return std::make_unique<PCA>(files, n_features);
}

}  // namespace mlfaas::classic
