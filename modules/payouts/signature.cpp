#include "signature.hpp"

#include <charconv>
#include <souk/core/crypto.hpp>
#include <souk/core/random.hpp>

namespace souk::payouts {

std::string signature_v1(std::string_view secret, std::int64_t t, std::string_view body) {
    std::string signed_payload = std::to_string(t);
    signed_payload += '.';
    signed_payload += body;
    return to_hex(crypto::hmac_sha256(secret, signed_payload));
}

std::string sign_header(const std::vector<std::string>& secrets, std::int64_t t,
                        std::string_view body) {
    std::string out = "t=" + std::to_string(t);
    for (const auto& s : secrets)
        out += ",v1=" + signature_v1(s, t, body);
    return out;
}

std::string_view to_string(signature_check c) {
    switch (c) {
        case signature_check::ok:
            return "ok";
        case signature_check::malformed:
            return "malformed";
        case signature_check::stale:
            return "stale";
        case signature_check::mismatch:
            return "mismatch";
    }
    return "malformed";
}

signature_check verify_signature(std::string_view header, std::string_view body,
                                 const std::vector<std::string>& secrets, std::int64_t now_s,
                                 std::int64_t tolerance_s) {
    std::optional<std::int64_t> t;
    std::vector<std::string_view> v1s;
    while (!header.empty()) {
        const auto comma = header.find(',');
        auto part = header.substr(0, comma);
        header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
        while (!part.empty() && part.front() == ' ')
            part.remove_prefix(1);
        const auto eq = part.find('=');
        if (eq == std::string_view::npos) return signature_check::malformed;
        const auto key = part.substr(0, eq), value = part.substr(eq + 1);
        if (key == "t") {
            std::int64_t v = 0;
            const auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
            if (ec != std::errc{} || p != value.data() + value.size() || t)
                return signature_check::malformed;
            t = v;
        } else if (key == "v1") {
            if (value.size() != 64) return signature_check::malformed;
            v1s.push_back(value);
        }  // other schemes (v0, ...) are ignored, as providers do
    }
    if (!t || v1s.empty() || v1s.size() > 8) return signature_check::malformed;
    if (*t < now_s - tolerance_s || *t > now_s + tolerance_s) return signature_check::stale;
    bool match = false;
    for (const auto& secret : secrets) {
        if (secret.empty()) continue;
        const auto expected = signature_v1(secret, *t, body);
        for (auto v : v1s)
            match |=
                crypto::constant_time_equal(expected, v);  // no early exit: same work either way
    }
    return match ? signature_check::ok : signature_check::mismatch;
}

}  // namespace souk::payouts
