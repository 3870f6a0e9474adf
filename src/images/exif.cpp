// The EXIF orientation tag, the one piece of EXIF the pipeline needs: a JPEG
// APP1 "Exif\0\0" segment or a WebP EXIF chunk holds a TIFF structure whose
// first IFD (IFD0) may carry tag 0x0112, a SHORT 1..8. Every offset comes
// from the file, so each one is checked against the block before it is read;
// anything wrong means "no orientation" (1), because a photo with a broken
// EXIF block is still a photo.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "images/meta_readers.hpp"

namespace jobqueue::images::detail {
namespace {

constexpr std::uint32_t kOrientationTag = 0x0112;
constexpr std::uint32_t kTypeShort = 3;
constexpr std::size_t kIfdEntrySize = 12;

class TiffReader {
 public:
  TiffReader(std::string_view tiff, bool little_endian) : tiff_(tiff), little_endian_(little_endian) {}

  bool Has(std::size_t at, std::size_t size) const { return at <= tiff_.size() && size <= tiff_.size() - at; }
  std::uint32_t U16(std::size_t at) const { return little_endian_ ? Le16(tiff_, at) : Be16(tiff_, at); }
  std::uint32_t U32(std::size_t at) const { return little_endian_ ? Le32(tiff_, at) : Be32(tiff_, at); }

 private:
  std::string_view tiff_;
  bool little_endian_;
};

}  // namespace

int ReadExifOrientation(std::string_view exif) {
  constexpr std::string_view kExifPrefix("Exif\0\0", 6);
  if (exif.substr(0, kExifPrefix.size()) == kExifPrefix) exif.remove_prefix(kExifPrefix.size());
  if (exif.size() < 8) return 1;
  bool little_endian;
  if (exif.substr(0, 2) == "II") {
    little_endian = true;
  } else if (exif.substr(0, 2) == "MM") {
    little_endian = false;
  } else {
    return 1;
  }
  TiffReader tiff(exif, little_endian);
  if (tiff.U16(2) != 42) return 1;
  const std::size_t ifd = tiff.U32(4);
  if (!tiff.Has(ifd, 2)) return 1;
  const std::size_t entries = tiff.U16(ifd);
  for (std::size_t i = 0; i < entries; ++i) {
    const std::size_t entry = ifd + 2 + i * kIfdEntrySize;
    if (!tiff.Has(entry, kIfdEntrySize)) return 1;
    if (tiff.U16(entry) != kOrientationTag) continue;
    // A SHORT with count 1 sits in the first two bytes of the value field.
    if (tiff.U16(entry + 2) != kTypeShort || tiff.U32(entry + 4) != 1) return 1;
    const std::uint32_t orientation = tiff.U16(entry + 8);
    return orientation >= 1 && orientation <= 8 ? static_cast<int>(orientation) : 1;
  }
  return 1;
}

}  // namespace jobqueue::images::detail
