#include "sidecar/common/logging.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace sidecar::log {
namespace {

// Captures what is written to stderr (fd 2) while it is alive.
class StderrCapture {
 public:
  StderrCapture() {
    std::fflush(stderr);
    EXPECT_EQ(pipe2(fds_, O_CLOEXEC), 0);
    saved_ = dup(2);
    dup2(fds_[1], 2);
  }
  // Restores stderr and returns everything written; the pipe holds far more than a test writes.
  std::string Finish() {
    std::fflush(stderr);
    dup2(saved_, 2);
    close(saved_);
    close(fds_[1]);
    std::string out;
    char buffer[4096];
    ssize_t n;
    while ((n = read(fds_[0], buffer, sizeof(buffer))) > 0) out.append(buffer, n);
    close(fds_[0]);
    return out;
  }

 private:
  int fds_[2] = {-1, -1};
  int saved_ = -1;
};

class LoggingTest : public ::testing::Test {
 protected:
  void TearDown() override { SetLevel(Level::kInfo); }
};

TEST_F(LoggingTest, WritesOneJsonObjectPerLineWithFields) {
  StderrCapture capture;
  Info("upstream connected", {{"cluster", "settings"}, {"port", "8000"}});
  std::string out = capture.Finish();
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.back(), '\n');
  EXPECT_EQ(out.find('\n'), out.size() - 1);  // exactly one line
  nlohmann::json line = nlohmann::json::parse(out);
  EXPECT_EQ(line["level"], "info");
  EXPECT_EQ(line["msg"], "upstream connected");
  EXPECT_EQ(line["cluster"], "settings");
  EXPECT_EQ(line["port"], "8000");
  std::string ts = line["ts"];
  EXPECT_EQ(ts.size(), std::string("2025-11-20T12:00:00.000Z").size());
  EXPECT_EQ(ts.back(), 'Z');
}

TEST_F(LoggingTest, LevelFiltersLowerLevels) {
  SetLevel(Level::kWarn);
  EXPECT_FALSE(Enabled(Level::kInfo));
  EXPECT_TRUE(Enabled(Level::kError));
  StderrCapture capture;
  Info("dropped");
  Error("kept");
  std::string out = capture.Finish();
  EXPECT_EQ(out.find("dropped"), std::string::npos);
  EXPECT_NE(out.find("kept"), std::string::npos);
}

TEST_F(LoggingTest, InvalidUtf8IsReplacedNotThrown) {
  StderrCapture capture;
  Warn("bad \xff bytes", {{"field", "\xfe"}});
  std::string out = capture.Finish();
  EXPECT_FALSE(nlohmann::json::parse(out, nullptr, false).is_discarded());
}

TEST(LoggingParseTest, ParsesKnownLevelsOnly) {
  Level level = Level::kInfo;
  EXPECT_TRUE(ParseLevel("debug", &level));
  EXPECT_EQ(level, Level::kDebug);
  EXPECT_TRUE(ParseLevel("error", &level));
  EXPECT_EQ(level, Level::kError);
  EXPECT_FALSE(ParseLevel("verbose", &level));
  EXPECT_FALSE(ParseLevel("INFO", &level));
}

}  // namespace
}  // namespace sidecar::log
