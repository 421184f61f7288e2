// `mlfaas package`: the deployable artefact of one template function, as Lambda's provided.al2023 runtime
// expects it: `bootstrap` at the root (executable) and the function's model under `model/` (where the bootstrap
// looks first). Writes a zip (--out) or a directory (--dir, what `sam build`'s makefile method wants).
#include <stdlib.h>
#include <sys/stat.h>
#include <zip.h>

#include <filesystem>
#include <fstream>

#include "cli/commands.h"
#include "engine/error.h"
#include "engine/model.h"
#include "platform/template.h"

namespace mlfaas::cli {

namespace fs = std::filesystem;

namespace {

struct Entry {
  fs::path source;
  std::string name;  // path inside the package
  bool executable = false;
};

// Shared libraries the bootstrap needs beyond glibc (e.g. the engine's libzip and utf8proc): Lambda puts
// /var/task/lib on LD_LIBRARY_PATH, so they travel in the package under lib/.
std::vector<Entry> shared_libraries(const fs::path& bootstrap) {
  // glibc's own libraries, and libgcc_s, come from the provided.al2023 image (Debian's libgcc_s would need a
  // newer glibc than the image has).
  static const char* kGlibc[] = {"linux-vdso", "ld-linux", "libc.so", "libm.so", "libpthread.so", "libdl.so",
                                 "librt.so", "libresolv.so", "libgcc_s.so"};
  std::vector<Entry> out;
  std::string cmd = "ldd '" + bootstrap.string() + "' 2>/dev/null";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return out;
  char line[4096];
  while (std::fgets(line, sizeof line, pipe)) {
    std::string l(line);
    auto arrow = l.find(" => ");
    if (arrow == std::string::npos) continue;
    std::string name = l.substr(0, arrow);
    name.erase(0, name.find_first_not_of(" \t"));
    bool system = false;
    for (const char* g : kGlibc) system = system || name.starts_with(g);
    auto path_end = l.find(" (", arrow);
    std::string path = l.substr(arrow + 4, path_end == std::string::npos ? std::string::npos : path_end - arrow - 4);
    if (!system && fs::is_regular_file(path)) out.push_back({fs::canonical(path), "lib/" + name, false});
  }
  pclose(pipe);
  return out;
}

// `compile` ("" = copy the model as it is, else "fp32" | "int8"): a model directory goes in as one compiled
// model.mlf written to `scratch`, which the bootstrap maps at INIT instead of converting the weights.
std::vector<Entry> package_entries(const platform::FunctionSpec& fn, const fs::path& bootstrap,
                                   const std::string& compile, const fs::path& scratch) {
  if (!fs::is_regular_file(bootstrap)) throw CliExit(1, "package: no bootstrap at " + bootstrap.string() + " (build it first)");
  std::vector<Entry> entries{{bootstrap, "bootstrap", true}};
  for (auto& lib : shared_libraries(bootstrap)) entries.push_back(std::move(lib));
  fs::path model;
  if (auto it = fn.environment.find("MODEL_PATH"); it != fn.environment.end())
    model = fs::path(it->second).is_absolute() ? fs::path(it->second) : fs::path(fn.code_dir) / it->second;
  else if (fs::is_directory(fs::path(fn.code_dir) / "model"))
    model = fs::path(fn.code_dir) / "model";
  else
    // The llm handler's default model is the shipped one, as the bootstrap's own fallback.
    model = fs::path(fn.code_dir) / "models" / (fn.handler == "llm" ? "stories260K" : fn.handler);
  if (!compile.empty() && fs::is_directory(model)) {
    ModelOptions mo;
    mo.precision = compile;
    // The Lambda host's CPU is unknown here: 16-wide fp32 panels run on every x86-64 level (int8 panels are the
    // same for all levels anyway), where 32-wide ones would be refused on a host without AVX-512.
    mo.isa = "portable";
    const fs::path compiled = scratch / "model.mlf";
    try {
      Model::compile(model.string(), mo, compiled.string());
    } catch (const FormatError& e) {
      throw CliExit(2, std::string("package: ") + e.what());
    }
    entries.push_back({compiled, "model.mlf", false});
  } else if (fs::is_directory(model)) {
    for (const auto& e : fs::recursive_directory_iterator(model))
      if (e.is_regular_file())
        entries.push_back({e.path(), "model/" + fs::relative(e.path(), model).generic_string(), false});
  } else if (fs::exists(model) && model.extension() == ".mlf") {
    entries.push_back({model, "model.mlf", false});  // where the bootstrap looks for a compiled model
  } else if (fs::exists(model)) {
    entries.push_back({model, "model/" + model.filename().string(), false});
  }
  return entries;
}

void write_zip(const std::vector<Entry>& entries, const std::string& out) {
  int err = 0;
  zip_t* zip = zip_open(out.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  if (!zip) throw CliExit(1, "package: cannot create " + out);
  for (const auto& e : entries) {
    zip_source_t* src = zip_source_file(zip, e.source.c_str(), 0, -1);
    zip_int64_t idx = src ? zip_file_add(zip, e.name.c_str(), src, ZIP_FL_OVERWRITE) : -1;
    if (idx < 0) {
      if (src) zip_source_free(src);
      std::string why = zip_strerror(zip);
      zip_discard(zip);
      throw CliExit(1, "package: " + e.source.string() + ": " + why);
    }
    // Lambda runs `bootstrap` straight from the zip's Unix mode bits.
    zip_uint32_t mode = (e.executable ? 0100755u : 0100644u) << 16;
    zip_file_set_external_attributes(zip, zip_uint64_t(idx), 0, ZIP_OPSYS_UNIX, mode);
  }
  if (zip_close(zip) != 0) {
    std::string why = zip_strerror(zip);
    zip_discard(zip);
    throw CliExit(1, "package: writing " + out + ": " + why);
  }
}

void write_dir(const std::vector<Entry>& entries, const fs::path& dir) {
  for (const auto& e : entries) {
    fs::path dest = dir / e.name;
    fs::create_directories(dest.parent_path());
    fs::copy_file(e.source, dest, fs::copy_options::overwrite_existing);
    if (e.executable) fs::permissions(dest, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                                fs::perms::others_read | fs::perms::others_exec);
  }
}

std::string default_bootstrap() {
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "bootstrap" : (self.parent_path() / "bootstrap").string();
}

}  // namespace

void package_handler_zip(const std::string& handler, const std::string& model_dir, const std::string& zip_path) {
  platform::FunctionSpec fn;
  fn.handler = handler;
  fn.code_dir = ".";
  fn.environment["MODEL_PATH"] = model_dir;
  write_zip(package_entries(fn, default_bootstrap(), "", fs::path(zip_path).parent_path()), zip_path);
}

void register_package(CLI::App& app) {
  struct Options {
    std::string template_path = "template.yaml", function, out, dir, bootstrap, compile;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("package", "Build a template function's deployable Lambda package");
  cmd->add_option("--template,-t", o->template_path, "AWS SAM template")->capture_default_str();
  cmd->add_option("--function,-f", o->function, "function (logical id or FunctionName)")->required();
  auto* out = cmd->add_option("--out,-o", o->out, "zip file to write");
  auto* dir = cmd->add_option("--dir", o->dir, "directory to fill instead (sam build's ARTIFACTS_DIR)");
  out->excludes(dir);
  cmd->add_option("--bootstrap", o->bootstrap, "runtime executable (default: the one next to mlfaas)");
  cmd->add_option("--compile", o->compile,
                  "put the model in as one compiled model.mlf at this precision (fp32|int8) instead of its directory: "
                  "INIT maps it instead of converting weights; packed to run on any CPU (docs/FORMATS.md)")
      ->check(CLI::IsMember({"fp32", "int8"}));
  cmd->callback([o] {
    if (o->out.empty() && o->dir.empty()) throw CliExit(2, "package: give --out FILE.zip or --dir DIR");
    platform::Template tpl;
    try {
      tpl = platform::load_template(o->template_path);
    } catch (const platform::TemplateError& e) {
      throw CliExit(2, e.what());
    }
    const platform::FunctionSpec* fn = tpl.function_by_name(o->function);
    for (const auto& f : tpl.functions)
      if (f.logical_id == o->function) fn = &f;
    if (!fn) throw CliExit(2, "package: " + o->template_path + ": no function '" + o->function + "'");
    std::string scratch_template = (fs::temp_directory_path() / "mlfaas-package-XXXXXX").string();
    const char* scratch = ::mkdtemp(scratch_template.data());
    if (scratch == nullptr) throw CliExit(1, "package: cannot create a temporary directory");
    struct RemoveScratch {
      fs::path path;
      ~RemoveScratch() {
        std::error_code ec;
        fs::remove_all(path, ec);
      }
    } cleanup{scratch};
    auto entries = package_entries(*fn, o->bootstrap.empty() ? default_bootstrap() : o->bootstrap, o->compile, scratch);
    if (!o->out.empty()) write_zip(entries, o->out);
    else write_dir(entries, o->dir);
    size_t libs = 0, model = 0;
    for (const auto& e : entries) {
      libs += e.name.starts_with("lib/");
      model += e.name.starts_with("model/") || e.name == "model.mlf";
    }
    std::printf("%s: bootstrap, %zu shared librar%s, %zu model file(s)%s\n",
                o->out.empty() ? o->dir.c_str() : o->out.c_str(), libs, libs == 1 ? "y" : "ies", model,
                model ? "" : " (no model directory found)");
  });
}

}  // namespace mlfaas::cli
