#pragma once
// ImageError: why an image could not be taken or processed. The code picks
// the HTTP status at the API and tells the worker that retrying is useless
// (every ImageError is a permanent failure of the job).
#include <stdexcept>
#include <string>

namespace jobqueue::images {

enum class ImageErrorCode {
  kUnsupportedFormat,  // not JPEG, PNG or WebP by magic bytes (API: 415)
  kTooLarge,           // more pixels than allowed, or a side beyond a codec's limit (API: 413)
  kCorrupt,            // a header or structure that lies: truncated, bad chunk lengths (API: 422)
  kInvalidOps,         // an `ops` string or array that does not parse (API: 400, field "ops")
  kProcessing,         // the codec refused the image after the checks (API: 422)
};

class ImageError : public std::runtime_error {
 public:
  ImageError(ImageErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ImageErrorCode code() const { return code_; }

 private:
  ImageErrorCode code_;
};

}  // namespace jobqueue::images
