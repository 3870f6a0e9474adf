#pragma once
// The image formats jobqueue takes in and writes out: an allowlist.
#include <optional>
#include <string>
#include <string_view>

namespace jobqueue::images {

enum class ImageFormat { kJpeg, kPng, kWebp };

// "jpeg", "png", "webp".
const char* FormatName(ImageFormat format);
// "image/jpeg", "image/png", "image/webp".
const char* ContentType(ImageFormat format);
// "jpeg" (or "jpg"), "png", "webp", case-sensitive; nullopt otherwise.
std::optional<ImageFormat> ParseFormatName(std::string_view name);

}  // namespace jobqueue::images
