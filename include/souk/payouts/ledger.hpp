#pragma once
// The double-entry ledger: accounts with balances (debits minus credits), and immutable transfers
// whose entries sum to zero, all in one currency. Every movement of money in Souk is a transfer
// posted inside a write job, in the same transaction as the change that causes it.
#include <cstdint>
#include <optional>
#include <souk/core/result.hpp>
#include <souk/db/connection.hpp>
#include <souk/db/writer.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace souk::payouts::ledger {

enum class account_kind {
    psp_clearing,            // asset: money the PSP holds for the platform
    platform_cash,           // asset: money settled to the platform's bank
    fees_revenue,            // income: the platform's fees
    refunds_in_flight,       // refunds sent to the PSP, not yet confirmed
    payouts_in_transit,      // approved payouts on their way to sellers
    seller_pending,          // a seller's sales held in escrow
    seller_available,        // a seller's money that may be paid out
    seller_payout_reserved,  // a seller's payout requests awaiting approval
};

std::string_view name_of(account_kind k);
std::optional<account_kind> kind_from(std::string_view name);
// Seller accounts belong to one user; the others to the platform.
bool is_seller_kind(account_kind k);

inline constexpr std::string_view platform_owner = "platform";

struct account {
    account_kind kind;
    std::string owner;  // a user id, or "platform"
    std::string currency;
    std::string id() const;  // "<kind>:<owner>:<currency>"
};

account platform(account_kind k, std::string currency);
account seller(account_kind k, std::string user_id, std::string currency);

struct leg {
    account to;
    std::int64_t amount = 0;  // debit > 0, credit < 0
};

struct transfer {
    std::string kind;  // "sale", "escrow_release", "refund", "payout_requested", ...
    std::string
        reference;  // what caused it (a payment, refund or payout id); (kind, reference) is unique
    std::string currency;
    std::vector<leg> legs;
};

// A transfer that is unbalanced, mixes currencies, has fewer than two legs or a zero leg.
// Only code builds transfers, so such a transfer is a bug: callers assert on it.
status validate(const transfer& t);

// Posts the transfer and returns its id; posting (kind, reference) again returns the first id and
// moves nothing. Refused with 409 CONFLICT when a seller's available or reserved balance
// would go negative.
result<std::string> post(db::tx& t, const transfer& tr);

// Credit-normal balance of an account (what a seller sees: credits minus debits); 0 if unknown.
std::int64_t seller_balance(db::connection& c, const account& a);

// Ledger invariants for `souk check`: every transfer balanced and in one currency, balances equal
// their entries, the sum of all balances zero per currency, no seller balance negative.
std::vector<std::string> check(db::connection& c);

}  // namespace souk::payouts::ledger
