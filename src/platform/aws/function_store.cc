#include "platform/aws/function_store.h"

#include <sys/stat.h>
#include <zip.h>

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/codec.h"
#include "platform/aws/protocol.h"

namespace mlfaas::platform::aws {

namespace fs = std::filesystem;
using nlohmann::json;

FunctionStore::FunctionStore(const std::string& dir) : dir_(fs::absolute(dir).lexically_normal().string()) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw std::runtime_error(dir_ + ": cannot create the Lambda API's state directory: " + ec.message());
}

json to_json(const StoredFunction& fn) {
  const FunctionSpec& s = fn.spec;
  json j = {{"FunctionName", s.name},   {"CodeDir", s.code_dir},      {"Handler", s.handler},
            {"Runtime", s.runtime},     {"Architecture", s.architecture}, {"MemorySize", s.memory_mb},
            {"Timeout", s.timeout_s},   {"EphemeralStorage", s.ephemeral_mb}, {"Environment", s.environment},
            {"Role", fn.role},          {"Description", fn.description}, {"PackageType", fn.package_type},
            {"CodeSha256", fn.code_sha256}, {"CodeSize", fn.code_size}, {"LastModified", fn.last_modified_ms},
            {"RevisionId", fn.revision_id}, {"Policy", fn.policy}};
  if (s.reserved_concurrency) j["ReservedConcurrentExecutions"] = *s.reserved_concurrency;
  if (s.package_type == "Image")
    j["Image"] = {{"ImageUri", s.image_uri}, {"EntryPoint", s.image_entrypoint}, {"Command", s.image_command},
                  {"WorkingDirectory", s.image_working_dir}};
  return j;
}

StoredFunction stored_function_from_json(const json& j) {
  StoredFunction fn;
  FunctionSpec& s = fn.spec;
  s.name = j.at("FunctionName").get<std::string>();
  s.logical_id = s.name;
  s.code_dir = j.at("CodeDir").get<std::string>();
  s.handler = j.value("Handler", "");
  s.runtime = j.value("Runtime", "provided.al2023");
  s.architecture = j.value("Architecture", "x86_64");
  s.memory_mb = j.value("MemorySize", 128);
  s.timeout_s = j.value("Timeout", 3);
  s.ephemeral_mb = j.value("EphemeralStorage", 512);
  s.environment = j.value("Environment", std::map<std::string, std::string>{});
  if (j.contains("ReservedConcurrentExecutions")) s.reserved_concurrency = j["ReservedConcurrentExecutions"].get<int>();
  fn.role = j.value("Role", "");
  fn.description = j.value("Description", "");
  fn.package_type = s.package_type = j.value("PackageType", "Zip");
  if (j.contains("Image")) {
    const json& image = j["Image"];
    s.image_uri = image.value("ImageUri", "");
    s.image_entrypoint = image.value("EntryPoint", std::vector<std::string>{});
    s.image_command = image.value("Command", std::vector<std::string>{});
    s.image_working_dir = image.value("WorkingDirectory", "");
  }
  fn.code_sha256 = j.value("CodeSha256", "");
  fn.code_size = j.value("CodeSize", int64_t(0));
  fn.last_modified_ms = j.value("LastModified", int64_t(0));
  fn.revision_id = j.value("RevisionId", "");
  fn.policy = j.value("Policy", json::array());
  return fn;
}

std::vector<StoredFunction> FunctionStore::load(std::vector<std::string>& warnings) const {
  std::vector<StoredFunction> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    fs::path config = entry.path() / "config.json";
    if (!fs::exists(config)) continue;
    try {
      std::ifstream in(config);
      StoredFunction fn = stored_function_from_json(json::parse(in));
      if (!fs::is_directory(fn.spec.code_dir)) throw std::runtime_error("its code directory is missing");
      out.push_back(std::move(fn));
    } catch (const std::exception& e) {
      warnings.push_back(config.string() + ": skipped: " + e.what());
    }
  }
  return out;
}

void FunctionStore::save(const StoredFunction& fn) const {
  fs::path dir = fs::path(dir_) / fn.spec.name;
  fs::create_directories(dir);
  fs::path tmp = dir / "config.json.tmp";
  {
    std::ofstream out(tmp);
    out << to_json(fn).dump(2) << "\n";
    if (!out) throw std::runtime_error(tmp.string() + ": cannot write");
  }
  fs::rename(tmp, dir / "config.json");
}

std::string FunctionStore::zip_path(const std::string& name) const {
  return (fs::path(dir_) / name / "code.zip").string();
}

namespace {

[[noreturn]] void bad_zip(const std::string& why) {
  throw ApiError(http::status::bad_request, "InvalidParameterValueException",
                 "Could not unzip uploaded file. Please check your file, then try to upload again. (" + why + ")");
}

}  // namespace

void FunctionStore::install_code(StoredFunction& fn, const std::string& zip) const {
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* src = zip_source_buffer_create(zip.data(), zip.size(), 0, &error);
  zip_t* archive = src ? zip_open_from_source(src, ZIP_RDONLY, &error) : nullptr;
  if (!archive) {
    std::string why = zip_error_strerror(&error);
    if (src) zip_source_free(src);
    zip_error_fini(&error);
    bad_zip(why);
  }
  struct Closer {
    zip_t* z;
    ~Closer() { zip_discard(z); }
  } closer{archive};

  // Check every entry before writing anything.
  zip_int64_t n = zip_get_num_entries(archive, 0);
  uint64_t total = 0;
  for (zip_int64_t i = 0; i < n; ++i) {
    zip_stat_t st;
    if (zip_stat_index(archive, zip_uint64_t(i), 0, &st) != 0) bad_zip(zip_strerror(archive));
    std::string name = st.name;
    fs::path p = fs::path(name).lexically_normal();
    if (name.empty() || p.is_absolute() || (!p.empty() && *p.begin() == ".."))
      bad_zip("entry '" + name + "' points outside the package");
    total += st.size;
    if (total > kUnzippedLimit)
      throw ApiError(http::status::bad_request, "InvalidParameterValueException",
                     fmt::format("Unzipped size must be smaller than {} bytes", kUnzippedLimit));
  }

  fs::path fn_dir = fs::path(dir_) / fn.spec.name;
  fs::create_directories(fn_dir);
  fs::path code = fn_dir / ("code-" + lambda::random_hex(12));
  fs::create_directories(code);
  try {
    std::vector<char> buf(1 << 16);
    for (zip_int64_t i = 0; i < n; ++i) {
      zip_stat_t st;
      zip_stat_index(archive, zip_uint64_t(i), 0, &st);
      std::string name = st.name;
      fs::path target = code / fs::path(name).lexically_normal();
      if (name.back() == '/') {
        fs::create_directories(target);
        continue;
      }
      zip_uint8_t opsys = 0;
      zip_uint32_t attributes = 0;
      zip_file_get_external_attributes(archive, zip_uint64_t(i), 0, &opsys, &attributes);
      mode_t mode = opsys == ZIP_OPSYS_UNIX ? mode_t(attributes >> 16) : 0100644;
      if (S_ISLNK(mode)) bad_zip("entry '" + name + "' is a symbolic link");
      fs::create_directories(target.parent_path());
      zip_file_t* f = zip_fopen_index(archive, zip_uint64_t(i), 0);
      if (!f) bad_zip(zip_strerror(archive));
      std::ofstream out(target, std::ios::binary);
      zip_int64_t got;
      while ((got = zip_fread(f, buf.data(), buf.size())) > 0) out.write(buf.data(), got);
      zip_fclose(f);
      if (got < 0 || !out) bad_zip("entry '" + name + "' cannot be read");
      out.close();
      // Lambda keeps the zip's Unix mode bits: `bootstrap` must arrive executable.
      ::chmod(target.c_str(), (mode & 0111) ? 0755 : 0644);
    }
    std::ofstream(zip_path(fn.spec.name), std::ios::binary).write(zip.data(), std::streamsize(zip.size()));
  } catch (...) {
    std::error_code ec;
    fs::remove_all(code, ec);
    throw;
  }
  fn.spec.code_dir = code.string();
  fn.code_sha256 = sha256_base64(zip);
  fn.code_size = int64_t(zip.size());
}

void FunctionStore::remove_code(const std::string& code_dir) const {
  std::error_code ec;
  if (fs::path(code_dir).lexically_normal().string().starts_with(dir_ + "/")) fs::remove_all(code_dir, ec);
}

void FunctionStore::remove(const std::string& name) const {
  std::error_code ec;
  if (!name.empty() && name.find('/') == std::string::npos) fs::remove_all(fs::path(dir_) / name, ec);
}

}  // namespace mlfaas::platform::aws
