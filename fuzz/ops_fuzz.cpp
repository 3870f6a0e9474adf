// Fuzzes the ops language (src/images/ops.cpp): the text form, the JSON
// form when the input is JSON, and the `effects` form. Every parse either
// succeeds or throws ImageError kInvalidOps, and whatever parses prints back
// (ToString, ToJson) to text that parses to an equal list; anything else
// aborts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "images/image_error.hpp"
#include "images/ops.hpp"

namespace {

using jobqueue::images::ImageError;
using jobqueue::images::ImageErrorCode;
using jobqueue::images::OpList;

bool SameList(const OpList& a, const OpList& b) { return a.ops == b.ops && a.format == b.format && a.quality == b.quality; }

void CheckRoundTrip(const OpList& list) {
  try {
    if (!SameList(jobqueue::images::ParseOps(list.ToString()), list)) std::abort();
    if (!SameList(jobqueue::images::ParseOps(list.ToJson()), list)) std::abort();
  } catch (const ImageError&) {
    std::abort();  // what printed must parse
  }
}

template <typename Parse>
void ParseAndRoundTrip(Parse parse) {
  OpList list;
  try {
    list = parse();
  } catch (const ImageError& error) {
    if (error.code() != ImageErrorCode::kInvalidOps) std::abort();
    return;
  }
  CheckRoundTrip(list);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  ParseAndRoundTrip([&] { return jobqueue::images::ParseOps(text); });

  const nlohmann::json json = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (!json.is_discarded()) ParseAndRoundTrip([&] { return jobqueue::images::ParseOps(json); });

  ParseAndRoundTrip([&] {
    std::vector<std::string> names;
    OpList list = jobqueue::images::ParseEffects(text, &names);
    if (names.size() != list.ops.size()) std::abort();
    return list;
  });
  return 0;
}
