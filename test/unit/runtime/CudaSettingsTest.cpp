//===- CudaSettingsTest.cpp - The CUDA backend's environment settings -----===//
//
// runtime/cuda/Settings.h reads DENSENET_FUSION, DENSENET_CUDA_GRAPH,
// DENSENET_TF32 and DENSENET_BN_THREADS; no GPU needed.
//
//===----------------------------------------------------------------------===//

#include "runtime/cuda/Settings.h"
#include "runtime/plan/Plan.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace gpu = densenet::runtime::cuda;
using densenet::runtime::PlanError;

namespace {

gpu::CudaSettings settingsOf(const std::map<std::string, std::string> &env) {
  return gpu::CudaSettings::from([&](const char *name) -> const char * {
    auto found = env.find(name);
    return found == env.end() ? nullptr : found->second.c_str();
  });
}

/// The message of the PlanError that `env` makes, or "" if none.
std::string errorOf(const std::map<std::string, std::string> &env) {
  try {
    settingsOf(env);
  } catch (const PlanError &error) {
    return error.what();
  }
  return "";
}

TEST(CudaSettings, DefaultsWhenUnsetOrEmpty) {
  for (const auto &env : {std::map<std::string, std::string>{},
                          std::map<std::string, std::string>{
                              {"DENSENET_FUSION", ""},
                              {"DENSENET_CUDA_GRAPH", ""},
                              {"DENSENET_TF32", ""},
                              {"DENSENET_BN_THREADS", ""}}}) {
    gpu::CudaSettings settings = settingsOf(env);
    EXPECT_TRUE(settings.fusion);
    EXPECT_TRUE(settings.graphs);
    EXPECT_FALSE(settings.tf32);
    EXPECT_EQ(settings.reductionThreads, gpu::kDefaultReductionThreads);
  }
}

TEST(CudaSettings, EachSwitch) {
  EXPECT_FALSE(settingsOf({{"DENSENET_FUSION", "0"}}).fusion);
  EXPECT_TRUE(settingsOf({{"DENSENET_FUSION", "1"}}).fusion);
  EXPECT_FALSE(settingsOf({{"DENSENET_CUDA_GRAPH", "0"}}).graphs);
  EXPECT_TRUE(settingsOf({{"DENSENET_TF32", "1"}}).tf32);
  EXPECT_FALSE(settingsOf({{"DENSENET_TF32", "0"}}).tf32);
  EXPECT_EQ(settingsOf({{"DENSENET_BN_THREADS", "512"}}).reductionThreads, 512);
  EXPECT_EQ(settingsOf({{"DENSENET_BN_THREADS", "1024"}}).reductionThreads,
            1024);
}

TEST(CudaSettings, BadValuesNameTheVariableAndWhatItTakes) {
  for (const char *name :
       {"DENSENET_FUSION", "DENSENET_CUDA_GRAPH", "DENSENET_TF32"})
    for (const char *bad : {"yes", "2", "true", " 1"}) {
      std::string message = errorOf({{name, bad}});
      EXPECT_NE(message.find(std::string(name) + " is '" + bad + "'"),
                std::string::npos)
          << message;
      EXPECT_NE(message.find("it takes 0 or 1"), std::string::npos) << message;
    }
  for (const char *bad : {"128", "2048", "1024x", "x", "-256", "4294967552"}) {
    std::string message = errorOf({{"DENSENET_BN_THREADS", bad}});
    EXPECT_NE(message.find(std::string("DENSENET_BN_THREADS is '") + bad),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("256 (the default), 512 or 1024"),
              std::string::npos)
        << message;
  }
}

} // namespace
