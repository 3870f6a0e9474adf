#include "api/api_server.hpp"

#include <algorithm>
#include <cstring>

#include <pistache/endpoint.h>
#include <pistache/http.h>
#include <pistache/http_headers.h>
#include <pistache/peer.h>
#include <spdlog/spdlog.h>

#include "api/api_service.hpp"
#include "api/pistache_hardening.hpp"
#include "core/errors.hpp"
#include "core/log.hpp"

namespace jobqueue::api {
namespace {

namespace PH = Pistache::Http;

// Room for the request line and headers on top of the largest body.
constexpr std::size_t kHeaderAllowance = 64 * 1024;
// Pistache refuses to send a larger answer; pages are cut at 16 MiB
// (api_service.cpp), single jobs hold what fitted in a request body.
constexpr std::size_t kMaxResponseBytes = 512u << 20;
// Multipart framing and the small form fields beside an uploaded file.
constexpr std::size_t kMultipartAllowance = 64 * 1024;

// A response header Pistache has no class for (Location and Allow have
// classes, but with parsing we do not need).
class TextHeader : public PH::Header::Header {
 public:
  TextHeader(std::string name, std::string value) : name_(std::move(name)), value_(std::move(value)) {}
  const char* name() const override { return name_.c_str(); }
  void write(std::ostream& os) const override { os << value_; }
#ifdef SAFE_HEADER_CAST
  uint64_t hash() const override { return PH::Header::detail::hash(name_.c_str()); }
#endif

 private:
  std::string name_;
  std::string value_;
};

bool ContainsToken(std::string value, const std::string& token) {
  for (auto& c : value) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return value.find(token) != std::string::npos;
}

// HTTP/1.1 keeps the connection unless asked not to; Pistache answers
// "Connection: Close" to every request that did not name it, which makes
// keep-alive clients (wrk, browsers, pools) reconnect for each request.
bool KeepAlive(const PH::Request& request) {
  const auto connection = request.headers().tryGetRaw("Connection");
  if (request.version() == PH::Version::Http11) return !connection || !ContainsToken(connection->value(), "close");
  return connection && ContainsToken(connection->value(), "keep-alive");
}

class PistacheExchange : public Exchange {
 public:
  PistacheExchange(PH::ResponseWriter writer, bool keep_alive) : writer_(std::move(writer)), keep_alive_(keep_alive) {}

 protected:
  void Send(int status, const std::string& body, const std::string& content_type,
            const std::vector<ReplyHeader>& headers) override {
    static const PH::Mime::MediaType kJson = MIME(Application, Json);
    auto& out = writer_.headers();
    out.remove<PH::Header::Connection>();
    out.add<PH::Header::Connection>(keep_alive_ ? PH::ConnectionControl::KeepAlive : PH::ConnectionControl::Close);
    for (const auto& h : headers) out.add(std::make_shared<TextHeader>(h.name, h.value));
    const auto mime = content_type == "application/json" ? kJson : PH::Mime::MediaType::fromString(content_type);
    writer_.send(static_cast<PH::Code>(status), body, mime);
  }

 private:
  PH::ResponseWriter writer_;
  const bool keep_alive_;
};

// Answers parsed requests: copies each into an Exchange for ApiService.
// Pistache's parsing runs in this handler's (inherited) onInput, fed by
// ApiHandler below.
class RequestHandler : public PH::Handler {
 public:
  HTTP_PROTOTYPE(RequestHandler)

  explicit RequestHandler(std::shared_ptr<ApiService> service) : service_(std::move(service)) {}

  void onRequest(const PH::Request& request, PH::ResponseWriter response) override {
    // Everything is copied out now: Pistache reuses the request's buffers
    // once this returns, and the answer may come from another thread.
    std::shared_ptr<PistacheExchange> ex;
    try {
      ex = std::make_shared<PistacheExchange>(std::move(response), KeepAlive(request));
      ex->method = PH::methodString(request.method());
      ex->path = request.resource();
      const auto& query = request.query();
      for (auto it = query.parameters_begin(); it != query.parameters_end(); ++it) {
        ex->query.emplace_back(it->first, it->second);
      }
      if (auto v = request.headers().tryGetRaw("Content-Type")) ex->content_type = v->value();
      if (auto v = request.headers().tryGetRaw("Authorization")) ex->authorization = v->value();
      if (auto v = request.headers().tryGetRaw("If-None-Match")) ex->if_none_match = v->value();
      // The body is moved, not copied (an upload is megabytes): the parser
      // owns a non-const Request and resets it once this returns.
      ex->body = std::move(const_cast<std::string&>(request.body()));
    } catch (const std::exception& e) {
      spdlog::error("{}", core::LogFields("request dropped", {{"error", e.what()}}));
      if (ex) ex->Fail(std::current_exception());
      return;
    }
    service_->Handle(ex);
  }

 private:
  std::shared_ptr<ApiService> service_;
};

// What Pistache calls with a connection's bytes. It holds back each
// request's header block until the blank line that ends it, drops Cookie
// lines from it (see WithoutCookies), and passes header blocks and bodies
// on to a RequestHandler, whose Pistache parsing then sees only requests it
// cannot turn into a 500. Bodies pass through as they arrive, never held.
class ApiHandler : public PH::Handler {
 public:
  HTTP_PROTOTYPE(ApiHandler)

  explicit ApiHandler(std::shared_ptr<ApiService> service) : service_(std::move(service)) {}
  // Pistache clones the handler for each of its threads: each clone gets a
  // RequestHandler of its own (on first input), never a shared one.
  ApiHandler(const ApiHandler& other) : PH::Handler(other), service_(other.service_) {}

  void onRequest(const PH::Request&, PH::ResponseWriter) override {}  // requests reach RequestHandler

 private:
  // The header block of the request being received on one connection.
  struct Framing {
    std::string head;
  };

  void onInput(const char* buffer, size_t len, const std::shared_ptr<Pistache::Tcp::Peer>& peer) override {
    if (!inner_) {
      inner_ = std::make_shared<RequestHandler>(service_);
      inner_->setMaxRequestSize(getMaxRequestSize());
      inner_->setMaxResponseSize(getMaxResponseSize());
      AttachTransport(*inner_, transport());
    }
    Pistache::Tcp::Handler& next = *inner_;
    auto framing = std::static_pointer_cast<Framing>(peer->tryGetData(kFramingKey));
    if (!framing) {
      framing = std::make_shared<Framing>();
      peer->putData(kFramingKey, framing);
    }
    const auto parser = getParser(peer);
    std::size_t pos = 0;
    while (pos < len) {
      if (dynamic_cast<PH::Private::BodyStep*>(parser->step()) != nullptr) {
        // Inside a body: pass on at most its remaining bytes; what follows
        // belongs to the next request.
        std::size_t n = len - pos;
        const auto& request = static_cast<const PH::Request&>(parser->request);
        if (auto cl = request.headers().tryGet<PH::Header::ContentLength>()) {
          const auto have = request.body().size();
          if (cl->value() > have) n = std::min<std::size_t>(n, static_cast<std::size_t>(cl->value() - have));
        }
        next.onInput(buffer + pos, n, peer);
        pos += n;
        continue;
      }
      auto& head = framing->head;
      const std::size_t before = head.size();
      head.append(buffer + pos, len - pos);
      const auto end = head.find("\r\n\r\n", before >= 3 ? before - 3 : 0);
      if (end == std::string::npos) {
        pos = len;
        // No end in sight: let Pistache refuse it (413) rather than hold more.
        if (head.size() > getMaxRequestSize()) {
          const std::string all = std::move(head);
          head.clear();
          next.onInput(all.data(), all.size(), peer);
        }
        break;
      }
      const std::size_t block = end + 4;
      pos += block - before;  // the rest of this input is not part of the block
      const std::string clean = WithoutCookies(head.substr(0, block));
      head.clear();
      SetRequestBodyLimit(BodyLimitFor(clean));
      next.onInput(clean.data(), clean.size(), peer);
      SetRequestBodyLimit(0);
    }
  }

  // Image uploads may carry MAX_UPLOAD_BYTES plus the multipart framing;
  // every other request is held to API_MAX_BODY_BYTES.
  std::size_t BodyLimitFor(const std::string& head) const {
    const auto& config = service_->config();
    for (const char* upload : {"POST /v1/images", "POST /upload"}) {
      const std::size_t n = std::strlen(upload);
      if (head.compare(0, n, upload) == 0 && head.size() > n && (head[n] == ' ' || head[n] == '?')) {
        return config.max_upload_bytes + kMultipartAllowance;
      }
    }
    return config.max_body_bytes;
  }

  static constexpr const char* kFramingKey = "jobqueue.framing";
  std::shared_ptr<ApiService> service_;
  std::shared_ptr<RequestHandler> inner_;
};

}  // namespace

struct ApiServer::Http {
  std::unique_ptr<PH::Endpoint> endpoint;
};

ApiServer::ApiServer(ApiConfig config, core::Metrics& metrics)
    : service_(std::make_shared<ApiService>(std::move(config), metrics)), http_(std::make_unique<Http>()) {}

ApiServer::~ApiServer() { Stop(); }

void ApiServer::Start() {
  const auto& config = service_->config();
  const std::size_t max_body = std::max(config.max_body_bytes, config.max_upload_bytes + kMultipartAllowance);
  HardenPistacheHeaders(max_body);
  try {
    http_->endpoint = std::make_unique<PH::Endpoint>(
        Pistache::Address(config.bind_address, Pistache::Port(static_cast<uint16_t>(config.port))));
    http_->endpoint->init(PH::Endpoint::options()
                              .threads(config.threads)
                              .threadsName("api-http")
                              .flags(Pistache::Tcp::Options::ReuseAddr)
                              .maxRequestSize(max_body + kHeaderAllowance)
                              .maxResponseSize(kMaxResponseBytes));
    http_->endpoint->setHandler(PH::make_handler<ApiHandler>(service_));
    http_->endpoint->serveThreaded();
    port_ = static_cast<uint16_t>(http_->endpoint->getPort());
  } catch (const std::exception& e) {
    http_->endpoint.reset();
    throw ConfigError("API_PORT: cannot listen on " + config.bind_address + ":" + std::to_string(config.port) +
                      ": " + e.what());
  }
}

void ApiServer::Stop() {
  // Queued database work still answers through the live endpoint; what
  // arrives meanwhile is refused with 503.
  service_->Stop();
  if (http_->endpoint) {
    http_->endpoint->shutdown();
    http_->endpoint.reset();
  }
}

}  // namespace jobqueue::api
