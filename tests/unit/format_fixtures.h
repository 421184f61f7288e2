#pragma once
// Builders for weight files written at test time: safetensors bytes, hand-assembled pickles, and torch.save-style
// zip archives (via libzip), all in a per-test temporary directory.
#include <zip.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace fixtures {

const std::string kModels = std::string(MLFAAS_TEST_DATA) + "/models/";

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mlfaas-formats-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::string write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
  return path;
}

inline std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int k = 0; k < 8; ++k) s[k] = static_cast<char>(v >> (8 * k));
  return s;
}

// 8-byte little-endian header length, the header, the data.
inline std::string safetensors(const std::string& header_json, const std::string& data) {
  return le64(header_json.size()) + header_json + data;
}

inline uint64_t safetensors_header_length(const std::string& file) {
  uint64_t n = 0;
  for (int k = 0; k < 8; ++k) n |= static_cast<uint64_t>(static_cast<uint8_t>(file[k])) << (8 * k);
  return n;
}

template <typename T>
std::string raw(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

// Pickle bytes, opcode by opcode (names as in Python's pickletools).
class Pickle {
 public:
  Pickle& op(uint8_t code) { s_ += static_cast<char>(code); return *this; }
  Pickle& proto(uint8_t v) { return op(0x80).op(v); }
  Pickle& mark() { return op('('); }
  Pickle& empty_dict() { return op('}'); }
  Pickle& empty_list() { return op(']'); }
  Pickle& empty_tuple() { return op(')'); }
  Pickle& tuple() { return op('t'); }
  Pickle& tuple1() { return op(0x85); }
  Pickle& tuple2() { return op(0x86); }
  Pickle& tuple3() { return op(0x87); }
  Pickle& setitem() { return op('s'); }
  Pickle& setitems() { return op('u'); }
  Pickle& append() { return op('a'); }
  Pickle& reduce() { return op('R'); }
  Pickle& build() { return op('b'); }
  Pickle& binpersid() { return op('Q'); }
  Pickle& none() { return op('N'); }
  Pickle& newfalse() { return op(0x89); }
  Pickle& stop() { return op('.'); }
  Pickle& binput(uint8_t i) { return op('q').op(i); }
  Pickle& binget(uint8_t i) { return op('h').op(i); }
  Pickle& memoize() { return op(0x94); }
  Pickle& frame(uint64_t n) { op(0x95); s_ += le64(n); return *this; }
  Pickle& unicode(const std::string& v) {
    op('X');
    for (int k = 0; k < 4; ++k) s_ += static_cast<char>(v.size() >> (8 * k));
    s_ += v;
    return *this;
  }
  Pickle& short_unicode(const std::string& v) { op(0x8c).op(static_cast<uint8_t>(v.size())); s_ += v; return *this; }
  Pickle& integer(int64_t v) {
    if (v >= 0 && v < 256) return op('K').op(static_cast<uint8_t>(v));
    if (v >= 0 && v < 65536) return op('M').op(static_cast<uint8_t>(v)).op(static_cast<uint8_t>(v >> 8));
    op('J');
    for (int k = 0; k < 4; ++k) s_ += static_cast<char>(static_cast<uint32_t>(v) >> (8 * k));
    return *this;
  }
  Pickle& global(const std::string& module, const std::string& name) {
    op('c');
    s_ += module + "\n" + name + "\n";
    return *this;
  }
  Pickle& stack_global(const std::string& module, const std::string& name) {
    return short_unicode(module).short_unicode(name).op(0x93);
  }
  Pickle& int_tuple(const std::vector<int64_t>& v) {
    mark();
    for (int64_t x : v) integer(x);
    return tuple();
  }
  // torch._utils._rebuild_tensor_v2(storage('storage', <storage_type>, key, 'cpu', numel), offset, sizes, strides,
  // False, OrderedDict()) exactly as torch.save writes one tensor.
  Pickle& tensor(const std::string& storage_type, const std::string& key, int64_t numel, int64_t offset,
                 const std::vector<int64_t>& sizes, const std::vector<int64_t>& strides) {
    global("torch._utils", "_rebuild_tensor_v2");
    mark();
    mark().unicode("storage").global("torch", storage_type).unicode(key).unicode("cpu").integer(numel).tuple();
    binpersid();
    integer(offset).int_tuple(sizes).int_tuple(strides).newfalse();
    global("collections", "OrderedDict").empty_tuple().reduce();
    tuple();
    return reduce();
  }
  const std::string& bytes() const { return s_; }

 private:
  std::string s_;
};

struct ZipEntry {
  std::string name;
  std::string data;
  bool compress = false;
};

// Writes `entries` as a zip archive (stored unless compress is set), like torch.save's writer.
inline std::string write_zip(const std::string& path, const std::vector<ZipEntry>& entries) {
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  if (z == nullptr) throw std::runtime_error("zip_open failed");
  for (const ZipEntry& e : entries) {
    zip_source_t* src = zip_source_buffer(z, e.data.data(), e.data.size(), 0);
    const zip_int64_t i = zip_file_add(z, e.name.c_str(), src, ZIP_FL_OVERWRITE);
    if (i < 0) throw std::runtime_error("zip_file_add failed");
    zip_set_file_compression(z, static_cast<zip_uint64_t>(i), e.compress ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
  }
  if (zip_close(z) != 0) throw std::runtime_error("zip_close failed");
  return path;
}

// A one-tensor torch.save archive: {name: tensor} over storage data/0 holding `data`.
inline std::vector<ZipEntry> torch_archive(const std::string& pickle, const std::string& storage_bytes,
                                           const std::string& prefix = "archive/") {
  return {{prefix + "data.pkl", pickle}, {prefix + "data/0", storage_bytes}, {prefix + "version", "3\n"}};
}

}  // namespace fixtures
