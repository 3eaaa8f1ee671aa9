//===- SmallModel.h - A DenseNet small enough to enumerate ------*- C++ -*-===//
//
// The planner's unit tests plan (and enumerate every plan of) a DenseNet of
// a few layers on CIFAR-sized input at batch 2.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_TEST_UNIT_SMALLMODEL_H
#define DENSENET_TEST_UNIT_SMALLMODEL_H

#include "compiler/ModelSpec.h"

#include <cstdint>
#include <vector>

namespace densenet::testing {

inline ModelSpec smallModel(StemKind stem, int64_t bnSize,
                            std::vector<int64_t> blocks) {
  ModelSpec spec;
  spec.name = "small";
  spec.input = {3, 32, 32};
  spec.numClasses = 10;
  spec.growthRate = 4;
  spec.blockConfig = std::move(blocks);
  spec.numInitFeatures = 8;
  spec.bnSize = bnSize;
  spec.stem = stem;
  spec.batchSize = 2;
  return spec;
}

} // namespace densenet::testing

#endif // DENSENET_TEST_UNIT_SMALLMODEL_H
