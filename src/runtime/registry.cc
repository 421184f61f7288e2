#include <sys/stat.h>

#include "runtime/handler.h"

namespace mlfaas::runtime {

size_t Handler::batch_size(const nlohmann::json& input) const {
  for (const char* key : {"batch", "Batch"})
    if (input.is_object() && input.contains(key) && input[key].is_array()) return input[key].size();
  return 1;
}

void HandlerRegistry::add(const std::string& name, std::string description, HandlerFactory factory) {
  entries_[name] = Entry{std::move(description), std::move(factory)};
}

const HandlerFactory* HandlerRegistry::find(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second.factory;
}

std::vector<std::pair<std::string, std::string>> HandlerRegistry::list() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, entry] : entries_) out.emplace_back(name, entry.description);
  return out;
}

const HandlerRegistry& HandlerRegistry::builtin() {
  static const HandlerRegistry registry = [] {
    HandlerRegistry r;
    register_diagnostic_handlers(r);
#ifdef MLFAAS_HAVE_EMOTION
    register_emotion_handler(r);
    register_classic_handlers(r);
    register_llm_handler(r);
    register_fill_mask_handler(r);
#endif
    return r;
  }();
  return registry;
}

static bool is_dir(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string resolve_model_dir(const HandlerSetup& setup, const std::string& handler_name, bool compiled_ok) {
  if (!setup.model_path.empty()) return setup.model_path;
  std::string root = setup.task_root.empty() ? "." : setup.task_root;
  // A compiled model first: it starts in milliseconds (docs/FORMATS.md).
  struct stat st{};
  if (compiled_ok && ::stat((root + "/model.mlf").c_str(), &st) == 0 && S_ISREG(st.st_mode)) return root + "/model.mlf";
  if (is_dir(root + "/model")) return root + "/model";
  return root + "/models/" + handler_name;
}

}  // namespace mlfaas::runtime
