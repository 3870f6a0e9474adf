#include "api/http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>

namespace jobqueue::testing {
namespace {

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string HttpResponse::ErrorCode() const {
  const auto json = Json();
  if (!json.is_object() || !json.contains("error") || !json["error"].is_object()) return "";
  return json["error"].value("code", "");
}

std::string HttpResponse::ErrorField() const {
  const auto json = Json();
  if (!json.is_object() || !json.contains("error") || !json["error"].is_object()) return "";
  return json["error"].value("field", "");
}

HttpResponse SendRaw(int port, const std::string& bytes, int timeout_ms) {
  HttpResponse out;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return out;
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  auto remaining = [&] {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    return static_cast<int>(std::max<long long>(0, left.count()));
  };
  // Send everything; the server may answer (413) and stop reading before
  // the end, which is fine: the answer is what counts.
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, remaining()) <= 0) break;
    const ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  std::string response;
  std::size_t header_end = std::string::npos;
  long long content_length = -1;
  char buf[16384];
  for (;;) {
    if (header_end != std::string::npos && content_length >= 0 &&
        response.size() >= header_end + 4 + static_cast<std::size_t>(content_length)) {
      break;
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, remaining()) <= 0) break;
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    response.append(buf, static_cast<std::size_t>(n));
    if (header_end == std::string::npos && (header_end = response.find("\r\n\r\n")) != std::string::npos) {
      const std::string head = response.substr(0, header_end);
      std::size_t line_start = head.find("\r\n");
      while (line_start != std::string::npos) {
        const auto next = head.find("\r\n", line_start + 2);
        const auto line = head.substr(line_start + 2, next == std::string::npos ? std::string::npos : next - line_start - 2);
        const auto colon = line.find(':');
        if (colon != std::string::npos) {
          auto value = line.substr(colon + 1);
          value.erase(0, value.find_first_not_of(' '));
          out.headers[Lower(line.substr(0, colon))] = value;
        }
        line_start = next;
      }
      if (out.headers.count("content-length")) content_length = std::atoll(out.headers["content-length"].c_str());
    }
  }
  if (response.rfind("HTTP/1.", 0) != 0 || header_end == std::string::npos || content_length < 0 ||
      response.size() < header_end + 4 + static_cast<std::size_t>(content_length)) {
    return out;  // status stays -1: no complete answer
  }
  out.status = std::atoi(response.c_str() + 9);
  out.body = response.substr(header_end + 4, static_cast<std::size_t>(content_length));
  return out;
}

HttpResponse Request(int port, const std::string& method, const std::string& target, const std::string& body,
                     const Headers& headers) {
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  bool has_type = false;
  for (const auto& [name, value] : headers) {
    if (Lower(name) == "content-type") has_type = true;
    req += name + ": " + value + "\r\n";
  }
  if (!body.empty() || method == "POST") {
    if (!has_type) req += "Content-Type: application/json\r\n";
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  return SendRaw(port, req);
}

}  // namespace jobqueue::testing
