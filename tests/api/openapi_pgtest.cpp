// docs/openapi.yaml and the running server agree: every route the server
// serves is documented, every documented operation answers on a live server
// with one of the statuses documented for it, with and without credentials.
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <catch2/catch.hpp>

#include "api/api_fixture.hpp"
#include "api/router.hpp"

namespace jobqueue::testing {
namespace {

// "POST /v1/jobs" -> documented status codes. A line reader for the shape
// of our own document (paths at indent 2, methods at 4, codes at 8), which
// is all this check needs; tests/api keeps no YAML library.
std::map<std::string, std::set<int>> DocumentedOperations() {
  std::ifstream in(std::string(JOBQUEUE_SOURCE_DIR) + "/docs/openapi.yaml");
  REQUIRE(in.good());
  const std::regex path_re(R"(^  (/[^:]*):\s*$)");
  const std::regex method_re(R"(^    (get|post|put|patch|delete|head|options):\s*$)");
  const std::regex code_re(R"(^        '(\d{3})':)");
  std::map<std::string, std::set<int>> ops;
  std::string line, path, op;
  bool in_paths = false;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != ' ') {
      in_paths = line.rfind("paths:", 0) == 0;
      continue;
    }
    if (!in_paths) continue;
    std::smatch m;
    if (std::regex_match(line, m, path_re)) {
      path = m[1];
      op.clear();
    } else if (std::regex_match(line, m, method_re)) {
      std::string method = m[1];
      for (auto& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      op = method + " " + path;
      ops[op];
    } else if (!op.empty() && std::regex_search(line, m, code_re)) {
      ops[op].insert(std::stoi(m[1]));
    }
  }
  return ops;
}

}  // namespace

TEST_CASE("every route the server serves is in docs/openapi.yaml and nothing else is", "[api]") {
  const auto documented = DocumentedOperations();
  std::set<std::string> served;
  for (const auto& route : api::ApiRoutes()) served.insert(route.method + " " + route.path);
  std::set<std::string> in_doc;
  for (const auto& [op, codes] : documented) {
    in_doc.insert(op);
    INFO(op);
    CHECK(!codes.empty());
  }
  CHECK(in_doc == served);
}

TEST_CASE("every documented operation answers with a documented status", "[pg][api]") {
  const auto documented = DocumentedOperations();
  ApiFixture api([](api::ApiConfig& c) { c.secret_key = "doc-key"; });
  api.bearer = "doc-key";
  const auto job = api.Post("/v1/jobs", {{"kind", "noop"}}).Json();
  const std::string id = std::to_string(job["id"].get<long long>());

  // A request that should succeed, and one that should fail, per operation.
  struct Probe {
    std::string method, target, body;
  };
  const std::map<std::string, std::vector<Probe>> probes = {
      {"POST /v1/jobs", {{"POST", "/v1/jobs", R"({"kind":"noop"})"}, {"POST", "/v1/jobs", R"({"kind":1})"}}},
      {"GET /v1/jobs", {{"GET", "/v1/jobs?limit=5", ""}, {"GET", "/v1/jobs?limit=0", ""}}},
      {"POST /v1/jobs/batch",
       {{"POST", "/v1/jobs/batch", R"({"jobs":[{"kind":"noop"}]})"}, {"POST", "/v1/jobs/batch", R"({"jobs":[]})"}}},
      {"GET /v1/jobs/{id}", {{"GET", "/v1/jobs/" + id, ""}, {"GET", "/v1/jobs/987654321", ""}}},
      {"POST /v1/jobs/{id}/cancel", {{"POST", "/v1/jobs/" + id + "/cancel", ""}, {"POST", "/v1/jobs/" + id + "/cancel", ""}}},
      {"POST /v1/jobs/{id}/retry", {{"POST", "/v1/jobs/" + id + "/retry", ""}, {"POST", "/v1/jobs/" + id + "/retry", ""}}},
      {"GET /v1/queues", {{"GET", "/v1/queues", ""}}},
      {"GET /health", {{"GET", "/health", ""}}},
      {"GET /ready", {{"GET", "/ready", ""}}},
      {"GET /metrics", {{"GET", "/metrics", ""}}},
  };
  for (const auto& [op, codes] : documented) {
    INFO(op);
    REQUIRE(probes.count(op) == 1);
    bool succeeded = false;
    for (const auto& p : probes.at(op)) {
      const auto r = Request(api.port(), p.method, p.target, p.body, {{"Authorization", "Bearer doc-key"}});
      INFO(p.method << " " << p.target << " -> " << r.status << " " << r.body.substr(0, 200));
      CHECK(codes.count(r.status) == 1);
      succeeded = succeeded || r.status / 100 == 2;
    }
    CHECK(succeeded);
    if (op.find(" /v1/") != std::string::npos) {
      const auto& p = probes.at(op).front();
      const auto r = Request(api.port(), p.method, p.target, p.body);
      CHECK(r.status == 401);
      CHECK(codes.count(401) == 1);
    }
  }
}

}  // namespace jobqueue::testing
