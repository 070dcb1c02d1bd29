// Beast lives here and in tls.cpp only; everything past this file sees souk::http types.
#include "http/server.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <charconv>
#include <souk/core/bytes.hpp>
#include <souk/log/log.hpp>
#include <tuple>
#include <type_traits>

namespace souk::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

namespace {

struct reaper;

// Per-connection state shared with the drain logic; touched only on the connection's thread.
struct connection_state {
    bool idle = false;     // waiting for the first byte of a request
    bool reading = false;  // in the TLS handshake or waiting for the rest of a request's head
    bool alive = true;
    tcp::socket* socket = nullptr;
    // When the current read or write must have finished; checked by the io thread's reaper.
    std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
    const reaper* owner = nullptr;
    connection_state* prev = nullptr;  // the reaper's list (its io thread only)
    connection_state* next = nullptr;
};

// One per io thread: the connections it runs, and a coarse periodic sweep that closes those
// past their deadline (as a per-operation timer would, without arming a timer per read and
// write). Touched only on its own io thread.
struct reaper {
    asio::steady_timer timer;
    std::chrono::milliseconds period;
    connection_state* head = nullptr;
    // The time of the last sweep: deadlines are set from it, a period late, so that setting one
    // reads no clock and a timeout fires between one and two periods after it is due.
    std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now();

    reaper(asio::io_context& io, std::chrono::milliseconds p) : timer(io), period(p) {}

    void add(connection_state* st) {
        st->owner = this;
        st->next = head;
        if (head) head->prev = st;
        head = st;
    }
    void remove(connection_state* st) {
        if (st->prev)
            st->prev->next = st->next;
        else if (head == st)
            head = st->next;
        if (st->next) st->next->prev = st->prev;
        st->prev = st->next = nullptr;
    }
    void start() {
        timer.expires_after(period);
        timer.async_wait([this](const boost::system::error_code& ec) {
            if (ec) return;
            now = std::chrono::steady_clock::now();
            sweep(now);
            start();
        });
    }
    void sweep(std::chrono::steady_clock::time_point now) {
        for (connection_state* st = head; st; st = st->next) {
            if (st->deadline > now || !st->socket) continue;
            st->deadline = std::chrono::steady_clock::time_point::max();
            // As Beast's stream timeouts did: the pending operation fails and the socket closes.
            boost::system::error_code ignored;
            st->socket->close(ignored);
        }
    }
};

constexpr auto no_deadline = std::chrono::steady_clock::time_point::max();

void expires_after(connection_state& st, std::chrono::milliseconds timeout) {
    st.deadline = st.owner->now + st.owner->period + timeout;
}

bool is_disconnect(const boost::system::error_code& ec) {
    return ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
           ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
           ec == asio::error::operation_aborted || ec == beast::error::timeout ||
           ec == asio::ssl::error::stream_truncated || ec == asio::error::not_connected ||
           ec == asio::error::bad_descriptor;
}

// Translates Beast's parsed message into the kernel's request; false if the target is unusable.
bool to_request(bhttp::request<bhttp::string_body>& msg, request& req) {
    req.method_name = std::string(msg.method_string());
    req.method = method_from_string(req.method_name);
    req.target = std::string(msg.target());
    auto url = boost::urls::parse_origin_form(req.target);
    if (!url) return false;
    req.path = url->path();
    if (req.path.empty()) req.path = "/";
    req.query = std::string(url->encoded_query());
    std::size_t fields = 0;
    for (auto it = msg.begin(); it != msg.end(); ++it)
        ++fields;
    req.headers.reserve(fields);
    for (const auto& f : msg)
        req.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    req.body = std::move(msg.body());
    return true;
}

// Headers the server writes itself (framing and the request id), never copied from a handler.
bool server_owned(std::string_view name) {
    switch (name.size()) {
        case 10:
            return iequals(name, "Connection");
        case 12:
            return iequals(name, "X-Request-Id");
        case 14:
            return iequals(name, "Content-Length");
        case 17:
            return iequals(name, "Transfer-Encoding");
        default:
            return false;
    }
}

// A request head the server parses itself: complete in the buffer, HTTP/1.0 or 1.1, printable
// ASCII only, no obs-fold, no Transfer-Encoding, at most one Content-Length. Anything else (and
// a head not yet complete) goes to Beast's parser, which reads, validates and refuses it exactly
// as before; this only spares the common request the parser's allocations and an extra trip
// through the scheduler.
struct simple_head {
    static constexpr std::size_t max_fields = 32;
    std::string_view method;
    std::string_view target;
    std::array<std::pair<std::string_view, std::string_view>, max_fields> fields;
    std::size_t field_count = 0;
    std::size_t head_len = 0;  // up to and including the empty line
    std::size_t body_len = 0;
    unsigned version = 11;
    bool keep_alive = true;
};

// Field values are checked whole, not byte by byte with an early exit (souk::any_byte): an
// Authorization header alone is ~330 bytes on every request.
bool is_field_value(std::string_view v) {
    return !any_byte(v, [](unsigned char c) { return (c < 0x20 && c != '\t') || c >= 0x7f; });
}

bool is_visible_ascii(std::string_view v) {
    return !any_byte(v, [](unsigned char c) { return c <= 0x20 || c >= 0x7f; });
}

bool is_tchar(unsigned char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    switch (c) {
        case '!':
        case '#':
        case '$':
        case '%':
        case '&':
        case '\'':
        case '*':
        case '+':
        case '-':
        case '.':
        case '^':
        case '_':
        case '`':
        case '|':
        case '~':
            return true;
        default:
            return false;
    }
}

// Whether the comma-separated token list `list` holds `token` (case-insensitive).
bool has_token(std::string_view list, std::string_view token) {
    while (!list.empty()) {
        const auto comma = list.find(',');
        auto item = list.substr(0, comma);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t'))
            item.remove_prefix(1);
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t'))
            item.remove_suffix(1);
        if (iequals(item, token)) return true;
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return false;
}

bool parse_simple_head(std::string_view data, std::size_t header_limit, std::size_t body_limit,
                       simple_head& h) {
    const auto blank = data.find("\r\n\r\n");
    if (blank == std::string_view::npos) return false;
    h.head_len = blank + 4;
    if (h.head_len > header_limit) return false;
    const std::string_view head = data.substr(0, blank + 2);  // every line ends with CRLF
    std::size_t eol = head.find("\r\n");
    const std::string_view line = head.substr(0, eol);
    const auto sp1 = line.find(' ');
    if (sp1 == 0 || sp1 == std::string_view::npos) return false;
    const auto sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return false;
    h.method = line.substr(0, sp1);
    for (char c : h.method)
        if (c < 'A' || c > 'Z') return false;
    h.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    if (!is_visible_ascii(h.target)) return false;
    const auto ver = line.substr(sp2 + 1);
    if (ver == "HTTP/1.1") {
        h.version = 11;
    } else if (ver == "HTTP/1.0") {
        h.version = 10;
    } else {
        return false;
    }
    bool has_length = false;
    std::string_view connection;
    bool has_connection = false;
    h.field_count = 0;
    h.body_len = 0;
    for (std::size_t pos = eol + 2; pos < head.size(); pos = eol + 2) {
        eol = head.find("\r\n", pos);
        const std::string_view field = head.substr(pos, eol - pos);
        const auto colon = field.find(':');
        if (colon == 0 || colon == std::string_view::npos) return false;  // also obs-fold
        const std::string_view name = field.substr(0, colon);
        for (char c : name)
            if (!is_tchar(static_cast<unsigned char>(c))) return false;
        std::string_view value = field.substr(colon + 1);
        if (!is_field_value(value)) return false;
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
            value.remove_prefix(1);
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
            value.remove_suffix(1);
        if (h.field_count == simple_head::max_fields) return false;
        h.fields[h.field_count++] = {name, value};
        if (iequals(name, "Transfer-Encoding")) return false;
        if (iequals(name, "Content-Length")) {
            if (has_length || value.empty() || value.size() > 18) return false;
            has_length = true;
            for (char c : value) {
                if (c < '0' || c > '9') return false;
                h.body_len = h.body_len * 10 + static_cast<std::size_t>(c - '0');
            }
            if (h.body_len > body_limit) return false;
        } else if (iequals(name, "Connection")) {
            if (has_connection) return false;
            has_connection = true;
            connection = value;
        }
    }
    h.keep_alive =
        h.version == 11 ? !has_token(connection, "close") : has_token(connection, "keep-alive");
    return true;
}

// A target made of these characters, starting with one '/' (not two), is an origin-form path
// needing no decoding; anything else goes through Boost.URL.
bool is_plain_path(std::string_view t) {
    if (t.empty() || t[0] != '/' || (t.size() > 1 && t[1] == '/')) return false;
    for (char c : t) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '/' || c == '-' || c == '.' || c == '_' ||
                        c == '~';
        if (!ok) return false;
    }
    return true;
}

// Fills req from a simple head (its views point into the connection's buffer); false if the
// target is unusable.
bool to_request(const simple_head& h, request& req) {
    req.method_name.assign(h.method);
    req.method = method_from_string(req.method_name);
    req.target.assign(h.target);
    if (is_plain_path(req.target)) {
        req.path = req.target;
    } else {
        auto url = boost::urls::parse_origin_form(req.target);
        if (!url) return false;
        req.path = url->path();
        if (req.path.empty()) req.path = "/";
        req.query = std::string(url->encoded_query());
    }
    req.headers.reserve(h.field_count);
    for (std::size_t i = 0; i < h.field_count; ++i)
        req.headers.emplace_back(std::string(h.fields[i].first), std::string(h.fields[i].second));
    return true;
}

void append_decimal(std::string& out, std::size_t v) {
    char digits[24];
    auto [end, ec] = std::to_chars(std::begin(digits), std::end(digits), v);
    out.append(digits, end);
}

bool is_bodiless(int status) {
    return status == 204 || status == 304 || status < 200;
}

// The status line and header block, rendered into the connection's reused buffer (what Beast's
// serializer wrote: the same fields, Content-Length always, Connection as keep_alive() set it).
void render_head(std::string& out, dispatcher& d, const request& req, const response& res,
                 unsigned version, bool keep_alive) {
    out.clear();
    out += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    append_decimal(out, static_cast<std::size_t>(res.status));
    out += ' ';
    out += bhttp::obsolete_reason(static_cast<bhttp::status>(res.status));
    out += "\r\n";
    const bool bodiless = is_bodiless(res.status);
    if (!bodiless && !res.content_type.empty()) {
        out += "Content-Type: ";
        out += res.content_type;
        out += "\r\n";
    }
    for (const auto& [k, v] : res.headers) {
        if (server_owned(k)) continue;
        out += k;
        out += ": ";
        out += v;
        out += "\r\n";
    }
    d.append_standard_headers(out, req, res);
    out += "Content-Length: ";
    append_decimal(out, bodiless ? 0 : res.body.size());
    out += "\r\n";
    if (version == 10) {
        if (keep_alive) out += "Connection: keep-alive\r\n";
    } else if (!keep_alive) {
        out += "Connection: close\r\n";
    }
    out += "\r\n";
}

// One write of two buffers: the head (rendered into `head`) and the body.
template <class Stream>
asio::awaitable<bool> send(Stream& stream, connection_state& st, std::string& head, dispatcher& d,
                           const request& req, const response& res, unsigned version,
                           bool keep_alive, bool head_only, std::chrono::milliseconds timeout) {
    render_head(head, d, req, res, version, keep_alive);
    const bool no_body = head_only || is_bodiless(res.status);  // HEAD: the GET's Content-Length
    const std::string_view body = no_body ? std::string_view() : std::string_view(res.body);
    expires_after(st, timeout);
    boost::system::error_code ec;
    if constexpr (std::is_same_v<Stream, tcp::socket>) {
        // One sendmsg with two iovecs, tried at once (the socket is non-blocking): a response
        // that fits in the socket's buffer is sent without a trip through the scheduler; the
        // rest, if any, is written asynchronously.
        std::array<asio::const_buffer, 2> bufs{asio::buffer(head), asio::buffer(body)};
        const std::size_t total = head.size() + body.size();
        const std::size_t sent = stream.send(bufs, 0, ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) ec = {};
        if (!ec && sent < total) {
            const std::size_t in_head = std::min(sent, head.size());
            bufs[0] = asio::buffer(head) + in_head;
            bufs[1] = asio::buffer(body) + (sent - in_head);
            std::tie(ec, std::ignore) = co_await asio::async_write(stream, bufs, nothrow);
        }
    } else if (head.size() + body.size() <= 16 * 1024) {
        // TLS: one record. (Beast's flat_stream stops at an empty leading buffer, which a
        // partly written sequence of two buffers can start with: no buffer sequences here.)
        head += body;
        std::tie(ec, std::ignore) = co_await asio::async_write(stream, asio::buffer(head), nothrow);
    } else {
        std::tie(ec, std::ignore) = co_await asio::async_write(stream, asio::buffer(head), nothrow);
        if (!ec && !body.empty())
            std::tie(ec, std::ignore) =
                co_await asio::async_write(stream, asio::buffer(body), nothrow);
    }
    st.deadline = no_deadline;
    co_return !ec;
}

}  // namespace

struct server::impl {
    std::vector<asio::io_context*> ios;
    server_options opts;
    dispatcher& secure;
    dispatcher& plain;
    std::shared_ptr<asio::ssl::context> tls;
    std::atomic<int>& active;
    std::unique_ptr<tcp::acceptor> http_acceptor;
    std::unique_ptr<tcp::acceptor> https_acceptor;
    std::atomic<std::size_t> next{0};
    std::atomic<bool> draining{false};
    std::mutex mu;
    std::unordered_map<std::uint64_t,
                       std::pair<asio::any_io_executor, std::shared_ptr<connection_state>>>
        connections;
    std::uint64_t next_id = 0;
    std::vector<std::unique_ptr<reaper>> reapers;  // one per io_context, same order

    impl(std::vector<asio::io_context*> i, server_options o, dispatcher& s, dispatcher& p,
         std::shared_ptr<asio::ssl::context> t, std::atomic<int>& a)
        : ios(std::move(i)),
          opts(std::move(o)),
          secure(s),
          plain(p),
          tls(std::move(t)),
          active(a) {}

    template <class Stream>
    asio::awaitable<void> serve(Stream& stream, bool is_tls, connection_state& st) {
        dispatcher& d = is_tls ? secure : plain;
        tcp::socket& sock = beast::get_lowest_layer(stream);
        boost::system::error_code ep_ec;
        const auto ep = sock.remote_endpoint(ep_ec);
        const std::string remote = ep_ec ? std::string() : ep.address().to_string();
        beast::flat_buffer buffer;
        std::string head_buf;  // the response head, rendered anew for each response
        head_buf.reserve(1024);
        for (;;) {
            if (buffer.size() == 0) {
                // Idle between requests: wait for the first byte under the idle timeout.
                if (draining) co_return;
                st.idle = true;
                expires_after(st, opts.idle_timeout);
                auto [ec, n] = co_await stream.async_read_some(buffer.prepare(8192), nothrow);
                st.idle = false;
                st.deadline = no_deadline;
                if (ec) co_return;
                buffer.commit(n);
            }
            expires_after(st, opts.read_timeout);
            request req;
            req.secure = is_tls;
            req.remote_address = remote;
            unsigned version = 11;
            bool keep_alive_asked = false;
            bool target_ok = false;
            simple_head sh;
            const auto* data = static_cast<const char*>(buffer.data().data());
            if (parse_simple_head(std::string_view(data, buffer.size()), opts.header_limit_bytes,
                                  opts.body_limit_bytes, sh)) {
                version = sh.version;
                keep_alive_asked = sh.keep_alive;
                target_ok = to_request(sh, req);  // copies out of the buffer before it changes
                const std::size_t total = sh.head_len + sh.body_len;
                while (buffer.size() < total) {
                    auto [ec, n] = co_await stream.async_read_some(
                        buffer.prepare(std::max<std::size_t>(total - buffer.size(), 8192)),
                        nothrow);
                    if (ec) co_return;  // gone, or cut off by the read timeout
                    buffer.commit(n);
                }
                req.body.assign(static_cast<const char*>(buffer.data().data()) + sh.head_len,
                                sh.body_len);
                buffer.consume(total);
                st.deadline = no_deadline;  // a handler may take as long as it needs
            } else {
                bhttp::request_parser<bhttp::string_body> parser;
                parser.header_limit(static_cast<std::uint32_t>(opts.header_limit_bytes));
                parser.body_limit(opts.body_limit_bytes);
                // The head first: until it is in, a shutdown may cut the connection (drain()).
                st.reading = true;
                auto [ec, n] = co_await bhttp::async_read_header(stream, buffer, parser, nothrow);
                st.reading = false;
                if (!ec && !parser.is_done()) {
                    auto [body_ec, body_n] =
                        co_await bhttp::async_read(stream, buffer, parser, nothrow);
                    ec = body_ec;
                }
                st.deadline = no_deadline;  // a handler may take as long as it needs
                if (ec) {
                    if (is_disconnect(ec) && ec != bhttp::error::end_of_stream) co_return;
                    if (ec == bhttp::error::end_of_stream) co_return;
                    error e = ec == bhttp::error::body_limit ? error::payload_too_large()
                              : ec == bhttp::error::header_limit
                                  ? error{431, "BAD_REQUEST", "request headers too large"}
                                  : error::bad_request("malformed HTTP request");
                    response res = d.refuse(e, req);
                    co_await send(stream, st, head_buf, d, req, res, 11, false, false,
                                  opts.read_timeout);
                    co_return;
                }
                auto& msg = parser.get();
                // Request smuggling guard: never guess which length framing the sender meant.
                if (msg.count(bhttp::field::content_length) &&
                    msg.count(bhttp::field::transfer_encoding)) {
                    response res = d.refuse(
                        error::bad_request("Content-Length and Transfer-Encoding together"), req);
                    co_await send(stream, st, head_buf, d, req, res, msg.version(), false, false,
                                  opts.read_timeout);
                    co_return;
                }
                // A request whose Transfer-Encoding does not end in chunked has no knowable
                // length (RFC 9112 6.3): refuse it and close rather than read what follows as a
                // request.
                if (msg.count(bhttp::field::transfer_encoding) && !msg.chunked()) {
                    response res = d.refuse(
                        error::bad_request("Transfer-Encoding must end with chunked"), req);
                    co_await send(stream, st, head_buf, d, req, res, msg.version(), false, false,
                                  opts.read_timeout);
                    co_return;
                }
                version = msg.version();
                keep_alive_asked = msg.keep_alive();
                target_ok = to_request(msg, req);
            }
            if (!target_ok) {
                response res = d.refuse(error::bad_request("malformed request target"), req);
                co_await send(stream, st, head_buf, d, req, res, version, false, false,
                              opts.read_timeout);
                co_return;
            }
            const bool head = req.method == method::head;
            response res = co_await d.handle(req);
            const bool keep = keep_alive_asked && !res.close && !draining;
            if (!co_await send(stream, st, head_buf, d, req, res, version, keep, head,
                               opts.read_timeout))
                co_return;
            if (!keep) co_return;
        }
    }

    asio::awaitable<void> run_connection(tcp::socket socket, bool is_tls, reaper& rp) {
        socket.set_option(tcp::no_delay(true));
        auto st = std::make_shared<connection_state>();
        rp.add(st.get());
        const auto ex = socket.get_executor();
        std::uint64_t id;
        {
            std::lock_guard lock(mu);
            id = next_id++;
            connections.emplace(id, std::make_pair(ex, st));
        }
        try {
            if (is_tls) {
                beast::ssl_stream<tcp::socket> stream(std::move(socket), *tls);
                st->socket = &beast::get_lowest_layer(stream);
                expires_after(*st, opts.read_timeout);
                st->reading = true;
                auto [ec] =
                    co_await stream.async_handshake(asio::ssl::stream_base::server, nothrow);
                st->reading = false;
                st->deadline = no_deadline;
                if (!ec) {
                    co_await serve(stream, true, *st);
                    expires_after(*st, std::chrono::seconds(2));
                    co_await stream.async_shutdown(nothrow);
                }
            } else {
                tcp::socket stream(std::move(socket));
                stream.non_blocking(true);  // for send()'s first attempt
                st->socket = &stream;
                co_await serve(stream, false, *st);
                boost::system::error_code ignored;
                stream.shutdown(tcp::socket::shutdown_send, ignored);
            }
        } catch (const std::exception& e) {
            log::error("connection failed", {{"what", e.what()}});
        }
        st->alive = false;
        st->socket = nullptr;
        rp.remove(st.get());
        {
            std::lock_guard lock(mu);
            connections.erase(id);
        }
        --active;
    }

    asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, bool is_tls) {
        for (;;) {
            const std::size_t i = next++ % ios.size();
            auto& io = *ios[i];
            auto [ec, socket] = co_await acceptor.async_accept(io, nothrow);
            if (ec) {
                if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
                // Out of descriptors or similar: breathe instead of spinning.
                asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(20));
                co_await pause.async_wait(nothrow);
                continue;
            }
            if (draining || active.load() >= opts.max_connections) {
                boost::system::error_code ignored;
                socket.close(ignored);
                continue;
            }
            ++active;
            asio::co_spawn(io, run_connection(std::move(socket), is_tls, *reapers[i]),
                           asio::detached);
        }
    }

    std::unique_ptr<tcp::acceptor> listen(int port) {
        auto acc = std::make_unique<tcp::acceptor>(*ios.front());
        tcp::endpoint ep(asio::ip::make_address(opts.host), static_cast<std::uint16_t>(port));
        acc->open(ep.protocol());
        acc->set_option(asio::socket_base::reuse_address(true));
        acc->bind(ep);
        acc->listen(asio::socket_base::max_listen_connections);
        return acc;
    }
};

server::server(std::vector<asio::io_context*> ios, server_options opts, dispatcher& secure,
               dispatcher& plain, std::shared_ptr<asio::ssl::context> tls)
    : impl_(std::make_unique<impl>(std::move(ios), std::move(opts), secure, plain, std::move(tls),
                                   active_)) {}

server::~server() = default;

void server::start() {
    auto& s = *impl_;
    // Timeouts are enforced to within a fifth of the shortest one (20-500 ms late at most).
    const auto period = std::clamp(std::min(s.opts.read_timeout, s.opts.idle_timeout) / 10,
                                   std::chrono::milliseconds(10), std::chrono::milliseconds(250));
    for (auto* io : s.ios) {
        s.reapers.push_back(std::make_unique<reaper>(*io, period));
        asio::post(*io, [r = s.reapers.back().get()] { r->start(); });
    }
    s.http_acceptor = s.listen(s.opts.http_port);
    http_port_ = s.http_acceptor->local_endpoint().port();
    asio::co_spawn(*s.ios.front(), s.accept_loop(*s.http_acceptor, false), asio::detached);
    if (s.tls && s.opts.https_port >= 0) {
        s.https_acceptor = s.listen(s.opts.https_port);
        https_port_ = s.https_acceptor->local_endpoint().port();
        asio::co_spawn(*s.ios.front(), s.accept_loop(*s.https_acceptor, true), asio::detached);
    }
}

void server::drain() {
    auto& s = *impl_;
    s.draining = true;
    asio::post(*s.ios.front(), [&s] {
        boost::system::error_code ignored;
        if (s.http_acceptor) s.http_acceptor->close(ignored);
        if (s.https_acceptor) s.https_acceptor->close(ignored);
    });
    std::lock_guard lock(s.mu);
    for (auto& [id, entry] : s.connections) {
        // Idle connections, and ones whose request head has not fully arrived (a slow client
        // must not hold the shutdown for a whole read timeout), are cut; requests finish.
        asio::post(entry.first, [st = entry.second] {
            if (st->alive && (st->idle || st->reading) && st->socket) {
                boost::system::error_code ignored;
                st->socket->cancel(ignored);
            }
        });
    }
}

}  // namespace souk::http
