#pragma once
// The per-user index of bookings (table booking_owners), written behind the bookings rather
// than with them. An index keyed by user takes one random B-tree page per reservation — in the
// reserve benchmark 70 % of the WAL — while a pass that writes what gathered over a few seconds,
// sorted, fills each page it touches with many entries. Until its pass commits, an entry is read
// from memory: the user's list and the idempotency lookup consult both. A crash loses only the
// memory: start-up indexes again every booking minted since the last pass (less a margin).
// docs/decisions/0012-booking-owner-index-written-behind.md
#include <cstdint>
#include <mutex>
#include <souk/db/writer.hpp>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace souk::booking {

struct owner_entry {
    std::string user_id;
    std::string idem_key;  // "" for a booking made without one
    std::string booking_id;
    bool operator<(const owner_entry& o) const;
};

// How long after its id was minted a booking may still be added to the index, at most: its
// queueing, commit and the answer's way back to its connection take moments; ten minutes is far
// beyond them and bounds the start-up scan after a crash.
inline constexpr std::int64_t owner_margin_ms = 600'000;

// Unix ms of the real clock (the one booking ids carry), for the pass's mark.
std::int64_t owner_clock_ms();

// Entries not yet in booking_owners, by user. add() and the readers run on any thread.
class owner_index {
  public:
    // After the booking's commit, before its creator is answered (read-your-writes).
    void add(owner_entry e);
    // The user's bookings not yet in booking_owners (all, or those made under one key).
    std::vector<std::string> pending_ids(const std::string& user_id) const;
    std::vector<std::string> pending_ids(const std::string& user_id, const std::string& key) const;

    // A pass: seal() freezes what has gathered (unless an earlier sealed set is still unwritten:
    // that one again) and returns it sorted, with the real-clock time it was frozen: every entry
    // added before then is in it or written already. After it is written, written() forgets it;
    // readers see sealed entries until then. The set points into the sealed entries, which stay
    // unchanged until written(). seal() sorts: call it off the io threads.
    struct sealed_set {
        std::vector<const owner_entry*> entries;
        std::int64_t sealed_ms = 0;
    };
    sealed_set seal();
    void written();
    std::size_t pending() const;

  private:
    using by_user = std::unordered_map<std::string, std::vector<owner_entry>>;
    static void collect(const by_user& m, const std::string& user_id, const std::string* key,
                        std::vector<std::string>& out);
    mutable std::mutex mu_;  // open_, sealed_ (its replacement), the counts
    std::mutex pass_mu_;     // one seal() or written() at a time
    by_user open_, sealed_;
    std::size_t open_count_ = 0, sealed_count_ = 0;
    std::int64_t sealed_ms_ = 0;
};

// Writes entries (sorted) to booking_owners; returns how many were new.
std::size_t write_owners(db::tx& t, std::span<const owner_entry* const> entries);
// Records that every booking added before sealed_ms is in booking_owners; clean: nothing else
// is pending (a graceful stop), so start-up has nothing to recover.
void write_owner_mark(db::tx& t, std::int64_t sealed_ms, bool clean);
// At start-up: unless the last stop was clean, indexes every booking minted since the mark less
// `margin_ms` (a booking is added after its commit, which follows its id's minting). Marks the
// index unclean until the next graceful stop. Returns the bookings newly indexed.
std::size_t recover_owners(db::tx& t, std::int64_t margin_ms);
// For `souk check`: every entry names a booking of that user under that key, and every booking
// is indexed (when the last stop was clean; otherwise those minted before the mark's margin).
std::vector<std::string> check_owners(db::connection& c);

}  // namespace souk::booking
