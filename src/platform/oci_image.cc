#include "platform/oci_image.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <zlib.h>

#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/json_limits.h"

namespace mlfaas::platform {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kOciManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr const char* kOciIndex = "application/vnd.oci.image.index.v1+json";
constexpr const char* kOciConfig = "application/vnd.oci.image.config.v1+json";
constexpr const char* kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
constexpr const char* kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
constexpr const char* kDockerList = "application/vnd.docker.distribution.manifest.list.v2+json";
constexpr const char* kRefName = "org.opencontainers.image.ref.name";
// index.json, manifests and configs are a few KB; a bound keeps a hostile one from filling memory.
constexpr uint64_t kMaxMetadata = 4 << 20;

[[noreturn]] void fail(const std::string& what) { throw ImageError(what); }

std::string errno_text() { return std::strerror(errno); }

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t size) { EVP_DigestUpdate(ctx_, data, size); }
  std::string digest() {  // "sha256:<hex>"
    unsigned char md[32];
    unsigned len = 0;
    EVP_DigestFinal_ex(ctx_, md, &len);
    static const char hex[] = "0123456789abcdef";
    std::string out = "sha256:";
    for (unsigned i = 0; i < len; ++i) {
      out += hex[md[i] >> 4];
      out += hex[md[i] & 15];
    }
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

std::string sha256_of(const std::string& bytes) {
  Sha256 h;
  h.update(bytes.data(), bytes.size());
  return h.digest();
}

// A descriptor's digest names a file under blobs/: only "sha256:" and 64 lower-case hex digits may.
std::string blob_path(const std::string& layout, const std::string& digest) {
  bool ok = digest.size() == 71 && digest.starts_with("sha256:");
  for (size_t i = 7; ok && i < digest.size(); ++i) ok = std::isxdigit(static_cast<unsigned char>(digest[i])) &&
                                                       !std::isupper(static_cast<unsigned char>(digest[i]));
  if (!ok) fail("digest '" + digest.substr(0, 80) + "' is not sha256:<64 hex digits>");
  return layout + "/blobs/sha256/" + digest.substr(7);
}

json parse_json(const std::string& text, const std::string& what) {
  if (common::json_nesting_depth(text) > common::kMaxJsonDepth) fail(what + ": nested too deeply");
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) fail(what + ": not a JSON object");
  return j;
}

std::string read_file_bounded(const std::string& path, uint64_t max, const std::string& what) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) fail(what + ": cannot open " + path);
  auto size = uint64_t(in.tellg());
  if (size > max) fail(what + ": " + std::to_string(size) + " bytes (at most " + std::to_string(max) + ")");
  std::string text(size_t(size), '\0');
  in.seekg(0);
  in.read(text.data(), std::streamsize(size));
  if (uint64_t(in.gcount()) != size) fail(what + ": short read of " + path);
  return text;
}

struct Descriptor {
  std::string media_type, digest;
  uint64_t size = 0;
  json annotations, platform;
};

Descriptor descriptor(const json& j, const std::string& what) {
  if (!j.is_object()) fail(what + ": not a descriptor object");
  Descriptor d;
  if (!j.contains("digest") || !j["digest"].is_string()) fail(what + ": no digest");
  if (!j.contains("size") || !j["size"].is_number_unsigned()) fail(what + ": no size");
  d.digest = j["digest"];
  d.size = j["size"];
  d.media_type = j.value("mediaType", "");
  if (j.contains("annotations") && j["annotations"].is_object()) d.annotations = j["annotations"];
  if (j.contains("platform") && j["platform"].is_object()) d.platform = j["platform"];
  return d;
}

// A metadata blob (index, manifest, config): read whole, size and digest checked.
std::string read_blob(const std::string& layout, const Descriptor& d, const std::string& what) {
  if (d.size > kMaxMetadata) fail(what + " " + d.digest + ": " + std::to_string(d.size) + " bytes (at most 4 MiB)");
  std::string bytes = read_file_bounded(blob_path(layout, d.digest), kMaxMetadata, what + " " + d.digest);
  if (bytes.size() != d.size)
    fail(what + " " + d.digest + ": blob holds " + std::to_string(bytes.size()) + " bytes, its descriptor says " +
         std::to_string(d.size));
  if (sha256_of(bytes) != d.digest) fail(what + " " + d.digest + ": content does not match its digest");
  return bytes;
}

std::vector<std::string> string_list(const json& config, const char* key, const std::string& what) {
  std::vector<std::string> out;
  if (!config.contains(key) || config[key].is_null()) return out;
  if (!config[key].is_array()) fail(what + ": " + key + " must be a list of strings");
  for (const auto& v : config[key]) {
    if (!v.is_string()) fail(what + ": " + key + " must be a list of strings");
    out.push_back(v);
  }
  return out;
}

// ------------------------------------------------------------------ safe extraction

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      if (fd >= 0) ::close(fd);
      fd = std::exchange(o.fd, -1);
    }
    return *this;
  }
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// "./a//b/" -> {"a", "b"}; ".." anywhere is refused (an entry must stay inside the root).
std::vector<std::string> path_components(const std::string& raw, const std::string& where) {
  std::vector<std::string> parts;
  std::stringstream ss(raw);
  for (std::string part; std::getline(ss, part, '/');) {
    if (part.empty() || part == ".") continue;
    if (part == "..") fail(where + ": entry '" + raw + "' leaves the image's root (..)");
    parts.push_back(part);
  }
  return parts;
}

std::string join(const std::vector<std::string>& parts, size_t count) {
  std::string out;
  for (size_t i = 0; i < count; ++i) out += (i ? "/" : "") + parts[i];
  return out;
}

// Removes `name` in `dir` and, for a directory, everything below it; never follows a symbolic link.
void remove_tree(int dir, const std::string& name) {
  struct stat st {};
  if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    Fd sub(::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (sub.fd >= 0) {
      std::vector<std::string> children;
      if (DIR* d = ::fdopendir(::dup(sub.fd))) {
        while (dirent* e = ::readdir(d))
          if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) children.push_back(e->d_name);
        ::closedir(d);
      }
      for (const auto& c : children) remove_tree(sub.fd, c);
    }
    if (::unlinkat(dir, name.c_str(), AT_REMOVEDIR) != 0) fail("cannot remove directory '" + name + "': " + errno_text());
  } else if (::unlinkat(dir, name.c_str(), 0) != 0) {
    fail("cannot remove '" + name + "': " + errno_text());
  }
}

class Extractor {
 public:
  Extractor(int root, const UnpackLimits& limits, bool archive) : root_(root), limits_(limits), archive_(archive) {}

  void start_layer(const std::string& name) {
    where_ = name;
    this_layer_.clear();
  }

  void entry(const TarEntry& e, TarReader& reader) {
    if (++entries_ > limits_.max_entries)
      fail(where_ + ": more than " + std::to_string(limits_.max_entries) + " entries");
    std::vector<std::string> parts = path_components(e.path, where_);
    if (parts.empty()) {
      if (e.type == '5') return;  // the root itself
      fail(where_ + ": entry '" + e.path + "' has no name");
    }
    const std::string& base = parts.back();
    if (archive_ && e.type != '0' && e.type != '5')
      fail(where_ + ": entry '" + e.path + "' is not a file or directory (an oci-archive holds only its layout)");
    const bool whiteout = !archive_ && base.starts_with(".wh.");
    Fd parent = open_parent(parts, e.path, /*create=*/!whiteout);
    if (parent.fd < 0) return;  // a whiteout in a directory that does not exist: nothing to remove
    const std::string rel = join(parts, parts.size());
    if (whiteout) {
      if (base == ".wh..wh..opq") return opaque(parent.fd, join(parts, parts.size() - 1));
      const std::string victim = base.substr(4);
      if (victim.empty() || victim == "." || victim == "..") fail(where_ + ": malformed whiteout '" + e.path + "'");
      remove_tree(parent.fd, victim);
      return;
    }
    switch (e.type) {
      case '5': {
        struct stat st {};
        if (::fstatat(parent.fd, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode))
          remove_tree(parent.fd, base);
        if (::mkdirat(parent.fd, base.c_str(), 0700) != 0 && errno != EEXIST)
          fail(where_ + ": cannot create directory '" + e.path + "': " + errno_text());
        // Owner bits always: later entries must still be creatable inside it by whoever unpacks.
        ::fchmodat(parent.fd, base.c_str(), (e.mode & 0777) | 0700, 0);
        break;
      }
      case '0': {
        remove_tree(parent.fd, base);
        Fd out(::openat(parent.fd, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (out.fd < 0) fail(where_ + ": cannot create '" + e.path + "': " + errno_text());
        char buffer[1 << 16];
        for (size_t n; (n = reader.read(buffer, sizeof buffer)) > 0;) {
          bytes_ += n;
          if (bytes_ > limits_.max_bytes)
            fail(where_ + ": the image unpacks to more than " + std::to_string(limits_.max_bytes) + " bytes");
          for (size_t done = 0; done < n;) {
            ssize_t w = ::write(out.fd, buffer + done, n - done);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) fail(where_ + ": writing '" + e.path + "': " + errno_text());
            done += size_t(w);
          }
        }
        // Set-uid and set-gid bits are dropped: nothing in a function's image runs with another's rights.
        ::fchmod(out.fd, e.mode & 0777);
        break;
      }
      case '2':
        if (e.link.empty()) fail(where_ + ": symbolic link '" + e.path + "' has no target");
        remove_tree(parent.fd, base);
        // The target is stored as given: unpacking never follows it, and inside the sandbox it resolves in the
        // function's own root.
        if (::symlinkat(e.link.c_str(), parent.fd, base.c_str()) != 0)
          fail(where_ + ": cannot create symbolic link '" + e.path + "': " + errno_text());
        break;
      case '1': {
        std::vector<std::string> target = path_components(e.link, where_);
        if (target.empty()) fail(where_ + ": hard link '" + e.path + "' has no target");
        Fd target_parent = open_parent(target, e.link, /*create=*/false);
        struct stat st {};
        if (target_parent.fd < 0 || ::fstatat(target_parent.fd, target.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode))
          fail(where_ + ": hard link '" + e.path + "' names '" + e.link + "', which is not a file inside the image");
        if (join(target, target.size()) == rel) break;
        remove_tree(parent.fd, base);
        if (::linkat(target_parent.fd, target.back().c_str(), parent.fd, base.c_str(), 0) != 0)
          fail(where_ + ": cannot create hard link '" + e.path + "': " + errno_text());
        break;
      }
      default:
        ++skipped_;  // device nodes and FIFOs: the sandbox gives its own /dev
        return;
    }
    this_layer_.insert(rel);
  }

  uint64_t bytes() const { return bytes_; }
  size_t skipped() const { return skipped_; }

 private:
  // The directory that holds the entry's last component, reached from the root without following any symbolic
  // link; missing directories are made (as tar does) when `create`, else the result is -1.
  Fd open_parent(const std::vector<std::string>& parts, const std::string& raw, bool create) {
    Fd dir(::openat(root_, ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      const char* name = parts[i].c_str();
      struct stat st {};
      if (::fstatat(dir.fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (!create) return Fd();
        if (::mkdirat(dir.fd, name, 0755) != 0 && errno != EEXIST)
          fail(where_ + ": cannot create directory '" + join(parts, i + 1) + "': " + errno_text());
      } else if (S_ISLNK(st.st_mode)) {
        fail(where_ + ": entry '" + raw + "' goes through the symbolic link '" + join(parts, i + 1) + "'");
      } else if (!S_ISDIR(st.st_mode)) {
        if (!create) return Fd();
        fail(where_ + ": entry '" + raw + "' needs '" + join(parts, i + 1) + "' to be a directory, it is a file");
      }
      Fd next(::openat(dir.fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (next.fd < 0) fail(where_ + ": cannot open directory '" + join(parts, i + 1) + "': " + errno_text());
      dir = std::move(next);
    }
    return dir;
  }

  // ".wh..wh..opq": the directory's content from lower layers goes; what this layer put there stays.
  void opaque(int dir, const std::string& dir_rel) {
    Fd list(::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    std::vector<std::string> children;
    if (DIR* d = list.fd >= 0 ? ::fdopendir(::dup(list.fd)) : nullptr) {
      while (dirent* e = ::readdir(d))
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) children.push_back(e->d_name);
      ::closedir(d);
    }
    for (const auto& c : children)
      if (!this_layer_.count(dir_rel.empty() ? c : dir_rel + "/" + c)) remove_tree(dir, c);
  }

  int root_;
  UnpackLimits limits_;
  bool archive_;
  std::string where_;
  std::set<std::string> this_layer_;
  uint64_t bytes_ = 0;
  size_t entries_ = 0;
  size_t skipped_ = 0;
};

// The compressed (or plain) bytes of a blob file, hashed as read; gzip is inflated, also hashed.
class LayerStream {
 public:
  LayerStream(const std::string& path, bool gzip) : gzip_(gzip) {
    file_ = std::fopen(path.c_str(), "rb");
    if (!file_) fail("cannot open " + path + ": " + errno_text());
    if (gzip_ && inflateInit2(&z_, 15 + 32) != Z_OK) fail("zlib: inflateInit2 failed");
  }
  ~LayerStream() {
    if (file_) std::fclose(file_);
    if (gzip_) inflateEnd(&z_);
  }

  size_t read(char* out, size_t size) {
    if (!gzip_) {
      size_t n = std::fread(out, 1, size, file_);
      compressed_.update(out, n);
      plain_.update(out, n);
      compressed_bytes_ += n;
      return n;
    }
    z_.next_out = reinterpret_cast<Bytef*>(out);
    z_.avail_out = unsigned(size);
    while (z_.avail_out == size) {
      if (z_.avail_in == 0) {
        size_t n = std::fread(in_, 1, sizeof in_, file_);
        if (n == 0) {
          if (!ended_) fail("truncated gzip stream");
          break;
        }
        compressed_.update(in_, n);
        compressed_bytes_ += n;
        z_.next_in = reinterpret_cast<Bytef*>(in_);
        z_.avail_in = unsigned(n);
      }
      if (ended_) {  // another gzip member follows (concatenated gzip is one stream)
        inflateReset(&z_);
        ended_ = false;
      }
      int rc = inflate(&z_, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) ended_ = true;
      else if (rc != Z_OK && rc != Z_BUF_ERROR) fail(std::string("corrupt gzip stream: ") + (z_.msg ? z_.msg : "zlib error"));
    }
    size_t n = size - z_.avail_out;
    plain_.update(out, n);
    return n;
  }

  void drain() {
    char scratch[1 << 16];
    while (read(scratch, sizeof scratch) > 0) {
    }
  }
  std::string compressed_digest() { return compressed_.digest(); }
  std::string plain_digest() { return plain_.digest(); }
  uint64_t compressed_bytes() const { return compressed_bytes_; }

 private:
  bool gzip_;
  std::FILE* file_ = nullptr;
  z_stream z_{};
  char in_[1 << 16];
  bool ended_ = false;
  Sha256 compressed_, plain_;
  uint64_t compressed_bytes_ = 0;
};

void extract_stream(TarReader& reader, Extractor& extractor) {
  TarEntry e;
  while (reader.next(e)) extractor.entry(e, reader);
}

// Directories and files the sandbox mounts on: a real directory or file each, whatever the image put there
// (a symbolic link `tmp -> /etc` would otherwise aim a mount elsewhere).
void make_mount_points(int root) {
  auto ensure_dir = [](int parent, const char* name, mode_t mode) {
    struct stat st {};
    if (::fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode)) remove_tree(parent, name);
    if (::mkdirat(parent, name, mode) != 0 && errno != EEXIST) fail(std::string("cannot create /") + name + ": " + errno_text());
    ::fchmodat(parent, name, mode, 0);
  };
  ensure_dir(root, "tmp", 01777);
  ensure_dir(root, "proc", 0555);
  ensure_dir(root, "dev", 0755);
  Fd dev(::openat(root, "dev", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (dev.fd < 0) fail("cannot open /dev of the image: " + errno_text());
  for (const char* node : {"null", "zero", "random", "urandom"}) {
    struct stat st {};
    if (::fstatat(dev.fd, node, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode)) remove_tree(dev.fd, node);
    Fd f(::openat(dev.fd, node, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666));
    if (f.fd < 0) fail(std::string("cannot create /dev/") + node + ": " + errno_text());
  }
}

json config_json(const ImageConfig& c) {
  return json{{"entrypoint", c.entrypoint}, {"cmd", c.cmd},           {"env", c.env},
              {"working_dir", c.working_dir}, {"architecture", c.architecture}, {"os", c.os},
              {"manifest_digest", c.manifest_digest}, {"unpacked_bytes", c.unpacked_bytes},
              {"skipped_entries", c.skipped_entries}};
}

std::optional<ImageConfig> cached(const std::string& dest, const std::string& digest) {
  std::ifstream in(dest + "/image.json");
  if (!in || !fs::is_directory(dest + "/rootfs")) return std::nullopt;
  json j = json::parse(in, nullptr, false);
  ImageConfig c;
  try {
    if (j.is_discarded() || j.value("manifest_digest", "") != digest) return std::nullopt;
  c.entrypoint = j.value("entrypoint", std::vector<std::string>{});
  c.cmd = j.value("cmd", std::vector<std::string>{});
  c.env = j.value("env", std::vector<std::string>{});
  c.working_dir = j.value("working_dir", "");
  c.architecture = j.value("architecture", "");
  c.os = j.value("os", "");
  c.manifest_digest = digest;
  c.unpacked_bytes = j.value("unpacked_bytes", uint64_t(0));
  c.skipped_entries = j.value("skipped_entries", size_t(0));
  } catch (const json::exception&) {
    return std::nullopt;  // not what unpack_image wrote: unpack again
  }
  c.rootfs = fs::absolute(dest + "/rootfs").lexically_normal().string();
  return c;
}

bool platform_matches(const json& platform) {
  return platform.is_object() && platform.value("os", "") == "linux" &&
         platform.value("architecture", "") == host_architecture();
}

// The manifest `ref` selects from an index (index.json, or a nested image index / Docker manifest list).
Descriptor select_manifest(const json& index, const std::string& tag, const std::string& what) {
  if (!index.contains("manifests") || !index["manifests"].is_array()) fail(what + ": no manifests list");
  std::vector<Descriptor> all;
  for (size_t i = 0; i < index["manifests"].size(); ++i)
    all.push_back(descriptor(index["manifests"][i], what + ": manifests[" + std::to_string(i) + "]"));
  std::vector<Descriptor> candidates;
  std::string tags;
  for (const auto& d : all) {
    std::string name = d.annotations.is_object() ? d.annotations.value(kRefName, "") : "";
    if (!name.empty()) tags += (tags.empty() ? "" : ", ") + name;
    if (tag.empty() || name == tag) candidates.push_back(d);
  }
  if (candidates.empty())
    fail(what + ": no image tagged '" + tag + "'" + (tags.empty() ? "" : " (tags: " + tags + ")"));
  if (candidates.size() > 1) {
    std::vector<Descriptor> here;
    for (const auto& d : candidates)
      if (platform_matches(d.platform)) here.push_back(d);
    if (here.size() != 1)
      fail(what + ": holds " + std::to_string(candidates.size()) + " images; name one with :TAG" +
           (tags.empty() ? "" : " (tags: " + tags + ")"));
    return here.front();
  }
  return candidates.front();
}

ImageConfig unpack_layout(const std::string& layout, const std::string& tag, const std::string& dest,
                          const UnpackLimits& limits) {
  std::string layout_text = read_file_bounded(layout + "/oci-layout", kMaxMetadata, "oci-layout");
  if (!parse_json(layout_text, layout + "/oci-layout").contains("imageLayoutVersion"))
    fail(layout + "/oci-layout: no imageLayoutVersion (not an OCI image layout)");
  json index = parse_json(read_file_bounded(layout + "/index.json", kMaxMetadata, "index.json"), layout + "/index.json");
  Descriptor mdesc = select_manifest(index, tag, layout + "/index.json");
  json manifest;
  for (int depth = 0;; ++depth) {
    manifest = parse_json(read_blob(layout, mdesc, "manifest"), "manifest " + mdesc.digest);
    std::string type = manifest.value("mediaType", mdesc.media_type);
    if (type != kOciIndex && type != kDockerList) break;
    if (depth == 1) fail("manifest " + mdesc.digest + ": image indexes nested more than twice");
    mdesc = select_manifest(manifest, "", "image index " + mdesc.digest);
  }
  const std::string mtype = manifest.value("mediaType", mdesc.media_type);
  if (!mtype.empty() && mtype != kOciManifest && mtype != kDockerManifest)
    fail("manifest " + mdesc.digest + ": media type '" + mtype + "' is not an image manifest");
  if (!manifest.contains("config")) fail("manifest " + mdesc.digest + ": no config");
  Descriptor cdesc = descriptor(manifest["config"], "manifest " + mdesc.digest + ": config");
  if (auto hit = cached(dest, mdesc.digest)) return *hit;

  json config_doc = parse_json(read_blob(layout, cdesc, "config"), "config " + cdesc.digest);
  ImageConfig out;
  out.manifest_digest = mdesc.digest;
  out.architecture = config_doc.value("architecture", "");
  out.os = config_doc.value("os", "");
  if (config_doc.contains("config") && config_doc["config"].is_object()) {
    const json& c = config_doc["config"];
    const std::string what = "config " + cdesc.digest;
    out.entrypoint = string_list(c, "Entrypoint", what);
    out.cmd = string_list(c, "Cmd", what);
    out.env = string_list(c, "Env", what);
    if (c.contains("WorkingDir") && c["WorkingDir"].is_string()) out.working_dir = c["WorkingDir"];
  }
  if (out.entrypoint.empty() && out.cmd.empty()) fail("config " + cdesc.digest + ": neither Entrypoint nor Cmd: nothing to run");
  std::vector<std::string> diff_ids;
  if (config_doc.contains("rootfs") && config_doc["rootfs"].is_object())
    diff_ids = string_list(config_doc["rootfs"], "diff_ids", "config " + cdesc.digest + ": rootfs");
  if (!manifest.contains("layers") || !manifest["layers"].is_array()) fail("manifest " + mdesc.digest + ": no layers");
  const json& layers = manifest["layers"];
  if (layers.size() != diff_ids.size())
    fail("manifest " + mdesc.digest + ": " + std::to_string(layers.size()) + " layers but the config lists " +
         std::to_string(diff_ids.size()) + " diff_ids");

  const std::string staging = dest + "/rootfs.partial";
  fs::create_directories(dest);
  fs::remove_all(staging);
  fs::create_directory(staging);
  struct RemoveStaging {
    std::string path;
    bool keep = false;
    ~RemoveStaging() {
      std::error_code ec;
      if (!keep) fs::remove_all(path, ec);
    }
  } cleanup{staging};
  Fd root(::open(staging.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (root.fd < 0) fail("cannot open " + staging + ": " + errno_text());
  Extractor extractor(root.fd, limits, /*archive=*/false);
  for (size_t i = 0; i < layers.size(); ++i) {
    Descriptor l = descriptor(layers[i], "manifest " + mdesc.digest + ": layers[" + std::to_string(i) + "]");
    const std::string name = "layer " + l.digest;
    bool gzip;
    if (l.media_type.ends_with("tar+gzip") || l.media_type.ends_with("tar.gzip")) gzip = true;
    else if (l.media_type.ends_with(".tar") || l.media_type.ends_with("tar")) gzip = false;
    else
      fail(name + ": media type '" + l.media_type + "' is not supported (gzip-compressed or plain tar layers; "
           "zstd is not)");
    const std::string path = blob_path(layout, l.digest);
    std::error_code ec;
    auto size = fs::file_size(path, ec);
    if (ec) fail(name + ": blob missing (" + path + ")");
    if (size != l.size)
      fail(name + ": blob holds " + std::to_string(size) + " bytes, its descriptor says " + std::to_string(l.size));
    LayerStream stream(path, gzip);
    TarReader reader([&stream](char* b, size_t n) { return stream.read(b, n); });
    extractor.start_layer(name);
    try {
      extract_stream(reader, extractor);
      stream.drain();
    } catch (const TarError& e) {
      fail(name + ": " + e.what());
    } catch (const ImageError& e) {
      const std::string text = e.what();
      fail(text.starts_with("layer ") ? text : name + ": " + text);
    }
    if (stream.compressed_digest() != l.digest) fail(name + ": content does not match its digest");
    if (stream.plain_digest() != diff_ids[i])
      fail(name + ": uncompressed content does not match the config's diff_id " + diff_ids[i]);
  }
  make_mount_points(root.fd);
  out.unpacked_bytes = extractor.bytes();
  out.skipped_entries = extractor.skipped();
  const std::string final_root = dest + "/rootfs";
  fs::remove(dest + "/image.json");
  fs::remove_all(final_root);
  fs::rename(staging, final_root);
  cleanup.keep = true;
  out.rootfs = fs::absolute(final_root).lexically_normal().string();
  std::ofstream(dest + "/image.json") << config_json(out).dump(2) << "\n";
  return out;
}

// ------------------------------------------------------------------ writing

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) fail("cannot write " + path);
}

std::string write_blob(const std::string& layout, const std::string& bytes) {
  std::string digest = sha256_of(bytes);
  write_text(blob_path(layout, digest), bytes);
  return digest;
}

}  // namespace

std::string host_architecture() {
  utsname u{};
  ::uname(&u);
  std::string m = u.machine;
  if (m == "x86_64") return "amd64";
  if (m == "aarch64" || m == "arm64") return "arm64";
  return m;
}

ImageReference parse_image_reference(const std::string& uri, const std::string& base_dir) {
  ImageReference ref;
  std::string rest;
  if (uri.starts_with("oci-archive:")) {
    ref.archive = true;
    rest = uri.substr(12);
  } else if (uri.starts_with("oci:")) {
    rest = uri.substr(4);
  } else if (uri.starts_with("docker://") || uri.find(".dkr.ecr.") != std::string::npos ||
             uri.starts_with("docker:") || uri.starts_with("docker-archive:")) {
    fail("image '" + uri + "': registry images are not pulled; copy it to a local layout first: skopeo copy "
         "docker://" + (uri.starts_with("docker://") ? uri.substr(9) : uri) + " oci:DIR, then use oci:DIR");
  } else {
    rest = uri;
  }
  // As skopeo reads it: a colon after the last slash starts the tag.
  size_t colon = rest.rfind(':');
  size_t slash = rest.rfind('/');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash) && uri != rest) {
    ref.tag = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) fail("image '" + uri + "': no path");
  fs::path p(rest);
  if (p.is_relative() && !base_dir.empty()) p = fs::path(base_dir) / p;
  ref.path = p.lexically_normal().string();
  if (uri == rest) ref.archive = fs::is_regular_file(ref.path);
  if (ref.archive ? !fs::is_regular_file(ref.path) : !fs::is_directory(ref.path))
    fail("image '" + uri + "': " + ref.path + " is not " +
         (ref.archive ? "an oci-archive file" : "an OCI layout directory (or an oci-archive file)"));
  return ref;
}

ImageConfig unpack_image(const std::string& source, const std::string& dest, const UnpackLimits& limits) {
  ImageReference ref = parse_image_reference(source);
  try {
    if (!ref.archive) return unpack_layout(ref.path, ref.tag, dest, limits);
    const std::string staging = dest + "/archive.partial";
    fs::create_directories(dest);
    fs::remove_all(staging);
    fs::create_directory(staging);
    struct RemoveStaging {
      std::string path;
      ~RemoveStaging() {
        std::error_code ec;
        fs::remove_all(path, ec);
      }
    } cleanup{staging};
    {
      Fd root(::open(staging.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (root.fd < 0) fail("cannot open " + staging + ": " + errno_text());
      Extractor extractor(root.fd, limits, /*archive=*/true);
      extractor.start_layer("oci-archive " + ref.path);
      LayerStream stream(ref.path, /*gzip=*/false);
      TarReader reader([&stream](char* b, size_t n) { return stream.read(b, n); });
      try {
        extract_stream(reader, extractor);
      } catch (const TarError& e) {
        fail("oci-archive " + ref.path + ": " + e.what());
      }
    }
    return unpack_layout(staging, ref.tag, dest, limits);
  } catch (const fs::filesystem_error& e) {
    fail(std::string("image ") + source + ": " + e.what());
  } catch (const json::exception& e) {
    // A field of the wrong type in index.json, a manifest or the config (value() checks types).
    fail(std::string("image ") + source + ": malformed metadata: " + e.what());
  }
}

// ------------------------------------------------------------------ LayerWriter

struct LayerWriter::State {
  std::string layout, temp;
  std::FILE* file = nullptr;
  z_stream z{};
  Sha256 compressed, plain;
  uint64_t compressed_bytes = 0, plain_bytes = 0;
  std::string created_by;
  bool finished = false;
};

LayerWriter::LayerWriter(const std::string& layout_dir, int level, std::string created_by)
    : state_(std::make_unique<State>()),
      tar_([this](const char* data, size_t size) { consume(data, size, false); }) {
  state_->layout = layout_dir;
  state_->created_by = std::move(created_by);
  std::error_code ec;
  fs::create_directories(layout_dir + "/blobs/sha256", ec);
  std::string temp = layout_dir + "/blobs/sha256/.layer-XXXXXX";
  int fd = ::mkstemp(temp.data());
  if (fd < 0) fail("cannot create a layer in " + layout_dir + "/blobs/sha256: " + errno_text());
  state_->temp = temp;
  ::fchmod(fd, 0644);  // mkstemp's 0600 would keep the blob from whoever else reads the layout
  state_->file = ::fdopen(fd, "wb");
  // windowBits 15 + 16: a gzip header and trailer, as image layers are.
  if (deflateInit2(&state_->z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) fail("zlib: deflateInit2 failed");
}

LayerWriter::~LayerWriter() {
  deflateEnd(&state_->z);
  if (state_->file) std::fclose(state_->file);
  if (!state_->finished) ::unlink(state_->temp.c_str());
}

void LayerWriter::consume(const char* data, size_t size, bool flush) {
  auto& s = *state_;
  s.plain.update(data, size);
  s.plain_bytes += size;
  s.z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
  s.z.avail_in = unsigned(size);
  unsigned char out[1 << 16];
  int rc;
  do {
    s.z.next_out = out;
    s.z.avail_out = sizeof out;
    rc = deflate(&s.z, flush ? Z_FINISH : Z_NO_FLUSH);
    size_t n = sizeof out - s.z.avail_out;
    if (n && std::fwrite(out, 1, n, s.file) != n) fail("writing a layer: " + errno_text());
    s.compressed.update(out, n);
    s.compressed_bytes += n;
  } while (flush ? rc != Z_STREAM_END : s.z.avail_out == 0);
}

LayerInfo LayerWriter::finish() {
  tar_.finish();
  consume(nullptr, 0, true);
  auto& s = *state_;
  if (std::fclose(std::exchange(s.file, nullptr)) != 0) fail("writing a layer: " + errno_text());
  LayerInfo info;
  info.digest = s.compressed.digest();
  info.size = s.compressed_bytes;
  info.diff_id = s.plain.digest();
  info.unpacked_size = s.plain_bytes;
  info.created_by = s.created_by;
  if (std::rename(s.temp.c_str(), blob_path(s.layout, info.digest).c_str()) != 0)
    fail("naming a layer blob: " + errno_text());
  s.finished = true;
  return info;
}

std::string write_image(const std::string& layout_dir, const std::vector<LayerInfo>& layers, const ImageConfig& config,
                        const std::string& tag) {
  std::error_code ec;
  fs::create_directories(layout_dir + "/blobs/sha256", ec);
  json diff_ids = json::array(), history = json::array(), layer_descs = json::array();
  for (const auto& l : layers) {
    diff_ids.push_back(l.diff_id);
    history.push_back({{"created", "1970-01-01T00:00:00Z"}, {"created_by", l.created_by}});
    layer_descs.push_back({{"mediaType", kOciLayerGzip}, {"digest", l.digest}, {"size", l.size}});
  }
  json run = json::object();
  if (!config.entrypoint.empty()) run["Entrypoint"] = config.entrypoint;
  if (!config.cmd.empty()) run["Cmd"] = config.cmd;
  if (!config.env.empty()) run["Env"] = config.env;
  if (!config.working_dir.empty()) run["WorkingDir"] = config.working_dir;
  // A fixed creation time: the same inputs give the same digests, so a registry stores nothing twice.
  json cfg = {{"created", "1970-01-01T00:00:00Z"}, {"architecture", config.architecture}, {"os", config.os},
              {"config", run}, {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}, {"history", history}};
  const std::string cfg_text = cfg.dump();
  const std::string cfg_digest = write_blob(layout_dir, cfg_text);
  json manifest = {{"schemaVersion", 2}, {"mediaType", kOciManifest},
                   {"config", {{"mediaType", kOciConfig}, {"digest", cfg_digest}, {"size", cfg_text.size()}}},
                   {"layers", layer_descs}};
  const std::string manifest_text = manifest.dump();
  const std::string manifest_digest = write_blob(layout_dir, manifest_text);
  json index = {{"schemaVersion", 2}, {"mediaType", kOciIndex},
                {"manifests", json::array({{{"mediaType", kOciManifest}, {"digest", manifest_digest},
                                            {"size", manifest_text.size()},
                                            {"platform", {{"architecture", config.architecture}, {"os", config.os}}},
                                            {"annotations", {{kRefName, tag}}}}})}};
  write_text(layout_dir + "/index.json", index.dump());
  write_text(layout_dir + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  return manifest_digest;
}

void write_oci_archive(const std::string& layout_dir, const std::string& archive) {
  std::ofstream out(archive, std::ios::binary | std::ios::trunc);
  if (!out) fail("cannot create " + archive);
  TarWriter tar([&out](const char* data, size_t size) { out.write(data, std::streamsize(size)); });
  try {
    tar.add_file("oci-layout", 0644, layout_dir + "/oci-layout");
    tar.add_file("index.json", 0644, layout_dir + "/index.json");
    tar.add_directory("blobs", 0755);
    tar.add_directory("blobs/sha256", 0755);
    std::vector<std::string> blobs;
    for (const auto& e : fs::directory_iterator(layout_dir + "/blobs/sha256"))
      if (e.is_regular_file() && !e.path().filename().string().starts_with(".")) blobs.push_back(e.path().filename());
    std::sort(blobs.begin(), blobs.end());
    for (const auto& b : blobs) tar.add_file("blobs/sha256/" + b, 0644, layout_dir + "/blobs/sha256/" + b);
    tar.finish();
  } catch (const TarError& e) {
    fail(archive + ": " + e.what());
  }
  if (!out.flush()) fail("writing " + archive + " failed");
}

}  // namespace mlfaas::platform
