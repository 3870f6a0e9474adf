// Picks the header reader by magic bytes and applies the pixel limit. The
// readers themselves live in jpeg_meta.cpp, png_meta.cpp and webp_meta.cpp.
#include "images/image_meta.hpp"

#include <string>

#include "images/meta_readers.hpp"

namespace jobqueue::images {
namespace {

// Beyond this a side overflows some codec's limits (JPEG and WebP store
// 16- and 14-bit sides; OpenCV's own checks are int-sized), whatever the
// pixel count.
constexpr int kMaxSide = 65535;

}  // namespace

std::optional<ImageFormat> SniffFormat(std::string_view bytes) {
  if (bytes.size() >= 3 && bytes.substr(0, 3) == "\xFF\xD8\xFF") return ImageFormat::kJpeg;
  if (bytes.substr(0, 8) == std::string_view("\x89PNG\r\n\x1a\n", 8)) return ImageFormat::kPng;
  if (bytes.size() >= 12 && bytes.substr(0, 4) == "RIFF" && bytes.substr(8, 4) == "WEBP") return ImageFormat::kWebp;
  return std::nullopt;
}

ImageMeta ReadImageMeta(std::string_view bytes) {
  const std::optional<ImageFormat> format = SniffFormat(bytes);
  if (!format) {
    throw ImageError(ImageErrorCode::kUnsupportedFormat,
                     "not a JPEG, PNG or WebP image (GIF, TIFF, BMP, SVG and other formats are not accepted)");
  }
  switch (*format) {
    case ImageFormat::kJpeg:
      return detail::ReadJpegMeta(bytes);
    case ImageFormat::kPng:
      return detail::ReadPngMeta(bytes);
    case ImageFormat::kWebp:
      return detail::ReadWebpMeta(bytes);
  }
  detail::ThrowCorrupt("unknown image format");
}

ImageMeta ReadImageMetaWithin(std::string_view bytes, std::int64_t max_pixels) {
  ImageMeta meta = ReadImageMeta(bytes);
  const std::string size = std::to_string(meta.width) + "x" + std::to_string(meta.height);
  if (meta.pixels() > max_pixels) {
    throw ImageError(ImageErrorCode::kTooLarge, "image is " + size + " (" + std::to_string(meta.pixels()) +
                                                    " pixels); the limit is " + std::to_string(max_pixels));
  }
  if (meta.width > kMaxSide || meta.height > kMaxSide) {
    throw ImageError(ImageErrorCode::kTooLarge,
                     "image is " + size + "; sides above " + std::to_string(kMaxSide) + " pixels are not accepted");
  }
  return meta;
}

void CheckStructure(std::string_view bytes, const ImageMeta& meta) {
  switch (meta.format) {
    case ImageFormat::kJpeg:
      return detail::CheckJpegStructure(bytes);
    case ImageFormat::kPng:
      return detail::CheckPngStructure(bytes);
    case ImageFormat::kWebp:
      return detail::CheckWebpStructure(bytes);
  }
  detail::ThrowCorrupt("unknown image format");
}

}  // namespace jobqueue::images
