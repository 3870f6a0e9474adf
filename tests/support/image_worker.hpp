#pragma once
// A real Worker with the built-in and image kinds, running in this process
// on a thread until the object is destroyed. For the worker and API tests
// of image jobs.
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "core/metrics.hpp"
#include "support/pg_fixture.hpp"
#include "worker/image_handlers.hpp"
#include "worker/worker.hpp"

namespace jobqueue::testing {

class ImageWorker {
 public:
  // Image URLs on loopback are allowed (tests serve them) unless `adjust`
  // says otherwise; fetches time out after 3 s.
  explicit ImageWorker(TestDatabase& db, const std::function<void(worker::ImageHandlerOptions&)>& adjust = {},
                       const std::string& worker_id = "image-worker-1");
  ~ImageWorker();
  ImageWorker(const ImageWorker&) = delete;
  ImageWorker& operator=(const ImageWorker&) = delete;

  worker::Worker& get() { return *worker_; }
  core::Metrics& metrics() { return metrics_; }

 private:
  core::Metrics metrics_;
  worker::HandlerRegistry registry_;
  std::unique_ptr<worker::ImageHandlers> images_;
  std::unique_ptr<worker::Worker> worker_;
  std::thread thread_;
};

}  // namespace jobqueue::testing
