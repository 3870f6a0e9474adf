#include "images/pipeline.hpp"

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <fstream>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace jobqueue::images {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// libwebp's limit on either side; libjpeg's is 65500.
constexpr int kWebpMaxSide = 16383;
constexpr int kJpegMaxSide = 65500;

// The image between steps. `nominal` is the size the image would have had
// without shrink-on-load (after orientation): the first thumbnail computes
// its geometry from it, so a reduced decode gives exactly the output size of
// a full decode. `gray` marks a BGRA image whose colour channels are equal
// (grayscale with alpha kept), so a JPEG encode can write one channel.
struct Frame {
  cv::Mat mat;
  cv::Size nominal;
  bool gray = false;
};

bool Sideways(int orientation) { return orientation >= 5 && orientation <= 8; }

// --- Thumbnail geometry, all in nominal (full-size) pixels -----------------

int ClampSide(double value, int max) { return std::clamp(static_cast<int>(std::lround(value)), 1, max); }

// thumbnail:WxH: the largest size inside the box with the image's aspect
// ratio, never larger than the image.
cv::Size FitSize(cv::Size image, const Op& op) {
  const double scale = std::min({static_cast<double>(op.width) / image.width,
                                 static_cast<double>(op.height) / image.height, 1.0});
  if (scale >= 1.0) return image;
  return {ClampSide(image.width * scale, op.width), ClampSide(image.height * scale, op.height)};
}

// thumbnail:WxH:crop: the largest centred region of the image with the
// box's aspect ratio. Cropping first and scaling the region down is the same
// as "scale to cover, then centre-crop", on fewer pixels.
cv::Rect CropRegion(cv::Size image, const Op& op) {
  int width = image.width;
  int height = image.height;
  const std::int64_t image_by_box = static_cast<std::int64_t>(image.width) * op.height;
  const std::int64_t box_by_image = static_cast<std::int64_t>(op.width) * image.height;
  if (image_by_box > box_by_image) {  // wider than the box: keep the height
    width = ClampSide(static_cast<double>(image.height) * op.width / op.height, image.width);
  } else if (image_by_box < box_by_image) {  // taller: keep the width
    height = ClampSide(static_cast<double>(image.width) * op.height / op.width, image.height);
  }
  return {(image.width - width) / 2, (image.height - height) / 2, width, height};
}

// The output of a crop: the box, or the region itself when it is smaller
// than the box (never enlarge). An image smaller than the box thus comes
// out with the box's aspect ratio at its own scale: 50x30 in 100x100:crop
// gives the centre 30x30.
cv::Size CropOutputSize(cv::Size region, const Op& op) {
  if (region.width >= op.width && region.height >= op.height) return {op.width, op.height};
  return {std::min(region.width, op.width), std::min(region.height, op.height)};
}

// The region to resize and the size to resize it to, in nominal pixels.
std::pair<cv::Rect, cv::Size> ThumbnailGeometry(cv::Size image, const Op& op) {
  if (!op.crop) return {cv::Rect({0, 0}, image), FitSize(image, op)};
  const cv::Rect region = CropRegion(image, op);
  return {region, CropOutputSize(region.size(), op)};
}

// The largest JPEG scale-on-load denominator (8, 4, 2) whose decoded region
// is still at least the thumbnail's output size; 1 for none.
int ShrinkOnLoadDenominator(const ImageMeta& meta, const Op& op) {
  const cv::Size oriented = Sideways(meta.orientation) ? cv::Size(meta.height, meta.width)
                                                       : cv::Size(meta.width, meta.height);
  const auto [region, output] = ThumbnailGeometry(oriented, op);
  for (int denominator : {8, 4, 2}) {
    if (region.width >= output.width * denominator && region.height >= output.height * denominator) {
      return denominator;
    }
  }
  return 1;
}

// --- Decode ----------------------------------------------------------------

int DecodeFlags(const ImageMeta& meta, int denominator) {
  switch (meta.format) {
    case ImageFormat::kJpeg: {
      // CMYK (4 components) takes the colour path: OpenCV converts it to BGR.
      const bool gray = meta.channels == 1;
      int flags = gray ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR;
      if (denominator == 2) flags = gray ? cv::IMREAD_REDUCED_GRAYSCALE_2 : cv::IMREAD_REDUCED_COLOR_2;
      if (denominator == 4) flags = gray ? cv::IMREAD_REDUCED_GRAYSCALE_4 : cv::IMREAD_REDUCED_COLOR_4;
      if (denominator == 8) flags = gray ? cv::IMREAD_REDUCED_GRAYSCALE_8 : cv::IMREAD_REDUCED_COLOR_8;
      return flags | cv::IMREAD_IGNORE_ORIENTATION;
    }
    case ImageFormat::kPng:
      // As stored: gray stays one channel, 16 bits stay 16, alpha (colour
      // types 4 and 6, tRNS on palette and RGB) comes as BGRA. PNG has no
      // EXIF orientation here, and UNCHANGED ignores it anyway.
      return cv::IMREAD_UNCHANGED;
    case ImageFormat::kWebp:
      return meta.has_alpha ? cv::IMREAD_UNCHANGED : (cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION);
  }
  return cv::IMREAD_UNCHANGED;
}

// EXIF orientation 1..8 turned into flips and transposes (the same table as
// OpenCV's own ApplyExifOrientation), so the image is upright.
cv::Mat ApplyOrientation(const cv::Mat& image, int orientation) {
  cv::Mat out;
  switch (orientation) {
    case 2: cv::flip(image, out, 1); return out;                          // mirrored
    case 3: cv::rotate(image, out, cv::ROTATE_180); return out;
    case 4: cv::flip(image, out, 0); return out;                          // upside-down mirror
    case 5: cv::transpose(image, out); return out;
    case 6: cv::rotate(image, out, cv::ROTATE_90_CLOCKWISE); return out;
    case 7: cv::transpose(image, out); cv::flip(out, out, -1); return out;  // transverse
    case 8: cv::rotate(image, out, cv::ROTATE_90_COUNTERCLOCKWISE); return out;
    default: return image;
  }
}

Frame Decode(std::string_view input, const ImageMeta& meta, const OpList& ops) {
  int denominator = 1;
  if (meta.format == ImageFormat::kJpeg && !ops.ops.empty() && ops.ops.front().kind == Op::Kind::kThumbnail) {
    denominator = ShrinkOnLoadDenominator(meta, ops.ops.front());
  }
  if (input.size() > static_cast<std::size_t>(INT_MAX)) {
    throw ImageError(ImageErrorCode::kTooLarge, "the input is larger than 2 GB");
  }
  // Wraps the caller's bytes without a copy; imdecode only reads them.
  const cv::Mat buffer(1, static_cast<int>(input.size()), CV_8UC1,
                       const_cast<char*>(input.data()));
  cv::Mat decoded = cv::imdecode(buffer, DecodeFlags(meta, denominator));
  if (decoded.empty()) {
    // The structure checked out, so the compressed data itself is damaged.
    throw ImageError(ImageErrorCode::kProcessing, std::string("the ") + FormatName(meta.format) +
                                                      " decoder refused the image: its compressed data is corrupt");
  }
  // libjpeg rounds a scaled size up.
  const int expected_width = (meta.width + denominator - 1) / denominator;
  const int expected_height = (meta.height + denominator - 1) / denominator;
  if (decoded.cols != expected_width || decoded.rows != expected_height) {
    throw ImageError(ImageErrorCode::kProcessing,
                     "decoder returned " + std::to_string(decoded.cols) + "x" + std::to_string(decoded.rows) +
                         " pixels, the header says " + std::to_string(meta.width) + "x" +
                         std::to_string(meta.height));
  }
  Frame frame;
  frame.mat = ApplyOrientation(decoded, meta.orientation);
  frame.nominal = Sideways(meta.orientation) ? cv::Size(meta.height, meta.width)
                                             : cv::Size(meta.width, meta.height);
  return frame;
}

// --- Ops -------------------------------------------------------------------

void Thumbnail(Frame& frame, const Op& op) {
  const auto [region, output] = ThumbnailGeometry(frame.nominal, op);
  // Map the region from nominal to actual pixels (they differ only after
  // shrink-on-load).
  const double sx = static_cast<double>(frame.mat.cols) / frame.nominal.width;
  const double sy = static_cast<double>(frame.mat.rows) / frame.nominal.height;
  cv::Rect actual(static_cast<int>(std::lround(region.x * sx)), static_cast<int>(std::lround(region.y * sy)),
                  ClampSide(region.width * sx, frame.mat.cols), ClampSide(region.height * sy, frame.mat.rows));
  actual.x = std::min(actual.x, frame.mat.cols - actual.width);
  actual.y = std::min(actual.y, frame.mat.rows - actual.height);
  const cv::Mat source = frame.mat(actual);
  cv::Mat out;
  if (source.size() == output) {
    out = actual.size() == frame.mat.size() ? frame.mat : source.clone();
  } else {
    // INTER_AREA averages every source pixel when shrinking (no aliasing);
    // it only enlarges by a pixel or so after shrink-on-load rounding.
    cv::resize(source, out, output, 0, 0, cv::INTER_AREA);
  }
  frame.mat = out;
  frame.nominal = output;
}

void Blur(Frame& frame, const Op& op) {
  cv::Mat out;
  // Kernel size derived from sigma (about 6 sigma wide for 8-bit images).
  cv::GaussianBlur(frame.mat, out, cv::Size(0, 0), op.sigma, op.sigma);
  frame.mat = out;
}

void Grayscale(Frame& frame) {
  cv::Mat out;
  switch (frame.mat.channels()) {
    case 3:
      cv::cvtColor(frame.mat, out, cv::COLOR_BGR2GRAY);
      break;
    case 4: {
      // Gray plus the alpha kept. OpenCV's encoders take 1, 3 or 4 channels,
      // not gray+alpha, so it stays BGRA with B = G = R.
      cv::Mat gray;
      cv::cvtColor(frame.mat, gray, cv::COLOR_BGRA2GRAY);
      cv::Mat alpha;
      cv::extractChannel(frame.mat, alpha, 3);
      cv::merge(std::vector<cv::Mat>{gray, gray, gray, alpha}, out);
      frame.gray = true;
      break;
    }
    default:
      return;  // already one channel
  }
  frame.mat = out;
}

void Rotate(Frame& frame, const Op& op) {
  cv::Mat out;
  if (op.degrees == 90) {
    cv::rotate(frame.mat, out, cv::ROTATE_90_CLOCKWISE);
  } else if (op.degrees == 180) {
    cv::rotate(frame.mat, out, cv::ROTATE_180);
  } else if (op.degrees == 270) {
    cv::rotate(frame.mat, out, cv::ROTATE_90_COUNTERCLOCKWISE);
  } else {
    throw ImageError(ImageErrorCode::kInvalidOps, "rotate by " + std::to_string(op.degrees) + " degrees");
  }
  frame.mat = out;
  frame.nominal = out.size();
}

const char* OpName(Op::Kind kind) {
  switch (kind) {
    case Op::Kind::kThumbnail: return "thumbnail";
    case Op::Kind::kBlur: return "blur";
    case Op::Kind::kGrayscale: return "grayscale";
    case Op::Kind::kRotate: return "rotate";
  }
  return "op";
}

void RunOp(Frame& frame, const Op& op) {
  switch (op.kind) {
    case Op::Kind::kThumbnail: Thumbnail(frame, op); return;
    case Op::Kind::kBlur: Blur(frame, op); return;
    case Op::Kind::kGrayscale: Grayscale(frame); return;
    case Op::Kind::kRotate: Rotate(frame, op); return;
  }
}

// --- Encode ----------------------------------------------------------------

// JPEG has no alpha: composite over white, as a browser shows a transparent
// PNG on a white page. Dropping the channel instead would show whatever
// colour the transparent pixels happen to hold (often black).
cv::Mat CompositeOverWhite(const cv::Mat& bgra) {
  cv::Mat out(bgra.size(), CV_8UC3);
  for (int y = 0; y < bgra.rows; ++y) {
    const cv::Vec4b* in = bgra.ptr<cv::Vec4b>(y);
    cv::Vec3b* row = out.ptr<cv::Vec3b>(y);
    for (int x = 0; x < bgra.cols; ++x) {
      const int alpha = in[x][3];
      for (int c = 0; c < 3; ++c) {
        row[x][c] = static_cast<uchar>((in[x][c] * alpha + 255 * (255 - alpha) + 127) / 255);
      }
    }
  }
  return out;
}

// zlib level for PNG output, measured on this machine (256x192 / 1600x1200):
// OpenCV's default (level 1, RLE strategy, SUB filter only) writes text
// and alpha graphics 9-40x larger than level 4 (text thumbnail 56 KB vs
// 6 KB). Level 4 is within 2-16% of level 6 on those, and 5x faster than
// level 6 on noisy photographic content (1600x1200: 0.46 s vs 2.4 s).
constexpr int kPngCompression = 4;

std::string Encode(Frame& frame, ImageFormat format, int quality) {
  cv::Mat image = frame.mat;
  if (format != ImageFormat::kPng && image.depth() == CV_16U) {
    // Scale 0..65535 to 0..255; OpenCV's own 8-bit fallback saturates
    // instead, so almost every pixel would come out white.
    image.convertTo(image, CV_8U, 1.0 / 257.0);
  }
  const int max_side = format == ImageFormat::kWebp ? kWebpMaxSide : format == ImageFormat::kJpeg ? kJpegMaxSide : 0;
  if (max_side > 0 && (image.cols > max_side || image.rows > max_side)) {
    throw ImageError(ImageErrorCode::kTooLarge,
                     std::string(FormatName(format)) + " output is limited to " + std::to_string(max_side) +
                         " pixels a side, the image is " + std::to_string(image.cols) + "x" +
                         std::to_string(image.rows));
  }
  std::vector<int> params;
  const char* extension = ".png";
  switch (format) {
    case ImageFormat::kJpeg:
      extension = ".jpg";
      if (image.channels() == 4) {
        image = CompositeOverWhite(image);
        if (frame.gray) cv::cvtColor(image, image, cv::COLOR_BGR2GRAY);
      }
      params = {cv::IMWRITE_JPEG_QUALITY, quality};
      break;
    case ImageFormat::kPng:
      params = {cv::IMWRITE_PNG_COMPRESSION, kPngCompression};
      break;
    case ImageFormat::kWebp:
      extension = ".webp";
      // Always a quality of 1..100: without one (or above 100) OpenCV
      // encodes losslessly.
      params = {cv::IMWRITE_WEBP_QUALITY, std::clamp(quality, 1, 100)};
      break;
  }
  std::vector<uchar> buffer;
  if (!cv::imencode(extension, image, buffer, params) || buffer.empty()) {
    throw ImageError(ImageErrorCode::kProcessing, std::string("the ") + FormatName(format) + " encoder failed");
  }
  frame.mat = image;
  return std::string(buffer.begin(), buffer.end());
}

ProcessedImage Process(std::string_view input, const OpList& ops, const ProcessLimits& limits) {
  const auto start = Clock::now();
  ProcessedImage result;

  auto stage_start = Clock::now();
  result.input = ReadImageMetaWithin(input, limits.max_pixels);
  CheckStructure(input, result.input);
  Frame frame = Decode(input, result.input, ops);
  result.stage_seconds.emplace_back("decode", SecondsSince(stage_start));

  for (const Op& op : ops.ops) {
    stage_start = Clock::now();
    RunOp(frame, op);
    result.stage_seconds.emplace_back(OpName(op.kind), SecondsSince(stage_start));
  }

  stage_start = Clock::now();
  result.format = ops.format.value_or(result.input.format);
  result.bytes = Encode(frame, result.format, ops.quality.value_or(kDefaultQuality));
  result.stage_seconds.emplace_back("encode", SecondsSince(stage_start));

  result.width = frame.mat.cols;
  result.height = frame.mat.rows;
  result.seconds = SecondsSince(start);
  return result;
}

// --- CPUs ------------------------------------------------------------------

// "max 100000" (no limit) or "200000 100000" (quota and period, in us).
std::optional<double> ReadCgroupV2Limit(const std::string& path) {
  std::ifstream file(path);
  std::string quota;
  double period = 0;
  if (!(file >> quota >> period) || quota == "max" || period <= 0) return std::nullopt;
  try {
    return std::stod(quota) / period;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The tightest cpu.max from this process's cgroup up to the root (a parent's
// limit binds its children), or nullopt without cgroup v2 or a limit.
std::optional<double> CgroupV2Limit() {
  std::ifstream self("/proc/self/cgroup");
  std::string line;
  std::string group;
  while (std::getline(self, line)) {
    if (line.rfind("0::", 0) == 0) group = line.substr(3);
  }
  std::optional<double> limit;
  for (;;) {
    const auto here = ReadCgroupV2Limit("/sys/fs/cgroup" + group + "/cpu.max");
    if (here && (!limit || *here < *limit)) limit = here;
    const std::size_t parent = group.rfind('/');
    if (parent == std::string::npos || group == "/") break;
    group.erase(parent);
  }
  return limit;
}

std::optional<double> CgroupV1Limit() {
  std::ifstream quota_file("/sys/fs/cgroup/cpu/cpu.cfs_quota_us");
  std::ifstream period_file("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
  double quota = 0;
  double period = 0;
  if (!(quota_file >> quota) || !(period_file >> period) || quota <= 0 || period <= 0) return std::nullopt;
  return quota / period;
}

}  // namespace

ProcessedImage ProcessImage(std::string_view input, const OpList& ops, const ProcessLimits& limits) {
  try {
    return Process(input, ops, limits);
  } catch (const ImageError&) {
    throw;
  } catch (const cv::Exception& e) {
    if (e.code == cv::Error::StsNoMem) {
      throw ImageError(ImageErrorCode::kTooLarge, "out of memory processing the image");
    }
    throw ImageError(ImageErrorCode::kProcessing, "OpenCV: " + e.err);
  } catch (const std::bad_alloc&) {
    throw ImageError(ImageErrorCode::kTooLarge, "out of memory processing the image");
  } catch (const std::exception& e) {
    throw ImageError(ImageErrorCode::kProcessing, std::string("processing failed: ") + e.what());
  }
}

int OpenCvThreadsFor(int cpus, int concurrency) { return std::max(1, cpus / std::max(1, concurrency)); }

// OpenCV treats 0 and 1 alike: parallel loops run on the calling thread.
void SetOpenCvThreads(int threads) { cv::setNumThreads(std::max(1, threads)); }

int AvailableCpus() {
  int cpus = 1;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) cpus = std::max(1, CPU_COUNT(&set));
  std::optional<double> limit = CgroupV2Limit();
  if (!limit) limit = CgroupV1Limit();
  // A fractional quota (1.5 CPUs) rounds up: the last thread gets a share.
  if (limit) cpus = std::min(cpus, std::max(1, static_cast<int>(std::ceil(*limit))));
  return cpus;
}

}  // namespace jobqueue::images
