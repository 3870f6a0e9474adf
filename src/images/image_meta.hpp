#pragma once
// Header readers: what an image is (format, size, orientation) from its
// first bytes, without decoding it, and a structure check that walks the
// whole file for the lies decoders do not catch. One reader per format
// (jpeg_meta.cpp, png_meta.cpp, webp_meta.cpp, exif.cpp); this file picks
// the reader by magic bytes. Pure byte parsing: no OpenCV, fuzzed
// (fuzz/image_meta_fuzz.cpp). Every function is bounded by the input's size
// in time and allocates nothing proportional to what a header claims.
#include <cstdint>
#include <optional>
#include <string_view>

#include "images/image_error.hpp"
#include "images/image_format.hpp"

namespace jobqueue::images {

struct ImageMeta {
  ImageFormat format = ImageFormat::kJpeg;
  int width = 0;          // as stored, before EXIF orientation
  int height = 0;
  int orientation = 1;    // EXIF orientation 1..8 (1: upright; JPEG and WebP EXIF only)
  bool has_alpha = false; // PNG colour types 4/6 or tRNS, WebP with alpha
  int bit_depth = 8;      // PNG: 1, 2, 4, 8 or 16; JPEG: 8 or 12; WebP: 8
  int channels = 3;       // as stored: 1 gray, 2 gray+alpha, 3 colour, 4 colour+alpha or CMYK
  bool progressive = false;  // JPEG SOF2, PNG interlaced
  bool cmyk = false;         // JPEG with 4 components

  std::int64_t pixels() const { return static_cast<std::int64_t>(width) * height; }
};

// The format by magic bytes only; nullopt for anything else (GIF, TIFF, BMP,
// SVG, text, empty).
std::optional<ImageFormat> SniffFormat(std::string_view bytes);

// Reads format, dimensions, orientation and alpha from the header. Throws
// ImageError: kUnsupportedFormat (not JPEG/PNG/WebP), kCorrupt (header cut
// short or impossible, e.g. a zero width). Cheap: reads only up to the
// frame header (JPEG SOFn, PNG IHDR, WebP VP8/VP8L/VP8X), plus the EXIF
// APP1 segment of a JPEG or the EXIF chunk of a WebP if it comes first.
ImageMeta ReadImageMeta(std::string_view bytes);

// ReadImageMeta plus the pixel limit: throws ImageError kTooLarge when
// width * height > max_pixels (or a side is above 65535).
ImageMeta ReadImageMetaWithin(std::string_view bytes, std::int64_t max_pixels);

// Walks the whole file and throws ImageError kCorrupt naming what is wrong
// when the structure lies, before any decoder sees it:
//   JPEG: every marker segment's length within the file; a frame header and
//         at least one scan (SOS) with entropy-coded data; the file ends with
//         EOI (FFD9) after the last scan (a truncated JPEG decodes
//         "successfully" in OpenCV, repeating its last row).
//   PNG:  every chunk's declared length within the bytes present (libpng
//         allocates a text or iCCP chunk's declared length first), IHDR
//         first, at least one IDAT, IEND last.
//   WebP: the RIFF size consistent with the bytes present, every chunk
//         within it.
void CheckStructure(std::string_view bytes, const ImageMeta& meta);

}  // namespace jobqueue::images
