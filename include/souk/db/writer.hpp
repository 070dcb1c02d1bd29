#pragma once
// ONE writer thread commits jobs in groups: many jobs, one transaction, one fsync. A job that
// fails is rolled back alone (write_job::run says how); a job is completed (on the
// caller's executor) only after the batch has committed — and is durable: with a sync_file the
// writer syncs the WAL itself after the commit while the disk is quick, and on a second thread,
// behind the commit, while the writer runs the next batch, when it is slow
// (docs/decisions/0013-wal-sync-behind.md, 0020-wal-sync-on-the-writer-while-quick.md).
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <souk/bus/event.hpp>
#include <souk/core/clock.hpp>
#include <souk/core/result.hpp>
#include <souk/db/connection.hpp>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace souk::db {

struct timer_row {
    std::string id;
    std::string kind;
    std::int64_t due_ms = 0;
    boost::json::value payload;
};

// One line of the audit log; written in the same transaction as the change it describes.
struct audit_entry {
    std::string actor_id;  // empty: the system or an anonymous caller
    std::string action;    // "<module>.<what>", e.g. "identity.login_failed"
    std::string entity_type;
    std::string entity_id;
    std::string ip;
    std::string user_agent;
    std::string tenant_id;
    boost::json::object details = {};
};

// Which event types have subscribers (the bus answers, once they have all subscribed).
using delivery_filter = std::function<bool(std::string_view type)>;

// What a write job sees: the connection plus the outbox and the durable timers.
class tx {
  public:
    tx(connection& c, const souk::clock& clk, const delivery_filter* wanted = nullptr)
        : c_(c), clock_(clk), wanted_(wanted) {}
    connection& conn() { return c_; }
    statement& prepare(std::string_view sql) { return c_.prepare(sql); }
    // The job's time: one instant for everything a job writes (a row's created_ms and the
    // expiry computed from it agree to the millisecond), read when the job starts.
    std::int64_t now_ms() const { return job_now_ms_ >= 0 ? job_now_ms_ : clock_.now_ms(); }

    // Writes the event to the outbox in this transaction; delivered after commit (an event
    // without subscribers is written as delivered: there is nothing to do after the commit).
    std::string publish(std::string type, boost::json::value payload);
    // The same with the payload already serialized (a JSON object), for hot paths: it is parsed
    // only when the event has subscribers.
    std::string publish_json(std::string type, std::string_view payload_json);
    // A durable timer, fired on the io_context at due_ms (and after a restart if missed).
    std::string schedule(std::string kind, std::int64_t due_ms, boost::json::value payload);
    void cancel_timer(const std::string& id);
    // Appends to the audit log in this transaction.
    void audit(const audit_entry& e);
    // Inbox for idempotent subscribers: true the first time (subscriber, event id) is seen.
    bool first_delivery(std::string_view subscriber, std::string_view event_id);
    // Adds a and b to two integer columns of one row, written once per batch just before it
    // commits: `update_sql` takes the two amounts and then the row's key, as in
    // "UPDATE zones SET held = held + ?, confirmed = confirmed + ? WHERE id = ?". Every
    // reservation of a rush adds to its zone's counters: one UPDATE per batch instead of one per
    // job. Within the batch the row reads as it was (no job reads it back); constraints are
    // checked on the sums. `update_sql` must outlive the batch (a literal).
    void add_to_row(const char* update_sql, std::string_view key, std::int64_t a, std::int64_t b);
    // What the batch has added to that row so far and not written yet: a job that reads the row
    // and wants it as the batch leaves it adds this (the same update_sql pointer, and key).
    std::pair<std::int64_t, std::int64_t> added_to_row(const char* update_sql,
                                                       std::string_view key) const;

    // Writer internals: per job bookkeeping.
    void begin_job();
    void rollback_job();
    // Runs the batch's row additions (before COMMIT); forgets them (after a ROLLBACK).
    void write_additions();
    void discard_additions() { additions_.clear(); }
    std::vector<bus::event> take_events() { return std::exchange(events_, {}); }
    std::vector<timer_row> take_timers() { return std::exchange(timers_, {}); }
    std::vector<std::string> take_cancelled() { return std::exchange(cancelled_, {}); }

  private:
    bool wanted(std::string_view type) const { return !wanted_ || (*wanted_)(type); }
    // Inserts the outbox row; returns its seq.
    std::int64_t insert_event(const bus::event& e, std::string_view payload_json, bool wanted);

    connection& c_;
    const souk::clock& clock_;
    const delivery_filter* wanted_;
    std::vector<bus::event> events_;
    std::vector<timer_row> timers_;
    std::vector<std::string> cancelled_;
    std::size_t events_mark_ = 0, timers_mark_ = 0, cancelled_mark_ = 0;
    std::int64_t job_now_ms_ = -1;
    struct row_addition {
        const char* sql;
        std::string key;
        std::int64_t a = 0, b = 0;
    };
    struct job_addition {  // what the running job added, undone if it fails
        std::size_t row;
        std::int64_t a, b;
    };
    std::vector<row_addition> additions_;  // one per (sql, key): a batch touches few rows
    std::vector<job_addition> job_additions_;
};

class write_job {
  public:
    virtual ~write_job() = default;
    // Runs inside the batch transaction. An error (or an exception) undoes this job's writes
    // only: the writer runs jobs without a savepoint while none fails, and when one does it rolls
    // the batch back and runs its jobs again, each in a savepoint. So run may be called more
    // than once (also after a failed COMMIT): keep its effects inside the transaction and what
    // it returns, never accumulate outside them.
    virtual status run(tx& t) = 0;
    // After the batch commits (ok) or for a job that failed (error). Called once.
    virtual void complete(status outcome) = 0;
};

struct writer_options {
    std::size_t batch_jobs_max = 256;
    std::int64_t batch_wait_us_max = 2000;  // a batch stops collecting after this long
    std::size_t queue_jobs_max = 100'000;   // beyond this, writes are refused with 503
    // Empty: a commit is as durable as the connection's synchronous setting makes it. Else the
    // connection commits without syncing (synchronous=NORMAL) and this file, the WAL, is
    // fdatasync'ed behind the commits; a batch's jobs complete after the fsync that covers it.
    std::string sync_file;
    // With a sync_file: a batch whose queue runs dry while an fsync is in progress stays open
    // for the jobs arriving meanwhile (within batch_wait_us_max) and commits when that fsync
    // ends: its jobs would wait for the next fsync anyway, and fewer, larger commits write
    // fewer WAL pages (ADR 0015).
    bool hold_open_while_syncing = true;
    // With a sync_file: while the last fdatasync took less than this and the sync thread is
    // idle, the writer syncs and answers a batch itself — two thread hand-offs fewer per batch
    // — rather than running the next batch during the fsync (ADR 0020). 0: always the sync
    // thread.
    std::int64_t sync_on_writer_below_us = 1000;
    // Tests: runs on the syncing thread just before each fdatasync.
    std::function<void()> before_sync;
};

struct writer_stats {
    std::uint64_t jobs = 0;
    std::uint64_t commits = 0;
    std::uint64_t failed_commits = 0;
    std::uint64_t wal_syncs = 0;            // fdatasyncs of the sync_file
    std::uint64_t wal_syncs_on_writer = 0;  // of which the writer thread made itself
    std::uint64_t batches_run_again = 0;    // a job failed without a savepoint: run in savepoints
};

class writer {
  public:
    // Called on the writer thread after each commit with what the batch published and scheduled.
    using commit_listener = std::function<void(std::vector<bus::event>&&, std::vector<timer_row>&&,
                                               std::vector<std::string>&& cancelled)>;
    // batch size and commit duration, for metrics
    using batch_observer = std::function<void(std::size_t jobs, double seconds)>;
    // each fdatasync of the WAL: how long, and whether the writer made it (else the sync thread)
    using sync_observer = std::function<void(double seconds, bool on_writer)>;

    writer(std::unique_ptr<connection> conn, const souk::clock& clk, writer_options opts);
    ~writer();
    writer(const writer&) = delete;
    writer& operator=(const writer&) = delete;

    void on_commit(commit_listener l) { on_commit_ = std::move(l); }
    // Set once (the bus does, when it starts); batches begun afterwards use it.
    void deliver_only(delivery_filter f);
    void on_batch(batch_observer o) { on_batch_ = std::move(o); }
    void on_sync(sync_observer o) { on_sync_ = std::move(o); }

    // Queues a job; refuses it (completing with 503) when the queue is full or stopped.
    void submit(std::unique_ptr<write_job> job);

    // co_await writer.write<T>([](tx& t) -> result<T> {...}): resumes after the commit.
    template <class T>
    boost::asio::awaitable<result<T>> write(std::function<result<T>(tx&)> fn);
    // The same for a completion handler already in hand (an async initiation's): it is posted
    // to its associated executor after the commit.
    template <class T, class Handler>
    void write_then(std::function<result<T>(tx&)> fn, Handler handler);
    // Blocking form for the CLI and tests; never call it on an io thread.
    template <class T>
    result<T> write_sync(std::function<result<T>(tx&)> fn);

    // Asks for one PASSIVE checkpoint on the writer's own connection between two batches: it
    // copies the few frames committed since the background checkpoint, so that the next batch
    // finds the WAL fully copied and starts it again from the beginning (database.cpp).
    void request_checkpoint() { checkpoint_wanted_.store(true, std::memory_order_relaxed); }

    // Finishes every queued job, then stops the thread. Idempotent.
    void stop();
    writer_stats stats() const;
    std::size_t queue_depth() const;

  private:
    // A batch that has run (committed, or failed and retried job by job), waiting to be made
    // durable and answered.
    struct ran_batch {
        std::vector<std::unique_ptr<write_job>> jobs;
        std::vector<status> outcomes;
        std::vector<bus::event> events;
        std::vector<timer_row> timers;
        std::vector<std::string> cancelled;
        std::chrono::steady_clock::time_point started;
        bool committed = false;  // as one group; false: its jobs were retried one by one
        bool wrote = false;      // something reached the WAL
    };

    void loop();
    const delivery_filter* delivery_filter_in_force() const;  // null until deliver_only
    void checkpoint_if_asked();                               // between batches
    ran_batch run_batch();
    status run_job(tx& t, write_job& job, bool in_savepoint, bool& batch_ok);
    bool run_again_carefully(tx& t, ran_batch& b);
    status run_alone(write_job& job, ran_batch& into);
    // Makes the batch durable and answers it: at once, or through the sync thread.
    void settle(ran_batch&& b);
    void sync_and_answer(std::span<ran_batch> committed, bool on_writer);
    void answer(std::span<ran_batch> durable);
    void sync_loop();
    void sync_file(bool on_writer);  // fdatasync of opts_.sync_file; a failure ends the process

    std::unique_ptr<connection> conn_;
    const souk::clock& clock_;
    writer_options opts_;
    commit_listener on_commit_;
    batch_observer on_batch_;
    sync_observer on_sync_;
    delivery_filter wanted_;
    std::atomic<bool> filtering_{false};  // wanted_ is set
    std::atomic<bool> checkpoint_wanted_{false};
    int careful_batches_ = 0;  // batches still to run with a savepoint per job (writer thread)
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::unique_ptr<write_job>> queue_;
    bool stopping_ = false;
    bool syncing_ = false;  // an fdatasync of the WAL is in progress
    writer_stats stats_;

    // The sync thread's side (only with opts_.sync_file).
    std::mutex sync_mu_;
    std::condition_variable sync_cv_;
    std::vector<ran_batch> unsynced_;
    bool sync_busy_ = false;  // the sync thread holds batches it has not answered yet
    bool sync_stopping_ = false;
    // Used by whichever thread syncs: the sync thread, or the writer while sync_busy_ is false
    // and unsynced_ empty (sync_mu_ orders the two).
    int sync_fd_ = -1;
    std::uint64_t sync_inode_ = 0;
    std::atomic<std::int64_t> last_sync_us_{0};
    std::thread sync_thread_;

    std::thread thread_;
};

namespace detail {

// A job that runs fn in the batch and keeps what it returned for complete(): what write's and
// write_sync's jobs share; they differ in how they hand the result over.
template <class T>
class value_job : public write_job {
  public:
    explicit value_job(std::function<result<T>(tx&)> fn) : fn_(std::move(fn)) {}
    status run(tx& t) override {
        value_.emplace(fn_(t));
        if (!value_->ok()) return value_->err();
        return {};
    }

  protected:
    // What the caller gets (once): the job's value after a commit, the job's own error when it
    // failed, else the writer's (the batch could not commit).
    result<T> take_result(status outcome) {
        if (outcome.ok()) return value_ ? std::move(*value_) : result<T>(error::internal());
        if (value_ && !value_->ok()) return std::move(*value_);
        return result<T>(std::move(outcome).err());
    }

  private:
    std::function<result<T>(tx&)> fn_;
    std::optional<result<T>> value_;
};

template <class T, class Handler>
class async_job final : public value_job<T> {
  public:
    async_job(std::function<result<T>(tx&)> fn, Handler h)
        : value_job<T>(std::move(fn)),
          handler_(std::move(h)),
          work_(boost::asio::make_work_guard(
              boost::asio::get_associated_executor(handler_, boost::asio::system_executor()))) {}

    void complete(status outcome) override {
        auto ex = work_.get_executor();
        boost::asio::post(
            ex, [h = std::move(handler_), r = this->take_result(std::move(outcome))]() mutable {
                std::move(h)(std::move(r));
            });
        work_.reset();
    }

  private:
    Handler handler_;
    boost::asio::executor_work_guard<
        boost::asio::associated_executor_t<Handler, boost::asio::system_executor>>
        work_;
};

template <class T>
class sync_job final : public value_job<T> {
  public:
    explicit sync_job(std::function<result<T>(tx&)> fn) : value_job<T>(std::move(fn)) {}
    std::future<result<T>> future() { return promise_.get_future(); }
    void complete(status outcome) override {
        promise_.set_value(this->take_result(std::move(outcome)));
    }

  private:
    std::promise<result<T>> promise_;
};

}  // namespace detail

template <class T, class Handler>
void writer::write_then(std::function<result<T>(tx&)> fn, Handler handler) {
    submit(std::make_unique<detail::async_job<T, Handler>>(std::move(fn), std::move(handler)));
}

template <class T>
boost::asio::awaitable<result<T>> writer::write(std::function<result<T>(tx&)> fn) {
    // Not a coroutine itself: the initiation owns fn until the job is queued.
    return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(result<T>)>(
        [this, fn = std::move(fn)](auto handler) mutable {
            this->template write_then<T>(std::move(fn), std::move(handler));
        },
        boost::asio::use_awaitable);
}

template <class T>
result<T> writer::write_sync(std::function<result<T>(tx&)> fn) {
    auto job = std::make_unique<detail::sync_job<T>>(std::move(fn));
    auto fut = job->future();
    submit(std::move(job));
    return fut.get();
}

}  // namespace souk::db
