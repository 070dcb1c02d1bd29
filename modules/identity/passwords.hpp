#pragma once
// Passwords: argon2id at OWASP's parameters (m = 19 MiB, t = 2, p = 1) and the policy (length,
// not one of the 10,000 most common). Hashing is slow on purpose: call it off the io threads.
#include <optional>
#include <string>
#include <string_view>

namespace souk::identity {

constexpr std::size_t password_chars_min = 10;
constexpr std::size_t password_chars_max = 128;

struct argon2_params {
    unsigned t_cost = 2;
    unsigned m_cost_kib = 19 * 1024;
    unsigned parallelism = 1;
};

std::string hash_password(std::string_view password, const argon2_params& p = {});
bool verify_password(std::string_view encoded_hash, std::string_view password);
// nullopt when acceptable; else the problem, phrased for the "password" field.
std::optional<std::string> password_problem(std::string_view password);
bool is_common_password(std::string_view password);

}  // namespace souk::identity
