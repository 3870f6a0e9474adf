#pragma once
// ShutdownSignals: SIGTERM and SIGINT delivered to one thread as calls. The
// constructor blocks both signals in the calling thread, so construct it in
// main before any other thread starts (threads inherit the mask). The first
// signal calls `on_first` (drain), any later one `on_again` (leave now).
#include <atomic>
#include <functional>
#include <thread>

namespace jobqueue::core {

class ShutdownSignals {
 public:
  ShutdownSignals();
  ~ShutdownSignals();
  ShutdownSignals(const ShutdownSignals&) = delete;
  ShutdownSignals& operator=(const ShutdownSignals&) = delete;

  // Both callbacks run on the signal thread and get the signal number.
  void Start(std::function<void(int)> on_first, std::function<void(int)> on_again);

 private:
  std::thread thread_;
  std::atomic<bool> stop_{false};
};

}  // namespace jobqueue::core
