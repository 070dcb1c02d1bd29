#include <atomic>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <souk/core/clock.hpp>
#include <souk/core/random.hpp>
#include <souk/mail/mailer.hpp>

#include "mail/smtp.hpp"

namespace souk::mail {

namespace {

// Header values never carry CR or LF: that is how header injection starts.
std::string header_safe(std::string_view v) {
    std::string out;
    for (char c : v)
        if (c != '\r' && c != '\n') out += c;
    return out;
}

bool is_ascii(std::string_view s) {
    for (unsigned char c : s)
        if (c >= 0x80) return false;
    return true;
}

// RFC 2047 encoded-word for non-ASCII subjects.
std::string encode_subject(std::string_view s) {
    if (is_ascii(s)) return header_safe(s);
    static constexpr char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string in = header_safe(s), out = "=?UTF-8?B?";
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                           (static_cast<unsigned char>(in[i + 1]) << 8) |
                           static_cast<unsigned char>(in[i + 2]);
        out += b64[(v >> 18) & 63];
        out += b64[(v >> 12) & 63];
        out += b64[(v >> 6) & 63];
        out += b64[v & 63];
    }
    if (i < in.size()) {
        unsigned v = static_cast<unsigned char>(in[i]) << 16;
        if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
        out += b64[(v >> 18) & 63];
        out += b64[(v >> 12) & 63];
        out += i + 1 < in.size() ? b64[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out + "?=";
}

std::string rfc5322_date(std::int64_t now_ms) {
    std::time_t t = static_cast<std::time_t>(now_ms / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    return buf;
}

class mailbox_mailer final : public mailer {
  public:
    mailbox_mailer(std::string dir, std::string from)
        : dir_(std::move(dir)), from_(std::move(from)) {
        std::filesystem::create_directories(dir_);
    }
    boost::asio::awaitable<status> send(const message& m) override {
        const auto now = system_clock().now_ms();
        const std::string id = new_id("msg");
        const std::string text = render(m, from_, id + "@souk.local", now);
        // Written under a temporary name and renamed, so readers never see half a message.
        const auto name = std::to_string(now) + "-" + id + ".eml";
        const auto tmp = std::filesystem::path(dir_) / (name + ".tmp");
        {
            std::ofstream out(tmp, std::ios::binary);
            out << text;
            if (!out) co_return error::unavailable("mailbox not writable");
        }
        std::filesystem::rename(tmp, std::filesystem::path(dir_) / name);
        co_return status{};
    }

  private:
    std::string dir_;
    std::string from_;
};

}  // namespace

std::string render(const message& m, const std::string& from, const std::string& message_id,
                   std::int64_t now_ms) {
    std::string out;
    out += "From: " + header_safe(from) + "\r\n";
    out += "To: " + header_safe(m.to) + "\r\n";
    out += "Subject: " + encode_subject(m.subject) + "\r\n";
    out += "Date: " + rfc5322_date(now_ms) + "\r\n";
    out += "Message-ID: <" + header_safe(message_id) + ">\r\n";
    out += "MIME-Version: 1.0\r\n";
    out += "Content-Type: text/plain; charset=utf-8\r\n";
    out += "Content-Transfer-Encoding: 8bit\r\n\r\n";
    std::size_t start = 0;
    while (start <= m.text.size()) {
        auto nl = m.text.find('\n', start);
        std::string line =
            m.text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        out += line + "\r\n";
        if (nl == std::string::npos) break;
        start = nl + 1;
    }
    return out;
}

std::unique_ptr<mailer> make_mailer(const config::settings& s, boost::asio::any_io_executor ex) {
    const auto& m = s.raw.at("mail").get_object();
    const std::string transport(m.at("transport").get_string());
    const std::string from(m.at("from").get_string());
    if (transport == "smtp") {
        smtp_options o;
        o.host = std::string(m.at("smtp_host").get_string());
        o.port = static_cast<int>(m.at("smtp_port").to_number<std::int64_t>());
        o.user = std::string(m.at("smtp_user").get_string());
        o.password = std::string(m.at("smtp_password").get_string());
        o.starttls = m.at("smtp_starttls").get_bool();
        o.timeout_ms = m.at("smtp_timeout_ms").to_number<std::int64_t>();
        o.from = from;
        return make_smtp_mailer(std::move(o), std::move(ex));
    }
    return std::make_unique<mailbox_mailer>(config::in_data_dir(s, "mailbox"), from);
}

}  // namespace souk::mail
