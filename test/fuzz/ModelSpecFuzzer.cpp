//===- ModelSpecFuzzer.cpp - libFuzzer target: model.json parsing ---------===//
//
// Feeds arbitrary text to parseModelSpec, the front end of every densenetc
// run. An llvm::Error is the documented way to reject a model file; a crash,
// a sanitizer report or an exception escaping is a finding. A spec the parser
// accepts must also hold up: its stage shapes exist (validation promised
// that), and the model.json densenetc writes for it (modelSpecToJson, the
// plan's "model" field) parses back to the same spec.
//
//===----------------------------------------------------------------------===//

#include "compiler/ModelSpec.h"

#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>

using namespace densenet;

namespace {

[[noreturn]] void finding(const std::string &what, llvm::StringRef input) {
  llvm::errs() << "model-spec fuzz finding: " << what << "\ninput: " << input
               << "\n";
  std::abort();
}

bool sameSpec(const ModelSpec &a, const ModelSpec &b) {
  return a.name == b.name && a.input == b.input &&
         a.numClasses == b.numClasses && a.growthRate == b.growthRate &&
         a.blockConfig == b.blockConfig &&
         a.numInitFeatures == b.numInitFeatures && a.bnSize == b.bnSize &&
         a.compression == b.compression && a.dropRate == b.dropRate &&
         a.stem == b.stem && a.batchSize == b.batchSize && a.dtype == b.dtype;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  llvm::Expected<ModelSpec> spec = parseModelSpec(text, "fuzz.json");
  if (!spec) {
    // Rejected, as documented. Rendering the message checks that building
    // it is safe too (it quotes the input).
    std::string message = llvm::toString(spec.takeError());
    if (message.empty())
      finding("an error without a message", text);
    return 0;
  }

  llvm::Expected<std::vector<StageShape>> stages = computeStageShapes(*spec);
  if (!stages)
    finding("a validated spec has no stage shapes: " +
                llvm::toString(stages.takeError()),
            text);

  std::string written = modelSpecToJson(*spec).dump();
  llvm::Expected<ModelSpec> again = parseModelSpec(written, "written.json");
  if (!again)
    finding("the written spec " + written + " does not parse back: " +
                llvm::toString(again.takeError()),
            text);
  if (!sameSpec(*spec, *again))
    finding("the written spec " + written + " parses to a different spec",
            text);
  return 0;
}
