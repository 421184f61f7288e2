#include "hub/hub.h"

#include <curl/curl.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <regex>
#include <memory>

namespace mlfaas::hub {
namespace {

namespace fs = std::filesystem;
using Kind = HubError::Kind;

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
};

void ensure_curl() { static CurlGlobal global; }

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

std::string url_escape_path_segment(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(std::string s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  size_t e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

std::string host_of(const std::string& url) {
  size_t p = url.find("://");
  size_t b = p == std::string::npos ? 0 : p + 3;
  size_t e = url.find('/', b);
  return url.substr(b, e == std::string::npos ? std::string::npos : e - b);
}

// Headers of every response in a redirect chain: the Hub puts the checksum on the first (302) response and
// the CDN answers the body, so values are kept once seen unless a later response overrides them.
struct Headers {
  std::string linked_etag;
  std::string linked_size;
  std::string error_code;
  std::string error_message;
};

size_t on_header(char* buffer, size_t size, size_t n, void* user) {
  auto* h = static_cast<Headers*>(user);
  std::string line(buffer, size * n);
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string key = lower(trim(line.substr(0, colon)));
    std::string value = trim(line.substr(colon + 1));
    if (key == "x-linked-etag") h->linked_etag = value;
    else if (key == "x-linked-size") h->linked_size = value;
    else if (key == "x-error-code") h->error_code = value;
    else if (key == "x-error-message") h->error_message = value;
  }
  return size * n;
}

struct CurlHandle {
  CurlHandle() : h(curl_easy_init()) {
    if (h == nullptr) throw HubError(Kind::Protocol, "cannot initialise libcurl");
  }
  ~CurlHandle() { curl_easy_cleanup(h); }
  CURL* h;
};

void common_options(CURL* c, const PullOptions& o, Headers* headers) {
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, o.connect_timeout_s);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, o.low_speed_timeout_s);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "mlfaas/0.1 (models pull)");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, headers);
  if (!o.token.empty()) {
    // Bearer auth through libcurl (not a raw header) so it is not forwarded to the CDN host on redirect.
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
    curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, o.token.c_str());
  }
}

[[noreturn]] void throw_transport(CURLcode rc, const std::string& url, const char* errbuf) {
  std::string detail = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      throw HubError(Kind::Network, "cannot reach " + host_of(url) + ": " + detail + " (network down or wrong HF_ENDPOINT?)");
    case CURLE_OPERATION_TIMEDOUT:
      throw HubError(Kind::Network, "timed out talking to " + host_of(url) + ": " + detail);
    default:
      throw HubError(Kind::Network, "transfer from " + host_of(url) + " failed: " + detail);
  }
}

[[noreturn]] void throw_status(long status, const Headers& h, const std::string& what, const PullOptions& o) {
  std::string hub_says = h.error_message.empty() ? "" : " (" + h.error_message + ")";
  if (status == 401 || status == 403) {
    if (h.error_code == "RepoNotFound") {
      throw HubError(Kind::NotFound, "repository '" + o.repo + "' not found" + hub_says);
    }
    std::string hint = o.token.empty() ? "; set HF_TOKEN to a token that has access"
                                       : "; the token in HF_TOKEN has no access (accept the model's terms on the Hub?)";
    throw HubError(Kind::Unauthorized, "access to " + what + " denied (HTTP " + std::to_string(status) +
                                           ", gated or private model)" + hub_says + hint);
  }
  if (status == 404) {
    if (h.error_code == "RevisionNotFound") {
      throw HubError(Kind::NotFound, "revision '" + o.revision + "' not found in '" + o.repo + "'" + hub_says);
    }
    throw HubError(Kind::NotFound, what + " not found (HTTP 404)" + hub_says);
  }
  throw HubError(Kind::Protocol, what + ": unexpected HTTP status " + std::to_string(status) + hub_says);
}

size_t append_to_string(char* p, size_t size, size_t n, void* user) {
  auto* s = static_cast<std::string*>(user);
  if (s->size() + size * n > (64u << 20)) return 0;  // a file listing is never this large
  s->append(p, size * n);
  return size * n;
}

std::vector<std::string> list_repo_files(const PullOptions& o, const std::string& endpoint) {
  const std::string url = endpoint + "/api/models/" + o.repo + "/revision/" + url_escape_path_segment(o.revision);
  CurlHandle c;
  Headers headers;
  std::string body;
  char errbuf[CURL_ERROR_SIZE] = {0};
  common_options(c.h, o, &headers);
  curl_easy_setopt(c.h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.h, CURLOPT_WRITEFUNCTION, append_to_string);
  curl_easy_setopt(c.h, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(c.h, CURLOPT_ERRORBUFFER, errbuf);
  CURLcode rc = curl_easy_perform(c.h);
  if (rc != CURLE_OK) throw_transport(rc, url, errbuf);
  long status = 0;
  curl_easy_getinfo(c.h, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) throw_status(status, headers, "repository '" + o.repo + "' at revision '" + o.revision + "'", o);
  std::vector<std::string> files;
  try {
    auto j = nlohmann::json::parse(body);
    for (const auto& s : j.at("siblings")) files.push_back(s.at("rfilename").get<std::string>());
  } catch (const nlohmann::json::exception& e) {
    throw HubError(Kind::Protocol, "unexpected answer from " + url + ": " + e.what());
  }
  return files;
}

std::string sha256_file(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!f) throw HubError(Kind::Disk, "cannot read " + path + ": " + std::strerror(errno));
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::vector<unsigned char> buf(1 << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) EVP_DigestUpdate(ctx.get(), buf.data(), n);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    char b[3];
    std::snprintf(b, sizeof b, "%02x", md[i]);
    hex += b;
  }
  return hex;
}

bool is_sha256_hex(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::string unquote_etag(std::string e) {
  if (e.rfind("W/", 0) == 0) e = e.substr(2);
  if (e.size() >= 2 && e.front() == '"' && e.back() == '"') e = e.substr(1, e.size() - 2);
  return lower(e);
}

struct Download {
  FILE* out = nullptr;
  CURL* curl = nullptr;
  std::string part_path;
  uint64_t offset = 0;       // bytes already in the part file when this request started
  uint64_t written = 0;      // bytes written by this request
  bool decided = false;      // whether the final response's status was inspected
  bool accept_body = false;
  bool restarted = false;    // server ignored the Range request: file truncated, starting over
  int write_errno = 0;
  const std::function<void(const FileProgress&)>* on_progress = nullptr;
  FileProgress progress;
};

size_t on_body(char* p, size_t size, size_t n, void* user) {
  auto* d = static_cast<Download*>(user);
  if (!d->decided) {
    d->decided = true;
    long status = 0;
    curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status == 206) {
      d->accept_body = true;
    } else if (status == 200) {
      d->accept_body = true;
      if (d->offset > 0) {  // the server sent the whole file: start over
        if (std::fflush(d->out) != 0 || ::ftruncate(fileno(d->out), 0) != 0 || std::fseek(d->out, 0, SEEK_SET) != 0) {
          d->write_errno = errno;
          return 0;
        }
        d->offset = 0;
        d->restarted = true;
      }
    }
  }
  if (!d->accept_body) return size * n;  // an error page: drained, status reported by the caller
  size_t want = size * n;
  if (std::fwrite(p, 1, want, d->out) != want) {
    d->write_errno = errno != 0 ? errno : EIO;
    return 0;
  }
  d->written += want;
  return want;
}

int on_xfer(void* user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t, curl_off_t) {
  auto* d = static_cast<Download*>(user);
  if (d->on_progress != nullptr && *d->on_progress && d->accept_body) {
    d->progress.done = d->offset + static_cast<uint64_t>(dlnow);
    d->progress.total = dltotal > 0 ? d->offset + static_cast<uint64_t>(dltotal) : 0;
    (*d->on_progress)(d->progress);
  }
  return 0;
}

PulledFile download_file(const PullOptions& o, const std::string& endpoint, const std::string& file,
                         const std::function<void(const FileProgress&)>& on_progress) {
  PulledFile result;
  result.file = file;
  const fs::path target = fs::path(o.dir) / file;
  const fs::path part = fs::path(o.dir) / ("." + file + ".part");
  std::error_code ec;
  if (!o.force && fs::exists(target, ec)) {
    result.skipped = true;
    result.bytes = fs::file_size(target, ec);
    return result;
  }
  fs::create_directories(target.parent_path(), ec);

  const std::string url = endpoint + "/" + o.repo + "/resolve/" + url_escape_path_segment(o.revision) + "/" + file;
  for (int attempt = 0; attempt < 2; ++attempt) {
    uint64_t offset = 0;
    if (fs::exists(part, ec)) offset = fs::file_size(part, ec);
    if (ec) offset = 0;
    std::unique_ptr<FILE, int (*)(FILE*)> out(std::fopen(part.c_str(), offset > 0 ? "ab" : "wb"), std::fclose);
    if (!out) throw HubError(Kind::Disk, "cannot write " + part.string() + ": " + std::strerror(errno));

    CurlHandle c;
    Headers headers;
    Download d;
    d.out = out.get();
    d.curl = c.h;
    d.part_path = part.string();
    d.offset = offset;
    d.on_progress = &on_progress;
    d.progress.file = file;
    d.progress.resumed = offset > 0;
    char errbuf[CURL_ERROR_SIZE] = {0};
    common_options(c.h, o, &headers);
    curl_easy_setopt(c.h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c.h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c.h, CURLOPT_WRITEDATA, &d);
    curl_easy_setopt(c.h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c.h, CURLOPT_XFERINFOFUNCTION, on_xfer);
    curl_easy_setopt(c.h, CURLOPT_XFERINFODATA, &d);
    curl_easy_setopt(c.h, CURLOPT_ERRORBUFFER, errbuf);
    std::string range;
    if (offset > 0) {
      range = std::to_string(offset) + "-";
      curl_easy_setopt(c.h, CURLOPT_RANGE, range.c_str());
    }
    CURLcode rc = curl_easy_perform(c.h);
    int close_rc = std::fflush(out.get());
    int close_errno = errno;
    long status = 0;
    curl_easy_getinfo(c.h, CURLINFO_RESPONSE_CODE, &status);

    if (d.write_errno != 0 || close_rc != 0) {
      int e = d.write_errno != 0 ? d.write_errno : close_errno;
      throw HubError(Kind::Disk, "cannot write " + part.string() + ": " + std::strerror(e) +
                                     (e == ENOSPC ? " (disk full; free space and run the same command to resume)" : ""));
    }
    if (rc != CURLE_OK) {
      if (rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR || rc == CURLE_OPERATION_TIMEDOUT ||
          rc == CURLE_GOT_NOTHING || rc == CURLE_SEND_ERROR) {
        throw HubError(Kind::Network, "download of " + file + " interrupted after " +
                                          std::to_string(d.offset + d.written) + " bytes (" +
                                          (errbuf[0] ? errbuf : curl_easy_strerror(rc)) +
                                          "); run the same command again to resume");
      }
      throw_transport(rc, url, errbuf);
    }
    if (status == 416 && offset > 0 && attempt == 0) {  // stale part file larger than the file: start over
      out.reset();
      fs::remove(part, ec);
      continue;
    }
    if (status != 200 && status != 206) {
      throw_status(status, headers, "file '" + file + "' of '" + o.repo + "' at revision '" + o.revision + "'", o);
    }
    out.reset();
    result.resumed = offset > 0 && !d.restarted;
    result.bytes = fs::file_size(part, ec);
    if (!headers.linked_size.empty()) {
      uint64_t want = std::strtoull(headers.linked_size.c_str(), nullptr, 10);
      if (want != 0 && want != result.bytes) {
        fs::remove(part, ec);
        throw HubError(Kind::Checksum, file + ": got " + std::to_string(result.bytes) + " bytes, the Hub says " +
                                           std::to_string(want) + "; removed the partial file, run again");
      }
    }
    std::string want_sha = unquote_etag(headers.linked_etag);
    if (is_sha256_hex(want_sha)) {
      std::string got = sha256_file(part.string());
      if (got != want_sha) {
        fs::remove(part, ec);
        throw HubError(Kind::Checksum, file + ": sha256 " + got + " does not match the Hub's " + want_sha +
                                           "; the download was discarded");
      }
      result.verified = true;
    }
    fs::rename(part, target, ec);
    if (ec) throw HubError(Kind::Disk, "cannot rename " + part.string() + " to " + target.string() + ": " + ec.message());
    return result;
  }
  throw HubError(Kind::Protocol, "server keeps refusing the resume range for " + file);
}

}  // namespace

std::vector<std::string> select_model_files(const std::vector<std::string>& repo_files, const std::string& repo,
                                            const std::string& revision) {
  static const char* kWanted[] = {"config.json",           "vocab.txt",
                                  "tokenizer.json",        "tokenizer.model",
                                  "tokenizer_config.json", "special_tokens_map.json",
                                  "generation_config.json"};
  static const std::regex kShard(R"(model-\d{5}-of-\d{5}\.safetensors)");
  auto has = [&](const std::string& name) {
    return std::find(repo_files.begin(), repo_files.end(), name) != repo_files.end();
  };
  std::vector<std::string> out;
  for (const auto& f : repo_files) {
    for (const char* w : kWanted) {
      if (f == w) out.push_back(f);
    }
  }
  if (has("model.safetensors")) {
    out.push_back("model.safetensors");
  } else if (has("model.safetensors.index.json")) {
    out.push_back("model.safetensors.index.json");
    for (const auto& f : repo_files) {
      if (std::regex_match(f, kShard)) out.push_back(f);
    }
  } else if (has("pytorch_model.bin")) {
    out.push_back("pytorch_model.bin");
  } else {
    std::string ggufs;
    int n = 0;
    for (const auto& f : repo_files) {
      if (f.size() > 5 && f.compare(f.size() - 5, 5, ".gguf") == 0 && f.find('/') == std::string::npos) {
        if (n++ < 4) ggufs += (ggufs.empty() ? "" : ", ") + f;
      }
    }
    if (n > 0) {
      throw HubError(HubError::Kind::NotFound,
                     "'" + repo + "' holds GGUF files (" + ggufs + (n > 4 ? ", ..." : "") +
                         "): pick one with --file NAME");
    }
    throw HubError(HubError::Kind::NotFound,
                   "'" + repo + "' has no " + std::string(has("config.json") ? "" : "config.json ") +
                       "model.safetensors, sharded safetensors or pytorch_model.bin at revision '" + revision +
                       "': not a model this engine can run");
  }
  if (!has("config.json")) {
    throw HubError(HubError::Kind::NotFound, "'" + repo + "' has no config.json at revision '" + revision +
                                                 "': not a model this engine can run");
  }
  return out;
}

std::vector<PulledFile> pull(const PullOptions& options, const std::function<void(const FileProgress&)>& on_progress) {
  ensure_curl();
  PullOptions o = options;
  if (o.repo.empty() || o.repo.find("..") != std::string::npos || o.repo.front() == '/' || o.repo.back() == '/' ||
      o.repo.find_first_of(" \t\r\n?#%\\") != std::string::npos ||
      std::count(o.repo.begin(), o.repo.end(), '/') > 1) {
    throw HubError(Kind::Usage, "'" + options.repo + "' is not a repository id (expected OWNER/NAME)");
  }
  if (o.revision.empty()) o.revision = "main";
  std::string endpoint = o.endpoint.empty() ? env_or("HF_ENDPOINT", "https://huggingface.co") : o.endpoint;
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  if (o.token.empty()) o.token = env_or("HF_TOKEN", "");

  std::vector<std::string> repo_files = list_repo_files(o, endpoint);
  std::vector<std::string> files;
  if (o.files.empty()) {
    files = select_model_files(repo_files, o.repo, o.revision);
  } else {
    for (const auto& f : o.files) {
      if (f.empty() || f.find('/') != std::string::npos || f.front() == '.' ||
          f.find_first_of("\\\r\n") != std::string::npos) {
        throw HubError(Kind::Usage, "'" + f + "' is not a file name at the top of the repository");
      }
      if (std::find(repo_files.begin(), repo_files.end(), f) == repo_files.end()) {
        throw HubError(Kind::NotFound, "'" + o.repo + "' has no file '" + f + "' at revision '" + o.revision + "'");
      }
      files.push_back(f);
    }
  }
  std::error_code ec;
  fs::create_directories(o.dir, ec);
  if (ec) throw HubError(Kind::Disk, "cannot create " + o.dir + ": " + ec.message());
  std::vector<PulledFile> pulled;
  for (const auto& f : files) pulled.push_back(download_file(o, endpoint, f, on_progress));
  return pulled;
}

}  // namespace mlfaas::hub
