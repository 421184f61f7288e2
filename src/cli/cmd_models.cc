// mlfaas models pull REPO_ID [--revision R] [--dir D] [--force]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "hub/hub.h"

namespace mlfaas::cli {
namespace {

std::string human_bytes(uint64_t b) {
  char buf[32];
  if (b >= (1u << 30)) std::snprintf(buf, sizeof buf, "%.2f GB", b / double(1u << 30));
  else if (b >= (1u << 20)) std::snprintf(buf, sizeof buf, "%.1f MB", b / double(1u << 20));
  else if (b >= 1024) std::snprintf(buf, sizeof buf, "%.1f kB", b / 1024.0);
  else std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
  return buf;
}

// One redrawn line per file on a terminal; nothing but the final summary lines otherwise.
class ProgressBar {
 public:
  explicit ProgressBar(bool enabled) : enabled_(enabled) {}
  void update(const hub::FileProgress& p) {
    if (!enabled_) return;
    auto now = std::chrono::steady_clock::now();
    if (p.file != file_) {
      file_ = p.file;
      start_ = now;
      start_bytes_ = p.done;
    } else if (now - last_ < std::chrono::milliseconds(100) && p.done != p.total) {
      return;
    }
    last_ = now;
    double secs = std::chrono::duration<double>(now - start_).count();
    double rate = secs > 0 ? (p.done - start_bytes_) / secs : 0;
    constexpr int kWidth = 30;
    std::string bar;
    if (p.total > 0) {
      int filled = static_cast<int>(kWidth * (double(p.done) / double(p.total)));
      bar = "[" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "]";
      std::fprintf(stderr, "\r%-24.24s %s %5.1f%% %s / %s %s/s%s\033[K", p.file.c_str(), bar.c_str(),
                   100.0 * double(p.done) / double(p.total), human_bytes(p.done).c_str(), human_bytes(p.total).c_str(),
                   human_bytes(static_cast<uint64_t>(rate)).c_str(), p.resumed ? " (resumed)" : "");
    } else {
      std::fprintf(stderr, "\r%-24.24s %s %s/s\033[K", p.file.c_str(), human_bytes(p.done).c_str(),
                   human_bytes(static_cast<uint64_t>(rate)).c_str());
    }
    std::fflush(stderr);
  }
  void finish_line() {
    if (enabled_ && !file_.empty()) std::fprintf(stderr, "\r\033[K");
  }

 private:
  bool enabled_;
  std::string file_;
  std::chrono::steady_clock::time_point start_, last_;
  uint64_t start_bytes_ = 0;
};

}  // namespace

void register_models(CLI::App& app) {
  auto* models = app.add_subcommand("models", "Manage models");
  models->require_subcommand(1);
  auto* pull = models->add_subcommand("pull", "Download a model from the Hugging Face Hub (HF_ENDPOINT, HF_TOKEN honoured)");
  auto opts = std::make_shared<hub::PullOptions>();
  pull->add_option("repo", opts->repo, "Repository id, e.g. lordtt13/emo-mobilebert")->required();
  pull->add_option("--revision", opts->revision, "Branch, tag or commit")->capture_default_str();
  pull->add_option("--dir", opts->dir, "Destination directory (default: models/NAME)");
  pull->add_flag("--force", opts->force, "Download files that are already present again");
  pull->add_option("--file", opts->files,
                   "Download exactly this file (repeatable), e.g. one .gguf of a GGUF repository");
  pull->callback([opts] {
    hub::PullOptions o = *opts;
    if (o.dir.empty()) o.dir = "models/" + o.repo.substr(o.repo.find('/') + 1);
    ProgressBar bar(::isatty(STDERR_FILENO) != 0);
    try {
      auto files = hub::pull(o, [&](const hub::FileProgress& p) { bar.update(p); });
      bar.finish_line();
      uint64_t total = 0;
      for (const auto& f : files) {
        total += f.bytes;
        std::fprintf(stderr, "%-26s %10s  %s\n", f.file.c_str(), human_bytes(f.bytes).c_str(),
                     f.skipped ? "already present" : f.verified ? (f.resumed ? "resumed, sha256 ok" : "sha256 ok")
                                                                : (f.resumed ? "resumed" : "downloaded"));
      }
      std::printf("%s\n", o.dir.c_str());
      std::fprintf(stderr, "pulled %s (%zu files, %s) into %s\n", o.repo.c_str(), files.size(),
                   human_bytes(total).c_str(), o.dir.c_str());
    } catch (const hub::HubError& e) {
      bar.finish_line();
      throw CliExit(e.kind() == hub::HubError::Kind::Usage ? 2 : 1, "models pull: " + std::string(e.what()));
    }
  });
}

}  // namespace mlfaas::cli
