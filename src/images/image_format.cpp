#include "images/image_format.hpp"

namespace jobqueue::images {

const char* FormatName(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg:
      return "jpeg";
    case ImageFormat::kPng:
      return "png";
    case ImageFormat::kWebp:
      return "webp";
  }
  return "unknown";
}

const char* ContentType(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg:
      return "image/jpeg";
    case ImageFormat::kPng:
      return "image/png";
    case ImageFormat::kWebp:
      return "image/webp";
  }
  return "application/octet-stream";
}

std::optional<ImageFormat> ParseFormatName(std::string_view name) {
  if (name == "jpeg" || name == "jpg") return ImageFormat::kJpeg;
  if (name == "png") return ImageFormat::kPng;
  if (name == "webp") return ImageFormat::kWebp;
  return std::nullopt;
}

}  // namespace jobqueue::images
