#pragma once
// One PostgreSQL session with every statement of src/core/sql/ prepared on
// first use, and the one place where pqxx exceptions become jobqueue errors.
// Owned by one thread at a time; not copyable. After a Transient error the
// session may be broken: the next call reconnects.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/pqxx>

namespace jobqueue::core::pg {

class Connection {
 public:
  // Connects to `dsn` (libpq URI or key=value; empty: PG* variables).
  // Throws Transient when the server cannot be reached.
  explicit Connection(std::string dsn);
  // Also runs `session_sql` (SET statements) on every session it opens.
  Connection(std::string dsn, std::string session_sql);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs prepared statement `name` as its own transaction (autocommit).
  template <typename... Args>
  pqxx::result Exec(const std::string& name, Args&&... args) {
    return Guard([&] {
      pqxx::nontransaction tx(Raw());
      return tx.exec_prepared(name, std::forward<Args>(args)...);
    });
  }

  // Runs fn inside one transaction, committed when fn returns. For the few
  // operations that need more than one statement to be atomic.
  pqxx::result InTransaction(const std::function<pqxx::result(pqxx::work&)>& fn);

  // Runs statement `name` of src/core/sql/ with text parameters, in a
  // transaction, and returns the first column of its first row fetched in
  // binary format: a bytea arrives as its bytes, not as hex text twice their
  // size that the server spends ~27 ms per MB encoding. nullopt: no row, or
  // NULL. libpqxx 6.4 cannot ask for binary results, so this goes to libpq.
  std::optional<std::string> ExecBinaryField(const std::string& name, const std::vector<std::string>& params);

  // Runs fn with errors translated; fn gets the live pqxx connection.
  pqxx::result Guard(const std::function<pqxx::result()>& fn);

  // The live session, reconnecting first if the previous one broke.
  pqxx::connection& Raw();

  // Drops the session; the next call connects anew.
  void Reset();

  // For a session that sat idle: drops it if the server has closed it (a
  // restart, a crash, idle_session_timeout), so that the next statement
  // goes to a new session instead of failing. libpqxx calls such a session
  // open until something is sent on it, and a write that fails then may or
  // may not have committed. One poll(2), no round trip. Returns whether the
  // session is still there.
  bool DropIfClosedByServer();

  bool IsOpen() const;
  const std::string& dsn() const { return dsn_; }

 private:
  void Connect();

  std::string dsn_;
  std::string session_sql_;
  void Drop();
  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<pqxx::errorhandler> notices_;  // registered on conn_, dropped before it
};

// Call inside `catch (...)`: rethrows the current exception as a jobqueue
// error (Transient, InvalidArgument, Conflict, or Error). The one function
// that knows pqxx's exception types.
[[noreturn]] void RethrowTranslated();

// True when `state` (SQLSTATE) means the server or connection went away.
bool IsConnectionState(const std::string& state);

}  // namespace jobqueue::core::pg
