#include "core/shutdown_signals.hpp"

#include <signal.h>

#include <ctime>

namespace jobqueue::core {
namespace {

sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

ShutdownSignals::ShutdownSignals() {
  const sigset_t set = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

ShutdownSignals::~ShutdownSignals() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void ShutdownSignals::Start(std::function<void(int)> on_first, std::function<void(int)> on_again) {
  thread_ = std::thread([this, on_first = std::move(on_first), on_again = std::move(on_again)] {
    const sigset_t set = TerminationSignals();
    bool seen = false;
    // A timed wait so the destructor can end the thread.
    const timespec tick{0, 200 * 1000 * 1000};
    while (!stop_) {
      const int sig = sigtimedwait(&set, nullptr, &tick);
      if (sig < 0) continue;
      if (!seen) {
        seen = true;
        on_first(sig);
      } else {
        on_again(sig);
      }
    }
  });
}

}  // namespace jobqueue::core
