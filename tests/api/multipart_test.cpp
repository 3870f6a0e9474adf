// multipart/form-data parsing without a server: the bytes curl sends (built
// by hand, and captured from the real curl binary over loopback), binary
// data, every refusal naming its field, truncation at every offset and a
// hostile 20 MB body.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "api/multipart.hpp"
#include "core/errors.hpp"
#include "support/child_process.hpp"

namespace jobqueue::api {
namespace {

using namespace std::string_literals;

// What curl 7.88 uses: 24 dashes and 16 random hex digits.
const std::string kCurlBoundary = "------------------------d74496d66958873e";

// A part's headers and data, as ParseMultipart sees them between delimiters.
std::string Field(const std::string& name, const std::string& data) {
  return "Content-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + data;
}

// `parts` framed the way curl frames them: no preamble, a CRLF epilogue.
std::string Frame(const std::string& boundary, const std::vector<std::string>& parts) {
  std::string body;
  for (const auto& part : parts) body += "--" + boundary + "\r\n" + part + "\r\n";
  return body + "--" + boundary + "--\r\n";
}

struct Refusal {
  std::string field;
  std::string message;
};

// The InvalidArgument `fn` throws; field "<accepted>" when it throws none.
template <typename F>
Refusal RefusalOf(F&& fn) {
  try {
    fn();
  } catch (const InvalidArgument& e) {
    return {e.field(), e.what()};
  }
  return {"<accepted>", ""};
}

Refusal BodyRefusal(const std::string& body, const std::string& boundary = "b") {
  return RefusalOf([&] { ParseMultipart(body, boundary); });
}

Refusal ContentTypeRefusal(const std::string& content_type) {
  return RefusalOf([&] { MultipartBoundary(content_type); });
}

bool Inside(std::string_view view, std::string_view body) {
  return view.data() >= body.data() && view.data() + view.size() <= body.data() + body.size();
}

// Every byte value, then the fragments a naive splitter trips on.
std::string HostileBytes(const std::string& boundary) {
  std::string data;
  for (int i = 0; i < 256; ++i) data += static_cast<char>(i);
  data += "\r\n\r\n--\r\n-\r\n--\r--\n--" + boundary + "--x--" + boundary + "\r\n";
  for (std::size_t k = 0; k < boundary.size(); ++k) data += "\r\n--" + boundary.substr(0, k) + "\r";
  return data + "\r\n";
}

}  // namespace

TEST_CASE("the body curl sends for a file and a text field parses into both parts", "[multipart]") {
  const std::string jpeg = "\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\r\n--\xff\xd9"s;
  const std::string body = "--" + kCurlBoundary + "\r\n" +
                           "Content-Disposition: form-data; name=\"file\"; filename=\"photo.jpg\"\r\n" +
                           "Content-Type: image/jpeg\r\n" + "\r\n" + jpeg + "\r\n" + "--" + kCurlBoundary + "\r\n" +
                           "Content-Disposition: form-data; name=\"effects\"\r\n" + "\r\n" + "bw,blur\r\n" + "--" +
                           kCurlBoundary + "--\r\n";

  const auto boundary = MultipartBoundary("multipart/form-data; boundary=" + kCurlBoundary);
  CHECK(boundary == kCurlBoundary);
  const auto parts = ParseMultipart(body, boundary);
  REQUIRE(parts.size() == 2);
  CHECK(parts[0].name == "file");
  CHECK(parts[0].filename == "photo.jpg");
  CHECK(parts[0].content_type == "image/jpeg");
  CHECK(parts[0].data == jpeg);
  CHECK(Inside(parts[0].data, body));
  CHECK(parts[1].name == "effects");
  CHECK_FALSE(parts[1].filename);
  CHECK(parts[1].content_type.empty());
  CHECK(parts[1].data == "bw,blur");
  CHECK(Inside(parts[1].data, body));
}

TEST_CASE("part data keeps CR, LF, dashes and partial boundaries byte for byte", "[multipart]") {
  const std::string data = HostileBytes(kCurlBoundary);
  const std::string body = Frame(kCurlBoundary, {Field("a", data), Field("b", data + "\r"), Field("c", "\r\n")});
  const auto parts = ParseMultipart(body, kCurlBoundary);
  REQUIRE(parts.size() == 3);
  CHECK(parts[0].data == data);
  CHECK(parts[1].data == data + "\r");
  CHECK(parts[2].data == "\r\n");
}

TEST_CASE("a boundary line followed by anything but CRLF or -- is data, not a delimiter", "[multipart]") {
  const std::string data = "x\r\n--bx\r\n--b-\r\n--b \t y";
  const std::string body = Frame("b", {Field("f", data)});
  const auto parts = ParseMultipart(body, "b");
  REQUIRE(parts.size() == 1);
  CHECK(parts[0].data == data);
}

TEST_CASE("a delimiter may carry spaces and tabs before its CRLF", "[multipart]") {
  const std::string body = "--b \t\r\n" + Field("f", "x") + "\r\n--b  \r\n" + Field("g", "y") + "\r\n--b--";
  const auto parts = ParseMultipart(body, "b");
  REQUIRE(parts.size() == 2);
  CHECK(parts[0].data == "x");
  CHECK(parts[1].data == "y");
}

TEST_CASE("a part with no data is an empty view", "[multipart]") {
  const std::string body =
      Frame("b", {Field("text", ""), "Content-Disposition: form-data; name=\"file\"; filename=\"\"\r\n"
                                     "Content-Type: application/octet-stream\r\n\r\n"});
  const auto parts = ParseMultipart(body, "b");
  REQUIRE(parts.size() == 2);
  CHECK(parts[0].data.empty());
  CHECK(parts[1].data.empty());
  CHECK(parts[1].filename == "");
  CHECK(parts[1].content_type == "application/octet-stream");
}

TEST_CASE("quoted names unescape backslash-quote and backslash-backslash only", "[multipart]") {
  const auto parts = ParseMultipart(
      Frame("b", {R"(Content-Disposition: form-data; name="a\"b\\c"; filename="C:\photos\\\"x\".jpg")"
                  "\r\n\r\nd"}),
      "b");
  REQUIRE(parts.size() == 1);
  CHECK(parts[0].name == R"(a"b\c)");
  CHECK(parts[0].filename == R"(C:\photos\"x".jpg)");
}

TEST_CASE("header and parameter names are case-insensitive and values may be tokens", "[multipart]") {
  const std::string body = Frame("b", {"content-disposition:Form-Data;NAME=file ; FileName = p.png;"
                                        "filename*=UTF-8''ignored.png\r\n"
                                        "X-Unknown: whatever\r\n"
                                        "CONTENT-TYPE:  image/png \r\n\r\nPNG"});
  const auto parts = ParseMultipart(body, "b");
  REQUIRE(parts.size() == 1);
  CHECK(parts[0].name == "file");
  CHECK(parts[0].filename == "p.png");
  CHECK(parts[0].content_type == "image/png");
  CHECK(parts[0].data == "PNG");
}

TEST_CASE("UTF-8 names and filenames are kept as sent", "[multipart]") {
  const auto parts = ParseMultipart(
      Frame("b", {"Content-Disposition: form-data; name=\"f\xc3\xb3to\"; filename=\"\xe6\x97\xa5\xf0\x9f\x93\xb7.jpg\"\r\n\r\n"}),
      "b");
  REQUIRE(parts.size() == 1);
  CHECK(parts[0].name == "f\xc3\xb3to");
  CHECK(parts[0].filename == "\xe6\x97\xa5\xf0\x9f\x93\xb7.jpg");
}

TEST_CASE("names and filenames that are not UTF-8 text without control characters are refused", "[multipart]") {
  for (const std::string& bad : {"\xff"s, "\xc0\xaf"s, "\xed\xa0\x80"s, "\xf4\x90\x80\x80"s, "\xc2\x85"s, "a\tb"s, "\xe6\x97"s}) {
    INFO(bad);
    const auto as_name = BodyRefusal(Frame("b", {Field(bad, "x")}));
    CHECK(as_name.field == "body");
    CHECK(as_name.message.find("multipart part 1: ") == 0);
    const auto as_filename =
        BodyRefusal(Frame("b", {"Content-Disposition: form-data; name=f; filename=\"" + bad + "\"\r\n\r\n"}));
    CHECK(as_filename.field == "body");
  }
  CHECK(BodyRefusal(Frame("b", {Field("a\x01", "x")})).message.find("malformed header line") != std::string::npos);
}

TEST_CASE("a part without a Content-Disposition form-data name is refused naming the part", "[multipart]") {
  std::string second;
  const int variant = GENERATE(range(0, 5));  // one per case below
  if (variant == 0) {  // no Content-Disposition
    second = "Content-Type: text/plain\r\n\r\nx";
  }
  if (variant == 1) {  // no headers
    second = "\r\nx";
  }
  if (variant == 2) {  // another disposition type
    second = "Content-Disposition: attachment; name=\"g\"\r\n\r\nx";
  }
  if (variant == 3) {  // no name
    second = "Content-Disposition: form-data; filename=\"a.jpg\"\r\n\r\nx";
  }
  if (variant == 4) {  // an empty name
    second = "Content-Disposition: form-data; name=\"\"\r\n\r\nx";
  }
  const auto refusal = BodyRefusal(Frame("b", {Field("f", "x"), second}));
  CHECK(refusal.field == "body");
  CHECK(refusal.message == "multipart part 2: no Content-Disposition form-data header with a name");
}

TEST_CASE("malformed part headers are refused", "[multipart]") {
  std::string part;
  std::string expected;
  const int variant = GENERATE(range(0, 9));  // one per case below
  if (variant == 0) {  // a line without a colon
    part = "Content-Disposition: form-data; name=f\r\nnonsense\r\n\r\nx";
    expected = "multipart part 1: malformed header line \"nonsense\"";
  }
  if (variant == 1) {  // a folded line
    part = "Content-Disposition: form-data;\r\n name=f\r\n\r\nx";
    expected = "multipart part 1: malformed header line \" name=f\"";
  }
  if (variant == 2) {  // a space before the colon
    part = "Content-Disposition : form-data; name=f\r\n\r\nx";
    expected = "multipart part 1: malformed header line \"Content-Disposition : form-data; name=f\"";
  }
  if (variant == 3) {  // two Content-Disposition headers
    part = "Content-Disposition: form-data; name=f\r\nContent-Disposition: form-data; name=g\r\n\r\nx";
    expected = "multipart part 1: more than one Content-Disposition header";
  }
  if (variant == 4) {  // two Content-Type headers
    part = "Content-Disposition: form-data; name=f\r\nContent-Type: a/b\r\nContent-Type: c/d\r\n\r\nx";
    expected = "multipart part 1: more than one Content-Type header";
  }
  if (variant == 5) {  // two names
    part = "Content-Disposition: form-data; name=f; name=g\r\n\r\nx";
    expected = "multipart part 1: Content-Disposition repeats \"name\"";
  }
  if (variant == 6) {  // an unterminated quoted string
    part = "Content-Disposition: form-data; name=\"f\r\n\r\nx";
    expected = "multipart part 1: Content-Disposition: parameter \"name\" has an unterminated quoted string";
  }
  if (variant == 7) {  // a parameter without a value
    part = "Content-Disposition: form-data; name\r\n\r\nx";
    expected = "multipart part 1: Content-Disposition: parameter \"name\" has no '=' and value";
  }
  if (variant == 8) {  // no empty line after the headers
    part = "Content-Disposition: form-data; name=f\r\nx";
    expected = "multipart part 1: headers not ended by an empty line";
  }
  const auto refusal = BodyRefusal(Frame("b", {part}));
  CHECK(refusal.field == "body");
  CHECK(refusal.message == expected);
}

TEST_CASE("a body without its closing boundary is refused", "[multipart]") {
  const auto refusal = BodyRefusal("--xyz\r\n" + Field("f", "data") + "\r\n--xyz\r\n" + Field("g", "more"), "xyz");
  CHECK(refusal.field == "body");
  CHECK(refusal.message == "multipart body: no closing boundary (--xyz--)");
}

TEST_CASE("a body without an opening boundary is refused", "[multipart]") {
  for (const std::string& body : {""s, "--"s, "--b"s, "--c\r\n"s, "hello"s, Field("f", "x")}) {
    INFO(body);
    const auto refusal = BodyRefusal(body);
    CHECK(refusal.field == "body");
    CHECK(refusal.message == "multipart body: no opening boundary (--b)");
  }
}

TEST_CASE("a body holding only the close delimiter has no parts", "[multipart]") {
  CHECK(ParseMultipart("--b--\r\n", "b").empty());
}

TEST_CASE("a body cut at any offset is refused or parsed whole", "[multipart]") {
  const std::string body = "preamble\r\n" + Frame(kCurlBoundary, {Field("effects", "bw,blur"),
                                                                  "Content-Disposition: form-data; name=\"file\"; "
                                                                  "filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n" +
                                                                      HostileBytes(kCurlBoundary)}) +
                           "epilogue";
  const auto whole = ParseMultipart(body, kCurlBoundary);
  REQUIRE(whole.size() == 2);
  const std::size_t close_end = body.rfind("--" + kCurlBoundary + "--") + kCurlBoundary.size() + 4;
  for (std::size_t length = 0; length <= body.size(); ++length) {
    const std::string cut = body.substr(0, length);  // its own allocation, so ASan sees reads past the end
    std::vector<MultipartPart> parts;
    const auto refusal = RefusalOf([&] { parts = ParseMultipart(cut, kCurlBoundary); });
    if (length < close_end) {
      INFO("cut at " << length);
      REQUIRE(refusal.field == "body");
    } else {
      REQUIRE(refusal.field == "<accepted>");
      REQUIRE(parts.size() == 2);
      for (std::size_t i = 0; i < parts.size(); ++i) {
        CHECK(parts[i].name == whole[i].name);
        CHECK(parts[i].filename == whole[i].filename);
        CHECK(parts[i].content_type == whole[i].content_type);
        CHECK(parts[i].data == whole[i].data);
      }
    }
  }
}

TEST_CASE("more than kMaxParts parts are refused", "[multipart]") {
  std::vector<std::string> parts(kMaxParts, Field("f", "x"));
  CHECK(ParseMultipart(Frame("b", parts), "b").size() == kMaxParts);
  parts.push_back(Field("f", "x"));
  const auto refusal = BodyRefusal(Frame("b", parts));
  CHECK(refusal.field == "body");
  CHECK(refusal.message == "multipart body: more than 32 parts");
}

TEST_CASE("part headers longer than kMaxPartHeaderBytes are refused", "[multipart]") {
  const std::string disposition = "Content-Disposition: form-data; name=f\r\nX-Pad: ";
  const std::string at_limit = disposition + std::string(kMaxPartHeaderBytes - disposition.size(), 'p');
  CHECK(ParseMultipart(Frame("b", {at_limit + "\r\n\r\nx"}), "b").size() == 1);

  const std::string expected = "multipart part 1: headers longer than 8192 bytes";
  CHECK(BodyRefusal(Frame("b", {at_limit + "p\r\n\r\nx"})).message == expected);
  const auto endless = BodyRefusal(Frame("b", {disposition + std::string(1 << 20, 'p')}));
  CHECK(endless.field == "body");
  CHECK(endless.message == expected);
}

TEST_CASE("a preamble before the first boundary and an epilogue after the last are ignored", "[multipart]") {
  const std::string framed = Frame("b", {Field("f", "x")});
  for (const std::string& preamble : {""s, "\r\n"s, "This is a preamble.\r\n"s, "--b-not\r\n--bx\r\n"s}) {
    for (const std::string& epilogue : {""s, "\r\n--b\r\n"s, "epilogue\r\n--b--"s}) {
      INFO(preamble << epilogue);
      const std::string body = preamble + framed + epilogue;
      const auto parts = ParseMultipart(body, "b");
      REQUIRE(parts.size() == 1);
      CHECK(parts[0].data == "x");
    }
  }
}

TEST_CASE("the boundary is read from any spelling of a multipart/form-data Content-Type", "[multipart]") {
  CHECK(MultipartBoundary("multipart/form-data; boundary=----abc") == "----abc");
  CHECK(MultipartBoundary("Multipart/Form-Data;BOUNDARY=abc") == "abc");
  CHECK(MultipartBoundary("multipart/form-data ; boundary = abc ; charset=utf-8") == "abc");
  CHECK(MultipartBoundary("multipart/form-data; charset=\"utf-8\"; boundary=abc;") == "abc");
  CHECK(MultipartBoundary("multipart/form-data; boundary=\"a b:c(d)=?,'+_./\"") == "a b:c(d)=?,'+_./");
  CHECK(MultipartBoundary("multipart/form-data; boundary=\"abc\"") == "abc");
  CHECK(MultipartBoundary("multipart/form-data; boundary=" + std::string(70, 'x')) == std::string(70, 'x'));
}

TEST_CASE("a Content-Type that is not multipart/form-data with a valid boundary is refused", "[multipart]") {
  std::string content_type;
  std::string expected;
  const int variant = GENERATE(range(0, 12));  // one per case below
  if (variant == 0) {  // another type
    content_type = "application/json";
    expected = "Content-Type must be multipart/form-data, got \"application/json\"";
  }
  if (variant == 1) {  // another multipart type
    content_type = "multipart/mixed; boundary=abc";
    expected = "Content-Type must be multipart/form-data, got \"multipart/mixed; boundary=abc\"";
  }
  if (variant == 2) {  // control characters echoed harmlessly
    content_type = "text/plain\r\nX-Forged: 1";
    expected = "Content-Type must be multipart/form-data, got \"text/plain??X-Forged: 1\"";
  }
  if (variant == 3) {  // empty
    content_type = "";
    expected = "Content-Type must be multipart/form-data, got \"\"";
  }
  if (variant == 4) {  // no boundary
    content_type = "multipart/form-data; charset=utf-8";
    expected = "Content-Type multipart/form-data has no boundary";
  }
  if (variant == 5) {  // an empty boundary
    content_type = "multipart/form-data; boundary=\"\"";
    expected = "Content-Type boundary must be 1 to 70 characters, got 0";
  }
  if (variant == 6) {  // a boundary of 71 characters
    content_type = "multipart/form-data; boundary=" + std::string(71, 'x');
    expected = "Content-Type boundary must be 1 to 70 characters, got 71";
  }
  if (variant == 7) {  // a boundary ending with a space
    content_type = "multipart/form-data; boundary=\"abc \"";
    expected = "Content-Type boundary must not end with a space";
  }
  if (variant == 8) {  // a character outside bchars
    content_type = "multipart/form-data; boundary=ab@c";
    expected = "Content-Type boundary has a character RFC 2046 forbids: \"ab@c\"";
  }
  if (variant == 9) {  // two boundaries
    content_type = "multipart/form-data; boundary=a; boundary=b";
    expected = "Content-Type has more than one boundary";
  }
  if (variant == 10) {  // an unterminated quote
    content_type = "multipart/form-data; boundary=\"abc";
    expected = "Content-Type: parameter \"boundary\" has an unterminated quoted string";
  }
  if (variant == 11) {  // garbage after a value
    content_type = "multipart/form-data; boundary=\"abc\"def";
    expected = "Content-Type: unexpected \"d\" after parameter \"boundary\"";
  }
  const auto refusal = ContentTypeRefusal(content_type);
  CHECK(refusal.field == "Content-Type");
  CHECK(refusal.message == expected);
}

TEST_CASE("parsing with an invalid boundary is refused as a Content-Type problem", "[multipart]") {
  for (const std::string& boundary : {""s, "a\r\nb"s, std::string(71, 'x'), "ab "s}) {
    CHECK(BodyRefusal("--" + boundary + "--", boundary).field == "Content-Type");
  }
}

TEST_CASE("a 20 MB body of dashes and partial delimiters is scanned in linear time", "[multipart]") {
  // No timing assertion: a quadratic scan would take minutes here.
  std::string boundary;
  std::string fragment;
  const int variant = GENERATE(range(0, 2));  // one per case below
  if (variant == 0) {  // curl's boundary
    boundary = kCurlBoundary;
    fragment = HostileBytes(boundary) + "--\r\n--\r\n--" + boundary.substr(0, 30) + "--";
  }
  if (variant == 1) {  // a boundary of one repeated character
    boundary = std::string(70, 'a');
    fragment = std::string(300, 'a') + "\r\n--" + std::string(69, 'a') + "\r\n--" + boundary + "a";
  }
  std::string hostile;
  hostile.reserve((20u << 20) + fragment.size());
  while (hostile.size() < (20u << 20)) hostile += fragment;

  const std::string head = "--" + boundary + "\r\n" + Field("f", "");
  const std::string body = head + hostile + "\r\n--" + boundary + "--";
  const auto parts = ParseMultipart(body, boundary);
  REQUIRE(parts.size() == 1);
  CHECK(parts[0].data.size() == hostile.size());
  CHECK(BodyRefusal(head + hostile, boundary).message == "multipart body: no closing boundary (--" + boundary + "--)");
  CHECK(BodyRefusal(hostile, boundary).message == "multipart body: no opening boundary (--" + boundary + ")");
}

namespace {

// One TCP connection on 127.0.0.1 at a port the kernel picks, served once.
class LoopbackListener {
 public:
  LoopbackListener() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof addr;
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(listen(fd_, 1) == 0);
    REQUIRE(getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &length) == 0);
    port_ = ntohs(addr.sin_port);
  }
  ~LoopbackListener() { close(fd_); }
  LoopbackListener(const LoopbackListener&) = delete;
  LoopbackListener& operator=(const LoopbackListener&) = delete;

  int port() const { return port_; }

  // Accepts one connection, reads one request with a Content-Length body
  // (answering `Expect: 100-continue`), answers 204 and returns the request
  // as received; what it has so far when `timeout` passes first.
  std::string ServeOne(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const auto wait_readable = [&](int fd) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{fd, POLLIN, 0};
      return left.count() > 0 && poll(&p, 1, static_cast<int>(left.count())) == 1;
    };
    if (!wait_readable(fd_)) return "";
    const int connection = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (connection < 0) return "";
    std::string request;
    std::size_t expected = std::string::npos;
    bool continued = false;
    char buffer[65536];
    while (request.size() != expected && wait_readable(connection)) {
      const ssize_t n = recv(connection, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      request.append(buffer, static_cast<std::size_t>(n));
      const std::size_t head_end = request.find("\r\n\r\n");
      if (head_end == std::string::npos) continue;
      std::string head = request.substr(0, head_end);
      for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      const std::size_t length_at = head.find("\r\ncontent-length:");
      if (length_at != std::string::npos) {
        expected = head_end + 4 + std::strtoul(head.c_str() + length_at + 17, nullptr, 10);
      }
      if (!continued && head.find("\r\nexpect: 100-continue") != std::string::npos) {
        continued = true;
        const std::string go_on = "HTTP/1.1 100 Continue\r\n\r\n";
        send(connection, go_on.data(), go_on.size(), MSG_NOSIGNAL);
      }
    }
    const std::string answer = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
    send(connection, answer.data(), answer.size(), MSG_NOSIGNAL);
    close(connection);
    return request;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// The absolute path of `program` on PATH, or "" when it is not there.
std::string FindOnPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "";
  while (!dirs.empty()) {
    const std::size_t colon = dirs.find(':');
    const std::string candidate = std::string(dirs.substr(0, colon)) + "/" + program;
    if (!candidate.empty() && candidate[0] == '/' && access(candidate.c_str(), X_OK) == 0) return candidate;
    dirs = colon == std::string_view::npos ? std::string_view() : dirs.substr(colon + 1);
  }
  return "";
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  return s;
}

// The value of header `name` (lower case) in an HTTP request head.
std::string HeaderOf(const std::string& request, const std::string& name) {
  const std::string head = request.substr(0, request.find("\r\n\r\n"));
  std::size_t line = head.find("\r\n");
  while (line != std::string::npos) {
    const std::size_t end = head.find("\r\n", line + 2);
    const std::string text = head.substr(line + 2, end == std::string::npos ? std::string::npos : end - line - 2);
    std::string lower = text.substr(0, name.size() + 1);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == name + ":") return std::string(Trim(text.substr(name.size() + 1)));
    line = end;
  }
  return "";
}

}  // namespace

TEST_CASE("the bytes the real curl binary sends parse back to the file it read", "[multipart]") {
  const std::string curl = FindOnPath("curl");
  if (curl.empty()) {
    WARN("curl is not on PATH: skipping the check against the real curl binary");
    SUCCEED("skipped");  // ctest runs with --warn NoAssertions
    return;
  }
  char dir_template[] = "/tmp/multipart-test-XXXXXX";
  REQUIRE(mkdtemp(dir_template) != nullptr);
  const std::string dir = dir_template;
  const std::string file = dir + "/photo.jpg";
  std::string jpeg = "\xff\xd8\xff\xe0"s;
  while (jpeg.size() < 5000) jpeg += HostileBytes("------------------------");
  jpeg += "\xff\xd9\r\n";
  std::ofstream(file, std::ios::binary) << jpeg;

  LoopbackListener listener;
  const std::string url = "http://127.0.0.1:" + std::to_string(listener.port()) + "/upload";
  testing::ChildProcess client(curl, {}, {"-s", "--max-time", "10", "-F", "file=@" + file, "-F", "effects=bw,blur", url});
  const std::string request = listener.ServeOne(std::chrono::seconds(10));
  const bool exited = testing::ExitedCleanly(client);
  std::remove(file.c_str());
  rmdir(dir.c_str());
  REQUIRE(exited);

  const std::size_t head_end = request.find("\r\n\r\n");
  REQUIRE(head_end != std::string::npos);
  const std::string body = request.substr(head_end + 4);
  const auto boundary = MultipartBoundary(HeaderOf(request, "content-type"));
  const auto parts = ParseMultipart(body, boundary);
  REQUIRE(parts.size() == 2);
  CHECK(parts[0].name == "file");
  CHECK(parts[0].filename == "photo.jpg");
  CHECK(parts[0].content_type == "image/jpeg");
  CHECK(parts[0].data == jpeg);
  CHECK(parts[1].name == "effects");
  CHECK(parts[1].data == "bw,blur");
}

}  // namespace jobqueue::api
