#include "fetch/address_policy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>

#include "fetch/url_fetcher.hpp"

namespace jobqueue::fetch {
namespace {

struct V4Range {
  std::uint32_t network;  // host byte order
  int prefix_length;
  const char* reason;
};

// Every IPv4 range a worker inside a cluster must not reach (RFC 6890's
// special-purpose registry, minus ranges that are merely documentation).
// The first match names the reason, so 255.255.255.255 precedes 240/4.
constexpr V4Range kForbiddenV4[] = {
    {0x00000000, 8, "unspecified address"},            // 0.0.0.0/8 "this network"
    {0x0A000000, 8, "private address"},                // 10.0.0.0/8
    {0x64400000, 10, "shared (CGNAT) address"},        // 100.64.0.0/10
    {0x7F000000, 8, "loopback address"},               // 127.0.0.0/8
    {0xA9FE0000, 16, "link-local address"},            // 169.254.0.0/16, cloud metadata
    {0xAC100000, 12, "private address"},               // 172.16.0.0/12
    {0xC0000000, 24, "reserved address"},              // 192.0.0.0/24 IETF protocol assignments
    {0xC0A80000, 16, "private address"},               // 192.168.0.0/16
    {0xC6120000, 15, "reserved (benchmarking) address"},  // 198.18.0.0/15
    {0xE0000000, 4, "multicast address"},              // 224.0.0.0/4
    {0xFFFFFFFF, 32, "broadcast address"},             // 255.255.255.255
    {0xF0000000, 4, "reserved address"},               // 240.0.0.0/4
};

std::optional<std::string> V4Reason(std::uint32_t address) {
  for (const auto& range : kForbiddenV4) {
    const std::uint32_t mask = ~std::uint32_t{0} << (32 - range.prefix_length);
    if ((address & mask) == range.network) return std::string(range.reason);
  }
  return std::nullopt;
}

std::uint32_t V4At(const unsigned char* bytes) {
  return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) | (std::uint32_t{bytes[2]} << 8) |
         std::uint32_t{bytes[3]};
}

bool AllZero(const unsigned char* bytes, int count) {
  for (int i = 0; i < count; ++i) {
    if (bytes[i] != 0) return false;
  }
  return true;
}

std::optional<std::string> V6Reason(const unsigned char* b) {
  if (AllZero(b, 16)) return std::string("unspecified address");
  if (AllZero(b, 15) && b[15] == 1) return std::string("loopback address");
  // ::ffff:a.b.c.d (IPv4-mapped): Linux connects to a.b.c.d itself.
  if (AllZero(b, 10) && b[10] == 0xFF && b[11] == 0xFF) return V4Reason(V4At(b + 12));
  // ::a.b.c.d (IPv4-compatible, deprecated); :: and ::1 are handled above.
  if (AllZero(b, 12)) return V4Reason(V4At(b + 12));
  // 64:ff9b::/96, the well-known NAT64 prefix: a NAT64 gateway inside the
  // cluster would connect to the embedded IPv4 address.
  static constexpr unsigned char kNat64[12] = {0x00, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0};
  if (std::memcmp(b, kNat64, sizeof kNat64) == 0) return V4Reason(V4At(b + 12));
  // 64:ff9b:1::/48 (RFC 8215) is for local NAT64 deployments, whose
  // embedding is site-specific: refuse it whole.
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xFF && b[3] == 0x9B && b[4] == 0x00 && b[5] == 0x01) {
    return std::string("private (local NAT64) address");
  }
  // 2002::/16 (6to4) carries an IPv4 address in bits 16..47.
  if (b[0] == 0x20 && b[1] == 0x02) return V4Reason(V4At(b + 2));
  if ((b[0] & 0xFE) == 0xFC) return std::string("private (unique local) address");  // fc00::/7
  if (b[0] == 0xFE && (b[1] & 0xC0) == 0x80) return std::string("link-local address");  // fe80::/10
  if (b[0] == 0xFE && (b[1] & 0xC0) == 0xC0) return std::string("site-local address");  // fec0::/10, deprecated
  if (b[0] == 0xFF) return std::string("multicast address");  // ff00::/8
  return std::nullopt;
}

}  // namespace

std::optional<std::string> ForbiddenAddressReason(const sockaddr* address) {
  if (address == nullptr) return std::string("missing address");
  if (address->sa_family == AF_INET) {
    sockaddr_in v4;
    std::memcpy(&v4, address, sizeof v4);
    return V4Reason(ntohl(v4.sin_addr.s_addr));
  }
  if (address->sa_family == AF_INET6) {
    sockaddr_in6 v6;
    std::memcpy(&v6, address, sizeof v6);
    return V6Reason(v6.sin6_addr.s6_addr);
  }
  return std::string("non-IP address");
}

std::string FormatAddress(const sockaddr* address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address != nullptr && address->sa_family == AF_INET) {
    sockaddr_in v4;
    std::memcpy(&v4, address, sizeof v4);
    if (inet_ntop(AF_INET, &v4.sin_addr, text, sizeof text) != nullptr) return text;
  } else if (address != nullptr && address->sa_family == AF_INET6) {
    sockaddr_in6 v6;
    std::memcpy(&v6, address, sizeof v6);
    if (inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text) != nullptr) return text;
  }
  return "unknown address";
}

bool IsForbiddenAddress(const sockaddr* address) { return ForbiddenAddressReason(address).has_value(); }

}  // namespace jobqueue::fetch
