// PNG: the 8-byte signature, then chunks of a 32-bit big-endian length, a
// four-letter type, the data and a CRC. IHDR comes first and holds the
// size and pixel format; tRNS (before IDAT) adds alpha.
//
// The structure check exists for one lie above all: libpng allocates a
// tEXt/zTXt/iTXt/iCCP chunk's declared length before reading it, so a 57-byte
// file claiming a 1 GB chunk costs 1 GB. Every chunk must fit in the bytes
// present. CRCs are not checked: libpng already refuses a bad CRC on a
// critical chunk and discards an ancillary chunk with one, and a CRC would
// not help against the allocation (it comes after the data). Bytes after
// IEND are ignored, as libpng ignores them.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "images/meta_readers.hpp"

namespace jobqueue::images::detail {
namespace {

constexpr std::string_view kSignature("\x89PNG\r\n\x1a\n", 8);
constexpr std::size_t kChunkOverhead = 12;  // length, type, CRC
constexpr std::uint32_t kMaxLength = 0x7FFFFFFF;

bool IsChunkType(std::string_view type) {
  for (char c : type) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) return false;
  }
  return type.size() == 4;
}

bool ValidDepth(std::uint32_t colour_type, std::uint32_t depth) {
  switch (colour_type) {
    case 0:  // gray
      return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
    case 3:  // palette
      return depth == 1 || depth == 2 || depth == 4 || depth == 8;
    case 2:  // RGB
    case 4:  // gray + alpha
    case 6:  // RGBA
      return depth == 8 || depth == 16;
    default:
      return false;
  }
}

struct Chunk {
  std::string_view type;
  std::size_t offset = 0;  // of its length field
  std::size_t length = 0;  // of its data
  std::size_t end = 0;     // past its CRC
};

// Reads the chunk at `at` into `chunk`. Returns false when it does not fit
// in the bytes (a header cut short, a bad type, a length over 2^31-1 or past
// the end); with `strict` those throw instead, naming the chunk.
bool ReadChunk(std::string_view bytes, std::size_t at, bool strict, Chunk* chunk) {
  const std::string where = " at offset " + std::to_string(at);
  if (at > bytes.size() || bytes.size() - at < 8) {
    if (!strict) return false;
    ThrowCorrupt(at == bytes.size() ? "PNG truncated: no IEND chunk"
                                    : "PNG truncated: a chunk header" + where + " is cut short");
  }
  chunk->type = bytes.substr(at + 4, 4);
  chunk->offset = at;
  const std::uint32_t length = Be32(bytes, at);
  if (!IsChunkType(chunk->type)) {
    if (!strict) return false;
    ThrowCorrupt("PNG: not a chunk type" + where);
  }
  const std::string name = "PNG chunk '" + std::string(chunk->type) + "'" + where;
  if (length > kMaxLength) {
    if (!strict) return false;
    ThrowCorrupt(name + " claims " + std::to_string(length) + " bytes (at most 2^31-1 are allowed)");
  }
  const std::size_t remaining = bytes.size() - at;
  if (std::size_t{length} + kChunkOverhead > remaining) {
    if (!strict) return false;
    ThrowCorrupt("PNG truncated: chunk '" + std::string(chunk->type) + "'" + where + " claims " +
                 std::to_string(length) + " bytes, only " + std::to_string(remaining - kChunkOverhead) +
                 " remain");
  }
  chunk->length = length;
  chunk->end = at + kChunkOverhead + length;
  return true;
}

void RequireSignature(std::string_view bytes) {
  if (bytes.substr(0, kSignature.size()) != kSignature) ThrowCorrupt("PNG: no PNG signature");
}

}  // namespace

ImageMeta ReadPngMeta(std::string_view bytes) {
  RequireSignature(bytes);
  constexpr std::size_t kIhdrData = 16;
  if (bytes.size() < kIhdrData + 13) ThrowCorrupt("PNG header cut short: no complete IHDR chunk");
  if (Be32(bytes, 8) != 13 || bytes.substr(12, 4) != "IHDR") ThrowCorrupt("PNG: the first chunk is not a 13-byte IHDR");
  const std::uint32_t width = Be32(bytes, kIhdrData);
  const std::uint32_t height = Be32(bytes, kIhdrData + 4);
  const std::uint32_t depth = Byte(bytes, kIhdrData + 8);
  const std::uint32_t colour_type = Byte(bytes, kIhdrData + 9);
  const std::uint32_t compression = Byte(bytes, kIhdrData + 10);
  const std::uint32_t filter = Byte(bytes, kIhdrData + 11);
  const std::uint32_t interlace = Byte(bytes, kIhdrData + 12);
  if (width == 0 || height == 0 || width > kMaxLength || height > kMaxLength) {
    ThrowCorrupt("PNG: impossible size " + std::to_string(width) + "x" + std::to_string(height) +
                 " (each side must be 1..2^31-1)");
  }
  if (!ValidDepth(colour_type, depth)) {
    ThrowCorrupt("PNG: impossible bit depth " + std::to_string(depth) + " for colour type " +
                 std::to_string(colour_type));
  }
  if (compression != 0 || filter != 0 || interlace > 1) {
    ThrowCorrupt("PNG: unknown compression, filter or interlace method in IHDR");
  }

  // tRNS must come before the first IDAT: walk the chunk headers up to it.
  // A chunk that does not fit just ends the walk; CheckStructure reports it.
  bool transparency = false;
  std::size_t pos = kIhdrData + 13 + 4;
  Chunk chunk;
  while (ReadChunk(bytes, pos, false, &chunk)) {
    if (chunk.type == "IDAT" || chunk.type == "IEND") break;
    if (chunk.type == "tRNS") transparency = true;
    pos = chunk.end;
  }

  ImageMeta meta;
  meta.format = ImageFormat::kPng;
  meta.width = static_cast<int>(width);
  meta.height = static_cast<int>(height);
  meta.bit_depth = static_cast<int>(depth);
  meta.progressive = interlace == 1;
  meta.has_alpha = colour_type == 4 || colour_type == 6 || transparency;
  // Channels once decoded: a palette expands to colour, tRNS adds alpha.
  const int colour_channels = colour_type == 0 || colour_type == 4 ? 1 : 3;
  meta.channels = colour_channels + (meta.has_alpha ? 1 : 0);
  return meta;
}

void CheckPngStructure(std::string_view bytes) {
  RequireSignature(bytes);
  bool ihdr_seen = false;
  bool idat_seen = false;
  std::size_t pos = kSignature.size();
  Chunk chunk;
  while (true) {
    ReadChunk(bytes, pos, true, &chunk);
    const std::string where = " at offset " + std::to_string(pos);
    if (chunk.type == "IHDR") {
      if (ihdr_seen) ThrowCorrupt("PNG: a second IHDR chunk" + where);
      ihdr_seen = true;
    } else if (!ihdr_seen) {
      ThrowCorrupt("PNG: the first chunk is '" + std::string(chunk.type) + "', not IHDR");
    } else if (chunk.type == "IDAT") {
      idat_seen = true;
    } else if (chunk.type == "IEND") {
      if (!idat_seen) ThrowCorrupt("PNG: no image data (IDAT) before IEND");
      return;
    }
    pos = chunk.end;
  }
}

}  // namespace jobqueue::images::detail
