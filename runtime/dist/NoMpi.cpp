//===- NoMpi.cpp - Stands in for Mpi.cpp in builds without MPI ------------===//

#include "runtime/dist/Communicator.h"

#include <stdexcept>

std::unique_ptr<densenet::dist::Communicator>
densenet::dist::createMpiCommunicator(double) {
  throw std::runtime_error(
      "this densenet-run was built without MPI; install Open MPI "
      "(apt-get install libopenmpi-dev) and rebuild to train on several ranks");
}
