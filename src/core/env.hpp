#pragma once
// Typed reads of configuration variables for the binaries' main(). Every
// refusal is a ConfigError whose message starts with the variable's name.
// Core itself never reads the environment: mains fill Config structs.
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace jobqueue::core {

class Env {
 public:
  using Lookup = std::function<std::optional<std::string>(const std::string&)>;

  // Reads the process environment.
  Env();
  // Reads from `lookup` (tests).
  explicit Env(Lookup lookup);

  // Unset or empty: `fallback`.
  std::string String(const std::string& name, const std::string& fallback) const;
  long long Int(const std::string& name, long long fallback, long long min, long long max) const;
  double Double(const std::string& name, double fallback, double min, double max) const;
  bool Bool(const std::string& name, bool fallback) const;
  // Comma-separated, items trimmed, empty items refused.
  std::vector<std::string> List(const std::string& name, const std::vector<std::string>& fallback) const;

 private:
  std::optional<std::string> Get(const std::string& name) const;
  Lookup lookup_;
};

// JOB_RETENTION_HOURS (168; 0 to 10 years), read by two binaries: the reaper
// prunes finished jobs older than this, and at 0 workers delete each job
// that succeeds. One reading, so the two never disagree on its default.
double JobRetentionHours(const Env& env);

}  // namespace jobqueue::core
