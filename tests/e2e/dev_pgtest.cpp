// `jobqueue dev` end to end: private PostgreSQL, the API, workers and reaper
// as child processes, jobs submitted from outside (SQL, and curl running the
// very lines dev prints) succeed, Ctrl-C leaves nothing running.
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

}  // namespace jobqueue::testing
