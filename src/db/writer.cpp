#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <span>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cassert>
#include <chrono>
#include <souk/core/assert.hpp>
#include <souk/core/random.hpp>
#include <souk/core/thread.hpp>
#include <souk/db/writer.hpp>
#include <souk/log/log.hpp>

#include "file_probe.hpp"

namespace souk::db {

// ---- tx ------------------------------------------------------------------------------------

std::int64_t tx::insert_event(const bus::event& e, std::string_view payload_json, bool wanted) {
    prepare(
        "INSERT INTO outbox (id, type, payload, created_ms, delivered_ms) VALUES (?, ?, ?, ?, ?)")
        .run_with(e.id, e.type, payload_json, e.created_ms,
                  wanted ? std::nullopt : std::optional<std::int64_t>(e.created_ms));
    return c_.last_insert_rowid();
}

std::string tx::publish(std::string type, boost::json::value payload) {
    const bool to_deliver = wanted(type);
    bus::event e{new_id("evt"), std::move(type), std::move(payload), now_ms()};
    e.seq = insert_event(e, boost::json::serialize(e.payload), to_deliver);
    std::string id = e.id;
    if (to_deliver) events_.push_back(std::move(e));
    return id;
}

std::string tx::publish_json(std::string type, std::string_view payload_json) {
    const bool to_deliver = wanted(type);
    bus::event e{new_id("evt"), std::move(type), nullptr, now_ms()};
    e.seq = insert_event(e, payload_json, to_deliver);
    std::string id = e.id;
    if (to_deliver) {
        e.payload = boost::json::parse(payload_json);
        SOUK_ASSERT(e.payload.is_object());
        events_.push_back(std::move(e));
    }
    return id;
}

std::string tx::schedule(std::string kind, std::int64_t due_ms, boost::json::value payload) {
    timer_row t{new_id("tmr"), std::move(kind), due_ms, std::move(payload)};
    prepare("INSERT INTO timers (id, kind, due_ms, payload) VALUES (?, ?, ?, ?)")
        .bind_all(t.id, t.kind, t.due_ms, boost::json::serialize(t.payload))
        .run();
    std::string id = t.id;
    timers_.push_back(std::move(t));
    return id;
}

void tx::cancel_timer(const std::string& id) {
    prepare("UPDATE timers SET done_ms = ? WHERE id = ? AND done_ms IS NULL")
        .bind_all(now_ms(), id)
        .run();
    cancelled_.push_back(id);
}

void tx::audit(const audit_entry& e) {
    auto empty_null = [](const std::string& s) {
        return s.empty() ? std::optional<std::string>() : std::optional<std::string>(s);
    };
    prepare(
        "INSERT INTO audit_log (id, at_ms, tenant_id, actor_id, action, entity_type, entity_id, "
        "ip, user_agent, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .bind_all(new_id("aud"), now_ms(), empty_null(e.tenant_id), empty_null(e.actor_id),
                  e.action, e.entity_type, empty_null(e.entity_id), empty_null(e.ip),
                  empty_null(e.user_agent), boost::json::serialize(e.details))
        .run();
}

bool tx::first_delivery(std::string_view subscriber, std::string_view event_id) {
    prepare("INSERT OR IGNORE INTO inbox (subscriber, event_id) VALUES (?, ?)")
        .bind_all(subscriber, event_id)
        .run();
    return c_.changes() == 1;
}

void tx::add_to_row(const char* update_sql, std::string_view key, std::int64_t a, std::int64_t b) {
    auto row = std::find_if(additions_.begin(), additions_.end(), [&](const row_addition& r) {
        return r.sql == update_sql && r.key == key;
    });
    if (row == additions_.end())
        row = additions_.insert(additions_.end(), row_addition{update_sql, std::string(key)});
    row->a += a;
    row->b += b;
    job_additions_.push_back({static_cast<std::size_t>(row - additions_.begin()), a, b});
}

std::pair<std::int64_t, std::int64_t> tx::added_to_row(const char* update_sql,
                                                       std::string_view key) const {
    for (const auto& r : additions_)
        if (r.sql == update_sql && r.key == key) return {r.a, r.b};
    return {0, 0};
}

void tx::write_additions() {
    // Taken first: if a statement throws, the batch is rolled back and nothing is left pending.
    const auto rows = std::exchange(additions_, {});
    job_additions_.clear();
    for (const auto& r : rows)
        if (r.a != 0 || r.b != 0) prepare(r.sql).run_with(r.a, r.b, r.key);
}

void tx::begin_job() {
    job_now_ms_ = clock_.now_ms();
    events_mark_ = events_.size();
    timers_mark_ = timers_.size();
    cancelled_mark_ = cancelled_.size();
    job_additions_.clear();
}

void tx::rollback_job() {
    events_.resize(events_mark_);
    timers_.resize(timers_mark_);
    cancelled_.resize(cancelled_mark_);
    for (const auto& j : job_additions_) {
        additions_[j.row].a -= j.a;
        additions_[j.row].b -= j.b;
    }
    job_additions_.clear();
}

// ---- writer --------------------------------------------------------------------------------

namespace {

// Failures of the storage itself (disk full, I/O, read-only) are 503; anything else is a bug
// in the job's SQL and answers 500 without leaking the message (logged, unless `quiet`: a run
// that will be repeated in a savepoint, which logs it then).
error storage_error(const sql_error& e, bool quiet = false) {
    const int primary = e.code() & 0xff;
    if (primary == SQLITE_FULL || primary == SQLITE_IOERR || primary == SQLITE_READONLY ||
        primary == SQLITE_BUSY || primary == SQLITE_LOCKED || primary == SQLITE_CANTOPEN)
        return error::unavailable();
    if (!quiet) log::error("write job failed", {{"sqlite", e.what()}});
    return error::internal();
}

// After a batch had to run again, this many batches give each job a savepoint: failures come
// in runs (a storm of conflicts, a broken disk), and a savepoint is cheaper than running twice.
constexpr int careful_batches_after_a_failure = 16;

// A batch (its jobs, commit and fsync) that took this long is logged.
constexpr double slow_batch_seconds = 0.05;

bool in_transaction(connection& c) {
    return sqlite3_get_autocommit(c.handle()) == 0;
}

// A batch's BEGIN and COMMIT, prepared once on the writer's connection rather than parsed at
// every batch (sqlite3_exec).
void begin_immediate(connection& c) {
    c.prepare("BEGIN IMMEDIATE").run();
}

// The batch's row additions go in first (tx::add_to_row).
void commit(tx& t) {
    t.write_additions();
    t.prepare("COMMIT").run();
}

}  // namespace

writer::writer(std::unique_ptr<connection> conn, const souk::clock& clk, writer_options opts)
    : conn_(std::move(conn)), clock_(clk), opts_(std::move(opts)) {
    if (!opts_.sync_file.empty()) sync_thread_ = std::thread([this] { sync_loop(); });
    thread_ = std::thread([this] { loop(); });
}

writer::~writer() {
    stop();
}

void writer::deliver_only(delivery_filter f) {
    SOUK_ASSERT(!filtering_.load());
    wanted_ = std::move(f);
    filtering_.store(true, std::memory_order_release);
}

const delivery_filter* writer::delivery_filter_in_force() const {
    return filtering_.load(std::memory_order_acquire) ? &wanted_ : nullptr;
}

void writer::checkpoint_if_asked() {
    if (!checkpoint_wanted_.exchange(false, std::memory_order_relaxed)) return;
    try {
        (void)conn_->checkpoint_passive();
    } catch (const sql_error& e) {
        log::warn("writer checkpoint failed", {{"sqlite", e.what()}});
    }
}

void writer::submit(std::unique_ptr<write_job> job) {
    {
        std::lock_guard lock(mu_);
        if (!stopping_ && queue_.size() < opts_.queue_jobs_max) {
            queue_.push_back(std::move(job));
            cv_.notify_one();
            return;
        }
    }
    job->complete(error::unavailable("the writer is not accepting work"));
}

void writer::stop() {
    {
        std::lock_guard lock(mu_);
        if (stopping_ && !thread_.joinable()) return;
        stopping_ = true;
        cv_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
    {
        std::lock_guard lock(sync_mu_);
        sync_stopping_ = true;
        sync_cv_.notify_all();
    }
    if (sync_thread_.joinable()) sync_thread_.join();
    if (sync_fd_ >= 0) ::close(std::exchange(sync_fd_, -1));
}

writer_stats writer::stats() const {
    std::lock_guard lock(mu_);
    return stats_;
}

std::size_t writer::queue_depth() const {
    std::lock_guard lock(mu_);
    return queue_.size();
}

void writer::loop() {
    name_this_thread("souk-writer");
    for (;;) {
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping, and everything queued is done
        }
        checkpoint_if_asked();
        settle(run_batch());
    }
}

writer::ran_batch writer::run_batch() {
    ran_batch b;
    b.started = std::chrono::steady_clock::now();
    const auto deadline = b.started + std::chrono::microseconds(opts_.batch_wait_us_max);
    tx t(*conn_, clock_, delivery_filter_in_force());
    bool careful = careful_batches_ > 0;
    if (careful) --careful_batches_;
    bool batch_ok = true;
    try {
        begin_immediate(*conn_);
    } catch (const sql_error&) {
        batch_ok = false;
        std::lock_guard lock(mu_);
        if (!queue_.empty()) {  // answer at least one job so the loop makes progress
            b.jobs.push_back(std::move(queue_.front()));
            queue_.pop_front();
            b.outcomes.emplace_back();
        }
    }
    // Take jobs while they keep coming, up to the caps; each runs as soon as it is taken so
    // the next batch's jobs queue up while this one commits.
    while (batch_ok) {
        std::unique_ptr<write_job> job;
        {
            std::unique_lock lock(mu_);
            if (queue_.empty()) {
                // Committed now, these jobs would wait for the fsync in progress and then for
                // the next one: keep taking jobs until that fsync ends, then commit them all.
                if (!opts_.hold_open_while_syncing || !syncing_) break;
                cv_.wait_until(lock, deadline,
                               [&] { return stopping_ || !queue_.empty() || !syncing_; });
                if (queue_.empty()) break;
            }
            job = std::move(queue_.front());
            queue_.pop_front();
        }
        status outcome = run_job(t, *job, careful, batch_ok);
        b.jobs.push_back(std::move(job));
        b.outcomes.push_back(std::move(outcome));
        if (batch_ok && !careful && !b.outcomes.back().ok()) {
            // Its writes cannot be undone alone without a savepoint: run the batch again, each
            // job in a savepoint, and keep savepoints for the next batches too.
            careful = true;
            careful_batches_ = careful_batches_after_a_failure;
            batch_ok = run_again_carefully(t, b);
        }
        if (b.jobs.size() >= opts_.batch_jobs_max || std::chrono::steady_clock::now() >= deadline)
            break;
    }
    if (batch_ok) {
        try {
            commit(t);
        } catch (const sql_error& e) {
            batch_ok = false;
            log::warn("batch commit failed; retrying its jobs one by one", {{"sqlite", e.what()}});
        }
    }
    SOUK_ASSERT(b.jobs.size() == b.outcomes.size());
    SOUK_ASSERT(b.jobs.size() <= opts_.batch_jobs_max);
    if (!batch_ok) {
        if (in_transaction(*conn_)) {
            try {
                conn_->exec("ROLLBACK");
            } catch (const sql_error&) {
            }
        }
        {
            std::lock_guard lock(mu_);
            ++stats_.failed_commits;
        }
        // Retry each job alone so that one culprit cannot sink the others.
        for (std::size_t i = 0; i < b.jobs.size(); ++i)
            b.outcomes[i] = run_alone(*b.jobs[i], b);
        return b;
    }
    b.committed = b.wrote = true;
    b.events = t.take_events();
    b.timers = t.take_timers();
    b.cancelled = t.take_cancelled();
    std::lock_guard lock(mu_);
    stats_.jobs += b.jobs.size();
    ++stats_.commits;
    return b;
}

// Runs one job of the batch. In a savepoint when `in_savepoint`, so that a failure undoes the
// job alone; without one a failed job's writes stay until the caller rolls the batch back.
// batch_ok turns false when SQLite has rolled back the whole transaction (disk full, I/O).
status writer::run_job(tx& t, write_job& job, bool in_savepoint, bool& batch_ok) {
    t.begin_job();
    status outcome;
    try {
        if (in_savepoint) conn_->prepare("SAVEPOINT job").run();
        outcome = job.run(t);
        if (!outcome.ok()) t.rollback_job();
        if (in_savepoint) {
            if (!outcome.ok()) conn_->prepare("ROLLBACK TO job").run();
            conn_->prepare("RELEASE job").run();
        }
    } catch (const std::exception& ex) {
        t.rollback_job();
        const auto* e = dynamic_cast<const sql_error*>(&ex);
        if (e) {
            outcome = storage_error(*e, !in_savepoint);
        } else {
            if (in_savepoint) log::error("write job threw", {{"what", ex.what()}});
            outcome = error::internal();
        }
        if (!in_transaction(*conn_)) {
            batch_ok = false;
        } else if (in_savepoint) {
            try {
                conn_->prepare("ROLLBACK TO job").run();
                conn_->prepare("RELEASE job").run();
            } catch (const sql_error&) {
                batch_ok = false;
            }
        }
    }
    return outcome;
}

// Rolls the batch back and runs its jobs again, in order, each in a savepoint (write_job::run
// may run more than once). False when the transaction could not be started again.
bool writer::run_again_carefully(tx& t, ran_batch& b) {
    try {
        if (in_transaction(*conn_)) conn_->exec("ROLLBACK");
        begin_immediate(*conn_);
    } catch (const sql_error&) {
        return false;
    }
    (void)t.take_events();
    (void)t.take_timers();
    (void)t.take_cancelled();
    t.discard_additions();
    bool batch_ok = true;
    for (std::size_t i = 0; i < b.jobs.size() && batch_ok; ++i)
        b.outcomes[i] = run_job(t, *b.jobs[i], true, batch_ok);
    {
        std::lock_guard lock(mu_);
        ++stats_.batches_run_again;
    }
    return batch_ok;
}

// Runs one job in a transaction of its own, after its batch failed to commit.
status writer::run_alone(write_job& job, ran_batch& into) {
    tx t(*conn_, clock_, delivery_filter_in_force());
    t.begin_job();
    try {
        begin_immediate(*conn_);
        status outcome = job.run(t);
        if (!outcome.ok()) {
            conn_->exec("ROLLBACK");
            return outcome;
        }
        commit(t);
    } catch (const std::exception& ex) {
        // As in the batch: a job that throws something other than sql_error is a bug in the
        // job, answered with 500; letting it escape would end the writer thread.
        if (in_transaction(*conn_)) {
            try {
                conn_->exec("ROLLBACK");
            } catch (const sql_error&) {
            }
        }
        if (const auto* e = dynamic_cast<const sql_error*>(&ex)) return storage_error(*e);
        log::error("write job threw", {{"what", ex.what()}});
        return error::internal();
    }
    {
        std::lock_guard lock(mu_);
        ++stats_.jobs;
        ++stats_.commits;
    }
    into.wrote = true;
    auto append = [](auto& to, auto&& from) {
        to.insert(to.end(), std::make_move_iterator(from.begin()),
                  std::make_move_iterator(from.end()));
    };
    append(into.events, t.take_events());
    append(into.timers, t.take_timers());
    append(into.cancelled, t.take_cancelled());
    return {};
}

void writer::settle(ran_batch&& b) {
    if (opts_.sync_file.empty()) {
        answer({&b, 1});
        return;
    }
    {
        std::lock_guard lock(sync_mu_);
        // Behind the commit when the disk is slow: the writer runs the next batch meanwhile.
        // And while the sync thread holds earlier batches, so that answers keep commit order.
        if (sync_busy_ || !unsynced_.empty() ||
            last_sync_us_.load(std::memory_order_relaxed) >= opts_.sync_on_writer_below_us) {
            unsynced_.push_back(std::move(b));
            sync_cv_.notify_one();
            return;
        }
    }
    // A quick disk leaves little to overlap: the hand-offs to the sync thread and back would
    // cost more than the jobs arriving during this fsync wait for it (ADR 0020).
    sync_and_answer({&b, 1}, true);
}

void writer::sync_and_answer(std::span<ran_batch> committed, bool on_writer) {
    if (std::any_of(committed.begin(), committed.end(), [](const auto& b) { return b.wrote; }))
        sync_file(on_writer);
    answer(committed);
}

// Batches made durable together (one fsync covers them all): observers, listeners, then each
// job's completion, in commit order.
void writer::answer(std::span<ran_batch> durable) {
    const auto now = std::chrono::steady_clock::now();
    std::size_t jobs = 0;
    double oldest = 0;
    for (auto& b : durable) {
        if (!b.committed) continue;
        const double seconds = std::chrono::duration<double>(now - b.started).count();
        if (on_batch_) on_batch_(b.jobs.size(), seconds);
        jobs += b.jobs.size();
        oldest = std::max(oldest, seconds);
    }
    if (oldest >= slow_batch_seconds)  // its acknowledgements waited this long; once per fsync
        log::warn("slow batch", {{"ms", static_cast<std::int64_t>(oldest * 1000)},
                                 {"jobs", jobs},
                                 {"batches", durable.size()}});
    for (auto& b : durable) {
        if (on_commit_ && b.wrote)
            on_commit_(std::move(b.events), std::move(b.timers), std::move(b.cancelled));
        for (std::size_t i = 0; i < b.jobs.size(); ++i)
            b.jobs[i]->complete(std::move(b.outcomes[i]));
    }
}

// One fsync covers every batch committed before it starts: while it runs, the writer commits
// the next batches, which the next fsync covers. Batches are answered in commit order.
void writer::sync_loop() {
    name_this_thread("souk-wal-sync");
    std::vector<ran_batch> covered;
    for (;;) {
        {
            std::unique_lock lock(sync_mu_);
            sync_cv_.wait(lock, [&] { return sync_stopping_ || !unsynced_.empty(); });
            if (unsynced_.empty()) return;  // stopping, and everything is answered
            covered.swap(unsynced_);
            sync_busy_ = true;
        }
        sync_and_answer(covered, false);
        covered.clear();
        std::lock_guard lock(sync_mu_);
        sync_busy_ = false;
    }
}

void writer::sync_file(bool on_writer) {
    const char* path = opts_.sync_file.c_str();
    auto fail = [&](const char* what) {
        // Whether the unsynced commits reached the disk is unknown, and they are visible to
        // readers already: answering them either way could be a lie. Recovery at the next
        // start decides what is durable.
        log::error("WAL sync failed; stopping",
                   {{"file", opts_.sync_file}, {"what", what}, {"error", std::strerror(errno)}});
        std::abort();
    };
    const auto inode = inode_of(path);  // not stat(): file_probe.hpp
    if (!inode) fail("stat");
    if (sync_fd_ < 0 || *inode != sync_inode_) {
        // A new file: its directory entry must be durable too before a commit in it counts.
        if (sync_fd_ >= 0) ::close(sync_fd_);
        sync_fd_ = ::open(path, O_RDONLY | O_CLOEXEC);
        if (sync_fd_ < 0) fail("open");
        sync_inode_ = *inode;
        const auto dir = std::filesystem::path(opts_.sync_file).parent_path();
        const int dir_fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
        if (dir_fd < 0) fail("open directory");
        const int rc = ::fsync(dir_fd);
        ::close(dir_fd);
        if (rc != 0) fail("fsync directory");
    }
    {
        std::lock_guard lock(mu_);
        syncing_ = true;
    }
    const auto started = std::chrono::steady_clock::now();  // a test's before_sync counts
    if (opts_.before_sync) opts_.before_sync();
    if (::fdatasync(sync_fd_) != 0) fail("fdatasync");
    const auto took = std::chrono::steady_clock::now() - started;
    last_sync_us_.store(std::chrono::duration_cast<std::chrono::microseconds>(took).count(),
                        std::memory_order_relaxed);
    {
        std::lock_guard lock(mu_);
        syncing_ = false;
        ++stats_.wal_syncs;
        if (on_writer) ++stats_.wal_syncs_on_writer;
    }
    cv_.notify_all();  // a batch held open for this fsync commits now
    if (on_sync_) on_sync_(std::chrono::duration<double>(took).count(), on_writer);
}

}  // namespace souk::db
