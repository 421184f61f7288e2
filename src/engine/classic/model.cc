#include "engine/classic/model.h"

#include <nlohmann/json.hpp>

#include <filesystem>

#include "engine/classic/estimators.h"
#include "engine/error.h"
#include "engine/formats/mapped_file.h"

namespace mlfaas::classic {
namespace {

constexpr int kFormatVersion = 1;

struct KindName {
  Kind kind;
  std::string_view name;
};
constexpr KindName kKinds[] = {{Kind::KMeans, "kmeans"},      {Kind::GaussianMixture, "gmm"},
                               {Kind::PCA, "pca"},            {Kind::LogisticRegression, "logreg"},
                               {Kind::LinearSVC, "svm"},      {Kind::RandomForest, "random-forest"}};

}  // namespace

std::string_view kind_name(Kind kind) {
  for (const auto& k : kKinds) {
    if (k.kind == kind) return k.name;
  }
  return "unknown";
}

Model::Model(std::string json_path, std::unique_ptr<Estimator> estimator)
    : json_path_(std::move(json_path)), estimator_(std::move(estimator)) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

Model Model::load(const std::string& dir_or_file) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const bool is_json_file = dir_or_file.ends_with(".json") && !fs::is_directory(dir_or_file, ec);
  const std::string json_path = is_json_file ? dir_or_file : (fs::path(dir_or_file) / "model.json").string();
  const std::string text = read_text_file(json_path);
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw FormatError(json_path, std::string("not valid JSON (") + e.what() + ")");
  }
  try {
    return from_meta(json_path, meta);
  } catch (const nlohmann::json::exception& e) {
    // A field of the wrong JSON type deep inside (e.g. "kind": 3).
    throw FormatError(json_path, std::string("mistyped field (") + e.what() + ")");
  }
}

Model Model::from_meta(const std::string& json_path, const nlohmann::json& meta) {
  namespace fs = std::filesystem;
  auto bad = [&](const std::string& what) { return FormatError(json_path, what); };
  if (!meta.is_object() || meta.value("format", "") != "mlfaas-classic") {
    throw bad("not an mlfaas-classic model (expected \"format\": \"mlfaas-classic\")");
  }
  if (!meta.contains("format_version") || meta["format_version"] != kFormatVersion) {
    throw bad("unsupported format_version (this build reads " + std::to_string(kFormatVersion) + ")");
  }
  const std::string kind_str = meta.value("kind", "");
  const KindName* kind = nullptr;
  for (const auto& k : kKinds) {
    if (k.name == kind_str) kind = &k;
  }
  if (!kind) throw bad("unknown model kind '" + kind_str + "' (expected kmeans, gmm, pca, logreg, svm or random-forest)");
  if (!meta.contains("vectorizer")) throw bad("missing 'vectorizer'");
  CountVectorizer vectorizer = CountVectorizer::from_json(meta["vectorizer"], json_path);

  const std::string tensors = meta.value("tensors", "");
  if (tensors.empty() || tensors.find('/') != std::string::npos || tensors == "..") {
    throw bad("'tensors' must name a file next to model.json");
  }
  const std::string tensors_path = (fs::path(json_path).parent_path() / tensors).string();
  ModelFiles files(json_path, meta, open_safetensors(tensors_path));
  const size_t n = vectorizer.n_features();
  std::unique_ptr<Estimator> est;
  switch (kind->kind) {
    case Kind::KMeans: est = make_kmeans(files, n); break;
    case Kind::GaussianMixture: est = make_gmm(files, n); break;
    case Kind::PCA: est = make_pca(files, n); break;
    case Kind::LogisticRegression:
    case Kind::LinearSVC: est = make_linear(files, n, kind->kind); break;
    case Kind::RandomForest: est = make_forest(files, n); break;
  }
  est->vectorizer = std::move(vectorizer);
  est->mapping = files.mapping();
  return Model(json_path, std::move(est));
}

Kind Model::kind() const { return estimator_->kind(); }
const std::vector<std::string>& Model::classes() const { return estimator_->classes; }

Prediction Model::predict(std::string_view text) const {
  return estimator_->predict_row(estimator_->vectorizer.transform(text));
}

std::vector<Prediction> Model::predict_batch(std::span<const std::string_view> texts) const {
  std::vector<SparseRow> rows;
  rows.reserve(texts.size());
  for (std::string_view t : texts) rows.push_back(estimator_->vectorizer.transform(t));
  return estimator_->predict_rows(rows);
}

nlohmann::json Model::to_json(const Prediction& p) const {
  switch (kind()) {
    case Kind::KMeans: return {{"cluster", p.index}};
    case Kind::GaussianMixture: return {{"component", p.index}, {"score", p.score}};
    case Kind::PCA: return {{"projection", p.projection}};
    default: return {{"label", p.label}};
  }
}

}  // namespace mlfaas::classic
