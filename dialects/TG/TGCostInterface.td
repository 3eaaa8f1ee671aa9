//===- TGCostInterface.td - Per-op cost of tg ops ----------*- tablegen -*-===//

#ifndef DENSENET_TG_COST_INTERFACE
#define DENSENET_TG_COST_INTERFACE

include "mlir/IR/OpBase.td"

def TG_CostOpInterface : OpInterface<"CostOpInterface"> {
  let description = [{
    What one execution of a `tg` op costs: arithmetic in FLOPs (a multiply-add
    counts 2) and the bytes it reads and writes. The planner's roofline time
    model is built on these three numbers; `docs/memory-model.md` gives the
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

#endif // DENSENET_TG_COST_INTERFACE
