#include "owners.hpp"

#include <algorithm>
#include <chrono>
#include <souk/core/assert.hpp>
#include <souk/core/random.hpp>
#include <tuple>

namespace souk::booking {

namespace {

// Sealed entries are pointed at; they are ordered as the entries themselves.
bool points_before(const owner_entry* a, const owner_entry* b) {
    return *a < *b;
}

}  // namespace

// The table's key order: a pass writes each user's entries at the end of that user's range.
bool owner_entry::operator<(const owner_entry& o) const {
    return std::tie(user_id, booking_id, idem_key) < std::tie(o.user_id, o.booking_id, o.idem_key);
}

void owner_index::add(owner_entry e) {
    std::lock_guard lock(mu_);
    auto& v = open_[e.user_id];
    v.push_back(std::move(e));
    ++open_count_;
}

void owner_index::collect(const by_user& m, const std::string& user_id, const std::string* key,
                          std::vector<std::string>& out) {
    auto it = m.find(user_id);
    if (it == m.end()) return;
    for (const auto& e : it->second)
        if (!key || e.idem_key == *key) out.push_back(e.booking_id);
}

std::vector<std::string> owner_index::pending_ids(const std::string& user_id) const {
    std::vector<std::string> out;
    std::lock_guard lock(mu_);
    collect(sealed_, user_id, nullptr, out);
    collect(open_, user_id, nullptr, out);
    return out;
}

std::vector<std::string> owner_index::pending_ids(const std::string& user_id,
                                                  const std::string& key) const {
    std::vector<std::string> out;
    std::lock_guard lock(mu_);
    collect(sealed_, user_id, &key, out);
    collect(open_, user_id, &key, out);
    return out;
}

owner_index::sealed_set owner_index::seal() {
    std::lock_guard pass(pass_mu_);
    sealed_set out;
    {
        std::lock_guard lock(mu_);
        if (sealed_count_ == 0) {
            sealed_ = std::exchange(open_, {});
            sealed_count_ = std::exchange(open_count_, 0);
            sealed_ms_ = owner_clock_ms();
        }
        out.sealed_ms = sealed_ms_;
    }
    // Only seal() and written() change sealed_, and pass_mu_ keeps them apart: it is read
    // without mu_, so that add() and the readers do not wait for the sort. Users in order, then
    // each user's entries, which arrive in booking (time) order already but for the odd pair
    // committed by two shards: checked, and sorted only then.
    std::vector<const by_user::value_type*> users;
    users.reserve(sealed_.size());
    for (const auto& u : sealed_)
        users.push_back(&u);
    std::sort(users.begin(), users.end(), [](auto* a, auto* b) { return a->first < b->first; });
    out.entries.reserve(sealed_count_);
    for (const auto* u : users) {
        const auto from = static_cast<std::ptrdiff_t>(out.entries.size());
        for (const auto& e : u->second)
            out.entries.push_back(&e);
        if (!std::is_sorted(out.entries.begin() + from, out.entries.end(), points_before))
            std::sort(out.entries.begin() + from, out.entries.end(), points_before);
    }
    return out;
}

void owner_index::written() {
    std::lock_guard pass(pass_mu_);
    by_user done;
    {
        std::lock_guard lock(mu_);
        done = std::exchange(sealed_, {});
        sealed_count_ = 0;
    }
    // `done` is freed here, outside mu_.
}

std::size_t owner_index::pending() const {
    std::lock_guard lock(mu_);
    return open_count_ + sealed_count_;
}

std::int64_t owner_clock_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

namespace {

constexpr std::size_t rows_per_insert = 16;

// "INSERT OR IGNORE INTO booking_owners ... VALUES (?, ?, ?), ..." for n rows.
std::string insert_owners_sql(std::size_t n) {
    std::string sql =
        "INSERT OR IGNORE INTO booking_owners (user_id, idem_key, booking_id) VALUES ";
    for (std::size_t i = 0; i < n; ++i)
        sql += i == 0 ? "(?, ?, ?)" : ", (?, ?, ?)";
    return sql;
}

}  // namespace

std::size_t write_owners(db::tx& t, std::span<const owner_entry* const> entries) {
    SOUK_ASSERT(std::is_sorted(entries.begin(), entries.end(), points_before));
    // Several rows a statement: a pass writes tens of thousands, and each statement's own
    // stepping, binding and reset cost about as much as a row's insert.
    static const std::string many = insert_owners_sql(rows_per_insert);
    static const std::string one = insert_owners_sql(1);
    std::size_t added = 0;
    while (!entries.empty()) {
        const std::size_t n = entries.size() >= rows_per_insert ? rows_per_insert : 1;
        t.prepare(n == 1 ? one : many).run_binding([&](db::statement& st) {
            for (std::size_t i = 0; i < n; ++i) {
                const int at = static_cast<int>(3 * i);
                st.bind(at + 1, entries[i]->user_id)
                    .bind(at + 2, entries[i]->idem_key)
                    .bind(at + 3, entries[i]->booking_id);
            }
        });
        added += static_cast<std::size_t>(t.conn().changes());
        entries = entries.subspan(n);
    }
    return added;
}

void write_owner_mark(db::tx& t, std::int64_t sealed_ms, bool clean) {
    t.prepare("UPDATE booking_owners_mark SET indexed_through_ms = ?, clean = ? WHERE id = 1")
        .bind_all(sealed_ms, clean ? 1 : 0)
        .run();
}

std::size_t recover_owners(db::tx& t, std::int64_t margin_ms) {
    auto& m = t.prepare("SELECT indexed_through_ms, clean FROM booking_owners_mark WHERE id = 1");
    SOUK_ASSERT(m.step());  // the migration made the row
    const std::int64_t through = m.int64(0);
    const bool clean = m.int64(1) != 0;
    m.reset();
    std::size_t added = 0;
    if (!clean) {
        t.prepare(
             "INSERT OR IGNORE INTO booking_owners (user_id, idem_key, booking_id) SELECT "
             "user_id, COALESCE(idem_key, ''), id FROM bookings WHERE id >= ?")
            .bind(1, id_floor("bkg", through - margin_ms))
            .run();
        added = static_cast<std::size_t>(t.conn().changes());
    }
    // Every booking committed so far is indexed; from now on entries wait in memory for a pass,
    // so until the next graceful stop a start-up must recover.
    write_owner_mark(t, owner_clock_ms(), false);
    return added;
}

std::vector<std::string> check_owners(db::connection& c) {
    std::vector<std::string> problems;
    auto& wrong = c.prepare(
        "SELECT COUNT(*) FROM booking_owners o LEFT JOIN bookings b ON b.id = o.booking_id WHERE "
        "b.id IS NULL OR b.user_id != o.user_id OR COALESCE(b.idem_key, '') != o.idem_key");
    wrong.step();
    if (const auto n = wrong.int64(0); n > 0)
        problems.push_back("booking_owners: " + std::to_string(n) +
                           " entries name no booking of that user and key");
    wrong.reset();
    auto& m = c.prepare("SELECT indexed_through_ms, clean FROM booking_owners_mark WHERE id = 1");
    if (!m.step()) {
        m.reset();
        problems.push_back("booking_owners_mark: the row is missing");
        return problems;
    }
    // Bookings a start-up would not index again must be indexed already.
    const std::string below =
        m.int64(1) != 0 ? std::string("~") : id_floor("bkg", m.int64(0) - owner_margin_ms);
    m.reset();
    auto& missing = c.prepare(
        "SELECT COUNT(*) FROM bookings b WHERE b.id < ? AND NOT EXISTS (SELECT 1 FROM "
        "booking_owners o WHERE o.user_id = b.user_id AND o.idem_key = COALESCE(b.idem_key, '') "
        "AND o.booking_id = b.id)");
    missing.bind(1, below);
    missing.step();
    if (const auto n = missing.int64(0); n > 0)
        problems.push_back("booking_owners: " + std::to_string(n) + " bookings are not indexed");
    missing.reset();
    return problems;
}

}  // namespace souk::booking
