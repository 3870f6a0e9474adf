#pragma once
// Internal to src/images/: the per-format header readers behind
// image_meta.hpp, and the bounds-checked byte access they share. Every
// reader takes the whole input as a string_view, never reads outside it and
// never allocates in proportion to a length a header claims.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "images/image_error.hpp"
#include "images/image_meta.hpp"

namespace jobqueue::images::detail {

// The caller has checked that `at` + width is within `bytes`.
inline std::uint32_t Byte(std::string_view bytes, std::size_t at) {
  return static_cast<unsigned char>(bytes[at]);
}
inline std::uint32_t Be16(std::string_view bytes, std::size_t at) {
  return Byte(bytes, at) << 8 | Byte(bytes, at + 1);
}
inline std::uint32_t Be32(std::string_view bytes, std::size_t at) {
  return Be16(bytes, at) << 16 | Be16(bytes, at + 2);
}
inline std::uint32_t Le16(std::string_view bytes, std::size_t at) {
  return Byte(bytes, at) | Byte(bytes, at + 1) << 8;
}
inline std::uint32_t Le24(std::string_view bytes, std::size_t at) {
  return Le16(bytes, at) | Byte(bytes, at + 2) << 16;
}
inline std::uint32_t Le32(std::string_view bytes, std::size_t at) {
  return Le16(bytes, at) | Le16(bytes, at + 2) << 16;
}

[[noreturn]] inline void ThrowCorrupt(const std::string& message) {
  throw ImageError(ImageErrorCode::kCorrupt, message);
}

// Each reader assumes SniffFormat picked its format (the magic bytes are
// present) and throws ImageError kCorrupt otherwise.
ImageMeta ReadJpegMeta(std::string_view bytes);
ImageMeta ReadPngMeta(std::string_view bytes);
ImageMeta ReadWebpMeta(std::string_view bytes);

void CheckJpegStructure(std::string_view bytes);
void CheckPngStructure(std::string_view bytes);
void CheckWebpStructure(std::string_view bytes);

// The EXIF orientation (1..8) in a TIFF-structured EXIF block starting at its
// byte-order mark ("II*\0" or "MM\0*"), optionally preceded by "Exif\0\0".
// Anything missing, out of bounds or out of range gives 1: a bad EXIF block
// is ignored, never an error.
int ReadExifOrientation(std::string_view exif);

}  // namespace jobqueue::images::detail
