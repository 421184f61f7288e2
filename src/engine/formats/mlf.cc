#include "engine/formats/mlf.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>

#include "engine/error.h"
#include "engine/kernels/qmatmul.h"
#include "engine/kernels/quant_blocks.h"

namespace mlfaas {

namespace {

// PNG's trick: a non-ASCII first byte and a CR LF / ^Z / LF tail detect text-mode mangling and `type` on Windows.
constexpr char kMagic[8] = {'\x89', 'M', 'L', 'F', '\r', '\n', '\x1a', '\n'};
constexpr uint32_t kByteOrderMark = 0x01020304;
constexpr size_t kHeaderSize = 128;
constexpr size_t kEntrySize = 64;
constexpr int kMaxDims = 4;

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t byte_order;
  uint32_t header_size;
  uint32_t entry_count;
  uint64_t table_offset;
  uint64_t names_offset;
  uint64_t names_size;
  uint64_t file_size;
  uint64_t checksum;  // FNV-1a 64 over the table and the names
  uint8_t reserved[64];
};
static_assert(sizeof(Header) == kHeaderSize);

struct EntryRecord {
  uint64_t offset;
  uint64_t size;
  uint32_t name_offset;  // into the names block
  uint32_t name_size;
  uint8_t type;
  uint8_t rank;
  uint8_t reserved[6];
  int64_t dims[kMaxDims];
};
static_assert(sizeof(EntryRecord) == kEntrySize);

uint64_t fnv1a(const std::byte* p, size_t n, uint64_t h = 0xcbf29ce484222325ull) {
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<uint8_t>(p[i]);
    h *= 0x100000001b3ull;
  }
  return h;
}

size_t element_size(MlfType type) {
  switch (type) {
    case MlfType::F32:
    case MlfType::I32:
    case MlfType::U32: return 4;
    case MlfType::F16:
    case MlfType::BF16: return 2;
    case MlfType::Bytes:
    case MlfType::I8: return 1;
    case MlfType::Q8_0:
    case MlfType::Q4_0:
    case MlfType::Q4_K:
    case MlfType::Q6_K:
    case MlfType::Q8_0_X16:
    case MlfType::Q4_0_X16: return 0;  // blocks: see block_type()
  }
  return 0;
}

// The weight block of a block type (Bytes for the others).
QuantType block_type(MlfType type, bool* is_block) {
  *is_block = true;
  switch (type) {
    case MlfType::Q8_0: return QuantType::Q8_0;
    case MlfType::Q4_0: return QuantType::Q4_0;
    case MlfType::Q4_K: return QuantType::Q4_K;
    case MlfType::Q6_K: return QuantType::Q6_K;
    case MlfType::Q8_0_X16: return QuantType::Q8_0_X16;
    case MlfType::Q4_0_X16: return QuantType::Q4_0_X16;
    default: *is_block = false; return QuantType::F32;
  }
}

// Bytes that `dims` of `type` take, or nullopt with the reason in `problem` when dims cannot hold the type: a block
// type's last dimension that is not a whole number of blocks, an interleaved type that is not [rows, k].
std::optional<uint64_t> data_bytes(MlfType type, const std::vector<int64_t>& dims, std::string* problem) {
  uint64_t count = 1;
  for (int64_t d : dims) count *= static_cast<uint64_t>(d);
  bool is_block = false;
  const QuantType q = block_type(type, &is_block);
  if (!is_block) return count * element_size(type);
  const uint64_t block = static_cast<uint64_t>(quant_block_elems(q));
  if (dims.empty() || static_cast<uint64_t>(dims.back()) % block != 0) {
    *problem = "does not end in whole blocks";
    return std::nullopt;
  }
  if (quant_type_x16(q)) {
    if (dims.size() != 2) {
      *problem = "is not 2-D (interleaved weights are [rows, k])";
      return std::nullopt;
    }
    return x16_weight_bytes(q, dims[0], dims[1]);  // whole groups of 16 rows, the last one padded
  }
  return count / block * static_cast<uint64_t>(quant_block_bytes(q));
}

size_t align_up(size_t n) { return (n + kMlfAlignment - 1) / kMlfAlignment * kMlfAlignment; }

std::string dims_string(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

}  // namespace

std::string_view mlf_type_name(MlfType type) {
  switch (type) {
    case MlfType::Bytes: return "bytes";
    case MlfType::F32: return "f32";
    case MlfType::I32: return "i32";
    case MlfType::I8: return "i8";
    case MlfType::U32: return "u32";
    case MlfType::F16: return "f16";
    case MlfType::BF16: return "bf16";
    case MlfType::Q8_0: return "q8_0";
    case MlfType::Q4_0: return "q4_0";
    case MlfType::Q4_K: return "q4_K";
    case MlfType::Q6_K: return "q6_K";
    case MlfType::Q8_0_X16: return "q8_0_x16";
    case MlfType::Q4_0_X16: return "q4_0_x16";
  }
  return "?";
}

// ---- writing ----

MlfWriter::Pending& MlfWriter::push(std::string name, MlfType type, std::vector<int64_t> dims, size_t size) {
  if (index_.count(name)) throw std::logic_error("mlf: duplicate entry " + name);
  if (dims.size() > kMaxDims) throw std::logic_error("mlf: entry " + name + " has more than 4 dims");
  if (dims.empty()) {
    if (element_size(type) == 0) throw std::logic_error("mlf: block entry " + name + " needs its dims");
    dims.push_back(static_cast<int64_t>(size / element_size(type)));
  }
  std::string problem;
  const auto expected = data_bytes(type, dims, &problem);
  if (!expected || *expected != size) throw std::logic_error("mlf: entry " + name + " size disagrees with its dims");
  Pending p;
  p.name = std::move(name);
  p.type = type;
  p.dims = std::move(dims);
  p.size = size;
  index_.emplace(p.name, entries_.size());
  entries_.push_back(std::move(p));
  return entries_.back();
}

void MlfWriter::add(std::string name, MlfType type, std::vector<int64_t> dims, const void* data, size_t size) {
  Pending& p = push(std::move(name), type, std::move(dims), size);
  p.bytes.resize(size);
  if (size) std::memcpy(p.bytes.data(), data, size);
}

void MlfWriter::add_view(std::string name, MlfType type, std::vector<int64_t> dims, const void* data, size_t size) {
  push(std::move(name), type, std::move(dims), size).view = static_cast<const std::byte*>(data);
}

void MlfWriter::add_text(std::string name, std::string_view text) {
  add(std::move(name), MlfType::Bytes, {}, text.data(), text.size());
}

void MlfWriter::add_f32(std::string name, std::span<const float> values, std::vector<int64_t> dims) {
  add(std::move(name), MlfType::F32, std::move(dims), values.data(), values.size_bytes());
}

void MlfWriter::add_i32(std::string name, std::span<const int32_t> values, std::vector<int64_t> dims) {
  add(std::move(name), MlfType::I32, std::move(dims), values.data(), values.size_bytes());
}

bool MlfWriter::has(std::string_view name) const { return index_.count(std::string(name)) != 0; }

size_t MlfWriter::write(const std::string& path) const {
  std::vector<EntryRecord> table(entries_.size());
  std::string names;
  for (const Pending& e : entries_) names += e.name;
  const size_t table_offset = kHeaderSize;
  const size_t names_offset = table_offset + table.size() * kEntrySize;
  size_t offset = align_up(names_offset + names.size());
  uint32_t name_offset = 0;
  for (size_t i = 0; i < entries_.size(); ++i) {
    const Pending& e = entries_[i];
    EntryRecord& r = table[i];
    std::memset(&r, 0, sizeof r);
    r.offset = offset;
    r.size = e.size;
    r.name_offset = name_offset;
    r.name_size = static_cast<uint32_t>(e.name.size());
    r.type = static_cast<uint8_t>(e.type);
    r.rank = static_cast<uint8_t>(e.dims.size());
    for (size_t d = 0; d < e.dims.size(); ++d) r.dims[d] = e.dims[d];
    name_offset += r.name_size;
    offset = align_up(offset + e.size);
  }
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.version = kMlfVersion;
  h.byte_order = kByteOrderMark;
  h.header_size = kHeaderSize;
  h.entry_count = static_cast<uint32_t>(entries_.size());
  h.table_offset = table_offset;
  h.names_offset = names_offset;
  h.names_size = names.size();
  h.file_size = offset;
  h.checksum = fnv1a(reinterpret_cast<const std::byte*>(names.data()), names.size(),
                     fnv1a(reinterpret_cast<const std::byte*>(table.data()), table.size() * kEntrySize));

  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  if (!out) throw FormatError(path, std::string("cannot create: ") + std::strerror(errno));
  auto put = [&](const void* p, size_t n) { out.write(static_cast<const char*>(p), static_cast<std::streamsize>(n)); };
  static const char kZeros[kMlfAlignment] = {};
  size_t at = 0;
  auto pad_to = [&](size_t target) {
    while (at < target) {
      const size_t n = std::min(target - at, sizeof kZeros);
      put(kZeros, n);
      at += n;
    }
  };
  put(&h, sizeof h);
  put(table.data(), table.size() * kEntrySize);
  put(names.data(), names.size());
  at = names_offset + names.size();
  for (size_t i = 0; i < entries_.size(); ++i) {
    pad_to(table[i].offset);
    put(entries_[i].data(), entries_[i].size);
    at += entries_[i].size;
  }
  pad_to(offset);
  out.close();
  if (!out) {
    std::remove(tmp.c_str());
    throw FormatError(path, "write failed (disk full?)");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    throw FormatError(path, std::string("cannot replace: ") + std::strerror(e));
  }
  return offset;
}

// ---- reading ----

bool MlfFile::has_magic(std::span<const std::byte> head) {
  return head.size() >= sizeof kMagic && std::memcmp(head.data(), kMagic, sizeof kMagic) == 0;
}

bool is_mlf_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::byte head[sizeof kMagic];
  const ssize_t n = ::read(fd, head, sizeof head);
  ::close(fd);
  return n == static_cast<ssize_t>(sizeof head) && MlfFile::has_magic(head);
}

std::shared_ptr<const MlfFile> MlfFile::open(const std::string& path) {
  std::shared_ptr<MlfFile> f(new MlfFile());
  f->path_ = path;
  f->mapping_ = std::make_unique<MappedFile>(path);
  f->bytes_ = f->mapping_->bytes();
  f->parse();
  return f;
}

std::shared_ptr<const MlfFile> MlfFile::open_bytes(std::span<const std::byte> bytes, const std::string& name) {
  // Entries are aligned relative to the start; the kernels need them aligned in memory.
  if (reinterpret_cast<uintptr_t>(bytes.data()) % kMlfAlignment != 0) {
    throw std::invalid_argument("MlfFile::open_bytes: bytes must be 64-byte aligned");
  }
  std::shared_ptr<MlfFile> f(new MlfFile());
  f->path_ = name;
  f->bytes_ = bytes;
  f->parse();
  return f;
}

void MlfFile::parse() {
  auto fail = [&](const std::string& problem) { throw FormatError(path_, problem); };
  const size_t n = bytes_.size();
  if (!has_magic(bytes_)) {
    fail(n < sizeof kMagic ? "not a compiled mlfaas model (file too small)"
                           : "not a compiled mlfaas model (.mlf): wrong magic; compile one with `mlfaas compile`");
  }
  if (n < kHeaderSize) fail("truncated: " + std::to_string(n) + " bytes, shorter than the .mlf header");
  Header h;
  std::memcpy(&h, bytes_.data(), sizeof h);
  if (h.byte_order != kByteOrderMark) fail("written on a machine of the other byte order; recompile it here");
  if (h.version != kMlfVersion) {
    fail("format version " + std::to_string(h.version) +
         (h.version < kMlfVersion ? " is older than" : " is newer than") + " this mlfaas reads (" +
         std::to_string(kMlfVersion) + "); recompile it with this mlfaas: mlfaas compile --model DIR --out FILE.mlf");
  }
  if (h.header_size != kHeaderSize) fail("corrupt header (header size " + std::to_string(h.header_size) + ")");
  if (h.file_size != n) {
    fail(h.file_size > n ? "truncated: header says " + std::to_string(h.file_size) + " bytes, the file has " +
                               std::to_string(n)
                         : "has " + std::to_string(n - h.file_size) + " bytes after its end (header says " +
                               std::to_string(h.file_size) + ")");
  }
  const uint64_t table_bytes = static_cast<uint64_t>(h.entry_count) * kEntrySize;
  if (h.table_offset != kHeaderSize || h.table_offset + table_bytes > n || h.names_offset != h.table_offset + table_bytes ||
      h.names_size > n - h.names_offset) {
    fail("corrupt header (entry table or names outside the file)");
  }
  const std::byte* table = bytes_.data() + h.table_offset;
  const char* names = reinterpret_cast<const char*>(bytes_.data() + h.names_offset);
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION  // let the fuzzer reach the checks below (tests/fuzz)
  if (fnv1a(bytes_.data() + h.names_offset, h.names_size, fnv1a(table, table_bytes)) != h.checksum) {
    fail("corrupt entry table (checksum mismatch)");
  }
#endif
  const uint64_t data_start = h.names_offset + h.names_size;
  entries_.reserve(h.entry_count);
  index_.reserve(h.entry_count);
  for (uint32_t i = 0; i < h.entry_count; ++i) {
    EntryRecord r;
    std::memcpy(&r, table + static_cast<size_t>(i) * kEntrySize, sizeof r);
    const std::string where = "entry " + std::to_string(i);
    if (static_cast<uint64_t>(r.name_offset) + r.name_size > h.names_size) fail(where + ": name outside the names block");
    MlfEntry e;
    e.name = std::string_view(names + r.name_offset, r.name_size);
    const std::string label = "entry '" + std::string(e.name) + "'";
    if (r.type > static_cast<uint8_t>(MlfType::Q4_0_X16)) fail(label + ": unknown type " + std::to_string(r.type));
    e.type = static_cast<MlfType>(r.type);
    if (r.rank < 1 || r.rank > kMaxDims) fail(label + ": rank " + std::to_string(r.rank) + " outside 1..4");
    uint64_t count = 1;
    for (int d = 0; d < r.rank; ++d) {
      if (r.dims[d] < 0 || r.dims[d] > (int64_t{1} << 40)) fail(label + ": bad dimension");
      count *= static_cast<uint64_t>(r.dims[d]);
      if (count > (uint64_t{1} << 40)) fail(label + ": too many elements");
      e.dims.push_back(r.dims[d]);
    }
    std::string problem;
    const auto expected = data_bytes(e.type, e.dims, &problem);
    if (!expected) fail(label + ": " + dims_string(e.dims) + " " + std::string(mlf_type_name(e.type)) + " " + problem);
    if (*expected != r.size) {
      fail(label + ": " + std::to_string(r.size) + " bytes do not hold " + dims_string(e.dims) + " " +
           std::string(mlf_type_name(e.type)));
    }
    if (r.offset % kMlfAlignment != 0) fail(label + ": data not 64-byte aligned");
    if (r.offset < data_start || r.offset > n || r.size > n - r.offset) fail(label + ": data outside the file");
    e.data = bytes_.data() + r.offset;
    e.size = r.size;
    if (!index_.emplace(e.name, entries_.size()).second) fail(label + ": appears twice");
    entries_.push_back(std::move(e));
  }
}

std::string_view MlfFile::architecture() const {
  const MlfEntry* e = find("meta/architecture");
  return e == nullptr ? std::string_view("bert") : e->text();
}

const MlfEntry* MlfFile::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

const MlfEntry& MlfFile::require(std::string_view name, MlfType type, std::initializer_list<int64_t> dims) const {
  const MlfEntry* e = find(name);
  if (e == nullptr) {
    throw FormatError(path_, "no entry '" + std::string(name) + "' (compiled from another model layout?)");
  }
  if (e->type != type) {
    throw FormatError(path_, "entry '" + std::string(name) + "' is " + std::string(mlf_type_name(e->type)) +
                                 ", expected " + std::string(mlf_type_name(type)));
  }
  if (dims.size() != 0 && !std::equal(dims.begin(), dims.end(), e->dims.begin(), e->dims.end())) {
    throw FormatError(path_, "entry '" + std::string(name) + "' has shape " + dims_string(e->dims) + ", expected " +
                                 dims_string(std::vector<int64_t>(dims)));
  }
  return *e;
}

}  // namespace mlfaas
