#include <catch2/catch.hpp>
#include <chrono>
#include <souk/core/clock.hpp>
#include <souk/http/rate_limit.hpp>
#include <string>

using namespace souk;

TEST_CASE("rate limiter: a bucket is emptied per client and refills at its class's rate",
          "[rate_limit]") {
    manual_clock clk;
    http::rate_limiter limiter(clk);
    limiter.set_limit("reserve", {1, 3});
    for (int i = 0; i < 3; ++i)
        CHECK(limiter.take("reserve", "u:", "alice").allowed);
    const auto refused = limiter.take("reserve", "u:", "alice");
    CHECK_FALSE(refused.allowed);
    CHECK(refused.retry_after_seconds == 1);
    CHECK(limiter.take("reserve", "u:", "bob").allowed);  // a bucket per client
    CHECK(limiter.take("other", "u:", "alice").allowed);  // no limit for an unknown class
    clk.advance(std::chrono::seconds(1));
    CHECK(limiter.take("reserve", "u:", "alice").allowed);
    CHECK_FALSE(limiter.take("reserve", "u:", "alice").allowed);
}

TEST_CASE("rate limiter: a full shard forgets refilled buckets, each judged by its own class",
          "[rate_limit]") {
    manual_clock clk;
    http::rate_limiter limiter(clk, 4);  // a shard forgets past 4 buckets
    limiter.set_limit("slow", {0.001, 2});
    limiter.set_limit("fast", {1000, 2});
    CHECK(limiter.take("slow", "u:", "alice").allowed);
    CHECK(limiter.take("slow", "u:", "alice").allowed);
    CHECK_FALSE(limiter.take("slow", "u:", "alice").allowed);
    clk.advance(std::chrono::seconds(1));
    // Enough clients of the fast class that every shard fills and forgets: theirs have refilled
    // within the second, alice's slow bucket has not, and must be kept.
    for (int i = 0; i < 400; ++i)
        (void)limiter.take("fast", "u:", "client-" + std::to_string(i));
    CHECK_FALSE(limiter.take("slow", "u:", "alice").allowed);
}
