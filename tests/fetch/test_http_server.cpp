#include "fetch/test_http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <stdexcept>

namespace jobqueue::testing {
namespace {

// How often blocked waits look at the stop flag: bounds how long Stop()
// takes while a client neither reads nor writes.
constexpr int kPollMs = 20;
constexpr std::size_t kMaxRequestHead = 64 * 1024;
constexpr auto kRequestDeadline = std::chrono::seconds(10);

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
}

const char* Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

bool ParseHead(const std::string& head, HttpRequest& request) {
  std::size_t line_end = head.find("\r\n");
  const std::string request_line = head.substr(0, line_end);
  const auto first_space = request_line.find(' ');
  const auto second_space = request_line.find(' ', first_space + 1);
  if (first_space == std::string::npos || second_space == std::string::npos) return false;
  request.method = request_line.substr(0, first_space);
  request.target = request_line.substr(first_space + 1, second_space - first_space - 1);
  request.path = request.target.substr(0, request.target.find('?'));
  while (line_end != std::string::npos) {
    const std::size_t start = line_end + 2;
    line_end = head.find("\r\n", start);
    const std::string line = head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
    const auto colon = line.find(':');
    if (colon != std::string::npos) request.headers[Lower(line.substr(0, colon))] = Trim(line.substr(colon + 1));
  }
  return true;
}

}  // namespace

RawResponse& RawResponse::Send(std::string bytes) { return SendRepeated(std::move(bytes), 1); }

RawResponse& RawResponse::SendRepeated(std::string bytes, std::size_t times) {
  Step step;
  step.bytes = std::move(bytes);
  step.times = times;
  steps_.push_back(std::move(step));
  return *this;
}

RawResponse& RawResponse::Stall(std::chrono::milliseconds duration) {
  Step step;
  step.times = 0;
  step.stall = duration;
  steps_.push_back(std::move(step));
  return *this;
}

std::string ResponseHead(int status, const HttpHeaders& headers) {
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " + Reason(status) + "\r\n";
  for (const auto& [name, value] : headers) head += name + ": " + value + "\r\n";
  head += "Connection: close\r\n\r\n";
  return head;
}

RawResponse Ok(std::string body, const std::string& content_type) {
  RawResponse response(
      ResponseHead(200, {{"Content-Type", content_type}, {"Content-Length", std::to_string(body.size())}}));
  return response.Send(std::move(body));
}

RawResponse OkWithoutLength(std::string body, const std::string& content_type) {
  RawResponse response(ResponseHead(200, {{"Content-Type", content_type}}));
  return response.Send(std::move(body));
}

RawResponse Redirect(const std::string& location, int status) {
  return RawResponse(ResponseHead(status, {{"Location", location}, {"Content-Length", "0"}}));
}

RawResponse StatusOnly(int status) {
  const std::string body = std::string(Reason(status)) + "\n";
  return RawResponse(ResponseHead(status, {{"Content-Type", "text/plain"},
                                           {"Content-Length", std::to_string(body.size())}}) +
                     body);
}

TestHttpServer::~TestHttpServer() { Stop(); }

void TestHttpServer::Route(const std::string& path, Handler handler) {
  std::lock_guard<std::mutex> lock(mutex_);
  routes_[path] = std::move(handler);
}

void TestHttpServer::Start() {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("test server: socket failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = 0;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || listen(listen_fd_, 64) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    close(listen_fd_);
    listen_fd_ = -1;
    throw std::runtime_error("test server: cannot listen on 127.0.0.1");
  }
  port_ = ntohs(address.sin_port);
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

void TestHttpServer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  stop_signal_.notify_all();
  if (accept_thread_.joinable()) accept_thread_.join();
  // No connection thread starts once the accept thread has ended.
  std::vector<Connection> connections;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    connections.swap(connections_);
  }
  for (auto& connection : connections) connection.thread.join();
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    listen_fd_ = -1;
  }
}

std::string TestHttpServer::Url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

std::vector<HttpRequest> TestHttpServer::Requests() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return requests_;
}

std::size_t TestHttpServer::RequestCount(const std::string& path) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::size_t count = 0;
  for (const auto& request : requests_) count += request.path == path ? 1 : 0;
  return count;
}

void TestHttpServer::AcceptLoop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, kPollMs) <= 0) continue;
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    auto done = std::make_shared<std::atomic<bool>>(false);
    std::thread thread([this, fd, done] {
      Serve(fd);
      *done = true;
    });
    std::vector<Connection> finished;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto it = connections_.begin(); it != connections_.end();) {
        if (*it->done) {
          finished.push_back(std::move(*it));
          it = connections_.erase(it);
        } else {
          ++it;
        }
      }
      connections_.push_back({std::move(thread), std::move(done)});
    }
    for (auto& connection : finished) connection.thread.join();
  }
}

void TestHttpServer::Serve(int fd) {
  HttpRequest request;
  if (ReadRequest(fd, request)) {
    Handler handler;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      requests_.push_back(request);
      if (const auto route = routes_.find(request.path); route != routes_.end()) handler = route->second;
    }
    const RawResponse response = handler ? handler(request) : StatusOnly(404);
    bool open = true;
    for (const auto& step : response.steps()) {
      if (step.stall.count() > 0 && !(open = Wait(step.stall))) break;
      for (std::size_t i = 0; i < step.times && open; ++i) open = WriteAll(fd, step.bytes);
      if (!open) break;
    }
    shutdown(fd, SHUT_WR);
  }
  close(fd);
}

bool TestHttpServer::ReadRequest(int fd, HttpRequest& request) {
  const auto deadline = std::chrono::steady_clock::now() + kRequestDeadline;
  std::string head;
  char buffer[4096];
  while (!stopping_ && std::chrono::steady_clock::now() < deadline) {
    const auto end = head.find("\r\n\r\n");
    if (end != std::string::npos) return ParseHead(head.substr(0, end), request);
    if (head.size() > kMaxRequestHead) return false;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, kPollMs) <= 0) continue;
    const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) return false;
    head.append(buffer, static_cast<std::size_t>(n));
  }
  return false;
}

bool TestHttpServer::WriteAll(int fd, const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    if (stopping_) return false;
    pollfd p{fd, POLLOUT, 0};
    const int ready = poll(&p, 1, kPollMs);
    if (ready < 0 && errno != EINTR) return false;
    if (ready <= 0) continue;
    if ((p.revents & (POLLERR | POLLHUP)) != 0) return false;
    const ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
    bytes_sent_ += static_cast<std::uint64_t>(n);
  }
  return true;
}

bool TestHttpServer::Wait(std::chrono::milliseconds duration) {
  std::unique_lock<std::mutex> lock(mutex_);
  return !stop_signal_.wait_for(lock, duration, [this] { return stopping_.load(); });
}

}  // namespace jobqueue::testing
