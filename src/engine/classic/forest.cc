// RandomForestClassifier: every tree's leaf value normalised to class probabilities (value / value.sum()),
// the trees' probabilities added in tree order, divided by the number of trees, argmax. Trees compare the
// feature as float32 against a float64 threshold, as sklearn's Tree.apply does on its float32 copy of X.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>

#include "engine/classic/estimators.h"

namespace mlfaas::classic {
namespace {

class Forest final : public Estimator {
 public:
  Forest(const ModelFiles& files, size_t n_features) {
    classes = files.classes();
    n_classes_ = classes.size();
    auto nf = files.meta().find("n_features");
    if (nf == files.meta().end() || !nf->is_number_integer() || nf->get<int64_t>() != static_cast<int64_t>(n_features)) {
      throw files.json_error("random-forest: n_features does not match the vocabulary size " + std::to_string(n_features));
    }
    offsets_ = files.ints("tree_offsets", {-1});
    if (offsets_.size() < 2 || offsets_.front() != 0) throw files.tensor_error("tree_offsets must start at 0 and name at least one tree");
    const int64_t n_nodes = offsets_.back();
    for (size_t t = 0; t + 1 < offsets_.size(); ++t) {
      if (offsets_[t + 1] <= offsets_[t]) throw files.tensor_error("tree_offsets must increase");
    }
    if (n_nodes > INT32_MAX) throw files.tensor_error("too many tree nodes");
    left_ = narrow(files.ints("children_left", {n_nodes}));
    right_ = narrow(files.ints("children_right", {n_nodes}));
    feature_ = narrow(files.ints("feature", {n_nodes}));
    threshold_ = files.f64("threshold", {n_nodes});
    const auto leaf_node = files.ints("leaf_node", {-1});
    leaf_value_ = files.f64("leaf_value", {static_cast<int64_t>(leaf_node.size()), static_cast<int64_t>(n_classes_)});

    leaf_of_node_.assign(static_cast<size_t>(n_nodes), -1);
    for (size_t i = 0; i < leaf_node.size(); ++i) {
      const int64_t node = leaf_node[i];
      if (node < 0 || node >= n_nodes || left_[node] != -1) throw files.tensor_error("leaf_node names a node that is not a leaf");
      leaf_of_node_[node] = static_cast<int32_t>(i);
    }
    // Each tree's nodes are numbered from 0 and a child always comes after its parent, so every walk ends.
    for (size_t t = 0; t + 1 < offsets_.size(); ++t) {
      const int64_t size = offsets_[t + 1] - offsets_[t];
      for (int64_t i = 0; i < size; ++i) {
        const size_t n = static_cast<size_t>(offsets_[t] + i);
        if (left_[n] == -1) {
          if (right_[n] != -1 || leaf_of_node_[n] < 0) throw files.tensor_error("tree " + std::to_string(t) + ": leaf " + std::to_string(i) + " without a value");
          continue;
        }
        if (left_[n] <= i || left_[n] >= size || right_[n] <= i || right_[n] >= size) {
          throw files.tensor_error("tree " + std::to_string(t) + ": node " + std::to_string(i) + " has children out of order or out of range");
        }
        if (feature_[n] < 0 || feature_[n] >= static_cast<int64_t>(n_features)) {
          throw files.tensor_error("tree " + std::to_string(t) + ": node " + std::to_string(i) + " splits on a feature outside the vocabulary");
        }
      }
    }
  }
  Kind kind() const override { return Kind::RandomForest; }

  Prediction predict_row(const SparseRow& row) const override {
    std::vector<double> proba(n_classes_, 0.0);
    for (size_t t = 0; t + 1 < offsets_.size(); ++t) {
      const int64_t base = offsets_[t];
      int64_t node = 0;
      while (left_[base + node] != -1) {
        const int32_t f = feature_[base + node];
        auto it = std::lower_bound(row.columns.begin(), row.columns.end(), f);
        const float x = it != row.columns.end() && *it == f ? static_cast<float>(row.counts[it - row.columns.begin()]) : 0.0f;
        node = static_cast<double>(x) <= threshold_[base + node] ? left_[base + node] : right_[base + node];
      }
      // DecisionTreeClassifier.predict_proba: value / value.sum(axis=1), a zero sum left as 1. Done here
      // rather than at load so the leaf values stay in the file's mapping (a full forest's are ~100 MB).
      const double* leaf = leaf_value_.data() + static_cast<size_t>(leaf_of_node_[base + node]) * n_classes_;
      double norm = numpy_sum(leaf, n_classes_);
      if (norm == 0.0) norm = 1.0;
      for (size_t c = 0; c < n_classes_; ++c) proba[c] += leaf[c] / norm;
    }
    const double n_trees = static_cast<double>(offsets_.size() - 1);
    Prediction p;
    p.index = 0;
    for (size_t c = 0; c < n_classes_; ++c) {
      proba[c] /= n_trees;
      if (proba[c] > proba[p.index]) p.index = static_cast<int>(c);
    }
    p.label = classes[static_cast<size_t>(p.index)];
    return p;
  }

 private:
  size_t n_classes_ = 0;
  static std::vector<int32_t> narrow(const std::vector<int64_t>& v) {
    std::vector<int32_t> out(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      out[i] = v[i] < INT32_MIN || v[i] > INT32_MAX ? INT32_MIN : static_cast<int32_t>(v[i]);
    }
    return out;
  }

  std::vector<int64_t> offsets_;
  std::vector<int32_t> left_, right_, feature_;
  F64Array threshold_, leaf_value_;
  std::vector<int32_t> leaf_of_node_;
};

}  // namespace

std::unique_ptr<Estimator> make_forest(const ModelFiles& files, size_t n_features) {
  return std::make_unique<Forest>(files, n_features);
}

}  // namespace mlfaas::classic
