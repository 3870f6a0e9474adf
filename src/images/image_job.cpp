#include "images/image_job.hpp"

#include <set>

#include "images/image_error.hpp"

namespace jobqueue::images {
namespace {

[[noreturn]] void Invalid(const std::string& message) { throw ImageError(ImageErrorCode::kInvalidOps, message); }

int IntField(const nlohmann::json& payload, const char* name, int fallback) {
  const auto it = payload.find(name);
  if (it == payload.end()) return fallback;
  if (!it->is_number_integer()) Invalid(std::string("payload.") + name + ": must be an integer");
  const auto value = it->get<std::int64_t>();
  if (value < 1 || value > kMaxThumbnailSide) {
    Invalid(std::string("payload.") + name + ": must be within 1.." + std::to_string(kMaxThumbnailSide));
  }
  return static_cast<int>(value);
}

// Re-parses `text` so that bounds and messages are the op language's own.
Op OneOp(const std::string& text, const char* field) {
  try {
    const auto list = ParseOps(text);
    return list.ops.at(0);
  } catch (const ImageError& e) {
    Invalid(std::string("payload.") + field + ": " + e.what());
  }
}

}  // namespace

bool IsImageKind(const std::string& kind) {
  return kind == "image.thumbnail" || kind == "image.blur" || kind == "image.grayscale" ||
         kind == "image.pipeline";
}

ImageJobSpec ParseImageJob(const std::string& kind, const nlohmann::json& payload) {
  if (!IsImageKind(kind)) Invalid("kind '" + kind + "' is not an image kind");
  if (!payload.is_object()) Invalid("payload: must be an object");
  static const std::set<std::string> kCommon = {"image_url", "format", "quality", "filename", "effects"};
  std::set<std::string> allowed = kCommon;
  if (kind == "image.thumbnail") allowed.insert({"width", "height", "crop"});
  if (kind == "image.blur") allowed.insert("sigma");
  if (kind == "image.pipeline") allowed.insert("ops");
  for (const auto& item : payload.items()) {
    if (!allowed.count(item.key())) {
      Invalid("payload." + item.key().substr(0, 64) + ": unknown field for kind " + kind);
    }
  }

  ImageJobSpec spec;
  if (kind == "image.pipeline") {
    const auto it = payload.find("ops");
    if (it == payload.end()) Invalid("payload.ops: required for image.pipeline");
    try {
      spec.ops = ParseOps(*it);
    } catch (const ImageError& e) {
      Invalid(std::string("payload.ops: ") + e.what());
    }
  } else if (kind == "image.thumbnail") {
    const int width = IntField(payload, "width", 256);
    const int height = IntField(payload, "height", 256);
    bool crop = false;
    if (payload.contains("crop")) {
      if (!payload["crop"].is_boolean()) Invalid("payload.crop: must be true or false");
      crop = payload["crop"].get<bool>();
    }
    spec.ops.ops.push_back(OneOp("thumbnail:" + std::to_string(width) + "x" + std::to_string(height) +
                                     (crop ? ":crop" : ""),
                                 "width"));
  } else if (kind == "image.blur") {
    double sigma = 3;
    if (payload.contains("sigma")) {
      if (!payload["sigma"].is_number()) Invalid("payload.sigma: must be a number");
      sigma = payload["sigma"].get<double>();
    }
    if (!(sigma >= kMinBlurSigma && sigma <= kMaxBlurSigma)) {
      Invalid("payload.sigma: must be within 0.1..100");
    }
    Op op;
    op.kind = Op::Kind::kBlur;
    op.sigma = sigma;
    spec.ops.ops.push_back(op);
  } else {
    Op op;
    op.kind = Op::Kind::kGrayscale;
    spec.ops.ops.push_back(op);
  }

  if (payload.contains("format")) {
    const auto& f = payload["format"];
    const auto format = f.is_string() ? ParseFormatName(f.get<std::string>()) : std::nullopt;
    if (!format) Invalid("payload.format: must be \"jpeg\", \"png\" or \"webp\"");
    if (spec.ops.format && *spec.ops.format != *format) Invalid("payload.format: conflicts with the format op");
    spec.ops.format = format;
  }
  if (payload.contains("quality")) {
    const auto& q = payload["quality"];
    if (!q.is_number_integer() || q.get<std::int64_t>() < 1 || q.get<std::int64_t>() > 100) {
      Invalid("payload.quality: must be an integer within 1..100");
    }
    spec.ops.quality = static_cast<int>(q.get<std::int64_t>());
  }
  if (payload.contains("image_url")) {
    const auto& u = payload["image_url"];
    if (!u.is_string() || u.get_ref<const std::string&>().empty()) {
      Invalid("payload.image_url: must be a non-empty string");
    }
    spec.image_url = u.get<std::string>();
  }
  return spec;
}

}  // namespace jobqueue::images
