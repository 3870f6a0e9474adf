// ProcessImage from several threads at once, as a worker with
// WORKER_CONCURRENCY > 1 runs it (tagged [concurrency] for ThreadSanitizer),
// and the OpenCV thread count that keeps such a worker from oversubscribing.
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "images/pipeline.hpp"
#include "images/test_images.hpp"

namespace jobqueue::images {

TEST_CASE("concurrent ProcessImage calls give the same bytes as sequential ones", "[images][concurrency]") {
  using namespace jobqueue::testing;
  struct Job {
    std::string input;
    OpList ops;
  };
  const std::vector<Job> jobs = {
      {GradientJpeg(400, 300), ParseOps("thumbnail:64x64")},
      {JpegWithOrientation(160, 120, 6), ParseOps("thumbnail:50x50:crop,grayscale")},
      {AlphaPng(96, 64), ParseOps("blur:2,rotate:90")},
      {Png16(64, 64), ParseOps("format:jpeg,quality:70")},
      {WebpAlpha(80, 80), ParseOps("grayscale,format:webp")},
      {TextImage(200, 60), ParseOps("blur:1.5,thumbnail:100x100,format:webp,quality:60")},
  };
  std::vector<std::string> sequential;
  for (const Job& job : jobs) sequential.push_back(ProcessImage(job.input, job.ops, ProcessLimits{}).bytes);

  constexpr int kThreads = 4;
  constexpr int kRounds = 3;
  // results[t][round * jobs + j]; each thread starts at a different job so
  // different codecs run at the same moment.
  std::vector<std::vector<std::string>> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds * static_cast<int>(jobs.size()); ++i) {
        const Job& job = jobs[(i + t) % jobs.size()];
        try {
          results[t].push_back(ProcessImage(job.input, job.ops, ProcessLimits{}).bytes);
        } catch (const std::exception& e) {
          results[t].push_back(std::string("error: ") + e.what());
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  for (int t = 0; t < kThreads; ++t) {
    REQUIRE(results[t].size() == kRounds * jobs.size());
    for (std::size_t i = 0; i < results[t].size(); ++i) {
      CAPTURE(t, i);
      CHECK(results[t][i] == sequential[(i + t) % jobs.size()]);
    }
  }
}

TEST_CASE("OpenCV threads divide the CPUs among concurrent jobs", "[images]") {
  CHECK(OpenCvThreadsFor(8, 2) == 4);
  CHECK(OpenCvThreadsFor(8, 3) == 2);
  CHECK(OpenCvThreadsFor(2, 4) == 1);
  CHECK(OpenCvThreadsFor(4, 0) == 4);
  CHECK(OpenCvThreadsFor(0, 1) == 1);
  const int cpus = AvailableCpus();
  CHECK(cpus >= 1);
  CHECK(cpus <= 4096);
}

}  // namespace jobqueue::images
