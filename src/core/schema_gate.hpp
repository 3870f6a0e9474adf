#pragma once
// SchemaGate: a worker or reaper that starts before the migration has run
// (a pod up before the migration Job finished) waits here, alive (/health
// 200) and not ready (/ready 503), instead of crash-looping or failing a
// statement every second. It says once what it waits for, then every 30 s.
#include <atomic>
#include <functional>
#include <string>

#include "core/ops_server.hpp"

namespace jobqueue::core {

class SchemaGate {
 public:
  // `dsn` as in DATABASE_URL.
  explicit SchemaGate(std::string dsn);

  // Blocks until the database holds every migration this binary carries, or
  // until `stop()` returns true (checked every 100 ms). A database further
  // on is accepted: a release's migrations keep the previous release working,
  // so pods of both run during a rolling update. Returns whether it passed.
  bool Wait(const std::function<bool()>& stop);

  bool passed() const { return passed_; }

  // The ops server's probes: `running()`'s report once the schema is there;
  // before that, alive (/health 200) and not ready (/ready 503), both saying
  // what is missing.
  HealthReport Liveness(const std::function<HealthReport()>& running) const;
  HealthReport Readiness(const std::function<HealthReport()>& running) const;

 private:
  HealthReport WaitingReport() const;

  std::string dsn_;
  std::atomic<bool> passed_{false};
  std::atomic<int> seen_version_{-1};  // -1: database not reached yet
};

}  // namespace jobqueue::core
