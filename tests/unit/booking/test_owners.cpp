// The owner index's memory side (owners.hpp): what readers see before, during and after a pass,
// and that a pass which did not get written is offered again whole.
#include <catch2/catch.hpp>

#include "owners.hpp"

using namespace souk::booking;

namespace {

std::vector<std::string> sorted(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
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
    REQUIRE(sealed.entries.size() == 3);
    CHECK(std::is_sorted(sealed.entries.begin(), sealed.entries.end()));
    CHECK(sealed.entries.front().user_id == "usr_a");

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
    CHECK(again.entries.front().booking_id == "bkg_1");
    CHECK(again.sealed_ms == first.sealed_ms);
    idx.written();
    auto next = idx.seal();
    REQUIRE(next.entries.size() == 1);
    CHECK(next.entries.front().booking_id == "bkg_2");
    CHECK(next.sealed_ms >= first.sealed_ms);
}
