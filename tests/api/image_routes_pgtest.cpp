// The image routes over real HTTP with a real worker: uploads (multipart and
// raw), results and inputs byte for byte, validation that refuses before
// anything is written, and the seeds' /upload, /submit and /image/{id}.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <future>
#include <set>

#include <opencv2/imgcodecs.hpp>

#include "api/api_fixture.hpp"
#include "fetch/test_http_server.hpp"
#include "images/test_images.hpp"
#include "support/image_worker.hpp"

namespace jobqueue::testing {
namespace {

using nlohmann::json;

const std::string kBoundary = "------------------------d74496d66958873e";

struct FormPart {
  FormPart(std::string n, std::string v, std::string f = "", std::string t = "image/jpeg")
      : name(std::move(n)), value(std::move(v)), filename(std::move(f)), type(std::move(t)) {}
  std::string name;
  std::string value;
  std::string filename;  // empty: a plain field
  std::string type;
};

// The body curl sends for -F fields.
std::string Multipart(const std::vector<FormPart>& parts) {
  std::string body;
  for (const auto& p : parts) {
    body += "--" + kBoundary + "\r\nContent-Disposition: form-data; name=\"" + p.name + "\"";
    if (!p.filename.empty()) body += "; filename=\"" + p.filename + "\"\r\nContent-Type: " + p.type;
    body += "\r\n\r\n" + p.value + "\r\n";
  }
  return body + "--" + kBoundary + "--\r\n";
}

Headers FormHeaders() { return {{"Content-Type", "multipart/form-data; boundary=" + kBoundary}}; }

HttpResponse UploadForm(ApiFixture& api, const std::vector<FormPart>& parts, const std::string& route = "/v1/images") {
  return api.PostText(route, Multipart(parts), FormHeaders());
}

cv::Mat Decode(const std::string& bytes) {
  return cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8U, const_cast<char*>(bytes.data())),
                      cv::IMREAD_UNCHANGED);
}

long long BlobCount(ApiFixture& api) { return api.db().Scalar<long long>("SELECT count(*) FROM jobqueue.job_blobs"); }

std::string WaitState(ApiFixture& api, long long id, const std::set<std::string>& states, int timeout_ms = 20000) {
  std::string state;
  WaitFor(
      [&] {
        state = api.db().Scalar<std::string>("SELECT state FROM jobqueue.jobs WHERE id = " + std::to_string(id));
        return states.count(state) > 0;
      },
      timeout_ms);
  return state;
}

// Runs a shell command, returning its standard output.
std::string Run(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  std::size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  pclose(pipe);
  return out;
}

}  // namespace

TEST_CASE("POST /v1/images takes a multipart upload and the result comes back byte for byte", "[pg][api][images]") {
  ApiFixture api;
  const auto input = GradientJpeg(400, 300);
  const auto r = UploadForm(api, {{"file", input, "photo.jpg"}, {"ops", "thumbnail:100x100,grayscale"}});
  INFO(r.body);
  REQUIRE(r.status == 202);
  const auto id = r.Json()["id"].get<long long>();
  CHECK(r.Json()["view_url"] == "/image/" + std::to_string(id));
  CHECK(r.Json()["ops"] == json::array({"thumbnail:100x100", "grayscale"}));
  CHECK(r.Json()["input"]["width"] == 400);

  // Before the job ran: 404 saying its state.
  const auto early = api.Get("/v1/jobs/" + std::to_string(id) + "/result");
  CHECK(early.status == 404);
  CHECK(early.ErrorCode() == "not_ready");
  CHECK_THAT(early.Json()["error"]["message"].get<std::string>(), Catch::Contains("queued"));

  // The input is stored as sent, typed by its magic bytes.
  const auto in = api.Get("/v1/jobs/" + std::to_string(id) + "/input");
  CHECK(in.status == 200);
  CHECK(in.body == input);
  CHECK(in.headers.at("content-type") == "image/jpeg");

  ImageWorker worker(api.db());
  REQUIRE(WaitState(api, id, {"succeeded", "dead"}) == "succeeded");
  const auto result = api.Get("/v1/jobs/" + std::to_string(id) + "/result");
  REQUIRE(result.status == 200);
  CHECK(result.headers.at("content-type") == "image/jpeg");
  CHECK(result.headers.at("content-length") == std::to_string(result.body.size()));
  const auto stored = api.db().Scalar<std::string>(
      "SELECT encode(bytes, 'hex') FROM jobqueue.job_blobs WHERE role = 'output' AND job_id = " + std::to_string(id));
  std::string hex;
  for (unsigned char c : result.body) {
    static const char* digits = "0123456789abcdef";
    hex += digits[c >> 4];
    hex += digits[c & 15];
  }
  CHECK(hex == stored);
  const auto image = Decode(result.body);
  CHECK(image.cols == 100);
  CHECK(image.rows == 75);

  // The seed's view URL serves the same bytes; a matching ETag gets 304.
  const auto view = api.Get("/image/" + std::to_string(id));
  CHECK(view.status == 200);
  CHECK(view.body == result.body);
  const auto etag = result.headers.at("etag");
  const auto again = api.Get("/v1/jobs/" + std::to_string(id) + "/result", {{"If-None-Match", etag}});
  CHECK(again.status == 304);
  CHECK(again.body.empty());

  // The job itself names its worker and describes the output.
  const auto job = api.Get("/v1/jobs/" + std::to_string(id)).Json();
  CHECK(job["processed_by"] == "image-worker-1");
  CHECK(job["result"]["width"] == 100);
  CHECK(job["result"]["bytes"] == result.body.size());
}

TEST_CASE("POST /v1/images takes a raw body with ?ops=", "[pg][api][images]") {
  ApiFixture api;
  const auto r = api.PostText("/v1/images?ops=rotate%3A90%2Cformat%3Apng&queue=default&priority=-1", GradientPng(80, 40),
                              {{"Content-Type", "image/png"}});
  INFO(r.body);
  REQUIRE(r.status == 202);
  const auto id = r.Json()["id"].get<long long>();
  CHECK(api.db().Scalar<int>("SELECT priority FROM jobqueue.jobs WHERE id = " + std::to_string(id)) == -1);
  ImageWorker worker(api.db());
  REQUIRE(WaitState(api, id, {"succeeded", "dead"}) == "succeeded");
  const auto image = Decode(api.Get("/v1/jobs/" + std::to_string(id) + "/result").body);
  CHECK(image.cols == 40);
  CHECK(image.rows == 80);
}

TEST_CASE("an upload with an idempotency key already used stores nothing and names the original job",
          "[pg][api][images]") {
  ApiFixture api;
  const auto first = UploadForm(api, {{"file", GradientJpeg(64, 64), "a.jpg"}, {"idempotency_key", "photo-7"}});
  const auto second = UploadForm(api, {{"file", GradientPng(32, 32), "b.png"}, {"idempotency_key", "photo-7"}});
  REQUIRE(first.status == 202);
  REQUIRE(second.status == 200);
  CHECK(second.Json()["id"] == first.Json()["id"]);
  CHECK(second.Json()["state"] == "existing");
  CHECK_FALSE(second.Json().contains("input"));
  CHECK(api.JobCount() == 1);
  CHECK(BlobCount(api) == 1);
  CHECK(api.Get("/v1/jobs/" + std::to_string(first.Json()["id"].get<long long>()) + "/input").headers.at(
            "content-type") == "image/jpeg");
}

TEST_CASE("uploads are refused before anything is written: 413, 415, 400", "[pg][api][images]") {
  ApiFixture api([](api::ApiConfig& c) {
    c.max_upload_bytes = 64 * 1024;
    c.max_image_pixels = 1000 * 1000;
  });
  const auto jpeg = GradientJpeg(64, 64);
  struct Case {
    std::string name;
    HttpResponse response;
    int status;
    std::string field;
  };
  std::vector<Case> cases;
  cases.push_back({"file over MAX_UPLOAD_BYTES",
                   UploadForm(api, {{"file", std::string(70 * 1024, 'x'), "big.jpg"}}), 413, ""});
  cases.push_back({"raw body over MAX_UPLOAD_BYTES + framing (header check)",
                   api.PostText("/v1/images", std::string(200 * 1024, 'x'), {{"Content-Type", "image/jpeg"}}), 413,
                   ""});
  cases.push_back({"text named .jpg", UploadForm(api, {{"file", "hello, I am text", "cat.jpg"}}), 415, "file"});
  cases.push_back({"GIF", UploadForm(api, {{"file", "GIF89a\x01\x00\x01\x00", "a.gif"}}), 415, "file"});
  cases.push_back({"empty file", UploadForm(api, {{"file", "", "empty.jpg"}}), 400, "file"});
  cases.push_back({"pixel bomb", UploadForm(api, {{"file", PixelBombPng(100000, 100000), "bomb.png"}}), 413, "file"});
  cases.push_back({"bad op", UploadForm(api, {{"file", jpeg, "a.jpg"}, {"ops", "thumbnail:256x256,blur:500"}}), 400,
                   "ops"});
  cases.push_back({"unknown op", UploadForm(api, {{"file", jpeg, "a.jpg"}, {"ops", "sharpen:2"}}), 400, "ops"});
  cases.push_back({"unknown field", UploadForm(api, {{"file", jpeg, "a.jpg"}, {"colour", "red"}}), 400, "colour"});
  cases.push_back({"no file", UploadForm(api, {{"ops", "grayscale"}}), 400, "file"});
  cases.push_back({"bad priority", UploadForm(api, {{"file", jpeg, "a.jpg"}, {"priority", "high"}}), 400,
                   "priority"});
  cases.push_back({"wrong content type", api.PostText("/v1/images", jpeg, {{"Content-Type", "text/plain"}}), 415,
                   "Content-Type"});
  cases.push_back({"broken multipart",
                   api.PostText("/v1/images", "--" + kBoundary + "\r\nContent-Disposition: form-data; name=\"file\"",
                                FormHeaders()),
                   400, "body"});
  for (const auto& c : cases) {
    INFO(c.name << ": " << c.response.status << " " << c.response.body);
    CHECK(c.response.status == c.status);
    if (!c.field.empty()) CHECK(c.response.ErrorField() == c.field);
    CHECK(c.response.Json()["error"]["message"].is_string());
  }
  CHECK(api.JobCount() == 0);
  CHECK(BlobCount(api) == 0);
}

TEST_CASE("a JSON image job needs a valid payload with image_url", "[pg][api][images]") {
  ApiFixture api;
  const auto no_url = api.Post("/v1/jobs", {{"kind", "image.thumbnail"}, {"payload", {{"width", 64}}}});
  CHECK(no_url.status == 400);
  CHECK(no_url.ErrorField() == "payload");
  CHECK_THAT(no_url.body, Catch::Contains("POST /v1/images"));
  const auto bad_ops = api.Post(
      "/v1/jobs", {{"kind", "image.pipeline"}, {"payload", {{"image_url", "http://example.com/a.jpg"}, {"ops", "blur:0"}}}});
  CHECK(bad_ops.status == 400);
  CHECK_THAT(bad_ops.body, Catch::Contains("payload.ops"));
  const auto bad_url =
      api.Post("/v1/jobs/batch", {{"jobs", {{{"kind", "image.grayscale"}, {"payload", {{"image_url", "file:///etc/passwd"}}}}}}});
  CHECK(bad_url.status == 400);
  CHECK(bad_url.ErrorField() == "jobs[0].payload");
  CHECK(api.JobCount() == 0);
  const auto ok = api.Post("/v1/jobs", {{"kind", "image.blur"},
                                        {"payload", {{"image_url", "https://example.com/cat.jpg"}, {"sigma", 2.5}}}});
  CHECK(ok.status == 201);
}

TEST_CASE("seed 000: POST /submit with an image_url makes a 256x256 thumbnail", "[pg][api][images]") {
  ApiFixture api;
  TestHttpServer server;
  const auto jpeg = GradientJpeg(1024, 512);
  server.Route("/cat.jpg", [&](const HttpRequest&) { return Ok(jpeg, "image/jpeg"); });
  server.Start();
  const auto r = api.Post("/submit", {{"image_url", server.Url("/cat.jpg")}});
  INFO(r.body);
  REQUIRE(r.status == 202);
  const auto id = r.Json()["id"].get<long long>();
  CHECK(r.Json()["view_url"] == "/image/" + std::to_string(id));
  ImageWorker worker(api.db());
  REQUIRE(WaitState(api, id, {"succeeded", "dead"}) == "succeeded");
  const auto image = Decode(api.Get("/image/" + std::to_string(id)).body);
  CHECK(image.cols == 256);
  CHECK(image.rows == 128);
  // No stored input: the job fetched it.
  CHECK(api.Get("/v1/jobs/" + std::to_string(id) + "/input").status == 404);

  CHECK(api.Post("/submit", {{"image_url", "ftp://example.com/cat.jpg"}}).ErrorField() == "image_url");
  CHECK(api.Post("/submit", {{"url", "http://example.com/cat.jpg"}}).status == 400);
  CHECK(api.Post("/submit", {{"image_url", "http://example.com/a.jpg"}, {"effects", "sepia"}}).ErrorField() ==
        "effects");
}

TEST_CASE("seed 003: curl -F file=@test.jpg -F effects=bw,blur .../upload answers once processed",
          "[pg][api][images]") {
  if (std::system("command -v curl >/dev/null 2>&1") != 0) {
    WARN("curl is not installed; skipped");
    return;
  }
  ApiFixture api;
  ImageWorker worker(api.db());
  const std::string path = "/tmp/jobqueue-seed003-" + std::to_string(getpid()) + ".jpg";
  {
    std::ofstream out(path, std::ios::binary);
    out << GradientJpeg(320, 240);
  }
  const auto body = Run("curl -s -X POST -F \"file=@" + path + "\" -F \"effects=bw,blur\" http://127.0.0.1:" +
                        std::to_string(api.port()) + "/upload");
  std::remove(path.c_str());
  INFO(body);
  const auto answer = json::parse(body, nullptr, false);
  REQUIRE(answer.is_object());
  CHECK(answer["applied_effects"] == json::array({"bw", "blur"}));
  CHECK(answer["processed_by_pod"] == "image-worker-1");
  const auto id = answer["id"].get<long long>();
  CHECK(answer["view_url"] == "/image/" + std::to_string(id));
  const auto image = Decode(api.Get(answer["view_url"].get<std::string>()).body);
  REQUIRE_FALSE(image.empty());
  CHECK(image.channels() == 1);  // bw: really one channel
  CHECK(image.cols == 320);
  CHECK(api.db().Scalar<std::string>("SELECT payload->>'ops' FROM jobqueue.jobs WHERE id = " + std::to_string(id)) ==
        "grayscale,blur:3");
}

TEST_CASE("seed 003: 20 concurrent uploads are spread over the workers and each names its worker",
          "[pg][api][images]") {
  ApiFixture api([](api::ApiConfig& c) { c.db_pool_size = 4; });
  ImageWorker first(api.db(), {}, "worker-a");
  ImageWorker second(api.db(), {}, "worker-b");
  const auto jpeg = GradientJpeg(640, 480);
  std::vector<std::future<HttpResponse>> answers;
  for (int i = 0; i < 20; ++i) {
    answers.push_back(std::async(std::launch::async, [&] {
      return Request(api.port(), "POST", "/upload", Multipart({{"file", jpeg, "test.jpg"}, {"effects", "blur"}}),
                     FormHeaders());
    }));
  }
  std::set<std::string> pods;
  for (auto& f : answers) {
    const auto r = f.get();
    INFO(r.status << " " << r.body);
    REQUIRE(r.status == 200);
    pods.insert(r.Json()["processed_by_pod"].get<std::string>());
  }
  CHECK(pods.size() == 2);
  CHECK(api.db().Scalar<long long>("SELECT count(*) FROM jobqueue.jobs WHERE state = 'succeeded'") == 20);
}

TEST_CASE("/upload answers 202 without a worker name when the job is not done in time", "[pg][api][images]") {
  ApiFixture api([](api::ApiConfig& c) { c.upload_wait_seconds = 0.3; });
  const auto r = UploadForm(api, {{"file", GradientJpeg(32, 32), "a.jpg"}, {"effects", "bw"}}, "/upload");
  INFO(r.body);
  REQUIRE(r.status == 202);
  CHECK(r.Json()["processed_by_pod"].is_null());
  CHECK(r.Json()["applied_effects"] == json::array({"bw"}));
  CHECK(r.Json()["state"] == "queued");
}

TEST_CASE("/upload of an image that fails answers 422 with the worker's error", "[pg][api][images]") {
  ApiFixture api;
  ImageWorker worker(api.db());
  const auto jpeg = GradientJpeg(64, 64);
  const auto r = UploadForm(api, {{"file", jpeg.substr(0, jpeg.size() - 40), "cut.jpg"}}, "/upload");
  INFO(r.body);
  CHECK(r.status == 422);
  CHECK(r.ErrorCode() == "image_failed");
  CHECK_THAT(r.body, Catch::Contains("JPEG"));
}

TEST_CASE("image routes answer 404 for jobs without such an image", "[pg][api][images]") {
  ApiFixture api;
  const auto job = api.Post("/v1/jobs", {{"kind", "noop"}}).Json()["id"].get<long long>();
  const auto input = api.Get("/v1/jobs/" + std::to_string(job) + "/input");
  CHECK(input.status == 404);
  CHECK(input.ErrorCode() == "no_image");
  CHECK(api.Get("/v1/jobs/999999/result").ErrorCode() == "not_found");
  CHECK(api.Get("/image/abc").status == 400);
}

}  // namespace jobqueue::testing
