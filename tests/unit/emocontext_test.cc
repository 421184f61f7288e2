#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "engine/error.h"
#include "engine/eval/emocontext.h"

using namespace mlfaas;
using namespace mlfaas::eval;

TEST(EmoMetrics, MatchesHandComputedSemEvalScore) {
  // true:      others happy happy sad angry others
  // predicted: happy  happy others sad sad   others
  std::vector<int> truth = {0, 1, 1, 2, 3, 0};
  std::vector<int> pred = {1, 1, 0, 2, 2, 0};
  EmoMetrics m = emo_metrics(truth, pred);
  // emotion classes: TP = happy 1 + sad 1 = 2; FP = happy 1 (from others) + sad 1 (from angry) = 2;
  // FN = happy 1 + angry 1 = 2  -> P = R = F1 = 0.5
  EXPECT_DOUBLE_EQ(m.micro_precision, 0.5);
  EXPECT_DOUBLE_EQ(m.micro_recall, 0.5);
  EXPECT_DOUBLE_EQ(m.micro_f1, 0.5);
  EXPECT_DOUBLE_EQ(m.accuracy, 3.0 / 6.0);
  EXPECT_EQ(m.confusion[3][2], 1);
  EXPECT_DOUBLE_EQ(m.per_class[1].precision, 0.5);
  EXPECT_DOUBLE_EQ(m.per_class[1].recall, 0.5);
  EXPECT_DOUBLE_EQ(m.per_class[2].precision, 0.5);
  EXPECT_DOUBLE_EQ(m.per_class[2].recall, 1.0);
  EXPECT_DOUBLE_EQ(m.per_class[3].recall, 0.0);
  EXPECT_EQ(m.per_class[1].support, 2);
  // macro (official): P = (0.5+0.5+0)/3, R = (0.5+1+0)/3
  double p = 1.0 / 3, r = 0.5;
  EXPECT_NEAR(m.macro_f1, 2 * p * r / (p + r), 1e-12);
}

TEST(EmoMetrics, AllOthersScoresZeroNotNan) {
  EmoMetrics m = emo_metrics({0, 0, 1}, {0, 0, 0});
  EXPECT_EQ(m.micro_f1, 0.0);
  EXPECT_EQ(m.micro_precision, 0.0);
}

TEST(EmoContextReader, ReadsTurnsAndLabels) {
  std::string path = ::testing::TempDir() + "/emo.txt";
  std::ofstream(path) << "id\tturn1\tturn2\tturn3\tlabel\n0\tdon't worry\tI'm fine \tok\thappy\r\n1\ta\tb\tc\tothers\n";
  auto rows = read_emocontext(path);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].text, "don't worry I'm fine  ok");
  EXPECT_EQ(rows[0].label, 1);
  EXPECT_EQ(rows[1].label, 0);
}

TEST(EmoContextReader, RejectsUnknownLabelNamingLine) {
  std::string path = ::testing::TempDir() + "/emo_bad.txt";
  std::ofstream(path) << "id\tturn1\tturn2\tturn3\tlabel\n0\ta\tb\tc\tjoyful\n";
  try {
    read_emocontext(path);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_EQ(std::string(e.what()), path + ": line 2: unknown label 'joyful' (expected others, happy, sad or angry)");
  }
}

TEST(EmoContextReader, MissingFile) {
  EXPECT_THROW(read_emocontext("/nonexistent/emo.txt"), FormatError);
}
