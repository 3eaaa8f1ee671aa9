//===- Communicator.h - The ranks of a data-parallel job --------*- C++ -*-===//
//
// What data-parallel training needs from MPI: who this process is, an
// asynchronous average of a bucket of host floats (the CPU backend's
// gradient all-reduce), and a few blocking collectives on host memory for
// the training loop (broadcasting the initial state, summing metrics,
// comparing the ranks' settings). Every wait has a timeout: a rank that died
// or hangs ends the job with a message instead of blocking it forever.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_RUNTIME_DIST_COMMUNICATOR_H
#define DENSENET_RUNTIME_DIST_COMMUNICATOR_H

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace densenet::dist {

class Communicator {
public:
  virtual ~Communicator();

  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// The rank among the processes on this machine (the GPU it uses), and
  /// how many there are.
  virtual int localRank() const = 0;
  virtual int localSize() const = 0;

  /// Starts replacing `count` floats at `data` by their mean over the ranks;
  /// `data` must not be touched until wait() returns. `what` names the
  /// operation in a timeout message. Returns the ticket to wait for.
  virtual int64_t startAverage(float *data, int64_t count,
                               const std::string &what) = 0;
  /// Blocks until the operation of `ticket` has finished.
  virtual void wait(int64_t ticket) = 0;

  /// Blocking collectives on host memory.
  virtual void broadcast(void *data, int64_t bytes, int root,
                         const std::string &what) = 0;
  virtual void sum(double *data, int64_t count, const std::string &what) = 0;
  virtual std::vector<std::string> gather(const std::string &text,
                                          const std::string &what) = 0;

  /// Prints `message` and ends every rank of the job (MPI_Abort).
  [[noreturn]] virtual void abort(const std::string &message) = 0;
};

/// Whether mpirun (or another MPI launcher) started this process, and with
/// how many ranks; 1 when it did not.
int launchedWorldSize();

/// Joins the job mpirun started; collectives that take longer than
/// `timeoutSeconds` end it. Throws std::runtime_error when this build has no
/// MPI.
std::unique_ptr<Communicator> createMpiCommunicator(double timeoutSeconds);

} // namespace densenet::dist

#endif // DENSENET_RUNTIME_DIST_COMMUNICATOR_H
