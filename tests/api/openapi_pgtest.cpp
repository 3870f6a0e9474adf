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
#include "images/test_images.hpp"

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

// The body curl sends for `-F file=@photo.jpg -F name=value ...`.
const std::string kBoundary = "------------------------5f3c0a9e2b7d4e61";
std::string Form(const std::string& image, const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string body = "--" + kBoundary +
                     "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"photo.jpg\"\r\n"
                     "Content-Type: image/jpeg\r\n\r\n" +
                     image + "\r\n";
  for (const auto& [name, value] : fields) {
    body += "--" + kBoundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n";
  }
  return body + "--" + kBoundary + "--\r\n";
}

// Operations that answer without the bearer key (`security: []`).
bool IsOpen(const std::string& op) {
  return op == "GET /health" || op == "GET /ready" || op == "GET /metrics";
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
  // No worker runs here: POST /upload gives up waiting at once (202).
  ApiFixture api([](api::ApiConfig& c) {
    c.secret_key = "doc-key";
    c.upload_wait_seconds = 0.2;
  });
  api.bearer = "doc-key";
  const auto job = api.Post("/v1/jobs", {{"kind", "noop"}}).Json();
  const std::string id = std::to_string(job["id"].get<long long>());

  // Image jobs: `fresh` as uploaded (input, no output yet); `done` made to
  // look succeeded, with its input as its output, as a worker would leave it.
  const std::string jpeg = GradientJpeg(64, 48);
  const Headers form = {{"Content-Type", "multipart/form-data; boundary=" + kBoundary}};
  const auto upload = [&] {
    const auto r = api.PostText("/v1/images", Form(jpeg, {{"ops", "grayscale"}}), form);
    INFO(r.body);
    REQUIRE(r.status == 202);
    return std::to_string(r.Json()["id"].get<long long>());
  };
  const std::string fresh = upload();
  const std::string done = upload();
  api.db().Sql("INSERT INTO jobqueue.job_blobs (job_id, role, content_type, byte_size, sha256, bytes) "
               "SELECT job_id, 'output', content_type, byte_size, sha256, bytes FROM jobqueue.job_blobs "
               "WHERE role = 'input' AND job_id = " + done);
  api.db().Sql("UPDATE jobqueue.jobs SET state = 'succeeded', attempts = 1, finished_at = now() WHERE id = " + done);
  const auto done_result = api.Get("/v1/jobs/" + done + "/result");
  REQUIRE(done_result.status == 200);
  const std::string etag = done_result.headers.at("etag");

  // A request that should succeed, and one that should fail, per operation.
  struct Probe {
    Probe(std::string m, std::string t, std::string b, Headers h = {})
        : method(std::move(m)), target(std::move(t)), body(std::move(b)), headers(std::move(h)) {}
    std::string method, target, body;
    Headers headers;
  };
  const Headers image_type = {{"Content-Type", "image/jpeg"}};
  const Headers text_type = {{"Content-Type", "text/plain"}};
  const Headers bad_length = {{"Content-Length", "ten"}};
  const std::map<std::string, std::vector<Probe>> probes = {
      {"POST /v1/jobs", {{"POST", "/v1/jobs", R"({"kind":"noop"})"}, {"POST", "/v1/jobs", R"({"kind":1})"}}},
      {"GET /v1/jobs", {{"GET", "/v1/jobs?limit=5", ""}, {"GET", "/v1/jobs?limit=0", ""}}},
      {"POST /v1/jobs/batch",
       {{"POST", "/v1/jobs/batch", R"({"jobs":[{"kind":"noop"}]})"}, {"POST", "/v1/jobs/batch", R"({"jobs":[]})"}}},
      {"GET /v1/jobs/{id}", {{"GET", "/v1/jobs/" + id, ""}, {"GET", "/v1/jobs/987654321", ""}}},
      {"POST /v1/jobs/{id}/cancel", {{"POST", "/v1/jobs/" + id + "/cancel", ""}, {"POST", "/v1/jobs/" + id + "/cancel", ""}}},
      {"POST /v1/jobs/{id}/retry", {{"POST", "/v1/jobs/" + id + "/retry", ""}, {"POST", "/v1/jobs/" + id + "/retry", ""}}},
      {"GET /v1/queues", {{"GET", "/v1/queues", ""}}},
      {"POST /v1/images",
       {{"POST", "/v1/images", Form(jpeg, {{"ops", "thumbnail:32x32"}}), form},
        {"POST", "/v1/images?ops=rotate%3A90", jpeg, image_type},
        {"POST", "/v1/images", Form(jpeg, {{"ops", "blur:500"}}), form},
        {"POST", "/v1/images", "hello", text_type},
        {"POST", "/v1/images", Form("GIF89a", {}), form}}},
      {"GET /v1/jobs/{id}/result",
       {{"GET", "/v1/jobs/" + done + "/result", ""},
        {"GET", "/v1/jobs/" + done + "/result", "", {{"If-None-Match", etag}}},
        {"GET", "/v1/jobs/" + fresh + "/result", ""},
        {"GET", "/v1/jobs/x/result", ""}}},
      {"GET /v1/jobs/{id}/input",
       {{"GET", "/v1/jobs/" + fresh + "/input", ""},
        {"GET", "/v1/jobs/" + id + "/input", ""},
        {"GET", "/v1/jobs/987654321/input", ""}}},
      {"POST /submit",
       {{"POST", "/submit", R"({"image_url":"http://example.com/cat.jpg","effects":"bw,blur"})"},
        {"POST", "/submit", R"({"image_url":"ftp://example.com/cat.jpg"})"},
        {"POST", "/submit", "image_url=x", {{"Content-Type", "application/x-www-form-urlencoded"}}}}},
      {"POST /upload",
       {{"POST", "/upload", Form(jpeg, {{"effects", "bw,blur"}}), form},
        {"POST", "/upload", Form(jpeg, {{"effects", "sepia"}}), form},
        {"POST", "/upload", "hello", text_type}}},
      {"GET /image/{id}",
       {{"GET", "/image/" + done, ""},
        {"GET", "/image/" + done, "", {{"If-None-Match", etag}}},
        {"GET", "/image/" + fresh, ""},
        {"GET", "/image/abc", ""}}},
      {"GET /v1/workers", {{"GET", "/v1/workers", ""}, {"GET", "/v1/workers?within_seconds=0", ""}}},
      {"GET /v1/throughput", {{"GET", "/v1/throughput?seconds=60", ""}, {"GET", "/v1/throughput?seconds=5", ""}}},
      {"GET /v1/errors", {{"GET", "/v1/errors?kind=fail", ""}, {"GET", "/v1/errors?state=dead", ""}}},
      {"POST /v1/jobs/retry",
       {{"POST", "/v1/jobs/retry", R"({"state":"dead","kind":"fail"})"},
        {"POST", "/v1/jobs/retry", R"({"state":"queued"})"},
        {"POST", "/v1/jobs/retry", R"({"state":"dead"})", text_type}}},
      {"POST /v1/jobs/cancel",
       {{"POST", "/v1/jobs/cancel", R"({"queue":"nobody-serves-this"})"},
        {"POST", "/v1/jobs/cancel", R"({"error":"x"})"}}},
      {"GET /health", {{"GET", "/health", ""}, {"GET", "/health", "", bad_length}}},
      {"GET /ready", {{"GET", "/ready", ""}, {"GET", "/ready", "", bad_length}}},
      {"GET /metrics", {{"GET", "/metrics", ""}, {"GET", "/metrics", "", bad_length}}},
  };
  for (const auto& [op, codes] : documented) {
    INFO(op);
    REQUIRE(probes.count(op) == 1);
    bool succeeded = false;
    for (const auto& p : probes.at(op)) {
      Headers headers = p.headers;
      headers.emplace_back("Authorization", "Bearer doc-key");
      const auto r = Request(api.port(), p.method, p.target, p.body, headers);
      INFO(p.method << " " << p.target << " -> " << r.status << " " << r.body.substr(0, 200));
      CHECK(codes.count(r.status) == 1);
      succeeded = succeeded || r.status / 100 == 2;
    }
    CHECK(succeeded);
    // Every operation but the probes and metrics needs the key.
    if (!IsOpen(op)) {
      const auto& p = probes.at(op).front();
      const auto r = Request(api.port(), p.method, p.target, p.body, p.headers);
      CHECK(r.status == 401);
      CHECK(codes.count(401) == 1);
    }
  }
}

}  // namespace jobqueue::testing
