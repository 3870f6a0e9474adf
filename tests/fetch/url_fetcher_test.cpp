// FetchUrl against a scripted local HTTP server: bodies, limits, timeouts,
// redirects, status codes, the address policy (SSRF) and cancellation; and
// ValidateUrl on its own. IsForbiddenAddress's table: address_policy_test.cpp.
#include "fetch/url_fetcher.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "fetch/test_http_server.hpp"

namespace {

using jobqueue::fetch::FetchError;
using jobqueue::fetch::FetchOptions;
using jobqueue::fetch::FetchResult;
using jobqueue::fetch::FetchUrl;
using jobqueue::fetch::IsForbiddenAddress;
using jobqueue::fetch::ValidateUrl;
using jobqueue::testing::HttpRequest;
using jobqueue::testing::Ok;
using jobqueue::testing::OkWithoutLength;
using jobqueue::testing::RawResponse;
using jobqueue::testing::Redirect;
using jobqueue::testing::ResponseHead;
using jobqueue::testing::StatusOnly;
using jobqueue::testing::TestHttpServer;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// The test servers listen on 127.0.0.1, which the default policy refuses.
FetchOptions LocalOptions() {
  FetchOptions options;
  options.allow_private = true;
  options.timeout_seconds = 5;
  options.connect_timeout_seconds = 2;
  return options;
}

FetchError FetchFailure(const std::string& url, const FetchOptions& options,
                        const std::atomic<bool>* cancelled = nullptr) {
  try {
    FetchUrl(url, options, cancelled);
  } catch (const FetchError& error) {
    return error;
  }
  FAIL("FetchUrl succeeded for " << url);
  return FetchError("", false);
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string RandomBytes(std::size_t size) {
  std::mt19937 random(42);
  std::string bytes(size, '\0');
  for (auto& byte : bytes) byte = static_cast<char>(random() & 0xFF);
  return bytes;
}

int PortOf(const sockaddr* address) {
  if (address->sa_family != AF_INET) return -1;
  sockaddr_in v4;
  std::memcpy(&v4, address, sizeof v4);
  return ntohs(v4.sin_port);
}

}  // namespace

TEST_CASE("a fetch returns the exact bytes and content type the server sent", "[fetch]") {
  const std::string image = RandomBytes(300 * 1024);
  TestHttpServer server;
  const bool with_length = GENERATE(true, false);
  server.Route("/cat.jpg", [&](const HttpRequest&) {
    return with_length ? Ok(image, "image/jpeg") : OkWithoutLength(image, "image/jpeg");
  });
  server.Start();
  const FetchResult result = FetchUrl(server.Url("/cat.jpg"), LocalOptions());
  CHECK(result.bytes.size() == image.size());
  CHECK((result.bytes == image));  // parenthesized: no binary dump on failure
  CHECK(result.content_type == "image/jpeg");
  CHECK(result.final_url == server.Url("/cat.jpg"));
}

TEST_CASE("fetches on several threads at once each get their own bytes", "[fetch]") {
  TestHttpServer server;
  for (int i = 0; i < 8; ++i) {
    server.Route("/" + std::to_string(i), [i](const HttpRequest&) { return Ok(std::string(10000 + i, 'a' + i)); });
  }
  server.Start();
  std::vector<std::string> bodies(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      try {
        bodies[i] = FetchUrl(server.Url("/" + std::to_string(i)), LocalOptions()).bytes;
      } catch (const FetchError& error) {
        bodies[i] = error.what();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int i = 0; i < 8; ++i) CHECK((bodies[i] == std::string(10000 + i, static_cast<char>('a' + i))));
}

TEST_CASE("a fetch identifies itself as jobqueue-worker", "[fetch]") {
  TestHttpServer server;
  server.Route("/cat.jpg", [](const HttpRequest&) { return Ok("x"); });
  server.Start();
  FetchUrl(server.Url("/cat.jpg"), LocalOptions());
  REQUIRE(server.Requests().size() == 1);
  CHECK(server.Requests()[0].headers["user-agent"] == "jobqueue-worker");
}

TEST_CASE("a fetch follows a redirect and reports the final URL", "[fetch]") {
  TestHttpServer server;
  server.Route("/old", [&](const HttpRequest&) { return Redirect(server.Url("/cat.jpg?v=2")); });
  server.Route("/cat.jpg", [](const HttpRequest&) { return Ok("meow", "image/png"); });
  server.Start();
  const FetchResult result = FetchUrl(server.Url("/old"), LocalOptions());
  CHECK(result.bytes == "meow");
  CHECK(result.content_type == "image/png");
  CHECK(result.final_url == server.Url("/cat.jpg?v=2"));
}

TEST_CASE("a fetch follows as many redirects as max_redirects allows", "[fetch]") {
  TestHttpServer server;
  for (int i = 0; i < 3; ++i) {
    server.Route("/r" + std::to_string(i),
                 [&server, i](const HttpRequest&) { return Redirect(server.Url("/r" + std::to_string(i + 1))); });
  }
  server.Route("/r3", [](const HttpRequest&) { return Ok("end"); });
  server.Start();
  FetchOptions options = LocalOptions();
  options.max_redirects = 3;
  CHECK(FetchUrl(server.Url("/r0"), options).bytes == "end");
}

TEST_CASE("one redirect more than max_redirects is a permanent failure", "[fetch]") {
  TestHttpServer server;
  server.Route("/loop", [&](const HttpRequest&) { return Redirect(server.Url("/loop")); });
  server.Start();
  FetchOptions options = LocalOptions();
  options.max_redirects = 3;
  const FetchError error = FetchFailure(server.Url("/loop"), options);
  CHECK_FALSE(error.retryable());
  CHECK_THAT(error.what(), Catch::Contains("more than 3 redirects"));
  CHECK(server.RequestCount("/loop") == 4);
}

TEST_CASE("a server slower than the timeout is a retryable failure returned on time", "[fetch]") {
  TestHttpServer server;
  // Stalling before the response, then in the middle of the body.
  const bool mid_body = GENERATE(false, true);
  if (!mid_body) {
    server.Route("/slow", [](const HttpRequest&) {
      return RawResponse().Stall(10s).Send(ResponseHead(200, {{"Content-Length", "0"}}));
    });
  } else {
    server.Route("/slow", [](const HttpRequest&) {
      return RawResponse(ResponseHead(200, {{"Content-Length", "2000"}})).Send(std::string(1000, 'x')).Stall(10s);
    });
  }
  server.Start();
  FetchOptions options = LocalOptions();
  options.timeout_seconds = 0.5;
  const auto start = Clock::now();
  const FetchError error = FetchFailure(server.Url("/slow"), options);
  CHECK(SecondsSince(start) < 0.5 + 1.5);
  CHECK(error.retryable());
  CHECK_THAT(error.what(), Catch::Contains("timed out") && Catch::Contains("127.0.0.1"));
}

TEST_CASE("a Content-Length above max_bytes is refused before the body is read", "[fetch]") {
  TestHttpServer server;
  // Were the body awaited, the stall would end the fetch as a timeout.
  server.Route("/big", [](const HttpRequest&) {
    return RawResponse(ResponseHead(200, {{"Content-Length", std::to_string(10 << 20)}})).Stall(10s);
  });
  server.Start();
  FetchOptions options = LocalOptions();
  options.max_bytes = 1 << 20;
  const auto start = Clock::now();
  const FetchError error = FetchFailure(server.Url("/big"), options);
  CHECK(SecondsSince(start) < 2);
  CHECK_FALSE(error.retryable());
  CHECK_THAT(error.what(), Catch::Contains("larger than the limit of 1048576 bytes"));
}

TEST_CASE("a body without Content-Length is cut off at max_bytes", "[fetch]") {
  TestHttpServer server;
  // 1 GiB, streamed; the fetch must hang up long before its end.
  const std::size_t kChunk = 16 * 1024;
  server.Route("/endless", [&](const HttpRequest&) {
    return RawResponse(ResponseHead(200, {{"Content-Type", "image/jpeg"}}))
        .SendRepeated(std::string(kChunk, 'x'), 65536);
  });
  server.Start();
  FetchOptions options = LocalOptions();
  options.max_bytes = 256 * 1024;
  const auto start = Clock::now();
  const FetchError error = FetchFailure(server.Url("/endless"), options);
  CHECK(SecondsSince(start) < 3);
  CHECK_FALSE(error.retryable());
  CHECK_THAT(error.what(), Catch::Contains("body larger than the limit of 262144 bytes"));
  server.Stop();
  // What the server got written: the limit, what libcurl holds in one read,
  // and what the two sockets' kernel buffers absorbed; far from 1 GiB.
  CHECK(server.BytesSent() < options.max_bytes + (16u << 20));
}

TEST_CASE("a Content-Length smaller than the body bounds what is read", "[fetch]") {
  TestHttpServer server;
  server.Route("/liar", [](const HttpRequest&) {
    return RawResponse(ResponseHead(200, {{"Content-Length", "100"}})).Send(std::string(4 << 20, 'y'));
  });
  server.Start();
  FetchOptions options = LocalOptions();
  options.max_bytes = 1024;
  const FetchResult result = FetchUrl(server.Url("/liar"), options);
  CHECK(result.bytes == std::string(100, 'y'));
}

TEST_CASE("a body shorter than its Content-Length is a retryable failure", "[fetch]") {
  TestHttpServer server;
  server.Route("/short", [](const HttpRequest&) {
    return RawResponse(ResponseHead(200, {{"Content-Length", "5000"}})).Send(std::string(100, 'z'));
  });
  server.Start();
  const FetchError error = FetchFailure(server.Url("/short"), LocalOptions());
  CHECK(error.retryable());
}

TEST_CASE("a redirect to a forbidden address is refused", "[fetch]") {
  TestHttpServer inside;  // stands for an address the policy forbids
  inside.Route("/secret", [](const HttpRequest&) { return Ok("secret"); });
  inside.Start();
  TestHttpServer outside;
  outside.Route("/cat.jpg", [&](const HttpRequest&) { return Redirect(inside.Url("/secret")); });
  outside.Start();

  FetchOptions options = LocalOptions();
  options.allow_private = false;
  const int allowed_port = outside.Port();
  options.forbidden_address = [allowed_port](const sockaddr* address) { return PortOf(address) != allowed_port; };
  const FetchError error = FetchFailure(outside.Url("/cat.jpg"), options);
  CHECK_FALSE(error.retryable());
  CHECK_THAT(error.what(), Catch::Contains("refused to connect to 127.0.0.1") &&
                               Catch::Contains("IMAGE_FETCH_ALLOW_PRIVATE=true"));
  CHECK(outside.RequestCount("/cat.jpg") == 1);
  CHECK(inside.Requests().empty());
}

TEST_CASE("a redirect to the cloud metadata address is refused", "[fetch]") {
  TestHttpServer server;
  server.Route("/cat.jpg", [](const HttpRequest&) { return Redirect("http://169.254.169.254/latest/meta-data/"); });
  server.Start();
  FetchOptions options = LocalOptions();
  options.allow_private = false;
  // The real policy, but for the test server's own port.
  const int allowed_port = server.Port();
  options.forbidden_address = [allowed_port](const sockaddr* address) {
    return PortOf(address) != allowed_port && IsForbiddenAddress(address);
  };
  const FetchError error = FetchFailure(server.Url("/cat.jpg"), options);
  CHECK_FALSE(error.retryable());
  CHECK_THAT(error.what(), Catch::Contains("(redirected to 169.254.169.254): refused to connect to 169.254.169.254 "
                                           "(link-local address"));
}

TEST_CASE("allow_private lifts the address policy", "[fetch]") {
  TestHttpServer server;
  server.Route("/cat.jpg", [](const HttpRequest&) { return Ok("cat"); });
  server.Start();
  FetchOptions options = LocalOptions();
  options.allow_private = true;
  options.forbidden_address = [](const sockaddr*) { return true; };
  CHECK(FetchUrl(server.Url("/cat.jpg"), options).bytes == "cat");
}

TEST_CASE("loopback is refused by default with the address named", "[fetch]") {
  TestHttpServer server;
  server.Route("/cat.jpg", [](const HttpRequest&) { return Ok("cat"); });
  server.Start();
  FetchOptions options;  // the defaults a worker runs with
  // By IPv4 address, by name (127.0.0.1 or ::1, whichever was tried last),
  // by IPv6 address.
  const std::string port = std::to_string(server.Port());
  const auto [host, address] = GENERATE(table<std::string, std::string>({{"127.0.0.1", "127.0.0.1"},
                                                                         {"localhost", "refused to connect to "},
                                                                         {"[::1]", "::1"}}));
  const std::string url = "http://" + host + ":" + port + "/cat.jpg";
  const FetchError error = FetchFailure(url, options);
  CHECK_FALSE(error.retryable());
  CHECK_THAT(error.what(), Catch::Contains(address) && Catch::Contains("loopback address"));
  CHECK(server.Requests().empty());
}

TEST_CASE("loopback written in another notation is refused", "[fetch]") {
  TestHttpServer server;
  server.Route("/cat.jpg", [](const HttpRequest&) { return Ok("cat"); });
  server.Start();
  const std::string host = GENERATE(std::string("2130706433"), std::string("0x7f.1"), std::string("127.1"),
                                    std::string("%31%32%37.0.0.1"), std::string("[::ffff:127.0.0.1]"));
  const std::string url = "http://" + host + ":" + std::to_string(server.Port()) + "/cat.jpg";
  const FetchError error = FetchFailure(url, FetchOptions());
  CHECK_FALSE(error.retryable());
  CHECK_THAT(error.what(), Catch::Contains("loopback address"));
  CHECK(server.Requests().empty());
}

TEST_CASE("the cloud metadata address is refused at once", "[fetch]") {
  const auto start = Clock::now();
  const FetchError error = FetchFailure("http://169.254.169.254/latest/meta-data/", FetchOptions());
  CHECK(SecondsSince(start) < 1);
  CHECK_FALSE(error.retryable());
  CHECK_THAT(error.what(), Catch::Contains("refused to connect to 169.254.169.254 (link-local address; set "
                                           "IMAGE_FETCH_ALLOW_PRIVATE=true to allow private addresses)"));
}

TEST_CASE("schemes other than http and https are refused", "[fetch]") {
  const std::string url = GENERATE(std::string("file:///etc/passwd"), std::string("ftp://example.com/cat.jpg"),
                                   std::string("gopher://example.com/1"), std::string("dict://example.com/d:x"));
  const FetchError error = FetchFailure(url, LocalOptions());
  CHECK_FALSE(error.retryable());
  CHECK_THAT(error.what(), Catch::Contains("is not allowed; use http or https"));
}

TEST_CASE("a redirect to another scheme is refused", "[fetch]") {
  TestHttpServer server;
  const std::string location = GENERATE(std::string("file:///etc/passwd"), std::string("ftp://127.0.0.1/x"),
                                        std::string("gopher://127.0.0.1/1"));
  server.Route("/cat.jpg", [&](const HttpRequest&) { return Redirect(location); });
  server.Start();
  const FetchError error = FetchFailure(server.Url("/cat.jpg"), LocalOptions());
  CHECK_FALSE(error.retryable());
  CHECK_THAT(error.what(), Catch::Contains("not http or https"));
}

TEST_CASE("a server that does not answer in HTTP/1.x is a permanent failure", "[fetch]") {
  TestHttpServer server;
  const std::string answer =
      GENERATE(std::string("GIF89a, no status line\r\n\r\n"), std::string("HTTP/1.1 abc\r\n\r\n"),
               std::string("SSH-2.0-OpenSSH_9.2\r\n"));
  server.Route("/cat.jpg", [&](const HttpRequest&) { return RawResponse(answer); });
  server.Start();
  const FetchError error = FetchFailure(server.Url("/cat.jpg"), LocalOptions());
  INFO(error.what());
  CHECK_FALSE(error.retryable());
}

TEST_CASE("a 4xx other than 408 and 429 is a permanent failure", "[fetch]") {
  const int status = GENERATE(400, 401, 403, 404, 410);
  TestHttpServer server;
  server.Route("/cat.jpg", [status](const HttpRequest&) { return StatusOnly(status); });
  server.Start();
  const FetchError error = FetchFailure(server.Url("/cat.jpg"), LocalOptions());
  CHECK_FALSE(error.retryable());
  CHECK_THAT(error.what(), Catch::Contains("HTTP status " + std::to_string(status)) && Catch::Contains("127.0.0.1"));
}

TEST_CASE("a 5xx, 408 or 429 is a retryable failure", "[fetch]") {
  const int status = GENERATE(500, 502, 503, 408, 429);
  TestHttpServer server;
  server.Route("/cat.jpg", [status](const HttpRequest&) { return StatusOnly(status); });
  server.Start();
  const FetchError error = FetchFailure(server.Url("/cat.jpg"), LocalOptions());
  CHECK(error.retryable());
  CHECK_THAT(error.what(), Catch::Contains("HTTP status " + std::to_string(status)));
}

TEST_CASE("a closed port is a retryable failure", "[fetch]") {
  std::string url;
  {
    TestHttpServer server;
    server.Start();
    url = server.Url("/cat.jpg");
  }
  const FetchError error = FetchFailure(url, LocalOptions());
  CHECK(error.retryable());
  CHECK_THAT(error.what(), Catch::Contains("cannot connect"));
}

TEST_CASE("a host name that does not resolve is a retryable failure", "[fetch]") {
  FetchOptions options = LocalOptions();
  options.timeout_seconds = 3;
  // .invalid never resolves (RFC 2606); without a resolver it times out,
  // which is retryable as well.
  const FetchError error = FetchFailure("http://no-such-host.invalid/cat.jpg", options);
  CHECK(error.retryable());
  CHECK_THAT(error.what(), Catch::Contains("no-such-host.invalid"));
}

TEST_CASE("failures never quote the query string", "[fetch]") {
  TestHttpServer server;
  server.Route("/cat.jpg", [](const HttpRequest&) { return StatusOnly(404); });
  server.Route("/away", [&](const HttpRequest&) { return Redirect("ftp://127.0.0.1/x?Signature=s3cr3t"); });
  server.Start();
  SECTION("an HTTP status") {
    CHECK_THAT(FetchFailure(server.Url("/cat.jpg?Signature=s3cr3t"), LocalOptions()).what(),
               !Catch::Contains("s3cr3t"));
  }
  SECTION("a refused address") {
    CHECK_THAT(FetchFailure(server.Url("/cat.jpg?Signature=s3cr3t"), FetchOptions()).what(),
               !Catch::Contains("s3cr3t"));
  }
  SECTION("a refused redirect") {
    CHECK_THAT(FetchFailure(server.Url("/away?Signature=s3cr3t"), LocalOptions()).what(), !Catch::Contains("s3cr3t"));
  }
  SECTION("a bad scheme") {
    CHECK_THAT(FetchFailure("ftp://example.com/x?Signature=s3cr3t", LocalOptions()).what(), !Catch::Contains("s3cr3t"));
  }
}

TEST_CASE("cookies a server sets are not sent back", "[fetch]") {
  TestHttpServer server;
  server.Route("/login", [&](const HttpRequest&) {
    return RawResponse(ResponseHead(
        302, {{"Set-Cookie", "session=abc; Path=/"}, {"Location", server.Url("/cat.jpg")}, {"Content-Length", "0"}}));
  });
  server.Route("/cat.jpg", [](const HttpRequest&) { return Ok("cat"); });
  server.Start();
  FetchUrl(server.Url("/login"), LocalOptions());
  const auto requests = server.Requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[1].headers.count("cookie") == 0);
}

TEST_CASE("proxies from the environment are ignored", "[fetch]") {
  TestHttpServer server;
  server.Route("/cat.jpg", [](const HttpRequest&) { return Ok("cat"); });
  server.Start();
  // A proxy that does not exist: used, it would fail the fetch.
  setenv("http_proxy", "http://127.0.0.1:1", 1);
  setenv("HTTPS_PROXY", "http://127.0.0.1:1", 1);
  setenv("ALL_PROXY", "http://127.0.0.1:1", 1);
  FetchResult result;
  CHECK_NOTHROW(result = FetchUrl(server.Url("/cat.jpg"), LocalOptions()));
  unsetenv("http_proxy");
  unsetenv("HTTPS_PROXY");
  unsetenv("ALL_PROXY");
  CHECK(result.bytes == "cat");
}

TEST_CASE("setting the cancel flag ends a fetch with a retryable failure", "[fetch]") {
  TestHttpServer server;
  server.Route("/slow", [](const HttpRequest&) {
    return RawResponse(ResponseHead(200, {{"Content-Length", "2000"}})).Send(std::string(1000, 'x')).Stall(20s);
  });
  server.Start();
  FetchOptions options = LocalOptions();
  options.timeout_seconds = 15;
  std::atomic<bool> cancelled{false};
  std::thread canceller([&] {
    std::this_thread::sleep_for(200ms);
    cancelled = true;
  });
  const auto start = Clock::now();
  const FetchError error = FetchFailure(server.Url("/slow"), options, &cancelled);
  canceller.join();
  // libcurl looks at the flag about once a second while no data flows.
  CHECK(SecondsSince(start) < 3);
  CHECK(error.retryable());
  CHECK_THAT(error.what(), Catch::Contains("cancelled"));
}

TEST_CASE("ValidateUrl accepts http and https URLs with a host", "[fetch]") {
  for (const char* url : {"http://example.com/cat.jpg", "https://example.com/a/b.png?X-Amz-Signature=abc&x=1",
                          "http://example.com:8080/", "https://[2001:db8::1]:443/cat", "HTTPS://EXAMPLE.COM/x",
                          "http://10.0.0.1/x"}) {
    INFO(url);
    CHECK_NOTHROW(ValidateUrl(url));
  }
}

TEST_CASE("ValidateUrl rejects what a worker must not fetch, saying why", "[fetch]") {
  struct Case {
    std::string url;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"", "empty"},
      {"example.com/cat.jpg", "malformed"},
      {"/cat.jpg", "malformed"},
      {"ftp://example.com/cat.jpg", "scheme \"ftp\" is not allowed"},
      {"file:///etc/passwd", "scheme \"file\" is not allowed"},
      {"javascript:alert(1)", "malformed"},
      {"http:///cat.jpg", "no host"},
      {"http:/cat.jpg", "no host"},
      {"http://", "malformed"},
      {"http://user:pw@example.com/cat.jpg", "user name or password"},
      {"http://user@example.com/cat.jpg", "user name or password"},
      {"http://example.com/a cat.jpg", "space or a control character"},
      {"http://example.com/cat.jpg\r\nX-Injected: 1", "space or a control character"},
      {std::string("http://example.com/\0cat", 23), "space or a control character"},
      {"http://example.com/" + std::string(2048, 'a'), "more than 2048"},
  };
  for (const auto& c : cases) {
    INFO(c.url);
    try {
      ValidateUrl(c.url);
      FAIL("accepted");
    } catch (const FetchError& error) {
      CHECK_FALSE(error.retryable());
      CHECK_THAT(error.what(), Catch::Contains(c.message));
    }
  }
}
