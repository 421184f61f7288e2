// Llama's SentencePiece tokenizer against Hugging Face's slow LlamaTokenizer (legacy=False; ids and decode of all
// 400 rows of tokenizer_expected.jsonl, the tiny-llama prompts and chat renderings) and against llama2.c's run.c
// (stories260K rows); streaming decode; and damaged tokenizer files.
#include <gtest/gtest.h>

#include "jsonl_fixtures.h"
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/formats/gguf.h"
#include "engine/tokenizer/sentencepiece.h"
#include "engine/tokenizer/sentencepiece_model.h"
#include "engine/tokenizer/utf8.h"
#include "format_fixtures.h"

namespace {

using mlfaas::LlamaTokenizer;

const std::string kData = std::string(MLFAAS_TEST_DATA) + "/llama/";
const std::string kStories = std::string(MLFAAS_TEST_DATA) + "/../../models/stories260K/";

using mlfaas::test_fixtures::read_jsonl;

bool valid_utf8(const std::string& s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    if (*p < 0x80) {
      ++p;
      continue;
    }
    int length = 0;
    if (mlfaas::tokenizer::decode_utf8(p, end, &length) == mlfaas::tokenizer::kInvalidCodePoint) return false;
    p += length;
  }
  return true;
}

// push() each id then finish(): every returned piece must be valid UTF-8, and together they must equal decode().
void expect_stream_equals_decode(const LlamaTokenizer& tok, const std::vector<int32_t>& ids, bool skip,
                                 const std::string& context, int32_t previous = -1) {
  LlamaTokenizer::StreamDecoder stream(tok, skip, previous);
  std::string joined;
  for (int32_t id : ids) {
    std::string piece = stream.push(id);
    EXPECT_TRUE(valid_utf8(piece)) << context << ": push(" << id << ") returned broken UTF-8";
    joined += piece;
  }
  std::string rest = stream.finish();
  EXPECT_TRUE(valid_utf8(rest)) << context;
  joined += rest;
  if (previous < 0) {
    EXPECT_EQ(joined, tok.decode(ids, skip)) << context;
  }
}

class LlamaTokenizerFixture : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { tok_ = LlamaTokenizer::from_model_file(kData + "tokenizer/tokenizer.model"); }
  static void TearDownTestSuite() { tok_.reset(); }
  static std::shared_ptr<const LlamaTokenizer> tok_;
};
std::shared_ptr<const LlamaTokenizer> LlamaTokenizerFixture::tok_;

TEST_F(LlamaTokenizerFixture, ReadsTheModel) {
  EXPECT_EQ(tok_->vocab_size(), 1024);
  EXPECT_EQ(tok_->bos_id(), 1);
  EXPECT_EQ(tok_->eos_id(), 2);
  EXPECT_EQ(tok_->piece(3), "<0x00>");
  EXPECT_EQ(tok_->piece(869), "\xe2\x96\x81");
  EXPECT_TRUE(tok_->is_special(0));
  EXPECT_TRUE(tok_->is_special(1));
  EXPECT_FALSE(tok_->is_special(869));
  EXPECT_TRUE(tok_->vocab().add_bos);
  EXPECT_FALSE(tok_->vocab().add_eos);
  EXPECT_TRUE(tok_->vocab().byte_fallback);
}

TEST_F(LlamaTokenizerFixture, AllRowsIdenticalToHuggingFace) {
  const auto rows = read_jsonl(kData + "tokenizer_expected.jsonl");
  ASSERT_EQ(rows.size(), 400u);
  size_t same_ids = 0, same_text = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::string text = rows[i]["text"].get<std::string>();
    const auto expected = rows[i]["input_ids"].get<std::vector<int32_t>>();
    const auto ids = tok_->encode(text);
    if (ids == expected)
      ++same_ids;
    else
      ADD_FAILURE() << "row " << i + 1 << " " << rows[i]["text"].dump() << "\n expected "
                    << nlohmann::json(expected).dump() << "\n got      " << nlohmann::json(ids).dump();
    const std::string decoded = tok_->decode(expected);
    if (decoded == rows[i]["decoded"].get<std::string>())
      ++same_text;
    else
      ADD_FAILURE() << "row " << i + 1 << " decode: expected " << rows[i]["decoded"].dump() << " got "
                    << nlohmann::json(decoded).dump();
  }
  std::printf("tokenizer_expected.jsonl: ids %zu / 400, decode %zu / 400 identical\n", same_ids, same_text);
}

TEST_F(LlamaTokenizerFixture, StreamingDecodeEqualsDecodeOnEveryRow) {
  const auto rows = read_jsonl(kData + "tokenizer_expected.jsonl");
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto ids = rows[i]["input_ids"].get<std::vector<int32_t>>();
    expect_stream_equals_decode(*tok_, ids, true, "row " + std::to_string(i + 1));
    expect_stream_equals_decode(*tok_, ids, false, "row " + std::to_string(i + 1) + " (specials kept)");
  }
}

TEST_F(LlamaTokenizerFixture, TinyLlamaPromptsAndChatRenderings) {
  const auto tiny = LlamaTokenizer::from_model_file(kData + "tiny-llama/tokenizer.model");
  EXPECT_FALSE(tiny->vocab().chat_template.empty());
  size_t checked = 0;
  for (const auto& row : read_jsonl(kData + "tiny-llama/expected.jsonl")) {
    const auto expected = row["input_ids"].get<std::vector<int32_t>>();
    if (row["kind"] == "text") {
      EXPECT_EQ(tiny->encode(row["prompt"].get<std::string>()), expected) << row["prompt"].dump();
    } else if (row["kind"] == "chat") {
      // apply_chat_template tokenizes the rendered text with add_special_tokens=False.
      EXPECT_EQ(tiny->encode(row["rendered"].get<std::string>(), false), expected) << row["rendered"].dump();
    } else {
      continue;
    }
    if (row.contains("greedy_text")) {
      const auto new_ids = row["greedy_new_ids"].get<std::vector<int32_t>>();
      EXPECT_EQ(tiny->decode(new_ids), row["greedy_text"].get<std::string>());
      expect_stream_equals_decode(*tiny, new_ids, true, "greedy ids");
    }
    ++checked;
  }
  EXPECT_EQ(checked, 30u);
}

TEST_F(LlamaTokenizerFixture, SpecialLiteralsAndSpaces) {
  using V = std::vector<int32_t>;
  EXPECT_EQ(tok_->encode(""), V{1});
  EXPECT_EQ(tok_->encode("", false), V{});
  EXPECT_EQ(tok_->encode(" "), (V{1, 869, 869}));
  EXPECT_EQ(tok_->encode("<s>hello"), (V{1, 1, 263, 284, 871}));
  EXPECT_EQ(tok_->encode("\xe2\x96\x81hello"), tok_->encode(" hello"));
  EXPECT_EQ(tok_->decode(V{1, 1, 263, 284, 871}, false), "<s><s>hello");
  EXPECT_EQ(tok_->decode(V{1, 263, 284, 871, 2}, false), "<s>hello</s>");
}

TEST_F(LlamaTokenizerFixture, ByteFallbackRoundTripAndBrokenBytes) {
  const std::string text = "\xe4\xb8\xad\xe6\x96\x87 and \xf0\x9f\x98\x80 \xd0\xb4\xd0\xb0";  // CJK, emoji, Cyrillic
  const auto ids = tok_->encode(text);
  EXPECT_EQ(tok_->decode(ids), text);
  expect_stream_equals_decode(*tok_, ids, true, "byte fallback");
  // Byte pieces that do not form UTF-8 become U+FFFD, one per byte, as SentencePiece decodes them; a pending
  // sequence cut short by a normal piece is flushed as U+FFFD too.
  const int32_t e4 = 3 + 0xE4, b8 = 3 + 0xB8, x80 = 3 + 0x80;
  EXPECT_EQ(tok_->decode(std::vector<int32_t>{e4, b8}), "\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(tok_->decode(std::vector<int32_t>{x80, 260}), "\xef\xbf\xbd" " a");
  EXPECT_EQ(tok_->decode(std::vector<int32_t>{e4, b8, 260, 3 + 0xAD}), "\xef\xbf\xbd\xef\xbf\xbd a\xef\xbf\xbd");
  LlamaTokenizer::StreamDecoder stream(*tok_);
  EXPECT_EQ(stream.push(e4), "");
  EXPECT_EQ(stream.push(b8), "");
  EXPECT_EQ(stream.push(3 + 0xAD), "\xe4\xb8\xad");
  EXPECT_EQ(stream.push(e4), "");
  EXPECT_EQ(stream.finish(), "\xef\xbf\xbd");
  for (const auto& seq : std::vector<std::vector<int32_t>>{{e4, 260, b8}, {3 + 0xF0, 3 + 0x9F, 3 + 0x41},
                                                          {3 + 0xED, 3 + 0xA0, 3 + 0x80}, {3 + 0xC0, 3 + 0x80}})
    expect_stream_equals_decode(*tok_, seq, true, "broken sequence");
}

TEST_F(LlamaTokenizerFixture, InvalidInputIsRefused) {
  EXPECT_THROW(tok_->encode("abc\xff"), mlfaas::InputError);
  EXPECT_THROW(tok_->encode("\xe4\xb8"), mlfaas::InputError);
  EXPECT_THROW(tok_->encode("\xed\xa0\x80"), mlfaas::InputError);  // a surrogate
  EXPECT_THROW(tok_->decode(std::vector<int32_t>{1024}), mlfaas::InputError);
  EXPECT_THROW(tok_->decode(std::vector<int32_t>{-1}), mlfaas::InputError);
  LlamaTokenizer::StreamDecoder stream(*tok_);
  EXPECT_THROW(stream.push(5000), mlfaas::InputError);
}

TEST_F(LlamaTokenizerFixture, LongTextIsFast) {
  std::string text;
  const auto rows = read_jsonl(kData + "tokenizer_expected.jsonl");
  // Rows that decode to their own text (no special-token literals, no literal U+2581), repeated to 100 KB.
  for (size_t i = 0; text.size() < 100000; ++i) {
    const auto& row = rows[i % rows.size()];
    if (row["text"] == row["decoded"]) text += row["text"].get<std::string>() + " ";
  }
  std::string one_word(100000, 'a');  // one long stretch with nothing to split on
  const auto start = std::chrono::steady_clock::now();
  const auto ids = tok_->encode(text);
  const auto word_ids = tok_->encode(one_word);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::printf("encoded %zu + %zu bytes into %zu + %zu ids in %.1f ms\n", text.size(), one_word.size(), ids.size(),
              word_ids.size(), ms);
  EXPECT_LT(ms, 1000.0);
  EXPECT_TRUE(tok_->decode(ids) == text);
  EXPECT_TRUE(tok_->decode(word_ids) == one_word);
}

// convert_hf_to_gguf.py's metadata for the same tokenizer.model (+ tokenizer_config.json) must tokenize alike.
TEST_F(LlamaTokenizerFixture, GgufMetadataGivesTheSameIds) {
  const auto gguf = mlfaas::GgufFile::open(kData + "tiny-llama/model-f32.gguf");
  const auto tok = LlamaTokenizer::from_gguf(*gguf);
  EXPECT_EQ(tok->vocab_size(), 1024);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_TRUE(tok->vocab().add_bos);
  EXPECT_FALSE(tok->vocab().chat_template.empty());
  const auto rows = read_jsonl(kData + "tokenizer_expected.jsonl");
  size_t same = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto expected = rows[i]["input_ids"].get<std::vector<int32_t>>();
    const bool ok = tok->encode(rows[i]["text"].get<std::string>()) == expected &&
                    tok->decode(expected) == rows[i]["decoded"].get<std::string>();
    if (ok)
      ++same;
    else
      ADD_FAILURE() << "row " << i + 1 << " differs from GGUF: " << rows[i]["text"].dump();
  }
  std::printf("model-f32.gguf tokenizer: %zu / %zu rows identical\n", same, rows.size());
  for (const auto& row : read_jsonl(kData + "tiny-llama/expected.jsonl")) {
    if (row["kind"] != "chat") continue;
    EXPECT_EQ(tok->encode(row["rendered"].get<std::string>(), false), row["input_ids"].get<std::vector<int32_t>>());
  }
}

// ---- llama2.c (stories260K) ----

TEST(Llama2cTokenizer, LongTextIsFast) {
  // run.c rescans every pair after each merge (quadratic); the shared priority-queue BPE must not be.
  const auto tok = LlamaTokenizer::from_llama2c(kStories + "tok512.bin", 512);
  std::string text;
  while (text.size() < 100000) text += "Once upon a time, there was a little girl named Lily. She loved to play. ";
  const auto start = std::chrono::steady_clock::now();
  const auto ids = tok->encode(text);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::printf("llama2.c rules: encoded %zu bytes into %zu ids in %.1f ms\n", text.size(), ids.size(), ms);
  EXPECT_LT(ms, 1000.0);
  EXPECT_TRUE(tok->decode(ids) == text);
}

TEST(Llama2cTokenizer, StoriesRowsIdenticalToRunC) {
  const auto tok = LlamaTokenizer::from_llama2c(kStories + "tok512.bin", 512);
  EXPECT_TRUE(tok->vocab().llama2c_rules);
  const auto rows = read_jsonl(kData + "stories260K_expected.jsonl");
  ASSERT_EQ(rows.size(), 10u);
  for (const auto& row : rows) {
    const std::string prompt = row["prompt"].get<std::string>();
    const auto input_ids = row["input_ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(tok->encode(prompt), input_ids) << row["prompt"].dump();
    // run.c's decode drops a leading space only right after BOS: decode the new ids after the prompt's last.
    const auto new_ids = row["greedy_new_ids"].get<std::vector<int32_t>>();
    std::vector<int32_t> all = input_ids;
    all.insert(all.end(), new_ids.begin(), new_ids.end());
    const std::string prompt_text = tok->decode(input_ids);
    EXPECT_EQ(prompt_text, prompt);
    EXPECT_EQ(tok->decode(all), prompt_text + row["greedy_text"].get<std::string>());
    LlamaTokenizer::StreamDecoder stream(*tok, true, input_ids.back());
    std::string streamed;
    for (int32_t id : new_ids) streamed += stream.push(id);
    streamed += stream.finish();
    EXPECT_EQ(streamed, row["greedy_text"].get<std::string>());
  }
}

TEST(Llama2cTokenizer, ByteFallbackAndEmptyText) {
  const auto tok = LlamaTokenizer::from_llama2c(kStories + "tok512.bin", 512);
  EXPECT_EQ(tok->encode(""), std::vector<int32_t>{1});
  const std::string text = "caf\xc3\xa9 \xe4\xb8\xad";
  const auto ids = tok->encode(text);
  EXPECT_EQ(tok->decode(ids), text);
  EXPECT_THROW(tok->encode("\xc3"), mlfaas::InputError);
}

TEST(Llama2cTokenizer, DamagedFilesAreFormatErrors) {
  fixtures::TempDir dir;
  const std::string bytes = fixtures::read_file(kStories + "tok512.bin");
  for (size_t cut : {size_t(0), size_t(3), size_t(4), size_t(10), size_t(13), bytes.size() / 2, bytes.size() - 1}) {
    const std::string path = fixtures::write_file(dir / "tok.bin", bytes.substr(0, cut));
    try {
      LlamaTokenizer::from_llama2c(path, 512);
      ADD_FAILURE() << "truncated at " << cut << " was accepted";
    } catch (const mlfaas::FormatError& e) {
      EXPECT_EQ(e.path(), path);
    }
  }
  std::string long_length = bytes;
  long_length[8] = '\x7f';  // token 0's length
  EXPECT_THROW(LlamaTokenizer::from_llama2c(fixtures::write_file(dir / "tok.bin", long_length), 512),
               mlfaas::FormatError);
  EXPECT_THROW(LlamaTokenizer::from_llama2c(dir / "missing.bin", 512), mlfaas::FormatError);
  EXPECT_THROW(LlamaTokenizer::from_llama2c(kStories + "tok512.bin", 0), mlfaas::FormatError);
}

// ---- damaged tokenizer.model ----

TEST(SentencePieceModel, EveryTruncationIsAFormatError) {
  const std::string bytes = fixtures::read_file(kData + "tokenizer/tokenizer.model");
  size_t refused = 0;
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    try {
      LlamaTokenizer tok(mlfaas::tokenizer::parse_sentencepiece_model(std::string_view(bytes).substr(0, cut), "m"));
      ADD_FAILURE() << "truncated at " << cut << " was accepted";
    } catch (const mlfaas::FormatError& e) {
      EXPECT_EQ(e.path(), "m");
      ++refused;
    }
  }
  EXPECT_EQ(refused, bytes.size());
}

TEST(SentencePieceModel, DamageIsNamed) {
  auto problem = [](const std::string& bytes) -> std::string {
    try {
      mlfaas::tokenizer::parse_sentencepiece_model(bytes, "tokenizer.model");
    } catch (const mlfaas::FormatError& e) {
      return e.problem();
    }
    return "accepted";
  };
  EXPECT_NE(problem("\x0a\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01").find("varint longer than 10 bytes"),
            std::string::npos);
  EXPECT_NE(problem("\x0a\x05\x0a\x09<unk>").find("runs past the end"), std::string::npos);  // piece length
  EXPECT_NE(problem("\x0a\x07\x0a\x03<s>\x18\x09").find("type 9"), std::string::npos);
  EXPECT_NE(problem("\x0b").find("wire type 3"), std::string::npos);
  EXPECT_NE(problem("").find("no pieces"), std::string::npos);
  EXPECT_NE(problem("\x0a\x05\x0a\x03<s>").find("no trainer_spec"), std::string::npos);
  EXPECT_NE(problem("\x0a\x05\x0a\x03<s>\x12\x02\x18\x01").find("unigram"), std::string::npos);
  EXPECT_NE(problem("\x0a\x05\x0a\x03<s>\x12\x02\x18\x02\x1a\x02\x20\x01").find("remove_extra_whitespaces"),
            std::string::npos);
  EXPECT_EQ(problem(std::string("\x0a\x05\x0a\x03<s>\x12\x02\x18\x02\x1a\x02\x20\x00", 15)), "accepted");

  fixtures::TempDir dir;
  const std::string bytes = fixtures::read_file(kData + "tokenizer/tokenizer.model");
  const std::string path = fixtures::write_file(dir / "tokenizer.model", bytes.substr(0, bytes.size() / 2));
  try {
    LlamaTokenizer::from_model_file(path);
    ADD_FAILURE() << "damaged model accepted";
  } catch (const mlfaas::FormatError& e) {
    EXPECT_EQ(e.path(), path);
  }
  EXPECT_THROW(LlamaTokenizer::from_model_file(dir / "missing.model"), mlfaas::FormatError);
}

TEST(SentencePieceModel, TokenizerConfigAddsTokens) {
  fixtures::TempDir dir;
  fixtures::write_file(dir / "tokenizer.model", fixtures::read_file(kData + "tokenizer/tokenizer.model"));
  fixtures::write_file(dir / "tokenizer_config.json", R"({
    "add_bos_token": false, "add_eos_token": true,
    "added_tokens_decoder": {
      "1024": {"content": "<|user|>", "special": true},
      "1025": {"content": "hello world", "special": false}
    },
    "chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]
  })");
  const auto tok = LlamaTokenizer::from_model_file(dir / "tokenizer.model");
  EXPECT_EQ(tok->vocab_size(), 1026);
  EXPECT_EQ(tok->vocab().chat_template, "D");
  const auto ids = tok->encode("<|user|>\nhi hello world");
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids.front(), 1024);  // no BOS; no dummy "▁" before a leading special token
  EXPECT_EQ(ids.back(), 2);      // EOS
  EXPECT_EQ(ids[1], 13);         // "\n" right after the special token, without a dummy prefix
  EXPECT_EQ(tok->decode(ids), "\nhi hello world");

  fixtures::write_file(dir / "tokenizer_config.json", R"({"added_tokens_decoder": {"1030": {"content": "x"}}})");
  EXPECT_THROW(LlamaTokenizer::from_model_file(dir / "tokenizer.model"), mlfaas::FormatError);
  fixtures::write_file(dir / "tokenizer_config.json", "{not json");
  EXPECT_THROW(LlamaTokenizer::from_model_file(dir / "tokenizer.model"), mlfaas::FormatError);
}

TEST(SentencePieceVocabValidation, BadVocabulariesAreRefused) {
  mlfaas::SentencePieceVocab v;
  EXPECT_THROW(LlamaTokenizer{v}, std::invalid_argument);
  v.pieces = {"<unk>", "<s>", "</s>", "a"};
  v.scores = {0, 0, 0, 0};
  v.kinds = {mlfaas::PieceKind::Unknown, mlfaas::PieceKind::Control, mlfaas::PieceKind::Control,
             mlfaas::PieceKind::Normal};
  EXPECT_NO_THROW(LlamaTokenizer{v});
  auto bad = v;
  bad.bos_id = 9;
  EXPECT_THROW(LlamaTokenizer{bad}, std::invalid_argument);
  bad = v;
  bad.pieces[3] = "\xff";
  EXPECT_THROW(LlamaTokenizer{bad}, std::invalid_argument);
  bad = v;
  bad.kinds[3] = mlfaas::PieceKind::Byte;
  EXPECT_THROW(LlamaTokenizer{bad}, std::invalid_argument);
  bad = v;
  bad.scores.pop_back();
  EXPECT_THROW(LlamaTokenizer{bad}, std::invalid_argument);
  // Without byte fallback an unknown run becomes one <unk>.
  v.byte_fallback = false;
  LlamaTokenizer tok(v);
  EXPECT_EQ(tok.encode("a\xe4\xb8\xad\xe6\x96\x87" "a", false), (std::vector<int32_t>{0, 3, 0, 3}));
}

}  // namespace
