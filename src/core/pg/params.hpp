#pragma once
// Turning C++ values into statement parameters, and a text array back from a
// result, shared by core's classes that run statements (Queue, JobBlobs,
// JobListing, WorkerRegistry).
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/errors.hpp"

namespace jobqueue::core::pg {

// An optional text parameter: null (SQL NULL) when unset.
inline const char* OrNull(const std::optional<std::string>& value) { return value ? value->c_str() : nullptr; }

// A JSON parameter as text. Throws InvalidArgument naming `field` when a
// string in it is not valid UTF-8.
inline std::string DumpJson(const nlohmann::json& value, const char* field) {
  try {
    return value.dump();
  } catch (const nlohmann::json::exception&) {
    throw InvalidArgument(std::string(field) + ": contains invalid UTF-8", field);
  }
}

// A Postgres array literal of quoted elements: {"a","b\"c"}.
inline std::string TextArray(const std::vector<std::string>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

// A text[] column the statement returned as JSON (array_to_json(...)::text),
// which needs no parser for Postgres array literals.
inline std::vector<std::string> JsonTextArray(const std::string& json) {
  std::vector<std::string> out;
  for (const auto& item : nlohmann::json::parse(json)) out.push_back(item.get<std::string>());
  return out;
}

}  // namespace jobqueue::core::pg
