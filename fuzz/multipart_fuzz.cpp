// Fuzzes MultipartBoundary and ParseMultipart together. The input's first
// line (up to '\n') is a Content-Type header value; the rest is the body,
// parsed with that header's boundary or, when the header is refused, with
// kFallbackBoundary (so the fuzzer need not find a valid header to reach the
// body parser). InvalidArgument is the only exception allowed; every part
// must be a view inside the body, in order, and within the documented limits.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "api/multipart.hpp"
#include "core/errors.hpp"

namespace {

constexpr const char* kFallbackBoundary = "b";

void Require(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t newline = input.find('\n');
  const std::string content_type(input.substr(0, newline));
  // A copy of its own, so ASan flags any read past the body's end.
  const std::string body(newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1));

  std::string boundary = kFallbackBoundary;
  try {
    boundary = jobqueue::api::MultipartBoundary(content_type);
    Require(!boundary.empty() && boundary.size() <= 70);
  } catch (const jobqueue::InvalidArgument& e) {
    Require(e.field() == "Content-Type");
  }

  try {
    const auto parts = jobqueue::api::ParseMultipart(body, boundary);
    Require(parts.size() <= jobqueue::api::kMaxParts);
    const char* previous_end = body.data();
    for (const auto& part : parts) {
      Require(!part.name.empty());
      const char* begin = part.data.data();
      const char* end = begin + part.data.size();
      Require(begin >= previous_end && end <= body.data() + body.size());
      previous_end = end;
    }
  } catch (const jobqueue::InvalidArgument& e) {
    Require(e.field() == "body" || e.field() == "Content-Type");
  }
  return 0;
}
