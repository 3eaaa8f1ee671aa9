//===- OpProfileTest.cpp - DENSENET_PROFILE's table -----------------------===//

#include "runtime/backend/OpProfile.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>

using densenet::runtime::OpProfile;

namespace {

TEST(OpProfile, FirstStepIsNotTimed) {
  OpProfile profile;
  EXPECT_FALSE(profile.timeThisStep());
  EXPECT_TRUE(profile.timeThisStep());
  EXPECT_TRUE(profile.timeThisStep());
}

TEST(OpProfile, TableIsSlowestFirstPerStepAndShare) {
  OpProfile profile;
  for (int step = 0; step < 2; ++step) {
    profile.add("tg.relu", 0.001);
    profile.add("tg.conv2d", 0.006);
    profile.add("tg.conv2d", 0.002);
    profile.add("tg.batch_norm+tg.relu", 0.0006);
    profile.add("tg.batch_norm+tg.relu", 0.0004, /*run=*/false); // its 2nd
    profile.countStep();
  }
  EXPECT_EQ(profile.stepCount(), 2);
  EXPECT_NEAR(profile.totalSeconds(), 0.020, 1e-12);
  std::ostringstream out;
  profile.report(out, "how it was timed");
  std::string text = out.str();
  EXPECT_NE(text.find("profile: 2 training step(s) after the first, how it "
                      "was timed\n"),
            std::string::npos)
      << text;
  // tg.conv2d: 4 runs, 0.016 s, 8 ms per step, 80% of the time.
  size_t conv = text.find("profile: tg.conv2d ");
  size_t relu = text.find("profile: tg.relu ");
  size_t fused = text.find("profile: tg.batch_norm+tg.relu ");
  ASSERT_NE(conv, std::string::npos) << text;
  ASSERT_NE(relu, std::string::npos) << text;
  ASSERT_NE(fused, std::string::npos) << text;
  EXPECT_LT(conv, fused);
  EXPECT_LT(fused, relu); // equal times: by label
  std::string fusedLine = text.substr(fused, text.find('\n', fused) - fused);
  EXPECT_NE(fusedLine.find(" 2 "), std::string::npos) << fusedLine; // runs
  EXPECT_NE(fusedLine.find("0.0020"), std::string::npos) << fusedLine;
  std::string convLine = text.substr(conv, text.find('\n', conv) - conv);
  EXPECT_NE(convLine.find(" 4 "), std::string::npos) << convLine;
  EXPECT_NE(convLine.find("0.0160"), std::string::npos) << convLine;
  EXPECT_NE(convLine.find("8.000"), std::string::npos) << convLine;
  EXPECT_NE(convLine.find("80.0%"), std::string::npos) << convLine;
  size_t all = text.find("profile: all ");
  ASSERT_NE(all, std::string::npos) << text;
  EXPECT_NE(text.find("10.000", all), std::string::npos) << text;
}

TEST(OpProfile, NoTimedStepSaysSo) {
  OpProfile profile;
  profile.timeThisStep();
  std::ostringstream out;
  profile.report(out, "unused");
  EXPECT_EQ(out.str().find("profile: no training step timed"), 0u)
      << out.str();
}

TEST(OpProfile, RequestedByTheEnvironment) {
  unsetenv("DENSENET_PROFILE");
  EXPECT_FALSE(OpProfile::requested());
  setenv("DENSENET_PROFILE", "0", 1);
  EXPECT_FALSE(OpProfile::requested());
  setenv("DENSENET_PROFILE", "", 1);
  EXPECT_FALSE(OpProfile::requested());
  setenv("DENSENET_PROFILE", "1", 1);
  EXPECT_TRUE(OpProfile::requested());
  unsetenv("DENSENET_PROFILE");
}

} // namespace
