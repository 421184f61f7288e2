// Exactness against Hugging Face's slow BertTokenizer: every row of the fixture files must give identical
// input_ids, token_type_ids and attention_mask.
#include <gtest/gtest.h>

#include "jsonl_fixtures.h"
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/tokenizer/wordpiece.h"

namespace {

const std::string kData = MLFAAS_TEST_DATA;

using mlfaas::test_fixtures::read_jsonl;

// Returns the number of identical rows; reports each mismatch with its text.
size_t count_identical(const mlfaas::WordPieceTokenizer& tok, const std::vector<nlohmann::json>& rows,
                       const std::string& file) {
  size_t same = 0;
  mlfaas::Encoding enc;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    tok.encode(row["text"].get<std::string>(), row["max_length"].get<int>(), &enc);
    bool ok = enc.input_ids == row["input_ids"].get<std::vector<int32_t>>() &&
              enc.token_type_ids == row["token_type_ids"].get<std::vector<int32_t>>() &&
              enc.attention_mask == row["attention_mask"].get<std::vector<int32_t>>();
    if (ok)
      ++same;
    else
      ADD_FAILURE() << file << " row " << i + 1 << " differs; text: " << row["text"].dump()
                    << "\n expected " << row["input_ids"].dump()
                    << "\n got      " << nlohmann::json(enc.input_ids).dump();
  }
  return same;
}

class BertBaseFixtures : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tok_ = new mlfaas::WordPieceTokenizer(
        mlfaas::WordPieceTokenizer::from_vocab_file(kData + "/vocab/bert-base-uncased.txt"));
  }
  static void TearDownTestSuite() { delete tok_; }
  static mlfaas::WordPieceTokenizer* tok_;
};
mlfaas::WordPieceTokenizer* BertBaseFixtures::tok_ = nullptr;

TEST_F(BertBaseFixtures, AllRowsOfBertTokenizerFixtureIdentical) {
  auto rows = read_jsonl(kData + "/tokenizer/bert_tokenizer.jsonl");
  ASSERT_EQ(rows.size(), 1726u);
  size_t same = count_identical(*tok_, rows, "bert_tokenizer.jsonl");
  RecordProperty("identical_rows", std::to_string(same) + "/" + std::to_string(rows.size()));
  std::printf("bert_tokenizer.jsonl: %zu / %zu rows identical\n", same, rows.size());
  EXPECT_EQ(same, rows.size());
}

TEST_F(BertBaseFixtures, AllTenSentencesIdentical) {
  auto rows = read_jsonl(kData + "/tokenizer/ten_sentences_tokenizer.jsonl");
  ASSERT_EQ(rows.size(), 10u);
  size_t same = count_identical(*tok_, rows, "ten_sentences_tokenizer.jsonl");
  std::printf("ten_sentences_tokenizer.jsonl: %zu / %zu rows identical\n", same, rows.size());
  EXPECT_EQ(same, rows.size());
}

// The tiny model fixtures have their own 2500-entry vocabulary with different special ids.
TEST(TinyModelFixtures, ExpectedInputIdsWithOwnVocab) {
  size_t models = 0, total = 0, same = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kData + "/models")) {
    if (!entry.is_directory() || !std::filesystem::exists(entry.path() / "expected.jsonl")) continue;
    ++models;
    auto tok = mlfaas::WordPieceTokenizer::from_model_dir(entry.path().string());
    EXPECT_EQ(tok.cls_id(), 12);
    EXPECT_EQ(tok.unk_id(), 11);
    auto rows = read_jsonl((entry.path() / "expected.jsonl").string());
    total += rows.size();
    same += count_identical(tok, rows, entry.path().filename().string() + "/expected.jsonl");
  }
  std::printf("tiny models: %zu models, %zu / %zu rows identical\n", models, same, total);
  EXPECT_GE(models, 7u);
  EXPECT_EQ(same, total);
}

}  // namespace
