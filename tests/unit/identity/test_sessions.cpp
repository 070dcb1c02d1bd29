// In-memory session cut-offs and the login lockout windows.
#include <catch2/catch.hpp>

#include "sessions.hpp"

using namespace souk::identity;

TEST_CASE("session cut-offs refuse tokens issued before the instant", "[identity][sessions]") {
    session_cutoffs c;
    CHECK(c.accepts("u1", 0));
    c.set("u1", 1000, false);
    CHECK_FALSE(c.accepts("u1", 999));
    CHECK(c.accepts("u1", 1000));
    CHECK(c.accepts("u1", 5000));
    CHECK(c.accepts("u2", 1));
    // The instant never moves back.
    c.set("u1", 500, false);
    CHECK_FALSE(c.accepts("u1", 999));
    // Disabled refuses everything.
    c.set("u1", 1000, true);
    CHECK_FALSE(c.accepts("u1", 10'000'000));
}

TEST_CASE("five failures in the window lock the account", "[identity][lockout]") {
    lockout l(5, 900'000);
    const std::int64_t t0 = 1'000'000;
    for (int i = 0; i < 4; ++i) {
        CHECK_FALSE(l.fail("a@x.org", t0 + i));
        CHECK(l.locked_for("a@x.org", t0 + i) == 0);
    }
    CHECK(l.fail("a@x.org", t0 + 4));
    CHECK(l.locked_for("a@x.org", t0 + 5) == 900'000 - 1);
    CHECK(l.locked_for("b@x.org", t0 + 5) == 0);
    CHECK(l.locked_for("a@x.org", t0 + 4 + 900'000) == 0);

    SECTION("failures older than the window are forgotten") {
        lockout m(5, 1000);
        for (int i = 0; i < 4; ++i)
            CHECK_FALSE(m.fail("k", i * 10));
        CHECK_FALSE(m.fail("k", 5000));
        CHECK(m.locked_for("k", 5001) == 0);
    }
    SECTION("a success clears the count") {
        lockout m(5, 1000);
        for (int i = 0; i < 4; ++i)
            m.fail("k", i);
        m.succeed("k");
        CHECK_FALSE(m.fail("k", 10));
        CHECK(m.locked_for("k", 11) == 0);
    }
}

TEST_CASE("attempts in flight count against the limit", "[identity][lockout]") {
    lockout l(5, 900'000);
    const std::int64_t t0 = 1'000'000;
    // Five guesses may be checked at once; the sixth waits for one of them to end.
    for (int i = 0; i < 5; ++i)
        CHECK(l.begin("k", t0) == 0);
    CHECK(l.begin("k", t0) == lockout::busy_retry_ms);
    CHECK(l.begin("other", t0) == 0);
    // Two fail: still three in flight and two failures, so nothing new may start.
    CHECK_FALSE(l.fail("k", t0 + 1));
    CHECK_FALSE(l.fail("k", t0 + 2));
    CHECK(l.begin("k", t0 + 3) > 0);
    // One ends neither way (e.g. a second factor is needed): room for one more.
    l.release("k");
    CHECK(l.begin("k", t0 + 4) == 0);
    // The rest fail: the fifth failure locks.
    CHECK_FALSE(l.fail("k", t0 + 5));
    CHECK_FALSE(l.fail("k", t0 + 6));
    CHECK(l.fail("k", t0 + 7));
    CHECK(l.begin("k", t0 + 8) == 900'000 - 1);
    CHECK(l.locked_for("k", t0 + 8) == 900'000 - 1);
}

TEST_CASE("a success forgets the failures but not the other attempts in flight",
          "[identity][lockout]") {
    lockout l(5, 900'000);
    for (int i = 0; i < 3; ++i) {
        REQUIRE(l.begin("k", 10) == 0);
        l.fail("k", 10);
    }
    REQUIRE(l.begin("k", 20) == 0);  // will succeed
    REQUIRE(l.begin("k", 20) == 0);  // still running
    l.succeed("k");
    // One in flight, no failures: four more may start.
    for (int i = 0; i < 4; ++i)
        CHECK(l.begin("k", 30) == 0);
    CHECK(l.begin("k", 30) > 0);
    for (int i = 0; i < 5; ++i)
        l.release("k");
    CHECK(l.begin("k", 40) == 0);
    l.release("k");
    l.release("k");  // more releases than attempts are harmless
    CHECK(l.locked_for("k", 50) == 0);
}

TEST_CASE("login_attempt releases what was neither failed nor succeeded", "[identity][lockout]") {
    lockout l(2, 900'000);
    {
        REQUIRE(l.begin("k", 1) == 0);
        login_attempt a(l, "k");
        REQUIRE(l.begin("k", 1) == 0);
        login_attempt b(l, "k");
        CHECK(l.begin("k", 1) > 0);
        b.fail(2);
        b.fail(3);  // once only
    }
    // a was released on scope exit; one failure is recorded.
    CHECK(l.begin("k", 4) == 0);
    login_attempt c(l, "k");
    c.fail(5);
    CHECK(l.locked_for("k", 6) > 0);
}
