// Webhook signatures: t=<unix>,v1=<hex HMAC-SHA256(secret, t.body)>, several v1 during rotation.
#include <catch2/catch.hpp>

#include "signature.hpp"

using namespace souk::payouts;

namespace {
const std::vector<std::string> secrets{"current-secret-0123456789abcdef"};
const std::string body = R"({"id":"evt_1","type":"payment.succeeded","data":{}})";
constexpr std::int64_t now = 1'800'000'000;
}  // namespace

TEST_CASE("signatures: a fresh signature with our secret verifies", "[payouts][signature]") {
    CHECK(verify_signature(sign_header(secrets, now, body), body, secrets, now) ==
          signature_check::ok);
    CHECK(verify_signature(sign_header(secrets, now - 299, body), body, secrets, now) ==
          signature_check::ok);
}

TEST_CASE("signatures: known vector", "[payouts][signature]") {
    // python3 -c "import hmac,hashlib;print(hmac.new(b'k',b'1.{}',hashlib.sha256).hexdigest())"
    CHECK(signature_v1("k", 1, "{}") ==
          "3dd49b2593d0f9a349e9e71c4bde3e2b862c2be4003fe9b4ba81332029310158");
}

TEST_CASE("signatures: forged, stale, altered and malformed are refused", "[payouts][signature]") {
    const auto good = sign_header(secrets, now, body);
    CHECK(verify_signature(sign_header({"someone-elses-secret-000000000"}, now, body), body,
                           secrets, now) == signature_check::mismatch);
    CHECK(verify_signature(sign_header(secrets, now - 301, body), body, secrets, now) ==
          signature_check::stale);
    CHECK(verify_signature(sign_header(secrets, now + 301, body), body, secrets, now) ==
          signature_check::stale);
    CHECK(verify_signature(good, body + " ", secrets, now) == signature_check::mismatch);
    CHECK(verify_signature("", body, secrets, now) == signature_check::malformed);
    CHECK(verify_signature("t=abc,v1=00", body, secrets, now) == signature_check::malformed);
    CHECK(verify_signature("t=1800000000", body, secrets, now) == signature_check::malformed);
    CHECK(verify_signature("v1=" + std::string(64, 'a'), body, secrets, now) ==
          signature_check::malformed);
    CHECK(verify_signature("t=1,t=2,v1=" + std::string(64, 'a'), body, secrets, now) ==
          signature_check::malformed);
}

TEST_CASE("signatures: rotation accepts any v1 made with any secret we hold",
          "[payouts][signature]") {
    const std::vector<std::string> sender{"a-brand-new-secret-0123456789", secrets[0]};
    CHECK(verify_signature(sign_header(sender, now, body), body, secrets, now) ==
          signature_check::ok);
    const std::vector<std::string> ours{"a-brand-new-secret-0123456789",
                                        "previous-secret-00000000"};
    CHECK(verify_signature(sign_header({"previous-secret-00000000"}, now, body), body, ours, now) ==
          signature_check::ok);
    // Unknown schemes are ignored, as providers add them.
    CHECK(verify_signature(sign_header(secrets, now, body) + ",v0=xyz", body, secrets, now) ==
          signature_check::ok);
}
