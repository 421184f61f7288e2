// The classic-ML models against scikit-learn's own outputs: tests/data/classic/models were trained by
// tools/train_classic.py on tests/data/classic/subset.csv (500 rows of the emotion data set) and
// expected.jsonl holds scikit-learn's predictions for those rows (tools/check_classic.py --write-expected).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/classic/count_vectorizer.h"
#include "engine/classic/model.h"
#include "engine/error.h"

namespace fs = std::filesystem;
using mlfaas::FormatError;
using mlfaas::classic::Kind;
using mlfaas::classic::Model;

namespace {

const std::string kDir = std::string(MLFAAS_TEST_DATA) + "/classic";

std::vector<nlohmann::json> expected_rows() {
  std::ifstream in(kDir + "/expected.jsonl");
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(in, line);) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

double relative_error(double a, double b) {
  const double scale = std::max(std::fabs(a), std::fabs(b));
  return scale == 0 ? 0 : std::fabs(a - b) / scale;
}

class ClassicModelTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ClassicModelTest, MatchesScikitLearnOnEverySubsetRow) {
  const std::string kind = GetParam();
  const auto rows = expected_rows();
  ASSERT_EQ(rows.size(), 500u);
  const Model model = Model::load(kDir + "/models/" + kind);
  EXPECT_EQ(mlfaas::classic::kind_name(model.kind()), kind);

  std::vector<std::string> texts;
  for (const auto& r : rows) texts.push_back(r["text"].get<std::string>());
  std::vector<std::string_view> views(texts.begin(), texts.end());
  const auto predictions = model.predict_batch(views);
  ASSERT_EQ(predictions.size(), rows.size());

  size_t mismatches = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const nlohmann::json ours = model.to_json(predictions[i]);
    const nlohmann::json& want = rows[i][kind];
    bool same;
    if (kind == "pca") {
      same = ours["projection"].size() == want["projection"].size();
      for (size_t c = 0; same && c < want["projection"].size(); ++c) {
        same = relative_error(ours["projection"][c], want["projection"][c]) <= 1e-6;
      }
    } else if (kind == "gmm") {
      same = ours["component"] == want["component"] && relative_error(ours["score"], want["score"]) <= 1e-6;
    } else {
      same = ours == want;
    }
    if (!same && ++mismatches <= 3) ADD_FAILURE() << "row " << i << ": C++ " << ours.dump() << ", sklearn " << want.dump();
  }
  EXPECT_EQ(mismatches, 0u);
}

INSTANTIATE_TEST_SUITE_P(AllKinds, ClassicModelTest,
                         ::testing::Values("kmeans", "gmm", "pca", "logreg", "svm", "random-forest"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) c = c == '-' ? '_' : c;
                           return n;
                         });

// Expected tokens are what sklearn's CountVectorizer(stop_words='english').build_analyzer() returned.
TEST(ClassicVectorizer, TokenizesLikePythonRe) {
  nlohmann::json spec = nlohmann::json::parse(std::ifstream(kDir + "/models/kmeans/model.json"))["vectorizer"];
  const auto v = mlfaas::classic::CountVectorizer::from_json(spec, "model.json");
  using V = std::vector<std::string>;
  EXPECT_EQ(v.tokens("Hello, WORLD_x 42 a b2 the THE café"), (V{"hello", "world_x", "42", "b2", "café"}));
  EXPECT_EQ(v.tokens("Hello, WORLD_x 42 a b2 the THE café", true),
            (V{"hello", "world_x", "42", "b2", "the", "the", "café"}));
  EXPECT_EQ(v.tokens("İstanbul ΟΔΟΣ ΣΑΣ Σ"), (V{"stanbul", "οδος", "σας"}));
  EXPECT_EQ(v.tokens("ＡＢＣ ½½ x²y ٣٤ 名前です"), (V{"ａｂｃ", "½½", "x²y", "٣٤", "名前です"}));
  EXPECT_EQ(v.tokens("don't it’s e-mail"), (V{"don", "mail"}));
  EXPECT_EQ(v.tokens("Ⅻ ⅻ ǅungla"), (V{"ǆungla"}));
  EXPECT_EQ(v.tokens(std::string("ok\xff\xfe" "fine\xc3", 9)), (V{"ok", "fine"}));  // invalid UTF-8 splits, no crash
}

TEST(ClassicVectorizer, CountsVocabularyTermsInColumnOrder) {
  nlohmann::json spec = nlohmann::json::parse(std::ifstream(kDir + "/models/kmeans/model.json"))["vectorizer"];
  const auto v = mlfaas::classic::CountVectorizer::from_json(spec, "model.json");
  const auto& vocab = spec["vocabulary"];
  const std::string a = vocab[10], b = vocab[3];
  const auto row = v.transform(a + " the " + b + " " + a + " zzzznotaword " + a);
  ASSERT_EQ(row.columns, (std::vector<int32_t>{3, 10}));
  EXPECT_EQ(row.counts, (std::vector<double>{1, 3}));
}

TEST(ClassicModel, JsonShapes) {
  const std::string_view text = "I am so happy today";
  const auto kmeans = Model::load(kDir + "/models/kmeans");
  EXPECT_TRUE(kmeans.to_json(kmeans.predict(text)).contains("cluster"));
  const auto gmm = Model::load(kDir + "/models/gmm/model.json");
  const auto g = gmm.to_json(gmm.predict(text));
  EXPECT_TRUE(g.contains("component") && g["score"].is_number_float());
  const auto pca = Model::load(kDir + "/models/pca");
  EXPECT_EQ(pca.to_json(pca.predict(text))["projection"].size(), 2u);
  const auto forest = Model::load(kDir + "/models/random-forest");
  EXPECT_EQ(forest.classes().size(), 8u);
  EXPECT_TRUE(forest.to_json(forest.predict(text))["label"].is_string());
  EXPECT_EQ(forest.predict("").label.empty(), false);  // no tokens at all still gets a class
}

class ClassicBadFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(testing::TempDir()) / ("classic_bad_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    fs::copy(kDir + "/models/logreg", dir_, fs::copy_options::recursive);
    meta_ = nlohmann::json::parse(std::ifstream(dir_ / "model.json"));
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write_meta(const nlohmann::json& j) { std::ofstream(dir_ / "model.json") << j.dump(); }
  std::string load_error() {
    try {
      Model::load(dir_.string());
    } catch (const FormatError& e) {
      return e.what();
    }
    return "no error";
  }
  fs::path dir_;
  nlohmann::json meta_;
};

TEST_F(ClassicBadFiles, MissingDirectoryNamesTheFile) {
  EXPECT_THROW(Model::load((dir_ / "nope").string()), FormatError);
  fs::remove(dir_ / "model.json");
  EXPECT_NE(load_error().find("model.json: file not found"), std::string::npos) << load_error();
}

TEST_F(ClassicBadFiles, BrokenJsonNamesTheFile) {
  std::ofstream(dir_ / "model.json") << "{\"format\": ";
  EXPECT_NE(load_error().find("model.json: not valid JSON"), std::string::npos) << load_error();
}

TEST_F(ClassicBadFiles, UnknownKind) {
  meta_["kind"] = "xgboost";
  write_meta(meta_);
  EXPECT_NE(load_error().find("unknown model kind 'xgboost'"), std::string::npos) << load_error();
}

TEST_F(ClassicBadFiles, MistypedFieldNamesTheFile) {
  meta_["kind"] = 3;
  write_meta(meta_);
  EXPECT_NE(load_error().find("model.json: mistyped field"), std::string::npos) << load_error();
  meta_["kind"] = "logreg";
  meta_["classes"] = "joy";
  write_meta(meta_);
  EXPECT_NE(load_error().find("model.json: 'classes' must list"), std::string::npos) << load_error();
}

TEST_F(ClassicBadFiles, OtherTokenPatternRefused) {
  meta_["vectorizer"]["token_pattern"] = "\\S+";
  write_meta(meta_);
  EXPECT_NE(load_error().find("token_pattern"), std::string::npos) << load_error();
}

TEST_F(ClassicBadFiles, VocabularyNotMatchingCoefficientsNamesTheTensorFile) {
  meta_["vectorizer"]["vocabulary"].push_back("zzzextra");
  write_meta(meta_);
  const std::string err = load_error();
  EXPECT_NE(err.find("model.safetensors: tensor 'coef' has shape"), std::string::npos) << err;
}

TEST_F(ClassicBadFiles, TruncatedTensorsNamesTheTensorFile) {
  fs::resize_file(dir_ / "model.safetensors", 100);
  const std::string err = load_error();
  EXPECT_NE(err.find("model.safetensors"), std::string::npos) << err;
}

TEST_F(ClassicBadFiles, TensorsPathMayNotLeaveTheDirectory) {
  meta_["tensors"] = "../other/model.safetensors";
  write_meta(meta_);
  EXPECT_NE(load_error().find("'tensors' must name a file next to model.json"), std::string::npos);
}

TEST(ClassicBadForest, ChildrenPointingBackwardsAreRefused) {
  // A cycle in a tree would make prediction loop forever; the loader must refuse it.
  const fs::path dir = fs::path(testing::TempDir()) / ("classic_forest_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy(kDir + "/models/random-forest", dir, fs::copy_options::recursive);
  std::string blob;
  {
    std::ifstream in(dir / "model.safetensors", std::ios::binary);
    blob.assign(std::istreambuf_iterator<char>(in), {});
  }
  uint64_t header_len;
  std::memcpy(&header_len, blob.data(), 8);
  const auto header = nlohmann::json::parse(blob.substr(8, header_len));
  const size_t at = 8 + header_len + header["children_left"]["data_offsets"][0].get<size_t>();
  const int32_t zero = 0;  // node 0's left child -> node 0
  std::memcpy(blob.data() + at, &zero, sizeof zero);
  std::ofstream(dir / "model.safetensors", std::ios::binary) << blob;
  try {
    Model::load(dir.string());
    ADD_FAILURE() << "loaded a tree with a cycle";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("children out of order"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

}  // namespace
