#include "cluster/stop_signals.h"

#include <gtest/gtest.h>

#include <csignal>

#include "lib/core/stop_flag.h"

namespace fq::cluster {
namespace {

class StopSignals : public ::testing::Test {
 protected:
  void SetUp() override {
    install_stop_signal_handlers();
    clear_stop();
  }
  void TearDown() override { clear_stop(); }
};

TEST_F(StopSignals, TermUsr1AndIntSetTheStopFlag) {
  for (int sig : {SIGTERM, SIGUSR1, SIGINT}) {
    clear_stop();
    ASSERT_FALSE(stop_requested());
    ASSERT_EQ(std::raise(sig), 0);
    EXPECT_TRUE(stop_requested()) << "signal " << sig;
    EXPECT_EQ(stop_signal(), sig);
  }
}

TEST_F(StopSignals, InstallingTwiceKeepsOneBehaviour) {
  install_stop_signal_handlers();
  ASSERT_EQ(std::raise(SIGUSR1), 0);
  EXPECT_EQ(stop_signal(), SIGUSR1);
}

TEST_F(StopSignals, SecondInterruptExitsAtOnce) {
  EXPECT_EXIT(
      {
        install_stop_signal_handlers();
        std::raise(SIGINT);
        std::raise(SIGINT);
        std::exit(0);  // not reached when the second interrupt works
      },
      ::testing::ExitedWithCode(128 + SIGINT), "second interrupt");
}

TEST_F(StopSignals, InterruptAfterTerminationRequestAlsoExits) {
  EXPECT_EXIT(
      {
        install_stop_signal_handlers();
        std::raise(SIGTERM);
        std::raise(SIGINT);
        std::exit(0);
      },
      ::testing::ExitedWithCode(128 + SIGINT), "second interrupt");
}

}  // namespace
}  // namespace fq::cluster
