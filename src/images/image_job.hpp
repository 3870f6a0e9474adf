#pragma once
// What an image job's payload asks for, read in one place for the API (which
// refuses a bad payload with 400 before enqueueing) and the worker (which
// fails it permanently). Pure JSON, no OpenCV.
//
// Kinds and their payload keys (every kind also takes `image_url`, `format`
// and `quality`; without `image_url` the job reads the input stored by
// POST /v1/images, /upload):
//   image.thumbnail  width, height (1..8192, default 256), crop (bool, false)
//   image.blur       sigma (0.1..100, default 3)
//   image.grayscale  (nothing else)
//   image.pipeline   ops: the op language, a string or an array (ops.hpp)
// The routes also record `filename` and `effects` for the record; any other
// key is refused, naming it.
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "images/ops.hpp"

namespace jobqueue::images {

struct ImageJobSpec {
  OpList ops;                            // everything to do, format and quality included
  std::optional<std::string> image_url;  // fetch the input from here (else: the stored input)
};

// True for image.thumbnail, image.blur, image.grayscale, image.pipeline.
bool IsImageKind(const std::string& kind);

// Throws ImageError kInvalidOps whose message names the payload field
// ("payload.sigma: must be a number within 0.1..100").
ImageJobSpec ParseImageJob(const std::string& kind, const nlohmann::json& payload);

}  // namespace jobqueue::images
