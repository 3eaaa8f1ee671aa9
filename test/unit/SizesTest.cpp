//===- SizesTest.cpp - Byte sizes as users write them ---------------------===//

#include "compiler/Sizes.h"

#include <gtest/gtest.h>

using namespace densenet;

namespace {

int64_t parse(llvm::StringRef text) {
  llvm::Expected<int64_t> bytes = parseByteSize(text);
  if (!bytes) {
    ADD_FAILURE() << llvm::toString(bytes.takeError());
    return -1;
  }
  return *bytes;
}

TEST(Sizes, DecimalAndBinaryUnits) {
  EXPECT_EQ(parse("12GB"), 12000000000);
  EXPECT_EQ(parse("11.5GiB"), 12348030976);
  EXPECT_EQ(parse("800MB"), 800000000);
  EXPECT_EQ(parse("1073741824"), 1073741824);
  EXPECT_EQ(parse("64KiB"), 65536);
  EXPECT_EQ(parse("1.5 kb"), 1500);
  EXPECT_EQ(parse("2TiB"), 2199023255552);
  EXPECT_EQ(parse("0"), 0);
}

TEST(Sizes, RejectsMalformedSizes) {
  for (const char *bad : {"", "GB", "12XB", "1.2.3GB", "-5MB", "1.5", "abc",
                          "12 G B", "1e3MB"}) {
    llvm::Expected<int64_t> bytes = parseByteSize(bad);
    EXPECT_FALSE(bool(bytes)) << bad;
    if (!bytes) {
      EXPECT_NE(llvm::toString(bytes.takeError()).find("invalid size"),
                std::string::npos);
    }
  }
  llvm::Expected<int64_t> huge = parseByteSize("100000000TB");
  ASSERT_FALSE(bool(huge));
  EXPECT_NE(llvm::toString(huge.takeError()).find("too large"),
            std::string::npos);
}

TEST(Sizes, FormatsReadably) {
  EXPECT_EQ(formatBytes(512), "512 B");
  EXPECT_EQ(formatBytes(1536), "1.50 KiB");
  EXPECT_EQ(formatBytes(12000000000), "11.18 GiB");
}

} // namespace
