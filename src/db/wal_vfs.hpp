#pragma once
// A VFS over SQLite's default one that hands a transaction's WAL frames to the kernel in one
// write instead of two per page. SQLite writes each frame as its 24-byte header and then its
// page, each with its own pwrite(): ~50 system calls for a batch of 20 reservations, each
// paying the call, ext4's locks and checks. Here contiguous appends to a WAL are gathered in a
// buffer and written when the transaction's commit frame is complete — inside that frame's own
// xWrite, so that a failed write fails the commit — or before anything else is done with the
// file (a read, a sync, its size, a truncation, a write elsewhere, close). Nothing the WAL's
// readers can see changes: SQLite publishes a commit's frames (the wal-index header) only after
// its last frame's write returns. docs/decisions/0018-wal-frames-in-one-write.md
#include <cstdint>

namespace souk::db {

// Process-wide SQLite settings, made once before SQLite's first use (connection.cpp).
void configure_sqlite_once();

// Registers the VFS once (not as the default) and returns its name for sqlite3_open_v2.
const char* wal_vfs_name();

// What the VFS has done since the process started (tests, benchmarks).
struct wal_vfs_stats {
    std::uint64_t frames_writes = 0;  // xWrite calls to WAL files
    std::uint64_t file_writes = 0;    // the writes they became
};
wal_vfs_stats wal_vfs_counts();

}  // namespace souk::db
