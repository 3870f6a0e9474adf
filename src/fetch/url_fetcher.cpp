#include "fetch/url_fetcher.hpp"

#include <curl/curl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <mutex>
#include <new>
#include <optional>

#include "fetch/address_policy.hpp"

namespace jobqueue::fetch {
namespace {

constexpr std::size_t kMaxUrlBytes = 2048;
constexpr const char* kAllowPrivateHint = "set IMAGE_FETCH_ALLOW_PRIVATE=true to allow private addresses";

struct UrlDeleter {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
struct EasyDeleter {
  void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};
struct CurlStringDeleter {
  void operator()(char* text) const { curl_free(text); }
};
using UrlHandle = std::unique_ptr<CURLU, UrlDeleter>;
using CurlString = std::unique_ptr<char, CurlStringDeleter>;

FetchError Permanent(const std::string& message) { return FetchError(message, false); }
FetchError Retryable(const std::string& message) { return FetchError(message, true); }

// One part of a parsed URL, or nullopt when the URL has none.
std::optional<std::string> UrlPart(CURLU* url, CURLUPart part) {
  char* raw = nullptr;
  if (curl_url_get(url, part, &raw, 0) != CURLUE_OK || raw == nullptr) return std::nullopt;
  CurlString owned(raw);
  return std::string(owned.get());
}

// The host of `url` for error messages: never the path or query string,
// which may carry a signature. nullopt when the URL has no host.
std::optional<std::string> HostOf(const std::string& url) {
  UrlHandle handle(curl_url());
  if (handle && curl_url_set(handle.get(), CURLUPART_URL, url.c_str(), CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK) {
    if (auto host = UrlPart(handle.get(), CURLUPART_HOST); host && !host->empty()) return host;
  }
  return std::nullopt;
}

// Everything one transfer's callbacks share; lives on FetchUrl's stack.
struct Transfer {
  const FetchOptions* options = nullptr;
  const std::atomic<bool>* cancelled = nullptr;
  std::string body;
  bool reserved = false;
  bool too_large = false;
  // "refused to connect to ..." for the last address refused, cleared when
  // a later address is allowed (a host may resolve to both kinds).
  std::string refusal;
  CURL* easy = nullptr;
};

bool IsCancelled(const Transfer& transfer) {
  return transfer.cancelled != nullptr && transfer.cancelled->load(std::memory_order_relaxed);
}

// Runs before every connect, with the address DNS gave: the one place the
// address policy is enforced, so redirects and every address of a host are
// covered. Returning CURL_SOCKET_BAD makes libcurl fail the attempt.
curl_socket_t OpenSocket(void* user, curlsocktype purpose, curl_sockaddr* address) {
  auto* transfer = static_cast<Transfer*>(user);
  if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKET_BAD;
  const sockaddr* target = &address->addr;
  if (!transfer->options->allow_private) {
    bool forbidden = true;
    try {
      forbidden = transfer->options->forbidden_address ? transfer->options->forbidden_address(target)
                                                       : IsForbiddenAddress(target);
    } catch (...) {
      // No exception may cross libcurl's C frames; refusing is the safe side.
    }
    if (forbidden) {
      const std::string reason = ForbiddenAddressReason(target).value_or("forbidden address");
      transfer->refusal = "refused to connect to " + FormatAddress(target) + " (" + reason + "; " +
                          kAllowPrivateHint + ")";
      return CURL_SOCKET_BAD;
    }
  }
  transfer->refusal.clear();
  return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

// Appends a chunk of body, refusing the chunk that would pass max_bytes
// before it is copied: Content-Length may be absent or lie.
std::size_t WriteBody(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const std::size_t bytes = size * count;
  if (IsCancelled(*transfer)) return 0;
  const std::size_t max_bytes = transfer->options->max_bytes;
  if (bytes > max_bytes - transfer->body.size()) {
    transfer->too_large = true;
    return 0;  // CURLE_WRITE_ERROR
  }
  if (!transfer->reserved) {
    // Content-Length is at most max_bytes here (CURLOPT_MAXFILESIZE), so
    // trusting it for the reservation costs no more than the limit.
    curl_off_t length = -1;
    if (curl_easy_getinfo(transfer->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) == CURLE_OK && length > 0 &&
        static_cast<std::size_t>(length) <= max_bytes) {
      try {
        transfer->body.reserve(static_cast<std::size_t>(length));
      } catch (const std::bad_alloc&) {
        return 0;
      }
    }
    transfer->reserved = true;
  }
  try {
    transfer->body.append(data, bytes);
  } catch (const std::bad_alloc&) {
    return 0;  // no exception may cross libcurl's C frames
  }
  return bytes;
}

// libcurl calls this often while data flows and about once a second while
// it waits, which bounds how late a cancellation is noticed.
int Progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return IsCancelled(*static_cast<Transfer*>(user)) ? 1 : 0;
}

long Milliseconds(double seconds) {
  // 0 would mean "no timeout" to libcurl.
  return std::max(1L, static_cast<long>(std::llround(seconds * 1000.0)));
}

// Checks a curl_easy_setopt result; called around each curl_easy_setopt
// so that libcurl's compile-time type checks of the argument still apply.
void Check(CURLcode code) {
  if (code != CURLE_OK) throw Retryable(std::string("cannot configure libcurl: ") + curl_easy_strerror(code));
}

std::string Seconds(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%g s", seconds);
  return text;
}

void Configure(CURL* easy, const std::string& url, const FetchOptions& options, Transfer& transfer,
               char* error_buffer) {
  Check(curl_easy_setopt(easy, CURLOPT_URL, url.c_str()));
  Check(curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error_buffer));
  Check(curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https"));
  Check(curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https"));
  Check(curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 1L));
  Check(curl_easy_setopt(easy, CURLOPT_MAXREDIRS, static_cast<long>(std::max(0, options.max_redirects))));
  const double connect_timeout = std::min(options.connect_timeout_seconds, options.timeout_seconds);
  Check(curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, Milliseconds(connect_timeout)));
  Check(curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, Milliseconds(options.timeout_seconds)));
  Check(curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L));
  Check(curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options.max_bytes)));
  Check(curl_easy_setopt(easy, CURLOPT_USERAGENT, "jobqueue-worker"));
  // A 4xx or 5xx ends the transfer before its body is read.
  Check(curl_easy_setopt(easy, CURLOPT_FAILONERROR, 1L));
  // Proxies from the environment (http_proxy, ...) are ignored: the address
  // policy judges the address connected to, which a proxy would hide.
  Check(curl_easy_setopt(easy, CURLOPT_PROXY, ""));
  Check(curl_easy_setopt(easy, CURLOPT_CONNECT_TO, static_cast<curl_slist*>(nullptr)));
  Check(curl_easy_setopt(easy, CURLOPT_RESOLVE, static_cast<curl_slist*>(nullptr)));
  // No cookie engine (CURLOPT_COOKIEFILE unset), no .netrc, no alt-svc or
  // HSTS cache, no Accept-Encoding: the bytes are the image as served.
  Check(curl_easy_setopt(easy, CURLOPT_NETRC, static_cast<long>(CURL_NETRC_IGNORED)));
  Check(curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, &OpenSocket));
  Check(curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, static_cast<void*>(&transfer)));
  Check(curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &WriteBody));
  Check(curl_easy_setopt(easy, CURLOPT_WRITEDATA, static_cast<void*>(&transfer)));
  Check(curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, &Progress));
  Check(curl_easy_setopt(easy, CURLOPT_XFERINFODATA, static_cast<void*>(&transfer)));
  Check(curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L));
}

// libcurl's own detail, cut at any '?' so no query string leaks into a
// message (a redirect's Location may appear in it).
std::string Detail(const char* error_buffer, CURLcode code) {
  std::string detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
  for (std::size_t q = detail.find('?'); q != std::string::npos; q = detail.find('?', q + 1)) {
    const std::size_t end = detail.find_first_of(" '\"", q);
    detail.replace(q, end == std::string::npos ? std::string::npos : end - q, "?...");
  }
  return detail;
}

bool RetryableStatus(long status) { return status == 408 || status == 429 || status >= 500; }

// Turns a failed transfer into the FetchError the worker records.
FetchError Classify(CURLcode code, long status, const Transfer& transfer, const FetchOptions& options,
                    const std::string& subject, const char* error_buffer) {
  switch (code) {
    case CURLE_HTTP_RETURNED_ERROR:
      return FetchError(subject + ": HTTP status " + std::to_string(status), RetryableStatus(status));
    case CURLE_COULDNT_CONNECT:
      if (!transfer.refusal.empty()) return Permanent(subject + ": " + transfer.refusal);
      return Retryable(subject + ": cannot connect: " + Detail(error_buffer, code));
    case CURLE_COULDNT_RESOLVE_HOST:
      // Retryable: resolvers inside a cluster fail transiently, and
      // max_attempts bounds what a name that never resolves costs.
      return Retryable(subject + ": cannot resolve the host name");
    case CURLE_OPERATION_TIMEDOUT:
      return Retryable(subject + ": timed out (limits: " + Seconds(options.timeout_seconds) + " in all, " +
                       Seconds(std::min(options.connect_timeout_seconds, options.timeout_seconds)) + " to connect)");
    case CURLE_ABORTED_BY_CALLBACK:
      return Retryable(subject + ": cancelled");
    case CURLE_WRITE_ERROR:
      if (transfer.too_large) {
        return Permanent(subject + ": body larger than the limit of " + std::to_string(options.max_bytes) + " bytes");
      }
      if (IsCancelled(transfer)) return Retryable(subject + ": cancelled");
      return Retryable(subject + ": " + Detail(error_buffer, code));
    case CURLE_FILESIZE_EXCEEDED:
      return Permanent(subject + ": Content-Length larger than the limit of " + std::to_string(options.max_bytes) +
                       " bytes");
    case CURLE_TOO_MANY_REDIRECTS:
      return Permanent(subject + ": more than " + std::to_string(options.max_redirects) + " redirects");
    case CURLE_UNSUPPORTED_PROTOCOL:
      // A redirect to another scheme, or an HTTP/0.9 answer (no status line).
      return Permanent(subject + ": not http or https: " + Detail(error_buffer, code));
    case CURLE_URL_MALFORMAT:
      return Permanent(subject + ": malformed URL or redirect: " + Detail(error_buffer, code));
    case CURLE_PEER_FAILED_VERIFICATION:
      return Permanent(subject + ": TLS certificate not trusted: " + Detail(error_buffer, code));
    case CURLE_WEIRD_SERVER_REPLY:
      return Permanent(subject + ": the server does not speak HTTP: " + Detail(error_buffer, code));
    default:
      // Broken connections, partial bodies, TLS handshakes cut short: the
      // network's fault until shown otherwise.
      return Retryable(subject + ": " + Detail(error_buffer, code));
  }
}

}  // namespace

void InitFetching() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (const CURLcode code = curl_global_init(CURL_GLOBAL_DEFAULT); code != CURLE_OK) {
      throw FetchError(std::string("curl_global_init failed: ") + curl_easy_strerror(code), true);
    }
  });
}

void ValidateUrl(const std::string& url) {
  if (url.empty()) throw Permanent("image URL is empty");
  if (url.size() > kMaxUrlBytes) {
    throw Permanent("image URL is " + std::to_string(url.size()) + " bytes long, more than " +
                    std::to_string(kMaxUrlBytes));
  }
  for (const char c : url) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7F) throw Permanent("image URL contains a space or a control character");
  }
  UrlHandle handle(curl_url());
  if (!handle) throw Retryable("out of memory parsing the image URL");
  // CURLU_NON_SUPPORT_SCHEME: parse any scheme, so ours is the error given.
  if (const CURLUcode code = curl_url_set(handle.get(), CURLUPART_URL, url.c_str(), CURLU_NON_SUPPORT_SCHEME);
      code != CURLUE_OK) {
    throw Permanent(std::string("image URL is malformed: ") + curl_url_strerror(code));
  }
  const std::string scheme = UrlPart(handle.get(), CURLUPART_SCHEME).value_or("");
  if (scheme != "http" && scheme != "https") {
    throw Permanent("image URL scheme \"" + scheme + "\" is not allowed; use http or https");
  }
  // libcurl 7.88 reads "http:///cat.jpg" and "http:/cat.jpg" as the host
  // cat.jpg; a URL must say "//host" itself.
  const std::size_t authority = scheme.size() + 1;
  if (url.compare(authority, 2, "//") != 0 || url.size() == authority + 2 || url[authority + 2] == '/') {
    throw Permanent("image URL has no host (expected " + scheme + "://host/...)");
  }
  const auto host = UrlPart(handle.get(), CURLUPART_HOST);
  if (!host || host->empty()) throw Permanent("image URL has no host");
  if (UrlPart(handle.get(), CURLUPART_USER) || UrlPart(handle.get(), CURLUPART_PASSWORD)) {
    throw Permanent("image URL for " + *host + " must not contain a user name or password");
  }
}

FetchResult FetchUrl(const std::string& url, const FetchOptions& options, const std::atomic<bool>* cancelled) {
  ValidateUrl(url);
  InitFetching();
  std::unique_ptr<CURL, EasyDeleter> easy(curl_easy_init());
  if (!easy) throw Retryable("fetching image from " + HostOf(url).value_or("the URL") + ": curl_easy_init failed");

  Transfer transfer;
  transfer.options = &options;
  transfer.cancelled = cancelled;
  transfer.easy = easy.get();
  char error_buffer[CURL_ERROR_SIZE] = {};
  Configure(easy.get(), url, options, transfer, error_buffer);

  const CURLcode code = curl_easy_perform(easy.get());
  long status = 0;
  curl_easy_getinfo(easy.get(), CURLINFO_RESPONSE_CODE, &status);
  char* effective = nullptr;
  curl_easy_getinfo(easy.get(), CURLINFO_EFFECTIVE_URL, &effective);
  const std::string final_url = effective != nullptr ? effective : url;

  const std::string host = HostOf(url).value_or("the URL");
  std::string subject = "fetching image from " + host;
  if (const auto final_host = HostOf(final_url); final_host && *final_host != host) {
    subject += " (redirected to " + *final_host + ")";
  }
  if (code != CURLE_OK) throw Classify(code, status, transfer, options, subject, error_buffer);
  if (status < 200 || status > 299) {
    // A 3xx without Location, a 304: nothing to follow, nothing to use.
    throw Permanent(subject + ": HTTP status " + std::to_string(status));
  }

  FetchResult result;
  result.bytes = std::move(transfer.body);
  char* content_type = nullptr;
  if (curl_easy_getinfo(easy.get(), CURLINFO_CONTENT_TYPE, &content_type) == CURLE_OK && content_type != nullptr) {
    result.content_type = content_type;
  }
  result.final_url = final_url;
  return result;
}

}  // namespace jobqueue::fetch
