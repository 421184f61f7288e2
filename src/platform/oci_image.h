#pragma once
// OCI images (image-spec v1.0) without Docker: writing one (`mlfaas package --format image`) and unpacking one
// into a root filesystem (`mlfaas serve`, PackageType: Image; Lambda's CreateFunction with Code.ImageUri).
//
// Unpacking treats the image as untrusted input. Every blob is read through its descriptor: the digest must be
// "sha256:" and 64 hex digits (it names a file under blobs/), the file's size must be the descriptor's, and its
// SHA-256 must match; each layer's uncompressed SHA-256 must match the config's diff_id. Layer entries land
// only inside the root: ".." components are refused, no symbolic link is ever followed while unpacking (an entry
// whose parent is a symbolic link is refused; an existing link at an entry's own name is replaced, not written
// through), hard links must name a regular file already inside the root. Whiteouts (".wh.NAME", opaque
// ".wh..wh..opq") remove what lower layers put there. Set-uid/set-gid bits are dropped, owners are not applied
// (files belong to whoever unpacks), device nodes and FIFOs are skipped. The unpacked size is bounded (Lambda's
// 10 GB image limit by default). Any violation throws ImageError naming the layer and entry; nothing is left
// half-unpacked under `dest`.
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "platform/tar.h"

namespace mlfaas::platform {

struct ImageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// How the image runs: the OCI config's `config` object (what Lambda reads for a container image), plus where
// unpack_image put it.
struct ImageConfig {
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;  // arguments to the entrypoint; Lambda's ImageConfig.Command replaces them
  std::vector<std::string> env;  // NAME=value
  std::string working_dir;       // "" means "/"
  std::string architecture = "amd64";  // GOARCH names: amd64, arm64
  std::string os = "linux";
  // Set by unpack_image:
  std::string manifest_digest;   // sha256:...
  std::string rootfs;            // absolute path of the unpacked root filesystem
  uint64_t unpacked_bytes = 0;   // bytes of regular files in it
  size_t skipped_entries = 0;    // device nodes, FIFOs and unknown entry types left out
};

// Where an image comes from, as skopeo names it: "oci:DIR[:TAG]" (an OCI layout directory),
// "oci-archive:FILE[:TAG]" (that layout in a tar file), or a bare path (a directory is a layout, a file an
// archive). A relative path is taken against `base_dir`. Registry references (docker://, an ECR URI) are
// refused with the skopeo command that copies them to a layout. Throws ImageError.
struct ImageReference {
  bool archive = false;
  std::string path;
  std::string tag;  // "" picks the only image in the layout (or the one for this machine's platform)
};
ImageReference parse_image_reference(const std::string& uri, const std::string& base_dir = "");

struct UnpackLimits {
  uint64_t max_bytes = 10ull * 1000 * 1000 * 1000;  // Lambda: a container image is at most 10 GB uncompressed
  size_t max_entries = 1'000'000;
};

// Unpacks the image `source` (parse_image_reference's forms) into `dest`: the root filesystem at dest/rootfs
// (with tmp/, proc/ and dev/{null,zero,random,urandom} made as a sandbox needs them to mount on) and its config
// at dest/image.json. A `dest` that already holds the same manifest is reused as it is. Throws ImageError.
ImageConfig unpack_image(const std::string& source, const std::string& dest, const UnpackLimits& limits = {});

// ------------------------------------------------------------------ writing

struct LayerInfo {
  std::string digest;   // of the compressed blob
  uint64_t size = 0;    // compressed bytes
  std::string diff_id;  // sha256 of the uncompressed tar
  uint64_t unpacked_size = 0;
  std::string created_by;  // for the config's history
};

// One gzip-compressed layer, written into `layout_dir`/blobs/sha256 as entries are added to tar(); finish()
// names the blob by its digest. Destroying an unfinished writer removes the partial blob. Throws ImageError.
class LayerWriter {
 public:
  // `level`: zlib's 1..9 (weights barely compress, so a model layer is worth writing at 1).
  LayerWriter(const std::string& layout_dir, int level, std::string created_by);
  ~LayerWriter();
  LayerWriter(const LayerWriter&) = delete;
  LayerWriter& operator=(const LayerWriter&) = delete;
  TarWriter& tar() { return tar_; }
  LayerInfo finish();

 private:
  struct State;
  void consume(const char* data, size_t size, bool flush);
  std::unique_ptr<State> state_;
  TarWriter tar_;
};

// Writes the config, the manifest, index.json (the manifest tagged `tag`) and oci-layout into `layout_dir`, whose
// blobs already hold `layers` (bottom first). Returns the manifest's digest. Throws ImageError.
std::string write_image(const std::string& layout_dir, const std::vector<LayerInfo>& layers, const ImageConfig& config,
                        const std::string& tag);
// The layout directory as one oci-archive tar file. Throws ImageError.
void write_oci_archive(const std::string& layout_dir, const std::string& archive);

// This machine's architecture as OCI names it (amd64, arm64).
std::string host_architecture();

}  // namespace mlfaas::platform
