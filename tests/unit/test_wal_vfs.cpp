// The souk-wal VFS (src/db/wal_vfs.hpp) against real SQLite files: a commit's WAL frames reach
// the kernel in one write, what it wrote is what another connection (on SQLite's own VFS)
// reads, large transactions, rollbacks and a restarted WAL included.
#include <catch2/catch.hpp>
#include <cstdint>
#include <souk/db/connection.hpp>
#include <string>

#include "db/wal_vfs.hpp"
#include "support.hpp"

namespace db = souk::db;
using souk::test::temp_dir;

namespace {

std::int64_t count_rows(db::connection& c, const std::string& where = "1") {
    auto& s = c.prepare("SELECT COUNT(*) FROM items WHERE " + where);
    REQUIRE(s.step());
    const auto n = s.int64(0);
    s.reset();
    return n;
}

void insert_rows(db::connection& c, int from, int count, int bytes) {
    const std::string body(static_cast<std::size_t>(bytes), 'x');
    for (int i = from; i < from + count; ++i)
        c.prepare("INSERT INTO items (id, body) VALUES (?, ?)").bind_all(i, body).run();
}

struct files {
    temp_dir dir;
    std::string path = dir.file("wal.db");
    // The writer as Souk opens it: WAL, no automatic checkpoint, on the souk-wal VFS.
    db::connection writer{path, db::open_mode::read_write, "NORMAL", db::wal_vfs_name()};
    db::connection reader{path, db::open_mode::read_only};  // SQLite's own VFS
    files() {
        writer.exec("PRAGMA wal_autocheckpoint=0");
        writer.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
    }
};

}  // namespace

TEST_CASE("wal vfs: a commit's frames go out in one write and another connection reads them",
          "[wal_vfs]") {
    files f;
    for (int commit = 0; commit < 20; ++commit) {
        const auto before = db::wal_vfs_counts();
        f.writer.exec("BEGIN IMMEDIATE");
        insert_rows(f.writer, commit * 50, 50, 300);  // ~15 kB: several pages
        f.writer.exec("COMMIT");
        const auto after = db::wal_vfs_counts();
        // Two writes per frame (its header, its page) came in; one went out.
        CHECK(after.frames_writes - before.frames_writes >= 6);
        CHECK(after.file_writes - before.file_writes == 1);
        CHECK(count_rows(f.reader) == (commit + 1) * 50);
    }
}

TEST_CASE("wal vfs: a transaction larger than the buffer, a rollback, and a restarted WAL",
          "[wal_vfs]") {
    files f;
    // ~12 MB in one transaction: out in pieces of the buffer's size, all of it readable.
    f.writer.exec("BEGIN IMMEDIATE");
    insert_rows(f.writer, 0, 3'000, 4'000);
    f.writer.exec("COMMIT");
    CHECK(count_rows(f.reader) == 3'000);
    CHECK(count_rows(f.reader, "length(body) = 4000") == 3'000);

    // Rolled back after SQLite spilled pages to the WAL (a tiny cache): nothing of it is seen,
    // and the next commit, written over the same place in the WAL, is.
    f.writer.exec("PRAGMA cache_size=10");
    f.writer.exec("BEGIN IMMEDIATE");
    insert_rows(f.writer, 10'000, 500, 4'000);
    f.writer.exec("ROLLBACK");
    CHECK(count_rows(f.reader) == 3'000);
    f.writer.exec("BEGIN IMMEDIATE");
    insert_rows(f.writer, 20'000, 10, 100);
    f.writer.exec("COMMIT");
    CHECK(count_rows(f.reader) == 3'010);

    // Everything checkpointed, the WAL starts over: SQLite writes its header and syncs it on
    // its own (a write), then the first commit's frames (another); later commits one each.
    f.writer.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    for (int i = 0; i < 5; ++i) {
        const auto before = db::wal_vfs_counts();
        f.writer.exec("BEGIN IMMEDIATE");
        insert_rows(f.writer, 30'000 + i * 10, 10, 100);
        f.writer.exec("COMMIT");
        CHECK(db::wal_vfs_counts().file_writes - before.file_writes == (i == 0 ? 2u : 1u));
    }
    CHECK(count_rows(f.reader) == 3'060);
    auto& check = f.reader.prepare("PRAGMA integrity_check");
    REQUIRE(check.step());
    CHECK(check.text(0) == "ok");
    check.reset();
}
