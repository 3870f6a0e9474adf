#include "core/pg/connection.hpp"

#include <poll.h>

#include <cerrno>

#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include "core/errors.hpp"
#include "core/log.hpp"
#include "core/sql_catalog.hpp"

namespace jobqueue::core::pg {
namespace {

// Server notices and warnings go to the log (debug), not raw to stderr
// between JSON log lines, which is libpqxx's default.
class LogNotices : public pqxx::errorhandler {
 public:
  explicit LogNotices(pqxx::connection_base& conn) : pqxx::errorhandler(conn) {}
  bool operator()(const char message[]) noexcept override {
    try {
      std::string text(message);
      while (!text.empty() && text.back() == '\n') text.pop_back();
      spdlog::debug("{}", LogFields("database notice", {{"notice", text}}));
    } catch (...) {
    }
    return false;  // handled: do not print it as well
  }
};

// libpqxx 6.4 keeps a session's libpq handle to itself; largeobject, which
// needs it, hands it to subclasses. Used only by ExecBinaryField.
struct LibpqHandle : pqxx::largeobject {
  static PGconn* Of(const pqxx::dbtransaction& tx) { return raw_connection(tx); }
};

}  // namespace

Connection::Connection(std::string dsn) : dsn_(std::move(dsn)) { Connect(); }

Connection::Connection(std::string dsn, std::string session_sql)
    : dsn_(std::move(dsn)), session_sql_(std::move(session_sql)) {
  Connect();
}

Connection::~Connection() = default;

void Connection::Connect() {
  Drop();
  try {
    auto conn = std::make_unique<pqxx::connection>(dsn_);
    for (const auto& [name, sql] : Statements()) conn->prepare(name, sql);
    if (!session_sql_.empty()) {
      pqxx::nontransaction tx(*conn);
      tx.exec(session_sql_);
    }
    notices_ = std::make_unique<LogNotices>(*conn);
    conn_ = std::move(conn);
  } catch (const pqxx::broken_connection& e) {
    // Nothing was sent: a clean refusal, not a lost statement.
    throw Transient(std::string("database unreachable: ") + e.what());
  } catch (...) {
    RethrowTranslated();
  }
}

pqxx::connection& Connection::Raw() {
  if (!IsOpen()) Connect();
  return *conn_;
}

void Connection::Reset() { Drop(); }

void Connection::Drop() {
  notices_.reset();
  conn_.reset();
}

bool Connection::IsOpen() const { return conn_ && conn_->is_open(); }

bool Connection::DropIfClosedByServer() {
  if (!IsOpen()) return false;
  // An idle session has nothing to read unless the server said something: a
  // NOTIFY, a parameter change, or its goodbye (a FATAL error, then end of
  // file). Reading what arrived, twice at most, gets to the end of file.
  for (int round = 0; round < 3; ++round) {
    pollfd fd{conn_->sock(), POLLIN, 0};
    int ready;
    do {
      ready = ::poll(&fd, 1, 0);
    } while (ready < 0 && errno == EINTR);
    if (ready == 0) return true;
    bool alive = ready > 0 && (fd.revents & (POLLERR | POLLHUP | POLLNVAL)) == 0;
    if (alive) {
      try {
        conn_->get_notifs();  // reads what arrived; end of file breaks the session
        alive = conn_->is_open();
      } catch (const std::exception&) {
        alive = false;
      }
    }
    if (!alive) {
      Drop();
      return false;
    }
  }
  return true;
}

pqxx::result Connection::Guard(const std::function<pqxx::result()>& fn) {
  // A broken session is dropped here and the next call connects anew, so
  // the caller learns of the break (its write may or may not have committed)
  // instead of libpqxx silently reactivating the session.
  try {
    return fn();
  } catch (const pqxx::broken_connection&) {
    Drop();
    RethrowTranslated();
  } catch (const pqxx::sql_error& e) {
    if (IsConnectionState(e.sqlstate())) Drop();
    RethrowTranslated();
  } catch (...) {
    RethrowTranslated();
  }
}

pqxx::result Connection::InTransaction(const std::function<pqxx::result(pqxx::work&)>& fn) {
  return Guard([&] {
    pqxx::work tx(Raw());
    auto result = fn(tx);
    tx.commit();
    return result;
  });
}

std::optional<std::string> Connection::ExecBinaryField(const std::string& name,
                                                       const std::vector<std::string>& params) {
  const auto statement = Statements().find(name);
  if (statement == Statements().end()) throw std::logic_error("no statement named " + name);
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  std::optional<std::string> field;
  Guard([&] {
    pqxx::work tx(Raw());
    PGconn* handle = LibpqHandle::Of(tx);
    const std::unique_ptr<PGresult, decltype(&PQclear)> result(
        PQexecParams(handle, statement->second.c_str(), static_cast<int>(values.size()), nullptr,
                     values.data(), nullptr, nullptr, /*resultFormat=*/1),
        &PQclear);
    if (!result || PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
      const std::string message = PQerrorMessage(handle);
      if (PQstatus(handle) == CONNECTION_BAD) throw pqxx::broken_connection(message);
      const char* state = result ? PQresultErrorField(result.get(), PG_DIAG_SQLSTATE) : nullptr;
      throw pqxx::sql_error(message, name, state);
    }
    if (PQntuples(result.get()) > 0 && PQnfields(result.get()) > 0 && !PQgetisnull(result.get(), 0, 0)) {
      field.emplace(PQgetvalue(result.get(), 0, 0), static_cast<std::size_t>(PQgetlength(result.get(), 0, 0)));
    }
    tx.commit();
    return pqxx::result();
  });
  return field;
}

bool IsConnectionState(const std::string& state) {
  // 08: connection exception; 57P01-57P03: admin/crash shutdown, cannot connect now.
  return state.rfind("08", 0) == 0 || state == "57P01" || state == "57P02" || state == "57P03";
}

void RethrowTranslated() {
  try {
    throw;
  } catch (const jobqueue::Error&) {
    throw;
  } catch (const pqxx::broken_connection& e) {
    throw ConnectionLost(std::string("database connection lost: ") + e.what());
  } catch (const pqxx::in_doubt_error& e) {
    throw ConnectionLost(std::string("commit outcome unknown: ") + e.what());
  } catch (const pqxx::sql_error& e) {
    const std::string state = e.sqlstate();
    const std::string message = e.what();
    if (IsConnectionState(state) || state == "40001" || state == "40P01" ||
        state.rfind("53", 0) == 0) {
      throw Transient("database unavailable (" + state + "): " + message);
    }
    // 22: data exception (bad encoding, out of range, invalid text);
    // 23514/23502: a check or not-null constraint refused the values.
    if (state.rfind("22", 0) == 0 || state == "23514" || state == "23502") {
      throw InvalidArgument("invalid value (" + state + "): " + message);
    }
    if (state == "23505") throw Conflict("duplicate (" + state + "): " + message);
    throw Error("database error (" + state + "): " + message);
  } catch (const pqxx::transaction_rollback& e) {
    // libpqxx 6.4 throws deadlocks and serialization failures as this, not
    // as sql_error, so the SQLSTATE checks above never see them.
    throw Transient(std::string("transaction rolled back, retry: ") + e.what());
  } catch (const pqxx::usage_error& e) {
    throw Error(std::string("database usage error: ") + e.what());
  } catch (const pqxx::failure& e) {
    // Any other libpq-level failure: treat as a lost session.
    throw ConnectionLost(std::string("database failure: ") + e.what());
  }
}

}  // namespace jobqueue::core::pg
