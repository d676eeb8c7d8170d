// libFuzzer target: what the CSR informer reads from the server. Input: lines; the first is the
// body of the list, every later one a line of the watch stream that follows it (ADDED, MODIFIED,
// DELETED, BOOKMARK, ERROR with any types). Each line goes through DecodeWatchEvent, then the
// whole exchange through a real CsrInformer against a scripted client. Invariants: a decoded
// event re-encodes and re-decodes to the same event; no exception reaches the informer's
// top-level guard (every decoder returns typed errors); what the informer hands its handler is
// a CSR with the fields the controller reads (name, signer) or a named deletion, and its
// resourceVersion is always one the server sent.
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fake_api_client.h"
#include "fuzz_invariants.h"
#include "kube_csr_approver/kube/csr_informer.h"

namespace {

using kca::fuzz::Violated;

std::vector<std::string> Lines(std::string_view input) {
  std::vector<std::string> lines;
  while (!input.empty()) {
    const size_t newline = input.find('\n');
    std::string line(input.substr(0, newline));
    input = newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
  }
  return lines;
}

// As the HTTP client's stream: blank lines skipped, each other line decoded or a BadResponse.
class ScriptedStream final : public kca::kube::WatchStream {
 public:
  explicit ScriptedStream(std::vector<std::string> lines) : lines_(std::move(lines)) {}
  kca::kube::ApiResult<std::optional<kca::kube::WatchEvent>> Next() override {
    while (next_ < lines_.size() && lines_[next_].empty()) ++next_;
    if (next_ == lines_.size()) return std::optional<kca::kube::WatchEvent>();
    auto event = kca::kube::DecodeWatchEvent(lines_[next_++]);
    if (!event.ok()) {
      kca::kube::ApiError error = kca::fuzz::BadResponse("watch");
      error.message = "watch: " + event.error().message;
      return error;
    }
    return std::optional<kca::kube::WatchEvent>(std::move(*event));
  }

 private:
  std::vector<std::string> lines_;
  size_t next_ = 0;
};

class Recorder final : public kca::kube::CsrEventHandler {
 public:
  void OnUpsert(const kca::CsrObject& csr) override {
    if (csr.name.empty() || csr.signer_name.empty())
      Violated("an upserted CSR without name/signer");
  }
  void OnDelete(const std::string& name) override {
    if (name.empty()) Violated("a deletion without a name");
  }
  void OnSynced() override {}
};

// Every metadata.resourceVersion string in `value` (the server's, wherever it sent one).
void CollectResourceVersions(const nlohmann::json& value, std::set<std::string>& out) {
  if (!value.is_object()) return;
  if (auto metadata = value.find("metadata"); metadata != value.end() && metadata->is_object()) {
    if (auto rv = metadata->find("resourceVersion"); rv != metadata->end() && rv->is_string()) {
      out.insert(rv->get<std::string>());
    }
  }
  if (auto object = value.find("object"); object != value.end()) {
    CollectResourceVersions(*object, out);
  }
}

void CheckDecoding(const std::string& line, std::set<std::string>& versions) {
  auto event = kca::kube::DecodeWatchEvent(line);
  if (!event.ok()) {
    if (event.error().message.empty()) Violated("a watch line refused without a reason");
    return;
  }
  if (!event->object.is_object()) Violated("a decoded event whose object is not an object");
  const nlohmann::json encoded = {{"type", event->type}, {"object", event->object}};
  auto again = kca::kube::DecodeWatchEvent(encoded.dump());
  if (!again.ok() || again->type != event->type || again->object != event->object) {
    Violated("a watch event does not re-decode to itself", line);
  }
  CollectResourceVersions(event->object, versions);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool quiet = [] {
    spdlog::set_level(spdlog::level::off);
    return true;
  }();
  (void)quiet;
  std::vector<std::string> lines =
      Lines(std::string_view(reinterpret_cast<const char*>(data), size));
  if (lines.empty()) return 0;
  std::set<std::string> versions;
  const nlohmann::json list_body =
      nlohmann::json::parse(lines.front(), nullptr, /*allow_exceptions=*/false);
  CollectResourceVersions(list_body, versions);
  for (size_t i = 1; i < lines.size(); ++i) CheckDecoding(lines[i], versions);

  kca::fuzz::FakeApiClient client;
  client.list = [&](const std::string& path, const nlohmann::json* continue_token) {
    // Later pages (after a continue token) are empty: a server that always continues would
    // keep any client listing.
    if (continue_token != nullptr && !continue_token->get<std::string>().empty()) {
      return kca::kube::ApiResult<nlohmann::json>(
          nlohmann::json{{"metadata", {{"resourceVersion", "7"}}}, {"items", nullptr}});
    }
    return kca::fuzz::ParsedBody(lines.front(), path);
  };
  versions.insert("7");
  int watches = 0;
  client.watch = [&]() -> kca::kube::ApiResult<std::unique_ptr<kca::kube::WatchStream>> {
    if (watches++ == 0) {
      return std::unique_ptr<kca::kube::WatchStream>(std::make_unique<ScriptedStream>(
          std::vector<std::string>(lines.begin() + 1, lines.end())));
    }
    kca::kube::ApiError cut;
    cut.code = kca::kube::ApiErrorCode::kConnectionFailed;
    cut.message = "watch: connection refused";
    return cut;
  };

  // The informer runs until its first backoff, which ends it: every path through a list and a
  // watch reaches one (a failure, an expiry, or the second watch being refused).
  std::mutex mutex;
  std::condition_variable changed;
  bool finished = false;
  bool guard_caught = false;
  kca::fuzz::StoppedClock clock;
  kca::kube::CsrInformerOptions options;
  options.clock = &clock;
  options.seed = 1;
  options.sleep = [&](std::chrono::nanoseconds, const kca::kube::Cancellation&) {
    std::lock_guard lock(mutex);
    finished = true;
    changed.notify_all();
    return false;
  };
  options.on_unexpected_error = [&] { guard_caught = true; };
  Recorder recorder;
  kca::kube::CsrInformer informer(client, recorder, options);
  informer.Start();
  {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return finished; });
  }
  informer.Stop();
  if (guard_caught) Violated("an exception escaped a decoder into the informer's guard");
  const std::string rv = informer.resource_version();
  if (!rv.empty() && !versions.contains(rv))
    Violated("a resourceVersion the server never sent", rv);
  return 0;
}
