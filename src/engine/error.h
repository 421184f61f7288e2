#pragma once
// Errors the engine reports about its inputs. Every problem with a file is one line naming the file and the
// problem; the CLI prints what() and exits with status 2.
#include <stdexcept>
#include <string>

namespace mlfaas {

class FormatError : public std::runtime_error {
 public:
  FormatError(const std::string& path, const std::string& problem)
      : std::runtime_error(path + ": " + problem), path_(path), problem_(problem) {}
  const std::string& path() const { return path_; }
  const std::string& problem() const { return problem_; }

 private:
  std::string path_;
  std::string problem_;
};

// A bad request to a model that is otherwise fine (e.g. an input too long for the position table).
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace mlfaas
