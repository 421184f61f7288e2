#pragma once
// POSIX tar (ustar, with pax extended headers for long names), as OCI image layers and oci-archive files hold
// it. The writer produces reproducible archives (mtime 0, uid/gid 0, no user names); the reader takes what
// Docker, BuildKit, umoci and GNU tar write (ustar or GNU magic, pax `x`/`g` headers, GNU `L`/`K` long names,
// octal or base-256 numbers) and checks every header before trusting it: an archive is untrusted input. The
// reader only parses; deciding where an entry may go is the caller's job (oci_image.cc).
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>

namespace mlfaas::platform {

struct TarError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct TarEntry {
  std::string path;  // as written in the archive (may be hostile: "../x", "/etc/passwd")
  char type = '0';   // '0' file, '1' hard link, '2' symlink, '3' char, '4' block, '5' directory, '6' fifo
  unsigned mode = 0644;
  uint64_t size = 0;  // bytes of data that follow (files only)
  std::string link;   // target of a hard or symbolic link
};

class TarWriter {
 public:
  using Sink = std::function<void(const char* data, size_t size)>;
  explicit TarWriter(Sink sink) : sink_(std::move(sink)) {}

  // Writes the entry's header (a pax header first where a name does not fit ustar's fields); a file's
  // `entry.size` bytes must then follow through write(). Names are written as given, unchecked.
  void add(const TarEntry& entry);
  void write(const char* data, size_t size);
  void add_directory(const std::string& path, unsigned mode = 0755);
  void add_symlink(const std::string& path, const std::string& target);
  void add_bytes(const std::string& path, unsigned mode, const std::string& content);
  // Streams a file of this machine into the archive under `path`. Throws TarError if it cannot be read or
  // changes size while being read.
  void add_file(const std::string& path, unsigned mode, const std::string& source);
  // The end-of-archive marker (two zero blocks). Throws TarError if the last file is short of its size.
  void finish();

 private:
  void pad();
  Sink sink_;
  uint64_t remaining_ = 0;  // data bytes still owed to the current entry
  uint64_t written_ = 0;    // data bytes of the current entry so far
};

class TarReader {
 public:
  // Fills `buffer` with up to `size` bytes; 0 at the end of the input.
  using Source = std::function<size_t(char* buffer, size_t size)>;
  explicit TarReader(Source source) : source_(std::move(source)) {}

  // The next entry (pax and GNU long-name records are folded into it); false at the end of the archive.
  // Throws TarError on a malformed or truncated archive. Unread data of the previous entry is skipped.
  bool next(TarEntry& entry);
  // Data of the current entry; 0 when it is all read.
  size_t read(char* buffer, size_t size);

 private:
  void read_exact(char* buffer, size_t size);
  void skip_rest();
  std::string read_record(uint64_t size);
  Source source_;
  uint64_t remaining_ = 0;  // data bytes of the current entry not yet read
  uint64_t padding_ = 0;    // bytes after them to the next 512-byte block
};

}  // namespace mlfaas::platform
