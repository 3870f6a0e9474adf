#include "worker/notification_listener.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <random>

#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include "core/log.hpp"
#include "core/backoff.hpp"

namespace jobqueue::worker {

NotificationListener::NotificationListener(std::string dsn, std::set<std::string> queues,
                                           std::function<void()> on_wake)
    : dsn_(std::move(dsn)), queues_(std::move(queues)), on_wake_(std::move(on_wake)) {
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

NotificationListener::~NotificationListener() {
  Stop();
  if (stop_fd_ >= 0) close(stop_fd_);
}

void NotificationListener::Start() { thread_ = std::thread([this] { Run(); }); }

void NotificationListener::Stop() {
  stopping_ = true;
  const uint64_t one = 1;
  if (stop_fd_ >= 0) [[maybe_unused]] auto n = write(stop_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
}

void NotificationListener::Run() {
  core::Backoff backoff;
  bool first = true;
  while (!stopping_) {
    const bool had_session = RunSession();
    if (stopping_) break;
    if (had_session) backoff.Reset();
    const double delay = backoff.Next();
    if (!first || !had_session) {
      spdlog::warn("{}", core::LogFields("notification listener disconnected; reconnecting",
                                         {{"retry_in_seconds", delay}}));
    }
    first = false;
    pollfd stop{stop_fd_, POLLIN, 0};
    poll(&stop, 1, static_cast<int>(delay * 1000));
  }
}

bool NotificationListener::RunSession() {
  PGconn* conn = PQconnectdb(dsn_.c_str());
  struct Closer {
    PGconn* c;
    ~Closer() { PQfinish(c); }
  } closer{conn};
  if (PQstatus(conn) != CONNECTION_OK) return false;
  // Server notices (e.g. "terminating connection due to administrator
  // command") go to the log, not raw to stderr between JSON lines.
  PQsetNoticeProcessor(
      conn, [](void*, const char* message) { spdlog::debug("{}", core::LogFields("database notice", {{"notice", message}})); },
      nullptr);
  PGresult* res = PQexec(conn, "LISTEN jobqueue");
  const bool listening = PQresultStatus(res) == PGRES_COMMAND_OK;
  PQclear(res);
  if (!listening) return false;
  connected_ = true;
  // Jobs may have been enqueued while we were not listening.
  on_wake_();

  while (!stopping_) {
    pollfd fds[2] = {{PQsocket(conn), POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) continue;  // EINTR
    if (fds[1].revents) break;
    if (!PQconsumeInput(conn)) break;  // connection lost
    bool wake = false;
    while (PGnotify* note = PQnotifies(conn)) {
      if (queues_.count(note->extra)) wake = true;
      PQfreemem(note);
    }
    if (wake) on_wake_();
    if (PQstatus(conn) != CONNECTION_OK) break;
  }
  connected_ = false;
  return true;
}

}  // namespace jobqueue::worker
