#include "core/metrics.hpp"

#include <map>

#include <prometheus/text_serializer.h>

namespace jobqueue::core {
namespace {

const prometheus::Histogram::BucketBoundaries kJobSeconds = {
    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900};
const prometheus::Histogram::BucketBoundaries kClaimSeconds = {
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};
const prometheus::Histogram::BucketBoundaries kRequestSeconds = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      job_created_(prometheus::BuildCounter()
                       .Name("job_created_total")
                       .Help("Jobs enqueued, by queue and kind")
                       .Register(*registry_)),
      job_completed_(prometheus::BuildCounter()
                         .Name("job_completed_total")
                         .Help("Jobs that succeeded, by queue and kind")
                         .Register(*registry_)),
      job_failed_(prometheus::BuildCounter()
                      .Name("job_failed_total")
                      .Help("Failed job attempts, by queue and kind")
                      .Register(*registry_)),
      queue_depth_(prometheus::BuildGauge()
                       .Name("job_queue_depth")
                       .Help("Queued jobs that are due, by queue")
                       .Register(*registry_)),
      lease_acquired_(prometheus::BuildCounter()
                          .Name("worker_lease_acquired_total")
                          .Help("Job leases acquired by claims, by queue")
                          .Register(*registry_)),
      job_duration_(prometheus::BuildHistogram()
                        .Name("job_duration_seconds")
                        .Help("Handler run time of finished attempts, by queue and kind")
                        .Register(*registry_)),
      claim_latency_(prometheus::BuildHistogram()
                         .Name("job_claim_duration_seconds")
                         .Help("Round trip of one claim statement")
                         .Register(*registry_)),
      leases_reclaimed_(prometheus::BuildCounter()
                            .Name("job_lease_reclaimed_total")
                            .Help("Expired leases returned by the reaper")
                            .Register(*registry_)
                            .Add({})),
      dead_lettered_(prometheus::BuildCounter()
                         .Name("job_dead_lettered_total")
                         .Help("Jobs the reaper moved to dead after their last lease expired")
                         .Register(*registry_)
                         .Add({})),
      pruned_(prometheus::BuildCounter()
                  .Name("job_pruned_total")
                  .Help("Finished jobs deleted after the retention period")
                  .Register(*registry_)
                  .Add({})),
      leases_lost_(prometheus::BuildCounter()
                       .Name("worker_lease_lost_total")
                       .Help("Leases a worker found lost (reclaimed or cancelled) before it could write")
                       .Register(*registry_)),
      jobs_running_(prometheus::BuildGauge()
                        .Name("worker_jobs_running")
                        .Help("Jobs this worker holds: running or about to start")
                        .Register(*registry_)),
      reaper_pass_(prometheus::BuildHistogram()
                       .Name("reaper_pass_duration_seconds")
                       .Help("Wall time of one reaper pass (reclaim and prune)")
                       .Register(*registry_)),
      reaper_leader_(prometheus::BuildGauge()
                         .Name("reaper_leader")
                         .Help("1 while this reaper holds the leader lock")
                         .Register(*registry_)),
      image_stage_(prometheus::BuildHistogram()
                       .Name("image_processing_seconds")
                       .Help("Time of each stage of an image job, by operation (decode, thumbnail, blur, ..., encode, fetch)")
                       .Register(*registry_)),
      image_bytes_(prometheus::BuildCounter()
                       .Name("image_bytes_total")
                       .Help("Image bytes read (direction in) and written (direction out) by image jobs")
                       .Register(*registry_)),
      http_requests_(prometheus::BuildCounter()
                         .Name("http_requests_total")
                         .Help("REST API requests answered, by method, route template and status")
                         .Register(*registry_)),
      http_duration_(prometheus::BuildHistogram()
                         .Name("http_request_duration_seconds")
                         .Help("REST API time from a parsed request to its answer, by method, route template and status")
                         .Register(*registry_)) {}

void Metrics::JobCreated(const std::string& queue, const std::string& kind) {
  job_created_.Add({{"queue", queue}, {"kind", kind}}).Increment();
}

void Metrics::JobCompleted(const std::string& queue, const std::string& kind, double seconds) {
  job_completed_.Add({{"queue", queue}, {"kind", kind}}).Increment();
  job_duration_.Add({{"queue", queue}, {"kind", kind}}, kJobSeconds).Observe(seconds);
}

void Metrics::JobFailed(const std::string& queue, const std::string& kind) {
  job_failed_.Add({{"queue", queue}, {"kind", kind}}).Increment();
}

void Metrics::LeasesAcquired(const std::string& queue, double count) {
  lease_acquired_.Add({{"queue", queue}}).Increment(count);
}

void Metrics::ClaimLatency(double seconds) {
  claim_latency_.Add({}, kClaimSeconds).Observe(seconds);
}

void Metrics::LeasesReclaimed(double count) { leases_reclaimed_.Increment(count); }
void Metrics::JobsDeadLettered(double count) { dead_lettered_.Increment(count); }
void Metrics::JobsPruned(double count) { pruned_.Increment(count); }

void Metrics::LeasesLost(double count) { leases_lost_.Add({}).Increment(count); }
void Metrics::SetJobsRunning(double jobs) { jobs_running_.Add({}).Set(jobs); }
void Metrics::ReaperPass(double seconds) { reaper_pass_.Add({}, kJobSeconds).Observe(seconds); }
void Metrics::SetReaperLeader(bool leader) { reaper_leader_.Add({}).Set(leader ? 1 : 0); }

void Metrics::ImageStage(const std::string& operation, double seconds) {
  image_stage_.Add({{"operation", operation}}, kJobSeconds).Observe(seconds);
}

void Metrics::ImageBytes(const std::string& direction, double bytes) {
  image_bytes_.Add({{"direction", direction}}).Increment(bytes);
}

void Metrics::ApiRequest(const std::string& method, const std::string& route, int status,
                         double seconds) {
  const std::map<std::string, std::string> labels = {
      {"method", method}, {"route", route}, {"status", std::to_string(status)}};
  http_requests_.Add(labels).Increment();
  http_duration_.Add(labels, kRequestSeconds).Observe(seconds);
}

void Metrics::SetQueueDepth(const std::string& queue, double depth) {
  queue_depth_.Add({{"queue", queue}}).Set(depth);
}

std::string Metrics::Serialize() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace jobqueue::core
