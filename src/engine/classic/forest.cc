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
    n_features_ = n_features;
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
    const auto left = files.ints("children_left", {n_nodes});
    const auto right = files.ints("children_right", {n_nodes});
    const auto feature = files.ints("feature", {n_nodes});
    const auto threshold = files.f64("threshold", {n_nodes});
    const auto leaf_node = files.ints("leaf_node", {-1});
    const std::vector<int64_t> leaf_shape = {static_cast<int64_t>(leaf_node.size()), static_cast<int64_t>(n_classes_)};
    if (files.dtype("leaf_value") == DType::I32) {
      leaf_counts_ = files.i32("leaf_value", leaf_shape);
      for (size_t i = 0; i < leaf_counts_.size(); ++i) {
        if (leaf_counts_[i] < 0) throw files.tensor_error("leaf_value has a negative count");
      }
    } else {
      leaf_value_ = files.f64("leaf_value", leaf_shape);
    }

    nodes_.resize(static_cast<size_t>(n_nodes));
    std::vector<bool> has_value(nodes_.size(), false);
    for (size_t i = 0; i < leaf_node.size(); ++i) {
      const int64_t node = leaf_node[i];
      if (node < 0 || node >= n_nodes || left[node] != -1) throw files.tensor_error("leaf_node names a node that is not a leaf");
      nodes_[node].feature = static_cast<int32_t>(i);
      has_value[node] = true;
    }
    // Each tree's nodes are numbered from 0 and a child always comes after its parent, so every walk ends.
    for (size_t t = 0; t + 1 < offsets_.size(); ++t) {
      const int64_t size = offsets_[t + 1] - offsets_[t];
      for (int64_t i = 0; i < size; ++i) {
        const size_t n = static_cast<size_t>(offsets_[t] + i);
        Node& node = nodes_[n];
        node.left = -1;
        node.right = -1;
        node.threshold = threshold[n];
        if (left[n] == -1) {
          if (right[n] != -1 || !has_value[n]) throw files.tensor_error("tree " + std::to_string(t) + ": leaf " + std::to_string(i) + " without a value");
          continue;
        }
        if (left[n] <= i || left[n] >= size || right[n] <= i || right[n] >= size) {
          throw files.tensor_error("tree " + std::to_string(t) + ": node " + std::to_string(i) + " has children out of order or out of range");
        }
        if (feature[n] < 0 || feature[n] >= static_cast<int64_t>(n_features)) {
          throw files.tensor_error("tree " + std::to_string(t) + ": node " + std::to_string(i) + " splits on a feature outside the vocabulary");
        }
        node.left = static_cast<int32_t>(left[n]);
        node.right = static_cast<int32_t>(right[n]);
        node.feature = static_cast<int32_t>(feature[n]);
      }
    }
  }
  Kind kind() const override { return Kind::RandomForest; }

  Prediction predict_row(const SparseRow& row) const override { return predict_rows({&row, 1}).front(); }

  // Tree by tree over the whole batch, as sklearn does: a tree's nodes stay in cache for every text instead
  // of the whole forest (tens of MB) streaming through it once per text. Each text still adds its trees'
  // probabilities in tree order, so the sums are sklearn's.
  std::vector<Prediction> predict_rows(std::span<const SparseRow> rows) const override {
    std::vector<double> proba(rows.size() * n_classes_, 0.0);
    // Walks read a feature per node (hundreds per tree in a full-depth forest over words), so each row is
    // spread into a per-thread dense float32 vector for its walk and cleared again afterwards.
    thread_local std::vector<float> dense;
    std::vector<double> leaf_buffer(n_classes_);
    if (dense.size() < n_features_) dense.assign(n_features_, 0.0f);
    for (size_t t = 0; t + 1 < offsets_.size(); ++t) {
      const Node* tree = nodes_.data() + offsets_[t];
      for (size_t r = 0; r < rows.size(); ++r) {
        const SparseRow& row = rows[r];
        for (size_t e = 0; e < row.columns.size(); ++e) dense[row.columns[e]] = static_cast<float>(row.counts[e]);
        const Node* node = tree;
        while (node->left != -1) {
          node = tree + (static_cast<double>(dense[node->feature]) <= node->threshold ? node->left : node->right);
        }
        for (int32_t column : row.columns) dense[column] = 0.0f;
        // DecisionTreeClassifier.predict_proba: value / value.sum(axis=1), a zero sum left as 1. Done here
        // rather than at load so the leaf values stay in the file's mapping (a full forest's are ~45 MB).
        const double* leaf = leaf_values(static_cast<size_t>(node->feature), leaf_buffer);
        double norm = numpy_sum(leaf, n_classes_);
        if (norm == 0.0) norm = 1.0;
        double* out = proba.data() + r * n_classes_;
        for (size_t c = 0; c < n_classes_; ++c) out[c] += leaf[c] / norm;
      }
    }
    const double n_trees = static_cast<double>(offsets_.size() - 1);
    std::vector<Prediction> predictions(rows.size());
    for (size_t r = 0; r < rows.size(); ++r) {
      double* out = proba.data() + r * n_classes_;
      Prediction& p = predictions[r];
      p.index = 0;
      for (size_t c = 0; c < n_classes_; ++c) {
        out[c] /= n_trees;
        if (out[c] > out[p.index]) p.index = static_cast<int>(c);
      }
      p.label = classes[static_cast<size_t>(p.index)];
    }
    return predictions;
  }

 private:
  // One cache line holds most of a walk's next steps: the left child is usually the next node.
  struct Node {
    int32_t left;     // tree-relative index, -1 at a leaf
    int32_t right;
    int32_t feature;  // at a leaf: the row of leaf_value
    double threshold;
  };

  // Leaf values are whole counts stored as I32 (bootstrap weights), or F64 in general.
  const double* leaf_values(size_t leaf, std::vector<double>& buffer) const {
    if (leaf_value_.data()) return leaf_value_.data() + leaf * n_classes_;
    const int32_t* counts = leaf_counts_.data() + leaf * n_classes_;
    for (size_t c = 0; c < n_classes_; ++c) buffer[c] = counts[c];
    return buffer.data();
  }

  size_t n_classes_ = 0, n_features_ = 0;
  std::vector<int64_t> offsets_;
  std::vector<Node> nodes_;
  F64Array leaf_value_;
  I32Array leaf_counts_;
};

}  // namespace

std::unique_ptr<Estimator> make_forest(const ModelFiles& files, size_t n_features) {
  return std::make_unique<Forest>(files, n_features);
}

}  // namespace mlfaas::classic
