#include "db/wal_vfs.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <new>
#include <stdexcept>
#include <vector>

namespace souk::db {

namespace {

constexpr int frame_header_bytes = 24;  // https://www.sqlite.org/fileformat.html#wal_file_format
// A transaction larger than this goes to the kernel in pieces of about this size.
constexpr std::size_t buffer_bytes_max = 1u << 20;
// The most the default (unix) VFS writes in one call: it masks a larger size to 17 bits.
constexpr std::size_t write_bytes_max = 0x1f000;

std::atomic<std::uint64_t> frames_writes{0};
std::atomic<std::uint64_t> file_writes{0};

// What a WAL file holds back: contiguous bytes from `offset` not yet written.
struct pending_frames {
    std::vector<char> bytes;
    sqlite3_int64 offset = 0;
    bool commit_page_next = false;  // the last write was a commit frame's header
};

// SQLite allocates szOsFile bytes per open file: this, then the default VFS's own file.
struct wal_file {
    sqlite3_file base;
    sqlite3_file* real;
    pending_frames* pending;  // WAL files only
};
static_assert(sizeof(wal_file) % 8 == 0, "the default VFS's file follows, 8-byte aligned");

sqlite3_vfs* root_vfs = nullptr;
sqlite3_vfs wal_vfs{};

wal_file* as_wal(sqlite3_file* f) {
    return reinterpret_cast<wal_file*>(f);
}
sqlite3_file* real_of(sqlite3_file* f) {
    return as_wal(f)->real;
}

std::uint32_t big_endian32(const void* p) {
    const auto* b = static_cast<const unsigned char*>(p);
    return (std::uint32_t(b[0]) << 24) | (std::uint32_t(b[1]) << 16) | (std::uint32_t(b[2]) << 8) |
           std::uint32_t(b[3]);
}

// Writes what is held back (in as few calls as the default VFS takes); it is forgotten either
// way (SQLite rolls back or fails on the error).
int flush(wal_file* f) {
    pending_frames* p = f->pending;
    if (!p || p->bytes.empty()) return SQLITE_OK;
    int rc = SQLITE_OK;
    for (std::size_t at = 0; at < p->bytes.size() && rc == SQLITE_OK; at += write_bytes_max) {
        const std::size_t n = std::min(write_bytes_max, p->bytes.size() - at);
        rc = f->real->pMethods->xWrite(f->real, p->bytes.data() + at, static_cast<int>(n),
                                       p->offset + static_cast<sqlite3_int64>(at));
        file_writes.fetch_add(1, std::memory_order_relaxed);
    }
    p->bytes.clear();
    return rc;
}

int x_close(sqlite3_file* file) {
    wal_file* f = as_wal(file);
    const int flushed = flush(f);
    delete f->pending;
    f->pending = nullptr;
    const int rc = f->real->pMethods->xClose(f->real);
    return flushed != SQLITE_OK ? flushed : rc;
}

// Any other use of the file first writes what is held back, then goes to the default VFS.
template <class Forward>
int after_flush(sqlite3_file* file, Forward forward) {
    if (const int rc = flush(as_wal(file)); rc != SQLITE_OK) return rc;
    sqlite3_file* real = real_of(file);
    return forward(real, real->pMethods);
}

int x_read(sqlite3_file* file, void* out, int n, sqlite3_int64 off) {
    return after_flush(file, [&](auto* f, auto* m) { return m->xRead(f, out, n, off); });
}

int x_write(sqlite3_file* file, const void* data, int n, sqlite3_int64 off) {
    wal_file* f = as_wal(file);
    pending_frames* p = f->pending;
    if (!p) return f->real->pMethods->xWrite(f->real, data, n, off);
    frames_writes.fetch_add(1, std::memory_order_relaxed);
    if (!p->bytes.empty() && off != p->offset + static_cast<sqlite3_int64>(p->bytes.size())) {
        // Not an append (a frame rewritten in place, the header of a restarted WAL).
        if (const int rc = flush(f); rc != SQLITE_OK) return rc;
    }
    if (p->bytes.empty()) p->offset = off;
    const auto* bytes = static_cast<const char*>(data);
    try {
        p->bytes.insert(p->bytes.end(), bytes, bytes + n);
    } catch (const std::bad_alloc&) {
        return SQLITE_IOERR_NOMEM;  // nothing of this write held; SQLite fails the transaction
    }
    // SQLite writes a frame as its header, then its page. A commit frame's header carries the
    // database's size in pages after the commit (bytes 4-7); a frame inside a transaction 0.
    const bool commit_complete = p->commit_page_next;
    p->commit_page_next =
        !commit_complete && n == frame_header_bytes && big_endian32(bytes + 4) != 0;
    if (commit_complete || p->bytes.size() >= buffer_bytes_max) return flush(f);
    return SQLITE_OK;
}

int x_truncate(sqlite3_file* file, sqlite3_int64 size) {
    return after_flush(file, [&](auto* f, auto* m) { return m->xTruncate(f, size); });
}

int x_sync(sqlite3_file* file, int flags) {
    return after_flush(file, [&](auto* f, auto* m) { return m->xSync(f, flags); });
}

int x_file_size(sqlite3_file* file, sqlite3_int64* size) {
    return after_flush(file, [&](auto* f, auto* m) { return m->xFileSize(f, size); });
}

int x_lock(sqlite3_file* file, int level) {
    return real_of(file)->pMethods->xLock(real_of(file), level);
}

int x_unlock(sqlite3_file* file, int level) {
    return real_of(file)->pMethods->xUnlock(real_of(file), level);
}

int x_check_reserved_lock(sqlite3_file* file, int* out) {
    return real_of(file)->pMethods->xCheckReservedLock(real_of(file), out);
}

int x_file_control(sqlite3_file* file, int op, void* arg) {
    return after_flush(file, [&](auto* f, auto* m) { return m->xFileControl(f, op, arg); });
}

int x_sector_size(sqlite3_file* file) {
    return real_of(file)->pMethods->xSectorSize(real_of(file));
}

int x_device_characteristics(sqlite3_file* file) {
    return real_of(file)->pMethods->xDeviceCharacteristics(real_of(file));
}

// The wal-index (shared memory) belongs to the database file, whose methods these are.
bool has_shm(sqlite3_file* file) {
    return real_of(file)->pMethods->iVersion >= 2;
}

int x_shm_map(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
    if (!has_shm(file)) return SQLITE_IOERR_SHMMAP;
    return real_of(file)->pMethods->xShmMap(real_of(file), region, size, extend, out);
}

int x_shm_lock(sqlite3_file* file, int offset, int n, int flags) {
    if (!has_shm(file)) return SQLITE_IOERR_SHMLOCK;
    return real_of(file)->pMethods->xShmLock(real_of(file), offset, n, flags);
}

void x_shm_barrier(sqlite3_file* file) {
    if (has_shm(file)) real_of(file)->pMethods->xShmBarrier(real_of(file));
}

int x_shm_unmap(sqlite3_file* file, int delete_flag) {
    if (!has_shm(file)) return SQLITE_OK;
    return real_of(file)->pMethods->xShmUnmap(real_of(file), delete_flag);
}

int x_fetch(sqlite3_file* file, sqlite3_int64 off, int n, void** out) {
    if (real_of(file)->pMethods->iVersion < 3) {
        *out = nullptr;
        return SQLITE_OK;
    }
    return real_of(file)->pMethods->xFetch(real_of(file), off, n, out);
}

int x_unfetch(sqlite3_file* file, sqlite3_int64 off, void* p) {
    if (real_of(file)->pMethods->iVersion < 3) return SQLITE_OK;
    return real_of(file)->pMethods->xUnfetch(real_of(file), off, p);
}

const sqlite3_io_methods methods = {
    3,
    x_close,
    x_read,
    x_write,
    x_truncate,
    x_sync,
    x_file_size,
    x_lock,
    x_unlock,
    x_check_reserved_lock,
    x_file_control,
    x_sector_size,
    x_device_characteristics,
    x_shm_map,
    x_shm_lock,
    x_shm_barrier,
    x_shm_unmap,
    x_fetch,
    x_unfetch,
};

int x_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
    wal_file* f = as_wal(file);
    f->real = reinterpret_cast<sqlite3_file*>(f + 1);
    f->pending = nullptr;
    f->base.pMethods = nullptr;
    const int rc = root_vfs->xOpen(root_vfs, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        if (f->real->pMethods) f->real->pMethods->xClose(f->real);
        return rc;
    }
    if (flags & SQLITE_OPEN_WAL) {
        f->pending = new (std::nothrow) pending_frames;
        if (!f->pending) {
            f->real->pMethods->xClose(f->real);
            return SQLITE_NOMEM;
        }
    }
    f->base.pMethods = &methods;
    return SQLITE_OK;
}

}  // namespace

const char* wal_vfs_name() {
    static std::once_flag once;
    std::call_once(once, [] {
        configure_sqlite_once();
        root_vfs = sqlite3_vfs_find(nullptr);
        if (!root_vfs) throw std::runtime_error("SQLite has no default VFS");
        wal_vfs = *root_vfs;  // its own methods for everything but opening a file
        wal_vfs.zName = "souk-wal";
        wal_vfs.szOsFile = static_cast<int>(sizeof(wal_file)) + root_vfs->szOsFile;
        wal_vfs.pNext = nullptr;
        wal_vfs.xOpen = x_open;
        if (sqlite3_vfs_register(&wal_vfs, 0) != SQLITE_OK)
            throw std::runtime_error("could not register SQLite's souk-wal VFS");
    });
    return wal_vfs.zName;
}

wal_vfs_stats wal_vfs_counts() {
    return {frames_writes.load(std::memory_order_relaxed),
            file_writes.load(std::memory_order_relaxed)};
}

}  // namespace souk::db
