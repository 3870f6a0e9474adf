#include "api/request_validation.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <limits>

#include "api/api_error.hpp"
#include "core/errors.hpp"
#include "core/queue.hpp"

namespace jobqueue::api {
namespace {

constexpr double kMaxDelaySeconds = 10.0 * 366 * 86400;  // ten years

[[noreturn]] void Invalid(const std::string& field, const std::string& problem) {
  throw InvalidArgument(field + ": " + problem, field);
}

std::string TypeName(const nlohmann::json& value) {
  if (value.is_number_integer()) return "an integer";
  if (value.is_number_float()) return "a number with a fraction";
  if (value.is_string()) return "a string";
  if (value.is_boolean()) return "a boolean";
  if (value.is_object()) return "an object";
  if (value.is_array()) return "an array";
  return "null";
}

// The value as an integer within [min, max], or a 400 naming the field.
long long Integer(const nlohmann::json& value, const std::string& field, long long min, long long max) {
  if (!value.is_number_integer()) Invalid(field, "must be an integer, got " + TypeName(value));
  if (value.is_number_unsigned() &&
      value.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<long long>::max())) {
    Invalid(field, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  const auto n = value.get<long long>();
  if (n < min || n > max) {
    Invalid(field, "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
                       std::to_string(n));
  }
  return n;
}

// A non-empty string of at most `max_bytes`, storable as text.
std::string Text(const nlohmann::json& value, const std::string& field, std::size_t max_bytes) {
  if (!value.is_string()) Invalid(field, "must be a string, got " + TypeName(value));
  const auto& text = value.get_ref<const std::string&>();
  if (text.empty()) Invalid(field, "must not be empty");
  if (text.size() > max_bytes) Invalid(field, "must be at most " + std::to_string(max_bytes) + " bytes");
  if (!core::IsStorableText(text)) Invalid(field, "must not contain NUL characters");
  return text;
}

bool AllDigits(const std::string& text, std::size_t from, std::size_t count) {
  if (from + count > text.size()) return false;
  for (std::size_t i = from; i < from + count; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return false;
  }
  return true;
}

int Number(const std::string& text, std::size_t from, std::size_t count) {
  return std::stoi(text.substr(from, count));
}

int DaysIn(int year, int month) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

void RequireJsonContentType(const std::optional<std::string>& content_type) {
  std::string media = content_type.value_or("");
  media = media.substr(0, media.find(';'));
  media.erase(std::remove_if(media.begin(), media.end(), [](unsigned char c) { return std::isspace(c); }),
              media.end());
  std::transform(media.begin(), media.end(), media.begin(), [](unsigned char c) { return std::tolower(c); });
  if (media != "application/json") {
    throw HttpError({415, "unsupported_media_type",
                     content_type ? "Content-Type must be application/json" : "Content-Type application/json is required",
                     "Content-Type"});
  }
}

nlohmann::json ParseJsonBody(const std::string& body) {
  if (body.empty()) Invalid("body", "must be a JSON object, got an empty body");
  // The callback sees every nesting level as it opens, so a hostile body is
  // refused at depth kMaxJsonDepth before more of it is built.
  const nlohmann::json::parser_callback_t depth_guard = [](int depth, nlohmann::json::parse_event_t event,
                                                           nlohmann::json&) {
    if ((event == nlohmann::json::parse_event_t::object_start ||
         event == nlohmann::json::parse_event_t::array_start) &&
        depth >= kMaxJsonDepth) {
      Invalid("body", "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    }
    return true;
  };
  try {
    return nlohmann::json::parse(body, depth_guard);
  } catch (const nlohmann::json::parse_error& e) {
    Invalid("body", "not valid JSON (at byte " + std::to_string(e.byte) + ")");
  } catch (const nlohmann::json::exception&) {
    Invalid("body", "not valid JSON");
  }
}

JobRequest ParseJobRequest(const nlohmann::json& body, const std::string& prefix) {
  if (!body.is_object()) {
    Invalid(prefix.empty() ? "body" : prefix.substr(0, prefix.size() - 1), "must be a JSON object, got " + TypeName(body));
  }
  JobRequest out;
  auto& job = out.job;
  bool has_kind = false;
  for (const auto& [key, value] : body.items()) {
    const std::string field = prefix + key;
    if (key == "kind") {
      if (value.is_null()) Invalid(field, "is required");
      job.kind = Text(value, field, 128);
      has_kind = true;
      continue;
    }
    if (value.is_null()) {
      // Optional fields: null means "use the default", as if absent; an
      // unknown field stays an error whatever its value.
      if (key == "payload" || key == "queue" || key == "priority" || key == "run_at" || key == "delay_seconds" ||
          key == "max_attempts" || key == "idempotency_key") {
        continue;
      }
    }
    if (key == "payload") {
      if (!value.is_object()) Invalid(field, "must be a JSON object, got " + TypeName(value));
      if (!core::IsStorableJson(value)) Invalid(field, "strings and keys must not contain U+0000");
      job.payload = value;
    } else if (key == "queue") {
      job.queue = Text(value, field, 128);
    } else if (key == "priority") {
      job.priority = static_cast<int>(Integer(value, field, -32768, 32767));
    } else if (key == "max_attempts") {
      job.max_attempts = static_cast<int>(Integer(value, field, 1, 1000));
    } else if (key == "idempotency_key") {
      job.idempotency_key = Text(value, field, 512);
    } else if (key == "run_at") {
      const auto text = Text(value, field, 64);
      if (!IsRfc3339(text)) Invalid(field, "must be an RFC 3339 date-time such as 2026-01-02T15:04:05Z");
      job.run_at = text;
    } else if (key == "delay_seconds") {
      if (!value.is_number()) Invalid(field, "must be a number of seconds, got " + TypeName(value));
      const double delay = value.get<double>();
      if (!std::isfinite(delay) || delay < 0 || delay > kMaxDelaySeconds) {
        Invalid(field, "must be between 0 and " + std::to_string(static_cast<long long>(kMaxDelaySeconds)));
      }
      out.delay_seconds = delay;
    } else {
      Invalid(field, "unknown field (expected kind, payload, queue, priority, run_at, delay_seconds, "
                     "max_attempts, idempotency_key)");
    }
  }
  if (!has_kind) Invalid(prefix + "kind", "is required");
  if (job.run_at && out.delay_seconds) Invalid(prefix + "delay_seconds", "give run_at or delay_seconds, not both");
  return out;
}

std::vector<JobRequest> ParseBatchRequest(const nlohmann::json& body, int max_jobs) {
  if (!body.is_object()) Invalid("body", "must be a JSON object, got " + TypeName(body));
  const nlohmann::json* jobs = nullptr;
  for (const auto& [key, value] : body.items()) {
    if (key != "jobs") Invalid(key, "unknown field (expected jobs)");
    jobs = &value;
  }
  if (jobs == nullptr) Invalid("jobs", "is required");
  if (!jobs->is_array()) Invalid("jobs", "must be an array, got " + TypeName(*jobs));
  if (jobs->empty() || jobs->size() > static_cast<std::size_t>(max_jobs)) {
    Invalid("jobs", "must hold between 1 and " + std::to_string(max_jobs) + " jobs, got " +
                        std::to_string(jobs->size()));
  }
  std::vector<JobRequest> out;
  out.reserve(jobs->size());
  for (std::size_t i = 0; i < jobs->size(); ++i) {
    out.push_back(ParseJobRequest((*jobs)[i], "jobs[" + std::to_string(i) + "]."));
  }
  return out;
}

namespace {

// A query's keys must be among `known` (listed in the error).
void OnlyKeys(const std::map<std::string, std::string>& query, const std::vector<std::string>& known) {
  for (const auto& [key, value] : query) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    Invalid(key, "unknown query parameter (expected " + list + ")");
  }
}

// A query value that must be a whole number within [min, max].
long long QueryInteger(const std::map<std::string, std::string>& query, const std::string& key, long long min,
                       long long max, long long fallback) {
  const auto it = query.find(key);
  if (it == query.end() || it->second.empty()) return fallback;
  const auto& value = it->second;
  const std::string range = "must be an integer between " + std::to_string(min) + " and " + std::to_string(max);
  if (value.size() > 9 || !AllDigits(value, 0, value.size())) Invalid(key, range);
  const long long n = std::stoll(value);
  if (n < min || n > max) Invalid(key, range);
  return n;
}

std::optional<std::string> QueryText(const std::map<std::string, std::string>& query, const std::string& key) {
  const auto it = query.find(key);
  if (it == query.end() || it->second.empty()) return std::nullopt;
  return Text(it->second, key, 128);
}

}  // namespace

core::JobFilter ParseListQuery(const std::map<std::string, std::string>& query) {
  OnlyKeys(query, {"state", "queue", "kind", "limit", "after"});
  core::JobFilter filter;
  filter.limit = static_cast<int>(QueryInteger(query, "limit", 1, kMaxPageSize, kDefaultPageSize));
  filter.queue = QueryText(query, "queue");
  filter.kind = QueryText(query, "kind");
  const auto state = query.find("state");
  if (state != query.end() && !state->second.empty()) {
    try {
      filter.state = core::ParseJobState(state->second);
    } catch (const InvalidArgument&) {
      Invalid("state", "must be one of queued, running, succeeded, dead, cancelled");
    }
  }
  const auto after = query.find("after");
  if (after != query.end() && !after->second.empty()) filter.before_id = ParseCursor(after->second);
  return filter;
}

std::map<std::string, std::string> DecodeQuery(const std::vector<std::pair<std::string, std::string>>& raw) {
  std::map<std::string, std::string> query;
  for (const auto& [key, value] : raw) {
    const auto name = UrlDecode(key, "query");
    query.emplace(name, UrlDecode(value, name));
  }
  return query;
}

double ParseWorkersQuery(const std::map<std::string, std::string>& query) {
  OnlyKeys(query, {"within_seconds"});
  return static_cast<double>(QueryInteger(query, "within_seconds", 1, 86400, 300));
}

ThroughputQuery ParseThroughputQuery(const std::map<std::string, std::string>& query) {
  OnlyKeys(query, {"seconds", "queue"});
  ThroughputQuery out;
  out.seconds = static_cast<int>(QueryInteger(query, "seconds", 10, 900, 300));
  out.queue = QueryText(query, "queue");
  return out;
}

ErrorsQuery ParseErrorsQuery(const std::map<std::string, std::string>& query) {
  OnlyKeys(query, {"queue", "kind"});
  return {QueryText(query, "queue"), QueryText(query, "kind")};
}

BulkRequest ParseBulkRequest(const nlohmann::json& body, bool retry) {
  if (!body.is_object()) Invalid("body", "must be a JSON object, got " + TypeName(body));
  BulkRequest out;
  out.filter.state = retry ? core::JobState::kDead : core::JobState::kQueued;
  const std::string allowed = retry ? "dead or cancelled" : "queued or running";
  for (const auto& [key, value] : body.items()) {
    if (value.is_null()) continue;
    if (key == "state") {
      const auto text = Text(value, "state", 16);
      const bool ok = retry ? (text == "dead" || text == "cancelled") : (text == "queued" || text == "running");
      if (!ok) Invalid("state", "must be " + allowed + ", got " + text.substr(0, 16));
      out.filter.state = core::ParseJobState(text);
    } else if (key == "queue") {
      out.filter.queue = Text(value, "queue", 128);
    } else if (key == "kind") {
      out.filter.kind = Text(value, "kind", 128);
    } else if (key == "error" && retry) {
      // An error group as GET /v1/errors names it: one line, <= 200 characters.
      if (!value.is_string()) Invalid("error", "must be a string, got " + TypeName(value));
      out.filter.error = value.get<std::string>();
      if (out.filter.error->size() > 800) Invalid("error", "must be at most 800 bytes (an error group is 200 characters)");
      if (!core::IsStorableText(*out.filter.error)) Invalid("error", "must not contain NUL characters");
    } else if (key == "limit") {
      out.limit = Integer(value, "limit", 1, kMaxBulkJobs);
    } else {
      Invalid(key, retry ? "unknown field (expected state, queue, kind, error, limit)"
                         : "unknown field (expected state, queue, kind, limit)");
    }
  }
  return out;
}

core::JobId ParseJobId(const std::string& text) {
  // 19 digits at most: anything longer overflows a bigint.
  if (text.empty() || text.size() > 19 || !AllDigits(text, 0, text.size())) {
    Invalid("id", "must be a positive integer");
  }
  const auto value = std::stoull(text);
  if (value == 0 || value > static_cast<unsigned long long>(std::numeric_limits<core::JobId>::max())) {
    Invalid("id", "must be a positive integer");
  }
  return static_cast<core::JobId>(value);
}

std::string FormatCursor(core::JobId id) { return std::to_string(id); }

core::JobId ParseCursor(const std::string& text) {
  try {
    return ParseJobId(text);
  } catch (const InvalidArgument&) {
    Invalid("after", "must be a cursor returned as `next`");
  }
}

bool IsRfc3339(const std::string& t) {
  // YYYY-MM-DD
  if (!AllDigits(t, 0, 4) || t.size() < 20 || t[4] != '-' || !AllDigits(t, 5, 2) || t[7] != '-' ||
      !AllDigits(t, 8, 2)) {
    return false;
  }
  const int year = Number(t, 0, 4), month = Number(t, 5, 2), day = Number(t, 8, 2);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > DaysIn(year, month)) return false;
  // T HH:MM:SS
  if (t[10] != 'T' && t[10] != 't' && t[10] != ' ') return false;
  if (!AllDigits(t, 11, 2) || t[13] != ':' || !AllDigits(t, 14, 2) || t[16] != ':' || !AllDigits(t, 17, 2)) {
    return false;
  }
  if (Number(t, 11, 2) > 23 || Number(t, 14, 2) > 59 || Number(t, 17, 2) > 60) return false;
  std::size_t i = 19;
  if (i < t.size() && t[i] == '.') {
    const std::size_t start = ++i;
    while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) ++i;
    if (i == start || i - start > 9) return false;
  }
  if (i == t.size()) return false;  // the offset is required
  if (t[i] == 'Z' || t[i] == 'z') return i + 1 == t.size();
  if (t[i] != '+' && t[i] != '-') return false;
  if (i + 6 != t.size() || !AllDigits(t, i + 1, 2) || t[i + 3] != ':' || !AllDigits(t, i + 4, 2)) return false;
  return Number(t, i + 1, 2) <= 23 && Number(t, i + 4, 2) <= 59;
}

std::string UrlDecode(const std::string& text, const std::string& field) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= text.size()) Invalid(field, "malformed percent-encoding");
      const int hi = HexValue(text[i + 1]);
      const int lo = HexValue(text[i + 2]);
      if (hi < 0 || lo < 0) Invalid(field, "malformed percent-encoding");
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace jobqueue::api
