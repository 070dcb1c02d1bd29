#pragma once
// In-process event bus fed by the transactional outbox: events are written in the same
// transaction as the change, then delivered after commit, at least once (again after a crash).
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <mutex>
#include <souk/bus/event.hpp>
#include <souk/core/result.hpp>
#include <string>
#include <vector>

namespace souk::db {
class database;
}

namespace souk::bus {

// Delivered events stay in the outbox this long (the log of what happened), then go.
inline constexpr std::int64_t outbox_retention_ms = 7LL * 24 * 3600 * 1000;

// A subscriber answers ok when it has handled the event; an error means "deliver again later".
using subscriber = std::function<boost::asio::awaitable<status>(const event&)>;

class bus {
  public:
    // delivery_delay: a pause before each delivery, for tests that must catch a process between
    // a commit and its consequences (the test environment only; 0 everywhere else).
    bus(boost::asio::any_io_executor ex, db::database& db,
        std::chrono::milliseconds delivery_delay = {});

    // type "*" receives every event. Subscribe before start().
    void subscribe(std::string type, std::string name, subscriber s);
    // Loads undelivered events from the outbox and delivers them; then delivers as commits come.
    // From then on the writer stores events nobody subscribes to as delivered.
    void start();
    // Called by the writer thread after a commit.
    void committed(std::vector<event>&& events);
    std::int64_t backlog() const;
    // Waits for in-flight deliveries to finish.
    boost::asio::awaitable<void> drain();
    // Deletes delivered events created before before_ms (undelivered ones stay, whatever their
    // age), oldest first, a chunk per write job; returns how many went.
    boost::asio::awaitable<std::int64_t> purge(std::int64_t before_ms);

  private:
    struct entry {
        std::string type;
        std::string name;
        subscriber fn;
    };
    boost::asio::awaitable<void> deliver(event e, int attempt);
    void mark_delivered(std::int64_t seq);
    void flush_delivered_locked();
    bool has_subscriber(std::string_view type) const;
    static constexpr std::size_t delivered_batch_max = 512;

    boost::asio::any_io_executor ex_;
    db::database& db_;
    std::vector<entry> subscribers_;
    mutable std::mutex mu_;
    std::int64_t in_flight_ = 0;
    std::vector<std::int64_t> delivered_;  // outbox rows delivered, not yet marked
    bool flush_scheduled_ = false;
    std::chrono::milliseconds delivery_delay_;
};

}  // namespace souk::bus
