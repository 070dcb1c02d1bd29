#pragma once
// Signed, self-contained tokens of the booking module: queue passes (bound to a user and a
// show, short-lived) and e-ticket codes (bound to a booking). HMAC-SHA256 with the ticket key.
#include <cstdint>
#include <optional>
#include <string>

namespace souk::booking {

std::string sign_queue_pass(const std::string& key, const std::string& user_id,
                            const std::string& show_id, std::int64_t expires_ms);
// True when the pass is genuine, for this user and show, and not expired.
bool queue_pass_valid(const std::string& key, std::string_view pass, const std::string& user_id,
                      const std::string& show_id, std::int64_t now_ms);

std::string sign_ticket(const std::string& key, const std::string& booking_id);
// The booking id inside a genuine ticket code; nullopt for anything forged or malformed.
std::optional<std::string> ticket_booking(const std::string& key, std::string_view code);

// A QR code of `text` as SVG markup (libqrencode, error correction M, 4-module quiet zone).
std::string qr_svg(const std::string& text);

}  // namespace souk::booking
