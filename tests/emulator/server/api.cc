#include "api.h"

#include <arpa/inet.h>

#include <algorithm>
#include <random>
#include <set>
#include <thread>

#include "csr_strategy.h"
#include "event_conversion.h"
#include "kube_format.h"
#include "pki.h"
#include "protobuf_decode.h"

namespace kca::emulator {
namespace {

using Clock = std::chrono::system_clock;

// One served resource (an APIResource in discovery).
struct ResourceDef {
  std::string group;
  std::string version;
  std::string resource;
  std::string kind;
  std::string singular;
  bool namespaced;
  std::vector<std::string> short_names;
  std::vector<std::string> verbs;
  std::vector<std::string> subresources;
  bool review = false;  // create-only, not stored (SubjectAccessReview)

  std::string GroupVersion() const { return group.empty() ? version : group + "/" + version; }
  // Both Event APIs share the core/v1 store, as in kube-apiserver.
  std::string StoreKey() const { return resource == "events" ? "/events" : group + "/" + resource; }
  ResourceName Name() const { return {group, resource, kind}; }
};

const std::vector<std::string> kAllVerbs = {"create", "delete", "deletecollection", "get",
                                            "list",   "patch",  "update",           "watch"};

const std::vector<ResourceDef>& Catalogue() {
  static const std::vector<ResourceDef> kDefs = {
      {"certificates.k8s.io",
       "v1",
       "certificatesigningrequests",
       "CertificateSigningRequest",
       "certificatesigningrequest",
       false,
       {"csr"},
       kAllVerbs,
       {"approval", "status"}},
      {"coordination.k8s.io", "v1", "leases", "Lease", "lease", true, {}, kAllVerbs, {}},
      {"events.k8s.io", "v1", "events", "Event", "event", true, {"ev"}, kAllVerbs, {}},
      {"", "v1", "events", "Event", "event", true, {"ev"}, kAllVerbs, {}},
      {"", "v1", "nodes", "Node", "node", false, {"no"}, kAllVerbs, {"status"}},
      // GA in v1.33 (staging/src/k8s.io/api/networking/v1/types.go); not served with
      // ApiOptions::serve_service_cidrs false, as on older servers.
      {"networking.k8s.io",
       "v1",
       "servicecidrs",
       "ServiceCIDR",
       "servicecidr",
       false,
       {},
       kAllVerbs,
       {"status"}},
      {"authorization.k8s.io",
       "v1",
       "subjectaccessreviews",
       "SubjectAccessReview",
       "",
       false,
       {},
       {"create"},
       {},
       true},
      {"authorization.k8s.io",
       "v1",
       "selfsubjectaccessreviews",
       "SelfSubjectAccessReview",
       "",
       false,
       {},
       {"create"},
       {},
       true},
      {"authorization.k8s.io",
       "v1",
       "selfsubjectrulesreviews",
       "SelfSubjectRulesReview",
       "",
       false,
       {},
       {"create"},
       {},
       true},
      {"authentication.k8s.io",
       "v1",
       "selfsubjectreviews",
       "SelfSubjectReview",
       "",
       false,
       {},
       {"create"},
       {},
       true},
  };
  return kDefs;
}

// The resources this server serves: the catalogue, less ServiceCIDRs on a server without them.
using Served = std::vector<const ResourceDef*>;

Served ServedResources(bool service_cidrs) {
  Served out;
  for (const ResourceDef& d : Catalogue()) {
    if (d.resource == "servicecidrs" && !service_cidrs) continue;
    out.push_back(&d);
  }
  return out;
}

std::vector<std::string> GroupVersions(const Served& served) {
  std::vector<std::string> out;
  for (const ResourceDef* def : served) {
    const ResourceDef& d = *def;
    if (d.group.empty()) continue;
    if (std::find(out.begin(), out.end(), d.GroupVersion()) == out.end()) {
      out.push_back(d.GroupVersion());
    }
  }
  return out;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string UrlDecode(const std::string& s, bool plus_is_space) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else if (plus_is_space && s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string::npos ? std::string::npos : pos - start));
    if (pos == std::string::npos) break;
    start = pos + 1;
  }
  return out;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

ApiResponse JsonResponse(int status, const Json& body) {
  ApiResponse r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  return r;
}

ApiResponse StatusResponse(const Json& status) {
  return JsonResponse(status["code"].get<int>(), status);
}

Outcome Respond(ApiResponse r) { return Outcome{std::move(r), std::nullopt}; }
Outcome RespondStatus(const Json& status) { return Respond(StatusResponse(status)); }

Outcome NotFoundPath() {
  return RespondStatus(StatusFailure(
      404, "NotFound", "the server could not find the requested resource", Json::object()));
}

Outcome MethodNotAllowed() {
  return RespondStatus(StatusFailure(405, "MethodNotAllowed",
                                     "the server does not allow this method on the requested "
                                     "resource",
                                     Json::object()));
}

std::string NewUid() {
  std::string h = RandomHex(16);
  h[12] = '4';
  h[16] = "89ab"[HexValue(h[16]) & 3];
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20);
}

std::string GenerateNameSuffix() {
  static const char kChars[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string hex = RandomHex(5);
  std::string out;
  for (size_t i = 0; i < 5; ++i) {
    out.push_back(kChars[(HexValue(hex[2 * i]) * 16 + HexValue(hex[2 * i + 1])) % 27]);
  }
  return out;
}

// Boolean query values the way apimachinery's conversion accepts them.
std::optional<bool> ParseBool(const std::string& v) {
  if (v == "1" || v == "t" || v == "T" || v == "true" || v == "TRUE" || v == "True") return true;
  if (v == "0" || v == "f" || v == "F" || v == "false" || v == "FALSE" || v == "False")
    return false;
  return std::nullopt;
}

std::optional<int64_t> ParseInt(const std::string& v) {
  if (v.empty() || v.size() > 18) return std::nullopt;
  size_t i = v[0] == '-' ? 1 : 0;
  if (i == v.size()) return std::nullopt;
  for (size_t j = i; j < v.size(); ++j) {
    if (v[j] < '0' || v[j] > '9') return std::nullopt;
  }
  return std::stoll(v);
}

// Equality-based label/field selectors ("a=b,c!=d,e,!f").
std::optional<std::vector<Selector>> ParseSelector(const std::string& text, bool labels) {
  std::vector<Selector> out;
  if (Trim(text).empty()) return out;
  for (const std::string& raw : Split(text, ',')) {
    std::string term = Trim(raw);
    if (term.empty()) return std::nullopt;
    size_t ne = term.find("!=");
    size_t eq = term.find('=');
    if (ne != std::string::npos) {
      out.push_back({Trim(term.substr(0, ne)), "!=", Trim(term.substr(ne + 2))});
    } else if (eq != std::string::npos) {
      size_t vstart = term.compare(eq, 2, "==") == 0 ? eq + 2 : eq + 1;
      out.push_back({Trim(term.substr(0, eq)), "=", Trim(term.substr(vstart))});
    } else if (labels && term[0] == '!') {
      out.push_back({Trim(term.substr(1)), "!exists", ""});
    } else if (labels) {
      out.push_back({term, "exists", ""});
    } else {
      return std::nullopt;
    }
    if (out.back().key.empty()) return std::nullopt;
  }
  return out;
}

// The value of a supported field label; absent fields select as "" (as kube-apiserver's field
// sets do).
std::optional<std::string> FieldValue(const Json& object, const std::string& key) {
  const Json* at = &object;
  for (const std::string& part : Split(key, '.')) {
    if (!at->is_object() || !at->contains(part)) return std::string();
    at = &(*at)[part];
  }
  if (at->is_string()) return at->get<std::string>();
  if (at->is_null()) return std::string();
  if (key == "source" && at->is_object()) return at->value("component", std::string());
  return at->dump();
}

bool IsEventsApi(const ResourceDef& d) { return d.group == "events.k8s.io"; }
Json FromStorage(const ResourceDef& d, Json o) { return IsEventsApi(d) ? EventFromCore(o) : o; }

// An item of a list response carries no kind or apiVersion: kube-apiserver encodes the list's
// type only on the list itself (kubernetes/kubernetes issue 3030, still open;
// staging/src/k8s.io/apimachinery/pkg/runtime/serializer/versioning/versioning.go sets the GVK of
// the encoded object, not of its items). Single objects, Table rows and watch events keep theirs.
Json WithoutTypeMeta(Json items) {
  for (Json& item : items) {
    item.erase("kind");
    item.erase("apiVersion");
  }
  return items;
}

// Field labels of events.k8s.io/v1 in terms of the stored core/v1 Event.
std::string StorageFieldLabel(const ResourceDef& d, const std::string& key) {
  if (!IsEventsApi(d)) return key;
  if (key.rfind("regarding.", 0) == 0) return "involvedObject." + key.substr(10);
  if (key == "reportingController") return "reportingComponent";
  if (key == "deprecatedSource") return "source";
  return key;
}

bool FieldLabelSupported(const ResourceDef& d, const std::string& key) {
  if (key == "metadata.name" || (d.namespaced && key == "metadata.namespace")) return true;
  if (d.resource == "certificatesigningrequests") return key == "spec.signerName";
  if (d.resource == "events") {
    static const std::set<std::string> kEventFields = {"involvedObject.kind",
                                                       "involvedObject.namespace",
                                                       "involvedObject.name",
                                                       "involvedObject.uid",
                                                       "involvedObject.apiVersion",
                                                       "involvedObject.resourceVersion",
                                                       "involvedObject.fieldPath",
                                                       "reason",
                                                       "reportingComponent",
                                                       "source",
                                                       "type"};
    return kEventFields.count(StorageFieldLabel(d, key)) != 0;
  }
  return false;
}

bool SelectorMatches(const std::vector<Selector>& sel, const Json& object, bool labels) {
  for (const Selector& s : sel) {
    std::optional<std::string> value;
    if (labels) {
      const Json& meta = object["metadata"];
      if (meta.contains("labels") && meta["labels"].is_object() && meta["labels"].contains(s.key) &&
          meta["labels"][s.key].is_string()) {
        value = meta["labels"][s.key].get<std::string>();
      }
    } else {
      value = FieldValue(object, s.key);
    }
    if (s.op == "=" && value != s.value) return false;
    if (s.op == "!=" && value == s.value) return false;
    if (s.op == "exists" && !value) return false;
    if (s.op == "!exists" && value) return false;
  }
  return true;
}

// Copying and dumping nlohmann values recurse: refuse absurd nesting before parsing (the
// real server's decoder has a depth limit as well).
constexpr int kMaxJsonDepth = 512;
Json ParseBody(const std::string& text) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxJsonDepth) return Json(Json::value_t::discarded);
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return Json::parse(text, nullptr, false);
}

bool WantsTable(const std::string& accept) { return accept.find("as=Table") != std::string::npos; }

Json RowObject(const Json& object, const std::string& include) {
  if (include == "Object") return object;
  Json partial;
  partial["kind"] = "PartialObjectMetadata";
  partial["apiVersion"] = "meta.k8s.io/v1";
  partial["metadata"] = object["metadata"];
  return partial;
}

Json Column(const char* name, const char* description) {
  return {{"name", name},
          {"type", "string"},
          {"format", ""},
          {"description", description},
          {"priority", 0}};
}

std::string AgeSince(const Json& t) {
  if (!t.is_string()) return "<unknown>";
  std::optional<Clock::time_point> parsed = ParseTime(t.get<std::string>());
  if (!parsed) return "<unknown>";
  return HumanDuration(std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - *parsed));
}

// kubectl get events: Last Seen, Type, Reason, Object, Message (either Event API's field names).
Json EventCells(const Json& e) {
  auto field = [&](const char* core, const char* events) -> Json {
    if (e.contains(core) && !e[core].is_null()) return e[core];
    if (e.contains(events) && !e[events].is_null()) return e[events];
    return Json();
  };
  Json last = field("lastTimestamp", "deprecatedLastTimestamp");
  if (!last.is_string()) last = e.value("eventTime", Json());
  Json regarding = field("involvedObject", "regarding");
  std::string object;
  if (regarding.is_object()) {
    std::string kind = regarding.value("kind", std::string());
    std::transform(kind.begin(), kind.end(), kind.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    object = kind + "/" + regarding.value("name", std::string());
  }
  Json message = field("message", "note");
  return Json::array({AgeSince(last), e.value("type", std::string()),
                      e.value("reason", std::string()), object,
                      message.is_string() ? message.get<std::string>() : std::string()});
}

Json GenericColumns(const ResourceDef& def) {
  Json cols = Json::array();
  if (def.resource == "events") {
    cols.push_back(Column(
        "Last Seen", "The time at which the most recent occurrence of this event was recorded."));
    cols.push_back(Column(
        "Type", "Type of this event (Normal, Warning), new types could be added in the future."));
    cols.push_back(Column("Reason",
                          "This should be a short, machine understandable string that gives the "
                          "reason for the transition into the object's current status."));
    cols.push_back(Column("Object", "The object that this event is about."));
    cols.push_back(
        Column("Message", "A human-readable description of the status of this operation."));
    return cols;
  }
  cols.push_back({{"name", "Name"},
                  {"type", "string"},
                  {"format", "name"},
                  {"description", "Name must be unique within a namespace."},
                  {"priority", 0}});
  if (def.resource == "leases") {
    cols.push_back({{"name", "Holder"},
                    {"type", "string"},
                    {"format", ""},
                    {"description",
                     "holderIdentity contains the identity of the holder of a "
                     "current lease."},
                    {"priority", 0}});
  }
  cols.push_back({{"name", "Age"},
                  {"type", "string"},
                  {"format", ""},
                  {"description",
                   "CreationTimestamp is a timestamp representing the server time "
                   "when this object was created."},
                  {"priority", 0}});
  return cols;
}

Json TableRow(const ResourceDef& def, const Json& object, const std::string& include) {
  Json row;
  Clock::time_point now = Clock::now();
  if (def.resource == "certificatesigningrequests") {
    row["cells"] = CsrTableCells(object, now);
  } else if (def.resource == "events") {
    row["cells"] = EventCells(object);
  } else {
    std::string age = "<unknown>";
    const Json& meta = object["metadata"];
    if (meta.contains("creationTimestamp") && meta["creationTimestamp"].is_string()) {
      if (auto t = ParseTime(meta["creationTimestamp"].get<std::string>())) {
        age = HumanDuration(std::chrono::duration_cast<std::chrono::seconds>(now - *t));
      }
    }
    Json cells = Json::array({meta.value("name", std::string())});
    if (def.resource == "leases") {
      std::string holder;
      if (object.contains("spec") && object["spec"].is_object()) {
        holder = object["spec"].value("holderIdentity", std::string());
      }
      cells.push_back(holder);
    }
    cells.push_back(age);
    row["cells"] = cells;
  }
  if (include != "None") row["object"] = RowObject(object, include);
  return row;
}

Json Table(const ResourceDef& def, const std::vector<Json>& objects, const Json& list_meta,
           const std::string& include) {
  Json table;
  table["kind"] = "Table";
  table["apiVersion"] = "meta.k8s.io/v1";
  table["metadata"] = list_meta;
  table["columnDefinitions"] =
      def.resource == "certificatesigningrequests" ? CsrColumnDefinitions() : GenericColumns(def);
  table["rows"] = Json::array();
  for (const Json& o : objects) table["rows"].push_back(TableRow(def, o, include));
  return table;
}

// pkg/apis/coordination/validation ValidateLeaseSpec (the numeric rules).
std::vector<FieldError> ValidateLeaseSpec(const Json& lease) {
  std::vector<FieldError> errs;
  if (!lease.contains("spec") || !lease["spec"].is_object()) return errs;
  const Json& spec = lease["spec"];
  auto check = [&](const char* field, int64_t minimum, const char* detail) {
    if (!spec.contains(field) || !spec[field].is_number_integer()) return;
    int64_t v = spec[field].get<int64_t>();
    if (v < minimum) {
      errs.push_back(
          {FieldError::Type::kInvalid, std::string("spec.") + field, std::to_string(v), detail});
    }
  };
  check("leaseDurationSeconds", 1, "must be greater than 0");
  check("leaseTransitions", 0, "must be greater than or equal to 0");
  return errs;
}

// A CIDR's address family (4 or 6) when `value` is one in canonical form ("10.96.0.0/12": no
// host bits, no leading zeros), else 0 and `why` says what is wrong, as
// staging/src/k8s.io/apimachinery/pkg/util/validation/ip.go IsValidCIDR words it.
int CanonicalCidrFamily(const std::string& value, std::string* why) {
  *why = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)";
  const size_t slash = value.find('/');
  if (slash == std::string::npos) return 0;
  const std::string address = value.substr(0, slash);
  const std::string length = value.substr(slash + 1);
  if (length.empty() || length.size() > 3 ||
      !std::all_of(length.begin(), length.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return 0;
  }
  unsigned char bytes[16] = {};
  const int family = address.find(':') == std::string::npos ? AF_INET : AF_INET6;
  if (inet_pton(family, address.c_str(), bytes) != 1) return 0;
  const int bits = family == AF_INET ? 32 : 128;
  const int prefix = std::stoi(length);
  if (prefix > bits) return 0;
  for (int i = prefix; i < bits; ++i)
    bytes[i / 8] &= static_cast<unsigned char>(~(0x80 >> (i % 8)));
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, bytes, text, sizeof(text));
  const std::string canonical = std::string(text) + "/" + std::to_string(prefix);
  if (canonical != value) {
    *why = "must be in canonical form (" + Quote(canonical) + ")";
    return 0;
  }
  return family == AF_INET ? 4 : 6;
}

// pkg/apis/networking/validation ValidateServiceCIDR: one or two CIDRs (two: one of each family),
// each valid.
// spec.cidrs of a ServiceCIDR, or null when absent or not where it belongs.
Json ServiceCidrsOf(const Json& object) {
  if (!object.is_object() || !object.contains("spec") || !object["spec"].is_object())
    return nullptr;
  const Json& spec = object["spec"];
  return spec.contains("cidrs") ? spec["cidrs"] : Json(nullptr);
}

std::vector<FieldError> ValidateServiceCidr(const Json& object) {
  std::vector<FieldError> errs;
  const Json cidrs = ServiceCidrsOf(object);
  if (!cidrs.is_array() || cidrs.empty()) {
    errs.push_back({FieldError::Type::kRequired, "spec.cidrs", "", "at least one CIDR required"});
    return errs;
  }
  const std::string shown = "v1.ServiceCIDRSpec{CIDRs:" + cidrs.dump() + "}";
  if (cidrs.size() > 2) {
    errs.push_back(
        {FieldError::Type::kInvalid, "spec.cidrs", shown, "may only hold up to 2 values"});
    return errs;
  }
  std::vector<int> families;
  for (size_t i = 0; i < cidrs.size(); ++i) {
    const std::string value = cidrs[i].is_string() ? cidrs[i].get<std::string>() : cidrs[i].dump();
    std::string why;
    const int family = CanonicalCidrFamily(value, &why);
    if (family == 0) {
      errs.push_back(
          {FieldError::Type::kInvalid, "spec.cidrs[" + std::to_string(i) + "]", Quote(value), why});
    }
    families.push_back(family);
  }
  if (errs.empty() && families.size() == 2 && families[0] == families[1]) {
    errs.push_back({FieldError::Type::kInvalid, "spec.cidrs", shown,
                    "may specify no more than one IP for each IP family, i.e 192.168.0.0/24 and "
                    "2001:db8::/64"});
  }
  return errs;
}

// Discovery documents.
Json ResourceList(const Served& served, const std::string& group_version) {
  Json list;
  list["kind"] = "APIResourceList";
  list["apiVersion"] = "v1";
  list["groupVersion"] = group_version;
  list["resources"] = Json::array();
  for (const ResourceDef* def : served) {
    const ResourceDef& d = *def;
    if (d.GroupVersion() != group_version) continue;
    Json r;
    r["name"] = d.resource;
    r["singularName"] = d.singular;
    r["namespaced"] = d.namespaced;
    r["kind"] = d.kind;
    r["verbs"] = d.verbs;
    if (!d.short_names.empty()) r["shortNames"] = d.short_names;
    list["resources"].push_back(r);
    for (const std::string& sub : d.subresources) {
      Json s;
      s["name"] = d.resource + "/" + sub;
      s["singularName"] = "";
      s["namespaced"] = d.namespaced;
      s["kind"] = d.kind;
      s["verbs"] = Json::array({"get", "patch", "update"});
      list["resources"].push_back(s);
    }
  }
  return list;
}

Json ApiGroup(const std::string& group) {
  Json g;
  g["name"] = group;
  g["versions"] = Json::array({{{"groupVersion", group + "/v1"}, {"version", "v1"}}});
  g["preferredVersion"] = {{"groupVersion", group + "/v1"}, {"version", "v1"}};
  return g;
}

Json ApiGroupList(const Served& served) {
  Json list;
  list["kind"] = "APIGroupList";
  list["apiVersion"] = "v1";
  list["groups"] = Json::array();
  for (const std::string& gv : GroupVersions(served)) {
    list["groups"].push_back(ApiGroup(gv.substr(0, gv.find('/'))));
  }
  return list;
}

// Just enough OpenAPI v3 for kubectl to see that the server validates fields itself
// (fieldValidation on PATCH), so `kubectl create` needs no client-side schema.
Json OpenApiIndex(const Served& served) {
  Json paths = Json::object();
  paths["api/v1"] = {{"serverRelativeURL", "/openapi/v3/api/v1?hash=EMULATOR"}};
  for (const std::string& gv : GroupVersions(served)) {
    paths["apis/" + gv] = {{"serverRelativeURL", "/openapi/v3/apis/" + gv + "?hash=EMULATOR"}};
  }
  return {{"paths", paths}};
}

std::optional<Json> OpenApiGroupVersion(const Served& served, const std::string& group_version,
                                        const std::string& git_version) {
  Json paths = Json::object();
  bool any = false;
  for (const ResourceDef* def : served) {
    const ResourceDef& d = *def;
    if (d.GroupVersion() != group_version) continue;
    any = true;
    std::string base = (d.group.empty() ? "/api/" : "/apis/") + d.GroupVersion() + "/" +
                       (d.namespaced ? "namespaces/{namespace}/" : "") + d.resource;
    Json gvk = {{"group", d.group}, {"version", d.version}, {"kind", d.kind}};
    Json params = Json::array({{{"name", "fieldValidation"},
                                {"in", "query"},
                                {"description", "Strict, Warn or Ignore"},
                                {"schema", {{"type", "string"}, {"uniqueItems", true}}}},
                               {{"name", "dryRun"},
                                {"in", "query"},
                                {"schema", {{"type", "string"}, {"uniqueItems", true}}}}});
    Json op = {{"operationId", "op" + d.kind},
               {"parameters", params},
               {"responses", {{"200", {{"description", "OK"}}}}},
               {"x-kubernetes-action", "patch"},
               {"x-kubernetes-group-version-kind", gvk}};
    Json post = op;
    post["x-kubernetes-action"] = "post";
    paths[base] = {{"post", post}};
    if (!d.review) paths[base + "/{name}"] = {{"patch", op}, {"put", op}};
  }
  if (!any) return std::nullopt;
  return Json{{"openapi", "3.0.0"},
              {"info", {{"title", "Kubernetes"}, {"version", git_version}}},
              {"paths", paths},
              {"components", {{"schemas", Json::object()}}}};
}

// v1.33 serves networking.k8s.io/v1 ServiceCIDRs; the emulator without them says v1.32.
Json VersionInfo(bool service_cidrs) {
  return {{"major", "1"},
          {"minor", service_cidrs ? "33" : "32"},
          {"gitVersion", service_cidrs ? "v1.33.0" : "v1.32.0"},
          {"gitCommit", "kube-apiserver-emulator"},
          {"gitTreeState", "clean"},
          {"buildDate", "2024-12-11T00:00:00Z"},
          {"goVersion", "go1.23.3"},
          {"compiler", "gc"},
          {"platform", "linux/amd64"}};
}

// A parsed request path (k8s.io/apiserver RequestInfo).
struct RequestInfo {
  bool resource_request = false;
  const ResourceDef* def = nullptr;
  std::string ns;
  std::string name;
  std::string subresource;
  std::string verb;
  bool unknown_resource = false;
};

}  // namespace

struct ApiServer::Route {
  RequestInfo info;
  std::map<std::string, std::string> query;
};

ApiServer::ApiServer(ApiOptions options, FaultSettings initial_faults)
    : options_(std::move(options)),
      store_(options_.history),
      tokens_(options_.token_file, options_.token_grace),
      faults_(initial_faults),
      review_faults_set_(std::chrono::steady_clock::now()) {}

void ApiServer::AuditWrite(const ApiRequest& request, const UserInfo& user, const std::string& verb,
                           const std::string& resource, const ApiResponse& response) {
  AuditedWrite write{user.name, "", verb, request.target, resource, response.status};
  if (request.user && request.user->name != user.name) write.impersonator = request.user->name;
  Json object;
  if (response.status >= 200 && response.status < 300) {
    object = ParseBody(response.body);
    write.response_object = &object;
  }
  write.store_revision = store_.CurrentResourceVersion();
  audit_.Record(write);
}

void ApiServer::Count(const std::string& user, const std::string& verb,
                      const std::string& resource) {
  std::lock_guard lock(counts_mu_);
  ++counts_[user][resource][verb];
}

std::optional<ApiResponse> ApiServer::InjectReviewFault(const std::string& user) {
  int latency = 0;
  int code = 0;
  {
    std::lock_guard lock(faults_mu_);
    latency = faults_.review_latency_ms;
    const auto window = std::chrono::duration<double>(faults_.review_error_seconds);
    if (faults_.review_error_code != 0 &&
        (faults_.review_error_seconds == 0 ||
         std::chrono::steady_clock::now() - review_faults_set_ < window)) {
      code = faults_.review_error_code;
    }
  }
  if (latency > 0) std::this_thread::sleep_for(std::chrono::milliseconds(latency));
  const std::string injected = " (injected by kube-apiserver-emulator)";
  switch (code) {
    case 0:
      return std::nullopt;
    case 403:
      return StatusResponse(
          ForbiddenStatus(ResourceName{"authorization.k8s.io", "subjectaccessreviews", ""}, "",
                          "User " + Quote(user) +
                              " cannot create resource \"subjectaccessreviews\" in API group "
                              "\"authorization.k8s.io\" at the cluster scope" +
                              injected));
    case 503:
      return StatusResponse(
          StatusFailure(503, "ServiceUnavailable",
                        "the server is currently unable to handle the request" + injected));
    case 504:
      return StatusResponse(StatusFailure(
          504, "Timeout",
          "the server was unable to return a response in the time allotted" + injected));
    default:
      return StatusResponse(StatusFailure(code, "InternalError",
                                          "Internal error occurred: authorizer failed" + injected));
  }
}

std::optional<ApiResponse> ApiServer::InjectFault(const std::string& resource,
                                                  const std::string& user) {
  if (resource == "subjectaccessreviews") {
    if (std::optional<ApiResponse> fault = InjectReviewFault(user)) return fault;
  }
  int latency = 0;
  std::optional<ApiResponse> out;
  {
    std::lock_guard lock(faults_mu_);
    latency = faults_.latency_ms;
    if (faults_.throttle_next_requests > 0) {
      --faults_.throttle_next_requests;
      Json details = {{"retryAfterSeconds", faults_.retry_after_seconds}};
      out = StatusResponse(StatusFailure(429, "TooManyRequests",
                                         "Too many requests, please try again later.", details));
      out->headers.emplace_back("Retry-After", std::to_string(faults_.retry_after_seconds));
    } else if (faults_.error_fraction > 0) {
      // Deterministic: exactly floor(n * fraction) of the first n requests fail.
      uint64_t before =
          static_cast<uint64_t>(static_cast<double>(fault_requests_) * faults_.error_fraction);
      ++fault_requests_;
      uint64_t after =
          static_cast<uint64_t>(static_cast<double>(fault_requests_) * faults_.error_fraction);
      if (after > before) {
        if (faults_.error_code == 503) {
          out = StatusResponse(
              StatusFailure(503, "ServiceUnavailable",
                            "the server is currently unable to handle the request (injected by "
                            "kube-apiserver-emulator)"));
        } else {
          out = StatusResponse(StatusFailure(
              faults_.error_code, "InternalError",
              "Internal error occurred: injected by kube-apiserver-emulator",
              Json{{"causes",
                    Json::array({{{"message", "injected by kube-apiserver-emulator"}}})}}));
        }
      }
    }
  }
  if (latency > 0) std::this_thread::sleep_for(std::chrono::milliseconds(latency));
  return out;
}

Outcome ApiServer::Handle(const ApiRequest& request) {
  size_t qpos = request.target.find('?');
  std::string raw_path = request.target.substr(0, qpos);
  std::string path = UrlDecode(raw_path, false);
  std::map<std::string, std::string> query;
  if (qpos != std::string::npos) {
    for (const std::string& kv : Split(request.target.substr(qpos + 1), '&')) {
      if (kv.empty()) continue;
      size_t eq = kv.find('=');
      query[UrlDecode(kv.substr(0, eq), true)] =
          eq == std::string::npos ? "" : UrlDecode(kv.substr(eq + 1), true);
    }
  }
  if (!request.user) {
    return RespondStatus(StatusFailure(401, "Unauthorized", "Unauthorized"));
  }
  UserInfo user = *request.user;
  if (!request.impersonate_user.empty() || !request.impersonate_groups.empty()) {
    // The caller needs `impersonate` on each user and group it asks for (RBAC, core group).
    auto check = [&](const std::string& resource, const std::string& name) {
      RequestAttributes a;
      a.resource_request = true;
      a.verb = "impersonate";
      a.resource = resource;
      a.name = name;
      return authorizer_.Allowed(user, a);
    };
    if (request.impersonate_user.empty()) {
      return RespondStatus(
          StatusFailure(500, "InternalError",
                        "Internal error occurred: requested groups without impersonating a user"));
    }
    if (!check("users", request.impersonate_user)) {
      return RespondStatus(
          ForbiddenStatus(ResourceName{"", "users", ""}, request.impersonate_user,
                          "User " + Quote(user.name) +
                              " cannot impersonate resource \"users\" in API group \"\" "
                              "at the cluster scope"));
    }
    for (const std::string& g : request.impersonate_groups) {
      if (!check("groups", g)) {
        return RespondStatus(
            ForbiddenStatus(ResourceName{"", "groups", ""}, g,
                            "User " + Quote(user.name) +
                                " cannot impersonate resource \"groups\" in API group "
                                "\"\" at the cluster scope"));
      }
    }
    UserInfo impersonated{request.impersonate_user, "", request.impersonate_groups};
    if (std::find(impersonated.groups.begin(), impersonated.groups.end(), "system:authenticated") ==
        impersonated.groups.end()) {
      impersonated.groups.push_back("system:authenticated");
    }
    user = impersonated;
  }

  // Resolve the path into RequestInfo.
  std::vector<std::string> parts;
  for (const std::string& p : Split(path, '/')) {
    if (!p.empty()) parts.push_back(p);
  }
  RequestInfo info;
  size_t rest = 0;
  std::string group_version;
  if (parts.size() >= 3 && parts[0] == "api" && parts[1] == "v1") {
    group_version = "v1";
    rest = 2;
  } else if (parts.size() >= 4 && parts[0] == "apis") {
    group_version = parts[1] + "/" + parts[2];
    rest = 3;
  }
  if (rest > 0) {
    info.resource_request = true;
    std::vector<std::string> r(parts.begin() + static_cast<long>(rest), parts.end());
    if (r.size() >= 3 && r[0] == "namespaces") {
      info.ns = r[1];
      r.erase(r.begin(), r.begin() + 2);
    } else if (r[0] == "namespaces") {
      r = {"namespaces"};
    }
    std::string resource = r[0];
    if (r.size() >= 2) info.name = r[1];
    if (r.size() >= 3) info.subresource = r[2];
    if (r.size() > 3) return NotFoundPath();
    for (const ResourceDef* d : ServedResources(options_.serve_service_cidrs)) {
      if (d->GroupVersion() == group_version && d->resource == resource) info.def = d;
    }
    std::string method = request.method;
    bool watch = ParseBool(query.count("watch") ? query["watch"] : "").value_or(false);
    if (method == "GET" || method == "HEAD") {
      info.verb = watch ? "watch" : info.name.empty() ? "list" : "get";
    } else if (method == "POST") {
      info.verb = "create";
    } else if (method == "PUT") {
      info.verb = "update";
    } else if (method == "PATCH") {
      info.verb = "patch";
    } else if (method == "DELETE") {
      info.verb = info.name.empty() ? "deletecollection" : "delete";
    } else {
      return MethodNotAllowed();
    }
    RequestAttributes attrs;
    attrs.resource_request = true;
    attrs.verb = info.verb;
    attrs.api_group = group_version == "v1" ? "" : parts[1];
    attrs.resource = resource;
    attrs.subresource = info.subresource;
    attrs.ns = info.ns;
    attrs.name = info.name;
    const bool write = info.verb != "get" && info.verb != "list" && info.verb != "watch";
    auto audited = [&](Outcome outcome) {
      if (write) {
        AuditWrite(request, user, info.verb,
                   info.def != nullptr ? info.def->StoreKey() : attrs.api_group + "/" + resource,
                   outcome.response);
      }
      return outcome;
    };
    if (!authorizer_.Allowed(user, attrs)) {
      std::string res = info.subresource.empty() ? resource : resource + "/" + info.subresource;
      std::string why =
          "User " + Quote(user.name) + " cannot " + info.verb + " resource " + Quote(res) +
          " in API group " + Quote(attrs.api_group) +
          (info.ns.empty() ? " at the cluster scope" : " in the namespace " + Quote(info.ns));
      return audited(RespondStatus(
          ForbiddenStatus(ResourceName{attrs.api_group, resource, ""}, info.name, why)));
    }
    Count(user.name, info.verb,
          info.subresource.empty() ? resource : resource + "/" + info.subresource);
    if (info.def == nullptr) return audited(NotFoundPath());
    if (!info.subresource.empty() &&
        std::find(info.def->subresources.begin(), info.def->subresources.end(), info.subresource) ==
            info.def->subresources.end()) {
      return audited(NotFoundPath());
    }
    if (info.def->namespaced == info.ns.empty() &&
        !(info.def->namespaced && info.name.empty() &&
          (info.verb == "list" || info.verb == "watch"))) {
      return audited(NotFoundPath());
    }
    if (std::optional<ApiResponse> fault = InjectFault(info.def->resource, user.name)) {
      return audited(Respond(*fault));
    }
    Route route{info, query};
    return audited(HandleResource(request, route, user));
  }

  // Non-resource paths.
  RequestAttributes attrs;
  attrs.verb = Lower(request.method);
  attrs.path = path;
  if (!authorizer_.Allowed(user, attrs)) {
    return RespondStatus(ForbiddenStatus(
        ResourceName{}, "",
        "User " + Quote(user.name) + " cannot " + attrs.verb + " path " + Quote(path)));
  }
  if (path.rfind("/emulator/", 0) == 0) return HandleControl(request, path);
  if (request.method != "GET" && request.method != "HEAD") return MethodNotAllowed();
  const Served served = ServedResources(options_.serve_service_cidrs);
  if (path == "/version" || path == "/version/") {
    return Respond(JsonResponse(200, VersionInfo(options_.serve_service_cidrs)));
  }
  if (path == "/healthz" || path == "/livez" || path == "/readyz") {
    ApiResponse r;
    r.content_type = "text/plain; charset=utf-8";
    r.body = "ok";
    return Respond(r);
  }
  if (path == "/api" || path == "/api/") {
    return Respond(JsonResponse(
        200, {{"kind", "APIVersions"},
              {"versions", Json::array({"v1"})},
              {"serverAddressByClientCIDRs",
               Json::array({{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", "127.0.0.1"}}})}}));
  }
  if (path == "/apis" || path == "/apis/") return Respond(JsonResponse(200, ApiGroupList(served)));
  if (path == "/api/v1") return Respond(JsonResponse(200, ResourceList(served, "v1")));
  if (parts.size() == 2 && parts[0] == "apis") {
    for (const std::string& gv : GroupVersions(served)) {
      if (gv.substr(0, gv.find('/')) == parts[1]) {
        Json g = ApiGroup(parts[1]);
        g["kind"] = "APIGroup";
        g["apiVersion"] = "v1";
        return Respond(JsonResponse(200, g));
      }
    }
  }
  if (parts.size() == 3 && parts[0] == "apis") {
    Json list = ResourceList(served, parts[1] + "/" + parts[2]);
    if (!list["resources"].empty()) return Respond(JsonResponse(200, list));
  }
  if (path == "/openapi/v3" || path == "/openapi/v3/") {
    return Respond(JsonResponse(200, OpenApiIndex(served)));
  }
  if (path.rfind("/openapi/v3/", 0) == 0) {
    std::string gv = path.substr(std::string("/openapi/v3/").size());
    if (gv.rfind("apis/", 0) == 0) gv = gv.substr(5);
    if (gv == "api/v1") gv = "v1";
    const std::string git_version =
        VersionInfo(options_.serve_service_cidrs)["gitVersion"].get<std::string>();
    if (std::optional<Json> doc = OpenApiGroupVersion(served, gv, git_version)) {
      return Respond(JsonResponse(200, *doc));
    }
  }
  return NotFoundPath();
}

namespace {

std::string ContinueToken(uint64_t rv, const std::string& start) {
  Json j = {{"v", "meta.k8s.io/v1"}, {"rv", rv}, {"start", start + std::string(1, '\0')}};
  return Base64Encode(j.dump());
}

std::string ObjectStoreName(const Json& o) {
  return o["metadata"].value("namespace", std::string()) + "/" +
         o["metadata"].value("name", std::string());
}

// Applies a PATCH body to `current` by content type.
std::optional<Json> ApplyPatch(const Json& current, const std::string& content_type,
                               const std::string& body, std::string* error) {
  Json patch = ParseBody(body);
  if (patch.is_discarded()) {
    *error = "error decoding patch: invalid JSON";
    return std::nullopt;
  }
  try {
    if (content_type.find("application/json-patch+json") != std::string::npos) {
      nlohmann::json plain = nlohmann::json::parse(current.dump());
      nlohmann::json result = plain.patch(nlohmann::json::parse(patch.dump()));
      return Json::parse(result.dump());
    }
    if (content_type.find("application/merge-patch+json") != std::string::npos ||
        content_type.find("application/strategic-merge-patch+json") != std::string::npos) {
      if (!patch.is_object()) {
        *error = "error decoding patch: the patch is not a JSON object";
        return std::nullopt;
      }
      Json result = current;
      result.merge_patch(patch);
      return result;
    }
  } catch (const nlohmann::json::exception& e) {
    *error =
        std::string("the server rejected our request due to an error in our request: ") + e.what();
    return std::nullopt;
  }
  *error = "unsupported patch type " + Quote(content_type);
  return std::nullopt;
}

// A uid in an update that differs from the stored one. PUT: the uid is a precondition
// (rest.defaultUpdatedObjectInfo.Preconditions, staging/src/k8s.io/apiserver/pkg/registry/rest/
// update.go) → 409 "Precondition failed". PATCH: the patched uid fails the immutability check
// of ValidateObjectMetaUpdate → 422.
std::optional<Json> CheckUidUnchanged(const ResourceName& rname, const RequestInfo& info,
                                      const Json& meta, const Json& old_meta) {
  if (!meta.contains("uid") || !meta["uid"].is_string()) return std::nullopt;
  const std::string sent = meta["uid"].get<std::string>();
  const std::string stored = old_meta.value("uid", std::string());
  if (sent.empty() || sent == stored) return std::nullopt;
  if (info.verb == "patch") {
    return InvalidStatus(rname, info.name,
                         {FieldError{FieldError::Type::kInvalid, "metadata.uid", Quote(sent),
                                     "field is immutable"}});
  }
  return ConflictStatus(
      rname, info.name,
      "Precondition failed: UID in precondition: " + sent + ", UID in object meta: " + stored);
}

}  // namespace

Outcome ApiServer::HandleResource(const ApiRequest& request, const Route& route,
                                  const UserInfo& user) {
  const RequestInfo& info = route.info;
  const ResourceDef& def = *info.def;
  const ResourceName rname = def.Name();
  auto q = [&](const char* k) -> std::string {
    auto it = route.query.find(k);
    return it == route.query.end() ? "" : it->second;
  };
  const bool table = WantsTable(request.accept);
  std::string include = q("includeObject").empty() ? "Metadata" : q("includeObject");
  if (include != "None" && include != "Metadata" && include != "Object") {
    return RespondStatus(
        BadRequestStatus("includeObject: Unsupported value: " + Quote(include) +
                         ": supported values: \"Metadata\", \"None\", \"Object\""));
  }
  ObjectKey key{def.StoreKey(), info.ns, info.name};
  const bool is_csr = def.resource == "certificatesigningrequests";

  // Selectors apply to list, watch and deletecollection.
  auto field_sel = ParseSelector(q("fieldSelector"), false);
  auto label_sel = ParseSelector(q("labelSelector"), true);
  if (!field_sel)
    return RespondStatus(BadRequestStatus("invalid field selector: " + Quote(q("fieldSelector"))));
  if (!label_sel) {
    return RespondStatus(BadRequestStatus("unable to parse requirement: invalid label selector " +
                                          Quote(q("labelSelector"))));
  }
  for (Selector& s : *field_sel) {
    if (!FieldLabelSupported(def, s.key)) {
      return RespondStatus(BadRequestStatus("field label not supported: " + s.key));
    }
    s.key = StorageFieldLabel(def, s.key);
  }

  if (info.verb == "get") {
    std::optional<Json> obj = store_.Get(key);
    if (!obj) return RespondStatus(NotFoundStatus(rname, info.name));
    Json object = FromStorage(def, std::move(*obj));
    if (table) {
      Json meta = {{"resourceVersion", object["metadata"]["resourceVersion"]}};
      return Respond(JsonResponse(200, Table(def, {object}, meta, include)));
    }
    return Respond(JsonResponse(200, object));
  }

  if (info.verb == "list") {
    std::string limit_text = q("limit");
    int64_t limit = 0;
    if (!limit_text.empty()) {
      std::optional<int64_t> parsed = ParseInt(limit_text);
      if (!parsed) {
        return RespondStatus(BadRequestStatus("limit: Invalid value: " + Quote(limit_text) +
                                              ": must be an integer"));
      }
      limit = *parsed < 0 ? 0 : *parsed;
    }
    uint64_t rv = store_.CurrentResourceVersion();
    if (!q("resourceVersionMatch").empty() && q("resourceVersion").empty()) {
      return RespondStatus(InvalidStatus(
          ResourceName{"meta.k8s.io", "", "ListOptions"}, "",
          {FieldError{FieldError::Type::kForbidden, "resourceVersionMatch", "",
                      "resourceVersionMatch is forbidden unless resourceVersion is provided"}}));
    }
    std::optional<int64_t> asked = ParseInt(q("resourceVersion"));
    if (asked && *asked > 0 && static_cast<uint64_t>(*asked) > rv) {
      return RespondStatus(
          StatusFailure(504, "Timeout",
                        "Timeout: Too large resource version: " + q("resourceVersion") +
                            ", current: " + std::to_string(rv),
                        Json{{"causes", Json::array({{{"reason", "ResourceVersionTooLarge"},
                                                      {"message", "Too large resource version"}}})},
                             {"retryAfterSeconds", 1}}));
    }
    std::string start;
    std::optional<uint64_t> token_rv;
    if (!q("continue").empty()) {
      std::string error;
      std::optional<std::string> decoded = Base64Decode(q("continue"), &error);
      Json token = decoded ? Json::parse(*decoded, nullptr, false) : Json();
      if (!token.is_object() || !token.contains("rv") || !token["rv"].is_number_unsigned() ||
          !token.contains("start") || !token["start"].is_string()) {
        return RespondStatus(
            BadRequestStatus("continue key is not valid: " +
                             (error.empty() ? std::string("invalid token") : error)));
      }
      token_rv = token["rv"].get<uint64_t>();
      if (store_.Expired(*token_rv)) {
        return RespondStatus(StatusFailure(
            410, "Expired",
            "The provided continue parameter is too old to display a consistent list result. You "
            "can start a new list without the continue parameter, or use the continue token in "
            "this response to retrieve the remainder of the results. Continuing with the "
            "provided token results in an inconsistent list - objects that were created, "
            "modified, or deleted between the time the first chunk was returned and now may show "
            "up in the list."));
      }
      start = token["start"].get<std::string>();
    }
    // Only the page is copied; past it the rest is counted (remainingItemCount) or, with
    // selectors, where kube-apiserver sends no count, the walk stops at the first further match.
    const bool selective = !field_sel->empty() || !label_sel->empty();
    std::vector<Json> matching;
    size_t remaining = 0;
    rv = store_.Visit(def.StoreKey(), info.ns, start, [&](const Json& o) {
      if (!SelectorMatches(*field_sel, o, false) || !SelectorMatches(*label_sel, o, true)) {
        return true;
      }
      if (limit > 0 && matching.size() >= static_cast<size_t>(limit)) {
        ++remaining;
        return !selective;
      }
      matching.push_back(FromStorage(def, Json(o)));
      return true;
    });
    if (token_rv) rv = *token_rv;
    Json meta = {{"resourceVersion", std::to_string(rv)}};
    if (remaining > 0) {
      meta["continue"] = ContinueToken(rv, ObjectStoreName(matching.back()));
      if (!selective) meta["remainingItemCount"] = remaining;
    }
    if (table) return Respond(JsonResponse(200, Table(def, matching, meta, include)));
    Json list;
    list["kind"] = def.kind + "List";
    list["apiVersion"] = def.GroupVersion();
    list["metadata"] = meta;
    list["items"] = WithoutTypeMeta(std::move(matching));
    return Respond(JsonResponse(200, list));
  }

  if (info.verb == "watch") {
    WatchPlan plan;
    plan.resource = def.StoreKey();
    plan.kind = def.kind;
    plan.api_version = def.GroupVersion();
    plan.ns = info.ns;
    plan.table = table;
    plan.include_object = include;
    plan.fields = *field_sel;
    if (!info.name.empty()) plan.fields.push_back({"metadata.name", "=", info.name});
    plan.labels = *label_sel;
    std::string rv_text = q("resourceVersion");
    bool send_initial_events = ParseBool(q("sendInitialEvents")).value_or(false);
    if (!q("sendInitialEvents").empty() && q("resourceVersionMatch") != "NotOlderThan") {
      return RespondStatus(InvalidStatus(
          ResourceName{"meta.k8s.io", "", "ListOptions"}, "",
          {FieldError{FieldError::Type::kForbidden, "resourceVersionMatch", "",
                      "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"}}));
    }
    uint64_t current = store_.CurrentResourceVersion();
    if (rv_text.empty() || rv_text == "0") {
      plan.send_initial = true;
      plan.from_resource_version = 0;
    } else {
      std::optional<int64_t> parsed = ParseInt(rv_text);
      if (!parsed || *parsed < 0) {
        return RespondStatus(BadRequestStatus("resourceVersion: Invalid value: " + Quote(rv_text) +
                                              ": must be a non-negative integer"));
      }
      if (static_cast<uint64_t>(*parsed) > current) {
        return RespondStatus(StatusFailure(
            504, "Timeout",
            "Timeout: Too large resource version: " + rv_text +
                ", current: " + std::to_string(current),
            Json{{"causes", Json::array({{{"reason", "ResourceVersionTooLarge"},
                                          {"message", "Too large resource version"}}})},
                 {"retryAfterSeconds", 1}}));
      }
      plan.from_resource_version = static_cast<uint64_t>(*parsed);
      plan.send_initial = send_initial_events;
    }
    plan.bookmarks = ParseBool(q("allowWatchBookmarks")).value_or(false);
    int64_t timeout_seconds = 0;
    if (!q("timeoutSeconds").empty()) {
      std::optional<int64_t> parsed = ParseInt(q("timeoutSeconds"));
      if (!parsed) {
        return RespondStatus(BadRequestStatus("timeoutSeconds: Invalid value: " +
                                              Quote(q("timeoutSeconds")) + ": must be an integer"));
      }
      timeout_seconds = *parsed;
    }
    if (timeout_seconds <= 0) {
      // kube-apiserver's default: a random duration in [min-request-timeout, 2x) = [30m, 60m).
      static thread_local std::mt19937 rng(std::random_device{}());
      timeout_seconds = 1800 + std::uniform_int_distribution<int>(0, 1799)(rng);
    }
    plan.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
    {
      std::lock_guard lock(faults_mu_);
      if (faults_.expire_next_watches > 0) {
        --faults_.expire_next_watches;
        plan.expire_at_once = true;
      }
      plan.raw_chunks = std::move(faults_.next_watch_raw_chunks);
      faults_.next_watch_raw_chunks.clear();
      plan.drop_after_events = faults_.drop_watch_after_events;
      plan.drop_after =
          std::chrono::milliseconds(static_cast<int64_t>(faults_.drop_watch_after_seconds * 1000));
    }
    Outcome out;
    out.watch = plan;
    return out;
  }

  if (info.verb == "delete") {
    std::optional<Json> deleted = store_.Mutate(key, [](const Json* current, bool* remove) {
      *remove = current != nullptr;
      return std::nullopt;
    });
    if (!deleted) return RespondStatus(NotFoundStatus(rname, info.name));
    Json status;
    status["kind"] = "Status";
    status["apiVersion"] = "v1";
    status["metadata"] = Json::object();
    status["status"] = "Success";
    status["details"] = {{"name", info.name},
                         {"group", def.group},
                         {"kind", def.resource},
                         {"uid", (*deleted)["metadata"].value("uid", std::string())}};
    return Respond(JsonResponse(200, status));
  }

  if (info.verb == "deletecollection") {
    uint64_t rv = 0;
    std::vector<Json> all = store_.List(def.StoreKey(), info.ns, &rv);
    Json items = Json::array();
    for (const Json& o : all) {
      if (!SelectorMatches(*field_sel, o, false) || !SelectorMatches(*label_sel, o, true)) continue;
      ObjectKey k{def.StoreKey(), o["metadata"].value("namespace", std::string()),
                  o["metadata"].value("name", std::string())};
      std::optional<Json> deleted = store_.Mutate(k, [](const Json* current, bool* remove) {
        *remove = current != nullptr;
        return std::nullopt;
      });
      if (deleted) items.push_back(FromStorage(def, std::move(*deleted)));
    }
    Json list;
    list["kind"] = def.kind + "List";
    list["apiVersion"] = def.GroupVersion();
    list["metadata"] = {{"resourceVersion", std::to_string(store_.CurrentResourceVersion())}};
    list["items"] = WithoutTypeMeta(std::move(items));
    return Respond(JsonResponse(200, list));
  }

  // Writes: decode the body.
  if (request.body.empty() && info.verb != "patch") {
    return RespondStatus(
        BadRequestStatus("the body of the request was in an unknown format - "
                         "accepted media types include: application/json, "
                         "application/yaml, application/vnd.kubernetes.protobuf"));
  }
  Json body;
  if (info.verb != "patch") {
    if (request.content_type.find("json") == std::string::npos && !request.content_type.empty() &&
        request.content_type.find("application/vnd.kubernetes.protobuf") == std::string::npos) {
      return RespondStatus(StatusFailure(
          415, "UnsupportedMediaType",
          "the body of the request was in an unknown format - accepted media types include: "
          "application/json, application/yaml, application/vnd.kubernetes.protobuf",
          Json{{"causes", Json::array({{{"reason", "UnexpectedServerResponse"},
                                        {"message", request.content_type}}})}}));
    }
    if (request.content_type.find("application/vnd.kubernetes.protobuf") != std::string::npos) {
      std::string error;
      std::optional<Json> decoded = DecodeKubernetesProtobuf(request.body, &error);
      if (!decoded) return RespondStatus(BadRequestStatus(error));
      body = *decoded;
    } else {
      body = ParseBody(request.body);
    }
    if (body.is_discarded() || !body.is_object()) {
      std::string shown = request.body.substr(0, 128);
      return RespondStatus(
          BadRequestStatus("the object provided is unrecognized (must be of type " + def.kind +
                           "): couldn't get "
                           "version/kind; json parse error: invalid character in " +
                           Quote(shown)));
    }
    std::string kind = body.value("kind", std::string());
    std::string api_version = body.value("apiVersion", std::string());
    if (kind.empty()) {
      return RespondStatus(
          BadRequestStatus("Object 'Kind' is missing in '" + request.body.substr(0, 1024) + "'"));
    }
    if (kind != def.kind || (!api_version.empty() && api_version != def.GroupVersion())) {
      return RespondStatus(BadRequestStatus("the API version in the data (" + api_version +
                                            ") does not match the expected API "
                                            "version (" +
                                            def.GroupVersion() + ")"));
    }
    if (!body.contains("metadata") || body["metadata"].is_null()) body["metadata"] = Json::object();
    if (!body["metadata"].is_object()) {
      return RespondStatus(BadRequestStatus(def.kind + " in version \"" + def.version +
                                            "\" cannot be handled as a " + def.kind +
                                            ": json: cannot unmarshal into metadata"));
    }
  }
  const std::string field_validation = q("fieldValidation");
  std::vector<std::string> warnings;
  if (is_csr && info.verb != "patch") {
    if (std::optional<std::string> err = CsrDecodeError(body)) {
      return RespondStatus(BadRequestStatus(*err));
    }
    std::vector<std::string> unknown = CsrUnknownFields(body);
    if (!unknown.empty() && field_validation == "Strict") {
      std::string msg = def.kind + " in version \"" + def.version + "\" cannot be handled as a " +
                        def.kind + ": strict decoding error: ";
      for (size_t i = 0; i < unknown.size(); ++i) {
        msg += (i ? ", " : "") + std::string("unknown field ") + Quote(unknown[i]);
      }
      return RespondStatus(BadRequestStatus(msg));
    }
    if (field_validation != "Ignore") {
      for (const std::string& u : unknown) warnings.push_back("unknown field " + Quote(u));
    }
  }
  auto finish = [&](ApiResponse r) {
    for (const std::string& w : warnings) r.headers.emplace_back("Warning", "299 - " + Quote(w));
    return Respond(std::move(r));
  };
  const bool dry_run = q("dryRun") == "All";

  if (info.verb == "create") {
    if (!info.name.empty()) return MethodNotAllowed();
    if (def.resource == "selfsubjectreviews") {
      Json review = {
          {"kind", def.kind},
          {"apiVersion", def.GroupVersion()},
          {"metadata", {{"creationTimestamp", nullptr}}},
          {"status", {{"userInfo", {{"username", user.name}, {"groups", user.groups}}}}}};
      if (!user.uid.empty()) review["status"]["userInfo"]["uid"] = user.uid;
      return finish(JsonResponse(201, review));
    }
    if (def.resource == "selfsubjectrulesreviews") {
      Json review = body;
      review["metadata"] = {{"creationTimestamp", nullptr}};
      std::string ns = body.contains("spec") && body["spec"].is_object()
                           ? body["spec"].value("namespace", std::string())
                           : "";
      review["status"] = authorizer_.RulesFor(user, ns);
      review["status"]["incomplete"] = false;
      return finish(JsonResponse(201, review));
    }
    if (def.review) {
      // SubjectAccessReview / SelfSubjectAccessReview: answered from the rule table.
      Json spec = body.value("spec", Json::object());
      UserInfo subject;
      if (def.resource == "selfsubjectaccessreviews") {
        subject = user;
      } else {
        subject.name = spec.value("user", std::string());
        subject.uid = spec.value("uid", std::string());
        if (spec.contains("groups") && spec["groups"].is_array()) {
          for (const Json& g : spec["groups"]) {
            if (g.is_string()) subject.groups.push_back(g.get<std::string>());
          }
        }
      }
      const bool has_resource = spec.contains("resourceAttributes");
      const bool has_non_resource = spec.contains("nonResourceAttributes");
      std::vector<FieldError> errs;
      if (has_resource == has_non_resource) {
        errs.push_back({FieldError::Type::kInvalid, "spec.resourceAttributes", "\"\"",
                        "exactly one of nonResourceAttributes or resourceAttributes must be "
                        "specified"});
      }
      if (def.resource == "subjectaccessreviews" && subject.name.empty() &&
          subject.groups.empty()) {
        errs.push_back({FieldError::Type::kInvalid, "spec.user", "\"\"",
                        "at least one of user or group must be specified"});
      }
      if (!errs.empty()) return RespondStatus(InvalidStatus(rname, "", errs));
      RequestAttributes attrs;
      if (has_resource) {
        const Json& ra = spec["resourceAttributes"];
        attrs.resource_request = true;
        attrs.verb = ra.value("verb", std::string());
        attrs.api_group = ra.value("group", std::string());
        attrs.resource = ra.value("resource", std::string());
        attrs.subresource = ra.value("subresource", std::string());
        attrs.ns = ra.value("namespace", std::string());
        attrs.name = ra.value("name", std::string());
      } else {
        const Json& nra = spec["nonResourceAttributes"];
        attrs.verb = nra.value("verb", std::string());
        attrs.path = nra.value("path", std::string());
      }
      bool allowed = authorizer_.Allowed(subject, attrs);
      Json response = body;
      response["metadata"] = {{"creationTimestamp", nullptr}};
      response["status"] = {{"allowed", allowed}};
      if (allowed)
        response["status"]["reason"] = "allowed by the kube-apiserver-emulator rule table";
      return finish(JsonResponse(201, response));
    }
    Json& meta = body["metadata"];
    if (meta.contains("resourceVersion") && meta["resourceVersion"].is_string() &&
        !meta["resourceVersion"].get<std::string>().empty()) {
      return RespondStatus(
          BadRequestStatus("resourceVersion should not be set on objects to be created"));
    }
    if (def.namespaced) {
      std::string body_ns = meta.value("namespace", std::string());
      if (!body_ns.empty() && body_ns != info.ns) {
        return RespondStatus(BadRequestStatus(
            "the namespace of the provided object does not match the namespace sent on the "
            "request"));
      }
      meta["namespace"] = info.ns;
    } else {
      meta.erase("namespace");
    }
    std::string name = meta.value("name", std::string());
    std::string generate = meta.value("generateName", std::string());
    std::vector<FieldError> errs;
    if (name.empty() && !generate.empty()) {
      name = generate + GenerateNameSuffix();
      meta["name"] = name;
    }
    if (name.empty()) {
      errs.push_back(
          {FieldError::Type::kRequired, "metadata.name", "", "name or generateName is required"});
    } else if (name == "." || name == ".." || name.find('/') != std::string::npos ||
               name.find('%') != std::string::npos) {
      std::string why = name == "."                           ? "may not be '.'"
                        : name == ".."                        ? "may not be '..'"
                        : name.find('/') != std::string::npos ? "may not contain '/'"
                                                              : "may not contain '%'";
      errs.push_back({FieldError::Type::kInvalid, "metadata.name", Quote(name), why});
    }
    for (const char* f : {"uid", "creationTimestamp", "deletionTimestamp", "selfLink",
                          "managedFields", "generation", "deletionGracePeriodSeconds"}) {
      meta.erase(f);
    }
    meta["uid"] = NewUid();
    meta["creationTimestamp"] = FormatTime(Clock::now());
    if (is_csr) {
      PrepareCsrForCreate(body, user);
      std::vector<FieldError> csr_errs = ValidateCsrCreate(body);
      errs.insert(errs.end(), csr_errs.begin(), csr_errs.end());
    }
    if (IsEventsApi(def)) body = EventToCore(body);
    if (def.resource == "events") {
      std::vector<FieldError> event_errs = ValidateEventCreate(body, IsEventsApi(def));
      errs.insert(errs.end(), event_errs.begin(), event_errs.end());
    }
    if (def.resource == "leases") {
      std::vector<FieldError> lease_errs = ValidateLeaseSpec(body);
      errs.insert(errs.end(), lease_errs.begin(), lease_errs.end());
    }
    if (def.resource == "servicecidrs") {
      std::vector<FieldError> cidr_errs = ValidateServiceCidr(body);
      errs.insert(errs.end(), cidr_errs.begin(), cidr_errs.end());
    }
    if (!errs.empty()) return RespondStatus(InvalidStatus(rname, name, errs));
    if (is_csr) {
      if (std::optional<std::string> refused = CsrSubjectRestriction(body)) {
        return RespondStatus(ForbiddenStatus(rname, name, *refused));
      }
    }
    if (dry_run) return finish(JsonResponse(201, FromStorage(def, body)));
    key.name = name;
    bool exists = false;
    std::optional<Json> stored =
        store_.Mutate(key, [&](const Json* current, bool*) -> std::optional<Json> {
          if (current != nullptr) {
            exists = true;
            return std::nullopt;
          }
          return body;
        });
    if (exists) {
      return RespondStatus(StatusFailure(
          409, "AlreadyExists", rname.Qualified() + " " + Quote(name) + " already exists",
          Json{{"name", name}, {"group", def.group}, {"kind", def.resource}}));
    }
    return finish(JsonResponse(201, FromStorage(def, std::move(*stored))));
  }

  // update / patch of an existing object.
  if (info.name.empty()) return MethodNotAllowed();
  if (info.verb == "update") {
    std::string body_name = body["metadata"].value("name", std::string());
    if (body_name != info.name) {
      return RespondStatus(BadRequestStatus("the name of the object (" + body_name +
                                            ") does not match the name on the URL (" + info.name +
                                            ")"));
    }
  }
  bool is_approval = info.subresource == "approval";
  if (is_approval) {
    std::lock_guard lock(faults_mu_);
    if (faults_.conflict_next_approvals > 0) {
      --faults_.conflict_next_approvals;
      return RespondStatus(ConflictStatus(rname, info.name,
                                          "the object has been modified; please apply your "
                                          "changes to the latest version and try again"));
    }
  }
  CsrWrite write = info.subresource == "approval" ? CsrWrite::kApproval
                   : info.subresource == "status" ? CsrWrite::kStatus
                                                  : CsrWrite::kMain;
  std::optional<Json> failure;
  bool not_found = false;
  std::optional<Json> stored =
      store_.Mutate(key, [&](const Json* current, bool*) -> std::optional<Json> {
        if (current == nullptr) {
          not_found = true;
          return std::nullopt;
        }
        Json next = body;
        if (info.verb == "patch") {
          std::string error;
          std::optional<Json> patched =
              ApplyPatch(FromStorage(def, *current), request.content_type, request.body, &error);
          if (!patched) {
            failure = error.rfind("unsupported patch type", 0) == 0
                          ? StatusFailure(415, "UnsupportedMediaType", error)
                          : BadRequestStatus(error);
            return std::nullopt;
          }
          next = *patched;
          if (!next.contains("metadata") || !next["metadata"].is_object())
            next["metadata"] = Json::object();
          if (is_csr) {
            if (std::optional<std::string> err = CsrDecodeError(next)) {
              failure = BadRequestStatus(*err);
              return std::nullopt;
            }
          }
        }
        Json& meta = next["metadata"];
        const Json& old_meta = (*current)["metadata"];
        std::string sent_rv =
            meta.contains("resourceVersion") && meta["resourceVersion"].is_string()
                ? meta["resourceVersion"].get<std::string>()
                : "";
        if (!sent_rv.empty() && sent_rv != old_meta["resourceVersion"].get<std::string>()) {
          failure = ConflictStatus(rname, info.name,
                                   "the object has been modified; please apply your changes to "
                                   "the latest version and try again");
          return std::nullopt;
        }
        // Metadata comes from the request on every update, subresources included: the CSR
        // strategies reset only spec and status (pkg/registry/certificates/certificates/
        // strategy.go), so a PUT /approval without the stored labels, annotations, finalizers
        // or ownerReferences removes them. What rest.BeforeUpdate
        // (staging/src/k8s.io/apiserver/pkg/registry/rest/update.go) keeps is kept.
        if (std::optional<Json> refused = CheckUidUnchanged(rname, info, meta, old_meta)) {
          failure = *refused;
          return std::nullopt;
        }
        for (const char* f : {"name", "namespace", "uid", "creationTimestamp", "generation",
                              "deletionTimestamp", "deletionGracePeriodSeconds"}) {
          if (old_meta.contains(f)) meta[f] = old_meta[f];
        }
        next["kind"] = def.kind;
        next["apiVersion"] = def.GroupVersion();
        if (IsEventsApi(def)) next = EventToCore(next);
        if (is_csr) {
          PrepareCsrForUpdate(next, *current, write, Clock::now());
          std::vector<FieldError> errs = ValidateCsrUpdate(next, *current, write);
          if (!errs.empty()) {
            failure = InvalidStatus(rname, info.name, errs);
            return std::nullopt;
          }
          if (is_approval) {
            // CertificateApproval admission: `approve` on signers, by exact name or "<domain>/*".
            std::string signer = (*current)["spec"].value("signerName", std::string());
            RequestAttributes attrs;
            attrs.resource_request = true;
            attrs.verb = "approve";
            attrs.api_group = "certificates.k8s.io";
            attrs.resource = "signers";
            attrs.name = signer;
            bool allowed = authorizer_.Allowed(user, attrs);
            if (!allowed && signer.find('/') != std::string::npos) {
              attrs.name = signer.substr(0, signer.find('/')) + "/*";
              allowed = authorizer_.Allowed(user, attrs);
            }
            if (!allowed) {
              failure = ForbiddenStatus(
                  rname, info.name,
                  "user not permitted to approve requests with signerName " + Quote(signer));
              return std::nullopt;
            }
          }
        } else if (def.resource == "leases") {
          std::vector<FieldError> errs = ValidateLeaseSpec(next);
          if (!errs.empty()) {
            failure = InvalidStatus(rname, info.name, errs);
            return std::nullopt;
          }
        } else if (def.resource == "servicecidrs" && info.subresource.empty() &&
                   ServiceCidrsOf(next) != ServiceCidrsOf(*current)) {
          // ValidateServiceCIDRUpdate: spec.cidrs is immutable.
          failure = InvalidStatus(rname, info.name,
                                  {{FieldError::Type::kInvalid, "spec.cidrs",
                                    ServiceCidrsOf(next).dump(), "field is immutable"}});
          return std::nullopt;
        } else if (info.subresource == "status") {
          next["spec"] = (*current).value("spec", Json::object());
        } else if (current->contains("status") && def.resource == "nodes") {
          next["status"] = (*current)["status"];
        }
        if (dry_run) {
          failure = next;  // returned as the response without storing
          return std::nullopt;
        }
        return next;
      });
  if (not_found) return RespondStatus(NotFoundStatus(rname, info.name));
  if (failure) {
    if (failure->value("kind", std::string()) == "Status") return RespondStatus(*failure);
    return finish(JsonResponse(200, FromStorage(def, std::move(*failure))));
  }
  return finish(JsonResponse(200, FromStorage(def, std::move(*stored))));
}

ApiServer::StreamEnd ApiServer::Stream(const WatchPlan& plan,
                                       const std::function<bool(const std::string&)>& write,
                                       const std::function<bool()>& client_alive) {
  const ResourceDef* def = nullptr;
  for (const ResourceDef& d : Catalogue()) {
    if (d.StoreKey() == plan.resource && d.GroupVersion() == plan.api_version) def = &d;
  }
  auto encode = [&](const std::string& type, const Json& object) {
    Json event;
    event["type"] = type;
    if (plan.table && type != "ERROR" && type != "BOOKMARK" && def != nullptr) {
      Json meta = {{"resourceVersion", object["metadata"].value("resourceVersion", std::string())}};
      event["object"] = Table(*def, {FromStorage(*def, object)}, meta, plan.include_object);
    } else if (def != nullptr && type != "ERROR" && type != "BOOKMARK") {
      event["object"] = FromStorage(*def, object);
    } else {
      event["object"] = object;
    }
    return event.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
  };
  auto matches = [&](const Json& o) {
    const Json& meta = o["metadata"];
    if (!plan.ns.empty() && meta.value("namespace", std::string()) != plan.ns) return false;
    return SelectorMatches(plan.fields, o, false) && SelectorMatches(plan.labels, o, true);
  };
  auto too_old = [&](uint64_t requested, uint64_t oldest) {
    return encode("ERROR", StatusFailure(410, "Expired",
                                         "too old resource version: " + std::to_string(requested) +
                                             " (" + std::to_string(oldest) + ")"));
  };
  auto bookmark = [&](uint64_t rv, bool initial_end) {
    Json object;
    object["kind"] = plan.kind;
    object["apiVersion"] = plan.api_version;
    object["metadata"] = {{"resourceVersion", std::to_string(rv)}};
    if (initial_end) {
      object["metadata"]["annotations"] = {{"k8s.io/initial-events-end", "true"}};
    }
    return encode("BOOKMARK", object);
  };

  using Steady = std::chrono::steady_clock;
  const Steady::time_point start = Steady::now();
  const Steady::time_point drop_at =
      plan.drop_after.count() > 0 ? start + plan.drop_after : Steady::time_point::max();
  uint64_t sent = 0;
  uint64_t last = plan.from_resource_version;
  if (!plan.raw_chunks.empty()) {
    for (const std::string& chunk : plan.raw_chunks) {
      if (chunk.empty()) continue;  // an empty chunk would end the chunked body
      if (!write(chunk)) break;
    }
    return StreamEnd::kFinished;
  }
  if (plan.expire_at_once) {
    uint64_t current = store_.CurrentResourceVersion();
    write(too_old(last, current + 1));
    return StreamEnd::kFinished;
  }
  if (plan.send_initial) {
    uint64_t rv = 0;
    if (plan.from_resource_version == 0) {
      std::vector<Json> items = store_.List(plan.resource, plan.ns, &rv);
      for (const Json& o : items) {
        if (!matches(o)) continue;
        if (!write(encode("ADDED", o))) return StreamEnd::kFinished;
        if (plan.drop_after_events > 0 && ++sent >= plan.drop_after_events)
          return StreamEnd::kDropped;
      }
      last = rv;
    } else {
      // sendInitialEvents with NotOlderThan: the current state, then the end-of-initial bookmark.
      std::vector<Json> items = store_.List(plan.resource, plan.ns, &rv);
      for (const Json& o : items) {
        if (matches(o) && !write(encode("ADDED", o))) return StreamEnd::kFinished;
      }
      last = rv;
      if (plan.bookmarks && !write(bookmark(rv, true))) return StreamEnd::kFinished;
    }
  }
  const auto interval = std::chrono::duration_cast<Steady::duration>(options_.bookmark_interval);
  Steady::time_point next_bookmark = start + interval;
  while (true) {
    Steady::time_point now = Steady::now();
    if (now >= plan.deadline) {
      if (plan.bookmarks) write(bookmark(last, false));
      return StreamEnd::kFinished;
    }
    if (now >= drop_at) return StreamEnd::kDropped;
    Steady::time_point wake = std::min({plan.deadline, drop_at, now + std::chrono::seconds(1)});
    if (plan.bookmarks) wake = std::min(wake, next_bookmark);
    if (!store_.WaitForChange(last, wake)) return StreamEnd::kFinished;
    HistoryRead read = store_.EventsAfter(plan.resource, last);
    if (read.expired) {
      write(too_old(last, read.oldest_available));
      return StreamEnd::kFinished;
    }
    for (const WatchEvent& e : read.events) {
      if (!matches(e.object)) continue;
      if (!write(encode(e.type, e.object))) return StreamEnd::kFinished;
      if (plan.drop_after_events > 0 && ++sent >= plan.drop_after_events)
        return StreamEnd::kDropped;
    }
    last = std::max(last, read.revision);
    now = Steady::now();
    if (plan.bookmarks && now >= next_bookmark) {
      if (!write(bookmark(last, false))) return StreamEnd::kFinished;
      while (next_bookmark <= now) next_bookmark += interval;
    }
    if (read.events.empty() && !client_alive()) return StreamEnd::kFinished;
  }
}

Outcome ApiServer::HandleControl(const ApiRequest& request, const std::string& path) {
  const std::string& m = request.method;
  Json body = Json::object();
  if (!request.body.empty()) {
    body = ParseBody(request.body);
    if (body.is_discarded() || !body.is_object()) {
      return RespondStatus(BadRequestStatus("control API: the body must be a JSON object"));
    }
  }
  if (path == "/emulator/v1/state" && m == "GET") {
    Json state = store_.Dump();
    state["bindings"] = authorizer_.Dump();
    return Respond(JsonResponse(200, state));
  }
  if (path == "/emulator/v1/audit") {
    if (m == "DELETE") {
      audit_.Clear();
      return Respond(JsonResponse(200, Json::object()));
    }
    if (m != "GET") return MethodNotAllowed();
    return Respond(JsonResponse(200, audit_.Dump()));
  }
  if (path == "/emulator/v1/requests") {
    std::lock_guard lock(counts_mu_);
    if (m == "DELETE") {
      counts_.clear();
      return Respond(JsonResponse(200, Json::object()));
    }
    if (m != "GET") return MethodNotAllowed();
    Json users = Json::object();
    for (const auto& [user, resources] : counts_) {
      Json verbs = Json::object();
      Json by_resource = Json::object();
      uint64_t total = 0;
      for (const auto& [resource, counts] : resources) {
        for (const auto& [verb, n] : counts) {
          verbs[verb] = verbs.value(verb, uint64_t{0}) + n;
          by_resource[resource][verb] = n;
          total += n;
        }
      }
      users[user] = {{"total", total}, {"verbs", verbs}, {"resources", by_resource}};
    }
    return Respond(JsonResponse(200, {{"users", users}}));
  }
  if (path == "/emulator/v1/faults") {
    std::lock_guard lock(faults_mu_);
    if (m == "DELETE") {
      faults_ = FaultSettings{};
      fault_requests_ = 0;
    } else if (m == "POST" || m == "PUT") {
      FaultSettings next = m == "PUT" ? FaultSettings{} : faults_;
      for (auto it = body.begin(); it != body.end(); ++it) {
        const std::string& k = it.key();
        const Json& v = it.value();
        if (k == "nextWatchRawChunks") {
          std::vector<std::string> chunks;
          for (const Json& chunk : v.is_array() ? v : Json::array({nullptr})) {
            if (!chunk.is_string()) {
              return RespondStatus(
                  BadRequestStatus("control API: nextWatchRawChunks must be a list of strings"));
            }
            chunks.push_back(chunk.get<std::string>());
          }
          next.next_watch_raw_chunks = std::move(chunks);
          continue;
        }
        if (!v.is_number()) {
          return RespondStatus(
              BadRequestStatus("control API: fault " + Quote(k) + " must be a number"));
        }
        if (v.is_number_integer() && v.get<int64_t>() < 0) {
          return RespondStatus(
              BadRequestStatus("control API: fault " + Quote(k) + " must be >= 0"));
        }
        if (k == "dropWatchAfterEvents")
          next.drop_watch_after_events = v.get<uint64_t>();
        else if (k == "dropWatchAfterSeconds")
          next.drop_watch_after_seconds = v.get<double>();
        else if (k == "expireNextWatches")
          next.expire_next_watches = v.get<uint64_t>();
        else if (k == "conflictNextApprovals")
          next.conflict_next_approvals = v.get<uint64_t>();
        else if (k == "throttleNextRequests")
          next.throttle_next_requests = v.get<uint64_t>();
        else if (k == "retryAfterSeconds")
          next.retry_after_seconds = v.get<int>();
        else if (k == "errorFraction")
          next.error_fraction = v.get<double>();
        else if (k == "errorCode")
          next.error_code = v.get<int>();
        else if (k == "latencyMs")
          next.latency_ms = v.get<int>();
        else if (k == "reviewErrorCode")
          next.review_error_code = v.get<int>();
        else if (k == "reviewErrorSeconds")
          next.review_error_seconds = v.get<double>();
        else if (k == "reviewLatencyMs")
          next.review_latency_ms = v.get<int>();
        else if (k == "refuseConnectionsSeconds")
          continue;
        else
          return RespondStatus(BadRequestStatus("control API: unknown fault " + Quote(k)));
      }
      if (next.error_fraction < 0 || next.error_fraction > 1) {
        return RespondStatus(BadRequestStatus("control API: errorFraction must be within [0, 1]"));
      }
      if (next.error_code != 500 && next.error_code != 503) {
        return RespondStatus(BadRequestStatus("control API: errorCode must be 500 or 503"));
      }
      if (!IsReviewErrorCode(next.review_error_code)) {
        return RespondStatus(
            BadRequestStatus("control API: reviewErrorCode must be 0, 403, 500, 503 or 504"));
      }
      if (body.contains("reviewErrorCode") || body.contains("reviewErrorSeconds")) {
        review_faults_set_ = std::chrono::steady_clock::now();
      }
      faults_ = next;
      fault_requests_ = 0;
    } else if (m != "GET") {
      return MethodNotAllowed();
    }
    Outcome out =
        Respond(JsonResponse(200, {{"dropWatchAfterEvents", faults_.drop_watch_after_events},
                                   {"dropWatchAfterSeconds", faults_.drop_watch_after_seconds},
                                   {"expireNextWatches", faults_.expire_next_watches},
                                   {"nextWatchRawChunks", faults_.next_watch_raw_chunks},
                                   {"conflictNextApprovals", faults_.conflict_next_approvals},
                                   {"throttleNextRequests", faults_.throttle_next_requests},
                                   {"retryAfterSeconds", faults_.retry_after_seconds},
                                   {"errorFraction", faults_.error_fraction},
                                   {"errorCode", faults_.error_code},
                                   {"latencyMs", faults_.latency_ms},
                                   {"reviewErrorCode", faults_.review_error_code},
                                   {"reviewErrorSeconds", faults_.review_error_seconds},
                                   {"reviewLatencyMs", faults_.review_latency_ms}}));
    if (body.contains("refuseConnectionsSeconds")) {
      out.response.refuse_connections_for = std::chrono::milliseconds(
          static_cast<int64_t>(body["refuseConnectionsSeconds"].get<double>() * 1000));
    }
    return out;
  }
  if (m != "POST" && !(path == "/emulator/v1/bindings" && m == "GET")) return MethodNotAllowed();
  if (path == "/emulator/v1/compact") {
    store_.Compact();
    return Respond(
        JsonResponse(200, {{"resourceVersion", std::to_string(store_.CurrentResourceVersion())}}));
  }
  if (path == "/emulator/v1/reset") {
    store_.Reset();
    authorizer_.Reset();
    {
      std::lock_guard lock(faults_mu_);
      faults_ = FaultSettings{};
      fault_requests_ = 0;
    }
    {
      std::lock_guard lock(counts_mu_);
      counts_.clear();
    }
    audit_.Clear();
    return Respond(
        JsonResponse(200, {{"resourceVersion", std::to_string(store_.CurrentResourceVersion())}}));
  }
  if (path == "/emulator/v1/tokens/rotate") {
    std::string user = body.value("user", ApproverIdentity().name);
    std::vector<std::string> mirrors =
        user == ApproverIdentity().name ? options_.token_mirrors : std::vector<std::string>{};
    Result<std::string> token = tokens_.Rotate(user, mirrors);
    if (!token.ok()) return RespondStatus(BadRequestStatus(token.error().message));
    return Respond(
        JsonResponse(200, {{"user", user},
                           {"token", *token},
                           {"previousTokenValidSeconds", options_.token_grace.count()}}));
  }
  if (path == "/emulator/v1/bindings") {
    if (m == "GET") return Respond(JsonResponse(200, {{"bindings", authorizer_.Dump()}}));
    if (!body.contains("bindings") || !body["bindings"].is_array()) {
      return RespondStatus(BadRequestStatus("control API: expected {\"bindings\": [...]}"));
    }
    std::vector<Binding> bindings;
    auto strings = [](const Json& j, const char* k) {
      std::vector<std::string> out;
      if (j.contains(k) && j[k].is_array()) {
        for (const Json& s : j[k]) {
          if (s.is_string()) out.push_back(s.get<std::string>());
        }
      }
      return out;
    };
    for (const Json& b : body["bindings"]) {
      if (!b.is_object() || (!b.contains("user") && !b.contains("group"))) {
        return RespondStatus(BadRequestStatus("control API: each binding needs a user or a group"));
      }
      Binding binding{b.value("user", std::string()), b.value("group", std::string()), {}};
      for (const Json& r : b.value("rules", Json::array())) {
        binding.rules.push_back(Rule{strings(r, "verbs"), strings(r, "apiGroups"),
                                     strings(r, "resources"), strings(r, "resourceNames"),
                                     strings(r, "namespaces"), strings(r, "nonResourceURLs")});
      }
      bindings.push_back(std::move(binding));
    }
    authorizer_.Add(std::move(bindings));
    return Respond(JsonResponse(200, {{"bindings", authorizer_.Dump()}}));
  }
  return NotFoundPath();
}

}  // namespace kca::emulator
