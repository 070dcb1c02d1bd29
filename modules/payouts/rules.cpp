#include "rules.hpp"

#include <algorithm>
#include <array>
#include <souk/core/assert.hpp>
#include <utility>

namespace souk::payouts {

std::int64_t fee_for(std::int64_t amount, std::int64_t bps) {
    SOUK_ASSERT(amount >= 0 && bps >= 0 && bps <= 10'000);
    // amount * bps stays far inside int64 for any amount a zone can hold (< 2^63 / 10^4).
    return std::min(amount, (amount * bps + 5'000) / 10'000);
}

refund_split split_refund(std::int64_t total, std::int64_t fee, std::int64_t refunded_before,
                          std::int64_t fee_refunded_before, std::int64_t amount) {
    SOUK_ASSERT(total > 0 && fee >= 0 && fee <= total);
    SOUK_ASSERT(amount > 0 && refunded_before + amount <= total);
    refund_split s;
    if (refunded_before + amount == total) {
        s.fee = fee - fee_refunded_before;  // the last refund takes whatever is left
    } else {
        s.fee = std::min(fee - fee_refunded_before, fee * amount / total);
    }
    s.seller = amount - s.fee;
    SOUK_ASSERT(s.fee >= 0 && s.seller >= 0);
    return s;
}

bool saga_allows(std::string_view from, std::string_view to) {
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 14> edges{{
        {"started", "intent_created"},
        {"intent_created", "paid"},
        {"started", "paid"},
        {"paid", "confirmed"},
        {"confirmed", "ticketed"},
        {"ticketed", "completed"},
        {"started", "failed"},
        {"intent_created", "failed"},
        {"failed", "released"},
        {"started", "expired"},
        {"intent_created", "expired"},
        {"expired", "paid"},  // paid after the hold ran out: refunded next
        {"expired", "refunding"},
        {"paid", "refunding"},
    }};
    if (from == "refunding" && to == "refunded") return true;
    return std::any_of(edges.begin(), edges.end(),
                       [&](const auto& e) { return e.first == from && e.second == to; });
}

bool is_compensation(std::string_view step) {
    return step == "failed" || step == "released" || step == "expired" || step == "refunding" ||
           step == "refunded";
}

}  // namespace souk::payouts
