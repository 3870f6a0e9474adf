#pragma once
// multipart/form-data bodies (RFC 7578), parsed in place: parts are views
// into the body the caller keeps alive. Written here because Pistache 0.0.5
// has no parser; fuzzed (fuzz/multipart_fuzz.cpp). Bounded: at most
// kMaxParts parts, each part's headers at most kMaxPartHeaderBytes; time
// linear in the body.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jobqueue::api {

constexpr std::size_t kMaxParts = 32;
constexpr std::size_t kMaxPartHeaderBytes = 8192;

struct MultipartPart {
  std::string name;                     // Content-Disposition name="..."
  std::optional<std::string> filename;  // Content-Disposition filename="..." if any
  std::string content_type;             // the part's Content-Type; empty if absent
  std::string_view data;                // the part's bytes, a view into the body
};

// The boundary of a `multipart/form-data; boundary=...` Content-Type header
// value (quoted or not, 1..70 characters per RFC 2046). Throws
// InvalidArgument (field "Content-Type") when the type is not
// multipart/form-data or the boundary is missing or invalid.
std::string MultipartBoundary(const std::string& content_type);

// Splits `body` into its parts. Throws InvalidArgument (field "body") naming
// what is wrong: no opening boundary, no closing boundary, a part without
// Content-Disposition form-data and a name, too many parts, headers too
// long, a malformed header line.
std::vector<MultipartPart> ParseMultipart(std::string_view body, const std::string& boundary);

}  // namespace jobqueue::api
