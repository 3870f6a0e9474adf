// Fuzzes the header readers and structure checks (src/images/image_meta.cpp
// and the per-format readers): SniffFormat, ReadImageMeta(Within) and
// CheckStructure on arbitrary bytes. They may throw ImageError and nothing
// else; what they return must be sane (a format that matches the magic
// bytes, sides within the limits, an orientation 1..8). Memory and time are
// watched by libFuzzer (-rss_limit_mb in scripts/fuzz.sh): nothing may
// allocate what a header claims.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string_view>

#include "images/image_error.hpp"
#include "images/image_meta.hpp"

namespace {

using jobqueue::images::ImageError;
using jobqueue::images::ImageErrorCode;
using jobqueue::images::ImageFormat;
using jobqueue::images::ImageMeta;

constexpr std::int64_t kMaxPixels = 50'000'000;

void CheckSane(const ImageMeta& meta, const std::optional<ImageFormat>& sniffed) {
  if (!sniffed || meta.format != *sniffed) std::abort();
  if (meta.width < 1 || meta.height < 1) std::abort();
  if (meta.orientation < 1 || meta.orientation > 8) std::abort();
  if (meta.channels < 1 || meta.channels > 4) std::abort();
  if (meta.bit_depth < 1 || meta.bit_depth > 16) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const std::optional<ImageFormat> sniffed = jobqueue::images::SniffFormat(bytes);

  // The structure check on whatever the header reader accepts, however large.
  try {
    const ImageMeta meta = jobqueue::images::ReadImageMeta(bytes);
    CheckSane(meta, sniffed);
    jobqueue::images::CheckStructure(bytes, meta);
  } catch (const ImageError& error) {
    if (!sniffed && error.code() != ImageErrorCode::kUnsupportedFormat) std::abort();
    if (error.code() == ImageErrorCode::kInvalidOps || error.code() == ImageErrorCode::kTooLarge) std::abort();
  }

  // The pixel limit, as the pipeline applies it.
  try {
    const ImageMeta meta = jobqueue::images::ReadImageMetaWithin(bytes, kMaxPixels);
    CheckSane(meta, sniffed);
    if (meta.width > 65535 || meta.height > 65535 || meta.pixels() > kMaxPixels) std::abort();
  } catch (const ImageError& error) {
    if (error.code() == ImageErrorCode::kInvalidOps || error.code() == ImageErrorCode::kProcessing) std::abort();
  }
  return 0;
}
