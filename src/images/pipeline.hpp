#pragma once
// ProcessImage: bytes in, bytes out. Checks the header and structure
// (image_meta.hpp) before any decoder runs, decodes with OpenCV (JPEG
// shrink-on-load when the first op is a thumbnail), applies the EXIF
// orientation so the output is upright, runs the ops in order and encodes
// to the requested or the input's format. Outputs carry no metadata (no
// EXIF, no GPS). Thread-safe: each call owns its buffers. Knows OpenCV and
// nothing of PostgreSQL or HTTP.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "images/image_error.hpp"
#include "images/image_format.hpp"
#include "images/image_meta.hpp"
#include "images/ops.hpp"

namespace jobqueue::images {

struct ProcessLimits {
  std::int64_t max_pixels = 50'000'000;  // MAX_IMAGE_PIXELS: input width * height
};

struct ProcessedImage {
  std::string bytes;          // the encoded output
  ImageFormat format = ImageFormat::kJpeg;
  int width = 0;              // of the output
  int height = 0;
  ImageMeta input;            // what the header said about the input
  double seconds = 0;         // decode + ops + encode, wall clock
  // Seconds per stage, in order: "decode", each op's name ("thumbnail",
  // "blur", ...), "encode". For the per-operation metrics.
  std::vector<std::pair<std::string, double>> stage_seconds;
};

// Throws ImageError: kUnsupportedFormat, kTooLarge, kCorrupt (from the
// header and structure checks), kProcessing (the codec refused it anyway).
// Never returns an empty image; never lets a cv::Exception escape.
ProcessedImage ProcessImage(std::string_view input, const OpList& ops, const ProcessLimits& limits);

// How many threads OpenCV may use inside one job so that `concurrency` jobs
// at once do not oversubscribe `cpus` cores (this build's TBB ignores
// cgroup CPU limits): max(1, cpus / concurrency).
int OpenCvThreadsFor(int cpus, int concurrency);
// Calls cv::setNumThreads (process-wide).
void SetOpenCvThreads(int threads);
// CPUs this process may use: the cgroup quota (v2 cpu.max or v1
// cfs_quota/period) if set, else the affinity mask.
int AvailableCpus();

}  // namespace jobqueue::images
