// images_loop: the bare loop of bench/images.sh, the ceiling for our image
// code. It makes JPEG thumbnails with the same OpenCV calls as
// src/images/pipeline.cpp, and nothing else: no queue, no database, no HTTP,
// no header validation beyond finding the JPEG's size.
//
//   images_loop [--threads T] [--size WxH] [--quality Q] [--opencv-threads N]
//               --out DIR FILE...
//
// Per file: read it, take width, height and components from the SOFn
// header, pick the largest shrink-on-load denominator (8, 4, 2) whose decode
// is still at least the thumbnail (as pipeline.cpp's ShrinkOnLoadDenominator
// does for an image without EXIF orientation), cv::imdecode with
// IMREAD_REDUCED_COLOR_N | IMREAD_IGNORE_ORIENTATION, cv::resize INTER_AREA
// to the fit-inside size computed from the full size, cv::imencode ".jpg"
// at quality Q (85, the pipeline's default), write DIR/NAME.
//
// T threads (default 1) take files in turn; cv::setNumThreads(N) (default 1:
// OpenCV's own loops run on the calling thread, as in a worker whose jobs
// fill its cores). Prints one JSON line on stdout: images, wall-clock epoch
// milliseconds of the first read and the last write, the CPU time spent
// between them (ms, all threads, user + system), and VmHWM (peak RSS, KiB)
// read from /proc/self/status at the end. Exit 1 on any failure.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace {

struct Options {
  int threads = 1;
  int width = 256;
  int height = 256;
  int quality = 85;
  int opencv_threads = 1;
  std::string out;
  std::vector<std::string> files;
};

struct JpegSize {
  int width = 0;
  int height = 0;
  int components = 0;
};

[[noreturn]] void Usage(const std::string& problem) {
  std::cerr << "images_loop: " << problem << "\n"
            << "usage: images_loop [--threads T] [--size WxH] [--quality Q] [--opencv-threads N] --out DIR FILE...\n";
  std::exit(2);
}

int Number(const std::string& flag, const std::string& text, int min, int max) {
  try {
    std::size_t used = 0;
    const long value = std::stol(text, &used);
    if (used == text.size() && value >= min && value <= max) return static_cast<int>(value);
  } catch (const std::exception&) {
  }
  Usage(flag + " must be a number within " + std::to_string(min) + ".." + std::to_string(max));
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) Usage(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--threads") {
      o.threads = Number(arg, value(), 1, 256);
    } else if (arg == "--size") {
      const std::string size = value();
      const auto x = size.find('x');
      if (x == std::string::npos) Usage("--size is WxH");
      o.width = Number(arg, size.substr(0, x), 1, 8192);
      o.height = Number(arg, size.substr(x + 1), 1, 8192);
    } else if (arg == "--quality") {
      o.quality = Number(arg, value(), 1, 100);
    } else if (arg == "--opencv-threads") {
      o.opencv_threads = Number(arg, value(), 1, 256);
    } else if (arg == "--out") {
      o.out = value();
    } else if (!arg.empty() && arg[0] == '-') {
      Usage("unknown option " + arg);
    } else {
      o.files.push_back(arg);
    }
  }
  if (o.out.empty()) Usage("--out DIR is required");
  if (o.files.empty()) Usage("no input files");
  return o;
}

// One read of the whole file (an istreambuf_iterator loop costs about 40
// instructions a byte, more than a third of a thumbnail here).
std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::string bytes(static_cast<std::size_t>(in.tellg()), '\0');
  in.seekg(0);
  if (!in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()))) throw std::runtime_error("cannot read " + path);
  return bytes;
}

// Width, height and components from the first SOFn segment; throws if the
// file is not a JPEG or has no SOFn before its first scan.
JpegSize ReadJpegSize(const std::string& bytes) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(bytes[i]); };
  if (bytes.size() < 4 || byte(0) != 0xFF || byte(1) != 0xD8) throw std::runtime_error("not a JPEG");
  std::size_t pos = 2;
  while (pos + 4 <= bytes.size()) {
    if (byte(pos) != 0xFF) throw std::runtime_error("JPEG marker expected");
    while (pos < bytes.size() && byte(pos) == 0xFF) ++pos;  // fill bytes
    if (pos + 3 > bytes.size()) break;
    const unsigned marker = byte(pos);
    const std::size_t length = (static_cast<std::size_t>(byte(pos + 1)) << 8) | byte(pos + 2);
    const std::size_t segment = pos + 1;  // the length field
    const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof) {
      if (segment + 8 > bytes.size()) break;
      JpegSize size;
      size.height = (byte(segment + 3) << 8) | byte(segment + 4);
      size.width = (byte(segment + 5) << 8) | byte(segment + 6);
      size.components = byte(segment + 7);
      return size;
    }
    if (marker == 0xDA || length < 2) break;
    pos = segment + length;
  }
  throw std::runtime_error("no JPEG frame header");
}

// thumbnail:WxH: fit inside the box, keep the aspect ratio, never enlarge
// (pipeline.cpp's FitSize).
cv::Size FitSize(cv::Size image, int box_width, int box_height) {
  const double scale = std::min({static_cast<double>(box_width) / image.width,
                                 static_cast<double>(box_height) / image.height, 1.0});
  if (scale >= 1.0) return image;
  const auto side = [](double v, int max) { return std::clamp(static_cast<int>(std::lround(v)), 1, max); };
  return {side(image.width * scale, box_width), side(image.height * scale, box_height)};
}

int DecodeFlags(int components, int denominator) {
  const bool gray = components == 1;
  switch (denominator) {
    case 8: return (gray ? cv::IMREAD_REDUCED_GRAYSCALE_8 : cv::IMREAD_REDUCED_COLOR_8) | cv::IMREAD_IGNORE_ORIENTATION;
    case 4: return (gray ? cv::IMREAD_REDUCED_GRAYSCALE_4 : cv::IMREAD_REDUCED_COLOR_4) | cv::IMREAD_IGNORE_ORIENTATION;
    case 2: return (gray ? cv::IMREAD_REDUCED_GRAYSCALE_2 : cv::IMREAD_REDUCED_COLOR_2) | cv::IMREAD_IGNORE_ORIENTATION;
    default: return (gray ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR) | cv::IMREAD_IGNORE_ORIENTATION;
  }
}

void Thumbnail(const Options& o, const std::string& path) {
  const std::string input = ReadFile(path);
  const JpegSize size = ReadJpegSize(input);
  const cv::Size nominal(size.width, size.height);
  const cv::Size output = FitSize(nominal, o.width, o.height);
  int denominator = 1;
  for (int d : {8, 4, 2}) {
    if (nominal.width >= output.width * d && nominal.height >= output.height * d) {
      denominator = d;
      break;
    }
  }
  const cv::Mat buffer(1, static_cast<int>(input.size()), CV_8UC1, const_cast<char*>(input.data()));
  const cv::Mat decoded = cv::imdecode(buffer, DecodeFlags(size.components, denominator));
  if (decoded.empty()) throw std::runtime_error(path + ": decoder refused the image");
  cv::Mat thumbnail;
  if (decoded.size() == output) {
    thumbnail = decoded;
  } else {
    cv::resize(decoded, thumbnail, output, 0, 0, cv::INTER_AREA);
  }
  std::vector<uchar> encoded;
  if (!cv::imencode(".jpg", thumbnail, encoded, {cv::IMWRITE_JPEG_QUALITY, o.quality}) || encoded.empty()) {
    throw std::runtime_error(path + ": the JPEG encoder failed");
  }
  const auto slash = path.find_last_of('/');
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  std::ofstream out(o.out + "/" + name, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(encoded.data()), static_cast<std::streamsize>(encoded.size()));
  if (!out) throw std::runtime_error("cannot write " + o.out + "/" + name);
}

long VmHwmKib() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    long value = 0;
    if (key == "VmHWM:" && status >> value) return value;
    status.ignore(1 << 20, '\n');
  }
  return -1;
}

// CPU time of the whole process (every thread), user + system.
long long CpuMs() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto ms = [](const timeval& t) { return static_cast<long long>(t.tv_sec) * 1000 + t.tv_usec / 1000; };
  return ms(usage.ru_utime) + ms(usage.ru_stime);
}

long long EpochMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = Parse(argc, argv);
  cv::setNumThreads(o.opencv_threads);
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  const long long start_ms = EpochMs();
  const long long start_cpu_ms = CpuMs();
  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; ++t) {
    threads.emplace_back([&] {
      for (std::size_t i = next++; i < o.files.size() && !failed; i = next++) {
        try {
          Thumbnail(o, o.files[i]);
        } catch (const std::exception& e) {
          std::cerr << "images_loop: " << e.what() << "\n";
          failed = true;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const long long end_ms = EpochMs();
  if (failed) return 1;
  std::printf("{\"images\":%zu,\"threads\":%d,\"start_ms\":%lld,\"end_ms\":%lld,\"cpu_ms\":%lld,\"vmhwm_kib\":%ld}\n",
              o.files.size(), o.threads, start_ms, end_ms, CpuMs() - start_cpu_ms, VmHwmKib());
  return 0;
}
