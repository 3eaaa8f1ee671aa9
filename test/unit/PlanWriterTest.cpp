//===- PlanWriterTest.cpp - The plan file's text --------------------------===//
//
// densenetc writes the plan with planToText, which serializes the plan twice
// side by side and splices the checksum in; the result must be exactly the
// sealed JSON the format defines (planToJson, indented by one).
//
//===----------------------------------------------------------------------===//

#include "compiler/Pipeline.h"
#include "compiler/Targets.h"
#include "compiler/plan/PlanWriter.h"
#include "compiler/plan/Planner.h"
#include "test/unit/SmallModel.h"
#include "format/PlanChecksum.h"

#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

using namespace densenet;
using namespace densenet::plan;
using densenet::testing::smallModel;

namespace {

TEST(PlanWriter, TextIsTheSealedJson) {
  mlir::MLIRContext context;
  const ModelSpec base = smallModel(StemKind::ImageNet, 4, {3, 3});
  for (DType dtype : {DType::F32, DType::F16}) {
    ModelSpec spec = base;
    spec.dtype = dtype;
    PlanOptions options;
    options.target = *getTarget("cpu");
    auto probe = buildModule(context, spec, SgdSettings(), Stage::Training);
    ASSERT_TRUE(bool(probe)) << llvm::toString(probe.takeError());
    llvm::Expected<int64_t> minimum = minimumBudget(**probe, options);
    ASSERT_TRUE(bool(minimum)) << llvm::toString(minimum.takeError());
    // At the smallest budget something is recomputed; unlimited, nothing.
    for (std::optional<int64_t> budget :
         {std::optional<int64_t>(*minimum), std::optional<int64_t>()}) {
      auto module = buildModule(context, spec, SgdSettings(), Stage::Training);
      ASSERT_TRUE(bool(module)) << llvm::toString(module.takeError());
      options.budgetBytes = budget;
      llvm::Expected<MemoryPlan> plan = planMemory(**module, options);
      ASSERT_TRUE(bool(plan)) << llvm::toString(plan.takeError());
      // Aggregate-initialized: GCC 12 warns (wrongly) of a dangling pointer
      // when a default ModelSpec is assigned over here.
      const PlanContext planContext{spec, 0, options.target, SgdSettings(),
                                    std::nullopt, std::nullopt};

      std::string text = planToText(*plan, planContext);
      nlohmann::ordered_json sealed = planToJson(*plan, planContext);
      EXPECT_EQ(text, sealed.dump(1) + "\n");

      // The checksum is the last field and covers everything before it.
      nlohmann::ordered_json parsed = nlohmann::ordered_json::parse(text);
      EXPECT_EQ((--parsed.end()).key(), "checksum");
      std::string checksum = parsed["checksum"];
      parsed.erase("checksum");
      EXPECT_EQ(checksum, format::planChecksum(parsed.dump()));
      EXPECT_EQ(parsed["budget_bytes"].is_null(), !budget);
    }
  }
}

} // namespace
