#pragma once
// Routes: a method and a pattern ("/api/v1/events/{id}") with what the kernel enforces before
// the handler runs (who may call, body limit, JSON bodies), matched on a segment trie.
#include <array>
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <souk/http/request.hpp>
#include <souk/http/response.hpp>
#include <string>
#include <vector>

namespace prometheus {
class Counter;
class Histogram;
}  // namespace prometheus

namespace souk::http {

using handler = std::function<boost::asio::awaitable<response>(request&)>;
// A middleware wraps the rest of the chain; it may answer early or call next.
using middleware = std::function<boost::asio::awaitable<response>(request&, const handler& next)>;
// Identifies the caller from the request (installed by the identity module); an error is the
// answer (401 UNAUTHENTICATED, TOKEN_EXPIRED, ...).
using authenticator = std::function<result<principal>(const request&)>;

enum class access {
    anyone,  // no authentication
    user,    // any authenticated caller
    roles,   // an authenticated caller holding one of route_options::roles
};

struct route_options {
    http::access access = http::access::anyone;
    std::vector<std::string> roles = {};
    bool idempotent = false;           // requires an Idempotency-Key
    bool idempotency_in_job = false;   // the handler checks and records it in its write job
    std::string rate_class = {};       // empty: not rate limited
    std::size_t body_limit = 1 << 20;  // bytes
    bool json_body = true;             // POST/PUT/PATCH bodies must be application/json
    std::string summary = {};          // one line for the OpenAPI document
};

struct route {
    http::method method;
    std::string pattern;
    std::string name;  // "POST /api/v1/bookings/reserve": idempotency keys are per route name
    route_options options;
    handler raw_handler;
    handler chain;  // raw_handler wrapped in the middlewares, built by router::freeze
    // Metrics per status class (1xx..5xx), resolved once so the hot path does no label lookups.
    std::array<prometheus::Counter*, 5> requests{};
    std::array<prometheus::Histogram*, 5> latency{};
};

struct match_result {
    const http::route* route = nullptr;
    bool path_matched = false;  // some route has this path, under another method (405)
    std::string allow;          // methods allowed on the path, for 405
};

class router {
  public:
    router();
    ~router();
    router(const router&) = delete;
    router& operator=(const router&) = delete;

    void add(http::method m, std::string pattern, route_options options, handler h);
    void get(std::string pattern, route_options o, handler h) {
        add(method::get, std::move(pattern), std::move(o), std::move(h));
    }
    void post(std::string pattern, route_options o, handler h) {
        add(method::post, std::move(pattern), std::move(o), std::move(h));
    }
    void put(std::string pattern, route_options o, handler h) {
        add(method::put, std::move(pattern), std::move(o), std::move(h));
    }
    void del(std::string pattern, route_options o, handler h) {
        add(method::del, std::move(pattern), std::move(o), std::move(h));
    }
    // Middlewares run in the order added, outermost first, around every route.
    void use(middleware m);
    void set_authenticator(authenticator a) { authenticator_ = std::move(a); }
    // Consulted when authentication fails on a route: may answer instead (429 for a client that
    // keeps presenting bad tokens), so failures cannot bypass the route's rate limit.
    using auth_failure_hook = std::function<std::optional<response>(request&)>;
    void on_auth_failure(auth_failure_hook h) { auth_failure_ = std::move(h); }
    const auth_failure_hook& auth_failure() const { return auth_failure_; }
    const authenticator& auth() const { return authenticator_; }
    // Builds each route's chain; no route or middleware may be added afterwards.
    void freeze(const std::function<void(route&)>& on_route = {});

    // Fills req.params on success.
    match_result match(http::method m, std::string_view path, request& req) const;
    const std::vector<std::unique_ptr<route>>& routes() const { return routes_; }

  private:
    struct node;
    std::unique_ptr<node> root_;
    std::vector<std::unique_ptr<route>> routes_;
    std::vector<middleware> middlewares_;
    authenticator authenticator_;
    auth_failure_hook auth_failure_;
    bool frozen_ = false;
};

}  // namespace souk::http
