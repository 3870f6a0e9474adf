#include "api/multipart.hpp"

#include <cstdint>
#include <utility>

#include "core/errors.hpp"

// Decisions a reader of an upload's 400 might ask about:
// - A preamble (bytes before the first delimiter) is skipped, as RFC 2046
//   5.1.1 allows; so is a leading CRLF. curl and browsers send neither.
// - The epilogue (bytes after `--boundary--`) is ignored, whatever it holds.
// - A delimiter is `CRLF --boundary` followed by `--` (the close) or by
//   optional spaces/tabs and CRLF. `CRLF --boundary` followed by anything
//   else is not a delimiter but part data: RFC 2046 forbids it in the data,
//   yet refusing it gains nothing.
// - Quoted parameter values unescape `\"` and `\\` only; any other backslash
//   is kept, because browsers send Windows paths in `filename` unescaped.
//   Percent escapes (`%22`, which browsers and curl use for `"`) are not
//   decoded. `filename*=` (RFC 5987) is ignored: RFC 7578 4.2 forbids it.
// - Names, filenames and header lines must be valid UTF-8 without control
//   characters: they reach logs, error messages and JSON.
// - Folded (continuation) header lines are refused, as are two
//   Content-Disposition or Content-Type headers in one part.
// - A body holding only the close delimiter parses to no parts; whether a
//   field is required is the caller's question.

namespace jobqueue::api {
namespace {

constexpr std::size_t kMaxBoundaryLength = 70;  // RFC 2046 5.1.1
constexpr std::size_t kMaxEchoedBytes = 64;     // of a bad Content-Type in a message

[[noreturn]] void BadContentType(const std::string& problem) { throw InvalidArgument(problem, "Content-Type"); }
[[noreturn]] void BadBody(const std::string& problem) { throw InvalidArgument("multipart body: " + problem, "body"); }
[[noreturn]] void BadPart(std::size_t number, const std::string& problem) {
  throw InvalidArgument("multipart part " + std::to_string(number) + ": " + problem, "body");
}

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

// `s` quoted for a message: printable ASCII kept, anything else as '?', cut
// after kMaxEchoedBytes, so a hostile header cannot forge log lines.
std::string Echo(std::string_view s) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size() && i < kMaxEchoedBytes; ++i) {
    out += s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
  }
  out += s.size() > kMaxEchoedBytes ? "\"..." : "\"";
  return out;
}

// Whether `s` is valid UTF-8 (no overlong forms, surrogates or code points
// past U+10FFFF) without control characters (C0, DEL, C1); a tab passes only
// when `allow_tab`.
bool IsCleanText(std::string_view s, bool allow_tab) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<unsigned char>(s[i]);
    if (lead < 0x80) {
      if ((lead < 0x20 && !(allow_tab && lead == '\t')) || lead == 0x7f) return false;
      ++i;
      continue;
    }
    std::size_t length = 0;
    std::uint32_t code_point = 0;
    std::uint32_t min = 0;
    if ((lead & 0xe0) == 0xc0) {
      length = 2, code_point = lead & 0x1fu, min = 0x80;
    } else if ((lead & 0xf0) == 0xe0) {
      length = 3, code_point = lead & 0x0fu, min = 0x800;
    } else if ((lead & 0xf8) == 0xf0) {
      length = 4, code_point = lead & 0x07u, min = 0x10000;
    } else {
      return false;
    }
    if (s.size() - i < length) return false;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(s[i + k]);
      if ((next & 0xc0) != 0x80) return false;
      code_point = (code_point << 6) | (next & 0x3fu);
    }
    if (code_point < min || code_point > 0x10ffff || (code_point >= 0xd800 && code_point <= 0xdfff) ||
        code_point <= 0x9f) {
      return false;
    }
    i += length;
  }
  return true;
}

// RFC 2046 bchars: what a boundary may hold (a space, but not at the end).
bool IsBoundaryChar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
}

void CheckBoundary(std::string_view boundary) {
  if (boundary.empty() || boundary.size() > kMaxBoundaryLength) {
    BadContentType("Content-Type boundary must be 1 to 70 characters, got " + std::to_string(boundary.size()));
  }
  for (char c : boundary) {
    if (!IsBoundaryChar(c)) BadContentType("Content-Type boundary has a character RFC 2046 forbids: " + Echo(boundary));
  }
  if (boundary.back() == ' ') BadContentType("Content-Type boundary must not end with a space");
}

// A header value `type *(OWS ";" OWS name OWS "=" OWS (token | quoted-string))`
// as in Content-Type and Content-Disposition.
struct HeaderValue {
  std::string_view type;
  std::vector<std::pair<std::string_view, std::string>> parameters;  // name as sent, value unescaped
};

// Parses `s` into `out`; on malformed input returns what is wrong instead.
std::optional<std::string> ParseHeaderValue(std::string_view s, HeaderValue& out) {
  const auto is_name_end = [](char c) { return c == '=' || c == ';' || c == '"' || IsSpace(c); };
  const auto is_token_end = [](char c) { return c == ';' || c == '"' || IsSpace(c); };
  std::size_t i = s.find(';');
  out.type = Trim(s.substr(0, i));
  while (i < s.size()) {
    ++i;  // past ';'
    while (i < s.size() && IsSpace(s[i])) ++i;
    if (i == s.size() || s[i] == ';') continue;  // an empty parameter, as in "a; ; b=c;"
    const std::size_t name_start = i;
    while (i < s.size() && !is_name_end(s[i])) ++i;
    const std::string_view name = s.substr(name_start, i - name_start);
    if (name.empty()) return "a parameter has no name";
    while (i < s.size() && IsSpace(s[i])) ++i;
    if (i == s.size() || s[i] != '=') return "parameter " + Echo(name) + " has no '=' and value";
    ++i;
    while (i < s.size() && IsSpace(s[i])) ++i;
    std::string value;
    if (i < s.size() && s[i] == '"') {
      ++i;
      bool closed = false;
      while (i < s.size() && !closed) {
        const char c = s[i++];
        if (c == '"') {
          closed = true;
        } else if (c == '\\' && i < s.size() && (s[i] == '"' || s[i] == '\\')) {
          value += s[i++];
        } else {
          value += c;
        }
      }
      if (!closed) return "parameter " + Echo(name) + " has an unterminated quoted string";
    } else {
      const std::size_t value_start = i;
      while (i < s.size() && !is_token_end(s[i])) ++i;
      if (i == value_start) return "parameter " + Echo(name) + " has no value";
      value = s.substr(value_start, i - value_start);
    }
    while (i < s.size() && IsSpace(s[i])) ++i;
    if (i < s.size() && s[i] != ';') return "unexpected " + Echo(s.substr(i, 1)) + " after parameter " + Echo(name);
    out.parameters.emplace_back(name, std::move(value));
  }
  return std::nullopt;
}

// A delimiter found in the body: bytes [start, end) are `CRLF --boundary`
// with its padding and CRLF, or `--boundary--` when `close`.
struct Delimiter {
  std::size_t start;
  std::size_t end;
  bool close;
};

// Whether `--boundary` ending before `after` is a delimiter: followed by
// `--`, or by optional padding and CRLF.
std::optional<Delimiter> DelimiterEndingAt(std::string_view body, std::size_t start, std::size_t after) {
  if (body.substr(after, 2) == "--") return Delimiter{start, after + 2, true};
  while (after < body.size() && IsSpace(body[after])) ++after;
  if (body.substr(after, 2) == "\r\n") return Delimiter{start, after + 2, false};
  return std::nullopt;
}

// The first delimiter (`crlf_dash_boundary` = CRLF "--" boundary) at or after
// `from`. Linear in the bytes scanned, hostile input included: the pattern's
// first byte, CR, occurs nowhere else in it (a boundary holds no CR or LF),
// so find's partial matches cannot overlap, and a rejected candidate's
// padding scan stops at the next CR.
std::optional<Delimiter> FindDelimiter(std::string_view body, std::size_t from, std::string_view crlf_dash_boundary) {
  for (std::size_t at = body.find(crlf_dash_boundary, from); at != std::string_view::npos;
       at = body.find(crlf_dash_boundary, at + 1)) {
    if (auto delimiter = DelimiterEndingAt(body, at, at + crlf_dash_boundary.size())) return delimiter;
  }
  return std::nullopt;
}

// The part between two delimiters: headers, an empty line, data.
MultipartPart ParsePart(std::string_view content, std::size_t number) {
  std::string_view headers;
  std::string_view data;
  if (content.substr(0, 2) == "\r\n") {
    data = content.substr(2);  // no headers at all
  } else {
    // Look for the empty line only where it may be, so a part is not
    // scanned twice.
    const std::size_t end = content.substr(0, kMaxPartHeaderBytes + 4).find("\r\n\r\n");
    if (end == std::string_view::npos) {
      if (content.size() >= kMaxPartHeaderBytes + 4) {
        BadPart(number, "headers longer than " + std::to_string(kMaxPartHeaderBytes) + " bytes");
      }
      BadPart(number, "headers not ended by an empty line");
    }
    headers = content.substr(0, end);
    data = content.substr(end + 4);
  }

  MultipartPart part;
  part.data = data;
  bool has_disposition = false;
  bool has_content_type = false;
  while (!headers.empty()) {
    const std::size_t eol = headers.find("\r\n");
    const std::string_view line = headers.substr(0, eol);
    headers = eol == std::string_view::npos ? std::string_view() : headers.substr(eol + 2);
    const std::size_t colon = line.find(':');
    bool valid_name = colon != std::string_view::npos && colon > 0;
    for (std::size_t i = 0; valid_name && i < colon; ++i) {
      const char c = line[i];
      valid_name = c > 0x20 && c < 0x7f && std::string_view("\"(),/:;<=>?@[\\]{}").find(c) == std::string_view::npos;
    }
    if (!valid_name || !IsCleanText(line, true)) BadPart(number, "malformed header line " + Echo(line));
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = Trim(line.substr(colon + 1));

    if (EqualsIgnoreCase(name, "Content-Type")) {
      if (has_content_type) BadPart(number, "more than one Content-Type header");
      has_content_type = true;
      part.content_type = value;
    } else if (EqualsIgnoreCase(name, "Content-Disposition")) {
      if (has_disposition) BadPart(number, "more than one Content-Disposition header");
      has_disposition = true;
      HeaderValue disposition;
      if (auto problem = ParseHeaderValue(value, disposition)) BadPart(number, "Content-Disposition: " + *problem);
      if (!EqualsIgnoreCase(disposition.type, "form-data")) continue;  // reported below, as absent
      bool has_name = false;
      for (auto& [key, text] : disposition.parameters) {
        const bool is_name = EqualsIgnoreCase(key, "name");
        if (!is_name && !EqualsIgnoreCase(key, "filename")) continue;  // filename* included
        if (is_name ? has_name : part.filename.has_value()) BadPart(number, "Content-Disposition repeats " + Echo(key));
        if (!IsCleanText(text, false)) {
          BadPart(number, std::string(is_name ? "name" : "filename") +
                              " is not UTF-8 text without control characters: " + Echo(text));
        }
        if (is_name) {
          part.name = std::move(text);
          has_name = true;
        } else {
          part.filename = std::move(text);
        }
      }
    }
  }
  if (part.name.empty()) BadPart(number, "no Content-Disposition form-data header with a name");
  return part;
}

}  // namespace

std::string MultipartBoundary(const std::string& content_type) {
  HeaderValue value;
  const auto problem = ParseHeaderValue(content_type, value);
  if (!EqualsIgnoreCase(value.type, "multipart/form-data")) {
    BadContentType("Content-Type must be multipart/form-data, got " + Echo(content_type));
  }
  if (problem) BadContentType("Content-Type: " + *problem);
  std::optional<std::string> boundary;
  for (auto& [name, text] : value.parameters) {
    if (!EqualsIgnoreCase(name, "boundary")) continue;
    if (boundary) BadContentType("Content-Type has more than one boundary");
    boundary = std::move(text);
  }
  if (!boundary) BadContentType("Content-Type multipart/form-data has no boundary");
  CheckBoundary(*boundary);
  return *boundary;
}

std::vector<MultipartPart> ParseMultipart(std::string_view body, const std::string& boundary) {
  CheckBoundary(boundary);  // also what keeps FindDelimiter linear
  const std::string crlf_dash_boundary = "\r\n--" + boundary;
  const std::string_view dash_boundary = std::string_view(crlf_dash_boundary).substr(2);

  std::optional<Delimiter> delimiter;
  if (body.substr(0, dash_boundary.size()) == dash_boundary) {
    delimiter = DelimiterEndingAt(body, 0, dash_boundary.size());
  }
  if (!delimiter) delimiter = FindDelimiter(body, 0, crlf_dash_boundary);  // past a preamble
  if (!delimiter) BadBody("no opening boundary (--" + boundary + ")");

  std::vector<MultipartPart> parts;
  while (!delimiter->close) {
    if (parts.size() == kMaxParts) BadBody("more than " + std::to_string(kMaxParts) + " parts");
    const auto next = FindDelimiter(body, delimiter->end, crlf_dash_boundary);
    if (!next) BadBody("no closing boundary (--" + boundary + "--)");
    parts.push_back(ParsePart(body.substr(delimiter->end, next->start - delimiter->end), parts.size() + 1));
    delimiter = next;
  }
  return parts;
}

}  // namespace jobqueue::api
