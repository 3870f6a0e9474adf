#pragma once
// NotificationListener: a dedicated libpq session that LISTENs on the
// `jobqueue` channel (jobqueue.enqueue_job NOTIFYs the queue name when a due
// job commits) and calls `on_wake` when one of our queues is named, on a
// thread of its own. It reconnects with capped backoff when the database
// goes away and wakes once after reconnecting, since notifications sent
// meanwhile are lost. Losing one only costs latency: the worker also polls.
#include <atomic>
#include <functional>
#include <set>
#include <string>
#include <thread>

namespace jobqueue::worker {

class NotificationListener {
 public:
  NotificationListener(std::string dsn, std::set<std::string> queues, std::function<void()> on_wake);
  ~NotificationListener();
  NotificationListener(const NotificationListener&) = delete;
  NotificationListener& operator=(const NotificationListener&) = delete;

  void Start();
  void Stop();  // joins the thread
  bool connected() const { return connected_.load(); }

 private:
  void Run();
  // One session: connect, LISTEN, wait for notifications until it breaks or
  // Stop(). Returns false when it could not connect.
  bool RunSession();

  std::string dsn_;
  std::set<std::string> queues_;
  std::function<void()> on_wake_;
  std::thread thread_;
  int stop_fd_ = -1;  // eventfd that interrupts poll()
  std::atomic<bool> stopping_{false};
  std::atomic<bool> connected_{false};
};

}  // namespace jobqueue::worker
