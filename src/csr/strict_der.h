// Strict DER (X.690 clause 10) for what OpenSSL's tolerant BER decoder accepts silently. The API
// server's and the signer's Go parsers refuse BER forms; reading them here would open a parser
// differential. Internal to src/csr; pure, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace kca::csr_internal {

// Why `der`, exactly one element, is not strict DER, or nullopt. Checks every nested element:
// definite lengths in the fewest bytes, minimal tags, INTEGERs without redundant leading bytes,
// BOOLEANs 0x00/0xFF, NULL empty, BIT STRINGs with zero padding bits, OIDs without padding,
// strings primitive, SET OF elements sorted and never empty (an empty RDN), nesting bounded.
// The problem names the byte offset it was found at.
std::optional<std::string> StrictDerProblem(std::string_view der);

// Whether the elements of `content` (concatenated TLVs, already known to be DER) are in DER's
// SET OF order; for IMPLICIT SET OF fields such as the request's [0] attributes.
bool ElementsSorted(std::string_view content);

}  // namespace kca::csr_internal
