// pytorch_model.bin: the zip archive torch.save writes (PyTorch >= 1.6): <prefix>/data.pkl holds the pickled state
// dict, <prefix>/data/<key> the raw little-endian bytes of each storage, stored uncompressed. The archive is read
// through libzip from our own mapping of the file; storages that are stored uncompressed are used in place
// (zero copy), anything else (compressed entries, non-contiguous tensors) is copied into buffers this object owns.
#include <zip.h>

#include <cstring>
#include <limits>
#include <memory>

#include "engine/error.h"
#include "engine/formats/mapped_file.h"
#include "engine/formats/pickle.h"
#include "engine/formats/weights.h"

namespace mlfaas {
namespace {

// data.pkl, byteorder: a state dict pickle takes ~150 bytes per tensor, so even 100k tensors stay far below this;
// the cap also bounds the unpickler's memory (its values are ~100 bytes per input byte at worst).
constexpr uint64_t kMaxSmallEntry = 64u << 20;

// A libzip source over bytes we already have in memory. It also remembers where its last read started: after
// libzip opens a stored entry and reads its first bytes, that is where the entry's data lies in the file, which
// lets tensors point into the mapping. The position is verified against the bytes libzip returned.
struct MemorySource {
  std::span<const std::byte> bytes;
  uint64_t pos = 0;
  uint64_t last_read_at = 0;
  zip_error_t error{};

  explicit MemorySource(std::span<const std::byte> b) : bytes(b) { zip_error_init(&error); }
  ~MemorySource() { zip_error_fini(&error); }
  MemorySource(const MemorySource&) = delete;
  MemorySource& operator=(const MemorySource&) = delete;

  static zip_int64_t callback(void* user, void* data, zip_uint64_t len, zip_source_cmd_t cmd) {
    auto* self = static_cast<MemorySource*>(user);
    const uint64_t size = self->bytes.size();
    switch (cmd) {
      case ZIP_SOURCE_OPEN: self->pos = 0; return 0;
      case ZIP_SOURCE_READ: {
        const uint64_t n = std::min<uint64_t>(len, size - std::min(self->pos, size));
        if (n > 0) std::memcpy(data, self->bytes.data() + self->pos, n);
        self->last_read_at = self->pos;
        self->pos += n;
        return static_cast<zip_int64_t>(n);
      }
      case ZIP_SOURCE_CLOSE: return 0;
      case ZIP_SOURCE_STAT: {
        if (len < sizeof(zip_stat_t)) {
          zip_error_set(&self->error, ZIP_ER_INVAL, 0);
          return -1;
        }
        auto* st = static_cast<zip_stat_t*>(data);
        zip_stat_init(st);
        st->size = size;
        st->valid |= ZIP_STAT_SIZE;
        return sizeof(zip_stat_t);
      }
      case ZIP_SOURCE_ERROR: return zip_error_to_data(&self->error, data, len);
      case ZIP_SOURCE_FREE: return 0;
      case ZIP_SOURCE_SEEK: {
        const zip_int64_t to = zip_source_seek_compute_offset(self->pos, size, data, len, &self->error);
        if (to < 0) return -1;
        self->pos = static_cast<uint64_t>(to);
        return 0;
      }
      case ZIP_SOURCE_TELL: return static_cast<zip_int64_t>(self->pos);
      case ZIP_SOURCE_SUPPORTS:
        return zip_source_make_command_bitmap(ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE, ZIP_SOURCE_STAT,
                                              ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE, ZIP_SOURCE_SEEK, ZIP_SOURCE_TELL,
                                              ZIP_SOURCE_SUPPORTS, -1);
      default:
        zip_error_set(&self->error, ZIP_ER_OPNOTSUPP, 0);
        return -1;
    }
  }
};

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
struct ZipFileCloser {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};
using ZipPtr = std::unique_ptr<zip_t, ZipCloser>;
using ZipFilePtr = std::unique_ptr<zip_file_t, ZipFileCloser>;

struct Entry {
  zip_uint64_t index = 0;
  std::string name;
  uint64_t size = 0;
  uint64_t compressed_size = 0;
  bool stored = false;  // uncompressed and unencrypted
};

// Deflate cannot expand data more than ~1032:1; an entry claiming more is lying, and must not make us allocate.
constexpr uint64_t kMaxDeflateRatio = 1032;

class PytorchBinFile final : public WeightFile {
 public:
  PytorchBinFile(const std::string& path, std::span<const std::byte> bytes, std::unique_ptr<MappedFile> mapping)
      : WeightFile(path), mapping_(std::move(mapping)), source_(bytes) {
    if (bytes.size() >= 2 && bytes[0] == std::byte{0x80} && static_cast<uint8_t>(bytes[1]) <= 5) {
      fail("legacy (pre-1.6) torch.save format is not supported; re-save it with torch >= 1.6 or as safetensors");
    }
    if (bytes.size() < 4 || std::memcmp(bytes.data(), "PK\x03\x04", 4) != 0) {
      fail("not a torch.save zip archive (no zip signature at the start)");
    }
    open_archive();
    const Entry pkl = find_data_pkl();
    prefix_ = pkl.name.substr(0, pkl.name.size() - std::strlen("data.pkl"));
    check_byte_order();
    const std::string pickle = read_small(pkl);
    PickledStateDict dict = unpickle_state_dict(std::as_bytes(std::span(pickle.data(), pickle.size())), path_, pkl.name);

    std::vector<const std::byte*> storage_data;
    storage_data.reserve(dict.storages.size());
    for (const PickledStorage& s : dict.storages) storage_data.push_back(load_storage(s));
    for (PickledTensor& t : dict.tensors) add_tensor(t, dict.storages[t.storage], storage_data[t.storage]);
    archive_.reset();  // everything needed is in the mapping or in owned_; libzip is done
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const { throw FormatError(path_, problem); }

  void open_archive() {
    zip_error_t err;
    zip_error_init(&err);
    zip_source_t* src = zip_source_function_create(&MemorySource::callback, &source_, &err);
    if (src == nullptr) {
      const std::string why = zip_error_strerror(&err);
      zip_error_fini(&err);
      fail("cannot read zip archive: " + why);
    }
    zip_t* z = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &err);
    if (z == nullptr) {
      zip_source_free(src);
      const std::string why = zip_error_strerror(&err);
      zip_error_fini(&err);
      fail("truncated or damaged zip archive (" + why + ")");
    }
    zip_error_fini(&err);
    archive_.reset(z);
  }

  Entry entry_at(zip_uint64_t index) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(archive_.get(), index, 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME) || !(st.valid & ZIP_STAT_SIZE)) {
      fail("damaged zip archive: cannot read entry " + std::to_string(index));
    }
    Entry e;
    e.index = index;
    e.name = st.name;
    e.size = st.size;
    e.compressed_size = (st.valid & ZIP_STAT_COMP_SIZE) ? st.comp_size : st.size;
    e.stored = (st.valid & ZIP_STAT_COMP_METHOD) && st.comp_method == ZIP_CM_STORE &&
               (!(st.valid & ZIP_STAT_ENCRYPTION_METHOD) || st.encryption_method == ZIP_EM_NONE);
    return e;
  }

  bool find_entry(const std::string& name, Entry* out) {
    const zip_int64_t i = zip_name_locate(archive_.get(), name.c_str(), 0);
    if (i < 0) return false;
    *out = entry_at(static_cast<zip_uint64_t>(i));
    return true;
  }

  Entry find_data_pkl() {
    const zip_int64_t n = zip_get_num_entries(archive_.get(), 0);
    Entry found;
    int count = 0;
    for (zip_int64_t i = 0; i < n; ++i) {
      const char* name = zip_get_name(archive_.get(), static_cast<zip_uint64_t>(i), 0);
      if (name == nullptr) continue;
      const std::string_view s(name);
      if (s == "data.pkl" || (s.size() > 9 && s.substr(s.size() - 9) == "/data.pkl")) {
        if (++count == 1) found = entry_at(static_cast<zip_uint64_t>(i));
      }
    }
    if (count == 0) fail("zip archive has no data.pkl, so it is not a torch.save file");
    if (count > 1) fail("zip archive has " + std::to_string(count) + " data.pkl entries");
    return found;
  }

  void check_byte_order() {
    Entry e;
    if (!find_entry(prefix_ + "byteorder", &e)) return;  // torch < 1.12 wrote none: little-endian
    std::string order = read_small(e);
    if (order != "little") fail("byte order '" + order.substr(0, 16) + "' is not supported (only little-endian)");
  }

  // Before allocating for an entry, its claimed size must be possible given the bytes actually in the file.
  void check_claimed_size(const Entry& e) const {
    const uint64_t file = source_.bytes.size();
    const uint64_t packed = std::min(e.compressed_size, file);
    const uint64_t possible = e.stored ? packed : (packed > std::numeric_limits<uint64_t>::max() / kMaxDeflateRatio ? std::numeric_limits<uint64_t>::max() : packed * kMaxDeflateRatio + 64);
    if (e.size > possible) {
      fail(e.name + " claims " + std::to_string(e.size) + " bytes from " + std::to_string(e.compressed_size) +
           " stored bytes, which is impossible");
    }
  }

  std::string read_small(const Entry& e) {
    if (e.size > kMaxSmallEntry) fail(e.name + " is " + std::to_string(e.size) + " bytes, larger than any state dict needs");
    check_claimed_size(e);
    std::string out(static_cast<size_t>(e.size), '\0');
    read_entry(e, out.data(), out.size());
    return out;
  }

  void read_entry(const Entry& e, void* out, size_t n) {
    ZipFilePtr f(zip_fopen_index(archive_.get(), e.index, 0));
    if (!f) fail("cannot open " + e.name + " in the zip archive (" + zip_strerror(archive_.get()) + ")");
    size_t got = 0;
    while (got < n) {
      const zip_int64_t r = zip_fread(f.get(), static_cast<char*>(out) + got, n - got);
      if (r < 0) fail("cannot read " + e.name + " (" + zip_file_strerror(f.get()) + ")");
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    if (got != n) fail(e.name + " is truncated (" + std::to_string(got) + " of " + std::to_string(n) + " bytes)");
    // libzip checks an entry's CRC only when a read reaches its end, so ask for one byte more. Fuzz builds skip
    // it: a fuzzer cannot forge CRCs, and would never get a mutated data.pkl past this point.
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    if (n == e.size) {
      char extra;
      if (zip_fread(f.get(), &extra, 1) != 0) fail(e.name + " is damaged (" + zip_file_strerror(f.get()) + ")");
    }
#endif
  }

  // Where a stored entry's bytes lie in the file, or nullptr when they cannot be used in place.
  const std::byte* locate_in_place(const Entry& e) {
    if (!e.stored || e.size == 0) return nullptr;
    ZipFilePtr f(zip_fopen_index(archive_.get(), e.index, 0));
    if (!f) fail("cannot open " + e.name + " in the zip archive (" + zip_strerror(archive_.get()) + ")");
    std::byte probe[64];
    const size_t want = static_cast<size_t>(std::min<uint64_t>(sizeof probe, e.size));
    const zip_int64_t r = zip_fread(f.get(), probe, want);
    if (r != static_cast<zip_int64_t>(want)) fail(e.name + " is truncated");
    const uint64_t at = source_.last_read_at;
    const auto file = source_.bytes;
    if (at > file.size() || e.size > file.size() - at) return nullptr;
    if (std::memcmp(file.data() + at, probe, want) != 0) return nullptr;
    return file.data() + at;
  }

  const std::byte* load_storage(const PickledStorage& s) {
    const std::string name = prefix_ + "data/" + s.key;
    Entry e;
    if (!find_entry(name, &e)) fail("storage " + name + " named by the pickle is missing from the archive");
    const uint64_t elem = dtype_size(s.dtype);
    if (s.numel > std::numeric_limits<uint64_t>::max() / elem || s.numel * elem > e.size) {
      fail("storage " + name + " has " + std::to_string(e.size) + " bytes, but the pickle declares " +
           std::to_string(s.numel) + " x " + std::string(dtype_name(s.dtype)) + " elements");
    }
    if (const std::byte* p = locate_in_place(e)) return p;
    check_claimed_size(e);
    const size_t n = static_cast<size_t>(s.numel * elem);
    owned_.emplace_back(n);
    if (n > 0) read_entry(e, owned_.back().data(), n);
    return owned_.back().data();
  }

  void add_tensor(const PickledTensor& t, const PickledStorage& s, const std::byte* base) {
    auto bad = [&](const std::string& what) { return FormatError(path_, "tensor '" + t.name + "': " + what); };
    const uint64_t elem = dtype_size(s.dtype);
    uint64_t numel = 1;
    for (int64_t d : t.sizes) {
      if (d != 0 && numel > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(d)) throw bad("shape overflows");
      numel *= static_cast<uint64_t>(d);
    }
    TensorView v;
    v.name = t.name;
    v.dtype = s.dtype;
    v.shape = t.sizes;
    v.nbytes = numel * elem;  // numel <= storage numel (checked below), so no overflow
    if (numel == 0) {
      v.data = base;
      v.nbytes = 0;
      add(std::move(v));
      return;
    }
    // The furthest element the tensor touches must lie inside its storage.
    uint64_t last = t.storage_offset;
    bool contiguous = true;
    uint64_t expected_stride = 1;
    for (size_t k = t.sizes.size(); k-- > 0;) {
      const uint64_t size = static_cast<uint64_t>(t.sizes[k]);
      const uint64_t stride = static_cast<uint64_t>(t.strides[k]);
      if (size > 1 && stride != expected_stride) contiguous = false;
      expected_stride *= size;
      if (stride != 0 && (size - 1) > (std::numeric_limits<uint64_t>::max() - last) / stride) throw bad("strides overflow");
      last += (size - 1) * stride;
    }
    if (numel > s.numel || last >= s.numel) {
      throw bad("shape " + shape_string(t.sizes) + " at offset " + std::to_string(t.storage_offset) +
                " needs more than the " + std::to_string(s.numel) + " elements of storage data/" + s.key);
    }
    if (contiguous) {
      v.data = base + t.storage_offset * elem;
      add(std::move(v));
      return;
    }
    // Strided views (e.g. a saved transpose) are copied into row-major order. Each copy is no larger than its
    // storage, but many views of one storage could still multiply memory, so all copies together may not exceed
    // the file's size.
    copied_bytes_ += v.nbytes;
    if (copied_bytes_ > source_.bytes.size()) {
      throw bad("strided tensors would need more memory than the file's size to copy");
    }
    auto& out = owned_.emplace_back(static_cast<size_t>(v.nbytes));
    std::vector<uint64_t> index(t.sizes.size(), 0);
    for (uint64_t n = 0; n < numel; ++n) {
      uint64_t src = t.storage_offset;
      for (size_t k = 0; k < index.size(); ++k) src += index[k] * static_cast<uint64_t>(t.strides[k]);
      std::memcpy(out.data() + n * elem, base + src * elem, elem);
      for (size_t k = index.size(); k-- > 0;) {
        if (++index[k] < static_cast<uint64_t>(t.sizes[k])) break;
        index[k] = 0;
      }
    }
    v.data = out.data();
    add(std::move(v));
  }

  std::unique_ptr<MappedFile> mapping_;  // null when reading caller-owned bytes
  MemorySource source_;
  ZipPtr archive_;
  std::string prefix_;
  std::vector<std::vector<std::byte>> owned_;
  uint64_t copied_bytes_ = 0;
};

}  // namespace

std::unique_ptr<WeightFile> open_pytorch_bin(const std::string& path) {
  auto mapping = std::make_unique<MappedFile>(path);
  const auto bytes = mapping->bytes();
  return std::make_unique<PytorchBinFile>(path, bytes, std::move(mapping));
}

std::unique_ptr<WeightFile> open_pytorch_bin_bytes(std::span<const std::byte> bytes, const std::string& name) {
  return std::make_unique<PytorchBinFile>(name, bytes, nullptr);
}

}  // namespace mlfaas
