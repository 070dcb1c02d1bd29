#include "totp.hpp"

#include <cstdio>

#include "crypto.hpp"

namespace souk::identity {

std::string hotp(std::string_view key, std::uint64_t counter, int digits) {
    std::string msg(8, '\0');
    for (int i = 7; i >= 0; --i) {
        msg[static_cast<std::size_t>(i)] = static_cast<char>(counter & 0xff);
        counter >>= 8;
    }
    const std::string mac = hmac_sha1(key, msg);
    const int offset = mac[19] & 0x0f;
    const std::uint32_t bin =
        (static_cast<std::uint32_t>(mac[offset] & 0x7f) << 24) |
        (static_cast<std::uint32_t>(static_cast<unsigned char>(mac[offset + 1])) << 16) |
        (static_cast<std::uint32_t>(static_cast<unsigned char>(mac[offset + 2])) << 8) |
        static_cast<std::uint32_t>(static_cast<unsigned char>(mac[offset + 3]));
    std::uint32_t mod = 1;
    for (int i = 0; i < digits; ++i)
        mod *= 10;
    char buf[16];
    std::snprintf(buf, sizeof buf, "%0*u", digits, bin % mod);
    return buf;
}

std::string totp_at(std::string_view key, std::int64_t unix_seconds, int digits, int step_seconds) {
    return hotp(key, static_cast<std::uint64_t>(unix_seconds / step_seconds), digits);
}

std::optional<std::int64_t> totp_match(std::string_view key, std::string_view code,
                                       std::int64_t now_ms, std::int64_t last_step, int window) {
    if (code.size() != 6) return std::nullopt;
    const std::int64_t now_step = now_ms / 1000 / 30;
    for (std::int64_t step = now_step - window; step <= now_step + window; ++step) {
        if (step <= last_step) continue;
        if (constant_time_equal(hotp(key, static_cast<std::uint64_t>(step)), code)) return step;
    }
    return std::nullopt;
}

namespace {
std::string uri_escape(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '@') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}
}  // namespace

std::string otpauth_uri(std::string_view issuer, std::string_view account,
                        std::string_view base32_secret) {
    return "otpauth://totp/" + uri_escape(issuer) + ":" + uri_escape(account) +
           "?secret=" + std::string(base32_secret) + "&issuer=" + uri_escape(issuer) +
           "&algorithm=SHA1&digits=6&period=30";
}

}  // namespace souk::identity
