#include <sqlite3.h>

#include <chrono>
#include <mutex>
#include <souk/db/connection.hpp>
#include <souk/log/log.hpp>
#include <string>

#include "db/wal_vfs.hpp"

namespace souk::db {

namespace {

[[noreturn]] void fail(sqlite3* db, int rc, std::string_view what) {
    std::string msg(what);
    msg += ": ";
    msg += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    throw sql_error(db ? sqlite3_extended_errcode(db) : rc, msg);
}

}  // namespace

statement::statement(sqlite3* db, std::string_view sql) : db_(db) {
    int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
    if (rc != SQLITE_OK) fail(db, rc, "prepare");
}

statement::~statement() {
    sqlite3_finalize(stmt_);
}

statement& statement::bind(int i, std::int64_t v) {
    if (int rc = sqlite3_bind_int64(stmt_, i, v); rc != SQLITE_OK) fail(db_, rc, "bind");
    return *this;
}

statement& statement::bind(int i, double v) {
    if (int rc = sqlite3_bind_double(stmt_, i, v); rc != SQLITE_OK) fail(db_, rc, "bind");
    return *this;
}

statement& statement::bind(int i, std::string_view v) {
    int rc = sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()),
                               borrow_text_ ? SQLITE_STATIC : SQLITE_TRANSIENT);
    if (rc != SQLITE_OK) fail(db_, rc, "bind");
    return *this;
}

statement& statement::bind_null(int i) {
    if (int rc = sqlite3_bind_null(stmt_, i); rc != SQLITE_OK) fail(db_, rc, "bind");
    return *this;
}

statement& statement::bind_blob(int i, std::string_view v) {
    int rc = sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    if (rc != SQLITE_OK) fail(db_, rc, "bind");
    return *this;
}

bool statement::step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    sqlite3_reset(stmt_);
    fail(db_, rc, "step");
}

void statement::run() {
    while (step()) {
    }
}

void statement::reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
}

bool statement::is_null(int c) const {
    return sqlite3_column_type(stmt_, c) == SQLITE_NULL;
}
std::int64_t statement::int64(int c) const {
    return sqlite3_column_int64(stmt_, c);
}
double statement::real(int c) const {
    return sqlite3_column_double(stmt_, c);
}

std::string_view statement::text_view(int c) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, c));
    if (!p) return {};
    return {p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, c))};
}

std::string statement::text(int c) const {
    return std::string(text_view(c));
}

std::optional<std::string> statement::optional_text(int c) const {
    if (is_null(c)) return std::nullopt;
    return text(c);
}

std::optional<std::int64_t> statement::optional_int64(int c) const {
    if (is_null(c)) return std::nullopt;
    return int64(c);
}

// Process-wide, before SQLite's first use: no memory statistics. With them on (the default)
// every allocation SQLite makes takes a global mutex to count itself; nothing here reads them.
void configure_sqlite_once() {
    static std::once_flag once;
    std::call_once(once, [] {
        // SQLITE_MISUSE if something initialized SQLite first: it keeps its defaults then.
        (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
        (void)sqlite3_initialize();
    });
}

connection::connection(const std::string& path, open_mode mode, std::string_view synchronous,
                       const char* vfs)
    : path_(path) {
    configure_sqlite_once();
    const int flags = mode == open_mode::read_only
                          ? SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX
                          : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path.c_str(), &db_, flags, vfs);
    if (rc != SQLITE_OK) {
        std::string msg = "open " + path + ": " + (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
        sqlite3_close(db_);
        db_ = nullptr;
        throw sql_error(rc, msg);
    }
    sqlite3_busy_timeout(db_, 5000);
    sqlite3_extended_result_codes(db_, 1);
    if (mode == open_mode::read_write) {
        exec("PRAGMA journal_mode=WAL");
        exec(std::string("PRAGMA synchronous=") + std::string(synchronous));
    }
    exec("PRAGMA foreign_keys=ON");
}

connection::~connection() {
    cache_.clear();
    if (db_) sqlite3_close_v2(db_);
}

void connection::exec(std::string_view sql) {
    std::string s(sql);
    char* err = nullptr;
    int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
        std::string msg = err ? err : sqlite3_errstr(rc);
        sqlite3_free(err);
        throw sql_error(sqlite3_extended_errcode(db_), "exec: " + msg);
    }
}

std::vector<std::string> connection::end_read() {
    std::vector<std::string> left_open;
    if (sqlite3_txn_state(db_, nullptr) == SQLITE_TXN_NONE) return left_open;  // the usual case
    for (sqlite3_stmt* s = sqlite3_next_stmt(db_, nullptr); s; s = sqlite3_next_stmt(db_, s)) {
        if (!sqlite3_stmt_busy(s)) continue;
        left_open.emplace_back(sqlite3_sql(s));
        sqlite3_reset(s);
    }
    if (sqlite3_get_autocommit(db_) == 0) {  // a BEGIN without its end
        left_open.emplace_back("BEGIN");
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    return left_open;
}

statement& connection::prepare(std::string_view sql) {
    auto& recent = recent_[(reinterpret_cast<std::uintptr_t>(sql.data()) >> 3) % recent_.size()];
    if (recent.entry && recent.sql == sql.data() && recent.entry->first == sql) {
        recent.entry->second->reset();
        return *recent.entry->second;
    }
    auto it = cache_.find(sql);
    if (it == cache_.end()) {
        it = cache_.emplace(std::string(sql), std::make_unique<statement>(db_, sql)).first;
    } else {
        it->second->reset();
    }
    recent = {sql.data(), &*it};  // map nodes stay where they are until the connection closes
    return *it->second;
}

std::int64_t connection::changes() const {
    return sqlite3_changes64(db_);
}

std::int64_t connection::last_insert_rowid() const {
    return sqlite3_last_insert_rowid(db_);
}

checkpoint_round connection::checkpoint_passive() {
    const auto started = std::chrono::steady_clock::now();
    auto& st = prepare("PRAGMA wal_checkpoint(PASSIVE)");
    checkpoint_round r;
    std::int64_t copied = 0;
    if (st.step()) {  // (busy, frames in the log, frames checkpointed)
        r.log_frames = st.int64(1);
        copied = st.int64(2);
        r.behind = r.log_frames - copied;
    }
    st.reset();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
    if (ms >= 200) log::warn("slow checkpoint", {{"ms", ms}, {"frames_checkpointed", copied}});
    return r;
}

transaction::transaction(connection& c) : c_(c) {
    c_.exec("BEGIN IMMEDIATE");
}

transaction::~transaction() {
    if (!done_) {
        try {
            c_.exec("ROLLBACK");
        } catch (...) {
        }
    }
}

void transaction::commit() {
    c_.exec("COMMIT");
    done_ = true;
}

}  // namespace souk::db
