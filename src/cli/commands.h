#pragma once
// Each command lives in its own cmd_*.cc and adds a subcommand to the app. Commands report failures by
// throwing CliExit with the process exit code (2: bad input file or usage, 1: runtime failure).
#include <CLI/CLI.hpp>

#include <stdexcept>
#include <string>

namespace mlfaas::cli {

struct CliExit : std::runtime_error {
  CliExit(int code, const std::string& message) : std::runtime_error(message), code(code) {}
  int code;
};

void register_tokenize(CLI::App& app);
void register_generate(CLI::App& app);
void register_predict(CLI::App& app);
void register_compile(CLI::App& app);
void register_classic(CLI::App& app);
void register_serve(CLI::App& app);
void register_package(CLI::App& app);
void register_models(CLI::App& app);
void register_metrics(CLI::App& app);
void register_eval(CLI::App& app);
void register_loadtest(CLI::App& app);
void register_experiment(CLI::App& app);

// Whether `path` holds a Llama model rather than a BERT-family one: a directory whose config.json says llama
// (model_type or architectures), a llama2.c directory (tok*.bin, no config.json), a GGUF file, a llama2.c
// checkpoint, or a compiled Llama .mlf (cmd_compile.cc).
bool is_llama_source(const std::string& path);

// What `experiment run` deploys for `handler` with the model directory `model_dir`: the zip `mlfaas package`
// writes (bootstrap, its shared libraries, the model under model/) at `out_base`.zip, or, when that would unzip
// past Lambda's 250 MB zip limit (a 1.1B model), the OCI image layout `mlfaas package --format image` writes at
// `out_base`.oci. Returns the path written; it ends in .zip or .oci.
std::string package_handler(const std::string& handler, const std::string& model_dir, const std::string& out_base);

}  // namespace mlfaas::cli
