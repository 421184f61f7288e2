#pragma once
// Read-only memory mapping of a whole file. Model weights are used in place from the page cache, so loading a
// model costs no copy and its pages are shared between processes.
#include <cstddef>
#include <span>
#include <string>

namespace mlfaas {

class MappedFile {
 public:
  // Throws FormatError naming `path` when the file is missing, unreadable or not a regular file.
  explicit MappedFile(std::string path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;

  const std::string& path() const { return path_; }
  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const std::byte> bytes() const { return {data_, size_}; }

 private:
  std::string path_;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

// Reads a whole (small) file into a string; throws FormatError naming the file when it cannot.
std::string read_text_file(const std::string& path);

}  // namespace mlfaas
