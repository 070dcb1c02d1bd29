// Password policy (length in characters, the common list) and argon2id hashing.
#include <catch2/catch.hpp>
#include <fstream>
#include <string>

#include "passwords.hpp"

using namespace souk::identity;

namespace {
std::string repeat(std::string_view unit, std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i)
        s += unit;
    return s;
}
}  // namespace

TEST_CASE("password length is counted in characters, 10 to 128", "[identity][passwords]") {
    CHECK(password_problem("Zq8#kLp2!"));         // 9
    CHECK_FALSE(password_problem("Zq8#kLp2!x"));  // 10
    CHECK(password_problem(""));
    CHECK(password_problem(repeat("k", 9)));
    CHECK_FALSE(password_problem(repeat("kX7", 42) + "kX"));    // 128
    const auto too_long = password_problem(repeat("kX7", 43));  // 129
    REQUIRE(too_long);
    CHECK(too_long->find("128") != std::string::npos);
    const auto too_short = password_problem("short");
    REQUIRE(too_short);
    CHECK(too_short->find("10") != std::string::npos);

    // Multibyte: ten "é" are 20 bytes but 10 characters; nine are 18 bytes but too short.
    CHECK(password_problem(repeat("\xc3\xa9", 9)));
    CHECK_FALSE(password_problem(repeat("\xc3\xa9", 10)));
    // Five 4-byte emoji (20 bytes) are five characters.
    CHECK(password_problem(repeat("\xf0\x9f\x94\x91", 5)));
    CHECK_FALSE(password_problem(repeat("\xf0\x9f\x94\x91", 10)));
    // 128 three-byte characters (384 bytes) are fine; 129 are not.
    CHECK_FALSE(password_problem(repeat("\xe2\x82\xac", 128)));
    CHECK(password_problem(repeat("\xe2\x82\xac", 129)));
}

TEST_CASE("the 10,000 most common passwords are refused case-insensitively",
          "[identity][passwords]") {
    CHECK(is_common_password("password12"));
    CHECK(is_common_password("PassWord12"));
    CHECK(is_common_password("QWERTYUIOP"));
    const auto problem = password_problem("Password12");
    REQUIRE(problem);
    CHECK(problem->find("common") != std::string::npos);
    CHECK_FALSE(is_common_password("Zq8#kLp2!x"));
    CHECK_FALSE(is_common_password(""));

    // Every entry of the shipped list of 10+ characters is refused, in any case.
    std::ifstream in(SOUK_COMMON_PASSWORDS);
    REQUIRE(in);
    std::string line;
    int lines = 0, long_ones = 0;
    while (std::getline(in, line)) {
        ++lines;
        if (line.size() < 10) continue;
        ++long_ones;
        std::string upper = line;
        for (auto& c : upper)
            c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        INFO(line);
        CHECK(password_problem(line));
        CHECK(password_problem(upper));
    }
    CHECK(lines == 10000);
    CHECK(long_ones > 100);
}

TEST_CASE("argon2id hashes verify and refuse the wrong password", "[identity][passwords]") {
    const std::string pw = "correct horse battery staple";
    const std::string h = hash_password(pw);
    CHECK(h.rfind("$argon2id$v=19$m=19456,t=2,p=1$", 0) == 0);
    CHECK(h.find(pw) == std::string::npos);
    CHECK(verify_password(h, pw));
    CHECK_FALSE(verify_password(h, "correct horse battery stapl"));
    CHECK_FALSE(verify_password(h, pw + " "));
    CHECK_FALSE(verify_password(h, ""));
    // A fresh salt each time: two hashes of one password differ and both verify.
    const std::string h2 = hash_password(pw);
    CHECK(h2 != h);
    CHECK(verify_password(h2, pw));
    // Never truncated: passwords differing only after byte 72 (bcrypt's limit) differ.
    const std::string long_a = repeat("a", 100) + "1", long_b = repeat("a", 100) + "2";
    CHECK_FALSE(verify_password(hash_password(long_a), long_b));
    // Garbage or empty hashes never verify (and never crash).
    CHECK_FALSE(verify_password("", pw));
    CHECK_FALSE(verify_password("$argon2id$v=19$m=19456,t=2,p=1$xx$yy", pw));
    CHECK_FALSE(verify_password("plaintext", "plaintext"));
}

TEST_CASE("an embedded NUL does not cut a password short", "[identity][passwords]") {
    const std::string with_nul("abcdefghij\0klmnop", 17);
    const std::string h = hash_password(with_nul);
    CHECK(verify_password(h, with_nul));
    CHECK_FALSE(verify_password(h, "abcdefghij"));
}
