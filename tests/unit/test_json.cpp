#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <souk/http/json.hpp>
#include <string>

using namespace souk;

namespace {

std::string nested_arrays(std::size_t depth) {
    return std::string(depth, '[') + "1" + std::string(depth, ']');
}

std::string nested_objects(std::size_t depth) {
    std::string s;
    for (std::size_t i = 0; i < depth; ++i)
        s += "{\"a\":";
    s += "true";
    s += std::string(depth, '}');
    return s;
}

}  // namespace

TEST_CASE("json::parse accepts ordinary JSON", "[json]") {
    auto r = json::parse(R"({"name": "Caf\u00e9 \"Souk\"", "price": {"amount": 1250,
        "currency": "EUR"}, "tags": ["a", "b"], "ratio": 0.25, "big": -9223372036854775808,
        "none": null, "ok": true})");
    REQUIRE(r.ok());
    const auto& o = r->as_object();
    CHECK(o.at("name").as_string() == "Caf\xc3\xa9 \"Souk\"");
    CHECK(o.at("price").at("amount").as_int64() == 1250);
    CHECK(o.at("tags").as_array().size() == 2);
    CHECK(o.at("ratio").as_double() == 0.25);
    CHECK(o.at("big").as_int64() == std::numeric_limits<std::int64_t>::min());
    CHECK(o.at("none").is_null());
    CHECK(o.at("ok").as_bool());

    for (const char* text : {"0", "\"s\"", "[]", "{}", "null", "  [1, 2.5e3, -0.0]  "}) {
        INFO(text);
        CHECK(json::parse(text).ok());
    }
    CHECK(json::serialize(*json::parse(R"({"a":[1,2]})")) == R"({"a":[1,2]})");
}

TEST_CASE("json::parse accepts nesting up to depth 64 and refuses deeper", "[json]") {
    CHECK(json::depth_max == 64);
    for (std::size_t depth : {1u, 63u, 64u}) {
        INFO("depth " << depth);
        CHECK(json::parse(nested_arrays(depth)).ok());
        CHECK(json::parse(nested_objects(depth)).ok());
    }
    for (std::size_t depth : {65u, 66u, 1000u, 100000u}) {
        INFO("depth " << depth);
        auto a = json::parse(nested_arrays(depth));
        REQUIRE_FALSE(a.ok());
        CHECK(a.err().code == "MALFORMED_JSON");
        CHECK(a.err().status == 400);
        auto o = json::parse(nested_objects(depth));
        REQUIRE_FALSE(o.ok());
        CHECK(o.err().code == "MALFORMED_JSON");
    }
}

TEST_CASE("json::parse refuses numbers a double cannot hold", "[json]") {
    for (const char* text : {"1e999", "-1e999", "[1, 1e400]", R"({"a": {"b": -2e308}})",
                             "179769313486231570000000000000000000000000000000000000000000000000"
                             "000000000000000000000000000000000000000000000000000000000000000000"
                             "000000000000000000000000000000000000000000000000000000000000000000"
                             "000000000000000000000000000000000000000000000000000000000000000000"
                             "000000000000000000000000000000000000000000000000000000000000000000"
                             "0000"}) {
        INFO(text);
        auto r = json::parse(text);
        REQUIRE_FALSE(r.ok());
        CHECK(r.err().code == "MALFORMED_JSON");
        CHECK(r.err().message == "number out of range");
    }
    // Large but finite numbers are fine.
    CHECK(json::parse("1e308").ok());
    CHECK(json::parse("-1.5e-300").ok());
    CHECK(json::parse("18446744073709551615").ok());
}

TEST_CASE("json::parse refuses garbage", "[json]") {
    for (const char* text :
         {"",    " ",   "{",         "}",          "[1,]", "{\"a\":}",       "{'a': 1}",
          "nul", "tru", "{\"a\" 1}", "[1 2]",      "{} x", "\"unterminated", "01",
          "+1",  "NaN", "Infinity",  "/* c */ {}", "\x01", "{\"a\":1,}"}) {
        INFO("text: " << text);
        auto r = json::parse(text);
        REQUIRE_FALSE(r.ok());
        CHECK(r.err().code == "MALFORMED_JSON");
        CHECK(r.err().status == 400);
    }
}

TEST_CASE("json::fields reports every field problem in one VALIDATION_FAILED", "[json]") {
    auto body = json::parse(R"({"name": "", "email": 5, "age": "x", "count": 11,
        "note": "abcdef", "flag": "yes", "ok_name": "Amal", "ok_count": 3})");
    REQUIRE(body.ok());
    json::fields f(*body);
    REQUIRE(f.is_object());
    CHECK_FALSE(f.required_string("name", 1, 50));
    CHECK_FALSE(f.required_string("email", 3, 254));
    CHECK_FALSE(f.required_int("age", 0, 150));
    CHECK_FALSE(f.required_int("count", 1, 10));
    CHECK_FALSE(f.optional_string("note", 5));
    CHECK_FALSE(f.optional_bool("flag"));
    CHECK_FALSE(f.required_string("title", 1, 10));
    CHECK(f.required_string("ok_name", 1, 50) == std::optional<std::string>("Amal"));
    CHECK(f.required_int("ok_count", 1, 10) == std::optional<std::int64_t>(3));

    auto st = f.check();
    REQUIRE_FALSE(st.ok());
    CHECK(st.err().status == 422);
    CHECK(st.err().code == "VALIDATION_FAILED");
    const auto& fields = st.err().details.at("fields").as_object();
    CHECK(fields.size() == 7);
    CHECK(fields.at("name") == "must not be empty");
    CHECK(fields.at("email") == "must be a string");
    CHECK(fields.at("age") == "must be an integer");
    CHECK(fields.at("count") == "must be between 1 and 10");
    CHECK(fields.at("note") == "must be at most 5 characters");
    CHECK(fields.at("flag") == "must be true or false");
    CHECK(fields.at("title") == "is required");
    CHECK_FALSE(fields.contains("ok_name"));
}

TEST_CASE("json::fields passes when every field is fine and optional ones are absent", "[json]") {
    auto body = json::parse(R"({"name": "Souk", "n": 5, "maybe": null})");
    REQUIRE(body.ok());
    json::fields f(*body);
    CHECK(f.required_string("name", 2, 10) == std::optional<std::string>("Souk"));
    CHECK(f.optional_string("absent", 10) == std::nullopt);
    CHECK(f.optional_string("maybe", 10) == std::nullopt);
    CHECK(f.optional_int("absent", 0, 1) == std::nullopt);
    CHECK(f.optional_bool("absent") == std::nullopt);
    CHECK(f.required_int("n", 5, 5) == std::optional<std::int64_t>(5));
    CHECK(f.check().ok());
}

TEST_CASE("json::fields keeps the first problem of a field", "[json]") {
    auto body = json::parse(R"({"a": 1})");
    REQUIRE(body.ok());
    json::fields f(*body);
    f.fail("a", "first");
    f.fail("a", "second");
    auto st = f.check();
    REQUIRE_FALSE(st.ok());
    CHECK(st.err().details.at("fields").at("a") == "first");
}

TEST_CASE("json::fields refuses a body that is not an object", "[json]") {
    for (const char* text : {"[1]", "\"s\"", "3", "null"}) {
        INFO(text);
        auto body = json::parse(text);
        REQUIRE(body.ok());
        json::fields f(*body);
        CHECK_FALSE(f.is_object());
        CHECK_FALSE(f.required_string("a", 1, 2));
        auto st = f.check();
        REQUIRE_FALSE(st.ok());
        CHECK(st.err().code == "VALIDATION_FAILED");
        CHECK(st.err().details.at("fields").as_object().contains("body"));
    }
}

TEST_CASE("json::fields integer bounds", "[json]") {
    constexpr auto min64 = std::numeric_limits<std::int64_t>::min();
    constexpr auto max64 = std::numeric_limits<std::int64_t>::max();
    auto body = json::parse(R"({"lo": 1, "hi": 10, "below": 0, "above": 11,
        "max": 9223372036854775807, "min": -9223372036854775808, "too_big": 9223372036854775808,
        "frac": 1.5, "str": "3", "bool": true})");
    REQUIRE(body.ok());

    json::fields f(*body);
    CHECK(f.required_int("lo", 1, 10) == std::optional<std::int64_t>(1));
    CHECK(f.required_int("hi", 1, 10) == std::optional<std::int64_t>(10));
    CHECK(f.required_int("max", min64, max64) == std::optional<std::int64_t>(max64));
    CHECK(f.required_int("min", min64, max64) == std::optional<std::int64_t>(min64));
    CHECK(f.check().ok());

    json::fields g(*body);
    CHECK_FALSE(g.required_int("below", 1, 10));
    CHECK_FALSE(g.required_int("above", 1, 10));
    CHECK_FALSE(g.required_int("too_big", min64, max64));
    CHECK_FALSE(g.required_int("frac", min64, max64));
    CHECK_FALSE(g.required_int("str", min64, max64));
    CHECK_FALSE(g.optional_int("bool", min64, max64));
    CHECK_FALSE(g.required_int("max", min64, max64 - 1));
    auto st = g.check();
    REQUIRE_FALSE(st.ok());
    const auto& fields = st.err().details.at("fields").as_object();
    CHECK(fields.size() == 7);
    CHECK(fields.at("below") == "must be between 1 and 10");
    CHECK(fields.at("above") == "must be between 1 and 10");
    CHECK(fields.at("too_big") == "must be an integer");
    CHECK(fields.at("frac") == "must be an integer");
    CHECK(fields.at("str") == "must be an integer");
    CHECK(fields.at("bool") == "must be an integer");
}

TEST_CASE("json::append_string escapes as serialize does", "[json]") {
    auto by_hand = [](std::string_view s) {
        std::string out = "x";  // appends: what is there stays
        json::append_string(out, s);
        return out.substr(1);
    };
    auto by_boost = [](std::string_view s) {
        return boost::json::serialize(boost::json::value(boost::json::string(s)));
    };
    for (int c = 0; c < 0x80; ++c) {
        const std::string one(1, static_cast<char>(c));
        INFO("character " << c);
        CHECK(by_hand(one) == by_boost(one));
        const std::string inside = "ab" + one + "cd" + one;
        CHECK(by_hand(inside) == by_boost(inside));
    }
    for (std::string_view s :
         {"", "bkg_01a2166877440372dd6e2c6f51a26ac9", "caf\xc3\xa9 \xe2\x82\xac",
          "\"quoted\" \\ back\nslash\t\x01\x1f end", "\\\\\"\""})
        CHECK(by_hand(s) == by_boost(s));
}
