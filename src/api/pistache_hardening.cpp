#include "api/pistache_hardening.hpp"

#include <atomic>
#include <cctype>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <pistache/http.h>
#include <pistache/http_headers.h>
#include <pistache/tcp.h>

namespace jobqueue::api {
namespace {

namespace H = Pistache::Http::Header;
using Pistache::Http::Code;
using Pistache::Http::HttpError;

std::atomic<std::uint64_t> g_max_content_length{0};
// Set by the connection handler for the header block it is about to parse on
// this thread (Pistache parses synchronously in that call): the limit of the
// route the request line names. 0: the global limit.
thread_local std::uint64_t t_request_body_limit = 0;

// Any parse failure of header type T becomes a 400 with our error body.
template <typename T>
class Guarded : public T {
 public:
  void parseRaw(const char* str, size_t len) override {
    try {
      T::parseRaw(str, len);
    } catch (const std::exception&) {
      // Pistache's own HttpErrors from here (an unknown media type is a
      // 415 in plain text) become the same JSON 400 as the rest.
      throw HttpError(Code::Bad_Request, MalformedHeaderBody());
    }
  }
};

// Content-Length: digits only, and not above the limit, checked when the
// header arrives, so a refused body is never buffered or reserved.
class GuardedContentLength : public H::ContentLength {
 public:
  void parseRaw(const char* str, size_t len) override {
    std::string text(str, len);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.pop_back();
    bool digits = !text.empty() && text.size() <= 19;
    for (char c : text) digits = digits && std::isdigit(static_cast<unsigned char>(c));
    if (!digits) throw HttpError(Code::Bad_Request, MalformedHeaderBody());
    const std::uint64_t limit = t_request_body_limit ? t_request_body_limit : g_max_content_length.load();
    if (std::stoull(text) > limit) {
      throw HttpError(Code::Request_Entity_Too_Large, BodyTooLargeBody());
    }
    H::ContentLength::parse(text);
  }
};

// Chunked bodies would be reserved chunk by chunk at whatever size each
// chunk claims; nothing we serve needs them.
class RefusedTransferEncoding : public H::TransferEncoding {
 public:
  void parseRaw(const char*, size_t) override {
    throw HttpError(Code::Length_Required,
                    R"({"error":{"code":"length_required","message":"Transfer-Encoding is not supported; send Content-Length","field":"Transfer-Encoding"}})");
  }
};

// Reaching Registry's private factory map: access is not checked on the
// names in an explicit instantiation, so Expose<&Registry::registry> may
// name it and hand the member pointer out through a friend function.
using Factory = std::function<std::unique_ptr<H::Header>()>;
using FactoryMap = std::unordered_map<std::string, Factory, H::LowercaseHash, H::LowercaseEqual>;
using FactoryMapMember = FactoryMap H::Registry::*;

struct RegistryMapTag {
  friend FactoryMapMember RegistryMap(RegistryMapTag);
};
template <FactoryMapMember Member>
struct Expose {
  friend FactoryMapMember RegistryMap(RegistryMapTag) { return Member; }
};
template struct Expose<&H::Registry::registry>;

// The same for Tcp::Handler's transport pointer.
using TransportMember = Pistache::Tcp::Transport* Pistache::Tcp::Handler::*;
struct TransportTag {
  friend TransportMember TransportOf(TransportTag);
};
template <TransportMember Member>
struct ExposeTransport {
  friend TransportMember TransportOf(TransportTag) { return Member; }
};
template struct ExposeTransport<&Pistache::Tcp::Handler::transport_>;

template <typename Made>
void Replace(FactoryMap& map, const char* name) {
  auto it = map.find(name);
  if (it != map.end()) it->second = [] { return std::unique_ptr<H::Header>(new Made()); };
}

template <typename T>
void Guard(FactoryMap& map) {
  Replace<Guarded<T>>(map, T::Name);
}

void Install() {
  auto& map = H::Registry::instance().*RegistryMap(RegistryMapTag{});
  Guard<H::Accept>(map);
  Guard<H::AccessControlAllowOrigin>(map);
  Guard<H::AccessControlAllowHeaders>(map);
  Guard<H::AccessControlExposeHeaders>(map);
  Guard<H::AccessControlAllowMethods>(map);
  Guard<H::Allow>(map);
  Guard<H::CacheControl>(map);
  Guard<H::Connection>(map);
  Guard<H::ContentEncoding>(map);
  Guard<H::ContentType>(map);
  Guard<H::Authorization>(map);
  Guard<H::Date>(map);
  Guard<H::Expect>(map);
  Guard<H::Host>(map);
  Guard<H::Location>(map);
  Guard<H::Server>(map);
  Guard<H::UserAgent>(map);
  Replace<GuardedContentLength>(map, H::ContentLength::Name);
  Replace<RefusedTransferEncoding>(map, H::TransferEncoding::Name);
}

}  // namespace

const char* MalformedHeaderBody() {
  return R"({"error":{"code":"malformed_header","message":"a request header is malformed"}})";
}

const char* BodyTooLargeBody() {
  return R"({"error":{"code":"payload_too_large","message":"the request body is larger than this server accepts","field":"body"}})";
}

std::string WithoutCookies(const std::string& head) {
  std::string out;
  out.reserve(head.size());
  std::size_t start = 0;
  bool first = true;  // the request line is never a header
  while (start < head.size()) {
    auto end = head.find("\r\n", start);
    end = end == std::string::npos ? head.size() : end + 2;
    const std::string line = head.substr(start, end - start);
    start = end;
    if (!first) {
      const auto colon = line.find(':');
      std::string name = line.substr(0, colon == std::string::npos ? 0 : colon);
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (name == "cookie" || name == "set-cookie") continue;
    }
    first = false;
    out += line;
  }
  return out;
}

void AttachTransport(Pistache::Tcp::Handler& handler, Pistache::Tcp::Transport* transport) {
  handler.*TransportOf(TransportTag{}) = transport;
}

void SetRequestBodyLimit(std::size_t max_body_bytes) { t_request_body_limit = max_body_bytes; }

void HardenPistacheHeaders(std::size_t max_body_bytes) {
  static std::once_flag once;
  std::call_once(once, Install);
  auto current = g_max_content_length.load();
  while (current < max_body_bytes && !g_max_content_length.compare_exchange_weak(current, max_body_bytes)) {
  }
}

}  // namespace jobqueue::api
