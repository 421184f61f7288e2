#include "platform/tar.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <vector>

namespace mlfaas::platform {

namespace {

constexpr size_t kBlock = 512;
// pax and GNU long-name records hold a few names; anything bigger is not a header a layer needs.
constexpr uint64_t kMaxRecord = 1 << 20;
constexpr size_t kMaxName = 4096;  // PATH_MAX

void put_octal(char* field, size_t width, uint64_t value) {
  // width-1 digits and a NUL, as ustar writes them.
  std::string digits(width - 1, '0');
  for (size_t i = width - 1; i-- > 0 && value;) {
    digits[i] = char('0' + (value & 7));
    value >>= 3;
  }
  std::memcpy(field, digits.data(), width - 1);
  field[width - 1] = '\0';
}

std::string pax_record(const std::string& key, const std::string& value) {
  // "LEN key=value\n", where LEN counts itself.
  size_t body = key.size() + value.size() + 3;  // space, '=', newline
  size_t len = body + 1;
  while (std::to_string(len).size() + body != len) len = std::to_string(len).size() + body;
  return std::to_string(len) + " " + key + "=" + value + "\n";
}

// A numeric field: octal digits (spaces and NULs around them allowed), or base-256 when the high bit is set.
uint64_t parse_number(const char* field, size_t width, const char* what) {
  const auto* u = reinterpret_cast<const unsigned char*>(field);
  if (u[0] & 0x80) {
    if (u[0] & 0x40) throw TarError(std::string("tar header: negative ") + what);
    uint64_t v = u[0] & 0x3f;
    for (size_t i = 1; i < width; ++i) {
      if (v >> 56) throw TarError(std::string("tar header: ") + what + " out of range");
      v = (v << 8) | u[i];
    }
    return v;
  }
  size_t i = 0;
  while (i < width && field[i] == ' ') ++i;
  uint64_t v = 0;
  for (; i < width && field[i] >= '0' && field[i] <= '7'; ++i) {
    if (v >> 60) throw TarError(std::string("tar header: ") + what + " out of range");
    v = v * 8 + uint64_t(field[i] - '0');
  }
  for (; i < width; ++i)
    if (field[i] != ' ' && field[i] != '\0')
      throw TarError(std::string("tar header: ") + what + " is not an octal number");
  return v;
}

std::string field_string(const char* field, size_t width) { return std::string(field, strnlen(field, width)); }

unsigned checksum(const char* block) {
  unsigned sum = 0;
  for (size_t i = 0; i < kBlock; ++i)
    sum += (i >= 148 && i < 156) ? unsigned(' ') : unsigned(static_cast<unsigned char>(block[i]));
  return sum;
}

void check_name(const std::string& name, const char* what) {
  if (name.size() > kMaxName) throw TarError(std::string("tar header: ") + what + " longer than 4096 bytes");
  if (name.find('\0') != std::string::npos) throw TarError(std::string("tar header: ") + what + " holds a NUL byte");
}

}  // namespace

// ------------------------------------------------------------------ writer

void TarWriter::pad() {
  if (remaining_ != 0) throw TarError("tar: an entry got " + std::to_string(written_) + " bytes, fewer than its size");
  static const char zeros[kBlock] = {};
  if (size_t rest = written_ % kBlock) sink_(zeros, kBlock - rest);
  written_ = 0;
}

void TarWriter::add(const TarEntry& entry) {
  pad();
  std::string pax;
  if (entry.path.size() > 100) pax += pax_record("path", entry.path);
  if (entry.link.size() > 100) pax += pax_record("linkpath", entry.link);
  const bool big = entry.size >= (uint64_t(1) << 33);  // 11 octal digits
  if (big) pax += pax_record("size", std::to_string(entry.size));
  if (!pax.empty()) {
    std::string base = entry.path.substr(entry.path.rfind('/', entry.path.size() - 2) + 1);
    add(TarEntry{("PaxHeader/" + base).substr(0, 100), 'x', 0644, pax.size(), ""});
    write(pax.data(), pax.size());
    pad();
  }
  std::array<char, kBlock> h{};
  std::memcpy(h.data(), entry.path.data(), std::min<size_t>(entry.path.size(), 100));
  put_octal(&h[100], 8, entry.mode & 07777);
  put_octal(&h[108], 8, 0);
  put_octal(&h[116], 8, 0);
  put_octal(&h[124], 12, big ? 0 : entry.size);
  put_octal(&h[136], 12, 0);  // mtime 0: the same inputs give the same digest
  h[156] = entry.type;
  std::memcpy(&h[157], entry.link.data(), std::min<size_t>(entry.link.size(), 100));
  std::memcpy(&h[257], "ustar\0" "00", 8);
  put_octal(&h[329], 8, 0);
  put_octal(&h[337], 8, 0);
  put_octal(&h[148], 7, checksum(h.data()));
  h[155] = ' ';
  sink_(h.data(), h.size());
  remaining_ = entry.type == '0' || entry.type == 'x' ? entry.size : 0;
}

void TarWriter::write(const char* data, size_t size) {
  if (size > remaining_) throw TarError("tar: more data than the entry's size");
  sink_(data, size);
  remaining_ -= size;
  written_ += size;
}

void TarWriter::add_directory(const std::string& path, unsigned mode) {
  add(TarEntry{path.ends_with('/') ? path : path + "/", '5', mode, 0, ""});
}

void TarWriter::add_symlink(const std::string& path, const std::string& target) {
  add(TarEntry{path, '2', 0777, 0, target});
}

void TarWriter::add_bytes(const std::string& path, unsigned mode, const std::string& content) {
  add(TarEntry{path, '0', mode, content.size(), ""});
  write(content.data(), content.size());
}

void TarWriter::add_file(const std::string& path, unsigned mode, const std::string& source) {
  std::ifstream in(source, std::ios::binary | std::ios::ate);
  if (!in) throw TarError(source + ": cannot open");
  const auto size = uint64_t(in.tellg());
  in.seekg(0);
  add(TarEntry{path, '0', mode, size, ""});
  std::vector<char> buffer(1 << 20);
  uint64_t left = size;
  while (left > 0) {
    in.read(buffer.data(), std::streamsize(std::min<uint64_t>(left, buffer.size())));
    auto got = size_t(in.gcount());
    if (got == 0) throw TarError(source + ": shrank while being archived");
    write(buffer.data(), got);
    left -= got;
  }
}

void TarWriter::finish() {
  pad();
  static const char zeros[2 * kBlock] = {};
  sink_(zeros, sizeof zeros);
}

// ------------------------------------------------------------------ reader

void TarReader::read_exact(char* buffer, size_t size) {
  while (size > 0) {
    size_t got = source_(buffer, size);
    if (got == 0) throw TarError("tar: truncated archive");
    buffer += got;
    size -= got;
  }
}

void TarReader::skip_rest() {
  char scratch[16384];
  uint64_t left = remaining_ + padding_;
  while (left > 0) {
    size_t n = size_t(std::min<uint64_t>(left, sizeof scratch));
    read_exact(scratch, n);
    left -= n;
  }
  remaining_ = padding_ = 0;
}

size_t TarReader::read(char* buffer, size_t size) {
  size_t n = size_t(std::min<uint64_t>(size, remaining_));
  if (n == 0) return 0;
  read_exact(buffer, n);
  remaining_ -= n;
  return n;
}

std::string TarReader::read_record(uint64_t size) {
  if (size > kMaxRecord) throw TarError("tar: extended header of " + std::to_string(size) + " bytes (at most 1 MiB)");
  std::string record(size_t(size), '\0');
  read_exact(record.data(), record.size());
  uint64_t pad = (kBlock - size % kBlock) % kBlock;
  char scratch[kBlock];
  read_exact(scratch, size_t(pad));
  return record;
}

bool TarReader::next(TarEntry& entry) {
  skip_rest();
  std::string pax_path, pax_link, gnu_path, gnu_link;
  bool have_pax_size = false;
  uint64_t pax_size = 0;
  for (;;) {
    char h[kBlock];
    size_t first = source_(h, kBlock);
    if (first == 0) return false;  // no end marker; tolerated, as GNU tar does
    if (first < kBlock) read_exact(h + first, kBlock - first);
    if (std::all_of(h, h + kBlock, [](char c) { return c == 0; })) return false;  // end of archive
    const unsigned stored = unsigned(parse_number(&h[148], 8, "checksum"));
    if (stored != checksum(h)) throw TarError("tar: header checksum mismatch (not a tar archive, or corrupt)");
    if (std::memcmp(&h[257], "ustar", 5) != 0) throw TarError("tar: not a ustar header (pre-POSIX tar is not supported)");
    const char type = h[156] == '\0' ? '0' : h[156];
    const uint64_t size = parse_number(&h[124], 12, "size");
    if (type == 'x' || type == 'g') {
      std::string record = read_record(size);
      if (type == 'g') continue;  // global defaults: nothing a layer needs
      for (size_t pos = 0; pos < record.size();) {
        size_t space = record.find(' ', pos);
        if (space == std::string::npos) throw TarError("tar: malformed pax record");
        size_t len = 0;
        for (size_t i = pos; i < space; ++i) {
          if (record[i] < '0' || record[i] > '9' || len > kMaxRecord) throw TarError("tar: malformed pax record length");
          len = len * 10 + size_t(record[i] - '0');
        }
        if (len <= space - pos + 1 || pos + len > record.size() || record[pos + len - 1] != '\n')
          throw TarError("tar: malformed pax record");
        std::string kv = record.substr(space + 1, pos + len - space - 2);
        size_t eq = kv.find('=');
        if (eq == std::string::npos) throw TarError("tar: pax record without '='");
        std::string key = kv.substr(0, eq), value = kv.substr(eq + 1);
        if (key == "path") pax_path = value;
        else if (key == "linkpath") pax_link = value;
        else if (key == "size") {
          if (value.empty() || value.size() > 19 || value.find_first_not_of("0123456789") != std::string::npos)
            throw TarError("tar: pax size '" + value + "' is not a number");
          pax_size = std::stoull(value);
          have_pax_size = true;
        }
        pos += len;
      }
      continue;
    }
    if (type == 'L' || type == 'K') {
      std::string name = read_record(size);
      name.resize(strnlen(name.data(), name.size()));
      (type == 'L' ? gnu_path : gnu_link) = name;
      continue;
    }
    entry = TarEntry{};
    entry.type = type;
    entry.mode = unsigned(parse_number(&h[100], 8, "mode") & 07777);
    entry.size = have_pax_size ? pax_size : size;
    std::string prefix = std::memcmp(&h[257], "ustar\0", 6) == 0 ? field_string(&h[345], 155) : "";
    std::string name = field_string(&h[0], 100);
    entry.path = !pax_path.empty() ? pax_path : !gnu_path.empty() ? gnu_path : prefix.empty() ? name : prefix + "/" + name;
    entry.link = !pax_link.empty() ? pax_link : !gnu_link.empty() ? gnu_link : field_string(&h[157], 100);
    check_name(entry.path, "name");
    check_name(entry.link, "link name");
    // Only regular files carry data in a layer; a size on anything else is skipped as data all the same, as tar
    // does, so that the next header is found where it is.
    remaining_ = entry.size;
    padding_ = (kBlock - entry.size % kBlock) % kBlock;
    if (type != '0' && type != '7') {
      skip_rest();
      entry.size = 0;
    }
    if (type == '7') entry.type = '0';  // contiguous file: a regular file
    return true;
  }
}

}  // namespace mlfaas::platform
