//===- Passes.td - densenet passes -------------------------*- tablegen -*-===//

#ifndef DENSENET_PASSES
#define DENSENET_PASSES

include "mlir/Pass/PassBase.td"

def DnLowerToTg : Pass<"dn-lower-to-tg", "::mlir::ModuleOp"> {
  let summary = "Lower dn architecture ops to the tg forward graph";
  let description = [{
    Expands every `dn` op into the `tg` tensor ops it stands for and declares
    its parameters (`tg.parameter`) and batch-norm running statistics
    (`tg.state`) under torchvision's state-dict names. Dense blocks are
    inlined: each dense layer reads a `tg.concat` of the block input and all
    earlier layer outputs, and the block result is the concatenation of all of
    them. The result is the model's forward graph in training mode.

    Example: `dn.transition "features.transition1" (%x)` becomes
    `tg.batch_norm "features.transition1.norm"`, `tg.relu`, a 1x1
    `tg.conv2d "features.transition1.conv"` and a 2x2 `tg.avg_pool`.
  }];
  let dependentDialects = ["::densenet::tg::TGDialect"];
}

#endif // DENSENET_PASSES
