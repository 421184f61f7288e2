// mlfaas eval --model PATH --data emocontext FILE [--threads N] [--precision fp32|int8] [--max-length N] [--json] [--predictions OUT]
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "cli/commands.h"
#include "engine/error.h"
#include "engine/eval/emocontext.h"
#include "engine/model.h"
#include "engine/tokenizer/wordpiece.h"

namespace mlfaas::cli {

void register_eval(CLI::App& app) {
  struct Args {
    std::string model, dataset, file, predictions, precision;
    int threads = 1, max_length = 128, batch = 16;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("eval", "Evaluate a classifier on a labelled dataset (EmoContext: SemEval-2019 Task 3 metrics)");
  cmd->add_option("--model", a->model, "Model directory or compiled model (.mlf)")->required();
  auto* data = cmd->add_option("--data", a->dataset, "Dataset kind and file: emocontext FILE")->required()->expected(2);
  data->each([](const std::string&) {});
  cmd->add_option("--threads", a->threads, "Threads per inference")->capture_default_str()->check(CLI::Range(1, 256));
  cmd->add_option("--max-length", a->max_length, "Tokens per text, [CLS] and [SEP] included")->capture_default_str()->check(CLI::Range(2, 100000));
  cmd->add_option("--predictions", a->predictions, "Also write one JSON line per row (id, label, predicted, probabilities)");
  cmd->add_option("--precision", a->precision,
                  "fp32, or int8 (dynamic quantization of the encoder's linears); default: the model's own")
      ->check(CLI::IsMember({"fp32", "int8"}));
  cmd->add_flag("--json", a->json, "Print the metrics as one JSON object");
  cmd->callback([a, data] {
    auto parts = data->as<std::vector<std::string>>();
    if (parts.size() != 2 || parts[0] != "emocontext") {
      throw CliExit(2, "eval: --data expects 'emocontext FILE' (the only dataset kind so far)");
    }
    a->file = parts[1];
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<eval::EmoRow> rows = eval::read_emocontext(a->file);
    for (const auto& r : rows) {
      if (r.label < 0) throw FormatError(a->file, "row '" + r.id + "' has no label; eval needs a labelled file");
    }
    ModelOptions opt;
    opt.threads = a->threads;
    opt.precision = a->precision;
    auto model = Model::load(a->model, opt);
    if (model->task() != ModelTask::Classification) {
      throw CliExit(2, std::string("eval: ") + a->model + " is a " + architecture_name(model->config().architecture) +
                           ", not a sequence classifier");
    }
    // Map the model's label ids onto EmoContext's by name.
    const auto& labels = model->config().labels;
    std::vector<int> to_emo(labels.size(), -1);
    for (size_t i = 0; i < labels.size(); ++i) {
      for (size_t k = 0; k < eval::kEmoLabels.size(); ++k) {
        if (labels[i] == eval::kEmoLabels[k]) to_emo[i] = static_cast<int>(k);
      }
      if (to_emo[i] < 0) {
        throw CliExit(2, "eval: model label '" + labels[i] + "' is not an EmoContext label (others, happy, sad, angry)");
      }
    }
    const WordPieceTokenizer& tok = *model->tokenizer();
    const int max_len = std::min(a->max_length, model->max_tokens());
    const bool progress = ::isatty(STDERR_FILENO) != 0;
    std::unique_ptr<std::ofstream> pred_out;
    if (!a->predictions.empty()) {
      pred_out = std::make_unique<std::ofstream>(a->predictions);
      if (!*pred_out) throw CliExit(1, "eval: cannot write " + a->predictions);
    }

    std::vector<int> truth, predicted;
    std::vector<Encoding> enc(static_cast<size_t>(a->batch));
    std::vector<TokenIds> ids;
    for (size_t start = 0; start < rows.size(); start += static_cast<size_t>(a->batch)) {
      size_t end = std::min(rows.size(), start + static_cast<size_t>(a->batch));
      ids.clear();
      for (size_t i = start; i < end; ++i) {
        tok.encode(rows[i].text, max_len, &enc[i - start]);
        ids.push_back({enc[i - start].input_ids, enc[i - start].token_type_ids});
      }
      auto logits = model->classify_batch(ids);
      for (size_t i = start; i < end; ++i) {
        const auto& l = logits[i - start];
        size_t best = 0;
        for (size_t k = 1; k < l.size(); ++k) best = l[k] > l[best] ? k : best;
        truth.push_back(rows[i].label);
        predicted.push_back(to_emo[best]);
        if (pred_out) {
          float mx = l[best];
          double sum = 0;
          std::vector<double> p(l.size());
          for (size_t k = 0; k < l.size(); ++k) sum += p[k] = std::exp(double(l[k]) - mx);
          nlohmann::ordered_json j = {{"id", rows[i].id}, {"label", eval::kEmoLabels[rows[i].label]},
                                      {"predicted", labels[best]}};
          for (size_t k = 0; k < l.size(); ++k) j["probabilities"][labels[k]] = p[k] / sum;
          *pred_out << j.dump() << '\n';
        }
      }
      if (progress) {
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        int filled = static_cast<int>(30.0 * double(end) / double(rows.size()));
        std::fprintf(stderr, "\reval [%s%s] %zu/%zu rows  %.0f rows/s\033[K", std::string(filled, '#').c_str(),
                     std::string(30 - filled, '.').c_str(), end, rows.size(), double(end) / std::max(secs, 1e-9));
      }
    }
    if (progress) std::fprintf(stderr, "\r\033[K");
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    eval::EmoMetrics m = eval::emo_metrics(truth, predicted);

    if (a->json) {
      nlohmann::ordered_json j;
      j["model"] = a->model;
      j["data"] = a->file;
      j["rows"] = m.rows;
      j["seconds"] = secs;
      j["accuracy"] = m.accuracy;
      j["micro_precision"] = m.micro_precision;
      j["micro_recall"] = m.micro_recall;
      j["micro_f1"] = m.micro_f1;
      j["macro_f1"] = m.macro_f1;
      j["mean_class_f1"] = m.mean_class_f1;
      for (size_t c = 0; c < 4; ++c) {
        j["per_class"][eval::kEmoLabels[c]] = {{"precision", m.per_class[c].precision}, {"recall", m.per_class[c].recall},
                                               {"f1", m.per_class[c].f1}, {"support", m.per_class[c].support}};
      }
      j["confusion_labels"] = eval::kEmoLabels;
      j["confusion"] = m.confusion;
      std::printf("%s\n", j.dump().c_str());
      return;
    }
    std::printf("EmoContext %s: %ld rows, model %s, %.1f s\n\n", a->file.c_str(), m.rows, a->model.c_str(), secs);
    std::printf("  micro-F1 (happy, sad, angry)  %.4f   <- SemEval-2019 Task 3 official metric\n", m.micro_f1);
    std::printf("  micro precision / recall      %.4f / %.4f\n", m.micro_precision, m.micro_recall);
    std::printf("  macro-F1 (happy, sad, angry)  %.4f\n", m.macro_f1);
    std::printf("  accuracy (4 classes)          %.4f\n\n", m.accuracy);
    std::printf("  %-8s %9s %9s %9s %8s\n", "class", "precision", "recall", "f1", "support");
    for (size_t c = 0; c < 4; ++c) {
      std::printf("  %-8s %9.4f %9.4f %9.4f %8ld\n", eval::kEmoLabels[c], m.per_class[c].precision,
                  m.per_class[c].recall, m.per_class[c].f1, m.per_class[c].support);
    }
    std::printf("\n  confusion (rows: true, columns: predicted)\n  %-8s", "");
    for (const char* l : eval::kEmoLabels) std::printf(" %8s", l);
    std::printf("\n");
    for (size_t t = 0; t < 4; ++t) {
      std::printf("  %-8s", eval::kEmoLabels[t]);
      for (size_t p = 0; p < 4; ++p) std::printf(" %8ld", m.confusion[t][p]);
      std::printf("\n");
    }
  });
}

}  // namespace mlfaas::cli
