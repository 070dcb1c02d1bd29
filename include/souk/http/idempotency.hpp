#pragma once
// Idempotency for writes that cost money or seats: the same (caller, route, key) gets the first
// response again for 24 h, byte for byte; the same key with another body is 422
// IDEMPOTENCY_KEY_REUSED; a duplicate while the first is still running is 409 CONFLICT.
#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <souk/core/clock.hpp>
#include <souk/db/database.hpp>
#include <souk/http/router.hpp>
#include <string>
#include <unordered_set>
#include <vector>

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

// Which (caller, route, key) may have a stored response: a Bloom filter, so that a route that
// refuses from memory (a sold-out zone) does not read SQLite for every refusal just in case the
// key took effect before. "No" is certain; "maybe" means: look it up. Filled after each commit
// that records a response, and from SQLite at start-up. Past `capacity` keys it answers "maybe"
// to everything (correct, only slower) until the next start.
class recorded_keys {
  public:
    explicit recorded_keys(std::size_t bits_log2 = 26, std::size_t capacity = 8'000'000);
    void note(const idempotency_ticket& t);
    void note(std::string_view caller, std::string_view route, std::string_view key);
    bool may_have(const idempotency_ticket& t) const;
    // Notes every key of `route` stored since since_ms; returns how many.
    std::size_t load(db::connection& c, std::string_view route, std::int64_t since_ms);

  private:
    void note_hash(std::uint64_t h);
    std::vector<std::atomic<std::uint64_t>> words_;
    std::uint64_t mask_;  // blocks - 1
    std::size_t capacity_;
    std::atomic<std::size_t> count_{0};
};

class idempotency_guard {
  public:
    idempotency_guard(db::database& d, const souk::clock& clk) : db_(d), clock_(clk) {}
    middleware as_middleware();
    // Deletes keys older than 24 h.
    boost::asio::awaitable<void> purge();

  private:
    // Requests running, by a 64-bit hash of (caller, route, key): a collision could only refuse
    // a request with 409, never let two run. Sharded so io threads rarely share a lock.
    struct in_flight_shard {
        std::mutex mu;
        std::unordered_set<std::uint64_t> slots;
    };
    bool enter(std::uint64_t slot);
    void leave(std::uint64_t slot);

    db::database& db_;
    const souk::clock& clock_;
    std::array<in_flight_shard, 16> in_flight_;
};

}  // namespace souk::http
