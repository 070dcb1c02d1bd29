#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <souk/bus/bus.hpp>
#include <souk/db/database.hpp>
#include <souk/log/log.hpp>

namespace souk::bus {

namespace {
// Redelivery backs off up to this; it never gives up (at least once means at least once).
constexpr std::int64_t backoff_ms_max = 30'000;
}  // namespace

bus::bus(boost::asio::any_io_executor ex, db::database& db,
         std::chrono::milliseconds delivery_delay)
    : ex_(std::move(ex)), db_(db), delivery_delay_(delivery_delay) {}

void bus::subscribe(std::string type, std::string name, subscriber s) {
    subscribers_.push_back({std::move(type), std::move(name), std::move(s)});
}

void bus::start() {
    auto pending =
        db_.read_sync<std::vector<event>>([](db::connection& c) -> result<std::vector<event>> {
            std::vector<event> out;
            auto& st = c.prepare(
                "SELECT id, type, payload, created_ms, seq FROM outbox WHERE delivered_ms IS NULL "
                "ORDER BY seq");
            while (st.step())
                out.push_back({st.text(0), st.text(1), boost::json::parse(st.text_view(2)),
                               st.int64(3), st.int64(4)});
            st.reset();
            return out;
        });
    if (!pending.ok()) throw std::runtime_error("bus: cannot read the outbox");
    if (!pending->empty()) log::info("redelivering outbox events", {{"count", pending->size()}});
    db_.writer().deliver_only([this](std::string_view type) { return has_subscriber(type); });
    committed(std::move(*pending));
}

void bus::committed(std::vector<event>&& events) {
    if (events.empty()) return;
    {
        std::lock_guard lock(mu_);
        in_flight_ += static_cast<std::int64_t>(events.size());
    }
    for (auto& e : events) {
        if (!has_subscriber(e.type)) {
            // Nobody listens: nothing to deliver, only the mark to make.
            mark_delivered(e.seq);
            std::lock_guard lock(mu_);
            --in_flight_;
            continue;
        }
        boost::asio::co_spawn(ex_, deliver(std::move(e), 0), boost::asio::detached);
    }
}

bool bus::has_subscriber(std::string_view type) const {
    for (const auto& s : subscribers_)
        if (s.type == "*" || s.type == type) return true;
    return false;
}

std::int64_t bus::backlog() const {
    std::lock_guard lock(mu_);
    return in_flight_;
}

boost::asio::awaitable<void> bus::deliver(event e, int attempt) {
    if (delivery_delay_.count() > 0) {
        boost::asio::steady_timer t(ex_, delivery_delay_);
        co_await t.async_wait(boost::asio::use_awaitable);
    }
    for (;; ++attempt) {
        bool all_ok = true;
        for (const auto& s : subscribers_) {
            if (s.type != "*" && s.type != e.type) continue;
            try {
                status st = co_await s.fn(e);
                if (!st.ok()) {
                    all_ok = false;
                    log::warn("subscriber failed", {{"subscriber", s.name},
                                                    {"event", e.id},
                                                    {"error", st.err().code},
                                                    {"attempt", attempt}});
                }
            } catch (const std::exception& ex) {
                all_ok = false;
                log::error("subscriber threw",
                           {{"subscriber", s.name}, {"event", e.id}, {"what", ex.what()}});
            }
        }
        if (all_ok) break;
        // Back off and deliver again (every subscriber: they deduplicate on the event id).
        const auto backoff =
            std::min<std::int64_t>(backoff_ms_max, std::int64_t{100} << std::min(attempt, 12));
        boost::asio::steady_timer t(ex_, std::chrono::milliseconds(backoff));
        co_await t.async_wait(boost::asio::use_awaitable);
    }
    mark_delivered(e.seq);
    std::lock_guard lock(mu_);
    --in_flight_;
}

// Marks are batched (one write job per flush, not one per event): marking is an optimisation,
// a lost mark only means one more delivery after a crash.
void bus::mark_delivered(std::int64_t seq) {
    std::lock_guard lock(mu_);
    delivered_.push_back(seq);
    if (delivered_.size() >= delivered_batch_max) {
        flush_delivered_locked();
    } else if (!flush_scheduled_) {
        flush_scheduled_ = true;
        auto t = std::make_shared<boost::asio::steady_timer>(ex_, std::chrono::milliseconds(20));
        t->async_wait([this, t](boost::system::error_code) {
            std::lock_guard l(mu_);
            flush_delivered_locked();
        });
    }
}

void bus::flush_delivered_locked() {
    flush_scheduled_ = false;
    if (delivered_.empty()) return;
    db_.writer().submit(std::make_unique<db::detail::sync_job<bool>>(
        [seqs = std::exchange(delivered_, {})](db::tx& t) -> result<bool> {
            for (const auto seq : seqs)
                t.prepare("UPDATE outbox SET delivered_ms = ? WHERE seq = ?")
                    .bind_all(t.now_ms(), seq)
                    .run();
            return true;
        }));
}

boost::asio::awaitable<void> bus::drain() {
    auto ex = co_await boost::asio::this_coro::executor;
    {
        std::lock_guard lock(mu_);
        flush_delivered_locked();
    }
    for (int i = 0; i < 500 && backlog() > 0; ++i) {
        boost::asio::steady_timer t(ex, std::chrono::milliseconds(10));
        co_await t.async_wait(boost::asio::use_awaitable);
    }
}

}  // namespace souk::bus
