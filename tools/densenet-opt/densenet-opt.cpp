//===- densenet-opt.cpp - mlir-opt for the dn and tg dialects -------------===//
//
// Runs any densenet pass (and MLIR's generic ones) on a .mlir file; the
// driver the lit tests use.
//
//===----------------------------------------------------------------------===//

#include "dialects/DN/DNDialect.h"
#include "dialects/TG/TGDialect.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::registerTransformsPasses();
  densenet::registerDenseNetPasses();

  mlir::DialectRegistry registry;
  registry.insert<densenet::dn::DNDialect, densenet::tg::TGDialect,
                  mlir::func::FuncDialect>();
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "densenet optimizer driver\n", registry));
}
