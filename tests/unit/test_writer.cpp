// The group-commit writer against a real SQLite file: batching, acknowledgement after commit,
// per-job rollback, the outbox, retry after a failed commit, and the co_await form.
#include <sys/stat.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <souk/db/database.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "db/file_probe.hpp"
#include "support.hpp"

namespace asio = boost::asio;
namespace db = souk::db;
using souk::error;
using souk::result;
using souk::status;
using souk::test::temp_dir;

namespace {

// Long enough that a batch never closes on time while a test holds it open with a gate_job.
constexpr std::int64_t batch_wait_us_held = 60'000'000;
constexpr auto wait_max = std::chrono::seconds(30);

db::writer_options held_batches(std::size_t batch_jobs_max = 256) {
    db::writer_options o;
    o.batch_jobs_max = batch_jobs_max;
    o.batch_wait_us_max = batch_wait_us_held;
    return o;
}

void insert_item(db::tx& t, std::int64_t id, std::string_view who = "t") {
    t.prepare("INSERT INTO items (id, who) VALUES (?, ?)").bind_all(id, who).run();
}

// A database in a scratch directory with an `items` table, a `parent`/`child` pair whose
// foreign key is only checked at COMMIT, and a read-only connection of the test's own.
struct rig {
    temp_dir dir;
    souk::system_clock clock;
    db::database database;
    db::connection reader;

    explicit rig(db::writer_options w = {})
        : database(db::database_options{dir.file("souk.db"), "FULL", 2, w}, clock),
          reader(dir.file("souk.db"), db::open_mode::read_only) {
        auto made = writer().write_sync<bool>([](db::tx& t) -> result<bool> {
            t.conn().exec(
                "CREATE TABLE items (id INTEGER PRIMARY KEY, who TEXT NOT NULL);"
                "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
                "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL "
                "REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);");
            return true;
        });
        REQUIRE(made.ok());
    }

    db::writer& writer() { return database.writer(); }

    std::int64_t count(const std::string& sql) { return count_on(reader, sql); }
    static std::int64_t count_on(db::connection& c, const std::string& sql) {
        auto& st = c.prepare(sql);
        const bool row = st.step();
        const std::int64_t n = row ? st.int64(0) : -1;
        st.reset();
        return n;
    }
    bool has_item(std::int64_t id) {
        return count("SELECT COUNT(*) FROM items WHERE id = " + std::to_string(id)) == 1;
    }
};

// A job built from a function, reporting its outcome through a future.
class fn_job final : public db::write_job {
  public:
    using run_fn = std::function<status(db::tx&)>;
    using complete_fn = std::function<void(const status&)>;

    explicit fn_job(run_fn fn, complete_fn on_complete = {})
        : fn_(std::move(fn)), on_complete_(std::move(on_complete)) {}
    std::future<status> outcome() { return done_.get_future(); }
    const std::atomic<int>& runs() const { return runs_; }

    status run(db::tx& t) override {
        ++runs_;
        return fn_(t);
    }
    void complete(status s) override {
        if (on_complete_) on_complete_(s);
        done_.set_value(std::move(s));
    }

  private:
    run_fn fn_;
    complete_fn on_complete_;
    std::promise<status> done_;
    std::atomic<int> runs_{0};
};

// Holds the writer thread inside its batch until opened, so that the jobs submitted meanwhile
// queue up and are all taken into that same batch. Runs again (without waiting) on a retry.
class gate_job final : public db::write_job {
  public:
    gate_job() : open_(opened_.get_future().share()) {}
    std::future<void> entered() { return entered_.get_future(); }
    void open() { opened_.set_value(); }

    status run(db::tx&) override {
        if (first_) {
            first_ = false;
            entered_.set_value();
            if (open_.wait_for(wait_max) != std::future_status::ready)
                return error::internal();  // the test forgot to open the gate
        }
        return {};
    }
    void complete(status) override {}

  private:
    bool first_ = true;
    std::promise<void> entered_;
    std::promise<void> opened_;
    std::shared_future<void> open_;
};

bool ready(std::future<status>& f) {
    return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
}

// Runs `fns` as one batch: the gate holds the writer until every job is queued. `before_open`
// runs while the batch is held (nothing is committed yet).
std::vector<status> run_as_one_batch(db::writer& w, const std::vector<fn_job::run_fn>& fns,
                                     const std::function<void()>& before_open = {}) {
    auto gate = std::make_unique<gate_job>();
    gate_job& g = *gate;
    auto entered = g.entered();
    w.submit(std::move(gate));
    REQUIRE(entered.wait_for(wait_max) == std::future_status::ready);
    std::vector<std::future<status>> futures;
    for (const auto& fn : fns) {
        auto job = std::make_unique<fn_job>(fn);
        futures.push_back(job->outcome());
        w.submit(std::move(job));
    }
    REQUIRE(w.queue_depth() == fns.size());
    if (before_open) before_open();
    for (auto& f : futures)
        CHECK_FALSE(ready(f));  // nothing is acknowledged before the commit
    g.open();
    std::vector<status> out;
    for (auto& f : futures) {
        REQUIRE(f.wait_for(wait_max) == std::future_status::ready);
        out.push_back(f.get());
    }
    return out;
}

// What the writer's commit listener was handed, across commits.
struct commit_log {
    std::mutex mu;
    std::vector<souk::bus::event> events;
    std::vector<db::timer_row> timers;
    std::vector<std::string> cancelled;
    int calls_with_events = 0;

    void attach(db::writer& w) {
        w.on_commit([this](std::vector<souk::bus::event>&& e, std::vector<db::timer_row>&& t,
                           std::vector<std::string>&& c) {
            std::lock_guard lock(mu);
            if (!e.empty()) ++calls_with_events;
            for (auto& x : e)
                events.push_back(std::move(x));
            for (auto& x : t)
                timers.push_back(std::move(x));
            for (auto& x : c)
                cancelled.push_back(std::move(x));
        });
    }
    std::vector<std::string> event_ids() {
        std::lock_guard lock(mu);
        std::vector<std::string> ids;
        for (const auto& e : events)
            ids.push_back(e.id);
        return ids;
    }
};

}  // namespace

TEST_CASE("writer: concurrent writers share commits and are acknowledged after commit",
          "[writer]") {
    rig r;
    constexpr int threads_count = 8;
    constexpr int jobs_per_thread = 250;
    const auto before = r.writer().stats();

    std::atomic<int> failed{0}, invisible{0}, wrong_value{0};
    std::vector<std::thread> threads;
    for (int th = 0; th < threads_count; ++th) {
        threads.emplace_back([&, th] {
            // Each thread checks its own acknowledged rows with a read-only connection of its own:
            // an acknowledged write must already be visible to every other connection.
            db::connection ro(r.dir.file("souk.db"), db::open_mode::read_only);
            for (int i = 0; i < jobs_per_thread; ++i) {
                const std::int64_t id = th * 100'000 + i;
                auto res = r.writer().write_sync<std::int64_t>(
                    [id, th](db::tx& t) -> result<std::int64_t> {
                        insert_item(t, id, "thread " + std::to_string(th));
                        return id * 2;
                    });
                if (!res.ok()) {
                    ++failed;
                    continue;
                }
                if (*res != id * 2) ++wrong_value;
                if (rig::count_on(
                        ro, "SELECT COUNT(*) FROM items WHERE id = " + std::to_string(id)) != 1)
                    ++invisible;
            }
        });
    }
    for (auto& t : threads)
        t.join();

    const int jobs = threads_count * jobs_per_thread;
    const auto after = r.writer().stats();
    const auto commits = after.commits - before.commits;
    INFO("commits " << commits << " for " << jobs << " jobs");
    CHECK(failed == 0);
    CHECK(wrong_value == 0);
    CHECK(invisible == 0);
    CHECK(after.jobs - before.jobs == static_cast<std::uint64_t>(jobs));
    CHECK(after.failed_commits == before.failed_commits);
    CHECK(commits >= 1);
    CHECK(commits < static_cast<std::uint64_t>(jobs));  // group commit: fewer transactions
    CHECK(r.count("SELECT COUNT(*) FROM items") == jobs);
    for (int th = 0; th < threads_count; ++th) {
        INFO("thread " << th);
        CHECK(r.count("SELECT COUNT(*) FROM items WHERE who = 'thread " + std::to_string(th) +
                      "'") == jobs_per_thread);
    }
}

TEST_CASE("writer: jobs queued during a batch join it and commit once", "[writer]") {
    rig r(held_batches());
    std::vector<std::size_t> batch_sizes;
    r.writer().on_batch([&](std::size_t n, double) { batch_sizes.push_back(n); });
    const auto before = r.writer().stats();
    std::vector<fn_job::run_fn> fns;
    for (int i = 1; i <= 50; ++i)
        fns.push_back([i](db::tx& t) -> status {
            insert_item(t, i);
            return {};
        });
    for (const auto& s : run_as_one_batch(r.writer(), fns))
        CHECK(s.ok());
    const auto after = r.writer().stats();
    CHECK(after.commits - before.commits == 1);
    CHECK(after.jobs - before.jobs == 51);  // the gate and the fifty
    CHECK(batch_sizes == std::vector<std::size_t>{51});
    CHECK(r.count("SELECT COUNT(*) FROM items") == 50);
}

TEST_CASE("writer: a batch holds at most batch_jobs_max jobs", "[writer]") {
    rig r(held_batches(4));
    std::vector<std::size_t> batch_sizes;
    r.writer().on_batch([&](std::size_t n, double) { batch_sizes.push_back(n); });
    const auto before = r.writer().stats();
    std::vector<fn_job::run_fn> fns;
    for (int i = 1; i <= 10; ++i)
        fns.push_back([i](db::tx& t) -> status {
            insert_item(t, i);
            return {};
        });
    for (const auto& s : run_as_one_batch(r.writer(), fns))
        CHECK(s.ok());
    CHECK(r.writer().stats().commits - before.commits == 3);
    CHECK(batch_sizes == std::vector<std::size_t>{4, 4, 3});
    CHECK(r.count("SELECT COUNT(*) FROM items") == 10);
}

TEST_CASE("writer: a job is completed only once its batch is visible to readers", "[writer]") {
    rig r(held_batches());
    // Opened here, used only on the writer thread inside complete().
    db::connection ro(r.dir.file("souk.db"), db::open_mode::read_only);
    std::atomic<int> seen_committed{0}, seen_missing{0};

    auto gate = std::make_unique<gate_job>();
    gate_job& g = *gate;
    auto entered = g.entered();
    r.writer().submit(std::move(gate));
    REQUIRE(entered.wait_for(wait_max) == std::future_status::ready);
    std::vector<std::future<status>> futures;
    for (int i = 1; i <= 20; ++i) {
        auto job = std::make_unique<fn_job>(
            [i](db::tx& t) -> status {
                insert_item(t, i);
                return {};
            },
            [&, i](const status&) {
                const auto n =
                    rig::count_on(ro, "SELECT COUNT(*) FROM items WHERE id = " + std::to_string(i));
                ++(n == 1 ? seen_committed : seen_missing);
            });
        futures.push_back(job->outcome());
        r.writer().submit(std::move(job));
    }
    // While the batch is held: nothing acknowledged, nothing visible.
    for (auto& f : futures)
        CHECK_FALSE(ready(f));
    CHECK(r.count("SELECT COUNT(*) FROM items") == 0);
    g.open();
    for (auto& f : futures) {
        REQUIRE(f.wait_for(wait_max) == std::future_status::ready);
        CHECK(f.get().ok());
    }
    CHECK(seen_committed == 20);
    CHECK(seen_missing == 0);
}

TEST_CASE("writer: at FULL each job is answered after a WAL fsync begun after it ran, in order",
          "[writer]") {
    // Each fsync on the sync thread, each on the writer, or as the disk's speed decides.
    const std::int64_t on_writer_below_us = GENERATE(0, 1'000'000'000, 1000);
    CAPTURE(on_writer_below_us);
    db::writer_options o;
    o.sync_on_writer_below_us = on_writer_below_us;
    std::atomic<std::uint64_t> syncs_started{0};
    o.before_sync = [&] { ++syncs_started; };
    rig r(o);  // synchronous FULL: the writer commits at NORMAL and syncs the WAL itself
    constexpr int jobs_count = 300;
    std::mutex mu;
    std::vector<int> answered;
    std::vector<std::future<status>> futures;
    std::atomic<int> answered_before_a_sync{0};
    for (int i = 0; i < jobs_count; ++i) {
        auto started_at_run = std::make_shared<std::uint64_t>(0);
        auto job = std::make_unique<fn_job>(
            [&syncs_started, i, started_at_run](db::tx& t) {
                *started_at_run = syncs_started.load();
                insert_item(t, 10'000 + i);
                return status{};
            },
            [&, i, started_at_run](const status&) {
                // Fsyncs end in the order they start: unless more have ended than had started
                // when this job ran, none begun after it has covered it.
                if (r.writer().stats().wal_syncs <= *started_at_run) ++answered_before_a_sync;
                std::lock_guard lock(mu);
                answered.push_back(i);
            });
        futures.push_back(job->outcome());
        r.writer().submit(std::move(job));
    }
    for (auto& f : futures) {
        REQUIRE(f.wait_for(wait_max) == std::future_status::ready);
        CHECK(f.get().ok());
    }
    CHECK(answered_before_a_sync.load() == 0);
    std::vector<int> in_order(jobs_count);
    std::iota(in_order.begin(), in_order.end(), 0);
    CHECK(answered == in_order);
    const auto stats = r.writer().stats();
    CHECK(stats.wal_syncs >= 1);
    CHECK(stats.wal_syncs <= stats.commits);
    if (on_writer_below_us == 0) CHECK(stats.wal_syncs_on_writer == 0);
    if (on_writer_below_us == 1'000'000'000) CHECK(stats.wal_syncs_on_writer >= 1);
}

TEST_CASE(
    "writer: the WAL is synced on the writer while fsyncs are quick, behind it after a "
    "slow one",
    "[writer]") {
    std::atomic<bool> slow{false};
    std::mutex mu;
    std::vector<std::thread::id> synced_on;
    db::writer_options o;
    o.sync_on_writer_below_us = 300'000;  // far above a quick fsync, even on a busy disk
    o.before_sync = [&] {
        if (slow.exchange(false)) std::this_thread::sleep_for(std::chrono::milliseconds(600));
        std::lock_guard lock(mu);
        synced_on.push_back(std::this_thread::get_id());
    };
    rig r(o);
    // One job at a time, each answered (and the sync thread idle again) before the next.
    auto write_one = [&](std::int64_t id) {
        std::thread::id ran_on;
        auto job = std::make_unique<fn_job>([&, id](db::tx& t) {
            ran_on = std::this_thread::get_id();
            insert_item(t, id);
            return status{};
        });
        auto done = job->outcome();
        r.writer().submit(std::move(job));
        REQUIRE(done.wait_for(wait_max) == std::future_status::ready);
        REQUIRE(done.get().ok());
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        std::lock_guard lock(mu);
        REQUIRE_FALSE(synced_on.empty());
        return synced_on.back() == ran_on;  // the writer synced it itself
    };
    CHECK(write_one(1));  // quick so far: on the writer
    slow = true;
    CHECK(write_one(2));        // on the writer still, and slow
    CHECK_FALSE(write_one(3));  // behind: the sync thread; quick again
    CHECK(write_one(4));        // back on the writer
    CHECK(r.count("SELECT COUNT(*) FROM items") == 4);
    const auto stats = r.writer().stats();
    CHECK(stats.wal_syncs_on_writer == stats.wal_syncs - 1);
}

TEST_CASE("writer: a batch whose queue runs dry during an fsync stays open until it ends",
          "[writer]") {
    const bool hold = GENERATE(true, false);
    CAPTURE(hold);
    std::atomic<bool> armed{false};
    std::promise<void> in_sync, release;
    auto released = release.get_future().share();
    db::writer_options o = held_batches();
    o.hold_open_while_syncing = hold;
    o.sync_on_writer_below_us = 0;  // every fsync on the sync thread, while the writer goes on
    o.before_sync = [&] {           // the first fsync once armed waits for the test
        if (!armed.exchange(false)) return;
        in_sync.set_value();
        (void)released.wait_for(wait_max);
    };
    rig r(o);
    std::mutex mu;
    std::vector<std::size_t> batch_sizes;
    r.writer().on_batch([&](std::size_t jobs, double) {
        std::lock_guard lock(mu);
        batch_sizes.push_back(jobs);
    });
    std::vector<std::future<status>> futures;
    std::atomic<int> ran{0};
    auto submit = [&](std::int64_t id) {
        auto job = std::make_unique<fn_job>([&, id](db::tx& t) {
            insert_item(t, id);
            ++ran;
            return status{};
        });
        futures.push_back(job->outcome());
        r.writer().submit(std::move(job));
    };

    armed = true;
    submit(1);
    REQUIRE(in_sync.get_future().wait_for(wait_max) == std::future_status::ready);
    // Five jobs, each taken by the writer before the next arrives: its queue runs dry each time.
    for (std::int64_t id = 2; id <= 6; ++id) {
        submit(id);
        const int want = static_cast<int>(id);
        for (int i = 0; i < 3000 && ran.load() < want; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        REQUIRE(ran.load() == want);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    // Held open: nothing committed since job 1; otherwise each committed on its own.
    CHECK(r.count("SELECT COUNT(*) FROM items") == (hold ? 1 : 6));
    release.set_value();
    for (auto& f : futures) {
        REQUIRE(f.wait_for(wait_max) == std::future_status::ready);
        CHECK(f.get().ok());
    }
    CHECK(r.count("SELECT COUNT(*) FROM items") == 6);
    std::lock_guard lock(mu);
    if (hold)
        CHECK(batch_sizes == std::vector<std::size_t>{1, 5});
    else
        CHECK(batch_sizes == std::vector<std::size_t>{1, 1, 1, 1, 1, 1});
}

TEST_CASE("writer: at NORMAL the writer leaves syncing to SQLite", "[writer]") {
    temp_dir dir;
    souk::system_clock clock;
    db::database database(db::database_options{dir.file("souk.db"), "NORMAL", 1, {}}, clock);
    auto wrote = database.writer().write_sync<bool>([](db::tx& t) -> result<bool> {
        t.conn().exec("CREATE TABLE items (id INTEGER PRIMARY KEY)");
        return true;
    });
    REQUIRE(wrote.ok());
    CHECK(database.writer().stats().wal_syncs == 0);
}

TEST_CASE("writer: a job returning an error is rolled back alone", "[writer]") {
    rig r(held_batches());
    const auto before = r.writer().stats();
    auto out = run_as_one_batch(
        r.writer(), {
                        [](db::tx& t) -> status {
                            insert_item(t, 1);
                            return {};
                        },
                        [](db::tx& t) -> status {
                            insert_item(t, 2);
                            t.prepare("UPDATE items SET who = 'changed' WHERE id = 1").run();
                            return error::conflict("SOLD_OUT", "no seats left");
                        },
                        [](db::tx& t) -> status {
                            insert_item(t, 3);
                            return {};
                        },
                    });
    REQUIRE(out.size() == 3);
    CHECK(out[0].ok());
    REQUIRE_FALSE(out[1].ok());
    CHECK(out[1].err().code == "SOLD_OUT");
    CHECK(out[1].err().status == 409);
    CHECK(out[2].ok());
    CHECK(r.has_item(1));
    CHECK_FALSE(r.has_item(2));
    CHECK(r.has_item(3));
    CHECK(r.count("SELECT COUNT(*) FROM items WHERE who = 'changed'") == 0);
    const auto after = r.writer().stats();
    CHECK(after.commits - before.commits == 1);
    CHECK(after.failed_commits == before.failed_commits);

    // The blocking form hands the job's own error back.
    auto sync = r.writer().write_sync<int>([](db::tx& t) -> result<int> {
        insert_item(t, 4);
        return error::validation("seats", "must be at least 1");
    });
    REQUIRE_FALSE(sync.ok());
    CHECK(sync.err().code == "VALIDATION_FAILED");
    CHECK(sync.err().details.at("fields").at("seats") == "must be at least 1");
    CHECK_FALSE(r.has_item(4));
}

TEST_CASE("writer: jobs run once without savepoints until one fails; then the batch runs again",
          "[writer]") {
    rig r(held_batches());
    // A batch where every job succeeds: each runs exactly once.
    std::atomic<int> runs_ok{0};
    std::vector<fn_job::run_fn> fine;
    for (int i = 0; i < 4; ++i)
        fine.push_back([&runs_ok, i](db::tx& t) -> status {
            ++runs_ok;
            insert_item(t, 200 + i);
            return {};
        });
    const auto before = r.writer().stats();
    auto out = run_as_one_batch(r.writer(), fine);
    for (const auto& o : out)
        CHECK(o.ok());
    CHECK(runs_ok.load() == 4);
    CHECK(r.writer().stats().batches_run_again == before.batches_run_again);

    // A batch where the third job fails after writing: the batch runs again, each job in a
    // savepoint; the failed job's write is gone, the others' writes are there once.
    std::atomic<int> runs_first{0}, runs_failing{0}, runs_last{0};
    out = run_as_one_batch(r.writer(), {
                                           [&](db::tx& t) -> status {
                                               ++runs_first;
                                               insert_item(t, 301);
                                               return {};
                                           },
                                           [&](db::tx& t) -> status {
                                               ++runs_failing;
                                               insert_item(t, 302);
                                               return error::conflict("SOLD_OUT", "none left");
                                           },
                                           [&](db::tx& t) -> status {
                                               ++runs_last;
                                               insert_item(t, 303);
                                               return {};
                                           },
                                       });
    REQUIRE(out.size() == 3);
    CHECK(out[0].ok());
    CHECK_FALSE(out[1].ok());
    CHECK(out[2].ok());
    CHECK(runs_first.load() == 2);    // before the failure, and again in a savepoint
    CHECK(runs_failing.load() == 2);  // failed without a savepoint, then in one
    CHECK(runs_last.load() == 1);     // came after: ran in a savepoint from the start
    CHECK(r.has_item(301));
    CHECK_FALSE(r.has_item(302));
    CHECK(r.has_item(303));
    CHECK(r.writer().stats().batches_run_again == before.batches_run_again + 1);
}

TEST_CASE("writer: a job whose SQL throws gets INTERNAL and the others commit", "[writer]") {
    rig r(held_batches());
    const auto before = r.writer().stats();
    auto out =
        run_as_one_batch(r.writer(), {
                                         [](db::tx& t) -> status {
                                             insert_item(t, 1);
                                             return {};
                                         },
                                         [](db::tx& t) -> status {
                                             insert_item(t, 2);
                                             t.prepare("INSERT INTO missing (x) VALUES (1)").run();
                                             return {};
                                         },
                                         [](db::tx& t) -> status {
                                             insert_item(t, 3);
                                             throw std::runtime_error("bug in a job");
                                         },
                                         [](db::tx& t) -> status {
                                             insert_item(t, 4);
                                             insert_item(t, 1);  // duplicate key
                                             return {};
                                         },
                                         [](db::tx& t) -> status {
                                             insert_item(t, 5);
                                             return {};
                                         },
                                     });
    REQUIRE(out.size() == 5);
    CHECK(out[0].ok());
    for (int i : {1, 2, 3}) {
        INFO("job " << i);
        REQUIRE_FALSE(out[i].ok());
        CHECK(out[i].err().code == "INTERNAL");
        CHECK(out[i].err().status == 500);
    }
    CHECK(out[4].ok());
    CHECK(r.count("SELECT COUNT(*) FROM items") == 2);
    CHECK(r.has_item(1));
    CHECK(r.has_item(5));
    const auto after = r.writer().stats();
    CHECK(after.commits - before.commits == 1);
    CHECK(after.failed_commits == before.failed_commits);

    auto sync = r.writer().write_sync<int>([](db::tx& t) -> result<int> {
        t.prepare("SELECT nope FROM items").run();
        return 1;
    });
    REQUIRE_FALSE(sync.ok());
    CHECK(sync.err().code == "INTERNAL");
}

TEST_CASE("writer: published events and timers commit or roll back with their job", "[writer]") {
    commit_log log;
    rig r(held_batches());
    log.attach(r.writer());
    std::string kept_a, kept_b, dropped_a, dropped_b, timer_kept, timer_dropped;
    auto out = run_as_one_batch(
        r.writer(),
        {
            [&](db::tx& t) -> status {
                insert_item(t, 1);
                kept_a = t.publish("item.added", {{"id", 1}});
                timer_kept = t.schedule("item.expire", t.now_ms() + 1000, {{"id", 1}});
                return {};
            },
            [&](db::tx& t) -> status {
                dropped_a = t.publish("item.added", {{"id", 2}});
                timer_dropped = t.schedule("item.expire", t.now_ms() + 1000, {{"id", 2}});
                return error::conflict("NOPE", "refused");
            },
            [&](db::tx& t) -> status {
                dropped_b = t.publish("item.added", {{"id", 3}});
                t.prepare("INSERT INTO missing (x) VALUES (1)").run();
                return {};
            },
            [&](db::tx& t) -> status {
                insert_item(t, 4);
                kept_b = t.publish("item.added", {{"id", 4}});
                return {};
            },
        },
        [&] {
            // Held before COMMIT: neither the rows nor their outbox entries are visible yet.
            CHECK(r.count("SELECT COUNT(*) FROM outbox") == 0);
            CHECK(r.count("SELECT COUNT(*) FROM items") == 0);
        });
    REQUIRE(out.size() == 4);
    CHECK(out[0].ok());
    CHECK_FALSE(out[1].ok());
    CHECK_FALSE(out[2].ok());
    CHECK(out[3].ok());

    // The outbox holds exactly the committed jobs' events, in the same commit as their rows.
    CHECK(r.count("SELECT COUNT(*) FROM outbox") == 2);
    CHECK(r.count("SELECT COUNT(*) FROM outbox WHERE id IN ('" + kept_a + "', '" + kept_b +
                  "') AND type = 'item.added' AND delivered_ms IS NULL") == 2);
    CHECK(r.count("SELECT COUNT(*) FROM outbox WHERE payload = '{\"id\":4}'") == 1);
    CHECK(r.count("SELECT COUNT(*) FROM timers") == 1);
    CHECK(r.count("SELECT COUNT(*) FROM timers WHERE id = '" + timer_kept + "'") == 1);

    // The listener got exactly the committed events, once, in one call for the batch.
    CHECK(log.event_ids() == std::vector<std::string>{kept_a, kept_b});
    std::lock_guard lock(log.mu);
    CHECK(log.calls_with_events == 1);
    CHECK(log.events[1].payload.at("id") == 4);
    CHECK(log.events[1].type == "item.added");
    REQUIRE(log.timers.size() == 1);
    CHECK(log.timers[0].id == timer_kept);
    CHECK(log.timers[0].kind == "item.expire");
    CHECK(log.cancelled.empty());
    CHECK(timer_dropped != timer_kept);
    CHECK(dropped_a != kept_a);
    CHECK_FALSE(dropped_b.empty());
}

TEST_CASE("writer: a failed COMMIT is retried job by job and only the culprit fails", "[writer]") {
    commit_log log;
    rig r(held_batches());
    log.attach(r.writer());
    const auto before = r.writer().stats();
    std::string ev1, ev2, ev3;
    auto out = run_as_one_batch(
        r.writer(), {
                        [&](db::tx& t) -> status {
                            insert_item(t, 1);
                            ev1 = t.publish("item.added", {{"id", 1}});
                            return {};
                        },
                        [&](db::tx& t) -> status {
                            // Fine when the statement runs; the deferred foreign key fails the
                            // COMMIT.
                            t.prepare("INSERT INTO child (id, parent_id) VALUES (1, 999)").run();
                            ev2 = t.publish("child.added", {{"id", 1}});
                            return {};
                        },
                        [&](db::tx& t) -> status {
                            insert_item(t, 3);
                            ev3 = t.publish("item.added", {{"id", 3}});
                            return {};
                        },
                        [](db::tx& t) -> status {
                            // Runs again alone after the failed COMMIT and must not take the writer
                            // down.
                            insert_item(t, 4);
                            throw std::runtime_error("bug in a job");
                        },
                        [](db::tx& t) -> status {
                            insert_item(t, 5);
                            return error::conflict("NOPE", "refused");
                        },
                    });
    REQUIRE(out.size() == 5);
    CHECK(out[0].ok());
    REQUIRE_FALSE(out[1].ok());
    CHECK(out[1].err().code == "INTERNAL");
    CHECK(out[2].ok());
    REQUIRE_FALSE(out[3].ok());
    CHECK(out[3].err().code == "INTERNAL");
    REQUIRE_FALSE(out[4].ok());
    CHECK(out[4].err().code == "NOPE");
    CHECK_FALSE(r.has_item(4));
    CHECK_FALSE(r.has_item(5));

    CHECK(r.has_item(1));
    CHECK(r.has_item(3));
    CHECK(r.count("SELECT COUNT(*) FROM child") == 0);
    const auto after = r.writer().stats();
    CHECK(after.failed_commits - before.failed_commits == 1);
    // The gate and the two good jobs commit alone after the failed batch.
    CHECK(after.commits - before.commits == 3);

    // Events of the failed batch are not handed out; the retried jobs' are, once each.
    CHECK(r.count("SELECT COUNT(*) FROM outbox") == 2);
    CHECK(r.count("SELECT COUNT(*) FROM outbox WHERE type = 'child.added'") == 0);
    CHECK(log.event_ids() == std::vector<std::string>{ev1, ev3});

    // The writer is healthy afterwards.
    auto next = r.writer().write_sync<int>([](db::tx& t) -> result<int> {
        insert_item(t, 6);
        return 6;
    });
    REQUIRE(next.ok());
    CHECK(r.has_item(6));
}

TEST_CASE("writer: additions to a row are summed over the batch and written once before COMMIT",
          "[writer]") {
    rig r(held_batches());
    constexpr const char* add_sql = "UPDATE counters SET a = a + ?, b = b + ? WHERE id = ?";
    auto made = r.writer().write_sync<bool>([](db::tx& t) -> result<bool> {
        t.conn().exec(
            "CREATE TABLE counters (id TEXT PRIMARY KEY, a INTEGER NOT NULL, b INTEGER NOT NULL,"
            " CHECK (a >= 0 AND b <= 10));"
            "INSERT INTO counters VALUES ('x', 0, 0), ('y', 0, 0);"
            "CREATE TABLE updates (n INTEGER NOT NULL); INSERT INTO updates VALUES (0);"
            "CREATE TRIGGER counted AFTER UPDATE ON counters BEGIN"
            " UPDATE updates SET n = n + 1; END;");
        return true;
    });
    REQUIRE(made.ok());
    auto value = [&](const char* column, const char* id) {
        return r.count(std::string("SELECT ") + column + " FROM counters WHERE id = '" + id + "'");
    };
    auto adds = [&](const char* id, std::int64_t a, std::int64_t b) {
        return [=](db::tx& t) -> status {
            t.add_to_row(add_sql, id, a, b);
            return {};
        };
    };

    // Many jobs adding to two rows: two UPDATEs in all.
    auto out = run_as_one_batch(r.writer(), {adds("x", 1, 0), adds("x", 2, 1), adds("y", 5, 0),
                                             adds("x", 1, 1), adds("y", 0, 0)});
    for (const auto& o : out)
        CHECK(o.ok());
    CHECK(value("a", "x") == 4);
    CHECK(value("b", "x") == 2);
    CHECK(value("a", "y") == 5);
    CHECK(r.count("SELECT n FROM updates") == 2);

    // A job later in the batch sees what the batch has added so far and not written yet.
    std::vector<std::pair<std::int64_t, std::int64_t>> seen;
    auto sees = [&](const char* id) {
        return [&seen, id](db::tx& t) -> status {
            seen.push_back(t.added_to_row(add_sql, id));
            return {};
        };
    };
    out = run_as_one_batch(
        r.writer(), {sees("x"), adds("x", 2, 1), sees("x"), adds("x", 3, 0), sees("x"), sees("y")});
    const std::vector<std::pair<std::int64_t, std::int64_t>> expected{
        {0, 0}, {2, 1}, {5, 1}, {0, 0}};
    CHECK(seen == expected);
    CHECK(value("a", "x") == 9);

    // A job that fails after adding takes its additions back, both when the batch runs again in
    // savepoints (the first failure) and in a savepoint; a net zero writes nothing.
    out = run_as_one_batch(r.writer(), {adds("x", 1, 0),
                                        [&](db::tx& t) -> status {
                                            t.add_to_row(add_sql, "x", 100, 0);
                                            t.add_to_row(add_sql, "y", 100, 0);
                                            return error::conflict("SOLD_OUT", "none left");
                                        },
                                        adds("x", 1, 0),
                                        [&](db::tx& t) -> status {
                                            t.add_to_row(add_sql, "x", 50, 0);
                                            return error::conflict("SOLD_OUT", "none left");
                                        },
                                        adds("y", 3, 0), adds("y", -3, 0)});
    REQUIRE(out.size() == 6);
    CHECK_FALSE(out[1].ok());
    CHECK_FALSE(out[3].ok());
    CHECK(value("a", "x") == 11);
    CHECK(value("a", "y") == 5);
    CHECK(r.count("SELECT n FROM updates") == 4);

    // The table's constraints judge the sums at COMMIT: when they fail, the jobs run again one by
    // one and only the one that breaks the constraint fails.
    const auto before = r.writer().stats();
    out = run_as_one_batch(r.writer(), {adds("x", 0, 5), adds("x", 0, 5), adds("y", 1, 0)});
    REQUIRE(out.size() == 3);
    CHECK(out[0].ok());
    REQUIRE_FALSE(out[1].ok());
    CHECK(out[1].err().status == 500);
    CHECK(out[2].ok());
    CHECK(value("b", "x") == 8);
    CHECK(value("a", "y") == 6);
    CHECK(r.writer().stats().failed_commits == before.failed_commits + 1);
}

TEST_CASE("writer: co_await write resumes on the io_context's thread", "[writer]") {
    rig r;
    asio::io_context io;
    std::thread::id writer_thread, before_thread, after_thread, io_thread;
    std::optional<result<int>> got, refused;
    std::optional<result<std::string>> echoed;
    const std::string big(300, 'x');  // on the heap: a bitwise-copied capture would dangle

    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            before_thread = std::this_thread::get_id();
            got = co_await r.writer().write<int>([&](db::tx& t) -> result<int> {
                writer_thread = std::this_thread::get_id();
                insert_item(t, 1);
                return 41 + 1;
            });
            after_thread = std::this_thread::get_id();
            refused = co_await r.writer().write<int>([](db::tx& t) -> result<int> {
                insert_item(t, 2);
                return error::forbidden();
            });
            // The lambda temporary lives in the co_await full-expression (ADR 0002).
            echoed = co_await r.writer().write<std::string>(
                [copy = big](db::tx&) -> result<std::string> { return copy + "!"; });
        },
        [](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);
        });
    std::thread runner([&] {
        io_thread = std::this_thread::get_id();
        io.run();
    });
    runner.join();

    REQUIRE(got.has_value());
    REQUIRE(got->ok());
    CHECK(**got == 42);
    CHECK(before_thread == io_thread);
    CHECK(after_thread == io_thread);
    CHECK(writer_thread != io_thread);
    CHECK(writer_thread != std::thread::id());
    CHECK(r.has_item(1));

    REQUIRE(refused.has_value());
    REQUIRE_FALSE(refused->ok());
    CHECK(refused->err().code == "FORBIDDEN");
    CHECK_FALSE(r.has_item(2));

    REQUIRE(echoed.has_value());
    REQUIRE(echoed->ok());
    CHECK(**echoed == big + "!");
}

TEST_CASE("writer: a full queue refuses work with 503", "[writer]") {
    db::writer_options o = held_batches();
    o.queue_jobs_max = 3;
    rig r(o);
    auto gate = std::make_unique<gate_job>();
    gate_job& g = *gate;
    auto entered = g.entered();
    r.writer().submit(std::move(gate));
    REQUIRE(entered.wait_for(wait_max) == std::future_status::ready);

    std::vector<std::future<status>> queued;
    for (int i = 1; i <= 4; ++i) {
        auto job = std::make_unique<fn_job>([i](db::tx& t) -> status {
            insert_item(t, i);
            return {};
        });
        queued.push_back(job->outcome());
        r.writer().submit(std::move(job));
    }
    // The fourth was answered at once, without running.
    REQUIRE(ready(queued[3]));
    auto refused = queued[3].get();
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.err().status == 503);
    CHECK(refused.err().code == "UNAVAILABLE");
    g.open();
    for (int i = 0; i < 3; ++i) {
        REQUIRE(queued[i].wait_for(wait_max) == std::future_status::ready);
        CHECK(queued[i].get().ok());
    }
    CHECK(r.count("SELECT COUNT(*) FROM items") == 3);
    CHECK_FALSE(r.has_item(4));
}

TEST_CASE("writer: stop finishes queued jobs, then refuses new ones", "[writer]") {
    rig r(held_batches());
    auto gate = std::make_unique<gate_job>();
    gate_job& g = *gate;
    auto entered = g.entered();
    r.writer().submit(std::move(gate));
    REQUIRE(entered.wait_for(wait_max) == std::future_status::ready);
    std::vector<std::future<status>> queued;
    for (int i = 1; i <= 5; ++i) {
        auto job = std::make_unique<fn_job>([i](db::tx& t) -> status {
            insert_item(t, i);
            return {};
        });
        queued.push_back(job->outcome());
        r.writer().submit(std::move(job));
    }
    g.open();
    r.writer().stop();
    for (auto& f : queued) {
        REQUIRE(ready(f));  // stop() returned: everything queued was answered
        CHECK(f.get().ok());
    }
    CHECK(r.count("SELECT COUNT(*) FROM items") == 5);

    auto late = r.writer().write_sync<int>([](db::tx& t) -> result<int> {
        insert_item(t, 6);
        return 6;
    });
    REQUIRE_FALSE(late.ok());
    CHECK(late.err().status == 503);
    CHECK_FALSE(r.has_item(6));
    r.writer().stop();  // idempotent
}

TEST_CASE("database: a read that leaves a statement stepping does not pin its snapshot",
          "[writer]") {
    temp_dir dir;
    souk::system_clock clock;
    db::database database(db::database_options{dir.file("souk.db"), "FULL", 1, {}}, clock);
    auto made = database.writer().write_sync<bool>([](db::tx& t) -> result<bool> {
        t.conn().exec(
            "CREATE TABLE items (id INTEGER PRIMARY KEY);"
            "INSERT INTO items (id) VALUES (1), (2)");
        return true;
    });
    REQUIRE(made.ok());
    auto count = [&] {
        return database.read_sync<std::int64_t>([](db::connection& c) -> result<std::int64_t> {
            auto& st = c.prepare("SELECT COUNT(*) FROM items");
            REQUIRE(st.step());
            const auto n = st.int64(0);
            st.reset();
            return n;
        });
    };
    // One reader in the pool: the careless read and the next one share its connection.
    auto careless = database.read_sync<bool>([](db::connection& c) -> result<bool> {
        auto& st = c.prepare("SELECT id FROM items ORDER BY id");
        return st.step();  // a row read, the statement left stepping
    });
    REQUIRE(careless.ok());
    auto added = database.writer().write_sync<bool>([](db::tx& t) -> result<bool> {
        t.prepare("INSERT INTO items (id) VALUES (3)").run();
        return true;
    });
    REQUIRE(added.ok());
    auto n = count();
    REQUIRE(n.ok());
    CHECK(*n == 3);  // the snapshot of the careless read would still say 2
}

TEST_CASE("database: under continuous writes the WAL is started over past wal_bytes_max",
          "[writer][checkpoint]") {
    temp_dir dir;
    souk::system_clock clock;
    const std::string path = dir.file("souk.db");
    db::database_options opts{path, "FULL", 2, {}};
    opts.wal_bytes_max = 1 << 20;
    db::database database(opts, clock);
    REQUIRE(database.writer()
                .write_sync<bool>([](db::tx& t) -> result<bool> {
                    t.conn().exec("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)");
                    return true;
                })
                .ok());

    // Four clients keep the writer busy (always a job queued) until 24 times the bound has gone
    // through the log and the checkpointer has had a few rounds.
    constexpr std::uintmax_t written_min = 24u << 20;
    std::atomic<std::uintmax_t> written{0};
    std::atomic<bool> failed{false};
    const auto started = std::chrono::steady_clock::now();
    auto busy = [&] {
        return written.load() < written_min ||
               std::chrono::steady_clock::now() - started < std::chrono::seconds(2);
    };
    std::vector<std::thread> clients;
    for (int c = 0; c < 4; ++c) {
        clients.emplace_back([&] {
            const std::string blob(4000, 'x');
            while (busy() && !failed) {
                auto ok = database.writer().write_sync<bool>([&](db::tx& t) -> result<bool> {
                    t.prepare("INSERT INTO blobs (data) VALUES (?)").bind(1, blob).run();
                    return true;
                });
                if (!ok.ok()) failed = true;
                written += blob.size();
            }
        });
    }
    std::uintmax_t wal_max_seen = 0;
    while (busy() && !failed) {
        std::error_code ec;
        const auto size = std::filesystem::file_size(path + "-wal", ec);
        if (!ec) wal_max_seen = std::max(wal_max_seen, size);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    for (auto& t : clients)
        t.join();
    REQUIRE_FALSE(failed);
    INFO("written " << written.load() << " bytes, largest WAL seen " << wal_max_seen);
    // The log grows past the bound between two checkpoint rounds (200 ms of writes), then starts
    // over; without the writer's help it held everything written since the start.
    CHECK(wal_max_seen < written.load() / 3);
    std::error_code ec;
    CHECK(std::filesystem::file_size(path + "-wal", ec) < written.load() / 3);
}

TEST_CASE("db file probes: a file's inode and size, without asking for its times", "[writer]") {
    temp_dir dir;
    const auto path = dir.file("probe.bin");
    REQUIRE_FALSE(db::inode_of(path.c_str()).has_value());
    REQUIRE_FALSE(db::size_of(path.c_str()).has_value());
    {
        std::ofstream out(path, std::ios::binary);
        out << std::string(4120, 'x');
    }
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK(db::inode_of(path.c_str()) == static_cast<std::uint64_t>(st.st_ino));
    CHECK(db::size_of(path.c_str()) == 4120u);
}

TEST_CASE("statement::run_with binds text in place, runs, and leaves the statement reusable",
          "[writer]") {
    temp_dir dir;
    db::connection c(dir.file("run_with.db"), db::open_mode::read_write);
    c.exec("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT, n INTEGER)");
    const char* insert = "INSERT INTO t (k, v, n) VALUES (?, ?, ?)";
    for (int i = 0; i < 3; ++i) {
        // Temporaries: they live until the end of the statement that calls run_with.
        c.prepare(insert).run_with("k" + std::to_string(i), std::string(100, 'a' + i),
                                   std::optional<std::int64_t>(i));
    }
    // A failing run (a duplicate key) throws, and the statement still works afterwards.
    CHECK_THROWS_AS(c.prepare(insert).run_with(std::string("k1"), std::string("x"), 7),
                    db::sql_error);
    c.prepare(insert).run_with(std::string("k3"), std::string_view("last"),
                               std::optional<std::int64_t>());
    auto& st = c.prepare("SELECT k, v, n FROM t ORDER BY k");
    std::vector<std::string> rows;
    while (st.step())
        rows.push_back(st.text(0) + "|" + st.text(1).substr(0, 4) + "|" +
                       (st.is_null(2) ? "null" : std::to_string(st.int64(2))));
    st.reset();
    CHECK(rows == std::vector<std::string>{"k0|aaaa|0", "k1|bbbb|1", "k2|cccc|2", "k3|last|null"});
}
