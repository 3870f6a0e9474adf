// `jobqueue dev` end to end: private PostgreSQL, the API, workers and reaper
// as child processes, jobs submitted from outside (SQL, curl running the
// very lines dev prints, the CLI) succeed, a killed worker is restarted,
// Ctrl-C leaves nothing running, and the data directory starts again.
#include <signal.h>

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>

#include <pqxx/pqxx>

#include "images/test_images.hpp"
#include "support/child_process.hpp"
#include "support/cli_runner.hpp"
#include "support/pg_fixture.hpp"

namespace jobqueue::testing {
namespace {

// Runs `script` with bash and returns what it printed on stdout.
std::string Shell(const std::string& script) {
  const std::string command = "bash -c '" + std::regex_replace(script, std::regex("'"), "'\\''") + "'";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return "";
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  pclose(pipe);
  return out;
}

// The line dev printed after "dev |   " that starts with `prefix`.
std::string PrintedLine(const std::string& log, const std::string& prefix) {
  const auto at = log.find("dev |   " + prefix);
  if (at == std::string::npos) return "";
  const auto start = at + 8;
  return log.substr(start, log.find('\n', start) - start);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The value of `export NAME='value'` in dev's env file.
std::string EnvFileValue(const std::string& text, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex("export " + name + "='([^']*)'"))) return "";
  return m[1];
}

}  // namespace

TEST_CASE("jobqueue dev runs the API, workers and a reaper and stops cleanly on SIGINT", "[pg][e2e]") {
  char tmpl[] = "/tmp/jobqueue-dev-test-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  const std::string dir = tmpl;
  if (geteuid() == 0) std::filesystem::permissions(dir, std::filesystem::perms::all);

  std::string dsn;
  {
    // API_PORT 0: any free port (8080 may be taken on a shared machine).
    ChildProcess dev(JOBQUEUE_CLI_PATH,
                     {{"JOBQUEUE_DEV_DIR", dir}, {"WORKER_REPLICAS", "2"}, {"DATABASE_URL", ""}, {"API_PORT", "0"}},
                     {"dev"});
    // The block of lines after "ready" ends with the Ctrl-C hint; wait for
    // all of it (a slow sanitizer build can be read between its lines).
    REQUIRE(WaitFor([&] { return dev.Log().find("dev | Ctrl-C drains") != std::string::npos || !dev.Running(); }, 60000));
    INFO(dev.Log());
    std::smatch m;
    const auto log = dev.Log();
    REQUIRE(std::regex_search(log, m, std::regex("DATABASE_URL='([^']+)'")));
    dsn = m[1];

    pqxx::connection conn(dsn);
    {
      pqxx::nontransaction tx(conn);
      for (int i = 0; i < 20; ++i) tx.exec("SELECT jobqueue.enqueue('sleep', '{\"seconds\": 0.05}')");
    }
    auto count = [&](const std::string& where) {
      pqxx::nontransaction tx(conn);
      return tx.exec("SELECT count(*) FROM jobqueue.jobs WHERE " + where)[0][0].as<long>();
    };
    REQUIRE(WaitFor([&] { return count("state = 'succeeded'") == 20; }, 20000));
    CHECK(count("lease_owner NOT IN ('worker-1', 'worker-2')") == 0);

    // The API: the curl lines dev printed, pasted into a shell as they are.
    REQUIRE(std::regex_search(log, m, std::regex("ready: API on http://127.0.0.1:(\\d+)")));
    const int api_port = std::stoi(m[1]);
    const std::string submit = PrintedLine(log, "ID=$(curl");
    const std::string read = PrintedLine(log, "curl -s http");
    REQUIRE(!submit.empty());
    REQUIRE(!read.empty());
    nlohmann::json job;
    const bool succeeded = WaitFor(
        [&] {
          if (job.is_null()) {
            const auto out = Shell("exec 2>/dev/null; " + submit + "; " + read);
            job = nlohmann::json::parse(out.substr(out.find('{') == std::string::npos ? 0 : out.find('{')), nullptr, false);
            if (!job.is_object() || !job.contains("id")) job = nullptr;
            return false;
          }
          std::string body;
          if (HttpGet(api_port, "/v1/jobs/" + std::to_string(job["id"].get<long long>()), &body) != 200) return false;
          const auto now = nlohmann::json::parse(body, nullptr, false);
          return now.is_object() && now["state"] == "succeeded";
        },
        20000);
    INFO(job.dump());
    REQUIRE(succeeded);
    for (int i = 0; i < 5; ++i) {
      const auto out = Shell("curl -s -o /dev/null -w '%{http_code}' -X POST http://127.0.0.1:" + std::to_string(api_port) +
                             "/v1/jobs -H 'Content-Type: application/json' -d '{\"kind\":\"noop\"}'");
      CHECK(out == "201");
    }
    REQUIRE(WaitFor([&] { return count("kind = 'noop' AND state = 'succeeded'") == 5; }, 20000));
    CHECK(HttpGet(api_port, "/ready") == 200);
    // The dashboard it points to is there.
    CHECK(log.find("http://127.0.0.1:" + std::to_string(api_port) + "/ui/") != std::string::npos);
    CHECK(HttpGet(api_port, "/ui/") == 200);

    // The supervisor: a worker killed outright is reported and restarted
    // (it ran more than a few seconds, so at once), and the work goes on.
    const std::string worker_pid =
        Shell("pgrep -P " + std::to_string(dev.pid()) + " -f jobqueue-worker | head -n1");
    REQUIRE(!worker_pid.empty());
    REQUIRE(kill(std::stoi(worker_pid), SIGKILL) == 0);
    REQUIRE(WaitFor([&] { return dev.Log().find("killed by signal 9; restarting") != std::string::npos; }, 10000));
    REQUIRE(WaitFor([&] { return dev.Log().find("dev | restarting worker-") != std::string::npos; }, 10000));
    // Up again: three "worker started" lines, two at the start and one now.
    const auto started_lines = [&] {
      const auto text = dev.Log();
      int n = 0;
      for (auto at = text.find("worker started"); at != std::string::npos; at = text.find("worker started", at + 1)) ++n;
      return n;
    };
    CHECK(WaitFor([&] { return started_lines() == 3; }, 15000));
    {
      pqxx::nontransaction tx(conn);
      for (int i = 0; i < 10; ++i) tx.exec("SELECT jobqueue.enqueue('noop', '{\"after_restart\": true}')");
    }
    CHECK(WaitFor([&] { return count("payload ? 'after_restart' AND state = 'succeeded'") == 10; }, 20000));

    // Worker and reaper /health answer while dev runs.
    std::vector<int> ports;
    const std::regex port_re("metrics_port=(\\d+)");
    for (auto it = std::sregex_iterator(log.begin(), log.end(), port_re); it != std::sregex_iterator(); ++it) {
      ports.push_back(std::stoi((*it)[1]));
    }
    const auto now_log = dev.Log();
    for (auto it = std::sregex_iterator(now_log.begin(), now_log.end(), port_re); it != std::sregex_iterator(); ++it) {
      ports.push_back(std::stoi((*it)[1]));
    }
    REQUIRE(ports.size() >= 3);
    INFO(dev.Log());
    for (int port : ports) CHECK(HttpGet(port, "/health") == 200);

    dev.Signal(SIGINT);
    REQUIRE(dev.Wait(std::chrono::seconds(60)) == 0);
    const auto end_log = dev.Log();
    CHECK(end_log.find("worker-1 exited with 0") != std::string::npos);
    CHECK(end_log.find("worker-2 exited with 0") != std::string::npos);
    CHECK(end_log.find("reaper exited with 0") != std::string::npos);
    CHECK(end_log.find("api exited with 0") != std::string::npos);
    for (int port : ports) CHECK(HttpGet(port, "/health") == -1);  // nothing left listening
    CHECK(HttpGet(api_port, "/health") == -1);
  }
  // PostgreSQL is stopped too.
  CHECK_THROWS(pqxx::connection(dsn));
  std::filesystem::remove_all(dir);
}

TEST_CASE("jobqueue dev restarts a worker that keeps crashing with a growing pause, and says so", "[pg][e2e]") {
  char tmpl[] = "/tmp/jobqueue-dev-crash-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  const std::string dir = tmpl;
  if (geteuid() == 0) std::filesystem::permissions(dir, std::filesystem::perms::all);
  // A bin directory whose worker dies at once; the API and reaper are real.
  const std::string bin = dir + "/bin";
  std::filesystem::create_directories(bin);
  const std::filesystem::path cli(JOBQUEUE_CLI_PATH);
  for (const char* name : {"jobqueue-api", "jobqueue-reaper"}) {
    std::filesystem::create_symlink(cli.parent_path() / name, bin + "/" + name);
  }
  {
    FILE* f = std::fopen((bin + "/jobqueue-worker").c_str(), "w");
    REQUIRE(f != nullptr);
    std::fputs("#!/bin/sh\necho 'broken worker: cannot start'\nexit 1\n", f);
    std::fclose(f);
    std::filesystem::permissions(bin + "/jobqueue-worker", std::filesystem::perms::owner_all);
  }
  ChildProcess dev(JOBQUEUE_CLI_PATH,
                   {{"JOBQUEUE_DEV_DIR", dir}, {"JOBQUEUE_BIN_DIR", bin}, {"DATABASE_URL", ""}, {"API_PORT", "0"}},
                   {"dev", "--workers", "1"});
  // 1 s, 2 s, 4 s: the third quick crash is reported as a crash loop.
  const bool reported = WaitFor([&] { return dev.Log().find("crashed 3 times in a row") != std::string::npos; }, 60000);
  const auto log = dev.Log();
  INFO(log);
  CHECK(reported);
  CHECK(log.find("worker-1 exited with 1; restarting in 1 s") != std::string::npos);
  CHECK(log.find("worker-1 exited with 1; restarting in 2 s") != std::string::npos);
  CHECK(log.find("worker-1 | broken worker: cannot start") != std::string::npos);
  dev.Signal(SIGINT);
  CHECK(dev.Wait(std::chrono::seconds(60)) == 0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("jobqueue dev: every job kind through the CLI and the API, per-process logs, and the data directory starts again",
          "[pg][e2e]") {
  char tmpl[] = "/tmp/jobqueue-dev-kinds-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  const std::string dir = tmpl;
  if (geteuid() == 0) std::filesystem::permissions(dir, std::filesystem::perms::all);
  const std::string env_path = dir + "/env";
  const std::string photo = dir + "/photo.jpg";
  std::ofstream(photo, std::ios::binary) << GradientJpeg(640, 480);
  const std::map<std::string, std::string> dev_env = {
      {"JOBQUEUE_DEV_DIR", dir}, {"WORKER_REPLICAS", "2"}, {"DATABASE_URL", ""}, {"API_PORT", "0"}};

  std::vector<long long> ids;  // every job, to find again after the restart
  long long image_id = 0;
  {
    ChildProcess dev(JOBQUEUE_CLI_PATH, dev_env, {"dev"});
    REQUIRE(WaitFor([&] { return std::filesystem::exists(env_path) || !dev.Running(); }, 60000));
    INFO(dev.Log());
    // The env file is what the examples and a second terminal source.
    const auto env_text = ReadFile(env_path);
    const std::string url = EnvFileValue(env_text, "JOBQUEUE_URL");
    REQUIRE(url.rfind("http://127.0.0.1:", 0) == 0);
    CHECK(!EnvFileValue(env_text, "DATABASE_URL").empty());
    CHECK(EnvFileValue(env_text, "JOBQUEUE_DEV_PID") == std::to_string(dev.pid()));
    CHECK((std::filesystem::status(env_path).permissions() & std::filesystem::perms::all) ==
          (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
    const std::map<std::string, std::string> cli_env = {{"JOBQUEUE_URL", url}, {"NO_COLOR", "1"}};
    const auto cli = [&](const std::vector<std::string>& args) {
      return RunCli(JOBQUEUE_CLI_PATH, args, cli_env);
    };
    const auto enqueue = [&](const std::vector<std::string>& args) {
      auto all = args;
      all.insert(all.begin(), "enqueue");
      all.push_back("--json");
      const auto run = cli(all);
      INFO(run.out << run.err);
      REQUIRE(run.exit_code == 0);
      const long long id = nlohmann::json::parse(run.out).at("id").get<long long>();
      ids.push_back(id);
      return std::to_string(id);
    };
    const auto wait_code = [&](const std::string& id) {
      const auto run = cli({"wait", id, "--timeout", "60"});
      INFO("wait " << id << " -> " << run.exit_code << ": " << run.out << run.err);
      return run.exit_code;
    };

    // Through the CLI: noop, sleep, a permanent failure, and an image.
    CHECK(wait_code(enqueue({"noop"})) == 0);
    CHECK(wait_code(enqueue({"sleep", R"({"seconds": 0.2})"})) == 0);
    CHECK(wait_code(enqueue({"fail", R"({"permanent": true, "message": "drill"})"})) == 5);  // dead
    const std::string out_path = dir + "/out.jpg";
    const auto image = cli({"image", photo, "--ops", "thumbnail:64x64,grayscale,blur:3", "-o", out_path, "--json"});
    INFO(image.out << image.err);
    REQUIRE(image.exit_code == 0);
    image_id = nlohmann::json::parse(image.out).at("id").get<long long>();
    ids.push_back(image_id);
    const auto saved = ReadFile(out_path);
    REQUIRE(saved.size() > 100);
    CHECK(saved.compare(0, 3, "\xFF\xD8\xFF") == 0);

    // Through the API: every image kind, fetching the input the API serves
    // for the CLI's upload (dev lets workers fetch from localhost).
    const std::string input_url = url + "/v1/jobs/" + std::to_string(image_id) + "/input";
    const std::vector<std::pair<std::string, std::string>> api_jobs = {
        {"image.thumbnail", R"({"image_url": ")" + input_url + R"(", "width": 32, "height": 32})"},
        {"image.blur", R"({"image_url": ")" + input_url + R"(", "sigma": 2})"},
        {"image.grayscale", R"({"image_url": ")" + input_url + R"("})"},
        {"image.pipeline", R"({"image_url": ")" + input_url + R"(", "ops": "thumbnail:48x48,grayscale"})"},
        {"sleep", R"({"seconds": 0.1})"},
        {"noop", "{}"}};
    for (const auto& [kind, payload] : api_jobs) {
      const std::string body = R"({"kind": ")" + kind + R"(", "payload": )" + payload + "}";
      const auto out = Shell("curl -s -X POST " + url + "/v1/jobs -H 'Content-Type: application/json' -d '" + body + "'");
      const auto job = nlohmann::json::parse(out, nullptr, false);
      INFO(kind << ": " << out);
      REQUIRE(job.is_object());
      REQUIRE(job.contains("id"));
      const long long id = job["id"].get<long long>();
      ids.push_back(id);
      CHECK(wait_code(std::to_string(id)) == 0);
    }
    const auto status = cli({"status", "--json"});
    CHECK(status.exit_code == 0);

    // One log file per process, as the terminal showed them.
    CHECK(ReadFile(dir + "/logs/api.log").find("api listening") != std::string::npos);
    CHECK(ReadFile(dir + "/logs/reaper.log").find("reaper started") != std::string::npos);
    const auto worker_logs = ReadFile(dir + "/logs/worker-1.log") + ReadFile(dir + "/logs/worker-2.log");
    CHECK(worker_logs.find("worker started") != std::string::npos);
    CHECK(worker_logs.find("image job received") != std::string::npos);
    CHECK(worker_logs.find("job_id=" + std::to_string(image_id) + " ") != std::string::npos);

    dev.Signal(SIGINT);
    REQUIRE(dev.Wait(std::chrono::seconds(60)) == 0);
    CHECK_FALSE(std::filesystem::exists(env_path));  // nothing stale for the examples to find
  }

  // The same directory again: PostgreSQL starts on its data, every job is
  // still there as it ended, and the output image still downloads.
  {
    ChildProcess dev(JOBQUEUE_CLI_PATH, dev_env, {"dev"});
    REQUIRE(WaitFor([&] { return std::filesystem::exists(env_path) || !dev.Running(); }, 60000));
    INFO(dev.Log());
    const std::string url = EnvFileValue(ReadFile(env_path), "JOBQUEUE_URL");
    const std::map<std::string, std::string> cli_env = {{"JOBQUEUE_URL", url}, {"NO_COLOR", "1"}};
    const auto listing = RunCli(JOBQUEUE_CLI_PATH, {"jobs", "--limit", "100", "--json"}, cli_env);
    INFO(listing.out << listing.err);
    REQUIRE(listing.exit_code == 0);
    std::map<long long, std::string> states;
    for (const auto& job : nlohmann::json::parse(listing.out)) {  // --json: an array of jobs
      states[job["id"].get<long long>()] = job["state"].get<std::string>();
    }
    for (long long id : ids) {
      INFO("job " << id);
      REQUIRE(states.count(id) == 1);
      CHECK(states[id] == (id == ids[2] ? "dead" : "succeeded"));
    }
    const int port = std::stoi(url.substr(url.rfind(':') + 1));
    std::string result;
    CHECK(HttpGet(port, "/v1/jobs/" + std::to_string(image_id) + "/result", &result) == 200);
    CHECK(result == ReadFile(dir + "/out.jpg"));
    dev.Signal(SIGINT);
    CHECK(dev.Wait(std::chrono::seconds(60)) == 0);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace jobqueue::testing
