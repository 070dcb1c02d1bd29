#pragma once
// The money rules as plain code (no I/O): fees, how a refund splits between the seller and the
// platform, and the checkout saga's transitions.
#include <cstdint>
#include <string_view>

namespace souk::payouts {

// The platform's fee on an amount, in basis points, rounded half up; never more than the amount.
std::int64_t fee_for(std::int64_t amount, std::int64_t bps);

struct refund_split {
    std::int64_t seller = 0;  // taken back from the seller's share
    std::int64_t fee = 0;     // taken back from the platform's fee
};

// Splits a refund of `amount` from a payment of `total` that carried `fee`, given what was
// refunded before, so that the refunds of a payment add up exactly to its total and its fee.
refund_split split_refund(std::int64_t total, std::int64_t fee, std::int64_t refunded_before,
                          std::int64_t fee_refunded_before, std::int64_t amount);

// The checkout saga of one payment:
//   started -> intent_created -> paid -> confirmed -> ticketed -> completed
// compensations:
//   started | intent_created -> failed -> released      (card declined: seats released)
//   started | intent_created -> expired                 (the hold ran out unpaid)
//   expired -> paid;  expired | paid -> refunding -> refunded   (paid too late, confirm failed)
bool saga_allows(std::string_view from, std::string_view to);
bool is_compensation(std::string_view step);

}  // namespace souk::payouts
