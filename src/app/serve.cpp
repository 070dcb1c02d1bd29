#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <souk/core/poll.hpp>
#include <souk/core/thread.hpp>
#include <souk/log/log.hpp>
#include <souk/metrics/metrics.hpp>

#include <souk/booking/booking.hpp>
#include <souk/identity/identity.hpp>

#include "app/control.hpp"
#include "app/runtime.hpp"

namespace souk::app {

namespace asio = boost::asio;

namespace {

std::size_t thread_count(const config::settings& s) {
    if (s.server.threads > 0) return static_cast<std::size_t>(s.server.threads);
    return std::max(1u, std::thread::hardware_concurrency());
}

void observe_writer(db::writer& w) {
    static auto& batch = prometheus::BuildHistogram()
                             .Name("souk_db_commit_batch_jobs")
                             .Help("Write jobs per group commit")
                             .Register(metrics::registry())
                             .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32,
                                                                              64, 128, 256, 512});
    static auto& latency = prometheus::BuildHistogram()
                               .Name("souk_db_commit_duration_seconds")
                               .Help(
                                   "Time from a batch's BEGIN until it is durable (its COMMIT, and "
                                   "the WAL fsync behind it)")
                               .Register(metrics::registry())
                               .Add({}, metrics::latency_buckets());
    w.on_batch([](std::size_t jobs, double seconds) {
        batch.Observe(static_cast<double>(jobs));
        latency.Observe(seconds);
    });
    static auto& fsyncs = prometheus::BuildHistogram()
                              .Name("souk_db_wal_fsync_duration_seconds")
                              .Help(
                                  "Each fdatasync of the WAL, by the thread that made it: the "
                                  "writer while the disk is quick, the sync thread after a slow "
                                  "one (ADR 0020)")
                              .Register(metrics::registry());
    static auto& on_writer = fsyncs.Add({{"thread", "writer"}}, metrics::latency_buckets());
    static auto& on_sync_thread = fsyncs.Add({{"thread", "sync"}}, metrics::latency_buckets());
    w.on_sync([](double seconds, bool by_writer) {
        (by_writer ? on_writer : on_sync_thread).Observe(seconds);
    });
}

std::string public_url(const config::settings& s, std::uint16_t http_port,
                       std::uint16_t https_port) {
    if (!s.server.public_url.empty()) return s.server.public_url;
    const std::string host = s.server.host == "0.0.0.0" ? "localhost" : s.server.host;
    if (s.server.https) return "https://" + host + ":" + std::to_string(https_port) + "/";
    return "http://" + host + ":" + std::to_string(http_port) + "/";
}

}  // namespace

runtime::runtime(config::settings s)
    : cfg_(std::move(s)), clock_(std::chrono::seconds(cfg_.clock_offset_seconds)) {
    secrets_ = load_secrets(cfg_);
    for (std::size_t i = 0; i < thread_count(cfg_); ++i)
        ios_.push_back(std::make_unique<io_context_owned>(1));
    db_ = std::make_unique<db::database>(database_options(cfg_), clock_);
    observe_writer(db_->writer());
    bus_ = std::make_unique<bus::bus>(
        ios_.front()->get_executor(), *db_,
        std::chrono::milliseconds(
            cfg_.raw.at("testing").at("bus_delivery_delay_ms").to_number<std::int64_t>()));
    scheduler_ = std::make_unique<sched::scheduler>(ios_.front()->get_executor(), *db_, clock_);
    db_->writer().on_commit([this](std::vector<bus::event>&& events,
                                   std::vector<db::timer_row>&& timers,
                                   std::vector<std::string>&& cancelled) {
        bus_->committed(std::move(events));
        scheduler_->committed(std::move(timers), std::move(cancelled));
    });
    ops_ = std::unique_ptr<ops_state>(new ops_state{*db_, *bus_, *scheduler_});
    register_ops_routes(router_, *ops_);
    // Until every module has loaded (the inventory rebuilt from SQLite), the API answers 503:
    // a request must not see a half-loaded catalog (a published show answering 404).
    router_.use(
        [this](http::request& req, const http::handler& next) -> asio::awaitable<http::response> {
            if (!ops_->ready.load(std::memory_order_acquire) && req.path.starts_with("/api/") &&
                req.path != "/api/v1/openapi.json") {
                error e = error::unavailable("starting up; try again in a moment");
                e.headers.emplace_back("Retry-After", "1");
                co_return http::response::fail(e, req.request_id);
            }
            co_return co_await next(req);
        });
    limiter_ = std::make_unique<http::rate_limiter>(clock_);
    for (const auto& [cls, v] : cfg_.raw.at("rate_limits").get_object()) {
        limiter_->set_limit(std::string(cls), {v.at("per_second").to_number<double>(),
                                               v.at("burst").to_number<double>()});
    }
    router_.use(limiter_->as_middleware());
    router_.on_auth_failure(
        [l = limiter_.get()](http::request& req) { return l->limit_unauthenticated(req); });
    idempotency_ = std::make_unique<http::idempotency_guard>(*db_, clock_);
    router_.use(idempotency_->as_middleware());
    mailer_ = mail::make_mailer(cfg_, ios_.front()->get_executor());
    cpu_pool_ = std::make_unique<asio::thread_pool>(2);
    std::vector<asio::any_io_executor> executors;
    for (auto& io : ios_)
        executors.push_back(io->get_executor());
    inventory_ = std::make_unique<inventory::engine>(executors, clock_);
    ctx_ = std::unique_ptr<context>(new context{
        cfg_, secrets_, *db_, *bus_, *scheduler_, clock_, router_, *limiter_, *mailer_, *inventory_,
        executors, [this] { return public_url_; }, cpu_pool_->get_executor()});
    modules_ = build_modules(*ctx_);
    router_.freeze(http::attach_route_metrics);
}

runtime::~runtime() {
    for (auto& io : ios_)
        io->stop();
    for (auto& io : ios_)
        io->shut_down();
    for (auto it = modules_.rbegin(); it != modules_.rend(); ++it)
        (*it)->stop();
    if (cpu_pool_) cpu_pool_->join();
    if (db_) db_->stop();
}

int runtime::serve() {
    const auto assets = cfg_.server.static_dir.empty()
                            ? http::static_files::from_embedded(embedded::web_assets())
                            : http::static_files::from_directory(cfg_.server.static_dir);
    std::shared_ptr<asio::ssl::context> tls;
    if (cfg_.server.https)
        tls = http::make_tls_context(cfg_.server.tls_cert, cfg_.server.tls_key, cfg_.data_dir);

    http::server_options so;
    so.host = cfg_.server.host;
    so.http_port = cfg_.server.http_port;
    so.https_port = cfg_.server.https ? cfg_.server.https_port : -1;
    so.max_connections = cfg_.server.max_connections;
    so.header_limit_bytes = static_cast<std::size_t>(cfg_.server.header_limit_bytes);
    so.body_limit_bytes = static_cast<std::size_t>(cfg_.server.body_limit_bytes);
    so.read_timeout = std::chrono::milliseconds(cfg_.server.read_timeout_ms);
    so.idle_timeout = std::chrono::milliseconds(cfg_.server.idle_timeout_ms);

    http::dispatcher secure(router_, &assets, {.log_requests = cfg_.log_requests});
    http::dispatch_options plain_opts{.log_requests = cfg_.log_requests};
    plain_opts.redirect_to_https = cfg_.server.http_mode == "redirect";
    http::dispatcher plain(router_, &assets, plain_opts);

    std::vector<asio::io_context*> ios;
    for (auto& io : ios_)
        ios.push_back(io.get());
    http::server srv(ios, so, secure, plain, tls);
    srv.start();
    if (plain_opts.redirect_to_https) {
        // Known only once bound (the port may be ephemeral); no io thread runs yet.
        const std::string host = cfg_.server.host == "0.0.0.0" ? "localhost" : cfg_.server.host;
        plain.set_https_origin("https://" + host + ":" + std::to_string(srv.https_port()));
    }

    public_url_ = public_url(cfg_, srv.http_port(), srv.https_port());
    bus_->start();
    scheduler_->start();
    control_socket control(*ios_.front(), control_socket_path(cfg_), modules_, ops_->ready);
    control.start();
    asio::steady_timer self_check(*ios_.front());
    if (cfg_.server.self_check_seconds > 0)
        asio::co_spawn(
            *ios_.front(),
            check_live_state_every(self_check, std::chrono::seconds(cfg_.server.self_check_seconds),
                                   modules_, ops_->ready),
            asio::detached);

    // Request log lines are block-buffered for speed; flush them at least once a second.
    asio::steady_timer log_flush(*ios_.front());
    std::function<void()> flush_logs = [&] {
        log_flush.expires_after(std::chrono::seconds(1));
        log_flush.async_wait([&](boost::system::error_code ec) {
            if (ec) return;
            log::flush();
            flush_logs();
        });
    };
    flush_logs();

    // Idempotency keys live 24 h, delivered events 7 days; sweep hourly.
    asio::steady_timer purge_timer(*ios_.front());
    std::function<void()> purge = [&] {
        purge_timer.expires_after(std::chrono::hours(1));
        purge_timer.async_wait([&](boost::system::error_code ec) {
            if (ec) return;
            asio::co_spawn(*ios_.front(), idempotency_->purge(), asio::detached);
            asio::co_spawn(*ios_.front(), bus_->purge(clock_.now_ms() - bus::outbox_retention_ms),
                           asio::detached);
            purge();
        });
    };
    purge();

    // Installed before "listening" is printed: a signal from then on is a graceful stop.
    asio::signal_set signals(*ios_.front(), SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code ec, int sig) {
        if (ec) return;
        log::info("shutting down", {{"signal", sig}});
        srv.drain();
        // In-flight requests finish; then the io threads are stopped.
        asio::co_spawn(
            *ios_.front(),
            [&]() -> asio::awaitable<void> {
                co_await poll_until([&] { return srv.connections() == 0; },
                                    std::chrono::milliseconds(10), std::chrono::seconds(10));
                control.stop();
                self_check.cancel();
                co_await bus_->drain();
                scheduler_->stop();
                co_await scheduler_->drain();
                inventory_->stop();
                purge_timer.cancel();
                log_flush.cancel();
                for (auto& io : ios_)
                    io->stop();
            },
            asio::detached);
    });

    boost::json::object listening{{"env", cfg_.env},
                                  {"http_port", srv.http_port()},
                                  {"url", public_url_},
                                  {"threads", ios_.size()}};
    if (tls) listening["https_port"] = srv.https_port();
    // "listening" is announced once every module has loaded, so whoever waits for it (people,
    // scripts, tests) meets a ready server; until then the API answers 503 (see the gate above).
    asio::co_spawn(
        *ios_.front(),
        [this, listening = std::move(listening)]() mutable -> asio::awaitable<void> {
            for (auto& m : modules_)
                co_await m->ready();
            ops_->ready.store(true, std::memory_order_release);
            log::info("listening", std::move(listening));
            log::flush();
        },
        asio::detached);

    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < ios_.size(); ++i) {
        threads.emplace_back([io = ios_[i].get(), i] {
            name_this_thread("souk-io-" + std::to_string(i));
            auto guard = asio::make_work_guard(*io);
            io->run();
        });
    }
    {
        // The main thread keeps the process's name ("souk") but serves io_context 0.
        auto guard = asio::make_work_guard(*ios_.front());
        ios_.front()->run();
    }
    for (auto& io : ios_)
        io->stop();
    for (auto& t : threads)
        t.join();
    for (auto it = modules_.rbegin(); it != modules_.rend(); ++it)
        (*it)->stop();
    db_->stop();  // the writer finishes every queued job before it stops
    log::info("stopped");
    log::flush();
    return exit_ok;
}

void seed_demo(const config::settings& s, std::FILE* out) {
    system_clock clk;
    db::database d(database_options(s), clk);
    const std::string organizer =
        identity::ensure_user(d, "organizer@souk.test", "Olivia Organizer", "organizer-demo-2026",
                              {"member", "organizer"});
    identity::ensure_user(d, "member@souk.test", "Max Member", "member-demo-2026", {"member"});
    identity::ensure_user(d, "admin@souk.test", "Ada Admin", "admin-demo-2026",
                          {"member", "admin"});
    const int created = booking::seed_demo(d, clk, organizer);
    d.stop();
    std::fprintf(out,
                 "\nDemo data ready (%d new event(s)). Log in as:\n"
                 "  member     member@souk.test     / member-demo-2026\n"
                 "  organizer  organizer@souk.test  / organizer-demo-2026\n"
                 "  admin      admin@souk.test      / admin-demo-2026\n\n",
                 created);
}

int cmd_demo(const args& a) {
    if (a.has("help")) {
        std::puts(
            "usage: souk demo [--env E] [--config FILE] [--set key=value]\n"
            "Adds the demo users and events (idempotent) and prints the log-ins.");
        return exit_ok;
    }
    auto s = load_settings(a);
    if (!s) return exit_usage;
    // A running server would not see the new events in its memory (they would be listed but not
    // bookable until it restarts): refused, as restore is.
    const int lock = lock_data_dir(*s);
    if (lock < 0) {
        std::fprintf(stderr,
                     "souk demo: a server is running on %s; stop it first, or start it with "
                     "`souk serve --demo`\n",
                     s->data_dir.c_str());
        return exit_failure;
    }
    seed_demo(*s, stdout);
    ::close(lock);
    return exit_ok;
}

int cmd_serve(const args& a) {
    if (a.has("help")) {
        std::puts(
            "usage: souk serve [--env E] [--config FILE] [--set key=value]... [--demo]\n"
            "Runs the server until SIGINT or SIGTERM, then drains in-flight requests.");
        return exit_ok;
    }
    auto s = load_settings(a);
    if (!s) return exit_usage;
    const int lock = lock_data_dir(*s);
    if (lock < 0) {
        std::fprintf(stderr, "souk serve: another server holds %s\n", s->data_dir.c_str());
        return exit_failure;
    }
    // Before any thread starts: they inherit the policy.
    if (s->server.cpu_scheduling == "batch" && !schedule_as_batch_work())
        log::warn("SCHED_BATCH refused; running under the default policy",
                  {{"error", std::strerror(errno)}});
    if (a.has("demo")) seed_demo(*s, stderr);
    runtime rt(std::move(*s));
    return rt.serve();
}

}  // namespace souk::app
