#include "platform/aws/s3_api.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <vector>

#include "common/codec.h"
#include "platform/aws/protocol.h"
#include "platform/front.h"

namespace mlfaas::platform::aws {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kMaxParts = 10000;

struct S3Error : ApiError {
  S3Error(http::status s, std::string code, const std::string& message, std::string resource = "")
      : ApiError(s, std::move(code), message), resource(std::move(resource)) {}
  std::string resource;
};

[[noreturn]] void no_bucket(const std::string& b) {
  throw S3Error(http::status::not_found, "NoSuchBucket", "The specified bucket does not exist", b);
}
[[noreturn]] void no_key(const std::string& k) {
  throw S3Error(http::status::not_found, "NoSuchKey", "The specified key does not exist.", k);
}
[[noreturn]] void no_upload(const std::string& id) {
  throw S3Error(http::status::not_found, "NoSuchUpload",
                "The specified upload does not exist. The upload ID may be invalid, or the upload may have been "
                "aborted or completed.", id);
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void write_file(const fs::path& p, std::string_view bytes) {
  fs::path tmp = p;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    out.write(bytes.data(), std::streamsize(bytes.size()));
    if (!out) throw S3Error(http::status::internal_server_error, "InternalError", "cannot write " + p.string());
  }
  fs::rename(tmp, p);
}

// Keys may hold any character and be 1024 bytes long: files are named by their hash.
std::string key_file(const std::string& key) { return sha256_hex(key); }

std::string http_date(int64_t ms) { return lambda::utc_strftime(ms / 1000, "%a, %d %b %Y %H:%M:%S GMT"); }

std::string iso_time(int64_t ms) {
  std::string t = lambda_timestamp(ms);  // ...T12:00:00.000+0000
  return t.substr(0, 23) + "Z";
}

std::string xml(const std::string& body) { return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + body; }
std::string el(const std::string& name, const std::string& value) {
  return "<" + name + ">" + xml_escape(value) + "</" + name + ">";
}
constexpr const char* kNs = " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";

// The body of an aws-chunked upload (Content-Encoding: aws-chunked; what SDKs send with trailing checksums):
// "<hex size>[;chunk-signature=…]\r\n<bytes>\r\n" … "0\r\n<trailers>\r\n".
std::string decode_aws_chunked(const std::string& body) {
  std::string out;
  size_t at = 0;
  while (at < body.size()) {
    size_t eol = body.find("\r\n", at);
    if (eol == std::string::npos) break;
    std::string head = body.substr(at, eol - at);
    size_t size = 0;
    try {
      size = std::stoul(head.substr(0, head.find(';')), nullptr, 16);
    } catch (const std::exception&) {
      throw S3Error(http::status::bad_request, "InvalidRequest", "malformed aws-chunked body");
    }
    if (size == 0) break;
    if (eol + 2 + size > body.size())
      throw S3Error(http::status::bad_request, "IncompleteBody", "the aws-chunked body ends early");
    out.append(body, eol + 2, size);
    at = eol + 2 + size + 2;
  }
  return out;
}

}  // namespace

S3Api::S3Api(const std::string& dir, std::string host, std::string region)
    : dir_(fs::absolute(dir).lexically_normal().string()), host_(std::move(host)), region_(std::move(region)) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw std::runtime_error(dir_ + ": cannot create the S3 directory: " + ec.message());
}

bool S3Api::handles(const Request& req) {
  std::string auth(req[http::field::authorization]);
  if (auth.find("/s3/aws4_request") != std::string::npos) return true;
  std::string target(req.target());
  return target.find("X-Amz-Credential=") != std::string::npos && target.find("%2Fs3%2Faws4_request") != std::string::npos;
}

std::string S3Api::read_for_lambda(const std::string& bucket, const std::string& key) const {
  auto s3_failure = [](const std::string& code, const std::string& message) {
    return ApiError(http::status::bad_request, "InvalidParameterValueException",
                    "Error occurred while GetObject. S3 Error Code: " + code + ". S3 Error Message: " + message);
  };
  fs::path b = fs::path(dir_) / bucket;
  if (bucket.empty() || bucket.find('/') != std::string::npos || !fs::is_directory(b))
    throw s3_failure("NoSuchBucket", "The specified bucket does not exist");
  fs::path object = b / "objects" / key_file(key);
  if (!fs::exists(object)) throw s3_failure("NoSuchKey", "The specified key does not exist.");
  return read_file(object);
}

Response S3Api::handle(Request&& req) {
  std::string target(req.target());
  auto q = target.find('?');
  std::string path = url_decode(target.substr(0, q), false);
  auto query = parse_form(q == std::string::npos ? "" : target.substr(q + 1));
  const http::verb method = req.method();
  bool head = method == http::verb::head;

  // Virtual-host style: <bucket>.<host>[:port].
  std::string host(req[http::field::host]);
  host = host.substr(0, host.rfind(':') == std::string::npos || host.back() == ']' ? host.size() : host.rfind(':'));
  std::string bucket, key;
  if (host.size() > host_.size() + 1 && host.ends_with("." + host_)) {
    bucket = host.substr(0, host.size() - host_.size() - 1);
    key = path.size() > 1 ? path.substr(1) : "";
  } else {
    std::string rest = path.size() > 1 ? path.substr(1) : "";
    auto slash = rest.find('/');
    bucket = rest.substr(0, slash);
    key = slash == std::string::npos ? "" : rest.substr(slash + 1);
  }
  auto ok = [](std::string body = "", const std::string& type = "application/xml") {
    Response res = make_response(http::status::ok, std::move(body), type);
    res.set("x-amz-request-id", lambda::random_hex(16));
    return res;
  };

  try {
    fs::path b = fs::path(dir_) / bucket;
    fs::path objects = b / "objects", uploads = b / "uploads";
    if (bucket.empty()) {  // ListBuckets
      if (method != http::verb::get) throw S3Error(http::status::method_not_allowed, "MethodNotAllowed", "use GET");
      std::string list;
      std::error_code ec;
      std::vector<std::string> names;
      for (const auto& e : fs::directory_iterator(dir_, ec))
        if (e.is_directory()) names.push_back(e.path().filename().string());
      std::sort(names.begin(), names.end());
      for (const auto& n : names)
        list += "<Bucket>" + el("Name", n) + el("CreationDate", iso_time(unix_ms_now())) + "</Bucket>";
      return ok(xml(fmt::format("<ListAllMyBucketsResult{}><Owner><ID>mlfaas</ID></Owner><Buckets>{}</Buckets>"
                                "</ListAllMyBucketsResult>", kNs, list)));
    }
    static const std::regex bucket_pattern("[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]");
    if (!std::regex_match(bucket, bucket_pattern))
      throw S3Error(http::status::bad_request, "InvalidBucketName", "The specified bucket is not valid.", bucket);

    if (key.empty()) {
      if (method == http::verb::put) {  // CreateBucket
        if (fs::exists(b))
          throw S3Error(http::status::conflict, "BucketAlreadyOwnedByYou",
                        "Your previous request to create the named bucket succeeded and you already own it.", bucket);
        fs::create_directories(objects);
        fs::create_directories(uploads);
        Response res = ok();
        res.set(http::field::location, "/" + bucket);
        return res;
      }
      if (!fs::is_directory(b)) no_bucket(bucket);
      if (head) return ok();
      if (method == http::verb::delete_) {
        if (!fs::is_empty(objects))
          throw S3Error(http::status::conflict, "BucketNotEmpty", "The bucket you tried to delete is not empty", bucket);
        fs::remove_all(b);
        Response res = make_response(http::status::no_content, "", "");
        return res;
      }
      if (method != http::verb::get) throw S3Error(http::status::method_not_allowed, "MethodNotAllowed", "use GET");
      if (query.count("location"))
        return ok(xml(fmt::format("<LocationConstraint{}>{}</LocationConstraint>", kNs,
                                  region_ == "us-east-1" ? "" : region_)));
      // ListObjectsV2 (list-type=2) or ListObjects.
      bool v2 = query["list-type"] == "2";
      std::string prefix = query["prefix"], delimiter = query["delimiter"];
      size_t max_keys = 1000;
      if (query.count("max-keys")) {
        try {
          max_keys = std::min<size_t>(1000, std::stoul(query["max-keys"]));
        } catch (const std::exception&) {
          throw S3Error(http::status::bad_request, "InvalidArgument", "max-keys must be a number");
        }
      }
      std::string after = v2 ? (query.count("continuation-token") ? query["continuation-token"] : query["start-after"])
                             : query["marker"];
      std::vector<json> metas;
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(objects, ec))
        if (e.path().extension() == ".json") {
          json m = json::parse(read_file(e.path()), nullptr, false);
          if (m.is_object() && m.value("Key", "").starts_with(prefix)) metas.push_back(std::move(m));
        }
      std::sort(metas.begin(), metas.end(), [](const json& a, const json& c) { return a["Key"] < c["Key"]; });
      std::string contents, prefixes, last;
      std::set<std::string> common;
      size_t count = 0;
      bool truncated = false;
      for (const auto& m : metas) {
        std::string k = m["Key"];
        if (!after.empty() && k <= after) continue;
        std::string entry_name = k;
        if (!delimiter.empty()) {
          auto d = k.find(delimiter, prefix.size());
          if (d != std::string::npos) entry_name = k.substr(0, d + delimiter.size());
        }
        bool is_prefix = entry_name != k;
        if (is_prefix && common.count(entry_name)) continue;
        if (count == max_keys) {
          truncated = true;
          break;
        }
        if (is_prefix) {
          common.insert(entry_name);
          prefixes += "<CommonPrefixes>" + el("Prefix", entry_name) + "</CommonPrefixes>";
          // Every key under this prefix sorts before the next entry: skip past them.
          last = entry_name + std::string(1, char(0x7f));
        } else {
          contents += "<Contents>" + el("Key", k) + el("LastModified", iso_time(m.value("LastModified", int64_t(0)))) +
                      el("ETag", m.value("ETag", "")) + el("Size", std::to_string(m.value("Size", int64_t(0)))) +
                      el("StorageClass", "STANDARD") + "</Contents>";
          last = k;
        }
        ++count;
      }
      std::string tail = v2 ? el("KeyCount", std::to_string(count)) +
                                  (query.count("continuation-token") ? el("ContinuationToken", query["continuation-token"]) : "") +
                                  (truncated ? el("NextContinuationToken", last) : "") +
                                  (query.count("start-after") ? el("StartAfter", query["start-after"]) : "")
                            : el("Marker", query["marker"]) + (truncated ? el("NextMarker", last) : "");
      return ok(xml(fmt::format("<ListBucketResult{}>{}{}{}{}{}{}{}</ListBucketResult>", kNs, el("Name", bucket),
                                el("Prefix", prefix), delimiter.empty() ? "" : el("Delimiter", delimiter),
                                el("MaxKeys", std::to_string(max_keys)), el("IsTruncated", truncated ? "true" : "false"),
                                contents + prefixes, tail)));
    }

    if (!fs::is_directory(b)) no_bucket(bucket);
    if (key.size() > 1024) throw S3Error(http::status::bad_request, "KeyTooLongError", "Your key is too long", key);
    fs::path object = objects / key_file(key);
    fs::path meta_path = object;
    meta_path += ".json";
    auto body = [&req]() -> std::string {
      std::string enc(req[http::field::content_encoding]);
      std::string sha(req["x-amz-content-sha256"]);
      if (enc.find("aws-chunked") != std::string::npos || sha.starts_with("STREAMING-"))
        return decode_aws_chunked(req.body());
      return std::move(req.body());
    };
    auto store_object = [&](const std::string& bytes, const std::string& etag) {
      write_file(object, bytes);
      std::string type(req[http::field::content_type]);
      json meta = {{"Key", key}, {"Size", int64_t(bytes.size())}, {"ETag", etag}, {"LastModified", unix_ms_now()},
                   {"ContentType", type.empty() ? "binary/octet-stream" : type}};
      write_file(meta_path, meta.dump());
    };

    if (method == http::verb::post && query.count("uploads")) {  // CreateMultipartUpload
      std::string id = lambda::random_hex(32);
      fs::create_directories(uploads / id);
      write_file(uploads / id / "upload.json", json{{"Key", key}}.dump());
      return ok(xml(fmt::format("<InitiateMultipartUploadResult{}>{}{}{}</InitiateMultipartUploadResult>", kNs,
                                el("Bucket", bucket), el("Key", key), el("UploadId", id))));
    }
    if (query.count("uploadId")) {
      std::string id = query["uploadId"];
      static const std::regex id_pattern("[0-9a-f]{32}");
      fs::path up = uploads / id;
      if (!std::regex_match(id, id_pattern) || !fs::is_directory(up)) no_upload(id);
      if (method == http::verb::put) {  // UploadPart
        int part = 0;
        try {
          part = std::stoi(query["partNumber"]);
        } catch (const std::exception&) {
        }
        if (part < 1 || part > kMaxParts)
          throw S3Error(http::status::bad_request, "InvalidArgument",
                        "Part number must be an integer between 1 and 10000, inclusive");
        std::string bytes = body();
        std::string etag = "\"" + md5_hex(bytes) + "\"";
        write_file(up / fmt::format("part-{:05d}", part), bytes);
        write_file(up / fmt::format("part-{:05d}.etag", part), etag);
        Response res = ok();
        res.set(http::field::etag, etag);
        return res;
      }
      if (method == http::verb::delete_) {  // AbortMultipartUpload
        fs::remove_all(up);
        return make_response(http::status::no_content, "", "");
      }
      if (method == http::verb::post) {  // CompleteMultipartUpload: the parts the request lists, in its order
        static const std::regex part_pattern("<Part>[\\s\\S]*?</Part>");
        static const std::regex number_pattern("<PartNumber>\\s*(\\d+)\\s*</PartNumber>");
        static const std::regex etag_pattern("<ETag>\\s*([^<]*?)\\s*</ETag>");
        const std::string& listing = req.body();
        std::string bytes, digests;
        int parts = 0, previous = 0;
        for (auto it = std::sregex_iterator(listing.begin(), listing.end(), part_pattern); it != std::sregex_iterator(); ++it) {
          std::string p = it->str();
          std::smatch n, e;
          if (!std::regex_search(p, n, number_pattern))
            throw S3Error(http::status::bad_request, "MalformedXML", "a Part without PartNumber");
          int number = std::stoi(n[1]);
          if (number <= previous)
            throw S3Error(http::status::bad_request, "InvalidPartOrder",
                          "The list of parts was not in ascending order. The parts list must be specified in order "
                          "by part number.");
          previous = number;
          fs::path part_file = up / fmt::format("part-{:05d}", number);
          std::string etag = fs::exists(part_file) ? read_file(part_file.string() + ".etag") : "";
          std::string given = std::regex_search(p, e, etag_pattern) ? e[1].str() : "";
          for (const char* q : {"&quot;", "&#34;"})
            for (size_t at; (at = given.find(q)) != std::string::npos;) given.replace(at, std::strlen(q), "\"");
          if (etag.empty() || (given != etag && "\"" + given + "\"" != etag))
            throw S3Error(http::status::bad_request, "InvalidPart",
                          "One or more of the specified parts could not be found. The part may not have been "
                          "uploaded, or the specified entity tag may not have matched the part's entity tag.");
          bytes += read_file(part_file);
          // The multipart ETag is the MD5 of the parts' MD5s (raw bytes), then "-<parts>".
          std::string hex = etag.substr(1, etag.size() - 2);
          for (size_t i = 0; i + 1 < hex.size(); i += 2) digests += char(std::stoi(hex.substr(i, 2), nullptr, 16));
          ++parts;
        }
        if (parts == 0) throw S3Error(http::status::bad_request, "MalformedXML", "no Part in the request");
        std::string etag = fmt::format("\"{}-{}\"", md5_hex(digests), parts);
        store_object(bytes, etag);
        fs::remove_all(up);
        return ok(xml(fmt::format("<CompleteMultipartUploadResult{}>{}{}{}{}</CompleteMultipartUploadResult>", kNs,
                                  el("Location", "/" + bucket + "/" + key), el("Bucket", bucket), el("Key", key),
                                  el("ETag", etag))));
      }
    }
    if (method == http::verb::put) {  // PutObject
      if (req.count("x-amz-copy-source"))
        throw S3Error(http::status::not_implemented, "NotImplemented", "CopyObject is not served by mlfaas serve");
      std::string bytes = body();
      std::string etag = "\"" + md5_hex(bytes) + "\"";
      store_object(bytes, etag);
      Response res = ok();
      res.set(http::field::etag, etag);
      return res;
    }
    if (method == http::verb::delete_) {  // DeleteObject: succeeds whether or not the key exists
      std::error_code ec;
      fs::remove(object, ec);
      fs::remove(meta_path, ec);
      return make_response(http::status::no_content, "", "");
    }
    if (method == http::verb::get || head) {  // GetObject, HeadObject
      if (!fs::exists(meta_path)) no_key(key);
      json meta = json::parse(read_file(meta_path), nullptr, false);
      int64_t size = meta.value("Size", int64_t(0));
      int64_t first = 0, last = size - 1;
      std::string range(req[http::field::range]);
      bool ranged = range.starts_with("bytes=") && size > 0;
      if (ranged) {
        std::string spec = range.substr(6);
        auto dash = spec.find('-');
        try {
          if (dash == 0) {
            first = std::max<int64_t>(0, size - std::stoll(spec.substr(1)));
          } else {
            first = std::stoll(spec.substr(0, dash));
            if (dash + 1 < spec.size()) last = std::min<int64_t>(last, std::stoll(spec.substr(dash + 1)));
          }
        } catch (const std::exception&) {
          ranged = false, first = 0, last = size - 1;
        }
        if (ranged && first >= size)
          throw S3Error(http::status::range_not_satisfiable, "InvalidRange", "The requested range is not satisfiable");
      }
      Response res = make_response(ranged ? http::status::partial_content : http::status::ok, "",
                                   meta.value("ContentType", "binary/octet-stream"));
      if (head) {
        res.content_length(uint64_t(size));
      } else {
        std::ifstream in(object, std::ios::binary);
        std::string bytes(size_t(std::max<int64_t>(0, last - first + 1)), '\0');
        in.seekg(first);
        in.read(bytes.data(), std::streamsize(bytes.size()));
        res.body() = std::move(bytes);
      }
      if (ranged) res.set(http::field::content_range, fmt::format("bytes {}-{}/{}", first, last, size));
      res.set(http::field::etag, meta.value("ETag", ""));
      res.set(http::field::last_modified, http_date(meta.value("LastModified", int64_t(0))));
      res.set(http::field::accept_ranges, "bytes");
      res.set("x-amz-request-id", lambda::random_hex(16));
      return res;
    }
    throw S3Error(http::status::method_not_allowed, "MethodNotAllowed",
                  "The specified method is not allowed against this resource.");
  } catch (const S3Error& e) {
    Response res = make_response(e.status, head ? "" : xml(fmt::format("<Error>{}{}{}{}</Error>", el("Code", e.type),
                                                                      el("Message", e.what()),
                                                                      e.resource.empty() ? "" : el("Resource", e.resource),
                                                                      el("RequestId", lambda::random_hex(16)))),
                                 "application/xml");
    return res;
  } catch (const std::exception& e) {
    return make_response(http::status::internal_server_error,
                         xml("<Error>" + el("Code", "InternalError") + el("Message", e.what()) + "</Error>"),
                         "application/xml");
  }
}

}  // namespace mlfaas::platform::aws
