#pragma once
// A thin RAII layer over one SQLite connection. SQL failures throw db::sql_error: inside a write
// job the writer turns them into an error value for that job alone.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <souk/core/string_map.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

struct sqlite3;
struct sqlite3_stmt;

namespace souk::db {

class sql_error : public std::runtime_error {
  public:
    sql_error(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
    int code() const { return code_; }
    bool is_constraint() const { return (code_ & 0xff) == 19; }  // SQLITE_CONSTRAINT

  private:
    int code_;
};

class statement {
  public:
    statement(sqlite3* db, std::string_view sql);
    ~statement();
    statement(const statement&) = delete;
    statement& operator=(const statement&) = delete;

    // Binding is 1-based as in SQLite. Returns *this so calls chain.
    statement& bind(int index, std::int64_t value);
    // Every other integer type (int, long long, bool...) binds as a 64-bit integer.
    template <class I>
    requires(std::is_integral_v<I> && !std::is_same_v<I, std::int64_t>) statement& bind(int index,
                                                                                        I value) {
        return bind(index, static_cast<std::int64_t>(value));
    }
    statement& bind(int index, double value);
    statement& bind(int index, std::string_view text);
    statement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
    statement& bind(int index, const std::string& text) {
        return bind(index, std::string_view(text));
    }
    statement& bind_null(int index);
    statement& bind_blob(int index, std::string_view bytes);
    template <class T>
    statement& bind(int index, const std::optional<T>& v) {
        return v ? bind(index, *v) : bind_null(index);
    }
    // Binds every argument in order, starting at 1.
    template <class... Args>
    statement& bind_all(const Args&... args) {
        int i = 0;
        (bind(++i, args), ...);
        return *this;
    }

    // Binds every argument in order and runs the statement, text bound in place rather than
    // copied (SQLite's SQLITE_STATIC): the arguments outlive this call, and the bindings are
    // cleared before it returns. For the writer's hottest statements.
    template <class... Args>
    void run_with(const Args&... args) {
        run_binding([&](statement& s) { s.bind_all(args...); });
    }
    // The same with the binding done by bind(statement&), for statements of many parameters
    // (an INSERT of several rows).
    template <class Binder>
    void run_binding(Binder&& bind) {
        struct borrowed {
            statement& s;
            ~borrowed() {
                s.borrow_text_ = false;
                s.reset();
            }
        } guard{*this};
        borrow_text_ = true;
        bind(*this);
        run();
    }
    // true while a row is available.
    bool step();
    // Steps to completion; for statements that return no rows.
    void run();
    void reset();

    bool is_null(int col) const;
    std::int64_t int64(int col) const;
    double real(int col) const;
    std::string text(int col) const;
    std::string_view text_view(int col) const;  // valid until the next step/reset
    std::optional<std::string> optional_text(int col) const;
    std::optional<std::int64_t> optional_int64(int col) const;

  private:
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
    bool borrow_text_ = false;  // inside run_with: text is bound without a copy
};

enum class open_mode { read_write, read_only };

struct checkpoint_round {
    std::int64_t log_frames = 0;  // frames in the WAL
    std::int64_t behind = 0;      // of them, not copied into the database (yet)
};

class connection {
  public:
    // synchronous: "FULL", "NORMAL" or "OFF". Sets WAL, foreign keys and a busy timeout.
    // vfs: the name of a registered SQLite VFS (null: the default one).
    connection(const std::string& path, open_mode mode, std::string_view synchronous = "FULL",
               const char* vfs = nullptr);
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    void exec(std::string_view sql);
    // A cached prepared statement, reset and with bindings cleared.
    statement& prepare(std::string_view sql);
    std::int64_t changes() const;
    // The rowid of the last row this connection inserted.
    std::int64_t last_insert_rowid() const;
    // One PASSIVE checkpoint: copies what it can of the WAL without blocking the writer or the
    // readers. A slow one is logged (its copying and syncing compete with the WAL's fsyncs).
    checkpoint_round checkpoint_passive();
    // Ends the read transaction a statement left stepping (a row read, not reset) would keep
    // open: on a pooled reader it would pin that snapshot for every later read through it.
    // Returns the SQL of the statements it had to reset (none when every caller reset its own),
    // and "BEGIN" for an explicit transaction it rolled back.
    std::vector<std::string> end_read();
    sqlite3* handle() const { return db_; }
    const std::string& path() const { return path_; }

  private:
    sqlite3* db_ = nullptr;
    std::string path_;
    // Looked up by the SQL text without building a std::string (every statement of every job
    // goes through here).
    string_map<std::unique_ptr<statement>> cache_;
    // The last statement prepared from each of a few addresses: nearly all SQL is a string
    // literal, prepared again from the same address, so the lookup can skip hashing its text
    // (a comparison of the text still decides).
    struct recent_statement {
        const char* sql = nullptr;
        const std::pair<const std::string, std::unique_ptr<statement>>* entry = nullptr;
    };
    std::array<recent_statement, 32> recent_{};
};

// RAII guard: BEGIN IMMEDIATE ... COMMIT, rolled back unless committed (CLI and tests).
class transaction {
  public:
    explicit transaction(connection& c);
    ~transaction();
    void commit();

  private:
    connection& c_;
    bool done_ = false;
};

}  // namespace souk::db
