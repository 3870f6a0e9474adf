#include "core/connection_pool.hpp"

#include "core/errors.hpp"

namespace jobqueue::core {

ConnectionPool::ConnectionPool(std::string dsn, int size) : dsn_(std::move(dsn)) {
  if (size < 1) throw InvalidArgument("pool size: must be at least 1", "size");
  slots_.resize(static_cast<std::size_t>(size));
  // Hand out the lowest slot first: under light load the same few sessions
  // stay warm (prepared statements, caches) instead of all of them cooling.
  for (int i = size - 1; i >= 0; --i) free_.push_back(i);
}

ConnectionPool::Lease::~Lease() {
  if (pool_) pool_->Release(slot_);
}

pg::Connection& ConnectionPool::Lease::operator*() const { return *pool_->slots_[static_cast<std::size_t>(slot_)]; }

ConnectionPool::Lease ConnectionPool::Acquire(std::chrono::milliseconds timeout) {
  int slot = -1;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!freed_.wait_for(lock, timeout, [&] { return !free_.empty(); })) {
      throw Transient("no database session came free within " + std::to_string(timeout.count()) +
                      " ms (pool of " + std::to_string(slots_.size()) + ")");
    }
    slot = free_.back();
    free_.pop_back();
  }
  Lease lease(this, slot);  // gives the slot back if connecting throws
  auto& conn = slots_[static_cast<std::size_t>(slot)];
  // Only the borrower touches its slot, so connecting needs no lock; a
  // refused connection leaves the slot empty for the next borrower to retry.
  if (!conn) conn = std::make_unique<pg::Connection>(dsn_);
  // A session the server closed while it sat here (a restart) reconnects
  // now, rather than failing the borrower's first statement.
  if (!conn->DropIfClosedByServer()) conn->Raw();
  return lease;
}

int ConnectionPool::in_use() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(slots_.size() - free_.size());
}

void ConnectionPool::Release(int slot) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(slot);
  }
  freed_.notify_one();
}

}  // namespace jobqueue::core
