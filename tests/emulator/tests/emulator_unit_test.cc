// Unit tests of the emulator's pure pieces: wire formats, CSR validation rules, protobuf decoding
// and the watch store.
#include <gtest/gtest.h>

#include <string>

#include "csr_strategy.h"
#include "event_conversion.h"
#include "kube_format.h"
#include "protobuf_decode.h"
#include "store.h"

namespace kca::emulator {
namespace {

TEST(HumanDurationTest, MatchesApimachinery) {
  EXPECT_EQ(HumanDuration(std::chrono::seconds(-5)), "<invalid>");
  EXPECT_EQ(HumanDuration(std::chrono::seconds(-1)), "0s");
  EXPECT_EQ(HumanDuration(std::chrono::seconds(119)), "119s");
  EXPECT_EQ(HumanDuration(std::chrono::seconds(150)), "2m30s");
  EXPECT_EQ(HumanDuration(std::chrono::seconds(600)), "10m");
  EXPECT_EQ(HumanDuration(std::chrono::seconds(3600)), "60m");
  EXPECT_EQ(HumanDuration(std::chrono::seconds(3 * 3600 + 60)), "3h1m");
  EXPECT_EQ(HumanDuration(std::chrono::seconds(86400)), "24h");
  EXPECT_EQ(HumanDuration(std::chrono::seconds(3 * 86400 + 3600)), "3d1h");
  EXPECT_EQ(HumanDuration(std::chrono::seconds(30 * 86400)), "30d");
  EXPECT_EQ(HumanDuration(std::chrono::seconds(3LL * 365 * 86400 + 86400)), "3y1d");
}

TEST(Base64Test, DecodesStandardPaddedAndReportsTheBadByte) {
  std::string error;
  EXPECT_EQ(Base64Decode("aGVsbG8=", &error).value(), "hello");
  EXPECT_EQ(Base64Decode("aGVs\nbG8h", &error).value(), "hello!");
  EXPECT_FALSE(Base64Decode("aGV$bG8=", &error));
  EXPECT_EQ(error, "illegal base64 data at input byte 3");
  EXPECT_FALSE(Base64Decode("aGVsbG8", &error));
  EXPECT_EQ(Base64Encode("hello"), "aGVsbG8=");
}

TEST(FieldErrorTest, RendersLikeFieldErrorList) {
  FieldError e{FieldError::Type::kInvalid, "spec.expirationSeconds", "599", "too short"};
  EXPECT_EQ(e.Message(), "spec.expirationSeconds: Invalid value: 599: too short");
  EXPECT_EQ(e.Reason(), "FieldValueInvalid");
  Json status = InvalidStatus(
      {"certificates.k8s.io", "certificatesigningrequests", "CertificateSigningRequest"}, "x",
      {e, {FieldError::Type::kRequired, "spec.usages", "", ""}});
  EXPECT_EQ(status["message"],
            "CertificateSigningRequest.certificates.k8s.io \"x\" is invalid: "
            "[spec.expirationSeconds: Invalid value: 599: too short, spec.usages: Required value]");
  EXPECT_EQ(status["code"], 422);
}

Json CsrWithConditions(Json conditions) {
  return Json{{"metadata", {{"name", "c"}}},
              {"spec", {{"signerName", "example.com/s"}}},
              {"status", {{"conditions", conditions}}}};
}

TEST(CsrStrategyTest, ApprovalUpdateRules) {
  Json old = CsrWithConditions(Json::array());
  Json both = CsrWithConditions(
      {{{"type", "Approved"}, {"status", "True"}}, {{"type", "Denied"}, {"status", "True"}}});
  PrepareCsrForUpdate(both, old, CsrWrite::kApproval, std::chrono::system_clock::now());
  std::vector<FieldError> errs = ValidateCsrUpdate(both, old, CsrWrite::kApproval);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].detail, "Approved and Denied conditions are mutually exclusive");
  EXPECT_TRUE(both["status"]["conditions"][0]["lastUpdateTime"].is_string());

  Json false_status = CsrWithConditions({{{"type", "Approved"}, {"status", "False"}}});
  errs = ValidateCsrUpdate(false_status, old, CsrWrite::kApproval);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(
      errs[0].Message(),
      "status.conditions[0].status: Unsupported value: \"False\": supported values: \"True\"");

  Json approved = CsrWithConditions({{{"type", "Approved"}, {"status", "True"}}});
  Json removed = CsrWithConditions(Json::array());
  errs = ValidateCsrUpdate(removed, approved, CsrWrite::kApproval);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(
      errs[0].Message(),
      "status.conditions: Forbidden: updates may not remove a condition of type \"Approved\"");
}

TEST(CsrStrategyTest, LastTransitionTimeCarriesOverForTheSameCondition) {
  Json old = CsrWithConditions(
      {{{"type", "Failed"}, {"status", "True"}, {"lastTransitionTime", "2020-01-01T00:00:00Z"}}});
  Json next = CsrWithConditions({{{"type", "Failed"}, {"status", "True"}}});
  PrepareCsrForUpdate(next, old, CsrWrite::kStatus, std::chrono::system_clock::now());
  EXPECT_EQ(next["status"]["conditions"][0]["lastTransitionTime"], "2020-01-01T00:00:00Z");
}

TEST(CsrStrategyTest, SignerNameFormat) {
  auto errors_for = [](const std::string& signer) {
    Json csr = {{"metadata", {{"name", "c"}}},
                {"spec", {{"signerName", signer}, {"usages", {"client auth"}}}},
                {"status", Json::object()}};
    std::vector<std::string> out;
    for (const FieldError& e : ValidateCsrCreate(csr)) {
      if (e.field == "spec.signerName") out.push_back(e.Body());
    }
    return out;
  };
  EXPECT_TRUE(errors_for("example.com/my-signer").empty());
  EXPECT_EQ(errors_for("").size(), 1u);
  EXPECT_EQ(errors_for("a/b/c")[0],
            "Invalid value: \"a/b/c\": must be a fully qualified domain and path of the form "
            "'example.com/signer-name'");
  EXPECT_EQ(errors_for("localhost/x")[0],
            "Invalid value: \"localhost\": should be a domain with at least two segments "
            "separated by dots");
  EXPECT_FALSE(errors_for("Example.com/x").empty());
}

TEST(CsrStrategyTest, DecodeErrorsAsGoWordsThem) {
  Json csr = {{"spec", {{"expirationSeconds", "600"}}}};
  EXPECT_EQ(CsrDecodeError(csr).value(),
            "CertificateSigningRequest in version \"v1\" cannot be handled as a "
            "CertificateSigningRequest: json: cannot unmarshal string into Go struct field "
            "CertificateSigningRequestSpec.spec.expirationSeconds of type int32");
  EXPECT_FALSE(CsrDecodeError({{"spec", {{"usages", {"client auth"}}}}}));
  EXPECT_EQ(CsrUnknownFields({{"spec", {{"foo", 1}}}, {"bar", 2}}),
            (std::vector<std::string>{"bar", "spec.foo"}));
}

// Protobuf wire helpers for building a runtime.Unknown-wrapped CSR by hand.
std::string Varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}
std::string Field(uint32_t field, const std::string& bytes) {
  return Varint(field << 3 | 2) + Varint(bytes.size()) + bytes;
}

TEST(ProtobufDecodeTest, DecodesACsrApprovalBody) {
  std::string meta = Field(1, "csr-1") + Field(6, "42");
  std::string spec =
      Field(7, "example.com/s") + Field(5, "client auth") + Varint(8 << 3) + Varint(3600);
  std::string time = Varint(1 << 3) + Varint(1700000000);
  std::string condition = Field(1, "Approved") + Field(6, "True") + Field(2, "R") + Field(4, time);
  std::string status = Field(1, condition);
  std::string csr = Field(1, meta) + Field(2, spec) + Field(3, status);
  std::string unknown =
      Field(1, Field(1, "certificates.k8s.io/v1") + Field(2, "CertificateSigningRequest")) +
      Field(2, csr);
  std::string error;
  std::optional<Json> decoded = DecodeKubernetesProtobuf(std::string("k8s\0", 4) + unknown, &error);
  ASSERT_TRUE(decoded) << error;
  EXPECT_EQ((*decoded)["metadata"]["name"], "csr-1");
  EXPECT_EQ((*decoded)["metadata"]["resourceVersion"], "42");
  EXPECT_EQ((*decoded)["spec"]["signerName"], "example.com/s");
  EXPECT_EQ((*decoded)["spec"]["usages"][0], "client auth");
  EXPECT_EQ((*decoded)["spec"]["expirationSeconds"], 3600);
  EXPECT_EQ((*decoded)["status"]["conditions"][0]["type"], "Approved");
  EXPECT_EQ((*decoded)["status"]["conditions"][0]["lastUpdateTime"], "2023-11-14T22:13:20Z");

  EXPECT_FALSE(DecodeKubernetesProtobuf("k8s", &error));
  EXPECT_FALSE(DecodeKubernetesProtobuf(std::string("k8s\0", 4) + "\xff\xff\xff", &error));
  EXPECT_FALSE(DecodeKubernetesProtobuf(
      std::string("k8s\0", 4) + unknown.substr(0, unknown.size() - 3), &error));
}

TEST(EventConversionTest, RoundTripsBetweenApis) {
  Json ev = {{"kind", "Event"},
             {"apiVersion", "events.k8s.io/v1"},
             {"metadata", {{"name", "e"}}},
             {"regarding", {{"name", "csr"}}},
             {"note", "n"},
             {"reportingController", "c"}};
  Json core = EventToCore(ev);
  EXPECT_EQ(core["apiVersion"], "v1");
  EXPECT_EQ(core["involvedObject"]["name"], "csr");
  EXPECT_EQ(core["message"], "n");
  EXPECT_EQ(core["reportingComponent"], "c");
  EXPECT_EQ(EventFromCore(core), ev);
}

TEST(StoreTest, HistoryBoundsAndCompaction) {
  Store store(2);
  auto put = [&](const std::string& name) {
    store.Mutate({"g/r", "", name}, [](const Json*, bool*) {
      return Json{{"metadata", Json::object()}};
    });
  };
  uint64_t start = store.CurrentResourceVersion();
  put("a");
  EXPECT_EQ(store.EventsAfter("g/r", start).events.size(), 1u);
  put("b");
  put("c");
  EXPECT_TRUE(store.EventsAfter("g/r", start).expired);
  HistoryRead recent = store.EventsAfter("g/r", start + 1);
  EXPECT_FALSE(recent.expired);
  EXPECT_EQ(recent.events.size(), 2u);
  store.Compact();
  EXPECT_TRUE(store.EventsAfter("g/r", start + 2).expired);
  EXPECT_FALSE(store.EventsAfter("g/r", store.CurrentResourceVersion()).expired);
}

}  // namespace
}  // namespace kca::emulator
