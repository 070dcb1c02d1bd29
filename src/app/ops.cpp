#include <souk/embedded.hpp>
#include <souk/metrics/metrics.hpp>

#include "app/cli.hpp"

namespace souk::app {

namespace {

std::string_view openapi_document() {
    for (const auto& f : embedded::api_docs())
        if (f.path == "openapi.json") return f.bytes;
    return "{}";
}

prometheus::Gauge& gauge(const char* name, const char* help) {
    return prometheus::BuildGauge().Name(name).Help(help).Register(metrics::registry()).Add({});
}

}  // namespace

void register_ops_routes(http::router& r, ops_state& st) {
    r.get("/health", {.summary = "Liveness"},
          [](http::request&) -> boost::asio::awaitable<http::response> {
              co_return http::response::raw(200, "application/json", R"({"status":"ok"})");
          });

    r.get("/ready", {.summary = "Readiness: database writable, modules loaded"},
          [&st](http::request& req) -> boost::asio::awaitable<http::response> {
              if (!st.ready.load()) {
                  co_return http::response::fail(error::unavailable("starting"), req.request_id);
              }
              auto probe = co_await st.db.writer().write<bool>([](db::tx& t) -> result<bool> {
                  t.prepare(
                       "INSERT INTO kernel_probe (id, touched_ms) VALUES (1, ?) ON CONFLICT "
                       "(id) DO UPDATE SET touched_ms = excluded.touched_ms")
                      .bind(1, t.now_ms())
                      .run();
                  return true;
              });
              if (!probe.ok()) {
                  co_return http::response::fail(error::unavailable("database not writable"),
                                                 req.request_id);
              }
              co_return http::response::raw(200, "application/json", R"({"status":"ready"})");
          });

    static auto& backlog = gauge("souk_outbox_backlog", "Events committed but not yet delivered");
    static auto& queue = gauge("souk_writer_queue_depth", "Write jobs waiting for the writer");
    static auto& timers = gauge("souk_scheduler_pending_timers", "Durable timers waiting to fire");
    r.get("/metrics", {.summary = "Prometheus metrics"},
          [&st](http::request&) -> boost::asio::awaitable<http::response> {
              backlog.Set(static_cast<double>(st.bus.backlog()));
              queue.Set(static_cast<double>(st.db.writer().queue_depth()));
              timers.Set(static_cast<double>(st.scheduler.pending()));
              co_return http::response::raw(200, "text/plain; version=0.0.4; charset=utf-8",
                                            metrics::expose());
          });

    r.get("/api/v1/openapi.json", {.summary = "This API's OpenAPI 3 document"},
          [](http::request&) -> boost::asio::awaitable<http::response> {
              co_return http::response::raw(200, "application/json",
                                            std::string(openapi_document()));
          });
}

}  // namespace souk::app
