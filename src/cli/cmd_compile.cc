// mlfaas compile: turn a model into one compiled file (.mlf) that is mapped and run as it is (docs/FORMATS.md):
// a BERT-family directory for predict, the Lambda bootstrap and serve, or a Llama model (Hugging Face directory,
// GGUF file, llama2.c checkpoint) for generate. Packing, quantization and the tokenizer's tables are done here,
// once, instead of at every cold start.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "engine/error.h"
#include "engine/formats/mapped_file.h"
#include "engine/formats/mlf.h"
#include "engine/kernels/quant_blocks.h"
#include "engine/llm/llama.h"
#include "engine/model.h"

namespace mlfaas::cli {

namespace fs = std::filesystem;

bool is_llama_source(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const fs::path config = fs::path(path) / "config.json";
    if (!fs::exists(config, ec)) {
      // A llama2.c directory, or a package's model/ holding a GGUF or a compiled Llama file.
      for (const auto& entry : fs::directory_iterator(path, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.rfind("tok", 0) == 0 && entry.path().extension() == ".bin") return true;
        if (entry.path().extension() == ".gguf") return true;
        if (entry.path().extension() == ".mlf" && is_mlf_file(entry.path().string()) &&
            MlfFile::open(entry.path().string())->architecture() == "llama") {
          return true;
        }
      }
      return false;
    }
    const nlohmann::json j = nlohmann::json::parse(read_text_file(config.string()), nullptr, false);
    if (!j.is_object()) return false;  // the BERT reader reports it
    if (j.value("model_type", nlohmann::json()).is_string() && j["model_type"] == "llama") return true;
    if (auto it = j.find("architectures"); it != j.end() && it->is_array()) {
      for (const auto& a : *it) {
        if (a == "LlamaForCausalLM") return true;
      }
    }
    return false;
  }
  if (!fs::is_regular_file(path, ec)) return false;
  if (is_mlf_file(path)) return MlfFile::open(path)->architecture() == "llama";
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return std::string(magic, 4) == "GGUF" || fs::path(path).extension() == ".bin";
}

namespace {

struct Options {
  std::string model, out, precision, isa, layout;
  bool quiet = false;
};

void run_llama(const Options& opt) {
  const auto start = std::chrono::steady_clock::now();
  std::string precision = opt.precision;
  if (precision == "int8") precision = "q8_0";
  if (precision == "int4") precision = "q4_0";
  if (precision == "fp32") precision = "f32";
  if (!opt.quiet) {
    std::fprintf(stderr, "compiling %s (%s) ...\n", opt.model.c_str(),
                 precision.empty() ? "weights as in the source" : precision.c_str());
  }
  LlamaCompileResult r;
  try {
    const LlamaWeightLayout layout = opt.layout == "rows" ? LlamaWeightLayout::Rows : LlamaWeightLayout::X16;
    r = LlamaModel::compile(opt.model, {.isa = opt.isa, .precision = precision}, opt.out, layout);
  } catch (const FormatError&) {
    throw;
  } catch (const std::runtime_error& e) {  // an ISA level this CPU lacks
    throw CliExit(2, std::string("compile: ") + e.what());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s: %.2f MiB, llama from %s, weights %s%s, %zu entries, tokenizer and chat template included (%.1f s)\n",
              opt.out.c_str(), r.bytes / 1048576.0, r.source_format.c_str(), quant_type_name(r.weight_type),
              r.interleaved ? " (linears 16-row interleaved)" : "", r.entries, seconds);
}

void run(const Options& opt) {
  if (is_llama_source(opt.model)) return run_llama(opt);
  if (!opt.layout.empty()) {
    throw CliExit(2, "compile: --layout is for Llama models; " + opt.model +
                         " is a BERT-family model (its weights are always packed in the kernels' panels)");
  }
  if (opt.precision != "" && opt.precision != "fp32" && opt.precision != "int8") {
    throw CliExit(2, "compile: --precision " + opt.precision + " is for Llama models; " + opt.model +
                         " is a BERT-family model (fp32 or int8)");
  }
  const auto start = std::chrono::steady_clock::now();
  const std::string precision = opt.precision.empty() ? "fp32" : opt.precision;
  if (!opt.quiet) std::fprintf(stderr, "compiling %s (%s) ...\n", opt.model.c_str(), precision.c_str());
  ModelOptions mo;
  mo.precision = precision;
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
      "compile", "Compile a model into one .mlf file that loads by mmap, with no parsing or packing");
  cmd->add_option("--model", opt->model,
                  "BERT-family directory (config.json + model.safetensors or pytorch_model.bin), or a Llama model: "
                  "Hugging Face directory, GGUF file, llama2.c checkpoint (directory or .bin)")
      ->required();
  cmd->add_option("--out", opt->out, "The compiled model to write (FILE.mlf; replaced atomically)")->required();
  cmd->add_option("--precision", opt->precision,
                  "BERT: fp32 (default) or int8 (dynamic quantization of the encoder's linears). Llama: f32, f16, "
                  "q8_0 or q4_0 re-encode the float linear weights (int8 and int4 are aliases of q8_0 and q4_0; "
                  "an untied output head stays q8_0 under q4_0); omitted keeps each tensor's encoding (a "
                  "quantized GGUF keeps its types: it cannot be re-encoded)")
      ->check(CLI::IsMember({"", "fp32", "int8", "f32", "f16", "q8_0", "q4_0", "int4"}));
  cmd->add_option("--isa", opt->isa,
                  "Kernel level whose fp32 panel width to pack for (portable|avx2|avxvnni|neon: 16 wide, runs on every "
                  "level; avx512|avx512vnni: 32 wide). Default: portable for int8, this CPU's best for fp32. "
                  "Llama files are the same for every level");
  cmd->add_option("--layout", opt->layout,
                  "Llama only: how q8_0 and q4_0 linear weights are stored. x16 (default): 16 rows interleaved, "
                  "the layout the decode kernels stream fastest (docs/FORMATS.md); rows: ggml's row layout, as in "
                  "GGUF. Lossless either way; the token embedding and other types always keep rows")
      ->check(CLI::IsMember({"rows", "x16"}));
  cmd->add_flag("--quiet", opt->quiet, "No progress line on stderr");
  cmd->callback([opt] { run(*opt); });
}

}  // namespace mlfaas::cli
