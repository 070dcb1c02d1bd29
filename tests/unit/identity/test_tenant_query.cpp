// The tenant-scoping helper other modules build their queries with, and the tenant settings.
#include <catch2/catch.hpp>
#include <souk/identity/identity.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "users.hpp"

using namespace souk;
using namespace souk::identity;

namespace {

std::vector<std::string> names(db::statement& st) {
    std::vector<std::string> out;
    while (st.step())
        out.push_back(st.text(0));
    st.reset();
    return out;
}

}  // namespace

TEST_CASE("tenant_query scopes every query to the caller's tenant", "[identity][tenant]") {
    db::connection c(":memory:", db::open_mode::read_write);
    c.exec(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, name TEXT);"
        "INSERT INTO items (tenant_id, name) VALUES ('t1', 'apple'), ('t1', 'apricot'), "
        "('t2', 'avocado'), ('t2', 'banana');");

    tenant_query all(c, "t1", "SELECT name FROM items WHERE {tenant} ORDER BY name");
    CHECK(names(all.stmt()) == std::vector<std::string>{"apple", "apricot"});

    // Other parameters start at ?2.
    tenant_query like(c, "t2", "SELECT name FROM items WHERE {tenant} AND name LIKE ?2");
    like.stmt().bind(tenant_query::first_param, "a%");
    CHECK(names(like.stmt()) == std::vector<std::string>{"avocado"});

    // The tenant is a bound value, not SQL.
    tenant_query evil(c, "t1' OR '1'='1", "SELECT name FROM items WHERE {tenant}");
    CHECK(names(evil.stmt()).empty());
    tenant_query none(c, "", "SELECT name FROM items WHERE {tenant}");
    CHECK(names(none.stmt()).empty());
}

TEST_CASE("tenant_query refuses SQL without the {tenant} condition", "[identity][tenant]") {
    db::connection c(":memory:", db::open_mode::read_write);
    c.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, name TEXT);");
    CHECK_THROWS_AS(tenant_query(c, "t1", "SELECT name FROM items"), std::logic_error);
    CHECK_THROWS_AS(tenant_query(c, "t1", "SELECT name FROM items WHERE tenant_id = ?1"),
                    std::logic_error);
}

TEST_CASE("tenant settings: the allowed e-mail domains", "[identity][tenant]") {
    db::connection c(":memory:", db::open_mode::read_write);
    c.exec(
        "CREATE TABLE tenants (id TEXT PRIMARY KEY, slug TEXT NOT NULL UNIQUE, name TEXT NOT "
        "NULL, settings TEXT NOT NULL DEFAULT '{}', created_ms INTEGER NOT NULL);"
        "INSERT INTO tenants VALUES ('default', 'default', 'Souk', '{}', 0);"
        "INSERT INTO tenants VALUES ('ten_u', 'uni', 'Uni', "
        "'{\"allowed_email_domains\": [\".edu\", \"uni.example\", 7], \"platform_fee_bps\": 500}', "
        "0);"
        "INSERT INTO tenants VALUES ('ten_bad', 'bad', 'Bad', 'not json', 0);");
    auto d = find_tenant(c, "default");
    REQUIRE(d);
    CHECK(d->allowed_email_domains.empty());
    // By slug or by id.
    for (const char* key : {"uni", "ten_u"}) {
        auto u = find_tenant(c, key);
        REQUIRE(u);
        CHECK(u->id == "ten_u");
        CHECK(u->allowed_email_domains == std::vector<std::string>{".edu", "uni.example"});
    }
    auto bad = find_tenant(c, "bad");
    REQUIRE(bad);
    CHECK(bad->allowed_email_domains.empty());
    CHECK_FALSE(find_tenant(c, "nope"));
}
