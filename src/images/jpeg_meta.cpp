// JPEG: a walk over marker segments from SOI. Every segment but the
// standalone markers (SOI, EOI, RSTn, TEM) is FF, code, a 16-bit big-endian
// length that counts itself, then the payload. After an SOS segment comes
// entropy-coded data, in which a literal FF is stuffed as FF00 and RSTn
// markers may appear; it ends at the next other marker.
//
// Bytes after the first EOI that follows a scan are ignored, never parsed:
// decoders stop there too, and phones append real data after it (the MPF
// secondary images of multi-picture files, Motion Photo videos).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "images/meta_readers.hpp"

namespace jobqueue::images::detail {
namespace {

constexpr std::uint32_t kSoi = 0xD8;
constexpr std::uint32_t kEoi = 0xD9;
constexpr std::uint32_t kSos = 0xDA;
constexpr std::uint32_t kApp1 = 0xE1;
constexpr std::uint32_t kTem = 0x01;

// SOF0..SOF15 without DHT (C4), JPG (C8) and DAC (CC).
bool IsFrameHeader(std::uint32_t code) {
  return code >= 0xC0 && code <= 0xCF && code != 0xC4 && code != 0xC8 && code != 0xCC;
}
bool IsProgressive(std::uint32_t code) { return code == 0xC2 || code == 0xC6 || code == 0xCA || code == 0xCE; }
bool IsLossless(std::uint32_t code) { return code == 0xC3 || code == 0xC7 || code == 0xCB || code == 0xCF; }
bool IsRestart(std::uint32_t code) { return code >= 0xD0 && code <= 0xD7; }

std::string MarkerName(std::uint32_t code) {
  char name[8];
  std::snprintf(name, sizeof name, "FF%02X", static_cast<unsigned>(code));
  return name;
}

std::string ByteName(std::uint32_t byte) {
  char name[8];
  std::snprintf(name, sizeof name, "0x%02X", static_cast<unsigned>(byte));
  return name;
}

struct Marker {
  std::uint32_t code = 0;
  std::size_t offset = 0;  // of the FF (the first fill byte, if any)
  std::size_t after = 0;   // just past the code byte
};

// The marker starting at `at` (FF, optional FF fill bytes, code), or nullopt
// when the bytes end first. Anything else at `at` is corrupt: this walk never
// guesses its way past junk.
std::optional<Marker> NextMarker(std::string_view bytes, std::size_t at) {
  if (at >= bytes.size()) return std::nullopt;
  if (Byte(bytes, at) != 0xFF) {
    ThrowCorrupt("JPEG: expected a marker at offset " + std::to_string(at) + ", found byte " +
                 ByteName(Byte(bytes, at)));
  }
  std::size_t p = at;
  while (p < bytes.size() && Byte(bytes, p) == 0xFF) ++p;
  if (p >= bytes.size()) return std::nullopt;
  const std::uint32_t code = Byte(bytes, p);
  if (code == 0x00) ThrowCorrupt("JPEG: stuffed byte FF00 outside scan data at offset " + std::to_string(p - 1));
  return Marker{code, at, p + 1};
}

bool IsStandalone(std::uint32_t code) { return code == kSoi || code == kEoi || code == kTem || IsRestart(code); }

// The payload of the length-prefixed segment `marker` starts; `what` begins
// the message when the segment runs past the bytes ("JPEG truncated",
// "JPEG header cut short").
std::string_view SegmentPayload(std::string_view bytes, const Marker& marker, const char* what) {
  const std::string name = MarkerName(marker.code);
  if (bytes.size() - marker.after < 2) {
    ThrowCorrupt(std::string(what) + ": segment " + name + " at offset " + std::to_string(marker.offset) +
                 " has no length");
  }
  const std::size_t length = Be16(bytes, marker.after);
  if (length < 2) {
    ThrowCorrupt("JPEG: segment " + name + " at offset " + std::to_string(marker.offset) +
                 " has an impossible length " + std::to_string(length));
  }
  const std::size_t remaining = bytes.size() - marker.after;
  if (length > remaining) {
    ThrowCorrupt(std::string(what) + ": segment " + name + " at offset " + std::to_string(marker.offset) +
                 " claims " + std::to_string(length) + " bytes, only " + std::to_string(remaining) + " remain");
  }
  return bytes.substr(marker.after + 2, length - 2);
}

ImageMeta ParseFrameHeader(std::uint32_t code, std::string_view sof, std::size_t offset) {
  const std::string where = "JPEG frame header " + MarkerName(code) + " at offset " + std::to_string(offset);
  if (sof.size() < 6) ThrowCorrupt(where + " is " + std::to_string(sof.size()) + " bytes, too short");
  const std::uint32_t precision = Byte(sof, 0);
  const std::uint32_t height = Be16(sof, 1);
  const std::uint32_t width = Be16(sof, 3);
  const std::uint32_t components = Byte(sof, 5);
  if (sof.size() < 6 + 3 * std::size_t{components}) {
    ThrowCorrupt(where + " lists " + std::to_string(components) + " components in " + std::to_string(sof.size()) +
                 " bytes");
  }
  if (components != 1 && components != 3 && components != 4) {
    ThrowCorrupt(where + " has " + std::to_string(components) + " components (1, 3 or 4 are accepted)");
  }
  const bool precision_ok = IsLossless(code) ? precision >= 2 && precision <= 16 : precision == 8 || precision == 12;
  if (!precision_ok) ThrowCorrupt(where + " has an impossible sample precision of " + std::to_string(precision) + " bits");
  if (width == 0) ThrowCorrupt(where + " gives a zero width");
  // Height 0 defers the height to a DNL marker after the first scan: legal
  // but so rare that it is far likelier a lie, and it defeats the pixel limit.
  if (height == 0) ThrowCorrupt(where + " gives a zero height (a height set later by a DNL marker is not accepted)");
  ImageMeta meta;
  meta.format = ImageFormat::kJpeg;
  meta.width = static_cast<int>(width);
  meta.height = static_cast<int>(height);
  meta.bit_depth = static_cast<int>(precision);
  meta.channels = static_cast<int>(components);
  meta.cmyk = components == 4;
  meta.progressive = IsProgressive(code);
  return meta;
}

void RequireSoi(std::string_view bytes) {
  if (bytes.size() < 2 || Be16(bytes, 0) != 0xFFD8) ThrowCorrupt("JPEG: no start-of-image marker (FFD8)");
}

// The end of the entropy-coded data starting at `at`: the offset of the next
// marker that is not a stuffed FF00 or RSTn. `data_bytes` counts the data.
std::size_t SkipEntropyCodedData(std::string_view bytes, std::size_t at, std::size_t* data_bytes) {
  std::size_t p = at;
  while (true) {
    if (p >= bytes.size() || (Byte(bytes, p) == 0xFF && p + 1 >= bytes.size())) {
      ThrowCorrupt("JPEG truncated: no end-of-image marker (FFD9) after the scan data");
    }
    if (Byte(bytes, p) != 0xFF) {
      ++p;
      ++*data_bytes;
      continue;
    }
    const std::uint32_t next = Byte(bytes, p + 1);
    if (next == 0x00) {
      p += 2;
      ++*data_bytes;
    } else if (IsRestart(next)) {
      p += 2;
    } else if (next == 0xFF) {
      ++p;  // a fill byte before a marker
    } else {
      return p;
    }
  }
}

}  // namespace

ImageMeta ReadJpegMeta(std::string_view bytes) {
  RequireSoi(bytes);
  int orientation = 1;
  bool exif_seen = false;
  std::size_t pos = 2;
  while (true) {
    const std::optional<Marker> marker = NextMarker(bytes, pos);
    if (!marker) {
      ThrowCorrupt("JPEG header cut short: no frame header (SOF) in its " + std::to_string(bytes.size()) + " bytes");
    }
    if (marker->code == kSos) ThrowCorrupt("JPEG: a scan (SOS) before the frame header (SOF)");
    if (marker->code == kSoi || marker->code == kEoi) {
      ThrowCorrupt("JPEG: marker " + MarkerName(marker->code) + " at offset " + std::to_string(marker->offset) +
                   " before the frame header (SOF)");
    }
    if (IsStandalone(marker->code)) {
      pos = marker->after;
      continue;
    }
    const std::string_view payload = SegmentPayload(bytes, *marker, "JPEG header cut short");
    if (marker->code == kApp1 && !exif_seen && payload.substr(0, 6) == std::string_view("Exif\0\0", 6)) {
      orientation = ReadExifOrientation(payload);
      exif_seen = true;
    }
    if (IsFrameHeader(marker->code)) {
      ImageMeta meta = ParseFrameHeader(marker->code, payload, marker->offset);
      meta.orientation = orientation;
      return meta;
    }
    pos = marker->after + 2 + payload.size();
  }
}

void CheckJpegStructure(std::string_view bytes) {
  RequireSoi(bytes);
  bool frame_seen = false;
  int scans = 0;
  std::size_t data_bytes = 0;
  std::size_t pos = 2;
  while (true) {
    const std::optional<Marker> marker = NextMarker(bytes, pos);
    if (!marker) {
      ThrowCorrupt(scans == 0 ? "JPEG truncated before its first scan (SOS)"
                              : "JPEG truncated: no end-of-image marker (FFD9) after the scan data");
    }
    const std::string where = " at offset " + std::to_string(marker->offset);
    if (marker->code == kEoi) {
      if (!frame_seen) ThrowCorrupt("JPEG ends (FFD9)" + where + " without a frame header (SOF)");
      if (scans == 0) ThrowCorrupt("JPEG ends (FFD9)" + where + " without a scan (SOS)");
      if (data_bytes == 0) ThrowCorrupt("JPEG ends (FFD9)" + where + " without any entropy-coded data");
      return;
    }
    if (marker->code == kSoi) ThrowCorrupt("JPEG: a second start-of-image marker (FFD8)" + where);
    if (IsStandalone(marker->code)) {
      pos = marker->after;
      continue;
    }
    const std::string_view payload = SegmentPayload(bytes, *marker, "JPEG truncated");
    pos = marker->after + 2 + payload.size();
    if (IsFrameHeader(marker->code)) {
      // libjpeg refuses a second frame too; refusing it here keeps the pixel
      // limit checked against the one frame there is.
      if (frame_seen) ThrowCorrupt("JPEG: a second frame header " + MarkerName(marker->code) + where);
      ParseFrameHeader(marker->code, payload, marker->offset);
      frame_seen = true;
    } else if (marker->code == kSos) {
      if (!frame_seen) ThrowCorrupt("JPEG: a scan (SOS)" + where + " before the frame header (SOF)");
      const std::size_t components = payload.empty() ? 0 : Byte(payload, 0);
      if (components < 1 || components > 4 || payload.size() != 1 + 2 * components + 3) {
        ThrowCorrupt("JPEG: malformed scan header (SOS)" + where);
      }
      pos = SkipEntropyCodedData(bytes, pos, &data_bytes);
      ++scans;
    }
  }
}

}  // namespace jobqueue::images::detail
