//===- solver_bench.cpp - The solver's walks side by side -----------------===//
//
// Reads `densenetc --emit segments` and solves at evenly spaced limits from
// the smallest peak to keep-everything, each limit twice in a row: the
// forward walk alone (the solver before the backward walk existed) and the
// walks from both ends. Prints one JSON object per limit. Run by run.py.
//
//===----------------------------------------------------------------------===//

#include "compiler/plan/Solver.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>

using namespace densenet::plan;

/// A plan's options as digits, one per segment (for comparing plans).
static std::string choiceText(const std::vector<int> &choice) {
  std::string text;
  for (int option : choice)
    text += static_cast<char>('0' + option);
  return text;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: densenet-solver-bench SEGMENTS.json [LIMITS]\n"
                         "  SEGMENTS.json from densenetc --emit segments; "
                         "LIMITS (default 21) evenly spaced\n");
    return 2;
  }
  std::ifstream in(argv[1]);
  if (!in) {
    std::fprintf(stderr, "densenet-solver-bench: cannot read %s\n", argv[1]);
    return 1;
  }
  // Built without exceptions (LLVM's flags): parse, then check the shape.
  nlohmann::json input = nlohmann::json::parse(in, nullptr, false);
  auto isNumber = [](const nlohmann::json &value) {
    return value.is_number();
  };
  bool valid = input.is_object() && input.value("format", "") ==
                                        "densenet-segments" &&
               input["segments"].is_array();
  for (const nlohmann::json &item : valid ? input["segments"]
                                          : nlohmann::json::array()) {
    valid = valid && item.is_object() && item["name"].is_string() &&
            item["options"].is_array() && !item["options"].empty();
    for (const nlohmann::json &option :
         valid ? item["options"] : nlohmann::json::array())
      valid = valid && option.is_object() && option["name"].is_string() &&
              isNumber(option["kept_bytes"]) &&
              isNumber(option["peak_bytes"]) && isNumber(option["seconds"]) &&
              isNumber(option["recompute_flops"]);
  }
  if (!valid) {
    std::fprintf(stderr, "densenet-solver-bench: %s is not densenetc "
                         "--emit segments output\n", argv[1]);
    return 1;
  }
  std::vector<Segment> segments;
  for (const nlohmann::json &item : input["segments"]) {
    Segment segment;
    segment.name = item["name"];
    for (const nlohmann::json &option : item["options"])
      segment.options.push_back({option["name"], option["kept_bytes"],
                                 option["peak_bytes"], option["seconds"],
                                 option["recompute_flops"]});
    segments.push_back(std::move(segment));
  }
  int limits = argc == 3 ? std::atoi(argv[2]) : 21;
  if (limits < 2 || segments.empty()) {
    std::fprintf(stderr, "densenet-solver-bench: need 2 or more limits and "
                         "a segment\n");
    return 2;
  }
  int64_t most = predictPeak(segments, std::vector<int>(segments.size(), 0));
  int64_t least = solveMinPeak(segments).peak;
  for (int i = 0; i < limits; ++i) {
    int64_t limit = least + (most - least) * i / (limits - 1);
    nlohmann::ordered_json row = {{"limit_bytes", limit}};
    // The forward walk alone and the walks from both ends on one thread,
    // then both ends with the large steps split across every core.
    struct Variant {
      const char *name;
      size_t reverseStates;
      unsigned threads;
    };
    for (Variant variant : {Variant{"forward", 0, 1},
                            Variant{"both_ends", kReverseStates, 1},
                            Variant{"both_ends_threads", kReverseStates, 0}}) {
      SearchOptions search;
      search.maxStates = kProofSearchStates;
      search.reverseStates = variant.reverseStates;
      search.threads = variant.threads;
      auto start = std::chrono::steady_clock::now();
      Solution solution = solveMinTime(segments, limit, search);
      double seconds = std::chrono::duration<double>(
                           std::chrono::steady_clock::now() - start)
                           .count();
      row[variant.name] = {{"solve_seconds", seconds},
                   {"recompute_seconds", solution.seconds},
                   {"choice", choiceText(solution.choice)},
                   {"proven", solution.feasible &&
                                  solution.lowerBoundSeconds >= solution.seconds}};
    }
    std::cout << row.dump() << "\n" << std::flush;
  }
  return 0;
}
