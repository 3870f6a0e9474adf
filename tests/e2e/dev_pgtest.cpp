// `jobqueue dev` end to end: private PostgreSQL, the API, workers and reaper
// as child processes, jobs submitted from outside (SQL, and curl running the
// very lines dev prints) succeed, a killed worker is restarted, Ctrl-C
// leaves nothing running.
#include <signal.h>

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <regex>

#include <nlohmann/json.hpp>

#include <pqxx/pqxx>

#include "support/child_process.hpp"
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
    REQUIRE(WaitFor([&] { return dev.Log().find("dev | ready") != std::string::npos || !dev.Running(); }, 60000));
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

}  // namespace jobqueue::testing
