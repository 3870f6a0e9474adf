#include "worker/handlers.hpp"

#include <chrono>
#include <optional>
#include <thread>

namespace jobqueue::worker {

bool JobContext::SleepFor(double seconds) const {
  using Clock = std::chrono::steady_clock;
  const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(seconds));
  // Short naps keep cancellation prompt without a condition variable per job.
  constexpr auto kNap = std::chrono::milliseconds(20);
  while (!Cancelled()) {
    const auto now = Clock::now();
    if (now >= until) return true;
    std::this_thread::sleep_for(std::min<Clock::duration>(kNap, until - now));
  }
  return false;
}

void HandlerRegistry::Register(const std::string& kind, Handler handler) {
  handlers_[kind] = std::move(handler);
}

const Handler* HandlerRegistry::Find(const std::string& kind) const {
  const auto it = handlers_.find(kind);
  return it == handlers_.end() ? nullptr : &it->second;
}

void RegisterBuiltinHandlers(HandlerRegistry& registry) {
  registry.Register("noop", [](const JobContext&) { return HandlerOutcome::Success(); });

  registry.Register("sleep", [](const JobContext& ctx) {
    const auto& payload = ctx.job.payload;
    const auto it = payload.is_object() ? payload.find("seconds") : payload.end();
    if (it == payload.end() || !it->is_number()) {
      return HandlerOutcome::Permanent("sleep: payload needs {\"seconds\": number}");
    }
    const double seconds = it->get<double>();
    if (!(seconds >= 0 && seconds <= 86400)) {
      return HandlerOutcome::Permanent("sleep: seconds must be within 0..86400");
    }
    if (!ctx.SleepFor(seconds)) return HandlerOutcome::Retry("sleep: cancelled");
    return HandlerOutcome::Success({{"slept_seconds", seconds}});
  });

  // Fails on purpose: for tests, demos and storms. With fail_attempts n it
  // fails attempts 1..n (retryably) and succeeds from attempt n + 1 on: a
  // retry that recovers.
  registry.Register("fail", [](const JobContext& ctx) {
    const auto& payload = ctx.job.payload;
    bool permanent = false;
    std::string message = "fail: failed on purpose";
    std::optional<long long> fail_attempts;
    if (payload.is_object()) {
      if (payload.contains("permanent") && payload["permanent"].is_boolean()) {
        permanent = payload["permanent"].get<bool>();
      }
      if (payload.contains("message") && payload["message"].is_string()) {
        message = payload["message"].get<std::string>();
      }
      if (payload.contains("fail_attempts")) {
        const auto& n = payload["fail_attempts"];
        if (!n.is_number_integer() || n.get<long long>() < 0 || n.get<long long>() > 1000) {
          return HandlerOutcome::Permanent("fail: fail_attempts must be an integer within 0..1000");
        }
        fail_attempts = n.get<long long>();
      }
    }
    if (fail_attempts && ctx.job.attempt > *fail_attempts) {
      return HandlerOutcome::Success({{"failed_attempts", *fail_attempts}, {"succeeded_on_attempt", ctx.job.attempt}});
    }
    return permanent ? HandlerOutcome::Permanent(message) : HandlerOutcome::Retry(message);
  });
}

}  // namespace jobqueue::worker
