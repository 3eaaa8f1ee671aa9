//===- ResealPlan.h - A plan's text with a checksum that matches -*- C++ -*-===//
//
// The checksum seals every field of a plan, so nearly every mutation of a
// real plan stops at it and a fuzzer would never reach the field reader and
// the verifier behind it. The plan fuzz target (PlanFuzzer.cpp) and the test
// that replays its inputs (test/unit/runtime/FuzzRegressionTest.cpp) also
// run each input resealed: with the checksum of its contents, as a hand edit
// that also fixed the checksum would be.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_TEST_FUZZ_RESEALPLAN_H
#define DENSENET_TEST_FUZZ_RESEALPLAN_H

#include "format/PlanChecksum.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace densenet::fuzz {

/// `text` with its "checksum" replaced by the checksum of everything else;
/// std::nullopt when `text` is not a JSON object, or nests deeper than any
/// plan (parsePlan refuses that before the checksum, and printing it here
/// would overflow the stack).
inline std::optional<std::string> resealPlan(const std::string &text) {
  bool tooDeep = false;
  nlohmann::ordered_json::parser_callback_t checkDepth =
      [&](int depth, nlohmann::ordered_json::parse_event_t event,
          nlohmann::ordered_json &) {
        if ((event == nlohmann::ordered_json::parse_event_t::object_start ||
             event == nlohmann::ordered_json::parse_event_t::array_start) &&
            depth >= 16)
          tooDeep = true;
        return true;
      };
  nlohmann::ordered_json json = nlohmann::ordered_json::parse(
      text, checkDepth, /*allow_exceptions=*/false);
  if (tooDeep || !json.is_object())
    return std::nullopt;
  json.erase("checksum");
  const std::string checksum = format::planChecksum(json.dump());
  json["checksum"] = checksum;
  return json.dump();
}

} // namespace densenet::fuzz

#endif // DENSENET_TEST_FUZZ_RESEALPLAN_H
