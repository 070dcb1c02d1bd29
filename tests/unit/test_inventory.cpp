// The inventory engine's shard on a real io_context: holds taken, refused, posted, voided,
// expired and restored, the counters they move, per-owner limits, and expiry by the shard's
// own timer.
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <souk/core/clock.hpp>
#include <souk/inventory/engine.hpp>
#include <string>
#include <vector>

#include "support.hpp"

namespace inv = souk::inventory;
using inv::hold_state;
using inv::refusal;

namespace {

struct rig {
    boost::asio::io_context io{1};
    souk::system_clock clock;
    inv::shard shard{io.get_executor(), clock};

    rig() { shard.set_resource("zone-a", 10); }
    ~rig() { shard.stop(); }

    inv::hold_request req(std::string_view id, std::int64_t qty, std::string_view owner = "u1",
                          std::int64_t ttl_ms = 600'000) {
        return {id, "zone-a", qty, owner, "event-1", clock.now_ms() + ttl_ms};
    }
    const inv::resource_state& zone() { return *shard.resource("zone-a"); }
};

}  // namespace

TEST_CASE("inventory: holds take seats until none are left", "[inventory]") {
    rig r;
    CHECK(r.shard.try_hold(r.req("h1", 4, "u1"), 0) == refusal::none);
    CHECK(r.shard.try_hold(r.req("h2", 6, "u2"), 0) == refusal::none);
    CHECK(r.zone().held == 10);
    CHECK(r.zone().available() == 0);
    CHECK(r.shard.try_hold(r.req("h3", 1, "u3"), 0) == refusal::insufficient);
    CHECK(r.shard.try_hold({"h4", "no-such-zone", 1, "u1", "event-1", 0}, 0) ==
          refusal::unknown_resource);
    CHECK(r.shard.try_hold(r.req("h1", 1, "u1"), 0) == refusal::insufficient);
    r.shard.set_capacity("zone-a", 11);
    CHECK(r.shard.try_hold(r.req("h1", 1, "u1"), 0) == refusal::duplicate_hold);
    CHECK(r.zone().held == 10);
    CHECK(r.shard.live_holds() == 2);
}

TEST_CASE("inventory: the per-owner limit counts live holds across the group", "[inventory]") {
    rig r;
    CHECK(r.shard.try_hold(r.req("h1", 2, "u1"), 3) == refusal::none);
    CHECK(r.shard.try_hold(r.req("h2", 2, "u1"), 3) == refusal::limit_exceeded);
    CHECK(r.shard.try_hold(r.req("h2", 1, "u1"), 3) == refusal::none);
    CHECK(r.shard.owner_quantity("event-1", "u1") == 3);
    CHECK(r.shard.try_hold(r.req("h3", 3, "u2"), 3) == refusal::none);  // someone else
    // A voided hold no longer counts; an owner with none left has no total.
    REQUIRE(r.shard.void_hold("h1"));
    CHECK(r.shard.owner_quantity("event-1", "u1") == 1);
    REQUIRE(r.shard.void_hold("h2"));
    CHECK(r.shard.owner_quantity("event-1", "u1") == 0);
    CHECK(r.shard.try_hold(r.req("h4", 3, "u1"), 3) == refusal::none);
}

TEST_CASE("inventory: post, void, expire and undo move the counters once", "[inventory]") {
    rig r;
    REQUIRE(r.shard.try_hold(r.req("h1", 2), 0) == refusal::none);
    REQUIRE(r.shard.try_hold(r.req("h2", 3), 0) == refusal::none);
    REQUIRE(r.shard.try_hold(r.req("h3", 1), 0) == refusal::none);

    CHECK(r.shard.post("h1"));
    CHECK_FALSE(r.shard.post("h1"));  // once
    CHECK(r.zone().held == 4);
    CHECK(r.zone().confirmed == 2);
    REQUIRE(r.shard.find("h1"));
    CHECK(r.shard.find("h1")->state == hold_state::posted);

    CHECK_FALSE(r.shard.expire("h1"));  // a posted hold does not expire
    auto expired = r.shard.expire("h2");
    REQUIRE(expired);
    CHECK(expired->id == "h2");
    CHECK(expired->resource == "zone-a");
    CHECK(expired->owner == "u1");
    CHECK(expired->group == "event-1");
    CHECK(expired->quantity == 3);
    CHECK(expired->state == hold_state::held);  // as it was
    CHECK_FALSE(r.shard.expire("h2"));
    CHECK(r.shard.find("h2") == nullptr);

    auto voided = r.shard.void_hold("h1");
    REQUIRE(voided);
    CHECK(voided->state == hold_state::posted);
    r.shard.undo_hold("h3");
    CHECK(r.zone().held == 0);
    CHECK(r.zone().confirmed == 0);
    CHECK(r.shard.live_holds() == 0);
    CHECK(r.shard.owner_quantity("event-1", "u1") == 0);

    // What void_hold returned restores exactly (a commit that failed).
    r.shard.restore_hold(*voided);
    CHECK(r.zone().confirmed == 2);
    CHECK(r.shard.owner_quantity("event-1", "u1") == 2);
    r.shard.unpost("h1");
    CHECK(r.zone().held == 2);
    CHECK(r.zone().confirmed == 0);
}

TEST_CASE("inventory: the shard's timer expires held holds in time order", "[inventory]") {
    rig r;
    std::vector<std::string> expired;
    r.shard.on_expiry([&](const std::string& id) {
        expired.push_back(id);
        r.shard.expire(id);
    });
    // Scheduled out of order: the queue still fires them by time.
    const std::vector<std::pair<std::string, std::int64_t>> holds = {
        {"late", 120}, {"early", 20}, {"middle", 60}, {"posted", 30}};
    for (const auto& [id, ttl] : holds) {
        REQUIRE(r.shard.try_hold(r.req(id, 1, "u-" + id, ttl), 0) == refusal::none);
        r.shard.schedule_expiry(id, r.clock.now_ms() + ttl);
    }
    REQUIRE(r.shard.post("posted"));
    REQUIRE(souk::test::run_until(r.io, [&] { return expired.size() == 3; }));
    CHECK(expired == std::vector<std::string>{"early", "middle", "late"});
    CHECK(r.zone().held == 0);
    CHECK(r.zone().confirmed == 1);
}

TEST_CASE("inventory: an expiry armed with the hold copes with the hold's write failing",
          "[inventory]") {
    // The booking module arms a hold's expiry when it takes the seats, before the hold's write
    // commits: the write may fail before or after the expiry fires, and the hold is undone.
    rig r;
    std::vector<std::string> expired;
    r.shard.on_expiry([&](const std::string& id) {
        expired.push_back(id);
        CHECK(r.shard.expire(id).has_value());
    });
    REQUIRE(r.shard.try_hold(r.req("undone-first", 2, "u1", 20), 0) == refusal::none);
    r.shard.schedule_expiry("undone-first", r.clock.now_ms() + 20);
    REQUIRE(r.shard.try_hold(r.req("expired-first", 3, "u2", 20), 0) == refusal::none);
    r.shard.schedule_expiry("expired-first", r.clock.now_ms() + 20);
    r.shard.undo_hold("undone-first");  // its write failed at once: the expiry finds nothing
    CHECK(r.zone().held == 3);
    REQUIRE(souk::test::run_until(r.io, [&] { return !expired.empty(); }));
    CHECK(expired == std::vector<std::string>{"expired-first"});
    CHECK(r.zone().held == 0);
    r.shard.undo_hold("expired-first");  // its write failed after the expiry: nothing moves
    CHECK(r.zone().held == 0);
    CHECK(r.zone().available() == 10);
    CHECK(r.shard.owner_quantity("event-1", "u2") == 0);
    CHECK(r.shard.live_holds() == 0);
}

TEST_CASE("inventory: hold ids up to hold_key::max_size bytes are kept and found by view",
          "[inventory]") {
    rig r;
    const std::string longest(inv::hold_key::max_size, 'k');
    const std::string booking_like = "bkg_019abc0123456789abcdef0123456789ab";  // 38 bytes
    REQUIRE(r.shard.try_hold(r.req(longest, 2), 0) == refusal::none);
    REQUIRE(r.shard.try_hold(r.req(booking_like, 3, "u2"), 0) == refusal::none);
    CHECK(r.shard.try_hold(r.req(longest, 1), 0) == refusal::duplicate_hold);
    REQUIRE(r.shard.find(std::string_view(longest)) != nullptr);
    CHECK(r.shard.find(longest)->quantity == 2);
    CHECK(r.shard.find(longest.substr(1)) == nullptr);  // a prefix is another id
    auto voided = r.shard.void_hold(booking_like);
    REQUIRE(voided.has_value());
    CHECK(voided->id == booking_like);
    CHECK(r.zone().held == 2);
}

TEST_CASE("inventory: the expiry queue orders what arrives in and out of order", "[inventory]") {
    inv::expiry_queue q;
    q.push(10, "a");
    q.push(20, "b");
    q.push(15, "c");  // out of order
    q.push(20, "d");
    q.push(5, "e");  // out of order
    CHECK(q.size() == 5);
    std::vector<std::string> order;
    while (!q.empty()) {
        const auto at = q.earliest();
        order.push_back(q.pop() + "@" + std::to_string(at));
    }
    CHECK(order == std::vector<std::string>{"e@5", "a@10", "c@15", "b@20", "d@20"});
}

TEST_CASE("inventory: a rebuild restores many holds into room made for them", "[inventory]") {
    rig r;
    r.shard.set_resource("zone-big", 100'000);
    constexpr int holds = 20'000;
    r.shard.expect_holds(holds);
    const auto expires = r.clock.now_ms() + 600'000;
    for (int i = 0; i < holds; ++i) {
        const auto state = i % 4 == 0 ? hold_state::posted : hold_state::held;
        r.shard.restore_hold({"h" + std::to_string(i), "zone-big", 1 + i % 2,
                              "u" + std::to_string(i % 50), "event-1", expires, state});
    }
    CHECK(r.shard.live_holds() == holds);
    const auto& zone = *r.shard.resource("zone-big");
    CHECK(zone.held + zone.confirmed == holds + holds / 2);  // quantities 1 and 2 alternate
    CHECK(zone.confirmed == holds / 4);                      // every fourth, quantity 1
    const auto* last = r.shard.find("h" + std::to_string(holds - 1));
    REQUIRE(last != nullptr);
    CHECK(last->quantity == 2);
    CHECK(r.shard.owner_quantity("event-1", "u7") == (holds / 50) * 2);  // i % 50 == 7: odd
}
