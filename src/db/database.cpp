#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <souk/core/assert.hpp>
#include <souk/core/thread.hpp>
#include <souk/db/database.hpp>
#include <souk/embedded.hpp>
#include <souk/log/log.hpp>
#include <stdexcept>
#include <string_view>

#include "file_probe.hpp"
#include "wal_vfs.hpp"

namespace souk::db {

namespace {

struct migration {
    int version;
    std::string name;
    std::string_view sql;
};

std::vector<migration> embedded_migrations() {
    std::vector<migration> out;
    for (const auto& f : embedded::migrations()) {
        std::string_view name = f.path;
        if (auto slash = name.rfind('/'); slash != std::string_view::npos)
            name = name.substr(slash + 1);
        if (name.size() < 5 || !std::all_of(name.begin(), name.begin() + 4, ::isdigit)) continue;
        out.push_back({std::stoi(std::string(name.substr(0, 4))), std::string(name), f.bytes});
    }
    std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.version < b.version; });
    for (std::size_t i = 1; i < out.size(); ++i)
        if (out[i].version == out[i - 1].version)
            throw std::logic_error("two migrations share version " +
                                   std::to_string(out[i].version));
    return out;
}

void ensure_version_table(connection& c) {
    c.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT "
        "NULL, applied_ms INTEGER NOT NULL)");
}

constexpr std::string_view foreign_keys_off_marker = "-- souk:foreign-keys-off\n";

void require_foreign_keys_hold(connection& c, const std::string& migration) {
    auto& st = c.prepare("PRAGMA foreign_key_check");
    const bool broken = st.step();
    const std::string table = broken ? st.text(0) : std::string();
    st.reset();
    if (broken)
        throw std::runtime_error("migration " + migration + " leaves a row of " + table +
                                 " without its parent");
}

}  // namespace

std::vector<migration_status> migrations_status(connection& c) {
    ensure_version_table(c);
    std::vector<migration_status> out;
    for (const auto& m : embedded_migrations()) {
        auto& st = c.prepare("SELECT 1 FROM schema_migrations WHERE version = ?");
        st.bind(1, m.version);
        out.push_back({m.version, m.name, st.step()});
        st.reset();
    }
    return out;
}

int migrate_up(connection& c, int through) {
    ensure_version_table(c);
    int applied = 0;
    for (const auto& m : embedded_migrations()) {
        auto& st = c.prepare("SELECT 1 FROM schema_migrations WHERE version = ?");
        st.bind(1, m.version);
        const bool done = st.step();
        st.reset();
        if (done || m.version > through) continue;
        // A migration that rebuilds a table (create, copy, drop, rename) runs with foreign keys
        // off, as SQLite documents; they are checked before it commits. The pragma is a no-op
        // inside a transaction, hence outside.
        const bool keys_off = m.sql.starts_with(foreign_keys_off_marker);
        if (keys_off) c.exec("PRAGMA foreign_keys=OFF");
        try {
            transaction t(c);
            c.exec(m.sql);
            if (keys_off) require_foreign_keys_hold(c, m.name);
            c.prepare("INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?, ?, ?)")
                .bind_all(m.version, m.name, system_clock().now_ms())
                .run();
            t.commit();
        } catch (...) {
            if (keys_off) c.exec("PRAGMA foreign_keys=ON");
            throw;
        }
        if (keys_off) c.exec("PRAGMA foreign_keys=ON");
        log::info("migration applied", {{"version", m.version}, {"name", m.name}});
        ++applied;
    }
    return applied;
}

database::database(database_options opts, const souk::clock& clk)
    : opts_(std::move(opts)), read_pool_(std::max<std::size_t>(1, opts_.readers)) {
    auto w = std::make_unique<connection>(opts_.path, open_mode::read_write, opts_.synchronous,
                                          opts_.wal_frames_in_one_write ? wal_vfs_name() : nullptr);
    migrate_up(*w);
    // The writer never checkpoints: copying WAL pages into the database (and its fsync) would
    // stall every commit queued behind it. A separate thread does it (checkpoint_loop).
    w->exec("PRAGMA wal_autocheckpoint=0");
    // The writer is the connection that starts the WAL over: it trims the file when it does.
    w->exec("PRAGMA journal_size_limit=" + std::to_string(opts_.wal_bytes_max));
    // 16 MiB of hot B-tree pages. Not more: every COMMIT walks the page cache's whole hash table
    // (pager_end_transaction -> pcache1Truncate), which at 64 MiB was a tenth of the writer's CPU
    // in the reserve benchmark; at 16 MiB that benchmark ran ~15 % faster, at 4 MiB slower again.
    w->exec("PRAGMA cache_size=-16384");
    // After a job fails, jobs run in savepoints (ADR 0014), whose journal copies every page a
    // job touches: kept in memory it is a memcpy, spilled to a temporary file a write per page.
    w->exec("PRAGMA temp_store=MEMORY");
    auto writer_opts = opts_.writer;
    auto& mode = w->prepare("PRAGMA journal_mode");
    const bool wal = mode.step() && mode.text(0) == "wal";  // a filesystem may refuse WAL
    mode.reset();
    if (wal && (opts_.synchronous == "FULL" || opts_.synchronous == "EXTRA")) {
        // Durable all the same, but the fsync runs behind the commit, on the writer's sync
        // thread, while the next batch executes: a batch no longer waits for the disk with
        // the writer idle (docs/decisions/0013-wal-sync-behind.md).
        w->exec("PRAGMA synchronous=NORMAL");
        writer_opts.sync_file = opts_.path + "-wal";
    }
    writer_ = std::make_unique<db::writer>(std::move(w), clk, writer_opts);
    checkpointer_ = std::thread([this] { checkpoint_loop(); });
    const std::size_t n = std::max<std::size_t>(1, opts_.readers);
    for (std::size_t i = 0; i < n; ++i) {
        all_readers_.push_back(std::make_unique<connection>(opts_.path, open_mode::read_only));
        free_readers_.push_back(all_readers_.back().get());
    }
}

database::~database() {
    stop();
}

void database::stop() {
    if (writer_) writer_->stop();
    {
        std::lock_guard lock(checkpoint_mu_);
        checkpoint_stop_ = true;
    }
    checkpoint_cv_.notify_all();
    if (checkpointer_.joinable()) checkpointer_.join();
    read_pool_.join();
}

// PASSIVE checkpoints never block the writer or readers; they copy what they can. Under
// continuous writes they never catch up with the end of the log (the writer commits again while
// they copy), and SQLite only starts the WAL over when a write transaction begins with every
// frame copied, so the WAL would grow without bound (724 MB after 30 s of reservations). Once
// the log holds half of opts_.wal_bytes_max (or the file is past it) the checkpointer catches
// up, then asks the writer to run one more PASSIVE checkpoint itself, between two batches:
// little is left to copy, and its next batch restarts the log, which journal_size_limit keeps
// within wal_bytes_max.
namespace {

constexpr auto checkpoint_interval = std::chrono::milliseconds(50);

// Frames the writer may be left to copy when it restarts the WAL: ~1 MiB, a millisecond or two.
constexpr std::int64_t catch_up_frames = 256;

}  // namespace

void database::checkpoint_loop() {
    name_this_thread("souk-checkpoint");
    connection c(opts_.path, open_mode::read_write, opts_.synchronous);
    c.exec("PRAGMA journal_size_limit=" + std::to_string(opts_.wal_bytes_max));
    const std::string wal_path = opts_.path + "-wal";
    auto& ps = c.prepare("PRAGMA page_size");
    const std::int64_t frame_bytes = (ps.step() ? ps.int64(0) : 4096) + 24;  // + frame header
    ps.reset();
    std::unique_lock lock(checkpoint_mu_);
    while (!checkpoint_stop_) {
        // Often, so that each round leaves little unsynced in the database file: an fsync of
        // the WAL that needs a journal commit (the log grew) waits for the filesystem to flush
        // such data too (ext4's ordered mode). Rounds every 200 ms left up to ~50 MB behind and
        // held the writer's commits for 200-370 ms about every 10 s at 10,000 reserves/s.
        checkpoint_cv_.wait_for(lock, checkpoint_interval);
        lock.unlock();
        try {
            auto r = c.checkpoint_passive();
            const auto file_bytes = size_of(wal_path.c_str());  // not stat(): file_probe.hpp
            // The log starts over at half the bound, before it outgrows the file: within the
            // file's allocated size a WAL fsync flushes data only, while growing the file makes
            // each fsync a journal commit, which (ext4, ordered mode) also waits for whatever
            // the database file has unsynced — the pages checkpoints copied.
            const auto used_bytes = static_cast<std::uintmax_t>(r.log_frames * frame_bytes);
            if ((file_bytes && *file_bytes > opts_.wal_bytes_max) ||
                used_bytes > opts_.wal_bytes_max / 2) {
                // Catch up first: what the writer copies itself (and syncs) holds up every
                // commit behind it, so leave it only the frames of the last moment.
                for (int round = 0; round < 8 && r.behind > catch_up_frames; ++round)
                    r = c.checkpoint_passive();
                writer_->request_checkpoint();
            }
        } catch (const sql_error& e) {
            log::warn("checkpoint failed", {{"sqlite", e.what()}});
        }
        lock.lock();
    }
    lock.unlock();
    try {
        c.exec("PRAGMA wal_checkpoint(TRUNCATE)");  // leave a small WAL behind on a clean stop
    } catch (const sql_error&) {
    }
}

connection& database::acquire() {
    std::lock_guard lock(readers_mu_);
    if (free_readers_.empty()) {
        // More concurrent sync readers than the pool holds (CLI, tests): open another.
        all_readers_.push_back(std::make_unique<connection>(opts_.path, open_mode::read_only));
        return *all_readers_.back();
    }
    connection* c = free_readers_.back();
    free_readers_.pop_back();
    return *c;
}

void database::release(connection& c) {
    // A read that left a statement stepping is a bug, but a quiet one: later reads through this
    // connection would see the database as it was then (a user just registered, not found).
    for (const auto& sql : c.end_read())
        log::warn("a read left a statement open; reset", {{"sql", sql}});
    SOUK_ASSERT(sqlite3_txn_state(c.handle(), nullptr) == SQLITE_TXN_NONE);
    std::lock_guard lock(readers_mu_);
    free_readers_.push_back(&c);
}

bool database::writable() {
    auto r = writer_->write_sync<bool>([](tx& t) -> result<bool> {
        t.prepare(
             "INSERT INTO kernel_probe (id, touched_ms) VALUES (1, ?) ON CONFLICT (id) DO "
             "UPDATE SET touched_ms = excluded.touched_ms")
            .bind(1, t.now_ms())
            .run();
        return true;
    });
    return r.ok();
}

}  // namespace souk::db
