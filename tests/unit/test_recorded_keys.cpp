// The Bloom filter of idempotency keys that may have a stored answer: never a false "no", few
// false "maybe", and "maybe" for everything once past its capacity.
#include <catch2/catch.hpp>
#include <souk/http/idempotency.hpp>
#include <string>

using souk::http::idempotency_ticket;
using souk::http::recorded_keys;

namespace {
idempotency_ticket ticket(int user, int key) {
    return {"usr_" + std::to_string(user), "POST /api/v1/bookings/reserve",
            "key-" + std::to_string(key), "hash"};
}
}  // namespace

TEST_CASE("recorded keys: every noted key is a maybe, others mostly a no", "[idempotency]") {
    recorded_keys keys(20, 1'000'000);  // 1 Mbit
    for (int i = 0; i < 50'000; ++i)
        keys.note(ticket(i % 500, i));
    for (int i = 0; i < 50'000; ++i)
        REQUIRE(keys.may_have(ticket(i % 500, i)));
    int false_maybe = 0;
    for (int i = 50'000; i < 150'000; ++i)
        false_maybe += keys.may_have(ticket(i % 500, i)) ? 1 : 0;
    // 50k keys in 1 Mbit with 4 probes: about 1.2% false positives expected.
    CHECK(false_maybe < 3'000);
    // The same key for another caller or route is another key.
    auto other = ticket(1, 1);
    other.caller = "usr_other";
    CHECK_FALSE(keys.may_have(other));
}

TEST_CASE("recorded keys: past capacity every answer is maybe", "[idempotency]") {
    recorded_keys keys(16, 10);
    for (int i = 0; i < 10; ++i)
        keys.note(ticket(1, i));
    CHECK(keys.may_have(ticket(2, 12345)));
}
