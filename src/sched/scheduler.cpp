#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <souk/core/poll.hpp>
#include <souk/db/database.hpp>
#include <souk/log/log.hpp>
#include <souk/metrics/metrics.hpp>
#include <souk/sched/scheduler.hpp>

namespace souk::sched {

namespace {

prometheus::Family<prometheus::Counter>& runs_family() {
    static auto& f = prometheus::BuildCounter()
                         .Name("souk_scheduler_runs_total")
                         .Help("Durable timers fired, by kind and result")
                         .Register(metrics::registry());
    return f;
}

constexpr std::int64_t retry_ms = 5000;
constexpr std::size_t fire_parallel_max = 64;

}  // namespace

scheduler::scheduler(boost::asio::any_io_executor ex, db::database& db, const souk::clock& clk)
    : ex_(ex), db_(db), clock_(clk), timer_(ex) {}

void scheduler::on(std::string kind, handler h) {
    handlers_[std::move(kind)] = std::move(h);
}

void scheduler::start() {
    auto rows = db_.read_sync<std::vector<db::timer_row>>(
        [](db::connection& c) -> result<std::vector<db::timer_row>> {
            std::vector<db::timer_row> out;
            auto& st = c.prepare(
                "SELECT id, kind, due_ms, payload FROM timers WHERE done_ms IS NULL ORDER BY "
                "due_ms");
            while (st.step())
                out.push_back(
                    {st.text(0), st.text(1), st.int64(2), boost::json::parse(st.text_view(3))});
            st.reset();
            return out;
        });
    if (!rows.ok()) throw std::runtime_error("scheduler: cannot read timers");
    committed(std::move(*rows), {});
}

void scheduler::stop() {
    std::lock_guard lock(mu_);
    stopped_ = true;
    boost::asio::post(ex_, [this] { timer_.cancel(); });
}

boost::asio::awaitable<void> scheduler::drain() {
    co_await poll_until([this] { return firing_.load() == 0; }, std::chrono::milliseconds(10),
                        std::chrono::seconds(5));
}

void scheduler::committed(std::vector<db::timer_row>&& added,
                          std::vector<std::string>&& cancelled) {
    if (added.empty() && cancelled.empty()) return;
    {
        std::lock_guard lock(mu_);
        // Added before cancelled: a job may schedule a timer and cancel it in the same batch.
        // A timer already known (committed before start() loaded it) is not added twice.
        for (auto& t : added) {
            if (!due_by_id_.emplace(t.id, t.due_ms).second) continue;
            due_.emplace(t.due_ms, std::move(t));
        }
        for (const auto& id : cancelled) {
            auto it = due_by_id_.find(id);
            if (it == due_by_id_.end()) continue;
            auto [lo, hi] = due_.equal_range(it->second);
            for (auto d = lo; d != hi; ++d) {
                if (d->second.id == id) {
                    due_.erase(d);
                    break;
                }
            }
            due_by_id_.erase(it);
        }
    }
    boost::asio::post(ex_, [this] { arm(); });
}

std::size_t scheduler::pending() const {
    std::lock_guard lock(mu_);
    return due_.size();
}

// Runs on ex_: points the one steady timer at the earliest due timer.
void scheduler::arm() {
    std::int64_t next;
    {
        std::lock_guard lock(mu_);
        if (stopped_ || due_.empty()) return;
        next = due_.begin()->first;
    }
    const auto wait = std::chrono::milliseconds(std::max<std::int64_t>(0, next - clock_.now_ms()));
    timer_.expires_after(wait);
    timer_.async_wait([this](boost::system::error_code ec) {
        if (ec) return;  // re-armed or stopped
        boost::asio::co_spawn(
            ex_,
            [this]() -> boost::asio::awaitable<void> {
                co_await fire_due();
                arm();
            },
            boost::asio::detached);
    });
}

boost::asio::awaitable<int> scheduler::fire_due() {
    std::vector<db::timer_row> ready;
    {
        std::lock_guard lock(mu_);
        const auto now = clock_.now_ms();
        while (!due_.empty() && due_.begin()->first <= now) {
            due_by_id_.erase(due_.begin()->second.id);
            ready.push_back(std::move(due_.begin()->second));
            due_.erase(due_.begin());
        }
    }
    // Timers are independent: fire them side by side (a slow handler, such as a webhook to a
    // slow peer, must not hold up the others), a bounded number at a time.
    for (std::size_t i = 0; i < ready.size(); i += fire_parallel_max) {
        using op =
            decltype(boost::asio::co_spawn(ex_, fire(db::timer_row{}), boost::asio::deferred));
        std::vector<op> ops;
        for (std::size_t j = i; j < std::min(ready.size(), i + fire_parallel_max); ++j)
            ops.push_back(
                boost::asio::co_spawn(ex_, fire(std::move(ready[j])), boost::asio::deferred));
        co_await boost::asio::experimental::make_parallel_group(std::move(ops))
            .async_wait(boost::asio::experimental::wait_for_all(), boost::asio::use_awaitable);
    }
    co_return static_cast<int>(ready.size());
}

boost::asio::awaitable<void> scheduler::fire(db::timer_row t) {
    ++firing_;
    struct done_firing {
        std::atomic<int>& n;
        ~done_firing() { --n; }
    } done{firing_};
    auto h = handlers_.find(t.kind);
    status outcome = error::internal();
    if (h == handlers_.end()) {
        log::error("no handler for timer kind", {{"kind", t.kind}, {"id", t.id}});
    } else {
        try {
            outcome = co_await h->second(t);
        } catch (const std::exception& e) {
            log::error("timer handler threw", {{"kind", t.kind}, {"what", e.what()}});
        }
    }
    ++runs_;
    runs_family().Add({{"kind", t.kind}, {"result", outcome.ok() ? "ok" : "error"}}).Increment();
    const bool ok = outcome.ok();
    const std::string id = t.id;
    auto marked = co_await db_.writer().write<bool>([id, ok](db::tx& x) -> result<bool> {
        if (ok) {
            x.prepare("UPDATE timers SET done_ms = ? WHERE id = ?").bind_all(x.now_ms(), id).run();
        } else {
            x.prepare("UPDATE timers SET attempts = attempts + 1, due_ms = ? WHERE id = ?")
                .bind_all(x.now_ms() + retry_ms, id)
                .run();
        }
        return true;
    });
    if (!ok && h != handlers_.end()) {
        t.due_ms = clock_.now_ms() + retry_ms;
        std::vector<db::timer_row> again;
        again.push_back(std::move(t));
        committed(std::move(again), {});
    }
    (void)marked;
}

}  // namespace souk::sched
