#pragma once
// Images generated for the tests: small, deterministic, made in memory in a
// few milliseconds. OpenCV encodes the ordinary ones; the PNG variants
// OpenCV cannot write (palette, 1-4 bit gray, interlaced) and the hostile
// files are written byte by byte. Every function returns the encoded file.
// Shared by the image, database, API and worker tests.
#include <cstdint>
#include <string>
#include <string_view>

namespace jobqueue::testing {

// --- Ordinary inputs --------------------------------------------------------

// Colour gradients: blue grows left to right, green top to bottom, red is
// their mix. Baseline (or progressive) JPEG, 4:2:0, at `quality`.
std::string GradientJpeg(int width, int height, int quality = 90, bool progressive = false);
std::string GradientPng(int width, int height);
// One-component (grayscale) JPEG with a horizontal gradient.
std::string GrayJpeg(int width, int height);
// RGBA PNG: the left half fully transparent (colour black), the right half
// opaque kAlphaPngColor.
std::string AlphaPng(int width, int height);
// 16-bit RGB PNG with mid-range samples (a JPEG of it must not be white):
// blue 0..65535 left to right, green 0..65535 top to bottom, red 32768.
std::string Png16(int width, int height);
// High-frequency 1-pixel black and white checkerboard (for blur tests).
std::string CheckerboardPng(int width, int height);
// Black text on white, as a PNG.
std::string TextImage(int width, int height, const std::string& text = "jobqueue");
// WebP: lossy (VP8, quality 80), lossless (VP8L) and lossy with alpha
// (VP8X + ALPH + VP8; same left-transparent pattern as AlphaPng).
std::string WebpLossy(int width, int height);
std::string WebpLossless(int width, int height);
std::string WebpAlpha(int width, int height);

// BGR of AlphaPng's opaque half.
constexpr std::uint8_t kAlphaPngColor[3] = {200, 100, 50};

// --- Hand-written PNG variants (OpenCV cannot write these) ------------------

// Colour type 3 with a 4-entry palette (red, green, blue, white) in 8x8
// blocks; `transparent` adds a tRNS chunk making palette entry 0 (red)
// fully transparent; `interlaced` uses Adam7.
std::string PalettePng(int width, int height, bool transparent = false, bool interlaced = false);
// Grayscale PNG of bit depth 1, 2, 4, 8 or 16 (a horizontal ramp).
std::string GrayPng(int width, int height, int bit_depth, bool interlaced = false);
// 8-bit RGB, Adam7-interlaced gradient.
std::string InterlacedPng(int width, int height);
// One PNG chunk: length, type, data and CRC32.
std::string PngChunk(std::string_view type, std::string_view data);

// --- EXIF orientation -------------------------------------------------------

struct ExifOptions {
  bool little_endian = false;  // "II" TIFF header instead of "MM"
  bool gps = false;            // add a GPS IFD (latitude 48.8583 N)
};

// A JPEG that displays as a `width` x `height` image with four quadrants,
// red top-left, green top-right, blue bottom-left, white bottom-right,
// once its EXIF `orientation` (1..8) is applied: the pixels are stored
// transformed accordingly (sideways for 5..8, so stored width = `height`).
// The APP1 segment sits right after SOI and holds Make "TestCam", the
// Orientation and, with options.gps, a GPSInfo IFD.
std::string JpegWithOrientation(int width, int height, int orientation, ExifOptions options = {});

// --- Hostile inputs ---------------------------------------------------------

// 57 bytes: signature, a valid 1x1 IHDR, then a tEXt chunk declaring
// 1 GiB of which 16 bytes are present (libpng would allocate the 1 GiB).
std::string LyingTextChunkPng();
// A PNG whose IHDR claims `width` x `height` RGB pixels, with a tiny IDAT
// and IEND: a decompression bomb if a decoder believed it.
std::string PixelBombPng(std::uint32_t width, std::uint32_t height);
// GradientJpeg(64, 64) with its SOF0 frame header patched to claim
// `width` x `height`.
std::string PixelBombJpeg(std::uint16_t width, std::uint16_t height);

}  // namespace jobqueue::testing
