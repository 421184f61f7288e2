#pragma once
// Scratch files for unit tests: a fresh directory per test name and process, and a one-call file writer.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace mlfaas::testing {

// An empty directory under the system's temporary directory, unique to `prefix`, `name` and this process.
inline std::filesystem::path fresh_temp_dir(const std::string& prefix, const std::string& name) {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / (prefix + "-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Writes `text` to `path`; returns the path as a string.
inline std::string write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path) << text;
  return path.string();
}

}  // namespace mlfaas::testing
