#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <souk/http/json.hpp>
#include <souk/testkit/module.hpp>
#include <stdexcept>

namespace souk::testkit {

namespace {

using boost::asio::awaitable;
using http::request;
using http::response;

struct kv {
    std::string key;
    std::string value;
};

class testkit final : public module {
  public:
    explicit testkit(context& ctx) : ctx_(ctx) {
        auto& r = ctx.router;
        r.post("/api/v1/_test/echo", {.summary = "Echoes a JSON body (test only)"},
               [](request& req) -> awaitable<response> {
                   auto body = req.json();
                   if (!body.ok()) co_return response::fail(body.err(), req.request_id);
                   co_return response::ok(*body);
               });
        r.post("/api/v1/_test/boom", {.summary = "Throws inside a handler (test only)"},
               [](request&) -> awaitable<response> {
                   throw std::runtime_error("secret internals: /etc/passwd");
                   co_return response{};
               });
        r.post("/api/v1/_test/kv", {.summary = "Writes a key through the writer (test only)"},
               [this](request& req) -> awaitable<response> { co_return co_await write(req); });
        r.get("/api/v1/_test/kv/{key}", {.summary = "Reads a key (test only)"},
              [this](request& req) -> awaitable<response> { co_return co_await read(req); });
        r.get("/api/v1/_test/deliveries/{key}",
              {.summary = "Events delivered for a key (test only)"},
              [this](request& req) -> awaitable<response> { co_return co_await deliveries(req); });
        r.get("/api/v1/_test/slow", {.summary = "Answers after ?ms= milliseconds (test only)"},
              [](request& req) -> awaitable<response> {
                  const auto ms = std::stol(req.query_param("ms").value_or("100"));
                  boost::asio::steady_timer t(
                      co_await boost::asio::this_coro::executor,
                      std::chrono::milliseconds(std::clamp(ms, 0L, 30000L)));
                  co_await t.async_wait(boost::asio::use_awaitable);
                  co_return response::ok(boost::json::object{{"slept_ms", ms}});
              });
        r.post("/api/v1/_test/disk-full",
               {.summary = "Makes the writer's disk look full, or not (test only)"},
               [this](request& req) -> awaitable<response> { co_return co_await disk_full(req); });
        ctx.bus.subscribe(
            "testkit.written", "testkit.recorder",
            [this](const bus::event& e) -> awaitable<status> { co_return co_await record(e); });
        ctx.scheduler.on("testkit.timer", [this](const db::timer_row& t) -> awaitable<status> {
            const std::string key(t.payload.at("key").as_string());
            auto r = co_await ctx_.db.writer().write<bool>([key](db::tx& x) -> result<bool> {
                x.prepare(
                     "INSERT OR REPLACE INTO testkit_kv (key, value, created_ms) VALUES (?, "
                     "'fired', ?)")
                    .bind_all(key, x.now_ms())
                    .run();
                return true;
            });
            if (!r.ok()) co_return r.err();
            co_return status{};
        });
    }

    std::string_view name() const override { return "testkit"; }

  private:
    // {key, value, publish?: bool, timer_ms?: int}
    awaitable<response> write(request& req) {
        auto body = req.json();
        if (!body.ok()) co_return response::fail(body.err(), req.request_id);
        json::fields f(*body);
        auto key = f.required_string("key", 1, 200);
        auto value = f.required_string("value", 0, 100000);
        auto publish = f.optional_bool("publish");
        auto timer_ms = f.optional_int("timer_ms", 0, 86'400'000);
        if (auto s = f.check(); !s.ok()) co_return response::fail(s.err(), req.request_id);
        kv item{*key, *value};
        const bool pub = publish.value_or(false);
        auto r = co_await ctx_.db.writer().write<std::string>([item, pub, timer_ms](db::tx& t)
                                                                  -> result<std::string> {
            auto& exists = t.prepare("SELECT 1 FROM testkit_kv WHERE key = ?");
            exists.bind(1, item.key);
            if (exists.step()) return error::conflict("CONFLICT", "key exists");
            t.prepare("INSERT INTO testkit_kv (key, value, created_ms) VALUES (?, ?, ?)")
                .bind_all(item.key, item.value, t.now_ms())
                .run();
            std::string event_id;
            if (pub) event_id = t.publish("testkit.written", {{"key", item.key}});
            if (timer_ms)
                t.schedule("testkit.timer", t.now_ms() + *timer_ms, {{"key", item.key + ".timer"}});
            return event_id;
        });
        if (!r.ok()) co_return response::fail(r.err(), req.request_id);
        co_return response::ok(boost::json::object{{"key", item.key}, {"event_id", *r}}, 201);
    }

    awaitable<response> read(request& req) {
        std::string key(req.param("key"));
        auto r = co_await ctx_.db.read<std::optional<kv>>(
            [key](db::connection& c) -> result<std::optional<kv>> {
                auto& st = c.prepare("SELECT key, value FROM testkit_kv WHERE key = ?");
                st.bind(1, key);
                std::optional<kv> out;
                if (st.step()) out = kv{st.text(0), st.text(1)};
                st.reset();
                return out;
            });
        if (!r.ok()) co_return response::fail(r.err(), req.request_id);
        if (!*r) co_return response::fail(error::not_found(), req.request_id);
        co_return response::ok(boost::json::object{{"key", (*r)->key}, {"value", (*r)->value}});
    }

    awaitable<response> deliveries(request& req) {
        std::string key(req.param("key"));
        auto r =
            co_await ctx_.db.read<std::int64_t>([key](db::connection& c) -> result<std::int64_t> {
                auto& st = c.prepare("SELECT COUNT(*) FROM testkit_deliveries WHERE key = ?");
                st.bind(1, key);
                st.step();
                const auto n = st.int64(0);
                st.reset();
                return n;
            });
        if (!r.ok()) co_return response::fail(r.err(), req.request_id);
        co_return response::ok(boost::json::object{{"key", key}, {"deliveries", *r}});
    }

    // {"full": true|false}. Full caps the writer connection's database at its current page count
    // (PRAGMA max_page_count), so SQLite answers SQLITE_FULL to whatever needs a new page: a real
    // disk full as far as SQLite can tell. Returns the cap now in force.
    awaitable<response> disk_full(request& req) {
        auto body = req.json();
        if (!body.ok()) co_return response::fail(body.err(), req.request_id);
        json::fields f(*body);
        auto full = f.optional_bool("full");
        if (!full) f.fail("full", "must be true or false");
        if (auto s = f.check(); !s.ok()) co_return response::fail(s.err(), req.request_id);
        auto r = co_await ctx_.db.writer().write<std::int64_t>(
            [on = *full](db::tx& t) -> result<std::int64_t> {
                std::int64_t cap = 4294967294;
                if (on) {
                    auto& pc = t.conn().prepare("PRAGMA page_count");
                    pc.step();
                    cap = pc.int64(0);
                    pc.reset();
                }
                auto& st = t.conn().prepare("PRAGMA max_page_count = " + std::to_string(cap));
                std::int64_t now = 0;
                if (st.step()) now = st.int64(0);
                st.reset();
                return now;
            });
        if (!r.ok()) co_return response::fail(r.err(), req.request_id);
        co_return response::ok(boost::json::object{{"full", *full}, {"max_page_count", *r}});
    }

    // Idempotent on the event id, as every subscriber must be. While a file named
    // testkit-block-delivery exists in the data directory every delivery fails, so a test can
    // hold an event committed but undelivered (and then crash the server) deterministically.
    awaitable<status> record(const bus::event& e) {
        std::error_code ec;
        if (std::filesystem::exists(
                std::filesystem::path(ctx_.cfg.data_dir) / "testkit-block-delivery", ec))
            co_return error::unavailable("testkit: delivery blocked");
        const std::string id = e.id;
        const std::string key(e.payload.at("key").as_string());
        auto r = co_await ctx_.db.writer().write<bool>([id, key](db::tx& t) -> result<bool> {
            if (!t.first_delivery("testkit.recorder", id)) return false;
            t.prepare(
                 "INSERT INTO testkit_deliveries (event_id, key, delivered_ms) VALUES (?, ?, ?)")
                .bind_all(id, key, t.now_ms())
                .run();
            return true;
        });
        if (!r.ok()) co_return r.err();
        co_return status{};
    }

    context& ctx_;
};

}  // namespace

std::unique_ptr<module> make_module(context& ctx) {
    return std::make_unique<testkit>(ctx);
}

}  // namespace souk::testkit
