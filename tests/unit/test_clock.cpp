#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <souk/core/clock.hpp>
#include <string>

using namespace souk;
using std::chrono::milliseconds;

namespace {

sys_time at_ms(std::int64_t ms) {
    return sys_time(milliseconds(ms));
}

std::int64_t parsed_ms(std::string_view text) {
    sys_time t{};
    REQUIRE(parse_rfc3339(text, t));
    return t.time_since_epoch().count();
}

}  // namespace

TEST_CASE("clock: format_rfc3339 writes UTC with milliseconds", "[clock]") {
    CHECK(format_rfc3339(at_ms(0)) == "1970-01-01T00:00:00.000Z");
    CHECK(format_rfc3339(at_ms(1'700'000'000'123)) == "2023-11-14T22:13:20.123Z");
    CHECK(format_rfc3339(at_ms(951'782'400'000)) == "2000-02-29T00:00:00.000Z");
    CHECK(format_rfc3339(at_ms(-1)) == "1969-12-31T23:59:59.999Z");
    CHECK(format_rfc3339(at_ms(-1000)) == "1969-12-31T23:59:59.000Z");
    CHECK(format_rfc3339(at_ms(-1001)) == "1969-12-31T23:59:58.999Z");
}

TEST_CASE("clock: format and parse round trip", "[clock]") {
    for (std::int64_t ms : {std::int64_t{0}, std::int64_t{1}, std::int64_t{999}, std::int64_t{-1},
                            std::int64_t{-86'400'001}, std::int64_t{1'764'072'000'000},
                            std::int64_t{253'402'300'799'999}}) {
        INFO(ms);
        CHECK(parsed_ms(format_rfc3339(at_ms(ms))) == ms);
    }

    // Random instants between 1900 and 9999; the seed is printed on failure to replay it.
    std::uint64_t seed = std::random_device{}();
    if (const char* s = std::getenv("SOUK_TEST_SEED")) seed = std::strtoull(s, nullptr, 10);
    INFO("seed " << seed << " (replay with SOUK_TEST_SEED)");
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<std::int64_t> dist(-2'208'988'800'000, 253'402'300'799'999);
    for (int i = 0; i < 2000; ++i) {
        const std::int64_t ms = dist(rng);
        const std::string text = format_rfc3339(at_ms(ms));
        INFO(ms << " -> " << text);
        REQUIRE(text.size() == 24);
        REQUIRE(parsed_ms(text) == ms);
    }
}

TEST_CASE("clock: parse_rfc3339 applies numeric offsets", "[clock]") {
    const std::int64_t noon = parsed_ms("2026-11-25T12:00:00.000Z");
    CHECK(format_rfc3339(at_ms(noon)) == "2026-11-25T12:00:00.000Z");
    CHECK(parsed_ms("2026-11-25T14:00:00.000+02:00") == noon);
    CHECK(parsed_ms("2026-11-25T06:30:00.000-05:30") == noon);
    CHECK(parsed_ms("2026-11-25T12:00:00+00:00") == noon);
    CHECK(parsed_ms("2026-11-25T12:00:00-00:00") == noon);
    CHECK(parsed_ms("2026-11-26T01:45:00+13:45") == noon);
    // Crossing a day and a year boundary.
    CHECK(parsed_ms("2027-01-01T01:00:00+02:00") == parsed_ms("2026-12-31T23:00:00Z"));
}

TEST_CASE("clock: parse_rfc3339 accepts the optional parts", "[clock]") {
    const std::int64_t base = parsed_ms("2026-11-25T12:00:00Z");
    CHECK(parsed_ms("2026-11-25t12:00:00z") == base);
    CHECK(parsed_ms("2026-11-25T12:00:00.5Z") == base + 500);
    CHECK(parsed_ms("2026-11-25T12:00:00.05Z") == base + 50);
    CHECK(parsed_ms("2026-11-25T12:00:00.123456789Z") == base + 123);
    CHECK(parsed_ms("2024-02-29T00:00:00Z") == 1'709'164'800'000);
}

TEST_CASE("clock: parse_rfc3339 rejects malformed text", "[clock]") {
    sys_time out = at_ms(42);
    for (const char* text : {
             "",
             "2026",
             "2026-11-25",
             "2026-13-01T00:00:00Z",        // month 13
             "2026-00-10T00:00:00Z",        // month 0
             "2026-11-00T00:00:00Z",        // day 0
             "2026-11-32T00:00:00Z",        // day 32
             "2026-02-29T00:00:00Z",        // not a leap year
             "2026-04-31T00:00:00Z",        // April has 30 days
             "2026-11-25T24:00:00Z",        // hour 24
             "2026-11-25T12:60:00Z",        // minute 60
             "2026-11-25T12:00:00",         // missing zone
             "2026-11-25T12:00:00.000",     // missing zone after a fraction
             "2026-11-25T12:00:00Zjunk",    // trailing junk
             "2026-11-25T12:00:00Z ",       // trailing space
             "2026-11-25T12:00:00+02:00x",  // trailing junk after an offset
             "2026-11-25T12:00:00.Z",       // dot without digits
             "2026-11-25T12:00:00+0200",    // offset without a colon
             "2026-11-25T12:00:00+02",      // offset without minutes
             "2026-11-25T12:00:00+24:00",   // offset hour out of range
             "2026-11-25T12:00:00+02:60",   // offset minute out of range
             "2026-11-25X12:00:00Z",        // wrong separator
             "2026/11/25T12:00:00Z",        // wrong date separators
             "2026-1-25T12:00:00Z",         // one-digit month
             "20a6-11-25T12:00:00Z",        // letter in the year
             "2026-11-25T12:00:0Z",         // one-digit second
         }) {
        INFO("text: " << text);
        CHECK_FALSE(parse_rfc3339(text, out));
    }
    // A refused text leaves the output alone.
    CHECK(out == at_ms(42));
}

TEST_CASE("clock: manual_clock moves only when told", "[clock]") {
    manual_clock mc;
    const souk::clock& c = mc;
    CHECK(c.now_ms() == 1'700'000'000'000);
    CHECK(c.now_ms() == 1'700'000'000'000);
    mc.advance(milliseconds(1500));
    CHECK(c.now_ms() == 1'700'000'001'500);
    mc.advance(std::chrono::hours(24));
    CHECK(c.now_ms() == 1'700'086'401'500);
    CHECK(format_rfc3339(c.now()) == "2023-11-15T22:13:21.500Z");

    manual_clock at_zero(0);
    CHECK(at_zero.now_ms() == 0);
    at_zero.advance(milliseconds(-5));
    CHECK(at_zero.now_ms() == -5);
}

TEST_CASE("clock: system_clock follows the wall clock", "[clock]") {
    system_clock sc;
    const auto before =
        std::chrono::time_point_cast<milliseconds>(std::chrono::system_clock::now());
    const auto t = sc.now();
    const auto after = std::chrono::time_point_cast<milliseconds>(std::chrono::system_clock::now());
    CHECK(before <= t);
    CHECK(t <= after);
}
