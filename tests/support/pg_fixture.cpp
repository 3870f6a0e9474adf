#include "support/pg_fixture.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>

#include <libpq-fe.h>

#include "core/migrator.hpp"
#include "core/pg/connection.hpp"

namespace fs = std::filesystem;

namespace jobqueue::testing {
namespace {

std::mutex g_mutex;
std::unique_ptr<TestServer> g_server;
std::atomic<int> g_database_counter{0};

// Rebuilds a libpq connection string (URI or key=value) with dbname replaced.
std::string WithDbname(const std::string& dsn, const std::string& dbname) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &error);
  if (options == nullptr) {
    std::string message = error ? error : "unparsable";
    PQfreemem(error);
    throw std::runtime_error("JOBQUEUE_TEST_DATABASE_URL: " + message);
  }
  std::string out;
  for (auto* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || std::string(o->keyword) == "dbname") continue;
    std::string value = o->val;
    std::string quoted;
    for (char c : value) {
      if (c == '\'' || c == '\\') quoted += '\\';
      quoted += c;
    }
    out += std::string(o->keyword) + "='" + quoted + "' ";
  }
  PQconninfoFree(options);
  return out + "dbname='" + dbname + "'";
}

}  // namespace

TestServer& TestServer::Get() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (!g_server) g_server.reset(new TestServer());
  return *g_server;
}

void TestServer::Shutdown() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_server.reset();
}

TestServer::TestServer() {
  const char* external = std::getenv("JOBQUEUE_TEST_DATABASE_URL");
  if (external != nullptr && *external != '\0') {
    base_dsn_ = external;
    char* error = nullptr;
    PQconninfoOption* options = PQconninfoParse(base_dsn_.c_str(), &error);
    if (options) {
      for (auto* o = options; o->keyword != nullptr; ++o) {
        if (std::string(o->keyword) == "dbname" && o->val && *o->val) admin_db_ = o->val;
      }
      PQconninfoFree(options);
    }
    PQfreemem(error);
    return;
  }
  char root[] = "/tmp/jobqueue-test-XXXXXX";
  if (::mkdtemp(root) == nullptr) throw std::runtime_error("mkdtemp failed");
  temp_root_ = root;
  ::chmod(root, 0755);  // the server may run as `postgres` and must reach data/
  core::LocalPostgresOptions options;
  options.data_dir = temp_root_ + "/data";
  options.durable = false;
  options.remove_on_destroy = true;
  local_ = std::make_unique<core::LocalPostgres>(options);
  local_->Start();
}

TestServer::~TestServer() {
  if (!template_.empty() && !local_) {
    try {
      pqxx::connection admin(AdminDsn());
      pqxx::nontransaction tx(admin);
      tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(template_) + " WITH (FORCE)");
    } catch (const std::exception&) {
    }
  }
  local_.reset();
  if (!temp_root_.empty()) {
    std::error_code ec;
    fs::remove_all(temp_root_, ec);
  }
}

std::string TestServer::Dsn(const std::string& dbname) const {
  if (local_) return local_->Dsn(dbname);
  return WithDbname(base_dsn_, dbname);
}

std::string TestServer::MigratedTemplate() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (!template_.empty()) return template_;
  const std::string name = "jq_template_" + std::to_string(::getpid());
  {
    pqxx::connection admin(AdminDsn());
    pqxx::nontransaction tx(admin);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name) + " WITH (FORCE)");
    tx.exec("CREATE DATABASE " + tx.quote_name(name));
  }
  {
    core::pg::Connection conn(Dsn(name));
    core::Migrator().Migrate(conn);
  }
  template_ = name;
  return template_;
}

TestDatabase::TestDatabase(bool migrated) {
  auto& server = TestServer::Get();
  name_ = "jq_" + std::to_string(::getpid()) + "_" + std::to_string(++g_database_counter);
  const std::string source = migrated ? server.MigratedTemplate() : "template0";
  {
    pqxx::connection admin(server.AdminDsn());
    pqxx::nontransaction tx(admin);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
    // FILE_COPY: a plain copy of the small template, far faster than WAL_LOG.
    tx.exec("CREATE DATABASE " + tx.quote_name(name_) + " TEMPLATE " + tx.quote_name(source) +
            " STRATEGY FILE_COPY");
  }
  dsn_ = server.Dsn(name_);
}

TestDatabase::~TestDatabase() {
  conn_.reset();
  try {
    pqxx::connection admin(TestServer::Get().AdminDsn());
    pqxx::nontransaction tx(admin);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
  } catch (const std::exception&) {
    // The server may be down in a fault test; the whole cluster goes anyway.
  }
}

pqxx::result TestDatabase::Sql(const std::string& sql) {
  if (!conn_ || !conn_->is_open()) conn_ = std::make_unique<pqxx::connection>(dsn_);
  try {
    pqxx::nontransaction tx(*conn_);
    return tx.exec(sql);
  } catch (const pqxx::broken_connection&) {
    conn_.reset();  // libpqxx may still call a session open that the server closed
    throw;
  }
}

core::ClaimRequest ClaimFor(int limit, const std::string& queue, const std::string& worker, double lease_seconds) {
  core::ClaimRequest r;
  r.queues = {queue};
  r.limit = limit;
  r.worker_id = worker;
  r.lease_seconds = lease_seconds;
  return r;
}

core::NewJob MakeJob(const std::string& kind, nlohmann::json payload) {
  core::NewJob job;
  job.kind = kind;
  job.payload = std::move(payload);
  return job;
}

std::vector<core::SqlFile> MigrationsUpTo(int version) {
  std::vector<core::SqlFile> out;
  for (const auto& f : core::EmbeddedMigrations()) {
    if (core::Migrator::VersionOf(f.name) <= version) out.push_back(f);
  }
  return out;
}

std::vector<core::Lease> Leases(const std::vector<core::ClaimedJob>& jobs) {
  std::vector<core::Lease> out;
  for (const auto& j : jobs) out.push_back(j.lease);
  return out;
}

void CountCompletions(TestDatabase& db) {
  db.Sql("CREATE TABLE public.completions (job_id bigint NOT NULL, at timestamptz NOT NULL DEFAULT now(), "
         "owner text)");
  db.Sql(R"(CREATE FUNCTION public.count_completion() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO public.completions (job_id, owner) VALUES (NEW.id, NEW.lease_owner);
            RETURN NEW; END $$)");
  db.Sql("CREATE TRIGGER count_completion AFTER UPDATE ON jobqueue.jobs FOR EACH ROW "
         "WHEN (NEW.state = 'succeeded' AND OLD.state <> 'succeeded') "
         "EXECUTE FUNCTION public.count_completion()");
}

bool WaitFor(const std::function<bool()>& condition, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

}  // namespace jobqueue::testing
