// The `jobqueue` commands that act on jobs, run as a process against a live
// API (in this process) with a real worker: output, --json, exit codes, the
// JSON-lines file with a bad line, auth with and without the token.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/api_fixture.hpp"
#include "images/test_images.hpp"
#include "support/cli_runner.hpp"
#include "support/image_worker.hpp"

using namespace jobqueue;
using jobqueue::testing::ApiFixture;
using jobqueue::testing::ImageWorker;
using jobqueue::testing::RunResult;

namespace {

struct Cli {
  ApiFixture& api;
  std::string token;

  RunResult Run(const std::vector<std::string>& args, const std::string& stdin_text = "") const {
    std::map<std::string, std::string> env = {{"JOBQUEUE_URL", "http://127.0.0.1:" + std::to_string(api.port())},
                                              {"NO_COLOR", "1"}};
    if (!token.empty()) env["JOBQUEUE_TOKEN"] = token;
    return jobqueue::testing::RunCli(JOBQUEUE_CLI_PATH, args, env, stdin_text);
  }
  nlohmann::json Json(const std::vector<std::string>& args) const {
    const auto run = Run(args);
    INFO("jobqueue " << args[0] << " -> " << run.exit_code << "\nstdout: " << run.out << "\nstderr: " << run.err);
    REQUIRE(run.exit_code == 0);
    auto doc = nlohmann::json::parse(run.out, nullptr, false);
    REQUIRE_FALSE(doc.is_discarded());
    return doc;
  }
};

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string TempFile(const std::string& name, const std::string& contents) {
  const std::string path = "/tmp/jobqueue-cli-test-" + std::to_string(::getpid()) + "-" + name;
  std::ofstream(path, std::ios::binary) << contents;
  return path;
}

}  // namespace

TEST_CASE("cli enqueue, show, jobs, wait against the API with a worker", "[pg][api][cli]") {
  ApiFixture api;
  ImageWorker worker(api.db());
  const Cli cli{api, ""};

  const auto job = cli.Json({"enqueue", "sleep", R"({"seconds":0.05})", "--queue", "default", "--json"});
  const long long id = job.at("id").get<long long>();
  CHECK(job.at("kind") == "sleep");

  const auto waited = cli.Run({"wait", std::to_string(id), "--timeout", "30"});
  INFO(waited.out << waited.err);
  CHECK(waited.exit_code == 0);
  CHECK(Contains(waited.out, "succeeded"));
  CHECK(Contains(waited.out, "image-worker-1"));  // which worker ran it

  const auto shown = cli.Json({"show", std::to_string(id), "--json"});
  CHECK(shown.at("state") == "succeeded");
  CHECK(shown.at("processed_by") == "image-worker-1");

  const auto human = cli.Run({"enqueue", "noop"});
  CHECK(human.exit_code == 0);
  CHECK(Contains(human.out, "enqueued job"));

  const auto listed = cli.Json({"jobs", "--kind", "sleep", "--json"});
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].at("id") == id);
  const auto table = cli.Run({"jobs", "-n", "5"});
  CHECK(table.exit_code == 0);
  CHECK(Contains(table.out, "sleep"));
  CHECK(Contains(table.out, "kind"));  // the header row
}

TEST_CASE("cli enqueue with the same key twice names the first job", "[pg][api][cli]") {
  ApiFixture api;
  const Cli cli{api, ""};
  const auto first = cli.Json({"enqueue", "noop", "--key", "order-42", "--json"});
  const auto second = cli.Json({"enqueue", "noop", "--key", "order-42", "--json"});
  CHECK(first.at("id") == second.at("id"));
  const auto again = cli.Run({"enqueue", "noop", "--key", "order-42"});
  CHECK(Contains(again.out, "already enqueued"));
  CHECK(api.JobCount() == 1);
}

TEST_CASE("cli refusals: bad JSON, a field the API refuses, a bad flag, an unreachable API", "[pg][api][cli]") {
  ApiFixture api;
  const Cli cli{api, ""};
  struct Case {
    std::vector<std::string> args;
    int exit_code;
    const char* says;
  };
  const std::vector<Case> cases = {
      {{"enqueue", "noop", "{not json"}, 2, "PAYLOAD: not valid JSON"},
      {{"enqueue", std::string(129, 'k')}, 2, "[field: kind]"},
      {{"enqueue", "noop", "--priority", "high"}, 2, "--priority"},
      {{"enqueue"}, 2, "KIND is required"},
      {{"show", "99999"}, 1, "not found"},
      {{"jobs", "--state", "sleeping"}, 2, "--state"},
  };
  for (const auto& c : cases) {
    const auto run = cli.Run(c.args);
    INFO("jobqueue " << c.args[0] << "\nstdout: " << run.out << "\nstderr: " << run.err);
    CHECK(run.exit_code == c.exit_code);
    CHECK(Contains(run.err, c.says));
  }
  CHECK(api.JobCount() == 0);

  const auto unreachable = jobqueue::testing::RunCli(JOBQUEUE_CLI_PATH, {"status"}, {{"JOBQUEUE_URL", "http://127.0.0.1:1"}});
  CHECK(unreachable.exit_code == 4);
  CHECK(Contains(unreachable.err, "cannot reach the API"));
}

TEST_CASE("cli enqueue --file sends every line in batches; a bad line names its number", "[pg][api][cli]") {
  ApiFixture api;
  const Cli cli{api, ""};
  std::string lines;
  for (int i = 0; i < 1200; ++i) lines += R"({"kind":"noop","payload":{"i":)" + std::to_string(i) + "}}\n";
  const auto file = TempFile("jobs.jsonl", lines);
  const auto run = cli.Run({"enqueue", "--file", file, "--batch-size", "500"});
  INFO(run.out << run.err);
  CHECK(run.exit_code == 0);
  CHECK(Contains(run.out, "enqueued 1200 jobs"));
  CHECK(run.err.find('\r') == std::string::npos);  // piped: no progress line
  CHECK(api.JobCount() == 1200);

  // From stdin, with --json.
  const auto piped = cli.Run({"enqueue", "--file", "-", "--json"}, "{\"kind\":\"noop\"}\n\n{\"kind\":\"noop\"}\n");
  CHECK(piped.exit_code == 0);
  CHECK(nlohmann::json::parse(piped.out).at("sent") == 2);
  CHECK(api.JobCount() == 1202);

  // Line 3 is not JSON: the batch holding it is not sent at all.
  const auto bad = TempFile("bad.jsonl", "{\"kind\":\"noop\"}\n{\"kind\":\"noop\"}\nnot json\n{\"kind\":\"noop\"}\n");
  const auto refused = cli.Run({"enqueue", "-f", bad});
  CHECK(refused.exit_code == 2);
  CHECK(Contains(refused.err, "line 3"));
  CHECK(api.JobCount() == 1202);

  // Line 2 is JSON the API refuses (empty kind): named by its line, and
  // its batch (lines 1-2) is not written; the batch before it was.
  const auto refused_by_api = TempFile("bad2.jsonl", "{\"kind\":\"noop\"}\n{\"kind\":\"\"}\n");
  const auto run2 = cli.Run({"enqueue", "-f", refused_by_api});
  CHECK(run2.exit_code == 2);
  CHECK(Contains(run2.err, "line 2"));
  CHECK(Contains(run2.err, "kind"));
  CHECK(api.JobCount() == 1202);
  std::remove(file.c_str());
  std::remove(bad.c_str());
  std::remove(refused_by_api.c_str());
}

TEST_CASE("cli cancel, retry and wait's exit codes", "[pg][api][cli]") {
  ApiFixture api;
  const Cli cli{api, ""};
  const auto job = cli.Json({"enqueue", "noop", "--delay", "3600", "--json"});
  const auto id = std::to_string(job.at("id").get<long long>());

  const auto timed_out = cli.Run({"wait", id, "--timeout", "0.5"});
  CHECK(timed_out.exit_code == 6);
  CHECK(cli.Run({"cancel", id}).exit_code == 0);
  const auto cancelled = cli.Run({"wait", id});
  CHECK(cancelled.exit_code == 5);
  CHECK(Contains(cancelled.out, "cancelled"));
  const auto again = cli.Run({"cancel", id});
  CHECK(again.exit_code == 1);  // 409: a cancelled job cannot be cancelled
  CHECK(Contains(again.err, "cancelled"));
  const auto retried = cli.Json({"retry", id, "--json"});
  CHECK(retried.at("state") == "queued");
}

TEST_CASE("cli status and image: the table, --json, an image saved byte for byte", "[pg][api][cli]") {
  ApiFixture api;
  ImageWorker worker(api.db());
  const Cli cli{api, ""};
  const auto input = TempFile("photo.jpg", testing::GradientJpeg(64, 48));
  const auto output = input + ".out.jpg";
  const auto run = cli.Run({"image", input, "--ops", "thumbnail:16x16,grayscale", "-o", output, "--timeout", "30"});
  INFO(run.out << run.err);
  REQUIRE(run.exit_code == 0);
  CHECK(Contains(run.out, "16x12"));
  CHECK(Contains(run.out, "/image/"));
  std::ifstream saved(output, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(saved)), std::istreambuf_iterator<char>());
  const auto jobs = cli.Json({"jobs", "--json"});
  REQUIRE(jobs.size() == 1);
  const auto result = api.Get("/v1/jobs/" + std::to_string(jobs[0].at("id").get<long long>()) + "/result");
  CHECK(result.status == 200);
  CHECK(bytes == result.body);

  const auto not_image = cli.Run({"image", JOBQUEUE_CLI_PATH, "--ops", "grayscale"});
  CHECK(not_image.exit_code == 2);
  CHECK(Contains(not_image.err, "not a JPEG, PNG or WebP"));

  const auto status = cli.Json({"status", "--json"});
  REQUIRE(status.at("queues").size() == 1);
  CHECK(status["queues"][0].at("succeeded_last_minute") == 1);
  const auto table = cli.Run({"status"});
  CHECK(table.exit_code == 0);
  CHECK(Contains(table.out, "default"));
  CHECK(Contains(table.out, "done/min"));
  std::remove(input.c_str());
  std::remove(output.c_str());
}

TEST_CASE("cli with API_SECRET_KEY: refused without JOBQUEUE_TOKEN, accepted with it", "[pg][api][cli]") {
  ApiFixture api([](api::ApiConfig& c) { c.secret_key = "s3cret-key"; });
  const auto without = Cli{api, ""}.Run({"enqueue", "noop"});
  CHECK(without.exit_code == 1);
  CHECK(Contains(without.err, "JOBQUEUE_TOKEN"));
  CHECK(api.JobCount() == 0);
  const auto with = Cli{api, "s3cret-key"}.Run({"enqueue", "noop"});
  CHECK(with.exit_code == 0);
  CHECK(api.JobCount() == 1);
}
