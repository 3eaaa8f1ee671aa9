//===- FrontierTest.cpp - The solver's step, on one thread and on many ----===//

#include "compiler/plan/Frontier.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <random>

using namespace densenet::plan;
using namespace densenet::plan::detail;

namespace {

/// One option as the forward walk sees it: a child keeps `kept` more bytes
/// and costs `seconds` more than its parent.
struct Move {
  int64_t kept;
  double seconds;
};

Frontier frontierOf(const std::vector<State> &states) {
  Frontier frontier;
  frontier.reserve(states.size());
  std::copy(states.begin(), states.end(), frontier.states.get());
  frontier.size = states.size();
  return frontier;
}

/// The next frontier and its links, from `threads` threads.
struct Stepped {
  std::vector<State> states;
  std::vector<uint32_t> links;
};
template <typename Wanted>
Stepped step(const Frontier &parents, const std::vector<Move> &moves,
             const Ranges &ranges, Wanted wanted, unsigned threads,
             size_t parallelFrom) {
  LinkCode code(std::max<size_t>(moves.size(), 1));
  Workers workers(threads);
  Frontier next;
  std::vector<Frontier> pieces;
  std::unique_ptr<uint32_t[]> links;
  stepFrontier(
      parents, moves.size(), code,
      [&](size_t o, const State &parent) {
        return State{parent.kept + moves[o].kept,
                     parent.cost + moves[o].seconds, 0};
      },
      [&](size_t o) { return ranges[o]; }, wanted, next, &workers,
      parallelFrom, &pieces, &links);
  Stepped result;
  result.states.assign(next.states.get(), next.states.get() + next.size);
  result.links.assign(links.get(), links.get() + next.size);
  return result;
}

void expectSame(const Stepped &a, const Stepped &b) {
  ASSERT_EQ(a.states.size(), b.states.size());
  for (size_t i = 0; i < a.states.size(); ++i) {
    EXPECT_EQ(a.states[i].kept, b.states[i].kept) << "state " << i;
    EXPECT_EQ(a.states[i].cost, b.states[i].cost) << "state " << i;
    EXPECT_EQ(a.states[i].link, b.states[i].link) << "state " << i;
  }
  EXPECT_EQ(a.links, b.links);
}

TEST(Frontier, SlicesDropWhatEarlierSlicesDominate) {
  // Children (kept, cost): recompute (0, 15), (200, 11); keep (100, 5),
  // (300, 1). Three slices split at 100 and 200 put (200, 11) first in the
  // last slice, where only (100, 5) in the slice before shows it is
  // dominated.
  Frontier parents = frontierOf({{0, 5.0, 0}, {200, 1.0, 0}});
  std::vector<Move> moves = {{0, 10.0}, {100, 0.0}};
  Ranges ranges = {{0, 2}, {0, 2}};
  auto all = [](int64_t, double) { return true; };
  Stepped alone = step(parents, moves, ranges, all, 1, 1);
  ASSERT_EQ(alone.states.size(), 3u);
  EXPECT_EQ(alone.states[0].kept, 0);
  EXPECT_EQ(alone.states[1].kept, 100);
  EXPECT_EQ(alone.states[2].kept, 300);
  for (unsigned threads : {2u, 3u, 4u, 8u}) {
    SCOPED_TRACE("threads " + std::to_string(threads));
    expectSame(step(parents, moves, ranges, all, threads, 1), alone);
  }
}

TEST(Frontier, SplitStepsEqualTheOneThreadStep) {
  std::mt19937_64 random(3);
  for (int instance = 0; instance < 200; ++instance) {
    // A frontier: kept rising, cost falling.
    size_t size = 1 + random() % (instance % 4 == 0 ? 20000 : 300);
    std::vector<State> states;
    int64_t kept = static_cast<int64_t>(random() % 1000);
    double cost = 1e6;
    for (size_t i = 0; i < size; ++i) {
      states.push_back({kept, cost, 0});
      kept += 1 + static_cast<int64_t>(random() % 5000);
      cost -= 1 + static_cast<double>(random() % 200);
    }
    Frontier parents = frontierOf(states);
    // Options that keep more cost less (a DenseNet layer's), or random.
    std::vector<Move> moves(1 + random() % 4);
    Ranges ranges(moves.size());
    for (size_t o = 0; o < moves.size(); ++o) {
      moves[o] = {static_cast<int64_t>(random() % 200000),
                  static_cast<double>(random() % 300000)};
      size_t first = instance % 3 == 0 ? 0 : random() % size;
      ranges[o] = {first, first + random() % (size - first + 1)};
    }
    // Bounds that reject some children, by their bytes and cost.
    uint64_t salt = random();
    auto wanted = [&](int64_t kept, double cost) {
      return instance % 2 == 0 ||
             (static_cast<uint64_t>(kept) * 0x9E3779B97F4A7C15ull ^ salt ^
              static_cast<uint64_t>(cost)) %
                     7 !=
                 0;
    };
    Stepped alone = step(parents, moves, ranges, wanted, 1, 1);
    for (size_t i = 1; i < alone.states.size(); ++i) {
      ASSERT_LT(alone.states[i - 1].kept, alone.states[i].kept);
      ASSERT_GT(alone.states[i - 1].cost, alone.states[i].cost);
    }
    for (unsigned threads : {2u, 3u, 5u}) {
      SCOPED_TRACE("instance " + std::to_string(instance) + " threads " +
                   std::to_string(threads));
      expectSame(step(parents, moves, ranges, wanted, threads, 1), alone);
    }
  }
}

TEST(Workers, EveryThreadRunsEveryTask) {
  for (unsigned count : {1u, 2u, 5u}) {
    Workers workers(count);
    EXPECT_EQ(workers.size(), count);
    std::vector<std::atomic<int>> runs(count);
    for (int round = 0; round < 50; ++round)
      workers.run([&](unsigned t) { ++runs[t]; });
    for (unsigned t = 0; t < count; ++t)
      EXPECT_EQ(runs[t].load(), 50) << "thread " << t;
  }
  EXPECT_GE(Workers(0).size(), 1u); // one per core
}

TEST(Workers, AThrowingTaskLetsTheOthersFinishThenRethrows) {
  // run() must not return while a helper still runs the caller's task (it
  // lives on the caller's stack), and the pool must stay usable.
  for (unsigned thrower : {0u, 2u}) {
    Workers workers(3);
    std::atomic<int> finished{0};
    std::string caught;
    try {
      workers.run([&](unsigned t) {
        if (t == thrower)
          throw std::runtime_error("task " + std::to_string(t));
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        ++finished;
      });
    } catch (const std::runtime_error &error) {
      caught = error.what();
    }
    EXPECT_EQ(caught, "task " + std::to_string(thrower));
    EXPECT_EQ(finished.load(), 2);
    std::atomic<int> runs{0};
    workers.run([&](unsigned) { ++runs; });
    EXPECT_EQ(runs.load(), 3);
  }
}

} // namespace
