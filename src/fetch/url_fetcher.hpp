#pragma once
// FetchUrl: downloads an image URL for a worker with libcurl, refusing what a
// worker inside a cluster must not reach. http and https only; connect and
// total timeouts; at most `max_redirects` redirects; at most `max_bytes` of
// body (refused as soon as Content-Length or the bytes received pass it,
// never buffered beyond). Unless `allow_private`, the address actually
// connected to (after DNS, and after every redirect) must not be loopback,
// private (RFC 1918, fc00::/7), link-local (169.254.0.0/16 with the cloud
// metadata address, fe80::/10), multicast, unspecified, CGNAT (100.64/10)
// or otherwise reserved. Knows libcurl and nothing of PostgreSQL or HTTP
// servers. Thread-safe.
#include <atomic>
#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>

struct sockaddr;

namespace jobqueue::fetch {

struct FetchOptions {
  std::size_t max_bytes = 50u << 20;    // IMAGE_FETCH_MAX_BYTES
  double timeout_seconds = 30;          // IMAGE_FETCH_TIMEOUT_SECONDS: the whole transfer
  double connect_timeout_seconds = 10;  // min(10, timeout_seconds)
  bool allow_private = false;           // IMAGE_FETCH_ALLOW_PRIVATE
  int max_redirects = 3;                // followed; one more is a permanent failure
  // For tests only: when set, decides instead of IsForbiddenAddress which
  // addresses are refused (both test servers listen on 127.0.0.1, so a test
  // of a refused redirect forbids one of them by port). allow_private = true
  // still lifts every refusal. Called on the fetching thread.
  std::function<bool(const sockaddr*)> forbidden_address;
};

struct FetchResult {
  std::string bytes;
  std::string content_type;  // as the server sent it; may be empty
  std::string final_url;     // after redirects
};

// Why a fetch failed. retryable(): network errors, timeouts, 5xx, 429;
// otherwise permanent: bad URL or scheme, refused address, 4xx, too large,
// too many redirects. The message names the URL's host and the cause, never
// the query string (it may hold a signature).
class FetchError : public std::runtime_error {
 public:
  FetchError(const std::string& message, bool retryable)
      : std::runtime_error(message), retryable_(retryable) {}
  bool retryable() const { return retryable_; }

 private:
  bool retryable_;
};

// Throws FetchError. `cancelled` (may be null) is polled during the
// transfer; a cancelled fetch throws a retryable FetchError.
FetchResult FetchUrl(const std::string& url, const FetchOptions& options,
                     const std::atomic<bool>* cancelled = nullptr);

// Checks `url` without fetching it: http or https, a host, at most 2048
// bytes, no user:password. Throws FetchError (permanent) naming what is
// wrong. The API calls it before enqueueing.
void ValidateUrl(const std::string& url);

// True when connecting to `address` is refused without allow_private.
bool IsForbiddenAddress(const sockaddr* address);

// Calls curl_global_init once; safe from any thread, any number of times.
void InitFetching();

}  // namespace jobqueue::fetch
