#pragma once
// Access tokens: JWT HS256 with strict validation — the algorithm allow-list and the signature
// are checked before any claim is read; then typ, iss, aud and exp.
#include <cstdint>
#include <mutex>
#include <souk/core/result.hpp>
#include <souk/core/string_map.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace souk::identity {

struct access_claims {
    std::string sub;
    std::string tenant;
    std::vector<std::string> roles;
    std::int64_t iat_ms = 0;  // NumericDate with millisecond fraction
    std::int64_t exp_s = 0;
    bool mfa = false;  // the session was opened with a TOTP code
};

struct token_settings {
    std::string key;
    std::string issuer = "souk";
    std::string audience = "souk-api";
    std::int64_t lifetime_s = 900;
};

std::string sign_access_token(const access_claims& c, const token_settings& s);
// UNAUTHENTICATED for anything malformed or forged; TOKEN_EXPIRED when only the time is up.
result<access_claims> verify_access_token(std::string_view token, const token_settings& s,
                                          std::int64_t now_ms);

// verify_access_token with a memory: a client sends the same token with every request until it
// expires, and checking its signature and parsing its claims each time was most of what
// authenticating a request cost. Only tokens that verified are kept, keyed by the whole token
// (a forgery or an edit is another string, checked in full); expiry is judged on every use.
// Bounded: when full it starts empty again. Thread-safe.
class verified_tokens {
  public:
    explicit verified_tokens(std::size_t capacity = 8192) : capacity_(capacity) {}
    result<access_claims> verify(std::string_view token, const token_settings& s,
                                 std::int64_t now_ms);

  private:
    std::size_t capacity_;
    std::mutex mu_;
    string_map<access_claims> known_;
};

}  // namespace souk::identity
