//===- Workers.h - A small pool of helper threads ---------------*- C++ -*-===//
//
// The solver splits its largest steps across cores; a step takes
// milliseconds, so the threads are started once per solve, not per step.
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_COMPILER_PLAN_WORKERS_H
#define DENSENET_COMPILER_PLAN_WORKERS_H

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace densenet::plan {

/// Helper threads. They start on the first run; run(task) calls task(t) for
/// every t < size(), the caller being t = 0, and returns when all are done;
/// if any threw, it then rethrows the first exception. One caller at a time.
class Workers {
public:
  /// `count` threads in all, the caller included (0: one per core).
  explicit Workers(unsigned count);
  /// The threads `count` means: itself, or one per core for 0.
  static unsigned resolve(unsigned count);
  Workers(const Workers &) = delete;
  Workers &operator=(const Workers &) = delete;
  ~Workers();

  unsigned size() const { return count; }
  void run(const std::function<void(unsigned)> &task);

private:
  void serve(unsigned index);

  unsigned count;
  std::vector<std::thread> threads;
  std::mutex mutex;
  std::condition_variable wake, done;
  const std::function<void(unsigned)> *task = nullptr;
  std::exception_ptr failure; // the first a helper threw in this run
  size_t generation = 0, pending = 0;
  bool stopping = false;
};

} // namespace densenet::plan

#endif // DENSENET_COMPILER_PLAN_WORKERS_H
