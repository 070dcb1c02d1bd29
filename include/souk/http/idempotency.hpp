#pragma once
// Idempotency for writes that cost money or seats: the same (caller, route, key) gets the first
// response again for 24 h, byte for byte; the same key with another body is 422
// IDEMPOTENCY_KEY_REUSED; a duplicate while the first is still running is 409 CONFLICT.
#include <mutex>
#include <optional>
#include <souk/core/clock.hpp>
#include <souk/db/database.hpp>
#include <souk/http/router.hpp>
#include <string>
#include <unordered_set>

namespace souk::http {

inline constexpr std::int64_t idempotency_ttl_ms = 24LL * 3600 * 1000;

struct stored_response {
    std::string request_hash;
    int status = 200;
    std::string content_type;
    std::string body;
};

// Reads the stored response for a ticket (any connection, or inside a write job).
std::optional<stored_response> idempotency_lookup(db::connection& c, const idempotency_ticket& t,
                                                  std::int64_t now_ms);
// Stores the response in the caller's transaction; a no-op if one is already stored.
void idempotency_record(db::tx& t, const idempotency_ticket& ticket, int status,
                        std::string_view content_type, std::string_view body);
// The answer for a stored response: the replay, or 422 when the body differs.
response idempotency_replay(const stored_response& s, const idempotency_ticket& t,
                            std::string_view request_id);

class idempotency_guard {
  public:
    idempotency_guard(db::database& d, const souk::clock& clk) : db_(d), clock_(clk) {}
    middleware as_middleware();
    // Deletes keys older than 24 h.
    boost::asio::awaitable<void> purge();

  private:
    db::database& db_;
    const souk::clock& clock_;
    std::mutex mu_;
    std::unordered_set<std::string> in_flight_;
};

}  // namespace souk::http
