// A small SMTP client (RFC 5321) on Asio coroutines: EHLO, STARTTLS (RFC 3207), AUTH PLAIN,
// one message per connection. Every step runs under one overall deadline.
#include "mail/smtp.hpp"

#include <openssl/evp.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <souk/core/clock.hpp>
#include <souk/core/random.hpp>
#include <souk/log/log.hpp>

namespace souk::mail {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

struct reply {
    int code = 0;
    std::string text;
};

// "Name <a@b>" -> "a@b"
std::string address_of(const std::string& s) {
    const auto lt = s.find('<'), gt = s.rfind('>');
    if (lt != std::string::npos && gt != std::string::npos && gt > lt)
        return s.substr(lt + 1, gt - lt - 1);
    return s;
}

std::string base64(std::string_view in) {
    std::string out(4 * ((in.size() + 2) / 3), '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(in.data()),
                                  static_cast<int>(in.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

// A relay's reply is a few lines; a hostile one must not grow our memory without bound.
constexpr std::size_t reply_bytes_max = 64 * 1024;

// SMTP dot-stuffing (RFC 5321 4.5.2): a line starting with "." gets another one in front.
std::string dot_stuffed(const std::string& text) {
    std::string out;
    out.reserve(text.size() + 16);
    bool line_start = true;
    for (char c : text) {
        if (line_start && c == '.') out += '.';
        out += c;
        line_start = c == '\n';
    }
    return out;
}

template <class Stream>
asio::awaitable<reply> read_reply(Stream& s, std::string& buf) {
    reply r;
    for (;;) {
        auto [ec, n] = co_await asio::async_read_until(
            s, asio::dynamic_buffer(buf, reply_bytes_max), "\r\n", nothrow);
        if (ec) co_return reply{0, ec.message()};
        if (r.text.size() > reply_bytes_max) co_return reply{0, "reply too long"};
        std::string line = buf.substr(0, n - 2);
        buf.erase(0, n);
        if (line.size() < 3) co_return reply{0, "malformed reply"};
        r.code = std::atoi(line.substr(0, 3).c_str());
        r.text += line.size() > 4 ? line.substr(4) + "\n" : "\n";
        if (line.size() == 3 || line[3] == ' ') co_return r;
    }
}

template <class Stream>
asio::awaitable<reply> command(Stream& s, std::string& buf, const std::string& line) {
    auto [ec, n] = co_await asio::async_write(s, asio::buffer(line + "\r\n"), nothrow);
    if (ec) co_return reply{0, ec.message()};
    co_return co_await read_reply(s, buf);
}

template <class Stream>
asio::awaitable<status> deliver(Stream& s, std::string& buf, const smtp_options& o,
                                const message& m, const std::string& ehlo_text) {
    if (!o.user.empty()) {
        if (ehlo_text.find("AUTH") == std::string::npos)
            co_return error::unavailable("SMTP server offers no AUTH");
        std::string creds;
        creds += '\0';
        creds += o.user;
        creds += '\0';
        creds += o.password;
        auto r = co_await command(s, buf, "AUTH PLAIN " + base64(creds));
        if (r.code != 235) co_return error::unavailable("SMTP authentication failed");
    }
    auto r = co_await command(s, buf, "MAIL FROM:<" + address_of(o.from) + ">");
    if (r.code != 250) co_return error::unavailable("SMTP MAIL FROM refused: " + r.text);
    r = co_await command(s, buf, "RCPT TO:<" + address_of(m.to) + ">");
    if (r.code != 250 && r.code != 251)
        co_return error::unavailable("SMTP RCPT TO refused: " + r.text);
    r = co_await command(s, buf, "DATA");
    if (r.code != 354) co_return error::unavailable("SMTP DATA refused: " + r.text);
    const std::string body =
        dot_stuffed(render(m, o.from, new_id("msg") + "@souk.local", system_clock().now_ms()));
    r = co_await command(s, buf, body + ".");
    if (r.code != 250) co_return error::unavailable("SMTP message refused: " + r.text);
    co_await command(s, buf, "QUIT");
    co_return status{};
}

class smtp_mailer final : public mailer {
  public:
    smtp_mailer(smtp_options o, asio::any_io_executor ex)
        : o_(std::move(o)), ex_(std::move(ex)), tls_(asio::ssl::context::tls_client) {
        tls_.set_default_verify_paths();
        tls_.set_verify_mode(asio::ssl::verify_peer);
    }

    asio::awaitable<status> send(const message& m) override {
        using namespace asio::experimental::awaitable_operators;
        asio::steady_timer deadline(ex_, std::chrono::milliseconds(o_.timeout_ms));
        auto outcome = co_await (session(m) || deadline.async_wait(asio::use_awaitable));
        if (outcome.index() == 1) co_return error::unavailable("SMTP timed out");
        co_return std::get<0>(std::move(outcome));
    }

  private:
    asio::awaitable<status> session(const message& m) {
        tcp::resolver resolver(ex_);
        auto [rec, endpoints] =
            co_await resolver.async_resolve(o_.host, std::to_string(o_.port), nothrow);
        if (rec) co_return error::unavailable("SMTP host not found");
        tcp::socket socket(ex_);
        auto [cec, ep] = co_await asio::async_connect(socket, endpoints, nothrow);
        if (cec) co_return error::unavailable("SMTP connect failed");
        std::string buf;
        auto r = co_await read_reply(socket, buf);
        if (r.code != 220) co_return error::unavailable("SMTP greeting refused");
        r = co_await command(socket, buf, "EHLO souk.local");
        if (r.code != 250) co_return error::unavailable("SMTP EHLO refused");
        if (!o_.starttls) co_return co_await deliver(socket, buf, o_, m, r.text);
        if (r.text.find("STARTTLS") == std::string::npos)
            co_return error::unavailable("SMTP server does not offer STARTTLS");
        r = co_await command(socket, buf, "STARTTLS");
        if (r.code != 220) co_return error::unavailable("SMTP STARTTLS refused");
        asio::ssl::stream<tcp::socket&> tls(socket, tls_);
        SSL_set_tlsext_host_name(tls.native_handle(), o_.host.c_str());
        tls.set_verify_callback(asio::ssl::host_name_verification(o_.host));
        auto [hec] = co_await tls.async_handshake(asio::ssl::stream_base::client, nothrow);
        if (hec) co_return error::unavailable("SMTP TLS handshake failed");
        buf.clear();
        r = co_await command(tls, buf, "EHLO souk.local");
        if (r.code != 250) co_return error::unavailable("SMTP EHLO after STARTTLS refused");
        co_return co_await deliver(tls, buf, o_, m, r.text);
    }

    smtp_options o_;
    asio::any_io_executor ex_;
    asio::ssl::context tls_;
};

}  // namespace

std::unique_ptr<mailer> make_smtp_mailer(smtp_options o, boost::asio::any_io_executor ex) {
    return std::make_unique<smtp_mailer>(std::move(o), std::move(ex));
}

}  // namespace souk::mail
