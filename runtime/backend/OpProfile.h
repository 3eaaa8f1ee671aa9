//===- OpProfile.h - Time per op kind, for DENSENET_PROFILE -----*- C++ -*-===//
//
// With DENSENET_PROFILE=1 in the environment a backend times every step of
// each training step and, when it is destroyed, prints the total per op
// kind to stderr: where the time goes, and (beside the plan's FLOPs and the
// target's rates) how far each kind is from its roofline. The CPU backend
// times each step's closure by the wall clock; the CUDA backend runs its
// kernels one by one (no graph) between CUDA events. Steps a backend runs
// as one kernel are one label ("tg.batch_norm+tg.relu").
//
//===----------------------------------------------------------------------===//

#ifndef DENSENET_RUNTIME_BACKEND_OPPROFILE_H
#define DENSENET_RUNTIME_BACKEND_OPPROFILE_H

#include <cstdint>
#include <map>
#include <ostream>
#include <string>

namespace densenet::runtime {

class OpProfile {
public:
  /// Whether DENSENET_PROFILE is set to anything but "" or "0".
  static bool requested();

  /// Called as each training step starts: whether to time it. Every step
  /// but the first is timed; the first one's one-time costs (first touches
  /// of the arena, lazy loading of kernels) would swamp the rest.
  bool timeThisStep() { return started++ > 0; }
  /// A step labelled `label` took `seconds`; `run`: it launched work of
  /// its own (false: the rest of another step's, counted in its runs).
  void add(const std::string &label, double seconds, bool run = true);
  /// One training step has been timed.
  void countStep() { ++steps; }

  int64_t stepCount() const { return steps; }
  double totalSeconds() const;

  /// "profile: ..." lines: how it was timed, then per label (slowest
  /// first) the runs, total seconds, milliseconds per training step and
  /// share of the total. When no step was timed, one line that says so.
  void report(std::ostream &out, const std::string &how) const;

private:
  struct Entry {
    int64_t runs = 0;
    double seconds = 0;
  };
  std::map<std::string, Entry> entries;
  int64_t started = 0, steps = 0;
};

} // namespace densenet::runtime

#endif // DENSENET_RUNTIME_BACKEND_OPPROFILE_H
