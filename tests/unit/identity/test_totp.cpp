// TOTP (RFC 6238) and HOTP (RFC 4226) against the RFCs' own test vectors; single-use matching.
#include <catch2/catch.hpp>
#include <string>

#include "crypto.hpp"
#include "totp.hpp"

using namespace souk::identity;

namespace {
const std::string rfc_secret = "12345678901234567890";  // RFC 4226 / RFC 6238 SHA-1 seed
}

TEST_CASE("HOTP matches the RFC 4226 Appendix D vectors", "[identity][totp]") {
    const char* expected[] = {"755224", "287082", "359152", "969429", "338314",
                              "254676", "287922", "162583", "399871", "520489"};
    for (std::uint64_t counter = 0; counter < 10; ++counter) {
        INFO("counter " << counter);
        CHECK(hotp(rfc_secret, counter) == expected[counter]);
    }
}

TEST_CASE("TOTP matches the RFC 6238 Appendix B SHA-1 vectors", "[identity][totp]") {
    struct vec {
        std::int64_t t;
        const char* code;
    };
    const vec vectors[] = {{59, "94287082"},         {1111111109, "07081804"},
                           {1111111111, "14050471"}, {1234567890, "89005924"},
                           {2000000000, "69279037"}, {20000000000, "65353130"}};
    for (const auto& v : vectors) {
        INFO("T = " << v.t);
        CHECK(totp_at(rfc_secret, v.t, 8) == v.code);
    }
    // Six digits are the last six of the eight.
    CHECK(totp_at(rfc_secret, 59) == "287082");
    CHECK(totp_at(rfc_secret, 1111111109) == "081804");
}

TEST_CASE("totp_match accepts the current step and its neighbours once", "[identity][totp]") {
    const std::int64_t now_s = 1'700'000'015;  // in the middle of a step
    const std::int64_t now_ms = now_s * 1000;
    const std::int64_t step = now_s / 30;
    const std::string current = totp_at(rfc_secret, now_s);
    const std::string previous = totp_at(rfc_secret, now_s - 30);
    const std::string next = totp_at(rfc_secret, now_s + 30);

    SECTION("the current code matches its step") {
        auto m = totp_match(rfc_secret, current, now_ms, 0);
        REQUIRE(m);
        CHECK(*m == step);
    }
    SECTION("one step either side is inside the default window") {
        CHECK(totp_match(rfc_secret, previous, now_ms, 0) == step - 1);
        CHECK(totp_match(rfc_secret, next, now_ms, 0) == step + 1);
    }
    SECTION("two steps away is outside the window") {
        CHECK_FALSE(totp_match(rfc_secret, totp_at(rfc_secret, now_s - 60), now_ms, 0));
        CHECK_FALSE(totp_match(rfc_secret, totp_at(rfc_secret, now_s + 60), now_ms, 0));
        // A window of 0 accepts only the current step.
        CHECK_FALSE(totp_match(rfc_secret, next, now_ms, 0, 0));
        CHECK(totp_match(rfc_secret, current, now_ms, 0, 0) == step);
    }
    SECTION("single use: a step at or before last_step is refused") {
        CHECK_FALSE(totp_match(rfc_secret, current, now_ms, step));
        CHECK_FALSE(totp_match(rfc_secret, previous, now_ms, step));
        CHECK_FALSE(totp_match(rfc_secret, previous, now_ms, step - 1));
        // A later code is still fine after the current one was used.
        CHECK(totp_match(rfc_secret, next, now_ms, step) == step + 1);
        CHECK(totp_match(rfc_secret, current, now_ms, step - 1) == step);
    }
    SECTION("wrong codes, other lengths and other keys are refused") {
        std::string wrong = current;
        wrong[5] = wrong[5] == '0' ? '1' : '0';
        CHECK_FALSE(totp_match(rfc_secret, wrong, now_ms, 0));
        CHECK_FALSE(totp_match(rfc_secret, "", now_ms, 0));
        CHECK_FALSE(totp_match(rfc_secret, current.substr(0, 5), now_ms, 0));
        CHECK_FALSE(totp_match(rfc_secret, current + "0", now_ms, 0));
        CHECK_FALSE(totp_match(rfc_secret, totp_at(rfc_secret, now_s, 8), now_ms, 0));
        CHECK_FALSE(totp_match("another secret key..", current, now_ms, 0));
    }
}

TEST_CASE("otpauth URI carries the base32 secret and the parameters", "[identity][totp]") {
    const std::string secret = base32_encode(rfc_secret);
    CHECK(secret == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    const std::string uri = otpauth_uri("Souk", "ana+mfa@example.org", secret);
    CHECK(uri.rfind("otpauth://totp/Souk:", 0) == 0);
    CHECK(uri.find("secret=" + secret) != std::string::npos);
    CHECK(uri.find("issuer=Souk") != std::string::npos);
    CHECK(uri.find("digits=6") != std::string::npos);
    CHECK(uri.find("period=30") != std::string::npos);
    // The '+' of the address is escaped, and nothing raw that would break the URI.
    CHECK(uri.find("ana%2Bmfa@example.org") != std::string::npos);
    CHECK(uri.find(' ') == std::string::npos);
}
