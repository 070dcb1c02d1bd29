#pragma once
// Everything a running Souk holds, built in dependency order and torn down in reverse.
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <memory>
#include <souk/kernel.hpp>
#include <thread>
#include <vector>

#include "app/cli.hpp"
#include "http/dispatch.hpp"
#include "http/server.hpp"
#include "http/static_files.hpp"

namespace souk::app {

// An io_context whose pending work can be destroyed on demand. Handlers queued on one context
// may hold executors of another (a coroutine hopping to a shard), so every context must be
// shut down while all of them still exist, before any is destroyed.
class io_context_owned : public boost::asio::io_context {
  public:
    using boost::asio::io_context::io_context;
    void shut_down() { shutdown(); }
};

class runtime {
  public:
    explicit runtime(config::settings s);
    ~runtime();

    // Serves until SIGINT/SIGTERM; returns the exit code.
    int serve();
    const http::router& routes() const { return router_; }

  private:
    void drain_and_stop();

    config::settings cfg_;
    souk::secrets secrets_;
    souk::offset_clock clock_;  // the system's, unless a test moves it (clock_offset_seconds)
    std::vector<std::unique_ptr<io_context_owned>> ios_;
    std::unique_ptr<db::database> db_;
    std::unique_ptr<bus::bus> bus_;
    std::unique_ptr<sched::scheduler> scheduler_;
    http::router router_;
    std::unique_ptr<http::rate_limiter> limiter_;
    std::unique_ptr<http::idempotency_guard> idempotency_;
    std::unique_ptr<inventory::engine> inventory_;
    std::unique_ptr<mail::mailer> mailer_;
    std::unique_ptr<boost::asio::thread_pool> cpu_pool_;
    std::unique_ptr<ops_state> ops_;
    std::unique_ptr<context> ctx_;
    std::string public_url_;
    std::vector<std::unique_ptr<module>> modules_;
};

}  // namespace souk::app
