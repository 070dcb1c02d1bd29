#pragma once
// What the kernel hands each module: configuration, storage, bus, scheduler, clock, router and
// the io executors (one per thread; the inventory engine's shards live on them).
#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>
#include <souk/bus/bus.hpp>
#include <souk/config/config.hpp>
#include <souk/core/clock.hpp>
#include <souk/db/database.hpp>
#include <souk/http/idempotency.hpp>
#include <souk/http/rate_limit.hpp>
#include <souk/http/router.hpp>
#include <souk/inventory/engine.hpp>
#include <souk/mail/mailer.hpp>
#include <souk/sched/scheduler.hpp>
#include <string>
#include <vector>

namespace souk {

struct secrets {
    std::string token_key;       // HMAC key for access tokens
    std::string webhook_secret;  // PSP webhook signatures
    std::string ticket_key;      // signs e-tickets and queue passes
};

struct context {
    const config::settings& cfg;
    const souk::secrets& secrets;
    db::database& db;
    bus::bus& bus;
    sched::scheduler& scheduler;
    const souk::clock& clock;
    http::router& router;
    http::rate_limiter& rate_limiter;
    mail::mailer& mail;
    inventory::engine& inventory;
    std::vector<boost::asio::any_io_executor> executors;
    // Where people reach this server (for links in mails), known once the listeners are bound.
    std::function<std::string()> public_url;
    // A small pool for CPU-heavy work (password hashing) so io threads never block on it.
    boost::asio::any_io_executor cpu;
};

// A bounded context. main builds each with the context; it registers routes, subscribes to
// events and timers. `ready` is awaited before /ready turns 200 (e.g. rebuilding memory state).
class module {
  public:
    virtual ~module() = default;
    virtual std::string_view name() const = 0;
    virtual boost::asio::awaitable<void> ready() { co_return; }
    virtual void stop() {}
    // What the running module keeps in memory against what it has stored, once ready: one line
    // per difference, none when they agree (`souk check` asks a running server; control.hpp).
    virtual boost::asio::awaitable<std::vector<std::string>> check_live() {
        co_return std::vector<std::string>{};
    }
};

}  // namespace souk
