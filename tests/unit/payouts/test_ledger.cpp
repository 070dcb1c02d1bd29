// The ledger against a real SQLite file (migrated like the server's): balanced transfers,
// idempotent posting, sellers never short, and the invariant check catching tampering.
#include <catch2/catch.hpp>
#include <souk/db/database.hpp>
#include <souk/payouts/ledger.hpp>

#include "support.hpp"

using namespace souk;
using namespace souk::payouts;
using ledger::account_kind;

namespace {

struct fixture {
    test::temp_dir dir;
    manual_clock clock;
    db::database db{{.path = dir.file("ledger.db")}, clock};

    result<std::string> post(const ledger::transfer& t) {
        return db.writer().write_sync<std::string>(
            [t](db::tx& x) -> result<std::string> { return ledger::post(x, t); });
    }
    std::int64_t seller_balance(account_kind k, const std::string& who) {
        return *db.read_sync<std::int64_t>([&](db::connection& c) -> result<std::int64_t> {
            return ledger::seller_balance(c, ledger::seller(k, who, "USD"));
        });
    }
    std::vector<std::string> check() {
        return *db.read_sync<std::vector<std::string>>(
            [](db::connection& c) -> result<std::vector<std::string>> { return ledger::check(c); });
    }
};

ledger::transfer sale(const std::string& ref, std::int64_t amount, std::int64_t fee) {
    return {"sale",
            ref,
            "USD",
            {{ledger::platform(account_kind::psp_clearing, "USD"), amount},
             {ledger::seller(account_kind::seller_pending, "usr_s", "USD"), -(amount - fee)},
             {ledger::platform(account_kind::fees_revenue, "USD"), -fee}}};
}

ledger::transfer release(const std::string& ref, std::int64_t amount) {
    return {"escrow_release",
            ref,
            "USD",
            {{ledger::seller(account_kind::seller_pending, "usr_s", "USD"), amount},
             {ledger::seller(account_kind::seller_available, "usr_s", "USD"), -amount}}};
}

}  // namespace

TEST_CASE("ledger: transfers must balance, in one currency, with two legs or more",
          "[payouts][ledger]") {
    CHECK(ledger::validate(sale("p1", 2500, 250)).ok());
    auto unbalanced = sale("p1", 2500, 250);
    unbalanced.legs[0].amount += 1;
    CHECK_FALSE(ledger::validate(unbalanced).ok());
    auto crossing = sale("p1", 2500, 250);
    crossing.legs[2].to.currency = "EUR";
    CHECK_FALSE(ledger::validate(crossing).ok());
    auto single = sale("p1", 2500, 250);
    single.legs.resize(1);
    CHECK_FALSE(ledger::validate(single).ok());
    auto zero = release("p1", 0);
    CHECK_FALSE(ledger::validate(zero).ok());
}

TEST_CASE("ledger: posting moves balances; reposting the same reference moves nothing",
          "[payouts][ledger]") {
    fixture f;
    auto first = f.post(sale("p1", 2500, 250));
    REQUIRE(first.ok());
    auto again = f.post(sale("p1", 2500, 250));
    REQUIRE(again.ok());
    CHECK(*again == *first);
    CHECK(f.seller_balance(account_kind::seller_pending, "usr_s") == 2250);
    REQUIRE(f.post(release("p1", 2250)).ok());
    CHECK(f.seller_balance(account_kind::seller_pending, "usr_s") == 0);
    CHECK(f.seller_balance(account_kind::seller_available, "usr_s") == 2250);
    CHECK(f.check().empty());
}

TEST_CASE("ledger: an available balance never goes negative", "[payouts][ledger]") {
    fixture f;
    REQUIRE(f.post(sale("p1", 1000, 100)).ok());
    REQUIRE(f.post(release("p1", 900)).ok());
    const ledger::transfer too_much{
        "payout_requested",
        "po1",
        "USD",
        {{ledger::seller(account_kind::seller_available, "usr_s", "USD"), 901},
         {ledger::seller(account_kind::seller_payout_reserved, "usr_s", "USD"), -901}}};
    auto r = f.post(too_much);
    REQUIRE_FALSE(r.ok());
    CHECK(r.err().status == 409);
    // Refused as a whole: the job's savepoint rolled every leg back.
    CHECK(f.seller_balance(account_kind::seller_available, "usr_s") == 900);
    CHECK(f.seller_balance(account_kind::seller_payout_reserved, "usr_s") == 0);
    CHECK(f.check().empty());
}

TEST_CASE("ledger: entries are immutable and tampering is found", "[payouts][ledger]") {
    fixture f;
    REQUIRE(f.post(sale("p1", 1000, 100)).ok());
    auto edit = f.db.writer().write_sync<bool>([](db::tx& t) -> result<bool> {
        t.conn().exec("UPDATE ledger_entries SET amount = amount + 1");
        return true;
    });
    CHECK_FALSE(edit.ok());  // the trigger refuses it
    auto drift = f.db.writer().write_sync<bool>([](db::tx& t) -> result<bool> {
        t.conn().exec(
            "UPDATE ledger_accounts SET balance = balance - 5 WHERE kind = 'seller_pending'");
        return true;
    });
    REQUIRE(drift.ok());
    const auto problems = f.check();
    REQUIRE(problems.size() == 2);  // the account drifted from its entries; the sum is not 0
    CHECK(problems[0].find("entries sum to") != std::string::npos);
    CHECK(problems[1].find("balances sum to") != std::string::npos);
}
