#pragma once
// The inventory engine (DESIGN §3): one primitive, borrowed from two-phase ledger transfers.
// A *resource* has a capacity; *holds* on it are taken atomically, then posted (confirmed),
// voided (cancelled) or expired — each exactly once. Seats in a zone are the first resources;
// appointment slots and listing stock use the same engine.
//
// Resources live in shards. A shard is owned by one io thread (its executor): every call on a
// shard must run on that executor, so the reserve path takes no lock. Use
// `co_await engine.run_on(partition, fn)` from anywhere.
#include <array>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <souk/core/clock.hpp>
#include <souk/core/string_map.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace souk::inventory {

struct resource_state {
    std::int64_t capacity = 0;
    std::int64_t held = 0;
    std::int64_t confirmed = 0;
    std::int64_t available() const { return capacity - held - confirmed; }
};

enum class hold_state { held, posted, voided, expired };

// A hold as it goes in (restore_hold) and comes back out (void_hold, expire).
struct hold {
    std::string id;
    std::string resource;
    std::int64_t quantity = 0;
    std::string owner;  // who holds it (a user id)
    std::string group;  // what per-owner limits count over (an event id); no '|' in it
    std::int64_t expires_ms = 0;
    hold_state state = hold_state::held;
};

// A hold to take (try_hold): views, so that nothing is copied unless it is taken.
struct hold_request {
    std::string_view id;
    std::string_view resource;
    std::int64_t quantity = 0;
    std::string_view owner;
    std::string_view group;
    std::int64_t expires_ms = 0;
};

// What a live hold is now (shard::find).
struct hold_status {
    std::int64_t quantity = 0;
    std::int64_t expires_ms = 0;
    hold_state state = hold_state::held;
};

enum class refusal { none, unknown_resource, insufficient, limit_exceeded, duplicate_hold };

// A hold's id kept inside the node that holds it: a shard holds millions of live holds in a
// rush, and an id on the heap was one more allocation (and ~48 bytes) each, twice (the map and
// the expiry queue). Ids are Souk's (36 bytes), at most max_size.
class hold_key {
  public:
    static constexpr std::size_t max_size = 47;
    hold_key(std::string_view id);  // implicit: an id converts where the maps want a key
    operator std::string_view() const { return {data_.data(), size_}; }
    friend bool operator==(const hold_key& a, const hold_key& b) {
        return std::string_view(a) == std::string_view(b);
    }
    friend bool operator==(const hold_key& a, std::string_view b) {
        return std::string_view(a) == b;
    }

  private:
    std::array<char, max_size> data_;
    std::uint8_t size_;
};

// A string-keyed hash map in N segments, each an unordered_map that grows on its own. One map
// of millions of live holds rehashes all of them at once when it grows — ~150 ms at 1.4 M in
// the reserve benchmark, with the shard (every reservation of its events) stopped meanwhile;
// a segment holds a 64th of them. The segment is chosen from the key's last bytes, which for
// our ids (and "event|user" keys) are random hex: a full hash here would be computed twice.
// Like unordered_map, it never moves an element while it stays in the map.
template <class V, class Segment = big_string_map<V>, std::size_t N = 64>
class segmented_map {
  public:
    using segment = Segment;
    segment& of(std::string_view key) { return segments_[index(key)]; }
    const segment& of(std::string_view key) const { return segments_[index(key)]; }
    V* find(std::string_view key) {
        auto& seg = of(key);
        auto it = seg.find(key);
        return it == seg.end() ? nullptr : &it->second;
    }
    const V* find(std::string_view key) const {
        return const_cast<segmented_map*>(this)->find(key);
    }
    // Room for about n entries in all, so that filling the map (a rebuild) never rehashes.
    void reserve(std::size_t n) {
        for (auto& s : segments_)
            s.reserve(s.size() + n / N + n / (4 * N) + 1);  // a quarter more: keys fall unevenly
    }
    std::size_t size() const {
        std::size_t n = 0;
        for (const auto& s : segments_)
            n += s.size();
        return n;
    }

  private:
    static std::size_t index(std::string_view key) {
        std::uint64_t h = 0x9e3779b97f4a7c15ULL;
        const std::size_t from = key.size() > 8 ? key.size() - 8 : 0;
        for (std::size_t i = from; i < key.size(); ++i)
            h = (h ^ static_cast<unsigned char>(key[i])) * 0x100000001b3ULL;
        return static_cast<std::size_t>((h ^ (h >> 29)) % N);
    }
    std::array<segment, N> segments_;
};

// Hold ids in order of expiry. Holds are taken with one time to live, so nearly every one
// expires after the one before: those queue at the back of a deque (no node per hold); the
// rest wait in a multimap.
class expiry_queue {
  public:
    void push(std::int64_t at_ms, std::string_view hold_id);
    bool empty() const { return in_order_.empty() && out_of_order_.empty(); }
    std::int64_t earliest() const;  // not empty
    std::string pop();              // the earliest; not empty
    std::size_t size() const { return in_order_.size() + out_of_order_.size(); }

  private:
    bool front_in_order() const;
    std::deque<std::pair<std::int64_t, hold_key>> in_order_;
    std::multimap<std::int64_t, hold_key> out_of_order_;
};

class shard {
  public:
    // Called with the id of each hold the shard's timer expires.
    using expiry_listener = std::function<void(const std::string& hold_id)>;

    shard(boost::asio::any_io_executor ex, const souk::clock& clk);
    boost::asio::any_io_executor executor() const { return ex_; }
    // True on the thread that runs this shard's io_context (one thread per context).
    bool runs_in_this_thread() const;

    void set_resource(const std::string& id, std::int64_t capacity);
    void set_capacity(std::string_view id, std::int64_t capacity);  // refuses going below use
    const resource_state* resource(std::string_view id) const;

    // Takes `quantity` of `resource` for `owner` if it is available and the owner stays within
    // group_limit across the group (0: no limit). The hold expires at expires_ms unless posted.
    refusal try_hold(const hold_request& h, std::int64_t group_limit);
    // Puts back a hold that was never acknowledged (its commit failed).
    void undo_hold(std::string_view hold_id);
    // Rebuilding after a restart: a hold already in SQLite, in any live state.
    void restore_hold(const hold& h);
    // Before restoring n holds: room for them, so that the rebuild never rehashes.
    void expect_holds(std::size_t n) { holds_.reserve(n); }
    bool post(std::string_view hold_id);
    // Voiding (any live hold) and expiring (held only) give the seats back and forget the hold;
    // they return it as it was, so a failed commit can restore_hold() it.
    std::optional<hold> void_hold(std::string_view hold_id);
    std::optional<hold> expire(std::string_view hold_id);
    // Moves a posted hold back to held (its commit failed).
    void unpost(std::string_view hold_id);
    const hold_status* find(std::string_view hold_id) const;
    std::int64_t owner_quantity(std::string_view group, std::string_view owner) const;

    // Called on this shard's executor for each hold the shard's timer expires.
    void on_expiry(expiry_listener l) { on_expiry_ = std::move(l); }
    // Arms the timer for a held hold. It may be armed before the hold's write has committed:
    // the expiry listener then finds the hold still held, and its own write must come after
    // the hold's (through a FIFO writer it does); a hold undone meanwhile is skipped.
    void schedule_expiry(std::string_view hold_id, std::int64_t expires_ms);
    void stop();

    std::size_t live_holds() const { return holds_.size(); }
    template <class F>
    void for_each_resource(F&& f) const {
        for (const auto& [id, r] : resources_)
            f(id, r);
    }

  private:
    using resource_entry = std::pair<const std::string, resource_state>;
    using owner_entry = std::pair<const std::string, std::int64_t>;  // "group|owner" -> quantity
    // Per live hold only what is its own; resource and owner are the entries it counts in,
    // which stay in their maps (never moved) while it lives.
    struct live_hold : hold_status {
        resource_entry* resource = nullptr;
        owner_entry* owner = nullptr;
    };

    // Makes a new live hold and counts it in its resource and its owner's total. The caller
    // checked room.
    void take(std::string_view id, std::string_view group, std::string_view owner,
              resource_entry& r, std::int64_t quantity, std::int64_t expires_ms, hold_state st);
    // Counts hold l (just made) in its owner's total and its resource.
    void count_in(live_hold& l, owner_entry& total, resource_entry& r, std::int64_t quantity,
                  std::int64_t expires_ms, hold_state st);
    void release(live_hold& h, hold_state to);
    // Releases a live hold (a held one only, when held_only) to `to` and forgets it; returns it
    // as it was.
    std::optional<hold> remove(std::string_view hold_id, hold_state to, bool held_only);
    static hold as_hold(std::string_view id, const live_hold& h);
    void arm();
    void check_invariants(const resource_state& r) const;

    boost::asio::any_io_executor ex_;
    const souk::clock& clock_;
    string_map<resource_state> resources_;
    // held and posted (live) holds
    segmented_map<live_hold,
                  std::unordered_map<hold_key, live_hold, kept_string_hash, std::equal_to<>>>
        holds_;
    segmented_map<std::int64_t> owner_totals_;  // group|owner -> quantity
    expiry_queue expiries_;
    boost::asio::steady_timer timer_;
    std::int64_t armed_for_ = 0;
    expiry_listener on_expiry_;
    bool stopped_ = false;
};

// Completes an initiation's handler with value on the handler's own executor (never inside
// the initiating call).
template <class Handler, class T>
void complete_later(Handler handler, T value) {
    auto ex = boost::asio::get_associated_executor(handler);
    boost::asio::post(ex, [handler = std::move(handler), value = std::move(value)]() mutable {
        std::move(handler)(std::move(value));
    });
}

class engine {
  public:
    engine(std::vector<boost::asio::any_io_executor> executors, const souk::clock& clk);
    std::size_t shard_count() const { return shards_.size(); }
    shard& at(std::size_t i) { return *shards_[i]; }
    // The shard that owns a partition key (an event id: all its shows' zones share a shard so
    // that per-user limits across the event are checked in one place).
    shard& for_partition(std::string_view key);

    // Runs fn(shard&) on the partition's shard and resumes the caller on its own executor.
    // A caller already on the shard's thread runs it in place: no hop there and back (two
    // posts, and often two wake-ups of a sleeping thread).
    template <class F>
    auto run_on(std::string_view key, F fn)
        -> boost::asio::awaitable<typename std::invoke_result_t<F, shard&>::value_type> {
        return run_on(for_partition(key), std::move(fn));
    }
    // The same on a shard already found (for_partition), so that fn may take the key's owner.
    template <class F>
    static auto run_on(shard& s, F fn)
        -> boost::asio::awaitable<typename std::invoke_result_t<F, shard&>::value_type> {
        if (s.runs_in_this_thread()) co_return co_await fn(s);
        co_return co_await boost::asio::co_spawn(s.executor(), fn(s), boost::asio::use_awaitable);
    }
    // Starts work on a shard that finishes elsewhere: fn(shard&, handler) runs on the shard's
    // executor (in place when the caller is on it) and hands the handler on — to the writer
    // (db::writer::write_then), or to complete_later — and the caller resumes on its own
    // executor when it completes, without passing through the shard again. A reservation
    // made on another io thread than its shard's hops once instead of twice, and the shard's
    // thread does not answer the commits of other threads' connections.
    template <class T, class F>
    static boost::asio::awaitable<T> start_on(shard& s, F fn) {
        return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(T)>(
            [&s](auto handler, F fn) {
                if (s.runs_in_this_thread()) {
                    fn(s, std::move(handler));
                    return;
                }
                boost::asio::post(s.executor(),
                                  [&s, fn = std::move(fn), handler = std::move(handler)]() mutable {
                                      fn(s, std::move(handler));
                                  });
            },
            boost::asio::use_awaitable, std::move(fn));
    }
    void stop();

  private:
    std::vector<std::unique_ptr<shard>> shards_;
};

}  // namespace souk::inventory
