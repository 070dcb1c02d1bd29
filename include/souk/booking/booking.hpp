#pragma once
// The booking module's public face: the module factory, demo data, and the invariant check
// used by `souk check`.
#include <functional>
#include <memory>
#include <optional>
#include <souk/config/config.hpp>
#include <souk/db/connection.hpp>
#include <souk/db/database.hpp>
#include <souk/kernel.hpp>
#include <string>
#include <vector>

namespace souk::booking {

std::unique_ptr<module> make_module(context& ctx);

// What payments need to know about a booking they are asked to charge.
struct payable_booking {
    std::string id, tenant_id, user_id, organizer_id, event_id, status, currency;
    std::int64_t amount = 0, expires_ms = 0, show_ends_ms = 0;
};
std::optional<payable_booking> find_payable(db::connection& c, std::string_view booking_id);

// Payments' word on a booking: the id of a succeeded payment for it, if any. A confirm asks it
// when a paid booking is still held (`payment.succeeded` has not reached booking yet). The
// payouts module, which depends on booking, installs it when it is made; without it such a
// confirm answers 409 PAYMENT_REQUIRED.
using succeeded_payment_finder =
    std::function<std::optional<std::string>(db::connection&, std::string_view booking_id)>;
void find_succeeded_payments_with(succeeded_payment_finder f);

// Idempotent demo data: published events with shows, zones and prices (one in queue mode,
// one whose sale has not opened yet), owned by organizer_id. Returns how many were created.
int seed_demo(db::database& d, const souk::clock& clk, const std::string& organizer_id);

// `souk ticket verify --code CODE`: door check-in from the shell; returns the exit code.
int ticket_cli(const std::vector<std::string>& argv, const config::settings& s,
               const std::string& ticket_key);

// Seat invariants in SQLite: for every zone, held and confirmed equal the sums of its live
// bookings, and capacity - held - confirmed >= 0. One line per problem; empty when clean.
std::vector<std::string> check_invariants(db::connection& c, std::int64_t now_ms);

}  // namespace souk::booking
