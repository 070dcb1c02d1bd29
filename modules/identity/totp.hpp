#pragma once
// TOTP (RFC 6238) over HOTP (RFC 4226): SHA-1, 30-second steps, 6 digits.
#include <cstdint>
#include <optional>
#include <string>

namespace souk::identity {

std::string hotp(std::string_view key, std::uint64_t counter, int digits = 6);
std::string totp_at(std::string_view key, std::int64_t unix_seconds, int digits = 6,
                    int step_seconds = 30);
// The step that matches `code` within ±window steps of now and is later than last_step
// (codes are single-use); nullopt when none does.
std::optional<std::int64_t> totp_match(std::string_view key, std::string_view code,
                                       std::int64_t now_ms, std::int64_t last_step, int window = 1);
std::string otpauth_uri(std::string_view issuer, std::string_view account,
                        std::string_view base32_secret);

}  // namespace souk::identity
