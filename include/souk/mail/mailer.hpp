#pragma once
// Outgoing e-mail behind an adapter: `mailbox` writes RFC 5322 .eml files into the data
// directory (dev and test), `smtp` speaks SMTP with STARTTLS to a relay.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <souk/config/config.hpp>
#include <souk/core/result.hpp>
#include <string>

namespace souk::mail {

struct message {
    std::string to;
    std::string subject;
    std::string text;  // plain text body, UTF-8
};

class mailer {
  public:
    virtual ~mailer() = default;
    virtual boost::asio::awaitable<status> send(const message& m) = 0;
};

// The RFC 5322 text of a message (headers, blank line, CRLF-terminated body lines).
std::string render(const message& m, const std::string& from, const std::string& message_id,
                   std::int64_t now_ms);

// Built from the "mail" configuration section.
std::unique_ptr<mailer> make_mailer(const config::settings& s, boost::asio::any_io_executor ex);

}  // namespace souk::mail
