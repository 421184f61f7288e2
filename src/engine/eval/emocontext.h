#pragma once
// EmoContext (SemEval-2019 Task 3) data and its official metric: micro-averaged precision/recall/F1 over the
// three emotion classes (happy, sad, angry), where `others` is not a class to be found but its confusions count
// as false positives / negatives of the emotion classes.
#include <array>
#include <string>
#include <vector>

namespace mlfaas::eval {

inline constexpr std::array<const char*, 4> kEmoLabels = {"others", "happy", "sad", "angry"};

struct EmoRow {
  std::string id;
  std::string text;  // turn1 + " " + turn2 + " " + turn3
  int label = -1;    // index into kEmoLabels; -1 when the file has no labels
};

// Reads the tab-separated file (header `id turn1 turn2 turn3 label`). Throws FormatError naming file:line for
// a row without 5 fields or with an unknown label.
std::vector<EmoRow> read_emocontext(const std::string& path);

struct ClassScores {
  double precision = 0, recall = 0, f1 = 0;
  long support = 0;  // rows whose true label is this class
};

struct EmoMetrics {
  long rows = 0;
  double accuracy = 0;
  double micro_precision = 0, micro_recall = 0, micro_f1 = 0;  // the task's official score
  double macro_f1 = 0;        // as the official script: harmonic mean of macro precision and macro recall
  double mean_class_f1 = 0;   // unweighted mean of the three per-class F1
  std::array<ClassScores, 4> per_class{};
  std::array<std::array<long, 4>, 4> confusion{};  // [true][predicted]
};

// `truth` and `predicted` hold label indices (0..3) of the same length.
EmoMetrics emo_metrics(const std::vector<int>& truth, const std::vector<int>& predicted);

}  // namespace mlfaas::eval
