// Seed B's six classic-ML functions (kmeans, gmm, pca, logreg, svm, random-forest): each loads its exported
// scikit-learn model during INIT and answers a text, a {"batch": [...]} or seed B's SNS message
// {"ExperimentId", "MessageId", "Batch"} with the model's predictions (labels, clusters, components with their
// log-likelihood, or 2-D projections).
#include <string_view>
#include <vector>

#include "engine/classic/model.h"
#include "runtime/handler.h"
#include "runtime/sentences.h"

namespace mlfaas::runtime {

using nlohmann::json;

namespace {

class ClassicHandler final : public Handler {
 public:
  ClassicHandler(const HandlerSetup& setup, const std::string& kind)
      // A checkout keeps the six models under models/classic/<kind> (tools/train_classic.py's output).
      : dir_(resolve_model_dir(setup, "classic/" + kind)), model_(mlfaas::classic::Model::load(dir_)) {
    if (mlfaas::classic::kind_name(model_.kind()) != kind)
      throw std::runtime_error(dir_ + ": holds a " + std::string(mlfaas::classic::kind_name(model_.kind())) +
                               " model, but the handler is " + kind);
  }

  json handle(const json& input, const Context&) override {
    SentenceInput in = extract_sentences(input);
    std::vector<std::string_view> texts(in.sentences.begin(), in.sentences.end());
    auto predictions = model_.predict_batch(texts);
    if (!in.is_batch) return model_.to_json(predictions.front());
    json out = json::array();
    for (const auto& p : predictions) out.push_back(model_.to_json(p));
    return {{"model", std::string(mlfaas::classic::kind_name(model_.kind()))}, {"predictions", std::move(out)}};
  }

  std::string model_name() const override { return dir_; }

 private:
  std::string dir_;
  mlfaas::classic::Model model_;
};

}  // namespace

void register_classic_handlers(HandlerRegistry& r) {
  const std::pair<const char*, const char*> kinds[] = {
      {"kmeans", "seed B's KMeans (3 clusters) over CountVectorizer counts: the cluster of each text"},
      {"gmm", "seed B's GaussianMixture (2 components): the component and log-likelihood of each text"},
      {"pca", "seed B's PCA: the 2-D projection of each text's counts"},
      {"logreg", "seed B's LogisticRegression: the emotion label of each text"},
      {"svm", "seed B's LinearSVC: the emotion label of each text"},
      {"random-forest", "seed B's RandomForest (100 trees): the emotion label of each text"},
  };
  for (const auto& [name, description] : kinds) {
    std::string kind = name;
    r.add(kind, description, [kind](const HandlerSetup& setup) -> std::unique_ptr<Handler> {
      return std::make_unique<ClassicHandler>(setup, kind);
    });
  }
}

}  // namespace mlfaas::runtime
