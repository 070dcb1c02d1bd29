#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace souk {

// Cryptographically strong random bytes (OpenSSL RAND_bytes), hex encoded.
std::string random_hex(std::size_t bytes);
// An opaque, unguessable id with a readable type prefix, e.g. "evt_019a3f...": 48 bits of
// time (so ids sort by creation) and 80 random bits, as 32 hex digits.
std::string new_id(std::string_view prefix);
// The smallest id new_id(prefix) can make at unix_ms or later: a range bound on time-ordered ids.
std::string id_floor(std::string_view prefix, std::int64_t unix_ms);
std::string to_hex(std::string_view bytes);

}  // namespace souk
