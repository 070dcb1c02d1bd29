#pragma once
// The database: migrations, the single writer, and a pool of read-only connections on their own
// threads so that SQL never blocks an io thread for long.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <limits>
#include <souk/db/connection.hpp>
#include <souk/db/writer.hpp>
#include <string>
#include <vector>

namespace souk::db {

struct database_options {
    std::string path;
    std::string synchronous = "FULL";
    std::size_t readers = 2;
    writer_options writer;
    std::uintmax_t wal_bytes_max = 64ull << 20;  // the WAL starts over at half of this
    // The writer's WAL frames reach the kernel in one write per commit (db/wal_vfs.hpp).
    bool wal_frames_in_one_write = true;
};

struct migration_status {
    int version = 0;
    std::string name;
    bool applied = false;
};

// Migrations come embedded from sql/: NNNN_<module>_<what>.sql, applied in order.
std::vector<migration_status> migrations_status(connection& c);
// Applies the missing ones up to `through` (a version); returns how many ran.
int migrate_up(connection& c, int through = std::numeric_limits<int>::max());

class database {
  public:
    // Opens (creating if needed), applies migrations, starts the writer and the readers.
    database(database_options opts, const souk::clock& clk);
    ~database();

    db::writer& writer() { return *writer_; }
    const database_options& options() const { return opts_; }

    // Runs fn on a reader thread with a read-only connection; resumes on the caller's executor.
    template <class T>
    boost::asio::awaitable<result<T>> read(std::function<result<T>(connection&)> fn);
    template <class T>
    result<T> read_sync(const std::function<result<T>(connection&)>& fn);

    // Checks the database accepts a write (for /ready).
    bool writable();
    void stop();

  private:
    connection& acquire();
    void release(connection& c);

    void checkpoint_loop();

    database_options opts_;
    std::unique_ptr<db::writer> writer_;
    // WAL checkpoints run here, not on the writer's commits (wal_autocheckpoint is off there).
    std::thread checkpointer_;
    std::mutex checkpoint_mu_;
    std::condition_variable checkpoint_cv_;
    bool checkpoint_stop_ = false;
    std::mutex readers_mu_;
    std::vector<std::unique_ptr<connection>> all_readers_;
    std::vector<connection*> free_readers_;
    boost::asio::thread_pool read_pool_;
};

template <class T>
result<T> database::read_sync(const std::function<result<T>(connection&)>& fn) {
    connection& c = acquire();
    struct releaser {
        database* d;
        connection* c;
        ~releaser() { d->release(*c); }
    } guard{this, &c};
    try {
        return fn(c);
    } catch (const sql_error&) {
        return error::unavailable();
    }
}

template <class T>
boost::asio::awaitable<result<T>> database::read(std::function<result<T>(connection&)> fn) {
    return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(result<T>)>(
        [this, fn = std::move(fn)](auto handler) mutable {
            auto work = boost::asio::make_work_guard(
                boost::asio::get_associated_executor(handler, boost::asio::system_executor()));
            boost::asio::post(read_pool_, [this, fn = std::move(fn), h = std::move(handler),
                                           work = std::move(work)]() mutable {
                result<T> r = read_sync<T>(fn);
                auto ex = work.get_executor();
                boost::asio::post(ex, [h = std::move(h), r = std::move(r)]() mutable {
                    std::move(h)(std::move(r));
                });
            });
        },
        boost::asio::use_awaitable);
}

}  // namespace souk::db
