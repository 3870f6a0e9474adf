#include "core/log.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <thread>

#include "core/errors.hpp"

namespace jobqueue::core {
namespace {

// Marks a message that LogFields already rendered as a JSON object.
constexpr char kFieldsMarker = '\x1e';
LogFormat g_format = LogFormat::kConsole;

}  // namespace

std::string Rfc3339Utc(std::chrono::system_clock::time_point time) {
  const auto since_epoch = time.time_since_epoch();
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - secs);
  std::time_t t = secs.count();
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[40];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  char full[48];
  std::snprintf(full, sizeof full, "%s.%03dZ", stamp, static_cast<int>(millis.count()));
  return full;
}

namespace {

// One JSON object per line; never lets a hostile message break the line.
class JsonFormatter : public spdlog::formatter {
 public:
  explicit JsonFormatter(std::string component) : component_(std::move(component)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    nlohmann::json line;
    line["time"] = Rfc3339Utc(msg.time);
    line["level"] = std::string(spdlog::level::to_string_view(msg.level).data(),
                                spdlog::level::to_string_view(msg.level).size());
    if (!component_.empty()) line["component"] = component_;
    std::string text(msg.payload.data(), msg.payload.size());
    if (!text.empty() && text[0] == kFieldsMarker) {
      auto parsed = nlohmann::json::parse(text.substr(1), nullptr, false);
      if (parsed.is_object()) {
        for (auto& [key, value] : parsed.items()) line[key] = value;
      }
    } else {
      line["msg"] = text;
    }
    const auto out = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    dest.append(out.data(), out.data() + out.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>(component_);
  }

 private:
  std::string component_;
};

}  // namespace

spdlog::level::level_enum ParseLogLevel(const std::string& text) {
  std::string lower = text;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  // spdlog 1.10 names the warn level "warning"; accept both spellings.
  if (lower == "warn" || lower == "warning") return spdlog::level::warn;
  if (lower == "fatal") lower = "critical";
  for (int i = spdlog::level::trace; i < spdlog::level::n_levels; ++i) {
    const auto name = spdlog::level::to_string_view(static_cast<spdlog::level::level_enum>(i));
    if (lower == std::string(name.data(), name.size())) {
      return static_cast<spdlog::level::level_enum>(i);
    }
  }
  throw ConfigError("LOG_LEVEL: unknown level '" + text +
                    "' (expected trace, debug, info, warn, error, critical or off)");
}

LogFormat ParseLogFormat(const std::string& text) {
  std::string lower = text;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  if (lower == "json") return LogFormat::kJson;
  if (lower == "console" || lower == "text") return LogFormat::kConsole;
  throw ConfigError("LOG_FORMAT: unknown format '" + text + "' (expected json or console)");
}

namespace {

using FileSink = spdlog::sinks::stdout_sink_base<spdlog::details::console_mutex>;

// Makes fd 2 a pipe and returns a FILE* on a copy of the old fd 2 for the
// logger; a detached thread logs each line written to the pipe. Null (and
// nothing changed) when a pipe or fd cannot be had.
FILE* CaptureStderr() {
  int fds[2];
  const int original = dup(STDERR_FILENO);
  if (original < 0) return nullptr;
  if (pipe(fds) != 0) {
    close(original);
    return nullptr;
  }
  FILE* out = fdopen(original, "w");
  if (!out || dup2(fds[1], STDERR_FILENO) < 0) {
    if (out) fclose(out);
    close(fds[0]);
    close(fds[1]);
    return nullptr;
  }
  close(fds[1]);
  // stderr is unbuffered; a FILE* from fdopen is not. Line-buffer it so each
  // log line leaves at once, as it did on stderr.
  setvbuf(out, nullptr, _IOLBF, 0);
  std::thread([fd = fds[0]] {
    constexpr std::size_t kMaxLine = 4096;  // longer lines are cut, not buffered
    std::string line;
    char buffer[4096];
    for (;;) {
      const ssize_t n = read(fd, buffer, sizeof buffer);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        return;
      }
      for (ssize_t i = 0; i < n; ++i) {
        if (buffer[i] == '\n') {
          if (!line.empty()) spdlog::warn("{}", LogFields("stderr", {{"line", line}}));
          line.clear();
        } else if (line.size() < kMaxLine) {
          line += buffer[i];
        }
      }
    }
  }).detach();
  return out;
}

}  // namespace

void InitLogging(const LogConfig& config) {
  FILE* captured = config.capture_stderr ? CaptureStderr() : nullptr;
  spdlog::sink_ptr sink = captured ? spdlog::sink_ptr(std::make_shared<FileSink>(captured))
                                   : spdlog::sink_ptr(std::make_shared<spdlog::sinks::stderr_sink_mt>());
  auto logger = std::make_shared<spdlog::logger>("jobqueue", sink);
  g_format = config.format;
  if (config.format == LogFormat::kJson) {
    logger->set_formatter(std::make_unique<JsonFormatter>(config.component));
  } else {
    const std::string prefix = config.component.empty() ? "" : "[" + config.component + "] ";
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ " + prefix + "%v");
  }
  logger->set_level(ParseLogLevel(config.level));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

std::string LogFields(const std::string& message, const nlohmann::json& fields) {
  if (g_format == LogFormat::kJson) {
    nlohmann::json line = fields.is_object() ? fields : nlohmann::json::object();
    line["msg"] = message;
    return kFieldsMarker + line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  std::string out = message;
  if (fields.is_object()) {
    for (const auto& [key, value] : fields.items()) {
      out += " " + key + "=" +
             (value.is_string() ? value.get<std::string>()
                                : value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    }
  }
  return out;
}

}  // namespace jobqueue::core
