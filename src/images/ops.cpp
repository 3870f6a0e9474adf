// The ops language (ops.hpp), parsed strictly: whole numbers are digits
// only (no sign, no exponent, no leading zero), sigma is digits with an
// optional fraction ("2", "0.5"), and nothing may trail an op. Spaces and
// tabs around an op are ignored; nothing else is.
#include "images/ops.hpp"

#include <charconv>
#include <string>
#include <system_error>

#include "images/image_error.hpp"

namespace jobqueue::images {
namespace {

[[noreturn]] void ThrowInvalid(const std::string& message) {
  throw ImageError(ImageErrorCode::kInvalidOps, message);
}

// An op as given, quoted for a message: bounded, and printable ASCII only
// (a message may end up in JSON, which needs valid UTF-8).
std::string Quote(std::string_view text) {
  constexpr std::size_t kMaxQuoted = 40;
  std::string quoted = "'";
  for (std::size_t i = 0; i < text.size() && i < kMaxQuoted; ++i) {
    const char c = text[i];
    quoted += c >= 0x20 && c <= 0x7E ? c : '?';
  }
  if (text.size() > kMaxQuoted) quoted += "...";
  return quoted + "'";
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool AllDigits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// The shortest fixed-notation text that parses back to `value`.
std::string FormatNumber(double value) {
  char buffer[64];
  const std::to_chars_result result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed);
  return std::string(buffer, result.ptr);
}

// Parses the ops of one list, remembering the position of each for messages.
class OpParser {
 public:
  explicit OpParser(OpList* list) : list_(list) {}

  void Parse(std::string_view op) {
    ++index_;
    op_ = op;
    if (index_ > kMaxOps) ThrowInvalid("at most " + std::to_string(kMaxOps) + " ops are allowed");
    if (op.empty()) ThrowInvalid("op " + std::to_string(index_) + " is empty");
    const std::size_t colon = op.find(':');
    const std::string_view name = op.substr(0, colon);
    const std::string_view args = colon == std::string_view::npos ? std::string_view() : op.substr(colon + 1);
    const bool has_args = colon != std::string_view::npos;
    if (name == "thumbnail") {
      if (!has_args) Fail("thumbnail needs a size, e.g. thumbnail:256x256");
      ParseThumbnail(args);
    } else if (name == "blur") {
      if (!has_args) Fail("blur needs a sigma, e.g. blur:3");
      Op blur;
      blur.kind = Op::Kind::kBlur;
      blur.sigma = ParseSigma(args);
      list_->ops.push_back(blur);
    } else if (name == "grayscale") {
      if (has_args) Fail("grayscale takes no argument");
      list_->ops.push_back(Op{});
    } else if (name == "rotate") {
      if (!has_args) Fail("rotate needs an angle, e.g. rotate:90");
      if (args != "90" && args != "180" && args != "270") Fail("rotate must be 90, 180 or 270");
      Op rotate;
      rotate.kind = Op::Kind::kRotate;
      rotate.degrees = args == "90" ? 90 : args == "180" ? 180 : 270;
      list_->ops.push_back(rotate);
    } else if (name == "format") {
      const std::optional<ImageFormat> format = ParseFormatName(args);
      if (!has_args || !format) Fail("format must be jpeg, png or webp");
      if (list_->format) Fail("format is given more than once");
      list_->format = format;
    } else if (name == "quality") {
      if (!has_args) Fail("quality needs a value, e.g. quality:85");
      const int quality = ParseWhole(args, "quality", 1, 100);
      if (list_->quality) Fail("quality is given more than once");
      list_->quality = quality;
    } else {
      Fail("unknown op (known: thumbnail, blur, grayscale, rotate, format, quality)");
    }
  }

 private:
  [[noreturn]] void Fail(const std::string& why) const {
    ThrowInvalid("op " + std::to_string(index_) + " " + Quote(op_) + ": " + why);
  }

  void ParseThumbnail(std::string_view args) {
    const std::size_t colon = args.find(':');
    const std::string_view size = args.substr(0, colon);
    bool crop = false;
    if (colon != std::string_view::npos) {
      if (args.substr(colon + 1) != "crop") Fail("the only thumbnail option is crop, e.g. thumbnail:256x256:crop");
      crop = true;
    }
    const std::size_t x = size.find('x');
    if (x == std::string_view::npos) Fail("thumbnail needs a size WxH, e.g. thumbnail:256x256");
    Op thumbnail;
    thumbnail.kind = Op::Kind::kThumbnail;
    thumbnail.width = ParseWhole(size.substr(0, x), "width", 1, kMaxThumbnailSide);
    thumbnail.height = ParseWhole(size.substr(x + 1), "height", 1, kMaxThumbnailSide);
    thumbnail.crop = crop;
    list_->ops.push_back(thumbnail);
  }

  int ParseWhole(std::string_view text, const char* what, int min, int max) const {
    const std::string range = std::string(what) + " must be within " + std::to_string(min) + ".." + std::to_string(max);
    if (!AllDigits(text) || (text.size() > 1 && text[0] == '0')) {
      Fail(std::string(what) + " must be a whole number (digits only); " + range);
    }
    // Nine digits always fit an int; more is out of range, never overflow.
    if (text.size() > 9) Fail(range);
    int value = 0;
    std::from_chars(text.data(), text.data() + text.size(), value);
    if (value < min || value > max) Fail(range);
    return value;
  }

  double ParseSigma(std::string_view text) const {
    const std::string range = "sigma must be within " + FormatNumber(kMinBlurSigma) + ".." + FormatNumber(kMaxBlurSigma);
    const std::size_t dot = text.find('.');
    const std::string_view whole = text.substr(0, dot);
    const bool number = AllDigits(whole) && (whole.size() == 1 || whole[0] != '0') &&
                        (dot == std::string_view::npos || AllDigits(text.substr(dot + 1)));
    if (!number) Fail("sigma must be a number like 3 or 0.5; " + range);
    double sigma = 0;
    const std::from_chars_result result =
        std::from_chars(text.data(), text.data() + text.size(), sigma, std::chars_format::fixed);
    if (result.ec != std::errc() || result.ptr != text.data() + text.size()) Fail(range);
    if (!(sigma >= kMinBlurSigma && sigma <= kMaxBlurSigma)) Fail(range);
    return sigma;
  }

  OpList* list_;
  int index_ = 0;
  std::string_view op_;
};

}  // namespace

std::string Op::ToString() const {
  switch (kind) {
    case Kind::kThumbnail:
      return "thumbnail:" + std::to_string(width) + "x" + std::to_string(height) + (crop ? ":crop" : "");
    case Kind::kBlur:
      return "blur:" + FormatNumber(sigma);
    case Kind::kGrayscale:
      return "grayscale";
    case Kind::kRotate:
      return "rotate:" + std::to_string(degrees);
  }
  return "unknown";
}

bool Op::operator==(const Op& other) const {
  return kind == other.kind && width == other.width && height == other.height && crop == other.crop &&
         sigma == other.sigma && degrees == other.degrees;
}

nlohmann::json OpList::ToJson() const {
  nlohmann::json array = nlohmann::json::array();
  for (const Op& op : ops) array.push_back(op.ToString());
  if (format) array.push_back(std::string("format:") + FormatName(*format));
  if (quality) array.push_back("quality:" + std::to_string(*quality));
  return array;
}

std::string OpList::ToString() const {
  std::string text;
  for (const nlohmann::json& op : ToJson()) {
    if (!text.empty()) text += ',';
    text += op.get<std::string>();
  }
  return text;
}

OpList ParseOps(std::string_view text) {
  OpList list;
  if (Trim(text).empty()) return list;
  OpParser parser(&list);
  while (true) {
    const std::size_t comma = text.find(',');
    parser.Parse(Trim(text.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return list;
}

OpList ParseOps(const nlohmann::json& value) {
  if (value.is_string()) return ParseOps(std::string_view(value.get_ref<const std::string&>()));
  if (!value.is_array()) {
    ThrowInvalid(std::string("ops must be a string or an array of strings, not ") + value.type_name());
  }
  OpList list;
  OpParser parser(&list);
  int index = 0;
  for (const nlohmann::json& element : value) {
    ++index;
    if (!element.is_string()) {
      ThrowInvalid("op " + std::to_string(index) + " must be a string, not " + element.type_name());
    }
    const std::string& op = element.get_ref<const std::string&>();
    if (op.find(',') != std::string::npos) {
      ThrowInvalid("op " + std::to_string(index) + " " + Quote(op) + ": one op per array element");
    }
    parser.Parse(Trim(op));
  }
  return list;
}

OpList ParseEffects(std::string_view text, std::vector<std::string>* names) {
  OpList list;
  std::vector<std::string> given;
  if (!Trim(text).empty()) {
    int index = 0;
    while (true) {
      const std::size_t comma = text.find(',');
      const std::string_view effect = Trim(text.substr(0, comma));
      ++index;
      const std::string where = "effect " + std::to_string(index);
      if (index > kMaxOps) ThrowInvalid("at most " + std::to_string(kMaxOps) + " effects are allowed");
      if (effect.empty()) ThrowInvalid(where + " is empty");
      Op op;  // grayscale
      if (effect == "blur") {
        op.kind = Op::Kind::kBlur;
        op.sigma = 3;
      } else if (effect != "bw") {
        ThrowInvalid(where + " " + Quote(effect) + ": unknown effect (known: bw, blur)");
      }
      list.ops.push_back(op);
      given.emplace_back(effect);
      if (comma == std::string_view::npos) break;
      text.remove_prefix(comma + 1);
    }
  }
  if (names) *names = std::move(given);
  return list;
}

}  // namespace jobqueue::images
