#include "tokens.hpp"

#include <boost/json.hpp>
#include <cmath>

#include "crypto.hpp"

namespace souk::identity {

namespace {

constexpr std::string_view header_b64 =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";  // {"alg":"HS256","typ":"JWT"}

error invalid() {
    return error::unauthenticated("invalid access token");
}

error expired() {
    return error{401, "TOKEN_EXPIRED", "access token expired"};
}

// NumericDates from 1970 to the year 5138: anything else is not one of ours, and converting it
// to an integer (or to milliseconds) would overflow.
bool sane_numeric_date(const boost::json::value* v) {
    if (!v || !v->is_number()) return false;
    const double d = v->to_number<double>();
    return d >= 0 && d < 1e11;
}

bool header_is_hs256(std::string_view head) {
    const auto header_json = base64url_decode(head);
    if (!header_json) return false;
    boost::system::error_code ec;
    const auto header = boost::json::parse(*header_json, ec);
    if (ec || !header.is_object()) return false;
    const auto* alg = header.get_object().if_contains("alg");
    if (!alg || !alg->is_string() || alg->get_string() != "HS256") return false;
    const auto* typ = header.get_object().if_contains("typ");
    return !typ || (typ->is_string() && typ->get_string() == "JWT");
}

bool audience_matches(const boost::json::value& aud, std::string_view expected) {
    if (aud.is_string()) return aud.get_string() == expected;
    if (aud.is_array())
        for (const auto& a : aud.get_array())
            if (a.is_string() && a.get_string() == expected) return true;
    return false;
}

}  // namespace

std::string sign_access_token(const access_claims& c, const token_settings& s) {
    boost::json::array roles;
    for (const auto& r : c.roles)
        roles.emplace_back(r);
    boost::json::object p{{"sub", c.sub},
                          {"tenant", c.tenant},
                          {"roles", std::move(roles)},
                          {"iss", s.issuer},
                          {"aud", s.audience},
                          {"typ", "access"},
                          {"iat", static_cast<double>(c.iat_ms) / 1000.0},
                          {"exp", c.exp_s},
                          {"mfa", c.mfa}};
    std::string token(header_b64);
    token += '.';
    token += base64url_encode(boost::json::serialize(p));
    const std::string sig = hmac_sha256(s.key, token);
    token += '.';
    token += base64url_encode(sig);
    return token;
}

result<access_claims> verify_access_token(std::string_view token, const token_settings& s,
                                          std::int64_t now_ms) {
    const auto d1 = token.find('.');
    if (d1 == std::string_view::npos) return invalid();
    const auto d2 = token.find('.', d1 + 1);
    if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos)
        return invalid();
    const auto head = token.substr(0, d1);
    const auto body = token.substr(d1 + 1, d2 - d1 - 1);
    const auto sig = base64url_decode(token.substr(d2 + 1));
    if (!sig) return invalid();

    // 1. The header: only HS256 ("none" and every other algorithm are refused). The header this
    // server writes is recognised without decoding it; any other is decoded and checked.
    if (head != header_b64 && !header_is_hs256(head)) return invalid();
    boost::system::error_code ec;

    // 2. The signature, before any claim is believed.
    const std::string expected = hmac_sha256(s.key, token.substr(0, d2));
    if (!constant_time_equal(expected, *sig)) return invalid();

    // 3. The claims.
    const auto payload_json = base64url_decode(body);
    if (!payload_json) return invalid();
    const auto payload = boost::json::parse(*payload_json, ec);
    if (ec || !payload.is_object()) return invalid();
    const auto& p = payload.get_object();
    auto str = [&](std::string_view k) -> const boost::json::string* {
        const auto* v = p.if_contains(k);
        return v && v->is_string() ? &v->get_string() : nullptr;
    };
    const auto* typ = str("typ");
    const auto* iss = str("iss");
    const auto* sub = str("sub");
    const auto* tenant = str("tenant");
    const auto* aud = p.if_contains("aud");
    const auto* exp = p.if_contains("exp");
    const auto* iat = p.if_contains("iat");
    const auto* roles = p.if_contains("roles");
    if (!typ || *typ != "access" || !iss || *iss != s.issuer || !sub || !tenant) return invalid();
    if (!aud || !audience_matches(*aud, s.audience)) return invalid();
    if (!sane_numeric_date(exp) || !sane_numeric_date(iat)) return invalid();
    if (!roles || !roles->is_array()) return invalid();
    access_claims c;
    c.sub = std::string(*sub);
    c.tenant = std::string(*tenant);
    for (const auto& r : roles->get_array()) {
        if (!r.is_string()) return invalid();
        c.roles.emplace_back(r.get_string());
    }
    c.exp_s = static_cast<std::int64_t>(exp->to_number<double>());
    c.iat_ms = static_cast<std::int64_t>(std::llround(iat->to_number<double>() * 1000.0));
    if (const auto* mfa = p.if_contains("mfa"); mfa && mfa->is_bool()) c.mfa = mfa->get_bool();
    if (now_ms >= c.exp_s * 1000) return expired();
    return c;
}

result<access_claims> verified_tokens::verify(std::string_view token, const token_settings& s,
                                              std::int64_t now_ms) {
    {
        std::lock_guard lock(mu_);
        if (auto it = known_.find(token); it != known_.end()) {
            if (now_ms < it->second.exp_s * 1000) return it->second;
            known_.erase(it);
            return expired();
        }
    }
    auto claims = verify_access_token(token, s, now_ms);
    if (claims.ok()) {
        std::lock_guard lock(mu_);
        if (known_.size() >= capacity_) known_.clear();
        known_.emplace(std::string(token), *claims);
    }
    return claims;
}

}  // namespace souk::identity
