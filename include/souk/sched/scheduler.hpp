#pragma once
// Durable timers: rows in SQLite (written through db::tx::schedule in the same transaction as
// the change that needs them), fired on the io_context, surviving restarts.
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <mutex>
#include <souk/core/clock.hpp>
#include <souk/db/writer.hpp>
#include <string>
#include <unordered_map>

namespace souk::db {
class database;
}

namespace souk::sched {

// A timer handler; ok marks the timer done, an error fires it again after a back-off.
using handler = std::function<boost::asio::awaitable<status>(const db::timer_row&)>;

class scheduler {
  public:
    scheduler(boost::asio::any_io_executor ex, db::database& db, const souk::clock& clk);

    void on(std::string kind, handler h);
    // Loads pending timers from SQLite and starts firing them.
    void start();
    void stop();
    // After stop(): waits (up to 5 s) for the timers firing now to be marked done or retried, so
    // that a graceful stop does not leave a fired timer to fire again after the restart.
    boost::asio::awaitable<void> drain();
    // Called by the writer thread after a commit.
    void committed(std::vector<db::timer_row>&& added, std::vector<std::string>&& cancelled);
    // Fires every timer due now (tests with a manual clock call this directly).
    boost::asio::awaitable<int> fire_due();
    std::size_t pending() const;
    std::uint64_t runs() const { return runs_; }

  private:
    void arm();
    boost::asio::awaitable<void> fire(db::timer_row t);

    boost::asio::any_io_executor ex_;
    db::database& db_;
    const souk::clock& clock_;
    std::unordered_map<std::string, handler> handlers_;
    mutable std::mutex mu_;
    std::multimap<std::int64_t, db::timer_row> due_;
    std::unordered_map<std::string, std::int64_t> due_by_id_;
    boost::asio::steady_timer timer_;
    bool stopped_ = false;
    std::uint64_t runs_ = 0;
    std::atomic<int> firing_{0};  // fire() calls not yet returned
};

}  // namespace souk::sched
