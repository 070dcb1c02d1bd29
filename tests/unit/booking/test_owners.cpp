// The owner index (owners.hpp): what readers see before, during and after a pass, that a pass
// which did not get written is offered again whole, and how a pass's entries reach the table.
#include <catch2/catch.hpp>
#include <souk/core/clock.hpp>
#include <souk/db/database.hpp>
#include <souk/db/writer.hpp>

#include "owners.hpp"
#include "support.hpp"

using namespace souk::booking;

namespace {

std::vector<std::string> sorted(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
}

// "user booking key" for each sealed entry, in the order the pass writes them.
std::vector<std::string> in_order(const owner_index::sealed_set& s) {
    std::vector<std::string> out;
    for (const auto* e : s.entries)
        out.push_back(e->user_id + " " + e->booking_id + " " + e->idem_key);
    return out;
}

}  // namespace

TEST_CASE("owner index: entries are found by user and by key until written", "[booking][owners]") {
    owner_index idx;
    idx.add({"usr_b", "k1", "bkg_2"});
    idx.add({"usr_a", "k2", "bkg_1"});
    idx.add({"usr_b", "k3", "bkg_3"});
    CHECK(idx.pending() == 3);
    CHECK(sorted(idx.pending_ids("usr_b")) == std::vector<std::string>{"bkg_2", "bkg_3"});
    CHECK(idx.pending_ids("usr_b", "k3") == std::vector<std::string>{"bkg_3"});
    CHECK(idx.pending_ids("usr_b", "k2").empty());  // another user's key
    CHECK(idx.pending_ids("usr_c").empty());

    const auto before = owner_clock_ms();
    auto sealed = idx.seal();
    CHECK(sealed.sealed_ms >= before);
    CHECK(in_order(sealed) ==
          std::vector<std::string>{"usr_a bkg_1 k2", "usr_b bkg_2 k1", "usr_b bkg_3 k3"});

    // Sealed but not yet written: still visible, alongside what arrives meanwhile.
    idx.add({"usr_b", "k4", "bkg_4"});
    CHECK(sorted(idx.pending_ids("usr_b")) == std::vector<std::string>{"bkg_2", "bkg_3", "bkg_4"});
    CHECK(idx.pending() == 4);

    idx.written();
    CHECK(idx.pending_ids("usr_b") == std::vector<std::string>{"bkg_4"});
    CHECK(idx.pending_ids("usr_a").empty());
    CHECK(idx.pending() == 1);
}

TEST_CASE("owner index: a sealed set that was not written is offered again, newer entries wait",
          "[booking][owners]") {
    owner_index idx;
    idx.add({"usr_a", "k1", "bkg_1"});
    auto first = idx.seal();
    idx.add({"usr_a", "k2", "bkg_2"});
    // The pass failed (no written()): the next seal returns the same set and the same time, so
    // the mark never claims bkg_2, which is in none of them.
    auto again = idx.seal();
    REQUIRE(again.entries.size() == 1);
    CHECK(again.entries.front()->booking_id == "bkg_1");
    CHECK(again.sealed_ms == first.sealed_ms);
    idx.written();
    auto next = idx.seal();
    REQUIRE(next.entries.size() == 1);
    CHECK(next.entries.front()->booking_id == "bkg_2");
    CHECK(next.sealed_ms >= first.sealed_ms);
}

TEST_CASE("owner index: a pass writes by user, then booking (time), whatever the keys",
          "[booking][owners]") {
    owner_index idx;
    // Random keys, and two of usr_b's bookings added out of order (committed by two shards).
    idx.add({"usr_b", "f00d", "bkg_3"});
    idx.add({"usr_a", "beef", "bkg_2"});
    idx.add({"usr_b", "0abc", "bkg_5"});
    idx.add({"usr_b", "9999", "bkg_4"});
    idx.add({"usr_a", "", "bkg_6"});
    CHECK(in_order(idx.seal()) == std::vector<std::string>{"usr_a bkg_2 beef", "usr_a bkg_6 ",
                                                           "usr_b bkg_3 f00d", "usr_b bkg_4 9999",
                                                           "usr_b bkg_5 0abc"});
}

TEST_CASE("owner index: a pass's entries are written several to a statement, new ones counted",
          "[booking][owners]") {
    souk::test::temp_dir dir;
    souk::db::connection c(dir.file("souk.db"), souk::db::open_mode::read_write);
    souk::db::migrate_up(c);
    souk::system_clock clock;
    souk::db::tx t(c, clock);
    std::vector<owner_entry> all;
    for (int i = 0; i < 37; ++i)  // two statements of 16, then five of one
        all.push_back({"usr_" + std::to_string(i % 3), "k" + std::to_string(i),
                       "bkg_" + std::to_string(100 + i)});
    std::sort(all.begin(), all.end());
    std::vector<const owner_entry*> entries;
    for (const auto& e : all)
        entries.push_back(&e);

    c.exec("BEGIN");
    CHECK(write_owners(t, std::span(entries).first(20)) == 20);
    CHECK(write_owners(t, entries) == 17);  // a pass written again: the first 20 are there
    c.exec("COMMIT");
    auto& st = c.prepare("SELECT user_id, booking_id, idem_key FROM booking_owners");
    std::vector<std::string> rows;
    while (st.step())
        rows.push_back(st.text(0) + " " + st.text(1) + " " + st.text(2));
    st.reset();
    REQUIRE(rows.size() == all.size());
    for (std::size_t i = 0; i < all.size(); ++i)
        CHECK(rows[i] == all[i].user_id + " " + all[i].booking_id + " " + all[i].idem_key);
}
