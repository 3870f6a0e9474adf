// IsForbiddenAddress on its own: which IPv4 and IPv6 addresses the default
// policy refuses, including IPv4 carried inside IPv6 addresses.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <stdexcept>
#include <string>

#include "fetch/url_fetcher.hpp"

namespace {

bool Forbidden(const std::string& text) {
  sockaddr_in v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    return jobqueue::fetch::IsForbiddenAddress(reinterpret_cast<const sockaddr*>(&v4));
  }
  sockaddr_in6 v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    return jobqueue::fetch::IsForbiddenAddress(reinterpret_cast<const sockaddr*>(&v6));
  }
  throw std::invalid_argument("not an address: " + text);
}

}  // namespace

TEST_CASE("IsForbiddenAddress refuses the special-purpose IPv4 ranges", "[fetch]") {
  for (const char* address :
       {"0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.255", "127.0.0.1",
        "127.255.255.254", "169.254.169.254", "169.254.0.1", "172.16.0.1", "172.31.255.255", "192.0.0.8",
        "192.168.1.1", "198.18.0.1", "198.19.255.255", "224.0.0.1", "239.255.255.250", "240.0.0.1",
        "255.255.255.255"}) {
    INFO(address);
    CHECK(Forbidden(address));
  }
  for (const char* address : {"1.1.1.1", "8.8.8.8", "9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0",
                              "128.0.0.1", "169.253.255.255", "169.255.0.0", "172.15.255.255", "172.32.0.0",
                              "192.0.1.1", "192.167.255.255", "192.169.0.0", "198.17.255.255", "198.20.0.0",
                              "223.255.255.255", "93.184.216.34"}) {
    INFO(address);
    CHECK_FALSE(Forbidden(address));
  }
}

TEST_CASE("IsForbiddenAddress refuses IPv6 special ranges and judges embedded IPv4 as IPv4", "[fetch]") {
  for (const char* address :
       {"::", "::1", "fc00::1", "fdff:ffff::1", "fe80::1", "febf::1", "fec0::1", "ff02::1", "ff0e::1",
        "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.1.2.3", "::ffff:0.0.0.0", "::127.0.0.1",
        "::169.254.169.254", "64:ff9b::a9fe:a9fe", "64:ff9b::10.0.0.1", "64:ff9b:1::1", "2002:a9fe:a9fe::1",
        "2002:7f00:1::"}) {
    INFO(address);
    CHECK(Forbidden(address));
  }
  for (const char* address : {"2606:4700:4700::1111", "2001:4860:4860::8888", "::ffff:8.8.8.8", "::8.8.8.8",
                              "64:ff9b::808:808", "2002:808:808::1", "fbff::1", "fe7f::1"}) {
    INFO(address);
    CHECK_FALSE(Forbidden(address));
  }
}

TEST_CASE("IsForbiddenAddress refuses address families other than IPv4 and IPv6", "[fetch]") {
  sockaddr unix_address{};
  unix_address.sa_family = AF_UNIX;
  CHECK(jobqueue::fetch::IsForbiddenAddress(&unix_address));
  CHECK(jobqueue::fetch::IsForbiddenAddress(nullptr));
}
