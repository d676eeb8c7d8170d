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

// client-go's isTooLargeResourceVersionError (tools/cache/reflector.go): the cause type, or a
// Timeout whose cause message or message says so (servers before 1.18.6).
TEST(DecodeApiErrorTest, RecognisesATooLargeResourceVersion) {
  EXPECT_TRUE(
      DecodeApiError(504,
                     R"({"kind":"Status","reason":"Timeout","message":"Timeout: Too large )"
                     R"(resource version: 9, current: 4","details":{"causes":[{"reason":)"
                     R"("ResourceVersionTooLarge","message":"Too large resource version"}]}})",
                     "", "GET /x")
          .resource_version_too_large);
  EXPECT_TRUE(DecodeApiError(504,
                             R"({"kind":"Status","reason":"Timeout","details":{"causes":[)"
                             R"({"message":"Too large resource version"}]}})",
                             "", "GET /x")
                  .resource_version_too_large);
  EXPECT_TRUE(DecodeApiError(
                  504,
                  R"({"kind":"Status","reason":"Timeout","message":"Too large resource version"})",
                  "", "GET /x")
                  .resource_version_too_large);
  EXPECT_FALSE(
      DecodeApiError(504, R"({"kind":"Status","reason":"Timeout","message":"slow etcd"})", "", "x")
          .resource_version_too_large);
  EXPECT_FALSE(
      DecodeApiError(500, R"({"kind":"Status","message":"Too large resource version"})", "", "x")
          .resource_version_too_large);
}

// A Status from a hostile or broken server: fields of any type are ignored, never thrown on.
TEST(DecodeApiErrorTest, IgnoresFieldsOfUnexpectedTypes) {
  for (const char* body :
       {R"({"kind":5,"reason":"Conflict"})", R"({"kind":["Status"]})",
        R"({"kind":"Status","reason":7,"message":{"a":1}})", R"({"kind":"Status","details":"x"})",
        R"({"kind":"Status","details":{"causes":{"a":1}}})",
        R"({"kind":"Status","details":{"causes":[1,"x",null,{"reason":5,"message":[]}]}})",
        R"([1,2,3])", R"("Status")", R"({"kind":"Status","message":"trunc)"}) {
    SCOPED_TRACE(body);
    const ApiError error = DecodeApiError(504, body, "", "GET /x");
    EXPECT_EQ(error.http_status, 504);
    EXPECT_FALSE(error.resource_version_too_large);
    EXPECT_THAT(error.message, HasSubstr("GET /x: HTTP 504"));
  }
  const ApiError not_status = DecodeApiStatus(500, nlohmann::json::array({1}), "watch");
  EXPECT_THAT(not_status.message, HasSubstr("not a Status object"));
}

}  // namespace
}  // namespace kca::kube
