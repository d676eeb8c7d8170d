#include "protobuf_decode.h"

#include <cstdint>
#include <functional>

#include "kube_format.h"

namespace kca::emulator {
namespace {

// A cursor over protobuf wire data; any malformed input turns it into the failed state.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool done() const { return pos_ >= data_.size() || failed_; }
  bool failed() const { return failed_; }

  bool Next(uint32_t* field, uint32_t* wire) {
    uint64_t key = 0;
    if (!Varint(&key)) return false;
    *field = static_cast<uint32_t>(key >> 3);
    *wire = static_cast<uint32_t>(key & 7);
    return *field != 0 || Fail();
  }
  bool Varint(uint64_t* out) {
    *out = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) return Fail();
      uint8_t b = static_cast<uint8_t>(data_[pos_++]);
      *out |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return Fail();
  }
  bool Bytes(std::string_view* out) {
    uint64_t len = 0;
    if (!Varint(&len) || len > data_.size() - pos_) return Fail();
    *out = data_.substr(pos_, len);
    pos_ += len;
    return true;
  }
  bool Skip(uint32_t wire) {
    uint64_t v;
    std::string_view s;
    switch (wire) {
      case 0:
        return Varint(&v);
      case 1:
        return Advance(8);
      case 2:
        return Bytes(&s);
      case 5:
        return Advance(4);
      default:
        return Fail();
    }
  }

 private:
  bool Advance(size_t n) {
    if (n > data_.size() - pos_) return Fail();
    pos_ += n;
    return true;
  }
  bool Fail() {
    failed_ = true;
    return false;
  }
  std::string_view data_;
  size_t pos_ = 0;
  bool failed_ = false;
};

using FieldFn = std::function<bool(Reader&, uint32_t field, uint32_t wire)>;

bool Walk(std::string_view data, const FieldFn& fn) {
  Reader r(data);
  uint32_t field, wire;
  while (!r.done()) {
    if (!r.Next(&field, &wire)) return false;
    if (!fn(r, field, wire)) return false;
  }
  return !r.failed();
}

bool String(Reader& r, uint32_t wire, std::string* out) {
  std::string_view s;
  if (wire != 2 || !r.Bytes(&s)) return false;
  *out = std::string(s);
  return true;
}

// metav1.Time {seconds = 1; nanos = 2}; nullopt for the zero time.
std::optional<std::string> Time(Reader& r, uint32_t wire, bool* ok) {
  std::string_view s;
  *ok = wire == 2 && r.Bytes(&s);
  if (!*ok) return std::nullopt;
  int64_t seconds = 0;
  *ok = Walk(s, [&](Reader& in, uint32_t f, uint32_t w) {
    uint64_t v;
    if (f == 1 && w == 0) {
      if (!in.Varint(&v)) return false;
      seconds = static_cast<int64_t>(v);
      return true;
    }
    return in.Skip(w);
  });
  if (!*ok || seconds == 0) return std::nullopt;
  return FormatTime(std::chrono::system_clock::from_time_t(seconds));
}

bool StringMap(Reader& r, uint32_t wire, Json* out) {
  std::string_view s;
  if (wire != 2 || !r.Bytes(&s)) return false;
  std::string key, value;
  if (!Walk(s, [&](Reader& in, uint32_t f, uint32_t w) {
        if (f == 1) return String(in, w, &key);
        if (f == 2) return String(in, w, &value);
        return in.Skip(w);
      })) {
    return false;
  }
  (*out)[key] = value;
  return true;
}

bool ObjectMeta(std::string_view data, Json* meta) {
  return Walk(data, [&](Reader& r, uint32_t f, uint32_t w) {
    std::string s;
    bool ok = true;
    switch (f) {
      case 1:
      case 2:
      case 3:
      case 5:
      case 6: {
        if (!String(r, w, &s)) return false;
        static const char* kNames[] = {"", "name", "generateName",   "namespace",
                                       "", "uid",  "resourceVersion"};
        if (!s.empty()) (*meta)[kNames[f]] = s;
        return true;
      }
      case 8: {
        std::optional<std::string> t = Time(r, w, &ok);
        if (t) (*meta)["creationTimestamp"] = *t;
        return ok;
      }
      case 11:
        return StringMap(r, w, &(*meta)["labels"]);
      case 12:
        return StringMap(r, w, &(*meta)["annotations"]);
      case 14:
        if (!String(r, w, &s)) return false;
        (*meta)["finalizers"].push_back(s);
        return true;
      default:
        return r.Skip(w);
    }
  });
}

bool CsrSpec(std::string_view data, Json* spec) {
  return Walk(data, [&](Reader& r, uint32_t f, uint32_t w) {
    std::string s;
    uint64_t v;
    switch (f) {
      case 1:
        if (!String(r, w, &s)) return false;
        (*spec)["request"] = Base64Encode(s);
        return true;
      case 2:
      case 3:
      case 7:
        if (!String(r, w, &s)) return false;
        (*spec)[f == 2 ? "username" : f == 3 ? "uid" : "signerName"] = s;
        return true;
      case 4:
      case 5:
        if (!String(r, w, &s)) return false;
        (*spec)[f == 4 ? "groups" : "usages"].push_back(s);
        return true;
      case 8:
        if (w != 0 || !r.Varint(&v)) return false;
        (*spec)["expirationSeconds"] = static_cast<int32_t>(v);
        return true;
      default:
        return r.Skip(w);
    }
  });
}

bool CsrCondition(std::string_view data, Json* c) {
  return Walk(data, [&](Reader& r, uint32_t f, uint32_t w) {
    std::string s;
    bool ok = true;
    switch (f) {
      case 1:
      case 2:
      case 3:
      case 6: {
        if (!String(r, w, &s)) return false;
        (*c)[f == 1 ? "type" : f == 2 ? "reason" : f == 3 ? "message" : "status"] = s;
        return true;
      }
      case 4:
      case 5: {
        std::optional<std::string> t = Time(r, w, &ok);
        if (t) (*c)[f == 4 ? "lastUpdateTime" : "lastTransitionTime"] = *t;
        return ok;
      }
      default:
        return r.Skip(w);
    }
  });
}

bool CsrStatus(std::string_view data, Json* status) {
  return Walk(data, [&](Reader& r, uint32_t f, uint32_t w) {
    std::string_view s;
    if (f == 1) {
      Json c = Json::object();
      if (w != 2 || !r.Bytes(&s) || !CsrCondition(s, &c)) return false;
      (*status)["conditions"].push_back(c);
      return true;
    }
    if (f == 2) {
      if (w != 2 || !r.Bytes(&s)) return false;
      (*status)["certificate"] = Base64Encode(std::string(s));
      return true;
    }
    return r.Skip(w);
  });
}

bool ResourceAttributes(std::string_view data, Json* out) {
  static const char* kNames[] = {"",        "namespace", "verb",        "group",
                                 "version", "resource",  "subresource", "name"};
  return Walk(data, [&](Reader& r, uint32_t f, uint32_t w) {
    std::string s;
    if (f >= 1 && f <= 7) {
      if (!String(r, w, &s)) return false;
      if (!s.empty()) (*out)[kNames[f]] = s;
      return true;
    }
    return r.Skip(w);
  });
}

bool NonResourceAttributes(std::string_view data, Json* out) {
  return Walk(data, [&](Reader& r, uint32_t f, uint32_t w) {
    std::string s;
    if (f == 1 || f == 2) {
      if (!String(r, w, &s)) return false;
      (*out)[f == 1 ? "path" : "verb"] = s;
      return true;
    }
    return r.Skip(w);
  });
}

// SubjectAccessReviewSpec and SelfSubjectAccessReviewSpec share fields 1 and 2.
bool ReviewSpec(std::string_view data, Json* spec) {
  return Walk(data, [&](Reader& r, uint32_t f, uint32_t w) {
    std::string_view b;
    std::string s;
    switch (f) {
      case 1:
        if (w != 2 || !r.Bytes(&b)) return false;
        (*spec)["resourceAttributes"] = Json::object();
        return ResourceAttributes(b, &(*spec)["resourceAttributes"]);
      case 2:
        if (w != 2 || !r.Bytes(&b)) return false;
        (*spec)["nonResourceAttributes"] = Json::object();
        return NonResourceAttributes(b, &(*spec)["nonResourceAttributes"]);
      case 3:
      case 6:
        if (!String(r, w, &s)) return false;
        (*spec)[f == 3 ? "user" : "uid"] = s;
        return true;
      case 4:
        if (!String(r, w, &s)) return false;
        (*spec)["groups"].push_back(s);
        return true;
      default:
        return r.Skip(w);
    }
  });
}

}  // namespace

std::optional<Json> DecodeKubernetesProtobuf(const std::string& body, std::string* error) {
  static const std::string kMagic("k8s\0", 4);
  if (body.compare(0, 4, kMagic) != 0) {
    *error = "provided object is not a protobuf encoded Kubernetes object (missing magic prefix)";
    return std::nullopt;
  }
  std::string api_version, kind;
  std::string_view raw;
  bool ok = Walk(std::string_view(body).substr(4), [&](Reader& r, uint32_t f, uint32_t w) {
    std::string_view s;
    if (f == 1) {  // TypeMeta
      if (w != 2 || !r.Bytes(&s)) return false;
      return Walk(s, [&](Reader& in, uint32_t tf, uint32_t tw) {
        if (tf == 1) return String(in, tw, &api_version);
        if (tf == 2) return String(in, tw, &kind);
        return in.Skip(tw);
      });
    }
    if (f == 2) return w == 2 && r.Bytes(&raw);
    return r.Skip(w);
  });
  if (!ok) {
    *error = "unable to decode the protobuf body: malformed runtime.Unknown";
    return std::nullopt;
  }
  Json object;
  object["kind"] = kind;
  object["apiVersion"] = api_version;
  object["metadata"] = Json::object();
  if (kind == "SelfSubjectReview") return object;  // nothing in it is read
  if (kind == "SelfSubjectRulesReview") {
    // SelfSubjectRulesReviewSpec {namespace = 1} is field 2 of the review.
    object["spec"] = Json::object();
    ok = Walk(raw, [&](Reader& r, uint32_t f, uint32_t w) {
      std::string_view s;
      if (f != 2) return r.Skip(w);
      if (w != 2 || !r.Bytes(&s)) return false;
      return Walk(s, [&](Reader& in, uint32_t sf, uint32_t sw) {
        std::string ns;
        if (sf != 1) return in.Skip(sw);
        if (!String(in, sw, &ns)) return false;
        object["spec"]["namespace"] = ns;
        return true;
      });
    });
    if (!ok) {
      *error = "unable to decode the protobuf body of a " + kind + ": malformed message";
      return std::nullopt;
    }
    return object;
  }
  if (kind == "SubjectAccessReview" || kind == "SelfSubjectAccessReview") {
    object["spec"] = Json::object();
    ok = Walk(raw, [&](Reader& r, uint32_t f, uint32_t w) {
      std::string_view s;
      if (f == 1 || f == 2) {
        if (w != 2 || !r.Bytes(&s)) return false;
        return f == 1 ? ObjectMeta(s, &object["metadata"]) : ReviewSpec(s, &object["spec"]);
      }
      return r.Skip(w);
    });
    if (!ok) {
      *error = "unable to decode the protobuf body of a " + kind + ": malformed message";
      return std::nullopt;
    }
    return object;
  }
  if (kind != "CertificateSigningRequest") {
    *error = "protobuf bodies of kind " + Quote(kind) +
             " are not supported by kube-apiserver-emulator; send application/json";
    return std::nullopt;
  }
  object["spec"] = Json::object();
  object["status"] = Json::object();
  ok = Walk(raw, [&](Reader& r, uint32_t f, uint32_t w) {
    std::string_view s;
    if (f >= 1 && f <= 3) {
      if (w != 2 || !r.Bytes(&s)) return false;
      if (f == 1) return ObjectMeta(s, &object["metadata"]);
      if (f == 2) return CsrSpec(s, &object["spec"]);
      return CsrStatus(s, &object["status"]);
    }
    return r.Skip(w);
  });
  if (!ok) {
    *error = "unable to decode the protobuf body of a " + kind + ": malformed message";
    return std::nullopt;
  }
  return object;
}

}  // namespace kca::emulator
