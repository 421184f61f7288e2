#include <gtest/gtest.h>

#include "engine/error.h"
#include "engine/formats/config.h"

using namespace mlfaas;

namespace {
const std::string kModels = std::string(MLFAAS_TEST_DATA) + "/models/";
}

TEST(Config, ReadsBertClassifier) {
  ModelConfig c = load_config(kModels + "bert-tiny-cls/config.json");
  EXPECT_EQ(c.architecture, Architecture::BertForSequenceClassification);
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.num_hidden_layers, 2);
  EXPECT_EQ(c.intermediate_size, 256);
  EXPECT_EQ(c.labels, (std::vector<std::string>{"others", "happy", "sad", "angry"}));
}

TEST(Config, ReadsMobileBert24L) {
  ModelConfig c = load_config(kModels + "mobilebert-24L.json");
  EXPECT_EQ(c.architecture, Architecture::MobileBertForSequenceClassification);
  EXPECT_EQ(c.num_hidden_layers, 24);
  EXPECT_EQ(c.true_hidden_size, 128);
  EXPECT_EQ(c.embedding_size, 128);
  EXPECT_TRUE(c.trigram_input);
  EXPECT_EQ(c.normalization_type, "no_norm");
}

TEST(Config, RejectsUnknownArchitecture) {
  try {
    parse_config(R"({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"})", "x/config.json");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_STREQ(e.what(),
                 "x/config.json: unknown architecture 'GPT2LMHeadModel' (supported: BertModel, "
                 "BertForSequenceClassification, BertForMaskedLM, MobileBertForSequenceClassification)");
  }
}

TEST(Config, RejectsBadJson) {
  EXPECT_THROW(parse_config("{\"hidden_size\": ", "c.json"), FormatError);
}
