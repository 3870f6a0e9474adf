#pragma once
// Turning C++ values into statement parameters, and a text array back from a
// result, shared by core's classes that run statements (Queue, JobBlobs,
// JobListing, WorkerRegistry).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/binarystring>

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

// Arrays in PostgreSQL's binary format (what array_recv reads), for the
// worker's hot statements: the server then copies each element instead of
// parsing its text. uuid_in alone cost the server 5,500 instructions a lease
// token (bench/README.md, "Instructions per job"). libpqxx 6.4 sends a
// binarystring parameter as binary whatever type the statement gives it.
namespace binary {

inline void PutInt32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
}

// Header of a one-dimensional array of `count` elements of type `oid`
// without NULLs (an empty array has no dimension).
inline std::string ArrayHeader(std::size_t count, std::uint32_t oid) {
  std::string out;
  PutInt32(out, count ? 1 : 0);  // dimensions
  PutInt32(out, 0);              // no NULL elements
  PutInt32(out, oid);
  if (count) {
    PutInt32(out, static_cast<std::uint32_t>(count));
    PutInt32(out, 1);  // lower bound
  }
  return out;
}

inline int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace binary

// A bigint[] parameter.
inline pqxx::binarystring BigintArray(const std::vector<std::int64_t>& items) {
  std::string out = binary::ArrayHeader(items.size(), 20);  // int8
  for (const auto item : items) {
    binary::PutInt32(out, 8);
    const auto v = static_cast<std::uint64_t>(item);
    binary::PutInt32(out, static_cast<std::uint32_t>(v >> 32));
    binary::PutInt32(out, static_cast<std::uint32_t>(v));
  }
  return pqxx::binarystring(out);
}

// A uuid[] parameter from UUIDs in text (8-4-4-4-12 hex digits, as
// PostgreSQL prints them). Throws InvalidArgument("<what>: malformed",
// field) for any other text.
inline pqxx::binarystring UuidArray(const std::vector<std::string>& items, const char* what, const char* field) {
  std::string out = binary::ArrayHeader(items.size(), 2950);  // uuid
  for (const auto& item : items) {
    binary::PutInt32(out, 16);
    const bool shaped = item.size() == 36 && item[8] == '-' && item[13] == '-' && item[18] == '-' && item[23] == '-';
    int nibbles = 0;
    int high = 0;
    for (std::size_t i = 0; shaped && i < item.size(); ++i) {
      if (i == 8 || i == 13 || i == 18 || i == 23) continue;
      const int digit = binary::HexDigit(item[i]);
      if (digit < 0) break;
      if (nibbles++ % 2 == 0) {
        high = digit;
      } else {
        out += static_cast<char>(high << 4 | digit);
      }
    }
    if (!shaped || nibbles != 32) throw InvalidArgument(std::string(what) + ": malformed", field);
  }
  return pqxx::binarystring(out);
}

// A text[] column the statement returned as JSON (array_to_json(...)::text),
// which needs no parser for Postgres array literals.
inline std::vector<std::string> JsonTextArray(const std::string& json) {
  std::vector<std::string> out;
  for (const auto& item : nlohmann::json::parse(json)) out.push_back(item.get<std::string>());
  return out;
}

}  // namespace jobqueue::core::pg
