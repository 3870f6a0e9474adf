// `jobqueue dev` end to end: private PostgreSQL, workers and reaper as child
// processes, jobs submitted from outside succeed, Ctrl-C leaves nothing
// running.
#include <signal.h>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <regex>

#include <pqxx/pqxx>

#include "support/child_process.hpp"
#include "support/pg_fixture.hpp"

namespace jobqueue::testing {

TEST_CASE("jobqueue dev runs workers and a reaper and stops cleanly on SIGINT", "[pg][e2e]") {
  char tmpl[] = "/tmp/jobqueue-dev-test-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  const std::string dir = tmpl;
  if (geteuid() == 0) std::filesystem::permissions(dir, std::filesystem::perms::all);

  std::string dsn;
  {
    ChildProcess dev(JOBQUEUE_CLI_PATH, {{"JOBQUEUE_DEV_DIR", dir}, {"WORKER_REPLICAS", "2"}, {"DATABASE_URL", ""}},
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
    for (int port : ports) CHECK(HttpGet(port, "/health") == -1);  // nothing left listening
  }
  // PostgreSQL is stopped too.
  CHECK_THROWS(pqxx::connection(dsn));
  std::filesystem::remove_all(dir);
}

}  // namespace jobqueue::testing
