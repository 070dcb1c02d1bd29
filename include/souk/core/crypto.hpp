#pragma once
// Small cryptographic helpers over OpenSSL: encodings, hashes, MACs, constant-time compare.
// Shared by identity (tokens, TOTP) and booking (queue passes, tickets).
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace souk::crypto {

std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);
std::string base32_encode(std::string_view bytes);  // RFC 4648, no padding
std::optional<std::string> base32_decode(std::string_view text);

std::string sha256(std::string_view data);  // raw 32 bytes
// Of the parts one after the other, as if concatenated.
std::string sha256(std::initializer_list<std::string_view> parts);
std::string sha256_hex(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);  // raw 32 bytes
std::string hmac_sha1(std::string_view key, std::string_view data);    // raw 20 bytes
bool constant_time_equal(std::string_view a, std::string_view b);
std::string random_bytes(std::size_t n);
// An opaque 256-bit token for the wire (base64url).
std::string new_opaque_token();

}  // namespace souk::crypto
