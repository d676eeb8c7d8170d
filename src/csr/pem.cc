#include "pem.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kube_csr_approver/common/base64.h"
#include "kube_csr_approver/common/quote.h"
#include "kube_csr_approver/common/utf8.h"

namespace kca::csr_internal {
namespace {

constexpr std::string_view kBegin = "-----BEGIN ";
constexpr std::string_view kEnd = "-----END ";
constexpr std::string_view kDashes = "-----";
constexpr std::string_view kRequestLabel = "CERTIFICATE REQUEST";

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

std::string_view TrimRight(std::string_view line) {
  while (!line.empty() && IsSpace(line.back())) line.remove_suffix(1);
  return line;
}

bool OnlySpace(std::string_view text) {
  for (char c : text) {
    if (!IsSpace(c)) return false;
  }
  return true;
}

// The labels of every BEGIN line, to say what a multi-block input holds.
std::vector<std::string_view> BlockLabels(std::string_view text) {
  std::vector<std::string_view> labels;
  for (std::size_t at = text.find(kBegin); at != std::string_view::npos;
       at = text.find(kBegin, at + kBegin.size())) {
    std::string_view rest = text.substr(at + kBegin.size());
    rest = rest.substr(0, rest.find('\n'));
    labels.push_back(rest.substr(0, rest.find(kDashes)));
  }
  return labels;
}

bool IsPrivateKeyLabel(std::string_view label) {
  constexpr std::string_view kSuffix = "PRIVATE KEY";
  return label.size() >= kSuffix.size() && label.substr(label.size() - kSuffix.size()) == kSuffix;
}

constexpr std::string_view kReplaceKey =
    "; a private key must never leave its owner: send only the \"CERTIFICATE REQUEST\" block "
    "(and replace that key)";

Error WrongLabel(std::string_view label) {
  const std::string quoted = Quote(label);
  if (label == "NEW CERTIFICATE REQUEST") {
    return Error{"the request's PEM block is labelled " + quoted +
                 " (an old Netscape spelling); Kubernetes accepts only \"CERTIFICATE REQUEST\""};
  }
  if (label == "CERTIFICATE" || label == "X509 CERTIFICATE" || label == "TRUSTED CERTIFICATE") {
    return Error{"the request holds a certificate (PEM block " + quoted +
                 "), not a certificate signing request; send the \"CERTIFICATE REQUEST\" block"};
  }
  if (IsPrivateKeyLabel(label)) {
    return Error{"the request holds a private key (PEM block " + quoted +
                 "), not a certificate signing request" + std::string(kReplaceKey)};
  }
  return Error{"the request holds a PEM block labelled " + quoted +
               ", not \"CERTIFICATE REQUEST\""};
}

}  // namespace

Result<std::string> ExtractRequestDer(std::string_view pem) {
  std::size_t pos = 0;
  while (pos < pem.size() && IsSpace(pem[pos])) ++pos;
  if (pos == pem.size()) return Error{"the request is empty"};

  if (pem.substr(pos, kBegin.size()) != kBegin) {
    if (pem.find(kBegin) != std::string_view::npos) {
      return Error{
          "the request has text before its PEM block; only whitespace may surround the "
          "\"CERTIFICATE REQUEST\" block"};
    }
    if (static_cast<unsigned char>(pem[pos]) == 0x30) {
      return Error{
          "the request is not PEM text (it looks like binary DER); spec.request must be "
          "the base64 of the PEM text \"-----BEGIN CERTIFICATE REQUEST-----...\""};
    }
    return Error{
        "the request is not PEM text: it has no "
        "\"-----BEGIN CERTIFICATE REQUEST-----\" line"};
  }

  const std::vector<std::string_view> labels = BlockLabels(pem);
  if (labels.size() > 1) {
    std::string list;
    for (std::size_t i = 0; i < labels.size() && i < 5; ++i) {
      list += (i == 0 ? "" : ", ") + Quote(labels[i]);
    }
    if (labels.size() > 5) list += ", ...";
    const bool has_private_key = std::any_of(labels.begin(), labels.end(), IsPrivateKeyLabel);
    return Error{"the request holds " + std::to_string(labels.size()) + " PEM blocks (" + list +
                 "); exactly one \"CERTIFICATE REQUEST\" block is allowed" +
                 (has_private_key ? std::string(kReplaceKey) : std::string())};
  }

  std::size_t line_end = pem.find('\n', pos);
  if (line_end == std::string_view::npos) line_end = pem.size();
  const std::string_view begin_line = TrimRight(pem.substr(pos, line_end - pos));
  if (begin_line.size() < kBegin.size() + kDashes.size() ||
      begin_line.substr(begin_line.size() - kDashes.size()) != kDashes) {
    return Error{"the request's PEM BEGIN line " + Quote(begin_line) + " is malformed"};
  }
  const std::string_view label =
      begin_line.substr(kBegin.size(), begin_line.size() - kBegin.size() - kDashes.size());
  if (label != kRequestLabel) return WrongLabel(label);

  const std::string expected_end =
      std::string(kEnd) + std::string(kRequestLabel) + std::string(kDashes);
  std::string body;
  pos = line_end;
  while (pos < pem.size()) {
    ++pos;  // past '\n'
    line_end = pem.find('\n', pos);
    if (line_end == std::string_view::npos) line_end = pem.size();
    const std::string_view line = TrimRight(pem.substr(pos, line_end - pos));
    if (line.substr(0, kEnd.size()) == kEnd) {
      if (line.substr(0, expected_end.size()) != expected_end) {
        return Error{"the request's PEM END line " + Quote(line) + " does not match " +
                     "\"-----BEGIN CERTIFICATE REQUEST-----\""};
      }
      if (line.size() != expected_end.size() || !OnlySpace(pem.substr(line_end))) {
        return Error{
            "the request has text after its PEM block; only whitespace may follow "
            "\"-----END CERTIFICATE REQUEST-----\""};
      }
      auto der = DecodeBase64(body, "the request's PEM block");
      if (!der.ok()) return der.error();
      if (der->empty()) return Error{"the request's PEM block is empty"};
      return der;
    }
    if (line.find(':') != std::string_view::npos) {
      return Error{"the request's PEM block has a header line (" + Quote(line.substr(0, 32)) +
                   "); a certificate request carries none"};
    }
    body.append(line);
    pos = line_end;
  }
  return Error{
      "the request's PEM block has no \"-----END CERTIFICATE REQUEST-----\" line "
      "(truncated?)"};
}

}  // namespace kca::csr_internal
