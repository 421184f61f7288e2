#include "engine/eval/emocontext.h"

#include <fstream>
#include <stdexcept>

#include "engine/error.h"

namespace mlfaas::eval {

std::vector<EmoRow> read_emocontext(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FormatError(path, "file not found or unreadable");
  std::vector<EmoRow> rows;
  std::string line;
  long line_no = 0;
  bool header_seen = false;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> f;
    size_t start = 0;
    for (;;) {
      size_t tab = line.find('\t', start);
      f.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
      if (tab == std::string::npos) break;
      start = tab + 1;
    }
    if (!header_seen) {
      header_seen = true;
      if (f.size() >= 4 && f[0] == "id" && f[1] == "turn1") continue;
    }
    if (f.size() != 5 && f.size() != 4) {
      throw FormatError(path, "line " + std::to_string(line_no) + ": expected 5 tab-separated fields (id, turn1, "
                              "turn2, turn3, label), got " + std::to_string(f.size()));
    }
    EmoRow row;
    row.id = f[0];
    row.text = f[1] + " " + f[2] + " " + f[3];
    if (f.size() == 5) {
      for (size_t i = 0; i < kEmoLabels.size(); ++i) {
        if (f[4] == kEmoLabels[i]) row.label = static_cast<int>(i);
      }
      if (row.label < 0) {
        throw FormatError(path, "line " + std::to_string(line_no) + ": unknown label '" + f[4] +
                                "' (expected others, happy, sad or angry)");
      }
    }
    rows.push_back(std::move(row));
  }
  if (rows.empty()) throw FormatError(path, "no data rows");
  return rows;
}

EmoMetrics emo_metrics(const std::vector<int>& truth, const std::vector<int>& predicted) {
  if (truth.size() != predicted.size()) throw std::invalid_argument("emo_metrics: length mismatch");
  EmoMetrics m;
  m.rows = static_cast<long>(truth.size());
  long correct = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    if (truth[i] < 0 || truth[i] > 3 || predicted[i] < 0 || predicted[i] > 3) {
      throw std::invalid_argument("emo_metrics: label out of range");
    }
    ++m.confusion[truth[i]][predicted[i]];
    correct += truth[i] == predicted[i];
  }
  m.accuracy = m.rows > 0 ? double(correct) / double(m.rows) : 0;
  auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  auto harmonic = [](double p, double r) { return p + r > 0 ? 2 * p * r / (p + r) : 0.0; };
  long tp_all = 0, fp_all = 0, fn_all = 0;
  double macro_p = 0, macro_r = 0, f1_sum = 0;
  for (int c = 0; c < 4; ++c) {
    long tp = m.confusion[c][c], fp = 0, fn = 0;
    for (int k = 0; k < 4; ++k) {
      if (k == c) continue;
      fp += m.confusion[k][c];
      fn += m.confusion[c][k];
    }
    ClassScores& s = m.per_class[c];
    s.support = tp + fn;
    s.precision = ratio(tp, tp + fp);
    s.recall = ratio(tp, tp + fn);
    s.f1 = harmonic(s.precision, s.recall);
    if (c == 0) continue;  // `others` is not scored
    tp_all += tp;
    fp_all += fp;
    fn_all += fn;
    macro_p += s.precision / 3;
    macro_r += s.recall / 3;
    f1_sum += s.f1;
  }
  m.micro_precision = ratio(tp_all, tp_all + fp_all);
  m.micro_recall = ratio(tp_all, tp_all + fn_all);
  m.micro_f1 = harmonic(m.micro_precision, m.micro_recall);
  m.macro_f1 = harmonic(macro_p, macro_r);
  m.mean_class_f1 = f1_sum / 3;
  return m;
}

}  // namespace mlfaas::eval
