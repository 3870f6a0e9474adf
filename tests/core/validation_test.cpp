// ValidateNewJob and IsStorableText: what core refuses before any SQL runs.
#include <catch2/catch.hpp>

#include <string>

#include "core/errors.hpp"
#include "core/job.hpp"
#include "core/queue.hpp"

using jobqueue::InvalidArgument;
using jobqueue::core::IsStorableText;
using jobqueue::core::NewJob;
using jobqueue::core::ValidateNewJob;

namespace {

NewJob ValidJob() {
  NewJob job;
  job.kind = "send_email";
  job.payload = {{"to", "a@example.com"}};
  return job;
}

// The field named by the InvalidArgument ValidateNewJob throws; fails the
// test when it throws nothing or something else.
std::string RefusedField(const NewJob& job) {
  try {
    ValidateNewJob(job);
  } catch (const InvalidArgument& e) {
    return e.field();
  }
  FAIL("expected InvalidArgument");
  return "";
}

// Invalid UTF-8 byte sequences of every kind IsStorableText must refuse.
const std::vector<std::pair<std::string, std::string>>& InvalidUtf8() {
  static const std::vector<std::pair<std::string, std::string>> cases = {
      {"lone 0xFF", "a\xFF" "b"},
      {"lone 0xFE", "\xFE"},
      {"lone continuation byte", "\x80"},
      {"overlong '/' (2 bytes)", "\xC0\xAF"},
      {"overlong NUL (2 bytes)", "\xC0\x80"},
      {"overlong 0xC1", "\xC1\xBF"},
      {"overlong (3 bytes)", "\xE0\x80\xAF"},
      {"overlong (4 bytes)", "\xF0\x80\x80\xAF"},
      {"high surrogate U+D800", "\xED\xA0\x80"},
      {"low surrogate U+DFFF", "\xED\xBF\xBF"},
      {"past U+10FFFF", "\xF4\x90\x80\x80"},
      {"5-byte form", "\xF8\x88\x80\x80\x80"},
      {"truncated 2-byte at end", "ok\xC3"},
      {"truncated 3-byte at end", "ok\xE2\x82"},
      {"truncated 4-byte at end", "ok\xF0\x9F\x98"},
      {"truncated 3-byte mid-string", "\xE2\x82" "abc"},
      {"bad continuation", "\xC3\x28"},
  };
  return cases;
}

}  // namespace

TEST_CASE("ValidateNewJob accepts a plain job", "[validation]") {
  CHECK_NOTHROW(ValidateNewJob(ValidJob()));
}

TEST_CASE("ValidateNewJob accepts the limits themselves", "[validation]") {
  auto job = ValidJob();
  job.kind = std::string(128, 'k');
  job.queue = std::string(128, 'q');
  job.idempotency_key = std::string(512, 'i');
  job.priority = -32768;
  job.max_attempts = 1;
  CHECK_NOTHROW(ValidateNewJob(job));
  job.priority = 32767;
  job.max_attempts = 1000;
  CHECK_NOTHROW(ValidateNewJob(job));
}

TEST_CASE("ValidateNewJob refuses an empty kind", "[validation]") {
  auto job = ValidJob();
  job.kind = "";
  CHECK(RefusedField(job) == "kind");
}

TEST_CASE("ValidateNewJob refuses a kind over 128 bytes", "[validation]") {
  auto job = ValidJob();
  job.kind = std::string(129, 'k');
  CHECK(RefusedField(job) == "kind");
}

TEST_CASE("ValidateNewJob counts bytes, not characters, against the limits", "[validation]") {
  auto job = ValidJob();
  // 43 three-byte characters: 129 bytes, 43 characters.
  std::string cjk;
  for (int i = 0; i < 43; ++i) cjk += "\xE6\xBC\xA2";  // U+6F22
  job.kind = cjk;
  CHECK(RefusedField(job) == "kind");
}

TEST_CASE("ValidateNewJob refuses an empty queue", "[validation]") {
  auto job = ValidJob();
  job.queue = "";
  CHECK(RefusedField(job) == "queue");
}

TEST_CASE("ValidateNewJob refuses a queue over 128 bytes", "[validation]") {
  auto job = ValidJob();
  job.queue = std::string(129, 'q');
  CHECK(RefusedField(job) == "queue");
}

TEST_CASE("ValidateNewJob refuses an empty idempotency key", "[validation]") {
  auto job = ValidJob();
  job.idempotency_key = "";
  CHECK(RefusedField(job) == "idempotency_key");
}

TEST_CASE("ValidateNewJob refuses an idempotency key over 512 bytes", "[validation]") {
  auto job = ValidJob();
  job.idempotency_key = std::string(513, 'i');
  CHECK(RefusedField(job) == "idempotency_key");
}

TEST_CASE("ValidateNewJob refuses a priority outside the smallint range", "[validation]") {
  auto job = ValidJob();
  job.priority = 32768;
  CHECK(RefusedField(job) == "priority");
  job.priority = -32769;
  CHECK(RefusedField(job) == "priority");
  job.priority = 1 << 30;
  CHECK(RefusedField(job) == "priority");
}

TEST_CASE("ValidateNewJob refuses max_attempts outside 1..1000", "[validation]") {
  auto job = ValidJob();
  for (int bad : {0, -1, 1001, 1 << 30}) {
    INFO("max_attempts: " << bad);
    job.max_attempts = bad;
    CHECK(RefusedField(job) == "max_attempts");
  }
}

TEST_CASE("ValidateNewJob refuses invalid UTF-8 in kind, queue and key", "[validation]") {
  for (const auto& [label, bytes] : InvalidUtf8()) {
    INFO("case: " << label);
    auto job = ValidJob();
    job.kind = "k" + bytes;
    CHECK(RefusedField(job) == "kind");
    job = ValidJob();
    job.queue = "q" + bytes;
    CHECK(RefusedField(job) == "queue");
    job = ValidJob();
    job.idempotency_key = "i" + bytes;
    CHECK(RefusedField(job) == "idempotency_key");
  }
}

TEST_CASE("ValidateNewJob refuses NUL bytes in kind, queue and key", "[validation]") {
  const std::string with_nul("a\0b", 3);
  auto job = ValidJob();
  job.kind = with_nul;
  CHECK(RefusedField(job) == "kind");
  job = ValidJob();
  job.queue = with_nul;
  CHECK(RefusedField(job) == "queue");
  job = ValidJob();
  job.idempotency_key = with_nul;
  CHECK(RefusedField(job) == "idempotency_key");
}

TEST_CASE("ValidateNewJob refuses a payload holding an invalid UTF-8 string", "[validation]") {
  auto job = ValidJob();
  job.payload = {{"text", std::string("bad \xFF byte")}};
  CHECK(RefusedField(job) == "payload");
}

TEST_CASE("ValidateNewJob refuses a payload whose key is invalid UTF-8", "[validation]") {
  auto job = ValidJob();
  job.payload = nlohmann::json::object();
  job.payload[std::string("\xC0\xAF")] = 1;
  CHECK(RefusedField(job) == "payload");
}

TEST_CASE("ValidateNewJob refuses invalid UTF-8 nested deep in the payload", "[validation]") {
  auto job = ValidJob();
  job.payload = {{"a", {{"b", nlohmann::json::array({1, "ok", std::string("\xED\xA0\x80")})}}}};
  CHECK(RefusedField(job) == "payload");
}

TEST_CASE("ValidateNewJob accepts multi-byte UTF-8 everywhere", "[validation]") {
  auto job = ValidJob();
  job.kind = "\xE7\x99\xBC\xE9\x80\x81";                       // 發送
  job.queue = "\xF0\x9F\x9A\x80-queue";                        // 🚀-queue
  job.idempotency_key = "caf\xC3\xA9-\xF0\x9F\x98\x80";        // café-😀
  job.payload = {{"\xE5\x90\x8D", "\xF0\x9F\x8E\x89 \xD0\x96"}};  // 名: 🎉 Ж
  CHECK_NOTHROW(ValidateNewJob(job));
}

TEST_CASE("IsStorableText accepts ASCII, multi-byte and boundary code points", "[validation]") {
  CHECK(IsStorableText(""));
  CHECK(IsStorableText("plain ascii ~!@#$%^&*()'\"\\"));
  CHECK(IsStorableText("\xC2\x80"));          // U+0080, smallest 2-byte
  CHECK(IsStorableText("\xDF\xBF"));          // U+07FF
  CHECK(IsStorableText("\xE0\xA0\x80"));      // U+0800, smallest 3-byte
  CHECK(IsStorableText("\xED\x9F\xBF"));      // U+D7FF, just below surrogates
  CHECK(IsStorableText("\xEE\x80\x80"));      // U+E000, just above surrogates
  CHECK(IsStorableText("\xEF\xBF\xBF"));      // U+FFFF
  CHECK(IsStorableText("\xF0\x90\x80\x80"));  // U+10000, smallest 4-byte
  CHECK(IsStorableText("\xF4\x8F\xBF\xBF"));  // U+10FFFF, the last code point
  CHECK(IsStorableText("\xF0\x9F\x98\x80 \xE4\xB8\xAD\xE6\x96\x87"));  // 😀 中文
}

TEST_CASE("IsStorableText refuses every kind of invalid UTF-8", "[validation]") {
  for (const auto& [label, bytes] : InvalidUtf8()) {
    INFO("case: " << label);
    CHECK_FALSE(IsStorableText(bytes));
  }
}

TEST_CASE("IsStorableText refuses NUL bytes anywhere", "[validation]") {
  CHECK_FALSE(IsStorableText(std::string("\0", 1)));
  CHECK_FALSE(IsStorableText(std::string("abc\0", 4)));
  CHECK_FALSE(IsStorableText(std::string("\0abc", 4)));
}
