// WebP: a RIFF container ("RIFF", 32-bit little-endian size, "WEBP") of
// chunks (four-character code, 32-bit little-endian size, data, a pad byte
// when the size is odd). The first chunk says the kind:
//   "VP8 "  lossy: a 3-byte frame tag, start code 9D 01 2A, 14-bit sizes
//   "VP8L"  lossless: signature 0x2F, then 14-bit width-1 and height-1,
//           an alpha bit and a 3-bit version (0)
//   "VP8X"  extended: flags (ICC, alpha, EXIF, XMP, animation), 24-bit
//           canvas width-1 and height-1; the image, ALPH, EXIF chunks follow.
// Animated WebP is refused (OpenCV decodes only stills). Bytes after the
// RIFF size are ignored, as libwebp ignores them.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "images/meta_readers.hpp"

namespace jobqueue::images::detail {
namespace {

constexpr std::size_t kRiffHeader = 12;
constexpr std::size_t kChunkHeader = 8;
constexpr std::uint32_t kVp8xAnimation = 0x02;
constexpr std::uint32_t kVp8xExif = 0x08;
constexpr std::uint32_t kVp8xAlpha = 0x10;

// A four-character code fit for a message (anything unprintable as '?').
std::string FourCc(std::string_view code) {
  std::string name(code);
  for (char& c : name) {
    if (c < 0x20 || c > 0x7E) c = '?';
  }
  return "'" + name + "'";
}

struct FrameSize {
  int width = 0;
  int height = 0;
  bool alpha = false;
};

FrameSize ParseVp8(std::string_view frame) {
  if (frame.size() < 10) ThrowCorrupt("WebP: the VP8 frame header is cut short");
  if ((Byte(frame, 0) & 1) != 0) ThrowCorrupt("WebP: the VP8 frame is not a key frame");
  if (frame.substr(3, 3) != "\x9d\x01\x2a") ThrowCorrupt("WebP: the VP8 frame has no start code (9D 01 2A)");
  FrameSize size;
  size.width = static_cast<int>(Le16(frame, 6) & 0x3FFF);
  size.height = static_cast<int>(Le16(frame, 8) & 0x3FFF);
  if (size.width == 0 || size.height == 0) {
    ThrowCorrupt("WebP: the VP8 frame gives an impossible size " + std::to_string(size.width) + "x" +
                 std::to_string(size.height));
  }
  return size;
}

FrameSize ParseVp8l(std::string_view frame) {
  if (frame.size() < 5) ThrowCorrupt("WebP: the VP8L header is cut short");
  if (Byte(frame, 0) != 0x2F) ThrowCorrupt("WebP: the VP8L data has no signature (0x2F)");
  const std::uint32_t bits = Le32(frame, 1);
  if (bits >> 29 != 0) ThrowCorrupt("WebP: unknown VP8L version " + std::to_string(bits >> 29));
  FrameSize size;
  size.width = static_cast<int>((bits & 0x3FFF) + 1);
  size.height = static_cast<int>(((bits >> 14) & 0x3FFF) + 1);
  size.alpha = ((bits >> 28) & 1) != 0;
  return size;
}

struct Chunk {
  std::string_view code;
  std::string_view data;
  std::size_t offset = 0;
  std::size_t next = 0;  // past the data and its pad byte
};

// Reads the chunk at `at` that must end by `end` into `chunk`. Returns
// false when it does not fit; with `strict` that throws instead.
bool ReadChunk(std::string_view bytes, std::size_t at, std::size_t end, bool strict, Chunk* chunk) {
  const std::string where = " at offset " + std::to_string(at);
  if (at > end || end - at < kChunkHeader) {
    if (!strict) return false;
    ThrowCorrupt("WebP: a chunk header" + where + " runs past the end of the RIFF data");
  }
  const std::size_t size = Le32(bytes, at + 4);
  const std::size_t room = end - at - kChunkHeader;
  if (size > room) {
    if (!strict) return false;
    ThrowCorrupt("WebP: chunk " + FourCc(bytes.substr(at, 4)) + where + " claims " + std::to_string(size) +
                 " bytes, only " + std::to_string(room) + " remain in the RIFF data");
  }
  chunk->code = bytes.substr(at, 4);
  chunk->data = bytes.substr(at + kChunkHeader, size);
  chunk->offset = at;
  // A missing pad byte after the last chunk is forgiven.
  chunk->next = at + kChunkHeader + size + (size & 1);
  if (chunk->next > end) chunk->next = end;
  return true;
}

void RequireRiff(std::string_view bytes) {
  if (bytes.size() < kRiffHeader || bytes.substr(0, 4) != "RIFF" || bytes.substr(8, 4) != "WEBP") {
    ThrowCorrupt("WebP: no RIFF/WEBP header");
  }
}

}  // namespace

ImageMeta ReadWebpMeta(std::string_view bytes) {
  RequireRiff(bytes);
  // Only the first chunk's header and the frame header in it are needed:
  // the rest of its data may be missing here (CheckStructure refuses that).
  if (bytes.size() < kRiffHeader + kChunkHeader) ThrowCorrupt("WebP header cut short: no first chunk");
  Chunk first;
  const std::size_t first_size = Le32(bytes, kRiffHeader + 4);
  first.code = bytes.substr(kRiffHeader, 4);
  first.data = bytes.substr(kRiffHeader + kChunkHeader, first_size);
  first.offset = kRiffHeader;
  first.next = kRiffHeader + kChunkHeader + first_size + (first_size & 1);
  ImageMeta meta;
  meta.format = ImageFormat::kWebp;
  meta.bit_depth = 8;
  if (first.code == "VP8 ") {
    const FrameSize size = ParseVp8(first.data);
    meta.width = size.width;
    meta.height = size.height;
  } else if (first.code == "VP8L") {
    const FrameSize size = ParseVp8l(first.data);
    meta.width = size.width;
    meta.height = size.height;
    meta.has_alpha = size.alpha;
  } else if (first.code == "VP8X") {
    if (first.data.size() < 10) ThrowCorrupt("WebP: the VP8X chunk is cut short");
    const std::uint32_t flags = Byte(first.data, 0);
    if ((flags & kVp8xAnimation) != 0) {
      throw ImageError(ImageErrorCode::kUnsupportedFormat, "animated WebP images are not accepted");
    }
    meta.width = static_cast<int>(Le24(first.data, 4) + 1);
    meta.height = static_cast<int>(Le24(first.data, 7) + 1);
    meta.has_alpha = (flags & kVp8xAlpha) != 0;
    if ((flags & kVp8xExif) != 0) {
      // The EXIF chunk follows the image data, so walk the chunk headers
      // (not the data) to it; a chunk that does not fit ends the walk.
      Chunk chunk;
      for (std::size_t pos = first.next; ReadChunk(bytes, pos, bytes.size(), false, &chunk); pos = chunk.next) {
        if (chunk.code == "EXIF") {
          meta.orientation = ReadExifOrientation(chunk.data);
          break;
        }
      }
    }
  } else {
    ThrowCorrupt("WebP: the first chunk is " + FourCc(first.code) + ", not VP8, VP8L or VP8X");
  }
  meta.channels = meta.has_alpha ? 4 : 3;
  return meta;
}

void CheckWebpStructure(std::string_view bytes) {
  RequireRiff(bytes);
  const std::size_t riff_size = Le32(bytes, 4);
  const std::size_t riff_end = 8 + riff_size;
  if (riff_size < 4 + kChunkHeader) ThrowCorrupt("WebP: the RIFF size " + std::to_string(riff_size) + " is too small");
  if (riff_end > bytes.size()) {
    ThrowCorrupt("WebP truncated: the RIFF header claims " + std::to_string(riff_end) + " bytes, only " +
                 std::to_string(bytes.size()) + " are present");
  }
  Chunk first;
  ReadChunk(bytes, kRiffHeader, riff_end, true, &first);
  const bool extended = first.code == "VP8X";
  if (extended && first.data.size() < 10) ThrowCorrupt("WebP: the VP8X chunk is cut short");
  bool image_seen = false;
  Chunk chunk = first;
  while (true) {
    if (!image_seen && (chunk.code == "VP8 " || chunk.code == "VP8L")) {
      image_seen = true;
      const FrameSize size = chunk.code == "VP8 " ? ParseVp8(chunk.data) : ParseVp8l(chunk.data);
      // The canvas is what the pixel limit was checked against: the image
      // in it must be that size (libwebp agrees, but this is cheap).
      const int canvas_width = extended ? static_cast<int>(Le24(first.data, 4) + 1) : size.width;
      const int canvas_height = extended ? static_cast<int>(Le24(first.data, 7) + 1) : size.height;
      if (size.width != canvas_width || size.height != canvas_height) {
        ThrowCorrupt("WebP: the canvas is " + std::to_string(canvas_width) + "x" + std::to_string(canvas_height) +
                     " but its image is " + std::to_string(size.width) + "x" + std::to_string(size.height));
      }
    }
    // Each chunk moves on by at least its 8-byte header.
    if (chunk.next >= riff_end) break;
    ReadChunk(bytes, chunk.next, riff_end, true, &chunk);
  }
  if (!image_seen) ThrowCorrupt("WebP: no image data (VP8 or VP8L chunk)");
}

}  // namespace jobqueue::images::detail
