//===- FusionTest.cpp - Which steps a backend may fuse --------------------===//

#include "runtime/backend/Fusion.h"

#include <gtest/gtest.h>

using namespace densenet::runtime;

namespace {

/// A plan of bare steps over `buffers` plain buffers.
struct PlanBuilder {
  Plan plan;

  explicit PlanBuilder(int buffers) {
    for (int id = 0; id < buffers; ++id) {
      Buffer buffer;
      buffer.id = id;
      plan.buffers.push_back(buffer);
    }
  }
  PlanBuilder &step(OpKind op, std::vector<int> reads,
                    std::vector<int> writes) {
    Step step;
    step.op = op;
    step.reads = std::move(reads);
    step.writes = std::move(writes);
    plan.steps.push_back(step);
    return *this;
  }
};

// Buffers: 0 x, 1 weight, 2 bias, 3 y, 4 mean, 5 variance, 6 r, 7 dr,
// 8 dy, 9 dx, 10 weight grad, 11 bias grad, 12 conv out.
PlanBuilder denseLayer() {
  PlanBuilder b(13);
  b.step(OpKind::BatchNorm, {0, 1, 2}, {3, 4, 5})
      .step(OpKind::Relu, {3}, {6})
      .step(OpKind::Conv2d, {6, 1}, {12})
      .step(OpKind::ReluGrad, {7, 6}, {8})
      .step(OpKind::BatchNormGrad, {8, 0, 1, 4, 5}, {9, 10, 11});
  return b;
}

TEST(Fusion, PairsNormWithReluAndTheirGradients) {
  Fusions fusions = findFusions(denseLayer().plan);
  ASSERT_EQ(fusions.forward.size(), 1u);
  EXPECT_EQ(fusions.forward[0].norm, 0);
  EXPECT_EQ(fusions.forward[0].relu, 1);
  // Nothing else reads y or dy: the fused kernels need not write them.
  EXPECT_FALSE(fusions.forward[0].writeNormalized);
  ASSERT_EQ(fusions.backward.size(), 1u);
  EXPECT_EQ(fusions.backward[0].reluGrad, 3);
  EXPECT_EQ(fusions.backward[0].normGrad, 4);
  EXPECT_FALSE(fusions.backward[0].writeGradient);
}

TEST(Fusion, KeepsIntermediatesOthersRead) {
  PlanBuilder b = denseLayer();
  b.step(OpKind::Relu, {3}, {12}).step(OpKind::Relu, {8}, {12});
  Fusions fusions = findFusions(b.plan);
  ASSERT_EQ(fusions.forward.size(), 1u);
  EXPECT_TRUE(fusions.forward[0].writeNormalized);
  ASSERT_EQ(fusions.backward.size(), 1u);
  EXPECT_TRUE(fusions.backward[0].writeGradient);
}

TEST(Fusion, KeepsIntermediatesWithViewsOrThatAreViews) {
  PlanBuilder b = denseLayer();
  b.plan.buffers[12].viewOf = 3; // something lives inside y
  b.plan.buffers[8].viewOf = 9;  // dy is a slice of another buffer
  Fusions fusions = findFusions(b.plan);
  ASSERT_EQ(fusions.forward.size(), 1u);
  EXPECT_TRUE(fusions.forward[0].writeNormalized);
  ASSERT_EQ(fusions.backward.size(), 1u);
  EXPECT_TRUE(fusions.backward[0].writeGradient);
}

TEST(Fusion, OnlyAdjacentStepsOnTheSameBuffer) {
  PlanBuilder apart(13);
  apart.step(OpKind::BatchNorm, {0, 1, 2}, {3, 4, 5})
      .step(OpKind::Conv2d, {0, 1}, {12})
      .step(OpKind::Relu, {3}, {6});
  EXPECT_TRUE(findFusions(apart.plan).forward.empty());

  PlanBuilder other(13);
  other.step(OpKind::BatchNorm, {0, 1, 2}, {3, 4, 5})
      .step(OpKind::Relu, {12}, {6})
      .step(OpKind::ReluGrad, {7, 6}, {8})
      .step(OpKind::BatchNormGrad, {12, 0, 1, 4, 5}, {9, 10, 11});
  Fusions fusions = findFusions(other.plan);
  EXPECT_TRUE(fusions.forward.empty());
  EXPECT_TRUE(fusions.backward.empty());
}

TEST(Fusion, AStepJoinsOnePairAtMost) {
  // norm -> relu -> relu: the second ReLU reads the first's output, not the
  // norm's, and the first is taken.
  PlanBuilder b(13);
  b.step(OpKind::BatchNorm, {0, 1, 2}, {3, 4, 5})
      .step(OpKind::Relu, {3}, {6})
      .step(OpKind::Relu, {6}, {12});
  Fusions fusions = findFusions(b.plan);
  ASSERT_EQ(fusions.forward.size(), 1u);
  EXPECT_EQ(fusions.forward[0].relu, 1);
}

} // namespace
