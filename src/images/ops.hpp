#pragma once
// The one operation language of every image route and kind, parsed here and
// nowhere else. Text form: comma-separated ops, e.g.
//   thumbnail:256x256,blur:3,grayscale
// JSON form: the same ops as an array of strings,
//   ["thumbnail:256x256", "blur:3", "grayscale"]
// Ops:
//   thumbnail:WxH       fit inside W x H keeping the aspect ratio; never enlarges
//   thumbnail:WxH:crop  fill W x H, centre-cropped (never enlarges either)
//   blur:S              Gaussian blur, S = sigma in pixels, 0.1 .. 100
//   grayscale           one channel (alpha, if any, is kept)
//   rotate:D            D = 90, 180 or 270, clockwise
//   format:F            output format: jpeg, png, webp (default: the input's)
//   quality:Q           1 .. 100, for jpeg and webp (default 85; webp with a
//                       quality is lossy)
// Bounds: W and H 1 .. 8192; at most 16 ops; format and quality at most once
// each. Numbers are plain digits (no sign, exponent or leading zero; sigma
// may have a fraction, "0.5"). Spaces and tabs around an op (around the
// commas) are ignored; an empty op ("blur:3,,grayscale") is an error. Image ops run in the order given; format and quality apply at encode
// wherever they stand. Pure parsing, no OpenCV; fuzzed (fuzz/ops_fuzz.cpp).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "images/image_format.hpp"

namespace jobqueue::images {

constexpr int kMaxThumbnailSide = 8192;
constexpr int kMaxOps = 16;
constexpr double kMinBlurSigma = 0.1;
constexpr double kMaxBlurSigma = 100;
constexpr int kDefaultQuality = 85;

struct Op {
  enum class Kind { kThumbnail, kBlur, kGrayscale, kRotate };
  Kind kind = Kind::kGrayscale;
  int width = 0;        // thumbnail
  int height = 0;       // thumbnail
  bool crop = false;    // thumbnail:WxH:crop
  double sigma = 0;     // blur
  int degrees = 0;      // rotate: 90, 180, 270

  // Canonical text of this op ("thumbnail:256x256:crop", "blur:3").
  std::string ToString() const;
  bool operator==(const Op& other) const;
};

struct OpList {
  std::vector<Op> ops;                 // image ops, in order
  std::optional<ImageFormat> format;   // format:F
  std::optional<int> quality;          // quality:Q

  // Canonical text of every op, image ops first in order, then format and
  // quality: parses back to an equal OpList.
  std::string ToString() const;
  // The same as a JSON array of op strings.
  nlohmann::json ToJson() const;
  bool empty() const { return ops.empty() && !format && !quality; }
};

// Parses the text form. Throws ImageError kInvalidOps whose message names
// the bad op and why ("op 2 'blur:500': sigma must be within 0.1..100").
// An empty string is an empty list.
OpList ParseOps(std::string_view text);
// The same for a std::string or a literal, which would otherwise be
// ambiguous between the string_view and the json overloads.
inline OpList ParseOps(const std::string& text) { return ParseOps(std::string_view(text)); }
inline OpList ParseOps(const char* text) { return ParseOps(std::string_view(text)); }

// Parses a JSON string (the text form) or array of op strings. Throws
// ImageError kInvalidOps for anything else.
OpList ParseOps(const nlohmann::json& value);

// Seed 003's `effects`: comma-separated `bw` (grayscale) and `blur` (sigma
// 3), order kept, e.g. "bw,blur". Throws ImageError kInvalidOps naming an
// unknown effect. `names` receives the effects as given, for the answer's
// applied_effects.
OpList ParseEffects(std::string_view text, std::vector<std::string>* names = nullptr);

}  // namespace jobqueue::images
