#pragma once
// Rows of the payouts module's tables and the SQL that reads them.
#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <souk/db/connection.hpp>
#include <string>
#include <vector>

namespace souk::payouts {

struct payment_row {
    std::string id, tenant_id, user_id, booking_id, seller_id, currency, status, return_path;
    std::optional<std::string> psp_intent_id, checkout_url;
    std::int64_t amount = 0, fee = 0, refunded = 0, fee_refunded = 0, escrow_due_ms = 0;
    std::optional<std::int64_t> escrow_released_ms;
    std::int64_t created_ms = 0, updated_ms = 0;
};

struct refund_row {
    std::string id, payment_id, currency, reason, actor_id, status;
    std::optional<std::string> psp_refund_id;
    std::int64_t amount = 0, created_ms = 0;
};

struct payout_row {
    std::string id, tenant_id, user_id, currency, status, reason;
    std::optional<std::string> decided_by, psp_payout_id;
    std::optional<std::int64_t> decided_ms, paid_ms;
    std::int64_t amount = 0, created_ms = 0, updated_ms = 0;
};

std::optional<payment_row> find_payment(db::connection& c, std::string_view id);
// The booking's live payment (pending or succeeded), newest first.
std::optional<payment_row> live_payment_of_booking(db::connection& c, std::string_view booking_id);
std::optional<refund_row> find_refund(db::connection& c, std::string_view id);
std::optional<payout_row> find_payout(db::connection& c, std::string_view id);
std::vector<payout_row> list_payouts(db::connection& c, std::string_view where,
                                     std::string_view key, std::int64_t limit, std::int64_t offset);
std::int64_t count_payouts(db::connection& c, std::string_view where, std::string_view key);

boost::json::object to_json(const payment_row& p);
boost::json::object to_json(const payout_row& p);
boost::json::object to_json(const refund_row& r);

}  // namespace souk::payouts
