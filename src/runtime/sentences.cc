#include "runtime/sentences.h"

#include "runtime/handler.h"

namespace mlfaas::runtime {

namespace {
bool blank(const std::string& s) { return s.find_first_not_of(" \t\r\n\f\v") == std::string::npos; }

std::string one_sentence(const nlohmann::json& obj, const std::string& where) {
  const char* key = obj.contains("sentence") ? "sentence" : obj.contains("text") ? "text" : nullptr;
  if (!key)
    throw BadRequest("Missing sentence", where + "must have a field \"sentence\" (or \"text\") holding a string");
  const auto& v = obj[key];
  if (!v.is_string())
    throw BadRequest("Invalid sentence", where + "field \"" + key + "\" must be a string, got " +
                                             std::string(v.type_name()));
  const auto& s = v.get_ref<const std::string&>();
  if (blank(s)) throw BadRequest("Empty sentence", where + "field \"" + key + "\" is empty");
  return s;
}
}  // namespace

SentenceInput extract_sentences(const nlohmann::json& input) {
  if (!input.is_object())
    throw BadRequest("Invalid request", "the body must be a JSON object, got " + std::string(input.type_name()));
  SentenceInput out;
  const char* batch_key = input.contains("batch") ? "batch" : input.contains("Batch") ? "Batch" : nullptr;
  if (!batch_key) {
    out.sentences.push_back(one_sentence(input, ""));
    return out;
  }
  const auto& batch = input[batch_key];
  if (!batch.is_array()) throw BadRequest("Invalid batch", std::string("\"") + batch_key + "\" must be an array");
  if (batch.empty()) throw BadRequest("Empty batch", std::string("\"") + batch_key + "\" has no items");
  if (batch.size() > kMaxBatch)
    throw BadRequest("Batch too large", std::to_string(batch.size()) + " items, at most " +
                                            std::to_string(kMaxBatch));
  out.is_batch = true;
  for (size_t i = 0; i < batch.size(); ++i) {
    const auto& item = batch[i];
    std::string where = std::string(batch_key) + "[" + std::to_string(i) + "] ";
    if (item.is_string()) {
      if (blank(item.get_ref<const std::string&>())) throw BadRequest("Empty sentence", where + "is empty");
      out.sentences.push_back(item.get<std::string>());
    } else if (item.is_object()) {
      out.sentences.push_back(one_sentence(item, where));
    } else {
      throw BadRequest("Invalid sentence", where + "must be a string or an object with \"sentence\"/\"text\"");
    }
  }
  return out;
}

}  // namespace mlfaas::runtime
