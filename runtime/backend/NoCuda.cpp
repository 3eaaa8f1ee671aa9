//===- NoCuda.cpp - The CUDA entry points of a build without CUDA ---------===//
//
// Linked instead of runtime/cuda when CMake finds no CUDA toolkit, so that
// densenet-run explains the situation instead of failing to link.
//
//===----------------------------------------------------------------------===//

#include "runtime/backend/Backend.h"

using namespace densenet::runtime;

bool densenet::runtime::cudaAvailable(std::string &why) {
  why = "this densenet-run was built without CUDA (no CUDA toolkit was found "
        "when it was configured)";
  return false;
}

std::unique_ptr<Backend>
densenet::runtime::createCudaBackend(const Plan &, dist::Communicator *) {
  std::string why;
  cudaAvailable(why);
  throw PlanError(why);
}
