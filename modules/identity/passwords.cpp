#include "passwords.hpp"

#include <argon2.h>

#include <algorithm>
#include <souk/embedded.hpp>
#include <stdexcept>
#include <string>
#include <unordered_set>

#include "crypto.hpp"

namespace souk::embedded {
std::span<const file> common_passwords();
}

namespace souk::identity {

namespace {

constexpr std::size_t salt_bytes = 16;
constexpr std::size_t hash_bytes = 32;

// Code points, not bytes: a password of ten accented letters is ten characters long.
std::size_t utf8_length(std::string_view s) {
    std::size_t n = 0;
    for (unsigned char c : s)
        if ((c & 0xC0) != 0x80) ++n;
    return n;
}

const std::unordered_set<std::string>& common_set() {
    static const std::unordered_set<std::string> set = [] {
        std::unordered_set<std::string> out;
        for (const auto& f : embedded::common_passwords()) {
            std::size_t start = 0;
            const auto text = f.bytes;
            while (start < text.size()) {
                auto nl = text.find('\n', start);
                if (nl == std::string_view::npos) nl = text.size();
                if (nl > start) out.emplace(text.substr(start, nl - start));
                start = nl + 1;
            }
        }
        return out;
    }();
    return set;
}

}  // namespace

std::string hash_password(std::string_view password, const argon2_params& p) {
    const std::string salt = random_bytes(salt_bytes);
    const std::size_t len =
        argon2_encodedlen(p.t_cost, p.m_cost_kib, p.parallelism, salt_bytes, hash_bytes, Argon2_id);
    std::string encoded(len, '\0');
    const int rc = argon2id_hash_encoded(p.t_cost, p.m_cost_kib, p.parallelism, password.data(),
                                         password.size(), salt.data(), salt.size(), hash_bytes,
                                         encoded.data(), encoded.size());
    if (rc != ARGON2_OK) throw std::runtime_error(argon2_error_message(rc));
    encoded.resize(std::char_traits<char>::length(encoded.c_str()));
    return encoded;
}

bool verify_password(std::string_view encoded_hash, std::string_view password) {
    const std::string h(encoded_hash);
    return argon2id_verify(h.c_str(), password.data(), password.size()) == ARGON2_OK;
}

bool is_common_password(std::string_view password) {
    std::string lower(password);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return common_set().count(lower) > 0;
}

std::optional<std::string> password_problem(std::string_view password) {
    const auto n = utf8_length(password);
    if (n < password_chars_min)
        return "must be at least " + std::to_string(password_chars_min) + " characters";
    if (n > password_chars_max)
        return "must be at most " + std::to_string(password_chars_max) + " characters";
    if (is_common_password(password)) return "is too common; choose another";
    return std::nullopt;
}

}  // namespace souk::identity
