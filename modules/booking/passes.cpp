#include "passes.hpp"

#include <qrencode.h>

#include <memory>
#include <souk/core/crypto.hpp>
#include <stdexcept>
#include <vector>

namespace souk::booking {

namespace {

constexpr std::string_view ticket_prefix = "SOUK1.";

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    for (;;) {
        const auto at = s.find(sep, start);
        out.push_back(
            s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
        if (at == std::string_view::npos) return out;
        start = at + 1;
    }
}

std::string mac(const std::string& key, std::string_view what) {
    return crypto::base64url_encode(crypto::hmac_sha256(key, what));
}

}  // namespace

std::string sign_queue_pass(const std::string& key, const std::string& user_id,
                            const std::string& show_id, std::int64_t expires_ms) {
    const std::string body = user_id + "." + show_id + "." + std::to_string(expires_ms);
    return body + "." + mac(key, "queue-pass." + body);
}

bool queue_pass_valid(const std::string& key, std::string_view pass, const std::string& user_id,
                      const std::string& show_id, std::int64_t now_ms) {
    const auto parts = split(pass, '.');
    if (parts.size() != 4) return false;
    const std::string body =
        std::string(parts[0]) + "." + std::string(parts[1]) + "." + std::string(parts[2]);
    if (!crypto::constant_time_equal(mac(key, "queue-pass." + body), parts[3])) return false;
    if (parts[0] != user_id || parts[1] != show_id) return false;
    std::int64_t expires = 0;
    for (char c : parts[2]) {
        if (c < '0' || c > '9') return false;
        expires = expires * 10 + (c - '0');
    }
    return now_ms < expires;
}

std::string sign_ticket(const std::string& key, const std::string& booking_id) {
    return std::string(ticket_prefix) + booking_id + "." + mac(key, "ticket." + booking_id);
}

std::optional<std::string> ticket_booking(const std::string& key, std::string_view code) {
    if (code.substr(0, ticket_prefix.size()) != ticket_prefix) return std::nullopt;
    const auto parts = split(code.substr(ticket_prefix.size()), '.');
    if (parts.size() != 2 || parts[0].empty()) return std::nullopt;
    const std::string booking_id(parts[0]);
    if (!crypto::constant_time_equal(mac(key, "ticket." + booking_id), parts[1]))
        return std::nullopt;
    return booking_id;
}

std::string qr_svg(const std::string& text) {
    std::unique_ptr<QRcode, void (*)(QRcode*)> qr(
        QRcode_encodeString(text.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1), QRcode_free);
    if (!qr) throw std::runtime_error("QR encoding failed");
    const int quiet = 4, w = qr->width, size = w + 2 * quiet;
    std::string path;
    for (int y = 0; y < w; ++y)
        for (int x = 0; x < w; ++x)
            if (qr->data[y * w + x] & 1)
                path +=
                    "M" + std::to_string(x + quiet) + " " + std::to_string(y + quiet) + "h1v1h-1z";
    return "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " + std::to_string(size) + " " +
           std::to_string(size) +
           "\" shape-rendering=\"crispEdges\" role=\"img\" aria-label=\"Ticket QR code\">"
           "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><path fill=\"#000\" d=\"" +
           path + "\"/></svg>";
}

}  // namespace souk::booking
