// The outbox bus and the durable scheduler, wired to the writer as src/app/serve.cpp does, on a
// real SQLite file. A "restart" is a fresh node (database, bus, scheduler) on the same file.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <optional>
#include <souk/bus/bus.hpp>
#include <souk/db/database.hpp>
#include <souk/sched/scheduler.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "support.hpp"

namespace asio = boost::asio;
namespace db = souk::db;
using souk::error;
using souk::result;
using souk::status;
using souk::test::run_until;
using souk::test::temp_dir;
using std::chrono::milliseconds;

namespace {

// One process's worth of kernel: its own io_context (so nothing posted by a node outlives it),
// the database, the bus and the scheduler.
struct node {
    asio::io_context io;
    db::database database;
    souk::bus::bus bus;
    souk::sched::scheduler scheduler;

    node(const std::string& path, const souk::clock& clk)
        : database(db::database_options{path, "FULL", 2, {}}, clk),
          bus(io.get_executor(), database),
          scheduler(io.get_executor(), database, clk) {}
    ~node() {
        scheduler.stop();
        database.stop();  // the writer's listener below must not outlive the bus and scheduler
    }

    // As serve.cpp: what a commit published and scheduled goes to the bus and the scheduler.
    void wire() {
        database.writer().on_commit([this](std::vector<souk::bus::event>&& events,
                                           std::vector<db::timer_row>&& timers,
                                           std::vector<std::string>&& cancelled) {
            bus.committed(std::move(events));
            scheduler.committed(std::move(timers), std::move(cancelled));
        });
    }

    std::string publish(const std::string& type, boost::json::value payload) {
        auto id = database.writer().write_sync<std::string>(
            [&](db::tx& t) -> result<std::string> { return t.publish(type, payload); });
        REQUIRE(id.ok());
        return *id;
    }
    std::string publish_json(const std::string& type, const std::string& text) {
        auto id = database.writer().write_sync<std::string>(
            [&](db::tx& t) -> result<std::string> { return t.publish_json(type, text); });
        REQUIRE(id.ok());
        return *id;
    }
    std::string schedule(const std::string& kind, std::int64_t due_ms,
                         boost::json::value payload = {}) {
        auto id = database.writer().write_sync<std::string>(
            [&](db::tx& t) -> result<std::string> { return t.schedule(kind, due_ms, payload); });
        REQUIRE(id.ok());
        return *id;
    }
    void cancel(const std::string& id) {
        auto r = database.writer().write_sync<bool>([&](db::tx& t) -> result<bool> {
            t.cancel_timer(id);
            return true;
        });
        REQUIRE(r.ok());
    }

    std::int64_t count(const std::string& sql) {
        auto n = database.read_sync<std::int64_t>([&](db::connection& c) -> result<std::int64_t> {
            auto& st = c.prepare(sql);
            const std::int64_t v = st.step() ? st.int64(0) : -1;
            st.reset();
            return v;
        });
        REQUIRE(n.ok());
        return *n;
    }
    bool delivered(const std::string& event_id) {
        return count("SELECT COUNT(*) FROM outbox WHERE delivered_ms IS NOT NULL AND id = '" +
                     event_id + "'") == 1;
    }
    bool timer_done(const std::string& timer_id) {
        return count("SELECT COUNT(*) FROM timers WHERE done_ms IS NOT NULL AND id = '" + timer_id +
                     "'") == 1;
    }

    // Runs scheduler.fire_due() as a coroutine on this node's io_context.
    int fire_due() {
        std::optional<int> fired;
        asio::co_spawn(io, scheduler.fire_due(), [&](std::exception_ptr e, int n) {
            if (e) std::rethrow_exception(e);
            fired = n;
        });
        REQUIRE(run_until(io, [&] { return fired.has_value(); }));
        return *fired;
    }
};

// A subscriber that records what it received.
souk::bus::subscriber recorder(std::vector<souk::bus::event>& into) {
    return [&into](const souk::bus::event& e) -> asio::awaitable<status> {
        into.push_back(e);
        co_return status{};
    };
}

souk::sched::handler timer_recorder(std::vector<db::timer_row>& into) {
    return [&into](const db::timer_row& t) -> asio::awaitable<status> {
        into.push_back(t);
        co_return status{};
    };
}

}  // namespace

TEST_CASE("bus: a subscriber receives an event published in a write", "[bus]") {
    temp_dir dir;
    souk::manual_clock clk;
    node n(dir.file("souk.db"), clk);
    n.wire();
    std::vector<souk::bus::event> got, everything, unrelated;
    n.bus.subscribe("item.added", "probe", recorder(got));
    n.bus.subscribe("*", "all", recorder(everything));
    n.bus.subscribe("item.removed", "other", recorder(unrelated));
    n.bus.start();

    const std::string id = n.publish("item.added", {{"id", 7}, {"name", "lamp"}});
    REQUIRE(run_until(n.io, [&] { return got.size() == 1 && everything.size() == 1; }));
    CHECK(got[0].id == id);
    CHECK(got[0].type == "item.added");
    CHECK(got[0].payload.at("id") == 7);
    CHECK(got[0].payload.at("name") == "lamp");
    CHECK(got[0].created_ms == clk.now_ms());
    CHECK(everything[0].id == id);
    CHECK(unrelated.empty());

    // Delivery is recorded in the outbox by a later write, and the backlog drains.
    REQUIRE(run_until(n.io, [&] { return n.bus.backlog() == 0 && n.delivered(id); }));
    CHECK(got.size() == 1);
}

TEST_CASE("bus: a failing subscriber is retried until it succeeds", "[bus]") {
    temp_dir dir;
    souk::manual_clock clk;
    node n(dir.file("souk.db"), clk);
    n.wire();
    int calls = 0;
    n.bus.subscribe("item.added", "flaky",
                    [&calls](const souk::bus::event&) -> asio::awaitable<status> {
                        ++calls;
                        if (calls == 1) co_return error::unavailable();
                        if (calls == 2) throw std::runtime_error("subscriber bug");
                        co_return status{};
                    });
    n.bus.start();

    const std::string id = n.publish("item.added", {{"id", 1}});
    REQUIRE(run_until(n.io, [&] { return calls >= 1; }));
    // Failed once: still owed, so neither marked delivered nor out of the backlog.
    CHECK(n.bus.backlog() == 1);
    CHECK_FALSE(n.delivered(id));
    REQUIRE(run_until(n.io, [&] { return calls == 3; }));
    REQUIRE(run_until(n.io, [&] { return n.bus.backlog() == 0 && n.delivered(id); }));
    CHECK(calls == 3);
}

TEST_CASE("bus: undelivered outbox events are delivered again after a restart", "[bus]") {
    temp_dir dir;
    souk::manual_clock clk;
    const std::string path = dir.file("souk.db");
    std::string first, second;
    {
        // Committed, then "crashed" before delivery: nothing is wired to the writer.
        node before(path, clk);
        first = before.publish("item.added", {{"id", 1}});
        clk.advance(milliseconds(10));
        second = before.publish("item.removed", {{"id", 2}});
        CHECK(before.count("SELECT COUNT(*) FROM outbox WHERE delivered_ms IS NULL") == 2);
    }
    {
        node after(path, clk);
        after.wire();
        std::vector<souk::bus::event> got;
        after.bus.subscribe("*", "probe", recorder(got));
        after.bus.start();
        CHECK(after.bus.backlog() == 2);
        REQUIRE(run_until(after.io, [&] { return got.size() == 2; }));
        CHECK(got[0].id == first);  // in the order they were created
        CHECK(got[1].id == second);
        CHECK(got[1].type == "item.removed");
        CHECK(got[1].payload.at("id") == 2);
        REQUIRE(
            run_until(after.io, [&] { return after.delivered(first) && after.delivered(second); }));
    }
    {
        // Delivered ones stay delivered.
        node again(path, clk);
        again.wire();
        std::vector<souk::bus::event> got;
        again.bus.subscribe("*", "probe", recorder(got));
        again.bus.start();
        CHECK(again.bus.backlog() == 0);
        again.io.poll();
        CHECK(got.empty());
    }
}

TEST_CASE("bus: after start, an event nobody subscribes to is stored already delivered", "[bus]") {
    temp_dir dir;
    souk::manual_clock clk;
    node n(dir.file("souk.db"), clk);
    n.wire();
    std::vector<souk::bus::event> got;
    n.bus.subscribe("item.added", "probe", recorder(got));
    // Before start() the subscriptions may be incomplete: every event waits for delivery.
    const std::string early = n.publish("item.removed", {{"id", 1}});
    CHECK(n.count("SELECT COUNT(*) FROM outbox WHERE delivered_ms IS NULL") == 1);
    n.bus.start();

    const std::string unheard = n.publish("item.removed", {{"id", 2}});
    const std::string heard = n.publish("item.added", {{"id", 3}});
    // Kept in the outbox (the log of what happened), but with nothing left to do.
    CHECK(n.count("SELECT COUNT(*) FROM outbox WHERE id = '" + unheard +
                  "' AND delivered_ms = created_ms") == 1);
    REQUIRE(run_until(n.io, [&] { return got.size() == 1 && n.delivered(heard); }));
    CHECK(got[0].id == heard);
    REQUIRE(run_until(n.io, [&] { return n.bus.backlog() == 0 && n.delivered(early); }));
}

TEST_CASE("bus: an event published as JSON text is stored as is and delivered parsed", "[bus]") {
    temp_dir dir;
    souk::manual_clock clk;
    node n(dir.file("souk.db"), clk);
    n.wire();
    std::vector<souk::bus::event> got;
    n.bus.subscribe("item.added", "probe", recorder(got));
    n.bus.start();

    const std::string heard = n.publish_json("item.added", R"({"id":5,"tags":["a","b"]})");
    const std::string unheard = n.publish_json("item.removed", R"({"id":6})");

    REQUIRE(run_until(n.io, [&] { return got.size() == 1 && n.delivered(heard); }));
    CHECK(got[0].id == heard);
    CHECK(got[0].payload.at("id") == 5);
    CHECK(got[0].payload.at("tags").as_array().size() == 2);
    CHECK(
        n.count(
            R"(SELECT COUNT(*) FROM outbox WHERE payload = '{"id":5,"tags":["a","b"]}' AND id = ')" +
            heard + "'") == 1);
    CHECK(n.count(R"(SELECT COUNT(*) FROM outbox WHERE payload = '{"id":6}' AND id = ')" + unheard +
                  "' AND delivered_ms = created_ms") == 1);
}

TEST_CASE("bus: purge deletes delivered events past the cut-off, in chunks, and keeps the rest",
          "[bus]") {
    temp_dir dir;
    souk::manual_clock clk;
    node n(dir.file("souk.db"), clk);
    n.wire();
    n.bus.start();  // nobody subscribes: events are stored delivered
    auto publish_many = [&](int count) {
        auto r = n.database.writer().write_sync<bool>([&](db::tx& t) -> result<bool> {
            for (int i = 0; i < count; ++i)
                t.publish("item.added", {{"n", i}});
            return true;
        });
        REQUIRE(r.ok());
    };
    auto purge = [&](std::int64_t before_ms) {
        std::optional<std::int64_t> purged;
        asio::co_spawn(n.io, n.bus.purge(before_ms), [&](std::exception_ptr e, std::int64_t k) {
            if (e) std::rethrow_exception(e);
            purged = k;
        });
        REQUIRE(run_until(n.io, [&] { return purged.has_value(); }));
        return *purged;
    };
    const auto day = std::chrono::hours(24);
    const std::int64_t day_ms = std::chrono::milliseconds(day).count();

    publish_many(3'000);
    // One old event still waiting for its subscriber (as after a crash): it stays.
    auto stuck = n.database.writer().write_sync<bool>([&](db::tx& t) -> result<bool> {
        t.prepare(
             "INSERT INTO outbox (id, type, payload, created_ms, delivered_ms) VALUES "
             "('evt_stuck', 'item.added', '{}', ?, NULL)")
            .bind(1, t.now_ms())
            .run();
        return true;
    });
    REQUIRE(stuck.ok());
    clk.advance(day);
    publish_many(6'000);  // old too, a day younger: the cut-off falls after them
    clk.advance(8 * day);
    publish_many(5);

    CHECK(purge(clk.now_ms() - 9 * day_ms + 1) == 3'000);  // only the first day's
    CHECK(n.count("SELECT COUNT(*) FROM outbox") == 6'006);
    CHECK(purge(clk.now_ms() - 7 * day_ms) == 6'000);  // in chunks of 4,096
    CHECK(n.count("SELECT COUNT(*) FROM outbox") == 6);
    CHECK(n.count("SELECT COUNT(*) FROM outbox WHERE id = 'evt_stuck'") == 1);
    CHECK(n.count("SELECT COUNT(*) FROM outbox WHERE created_ms = " +
                  std::to_string(clk.now_ms())) == 5);
    CHECK(purge(clk.now_ms()) == 0);      // created at the cut-off: not before it
    CHECK(purge(clk.now_ms() + 1) == 5);  // everything delivered; the undelivered one stays
    CHECK(n.count("SELECT COUNT(*) FROM outbox") == 1);
    CHECK(purge(clk.now_ms() + 1) == 0);
}

TEST_CASE("inbox: first_delivery is true once per subscriber and event", "[bus]") {
    temp_dir dir;
    souk::manual_clock clk;
    node n(dir.file("souk.db"), clk);
    auto seen = [&](std::string subscriber, std::string event_id) {
        auto r = n.database.writer().write_sync<bool>(
            [&](db::tx& t) -> result<bool> { return t.first_delivery(subscriber, event_id); });
        REQUIRE(r.ok());
        return *r;
    };
    CHECK(seen("notify", "evt_1"));
    CHECK_FALSE(seen("notify", "evt_1"));
    CHECK(seen("analytics", "evt_1"));
    CHECK(seen("notify", "evt_2"));
}

TEST_CASE("scheduler: a timer fires once the clock passes its due time, not before",
          "[scheduler]") {
    temp_dir dir;
    souk::manual_clock clk;
    node n(dir.file("souk.db"), clk);
    n.wire();
    std::vector<db::timer_row> fired;
    n.scheduler.on("item.expire", timer_recorder(fired));
    n.scheduler.start();

    const std::int64_t due = clk.now_ms() + 60'000;
    const std::string id = n.schedule("item.expire", due, {{"id", 9}});
    CHECK(n.scheduler.pending() == 1);  // handed over at commit, before the write returned

    CHECK(n.fire_due() == 0);
    clk.advance(milliseconds(59'999));
    CHECK(n.fire_due() == 0);
    CHECK(fired.empty());
    CHECK(n.scheduler.pending() == 1);
    CHECK_FALSE(n.timer_done(id));

    clk.advance(milliseconds(1));
    CHECK(n.fire_due() == 1);
    REQUIRE(fired.size() == 1);
    CHECK(fired[0].id == id);
    CHECK(fired[0].kind == "item.expire");
    CHECK(fired[0].due_ms == due);
    CHECK(fired[0].payload.at("id") == 9);
    CHECK(n.scheduler.pending() == 0);
    CHECK(n.timer_done(id));  // fire_due waited for the write that marks it done
    CHECK(n.scheduler.runs() == 1);

    clk.advance(milliseconds(60'000));
    CHECK(n.fire_due() == 0);
    CHECK(fired.size() == 1);
}

TEST_CASE("scheduler: a failing handler fires again after a back-off", "[scheduler]") {
    temp_dir dir;
    souk::manual_clock clk;
    node n(dir.file("souk.db"), clk);
    n.wire();
    int calls = 0;
    n.scheduler.on("flaky", [&calls](const db::timer_row&) -> asio::awaitable<status> {
        ++calls;
        if (calls == 1) co_return error::unavailable();
        co_return status{};
    });
    n.scheduler.start();
    const std::string id = n.schedule("flaky", clk.now_ms() + 1000);
    clk.advance(milliseconds(1000));
    CHECK(n.fire_due() == 1);
    CHECK(calls == 1);
    CHECK(n.scheduler.pending() == 1);
    CHECK_FALSE(n.timer_done(id));
    CHECK(n.count("SELECT attempts FROM timers WHERE id = '" + id + "'") == 1);

    CHECK(n.fire_due() == 0);  // backing off
    clk.advance(milliseconds(5000));
    CHECK(n.fire_due() == 1);
    CHECK(calls == 2);
    CHECK(n.timer_done(id));
    CHECK(n.scheduler.pending() == 0);
}

TEST_CASE("scheduler: timers pending in SQLite are loaded by start() after a restart",
          "[scheduler]") {
    temp_dir dir;
    souk::manual_clock clk;
    const std::string path = dir.file("souk.db");
    std::string soon, later, cancelled;
    const std::int64_t t0 = clk.now_ms();
    {
        node before(path, clk);  // nothing wired: the timers exist only in SQLite
        soon = before.schedule("item.expire", t0 + 1000, {{"which", "soon"}});
        later = before.schedule("item.expire", t0 + 5000, {{"which", "later"}});
        cancelled = before.schedule("item.expire", t0 + 2000);
        before.cancel(cancelled);
    }
    {
        node after(path, clk);
        after.wire();
        std::vector<db::timer_row> fired;
        after.scheduler.on("item.expire", timer_recorder(fired));
        after.scheduler.start();
        CHECK(after.scheduler.pending() == 2);
        CHECK(after.fire_due() == 0);
        clk.advance(milliseconds(1000));
        CHECK(after.fire_due() == 1);
        clk.advance(milliseconds(4000));
        CHECK(after.fire_due() == 1);
        REQUIRE(fired.size() == 2);
        CHECK(fired[0].id == soon);
        CHECK(fired[0].payload.at("which") == "soon");
        CHECK(fired[1].id == later);
        CHECK(fired[1].due_ms == t0 + 5000);
    }
    {
        node again(path, clk);
        again.scheduler.start();
        CHECK(again.scheduler.pending() == 0);
    }
}

TEST_CASE("scheduler: a timer missed while stopped fires by itself after start()", "[scheduler]") {
    temp_dir dir;
    souk::manual_clock clk;
    const std::string path = dir.file("souk.db");
    std::string id;
    {
        node before(path, clk);
        id = before.schedule("item.expire", clk.now_ms() + 1000);
    }
    clk.advance(milliseconds(10'000));  // down for longer than the timer had left
    node after(path, clk);
    after.wire();
    std::vector<db::timer_row> fired;
    after.scheduler.on("item.expire", timer_recorder(fired));
    after.scheduler.start();
    // No explicit fire_due(): the scheduler's own Asio timer is due at once.
    REQUIRE(run_until(after.io, [&] { return fired.size() == 1; }));
    CHECK(fired[0].id == id);
    REQUIRE(run_until(after.io, [&] { return after.timer_done(id); }));
}

TEST_CASE("scheduler: a cancelled timer does not fire", "[scheduler]") {
    temp_dir dir;
    souk::manual_clock clk;
    node n(dir.file("souk.db"), clk);
    n.wire();
    std::vector<db::timer_row> fired;
    n.scheduler.on("item.expire", timer_recorder(fired));
    n.scheduler.start();

    const std::string kept = n.schedule("item.expire", clk.now_ms() + 1000);
    const std::string dropped = n.schedule("item.expire", clk.now_ms() + 1000);
    CHECK(n.scheduler.pending() == 2);
    n.cancel(dropped);
    CHECK(n.scheduler.pending() == 1);
    CHECK(n.timer_done(dropped));

    // Scheduled and cancelled in the same transaction.
    auto same = n.database.writer().write_sync<std::string>([&](db::tx& t) -> result<std::string> {
        std::string id = t.schedule("item.expire", t.now_ms() + 1000, {});
        t.cancel_timer(id);
        return id;
    });
    REQUIRE(same.ok());
    CHECK(n.scheduler.pending() == 1);

    clk.advance(milliseconds(2000));
    CHECK(n.fire_due() == 1);
    REQUIRE(fired.size() == 1);
    CHECK(fired[0].id == kept);
    CHECK(n.scheduler.pending() == 0);
}

TEST_CASE("scheduler: a timer committed before start() is not loaded twice", "[scheduler]") {
    temp_dir dir;
    souk::manual_clock clk;
    node n(dir.file("souk.db"), clk);
    n.wire();  // wired first, as serve.cpp does, so the commit reaches the scheduler...
    std::vector<db::timer_row> fired;
    n.scheduler.on("item.expire", timer_recorder(fired));
    const std::string id = n.schedule("item.expire", clk.now_ms() + 1000);
    n.scheduler.start();  // ...and start() finds the same timer in SQLite
    CHECK(n.scheduler.pending() == 1);
    n.cancel(id);
    CHECK(n.scheduler.pending() == 0);
    clk.advance(milliseconds(2000));
    CHECK(n.fire_due() == 0);
    CHECK(fired.empty());
}
