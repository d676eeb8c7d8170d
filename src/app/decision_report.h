// Renders decisions for people (`check` text output) and for scripts (`check --output json`).
// Pure functions; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "kube_csr_approver/csr/csr_inspector.h"
#include "kube_csr_approver/csr/csr_object.h"
#include "kube_csr_approver/policy/decision.h"

namespace kca {

// {"name","decision","rule","reasons","checks":[{"name","passed","detail"}]}: the stable schema of
// `check --output json` (DESIGN.md). `rule` is null when no rule selects the CSR.
nlohmann::json DecisionToJson(const std::string& csr_name, const Decision& decision);

// A multi-line explanation: the verdict, who asked for what, then every check with its outcome.
std::string DecisionToText(const CsrObject& csr, const Result<CsrFacts>& facts,
                           const Decision& decision);

}  // namespace kca
