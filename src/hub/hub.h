#pragma once
// Downloads a model repository from the Hugging Face Hub (or any server with its URL layout):
//   {endpoint}/api/models/{repo}/revision/{revision}   -> file list ("siblings")
//   {endpoint}/{repo}/resolve/{revision}/{file}        -> the file, usually via a redirect to a CDN
// Files are written to a temporary name and renamed when complete and verified, so a target file is either
// absent or whole; an interrupted download resumes from its temporary file with an HTTP Range request.
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace mlfaas::hub {

struct PullOptions {
  std::string repo;                 // "owner/name"
  std::string revision = "main";
  std::string dir;                  // destination directory (created if missing)
  std::string endpoint;             // default: $HF_ENDPOINT or https://huggingface.co
  std::string token;                // default: $HF_TOKEN
  bool force = false;               // re-download files that are already present
  std::vector<std::string> files;   // exactly these files (e.g. one .gguf of a GGUF repository); empty = the model's
  long connect_timeout_s = 15;
  long low_speed_timeout_s = 60;    // abort when under 1 KB/s for this long
};

struct FileProgress {
  std::string file;
  uint64_t done = 0;
  uint64_t total = 0;  // 0 when unknown
  bool resumed = false;
};

struct PulledFile {
  std::string file;
  uint64_t bytes = 0;
  bool skipped = false;   // already present
  bool resumed = false;
  bool verified = false;  // sha256 checked against the Hub's X-Linked-Etag
};

// Failures carry a one-line message for the user; kind lets callers map them to exit codes and tests.
class HubError : public std::runtime_error {
 public:
  enum class Kind { NotFound, Unauthorized, Network, Disk, Checksum, Protocol, Usage };
  HubError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

// The files of `repo` the engine uses: config and tokenizer files (vocab.txt, tokenizer.json, tokenizer.model,
// tokenizer_config.json, special_tokens_map.json, generation_config.json) and one set of weights - model.safetensors,
// else a sharded model.safetensors.index.json with its model-NNNNN-of-NNNNN.safetensors shards, else
// pytorch_model.bin. Throws HubError(NotFound) when there are no weights it can run, naming the repository's .gguf
// files (which a user picks with PullOptions::files) when it has some.
std::vector<std::string> select_model_files(const std::vector<std::string>& repo_files, const std::string& repo = "",
                                            const std::string& revision = "main");

// Lists the repository, downloads the selected files. Progress is reported through `on_progress` (may be
// empty). Throws HubError.
std::vector<PulledFile> pull(const PullOptions& options, const std::function<void(const FileProgress&)>& on_progress);

}  // namespace mlfaas::hub
