//===- Passes.td - densenet passes -------------------------*- tablegen -*-===//

#ifndef DENSENET_PASSES
#define DENSENET_PASSES

include "mlir/Pass/PassBase.td"

def DnLowerToTg : Pass<"dn-lower-to-tg", "::mlir::ModuleOp"> {
  let summary = "Lower dn architecture ops to the tg forward graph";
  let description = [{
    Expands every `dn` op into the `tg` tensor ops it stands for and declares
    its parameters (`tg.parameter`) and batch-norm running statistics
    (`tg.state`) under torchvision's state-dict names, and each batch norm's
    `tg.running_stats_update`. Dense blocks are inlined as a chain: each
    dense layer reads the features gathered so far and ends in a two-operand
    `tg.concat` of them and its new channels, so the block result is the
    last layer's concat. The result is the model's forward graph in training
    mode.

    Example: `dn.transition "features.transition1" (%x)` becomes
    `tg.batch_norm "features.transition1.norm"`, `tg.relu`, a 1x1
    `tg.conv2d "features.transition1.conv"` and a 2x2 `tg.avg_pool`.
  }];
  let dependentDialects = ["::densenet::tg::TGDialect"];
}

def TgAutodiff : Pass<"tg-autodiff", "::mlir::ModuleOp"> {
  let summary = "Turn a tg forward graph into a whole training step";
  let description = [{
    Rewrites every function holding a tg forward graph (input batch in, logits
    out) into one training step: the forward graph, the mean softmax
    cross-entropy loss and the count of correct predictions, the backward pass
    of every op in reverse order, and a `tg.sgd_update` of every parameter.
    The function gains two arguments, the labels (`tensor<Nxi32>`) and the
    learning rate (`tensor<f32>`), and returns `(loss, correct)`.

    Gradients are computed only for values that depend on a parameter (the
    first convolution gets no input gradient). The gradient of a
    concatenation is a channel range of its result's gradient buffer: a dense
    block's feature gradients are slices of one buffer, and each layer's
    input gradient is added into it in place (`tg.accumulate`), never copied.
    Each parameter is updated as soon as its gradient is complete, which is
    what PyTorch computes when it updates all of them after the backward pass;
    with `defer-updates` (f16 plans) every update follows the last backward op
    instead, so that the runtime can check all gradients for overflow first.
    Optimizer settings follow `torch.optim.SGD` (dampening 0).

    Example: `tg.conv2d "c" %x, %w` with an active `%x` gains
    `tg.conv2d_grad_filter "c" %x, %dy`, `tg.conv2d_grad_input "c" %dy, %w`
    and `tg.sgd_update "c.weight" %w, %dw, %v, %lr`.
  }];
  let dependentDialects = ["::densenet::tg::TGDialect"];
  let options = [
    Option<"momentum", "momentum", "double", "0.9",
           "SGD momentum factor (torch.optim.SGD's momentum)">,
    Option<"weightDecay", "weight-decay", "double", "1e-4",
           "L2 weight decay added to each gradient (torch.optim.SGD's weight_decay)">,
    Option<"nesterov", "nesterov", "bool", "false",
           "Use Nesterov momentum">,
    Option<"decayNormAndBias", "decay-norm-and-bias", "bool", "true",
           "Apply weight decay to batch-norm weights and biases and the "
           "classifier bias too (torch.optim.SGD applies it to every parameter)">,
    Option<"deferUpdates", "defer-updates", "bool", "false",
           "Emit every tg.sgd_update after the whole backward pass, so that a "
           "step can be skipped as a whole when a gradient overflows (dynamic "
           "loss scaling of f16 training)">,
  ];
}

def TgVerifyTrainingStep : Pass<"tg-verify-training-step", "::mlir::ModuleOp"> {
  let summary = "Check the structure of training steps built by tg-autodiff";
  let description = [{
    Checks every function marked `tg.training_step`, reporting each violation
    at the op that breaks it:
    - every parameter is updated by exactly one `tg.sgd_update`, and every
      running statistic and momentum buffer by exactly one update op;
    - a buffer updated in place (a tied operand of `tg.accumulate`,
      `tg.sgd_update`, `tg.running_stats_update`) has no use after the update;
    - a forward activation is read after the forward pass only by the
      backward or update ops of the layers that produced or consumed it, so
      no activation outlives the gradient that last needs it.
  }];
}

def TgRematerialize : Pass<"tg-rematerialize", "::mlir::ModuleOp"> {
  let summary = "Recompute marked forward ops just before the backward pass needs them";
  let description = [{
    In every training step, each forward op carrying the unit attribute
    `tg.recompute` keeps its results for the forward pass only: the backward
    ops that read them read a clone instead, placed immediately before the
    first backward op that needs any of its results. Clones are made in
    dependency order (a marked op whose operand comes from another marked op
    recomputes that one first), carry `tg.recomputed`, and have the original's
    name, so a recomputed dropout draws the same mask. Running statistics are
    not updated again: `tg.running_stats_update` reads the forward batch
    statistics and is never cloned.

    The memory planner marks ops; this pass only applies the decision, so a
    marked graph is also a lit-testable input.
  }];
}

def TgBucketGradients : Pass<"tg-bucket-gradients", "::mlir::ModuleOp"> {
  let summary = "Average weight gradients over data-parallel ranks, in buckets";
  let description = [{
    For a job of `world-size` > 1 ranks, groups the parameters of every
    training step into buckets of at least `bucket-bytes` of gradients each,
    in the order the backward pass completes their gradients (the order of
    the `tg.sgd_update`s), and inserts one `tg.all_reduce` per bucket right
    after the bucket's last gradient is written. The updates read the
    averaged gradients and move down to just before the next bucket's
    all-reduce (the last bucket's stay after its own), so each bucket's
    communication overlaps the backward computation of the next one. The
    memory planner then places each bucket's gradients back to back in one
    buffer that lives from its first gradient to its last update: the
    buckets' cost in memory is part of the plan. When every update already
    follows the backward pass (`tg-autodiff{defer-updates}`, f16 plans), the
    updates stay there and only the all-reduces are inserted. With
    `world-size` 1 the pass changes nothing.

    Example (world-size 2, one bucket): `%w1, %v1 = tg.sgd_update "c.weight"
    %w, %dw, %v, %lr` becomes `%a = tg.all_reduce "bucket0" %dw {world_size
    = 2}` followed by `tg.sgd_update "c.weight" %w, %a, %v, %lr`.
  }];
  let options = [
    Option<"worldSize", "world-size", "int64_t", "1",
           "Data-parallel ranks whose gradients are averaged">,
    Option<"bucketBytes", "bucket-bytes", "int64_t", "26214400",
           "Close a bucket once its gradients reach this many bytes "
           "(PyTorch DDP's default bucket_cap_mb is 25)">,
    Option<"oneRank", "one-rank", "bool", "false",
           "With world-size 1, add the all-reduces anyway (an average over "
           "one rank: tests the all-reduce path on one device)">,
  ];
}

#endif // DENSENET_PASSES
