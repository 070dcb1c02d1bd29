#pragma once
// Webhook signatures: "Souk-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]" where each v1 is
// HMAC-SHA256(secret, t + "." + body). Several v1 values let a sender sign with old and new
// secrets while they rotate; the receiver accepts any v1 made with any secret it holds.
#include <cstdint>
#include <souk/core/result.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace souk::payouts {

inline constexpr std::int64_t signature_tolerance_s = 300;

std::string signature_v1(std::string_view secret, std::int64_t t, std::string_view body);
// The header value for body signed at t with every secret given (the first is the current one).
std::string sign_header(const std::vector<std::string>& secrets, std::int64_t t,
                        std::string_view body);

enum class signature_check { ok, malformed, stale, mismatch };
std::string_view to_string(signature_check c);

// Constant-time comparison of every v1 against every secret; t must be within the tolerance of
// now in either direction.
signature_check verify_signature(std::string_view header, std::string_view body,
                                 const std::vector<std::string>& secrets, std::int64_t now_s,
                                 std::int64_t tolerance_s = signature_tolerance_s);

}  // namespace souk::payouts
