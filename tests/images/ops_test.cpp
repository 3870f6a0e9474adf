// The ops language: parsing the text and JSON forms strictly, the messages
// naming the bad op, canonical ToString round trips and the `effects` form.
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "images/image_error.hpp"
#include "images/ops.hpp"

namespace jobqueue::images {
namespace {

using Catch::Matchers::Contains;
using Catch::Matchers::Equals;

// The ImageError `parse` throws, or nullopt when it throws none.
template <typename Parse>
std::optional<ImageError> ErrorFrom(Parse parse) {
  try {
    parse();
  } catch (const ImageError& error) {
    return error;
  }
  return std::nullopt;
}

std::string InvalidOpsMessage(const std::string& text) {
  const std::optional<ImageError> error = ErrorFrom([&] { ParseOps(text); });
  REQUIRE(error);
  CHECK(error->code() == ImageErrorCode::kInvalidOps);
  return error->what();
}

bool SameList(const OpList& a, const OpList& b) { return a.ops == b.ops && a.format == b.format && a.quality == b.quality; }

}  // namespace

TEST_CASE("an empty ops string is an empty list", "[images]") {
  CHECK(ParseOps("").empty());
  CHECK(ParseOps("  ").empty());
  CHECK(ParseOps(nlohmann::json::array()).empty());
  CHECK(ParseOps(nlohmann::json("")).empty());
}

TEST_CASE("ops parse in the order given with their arguments", "[images]") {
  const OpList list = ParseOps("thumbnail:256x128,blur:3,grayscale,rotate:270,thumbnail:64x64:crop");
  REQUIRE(list.ops.size() == 5);
  CHECK(list.ops[0].kind == Op::Kind::kThumbnail);
  CHECK(list.ops[0].width == 256);
  CHECK(list.ops[0].height == 128);
  CHECK_FALSE(list.ops[0].crop);
  CHECK(list.ops[1].kind == Op::Kind::kBlur);
  CHECK(list.ops[1].sigma == 3);
  CHECK(list.ops[2].kind == Op::Kind::kGrayscale);
  CHECK(list.ops[3].kind == Op::Kind::kRotate);
  CHECK(list.ops[3].degrees == 270);
  CHECK(list.ops[4].crop);
  CHECK_FALSE(list.format);
  CHECK_FALSE(list.quality);
}

TEST_CASE("format and quality are taken wherever they stand and print after the image ops", "[images]") {
  const OpList list = ParseOps("quality:70,grayscale,format:jpg,blur:0.5");
  CHECK(list.ops.size() == 2);
  CHECK(list.format == ImageFormat::kJpeg);
  CHECK(list.quality == 70);
  CHECK(list.ToString() == "grayscale,blur:0.5,format:jpeg,quality:70");
  CHECK(list.ToJson() == nlohmann::json{"grayscale", "blur:0.5", "format:jpeg", "quality:70"});
}

TEST_CASE("an op out of bounds is refused with a message naming it and the bounds", "[images]") {
  CHECK_THAT(InvalidOpsMessage("grayscale,blur:500"), Equals("op 2 'blur:500': sigma must be within 0.1..100"));
  CHECK_THAT(InvalidOpsMessage("blur:0.09"), Contains("sigma must be within 0.1..100"));
  CHECK_THAT(InvalidOpsMessage("thumbnail:8193x10"), Equals("op 1 'thumbnail:8193x10': width must be within 1..8192"));
  CHECK_THAT(InvalidOpsMessage("thumbnail:10x0"), Contains("height must be within 1..8192"));
  CHECK_THAT(InvalidOpsMessage("quality:0"), Contains("quality must be within 1..100"));
  CHECK_THAT(InvalidOpsMessage("quality:101"), Contains("quality must be within 1..100"));
  CHECK_THAT(InvalidOpsMessage("rotate:45"), Equals("op 1 'rotate:45': rotate must be 90, 180 or 270"));
  CHECK_THAT(InvalidOpsMessage("format:gif"), Contains("format must be jpeg, png or webp"));
}

TEST_CASE("the bounds themselves are accepted", "[images]") {
  CHECK(ParseOps("blur:0.1").ops[0].sigma == 0.1);
  CHECK(ParseOps("blur:100").ops[0].sigma == 100);
  CHECK(ParseOps("thumbnail:8192x1").ops[0].width == 8192);
  CHECK(ParseOps("quality:1").quality == 1);
  CHECK(ParseOps("quality:100").quality == 100);
}

TEST_CASE("an overflowing number is a clean out-of-range error", "[images]") {
  CHECK_THAT(InvalidOpsMessage("thumbnail:99999999999x1"), Contains("width must be within 1..8192"));
  CHECK_THAT(InvalidOpsMessage("thumbnail:1x4294967297"), Contains("height must be within 1..8192"));
  CHECK_THAT(InvalidOpsMessage("quality:18446744073709551617"), Contains("quality must be within 1..100"));
  CHECK_THAT(InvalidOpsMessage("blur:1" + std::string(400, '0')), Contains("sigma must be within"));
}

TEST_CASE("numbers with signs, exponents, leading zeros, spaces or junk are refused", "[images]") {
  for (const char* text :
       {"thumbnail:+10x10", "thumbnail:-10x10", "thumbnail:1e3x10", "thumbnail:010x10", "thumbnail:10x10 x",
        "thumbnail:10X10", "thumbnail:10x10:", "thumbnail:10x10:fit", "thumbnail:10x10:crop:crop", "thumbnail:x10",
        "thumbnail:10x", "thumbnail:10", "thumbnail", "thumbnail: 10x10", "blur:+3", "blur:-3", "blur:3e0",
        "blur:1e1", "blur:.5", "blur:3.", "blur:03", "blur:inf", "blur:nan", "blur:0x10", "blur:3,5.0.1", "blur",
        "blur:", "blur:3 3", "grayscale:1", "grayscale:", "rotate:090", "rotate:-90", "rotate", "quality:+5",
        "quality:085", "quality:5.0", "format:JPEG", "format:", "format", "Blur:3", "blur:3\n"}) {
    INFO(text);
    CHECK(ErrorFrom([&] { ParseOps(text); }));
  }
}

TEST_CASE("an empty op between commas is an error", "[images]") {
  CHECK_THAT(InvalidOpsMessage("blur:3,,grayscale"), Equals("op 2 is empty"));
  CHECK_THAT(InvalidOpsMessage(",blur:3"), Equals("op 1 is empty"));
  CHECK_THAT(InvalidOpsMessage("blur:3,"), Equals("op 2 is empty"));
  CHECK_THAT(InvalidOpsMessage("blur:3, ,grayscale"), Equals("op 2 is empty"));
}

TEST_CASE("spaces and tabs around the commas are ignored", "[images]") {
  const OpList list = ParseOps(" thumbnail:10x20 ,\tblur:2 , grayscale ");
  CHECK(list.ToString() == "thumbnail:10x20,blur:2,grayscale");
}

TEST_CASE("an unknown op is named in the error", "[images]") {
  CHECK_THAT(InvalidOpsMessage("grayscale,sepia"), Contains("op 2 'sepia': unknown op"));
}

TEST_CASE("format or quality given twice is an error", "[images]") {
  CHECK_THAT(InvalidOpsMessage("format:png,format:png"), Contains("op 2 'format:png': format is given more than once"));
  CHECK_THAT(InvalidOpsMessage("quality:5,grayscale,quality:6"), Contains("op 3 'quality:6': quality is given"));
}

TEST_CASE("more than 16 ops are refused", "[images]") {
  std::string sixteen = "grayscale";
  for (int i = 1; i < kMaxOps; ++i) sixteen += ",grayscale";
  CHECK(ParseOps(sixteen).ops.size() == 16);
  CHECK_THAT(InvalidOpsMessage(sixteen + ",grayscale"), Contains("at most 16 ops"));
  CHECK_THAT(InvalidOpsMessage(sixteen + ",format:png"), Contains("at most 16 ops"));
}

TEST_CASE("a hostile op is quoted printably and bounded in the message", "[images]") {
  const std::string message = InvalidOpsMessage(std::string("\xff\xfe\x01zz") + std::string(1000, 'a'));
  CHECK(message.size() < 200);
  for (char c : message) CHECK((c >= 0x20 && c <= 0x7E));
  CHECK_THAT(message, Contains("'???zz"));
}

TEST_CASE("ToString is canonical and parses back to an equal list", "[images]") {
  CHECK(ParseOps("blur:2.50").ToString() == "blur:2.5");
  CHECK(ParseOps("blur:0.1").ToString() == "blur:0.1");
  CHECK(ParseOps("blur:100.0").ToString() == "blur:100");
  CHECK(ParseOps("format:jpg").ToString() == "format:jpeg");
  for (const char* text : {"thumbnail:256x256:crop,blur:0.3333333333333333,grayscale,rotate:90",
                           "blur:0.1000000000000000055511151231257827", "format:webp,quality:100,blur:99.99",
                           "rotate:180,rotate:270,thumbnail:1x8192", ""}) {
    INFO(text);
    const OpList list = ParseOps(text);
    CHECK(SameList(ParseOps(list.ToString()), list));
    CHECK(SameList(ParseOps(list.ToJson()), list));
  }
}

TEST_CASE("the JSON form takes a string or an array of op strings", "[images]") {
  const OpList from_array = ParseOps(nlohmann::json{"thumbnail:8x8", " blur:1.5", "format:png"});
  CHECK(from_array.ToString() == "thumbnail:8x8,blur:1.5,format:png");
  CHECK(ParseOps(nlohmann::json("grayscale,rotate:90")).ToString() == "grayscale,rotate:90");

  const auto message = [](const nlohmann::json& value) {
    const std::optional<ImageError> error = ErrorFrom([&] { ParseOps(value); });
    REQUIRE(error);
    CHECK(error->code() == ImageErrorCode::kInvalidOps);
    return std::string(error->what());
  };
  CHECK_THAT(message(nlohmann::json{"grayscale", 5}), Equals("op 2 must be a string, not number"));
  CHECK_THAT(message(nlohmann::json{"grayscale,blur:3"}), Contains("one op per array element"));
  CHECK_THAT(message(nlohmann::json{"grayscale", ""}), Equals("op 2 is empty"));
  CHECK_THAT(message(nlohmann::json{{"op", "blur"}}), Contains("ops must be a string or an array of strings"));
  CHECK_THAT(message(nlohmann::json()), Contains("not null"));
  CHECK_THAT(message(nlohmann::json(3)), Contains("not number"));
}

TEST_CASE("effects bw and blur become grayscale and blur sigma 3 in the order given", "[images]") {
  std::vector<std::string> names;
  const OpList list = ParseEffects("bw,blur", &names);
  REQUIRE(list.ops.size() == 2);
  CHECK(list.ops[0].kind == Op::Kind::kGrayscale);
  CHECK(list.ops[1].kind == Op::Kind::kBlur);
  CHECK(list.ops[1].sigma == 3);
  CHECK(names == std::vector<std::string>{"bw", "blur"});
  CHECK(ParseEffects("blur, bw").ToString() == "blur:3,grayscale");
  CHECK(ParseEffects("").empty());
}

TEST_CASE("an unknown or empty effect is an error naming it", "[images]") {
  const auto message = [](const char* text) {
    std::vector<std::string> names{"untouched"};
    const std::optional<ImageError> error = ErrorFrom([&] { ParseEffects(text, &names); });
    REQUIRE(error);
    CHECK(error->code() == ImageErrorCode::kInvalidOps);
    CHECK(names == std::vector<std::string>{"untouched"});
    return std::string(error->what());
  };
  CHECK_THAT(message("bw,sepia"), Equals("effect 2 'sepia': unknown effect (known: bw, blur)"));
  CHECK_THAT(message("bw,,blur"), Equals("effect 2 is empty"));
  CHECK_THAT(message("BW"), Contains("unknown effect"));
  CHECK_THAT(message("blur:3"), Contains("unknown effect"));
}

}  // namespace jobqueue::images
