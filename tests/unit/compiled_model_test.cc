// Compiled models (.mlf): a compiled model computes exactly what its directory does (same kernels, same packed
// bytes), at every precision, architecture and kernel level this CPU has; its tokenizer is the directory's; and
// every damaged or foreign file is refused with one line naming it.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/formats/mlf.h"
#include "engine/kernels/isa.h"
#include "engine/model.h"
#include "engine/tokenizer/wordpiece.h"
#include "format_fixtures.h"

namespace mlfaas {
namespace {

namespace fs = std::filesystem;

std::string model_dir(const std::string& name) { return fixtures::kModels + name; }

using fixtures::TempDir;

std::vector<std::vector<int32_t>> sequences(int vocab) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> id(5, vocab - 1);
  std::vector<std::vector<int32_t>> out;
  for (int len : {1, 3, 9, 30}) {
    std::vector<int32_t> s(len);
    for (auto& x : s) x = id(rng);
    out.push_back(s);
  }
  return out;
}

// Every output a model has, for a few sequences: the logits for classifiers, masked-LM logits at two positions,
// the hidden states (and pooler) for base models.
std::vector<float> outputs(Model& m) {
  std::vector<float> all;
  for (const auto& s : sequences(m.config().vocab_size)) {
    const TokenIds t{s, {}};
    std::vector<float> part;
    switch (m.task()) {
      case ModelTask::Classification: part = m.classify(t); break;
      case ModelTask::MaskedLM: {
        const int positions[2] = {0, static_cast<int>(s.size()) - 1};
        part = m.masked_lm_logits(t, positions);
        break;
      }
      case ModelTask::Base: {
        std::vector<float> pooled;
        m.hidden_states(t, &part, &pooled);
        part.insert(part.end(), pooled.begin(), pooled.end());
        break;
      }
    }
    all.insert(all.end(), part.begin(), part.end());
  }
  return all;
}

struct Case {
  std::string model;
  std::string precision;
  friend void PrintTo(const Case& c, std::ostream* os) { *os << c.model << " " << c.precision; }
};

class CompiledModel : public ::testing::TestWithParam<Case> {};

TEST_P(CompiledModel, SameResultsAsTheDirectoryAtEveryLevel) {
  const Case c = GetParam();
  TempDir tmp;
  for (Isa isa : supported_isas()) {
    // Packed for this very level, so the compiled model holds the bytes the directory load packs.
    ModelOptions opt;
    opt.isa = std::string(isa_name(isa));
    opt.precision = c.precision;
    const std::string file = tmp / (c.model + "-" + opt.isa + ".mlf");
    const CompileResult r = Model::compile(model_dir(c.model), opt, file);
    EXPECT_EQ(r.bytes, fs::file_size(file));  // (compile has returned: the file exists)
    EXPECT_EQ(r.precision, c.precision);
    EXPECT_TRUE(r.has_tokenizer);
    auto from_dir = Model::load(model_dir(c.model), opt);
    auto compiled = Model::load(file, opt);
    EXPECT_EQ(compiled->precision(), c.precision);
    EXPECT_EQ(compiled->isa(), isa);
    EXPECT_EQ(compiled->config().architecture, from_dir->config().architecture);
    EXPECT_EQ(compiled->config().labels, from_dir->config().labels);
    EXPECT_EQ(outputs(*compiled), outputs(*from_dir)) << "level " << opt.isa;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Models, CompiledModel,
    ::testing::Values(Case{"bert-tiny-cls", "fp32"}, Case{"bert-tiny-cls", "int8"}, Case{"bert-tiny-mlm", "fp32"},
                      Case{"bert-tiny-mlm", "int8"}, Case{"bert-tiny-base", "fp32"}, Case{"bert-tiny-cls-f16", "int8"},
                      Case{"bert-tiny-cls-bf16", "fp32"},
                      Case{"mobilebert-tiny-cls", "fp32"}, Case{"mobilebert-tiny-cls", "int8"},
                      Case{"mobilebert-tiny-cls-layernorm", "fp32"}, Case{"mobilebert-tiny-cls-layernorm", "int8"}),
    [](const auto& info) {
      std::string name = info.param.model + "_" + info.param.precision;
      for (char& ch : name) {
        if (ch == '-') ch = '_';
      }
      return name;
    });

// The default int8 file (16-wide fp32 heads) runs on every level; at a 32-wide level its heads take the 16-wide
// kernel, so results match the directory to rounding rather than bit for bit.
TEST(CompiledModelPortability, DefaultInt8FileRunsOnEveryLevel) {
  TempDir tmp;
  const std::string file = tmp / "m.mlf";
  ModelOptions int8;
  int8.precision = "int8";
  const CompileResult r = Model::compile(model_dir("mobilebert-tiny-cls"), int8, file);
  EXPECT_EQ(r.panel_isa, "portable");
  for (Isa isa : supported_isas()) {
    ModelOptions opt = int8;
    opt.isa = std::string(isa_name(isa));
    auto dir = Model::load(model_dir("mobilebert-tiny-cls"), opt);
    auto compiled = Model::load(file, ModelOptions{.threads = 1, .isa = opt.isa, .precision = ""});
    const auto a = outputs(*dir), b = outputs(*compiled);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5) << opt.isa;
  }
}

TEST(CompiledModelPortability, WidePanelsRefusedWhereNoKernelRunsThem) {
  if (!cpu_supports(Isa::Avx512)) GTEST_SKIP() << "needs an AVX-512 CPU to compile 32-wide panels";
  TempDir tmp;
  const std::string file = tmp / "wide.mlf";
  Model::compile(model_dir("bert-tiny-cls"), ModelOptions{.threads = 1, .isa = "avx512", .precision = "fp32"}, file);
  try {
    Model::load(file, ModelOptions{.threads = 1, .isa = "avx2", .precision = ""});
    FAIL() << "a 32-wide file loaded at avx2";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("recompile with --isa avx2"), std::string::npos) << e.what();
  }
}

// Word embeddings stay in the checkpoint's 16-bit type (exact; half the size), fp32 ones stay fp32.
TEST(CompiledModelEmbeddings, KeepTheCheckpointsSixteenBitType) {
  TempDir tmp;
  const std::pair<const char*, MlfType> cases[] = {
      {"bert-tiny-cls-f16", MlfType::F16}, {"bert-tiny-cls-bf16", MlfType::BF16}, {"bert-tiny-cls", MlfType::F32}};
  for (const auto& [model, type] : cases) {
    const std::string file = tmp / (std::string(model) + ".mlf");
    Model::compile(model_dir(model), {}, file);
    const MlfEntry* e = MlfFile::open(file)->find("t/embeddings.word_embeddings.weight");
    ASSERT_NE(e, nullptr) << model;
    EXPECT_EQ(e->type, type) << model;
  }
}

TEST(CompiledModelTokenizer, SameIdsAsTheDirectory) {
  TempDir tmp;
  const std::string file = tmp / "t.mlf";
  Model::compile(model_dir("bert-tiny-cls"), {}, file);
  auto compiled = Model::load(file);
  const auto dir_tok = WordPieceTokenizer::from_model_dir(model_dir("bert-tiny-cls"));
  const auto tok = compiled->tokenizer();
  EXPECT_EQ(tok->vocab_size(), dir_tok.vocab_size());
  EXPECT_EQ(tok->do_lower_case(), dir_tok.do_lower_case());
  for (const char* text : {"Hello, World! [MASK] unaffable", "Héllo wörld 日本語 ##x", "", "a\tb\nc [SEP] [CLS]"}) {
    Encoding a, b;
    dir_tok.encode(text, 64, &a);
    tok->encode(text, 64, &b);
    EXPECT_EQ(a.input_ids, b.input_ids) << text;
  }
  for (int32_t id = 0; id < static_cast<int32_t>(dir_tok.vocab_size()); ++id) {
    ASSERT_EQ(tok->id_to_token(id), dir_tok.id_to_token(id));
    // Every entry through the compiled trie (a later duplicate line keeps the id, as in the directory's).
    ASSERT_EQ(tok->token_to_id(dir_tok.id_to_token(id)), dir_tok.token_to_id(dir_tok.id_to_token(id)));
  }
}

TEST(CompiledModelTokenizer, DirectoryModelsLoadTheirsOnDemand) {
  auto m = Model::load(model_dir("bert-tiny-cls"));
  EXPECT_EQ(m->tokenizer()->vocab_size(), WordPieceTokenizer::from_model_dir(model_dir("bert-tiny-cls")).vocab_size());
}

// ---- refusals ----

std::string load_error(const std::string& path, const ModelOptions& opt = {}) {
  try {
    Model::load(path, opt);
  } catch (const FormatError& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.find('\n'), std::string::npos) << "not one line: " << what;
    EXPECT_EQ(what.rfind(path, 0), 0u) << "does not name the file: " << what;
    return what;
  }
  ADD_FAILURE() << path << " loaded";
  return {};
}

class CompiledModelErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    ModelOptions opt;
    opt.precision = "int8";
    Model::compile(model_dir("mobilebert-tiny-cls"), opt, good_);
    bytes_ = fixtures::read_file(good_);
  }
  std::string variant(const std::string& name, const std::string& bytes) {
    return fixtures::write_file(tmp_ / name, bytes);
  }
  template <typename T>
  void poke(std::string* bytes, size_t offset, T value) {
    std::memcpy(bytes->data() + offset, &value, sizeof value);
  }

  TempDir tmp_;
  std::string good_ = tmp_ / "good.mlf";
  std::string bytes_;
};

TEST_F(CompiledModelErrors, EachDamageHasItsMessage) {
  EXPECT_NE(load_error(variant("cut.mlf", bytes_.substr(0, bytes_.size() - 100))).find("truncated: header says"),
            std::string::npos);
  EXPECT_NE(load_error(variant("cut-header.mlf", bytes_.substr(0, 40))).find("shorter than the .mlf header"),
            std::string::npos);
  EXPECT_NE(load_error(variant("tail.mlf", bytes_ + "xyz")).find("3 bytes after its end"), std::string::npos);

  std::string old = bytes_;
  poke<uint32_t>(&old, 8, 0);
  EXPECT_NE(load_error(variant("old.mlf", old)).find("format version 0 is older than"), std::string::npos);
  std::string newer = bytes_;
  poke<uint32_t>(&newer, 8, kMlfVersion + 1);
  EXPECT_NE(load_error(variant("new.mlf", newer)).find("is newer than this mlfaas"), std::string::npos);
  std::string swapped = bytes_;
  poke<uint32_t>(&swapped, 12, 0x04030201);
  EXPECT_NE(load_error(variant("be.mlf", swapped)).find("other byte order"), std::string::npos);

  std::string table = bytes_;
  table[128 + 64 * 3 + 2] ^= 0x40;  // inside the entry table
  EXPECT_NE(load_error(variant("table.mlf", table)).find("checksum mismatch"), std::string::npos);

  // A foreign file: the directory's safetensors, and text.
  EXPECT_NE(load_error(model_dir("mobilebert-tiny-cls") + "/model.safetensors").find("not a compiled mlfaas model"),
            std::string::npos);
  EXPECT_NE(load_error(variant("text.mlf", "hello\n")).find("not a compiled mlfaas model"), std::string::npos);
  EXPECT_NE(load_error(variant("empty.mlf", "")).find("not a compiled mlfaas model"), std::string::npos);
}

TEST_F(CompiledModelErrors, PrecisionIsBakedIn) {
  ModelOptions fp32;
  fp32.precision = "fp32";
  EXPECT_NE(load_error(good_, fp32).find("compiled for int8; for fp32 compile it again with --precision fp32"),
            std::string::npos);
  ModelOptions same;
  same.precision = "int8";
  EXPECT_EQ(Model::load(good_, same)->precision(), "int8");
}

TEST_F(CompiledModelErrors, CompilingAMissingOrBrokenDirectoryNamesIt) {
  try {
    Model::compile(tmp_ / "nope", {}, tmp_ / "x.mlf");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("model directory not found"), std::string::npos);
  }
  EXPECT_FALSE(fs::exists(tmp_ / "x.mlf"));
  // An unwritable destination: nothing half-written is left behind.
  try {
    Model::compile(model_dir("bert-tiny-cls"), {}, tmp_ / "no/such/dir/x.mlf");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot create"), std::string::npos) << e.what();
  }
}

TEST(MlfContainer, RoundTripsEntriesAligned) {
  TempDir tmp;
  MlfWriter w;
  const float f[3] = {1.5f, -2.f, 3.25f};
  const int32_t i[2] = {7, -9};
  w.add_f32("a", f, {3});
  w.add_i32("b", i);
  w.add_text("c", "text");
  w.add("d", MlfType::I8, {2, 2}, "\x01\xff\x02\x03", 4);
  const std::string path = tmp / "c.mlf";
  const size_t written = w.write(path);
  EXPECT_EQ(written, fs::file_size(path));
  auto file = MlfFile::open(path);
  ASSERT_EQ(file->entries().size(), 4u);
  const MlfEntry& a = file->require("a", MlfType::F32, {3});
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a.data) % kMlfAlignment, 0u);
  EXPECT_EQ(std::vector<float>(a.as<float>(), a.as<float>() + 3), std::vector<float>(f, f + 3));
  EXPECT_EQ(file->require("b", MlfType::I32).as<int32_t>()[1], -9);
  EXPECT_EQ(file->require("c", MlfType::Bytes).text(), "text");
  EXPECT_EQ(file->require("d", MlfType::I8, {2, 2}).as<int8_t>()[1], -1);
  EXPECT_THROW(file->require("a", MlfType::I32), FormatError);
  EXPECT_THROW(file->require("a", MlfType::F32, {4}), FormatError);
  EXPECT_THROW(file->require("zz", MlfType::F32), FormatError);
  EXPECT_THROW(w.add_text("c", "again"), std::logic_error);
}

}  // namespace
}  // namespace mlfaas
