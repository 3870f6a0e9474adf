#pragma once
// The address policy behind IsForbiddenAddress: which socket addresses a
// worker refuses to connect to, and why, in words fit for a job's
// last_error. Pure functions of the address; no DNS, no I/O.
#include <optional>
#include <string>

struct sockaddr;

namespace jobqueue::fetch {

// Why connecting to `address` is refused without allow_private, e.g.
// "loopback address", "link-local address"; nullopt when it is allowed.
// IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d), NAT64
// (64:ff9b::/96) and 6to4 (2002::/16) addresses are judged by the IPv4
// address they carry. Address families other than IPv4 and IPv6 are refused.
std::optional<std::string> ForbiddenAddressReason(const sockaddr* address);

// "169.254.169.254", "::1"; "unknown address" for other families.
std::string FormatAddress(const sockaddr* address);

}  // namespace jobqueue::fetch
