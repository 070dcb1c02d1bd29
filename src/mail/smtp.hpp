#pragma once
#include <memory>
#include <souk/mail/mailer.hpp>
#include <string>

namespace souk::mail {

struct smtp_options {
    std::string host;
    int port = 587;
    std::string user;
    std::string password;
    bool starttls = true;  // refuse to send when the server does not offer STARTTLS
    std::int64_t timeout_ms = 10000;
    std::string from;
};

std::unique_ptr<mailer> make_smtp_mailer(smtp_options o, boost::asio::any_io_executor ex);

}  // namespace souk::mail
