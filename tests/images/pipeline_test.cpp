// ProcessImage on generated images through Debian's real OpenCV codecs:
// geometry, orientation, colour, formats and metadata stripping. Hostile
// inputs: pipeline_hostile_test.cpp.
#include <cmath>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "images/pipeline.hpp"
#include "images/test_images.hpp"

namespace jobqueue::images {
namespace {

using namespace jobqueue::testing;

ProcessedImage Run(const std::string& input, std::string_view ops = "") {
  return ProcessImage(input, ParseOps(ops), ProcessLimits{});
}

cv::Mat Decoded(const std::string& bytes, int flags = cv::IMREAD_UNCHANGED) {
  const cv::Mat buffer(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<char*>(bytes.data()));
  cv::Mat image = cv::imdecode(buffer, flags);
  REQUIRE_FALSE(image.empty());
  return image;
}

// The BGR colour at (x, y) of a decoded 3-channel image.
cv::Vec3b At(const cv::Mat& image, int x, int y) { return image.at<cv::Vec3b>(y, x); }

bool Near(cv::Vec3b actual, cv::Vec3b expected, int tolerance = 40) {
  for (int c = 0; c < 3; ++c) {
    if (std::abs(actual[c] - expected[c]) > tolerance) return false;
  }
  return true;
}

double MeanAbsLaplacian(const cv::Mat& image) {
  cv::Mat gray;
  if (image.channels() == 3) {
    cv::cvtColor(image, gray, cv::COLOR_BGR2GRAY);
  } else {
    gray = image;
  }
  cv::Mat laplacian;
  cv::Laplacian(gray, laplacian, CV_32F);
  return cv::mean(cv::abs(laplacian))[0];
}

double MeanAbsDiff(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat diff;
  cv::absdiff(a, b, diff);
  const cv::Scalar per_channel = cv::mean(diff);
  return (per_channel[0] + per_channel[1] + per_channel[2]) / 3;
}

// The chunk fourcc after "RIFF....WEBP".
std::string WebpFirstChunk(const std::string& webp) { return webp.substr(12, 4); }

}  // namespace

// --- Geometry ----------------------------------------------------------------

TEST_CASE("thumbnail fits inside the box keeping the aspect ratio", "[images]") {
  SECTION("landscape") {
    const auto out = Run(GradientPng(400, 300), "thumbnail:100x100");
    CHECK(out.width == 100);
    CHECK(out.height == 75);
  }
  SECTION("portrait") {
    const auto out = Run(GradientJpeg(300, 400), "thumbnail:100x100");
    CHECK(out.width == 75);
    CHECK(out.height == 100);
  }
  SECTION("the narrower side of the box binds") {
    const auto out = Run(WebpLossy(400, 400), "thumbnail:200x50");
    CHECK(out.width == 50);
    CHECK(out.height == 50);
  }
  SECTION("the encoded size is the reported size") {
    const auto out = Run(GradientJpeg(640, 480), "thumbnail:256x256");
    const cv::Mat image = Decoded(out.bytes);
    CHECK(image.cols == out.width);
    CHECK(image.rows == out.height);
    CHECK(out.width == 256);
    CHECK(out.height == 192);
  }
}

TEST_CASE("thumbnail with crop fills the box and keeps its centre", "[images]") {
  SECTION("exact box size") {
    const auto out = Run(GradientPng(400, 300), "thumbnail:100x100:crop");
    CHECK(out.width == 100);
    CHECK(out.height == 100);
    const auto tall = Run(GradientPng(300, 400), "thumbnail:64x32:crop");
    CHECK(tall.width == 64);
    CHECK(tall.height == 32);
  }
  SECTION("the sides are cut, the centre stays") {
    // Thirds: red | green | blue. A square crop of a 3:1 image is the green third.
    cv::Mat thirds(100, 300, CV_8UC3, cv::Scalar(0, 255, 0));
    thirds.colRange(0, 100).setTo(cv::Scalar(0, 0, 255));
    thirds.colRange(200, 300).setTo(cv::Scalar(255, 0, 0));
    std::vector<uchar> png;
    cv::imencode(".png", thirds, png);
    const auto out = Run(std::string(png.begin(), png.end()), "thumbnail:50x50:crop");
    const cv::Mat image = Decoded(out.bytes);
    REQUIRE(image.size() == cv::Size(50, 50));
    CHECK(Near(At(image, 0, 25), cv::Vec3b(0, 255, 0), 10));
    CHECK(Near(At(image, 49, 25), cv::Vec3b(0, 255, 0), 10));
  }
}

TEST_CASE("thumbnail never enlarges a smaller image", "[images]") {
  SECTION("fit keeps the image as it is") {
    const auto out = Run(GradientPng(50, 30), "thumbnail:100x100");
    CHECK(out.width == 50);
    CHECK(out.height == 30);
  }
  SECTION("crop takes the box's aspect ratio at the image's own scale") {
    const auto out = Run(GradientPng(50, 30), "thumbnail:100x100:crop");
    CHECK(out.width == 30);
    CHECK(out.height == 30);
    const auto wide = Run(GradientPng(50, 30), "thumbnail:200x100:crop");
    CHECK(wide.width == 50);
    CHECK(wide.height == 25);
  }
}

TEST_CASE("extreme aspect ratios never give a zero-sized side", "[images]") {
  SECTION("1x10000") {
    const auto out = Run(GradientPng(1, 10000), "thumbnail:256x256");
    CHECK(out.width == 1);
    CHECK(out.height == 256);
    const auto cropped = Run(GradientPng(1, 10000), "thumbnail:256x256:crop");
    CHECK(cropped.width == 1);
    CHECK(cropped.height == 1);
  }
  SECTION("10000x1") {
    const auto out = Run(GradientJpeg(10000, 1), "thumbnail:256x256");
    CHECK(out.width == 256);
    CHECK(out.height == 1);
    CHECK(Decoded(out.bytes).size() == cv::Size(256, 1));
  }
  SECTION("1x1 through every op") {
    const auto out = Run(GradientPng(1, 1), "thumbnail:8x8:crop,blur:5,grayscale,rotate:90");
    CHECK(out.width == 1);
    CHECK(out.height == 1);
  }
}

TEST_CASE("ops run in the order given", "[images]") {
  const std::string input = TextImage(400, 200);
  const auto crop_then_rotate = Run(input, "thumbnail:100x50:crop,rotate:90");
  CHECK(crop_then_rotate.width == 50);
  CHECK(crop_then_rotate.height == 100);
  const auto rotate_then_crop = Run(input, "rotate:90,thumbnail:100x50:crop");
  CHECK(rotate_then_crop.width == 100);
  CHECK(rotate_then_crop.height == 50);
}

TEST_CASE("rotate turns the image clockwise", "[images]") {
  // Upright quadrants: red top-left. Clockwise 90: red ends top-right.
  const std::string input = JpegWithOrientation(64, 48, 1);
  const cv::Mat r90 = Decoded(Run(input, "rotate:90,format:png").bytes);
  REQUIRE(r90.size() == cv::Size(48, 64));
  CHECK(Near(At(r90, 40, 8), cv::Vec3b(0, 0, 255)));
  const cv::Mat r180 = Decoded(Run(input, "rotate:180,format:png").bytes);
  CHECK(Near(At(r180, 56, 40), cv::Vec3b(0, 0, 255)));
  const cv::Mat r270 = Decoded(Run(input, "rotate:270,format:png").bytes);
  CHECK(Near(At(r270, 8, 56), cv::Vec3b(0, 0, 255)));
}

// --- Orientation -------------------------------------------------------------

TEST_CASE("EXIF orientation is applied so every output is upright", "[images]") {
  for (int orientation = 1; orientation <= 8; ++orientation) {
    for (bool little_endian : {false, true}) {
      CAPTURE(orientation, little_endian);
      ExifOptions options;
      options.little_endian = little_endian;
      const std::string input = JpegWithOrientation(64, 48, orientation, options);
      const auto out = Run(input, "format:png");
      CHECK(out.input.orientation == orientation);
      const cv::Mat image = Decoded(out.bytes);
      REQUIRE(image.size() == cv::Size(64, 48));
      CHECK(Near(At(image, 8, 8), cv::Vec3b(0, 0, 255)));       // red top-left
      CHECK(Near(At(image, 56, 8), cv::Vec3b(0, 255, 0)));      // green top-right
      CHECK(Near(At(image, 8, 40), cv::Vec3b(255, 0, 0)));      // blue bottom-left
      CHECK(Near(At(image, 56, 40), cv::Vec3b(255, 255, 255)));  // white bottom-right
    }
  }
}

TEST_CASE("EXIF orientation is applied on the shrink-on-load path too", "[images]") {
  for (int orientation : {1, 3, 6, 8}) {
    CAPTURE(orientation);
    // 800x600 upright; a 100x100 thumbnail decodes at 1/4 or 1/8.
    const auto out = Run(JpegWithOrientation(800, 600, orientation), "thumbnail:100x100,format:png");
    const cv::Mat image = Decoded(out.bytes);
    REQUIRE(image.size() == cv::Size(100, 75));
    CHECK(Near(At(image, 10, 10), cv::Vec3b(0, 0, 255)));
    CHECK(Near(At(image, 90, 65), cv::Vec3b(255, 255, 255)));
  }
}

// --- Colour ------------------------------------------------------------------

TEST_CASE("grayscale gives one channel, or equal channels beside alpha", "[images]") {
  SECTION("JPEG") {
    const cv::Mat image = Decoded(Run(GradientJpeg(64, 64), "grayscale").bytes);
    CHECK(image.channels() == 1);
  }
  SECTION("PNG") {
    const cv::Mat image = Decoded(Run(GradientPng(64, 64), "grayscale").bytes);
    CHECK(image.channels() == 1);
  }
  SECTION("PNG with alpha keeps its alpha") {
    const cv::Mat image = Decoded(Run(AlphaPng(64, 64), "grayscale").bytes);
    REQUIRE(image.channels() == 4);
    std::vector<cv::Mat> planes;
    cv::split(image, planes);
    CHECK(cv::countNonZero(planes[0] != planes[1]) == 0);
    CHECK(cv::countNonZero(planes[1] != planes[2]) == 0);
    CHECK(image.at<cv::Vec4b>(32, 0)[3] == 0);
    CHECK(image.at<cv::Vec4b>(32, 63)[3] == 255);
  }
  SECTION("PNG with alpha written as JPEG is one channel") {
    const cv::Mat image = Decoded(Run(AlphaPng(64, 64), "grayscale,format:jpeg").bytes);
    CHECK(image.channels() == 1);
  }
  SECTION("WebP decodes with equal channels") {
    const cv::Mat image = Decoded(Run(WebpLossy(64, 64), "grayscale").bytes, cv::IMREAD_COLOR);
    std::vector<cv::Mat> planes;
    cv::split(image, planes);
    double max_diff = 0;
    cv::minMaxLoc(cv::abs(planes[0] - planes[2]) + cv::abs(planes[2] - planes[0]), nullptr, &max_diff);
    CHECK(max_diff <= 3);
  }
}

TEST_CASE("blur lowers high-frequency energy", "[images]") {
  const std::string input = CheckerboardPng(64, 64);
  const double before = MeanAbsLaplacian(Decoded(input));
  const auto out = Run(input, "blur:2");
  CHECK(out.width == 64);
  const double after = MeanAbsLaplacian(Decoded(out.bytes));
  CHECK(before > 500);
  CHECK(after < before * 0.05);
}

TEST_CASE("a PNG with alpha stays a PNG with alpha", "[images]") {
  const auto out = Run(AlphaPng(64, 64), "thumbnail:32x32");
  CHECK(out.format == ImageFormat::kPng);
  CHECK(out.input.has_alpha);
  const cv::Mat image = Decoded(out.bytes);
  REQUIRE(image.channels() == 4);
  CHECK(image.at<cv::Vec4b>(16, 2)[3] == 0);
  CHECK(image.at<cv::Vec4b>(16, 29)[3] == 255);
}

TEST_CASE("alpha is composited over white when the output is JPEG", "[images]") {
  for (const std::string& input : {AlphaPng(64, 64), WebpAlpha(64, 64)}) {
    const auto out = Run(input, "format:jpeg");
    CHECK(out.format == ImageFormat::kJpeg);
    const cv::Mat image = Decoded(out.bytes);
    REQUIRE(image.channels() == 3);
    CHECK(Near(At(image, 4, 32), cv::Vec3b(255, 255, 255), 8));
    CHECK(Near(At(image, 60, 32), cv::Vec3b(kAlphaPngColor[0], kAlphaPngColor[1], kAlphaPngColor[2]), 12));
  }
}

TEST_CASE("a 16-bit PNG stays 16-bit as PNG and is scaled, not clipped, as JPEG or WebP", "[images]") {
  const std::string input = Png16(64, 64);
  SECTION("PNG") {
    const auto out = Run(input, "thumbnail:32x32");
    CHECK(out.input.bit_depth == 16);
    const cv::Mat image = Decoded(out.bytes);
    CHECK(image.depth() == CV_16U);
  }
  for (const char* format : {"jpeg", "webp"}) {
    SECTION(format) {
      const cv::Mat image = Decoded(Run(input, std::string("format:") + format).bytes, cv::IMREAD_COLOR);
      // Red is 32768 everywhere: 127 or 128 in 8 bits, not 255.
      const cv::Scalar mean = cv::mean(image);
      CHECK(mean[2] == Approx(128).margin(6));
      CHECK(mean[0] == Approx(127.5).margin(6));
      CHECK(Near(At(image, 0, 0), cv::Vec3b(0, 0, 128), 12));
    }
  }
}

// --- Formats -----------------------------------------------------------------

TEST_CASE("WebP output is lossy by default and with a quality", "[images]") {
  const std::string input = GradientPng(128, 128);
  const auto by_default = Run(input, "format:webp");
  CHECK(by_default.format == ImageFormat::kWebp);
  CHECK(WebpFirstChunk(by_default.bytes) == "VP8 ");
  const auto low = Run(input, "format:webp,quality:20");
  CHECK(WebpFirstChunk(low.bytes) == "VP8 ");
  CHECK(low.bytes.size() < by_default.bytes.size());
  SECTION("with alpha: lossy colour plus an alpha chunk") {
    const auto out = Run(WebpAlpha(64, 64), "thumbnail:32x32");
    CHECK(WebpFirstChunk(out.bytes) == "VP8X");
    CHECK(out.bytes.find("ALPH") != std::string::npos);
    CHECK(out.bytes.find("VP8L") == std::string::npos);
    CHECK(Decoded(out.bytes).channels() == 4);
  }
}

TEST_CASE("JPEG quality trades size for fidelity", "[images]") {
  const std::string input = TextImage(200, 100);
  const auto low = Run(input, "format:jpeg,quality:20");
  const auto high = Run(input, "format:jpeg,quality:95");
  CHECK(low.bytes.size() < high.bytes.size());
}

TEST_CASE("the output format defaults to the input's", "[images]") {
  CHECK(Run(GradientJpeg(32, 32), "blur:1").format == ImageFormat::kJpeg);
  CHECK(Run(GradientPng(32, 32), "blur:1").format == ImageFormat::kPng);
  CHECK(Run(WebpLossless(32, 32), "blur:1").format == ImageFormat::kWebp);
  CHECK(Run(GradientPng(32, 32), "format:webp").format == ImageFormat::kWebp);
}

TEST_CASE("every accepted input variant decodes", "[images]") {
  struct Variant {
    const char* name;
    std::string bytes;
    int channels_out;  // of the PNG output, decoded unchanged
  };
  const std::vector<Variant> variants = {
      {"baseline JPEG", GradientJpeg(80, 60), 3},
      {"progressive JPEG", GradientJpeg(80, 60, 90, true), 3},
      {"grayscale JPEG", GrayJpeg(80, 60), 1},
      {"RGB PNG", GradientPng(80, 60), 3},
      {"palette PNG", PalettePng(80, 60), 3},
      {"palette PNG with tRNS", PalettePng(80, 60, true), 4},
      {"interlaced palette PNG", PalettePng(80, 60, false, true), 3},
      {"interlaced RGB PNG", InterlacedPng(80, 60), 3},
      {"1-bit gray PNG", GrayPng(80, 60, 1), 1},
      {"2-bit gray PNG", GrayPng(80, 60, 2), 1},
      {"4-bit gray PNG, interlaced", GrayPng(80, 60, 4, true), 1},
      {"16-bit gray PNG", GrayPng(80, 60, 16), 1},
      {"16-bit RGB PNG", Png16(80, 60), 3},
      {"RGBA PNG", AlphaPng(80, 60), 4},
      {"lossy WebP", WebpLossy(80, 60), 3},
      {"lossless WebP", WebpLossless(80, 60), 3},
      {"WebP with alpha", WebpAlpha(80, 60), 4},
  };
  for (const Variant& variant : variants) {
    CAPTURE(variant.name);
    const auto out = Run(variant.bytes, "thumbnail:40x40,format:png");
    CHECK(out.input.width == 80);
    CHECK(out.input.height == 60);
    CHECK(out.width == 40);
    CHECK(out.height == 30);
    CHECK(Decoded(out.bytes).channels() == variant.channels_out);
  }
}

TEST_CASE("palette PNG colours survive decoding", "[images]") {
  const cv::Mat image = Decoded(Run(PalettePng(32, 32, false, true)).bytes);
  CHECK(Near(At(image, 2, 2), cv::Vec3b(0, 0, 255), 0));     // entry 0: red
  CHECK(Near(At(image, 10, 2), cv::Vec3b(0, 255, 0), 0));    // entry 1: green
  CHECK(Near(At(image, 18, 2), cv::Vec3b(255, 0, 0), 0));    // entry 2: blue
  CHECK(Near(At(image, 26, 2), cv::Vec3b(255, 255, 255), 0));
}

TEST_CASE("shrink-on-load gives the full decode's size and nearly its pixels", "[images]") {
  const std::string input = GradientJpeg(2000, 1500, 95);
  const cv::Mat full = Decoded(input, cv::IMREAD_COLOR);
  SECTION("fit") {
    const auto out = Run(input, "thumbnail:250x250,format:png");
    REQUIRE(out.width == 250);
    REQUIRE(out.height == 188);
    cv::Mat reference;
    cv::resize(full, reference, cv::Size(250, 188), 0, 0, cv::INTER_AREA);
    CHECK(MeanAbsDiff(Decoded(out.bytes), reference) < 2.0);
  }
  SECTION("crop") {
    const auto out = Run(input, "thumbnail:100x100:crop,format:png");
    REQUIRE(out.width == 100);
    REQUIRE(out.height == 100);
    cv::Mat reference;
    cv::resize(full(cv::Rect(250, 0, 1500, 1500)), reference, cv::Size(100, 100), 0, 0, cv::INTER_AREA);
    CHECK(MeanAbsDiff(Decoded(out.bytes), reference) < 2.0);
  }
  SECTION("the same output size as without shrink-on-load, for many boxes") {
    // A leading rotate:180 turns shrink-on-load off without changing the geometry.
    for (const char* box : {"thumbnail:256x256", "thumbnail:333x100", "thumbnail:97x41:crop", "thumbnail:1999x1499"}) {
      CAPTURE(box);
      const auto shrunk = Run(input, box);
      const auto full_path = Run(input, std::string("rotate:180,") + box);
      CHECK(shrunk.width == full_path.width);
      CHECK(shrunk.height == full_path.height);
    }
  }
}

TEST_CASE("outputs carry no metadata from the input", "[images]") {
  ExifOptions options;
  options.gps = true;
  const std::string input = JpegWithOrientation(64, 48, 6, options);
  REQUIRE(input.find("Exif") != std::string::npos);
  REQUIRE(input.find("TestCam") != std::string::npos);
  for (const char* ops : {"", "format:png", "format:webp", "thumbnail:32x32", "blur:1,format:jpeg"}) {
    CAPTURE(ops);
    const auto out = Run(input, ops);
    CHECK(out.bytes.find("Exif") == std::string::npos);
    CHECK(out.bytes.find("TestCam") == std::string::npos);
    CHECK(out.bytes.find("eXIf") == std::string::npos);
  }
}

TEST_CASE("WebP output refuses a side above 16383 pixels", "[images]") {
  const std::string input = GradientPng(16384, 1);
  try {
    Run(input, "format:webp");
    FAIL("no ImageError");
  } catch (const ImageError& e) {
    CHECK(e.code() == ImageErrorCode::kTooLarge);
    CHECK_THAT(e.what(), Catch::Contains("16383"));
  }
  CHECK(Run(input, "format:png").width == 16384);
}

TEST_CASE("the result reports the input, the output and each stage's time", "[images]") {
  const auto out = Run(GradientJpeg(120, 80), "thumbnail:60x60,blur:1,grayscale,rotate:90,format:png");
  CHECK(out.input.format == ImageFormat::kJpeg);
  CHECK(out.input.width == 120);
  CHECK(out.input.height == 80);
  CHECK(out.width == 40);
  CHECK(out.height == 60);
  std::vector<std::string> names;
  double sum = 0;
  for (const auto& [name, seconds] : out.stage_seconds) {
    names.push_back(name);
    CHECK(seconds >= 0);
    sum += seconds;
  }
  CHECK(names == std::vector<std::string>{"decode", "thumbnail", "blur", "grayscale", "rotate", "encode"});
  CHECK(out.seconds >= sum * 0.99);
}

}  // namespace jobqueue::images
