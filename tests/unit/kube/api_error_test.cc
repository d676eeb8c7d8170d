#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <optional>
#include <thread>

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
  EXPECT_EQ(error.status_reason, "Conflict");
  EXPECT_EQ(error.code, ApiErrorCode::kConflict);
  EXPECT_FALSE(error.transient());
  EXPECT_THAT(error.message, HasSubstr("PUT /apis/certificates.k8s.io/v1/"
                                       "certificatesigningrequests/a/approval: HTTP 409 Conflict"));
  EXPECT_THAT(error.message, HasSubstr("the object has been modified"));
}

TEST(DecodeApiErrorTest, ClassifiesTransientStatuses) {
  for (int code : {401, 429, 500, 502, 503, 504}) {
    EXPECT_TRUE(DecodeApiError(code, "", "", "GET /x").transient()) << code;
  }
  for (int code : {400, 403, 404, 409, 410, 422, 501}) {
    EXPECT_FALSE(DecodeApiError(code, "", "", "GET /x").transient()) << code;
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
  // Found by fuzz_api_status: a sign is no digit, even before zeros.
  EXPECT_FALSE(DecodeApiError(429, "", "-0", "GET /x").retry_after.has_value());
  EXPECT_FALSE(DecodeApiError(429, "", "-000000", "GET /x").retry_after.has_value());
  EXPECT_FALSE(DecodeApiError(429, "", "+5", "GET /x").retry_after.has_value());
}

TEST(DecodeApiErrorTest, RecognisesExpiryByCodeOrReason) {
  EXPECT_EQ(DecodeApiError(410, "", "", "GET /x").code, ApiErrorCode::kGone);
  const ApiError from_event = DecodeApiError(
      200,
      R"js({"kind":"Status","reason":"Expired","message":"too old resource version: 1 (5)"})js", "",
      "watch");
  EXPECT_EQ(from_event.code, ApiErrorCode::kGone);
}

TEST(DecodeApiErrorTest, QuotesANonStatusBodyShortly) {
  const ApiError error = DecodeApiError(502, std::string(1000, 'x') + "\n", "", "GET /x");
  EXPECT_EQ(error.status_reason, "");
  EXPECT_EQ(error.code, ApiErrorCode::kServerError);
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
  EXPECT_TRUE(cancel.SleepFor(RealClock::Instance(), std::chrono::milliseconds(1)));
  std::thread canceller([&] { cancel.Cancel(); });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(cancel.SleepFor(RealClock::Instance(), std::chrono::seconds(30)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  canceller.join();
  cancel.Cancel();
  EXPECT_EQ(runs, 1);
  EXPECT_TRUE(cancel.cancelled());
  int late = 0;
  auto after = cancel.OnCancel([&] { ++late; });
  EXPECT_EQ(late, 1);
}

// As std::stop_callback's destructor does, dropping a Subscription waits for its callback when
// Cancel() is running it on another thread, so what the callback touches may go with the
// subscription. LeaderElector::Attempt's Cancellation on its stack did (TSan, leader elector
// tests: the stop thread still inside attempt.Cancel() after Attempt returned).
TEST(CancellationTest, DroppingASubscriptionWaitsForItsRunningCallback) {
  Cancellation cancel;
  std::promise<void> callback_started;
  std::promise<void> unsubscribed;
  std::future<void> unsubscribed_seen = unsubscribed.get_future();
  bool unsubscribed_while_running = false;
  std::optional<Cancellation::Subscription> subscription = cancel.OnCancel([&] {
    callback_started.set_value();
    // Only absence can be seen here: a dropping thread that does not wait returns at once.
    unsubscribed_while_running =
        unsubscribed_seen.wait_for(std::chrono::milliseconds(500)) == std::future_status::ready;
  });
  std::thread canceller([&] { cancel.Cancel(); });
  callback_started.get_future().wait();
  subscription.reset();
  unsubscribed.set_value();
  canceller.join();
  EXPECT_FALSE(unsubscribed_while_running);
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
          .code == ApiErrorCode::kResourceVersionTooLarge);
  EXPECT_TRUE(DecodeApiError(504,
                             R"({"kind":"Status","reason":"Timeout","details":{"causes":[)"
                             R"({"message":"Too large resource version"}]}})",
                             "", "GET /x")
                  .code == ApiErrorCode::kResourceVersionTooLarge);
  EXPECT_TRUE(DecodeApiError(
                  504,
                  R"({"kind":"Status","reason":"Timeout","message":"Too large resource version"})",
                  "", "GET /x")
                  .code == ApiErrorCode::kResourceVersionTooLarge);
  EXPECT_FALSE(
      DecodeApiError(504, R"({"kind":"Status","reason":"Timeout","message":"slow etcd"})", "", "x")
          .code == ApiErrorCode::kResourceVersionTooLarge);
  EXPECT_FALSE(
      DecodeApiError(500, R"({"kind":"Status","message":"Too large resource version"})", "", "x")
          .code == ApiErrorCode::kResourceVersionTooLarge);
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
    EXPECT_NE(error.code, ApiErrorCode::kResourceVersionTooLarge);
    EXPECT_EQ(error.code, ApiErrorCode::kServerError);
    EXPECT_THAT(error.message, HasSubstr("GET /x: HTTP 504"));
  }
  const ApiError not_status = DecodeApiStatus(500, nlohmann::json::array({1}), "watch");
  EXPECT_THAT(not_status.message, HasSubstr("not a Status object"));
}

// The code of an HTTP answer: a known Status.reason decides, an unknown or absent one leaves it
// to the status (apimachinery's staging/src/k8s.io/apimachinery/pkg/api/errors/errors.go, the
// Is* functions and knownReasons); 429 is throttling whatever the reason says (IsTooManyRequests).
TEST(DecodeApiErrorTest, ClassifiesByKnownReasonThenByHttpStatus) {
  struct Case {
    int http_status;
    const char* body;
    ApiErrorCode code;
  };
  const Case cases[] = {
      {401, R"({"kind":"Status","reason":"Unauthorized","code":401})", ApiErrorCode::kUnauthorized},
      {403, R"({"kind":"Status","reason":"Forbidden","code":403})", ApiErrorCode::kForbidden},
      {404, R"({"kind":"Status","reason":"NotFound","code":404})", ApiErrorCode::kNotFound},
      {409, R"({"kind":"Status","reason":"AlreadyExists","code":409})",
       ApiErrorCode::kAlreadyExists},
      {409, R"({"kind":"Status","reason":"Conflict","code":409})", ApiErrorCode::kConflict},
      {410, R"({"kind":"Status","reason":"Gone","code":410})", ApiErrorCode::kGone},
      {410, R"({"kind":"Status","reason":"Expired","code":410})", ApiErrorCode::kGone},
      {422, R"({"kind":"Status","reason":"Invalid","code":422})", ApiErrorCode::kInvalid},
      {400, R"({"kind":"Status","reason":"BadRequest","code":400})", ApiErrorCode::kInvalid},
      {415, R"({"kind":"Status","reason":"UnsupportedMediaType"})", ApiErrorCode::kInvalid},
      {500, R"({"kind":"Status","reason":"InternalError","code":500})", ApiErrorCode::kServerError},
      {503, R"({"kind":"Status","reason":"ServiceUnavailable"})", ApiErrorCode::kServerError},
      {504, R"({"kind":"Status","reason":"Timeout","message":"slow"})", ApiErrorCode::kServerError},
      // A known reason wins over the status (a watch ERROR event carries no HTTP status of its
      // own: 200 on the stream).
      {200, R"({"kind":"Status","reason":"Expired","message":"too old resource version"})",
       ApiErrorCode::kGone},
      {500, R"({"kind":"Status","reason":"NotFound"})", ApiErrorCode::kNotFound},
      // An unknown or absent reason leaves it to the status, whatever the body is.
      {404, "<html>404 page not found</html>", ApiErrorCode::kNotFound},
      {404, R"({"kind":"Status","reason":"SomethingNew"})", ApiErrorCode::kNotFound},
      {409, "", ApiErrorCode::kConflict},
      {410, "", ApiErrorCode::kGone},
      {401, "Unauthorized", ApiErrorCode::kUnauthorized},
      {403, "", ApiErrorCode::kForbidden},
      {502, "Bad Gateway", ApiErrorCode::kServerError},
      {503, "", ApiErrorCode::kServerError},
      {504, "", ApiErrorCode::kServerError},
      {501, "", ApiErrorCode::kOther},
      {418, "", ApiErrorCode::kOther},
      {302, "", ApiErrorCode::kOther},
      {0, R"({"kind":"Status","message":"no reason, no code"})", ApiErrorCode::kOther},
      // 429 is throttling even when the reason says otherwise.
      {429, R"({"kind":"Status","reason":"TooManyRequests"})", ApiErrorCode::kThrottled},
      {429, R"({"kind":"Status","reason":"InternalError"})", ApiErrorCode::kThrottled},
      {429, "", ApiErrorCode::kThrottled},
      // The too-large resourceVersion cause wins over a Timeout reason and the 504.
      {504,
       R"({"kind":"Status","reason":"Timeout","details":{"causes":[)"
       R"({"reason":"ResourceVersionTooLarge"}]}})",
       ApiErrorCode::kResourceVersionTooLarge},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::to_string(c.http_status) + " " + c.body);
    const ApiError error = DecodeApiError(c.http_status, c.body, "", "GET /x");
    EXPECT_EQ(ToString(error.code), ToString(c.code));
    EXPECT_EQ(error.http_status, c.http_status);
    EXPECT_THAT(error.message, HasSubstr("GET /x: HTTP " + std::to_string(c.http_status)));
  }
}

TEST(DecodeApiErrorTest, TransientAndTransportFailureFollowTheCode) {
  auto with = [](ApiErrorCode code) {
    ApiError error;
    error.code = code;
    return error;
  };
  for (ApiErrorCode code : {ApiErrorCode::kTimeout, ApiErrorCode::kConnectionFailed,
                            ApiErrorCode::kCredentialsUnavailable, ApiErrorCode::kUnauthorized,
                            ApiErrorCode::kThrottled, ApiErrorCode::kServerError}) {
    EXPECT_TRUE(with(code).transient()) << ToString(code);
  }
  for (ApiErrorCode code :
       {ApiErrorCode::kCanceled, ApiErrorCode::kTlsVerifyFailed, ApiErrorCode::kForbidden,
        ApiErrorCode::kNotFound, ApiErrorCode::kConflict, ApiErrorCode::kGone,
        ApiErrorCode::kResourceVersionTooLarge, ApiErrorCode::kInvalid,
        ApiErrorCode::kInvalidResponse, ApiErrorCode::kResponseTooLarge, ApiErrorCode::kOther}) {
    EXPECT_FALSE(with(code).transient()) << ToString(code);
  }
  for (ApiErrorCode code :
       {ApiErrorCode::kTimeout, ApiErrorCode::kConnectionFailed, ApiErrorCode::kTlsVerifyFailed}) {
    EXPECT_TRUE(with(code).transport_failure()) << ToString(code);
  }
  for (ApiErrorCode code :
       {ApiErrorCode::kCanceled, ApiErrorCode::kCredentialsUnavailable, ApiErrorCode::kThrottled,
        ApiErrorCode::kServerError, ApiErrorCode::kInvalidResponse}) {
    EXPECT_FALSE(with(code).transport_failure()) << ToString(code);
  }
}

}  // namespace
}  // namespace kca::kube
