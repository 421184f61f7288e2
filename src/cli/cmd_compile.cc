// mlfaas compile: turn a model directory into one compiled file (.mlf) that predict, the Lambda bootstrap and
// serve map and run as it is (docs/FORMATS.md). Packing, quantization and the tokenizer's tables are done here,
// once, instead of at every cold start.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "engine/error.h"
#include "engine/model.h"

namespace mlfaas::cli {

namespace {

struct Options {
  std::string model, out, precision = "fp32", isa;
  bool quiet = false;
};

void run(const Options& opt) {
  const auto start = std::chrono::steady_clock::now();
  if (!opt.quiet) std::fprintf(stderr, "compiling %s (%s) ...\n", opt.model.c_str(), opt.precision.c_str());
  ModelOptions mo;
  mo.precision = opt.precision;
  mo.isa = opt.isa;
  CompileResult r;
  try {
    r = Model::compile(opt.model, mo, opt.out);
  } catch (const FormatError&) {
    throw;
  } catch (const std::runtime_error& e) {  // an ISA level this CPU lacks
    throw CliExit(2, std::string("compile: ") + e.what());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s: %.2f MiB, %s, %zu entries, fp32 panels for %s, tokenizer %s (%.1f s)\n", opt.out.c_str(),
              r.bytes / 1048576.0, r.precision.c_str(), r.entries, r.panel_isa.c_str(),
              r.has_tokenizer ? "included" : "absent (no vocab.txt)", seconds);
}

}  // namespace

void register_compile(CLI::App& app) {
  auto opt = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "compile", "Compile a model directory into one .mlf file that loads by mmap, with no parsing or packing");
  cmd->add_option("--model", opt->model, "Model directory (config.json + model.safetensors or pytorch_model.bin)")
      ->required();
  cmd->add_option("--out", opt->out, "The compiled model to write (FILE.mlf; replaced atomically)")->required();
  cmd->add_option("--precision", opt->precision, "fp32, or int8 (dynamic quantization of the encoder's linears)")
      ->check(CLI::IsMember({"fp32", "int8"}))
      ->capture_default_str();
  cmd->add_option("--isa", opt->isa,
                  "Kernel level whose fp32 panel width to pack for (portable|avx2|avxvnni|neon: 16 wide, runs on every "
                  "level; avx512|avx512vnni: 32 wide). Default: portable for int8, this CPU's best for fp32");
  cmd->add_flag("--quiet", opt->quiet, "No progress line on stderr");
  cmd->callback([opt] { run(*opt); });
}

}  // namespace mlfaas::cli
