// The llama2.c checkpoint reader: stories260K's header, and tensor offsets checked against the file itself (the
// legacy freq_cis tables that follow rms_final hold cos/sin of known angles, so finding them where expected proves
// every offset before them); variants with and without those tables and with a separate classifier; malformed
// headers and sizes as FormatErrors naming the file.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "engine/error.h"
#include "engine/formats/llama2c.h"
#include "format_fixtures.h"

using namespace mlfaas;
using fixtures::TempDir;

namespace {

const std::string kStories = std::string(MLFAAS_TEST_DATA) + "/../../models/stories260K/stories260K.bin";

// stories260K: dim 64, head_size 8, kv_dim 32, hidden 172, 5 layers, vocab 512, seq_len 512.
constexpr size_t kEmbedding = 512 * 64, kPerLayerNorm = 5 * 64, kWq = 5 * 64 * 64, kWk = 5 * 32 * 64, kFfn = 5 * 172 * 64;
constexpr size_t kRmsFinal = kEmbedding + kPerLayerNorm + kWq + 2 * kWk + kWq + kPerLayerNorm + 3 * kFfn;
constexpr size_t kFreqCisTable = 512 * 4;  // seq_len * head_size / 2

std::string header(std::vector<int32_t> h) { return fixtures::raw(h); }

void expect_error(const std::string& path, const std::string& needle) {
  try {
    Llama2cCheckpoint::open(path);
    ADD_FAILURE() << "accepted, expected " << needle;
  } catch (const FormatError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(path + ": ", 0), 0u) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(Llama2c, Stories260KConfigAndOffsets) {
  auto ck = Llama2cCheckpoint::open(kStories);
  const Llama2cConfig& c = ck->config();
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.hidden_dim, 172);
  EXPECT_EQ(c.n_layers, 5);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.seq_len, 512);
  EXPECT_TRUE(c.shared_classifier);
  EXPECT_EQ(ck->classifier(), ck->token_embedding());

  const float* base = ck->token_embedding();
  EXPECT_EQ(ck->rms_att(0), base + kEmbedding);
  EXPECT_EQ(ck->rms_att(4), base + kEmbedding + 4 * 64);
  EXPECT_EQ(ck->wq(0), base + kEmbedding + kPerLayerNorm);
  EXPECT_EQ(ck->wq(1) - ck->wq(0), 64 * 64);
  EXPECT_EQ(ck->wk(0), ck->wq(0) + kWq);
  EXPECT_EQ(ck->wk(1) - ck->wk(0), 32 * 64);
  EXPECT_EQ(ck->wv(0), ck->wk(0) + kWk);
  EXPECT_EQ(ck->wo(0), ck->wv(0) + kWk);
  EXPECT_EQ(ck->rms_ffn(0), ck->wo(0) + kWq);
  EXPECT_EQ(ck->w1(0), ck->rms_ffn(0) + kPerLayerNorm);
  EXPECT_EQ(ck->w1(2) - ck->w1(0), 2 * 172 * 64);
  EXPECT_EQ(ck->w2(0), ck->w1(0) + kFfn);
  EXPECT_EQ(ck->w3(0), ck->w2(0) + kFfn);
  EXPECT_EQ(ck->rms_final(), base + kRmsFinal);

  // RMSNorm gains of a trained model are positive and of order one; projections are not.
  for (int i = 0; i < 64; ++i) EXPECT_GT(ck->rms_final()[i], 0.05f) << i;
  for (int l = 0; l < 5; ++l) EXPECT_GT(ck->rms_att(l)[0], 0.05f) << l;

  // freq_cis_real[pos][i] = cos(pos * 10000^(-2i/head_size)), then the imag table with sin, ending the file.
  const float* real = ck->rms_final() + 64;
  const float* imag = real + kFreqCisTable;
  for (int pos : {0, 1, 7, 511}) {
    for (int i = 0; i < 4; ++i) {
      const double angle = pos * std::pow(10000.0, -2.0 * i / 8);
      EXPECT_NEAR(real[pos * 4 + i], std::cos(angle), 1e-5) << pos << " " << i;
      EXPECT_NEAR(imag[pos * 4 + i], std::sin(angle), 1e-5) << pos << " " << i;
    }
  }
  const std::string file = fixtures::read_file(kStories);
  EXPECT_EQ(file.size(), 28 + 4 * (kRmsFinal + 64 + 2 * kFreqCisTable));
  float last;
  std::memcpy(&last, file.data() + file.size() - 4, 4);
  EXPECT_EQ(last, imag[kFreqCisTable - 1]);
}

TEST(Llama2c, WithoutFreqCisAndWithASeparateClassifier) {
  const std::string file = fixtures::read_file(kStories);
  const std::string weights = file.substr(28, 4 * (kRmsFinal + 64));
  const std::string tables = file.substr(28 + weights.size());
  std::vector<float> classifier(512 * 64);
  for (size_t i = 0; i < classifier.size(); ++i) classifier[i] = static_cast<float>(i);
  const std::string cls = fixtures::raw(classifier);
  TempDir dir;

  auto no_tables = Llama2cCheckpoint::open(fixtures::write_file(dir / "a.bin", file.substr(0, 28) + weights));
  EXPECT_EQ(no_tables->rms_final()[3], Llama2cCheckpoint::open(kStories)->rms_final()[3]);
  EXPECT_EQ(no_tables->classifier(), no_tables->token_embedding());

  const std::string untied = header({64, 172, 5, 8, 4, -512, 512});
  for (bool with_tables : {true, false}) {
    const std::string path = fixtures::write_file(dir / "b.bin", untied + weights + (with_tables ? tables : "") + cls);
    auto ck = Llama2cCheckpoint::open(path);
    EXPECT_FALSE(ck->config().shared_classifier);
    EXPECT_EQ(ck->config().vocab_size, 512);
    EXPECT_NE(ck->classifier(), ck->token_embedding());
    EXPECT_EQ(ck->classifier()[0], 0.0f);
    EXPECT_EQ(ck->classifier()[512 * 64 - 1], 512.0f * 64 - 1);
  }
}

TEST(Llama2c, MalformedFilesAreFormatErrors) {
  TempDir dir;
  const std::string file = fixtures::read_file(kStories);
  const std::string body = file.substr(28);
  auto write = [&](const std::string& name, const std::string& bytes) { return fixtures::write_file(dir / name, bytes); };

  expect_error(write("empty.bin", ""), "truncated llama2.c checkpoint (0 bytes");
  expect_error(write("short.bin", file.substr(0, 27)), "truncated llama2.c checkpoint (27 bytes");
  expect_error(write("cut.bin", file.substr(0, file.size() - 4)),
               "is 1056536 bytes but its header (dim 64, hidden_dim 172, n_layers 5, n_heads 8, n_kv_heads 4, "
               "vocab_size 512, seq_len 512) implies 1056540 bytes (1040156 without the freq_cis tables)");
  expect_error(write("long.bin", file + "abcd"), "is 1056544 bytes");
  expect_error(write("dim0.bin", header({0, 172, 5, 8, 4, 512, 512}) + body), "bad llama2.c header: dim is 0");
  expect_error(write("seq.bin", header({64, 172, 5, 8, 4, 512, -1}) + body), "seq_len is -1");
  expect_error(write("vocab0.bin", header({64, 172, 5, 8, 4, 0, 512}) + body), "vocab_size is 0");
  expect_error(write("vocabmin.bin", header({64, 172, 5, 8, 4, INT32_MIN, 512}) + body), "vocab_size is -2147483648");
  expect_error(write("heads.bin", header({64, 172, 5, 7, 7, 512, 512}) + body), "n_heads does not divide dim");
  expect_error(write("kv.bin", header({64, 172, 5, 8, 3, 512, 512}) + body), "n_kv_heads does not divide n_heads");
  expect_error(write("odd.bin", header({63, 172, 5, 9, 3, 512, 512}) + body), "odd head size 7");
  expect_error(write("huge.bin", header({1 << 30, 1 << 30, 1 << 30, 2, 2, 512, 512}) + body), "overflow");
  expect_error(write("big.bin", header({4096, 11008, 32, 32, 32, 32000, 2048}) + body), "implies");
  expect_error(dir / "missing.bin", "file not found");
}
