// `mlfaas package`: the deployable artefact of one template function.
//  - zip (--out FILE.zip): what Lambda's provided.al2023 runtime expects, `bootstrap` at the root (mode 0755 in the
//    zip's external attributes) and the model under `model/` (where the bootstrap looks first); refused above
//    Lambda's 250 MB unzipped limit.
//  - dir (--dir DIR): the same files in a directory, what `sam build`'s makefile method wants.
//  - image (--format image --out DIR | FILE.tar): an OCI image written without Docker, for functions up to 10 GB:
//    the bootstrap with its whole shared-library closure and dynamic loader (so no AWS base image is needed) and
//    the model in a layer of its own.
#include <stdlib.h>
#include <sys/stat.h>
#include <zip.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>

#include "cli/commands.h"
#include "engine/error.h"
#include "engine/llm/llama.h"
#include "engine/model.h"
#include "platform/oci_image.h"
#include "platform/template.h"

namespace mlfaas::cli {

namespace fs = std::filesystem;

namespace {

struct Entry {
  fs::path source;
  std::string name;  // path inside the package
  bool executable = false;
};

// Lambda's limits on a zip package: 250 MB unzipped (function and layers), 50 MB zipped for a direct upload
// (CreateFunction/UpdateFunctionCode with ZipFile); larger zips go through S3.
constexpr uint64_t kZipUnzippedLimit = 250ull << 20;
constexpr uint64_t kZipDirectUploadLimit = 50ull << 20;

// Where a packaged image puts things: Lambda's LAMBDA_TASK_ROOT and LAMBDA_RUNTIME_DIR.
constexpr const char* kTaskRoot = "/var/task";
constexpr const char* kRuntimeDir = "/var/runtime";

struct SharedLibrary {
  fs::path source;   // this machine's file
  std::string path;  // where the bootstrap's loader looks for it (ldd's path), or the PT_INTERP path
  std::string name;  // its soname
  bool loader = false;
};

// The bootstrap's shared-library closure as ldd resolves it, dynamic loader included.
std::vector<SharedLibrary> shared_library_closure(const fs::path& bootstrap) {
  std::vector<SharedLibrary> out;
  std::string cmd = "ldd '" + bootstrap.string() + "' 2>/dev/null";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return out;
  char line[4096];
  while (std::fgets(line, sizeof line, pipe)) {
    std::string l(line);
    l.erase(0, l.find_first_not_of(" \t"));
    auto paren = l.find(" (");
    auto arrow = l.find(" => ");
    SharedLibrary lib;
    if (arrow != std::string::npos) {
      lib.name = l.substr(0, arrow);
      lib.path = l.substr(arrow + 4, paren == std::string::npos || paren < arrow ? std::string::npos : paren - arrow - 4);
    } else if (l.starts_with("/")) {  // the loader: "/lib64/ld-linux-x86-64.so.2 (0x...)"
      lib.path = l.substr(0, paren);
      lib.name = fs::path(lib.path).filename();
      lib.loader = true;
    } else {
      continue;  // linux-vdso: the kernel's
    }
    std::error_code ec;
    if (!lib.path.starts_with("/") || !fs::is_regular_file(lib.path, ec)) continue;
    lib.source = fs::canonical(lib.path, ec);
    if (!ec) out.push_back(std::move(lib));
  }
  pclose(pipe);
  return out;
}

// Shared libraries the bootstrap needs beyond glibc (e.g. the engine's libzip and utf8proc): Lambda puts
// /var/task/lib on LD_LIBRARY_PATH, so they travel in the package under lib/.
std::vector<Entry> shared_libraries(const fs::path& bootstrap) {
  // glibc's own libraries, and libgcc_s, come from the provided.al2023 image (Debian's libgcc_s would need a
  // newer glibc than the image has).
  static const char* kGlibc[] = {"linux-vdso", "ld-linux", "libc.so", "libm.so", "libpthread.so", "libdl.so",
                                 "librt.so", "libresolv.so", "libgcc_s.so"};
  std::vector<Entry> out;
  for (auto& lib : shared_library_closure(bootstrap)) {
    bool system = lib.loader;
    for (const char* g : kGlibc) system = system || lib.name.starts_with(g);
    if (!system) out.push_back({lib.source, "lib/" + lib.name, false});
  }
  return out;
}

// The model's files as the bootstrap finds them under LAMBDA_TASK_ROOT (names relative to it). `compile` ("" =
// copy the model as it is, else "fp32" | "int8"): the model goes in as one compiled model.mlf written to `scratch`,
// which the bootstrap maps at INIT instead of converting the weights. A BERT-family directory is packed at that
// precision; a Llama model (directory or file) keeps its weights' encoding under "fp32" and has its float weights
// re-encoded as q8_0 under "int8", its q8_0 / q4_0 linears laid out for decode (16 rows interleaved).
std::vector<Entry> model_entries(const platform::FunctionSpec& fn, const std::string& compile, const fs::path& scratch) {
  std::vector<Entry> entries;
  fs::path model;
  if (auto it = fn.environment.find("MODEL_PATH"); it != fn.environment.end())
    model = fs::path(it->second).is_absolute() ? fs::path(it->second) : fs::path(fn.code_dir) / it->second;
  else if (fs::is_directory(fs::path(fn.code_dir) / "model"))
    model = fs::path(fn.code_dir) / "model";
  else
    // The llm handler's default model is the shipped one, as the bootstrap's own fallback.
    model = fs::path(fn.code_dir) / "models" / (fn.handler == "llm" ? "stories260K" : fn.handler);
  if (!compile.empty() && fs::exists(model) && is_llama_source(model.string())) {
    const fs::path compiled = scratch / "model.mlf";
    try {
      // A compiled Llama file is compiled again too: the result has the interleaved layout whatever it had.
      LlamaModel::compile(model.string(), {.isa = "", .precision = compile == "int8" ? "q8_0" : ""}, compiled.string());
    } catch (const FormatError& e) {
      throw CliExit(2, std::string("package: ") + e.what() +
                           (compile == "int8" ? " (--compile fp32 keeps a quantized model's own encoding)" : ""));
    }
    entries.push_back({compiled, "model.mlf", false});
  } else if (!compile.empty() && fs::is_directory(model)) {
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
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(model))
      if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());  // the same order every time: an image's digest depends on it
    for (const auto& f : files) entries.push_back({f, "model/" + fs::relative(f, model).generic_string(), false});
  } else if (fs::exists(model) && model.extension() == ".mlf") {
    entries.push_back({model, "model.mlf", false});  // where the bootstrap looks for a compiled model
  } else if (fs::exists(model)) {
    entries.push_back({model, "model/" + model.filename().string(), false});
  }
  return entries;
}

uint64_t total_size(const std::vector<Entry>& entries) {
  uint64_t bytes = 0;
  for (const auto& e : entries) bytes += fs::file_size(e.source);
  return bytes;
}

std::string mb(uint64_t bytes) { return fmt::format("{:.1f} MB", double(bytes) / (1 << 20)); }

void write_zip(const std::vector<Entry>& entries, const std::string& out, const std::string& function) {
  // Refused before anything is written: Lambda would refuse it at CreateFunction.
  if (uint64_t bytes = total_size(entries); bytes > kZipUnzippedLimit)
    throw CliExit(2, fmt::format("package: {} unzips to {}, above Lambda's 250 MB limit for a zip package (function "
                                 "and layers, unzipped): use --format image (a container image, up to 10 GB)",
                                 function, mb(bytes)));
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

// The architecture an ELF executable is built for, as OCI names it ("" when it is not an ELF file we know).
std::string elf_architecture(const fs::path& executable) {
  std::ifstream in(executable, std::ios::binary);
  unsigned char h[20] = {};
  in.read(reinterpret_cast<char*>(h), sizeof h);
  if (in.gcount() != sizeof h || h[0] != 0x7f || h[1] != 'E' || h[2] != 'L' || h[3] != 'F') return "";
  const unsigned machine = h[5] == 1 ? unsigned(h[18] | (h[19] << 8)) : unsigned((h[18] << 8) | h[19]);
  if (machine == 62) return "amd64";
  if (machine == 183) return "arm64";
  return "";
}

// Whether an ELF64 executable names a dynamic loader (PT_INTERP): a static one needs no libraries in the image.
bool has_interpreter(const fs::path& executable) {
  std::ifstream in(executable, std::ios::binary);
  unsigned char h[64] = {};
  in.read(reinterpret_cast<char*>(h), sizeof h);
  if (in.gcount() != sizeof h || h[4] != 2 || h[5] != 1) return true;  // not ELF64 little-endian: assume so
  auto u16 = [&](int at) { return unsigned(h[at] | (h[at + 1] << 8)); };
  uint64_t phoff = 0;
  for (int i = 7; i >= 0; --i) phoff = (phoff << 8) | h[32 + i];
  const unsigned phentsize = u16(54), phnum = u16(56);
  for (unsigned i = 0; i < phnum && phentsize >= 4; ++i) {
    unsigned char type[4] = {};
    in.seekg(std::streamoff(phoff + uint64_t(i) * phentsize));
    in.read(reinterpret_cast<char*>(type), 4);
    if (in.gcount() == 4 && type[0] == 3 && type[1] == 0 && type[2] == 0 && type[3] == 0) return true;
  }
  return false;
}

// Adds `files` (path inside the image without the leading '/', source) to a layer, with every parent directory
// as an entry of its own, in sorted order.
void add_to_layer(platform::TarWriter& tar, std::vector<std::pair<std::string, Entry>> files) {
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::set<std::string> dirs;
  for (const auto& [path, entry] : files) {
    for (size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1))
      if (dirs.insert(path.substr(0, slash)).second) tar.add_directory(path.substr(0, slash), 0755);
    tar.add_file(path, entry.executable ? 0755 : 0644, entry.source.string());
  }
}

struct ImageSummary {
  std::string digest;
  uint64_t compressed = 0, unpacked = 0;
  size_t libraries = 0;
};

// An OCI image: layer 1 the runtime (the bootstrap at /var/runtime/bootstrap, its shared libraries where its
// loader looks for them, the loader at its PT_INTERP path), layer 2 the model under /var/task. Entrypoint the
// bootstrap, Cmd the handler (as Lambda's images take it; ImageConfig.Command overrides it).
ImageSummary write_image(const platform::FunctionSpec& fn, const fs::path& bootstrap,
                         const std::vector<Entry>& model, const std::string& out, const std::string& tag,
                         const fs::path& scratch) {
  const bool archive = out.ends_with(".tar");
  const std::string layout = archive ? (scratch / "layout").string() : out;
  if (!archive) {
    std::error_code ec;
    if (fs::exists(layout, ec) && !fs::is_empty(layout, ec) && !fs::exists(fs::path(layout) / "oci-layout", ec))
      throw CliExit(2, "package: " + layout + " exists and is not an OCI layout: give an empty or new directory");
    fs::remove_all(fs::path(layout) / "blobs", ec);  // blobs of an earlier image would linger unreferenced
  }
  ImageSummary summary;
  std::string arch = elf_architecture(bootstrap);
  if (arch.empty()) throw CliExit(2, "package: " + bootstrap.string() + " is not an x86-64 or arm64 executable");
  if ((arch == "arm64") != (fn.architecture == "arm64"))
    throw CliExit(2, "package: " + fn.name + " is " + fn.architecture + " in the template, but " + bootstrap.string() +
                         " is built for " + arch);
  try {
    std::vector<platform::LayerInfo> layers;
    {
      std::vector<std::pair<std::string, Entry>> runtime{{std::string(kRuntimeDir + 1) + "/bootstrap", {bootstrap, "", true}}};
      for (const auto& lib : shared_library_closure(bootstrap)) {
        // The loader must be executable (the kernel maps it); Debian ships libraries 0644 or 0755.
        runtime.push_back({lib.path.substr(1), {lib.source, "", lib.loader}});
        ++summary.libraries;
      }
      if (summary.libraries == 0 && has_interpreter(bootstrap))
        throw CliExit(1, "package: ldd resolved no shared libraries for " + bootstrap.string() +
                             (arch == platform::host_architecture()
                                  ? " (is ldd installed?)"
                                  : " (ldd cannot read a " + arch + " executable here: build the image on " + arch +
                                        ", or link the bootstrap statically)") +
                             ": the image would lack its dynamic loader");
      platform::LayerWriter layer(layout, 6, "mlfaas package: bootstrap and its shared libraries");
      add_to_layer(layer.tar(), runtime);
      layers.push_back(layer.finish());
    }
    {
      std::vector<std::pair<std::string, Entry>> files;
      for (const auto& e : model) files.push_back({std::string(kTaskRoot + 1) + "/" + e.name, e});
      // Weights barely compress: level 1 is several times faster than the default for about the same size.
      platform::LayerWriter layer(layout, 1, "mlfaas package: model of " + fn.name);
      layer.tar().add_directory(kTaskRoot + 1, 0755);
      add_to_layer(layer.tar(), files);
      layers.push_back(layer.finish());
    }
    platform::ImageConfig config;
    config.entrypoint = {std::string(kRuntimeDir) + "/bootstrap"};
    config.cmd = {fn.handler};
    config.env = {"PATH=/usr/local/bin:/usr/bin:/bin", std::string("LAMBDA_TASK_ROOT=") + kTaskRoot,
                  std::string("LAMBDA_RUNTIME_DIR=") + kRuntimeDir, "LANG=C.UTF-8"};
    config.working_dir = kTaskRoot;
    config.architecture = arch;
    summary.digest = platform::write_image(layout, layers, config, tag);
    for (const auto& l : layers) {
      summary.compressed += l.size;
      summary.unpacked += l.unpacked_size;
    }
    if (archive) platform::write_oci_archive(layout, out);
  } catch (const platform::ImageError& e) {
    throw CliExit(1, std::string("package: ") + e.what());
  } catch (const platform::TarError& e) {
    throw CliExit(1, std::string("package: ") + e.what());
  }
  return summary;
}

std::string default_bootstrap() {
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "bootstrap" : (self.parent_path() / "bootstrap").string();
}

// The bootstrap and the shared libraries it needs, as a zip or directory holds them.
std::vector<Entry> runtime_entries(const fs::path& bootstrap) {
  std::vector<Entry> entries{{bootstrap, "bootstrap", true}};
  for (auto& lib : shared_libraries(bootstrap)) entries.push_back(std::move(lib));
  return entries;
}

}  // namespace

std::string package_handler(const std::string& handler, const std::string& model_dir, const std::string& out_base) {
  platform::FunctionSpec fn;
  fn.name = handler;
  fn.handler = handler;
  fn.code_dir = ".";
  fn.architecture = platform::host_architecture();
  fn.environment["MODEL_PATH"] = model_dir;
  const fs::path bootstrap = default_bootstrap();
  if (!fs::is_regular_file(bootstrap)) throw CliExit(1, "package: no bootstrap at " + bootstrap.string() + " (build it first)");
  const fs::path scratch = fs::path(out_base).parent_path();
  std::vector<Entry> model = model_entries(fn, "", scratch);
  std::vector<Entry> entries = runtime_entries(bootstrap);
  for (const auto& e : model) entries.push_back(e);
  if (total_size(entries) <= kZipUnzippedLimit) {
    write_zip(entries, out_base + ".zip", handler);
    return out_base + ".zip";
  }
  write_image(fn, bootstrap, model, out_base + ".oci", "latest", scratch);
  return out_base + ".oci";
}

void register_package(CLI::App& app) {
  struct Options {
    std::string template_path = "template.yaml", function, out, dir, bootstrap, compile, format, tag = "latest";
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("package", "Build a template function's deployable Lambda package (zip, "
                                            "directory or OCI image)");
  cmd->add_option("--template,-t", o->template_path, "AWS SAM template")->capture_default_str();
  cmd->add_option("--function,-f", o->function, "function (logical id or FunctionName)")->required();
  cmd->add_option("--format", o->format,
                  "zip (default with --out), dir (default with --dir) or image (an OCI image: --out DIR for a "
                  "layout, --out FILE.tar for an oci-archive)")
      ->check(CLI::IsMember({"zip", "dir", "image"}));
  auto* out = cmd->add_option("--out,-o", o->out, "zip file, or the image's layout directory / .tar to write");
  auto* dir = cmd->add_option("--dir", o->dir, "directory to fill instead (sam build's ARTIFACTS_DIR)");
  out->excludes(dir);
  cmd->add_option("--tag", o->tag, "the image's tag in its layout (skopeo's oci:DIR:TAG)")->capture_default_str();
  cmd->add_option("--bootstrap", o->bootstrap, "runtime executable (default: the one next to mlfaas)");
  cmd->add_option("--compile", o->compile,
                  "put the model in as one compiled model.mlf at this precision (fp32|int8) instead of its directory: "
                  "INIT maps it instead of converting weights; packed to run on any CPU (docs/FORMATS.md). Llama "
                  "models: fp32 keeps the weights' encoding (a q4_0 GGUF stays q4_0), int8 re-encodes float weights "
                  "as q8_0; q8_0/q4_0 linears are laid out for decode (mlfaas compile's default)")
      ->check(CLI::IsMember({"fp32", "int8"}));
  cmd->callback([o] {
    std::string format = o->format.empty() ? (o->dir.empty() ? "zip" : "dir") : o->format;
    if (format == "dir" ? o->dir.empty() : o->out.empty())
      throw CliExit(2, format == "dir" ? "package: --format dir needs --dir DIR"
                       : format == "zip" ? "package: give --out FILE.zip or --dir DIR"
                                         : "package: --format image needs --out DIR (a layout) or --out FILE.tar");
    if (format != "dir" && !o->dir.empty()) throw CliExit(2, "package: --dir writes a directory; --format " + format + " needs --out");
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
    if (fn->package_type == "Image")
      throw CliExit(2, "package: " + fn->name + " is PackageType: Image in " + o->template_path +
                           " (its ImageUri is the package); package a Zip function");
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
    const fs::path bootstrap = o->bootstrap.empty() ? default_bootstrap() : o->bootstrap;
    if (!fs::is_regular_file(bootstrap)) throw CliExit(1, "package: no bootstrap at " + bootstrap.string() + " (build it first)");
    std::vector<Entry> model = model_entries(*fn, o->compile, scratch);
    const size_t model_files = model.size();
    const char* no_model = model_files ? "" : " (no model directory found)";
    if (format == "image") {
      ImageSummary s = write_image(*fn, bootstrap, model, o->out, o->tag, scratch);
      std::printf("%s: OCI image %s (tag %s): bootstrap, %zu shared libraries with the loader, %zu model file(s)%s; "
                  "%s compressed, %s unpacked\n",
                  o->out.c_str(), s.digest.c_str(), o->tag.c_str(), s.libraries, model_files, no_model,
                  mb(s.compressed).c_str(), mb(s.unpacked).c_str());
      return;
    }
    std::vector<Entry> entries = runtime_entries(bootstrap);
    const size_t libs = entries.size() - 1;
    for (auto& e : model) entries.push_back(std::move(e));
    if (format == "zip") write_zip(entries, o->out, fn->name);
    else write_dir(entries, o->dir);
    std::printf("%s: bootstrap, %zu shared librar%s, %zu model file(s)%s\n",
                format == "zip" ? o->out.c_str() : o->dir.c_str(), libs, libs == 1 ? "y" : "ies", model_files, no_model);
    if (format == "zip") {
      const uint64_t zipped = fs::file_size(o->out);
      if (zipped > kZipDirectUploadLimit)
        std::printf("note: %s is %s zipped, above the 50 MB Lambda takes in a direct upload (--zip-file): upload it "
                    "to S3 and create the function from there (aws s3 cp %s s3://BUCKET/KEY; aws lambda "
                    "create-function ... --code S3Bucket=BUCKET,S3Key=KEY), or use --format image\n",
                    o->out.c_str(), mb(zipped).c_str(), o->out.c_str());
    }
  });
}

}  // namespace mlfaas::cli
