//===- BucketGradients.cpp - All-reduce weight gradients in buckets -------===//
//
// Data parallelism as PyTorch's DistributedDataParallel does it: gradients
// are averaged over ranks in buckets, and a bucket's reduction starts as soon
// as its last gradient exists, while the backward pass goes on. The updates
// of a bucket wait one bucket (they run just before the next bucket's
// reduction starts), which is where the runtime first needs the averaged
// gradients; the planner sees the longer gradient lifetimes this costs.
// A step whose updates all follow the backward pass (f16 plans, for loss
// scaling) keeps them there: each reduction still starts right after its
// bucket's last gradient.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "dialects/TG/TGOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

namespace densenet {
#define GEN_PASS_DEF_TGBUCKETGRADIENTS
#include "passes/Passes.h.inc"
} // namespace densenet

using namespace mlir;
using namespace densenet;

namespace {

struct Bucket {
  SmallVector<tg::SgdUpdateOp> updates;
  int64_t bytes = 0;
};

class TgBucketGradientsPass
    : public densenet::impl::TgBucketGradientsBase<TgBucketGradientsPass> {
public:
  using TgBucketGradientsBase::TgBucketGradientsBase;

  void runOnOperation() override {
    if (worldSize < 1 || bucketBytes < 1) {
      getOperation().emitError("tg-bucket-gradients: world-size and "
                               "bucket-bytes must be positive");
      return signalPassFailure();
    }
    if (worldSize == 1 && !oneRank)
      return;
    getOperation().walk([&](func::FuncOp function) {
      if (function->hasAttr("tg.training_step"))
        bucket(function);
    });
  }

private:
  void bucket(func::FuncOp function) {
    SmallVector<Bucket> buckets(1);
    function.walk([&](tg::SgdUpdateOp update) {
      if (buckets.back().bytes >= bucketBytes)
        buckets.emplace_back();
      buckets.back().updates.push_back(update);
      buckets.back().bytes += tg::getStorageBytes(update.getGradient().getType());
    });
    if (buckets.back().updates.empty())
      return;

    // tg-autodiff's defer-updates: no update before the last backward op.
    Operation *lastBackward = nullptr;
    for (Operation &op : function.getBody().front())
      if (op.hasTrait<tg::BackwardOp>())
        lastBackward = &op;
    bool deferred = lastBackward && lastBackward->isBeforeInBlock(
                                        buckets.front().updates.front());

    OpBuilder builder(function.getContext());
    SmallVector<tg::AllReduceOp> reductions;
    for (auto [index, bucket] : llvm::enumerate(buckets)) {
      // Every gradient of the bucket exists before its last update; with
      // deferred updates, right after the last of them is computed.
      builder.setInsertionPoint(bucket.updates.back());
      if (deferred) {
        Operation *latest = nullptr;
        for (tg::SgdUpdateOp update : bucket.updates) {
          Operation *producer = update.getGradient().getDefiningOp();
          if (producer && (!latest || latest->isBeforeInBlock(producer)))
            latest = producer;
        }
        if (latest)
          builder.setInsertionPointAfter(latest);
      }
      SmallVector<Value> gradients;
      for (tg::SgdUpdateOp update : bucket.updates)
        gradients.push_back(update.getGradient());
      auto reduce = builder.create<tg::AllReduceOp>(
          bucket.updates.back().getLoc(), ValueRange(gradients).getTypes(),
          builder.getStringAttr("bucket" + std::to_string(index)), gradients,
          builder.getI64IntegerAttr(worldSize));
      for (auto [update, averaged] :
           llvm::zip(bucket.updates, reduce.getAveraged()))
        update.getGradientMutable().assign(averaged);
      reductions.push_back(reduce);
    }
    // A bucket's updates wait for the next bucket's reduction to start; the
    // last bucket's follow its own reduction. Moving an update later is safe:
    // nothing in the step reads the new parameter or momentum. Deferred
    // updates already follow every reduction.
    if (deferred)
      return;
    for (auto [index, bucket] : llvm::enumerate(buckets)) {
      Operation *anchor = index + 1 < reductions.size()
                              ? reductions[index + 1].getOperation()
                              : nullptr;
      for (tg::SgdUpdateOp update : bucket.updates) {
        if (anchor)
          update->moveBefore(anchor);
        else
          update->moveAfter(reductions[index]);
      }
      if (!anchor) {
        // moveAfter reversed them; restore program order.
        Operation *previous = reductions[index];
        for (tg::SgdUpdateOp update : bucket.updates) {
          update->moveAfter(previous);
          previous = update;
        }
      }
    }
  }
};

} // namespace
