#pragma once
// Errors about inputs, shared by the engine, the load tester and the experiment runner (so neither of the
// last two links the engine). Every problem with a file is one line naming the file and the problem; the CLI
// prints what() and exits with status 2.
#include <stdexcept>
#include <string>

namespace mlfaas {

// Control characters (a newline inside a crafted tensor name, say) are written as \xNN so that the message stays
// one line whatever the input holds.
inline std::string one_line(const std::string& text) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

class FormatError : public std::runtime_error {
 public:
  FormatError(const std::string& path, const std::string& problem)
      : std::runtime_error(one_line(path) + ": " + one_line(problem)), path_(one_line(path)), problem_(one_line(problem)) {}
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
