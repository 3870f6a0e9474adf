// Env: typed configuration reads from a lookup map; every refusal is a
// ConfigError whose message starts with the variable's name.
#include <catch2/catch.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/env.hpp"
#include "core/errors.hpp"
#include "core/log.hpp"

using jobqueue::ConfigError;
using jobqueue::core::Env;

namespace {

Env EnvOf(std::map<std::string, std::string> vars) {
  return Env([vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  });
}

// Runs `read` and returns the ConfigError's message; fails the test when
// nothing (or something else) is thrown.
template <typename F>
std::string ConfigErrorOf(F&& read) {
  try {
    read();
  } catch (const ConfigError& e) {
    return e.what();
  }
  FAIL("expected a ConfigError");
  return "";
}

bool StartsWith(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

}  // namespace

TEST_CASE("Env returns the fallback for unset variables", "[env]") {
  const auto env = EnvOf({});
  CHECK(env.String("NAME", "fallback") == "fallback");
  CHECK(env.Int("COUNT", 7, 0, 10) == 7);
  CHECK(env.Double("RATE", 1.5, 0, 10) == 1.5);
  CHECK(env.Bool("FLAG", true) == true);
  CHECK(env.Bool("FLAG", false) == false);
  CHECK(env.List("ITEMS", {"a", "b"}) == std::vector<std::string>{"a", "b"});
}

TEST_CASE("Env treats empty and blank values as unset", "[env]") {
  const auto env = EnvOf({{"NAME", ""}, {"COUNT", "   "}, {"FLAG", "\t"}, {"ITEMS", " "}});
  CHECK(env.String("NAME", "fallback") == "fallback");
  CHECK(env.Int("COUNT", 7, 0, 10) == 7);
  CHECK(env.Bool("FLAG", true) == true);
  CHECK(env.List("ITEMS", {"x"}) == std::vector<std::string>{"x"});
}

TEST_CASE("Env returns set strings with surrounding whitespace trimmed", "[env]") {
  const auto env = EnvOf({{"NAME", "  hello world \n"}});
  CHECK(env.String("NAME", "fallback") == "hello world");
}

TEST_CASE("Env parses integers within range including the bounds", "[env]") {
  const auto env = EnvOf({{"A", "42"}, {"B", "-5"}, {"C", "0"}, {"D", "10"}, {"E", " 3 "}});
  CHECK(env.Int("A", 0, 0, 100) == 42);
  CHECK(env.Int("B", 0, -10, 10) == -5);
  CHECK(env.Int("C", 9, 0, 10) == 0);
  CHECK(env.Int("D", 9, 0, 10) == 10);
  CHECK(env.Int("E", 9, 0, 10) == 3);
}

TEST_CASE("Env refuses non-integer values naming the variable", "[env]") {
  for (const std::string bad : {"abc", "12abc", "1.5", "0x10", "--1", "1 2"}) {
    INFO("value: " << bad);
    const auto env = EnvOf({{"WORKERS", bad}});
    const auto message = ConfigErrorOf([&] { env.Int("WORKERS", 1, 0, 1000); });
    CHECK(StartsWith(message, "WORKERS"));
  }
}

TEST_CASE("Env refuses integers that overflow long long naming the variable", "[env]") {
  const auto env = EnvOf({{"BIG", "99999999999999999999999"}});
  const auto message = ConfigErrorOf([&] { env.Int("BIG", 1, 0, 10); });
  CHECK(StartsWith(message, "BIG"));
}

TEST_CASE("Env refuses integers outside the range naming the variable", "[env]") {
  const auto env = EnvOf({{"LOW", "-1"}, {"HIGH", "11"}});
  const auto low = ConfigErrorOf([&] { env.Int("LOW", 1, 0, 10); });
  const auto high = ConfigErrorOf([&] { env.Int("HIGH", 1, 0, 10); });
  CHECK(StartsWith(low, "LOW"));
  CHECK(StartsWith(high, "HIGH"));
  CHECK(high.find("range") != std::string::npos);
}

TEST_CASE("Env parses doubles within range", "[env]") {
  const auto env = EnvOf({{"A", "2.5"}, {"B", "1e-3"}, {"C", "-0.25"}, {"D", "3"}});
  CHECK(env.Double("A", 0, 0, 10) == Approx(2.5));
  CHECK(env.Double("B", 0, 0, 10) == Approx(0.001));
  CHECK(env.Double("C", 0, -1, 1) == Approx(-0.25));
  CHECK(env.Double("D", 0, 0, 10) == Approx(3.0));
}

TEST_CASE("Env refuses non-numeric, NaN and infinite doubles naming the variable", "[env]") {
  for (const std::string bad : {"abc", "1.5x", "nan", "NaN", "inf", "-inf", "Infinity", "1e999"}) {
    INFO("value: " << bad);
    const auto env = EnvOf({{"LEASE_SECONDS", bad}});
    const auto message = ConfigErrorOf([&] { env.Double("LEASE_SECONDS", 1, -1e300, 1e300); });
    CHECK(StartsWith(message, "LEASE_SECONDS"));
  }
}

TEST_CASE("Env refuses doubles outside the range naming the variable", "[env]") {
  const auto env = EnvOf({{"RATE", "10.5"}, {"NEG", "-0.1"}});
  CHECK(StartsWith(ConfigErrorOf([&] { env.Double("RATE", 1, 0, 10); }), "RATE"));
  CHECK(StartsWith(ConfigErrorOf([&] { env.Double("NEG", 1, 0, 10); }), "NEG"));
}

TEST_CASE("Env parses every accepted boolean spelling", "[env]") {
  for (const std::string yes : {"1", "true", "yes", "on"}) {
    INFO("value: " << yes);
    CHECK(EnvOf({{"FLAG", yes}}).Bool("FLAG", false) == true);
  }
  for (const std::string no : {"0", "false", "no", "off"}) {
    INFO("value: " << no);
    CHECK(EnvOf({{"FLAG", no}}).Bool("FLAG", true) == false);
  }
}

TEST_CASE("Env refuses unknown booleans naming the variable", "[env]") {
  for (const std::string bad : {"maybe", "2", "y", "enabled", "truefalse"}) {
    INFO("value: " << bad);
    const auto env = EnvOf({{"DEBUG_MODE", bad}});
    const auto message = ConfigErrorOf([&] { env.Bool("DEBUG_MODE", false); });
    CHECK(StartsWith(message, "DEBUG_MODE"));
  }
}

TEST_CASE("Env splits lists on commas and trims every item", "[env]") {
  const auto env = EnvOf({{"QUEUES", " a, b ,c  ,  d d "}, {"ONE", "single"}});
  CHECK(env.List("QUEUES", {}) == std::vector<std::string>{"a", "b", "c", "d d"});
  CHECK(env.List("ONE", {}) == std::vector<std::string>{"single"});
}

TEST_CASE("Env refuses lists with an empty item naming the variable", "[env]") {
  for (const std::string bad : {"a,,b", "a,", ",a", "a, ,b", ","}) {
    INFO("value: " << bad);
    const auto env = EnvOf({{"QUEUES", bad}});
    const auto message = ConfigErrorOf([&] { env.List("QUEUES", {"default"}); });
    CHECK(StartsWith(message, "QUEUES"));
  }
}

TEST_CASE("Env reads only the variable asked for", "[env]") {
  std::vector<std::string> asked;
  const Env env([&asked](const std::string& name) -> std::optional<std::string> {
    asked.push_back(name);
    return std::string("5");
  });
  CHECK(env.Int("PORT", 0, 0, 10) == 5);
  CHECK(asked == std::vector<std::string>{"PORT"});
}

TEST_CASE("ParseLogLevel accepts spdlog levels in any case and common aliases", "[env][log]") {
  using jobqueue::core::ParseLogLevel;
  CHECK(ParseLogLevel("trace") == spdlog::level::trace);
  CHECK(ParseLogLevel("DEBUG") == spdlog::level::debug);
  CHECK(ParseLogLevel("Info") == spdlog::level::info);
  CHECK(ParseLogLevel("error") == spdlog::level::err);
  CHECK(ParseLogLevel("critical") == spdlog::level::critical);
  CHECK(ParseLogLevel("fatal") == spdlog::level::critical);
  CHECK(ParseLogLevel("off") == spdlog::level::off);
}

TEST_CASE("ParseLogLevel accepts warn and warning as the warn level", "[env][log]") {
  using jobqueue::core::ParseLogLevel;
  CHECK(ParseLogLevel("warn") == spdlog::level::warn);
  CHECK(ParseLogLevel("warning") == spdlog::level::warn);
  CHECK(ParseLogLevel("WARN") == spdlog::level::warn);
}

TEST_CASE("ParseLogLevel refuses unknown levels naming LOG_LEVEL", "[env][log]") {
  for (const std::string bad : {"bogus", "", "verbose", "info "}) {
    INFO("value: '" << bad << "'");
    const auto message = ConfigErrorOf([&] { jobqueue::core::ParseLogLevel(bad); });
    CHECK(StartsWith(message, "LOG_LEVEL"));
  }
}

TEST_CASE("ParseLogFormat accepts json, console and text in any case", "[env][log]") {
  using jobqueue::core::LogFormat;
  using jobqueue::core::ParseLogFormat;
  CHECK(ParseLogFormat("json") == LogFormat::kJson);
  CHECK(ParseLogFormat("JSON") == LogFormat::kJson);
  CHECK(ParseLogFormat("Console") == LogFormat::kConsole);
  CHECK(ParseLogFormat("console") == LogFormat::kConsole);
  CHECK(ParseLogFormat("text") == LogFormat::kConsole);
}

TEST_CASE("ParseLogFormat refuses unknown formats naming LOG_FORMAT", "[env][log]") {
  for (const std::string bad : {"xml", "", "JSONL"}) {
    INFO("value: '" << bad << "'");
    const auto message = ConfigErrorOf([&] { jobqueue::core::ParseLogFormat(bad); });
    CHECK(StartsWith(message, "LOG_FORMAT"));
  }
}
