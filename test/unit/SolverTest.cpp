//===- SolverTest.cpp - The solvers against exhaustive enumeration --------===//

#include "compiler/plan/Solver.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>

using namespace densenet::plan;

namespace {

/// Every choice of every segment, for comparison with the solvers.
template <typename Visit>
void forEachChoice(const std::vector<Segment> &segments, Visit visit) {
  std::vector<int> choice(segments.size(), 0);
  while (true) {
    visit(choice);
    size_t p = 0;
    while (p < segments.size() &&
           ++choice[p] == static_cast<int>(segments[p].options.size()))
      choice[p++] = 0;
    if (p == segments.size())
      return;
  }
}

double secondsOf(const std::vector<Segment> &segments,
                 const std::vector<int> &choice) {
  double seconds = 0;
  for (size_t p = 0; p < segments.size(); ++p)
    seconds += segments[p].options[choice[p]].seconds;
  return seconds;
}

/// Random instances shaped like DenseNets: keeping more costs less time, and
/// a segment's own peak is at least what it keeps.
std::vector<Segment> randomSegments(std::mt19937_64 &random, int count,
                                    int64_t scale) {
  std::uniform_int_distribution<int> optionCount(1, 3);
  std::uniform_int_distribution<int64_t> bytes(0, scale);
  std::uniform_real_distribution<double> seconds(0.0, 1.0);
  std::vector<Segment> segments(count);
  for (Segment &segment : segments) {
    int options = optionCount(random);
    int64_t kept = bytes(random);
    double time = 0;
    for (int o = 0; o < options; ++o) {
      SegmentOption option;
      option.kept = kept;
      option.peak = kept + bytes(random);
      option.seconds = time;
      segment.options.push_back(option);
      // At scale 2^40 the product needs 80 bits (UBSan caught the int64
      // overflow, which had turned some instances' sizes negative).
      kept = static_cast<int64_t>(static_cast<__int128>(kept) * bytes(random) /
                                  (scale + 1));
      time += seconds(random);
    }
  }
  return segments;
}

TEST(Solver, MinTimeMatchesEnumeration) {
  std::mt19937_64 random(42);
  for (int instance = 0; instance < 300; ++instance) {
    // Small scales make the DP exact (unit 1); large ones exercise the
    // rounded DP and its bounds.
    int64_t scale = instance % 2 ? 1000 : int64_t(1) << 40;
    std::vector<Segment> segments = randomSegments(random, 1 + instance % 8, scale);
    int64_t most = 0;
    forEachChoice(segments, [&](const std::vector<int> &choice) {
      most = std::max(most, predictPeak(segments, choice));
    });
    for (int step = 0; step <= 8; ++step) {
      int64_t limit = most * step / 8;
      double best = std::numeric_limits<double>::infinity();
      forEachChoice(segments, [&](const std::vector<int> &choice) {
        if (predictPeak(segments, choice) <= limit)
          best = std::min(best, secondsOf(segments, choice));
      });
      // The walks meet anywhere: after the forward walk alone (0), after a
      // backward walk of a few states per segment, or of all of them.
      for (size_t reverseStates : {size_t(0), size_t(1), size_t(3),
                                   kReverseStates}) {
        Solution solution =
            solveMinTime(segments, limit, kDefaultSearchStates, reverseStates);
        SCOPED_TRACE("instance " + std::to_string(instance) + " limit " +
                     std::to_string(limit) + " reverse states " +
                     std::to_string(reverseStates));
        ASSERT_EQ(solution.feasible,
                  best != std::numeric_limits<double>::infinity());
        if (!solution.feasible)
          continue;
        // The plan fits, its time is what it says, and the bound is valid.
        EXPECT_LE(predictPeak(segments, solution.choice), limit);
        EXPECT_EQ(solution.peak, predictPeak(segments, solution.choice));
        EXPECT_DOUBLE_EQ(solution.seconds,
                         secondsOf(segments, solution.choice));
        EXPECT_LE(solution.lowerBoundSeconds, best + 1e-12);
        EXPECT_GE(solution.seconds, best - 1e-12);
        // The search fits in its budget here: every solution is proven and
        // the optimum.
        EXPECT_EQ(solution.lowerBoundSeconds, solution.seconds);
        EXPECT_NEAR(solution.seconds, best, 1e-12);
      }
    }
  }
}

/// Instances like a dense block's layers: options whose time is nearly
/// proportional to the bytes they save, so that very many partial plans are
/// nearly as good as each other and the search needs many states.
std::vector<Segment> correlatedSegments(std::mt19937_64 &random, int count) {
  std::uniform_int_distribution<int64_t> jitter(0, 4096);
  std::vector<Segment> segments(count);
  for (int p = 0; p < count; ++p) {
    int64_t kept = (int64_t(1) << 20) + p * 40960 + jitter(random);
    int64_t shared = 1 << 19;
    double perByte = 1e-9 * (1 + 0.01 * (p % 3));
    segments[p].options = {
        {"keep", kept, kept + (8 << 20), 0.0, 0},
        {"recompute-norm-relu", shared, shared + (8 << 20),
         perByte * double(kept - shared), 0},
        {"recompute-layer", 0, 8 << 20, perByte * 1.9 * double(kept), 0}};
  }
  return segments;
}

TEST(Solver, SearchBudgetSettlesWithABoundOrProves) {
  std::mt19937_64 random(7);
  int unproven = 0; // the small budget must bite, or this tests nothing
  for (int instance = 0; instance < 6; ++instance) {
    std::vector<Segment> segments = correlatedSegments(random, 40 + instance);
    std::vector<int> keepAll(segments.size(), 0);
    int64_t most = predictPeak(segments, keepAll);
    int64_t least = solveMinPeak(segments).peak;
    for (int step = 1; step < 4; ++step) {
      int64_t limit = least + (most - least) * step / 4;
      SCOPED_TRACE("instance " + std::to_string(instance) + " limit " +
                   std::to_string(limit));
      // Too few states to finish: a plan that fits, and a valid bound.
      Solution settled = solveMinTime(segments, limit, /*maxStates=*/64);
      ASSERT_TRUE(settled.feasible);
      EXPECT_LE(predictPeak(segments, settled.choice), limit);
      EXPECT_LE(settled.lowerBoundSeconds, settled.seconds);
      unproven += settled.lowerBoundSeconds < settled.seconds;
      // Enough states: proven, no slower, and within the first bound.
      Solution proven = solveMinTime(segments, limit, kProofSearchStates);
      ASSERT_TRUE(proven.feasible);
      EXPECT_LE(predictPeak(segments, proven.choice), limit);
      EXPECT_EQ(proven.lowerBoundSeconds, proven.seconds);
      EXPECT_LE(proven.seconds, settled.seconds);
      EXPECT_GE(proven.seconds, settled.lowerBoundSeconds * (1 - 1e-12));
    }
  }
  EXPECT_GT(unproven, 0);
}

TEST(Solver, WalksAgreeWhereverTheyMeet) {
  // Too many choices to enumerate, and many near-equal partial plans: the
  // forward walk alone, and walks meeting at every few segments, prove the
  // same optimum.
  std::mt19937_64 random(5);
  for (int instance = 0; instance < 4; ++instance) {
    std::vector<Segment> segments = correlatedSegments(random, 30 + instance);
    std::vector<int> keepAll(segments.size(), 0);
    int64_t most = predictPeak(segments, keepAll);
    int64_t least = solveMinPeak(segments).peak;
    for (int step = 0; step <= 6; ++step) {
      int64_t limit = least + (most - least) * step / 6;
      SCOPED_TRACE("instance " + std::to_string(instance) + " limit " +
                   std::to_string(limit));
      Solution forward = solveMinTime(segments, limit, kProofSearchStates, 0);
      ASSERT_TRUE(forward.feasible);
      ASSERT_EQ(forward.lowerBoundSeconds, forward.seconds);
      for (size_t reverseStates : {size_t(2), size_t(16), size_t(256),
                                   size_t(4096), kReverseStates}) {
        Solution met =
            solveMinTime(segments, limit, kProofSearchStates, reverseStates);
        ASSERT_TRUE(met.feasible) << "reverse states " << reverseStates;
        EXPECT_LE(met.peak, limit);
        EXPECT_EQ(met.lowerBoundSeconds, met.seconds);
        EXPECT_NEAR(met.seconds, forward.seconds, 1e-15)
            << "reverse states " << reverseStates;
      }
    }
  }
}

TEST(Solver, ThreadsFindTheSamePlan) {
  // Large steps are split across threads by the children's kept bytes; the
  // slices must join into exactly the one-thread frontier, so every plan,
  // time and bound is the same, whether the search proves or settles.
  std::mt19937_64 random(11);
  for (int instance = 0; instance < 2; ++instance) {
    std::vector<Segment> segments =
        instance % 2 ? correlatedSegments(random, 24 + instance)
                     : randomSegments(random, 24 + instance, int64_t(1) << 40);
    std::vector<int> keepAll(segments.size(), 0);
    int64_t most = predictPeak(segments, keepAll);
    int64_t least = solveMinPeak(segments).peak;
    for (int step = 0; step <= 3; ++step) {
      int64_t limit = least + (most - least) * step / 3;
      for (size_t maxStates : {size_t(300), kDefaultSearchStates})
        for (size_t reverseStates : {size_t(0), kReverseStates}) {
          SearchOptions one;
          one.maxStates = maxStates;
          one.reverseStates = reverseStates;
          one.threads = 1;
          Solution alone = solveMinTime(segments, limit, one);
          for (unsigned threads : {2u, 5u})
            for (size_t parallelFrom : {size_t(1), size_t(16)}) {
              SearchOptions many = one;
              many.threads = threads;
              many.parallelFrom = parallelFrom;
              Solution split = solveMinTime(segments, limit, many);
              SCOPED_TRACE("instance " + std::to_string(instance) +
                           " limit " + std::to_string(limit) + " states " +
                           std::to_string(maxStates) + " reverse " +
                           std::to_string(reverseStates) + " threads " +
                           std::to_string(threads) + " from " +
                           std::to_string(parallelFrom));
              ASSERT_EQ(split.feasible, alone.feasible);
              EXPECT_EQ(split.choice, alone.choice);
              EXPECT_EQ(split.peak, alone.peak);
              EXPECT_EQ(split.seconds, alone.seconds);
              EXPECT_EQ(split.lowerBoundSeconds, alone.lowerBoundSeconds);
            }
        }
    }
  }
}

TEST(Solver, WhatTheLastSegmentKeepsNoOnePays) {
  // The last segment keeps more than its peak and more than the bound
  // tables hold; that must not bound it out, whichever way the walks meet.
  // (A review found the forward walk alone proving 1 s here.)
  const int64_t unit = int64_t(1) << 40;
  const int64_t first = unit + unit / 2 + 12345;
  std::vector<Segment> segments(2);
  segments[0].options = {{"keep", first, first, 0.0, 0},
                         {"recompute", 0, 10, 1.0, 0}};
  segments[1].options = {{"keep", 4 * unit, 10, 0.0, 0},
                         {"recompute", 0, 10, 5.0, 0}};
  for (size_t reverseStates : {size_t(0), size_t(1), kReverseStates})
    for (size_t maxStates : {size_t(1), size_t(3), kDefaultSearchStates}) {
      Solution solution =
          solveMinTime(segments, first + 10, maxStates, reverseStates);
      SCOPED_TRACE("reverse states " + std::to_string(reverseStates) +
                   " states " + std::to_string(maxStates));
      ASSERT_TRUE(solution.feasible);
      // The bound is valid; a proven plan, or any with room to search, is
      // the optimum: keep both.
      EXPECT_LE(solution.lowerBoundSeconds, 0.0);
      if (solution.lowerBoundSeconds >= solution.seconds ||
          maxStates == kDefaultSearchStates) {
        EXPECT_EQ(solution.seconds, 0.0);
        EXPECT_EQ(solution.choice, (std::vector<int>{0, 0}));
      }
    }
}

TEST(Solver, SmallSearchBudgetMatchesEnumerationWhenProven) {
  std::mt19937_64 random(11);
  for (int instance = 0; instance < 200; ++instance) {
    std::vector<Segment> segments =
        randomSegments(random, 2 + instance % 7, int64_t(1) << 40);
    int64_t most = 0;
    forEachChoice(segments, [&](const std::vector<int> &choice) {
      most = std::max(most, predictPeak(segments, choice));
    });
    for (int step = 0; step <= 4; ++step) {
      int64_t limit = most * step / 4;
      double best = std::numeric_limits<double>::infinity();
      forEachChoice(segments, [&](const std::vector<int> &choice) {
        if (predictPeak(segments, choice) <= limit)
          best = std::min(best, secondsOf(segments, choice));
      });
      Solution solution = solveMinTime(segments, limit, /*maxStates=*/3);
      SCOPED_TRACE("instance " + std::to_string(instance));
      ASSERT_EQ(solution.feasible,
                best != std::numeric_limits<double>::infinity());
      if (!solution.feasible)
        continue;
      EXPECT_LE(predictPeak(segments, solution.choice), limit);
      EXPECT_LE(solution.lowerBoundSeconds, best + 1e-12);
      EXPECT_GE(solution.seconds, best - 1e-12);
      if (solution.lowerBoundSeconds >= solution.seconds - 1e-12) {
        EXPECT_NEAR(solution.seconds, best, 1e-12);
      }
    }
  }
}

TEST(Solver, MinPeakMatchesEnumeration) {
  std::mt19937_64 random(7);
  for (int instance = 0; instance < 300; ++instance) {
    std::vector<Segment> segments =
        randomSegments(random, 1 + instance % 8, int64_t(1) << 30);
    int64_t best = std::numeric_limits<int64_t>::max();
    forEachChoice(segments, [&](const std::vector<int> &choice) {
      best = std::min(best, predictPeak(segments, choice));
    });
    Solution solution = solveMinPeak(segments);
    ASSERT_TRUE(solution.feasible);
    EXPECT_EQ(solution.peak, best);
    EXPECT_EQ(predictPeak(segments, solution.choice), best);
  }
}

TEST(Solver, KeepsEverythingWhenMemoryIsPlentiful) {
  std::mt19937_64 random(3);
  std::vector<Segment> segments = randomSegments(random, 8, 1000);
  Solution solution =
      solveMinTime(segments, std::numeric_limits<int64_t>::max() / 4);
  ASSERT_TRUE(solution.feasible);
  EXPECT_EQ(solution.seconds, 0.0);
  for (int option : solution.choice)
    EXPECT_EQ(option, 0);
}

TEST(Solver, InfeasibleBelowTheSmallestPeak) {
  std::mt19937_64 random(5);
  std::vector<Segment> segments = randomSegments(random, 6, 1000);
  Solution smallest = solveMinPeak(segments);
  EXPECT_FALSE(solveMinTime(segments, smallest.peak - 1).feasible);
  EXPECT_TRUE(solveMinTime(segments, smallest.peak).feasible);
  EXPECT_FALSE(solveMinTime(segments, -1).feasible);
}

} // namespace
