// Encodings and primitives under the tokens: base64url, base32, HMAC, constant-time compare.
#include <catch2/catch.hpp>
#include <string>

#include "crypto.hpp"

using namespace souk::identity;

namespace {
std::string all_bytes() {
    std::string s;
    for (int i = 0; i < 256; ++i)
        s += static_cast<char>(i);
    return s;
}
std::string hex(std::string_view raw) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : raw) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}
}  // namespace

TEST_CASE("base64url encodes the RFC 4648 vectors without padding", "[identity][crypto]") {
    CHECK(base64url_encode("") == "");
    CHECK(base64url_encode("f") == "Zg");
    CHECK(base64url_encode("fo") == "Zm8");
    CHECK(base64url_encode("foo") == "Zm9v");
    CHECK(base64url_encode("foob") == "Zm9vYg");
    CHECK(base64url_encode("fooba") == "Zm9vYmE");
    CHECK(base64url_encode("foobar") == "Zm9vYmFy");
    // The URL-safe alphabet: '-' and '_' instead of '+' and '/'.
    CHECK(base64url_encode("\xfb\xff\xbf") == "-_-_");
}

TEST_CASE("base64url round-trips every length and byte", "[identity][crypto]") {
    const std::string bytes = all_bytes();
    for (std::size_t n = 0; n <= bytes.size(); n += (n < 40 ? 1 : 37)) {
        const std::string in = bytes.substr(0, n);
        const auto out = base64url_decode(base64url_encode(in));
        REQUIRE(out);
        CHECK(*out == in);
    }
}

TEST_CASE("base64url_decode refuses what is not canonical base64url", "[identity][crypto]") {
    CHECK_FALSE(base64url_decode("Zm9v+g"));    // '+' is standard base64, not URL-safe
    CHECK_FALSE(base64url_decode("Zm9v/g"));    // '/' likewise
    CHECK_FALSE(base64url_decode("Zm9vYg=="));  // no padding in JWTs
    CHECK_FALSE(base64url_decode("Zm9 v"));     // spaces
    CHECK_FALSE(base64url_decode("Z"));         // a length no encoding has
    CHECK_FALSE(base64url_decode("Zm9vY"));     // likewise (5 mod 4 == 1)
    CHECK_FALSE(base64url_decode("Zh"));        // non-zero trailing bits: a second spelling of "f"
    CHECK_FALSE(base64url_decode("Zm9"));       // "fo" is Zm8; Zm9 has stray bits
    CHECK_FALSE(base64url_decode(std::string("Zm\0v", 4)));
    CHECK(base64url_decode("") == std::string());
}

TEST_CASE("base32 encodes the RFC 4648 vectors (no padding)", "[identity][crypto]") {
    CHECK(base32_encode("") == "");
    CHECK(base32_encode("f") == "MY");
    CHECK(base32_encode("fo") == "MZXQ");
    CHECK(base32_encode("foo") == "MZXW6");
    CHECK(base32_encode("foob") == "MZXW6YQ");
    CHECK(base32_encode("fooba") == "MZXW6YTB");
    CHECK(base32_encode("foobar") == "MZXW6YTBOI");
}

TEST_CASE("base32 round-trips and tolerates what authenticator apps show", "[identity][crypto]") {
    const std::string bytes = all_bytes();
    for (std::size_t n = 0; n <= 64; ++n) {
        const std::string in = bytes.substr(100, n);
        const auto out = base32_decode(base32_encode(in));
        REQUIRE(out);
        CHECK(*out == in);
    }
    // Lower case, spaces between groups and padding are all the same secret.
    CHECK(base32_decode("mzxw6ytboi") == std::string("foobar"));
    CHECK(base32_decode("MZXW 6YTB OI") == std::string("foobar"));
    CHECK(base32_decode("MZXW6YTBOI======") == std::string("foobar"));
}

TEST_CASE("base32_decode refuses characters outside the alphabet", "[identity][crypto]") {
    CHECK_FALSE(base32_decode("MZXW1"));  // '1' is not base32 (it would be 'I' or 'L')
    CHECK_FALSE(base32_decode("MZXW0"));  // nor '0'
    CHECK_FALSE(base32_decode("MZXW8"));
    CHECK_FALSE(base32_decode("MZ-XW"));
    CHECK_FALSE(base32_decode("MZXW6\xc3\xa9"));
}

TEST_CASE("HMAC and SHA-256 match the RFC 4231 / FIPS 180 vectors", "[identity][crypto]") {
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    // RFC 4231 test case 2.
    CHECK(hex(hmac_sha256("Jefe", "what do ya want for nothing?")) ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    // RFC 2202 test case 2.
    CHECK(hex(hmac_sha1("Jefe", "what do ya want for nothing?")) ==
          "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
}

TEST_CASE("constant_time_equal and opaque tokens", "[identity][crypto]") {
    CHECK(constant_time_equal("abc", "abc"));
    CHECK_FALSE(constant_time_equal("abc", "abd"));
    CHECK_FALSE(constant_time_equal("abc", "abcd"));
    CHECK(constant_time_equal("", ""));
    const std::string a = new_opaque_token(), b = new_opaque_token();
    CHECK(a != b);
    CHECK(a.size() == 43);  // 256 bits in base64url
    const auto raw = base64url_decode(a);
    REQUIRE(raw);
    CHECK(raw->size() == 32);
}
