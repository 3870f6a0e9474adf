#include "support/image_worker.hpp"

namespace jobqueue::testing {

ImageWorker::ImageWorker(TestDatabase& db, const std::function<void(worker::ImageHandlerOptions&)>& adjust,
                         const std::string& worker_id) {
  worker::ImageHandlerOptions options;
  options.dsn = db.dsn();
  options.fetch.allow_private = true;
  options.fetch.timeout_seconds = 3;
  options.fetch.connect_timeout_seconds = 3;
  if (adjust) adjust(options);
  images_ = std::make_unique<worker::ImageHandlers>(options, &metrics_);
  worker::RegisterBuiltinHandlers(registry_);
  images_->Register(registry_);
  worker::WorkerOptions o;
  o.dsn = db.dsn();
  o.worker_id = worker_id;
  o.concurrency = 2;
  o.batch_size = 2;
  o.poll_interval_seconds = 0.05;
  o.lease_seconds = 30;
  o.heartbeat_seconds = 10;
  o.shutdown_grace_seconds = 5;
  worker_ = std::make_unique<worker::Worker>(o, registry_, &metrics_);
  thread_ = std::thread([this] { worker_->Run(); });
}

ImageWorker::~ImageWorker() {
  worker_->Stop();
  thread_.join();
}

}  // namespace jobqueue::testing
