// Access tokens: a signed token verifies; every forgery is UNAUTHENTICATED; only an expired but
// otherwise valid token is TOKEN_EXPIRED.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <string>

#include "crypto.hpp"
#include "tokens.hpp"

using namespace souk::identity;

namespace {

constexpr std::int64_t now_ms = 1'700'000'000'000;
const token_settings settings{"0123456789abcdef0123456789abcdef", "souk", "souk-api", 900};

access_claims sample() {
    access_claims c;
    c.sub = "usr_abc";
    c.tenant = "default";
    c.roles = {"member"};
    c.iat_ms = now_ms - 1000;
    c.exp_s = now_ms / 1000 + 900;
    return c;
}

// The payload a genuine token of `sample()` carries, to be edited by the forgeries.
boost::json::object sample_payload() {
    return {{"sub", "usr_abc"},
            {"tenant", "default"},
            {"roles", boost::json::array{"member"}},
            {"iss", "souk"},
            {"aud", "souk-api"},
            {"typ", "access"},
            {"iat", (now_ms - 1000) / 1000.0},
            {"exp", now_ms / 1000 + 900}};
}

std::string b64json(const boost::json::value& v) {
    return base64url_encode(boost::json::serialize(v));
}

// header.payload signed with HMAC-SHA256 under key.
std::string craft(const boost::json::value& header, const boost::json::value& payload,
                  const std::string& key = settings.key) {
    std::string t = b64json(header) + "." + b64json(payload);
    return t + "." + base64url_encode(hmac_sha256(key, t));
}

const boost::json::object hs256{{"alg", "HS256"}, {"typ", "JWT"}};

void require_unauthenticated(const std::string& token) {
    INFO("token: " << token);
    const auto r = verify_access_token(token, settings, now_ms);
    REQUIRE_FALSE(r.ok());
    CHECK(r.err().status == 401);
    CHECK(r.err().code == "UNAUTHENTICATED");
}

std::vector<std::string> split(const std::string& t) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    for (;;) {
        const auto dot = t.find('.', start);
        parts.push_back(t.substr(start, dot - start));
        if (dot == std::string::npos) break;
        start = dot + 1;
    }
    return parts;
}

}  // namespace

TEST_CASE("a signed access token verifies and carries its claims", "[identity][jwt]") {
    auto c = sample();
    c.roles = {"member", "seller"};
    c.mfa = true;
    const std::string token = sign_access_token(c, settings);
    CHECK(split(token).size() == 3);
    const auto r = verify_access_token(token, settings, now_ms);
    REQUIRE(r.ok());
    CHECK(r->sub == "usr_abc");
    CHECK(r->tenant == "default");
    CHECK(r->roles == std::vector<std::string>{"member", "seller"});
    CHECK(r->iat_ms == c.iat_ms);  // millisecond precision survives the NumericDate
    CHECK(r->exp_s == c.exp_s);
    CHECK(r->mfa);

    // The header is exactly HS256/JWT and the payload has every claim of the issue.
    const auto parts = split(token);
    const auto header = boost::json::parse(*base64url_decode(parts[0])).as_object();
    CHECK(header.at("alg") == "HS256");
    const auto payload = boost::json::parse(*base64url_decode(parts[1])).as_object();
    for (const char* k : {"sub", "tenant", "roles", "iss", "aud", "typ", "iat", "exp"}) {
        INFO(k);
        CHECK(payload.contains(k));
    }
    CHECK(payload.at("typ") == "access");
    CHECK(payload.at("iss") == "souk");
    CHECK(payload.at("aud") == "souk-api");
}

TEST_CASE("a hand-made token with the right key verifies (the craft helper is sound)",
          "[identity][jwt]") {
    const auto r = verify_access_token(craft(hs256, sample_payload()), settings, now_ms);
    REQUIRE(r.ok());
    CHECK(r->sub == "usr_abc");
    CHECK_FALSE(r->mfa);
    // aud may also be a list containing our audience (RFC 7519 §4.1.3).
    auto p = sample_payload();
    p["aud"] = boost::json::array{"other", "souk-api"};
    CHECK(verify_access_token(craft(hs256, p), settings, now_ms).ok());
}

TEST_CASE("forged access tokens are all UNAUTHENTICATED", "[identity][jwt]") {
    const std::string genuine = sign_access_token(sample(), settings);
    const auto parts = split(genuine);

    SECTION("alg none, empty signature") {
        require_unauthenticated(b64json(boost::json::object{{"alg", "none"}}) + "." +
                                b64json(sample_payload()) + ".");
        require_unauthenticated(b64json(boost::json::object{{"alg", "none"}, {"typ", "JWT"}}) +
                                "." + parts[1] + ".");
        // Two-part form (no trailing dot).
        require_unauthenticated(b64json(boost::json::object{{"alg", "none"}}) + "." + parts[1]);
    }
    SECTION("alg none or another case of HS256, even with a valid HMAC") {
        require_unauthenticated(craft(boost::json::object{{"alg", "none"}}, sample_payload()));
        require_unauthenticated(craft(boost::json::object{{"alg", "hs256"}}, sample_payload()));
        require_unauthenticated(craft(boost::json::object{{"typ", "JWT"}}, sample_payload()));
    }
    SECTION("alg HS512 (or RS256) signed with the key as an HMAC secret") {
        std::string t =
            b64json(boost::json::object{{"alg", "HS512"}, {"typ", "JWT"}}) + "." + parts[1];
        require_unauthenticated(t + "." + base64url_encode(hmac_sha256(settings.key, t)));
        require_unauthenticated(craft(boost::json::object{{"alg", "RS256"}}, sample_payload()));
    }
    SECTION("tampered payload (a role added) with the original signature") {
        auto p = sample_payload();
        p["roles"] = boost::json::array{"member", "admin"};
        require_unauthenticated(parts[0] + "." + b64json(p) + "." + parts[2]);
        // Or another subject.
        p = sample_payload();
        p["sub"] = "usr_victim";
        require_unauthenticated(parts[0] + "." + b64json(p) + "." + parts[2]);
    }
    SECTION("tampered signature") {
        std::string sig = parts[2];
        sig[3] = sig[3] == 'A' ? 'B' : 'A';
        require_unauthenticated(parts[0] + "." + parts[1] + "." + sig);
        require_unauthenticated(parts[0] + "." + parts[1] + "." + parts[2].substr(0, 20));
        require_unauthenticated(parts[0] + "." + parts[1] + ".");
    }
    SECTION("signed with the wrong key") {
        require_unauthenticated(
            craft(hs256, sample_payload(), "not the server's key at all......"));
        require_unauthenticated(craft(hs256, sample_payload(), ""));
    }
    SECTION("wrong audience, issuer or type") {
        auto p = sample_payload();
        p["aud"] = "another-api";
        require_unauthenticated(craft(hs256, p));
        p["aud"] = boost::json::array{"another-api"};
        require_unauthenticated(craft(hs256, p));
        p = sample_payload();
        p["iss"] = "evil";
        require_unauthenticated(craft(hs256, p));
        p = sample_payload();
        p["typ"] = "refresh";
        require_unauthenticated(craft(hs256, p));
        p = sample_payload();
        p.erase("typ");
        require_unauthenticated(craft(hs256, p));
    }
    SECTION("claims missing or of the wrong type") {
        for (const char* k : {"exp", "iat", "sub", "tenant", "roles", "aud", "iss"}) {
            INFO("without " << k);
            auto p = sample_payload();
            p.erase(k);
            require_unauthenticated(craft(hs256, p));
        }
        auto p = sample_payload();
        p["exp"] = "99999999999";
        require_unauthenticated(craft(hs256, p));
        p = sample_payload();
        p["roles"] = "admin";
        require_unauthenticated(craft(hs256, p));
        p = sample_payload();
        p["roles"] = boost::json::array{"member", 7};
        require_unauthenticated(craft(hs256, p));
        require_unauthenticated(craft(hs256, boost::json::array{1, 2}));
    }
    SECTION("garbage") {
        for (const std::string t : {"", ".", "..", "...", "a.b.c", "abc", "a.b", "a.b.c.d",
                                    "eyJhbGciOiJIUzI1NiJ9.e30.e30", "not a token at all"})
            require_unauthenticated(t);
        require_unauthenticated(genuine + ".");
        require_unauthenticated(genuine + "." + parts[2]);
        require_unauthenticated(" " + genuine);
        // A header that is not JSON, signed properly.
        std::string t = base64url_encode("{alg:HS256}") + "." + parts[1];
        require_unauthenticated(t + "." + base64url_encode(hmac_sha256(settings.key, t)));
    }
    SECTION("an opaque refresh token") {
        require_unauthenticated(new_opaque_token());
    }
}

TEST_CASE("an expired token is TOKEN_EXPIRED; a forged expired one stays UNAUTHENTICATED",
          "[identity][jwt]") {
    auto c = sample();
    c.iat_ms = now_ms - 2'000'000;
    c.exp_s = now_ms / 1000 - 100;
    const auto r = verify_access_token(sign_access_token(c, settings), settings, now_ms);
    REQUIRE_FALSE(r.ok());
    CHECK(r.err().status == 401);
    CHECK(r.err().code == "TOKEN_EXPIRED");

    // exp is exclusive: at exp the token is dead, a moment before it lives.
    c.exp_s = now_ms / 1000;
    CHECK_FALSE(verify_access_token(sign_access_token(c, settings), settings, now_ms).ok());
    CHECK(verify_access_token(sign_access_token(c, settings), settings, now_ms - 1).ok());

    // Expired and forged: the signature is judged first.
    auto p = sample_payload();
    p["exp"] = now_ms / 1000 - 100;
    const auto forged = verify_access_token(craft(hs256, p, "wrong key"), settings, now_ms);
    REQUIRE_FALSE(forged.ok());
    CHECK(forged.err().code == "UNAUTHENTICATED");
}

TEST_CASE("absurd exp and iat values are refused, not undefined behaviour", "[identity][jwt]") {
    for (double v : {1e300, -1e300, 1e19, 9.3e15}) {
        INFO("exp = " << v);
        auto p = sample_payload();
        p["exp"] = v;
        const auto r = verify_access_token(craft(hs256, p), settings, now_ms);
        CHECK_FALSE(r.ok());
        p = sample_payload();
        p["iat"] = v;
        const auto r2 = verify_access_token(craft(hs256, p), settings, now_ms);
        CHECK_FALSE(r2.ok());
    }
}

TEST_CASE("verified_tokens: a token that verified is answered from memory until it expires",
          "[identity][jwt]") {
    verified_tokens cache(2);
    const std::string token = sign_access_token(sample(), settings);
    const auto first = cache.verify(token, settings, now_ms);
    REQUIRE(first.ok());
    CHECK(first->sub == "usr_abc");
    CHECK(first->roles == std::vector<std::string>{"member"});

    // From memory: one cache serves one set of settings, so a token it knows is not checked
    // again (here against another issuer, which a full check would refuse).
    token_settings other = settings;
    other.issuer = "elsewhere";
    REQUIRE_FALSE(verify_access_token(token, other, now_ms).ok());
    const auto again = cache.verify(token, other, now_ms);
    REQUIRE(again.ok());
    CHECK(again->tenant == "default");

    // Any edit is another string: checked in full, refused.
    std::string edited = token;
    char& c = edited[edited.size() - 10];  // inside the signature, not its padding bits
    c = c == 'A' ? 'B' : 'A';
    const auto forged = cache.verify(edited, settings, now_ms);
    REQUIRE_FALSE(forged.ok());
    CHECK(forged.err().code == "UNAUTHENTICATED");

    // Expiry is judged on every use, remembered or not.
    const std::int64_t exp_ms = sample().exp_s * 1000;
    const auto expired = cache.verify(token, settings, exp_ms);
    REQUIRE_FALSE(expired.ok());
    CHECK(expired.err().code == "TOKEN_EXPIRED");
    CHECK(cache.verify(token, settings, exp_ms - 1).ok());

    // Past its capacity the cache starts empty again; every token still verifies.
    for (int i = 0; i < 5; ++i) {
        auto c = sample();
        c.sub = "usr_" + std::to_string(i);
        const auto r = cache.verify(sign_access_token(c, settings), settings, now_ms);
        REQUIRE(r.ok());
        CHECK(r->sub == c.sub);
    }
}
