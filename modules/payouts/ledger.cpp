// The double-entry ledger (include/souk/payouts/ledger.hpp).
#include <array>
#include <map>
#include <souk/core/assert.hpp>
#include <souk/core/random.hpp>
#include <souk/payouts/ledger.hpp>

#include "checks.hpp"

namespace souk::payouts::ledger {

namespace {

constexpr std::array<std::pair<account_kind, std::string_view>, 8> kind_names{{
    {account_kind::psp_clearing, "psp_clearing"},
    {account_kind::platform_cash, "platform_cash"},
    {account_kind::fees_revenue, "fees_revenue"},
    {account_kind::refunds_in_flight, "refunds_in_flight"},
    {account_kind::payouts_in_transit, "payouts_in_transit"},
    {account_kind::seller_pending, "seller_pending"},
    {account_kind::seller_available, "seller_available"},
    {account_kind::seller_payout_reserved, "seller_payout_reserved"},
}};

// Seller accounts are credit-normal: a debit past their balance would mean paying out money
// the seller does not have.
bool must_stay_credit(account_kind k) {
    return k == account_kind::seller_available || k == account_kind::seller_payout_reserved;
}

}  // namespace

std::string_view name_of(account_kind k) {
    for (const auto& [kind, name] : kind_names)
        if (kind == k) return name;
    SOUK_ASSERT(false && "unknown account kind");
    return {};
}

std::optional<account_kind> kind_from(std::string_view name) {
    for (const auto& [kind, n] : kind_names)
        if (n == name) return kind;
    return std::nullopt;
}

bool is_seller_kind(account_kind k) {
    return k == account_kind::seller_pending || k == account_kind::seller_available ||
           k == account_kind::seller_payout_reserved;
}

std::string account::id() const {
    return std::string(name_of(kind)) + ":" + owner + ":" + currency;
}

account platform(account_kind k, std::string currency) {
    SOUK_ASSERT(!is_seller_kind(k));
    return {k, std::string(platform_owner), std::move(currency)};
}

account seller(account_kind k, std::string user_id, std::string currency) {
    SOUK_ASSERT(is_seller_kind(k));
    return {k, std::move(user_id), std::move(currency)};
}

status validate(const transfer& t) {
    if (t.legs.size() < 2) return error::bad_request("a transfer needs two legs or more");
    if (t.currency.size() != 3) return error::bad_request("a transfer needs an ISO 4217 currency");
    std::int64_t sum = 0;
    for (const auto& l : t.legs) {
        if (l.amount == 0) return error::bad_request("a transfer leg moves nothing");
        if (l.to.currency != t.currency)
            return error::bad_request("a transfer may not cross currencies (" + l.to.currency +
                                      " in a " + t.currency + " transfer)");
        sum += l.amount;
    }
    if (sum != 0) return error::bad_request("a transfer's debits must equal its credits");
    return {};
}

namespace {

// Adds amount to the account's balance and returns the new balance; the account is created on
// its first use (one statement in the common case: the account exists).
std::int64_t add_to_balance(db::tx& t, const account& a, const std::string& id,
                            std::int64_t amount) {
    for (int attempt = 0; attempt < 2; ++attempt) {
        auto& upd = t.prepare(
            "UPDATE ledger_accounts SET balance = balance + ? WHERE id = ? RETURNING balance");
        upd.bind_all(amount, id);
        if (upd.step()) {
            const auto balance = upd.int64(0);
            upd.reset();
            return balance;
        }
        upd.reset();
        t.prepare(
             "INSERT INTO ledger_accounts (id, kind, owner_id, currency, balance, created_ms) "
             "VALUES (?, ?, ?, ?, 0, ?)")
            .bind_all(id, name_of(a.kind), a.owner, a.currency, t.now_ms())
            .run();
    }
    SOUK_ASSERT(false && "a ledger account could not be created");
    return 0;
}

}  // namespace

result<std::string> post(db::tx& t, const transfer& tr) {
    SOUK_ASSERT(validate(tr).ok());
    const std::string id = new_id("tr");
    const auto now = t.now_ms();
    std::int64_t debits = 0;
    for (const auto& l : tr.legs)
        if (l.amount > 0) debits += l.amount;
    t.prepare(
         "INSERT INTO ledger_transfers (id, kind, reference, currency, amount, created_ms) "
         "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kind, reference) DO NOTHING")
        .bind_all(id, tr.kind, tr.reference, tr.currency, debits, now)
        .run();
    if (t.conn().changes() == 0) {
        // Posted before: the first transfer stands, nothing moves again.
        auto& seen = t.prepare("SELECT id FROM ledger_transfers WHERE kind = ? AND reference = ?");
        seen.bind_all(tr.kind, tr.reference);
        SOUK_ASSERT(seen.step());
        std::string first = seen.text(0);
        seen.reset();
        return first;
    }
    for (const auto& l : tr.legs) {
        const std::string account_id = l.to.id();
        const auto balance = add_to_balance(t, l.to, account_id, l.amount);
        t.prepare(
             "INSERT INTO ledger_entries (transfer_id, account_id, amount, currency, created_ms) "
             "VALUES (?, ?, ?, ?, ?)")
            .bind_all(id, account_id, l.amount, l.to.currency, now)
            .run();
        // The job's savepoint rolls everything back when this refuses.
        if (must_stay_credit(l.to.kind) && balance > 0)
            return error::conflict("CONFLICT", "insufficient funds in " + account_id);
    }
    return id;
}

std::int64_t seller_balance(db::connection& c, const account& a) {
    auto& st = c.prepare("SELECT balance FROM ledger_accounts WHERE id = ?");
    st.bind(1, a.id());
    const std::int64_t b = st.step() ? st.int64(0) : 0;
    st.reset();
    return -b;
}

std::vector<std::string> check(db::connection& c) {
    std::vector<std::string> problems;
    const auto n = [](db::statement& st, int col) { return std::to_string(st.int64(col)); };
    collect_problems(c,
                     "SELECT t.id, t.amount, COALESCE(SUM(e.amount), 0), "
                     "COALESCE(SUM(CASE WHEN e.amount > 0 THEN e.amount END), 0), "
                     "COUNT(DISTINCT e.currency), MIN(e.currency) "
                     "FROM ledger_transfers t LEFT JOIN ledger_entries e ON e.transfer_id = t.id "
                     "GROUP BY t.id HAVING COALESCE(SUM(e.amount), 0) <> 0 OR COUNT(e.id) < 2 OR "
                     "COUNT(DISTINCT e.currency) <> 1 OR MIN(e.currency) <> t.currency OR "
                     "COALESCE(SUM(CASE WHEN e.amount > 0 THEN e.amount END), 0) <> t.amount",
                     problems, [&](db::statement& st) {
                         return "transfer " + st.text(0) + ": entries sum to " + n(st, 2) +
                                ", debits " + n(st, 3) + " of " + n(st, 1) + ", " + n(st, 4) +
                                " currencies";
                     });
    collect_problems(
        c,
        "SELECT a.id, a.balance, COALESCE((SELECT SUM(amount) FROM ledger_entries e WHERE "
        "e.account_id = a.id), 0) AS s FROM ledger_accounts a WHERE a.balance <> s",
        problems, [&](db::statement& st) {
            return "account " + st.text(0) + ": balance " + n(st, 1) + " but entries sum to " +
                   n(st, 2);
        });
    collect_problems(c,
                     "SELECT currency, SUM(balance) FROM ledger_accounts GROUP BY currency HAVING "
                     "SUM(balance) <> 0",
                     problems, [&](db::statement& st) {
                         return "currency " + st.text(0) + ": balances sum to " + n(st, 1) +
                                ", not 0";
                     });
    collect_problems(c,
                     "SELECT id, -balance FROM ledger_accounts WHERE kind IN ('seller_pending', "
                     "'seller_available', 'seller_payout_reserved') AND balance > 0",
                     problems, [&](db::statement& st) {
                         return "account " + st.text(0) + ": negative balance " + n(st, 1);
                     });
    return problems;
}

}  // namespace souk::payouts::ledger
