// An image layer of arbitrary bytes, unpacked as `mlfaas serve` unpacks a PackageType: Image function: the input
// is the layer (a plain tar) of a one-layer OCI layout with correct digests, so every byte reaches the tar reader
// and the extractor. unpack_image may only succeed or throw ImageError, never crash, and never put anything
// outside its destination (a file beside it, "escape", would be the sign).
#include <openssl/sha.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "platform/oci_image.h"

namespace fs = std::filesystem;

namespace {

std::string sha256(const std::string& bytes) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), md);
  static const char hex[] = "0123456789abcdef";
  std::string out = "sha256:";
  for (unsigned char b : md) out += {hex[b >> 4], hex[b & 15]};
  return out;
}

std::string blob(const fs::path& layout, const std::string& bytes) {
  const std::string digest = sha256(bytes);
  std::ofstream(layout / "blobs/sha256" / digest.substr(7), std::ios::binary) << bytes;
  return "{\"digest\":\"" + digest + "\",\"size\":" + std::to_string(bytes.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const struct Work {
    fs::path path;
    Work() {
      char tmpl[] = "/tmp/fuzz-oci-layer-XXXXXX";
      const char* dir = ::mkdtemp(tmpl);
      if (!dir) std::abort();
      path = dir;
    }
    ~Work() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  } scratch;
  const fs::path& work = scratch.path;
  const std::string layer(reinterpret_cast<const char*>(data), size);
  const fs::path layout = work / "layout", dest = work / "dest";
  fs::remove_all(layout);
  fs::remove_all(dest);
  fs::create_directories(layout / "blobs/sha256");
  const std::string config = blob(layout, "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Entrypoint\":"
                                          "[\"/bin/run\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" +
                                              sha256(layer) + "\"]}}");
  const std::string layer_desc = blob(layout, layer);
  const std::string manifest =
      blob(layout, "{\"schemaVersion\":2,\"config\":" + config + ",\"mediaType\":\"application/vnd.oci.image.config.v1+json\"},"
                   "\"layers\":[" + layer_desc + ",\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\"}]}");
  std::ofstream(layout / "index.json") << "{\"schemaVersion\":2,\"manifests\":[" << manifest << "}]}";
  std::ofstream(layout / "oci-layout") << "{\"imageLayoutVersion\":\"1.0.0\"}";
  try {
    mlfaas::platform::unpack_image("oci:" + layout.string(), dest.string(), {64u << 20, 100000});
  } catch (const mlfaas::platform::ImageError&) {
  }
  for (const auto& e : fs::directory_iterator(work))
    if (e.path() != layout && e.path() != dest) std::abort();  // something landed outside the destination
  for (const auto& e : fs::directory_iterator(dest))
    if (e.path() != dest / "rootfs" && e.path() != dest / "image.json") std::abort();
  return 0;
}
