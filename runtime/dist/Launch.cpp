//===- Launch.cpp - Was this process started by mpirun? -------------------===//
//
// Read from the launcher's environment, before (and without) MPI_Init, so a
// plain `densenet-run` never initializes MPI.
//
//===----------------------------------------------------------------------===//

#include "runtime/dist/Communicator.h"

#include <cstdlib>
#include <string>

using namespace densenet::dist;

Communicator::~Communicator() = default;

int densenet::dist::launchedWorldSize() {
  // Open MPI, then the PMIx and PMI variables of other launchers.
  for (const char *name : {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"})
    if (const char *value = std::getenv(name)) {
      try {
        int size = std::stoi(value);
        if (size >= 1)
          return size;
      } catch (const std::exception &) {
      }
    }
  return 1;
}
