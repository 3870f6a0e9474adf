// The `jobqueue` binary end to end: exit codes and output of migrate,
// enqueue and status against a test database, and its refusals.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/pg_fixture.hpp"

extern char** environ;

using jobqueue::testing::TestDatabase;

namespace {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs the CLI with `args` and the variables in `env` set (others of this
// process are inherited, minus DATABASE_URL and LOG_*, which only `env` sets).
RunResult RunCli(const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    const auto name = entry.substr(0, entry.find('='));
    if (name == "DATABASE_URL" || name == "LOG_LEVEL" || name == "LOG_FORMAT" || env.count(name)) {
      continue;
    }
    env_strings.push_back(entry);
  }
  for (const auto& [name, value] : env) env_strings.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  std::vector<std::string> argv_strings = {JOBQUEUE_CLI_PATH};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  int out_pipe[2];
  int err_pipe[2];
  REQUIRE(::pipe(out_pipe) == 0);
  REQUIRE(::pipe(err_pipe) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(err_pipe[1], STDERR_FILENO);
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    ::close(err_pipe[0]);
    ::close(err_pipe[1]);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);

  RunResult result;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  while (open_fds > 0) {
    if (::poll(fds, 2, 30000) <= 0) {
      if (errno == EINTR) continue;
      break;  // 30 s without output: give up on reading
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& fd : fds) {
    if (fd.fd >= 0) ::close(fd.fd);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

RunResult RunCli(const std::vector<std::string>& args, const TestDatabase& db) {
  return RunCli(args, {{"DATABASE_URL", db.dsn()}});
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Migrates `db` with the CLI; the test stops if that fails.
void MigrateWithCli(const TestDatabase& db) {
  const auto run = RunCli({"migrate"}, db);
  INFO("stdout: " << run.out << "\nstderr: " << run.err);
  REQUIRE(run.exit_code == 0);
}

}  // namespace

TEST_CASE("cli migrate on an empty database exits 0 and names the applied file", "[pg][cli]") {
  TestDatabase db(false);
  const auto run = RunCli({"migrate"}, db);
  INFO("stdout: " << run.out << "\nstderr: " << run.err);
  CHECK(run.exit_code == 0);
  CHECK(Contains(run.out, "0001_create_jobs.sql"));
  CHECK(Contains(run.out, "applied"));
  CHECK(db.Scalar<bool>("SELECT to_regclass('jobqueue.jobs') IS NOT NULL"));
}

TEST_CASE("cli migrate a second time exits 0 and says the schema is up to date", "[pg][cli]") {
  TestDatabase db(false);
  MigrateWithCli(db);
  const auto run = RunCli({"migrate"}, db);
  INFO("stdout: " << run.out << "\nstderr: " << run.err);
  CHECK(run.exit_code == 0);
  CHECK(Contains(run.out, "up to date"));
  CHECK_FALSE(Contains(run.out, "0001_create_jobs.sql"));
}

TEST_CASE("cli enqueue prints the new job's id and creates the row", "[pg][cli]") {
  TestDatabase db(false);
  MigrateWithCli(db);
  const auto run = RunCli({"enqueue", "noop", R"({"a":1})", "--queue", "q1"}, db);
  INFO("stdout: " << run.out << "\nstderr: " << run.err);
  REQUIRE(run.exit_code == 0);
  const auto printed = nlohmann::json::parse(run.out, nullptr, false);
  REQUIRE(printed.is_object());
  REQUIRE(printed.contains("id"));
  CHECK(printed["created"] == true);
  const auto id = printed["id"].get<long>();
  const auto rows = db.Sql("SELECT queue, kind, payload::text, state::text FROM jobqueue.jobs WHERE id = " +
                           std::to_string(id));
  REQUIRE(rows.size() == 1);
  CHECK(rows[0][0].as<std::string>() == "q1");
  CHECK(rows[0][1].as<std::string>() == "noop");
  CHECK(nlohmann::json::parse(rows[0][2].as<std::string>()) == nlohmann::json{{"a", 1}});
  CHECK(rows[0][3].as<std::string>() == "queued");
}

TEST_CASE("cli enqueue with an existing idempotency key reports created false", "[pg][cli]") {
  TestDatabase db(false);
  MigrateWithCli(db);
  const auto first = RunCli({"enqueue", "noop", "--key", "k-1"}, db);
  const auto second = RunCli({"enqueue", "noop", "--key", "k-1"}, db);
  INFO("first: " << first.out << first.err << "\nsecond: " << second.out << second.err);
  REQUIRE(first.exit_code == 0);
  REQUIRE(second.exit_code == 0);
  const auto a = nlohmann::json::parse(first.out);
  const auto b = nlohmann::json::parse(second.out);
  CHECK(a["created"] == true);
  CHECK(b["created"] == false);
  CHECK(a["id"] == b["id"]);
  CHECK(db.Scalar<long>("SELECT count(*) FROM jobqueue.jobs") == 1);
}

TEST_CASE("cli enqueue with invalid JSON exits 2 and inserts nothing", "[pg][cli]") {
  TestDatabase db(false);
  MigrateWithCli(db);
  const auto run = RunCli({"enqueue", "noop", "{not json"}, db);
  INFO("stdout: " << run.out << "\nstderr: " << run.err);
  CHECK(run.exit_code == 2);
  CHECK(Contains(run.err, "payload"));
  CHECK(db.Scalar<long>("SELECT count(*) FROM jobqueue.jobs") == 0);
}

TEST_CASE("cli enqueue with a non-integer priority exits 2", "[pg][cli]") {
  TestDatabase db(false);
  MigrateWithCli(db);
  const auto run = RunCli({"enqueue", "noop", "--priority", "high"}, db);
  INFO("stdout: " << run.out << "\nstderr: " << run.err);
  CHECK(run.exit_code == 2);
  CHECK(Contains(run.err, "--priority"));
  CHECK(db.Scalar<long>("SELECT count(*) FROM jobqueue.jobs") == 0);
}

TEST_CASE("cli enqueue with an over-long kind exits 2 naming kind", "[pg][cli]") {
  TestDatabase db(false);
  MigrateWithCli(db);
  const auto run = RunCli({"enqueue", std::string(129, 'k')}, db);
  INFO("stdout: " << run.out << "\nstderr: " << run.err);
  CHECK(run.exit_code == 2);
  CHECK(Contains(run.err, "kind"));
  CHECK(db.Scalar<long>("SELECT count(*) FROM jobqueue.jobs") == 0);
}

TEST_CASE("cli with an unknown command exits 2 and prints the usage", "[pg][cli]") {
  TestDatabase db(false);
  const auto run = RunCli({"frobnicate"}, db);
  INFO("stdout: " << run.out << "\nstderr: " << run.err);
  CHECK(run.exit_code == 2);
  CHECK(Contains(run.err, "frobnicate"));
  CHECK(Contains(run.err, "usage"));
}

TEST_CASE("cli without a command exits 2", "[pg][cli]") {
  const auto run = RunCli({}, std::map<std::string, std::string>{});
  CHECK(run.exit_code == 2);
  CHECK(Contains(run.out, "usage"));
}

TEST_CASE("cli status lists each queue with its state and count", "[pg][cli]") {
  TestDatabase db(false);
  MigrateWithCli(db);
  for (int i = 0; i < 3; ++i) {
    REQUIRE(RunCli({"enqueue", "noop", "--queue", "q1"}, db).exit_code == 0);
  }
  REQUIRE(RunCli({"enqueue", "noop", "--queue", "other-queue"}, db).exit_code == 0);
  const auto run = RunCli({"status"}, db);
  INFO("stdout: " << run.out << "\nstderr: " << run.err);
  CHECK(run.exit_code == 0);
  bool q1_line = false;
  bool other_line = false;
  std::size_t start = 0;
  while (start < run.out.size()) {
    const auto end = run.out.find('\n', start);
    const auto line = run.out.substr(start, end == std::string::npos ? std::string::npos : end - start);
    std::istringstream words(line);
    std::string queue, state;
    long jobs = -1;
    words >> queue >> state >> jobs;
    if (queue == "q1" && state == "queued" && jobs == 3) q1_line = true;
    if (queue == "other-queue" && state == "queued" && jobs == 1) other_line = true;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  CHECK(q1_line);
  CHECK(other_line);
}

TEST_CASE("cli with an unreachable database exits 4", "[pg][cli]") {
  const std::map<std::string, std::string> env = {
      {"DATABASE_URL", "host=127.0.0.1 port=1 user=postgres dbname=none connect_timeout=5"}};
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"migrate"}, std::vector<std::string>{"status"},
        std::vector<std::string>{"enqueue", "noop"}}) {
    INFO("command: " << args[0]);
    const auto run = RunCli(args, env);
    INFO("stdout: " << run.out << "\nstderr: " << run.err);
    CHECK(run.exit_code == 4);
    CHECK(Contains(run.err, "unreachable"));
  }
}

TEST_CASE("cli with a bogus LOG_LEVEL exits 2 naming LOG_LEVEL", "[pg][cli]") {
  TestDatabase db(false);
  const auto run = RunCli({"migrate"}, {{"DATABASE_URL", db.dsn()}, {"LOG_LEVEL", "bogus"}});
  INFO("stdout: " << run.out << "\nstderr: " << run.err);
  CHECK(run.exit_code == 2);
  CHECK(Contains(run.err, "LOG_LEVEL"));
  // Refused before touching the database.
  CHECK_FALSE(db.Scalar<bool>("SELECT to_regclass('jobqueue.schema_migrations') IS NOT NULL"));
}

TEST_CASE("cli with a bogus LOG_FORMAT exits 2 naming LOG_FORMAT", "[pg][cli]") {
  TestDatabase db(false);
  const auto run = RunCli({"migrate"}, {{"DATABASE_URL", db.dsn()}, {"LOG_FORMAT", "xml"}});
  INFO("stdout: " << run.out << "\nstderr: " << run.err);
  CHECK(run.exit_code == 2);
  CHECK(Contains(run.err, "LOG_FORMAT"));
}

TEST_CASE("cli accepts LOG_LEVEL=warn", "[pg][cli]") {
  TestDatabase db(false);
  const auto run = RunCli({"migrate"}, {{"DATABASE_URL", db.dsn()}, {"LOG_LEVEL", "warn"}});
  INFO("stdout: " << run.out << "\nstderr: " << run.err);
  CHECK(run.exit_code == 0);
}
