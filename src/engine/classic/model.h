#pragma once
// Seed B's classic-ML models (KMeans, GaussianMixture, PCA, LogisticRegression, LinearSVC, RandomForest over
// CountVectorizer counts), read from the portable export of tools/train_classic.py (docs/CLASSIC.md) and run
// in double precision so that predictions equal scikit-learn's.
//
//   auto model = mlfaas::classic::Model::load("models/classic/kmeans");
//   std::vector<std::string_view> texts = {"I am so happy", "this is awful"};
//   for (const auto& p : model.predict_batch(texts)) std::puts(model.to_json(p).dump().c_str());
#include <nlohmann/json_fwd.hpp>

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mlfaas::classic {

enum class Kind { KMeans, GaussianMixture, PCA, LogisticRegression, LinearSVC, RandomForest };

// The names used in model.json, handler names and the CLI: kmeans, gmm, pca, logreg, svm, random-forest.
std::string_view kind_name(Kind kind);

struct Prediction {
  std::string label;              // classifiers: the predicted class
  int index = -1;                 // class index / cluster (KMeans) / component (GMM)
  double score = 0;               // GMM: log-likelihood of the text's counts (score_samples)
  std::vector<double> projection;  // PCA: the coordinates (n_components of them)
};

class Estimator;

class Model {
 public:
  // A model directory (holding model.json) or the model.json itself. Throws FormatError naming the bad file.
  static Model load(const std::string& dir_or_file);

  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  Kind kind() const;
  const std::string& path() const { return json_path_; }
  // Classifiers: the class labels in sklearn's classes_ order; empty otherwise.
  const std::vector<std::string>& classes() const;

  Prediction predict(std::string_view text) const;
  std::vector<Prediction> predict_batch(std::span<const std::string_view> texts) const;

  // {"label": "joy"} | {"cluster": 2} | {"component": 1, "score": -123.4} | {"projection": [x, y]}
  nlohmann::json to_json(const Prediction& prediction) const;

 private:
  Model(std::string json_path, std::unique_ptr<Estimator> estimator);
  static Model from_meta(const std::string& json_path, const nlohmann::json& meta);
  std::string json_path_;
  std::unique_ptr<Estimator> estimator_;
};

}  // namespace mlfaas::classic
