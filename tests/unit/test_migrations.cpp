// Migrations against a real SQLite file: a database at an older version upgraded in place.
#include <catch2/catch.hpp>
#include <souk/db/database.hpp>

#include "support.hpp"

using namespace souk;

namespace {

constexpr int before_bookings_rebuild = 11;
constexpr int before_outbox_appended = 12;
constexpr int before_owners_by_booking = 13;

std::int64_t count(db::connection& c, std::string_view sql) {
    auto& st = c.prepare(sql);
    REQUIRE(st.step());
    const std::int64_t n = st.int64(0);
    st.reset();
    return n;
}

std::string plan(db::connection& c, std::string_view sql) {
    auto& st = c.prepare("EXPLAIN QUERY PLAN " + std::string(sql));
    std::string out;
    while (st.step())
        out += st.text(3) + "\n";
    st.reset();
    return out;
}

bool pending(db::connection& c, int version) {
    for (const auto& m : db::migrations_status(c))
        if (m.version == version) return !m.applied;
    FAIL("no migration " << version);
    return false;
}

// One event, show and zone, a booking of it with an idempotency key, and its ticket check-in.
void add_a_booking(db::connection& c) {
    c.exec(
        "INSERT INTO events (id, tenant_id, organizer_id, slug, title, starts_ms, sale_starts_ms, "
        "max_per_user, created_ms, updated_ms) VALUES ('evt_1', 'ten', 'usr_o', 'a-show', "
        "'A show', 2000, 0, 4, 1, 1)");
    c.exec(
        "INSERT INTO shows (id, event_id, starts_ms, ends_ms, created_ms) VALUES ('shw_1', "
        "'evt_1', 2000, 3000, 1)");
    c.exec(
        "INSERT INTO zones (id, show_id, event_id, name, price_amount, currency, capacity, held, "
        "confirmed, created_ms) VALUES ('zon_1', 'shw_1', 'evt_1', 'Floor', 0, 'USD', 10, 0, 2, "
        "1)");
    c.exec(
        "INSERT INTO bookings (id, tenant_id, user_id, event_id, show_id, zone_id, quantity, "
        "amount, currency, status, expires_ms, created_ms, updated_ms, idem_key, request_hash) "
        "VALUES ('bkg_1', 'ten', 'usr_m', 'evt_1', 'shw_1', 'zon_1', 2, 0, 'USD', 'confirmed', "
        "900, 100, 200, 'key-1', 'hash-1')");
    c.exec("INSERT INTO ticket_checkins (booking_id, used_ms, used_by) VALUES ('bkg_1', 300, 'x')");
}

// A database file migrated only up to `version`, as an older release left it.
struct old_database {
    test::temp_dir dir;
    db::connection c;
    explicit old_database(int version) : c(dir.file("old.db"), db::open_mode::read_write) {
        db::migrate_up(c, version);
    }
};

}  // namespace

TEST_CASE("migrations: the bookings rebuild keeps every row, its checks and what points at it",
          "[db][migrations]") {
    old_database old(before_bookings_rebuild);
    auto& c = old.c;
    add_a_booking(c);
    REQUIRE(pending(c, before_bookings_rebuild + 1));

    db::migrate_up(c);

    CHECK_FALSE(pending(c, before_bookings_rebuild + 1));
    auto& row = c.prepare(
        "SELECT user_id, zone_id, quantity, status, expires_ms, created_ms, updated_ms, idem_key, "
        "request_hash FROM bookings WHERE id = 'bkg_1'");
    REQUIRE(row.step());
    CHECK(row.text(0) == "usr_m");
    CHECK(row.text(1) == "zon_1");
    CHECK(row.int64(2) == 2);
    CHECK(row.text(3) == "confirmed");
    CHECK(row.int64(4) == 900);
    CHECK(row.int64(5) == 100);
    CHECK(row.int64(6) == 200);
    CHECK(row.text(7) == "key-1");
    CHECK(row.text(8) == "hash-1");
    row.reset();
    CHECK(count(c, "SELECT count(*) FROM ticket_checkins WHERE booking_id = 'bkg_1'") == 1);
    CHECK(count(c, "SELECT count(*) FROM pragma_foreign_key_check") == 0);
    CHECK(count(c, "PRAGMA foreign_keys") == 1);  // back on after the rebuild
    CHECK(count(c,
                "SELECT count(*) FROM pragma_index_list('bookings') WHERE name = "
                "'bookings_live'") == 1);

    // The status check still refuses what it refused, and costs no temporary B-tree.
    CHECK_THROWS_AS(c.exec("UPDATE bookings SET status = 'lost' WHERE id = 'bkg_1'"),
                    db::sql_error);
    CHECK_THROWS_AS(c.exec("INSERT INTO bookings (id, tenant_id, user_id, event_id, show_id, "
                           "zone_id, quantity, amount, currency, status, expires_ms, created_ms, "
                           "updated_ms) VALUES ('bkg_2', 'ten', 'usr_m', 'evt_x', 'shw_1', "
                           "'zon_1', 1, 0, 'USD', 'reserved', 1, 1, 1)"),
                    db::sql_error);  // foreign keys enforced again: no event evt_x
    auto& plan = c.prepare(
        "EXPLAIN INSERT INTO bookings (id, tenant_id, user_id, event_id, show_id, zone_id, "
        "quantity, amount, currency, status, expires_ms, created_ms, updated_ms) VALUES (?, ?, ?, "
        "?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    bool ephemeral = false;
    while (plan.step())
        ephemeral = ephemeral || plan.text(1) == "OpenEphemeral";
    plan.reset();
    CHECK_FALSE(ephemeral);
}

TEST_CASE("migrations: a rebuild that would leave a row without its parent is not applied",
          "[db][migrations]") {
    old_database old(before_bookings_rebuild);
    auto& c = old.c;
    add_a_booking(c);
    c.exec("PRAGMA foreign_keys=OFF");  // an orphan made behind the constraint's back
    c.exec(
        "INSERT INTO ticket_checkins (booking_id, used_ms, used_by) VALUES ('bkg_gone', 1, 'x')");
    c.exec("PRAGMA foreign_keys=ON");

    CHECK_THROWS(db::migrate_up(c));

    CHECK(pending(c, before_bookings_rebuild + 1));
    CHECK(count(c, "PRAGMA foreign_keys") == 1);
    CHECK(count(c, "SELECT count(*) FROM sqlite_schema WHERE name = 'bookings_rebuilt'") == 0);
    CHECK(count(c, "SELECT count(*) FROM bookings") == 1);
}

TEST_CASE("migrations: the outbox becomes an appended table and keeps its events",
          "[db][migrations]") {
    old_database old(before_outbox_appended);
    auto& c = old.c;
    c.exec(
        "INSERT INTO outbox (id, type, payload, created_ms, delivered_ms) VALUES "
        "('evt_2', 'b.happened', '{\"n\":2}', 20, NULL), "
        "('evt_1', 'a.happened', '{\"n\":1}', 10, 15), "
        "('evt_3', 'c.happened', '{\"n\":3}', 30, NULL)");

    db::migrate_up(c);

    CHECK_FALSE(pending(c, before_outbox_appended + 1));
    // Every event, in id (time) order, undelivered ones still undelivered.
    auto& rows =
        c.prepare("SELECT id, type, payload, created_ms, delivered_ms FROM outbox ORDER BY seq");
    std::vector<std::string> seen;
    while (rows.step())
        seen.push_back(rows.text(0) + " " + rows.text(1) + " " + rows.text(2) + " " +
                       std::to_string(rows.int64(3)) + " " +
                       std::to_string(rows.optional_int64(4).value_or(-1)));
    rows.reset();
    CHECK(seen == std::vector<std::string>{"evt_1 a.happened {\"n\":1} 10 15",
                                           "evt_2 b.happened {\"n\":2} 20 -1",
                                           "evt_3 c.happened {\"n\":3} 30 -1"});
    // The bus's statements: undelivered events through the partial index, marks by seq.
    CHECK_THAT(plan(c, "SELECT id FROM outbox WHERE delivered_ms IS NULL ORDER BY seq"),
               Catch::Contains("USING INDEX outbox_undelivered"));
    CHECK_THAT(plan(c, "UPDATE outbox SET delivered_ms = 1 WHERE seq = 2"),
               Catch::Contains("USING INTEGER PRIMARY KEY"));
    // New events append after the old ones.
    c.exec(
        "INSERT INTO outbox (id, type, payload, created_ms, delivered_ms) VALUES ('evt_4', "
        "'d.happened', '{}', 40, 40)");
    CHECK(count(c, "SELECT seq FROM outbox WHERE id = 'evt_4'") == 4);
    CHECK(count(c, "SELECT count(*) FROM outbox WHERE delivered_ms IS NULL") == 2);
}

TEST_CASE("migrations: the owner index is keyed by user and booking and keeps its entries",
          "[db][migrations]") {
    old_database old(before_owners_by_booking);
    auto& c = old.c;
    c.exec(
        "INSERT INTO booking_owners (user_id, idem_key, booking_id) VALUES "
        "('usr_b', 'k2', 'bkg_2'), ('usr_a', 'zz', 'bkg_1'), ('usr_a', 'aa', 'bkg_3'), "
        "('usr_a', '', 'bkg_4')");

    db::migrate_up(c);

    CHECK_FALSE(pending(c, before_owners_by_booking + 1));
    auto& rows = c.prepare("SELECT user_id, booking_id, idem_key FROM booking_owners");
    std::vector<std::string> seen;
    while (rows.step())
        seen.push_back(rows.text(0) + " " + rows.text(1) + " " + rows.text(2));
    rows.reset();
    // In key order: by user, then booking (time) — no longer by idempotency key.
    CHECK(seen == std::vector<std::string>{"usr_a bkg_1 zz", "usr_a bkg_3 aa", "usr_a bkg_4 ",
                                           "usr_b bkg_2 k2"});
    CHECK_THAT(plan(c,
                    "SELECT booking_id FROM booking_owners WHERE user_id = 'usr_a' AND "
                    "booking_id >= 'bkg_2' AND idem_key = 'aa'"),
               Catch::Contains("USING PRIMARY KEY (user_id=? AND booking_id>?)"));
    CHECK(count(c, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check != 'ok'") ==
          0);
    CHECK_THROWS(
        c.exec("INSERT INTO booking_owners (user_id, idem_key, booking_id) VALUES ('usr_a', 'x', "
               "'bkg_1')"));
}
