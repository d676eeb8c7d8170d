#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kube_csr_approver/kube/api_client.h"

namespace kca::kube {
namespace {

using ::testing::HasSubstr;

TEST(DecodeApiErrorTest, ReadsAStatusObject) {
  const ApiError error = DecodeApiError(
      409,
      R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
      R"("message":"Operation cannot be fulfilled on certificatesigningrequests.certificates.k8s.io \"a\": the object has been modified",)"
      R"("reason":"Conflict","details":{"name":"a"},"code":409})",
      "", "PUT /apis/certificates.k8s.io/v1/certificatesigningrequests/a/approval");
  EXPECT_EQ(error.http_status, 409);
  EXPECT_EQ(error.reason, "Conflict");
  EXPECT_TRUE(error.conflict());
  EXPECT_FALSE(error.transient);
  EXPECT_THAT(error.message, HasSubstr("PUT /apis/certificates.k8s.io/v1/"
                                       "certificatesigningrequests/a/approval: HTTP 409 Conflict"));
  EXPECT_THAT(error.message, HasSubstr("the object has been modified"));
}

TEST(DecodeApiErrorTest, ClassifiesTransientStatuses) {
  for (int code : {401, 429, 500, 502, 503, 504}) {
    EXPECT_TRUE(DecodeApiError(code, "", "", "GET /x").transient) << code;
  }
  for (int code : {400, 403, 404, 409, 410, 422, 501}) {
    EXPECT_FALSE(DecodeApiError(code, "", "", "GET /x").transient) << code;
  }
}

TEST(DecodeApiErrorTest, ReadsRetryAfterSeconds) {
  const ApiError error = DecodeApiError(
      429, R"({"kind":"Status","reason":"TooManyRequests","message":"slow down","code":429})", "7",
      "GET /x");
  ASSERT_TRUE(error.retry_after.has_value());
  EXPECT_EQ(*error.retry_after, std::chrono::seconds(7));
  EXPECT_FALSE(
      DecodeApiError(429, "", "Wed, 21 Oct 2015 07:28:00 GMT", "GET /x").retry_after.has_value());
  EXPECT_FALSE(DecodeApiError(429, "", "-1", "GET /x").retry_after.has_value());
}

TEST(DecodeApiErrorTest, RecognisesExpiryByCodeOrReason) {
  EXPECT_TRUE(DecodeApiError(410, "", "", "GET /x").expired());
  const ApiError from_event = DecodeApiError(
      200,
      R"js({"kind":"Status","reason":"Expired","message":"too old resource version: 1 (5)"})js", "",
      "watch");
  EXPECT_TRUE(from_event.expired());
}

TEST(DecodeApiErrorTest, QuotesANonStatusBodyShortly) {
  const ApiError error = DecodeApiError(502, std::string(1000, 'x') + "\n", "", "GET /x");
  EXPECT_EQ(error.reason, "");
  EXPECT_LT(error.message.size(), 300u);
  EXPECT_THAT(error.message, HasSubstr("HTTP 502: xxx"));
}

TEST(CancellationTest, RunsCallbacksOnceAndEndsSleeps) {
  Cancellation cancel;
  int runs = 0;
  auto subscription = cancel.OnCancel([&] { ++runs; });
  {
    auto dropped = cancel.OnCancel([&] { runs += 100; });
  }
  EXPECT_TRUE(cancel.SleepFor(std::chrono::milliseconds(1)));
  std::thread canceller([&] { cancel.Cancel(); });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(cancel.SleepFor(std::chrono::seconds(30)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  canceller.join();
  cancel.Cancel();
  EXPECT_EQ(runs, 1);
  EXPECT_TRUE(cancel.cancelled());
  int late = 0;
  auto after = cancel.OnCancel([&] { ++late; });
  EXPECT_EQ(late, 1);
}

}  // namespace
}  // namespace kca::kube
