#pragma once
// The Prometheus registry every binary exposes, with the metric families of
// DESIGN.md under exactly the names seeds/004 documents (no prefix). One
// Metrics per process, created by main and shared by reference; thread-safe.
#include <memory>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace jobqueue::core {

class Metrics {
 public:
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void JobCreated(const std::string& queue, const std::string& kind);
  void JobCompleted(const std::string& queue, const std::string& kind, double seconds);
  void JobFailed(const std::string& queue, const std::string& kind);
  void LeasesAcquired(const std::string& queue, double count);
  void ClaimLatency(double seconds);
  void LeasesReclaimed(double count);
  void JobsDeadLettered(double count);
  void JobsPruned(double count);
  void SetQueueDepth(const std::string& queue, double depth);
  // Worker and reaper process state.
  void LeasesLost(double count);
  void SetJobsRunning(double jobs);
  void ReaperPass(double seconds);
  void SetReaperLeader(bool leader);
  // Image jobs: seconds of one stage ("decode", "thumbnail", "blur", ...,
  // "encode", "fetch"), and image bytes read ("in") or written ("out").
  void ImageStage(const std::string& operation, double seconds);
  void ImageBytes(const std::string& direction, double bytes);
  // REST API: one finished request, by method, route template (never the raw
  // path: ids would explode the label set) and status code.
  void ApiRequest(const std::string& method, const std::string& route, int status, double seconds);

  // Prometheus text exposition format of everything registered.
  std::string Serialize() const;
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& job_created_;
  prometheus::Family<prometheus::Counter>& job_completed_;
  prometheus::Family<prometheus::Counter>& job_failed_;
  prometheus::Family<prometheus::Gauge>& queue_depth_;
  prometheus::Family<prometheus::Counter>& lease_acquired_;
  prometheus::Family<prometheus::Histogram>& job_duration_;
  prometheus::Family<prometheus::Histogram>& claim_latency_;
  prometheus::Counter& leases_reclaimed_;
  prometheus::Counter& dead_lettered_;
  prometheus::Counter& pruned_;
  prometheus::Family<prometheus::Counter>& leases_lost_;
  prometheus::Family<prometheus::Gauge>& jobs_running_;
  prometheus::Family<prometheus::Histogram>& reaper_pass_;
  prometheus::Family<prometheus::Gauge>& reaper_leader_;
  prometheus::Family<prometheus::Histogram>& image_stage_;
  prometheus::Family<prometheus::Counter>& image_bytes_;
  prometheus::Family<prometheus::Counter>& http_requests_;
  prometheus::Family<prometheus::Histogram>& http_duration_;
};

}  // namespace jobqueue::core
