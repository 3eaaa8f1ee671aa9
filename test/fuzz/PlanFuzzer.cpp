//===- PlanFuzzer.cpp - libFuzzer target: plan loading and verification ---===//
//
// Feeds arbitrary text to parsePlan, which must refuse anything that is not a
// runnable plan with a PlanError before a kernel trusts it. A crash, a
// sanitizer report or any other exception escaping is a finding.
//
// Each input runs twice: as it is (JSON errors, format, version, checksum)
// and resealed with the checksum of its contents (ResealPlan.h), so that the
// field reader and the verifier behind the checksum are fuzzed too.
//
// A plan that passes must keep the promises kernels rely on; the harness
// checks the ones a kernel would turn into an out-of-bounds access.
//
//===----------------------------------------------------------------------===//

#include "runtime/plan/Plan.h"
#include "test/fuzz/ResealPlan.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

using namespace densenet::runtime;

namespace {

[[noreturn]] void finding(const std::string &what) {
  std::fprintf(stderr, "plan fuzz finding: %s\n", what.c_str());
  std::abort();
}

/// Checks what the backend assumes of a verified plan: every id names a
/// buffer, roots lie inside the arena, views inside their roots.
void checkVerifiedPlan(const Plan &plan) {
  const int count = static_cast<int>(plan.buffers.size());
  auto valid = [&](int id) { return id >= 0 && id < count; };
  for (int id : {plan.input, plan.labels, plan.learningRate, plan.loss,
                 plan.correct, plan.logits})
    if (!valid(id))
      finding("interface buffer id " + std::to_string(id) + " out of range");
  for (const Buffer &buffer : plan.buffers) {
    if (!buffer.isView()) {
      if (buffer.offset < 0 || buffer.bytes < 0 ||
          buffer.offset > plan.arenaBytes - buffer.bytes)
        finding("buffer " + std::to_string(buffer.id) + " outside the arena");
      continue;
    }
    if (!valid(buffer.viewOf) || plan.buffers[buffer.viewOf].isView())
      finding("view " + std::to_string(buffer.id) + " of a non-root");
  }
  for (const Step &step : plan.steps) {
    for (const auto *ids : {&step.reads, &step.writes, &step.updates})
      for (int id : *ids)
        if (!valid(id))
          finding("step operand id " + std::to_string(id) + " out of range");
  }
  if (plan.liveBytesPerStep.size() != plan.steps.size())
    finding("live bytes are not known for every step");
}

void parse(const std::string &text) {
  Plan plan;
  try {
    plan = parsePlan(text, "fuzz-plan.json");
  } catch (const PlanError &) {
    return; // Rejected, as documented.
  }
  checkVerifiedPlan(plan);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string text(reinterpret_cast<const char *>(data), size);
  parse(text);
  if (std::optional<std::string> resealed = densenet::fuzz::resealPlan(text))
    parse(*resealed);
  return 0;
}
