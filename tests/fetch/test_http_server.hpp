#pragma once
// A scripted HTTP/1.1 server for tests that fetch URLs: it listens on
// 127.0.0.1 on a port the kernel picks, and answers each request by running
// the route's handler and writing the RawResponse it returns, byte for byte
// and step by step, so a test can serve exact bodies, omit or fake
// Content-Length, stall before the head or in the middle of the body,
// redirect, or fail. One request per connection; the connection closes
// after the response (the helpers below say `Connection: close`).
//
//   TestHttpServer server;
//   server.Route("/cat.jpg", [](const HttpRequest&) { return Ok(jpeg, "image/jpeg"); });
//   server.Start();
//   FetchUrl(server.Url("/cat.jpg"), options);
//
// The test owns the server; the destructor stops it. Stop() cuts every
// stall short and closes every connection, so a stalled route never holds
// a test up past its own end. Handlers run on the server's threads, one
// per connection, and may run concurrently.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace jobqueue::testing {

struct HttpRequest {
  std::string method;
  std::string target;                          // as sent: path and query
  std::string path;                            // target without the query
  std::map<std::string, std::string> headers;  // names lowercased
};

// What a route writes, as steps run in order: Send writes bytes, Stall waits.
class RawResponse {
 public:
  struct Step {
    std::string bytes;
    std::size_t times = 1;               // bytes written this many times
    std::chrono::milliseconds stall{0};  // waited before the bytes
  };

  RawResponse() = default;
  explicit RawResponse(std::string bytes) { Send(std::move(bytes)); }

  RawResponse& Send(std::string bytes);
  // Writes `bytes` `times` times without building the whole (a 1 GiB body
  // costs one chunk of memory); writing ends early when the client hangs up.
  RawResponse& SendRepeated(std::string bytes, std::size_t times);
  // Waits, e.g. before the head (a slow server) or mid-body (a stalled one).
  RawResponse& Stall(std::chrono::milliseconds duration);

  const std::vector<Step>& steps() const { return steps_; }

 private:
  std::vector<Step> steps_;
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// "HTTP/1.1 <status> <reason>\r\n", the headers, `Connection: close`, and
// the blank line. Nothing else is added: no Content-Length unless given.
std::string ResponseHead(int status, const HttpHeaders& headers = {});

// 200 with `body` and its true Content-Length.
RawResponse Ok(std::string body, const std::string& content_type = "application/octet-stream");
// 200 with `body` and no Content-Length: the body ends when the connection closes.
RawResponse OkWithoutLength(std::string body, const std::string& content_type = "application/octet-stream");
// A redirect (302 unless told) to `location`.
RawResponse Redirect(const std::string& location, int status = 302);
// `status` with a short text body, e.g. 404 or 503.
RawResponse StatusOnly(int status);

class TestHttpServer {
 public:
  using Handler = std::function<RawResponse(const HttpRequest&)>;

  TestHttpServer() = default;
  ~TestHttpServer();
  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;

  // Serves `path` (exact match, query ignored) with `handler`; replaces an
  // earlier route for the same path. Allowed before and after Start().
  // Paths without a route answer 404.
  void Route(const std::string& path, Handler handler);

  // Binds 127.0.0.1:0 and starts accepting. Throws std::runtime_error.
  void Start();
  // Stops accepting, ends stalls and writes, joins every thread. Idempotent;
  // a stopped server does not start again.
  void Stop();

  int Port() const { return port_; }
  // "http://127.0.0.1:<port><path>"
  std::string Url(const std::string& path) const;

  // Every request received so far, in arrival order.
  std::vector<HttpRequest> Requests() const;
  // How many requests asked for `path`.
  std::size_t RequestCount(const std::string& path) const;
  // Body and head bytes written to clients so far, over all connections.
  std::uint64_t BytesSent() const { return bytes_sent_.load(); }

 private:
  void AcceptLoop();
  void Serve(int fd);
  bool ReadRequest(int fd, HttpRequest& request);
  bool WriteAll(int fd, const std::string& bytes);
  bool Wait(std::chrono::milliseconds duration);  // false once stopping

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> bytes_sent_{0};
  std::thread accept_thread_;

  mutable std::mutex mutex_;
  std::condition_variable stop_signal_;
  std::map<std::string, Handler> routes_;
  std::vector<HttpRequest> requests_;
  struct Connection {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Connection> connections_;  // finished ones joined on each accept
};

}  // namespace jobqueue::testing
