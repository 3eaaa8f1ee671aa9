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

/// denseLayer() with every buffer a [2, 4, 3, 3] f32 map (288 bytes) at its
/// own place in the arena, 512 bytes apart.
PlanBuilder laidOutDenseLayer() {
  PlanBuilder b = denseLayer();
  for (Buffer &buffer : b.plan.buffers) {
    buffer.shape = {2, 4, 3, 3};
    buffer.bytes = 288;
    buffer.offset = 512 * buffer.id;
  }
  return b;
}

TEST(Fusion, RefusesPairsWhoseResultsOverwriteWhatTheyRead) {
  // The per-step lifetimes let the norm gradient's weight gradient (written
  // by the second step) sit inside dr (last read by the first): one fused
  // kernel would overwrite dr while other threads still read it.
  PlanBuilder b = laidOutDenseLayer();
  b.plan.buffers[10].bytes = 16;
  b.plan.buffers[10].shape = {4};
  b.plan.buffers[10].offset = b.plan.buffers[7].offset + 256;
  Fusions fusions = findFusions(b.plan);
  EXPECT_EQ(fusions.forward.size(), 1u);
  EXPECT_TRUE(fusions.backward.empty());
  EXPECT_EQ(fusions.refused, 1);

  // The same for the forward pair: the ReLU's output over part of x.
  PlanBuilder f = laidOutDenseLayer();
  f.plan.buffers[6].offset = f.plan.buffers[0].offset + 64;
  fusions = findFusions(f.plan);
  EXPECT_TRUE(fusions.forward.empty());
  EXPECT_EQ(fusions.backward.size(), 1u);
  EXPECT_EQ(fusions.refused, 1);
}

TEST(Fusion, FusesResultsOnTheSameElementsAsAnOperand) {
  // dx exactly where r was, in the same layout: each element is read before
  // the thread that owns it writes it.
  PlanBuilder b = laidOutDenseLayer();
  b.plan.buffers[9].offset = b.plan.buffers[6].offset;
  Fusions fusions = findFusions(b.plan);
  EXPECT_EQ(fusions.backward.size(), 1u);
  EXPECT_EQ(fusions.refused, 0);

  // The same bytes in another layout (or dtype) are not the same elements.
  b.plan.buffers[9].shape = {2, 2, 6, 3};
  EXPECT_TRUE(findFusions(b.plan).backward.empty());
  b.plan.buffers[9].shape = {2, 4, 3, 3};
  b.plan.buffers[9].dtype = DType::BF16;
  EXPECT_TRUE(findFusions(b.plan).backward.empty());
}

TEST(Fusion, ChannelSlicesOfOneBufferOverlapOnlyWhereTheirChannelsDo) {
  // x and dx as channel slices of one [2, 8, 3, 3] block buffer (13): x
  // channels [0, 4), dx channels [4, 8): interleaved images, no shared
  // element; then dx over channels [2, 6), which shares two.
  PlanBuilder b = laidOutDenseLayer();
  Buffer block;
  block.id = 13;
  block.shape = {2, 8, 3, 3};
  block.bytes = 576;
  block.offset = 512 * 13;
  b.plan.buffers.push_back(block);
  for (int id : {0, 9}) {
    b.plan.buffers[id].viewOf = 13;
    b.plan.buffers[id].channels = 4;
  }
  b.plan.buffers[9].channelOffset = 4;
  Fusions fusions = findFusions(b.plan);
  EXPECT_EQ(fusions.backward.size(), 1u);
  b.plan.buffers[9].channelOffset = 2;
  fusions = findFusions(b.plan);
  EXPECT_TRUE(fusions.backward.empty());
  EXPECT_EQ(fusions.refused, 1);
}

} // namespace
