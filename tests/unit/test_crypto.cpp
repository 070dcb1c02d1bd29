// SHA-256 against the FIPS 180-2 vectors, whole and in parts, from several threads (each keeps
// its own digest context).
#include <catch2/catch.hpp>
#include <souk/core/crypto.hpp>
#include <souk/core/random.hpp>
#include <string>
#include <thread>
#include <vector>

using souk::to_hex;
using souk::crypto::sha256;
using souk::crypto::sha256_hex;

TEST_CASE("crypto: sha256 matches the standard vectors", "[crypto]") {
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_CASE("crypto: sha256 of parts equals sha256 of their concatenation", "[crypto]") {
    CHECK(to_hex(sha256({"a", "", "bc"})) == sha256_hex("abc"));
    CHECK(to_hex(sha256({"POST", " ", "/api/v1/bookings/reserve", "\n", "{}"})) ==
          sha256_hex("POST /api/v1/bookings/reserve\n{}"));
    CHECK(sha256({"ab", "c"}) != sha256({"ab", "d"}));
}

TEST_CASE("crypto: sha256 from several threads at once", "[crypto]") {
    std::vector<std::thread> threads;
    std::vector<int> wrong(4, 0);
    for (int i = 0; i < 4; ++i)
        threads.emplace_back([&wrong, i] {
            for (int n = 0; n < 2000; ++n)
                if (sha256_hex("abc") !=
                    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
                    ++wrong[i];
        });
    for (auto& t : threads)
        t.join();
    CHECK(wrong == std::vector<int>(4, 0));
}
