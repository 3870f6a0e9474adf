#pragma once
// Fixes for the way Pistache 0.0.5 (Debian bookworm) treats hostile request
// headers, before our handler ever sees the request:
//
// - An exception from one of its header parsers (Content-Length digits that
//   overflow, an ill-formed Accept or Cache-Control, a bad Host port, ...)
//   becomes "500 <exception text>".
// - It reserves the body's declared Content-Length (or a chunk's declared
//   size) in memory before reading a byte of it: a header claiming a
//   terabyte throws bad_alloc (500) or, under AddressSanitizer, aborts.
//
// Pistache builds each registered header from a factory in its global
// Header::Registry; HardenPistacheHeaders() swaps every factory for one that
// makes the same header type with a guarded parser: a failing parse is a 400
// in our JSON error shape, a Content-Length above the limit is a 413 before
// any of the body is read, and Transfer-Encoding is refused with 411 (every
// client we serve sends Content-Length). Pistache keeps no public way to
// replace a factory, so the registry's private map is reached through an
// explicit template instantiation (see the .cpp).
#include <cstddef>
#include <string>

namespace Pistache::Tcp {
class Handler;
class Transport;
}  // namespace Pistache::Tcp

namespace jobqueue::api {

// Installs the guarded factories (once per process) and raises the process's
// Content-Length limit to at least `max_body_bytes` (the registry is global,
// so with several servers in one process the largest limit applies at the
// header; each server still checks its own limit on the body).
// Call before the first server starts serving.
void HardenPistacheHeaders(std::size_t max_body_bytes);

// The Content-Length limit for the request whose header block the calling
// thread parses next (0: the global limit above). Image uploads may be
// larger than JSON bodies; the connection handler sets it from the request
// line before handing the block to Pistache.
void SetRequestBodyLimit(std::size_t max_body_bytes);

// Pistache parses Cookie and Set-Cookie itself, outside the registry, and
// answers a malformed one with 500; the API uses no cookies. Returns a
// request's header block (request line, headers, blank line) without those
// lines, for the handler that frames header blocks (api_server.cpp).
std::string WithoutCookies(const std::string& head);

// Points `handler` at `transport`, as Pistache's Transport does for the
// handlers it owns (its setter is private to Transport): lets a handler pass
// its input on to a second handler that answers on the same transport.
void AttachTransport(Pistache::Tcp::Handler& handler, Pistache::Tcp::Transport* transport);

// The JSON error bodies the guarded parsers answer with.
const char* MalformedHeaderBody();
const char* BodyTooLargeBody();

}  // namespace jobqueue::api
