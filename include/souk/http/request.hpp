#pragma once
// The kernel's own request type. Module handlers see this, never Beast's types.
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <souk/core/result.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace souk::http {

enum class method { get, head, post, put, patch, del, options, other };
std::string_view to_string(method m);
method method_from_string(std::string_view s);

struct route;

// Who is calling, once authentication has run. Filled by the identity module's authenticator.
struct principal {
    std::string user_id;
    std::string tenant;
    std::vector<std::string> roles;
    bool has_role(std::string_view role) const;
};

using header_list = std::vector<std::pair<std::string, std::string>>;

// ASCII case-insensitive equality, for header names and tokens.
inline bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

// Set by the idempotency middleware on routes that take an Idempotency-Key.
struct idempotency_ticket {
    std::string caller;  // user id, or "ip:<address>"
    std::string route;   // "POST /api/v1/bookings/reserve"
    std::string key;
    std::string request_hash;
    // (caller, route, key) hashed once, by the middleware: the in-flight slot and the
    // recorded-keys filter both use it. 0: not computed (a ticket built elsewhere).
    std::uint64_t key_hash = 0;
    bool recorded = false;  // the handler stored the response in its own transaction
};

struct request {
    http::method method = http::method::get;
    std::string method_name;
    std::string target;  // path and query as received
    std::string path;    // decoded path
    std::string query;   // raw query string without '?'
    header_list headers;
    std::string body;
    std::vector<std::pair<std::string, std::string>> params;  // path parameters
    std::string request_id;
    std::string trace_id;
    std::string remote_address;
    bool secure = false;
    const http::route* route = nullptr;
    std::optional<principal> caller;
    std::optional<idempotency_ticket> idempotency;

    // Case-insensitive header lookup; empty when absent.
    std::string_view header(std::string_view name) const;
    // Content negotiation (RFC 9110 12.5.1): whether the Accept header ranks media_type above
    // `fallback` — a higher quality, or the same one named more precisely (image/svg+xml over
    // */*). A type it marks q=0 is never preferred; without an Accept header, nothing is.
    bool prefers(std::string_view media_type, std::string_view fallback) const;
    // Path parameter by name; empty when absent.
    std::string_view param(std::string_view name) const;
    // Decoded query parameter; nullopt when absent.
    std::optional<std::string> query_param(std::string_view name) const;
    // Decoded field of an application/x-www-form-urlencoded body; nullopt when absent.
    std::optional<std::string> form_param(std::string_view name) const;
    // ?page= and ?per_page= of a list (page >= 1, per_page 1..100, default 20).
    struct paging {
        std::int64_t page = 1, per_page = 20;
        std::int64_t offset() const { return (page - 1) * per_page; }
    };
    paging page() const;
    // The body as JSON, with the API's limits (depth 64, numbers in range); MALFORMED_JSON else.
    result<boost::json::value> json() const;
};

}  // namespace souk::http
