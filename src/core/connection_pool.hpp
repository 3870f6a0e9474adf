#pragma once
// ConnectionPool: a fixed number of PostgreSQL sessions shared by the threads
// of a server (the REST API). A thread borrows a session with Acquire() and
// gives it back when the Lease goes out of scope. Sessions open lazily, on
// first use, so a pool can be created while the database is down; a session
// that broke is dropped by pg::Connection and reconnects on its next use, so
// the pool recovers by itself once the database is back. Thread-safe; owned
// by the server, and must outlive every Lease.
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/pg/connection.hpp"

namespace jobqueue::core {

class ConnectionPool {
 public:
  // `size` sessions (>= 1) to `dsn` (libpq URI or key=value; empty: PG*
  // variables). Connects nothing yet.
  ConnectionPool(std::string dsn, int size);
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // A borrowed session; returns it to the pool when destroyed. Movable.
  class Lease {
   public:
    Lease(Lease&& other) noexcept : pool_(other.pool_), slot_(other.slot_) { other.pool_ = nullptr; }
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    ~Lease();
    pg::Connection& operator*() const;
    pg::Connection* operator->() const { return &**this; }

   private:
    friend class ConnectionPool;
    Lease(ConnectionPool* pool, int slot) : pool_(pool), slot_(slot) {}
    ConnectionPool* pool_;
    int slot_;
  };

  // Borrows a session, waiting up to `timeout` for one to be given back, and
  // connects it if it is not open. Throws Transient when none came free in
  // time or the database cannot be reached (the session then stays closed
  // and is retried by the next caller).
  Lease Acquire(std::chrono::milliseconds timeout);

  int size() const { return static_cast<int>(slots_.size()); }
  // Sessions borrowed right now.
  int in_use() const;

 private:
  void Release(int slot);

  const std::string dsn_;
  mutable std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<pg::Connection>> slots_;  // null until first connected
  std::vector<int> free_;                                // slot numbers not borrowed
};

}  // namespace jobqueue::core
