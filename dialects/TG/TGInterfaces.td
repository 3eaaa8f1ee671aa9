//===- TGInterfaces.td - tg op interfaces and traits -------*- tablegen -*-===//

#ifndef DENSENET_TG_INTERFACES
#define DENSENET_TG_INTERFACES

include "mlir/IR/OpBase.td"

def TG_CostOpInterface : OpInterface<"CostOpInterface"> {
  let description = [{
    What one execution of a `tg` op costs: arithmetic in FLOPs (a multiply-add
    counts 2) and the bytes it reads and writes. The planner's roofline time
    model is built on these three numbers; `docs/cost-model.md` gives the
    count of each op.
  }];
  let cppNamespace = "::densenet::tg";
  let methods = [
    InterfaceMethod<"Floating-point operations of one execution.",
      "int64_t", "getFlops">,
    InterfaceMethod<"Bytes read from memory; by default every operand once.",
      "int64_t", "getBytesRead", (ins), [{}], [{
        return ::densenet::tg::sumStorageBytes($_op->getOperandTypes());
      }]>,
    InterfaceMethod<"Bytes written to memory; by default every result once.",
      "int64_t", "getBytesWritten", (ins), [{}], [{
        return ::densenet::tg::sumStorageBytes($_op->getResultTypes());
      }]>,
  ];
}

def TG_InPlaceOpInterface : OpInterface<"InPlaceOpInterface"> {
  let description = [{
    An op that updates a buffer in place says so here: a result that is
    "tied" to an operand is that operand's buffer after the update, not a new
    buffer. The memory planner gives both one buffer; the operand must have
    no use after the op (`-tg-verify-training-step` checks it).
  }];
  let cppNamespace = "::densenet::tg";
  let methods = [
    InterfaceMethod<"Index of the operand whose buffer result `resultIndex` "
                    "updates in place.",
      "unsigned", "getTiedOperandIndex", (ins "unsigned":$resultIndex)>,
  ];
}

// Phases of a training step, for the planner and the step verifier. Forward
// ops carry neither trait.
def TG_BackwardOp : NativeOpTrait<"BackwardOp"> {
  let cppNamespace = "::densenet::tg";
}
def TG_UpdateOp : NativeOpTrait<"UpdateOp"> {
  let cppNamespace = "::densenet::tg";
}

#endif // DENSENET_TG_INTERFACES
