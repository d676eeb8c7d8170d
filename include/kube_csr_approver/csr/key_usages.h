// The key usages certificates.k8s.io/v1 accepts in spec.usages (pkg/apis/certificates
// KeyUsage constants), in the API's order. Shared by the policy loader and the API emulator.
#pragma once

#include <array>
#include <string_view>

namespace kca {

inline constexpr std::array<std::string_view, 23> kKeyUsages = {"signing",
                                                                "digital signature",
                                                                "content commitment",
                                                                "key encipherment",
                                                                "key agreement",
                                                                "data encipherment",
                                                                "cert sign",
                                                                "crl sign",
                                                                "encipher only",
                                                                "decipher only",
                                                                "any",
                                                                "server auth",
                                                                "client auth",
                                                                "code signing",
                                                                "email protection",
                                                                "s/mime",
                                                                "ipsec end system",
                                                                "ipsec tunnel",
                                                                "ipsec user",
                                                                "timestamping",
                                                                "ocsp signing",
                                                                "microsoft sgc",
                                                                "netscape sgc"};

}  // namespace kca
