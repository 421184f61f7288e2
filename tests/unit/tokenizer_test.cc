// Targeted behaviour of the WordPiece tokenizer: each rule of BertTokenizer on its own, vocabulary loading and
// its errors, truncation, invalid UTF-8. Expected pieces are vocabulary strings or equivalences between inputs
// (e.g. an accented word must tokenize like its unaccented form), not ids copied from our own output.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/tokenizer/wordpiece.h"

namespace {

using mlfaas::WordPieceTokenizer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kData = MLFAAS_TEST_DATA;

const WordPieceTokenizer& bert() {
  static const WordPieceTokenizer tok = WordPieceTokenizer::from_vocab_file(kData + "/vocab/bert-base-uncased.txt");
  return tok;
}

std::vector<std::string> pieces(const WordPieceTokenizer& tok, std::string_view text) {
  std::vector<int32_t> ids;
  tok.tokenize_ids(text, -1, &ids);
  std::vector<std::string> out;
  for (int32_t id : ids) out.emplace_back(tok.id_to_token(id));
  return out;
}
std::vector<std::string> pieces(std::string_view text) { return pieces(bert(), text); }

std::string temp_file(const std::string& name, const std::string& contents) {
  std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / "tokenizer_test";
  std::filesystem::create_directories(dir);
  std::string path = (dir / name).string();
  std::ofstream(path, std::ios::binary) << contents;
  return path;
}

TEST(Tokenizer, SpecialIdsComeFromTheVocabulary) {
  EXPECT_EQ(bert().pad_id(), 0);
  EXPECT_EQ(bert().unk_id(), 100);
  EXPECT_EQ(bert().cls_id(), 101);
  EXPECT_EQ(bert().sep_id(), 102);
  EXPECT_EQ(bert().mask_id(), 103);
  EXPECT_EQ(bert().vocab_size(), 30522u);
  auto tiny = WordPieceTokenizer::from_model_dir(kData + "/models/bert-tiny-mlm");
  EXPECT_EQ(tiny.vocab_size(), 2500u);
  EXPECT_EQ(tiny.unk_id(), 11);
  EXPECT_EQ(tiny.cls_id(), 12);
  EXPECT_EQ(tiny.sep_id(), 13);
  EXPECT_EQ(tiny.mask_id(), 14);
}

TEST(Tokenizer, TokenIdRoundTrip) {
  EXPECT_EQ(bert().token_to_id("hello"), 7592);
  EXPECT_EQ(bert().id_to_token(7592), "hello");
  EXPECT_EQ(bert().token_to_id("##ing"), 2075);
  EXPECT_EQ(bert().token_to_id("hel"), -1);
  EXPECT_EQ(bert().token_to_id("no-such-token"), -1);
  EXPECT_EQ(bert().id_to_token(-1), "");
  EXPECT_EQ(bert().id_to_token(30522), "");
}

TEST(Tokenizer, LowerCasesAndSplitsWordPieces) {
  EXPECT_THAT(pieces("Hello WORLD"), ElementsAre("hello", "world"));
  EXPECT_THAT(pieces("unaffable"), ElementsAre("una", "##ffa", "##ble"));
  EXPECT_THAT(pieces("  cats\tand\nnew\r\nlines  "), ElementsAre("cats", "and", "new", "lines"));
}

TEST(Tokenizer, StripsAccentsLikeTheUnaccentedWord) {
  EXPECT_THAT(pieces("Café"), ElementsAre("cafe"));
  EXPECT_EQ(pieces("naïve Ångström"), pieces("naive angstrom"));
  EXPECT_EQ(pieces("cafe\u0301"), pieces("cafe"));  // decomposed input, combining acute dropped
  EXPECT_EQ(pieces("\u0301"), std::vector<std::string>{});  // a lone mark vanishes entirely
}

TEST(Tokenizer, FullUnicodeLowerCase) {
  EXPECT_EQ(pieces("İstanbul"), pieces("istanbul"));  // U+0130 -> i + U+0307, the dot is then stripped
  EXPECT_EQ(pieces("ΣΟΦΟΣ"), pieces("σοφοσ"));       // per-character lower case: no final-sigma form
  EXPECT_NE(pieces("ΣΟΦΟΣ"), pieces("σοφος"));
  EXPECT_EQ(pieces("STRASSE straße"), pieces("strasse straße"));  // ß has no single-character lower change
}

TEST(Tokenizer, SplitsCjkIdeographsButNotKana) {
  EXPECT_THAT(pieces("中文人"), ElementsAre("中", "文", "人"));
  EXPECT_THAT(pieces("ab中cd"), ElementsAre("ab", "中", "cd"));
  auto kana = pieces("ひらがな");
  ASSERT_GE(kana.size(), 2u);
  EXPECT_EQ(kana[0], "ひ");
  EXPECT_EQ(kana[1], "##ら");
  EXPECT_EQ(pieces("\uF900"), pieces("\u8C48"));  // compatibility ideograph: NFD maps it to the unified one
}

TEST(Tokenizer, SplitsPunctuationAsciiRangesAndCategoryP) {
  EXPECT_THAT(pieces("hello,world!!"), ElementsAre("hello", ",", "world", "!", "!"));
  EXPECT_THAT(pieces("$5 ^_^"), ElementsAre("$", "5", "^", "_", "^"));  // ASCII symbols count as punctuation
  EXPECT_THAT(pieces("«hi»"), ElementsAre("«", "hi", "»"));             // Pi / Pf
  EXPECT_THAT(pieces("it’s"), ElementsAre("it", "’", "s"));
  EXPECT_THAT(pieces("€5"), ElementsAre("€", "##5"));  // Sc outside ASCII is not punctuation
}

TEST(Tokenizer, WhitespaceAndControlCharacters) {
  EXPECT_EQ(pieces("a\u00A0b\u3000c\u2028d\u2029e"), pieces("a b c d e"));  // Zs and line/paragraph separators
  EXPECT_EQ(pieces(std::string("ab\0cd", 5)), pieces("abcd"));               // NUL dropped, no split
  EXPECT_EQ(pieces("ab\x7f" "cd\u200Bef\uFEFFgh\u00ADij\uFFFDkl"), pieces("abcdefghijkl"));
}

TEST(Tokenizer, WordLengthLimitCountsNormalizedCodePoints) {
  auto unk = std::vector<std::string>{"[UNK]"};
  EXPECT_NE(pieces(std::string(99, 'a')), unk);
  EXPECT_NE(pieces(std::string(100, 'a')), unk);
  EXPECT_EQ(pieces(std::string(101, 'a')), unk);
  std::string accented;  // 100 letters, each followed by a combining mark: 200 code points before stripping
  for (int i = 0; i < 100; ++i) accented += "e\u0301";
  EXPECT_EQ(pieces(accented), pieces(std::string(100, 'e')));
  EXPECT_EQ(pieces(accented + "e\u0301"), unk);
  std::string wide;  // 101 two-byte letters
  for (int i = 0; i < 101; ++i) wide += "ж";
  EXPECT_EQ(pieces(wide), unk);
  EXPECT_THAT(pieces(std::string(101, 'a') + " ok"), ElementsAre("[UNK]", "ok"));
}

TEST(Tokenizer, UncoverableWordIsOneUnk) {
  // "\u2603" (snowman) is not in the vocabulary: the whole word becomes [UNK], pieces before it are dropped.
  EXPECT_THAT(pieces("hello\u2603"), ElementsAre("[UNK]"));
  EXPECT_THAT(pieces("hi \u2603 there"), ElementsAre("hi", "[UNK]", "there"));
}

TEST(Tokenizer, SpecialTokensMatchedVerbatimBeforeSplitting) {
  EXPECT_THAT(pieces("[CLS] a [SEP]"), ElementsAre("[CLS]", "a", "[SEP]"));
  EXPECT_THAT(pieces("x[MASK]y"), ElementsAre("x", "[MASK]", "y"));
  EXPECT_THAT(pieces("[PAD][UNK]"), ElementsAre("[PAD]", "[UNK]"));
  EXPECT_THAT(pieces("[mask]"), ElementsAre("[", "mask", "]"));  // case-sensitive
  EXPECT_THAT(pieces("[MASK"), ElementsAre("[", "mask"));
  EXPECT_THAT(pieces("[[MASK]]"), ElementsAre("[", "[MASK]", "]"));
}

TEST(Tokenizer, EncodeAddsClsSepAndTruncates) {
  mlfaas::Encoding enc;
  bert().encode("", 128, &enc);
  EXPECT_THAT(enc.input_ids, ElementsAre(101, 102));
  EXPECT_THAT(enc.token_type_ids, ElementsAre(0, 0));
  EXPECT_THAT(enc.attention_mask, ElementsAre(1, 1));
  bert().encode(" \t\n\x01 ", 128, &enc);
  EXPECT_THAT(enc.input_ids, ElementsAre(101, 102));

  std::string long_text;
  for (int i = 0; i < 200; ++i) long_text += "hello ";
  bert().encode(long_text, 16, &enc);
  ASSERT_EQ(enc.input_ids.size(), 16u);
  EXPECT_EQ(enc.input_ids.front(), 101);
  EXPECT_EQ(enc.input_ids.back(), 102);
  EXPECT_EQ(enc.input_ids[14], 7592);
  EXPECT_EQ(enc.attention_mask.size(), 16u);
  // Truncation inside a multi-piece word keeps the first pieces.
  bert().encode("unaffable", 4, &enc);
  EXPECT_THAT(enc.input_ids, ElementsAre(101, bert().token_to_id("una"), bert().token_to_id("##ffa"), 102));
  bert().encode(long_text, 2, &enc);
  EXPECT_THAT(enc.input_ids, ElementsAre(101, 102));
  bert().encode(long_text, 0, &enc);  // no limit
  EXPECT_EQ(enc.input_ids.size(), 202u);
  EXPECT_THROW(bert().encode("x", 1, &enc), mlfaas::InputError);
}

TEST(Tokenizer, EncodeBatchMatchesEncode) {
  std::vector<std::string_view> texts = {"Hello there!", "", "I'm fine, thanks."};
  std::vector<mlfaas::Encoding> batch;
  bert().encode_batch(texts, 8, &batch);
  ASSERT_EQ(batch.size(), 3u);
  for (size_t i = 0; i < texts.size(); ++i) {
    mlfaas::Encoding one;
    bert().encode(texts[i], 8, &one);
    EXPECT_EQ(batch[i].input_ids, one.input_ids);
  }
}

TEST(Tokenizer, InvalidUtf8BytesAreDropped) {
  EXPECT_EQ(pieces("ab\xff" "cd"), pieces("abcd"));
  EXPECT_EQ(pieces("h\xc3\xa9llo\x80"), pieces("hello"));     // valid é kept (then stripped), stray byte dropped
  EXPECT_EQ(pieces("caf\xc3"), pieces("caf"));                  // truncated at the end
  EXPECT_EQ(pieces("a\xe2\x82 b"), pieces("a b"));              // truncated in the middle
  EXPECT_EQ(pieces("a\xc0\xaf" "b"), pieces("ab"));             // overlong "/"
  EXPECT_EQ(pieces("a\xed\xa0\x80" "b"), pieces("ab"));         // UTF-16 surrogate
  EXPECT_EQ(pieces("a\xf4\x90\x80\x80" "b"), pieces("ab"));     // above U+10FFFF
  EXPECT_EQ(pieces("\xe4\xb8" "\xe4\xb8\xad"), pieces("中"));   // resynchronises on the next lead byte
}

TEST(Tokenizer, CasedVocabularyComposesNfc) {
  std::string vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nHello\nhello\n\u00e9\n##t\u00e9\nA\n";
  auto tok = WordPieceTokenizer::from_vocab_file(temp_file("cased.txt", vocab), /*do_lower_case=*/false);
  EXPECT_FALSE(tok.strip_accents());
  EXPECT_THAT(pieces(tok, "Hello hello"), ElementsAre("Hello", "hello"));
  EXPECT_THAT(pieces(tok, "e\u0301 e\u0301te\u0301 te\u0301"),
              ElementsAre("\u00e9", "\u00e9", "##t\u00e9", "[UNK]"));  // composed to é
  EXPECT_THAT(pieces(tok, "\u00e9t\u00e9"), ElementsAre("\u00e9", "##t\u00e9"));
  EXPECT_THAT(pieces(tok, "\u212b"), ElementsAre("[UNK]"));  // Angstrom sign -> Å, not in this vocabulary
  EXPECT_THAT(pieces(tok, "HELLO"), ElementsAre("[UNK]"));
}

TEST(Tokenizer, TokenizerConfigStripAccentsFalseKeepsAccents) {
  std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / "tokenizer_test_model";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "vocab.txt") << "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\ncafe\ncaf\u00e9\n";
  std::ofstream(dir / "tokenizer_config.json") << R"({"do_lower_case": true, "strip_accents": false})";
  auto tok = WordPieceTokenizer::from_model_dir(dir.string());
  EXPECT_TRUE(tok.do_lower_case());
  EXPECT_FALSE(tok.strip_accents());
  EXPECT_THAT(pieces(tok, "CAFE\u0301 Cafe"), ElementsAre("caf\u00e9", "cafe"));
  std::ofstream(dir / "tokenizer_config.json") << R"({"do_lower_case": "yes"})";
  EXPECT_THROW(WordPieceTokenizer::from_model_dir(dir.string()), mlfaas::FormatError);
}

TEST(Tokenizer, CanonicalOrderOfKeptCombiningMarks) {
  // U+1D16D (class 226) and U+1D165 (class 216) are spacing marks that survive accent stripping; NFD puts
  // the lower class first, so both spellings must find the same token.
  std::string vocab = "[UNK]\n[CLS]\n[SEP]\na\U0001D165\U0001D16D\n";
  auto tok = WordPieceTokenizer::from_vocab_file(temp_file("marks.txt", vocab));
  EXPECT_THAT(pieces(tok, "a\U0001D16D\U0001D165"), ElementsAre("a\U0001D165\U0001D16D"));
  EXPECT_THAT(pieces(tok, "A\U0001D165\u0301\U0001D16D"), ElementsAre("a\U0001D165\U0001D16D"));
}

TEST(Vocabulary, LinesCrLfAndFinalNewline) {
  auto crlf = WordPieceTokenizer::from_vocab_file(temp_file("crlf.txt", "[UNK]\r\n[CLS]\r\n[SEP]\r\nhi\r\n"));
  EXPECT_EQ(crlf.vocab_size(), 4u);
  EXPECT_EQ(crlf.token_to_id("hi"), 3);
  auto no_final = WordPieceTokenizer::from_vocab_file(temp_file("nofinal.txt", "[UNK]\n[CLS]\n[SEP]\nhi"));
  EXPECT_EQ(no_final.vocab_size(), 4u);
  EXPECT_EQ(no_final.id_to_token(3), "hi");
  // A repeated token keeps its last line's id, as Python's dict in transformers' load_vocab.
  auto dup = WordPieceTokenizer::from_vocab_file(temp_file("dup.txt", "[UNK]\nhi\n[CLS]\n[SEP]\nhi\n"));
  EXPECT_EQ(dup.token_to_id("hi"), 4);
  EXPECT_EQ(dup.pad_id(), -1);
  EXPECT_EQ(dup.mask_id(), -1);
  EXPECT_THAT(pieces(dup, "[MASK]"), ElementsAre("[UNK]", "[UNK]", "[UNK]"));  // not special without the entry
}

void expect_format_error(const std::string& path, const std::string& problem) {
  try {
    WordPieceTokenizer::from_vocab_file(path);
    ADD_FAILURE() << "no error for " << path;
  } catch (const mlfaas::FormatError& e) {
    EXPECT_EQ(e.path(), path);
    EXPECT_THAT(e.what(), HasSubstr(path));
    EXPECT_THAT(e.problem(), HasSubstr(problem));
  }
}

TEST(Vocabulary, ErrorsNameTheFileAndTheProblem) {
  expect_format_error(temp_file("x", "") + ".missing", "cannot open");
  expect_format_error(temp_file("empty.txt", ""), "empty vocabulary");
  expect_format_error(temp_file("no_unk.txt", "[PAD]\n[CLS]\n[SEP]\n"), "no [UNK]");
  expect_format_error(temp_file("no_cls.txt", "[UNK]\n[SEP]\n"), "no [CLS]");
  expect_format_error(temp_file("no_sep.txt", "[UNK]\n[CLS]\n"), "no [SEP]");
  EXPECT_THROW(WordPieceTokenizer::from_model_dir(::testing::TempDir() + "/no-such-model"), mlfaas::FormatError);
}

}  // namespace
