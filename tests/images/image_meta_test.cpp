// The header readers and structure checks on real images written by
// OpenCV, on crafted EXIF blocks, and on hostile files: truncations,
// chunks that claim more than the file holds, pixel bombs, other formats.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "images/image_error.hpp"
#include "images/image_meta.hpp"

namespace jobqueue::images {
namespace {

using Catch::Matchers::Contains;
using Catch::Matchers::Equals;

// The ImageError `run` throws, or nullopt when it throws none.
template <typename Run>
std::optional<ImageError> ErrorFrom(Run run) {
  try {
    run();
  } catch (const ImageError& error) {
    return error;
  }
  return std::nullopt;
}

// A picture with detail in it, so that every encoder writes real data.
cv::Mat Picture(int width, int height, int type) {
  cv::Mat image(height, width, type);
  cv::randu(image, cv::Scalar::all(0), cv::Scalar::all(CV_MAT_DEPTH(type) == CV_16U ? 65535 : 255));
  return image;
}

std::string Encode(const char* extension, const cv::Mat& image, const std::vector<int>& params = {}) {
  std::vector<unsigned char> buffer;
  REQUIRE(cv::imencode(extension, image, buffer, params));
  return std::string(buffer.begin(), buffer.end());
}

// Reads the header and checks the structure, as the pipeline does.
ImageMeta ReadChecked(const std::string& bytes) {
  const ImageMeta meta = ReadImageMetaWithin(bytes, 50'000'000);
  CheckStructure(bytes, meta);
  return meta;
}

// The error from reading `bytes` and then checking their structure.
std::optional<ImageError> ErrorReading(const std::string& bytes) {
  return ErrorFrom([&] { ReadChecked(bytes); });
}

std::string Be16(std::uint32_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v)}; }
std::string Be32(std::uint32_t v) { return Be16(v >> 16) + Be16(v & 0xFFFF); }
std::string Le16(std::uint32_t v) { return {static_cast<char>(v), static_cast<char>(v >> 8)}; }
std::string Le24(std::uint32_t v) { return Le16(v & 0xFFFF) + std::string(1, static_cast<char>(v >> 16)); }
std::string Le32(std::uint32_t v) { return Le16(v & 0xFFFF) + Le16(v >> 16); }

// A TIFF block (as in EXIF) whose IFD0 holds an ImageWidth entry and then
// the orientation, in either byte order.
std::string ExifTiff(bool little_endian, std::uint32_t orientation, std::uint32_t type = 3) {
  const auto u16 = [&](std::uint32_t v) { return little_endian ? Le16(v) : Be16(v); };
  const auto u32 = [&](std::uint32_t v) { return little_endian ? Le32(v) : Be32(v); };
  std::string tiff = little_endian ? "II" : "MM";
  tiff += u16(42) + u32(8) + u16(2);
  tiff += u16(0x0100) + u16(4) + u32(1) + u32(640);                         // ImageWidth, LONG
  tiff += u16(0x0112) + u16(type) + u32(1) + u16(orientation) + u16(0);   // Orientation, SHORT
  tiff += u32(0);                                                           // no IFD1
  return tiff;
}

// `jpeg` with an APP1 "Exif\0\0" segment holding `tiff` right after SOI.
std::string WithExif(const std::string& jpeg, const std::string& tiff) {
  const std::string payload = std::string("Exif\0\0", 6) + tiff;
  return jpeg.substr(0, 2) + "\xFF\xE1" + Be16(static_cast<std::uint32_t>(payload.size() + 2)) + payload + jpeg.substr(2);
}

// IEEE CRC-32 as PNG uses it, so that crafted PNGs are valid but for the lie.
std::uint32_t Crc32(const std::string& bytes) {
  std::uint32_t crc = 0xFFFFFFFF;
  for (unsigned char byte : bytes) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320 & (0 - (crc & 1)));
  }
  return ~crc;
}

std::string PngChunk(const std::string& type, const std::string& data) {
  return Be32(static_cast<std::uint32_t>(data.size())) + type + data + Be32(Crc32(type + data));
}

const std::string kPngSignature("\x89PNG\r\n\x1a\n", 8);

std::string Ihdr(std::uint32_t width, std::uint32_t height, int depth = 8, int colour_type = 0, int interlace = 0) {
  return PngChunk("IHDR", Be32(width) + Be32(height) + std::string{static_cast<char>(depth), static_cast<char>(colour_type),
                                                                      0, 0, static_cast<char>(interlace)});
}

// A zlib stream of one filtered 1x1 gray row: enough IDAT for a 1x1 image.
const std::string kTinyIdat = PngChunk("IDAT", std::string("\x78\x9c\x63\x60\x00\x00\x00\x02\x00\x01", 10));
const std::string kIend = PngChunk("IEND", "");

std::string WebpChunk(const std::string& code, const std::string& data) {
  std::string chunk = code + Le32(static_cast<std::uint32_t>(data.size())) + data;
  if (data.size() % 2) chunk += '\0';
  return chunk;
}

std::string Riff(const std::string& chunks) {
  return "RIFF" + Le32(static_cast<std::uint32_t>(4 + chunks.size())) + "WEBP" + chunks;
}

std::string Vp8x(std::uint32_t flags, std::uint32_t width, std::uint32_t height) {
  return WebpChunk("VP8X", std::string(1, static_cast<char>(flags)) + std::string(3, '\0') + Le24(width - 1) +
                               Le24(height - 1));
}

}  // namespace

TEST_CASE("SniffFormat knows JPEG, PNG and WebP by their magic bytes", "[images]") {
  const cv::Mat image = Picture(8, 8, CV_8UC3);
  CHECK(SniffFormat(Encode(".jpg", image)) == ImageFormat::kJpeg);
  CHECK(SniffFormat(Encode(".png", image)) == ImageFormat::kPng);
  CHECK(SniffFormat(Encode(".webp", image)) == ImageFormat::kWebp);
}

TEST_CASE("GIF, BMP, TIFF, SVG, text and empty input are an unsupported format", "[images]") {
  const cv::Mat image = Picture(8, 8, CV_8UC3);
  const std::vector<std::string> others = {
      "",
      "GIF89a\x01\x00\x01\x00\x00\x00\x00;",
      Encode(".bmp", image),
      Encode(".tiff", image),
      std::string("MM\0*\0\0\0\x08", 8),
      "<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"/>",
      "<svg width=\"10\" height=\"10\"></svg>",
      "hello, this is a text file\n",
      "\xFF\xD8",                          // too short to be a JPEG
      std::string("\x89PNG\r\n\x1a", 7),  // a signature cut short
      "RIFF\x10\x00\x00\x00WAVEfmt ",     // RIFF, but not WebP
  };
  for (const std::string& bytes : others) {
    INFO(bytes.substr(0, 16));
    CHECK_FALSE(SniffFormat(bytes));
    const std::optional<ImageError> error = ErrorFrom([&] { ReadImageMeta(bytes); });
    REQUIRE(error);
    CHECK(error->code() == ImageErrorCode::kUnsupportedFormat);
    CHECK_THAT(error->what(), Equals("not a JPEG, PNG or WebP image (GIF, TIFF, BMP, SVG and other formats are not "
                                     "accepted)"));
  }
}

TEST_CASE("a baseline colour JPEG reads as 8-bit, three channels, not progressive", "[images]") {
  const ImageMeta meta = ReadChecked(Encode(".jpg", Picture(97, 41, CV_8UC3)));
  CHECK(meta.format == ImageFormat::kJpeg);
  CHECK(meta.width == 97);
  CHECK(meta.height == 41);
  CHECK(meta.channels == 3);
  CHECK(meta.bit_depth == 8);
  CHECK(meta.orientation == 1);
  CHECK_FALSE(meta.progressive);
  CHECK_FALSE(meta.cmyk);
  CHECK_FALSE(meta.has_alpha);
}

TEST_CASE("a progressive JPEG reads as progressive", "[images]") {
  const ImageMeta meta = ReadChecked(Encode(".jpg", Picture(64, 50, CV_8UC3), {cv::IMWRITE_JPEG_PROGRESSIVE, 1}));
  CHECK(meta.progressive);
  CHECK(meta.width == 64);
  CHECK(meta.height == 50);
}

TEST_CASE("a grayscale JPEG reads as one channel", "[images]") {
  const ImageMeta meta = ReadChecked(Encode(".jpg", Picture(33, 17, CV_8UC1)));
  CHECK(meta.channels == 1);
  CHECK(meta.width == 33);
  CHECK(meta.height == 17);
}

TEST_CASE("a JPEG with restart markers passes the structure check", "[images]") {
  const ImageMeta meta = ReadChecked(Encode(".jpg", Picture(200, 100, CV_8UC3), {cv::IMWRITE_JPEG_RST_INTERVAL, 1}));
  CHECK(meta.width == 200);
}

TEST_CASE("the EXIF orientation of a JPEG is read for 1..8 in both byte orders", "[images]") {
  const std::string jpeg = Encode(".jpg", Picture(16, 8, CV_8UC3));
  for (bool little_endian : {true, false}) {
    for (std::uint32_t orientation = 1; orientation <= 8; ++orientation) {
      INFO((little_endian ? "II " : "MM ") << orientation);
      const ImageMeta meta = ReadChecked(WithExif(jpeg, ExifTiff(little_endian, orientation)));
      CHECK(meta.orientation == static_cast<int>(orientation));
      CHECK(meta.width == 16);
      CHECK(meta.height == 8);
    }
  }
}

TEST_CASE("a broken EXIF block is ignored: orientation 1, never an error", "[images]") {
  const std::string jpeg = Encode(".jpg", Picture(16, 8, CV_8UC3));
  const std::string good = ExifTiff(true, 6);
  std::vector<std::string> broken = {
      "",
      "II",
      good.substr(0, 20),                           // entries cut short
      "XX" + good.substr(2),                        // no byte-order mark
      good.substr(0, 2) + Le16(43) + good.substr(4),  // not 42
      good.substr(0, 4) + Le32(0xFFFFFFF0) + good.substr(8),  // IFD0 far past the end
      good.substr(0, 4) + Le32(good.size() - 1) + good.substr(8),  // IFD0 at the last byte
      good.substr(0, 8) + Le16(0xFFFF) + good.substr(10, 12),  // 65535 entries claimed, one present
      ExifTiff(true, 0),
      ExifTiff(true, 9),
      ExifTiff(false, 0xFFFF),
      ExifTiff(true, 6, 4),  // orientation as a LONG
  };
  for (const std::string& tiff : broken) {
    INFO(tiff.size());
    const ImageMeta meta = ReadChecked(WithExif(jpeg, tiff));
    CHECK(meta.orientation == 1);
  }
}

TEST_CASE("a JPEG truncated at any offset after its header is refused", "[images]") {
  for (bool progressive : {false, true}) {
    const std::string jpeg = Encode(".jpg", Picture(40, 30, CV_8UC3), {cv::IMWRITE_JPEG_PROGRESSIVE, progressive});
    REQUIRE_NOTHROW(ReadChecked(jpeg));
    int in_scan_data = 0;
    for (std::size_t size = 3; size < jpeg.size(); ++size) {
      const std::optional<ImageError> error = ErrorReading(jpeg.substr(0, size));
      INFO("progressive " << progressive << ", cut at " << size << " of " << jpeg.size());
      REQUIRE(error);
      CHECK(error->code() == ImageErrorCode::kCorrupt);
      if (std::string(error->what()) == "JPEG truncated: no end-of-image marker (FFD9) after the scan data") {
        ++in_scan_data;
      }
    }
    CHECK(in_scan_data > 100);
  }
}

TEST_CASE("bytes after a JPEG's end-of-image marker are ignored", "[images]") {
  const std::string jpeg = Encode(".jpg", Picture(20, 10, CV_8UC3));
  CHECK_NOTHROW(ReadChecked(jpeg + std::string(64, '\0')));
  CHECK_NOTHROW(ReadChecked(jpeg + jpeg));  // as a multi-picture file appends its second image
}

TEST_CASE("a JPEG segment claiming more bytes than the file holds is corrupt", "[images]") {
  const std::string jpeg = Encode(".jpg", Picture(20, 10, CV_8UC3));
  const std::string comment = "\xFF\xFE" + Be16(0xFFFF) + "hello";
  const std::string bytes = jpeg.substr(0, 2) + comment;
  const std::optional<ImageError> error = ErrorReading(bytes);
  REQUIRE(error);
  CHECK(error->code() == ImageErrorCode::kCorrupt);
  CHECK_THAT(error->what(), Contains("FFFE at offset 2 claims 65535 bytes"));
}

TEST_CASE("a JPEG frame with a zero height (set later by DNL) or zero width is corrupt", "[images]") {
  const std::string jpeg = Encode(".jpg", Picture(20, 10, CV_8UC3));
  const std::size_t sof = jpeg.find("\xFF\xC0");
  REQUIRE(sof != std::string::npos);
  std::string zero_height = jpeg;
  zero_height.replace(sof + 5, 2, Be16(0));
  std::string zero_width = jpeg;
  zero_width.replace(sof + 7, 2, Be16(0));
  for (const std::string& bytes : {zero_height, zero_width}) {
    const std::optional<ImageError> error = ErrorFrom([&] { ReadImageMeta(bytes); });
    REQUIRE(error);
    CHECK(error->code() == ImageErrorCode::kCorrupt);
  }
  CHECK_THAT(ErrorFrom([&] { ReadImageMeta(zero_height); })->what(), Contains("zero height"));
}

TEST_CASE("a JPEG without a scan, or with junk between segments, is corrupt", "[images]") {
  const std::string jpeg = Encode(".jpg", Picture(20, 10, CV_8UC3));
  const std::size_t sos = jpeg.find("\xFF\xDA");
  REQUIRE(sos != std::string::npos);
  const std::optional<ImageError> no_scan = ErrorReading(jpeg.substr(0, sos) + "\xFF\xD9");
  REQUIRE(no_scan);
  CHECK_THAT(no_scan->what(), Contains("without a scan"));
  const std::optional<ImageError> junk = ErrorReading(jpeg.substr(0, sos) + "junk" + jpeg.substr(sos));
  REQUIRE(junk);
  CHECK_THAT(junk->what(), Contains("expected a marker"));
  const std::optional<ImageError> no_frame = ErrorReading("\xFF\xD8\xFF\xD9");
  REQUIRE(no_frame);
  CHECK(no_frame->code() == ImageErrorCode::kCorrupt);
}

TEST_CASE("PNG reads the size, bit depth, channels and alpha OpenCV wrote", "[images]") {
  struct Case {
    int type;
    int bit_depth;
    int channels;
    bool alpha;
  };
  for (const Case& c : {Case{CV_8UC1, 8, 1, false}, Case{CV_8UC3, 8, 3, false}, Case{CV_8UC4, 8, 4, true},
                        Case{CV_16UC1, 16, 1, false}, Case{CV_16UC3, 16, 3, false}, Case{CV_16UC4, 16, 4, true}}) {
    INFO("channels " << c.channels << ", depth " << c.bit_depth);
    const ImageMeta meta = ReadChecked(Encode(".png", Picture(23, 45, c.type)));
    CHECK(meta.format == ImageFormat::kPng);
    CHECK(meta.width == 23);
    CHECK(meta.height == 45);
    CHECK(meta.bit_depth == c.bit_depth);
    CHECK(meta.channels == c.channels);
    CHECK(meta.has_alpha == c.alpha);
    CHECK_FALSE(meta.progressive);
  }
}

TEST_CASE("PNG written with every compression strategy and a bilevel PNG pass the checks", "[images]") {
  for (int strategy : {cv::IMWRITE_PNG_STRATEGY_DEFAULT, cv::IMWRITE_PNG_STRATEGY_FILTERED,
                       cv::IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY, cv::IMWRITE_PNG_STRATEGY_RLE,
                       cv::IMWRITE_PNG_STRATEGY_FIXED}) {
    INFO("strategy " << strategy);
    const std::string png =
        Encode(".png", Picture(30, 20, CV_8UC3), {cv::IMWRITE_PNG_STRATEGY, strategy, cv::IMWRITE_PNG_COMPRESSION, 9});
    CHECK(ReadChecked(png).width == 30);
  }
  const ImageMeta bilevel = ReadChecked(Encode(".png", Picture(30, 20, CV_8UC1) > 128, {cv::IMWRITE_PNG_BILEVEL, 1}));
  CHECK(bilevel.bit_depth == 1);
  CHECK(bilevel.channels == 1);
}

TEST_CASE("a PNG with a tRNS chunk has alpha; an interlaced PNG is progressive", "[images]") {
  const std::string gray = kPngSignature + Ihdr(1, 1) + PngChunk("tRNS", Be16(0)) + kTinyIdat + kIend;
  const ImageMeta transparent = ReadChecked(gray);
  CHECK(transparent.has_alpha);
  CHECK(transparent.channels == 2);
  const ImageMeta interlaced = ReadChecked(kPngSignature + Ihdr(1, 1, 8, 0, 1) + kTinyIdat + kIend);
  CHECK(interlaced.progressive);
  CHECK_FALSE(interlaced.has_alpha);
}

TEST_CASE("a PNG with an impossible IHDR is corrupt", "[images]") {
  for (const std::string& ihdr : {Ihdr(0, 1), Ihdr(1, 0), Ihdr(0x80000000, 1), Ihdr(1, 1, 16, 3), Ihdr(1, 1, 4, 2),
                                  Ihdr(1, 1, 3, 0), Ihdr(1, 1, 8, 5), Ihdr(1, 1, 8, 0, 2)}) {
    const std::optional<ImageError> error = ErrorReading(kPngSignature + ihdr + kTinyIdat + kIend);
    REQUIRE(error);
    CHECK(error->code() == ImageErrorCode::kCorrupt);
  }
  const std::optional<ImageError> not_first = ErrorReading(kPngSignature + kTinyIdat + Ihdr(1, 1) + kIend);
  REQUIRE(not_first);
  CHECK(not_first->code() == ImageErrorCode::kCorrupt);
}

TEST_CASE("a 57-byte PNG whose text or ICC chunk claims 1 GB is corrupt", "[images]") {
  for (const char* type : {"tEXt", "zTXt", "iTXt", "iCCP"}) {
    const std::string bytes = kPngSignature + Ihdr(1, 1) + Be32(1u << 30) + type + "abcd" + kIend;
    REQUIRE(bytes.size() == 57);
    INFO(type);
    REQUIRE_NOTHROW(ReadImageMeta(bytes));
    const std::optional<ImageError> error = ErrorReading(bytes);
    REQUIRE(error);
    CHECK(error->code() == ImageErrorCode::kCorrupt);
    CHECK_THAT(error->what(), Contains(std::string("chunk '") + type + "' at offset 33 claims 1073741824 bytes"));
  }
}

TEST_CASE("a PNG chunk length of 2^31 or more is corrupt", "[images]") {
  const std::string bytes = kPngSignature + Ihdr(1, 1) + Be32(0xFFFFFFFF) + "tEXt" + kTinyIdat + kIend;
  const std::optional<ImageError> error = ErrorReading(bytes);
  REQUIRE(error);
  CHECK_THAT(error->what(), Contains("at most 2^31-1"));
}

TEST_CASE("a PNG without IDAT or without IEND is corrupt", "[images]") {
  const std::optional<ImageError> no_idat = ErrorReading(kPngSignature + Ihdr(1, 1) + kIend);
  REQUIRE(no_idat);
  CHECK_THAT(no_idat->what(), Contains("no image data (IDAT)"));
  const std::optional<ImageError> no_iend = ErrorReading(kPngSignature + Ihdr(1, 1) + kTinyIdat);
  REQUIRE(no_iend);
  CHECK_THAT(no_iend->what(), Contains("no IEND"));
}

TEST_CASE("a PNG truncated at any offset is refused", "[images]") {
  const std::string png = Encode(".png", Picture(20, 10, CV_8UC3));
  for (std::size_t size = 8; size < png.size(); ++size) {
    INFO("cut at " << size << " of " << png.size());
    const std::optional<ImageError> error = ErrorReading(png.substr(0, size));
    REQUIRE(error);
    CHECK(error->code() == ImageErrorCode::kCorrupt);
  }
}

TEST_CASE("a PNG pixel bomb is too large, naming its size and the limit", "[images]") {
  const std::string bomb = kPngSignature + Ihdr(100000, 100000) + kTinyIdat + kIend;
  REQUIRE(bomb.size() < 100);
  const std::optional<ImageError> error = ErrorFrom([&] { ReadImageMetaWithin(bomb, 50'000'000); });
  REQUIRE(error);
  CHECK(error->code() == ImageErrorCode::kTooLarge);
  CHECK_THAT(error->what(), Equals("image is 100000x100000 (10000000000 pixels); the limit is 50000000"));
}

TEST_CASE("the pixel limit applies to real images and a side above 65535 is too large", "[images]") {
  const std::string png = Encode(".png", Picture(100, 100, CV_8UC1));
  CHECK(ReadImageMetaWithin(png, 10000).width == 100);
  const std::optional<ImageError> over = ErrorFrom([&] { ReadImageMetaWithin(png, 9999); });
  REQUIRE(over);
  CHECK(over->code() == ImageErrorCode::kTooLarge);
  CHECK_THAT(over->what(), Equals("image is 100x100 (10000 pixels); the limit is 9999"));

  const std::string wide = kPngSignature + Ihdr(70000, 1) + kTinyIdat + kIend;
  const std::optional<ImageError> side = ErrorFrom([&] { ReadImageMetaWithin(wide, 50'000'000); });
  REQUIRE(side);
  CHECK(side->code() == ImageErrorCode::kTooLarge);
  CHECK_THAT(side->what(), Contains("70000x1"));
  CHECK_THAT(side->what(), Contains("65535"));
}

TEST_CASE("WebP lossy, lossless and with alpha read their size and alpha", "[images]") {
  const cv::Mat colour = Picture(51, 27, CV_8UC3);
  cv::Mat with_alpha = Picture(51, 27, CV_8UC4);

  const ImageMeta lossy = ReadChecked(Encode(".webp", colour, {cv::IMWRITE_WEBP_QUALITY, 80}));
  CHECK(lossy.format == ImageFormat::kWebp);
  CHECK(lossy.width == 51);
  CHECK(lossy.height == 27);
  CHECK_FALSE(lossy.has_alpha);
  CHECK(lossy.channels == 3);

  const ImageMeta lossless = ReadChecked(Encode(".webp", colour, {cv::IMWRITE_WEBP_QUALITY, 101}));
  CHECK(lossless.width == 51);
  CHECK(lossless.height == 27);
  CHECK_FALSE(lossless.has_alpha);

  const ImageMeta lossless_alpha = ReadChecked(Encode(".webp", with_alpha, {cv::IMWRITE_WEBP_QUALITY, 101}));
  CHECK(lossless_alpha.width == 51);
  CHECK(lossless_alpha.has_alpha);
  CHECK(lossless_alpha.channels == 4);

  const ImageMeta lossy_alpha = ReadChecked(Encode(".webp", with_alpha, {cv::IMWRITE_WEBP_QUALITY, 60}));
  CHECK(lossy_alpha.width == 51);
  CHECK(lossy_alpha.height == 27);
  CHECK(lossy_alpha.has_alpha);
}

TEST_CASE("the EXIF orientation of an extended WebP is read from its EXIF chunk", "[images]") {
  const std::string simple = Encode(".webp", Picture(12, 6, CV_8UC3), {cv::IMWRITE_WEBP_QUALITY, 80});
  const std::string vp8 = simple.substr(12);
  for (bool little_endian : {true, false}) {
    for (std::uint32_t orientation = 1; orientation <= 8; ++orientation) {
      INFO((little_endian ? "II " : "MM ") << orientation);
      const std::string webp = Riff(Vp8x(0x08, 12, 6) + vp8 + WebpChunk("EXIF", ExifTiff(little_endian, orientation)));
      const ImageMeta meta = ReadChecked(webp);
      CHECK(meta.orientation == static_cast<int>(orientation));
      CHECK(meta.width == 12);
      CHECK(meta.height == 6);
    }
  }
  const std::string broken = Riff(Vp8x(0x08, 12, 6) + vp8 + WebpChunk("EXIF", "MM\0*garbage"));
  CHECK(ReadChecked(broken).orientation == 1);
}

TEST_CASE("a WebP whose RIFF size lies is corrupt", "[images]") {
  const std::string webp = Encode(".webp", Picture(12, 6, CV_8UC3), {cv::IMWRITE_WEBP_QUALITY, 80});
  std::string larger = webp;
  larger.replace(4, 4, Le32(static_cast<std::uint32_t>(webp.size() + 100)));
  const std::optional<ImageError> truncated = ErrorReading(larger);
  REQUIRE(truncated);
  CHECK(truncated->code() == ImageErrorCode::kCorrupt);
  CHECK_THAT(truncated->what(), Contains("WebP truncated"));

  std::string smaller = webp;
  smaller.replace(4, 4, Le32(static_cast<std::uint32_t>(webp.size() - 20)));
  const std::optional<ImageError> chunk_outside = ErrorReading(smaller);
  REQUIRE(chunk_outside);
  CHECK(chunk_outside->code() == ImageErrorCode::kCorrupt);
  CHECK_THAT(chunk_outside->what(), Contains("'VP8 ' at offset 12 claims"));
}

TEST_CASE("a WebP truncated at any offset is refused", "[images]") {
  for (int quality : {80, 101}) {
    const std::string webp = Encode(".webp", Picture(12, 6, CV_8UC4), {cv::IMWRITE_WEBP_QUALITY, quality});
    for (std::size_t size = 12; size < webp.size(); ++size) {
      INFO("quality " << quality << ", cut at " << size << " of " << webp.size());
      const std::optional<ImageError> error = ErrorReading(webp.substr(0, size));
      REQUIRE(error);
      CHECK(error->code() == ImageErrorCode::kCorrupt);
    }
  }
}

TEST_CASE("a WebP canvas that disagrees with its image is corrupt", "[images]") {
  const std::string simple = Encode(".webp", Picture(12, 6, CV_8UC3), {cv::IMWRITE_WEBP_QUALITY, 80});
  const std::string webp = Riff(Vp8x(0, 10, 6) + simple.substr(12));
  REQUIRE(ReadImageMeta(webp).width == 10);
  const std::optional<ImageError> error = ErrorReading(webp);
  REQUIRE(error);
  CHECK_THAT(error->what(), Contains("the canvas is 10x6 but its image is 12x6"));
}

TEST_CASE("a huge WebP canvas is too large", "[images]") {
  const std::string simple = Encode(".webp", Picture(12, 6, CV_8UC3), {cv::IMWRITE_WEBP_QUALITY, 80});
  const std::string webp = Riff(Vp8x(0, 1 << 24, 1 << 24) + simple.substr(12));
  const std::optional<ImageError> error = ErrorFrom([&] { ReadImageMetaWithin(webp, 50'000'000); });
  REQUIRE(error);
  CHECK(error->code() == ImageErrorCode::kTooLarge);
  CHECK_THAT(error->what(), Contains("16777216x16777216"));
}

TEST_CASE("an animated WebP is an unsupported format", "[images]") {
  const std::string webp = Riff(Vp8x(0x02, 4, 4) + WebpChunk("ANIM", std::string(6, '\0')));
  const std::optional<ImageError> error = ErrorFrom([&] { ReadImageMeta(webp); });
  REQUIRE(error);
  CHECK(error->code() == ImageErrorCode::kUnsupportedFormat);
  CHECK_THAT(error->what(), Contains("animated"));
}

TEST_CASE("a WebP without image data or with an unknown first chunk is corrupt", "[images]") {
  const std::optional<ImageError> no_image = ErrorReading(Riff(Vp8x(0, 4, 4) + WebpChunk("ICCP", "abc")));
  REQUIRE(no_image);
  CHECK_THAT(no_image->what(), Contains("no image data"));
  const std::optional<ImageError> unknown = ErrorReading(Riff(WebpChunk("ABCD", "abcdefghijkl")));
  REQUIRE(unknown);
  CHECK(unknown->code() == ImageErrorCode::kCorrupt);
}

}  // namespace jobqueue::images
