#pragma once
// JSON helpers for handlers: limits-checked parsing and field extraction with validation errors.
#include <boost/json.hpp>
#include <optional>
#include <souk/core/result.hpp>
#include <string>
#include <string_view>

namespace souk::json {

inline constexpr std::size_t depth_max = 64;

// Parses with the API's limits: depth 64, numbers that overflow a double are refused.
result<boost::json::value> parse(std::string_view text);
std::string serialize(const boost::json::value& v);
// Appends s as a JSON string literal, escaped as serialize() escapes it: for answers written by
// hand on a hot path.
void append_string(std::string& out, std::string_view s);

// Money as the API writes it: {"amount": <minor units>, "currency": "USD"}.
inline boost::json::object money(std::int64_t amount, std::string_view currency) {
    return {{"amount", amount}, {"currency", currency}};
}

// Collects field problems so a handler reports all of them in one 422.
class fields {
  public:
    explicit fields(const boost::json::value& body);
    bool is_object() const { return obj_ != nullptr; }

    std::optional<std::string> required_string(std::string_view key, std::size_t min_len,
                                               std::size_t max_len);
    std::optional<std::string> optional_string(std::string_view key, std::size_t max_len);
    std::optional<std::int64_t> required_int(std::string_view key, std::int64_t min,
                                             std::int64_t max);
    std::optional<std::int64_t> optional_int(std::string_view key, std::int64_t min,
                                             std::int64_t max);
    std::optional<bool> optional_bool(std::string_view key);
    void fail(std::string_view key, std::string_view problem);

    // OK when no field failed; else VALIDATION_FAILED with every problem.
    status check() const;

  private:
    const boost::json::object* obj_ = nullptr;
    boost::json::object problems_;
};

}  // namespace souk::json
