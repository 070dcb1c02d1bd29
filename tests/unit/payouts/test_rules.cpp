// Fees, refund splits and the checkout saga's transitions: plain code, tested directly.
#include <catch2/catch.hpp>

#include "rules.hpp"

using namespace souk::payouts;

TEST_CASE("fees: basis points rounded half up, never above the amount", "[payouts][rules]") {
    CHECK(fee_for(2500, 1000) == 250);
    CHECK(fee_for(2500, 500) == 125);
    CHECK(fee_for(999, 250) == 25);  // 24.975 -> 25
    CHECK(fee_for(10, 250) == 0);    // 0.25 -> 0
    CHECK(fee_for(20, 250) == 1);    // 0.5 -> 1
    CHECK(fee_for(1234, 0) == 0);
    CHECK(fee_for(1234, 10'000) == 1234);
    CHECK(fee_for(0, 500) == 0);
}

TEST_CASE("refunds: partial refunds add up to the payment and its fee exactly",
          "[payouts][rules]") {
    const std::int64_t total = 1000, fee = 97;  // an awkward fee: 9.7%
    std::int64_t refunded = 0, fee_refunded = 0, seller_refunded = 0;
    for (std::int64_t part : {333, 333, 1, 333}) {
        const auto s = split_refund(total, fee, refunded, fee_refunded, part);
        CHECK(s.seller + s.fee == part);
        CHECK(s.fee >= 0);
        CHECK(s.seller >= 0);
        refunded += part;
        fee_refunded += s.fee;
        seller_refunded += s.seller;
    }
    CHECK(refunded == total);
    CHECK(fee_refunded == fee);
    CHECK(seller_refunded == total - fee);
}

TEST_CASE("refunds: a full refund returns the whole fee", "[payouts][rules]") {
    const auto s = split_refund(2500, 250, 0, 0, 2500);
    CHECK(s.fee == 250);
    CHECK(s.seller == 2250);
}

TEST_CASE("saga: the happy path and its compensations", "[payouts][saga]") {
    const char* happy[] = {"started",   "intent_created", "paid",
                           "confirmed", "ticketed",       "completed"};
    for (std::size_t i = 0; i + 1 < std::size(happy); ++i)
        CHECK(saga_allows(happy[i], happy[i + 1]));
    CHECK(saga_allows("intent_created", "failed"));
    CHECK(saga_allows("failed", "released"));
    CHECK(saga_allows("intent_created", "expired"));
    CHECK(saga_allows("expired", "paid"));
    CHECK(saga_allows("expired", "refunding"));
    CHECK(saga_allows("paid", "refunding"));
    CHECK(saga_allows("refunding", "refunded"));

    CHECK_FALSE(saga_allows("started", "confirmed"));  // no confirmation without payment
    CHECK_FALSE(saga_allows("completed", "paid"));     // nothing after the end
    CHECK_FALSE(saga_allows("failed", "paid"));        // a declined payment stays declined
    CHECK_FALSE(saga_allows("paid", "expired"));       // paid in time: refund, not expiry
    CHECK_FALSE(saga_allows("confirmed", "confirmed"));
    CHECK(is_compensation("refunded"));
    CHECK_FALSE(is_compensation("paid"));
}
