#include "store.hpp"

#include <souk/core/clock.hpp>
#include <souk/http/json.hpp>

namespace souk::payouts {

namespace {

constexpr const char* payment_cols =
    "id, tenant_id, user_id, booking_id, seller_id, currency, status, return_path, "
    "psp_intent_id, checkout_url, amount, fee, refunded, fee_refunded, escrow_due_ms, "
    "escrow_released_ms, created_ms, updated_ms";

payment_row read_payment(db::statement& st) {
    return {st.text(0),          st.text(1),          st.text(2),   st.text(3),
            st.text(4),          st.text(5),          st.text(6),   st.text(7),
            st.optional_text(8), st.optional_text(9), st.int64(10), st.int64(11),
            st.int64(12),        st.int64(13),        st.int64(14), st.optional_int64(15),
            st.int64(16),        st.int64(17)};
}

constexpr const char* payout_cols =
    "id, tenant_id, user_id, currency, status, reason, decided_by, psp_payout_id, decided_ms, "
    "paid_ms, amount, created_ms, updated_ms";

payout_row read_payout(db::statement& st) {
    return {st.text(0),           st.text(1),           st.text(2),          st.text(3),
            st.text(4),           st.text(5),           st.optional_text(6), st.optional_text(7),
            st.optional_int64(8), st.optional_int64(9), st.int64(10),        st.int64(11),
            st.int64(12)};
}

template <class Row, class Read>
std::optional<Row> one(db::connection& c, const std::string& sql, std::string_view key, Read read) {
    auto& st = c.prepare(sql);
    st.bind(1, key);
    std::optional<Row> out;
    if (st.step()) out = read(st);
    st.reset();
    return out;
}

}  // namespace

std::optional<payment_row> find_payment(db::connection& c, std::string_view id) {
    return one<payment_row>(
        c, std::string("SELECT ") + payment_cols + " FROM payments WHERE id = ?", id, read_payment);
}

std::optional<payment_row> live_payment_of_booking(db::connection& c, std::string_view booking_id) {
    return one<payment_row>(c,
                            std::string("SELECT ") + payment_cols +
                                " FROM payments WHERE booking_id = ? AND status IN ('pending', "
                                "'succeeded') ORDER BY created_ms DESC LIMIT 1",
                            booking_id, read_payment);
}

std::optional<refund_row> find_refund(db::connection& c, std::string_view id) {
    return one<refund_row>(
        c,
        "SELECT id, payment_id, currency, reason, actor_id, status, psp_refund_id, amount, "
        "created_ms FROM refunds WHERE id = ?",
        id, [](db::statement& st) {
            return refund_row{st.text(0), st.text(1),          st.text(2),  st.text(3), st.text(4),
                              st.text(5), st.optional_text(6), st.int64(7), st.int64(8)};
        });
}

std::optional<payout_row> find_payout(db::connection& c, std::string_view id) {
    return one<payout_row>(c, std::string("SELECT ") + payout_cols + " FROM payouts WHERE id = ?",
                           id, read_payout);
}

std::vector<payout_row> list_payouts(db::connection& c, std::string_view where,
                                     std::string_view key, std::int64_t limit,
                                     std::int64_t offset) {
    auto& st =
        c.prepare(std::string("SELECT ") + payout_cols + " FROM payouts WHERE " +
                  std::string(where) + " ORDER BY created_ms DESC, id DESC LIMIT ? OFFSET ?");
    st.bind_all(key, limit, offset);
    std::vector<payout_row> out;
    while (st.step())
        out.push_back(read_payout(st));
    st.reset();
    return out;
}

std::int64_t count_payouts(db::connection& c, std::string_view where, std::string_view key) {
    auto& st = c.prepare("SELECT COUNT(*) FROM payouts WHERE " + std::string(where));
    st.bind(1, key);
    const std::int64_t n = st.step() ? st.int64(0) : 0;
    st.reset();
    return n;
}

boost::json::object to_json(const payment_row& p) {
    boost::json::object o{{"id", p.id},
                          {"status", p.status},
                          {"booking_id", p.booking_id},
                          {"amount", json::money(p.amount, p.currency)},
                          {"refunded", json::money(p.refunded, p.currency)},
                          {"created_at", format_rfc3339_ms(p.created_ms)},
                          {"updated_at", format_rfc3339_ms(p.updated_ms)}};
    if (p.checkout_url && p.status == "pending") o["checkout_url"] = *p.checkout_url;
    return o;
}

boost::json::object to_json(const payout_row& p) {
    boost::json::object o{{"id", p.id},         {"user_id", p.user_id},
                          {"status", p.status}, {"amount", json::money(p.amount, p.currency)},
                          {"reason", p.reason}, {"created_at", format_rfc3339_ms(p.created_ms)}};
    if (p.decided_ms) o["decided_at"] = format_rfc3339_ms(*p.decided_ms);
    if (p.decided_by) o["decided_by"] = *p.decided_by;
    if (p.paid_ms) o["paid_at"] = format_rfc3339_ms(*p.paid_ms);
    return o;
}

boost::json::object to_json(const refund_row& r) {
    return {{"id", r.id},         {"payment_id", r.payment_id},
            {"status", r.status}, {"amount", json::money(r.amount, r.currency)},
            {"reason", r.reason}, {"created_at", format_rfc3339_ms(r.created_ms)}};
}

}  // namespace souk::payouts
