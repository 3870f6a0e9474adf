#pragma once
// The failures core reports, as exceptions derived from jobqueue::Error.
// Expected outcomes (an empty queue, a lost lease) are values, not errors.
#include <stdexcept>
#include <string>

namespace jobqueue {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The caller passed something invalid; `field` names it when there is one.
class InvalidArgument : public Error {
 public:
  explicit InvalidArgument(const std::string& message, std::string field = "")
      : Error(message), field_(std::move(field)) {}
  const std::string& field() const { return field_; }

 private:
  std::string field_;
};

class NotFound : public Error {
 public:
  using Error::Error;
};

// The job exists but its state does not allow the transition asked for.
class Conflict : public Error {
 public:
  using Error::Error;
};

// The database could not be reached or the connection broke; retrying later
// may succeed. Nothing was committed unless the caller's result says so.
class Transient : public Error {
 public:
  using Error::Error;
};

// The session broke while a statement was on its way or running, and no
// answer came: what that statement wrote may or may not have committed (a
// crash can come between the commit and its answer). A refusal the server
// answered (it shut down, a deadlock) is a plain Transient: nothing of it
// was committed. Reads may simply run again; a write's caller must say
// that its outcome is unknown.
class ConnectionLost : public Transient {
 public:
  using Transient::Transient;
};

// A bad configuration value; the message names the variable.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// The database schema does not match this binary (tampered migration,
// database newer than the binary, schema not migrated).
class SchemaMismatch : public Error {
 public:
  using Error::Error;
};

}  // namespace jobqueue
