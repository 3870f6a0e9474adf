#include "core/pg/connection.hpp"

#include "core/errors.hpp"
#include "core/sql_catalog.hpp"

namespace jobqueue::core::pg {

Connection::Connection(std::string dsn) : dsn_(std::move(dsn)) { Connect(); }

Connection::~Connection() = default;

void Connection::Connect() {
  conn_.reset();
  try {
    auto conn = std::make_unique<pqxx::connection>(dsn_);
    for (const auto& [name, sql] : Statements()) conn->prepare(name, sql);
    conn_ = std::move(conn);
  } catch (...) {
    RethrowTranslated();
  }
}

pqxx::connection& Connection::Raw() {
  if (!IsOpen()) Connect();
  return *conn_;
}

void Connection::Reset() { conn_.reset(); }

bool Connection::IsOpen() const { return conn_ && conn_->is_open(); }

pqxx::result Connection::Guard(const std::function<pqxx::result()>& fn) {
  // A broken session is dropped here and the next call connects anew, so
  // the caller learns of the break (its write may or may not have committed)
  // instead of libpqxx silently reactivating the session.
  try {
    return fn();
  } catch (const pqxx::broken_connection&) {
    conn_.reset();
    RethrowTranslated();
  } catch (const pqxx::sql_error& e) {
    if (IsConnectionState(e.sqlstate())) conn_.reset();
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
    throw Transient(std::string("database connection lost: ") + e.what());
  } catch (const pqxx::in_doubt_error& e) {
    throw Transient(std::string("commit outcome unknown: ") + e.what());
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
  } catch (const pqxx::usage_error& e) {
    throw Error(std::string("database usage error: ") + e.what());
  } catch (const pqxx::failure& e) {
    // Any other libpq-level failure: treat as a lost session.
    throw Transient(std::string("database failure: ") + e.what());
  }
}

}  // namespace jobqueue::core::pg
