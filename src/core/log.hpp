#pragma once
// Process-wide logging on spdlog: LOG_LEVEL and LOG_FORMAT as in DESIGN.md.
// JSON lines carry time, level, msg and the fields passed to LogFields.
#include <chrono>
#include <string>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace jobqueue::core {

enum class LogFormat { kConsole, kJson };

struct LogConfig {
  std::string level = "info";  // trace|debug|info|warn|error|critical|off (any case)
  LogFormat format = LogFormat::kConsole;
  std::string component;       // "api", "worker", ... added to every line
  // Route what libraries write to stderr (libpng warnings, OpenCV) through
  // the logger, one line each, so JSON logs stay parseable: fd 2 becomes a
  // pipe read by a thread, and the logger writes to a copy of the old fd 2.
  bool capture_stderr = false;
};

// "2026-12-01T06:00:00.123Z": log lines' time, and timestamps we hand to
// PostgreSQL.
std::string Rfc3339Utc(std::chrono::system_clock::time_point time);

// Installs the default logger. Throws ConfigError for an unknown level.
void InitLogging(const LogConfig& config);

// Parses LOG_LEVEL / LOG_FORMAT values; throw ConfigError naming the variable.
spdlog::level::level_enum ParseLogLevel(const std::string& text);
LogFormat ParseLogFormat(const std::string& text);

// Formats a message with structured fields: in JSON mode the fields become
// keys of the line; in console mode they are appended as key=value.
std::string LogFields(const std::string& message, const nlohmann::json& fields);

}  // namespace jobqueue::core
