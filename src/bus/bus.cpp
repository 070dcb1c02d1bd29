#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <souk/bus/bus.hpp>
#include <souk/core/poll.hpp>
#include <souk/db/database.hpp>
#include <souk/log/log.hpp>

namespace souk::bus {

namespace {
// Redelivery backs off up to this; it never gives up (at least once means at least once).
constexpr std::int64_t backoff_ms_max = 30'000;
// Outbox rows a purge deletes per write job: the writer's other jobs wait that long.
constexpr std::int64_t purge_chunk = 4'096;

struct seq_range {
    std::int64_t first = 0;  // the oldest row
    std::int64_t end = 0;    // the first row created at or after the cut-off (or past the last)
};

// The rows older than before_ms, by binary search over seq: rows are appended in commit
// order, so created_ms grows with seq (a clock stepping back can only misplace the cut by
// the rows of that moment). A few rowid lookups instead of reading every old row.
seq_range rows_before(db::connection& c, std::int64_t before_ms) {
    auto& at_or_after =
        c.prepare("SELECT seq, created_ms FROM outbox WHERE seq >= ? ORDER BY seq LIMIT 1");
    auto row_from = [&](std::int64_t seq) -> std::optional<std::pair<std::int64_t, std::int64_t>> {
        at_or_after.bind(1, seq);
        std::optional<std::pair<std::int64_t, std::int64_t>> r;
        if (at_or_after.step()) r.emplace(at_or_after.int64(0), at_or_after.int64(1));
        at_or_after.reset();
        return r;
    };
    auto& last = c.prepare("SELECT COALESCE(MAX(seq), 0) FROM outbox");
    const std::int64_t max_seq = last.step() ? last.int64(0) : 0;
    last.reset();
    const auto oldest = row_from(0);
    if (!oldest || oldest->second >= before_ms) return {};
    // Invariant: the row at or after lo is older than the cut; rows at or after hi are not.
    std::int64_t lo = oldest->first, hi = max_seq + 1;
    while (hi - lo > 1) {
        const std::int64_t mid = lo + (hi - lo) / 2;
        const auto r = row_from(mid);
        if (r && r->second < before_ms)
            lo = r->first;  // old, so before hi: lo moves on
        else
            hi = mid;  // no row from mid on, or the first one is new: all from mid on are new
    }
    return {oldest->first, hi};
}
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

boost::asio::awaitable<std::int64_t> bus::purge(std::int64_t before_ms) {
    auto range = co_await db_.read<seq_range>(
        [before_ms](db::connection& c) -> result<seq_range> { return rows_before(c, before_ms); });
    if (!range.ok()) co_return 0;
    std::int64_t purged = 0;
    for (std::int64_t from = range->first; from < range->end; from += purge_chunk) {
        const std::int64_t to = std::min(from + purge_chunk, range->end);
        auto n = co_await db_.writer().write<std::int64_t>([from,
                                                            to](db::tx& t) -> result<std::int64_t> {
            t.prepare("DELETE FROM outbox WHERE seq >= ? AND seq < ? AND delivered_ms IS NOT NULL")
                .bind_all(from, to)
                .run();
            return t.conn().changes();
        });
        if (!n.ok()) break;  // the writer is failing: the next sweep tries again
        purged += *n;
    }
    if (purged > 0) log::info("outbox purged", {{"events", purged}});
    co_return purged;
}

boost::asio::awaitable<void> bus::drain() {
    {
        std::lock_guard lock(mu_);
        flush_delivered_locked();
    }
    co_await poll_until([this] { return backlog() == 0; }, std::chrono::milliseconds(10),
                        std::chrono::seconds(5));
}

}  // namespace souk::bus
