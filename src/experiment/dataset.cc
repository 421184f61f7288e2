#include "experiment/dataset.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "common/error.h"

namespace mlfaas::experiment {

namespace {

// RFC 4180: fields separated by commas, quoted fields may hold commas, newlines and doubled quotes.
std::vector<std::vector<std::string>> parse_csv(const std::string& data) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, any = false;
  for (size_t i = 0; i < data.size(); ++i) {
    char c = data[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < data.size() && data[i + 1] == '"') field += '"', ++i;
        else quoted = false;
      } else {
        field += c;
      }
      continue;
    }
    any = true;
    if (c == '"') quoted = true;
    else if (c == ',') row.push_back(std::move(field)), field.clear();
    else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < data.size() && data[i + 1] == '\n') ++i;
      row.push_back(std::move(field)), field.clear();
      rows.push_back(std::move(row)), row.clear();
      any = false;
    } else {
      field += c;
    }
  }
  if (any || !field.empty() || !row.empty()) row.push_back(std::move(field)), rows.push_back(std::move(row));
  return rows;
}

std::vector<nlohmann::json> load(const Dataset& dataset, bool objects_too) {
  std::ifstream in(dataset.path, std::ios::binary);
  if (!in) throw FormatError(dataset.path, "dataset not found (dataset.path in the spec)");
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string data = buffer.str();
  std::vector<nlohmann::json> texts;
  if (!dataset.column.empty()) {
    auto rows = parse_csv(data);
    if (rows.empty()) throw FormatError(dataset.path, "empty CSV file");
    size_t col = rows[0].size();
    for (size_t i = 0; i < rows[0].size(); ++i)
      if (rows[0][i] == dataset.column) col = i;
    if (col == rows[0].size()) throw FormatError(dataset.path, "no column '" + dataset.column + "' in the CSV header");
    for (size_t r = 1; r < rows.size(); ++r)
      if (col < rows[r].size() && !rows[r][col].empty()) texts.push_back(rows[r][col]);
  } else {
    std::istringstream lines(data);
    std::string line;
    size_t number = 0;
    while (std::getline(lines, line)) {
      ++number;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object())
        throw FormatError(dataset.path, "line " + std::to_string(number) + " is not a JSON object");
      auto it = j.find(dataset.field);
      if (objects_too && it != j.end() && it->is_object() && !it->empty()) {
        texts.push_back(*it);
        continue;
      }
      if (it == j.end() || !it->is_string())
        throw FormatError(dataset.path, "line " + std::to_string(number) + " has no " +
                                            (objects_too ? "string or object" : "string") + " field '" +
                                            dataset.field + "'");
      if (!it->get_ref<const std::string&>().empty()) texts.push_back(*it);
    }
  }
  if (texts.empty()) throw FormatError(dataset.path, "the dataset holds no texts");
  return texts;
}

}  // namespace

std::vector<std::string> load_texts(const Dataset& dataset) {
  std::vector<std::string> texts;
  for (auto& item : load(dataset, false)) texts.push_back(item.get<std::string>());
  return texts;
}

std::vector<nlohmann::json> load_items(const Dataset& dataset) { return load(dataset, true); }

}  // namespace mlfaas::experiment
