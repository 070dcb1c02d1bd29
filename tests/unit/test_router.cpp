#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <optional>
#include <souk/http/router.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace asio = boost::asio;
using namespace souk;
using http::method;

namespace {

// A handler that answers with its own name, so a test can tell which route ran.
http::handler answer(std::string name) {
    return [name](http::request&) -> asio::awaitable<http::response> {
        co_return http::response::raw(200, "text/plain", name);
    };
}

// Runs a handler chain to completion on a private io_context.
http::response run(const http::handler& h, http::request& req) {
    asio::io_context io;
    std::optional<http::response> out;
    asio::co_spawn(io, h(req), [&](std::exception_ptr e, http::response r) {
        if (e) std::rethrow_exception(e);
        out = std::move(r);
    });
    io.run();
    REQUIRE(out.has_value());
    return std::move(*out);
}

struct matched {
    http::match_result m;
    http::request req;
};

matched match(const http::router& r, method m, std::string_view path) {
    matched out;
    out.m = r.match(m, path, out.req);
    return out;
}

}  // namespace

TEST_CASE("router: a literal segment beats a parameter", "[router]") {
    http::router r;
    r.get("/api/v1/events/{id}", {}, answer("by-id"));
    r.get("/api/v1/events/search", {}, answer("search"));
    r.freeze();

    auto lit = match(r, method::get, "/api/v1/events/search");
    REQUIRE(lit.m.route != nullptr);
    CHECK(lit.m.route->pattern == "/api/v1/events/search");
    CHECK(lit.req.params.empty());

    auto par = match(r, method::get, "/api/v1/events/42");
    REQUIRE(par.m.route != nullptr);
    CHECK(par.m.route->pattern == "/api/v1/events/{id}");
    CHECK(par.req.param("id") == "42");
}

TEST_CASE("router: falls back to the parameter when the literal branch dead-ends", "[router]") {
    http::router r;
    r.get("/events/search/recent", {}, answer("recent"));
    r.get("/events/{id}/tickets", {}, answer("tickets"));
    r.freeze();

    auto a = match(r, method::get, "/events/search/tickets");
    REQUIRE(a.m.route != nullptr);
    CHECK(a.m.route->pattern == "/events/{id}/tickets");
    CHECK(a.req.param("id") == "search");
    REQUIRE(a.req.params.size() == 1);

    auto b = match(r, method::get, "/events/search/recent");
    REQUIRE(b.m.route != nullptr);
    CHECK(b.m.route->pattern == "/events/search/recent");
    CHECK(b.req.params.empty());
}

TEST_CASE("router: fills every path parameter in order", "[router]") {
    http::router r;
    r.get("/shows/{show}/zones/{zone}/seats/{seat}", {}, answer("seat"));
    r.freeze();

    auto m = match(r, method::get, "/shows/s1/zones/balcony/seats/A-12");
    REQUIRE(m.m.route != nullptr);
    CHECK(m.req.param("show") == "s1");
    CHECK(m.req.param("zone") == "balcony");
    CHECK(m.req.param("seat") == "A-12");
    CHECK(m.req.param("nope").empty());
    REQUIRE(m.req.params.size() == 3);
    CHECK(m.req.params[0].first == "show");
    CHECK(m.req.params[2].first == "seat");
}

TEST_CASE("router: no route on the path is a 404", "[router]") {
    http::router r;
    r.get("/events/{id}", {}, answer("event"));
    r.get("/health", {}, answer("health"));
    r.freeze();

    for (const char* path : {"/nope", "/events", "/events/1/extra", "/healthz", "/"}) {
        INFO(path);
        auto m = match(r, method::get, path);
        CHECK(m.m.route == nullptr);
        CHECK_FALSE(m.m.path_matched);
        CHECK(m.m.allow.empty());
    }
}

TEST_CASE("router: another method on a known path is a 405 listing the allowed ones", "[router]") {
    http::router r;
    r.get("/events/{id}", {}, answer("get"));
    r.put("/events/{id}", {}, answer("put"));
    r.del("/events/{id}", {}, answer("delete"));
    r.freeze();

    auto m = match(r, method::post, "/events/7");
    CHECK(m.m.route == nullptr);
    CHECK(m.m.path_matched);
    CHECK(m.m.allow == "GET, PUT, DELETE");
    CHECK(m.req.params.empty());
}

TEST_CASE("router: a method missing on the literal falls back to the parameter route", "[router]") {
    // GET /users/me is its own route, DELETE /users/{id} must still accept "me" as an id
    // rather than answer 405 because the literal branch has no DELETE.
    http::router r;
    r.get("/users/me", {}, answer("me"));
    r.del("/users/{id}", {}, answer("delete"));
    r.freeze();

    auto del = match(r, method::del, "/users/me");
    REQUIRE(del.m.route != nullptr);
    CHECK(del.m.route->pattern == "/users/{id}");
    CHECK(del.req.param("id") == "me");

    auto get = match(r, method::get, "/users/me");
    REQUIRE(get.m.route != nullptr);
    CHECK(get.m.route->pattern == "/users/me");

    auto post = match(r, method::post, "/users/me");
    CHECK(post.m.route == nullptr);
    CHECK(post.m.path_matched);
    // Allow lists the methods of every route the path matches.
    CHECK(post.m.allow == "GET, DELETE");
}

TEST_CASE("router: HEAD falls back to GET but not to other methods", "[router]") {
    http::router r;
    r.get("/page", {}, answer("page"));
    r.post("/form", {}, answer("form"));
    r.freeze();

    auto head = match(r, method::head, "/page");
    REQUIRE(head.m.route != nullptr);
    CHECK(head.m.route->method == method::get);

    auto form = match(r, method::head, "/form");
    CHECK(form.m.route == nullptr);
    CHECK(form.m.path_matched);
    CHECK(form.m.allow == "POST");
}

TEST_CASE("router: an explicit HEAD route wins over the GET fallback", "[router]") {
    http::router r;
    r.get("/page", {}, answer("get"));
    r.add(method::head, "/page", {}, answer("head"));
    r.freeze();

    auto head = match(r, method::head, "/page");
    REQUIRE(head.m.route != nullptr);
    CHECK(head.m.route->method == method::head);
}

TEST_CASE("router: a duplicate route throws", "[router]") {
    http::router r;
    r.get("/events/{id}", {}, answer("a"));
    CHECK_THROWS_AS(r.get("/events/{id}", {}, answer("b")), std::logic_error);
    // The same path under another method is not a duplicate.
    CHECK_NOTHROW(r.post("/events/{id}", {}, answer("c")));
    // Two parameter names at the same position are ambiguous.
    CHECK_THROWS_AS(r.put("/events/{slug}", {}, answer("d")), std::logic_error);
}

TEST_CASE("router: adding a route or a middleware after freeze throws", "[router]") {
    http::router r;
    r.get("/a", {}, answer("a"));
    r.freeze();
    CHECK_THROWS_AS(r.get("/b", {}, answer("b")), std::logic_error);
    CHECK_THROWS_AS(r.use([](http::request& req, const http::handler& next) { return next(req); }),
                    std::logic_error);
    CHECK(r.routes().size() == 1);
}

TEST_CASE("router: middlewares run outermost first around every route", "[router]") {
    http::router r;
    std::vector<std::string> trace;
    auto tracer = [&trace](std::string name) -> http::middleware {
        return [&trace, name](http::request& req,
                              const http::handler& next) -> asio::awaitable<http::response> {
            trace.push_back(name + ">");
            http::response res = co_await next(req);
            trace.push_back("<" + name);
            res.body += "|" + name;
            co_return res;
        };
    };
    r.use(tracer("outer"));
    r.use(tracer("inner"));
    r.get("/x", {}, [&trace](http::request&) -> asio::awaitable<http::response> {
        trace.push_back("handler");
        co_return http::response::raw(200, "text/plain", "x");
    });
    r.get("/y", {}, answer("y"));
    std::vector<std::string> frozen;
    r.freeze([&frozen](http::route& rt) { frozen.push_back(rt.pattern); });
    CHECK(frozen == std::vector<std::string>{"/x", "/y"});

    auto m = match(r, method::get, "/x");
    REQUIRE(m.m.route != nullptr);
    REQUIRE(m.m.route->chain);
    http::response res = run(m.m.route->chain, m.req);
    CHECK(trace == std::vector<std::string>{"outer>", "inner>", "handler", "<inner", "<outer"});
    // The inner middleware saw the response first, so it appended first.
    CHECK(res.body == "x|inner|outer");

    trace.clear();
    auto y = match(r, method::get, "/y");
    REQUIRE(y.m.route != nullptr);
    CHECK(run(y.m.route->chain, y.req).body == "y|inner|outer");
    CHECK(trace.size() == 4);
}

TEST_CASE("router: a middleware may answer without calling the rest of the chain", "[router]") {
    http::router r;
    bool handler_ran = false;
    r.use([](http::request& req, const http::handler& next) -> asio::awaitable<http::response> {
        if (req.header("X-Block") == "yes") co_return http::response::raw(429, "text/plain", "");
        co_return co_await next(req);
    });
    r.get("/x", {}, [&handler_ran](http::request&) -> asio::awaitable<http::response> {
        handler_ran = true;
        co_return http::response::raw(200, "text/plain", "x");
    });
    r.freeze();

    auto m = match(r, method::get, "/x");
    REQUIRE(m.m.route != nullptr);
    m.req.headers.emplace_back("x-block", "yes");
    CHECK(run(m.m.route->chain, m.req).status == 429);
    CHECK_FALSE(handler_ran);

    m.req.headers.clear();
    CHECK(run(m.m.route->chain, m.req).status == 200);
    CHECK(handler_ran);
}

TEST_CASE("request: prefers weighs the Accept header's qualities and precision", "[request]") {
    auto prefers_svg = [](std::string_view accept) {
        http::request req;
        if (!accept.empty()) req.headers.emplace_back("Accept", std::string(accept));
        return req.prefers("image/svg+xml", "application/json");
    };
    CHECK(prefers_svg("image/svg+xml"));
    CHECK(prefers_svg("IMAGE/SVG+XML"));
    CHECK(prefers_svg("image/*"));
    CHECK(prefers_svg("image/svg+xml, */*;q=0.8"));
    CHECK(prefers_svg("application/json;q=0.5, image/svg+xml"));
    CHECK(prefers_svg("image/svg+xml, */*"));  // named beats a wildcard at the same quality
    CHECK_FALSE(prefers_svg(""));
    CHECK_FALSE(prefers_svg("*/*"));
    CHECK_FALSE(prefers_svg("application/json"));
    CHECK_FALSE(prefers_svg("application/json, image/svg+xml;q=0"));
    CHECK_FALSE(prefers_svg("image/svg+xml;q=0, */*"));
    CHECK_FALSE(prefers_svg("image/svg+xml;q=0.4, application/json;q=0.5"));
    CHECK_FALSE(prefers_svg("image/svg+xml, application/json"));  // a tie keeps the fallback
    CHECK_FALSE(prefers_svg("text/html, image/svg+xml ; q=0 , */*;q=0.1"));
}
