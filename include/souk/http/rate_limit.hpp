#pragma once
// Token buckets per client (the caller's user id, else the remote address) and route class.
// Rejections cost a hash lookup and no SQLite work.
#include <algorithm>
#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <souk/core/clock.hpp>
#include <souk/core/string_map.hpp>
#include <souk/http/router.hpp>
#include <string>
#include <string_view>

namespace souk::http {

struct bucket_limit {
    double per_second = 10;  // refill rate
    double burst = 20;       // capacity
};

struct rate_decision {
    bool allowed = true;
    double limit = 0;
    double remaining = 0;
    std::int64_t reset_seconds = 0;  // until the bucket is full again
    std::int64_t retry_after_seconds = 0;
};

class rate_limiter {
  public:
    // A shard that holds buckets_per_shard_max buckets forgets those that have refilled.
    explicit rate_limiter(const souk::clock& clk, std::size_t buckets_per_shard_max = 200'000)
        : clock_(clk), buckets_per_shard_max_(buckets_per_shard_max) {}
    void set_limit(std::string route_class, bucket_limit l);
    bool has_class(std::string_view route_class) const;
    // Takes one token for (class, client) if there is one. The client is client_prefix followed
    // by client ("u:" and a user id), joined without allocating.
    rate_decision take(std::string_view route_class, std::string_view client_prefix,
                       std::string_view client);
    rate_decision take(std::string_view route_class, std::string_view client) {
        return take(route_class, {}, client);
    }
    // The middleware that applies route_options::rate_class to every route.
    middleware as_middleware();
    // For a request whose authentication failed: counts it against the route's class for its
    // address; a 429 when that bucket is empty.
    std::optional<response> limit_unauthenticated(request& req);

  private:
    struct bucket {
        double tokens;
        std::int64_t last_ms;
        const bucket_limit* limit;  // its class's (limits_ keeps its values in place)
        // The tokens it holds at now_ms, refilled at its class's rate up to its burst.
        double tokens_at(std::int64_t now_ms) const {
            return std::min(limit->burst, tokens + static_cast<double>(now_ms - last_ms) / 1000.0 *
                                                       limit->per_second);
        }
        bool full(std::int64_t now_ms) const { return tokens_at(now_ms) >= limit->burst; }
    };
    struct shard {
        std::mutex mu;
        string_map<bucket> buckets;
    };
    static constexpr std::size_t shard_count = 16;

    const souk::clock& clock_;
    std::size_t buckets_per_shard_max_;
    string_map<bucket_limit> limits_;
    std::array<shard, shard_count> shards_;
};

}  // namespace souk::http
