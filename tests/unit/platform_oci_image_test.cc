// OCI images: what `mlfaas package --format image` writes unpacks to the same files (modes, links, whiteouts),
// and hostile images are refused without anything landing outside the destination: ".." entries, writes through
// a symbolic link, hard links out of the root, tampered blobs, digests that are paths, and images larger than the
// limit. tests/integration/platform_package.sh checks the same images with skopeo and umoci.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "platform/oci_image.h"

namespace fs = std::filesystem;
using namespace mlfaas::platform;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class OciImage : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/oci-image-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    fs::create_directories(dir_ / "outside");
    std::ofstream(dir_ / "outside" / "secret") << "host file";
  }
  void TearDown() override { fs::remove_all(dir_); }

  // An image of one layer per function in `layers`, each filling its tar; returns the layout directory.
  fs::path image(const std::string& name, std::vector<std::function<void(TarWriter&)>> layers) {
    fs::path layout = dir_ / name;
    std::vector<LayerInfo> infos;
    for (auto& fill : layers) {
      LayerWriter w(layout.string(), 6, "test");
      fill(w.tar());
      infos.push_back(w.finish());
    }
    ImageConfig config;
    config.entrypoint = {"/bin/run"};
    config.cmd = {"echo"};
    config.env = {"A=1"};
    config.working_dir = "/var/task";
    config.architecture = host_architecture();
    write_image(layout.string(), infos, config, "latest");
    return layout;
  }

  // unpack_image must refuse `layout` with `expected` in its message, leave no partial root behind, and write
  // nothing outside its destination.
  void expect_refused(const fs::path& layout, const std::string& expected, const UnpackLimits& limits = {}) {
    const fs::path dest = dir_ / ("dest-" + layout.filename().string());
    try {
      unpack_image("oci:" + layout.string(), dest.string(), limits);
      ADD_FAILURE() << layout << ": unpacked, expected a refusal with '" << expected << "'";
    } catch (const ImageError& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(dest / "rootfs.partial"));
    EXPECT_FALSE(fs::exists(dest / "rootfs"));
    EXPECT_EQ(slurp(dir_ / "outside" / "secret"), "host file");
    EXPECT_EQ(std::distance(fs::directory_iterator(dir_ / "outside"), fs::directory_iterator()), 1);
    EXPECT_FALSE(fs::exists(dir_ / "escape"));
  }

  fs::path dir_;
};

TEST_F(OciImage, RoundTripKeepsFilesModesAndLinks) {
  const std::string long_name = "var/task/model/" + std::string(150, 'n') + ".bin";  // needs a pax header
  fs::path layout = image("ok", {[&](TarWriter& t) {
    t.add_directory("var/task", 0755);
    t.add_bytes("var/task/run", 04755, "#!/bin/sh\n");  // set-uid must not survive
    t.add_bytes(long_name, 0644, "weights");
    t.add_symlink("var/task/latest", "/var/task/run");
    t.add(TarEntry{"var/task/hard", '1', 0644, 0, "var/task/run"});
    t.add(TarEntry{"dev/tty0", '3', 0600, 0, ""});  // a device node: skipped
  }});
  const fs::path dest = dir_ / "dest";
  ImageConfig c = unpack_image("oci:" + layout.string() + ":latest", dest.string());
  const fs::path root = c.rootfs;
  EXPECT_EQ(c.entrypoint, std::vector<std::string>{"/bin/run"});
  EXPECT_EQ(c.cmd, std::vector<std::string>{"echo"});
  EXPECT_EQ(c.env, std::vector<std::string>{"A=1"});
  EXPECT_EQ(c.working_dir, "/var/task");
  EXPECT_TRUE(c.manifest_digest.starts_with("sha256:"));
  EXPECT_EQ(c.skipped_entries, 1u);
  EXPECT_EQ(slurp(root / "var/task/run"), "#!/bin/sh\n");
  EXPECT_EQ(slurp(root / long_name), "weights");
  struct stat st {};
  ASSERT_EQ(::stat((root / "var/task/run").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  EXPECT_EQ(st.st_nlink, 2u);  // the hard link
  EXPECT_EQ(fs::read_symlink(root / "var/task/latest"), "/var/task/run");
  EXPECT_FALSE(fs::exists(root / "dev/tty0"));
  // What the sandbox mounts on: real directories and files.
  for (const char* d : {"tmp", "proc", "dev"}) EXPECT_TRUE(fs::is_directory(fs::symlink_status(root / d))) << d;
  for (const char* f : {"dev/null", "dev/zero", "dev/random", "dev/urandom"})
    EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(root / f))) << f;

  // The same manifest again: the unpacked root is reused as it is.
  std::ofstream(root / "marker") << "kept";
  ImageConfig again = unpack_image(layout.string(), dest.string());
  EXPECT_EQ(again.manifest_digest, c.manifest_digest);
  EXPECT_TRUE(fs::exists(root / "marker"));

  // The same layout as an oci-archive.
  write_oci_archive(layout.string(), (dir_ / "ok.tar").string());
  ImageConfig archived = unpack_image("oci-archive:" + (dir_ / "ok.tar").string(), (dir_ / "dest2").string());
  EXPECT_EQ(archived.manifest_digest, c.manifest_digest);
  EXPECT_EQ(slurp(fs::path(archived.rootfs) / long_name), "weights");
  EXPECT_FALSE(fs::exists(dir_ / "dest2" / "archive.partial"));
}

TEST_F(OciImage, WhiteoutsRemoveWhatLowerLayersPut) {
  fs::path layout = image("wh", {[](TarWriter& t) {
                                   t.add_bytes("a/x", 0644, "x");
                                   t.add_bytes("a/y", 0644, "y");
                                   t.add_bytes("b/old", 0644, "old");
                                   t.add_bytes("c/deep/file", 0644, "z");
                                 },
                                 [](TarWriter& t) {
                                   t.add_bytes("a/.wh.x", 0644, "");
                                   t.add_bytes("b/new", 0644, "new");
                                   t.add_bytes("b/.wh..wh..opq", 0644, "");
                                   t.add_bytes(".wh.c", 0644, "");
                                   t.add_bytes("nothere/.wh.q", 0644, "");  // nothing to remove
                                 }});
  const fs::path root = unpack_image(layout.string(), (dir_ / "dest").string()).rootfs;
  EXPECT_FALSE(fs::exists(root / "a/x"));
  EXPECT_TRUE(fs::exists(root / "a/y"));
  EXPECT_FALSE(fs::exists(root / "a/.wh.x"));
  EXPECT_FALSE(fs::exists(root / "b/old"));
  EXPECT_EQ(slurp(root / "b/new"), "new");
  EXPECT_FALSE(fs::exists(root / "c"));
}

TEST_F(OciImage, DotDotEntriesAreRefused) {
  expect_refused(image("dotdot", {[](TarWriter& t) { t.add_bytes("../escape", 0644, "x"); }}), "leaves the image's root");
  expect_refused(image("dotdot2", {[](TarWriter& t) { t.add_bytes("a/../../escape", 0644, "x"); }}),
                 "leaves the image's root");
  expect_refused(image("dotdot3", {[](TarWriter& t) { t.add_bytes("../.wh.outside", 0644, ""); }}),
                 "leaves the image's root");
}

TEST_F(OciImage, NothingIsWrittenThroughASymlink) {
  const std::string outside = (dir_ / "outside").string();
  expect_refused(image("through", {[&](TarWriter& t) {
                   t.add_symlink("link", outside);
                   t.add_bytes("link/pwned", 0644, "x");
                 }}),
                 "goes through the symbolic link 'link'");
  // Across layers too, and with a relative link.
  expect_refused(image("through2", {[&](TarWriter& t) { t.add_symlink("up", "../../.."); },
                                    [&](TarWriter& t) { t.add_bytes("up/escape", 0644, "x"); }}),
                 "goes through the symbolic link 'up'");
  // A link at an entry's own name is replaced, not written through.
  fs::path layout = image("replace", {[&](TarWriter& t) {
    t.add_symlink("secret", outside + "/secret");
    t.add_bytes("secret", 0644, "image file");
  }});
  const fs::path root = unpack_image(layout.string(), (dir_ / "dest").string()).rootfs;
  EXPECT_EQ(slurp(root / "secret"), "image file");
  EXPECT_FALSE(fs::is_symlink(root / "secret"));
  EXPECT_EQ(slurp(dir_ / "outside" / "secret"), "host file");
}

TEST_F(OciImage, HardLinksMustStayInside) {
  expect_refused(image("hard", {[](TarWriter& t) { t.add(TarEntry{"h", '1', 0644, 0, "../outside/secret"}); }}),
                 "leaves the image's root");
  expect_refused(image("hard2", {[](TarWriter& t) { t.add(TarEntry{"h", '1', 0644, 0, "etc/passwd"}); }}),
                 "not a file inside the image");
  const std::string outside = (dir_ / "outside").string();
  expect_refused(image("hard3", {[&](TarWriter& t) {
                   t.add_symlink("l", outside);
                   t.add(TarEntry{"h", '1', 0644, 0, "l/secret"});
                 }}),
                 "goes through the symbolic link 'l'");
}

TEST_F(OciImage, TamperedOrHostileLayoutsAreRefused) {
  auto fill = [](TarWriter& t) { t.add_bytes("f", 0644, std::string(4096, 'a')); };
  // A layer blob changed after it was written.
  fs::path layout = image("tampered", {fill});
  for (const auto& e : fs::directory_iterator(layout / "blobs/sha256")) {
    if (slurp(e.path()).front() == '{') continue;  // the config and the manifest
    std::string bytes = slurp(e.path());
    bytes[bytes.size() - 5] ^= 0x01;  // in the gzip trailer's CRC/size: inflates, but the digest differs
    std::ofstream(e.path(), std::ios::binary | std::ios::trunc) << bytes;
  }
  try {
    unpack_image(layout.string(), (dir_ / "dest").string());
    ADD_FAILURE() << "a tampered layer was unpacked";
  } catch (const ImageError& e) {
    EXPECT_NE(std::string(e.what()).find("layer sha256:"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir_ / "dest" / "rootfs"));

  // A digest that is a path.
  fs::path hostile = image("hostile", {fill});
  std::string index = slurp(hostile / "index.json");
  auto at = index.find("sha256:");
  index.replace(at, 71, "sha256:../../../../outside/secret" + std::string(71 - 33, 'a'));
  std::ofstream(hostile / "index.json", std::ios::trunc) << index;
  expect_refused(hostile, "is not sha256:<64 hex digits>");

  // A field of the wrong type in the manifest.
  fs::path typed = image("typed", {fill});
  std::string idx = slurp(typed / "index.json");
  const std::string media = "\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"";
  idx.replace(idx.find(media), media.size(), "\"mediaType\":17");
  std::ofstream(typed / "index.json", std::ios::trunc) << idx;
  expect_refused(typed, "malformed metadata");

  // More bytes and entries than allowed.
  expect_refused(image("limit", {fill}), "unpacks to more than 1000 bytes", UnpackLimits{1000, 100});
  expect_refused(image("entries", {[](TarWriter& t) {
                   for (int i = 0; i < 20; ++i) t.add_bytes("f" + std::to_string(i), 0644, "");
                 }}),
                 "more than 10 entries", UnpackLimits{1 << 20, 10});
}

TEST_F(OciImage, ReferencesAreParsedAsSkopeoDoes) {
  fs::path layout = image("ref", {[](TarWriter& t) { t.add_bytes("f", 0644, "x"); }});
  ImageReference r = parse_image_reference("oci:" + layout.string() + ":v1");
  EXPECT_FALSE(r.archive);
  EXPECT_EQ(r.path, layout.string());
  EXPECT_EQ(r.tag, "v1");
  EXPECT_EQ(parse_image_reference("ref", dir_.string()).path, layout.string());
  EXPECT_THROW(parse_image_reference("docker://123456789012.dkr.ecr.us-east-1.amazonaws.com/fn:latest"), ImageError);
  EXPECT_THROW(parse_image_reference("oci-archive:" + layout.string()), ImageError);  // a directory, not a file
  EXPECT_THROW(parse_image_reference("oci:" + (dir_ / "missing").string()), ImageError);
  try {
    unpack_image("oci:" + layout.string() + ":v2", (dir_ / "dest").string());
    ADD_FAILURE() << "unpacked an image by a tag it does not have";
  } catch (const ImageError& e) {
    EXPECT_NE(std::string(e.what()).find("no image tagged 'v2' (tags: latest)"), std::string::npos) << e.what();
  }
}

}  // namespace
