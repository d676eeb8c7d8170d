#include "kube_csr_approver/kube/rate_limit.h"

#include <gtest/gtest.h>

#include "fake_clock.h"

namespace kca::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

TEST(TokenBucketTest, AllowsABurstThenPacesAtQps) {
  testing::FakeClock clock;
  TokenBucket bucket(10, 3, clock);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(bucket.Reserve(), nanoseconds(0)) << i;
  // Empty: each further reservation queues 100 ms behind the previous one.
  EXPECT_EQ(bucket.Reserve(), milliseconds(100));
  EXPECT_EQ(bucket.Reserve(), milliseconds(200));
  clock.Advance(milliseconds(200));
  // The debt of two tokens is paid; the next waits one interval.
  EXPECT_EQ(bucket.Reserve(), milliseconds(100));
}

TEST(TokenBucketTest, RefillsButNeverAboveBurst) {
  testing::FakeClock clock;
  TokenBucket bucket(5, 2, clock);
  EXPECT_EQ(bucket.Reserve(), nanoseconds(0));
  EXPECT_EQ(bucket.Reserve(), nanoseconds(0));
  clock.Advance(std::chrono::seconds(60));
  EXPECT_EQ(bucket.Reserve(), nanoseconds(0));
  EXPECT_EQ(bucket.Reserve(), nanoseconds(0));
  EXPECT_EQ(bucket.Reserve(), milliseconds(200));
}

TEST(TokenBucketTest, NonPositiveQpsIsUnlimited) {
  testing::FakeClock clock;
  TokenBucket bucket(0, 1, clock);
  EXPECT_TRUE(bucket.unlimited());
  for (int i = 0; i < 10000; ++i) ASSERT_EQ(bucket.Reserve(), nanoseconds(0));
}

TEST(TokenBucketTest, BurstBelowOneActsAsOne) {
  testing::FakeClock clock;
  TokenBucket bucket(1, 0, clock);
  EXPECT_EQ(bucket.Reserve(), nanoseconds(0));
  EXPECT_EQ(bucket.Reserve(), std::chrono::seconds(1));
}

TEST(ExponentialBackoffTest, GrowsWithinJitterUpToTheCap) {
  ExponentialBackoff backoff({milliseconds(100), milliseconds(1000), 2.0, 0.5}, 42);
  const double bases[] = {100, 200, 400, 800, 1000, 1000};
  for (double base : bases) {
    const double ms = std::chrono::duration<double, std::milli>(backoff.Next()).count();
    EXPECT_GE(ms, base);
    EXPECT_LE(ms, std::min(1000.0, base * 1.5));
  }
}

TEST(ExponentialBackoffTest, JitterSpreadsDelays) {
  ExponentialBackoff a({milliseconds(100), milliseconds(1000), 2.0, 0.5}, 1);
  ExponentialBackoff b({milliseconds(100), milliseconds(1000), 2.0, 0.5}, 2);
  EXPECT_NE(a.Next(), b.Next());
}

TEST(ExponentialBackoffTest, ResetStartsOver) {
  ExponentialBackoff backoff({milliseconds(10), milliseconds(1000), 3.0, 0.0}, 7);
  EXPECT_EQ(backoff.Next(), milliseconds(10));
  EXPECT_EQ(backoff.Next(), milliseconds(30));
  backoff.Reset();
  EXPECT_EQ(backoff.Next(), milliseconds(10));
}

}  // namespace
}  // namespace kca::kube
