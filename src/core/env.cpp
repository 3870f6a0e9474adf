#include "core/env.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "core/errors.hpp"

namespace jobqueue::core {
namespace {

std::string Trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

}  // namespace

Env::Env()
    : lookup_([](const std::string& name) -> std::optional<std::string> {
        const char* value = std::getenv(name.c_str());
        if (value == nullptr) return std::nullopt;
        return std::string(value);
      }) {}

Env::Env(Lookup lookup) : lookup_(std::move(lookup)) {}

std::optional<std::string> Env::Get(const std::string& name) const {
  auto value = lookup_(name);
  if (!value) return std::nullopt;
  auto trimmed = Trim(*value);
  if (trimmed.empty()) return std::nullopt;
  return trimmed;
}

std::string Env::String(const std::string& name, const std::string& fallback) const {
  return Get(name).value_or(fallback);
}

long long Env::Int(const std::string& name, long long fallback, long long min, long long max) const {
  const auto value = Get(name);
  if (!value) return fallback;
  errno = 0;
  char* end = nullptr;
  const long long parsed = std::strtoll(value->c_str(), &end, 10);
  if (errno != 0 || end == value->c_str() || *end != '\0') {
    throw ConfigError(name + ": '" + *value + "' is not an integer");
  }
  if (parsed < min || parsed > max) {
    throw ConfigError(name + ": " + *value + " is out of range [" + std::to_string(min) + ", " +
                      std::to_string(max) + "]");
  }
  return parsed;
}

double Env::Double(const std::string& name, double fallback, double min, double max) const {
  const auto value = Get(name);
  if (!value) return fallback;
  errno = 0;
  char* end = nullptr;
  const double parsed = std::strtod(value->c_str(), &end);
  if (errno != 0 || end == value->c_str() || *end != '\0' || !std::isfinite(parsed)) {
    throw ConfigError(name + ": '" + *value + "' is not a number");
  }
  if (parsed < min || parsed > max) {
    throw ConfigError(name + ": " + *value + " is out of range [" + std::to_string(min) + ", " +
                      std::to_string(max) + "]");
  }
  return parsed;
}

bool Env::Bool(const std::string& name, bool fallback) const {
  const auto value = Get(name);
  if (!value) return fallback;
  if (*value == "1" || *value == "true" || *value == "yes" || *value == "on") return true;
  if (*value == "0" || *value == "false" || *value == "no" || *value == "off") return false;
  throw ConfigError(name + ": '" + *value + "' is not a boolean (true/false)");
}

std::vector<std::string> Env::List(const std::string& name,
                                   const std::vector<std::string>& fallback) const {
  const auto value = Get(name);
  if (!value) return fallback;
  std::vector<std::string> items;
  std::size_t start = 0;
  while (true) {
    const auto comma = value->find(',', start);
    auto item = Trim(value->substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (item.empty()) throw ConfigError(name + ": empty item in '" + *value + "'");
    items.push_back(std::move(item));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return items;
}

double JobRetentionHours(const Env& env) { return env.Double("JOB_RETENTION_HOURS", 168, 0, 24 * 3650); }

}  // namespace jobqueue::core
